//! Parity with HF transformers 5.23 on CUDA: the fixture checkpoints (references in
//! `tests/data/*/reference.safetensors`, the ones `parity.rs` checks on the CPU) loaded on
//! burn's CUDA backend in f32 and in bf16. Built only with `--features cuda`;
//! `scripts/gpu_check.sh` runs it on a GPU machine (`cargo test -p spec-actions-qwen3
//! --features cuda --test cuda_parity`).
//!
//! # Tolerances
//! - f32: 1e-3 absolute on every compared tensor (the CPU's 1e-4 with room for the GPU's
//!   reduction order and fused multiply-adds; the logits are of order 1);
//! - bf16: the logits within 2% of the reference's largest |logit|, the bound and reasoning of
//!   `mixed_precision.rs` (bf16 rounding, ten roundings a layer; measured 0.5–0.7% on the CPU).
#![cfg(feature = "cuda")]

use std::path::PathBuf;

use burn::backend::Cuda;
use spec_actions_qwen3::model::parity::{ReferenceFile, check_reference};
use spec_actions_qwen3::{LoadOptions, load_qwen3_with};

const FIXTURES: [&str; 2] = ["tiny", "tiny-untied-sharded-bf16"];

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

#[test]
fn fixtures_match_transformers_on_cuda_in_f32() {
    let device = Default::default();
    for dir in FIXTURES {
        let model =
            load_qwen3_with::<Cuda>(data(dir), &LoadOptions::default(), &device).expect("fixture loads");
        let reference =
            ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference reads");
        let checks = check_reference(&model, &reference, 1e-3).expect("checks run");
        for c in &checks {
            println!("cuda f32 {dir}: {} max|Δ| {:.3e}", c.key, c.max_abs_diff);
        }
        assert!(
            checks.iter().any(|c| c.key == "logits"),
            "{dir}: logits not checked"
        );
        let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
        assert!(failed.is_empty(), "{dir}: above tolerance: {failed:?}");
    }
}

#[test]
fn fixture_logits_match_transformers_on_cuda_in_bf16() {
    let device = Default::default();
    for dir in FIXTURES {
        let model = load_qwen3_with::<Cuda>(data(dir), &LoadOptions::bf16(), &device).expect("fixture loads");
        let reference =
            ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference reads");
        let largest = reference
            .get("logits")
            .expect("reference logits")
            .values
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let checks = check_reference(&model, &reference, 0.02 * largest).expect("checks run");
        for c in &checks {
            println!(
                "cuda bf16 {dir}: {} max|Δ| {:.3e} ({:.2}% of max|logit| {largest:.3})",
                c.key,
                c.max_abs_diff,
                100.0 * c.max_abs_diff / largest
            );
        }
        for key in ["logits", "padded_logits"] {
            let check = checks.iter().find(|c| c.key == key).expect("checked");
            assert!(check.passed(), "{dir}: {key} above 2% of max|logit|: {check:?}");
        }
    }
}
