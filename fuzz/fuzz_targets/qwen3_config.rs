//! HF `config.json` (transformers 4.x and 5.x layouts) → `Qwen3Config`, then the tensor list
//! the loader derives from it (`Qwen3Config::expected_tensors`).
//!
//! Properties: never panics; an accepted config validates again; its tensor list has exactly 11
//! tensors per layer + embeddings + final norm (+ an untied head), and no shape overflows.
//!
//! Known bug B1 (see fuzz/README.md): `from_json_str` accepts sizes whose tensor list cannot be
//! built (a 200-byte config.json with `num_hidden_layers: 1e12` or `head_dim: 2^40` makes the
//! loader run out of memory; `num_attention_heads * head_dim` can overflow). Until
//! `Qwen3Config::validate` bounds them, this target only builds the tensor list for configs
//! inside the bounds proposed there, so that fuzzing can go on finding other bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec_actions_qwen3::config::Qwen3Config;

/// The bounds proposed for `Qwen3Config::validate` (bug B1).
fn within_proposed_bounds(c: &Qwen3Config) -> bool {
    const MAX_DIM: usize = 1 << 24;
    const MAX_LAYERS: usize = 1024;
    [
        c.vocab_size,
        c.hidden_size,
        c.intermediate_size,
        c.num_attention_heads,
        c.num_key_value_heads,
        c.head_dim,
    ]
    .iter()
    .all(|&d| d <= MAX_DIM)
        && c.num_hidden_layers <= MAX_LAYERS
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("fuzz/config.json");
    let Ok(config) = Qwen3Config::from_json_str(text, path) else {
        return;
    };
    config.validate(path).expect("an accepted config validates");
    if !within_proposed_bounds(&config) {
        return;
    }
    let tensors = config.expected_tensors();
    let expected = 11 * config.num_hidden_layers + 2 + usize::from(!config.tie_word_embeddings);
    assert_eq!(tensors.len(), expected);
    for (name, shape) in &tensors {
        assert!(
            shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_some(),
            "{name} {shape:?}"
        );
    }
});
