//! Checkpoint folders as `spec_actions_qwen3::loader::load_qwen3` reads them: safetensors
//! header length, JSON header, dtypes, shapes (overflowing ones too), data offsets (overlapping,
//! past the end), and the shard index.
//!
//! Input: first byte even → the rest is `model.safetensors`; odd → the rest is
//! `<model.safetensors.index.json text> NUL <bytes of a.safetensors>`. The folder's
//! `config.json` is a fixed tiny Qwen3 (hidden 4, 2 heads of 2, 1 KV head, 1 layer, vocab 8,
//! tied), so every accepted tensor is small. Property: the loader returns (Ok or a typed Err)
//! and never panics, hangs or allocates more than the file holds.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::backend::Flex;
use libfuzzer_sys::fuzz_target;
use spec_actions_qwen3::loader::{SHARD_INDEX, SINGLE_FILE, load_qwen3};

const CONFIG: &str = r#"{"model_type": "qwen3", "hidden_size": 4, "intermediate_size": 4,
"num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 2,
"vocab_size": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": true}"#;

fn folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("fuzz-loader-")
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::write(dir.join("config.json"), CONFIG).expect("write config");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = folder();
    for name in [SINGLE_FILE, SHARD_INDEX, "a.safetensors"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    if mode % 2 == 0 {
        std::fs::write(dir.join(SINGLE_FILE), rest).expect("write weights");
    } else {
        let (index, shard) = match rest.iter().position(|&b| b == 0) {
            Some(nul) => (&rest[..nul], &rest[nul + 1..]),
            None => (rest, &[][..]),
        };
        std::fs::write(dir.join(SHARD_INDEX), index).expect("write index");
        std::fs::write(dir.join("a.safetensors"), shard).expect("write shard");
    }
    let _ = load_qwen3::<Flex>(dir, &Default::default());
});
