//! Parity of LoRA with PEFT against a reference file in the fixtures' format: `lora_logits`
//! (adapter applied), `merged_logits` (after `merge_and_unload()`), `train_loss` (causal-LM loss
//! with the adapter on `train_labels`, -100 = ignored) and every `grad.<PEFT name>` (the
//! gradient of that loss for each LoRA tensor; PEFT's in-memory names contain `.default.`).

use std::path::Path;

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::backend::AutodiffBackend;

use super::{AdapterSite, LoraError};
use crate::error::{Qwen3Error, Result};
use crate::model::Qwen3;
use crate::model::log_sum_exp::precise_log_softmax;
use crate::model::parity::{ParityCheck, ReferenceFile, to_vec};

fn lora_err(e: LoraError) -> Qwen3Error {
    Qwen3Error::InvalidInput(e.to_string())
}

/// Mean next-token cross-entropy over labels != -100 (transformers' `ForCausalLMLoss`),
/// computed from the full logits — an independent reference implementation. Computed in f32
/// whatever the logits' dtype (transformers upcasts logits to f32 for the loss), with the
/// vocabulary summed as [`crate::model::log_sum_exp`] does (f32 blocks, f64 across them): a
/// plain f32 sum over 151,936 tokens is 10–20× PyTorch's f32 error (issue #14, item 2).
///
/// # Shapes
/// - `logits`: `[batch, seq, vocab]`; `labels`: `[batch][seq]`; returns `[1]`
pub fn causal_lm_loss_full<B: Backend>(logits: Tensor<B, 3>, labels: &[Vec<i64>]) -> Tensor<B, 1> {
    mean_label_nll(precise_log_softmax(logits.cast(FloatDType::F32)), labels)
}

