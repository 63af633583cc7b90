//! The parity checks of `parity.rs` and `lora_parity.rs` on burn's wgpu backend (Vulkan; in CI
//! Mesa's software driver lavapipe), with the same references (HF transformers 5.23 + PEFT 0.21
//! outputs in `tests/data/*/reference.safetensors`) and the same tolerances: logits, padded
//! logits, greedy output and hidden states within 1e-4; LoRA logits and merged logits within
//! 1e-4, the loss within 1e-5, every LoRA gradient within a relative 1e-3.
//!
//! These run burn's cubecl kernels — the kernel code the CUDA backend also compiles — so they
//! catch what only fails off Flex. f32 only: wgpu computes in f32 (WGSL has no bf16), so the
//! bf16 tests of `mixed_precision.rs` stay on Flex (and CUDA).
//!
//! `cargo test -p spec-actions-qwen3 --features wgpu --test wgpu_parity` (needs a Vulkan driver:
//! `apt-get install mesa-vulkan-drivers` gives lavapipe).
#![cfg(feature = "wgpu")]

mod suite;

use burn::backend::{Autodiff, Wgpu};
use burn::tensor::{FloatDType, Tensor, TensorData};
use spec_actions_qwen3::model::log_sum_exp::log_sum_exp;
use suite::{assert_all, check_lora, run};

/// Tests share the one wgpu device; run them one at a time (lavapipe uses every core anyway).
static DEVICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn device_lock() -> std::sync::MutexGuard<'static, ()> {
    DEVICE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn wgpu_tiny_f32_tied_matches_transformers() {
    let _device = device_lock();
    assert_all(&run::<Wgpu>("tiny", 1e-4, &Default::default()), 2);
}

/// bf16 storage computed in f32, as in `parity.rs`: the same 1e-4 bound applies.
#[test]
fn wgpu_tiny_untied_sharded_bf16_matches_transformers() {
    let _device = device_lock();
    assert_all(
        &run::<Wgpu>("tiny-untied-sharded-bf16", 1e-4, &Default::default()),
        3,
    );
}

#[test]
fn wgpu_tiny_adapter_matches_peft() {
    let _device = device_lock();
    check_lora::<Autodiff<Wgpu>>("tiny", &Default::default());
}

#[test]
fn wgpu_untied_bf16_adapter_matches_peft() {
    let _device = device_lock();
    check_lora::<Autodiff<Wgpu>>("tiny-untied-sharded-bf16", &Default::default());
}

fn values<const D: usize>(t: Tensor<Wgpu, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec::<f64>().expect("values")
}

/// Minimal reproduction of a wgpu bug (burn 0.21.0, cubecl-wgpu 0.10, Mesa lavapipe): `log`
/// and `exp` of an f64 tensor are wrong (`ln 3` comes back as −88.03, `e^1` as a denormal),
/// while f64 casts, sums and products are right. Ignored because it fails; run it with
/// `--ignored` to see whether an upgrade fixed it (then `log_sum_exp`'s workaround can go).
#[test]
#[ignore = "burn 0.21 wgpu: f64 log/exp are wrong; log_sum_exp takes its log in f32"]
fn f64_log_and_exp_on_wgpu() {
    let _device = device_lock();
    let x =
        Tensor::<Wgpu, 2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &Default::default()).cast(FloatDType::F64);
    let sum = x.clone().sum_dim(1);
    assert_eq!(values(sum.clone()), [3.0, 7.0], "f64 sum");
    let log = values(sum.log());
    let exp = values(x.exp());
    println!("f64 log {log:?}, f64 exp {exp:?}");
    for (ours, want) in log.iter().zip([3f64.ln(), 7f64.ln()]) {
        assert!((ours - want).abs() < 1e-9, "f64 log: {log:?}");
    }
    for (ours, want) in exp.iter().zip([1f64, 2.0, 3.0, 4.0].map(f64::exp)) {
        assert!((ours - want).abs() < 1e-9 * want, "f64 exp: {exp:?}");
    }
}

/// The workaround: `log_sum_exp` on wgpu equals the host's f64 `log Σ exp` (f32 rounding only),
/// on a small row and on rows as wide as the fixture's vocabulary (1,024: 8 blocks of 128).
#[test]
fn wgpu_log_sum_exp_matches_f64_on_the_host() {
    let _device = device_lock();
    let rows: Vec<Vec<f32>> = vec![
        vec![1.0, 2.0],
        (0..1024).map(|j| ((j * 37 % 101) as f32) * 0.13 - 6.0).collect(),
        (0..1024)
            .map(|j| if j == 5 { 30.0 } else { (j % 7) as f32 * -0.5 })
            .collect(),
    ];
    for row in rows {
        let n = row.len();
        let x = Tensor::<Wgpu, 2>::from_data(TensorData::new(row.clone(), [1, n]), &Default::default());
        let ours = values(log_sum_exp(x))[0];
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let want = max + row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln();
        assert!(
            (ours - want).abs() <= 4e-6 * want.abs().max(1.0),
            "{n} terms: {ours} vs {want}"
        );
    }
}
