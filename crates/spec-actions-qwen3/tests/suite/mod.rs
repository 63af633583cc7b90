//! The parity checks of `parity.rs` and `lora_parity.rs`, generic over the backend so that
//! `wgpu_parity.rs` runs the same checks with the same tolerances on burn's wgpu backend. The
//! references are HF transformers 5.23 + PEFT 0.21 outputs on the fixture checkpoints
//! (`tests/data/*/reference.safetensors`, copied from the project's shared fixtures).

#![allow(dead_code)] // each test file uses part of the suite

use std::path::PathBuf;

use burn::tensor::backend::{AutodiffBackend, Backend};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::check_lora_reference;
use spec_actions_qwen3::model::parity::{ParityCheck, ReferenceFile, check_reference};

pub fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

/// `logits`, `padded_logits`, `greedy_output` and every `hidden_state.N` of fixture `dir` on
/// backend `B`, within `tolerance` (absolute).
pub fn run<B: Backend>(dir: &str, tolerance: f64, device: &B::Device) -> Vec<ParityCheck> {
    let model = load_qwen3::<B>(data(dir), device).expect("fixture loads");
    let reference = ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference reads");
    let checks = check_reference(&model, &reference, tolerance).expect("checks run");
    for c in &checks {
        println!("{dir}: {} max|Δ| {:.3e}", c.key, c.max_abs_diff);
    }
    checks
}

/// Every check of [`run`] was made (logits, padded logits, greedy output, the hidden states of
/// embeddings + `layers` layers) and passed.
pub fn assert_all(checks: &[ParityCheck], layers: usize) {
    let keys: Vec<&str> = checks.iter().map(|c| c.key.as_str()).collect();
    for key in ["logits", "padded_logits", "greedy_output"] {
        assert!(keys.contains(&key), "{key} was not checked: {keys:?}");
    }
    for n in 0..=layers {
        assert!(
            keys.contains(&format!("hidden_state.{n}").as_str()),
            "hidden_state.{n} not checked"
        );
    }
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "above tolerance: {failed:?}");
}

/// The fixture adapter (`tests/data/<dir>/lora`) on backend `B`: `lora_logits` and
/// `merged_logits` within 1e-4, the training loss within 1e-5 and every `grad.*` tensor within
/// a relative error of 1e-3 of PEFT's.
pub fn check_lora<B: AutodiffBackend>(dir: &str, device: &B::Device) {
    let base = load_qwen3::<B>(data(dir), device).expect("fixture loads");
    let reference = ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference reads");
    let checks = check_lora_reference(base, &data(dir).join("lora"), &reference, 1e-4, 1e-5, 1e-3)
        .expect("checks run");
    for c in &checks {
        println!(
            "{dir}: {} = {:.3e} (tolerance {:.0e})",
            c.key, c.max_abs_diff, c.tolerance
        );
    }
    let keys: Vec<&str> = checks.iter().map(|c| c.key.as_str()).collect();
    for key in ["lora_logits", "train_loss", "merged_logits"] {
        assert!(keys.contains(&key), "{key} not checked: {keys:?}");
    }
    assert!(
        keys.iter().any(|k| k.starts_with("grad.")),
        "gradients not checked"
    );
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
    assert!(failed.is_empty(), "above tolerance: {failed:?}");
}