/// transformers' `ForCausalLMLoss` on given log-probabilities: the mean of `−log p(label)` over
/// labels ≠ −100, position `t − 1` predicting `t` (the log-softmax is the caller's, so that
/// summations can be compared — spec-actions-train's `lm_head_precision` example).
///
/// # Shapes
/// - `log_probs`: `[batch, seq, vocab]`; `labels`: `[batch][seq]`; returns `[1]`
pub fn mean_label_nll<B: Backend>(log_probs: Tensor<B, 3>, labels: &[Vec<i64>]) -> Tensor<B, 1> {
    let [b, s, v] = log_probs.dims();
    let device = log_probs.device();
    let log_probs = log_probs.reshape([b * s, v]);
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
/// (absolute); gradients `grad_rel_tolerance` (relative, see [`ParityCheck::compare_relative`]).
///
/// Gradients give one check `grad.* (N tensors, relative)` over all of them, plus one check per
/// gradient tensor that fails (non-finite, above tolerance, or absent from our adapter), named
/// `grad.<PEFT name>`. A reference tensor of another shape than ours is an error
/// ([`Qwen3Error::ReferenceShape`]); ids and labels outside the vocabulary are
/// [`Qwen3Error::InvalidReference`]; a NaN or ±∞ on either side fails its check.
///
/// # Shapes
/// - `input_ids`, `train_labels`: `[batch, seq]`; `lora_logits`, `merged_logits`:
///   `[batch, seq, vocab]`; `train_loss`: `[]` or `[1]`; `grad.*`: the LoRA tensor's shape
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
    let vocab = model.config.vocab_size;
    let ids = reference.input_ids(vocab)?;
    let (batch, seq) = (ids.rows, ids.cols);
    let input = || Tensor::<B, 2, Int>::from_data(TensorData::new(ids.values.clone(), [batch, seq]), &device);
    let mut checks = Vec::new();

    // 1. logits with the adapter, and the causal-LM loss and its gradients
    let logits = model.forward(input(), None);
    let dims = logits.dims();
    if reference.has("lora_logits") {
        let r = reference.get_shaped("lora_logits", &dims)?;
        checks.push(ParityCheck::compare(
            "lora_logits",
            &to_vec(logits.clone()),
            &r.values,
            |_| true,
            tolerance,
        ));
    }
    if reference.has("train_labels") && reference.has("train_loss") {
        let labels = reference.token_matrix("train_labels", vocab, Some(-100))?;
        if [labels.rows, labels.cols] != [batch, seq] {
            return Err(Qwen3Error::ReferenceShape {
                path: reference.path.clone(),
                tensor: "train_labels".into(),
                expected: vec![batch, seq],
                found: vec![labels.rows, labels.cols],
            });
        }
        // The label of the first token of a row is never scored (nothing predicts it).
        if labels
            .values
            .chunks(seq)
            .all(|row| row.iter().skip(1).all(|&l| l == -100))
        {
            return Err(Qwen3Error::InvalidReference {
                path: reference.path.clone(),
                field: "train_labels".into(),
                reason: "every label after the first token is -100: there is no token to score".into(),
            });
        }
        let loss_ref = reference.get("train_loss")?;
        if loss_ref.values.len() != 1 || loss_ref.shape.len() > 1 {
            return Err(Qwen3Error::ReferenceShape {
                path: reference.path.clone(),
                tensor: "train_loss".into(),
                expected: vec![1],
                found: loss_ref.shape.clone(),
            });
        }
        let labels: Vec<Vec<i64>> = labels.values.chunks(seq).map(<[i64]>::to_vec).collect();
        let loss = causal_lm_loss_full(logits, &labels);
        checks.push(ParityCheck::compare(
            "train_loss",
            &to_vec(loss.clone()),
            &loss_ref.values,
            |_| true,
            loss_tolerance,
        ));
        let grads = loss.backward();
        let mut keys: Vec<&String> = reference
            .tensors
            .keys()
            .filter(|k| k.starts_with("grad."))
            .collect();
        keys.sort();
        let mut per_tensor = Vec::new();
        for key in keys {
            let Some((site, which)) = AdapterSite::parse_key(&key["grad.".len()..]) else {
                continue;
            };
            let lora = model
                .projections()
                .into_iter()
                .find(|(s, _)| *s == site)
                .and_then(|(_, p)| p.lora.as_ref());
            let param = lora.map(|lora| if which == 'A' { &lora.lora_a } else { &lora.lora_b });
            let Some(grad) = param.and_then(|p| p.val().grad(&grads)) else {
                // The reference has a gradient our adapter does not: that check cannot pass.
                per_tensor.push(ParityCheck::new(key.clone(), f64::INFINITY, grad_rel_tolerance));
                continue;
            };
            let r = reference.get_shaped(key, &grad.dims())?;
            per_tensor.push(ParityCheck::compare_relative(
                key.clone(),
                &to_vec(grad),
                &r.values,
                grad_rel_tolerance,
            ));
        }
        if !per_tensor.is_empty() {
            let worst = per_tensor.iter().map(|c| c.max_abs_diff).fold(0.0f64, |m, d| {
                if m.is_nan() || d.is_nan() {
                    f64::NAN
                } else {
                    m.max(d)
                }
            });
            checks.push(ParityCheck {
                key: format!("grad.* ({} tensors, relative)", per_tensor.len()),
                max_abs_diff: worst,
                tolerance: grad_rel_tolerance,
                non_finite_ours: per_tensor.iter().map(|c| c.non_finite_ours).sum(),
                non_finite_reference: per_tensor.iter().map(|c| c.non_finite_reference).sum(),
            });
            checks.extend(per_tensor.into_iter().filter(|c| !c.passed()));
        }
    }

    // 2. merged weights give the same model
    if reference.has("merged_logits") {
        let merged = model.merge_lora();
        let logits = merged.forward(input(), None);
        let r = reference.get_shaped("merged_logits", &logits.dims())?;
        checks.push(ParityCheck::compare(
            "merged_logits",
            &to_vec(logits),
            &r.values,
            |_| true,
            tolerance,
        ));
    }
    Ok(checks)
}
