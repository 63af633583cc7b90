//! Parity of LoRA with PEFT against a reference file in the fixtures' format: `lora_logits`
//! (adapter applied), `merged_logits` (after `merge_and_unload()`), `train_loss` (causal-LM loss
//! with the adapter on `train_labels`, -100 = ignored) and every `grad.<PEFT name>` (the
//! gradient of that loss for each LoRA tensor; PEFT's in-memory names contain `.default.`).

use std::path::Path;

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;

use super::{AdapterSite, LoraError};
use crate::error::{Qwen3Error, Result};
use crate::model::Qwen3;
use crate::model::parity::{ParityCheck, ReferenceFile, max_abs_diff, to_vec};

/// Largest absolute difference, or infinity when the lengths differ.
fn max_abs(ours: &[f32], reference: &[f64]) -> f64 {
    if ours.len() != reference.len() {
        return f64::INFINITY;
    }
    max_abs_diff(ours, reference, |_| true)
}

/// Largest relative error `|a − b| / max(|b|, floor)` with `floor` = 1e-3 · max|b| (so that
/// entries near zero are judged against the tensor's own scale).
fn max_rel(ours: &[f32], reference: &[f64]) -> f64 {
    if ours.len() != reference.len() {
        return f64::INFINITY;
    }
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = (1e-3 * scale).max(f64::MIN_POSITIVE);
    ours.iter()
        .zip(reference)
        .map(|(&a, &b)| (f64::from(a) - b).abs() / b.abs().max(floor))
        .fold(0.0, f64::max)
}

fn lora_err(e: LoraError) -> Qwen3Error {
    Qwen3Error::InvalidInput(e.to_string())
}

/// Mean next-token cross-entropy over labels != -100 (transformers' `ForCausalLMLoss`),
/// computed from the full logits — an independent reference implementation. Computed in f32
/// whatever the logits' dtype (transformers upcasts logits to f32 for the loss).
///
/// # Shapes
/// - `logits`: `[batch, seq, vocab]`; `labels`: `[batch][seq]`; returns `[1]`
pub fn causal_lm_loss_full<B: Backend>(logits: Tensor<B, 3>, labels: &[Vec<i64>]) -> Tensor<B, 1> {
    let [b, s, v] = logits.dims();
    let device = logits.device();
    let log_probs = log_softmax(logits.cast(FloatDType::F32), 2).reshape([b * s, v]);
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (r, row) in labels.iter().enumerate() {
        for (t, &label) in row.iter().enumerate().take(s).skip(1) {
            if label != -100 {
                rows.push((r * s + t - 1) as i64);
                targets.push(label);
            }
        }
    }
    let n = rows.len();
    let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device);
    let targets = Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [n, 1]), &device);
    log_probs.select(0, rows).gather(1, targets).mean().neg()
}

/// Every LoRA check the reference supports, for `base` (a model without adapters) and the
/// PEFT adapter folder `adapter_dir`. Logits use `tolerance` (absolute); the loss `loss_tolerance`
/// (absolute); gradients `grad_rel_tolerance` (relative, see [`max_rel`]).
pub fn check_lora_reference<B: AutodiffBackend>(
    base: Qwen3<B>,
    adapter_dir: &Path,
    reference: &ReferenceFile,
    tolerance: f64,
    loss_tolerance: f64,
    grad_rel_tolerance: f64,
) -> Result<Vec<ParityCheck>> {
    let model = base.with_peft_adapter(adapter_dir).map_err(lora_err)?;
    let device = model.embed_tokens.weight.device();
    let ids_ref = reference.get("input_ids")?;
    let [batch, seq] = [ids_ref.shape[0], ids_ref.shape[1]];
    let ids: Vec<i64> = ids_ref.values.iter().map(|&v| v as i64).collect();
    let input = || Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [batch, seq]), &device);
    let mut checks = Vec::new();

    // 1. logits with the adapter, and the causal-LM loss and its gradients
    let logits = model.forward(input(), None);
    if let Ok(r) = reference.get("lora_logits") {
        checks.push(ParityCheck {
            key: "lora_logits".into(),
            max_abs_diff: max_abs(&to_vec(logits.clone()), &r.values),
            tolerance,
        });
    }
    if let (Ok(labels), Ok(loss_ref)) = (reference.get("train_labels"), reference.get("train_loss")) {
        let labels: Vec<Vec<i64>> = labels
            .values
            .chunks(seq)
            .map(|r| r.iter().map(|&v| v as i64).collect())
            .collect();
        let loss = causal_lm_loss_full(logits, &labels);
        let loss_value = f64::from(to_vec(loss.clone())[0]);
        checks.push(ParityCheck {
            key: "train_loss".into(),
            max_abs_diff: (loss_value - loss_ref.values[0]).abs(),
            tolerance: loss_tolerance,
        });
        let grads = loss.backward();
        let mut worst = 0.0f64;
        let mut compared = 0usize;
        for (key, r) in reference.tensors.iter().filter(|(k, _)| k.starts_with("grad.")) {
            let Some((site, which)) = AdapterSite::parse_key(&key["grad.".len()..]) else {
                continue;
            };
            let Some(lora) = model
                .projections()
                .into_iter()
                .find(|(s, _)| *s == site)
                .and_then(|(_, p)| p.lora.as_ref())
            else {
                worst = f64::INFINITY;
                continue;
            };
            let param = if which == 'A' { &lora.lora_a } else { &lora.lora_b };
            let ours = param.val().grad(&grads).map(to_vec).unwrap_or_default();
            worst = worst.max(max_rel(&ours, &r.values));
            compared += 1;
        }
        if compared > 0 {
            checks.push(ParityCheck {
                key: format!("grad.* ({compared} tensors, relative)"),
                max_abs_diff: worst,
                tolerance: grad_rel_tolerance,
            });
        }
    }

    // 2. merged weights give the same model
    if let Ok(r) = reference.get("merged_logits") {
        let merged = model.merge_lora();
        let logits = to_vec(merged.forward(input(), None));
        checks.push(ParityCheck {
            key: "merged_logits".into(),
            max_abs_diff: max_abs(&logits, &r.values),
            tolerance,
        });
    }
    Ok(checks)
}
