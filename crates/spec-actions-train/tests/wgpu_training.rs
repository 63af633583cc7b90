//! The trainer on burn's wgpu backend (Vulkan; in CI Mesa's software driver lavapipe), checked
//! against external references:
//! - the label-positions-only loss and its 28 LoRA gradients on the tiny fixture equal PEFT's
//!   (transformers 5.23 + PEFT 0.21, `train_loss` within 1e-5 and `grad.*` within a relative
//!   1e-3 — the checks and tolerances of `trainer.rs`, shared through `suite`);
//! - a few LoRA training steps (AdamW, warm-up, accumulation, clipping, checkpoints) follow the
//!   same run on burn's Flex CPU backend step by step, and drive the held-out loss down.
//!
//! `cargo test -p spec-actions-train --features wgpu --test wgpu_training`.
#![cfg(feature = "wgpu")]

mod suite;

use burn::backend::{Autodiff, Flex, Wgpu};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use spec_actions_qwen3::lora::LoraConfig;
use spec_actions_train::tasks::SftObjective;
use spec_actions_train::trainer::{Trainer, TrainerConfig, evaluate};
use suite::{class_task, config, peft_model};

/// Tests share the one wgpu device; run them one at a time (lavapipe uses every core anyway).
static DEVICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn device_lock() -> std::sync::MutexGuard<'static, ()> {
    DEVICE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn wgpu_label_position_loss_and_gradients_match_peft() {
    let _device = device_lock();
    suite::label_position_loss_and_gradients_match_peft::<Autodiff<Wgpu>>(&Default::default());
}

/// Held-out loss before training, the per-step training losses, and the held-out loss after
/// `steps` steps of LoRA training from the fixture's PEFT adapter (no random initialisation,
/// no dropout: the run is deterministic on any backend).
fn lora_run<B: AutodiffBackend>(steps: u64) -> (f64, Vec<f64>, f64) {
    let device = B::Device::default();
    let mut model = peft_model::<B>(&device);
    // As in `trainer.rs`'s SFT run: the fixture's embeddings (std 0.02), tied to the head, cap
    // every logit near ±1.3; scaled as a trained model's are, the adapters can learn the task.
    model.qwen.embed_tokens.weight = model.qwen.embed_tokens.weight.clone().map(|w| w.mul_scalar(25.0));
    let (train, heldout) = (class_task(32, 6), class_task(16, 7));
    let objective = SftObjective { pad_id: 0 };
    let start = evaluate(&model.valid(), &objective, &heldout, 8, &device);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = TrainerConfig {
        lr: 2e-2,
        ..config(steps)
    };
    let (_, report) = Trainer::new(cfg, dir.path(), LoraConfig::new(4, 8.0))
        .fit(model, &objective, &train, Some(&heldout), &device)
        .expect("trains");
    let (_, end) = *report.eval_losses.last().expect("held-out loss measured");
    (start, report.losses, end)
}

#[test]
fn wgpu_lora_steps_follow_flex_and_lower_the_heldout_loss() {
    let _device = device_lock();
    let steps = 6;
    let (flex_start, flex_losses, flex_end) = lora_run::<Autodiff<Flex>>(steps);
    let (start, losses, end) = lora_run::<Autodiff<Wgpu>>(steps);
    println!("held-out loss: flex {flex_start:.5} → {flex_end:.5}, wgpu {start:.5} → {end:.5}");
    for (step, (f, w)) in flex_losses.iter().zip(&losses).enumerate() {
        println!("step {step}: flex {f:.6} wgpu {w:.6} |Δ| {:.2e}", (f - w).abs());
    }
    assert_eq!(losses.len(), steps as usize);
    assert_eq!(flex_losses.len(), steps as usize);
    // Step 0 is the fixture adapter's loss, PEFT-exact on both (1e-5, see above); the later
    // steps add only f32 rounding of the updates, far below the loss's own movement.
    for (step, (f, w)) in flex_losses.iter().zip(&losses).enumerate() {
        assert!(w.is_finite(), "step {step}: wgpu loss {w}");
        assert!((f - w).abs() <= 1e-3, "step {step}: flex {f} vs wgpu {w}");
    }
    assert!(
        (flex_start - start).abs() <= 1e-4,
        "held-out start {flex_start} vs {start}"
    );
    assert!((flex_end - end).abs() <= 1e-3, "held-out end {flex_end} vs {end}");
    assert!(end < 0.8 * start, "wgpu held-out loss {start} → {end}");
}
