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
    assert_all(&run::<Wgpu>("tiny-untied-sharded-bf16", 1e-4, &Default::default()), 3);
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
