//! Parity reference files (`safetensors` written by `scripts/make_reference.py`) as
//! `spec_actions_qwen3::model::parity::ReferenceFile::open` and `check_reference` read them:
//! header, dtypes (F16 and integer ones included), shapes of `input_ids`, `logits`,
//! `hidden_state.N`, `padded_attention_mask`, `padded_logits`, `greedy_prompt`,
//! `greedy_output`, and their values (NaN, ±∞, negative or out-of-range token ids, masks
//! other than 0/1).
//!
//! The model is a fixed tiny Qwen3 (hidden 4, 2 heads of 2, 1 KV head, 1 layer, vocab 8, tied,
//! seeded random weights). Properties beyond "no panic / hang / OOM": `check_reference` returns
//! Ok or a typed error; a check that passes has a finite difference within its tolerance and
//! no non-finite value on either side (parity can never pass on NaN or ∞). References with
//! more than 4,096 values in all are only opened and read, not run (a 10⁶-token `input_ids`
//! would be a slow forward pass, not a bug).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::backend::Flex;
use burn::tensor::backend::Backend;
use libfuzzer_sys::fuzz_target;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::model::parity::{ReferenceFile, check_reference};

const CONFIG: &str = r#"{"model_type": "qwen3", "hidden_size": 4, "intermediate_size": 4,
"num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 2,
"vocab_size": 8, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": true,
"eos_token_id": 7}"#;

/// Values a reference may hold in all for `check_reference` to run on it.
const MAX_VALUES: usize = 4096;

fn file() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("fuzz-reference-")
            .tempdir()
            .expect("temp dir")
            .keep();
        dir.join("reference.safetensors")
    })
}

thread_local! {
    static MODEL: Qwen3<Flex> = {
        let config = Qwen3Config::from_json_str(CONFIG, "config.json").expect("tiny config");
        let device = Default::default();
        Flex::seed(&device, 7);
        config.init::<Flex>(&device)
    };
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("write reference");
    let Ok(reference) = ReferenceFile::open(path) else {
        return;
    };
    // the accessors on their own
    let _ = reference.input_ids(8);
    let _ = reference.token_matrix("greedy_output", 8, None);
    let _ = reference.get("logits");
    let values: usize = reference.tensors.values().map(|t| t.values.len()).sum();
    let greedy_new = reference
        .tensors
        .get("greedy_output")
        .and_then(|t| t.shape.last().copied())
        .unwrap_or(0);
    if values > MAX_VALUES || greedy_new > 256 {
        return;
    }
    MODEL.with(|model| {
        if let Ok(checks) = check_reference(model, &reference, 1e-4) {
            for check in checks {
                if check.passed() {
                    assert!(
                        check.max_abs_diff.is_finite() && check.max_abs_diff <= check.tolerance,
                        "{check:?}"
                    );
                    assert_eq!((check.non_finite_ours, check.non_finite_reference), (0, 0), "{check:?}");
                }
            }
        }
    });
});
