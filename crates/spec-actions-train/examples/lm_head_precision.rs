//! Precision and speed of the LM-head loss over a real vocabulary (issue #14, item 2): the loss
//! and every LoRA gradient of a checkpoint + PEFT adapter against a float64 reference
//! (`scripts/make_real_vocab_reference.py`), with the vocabulary summed the old way (one f32
//! sum over the row, burn's `log_softmax`) and the new way (f32 blocks, f64 across blocks,
//! `spec_actions_qwen3::model::log_sum_exp`), through the full-logits loss of the parity check
//! and through the trainer's chunked `objective::causal_lm_loss`. Then the time of the loss step
//! (LM head, log-sum-exp, backward) on `--rows` label positions, both ways.
//!
//! ```text
//! cargo run -p spec-actions-train --example lm_head_precision -- CHECKPOINT ADAPTER REFERENCE [ROWS]
//!     [--chunked-only] [--per-tensor] [--head-step]
//! ```
//! Measures as the parity example's: loss |Δ|, gradients max |a − b| / max(|b|, 1e-3 · max|b|).
//! `--chunked-only` skips the two full-logits losses (their `[batch, seq, vocab]` logits take
//! gigabytes on long rows); `--per-tensor` prints each gradient tensor's error. When the script's
//! `pytorch_f32.json` lies beside REFERENCE, PyTorch f32's errors on the same rows are printed
//! under ours (and per tensor with `--per-tensor`).
//!
//! A trained adapter on real SFT rows (issue #14's must-show), with a run's tiny proposer:
//! ```text
//! cargo xtask train-all --config LORA.toml --run RUN   # [roles.cheap] base = { folder = … },
//!                                                      # finetune = { lora = { r = 8, alpha = 16.0 } }
//! cargo run -p spec-actions-train --example sft_rows -- RUN/datasets/train.jsonl ROWS.json 4
//! python scripts/make_real_vocab_reference.py OUT --model MODEL --adapter RUN/models/cheap/adapter --rows ROWS.json
//! cargo run -p spec-actions-train --example lm_head_precision -- MODEL RUN/models/cheap/adapter OUT/reference.safetensors
//! ```
//! Measured so (session 12: the tiny proposer of `cargo xtask all`, a LoRA adapter of 40 steps
//! of our trainer — `cargo xtask train-all --config scripts/trained_adapter_precision.toml` — and
//! `sft_rows … 64`: 64 rows, 1,507 label
//! tokens, 327 of them at p > 0.99), the trainer's loss against float64 PyTorch: loss |Δ| 6.4e-7,
//! LoRA gradients 2.8e-4 (A) / 4.4e-4 (B); PyTorch f32 on the same rows 3.9e-5, 0.15 / 0.16.
//! `--head-step` breaks the gradient's error down over the LM-head step's parts.

use std::path::PathBuf;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::backend::AutodiffBackend;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::{AdapterSite, mean_label_nll};
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::model::log_sum_exp::{plain_log_softmax, plain_log_sum_exp, precise_log_softmax};
use spec_actions_qwen3::model::parity::{ParityCheck, ReferenceFile};
use spec_actions_train::objective::{TokenBatch, causal_lm_loss, label_nll, log_sum_exp};

type B = Autodiff<Flex>;

/// A loss to measure, computed when called.
type LossCase<'a> = Box<dyn Fn() -> Tensor<B, 1> + 'a>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| all.iter().any(|a| a == name);
    let (chunked_only, per_tensor) = (flag("--chunked-only"), flag("--per-tensor"));
    if let Some(unknown) = all.iter().find(|a| {
        a.starts_with("--") && !["--chunked-only", "--per-tensor", "--head-step"].contains(&a.as_str())
    }) {
        return Err(format!("unknown option {unknown}\n{USAGE}").into());
    }
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    if args.len() < 3 {
        return Err(USAGE.into());
    }
    let (checkpoint, adapter, reference_path) = (
        PathBuf::from(args[0]),
        PathBuf::from(args[1]),
        PathBuf::from(args[2]),
    );
    let rows: usize = args.get(3).map_or(Ok(512), |r| r.parse())?;
    let device = Default::default();
    let model = load_qwen3::<B>(&checkpoint, &device)?.with_peft_adapter(&adapter)?;
    let reference = ReferenceFile::open(&reference_path)?;
    let pytorch = pytorch_f32(&reference_path)?;
    let vocab = model.config.vocab_size;
    let ids = reference.input_ids(vocab)?;
    let labels = reference.token_matrix("train_labels", vocab, Some(-100))?;
    let labels: Vec<Vec<i64>> = labels.values.chunks(labels.cols).map(<[i64]>::to_vec).collect();
    let loss_ref = reference.get("train_loss")?.values[0];
    println!("vocab {vocab}, reference loss (f64) {loss_ref:.9}");

    let full = |precise: bool| {
        let input = Tensor::<B, 2, Int>::from_data(
            TensorData::new(ids.values.clone(), [ids.rows, ids.cols]),
            &device,
        );
        let logits = model.forward(input, None).cast(FloatDType::F32);
        let log_probs = if precise {
            precise_log_softmax(logits)
        } else {
            plain_log_softmax(logits)
        };
        mean_label_nll(log_probs, &labels)
    };
    let chunked = || {
        let batch = TokenBatch {
            ids: ids
                .values
                .chunks(ids.cols)
                .map(|r| r.iter().map(|&t| t as u32).collect())
                .collect(),
            lengths: vec![ids.cols; ids.rows],
        };
        let (sum, n) = causal_lm_loss(&model, &batch, &labels, &device);
        sum / n as f32
    };
    let label_tokens = labels
        .iter()
        .map(|r| r.iter().skip(1).filter(|&&l| l != -100).count())
        .sum::<usize>();
    println!(
        "{} rows × {} tokens (padded), {label_tokens} label tokens",
        ids.rows, ids.cols
    );
    let mut cases: Vec<(&str, LossCase)> = Vec::new();
    if !chunked_only {
        cases.push(("full logits, plain f32 sum (before)", Box::new(|| full(false))));
        cases.push(("full logits, blocked f64 sum (after)", Box::new(|| full(true))));
    }
    cases.push(("trainer's chunked causal_lm_loss (after)", Box::new(chunked)));
    for (name, loss) in cases {
        let loss = loss();
        let value = f64::from(loss.clone().into_scalar());
        let grads = loss.backward();
        let errors = grad_errors(&model, &grads, &reference)?;
        let (worst_a, worst_b) = worst(&errors);
        println!(
            "{name:<42} loss |Δ| {:.2e}   grad rel. max: A {worst_a:.2e}  B {worst_b:.2e}",
            (value - loss_ref).abs()
        );
        if per_tensor {
            for (key, error) in &errors {
                let theirs = pytorch.as_ref().and_then(|p| p.per_tensor.get(key));
                let theirs = theirs.map_or(String::new(), |t| format!("   PyTorch f32 {t:.2e}"));
                println!("    {error:.2e}  {key}{theirs}");
            }
        }
    }
    if let Some(p) = &pytorch {
        println!(
            "{:<42} loss |Δ| {:.2e}   grad rel. max: A {:.2e}  B {:.2e}",
            "PyTorch f32 (pytorch_f32.json)", p.loss, p.worst_a, p.worst_b
        );
    }
    if flag("--head-step") {
        head_step(
            &model,
            &ids.values,
            ids.rows,
            ids.cols,
            &labels,
            &reference,
            &device,
        )?;
    }

    // The loss step's time: LM head on `rows` positions, log-sum-exp, backward.
    let hidden = model.config.hidden_size;
    let h = Tensor::<B, 2>::random(
        [rows, hidden],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let step = |precise: bool| {
        let h = h.clone().detach().require_grad();
        let logits = model.logits(h.clone().unsqueeze_dim::<3>(0)).squeeze_dim::<2>(0);
        let lse = if precise {
            log_sum_exp(logits)
        } else {
            plain_log_sum_exp(logits)
        };
        let grads = lse.sum().backward();
        h.grad(&grads).map(|g| g.into_scalar_sum())
    };
    for _ in 0..2 {
        step(false);
        step(true);
    }
    let reps = 5;
    let mut times = [0.0f64; 2];
    for _ in 0..reps {
        for (i, precise) in [false, true].into_iter().enumerate() {
            let t = Instant::now();
            step(precise);
            times[i] += t.elapsed().as_secs_f64() / reps as f64;
        }
    }
    println!(
        "loss step on {rows} rows × {vocab}: plain {:.1} ms, blocked f64 {:.1} ms ({:+.1} %)",
        times[0] * 1e3,
        times[1] * 1e3,
        (times[1] / times[0] - 1.0) * 100.0
    );
    Ok(())
}

trait ScalarSum {
    fn into_scalar_sum(self) -> f32;
}
impl<Bk: Backend> ScalarSum for Tensor<Bk, 2> {
    fn into_scalar_sum(self) -> f32 {
        self.sum().into_scalar().elem::<f32>()
    }
}

const USAGE: &str = "usage: lm_head_precision CHECKPOINT ADAPTER REFERENCE [ROWS] [--chunked-only] [--per-tensor] [--head-step]";

/// Label rows per piece of [`head_step`]'s f64 reference (its logits take rows · vocab · 8 bytes).
const HEAD_STEP_CHUNK: usize = 128;

/// Where the error of the LoRA gradients comes from: the LM-head step alone, from our own f32
/// hidden rows at every label position. Its gradients with respect to the logits (the softmax
/// minus the label) and to the rows (through the head's backward matmul, a sum over the
/// vocabulary), ours against the same step in f64 from the same f32 inputs; the head's backward
/// matmul alone, fed the f64 logits gradient rounded to f32; and the LoRA gradients with the
/// rows' gradient replaced by the f64 one (what is left is the f32 model's own backward).
fn head_step(
    model: &Qwen3<B>,
    ids: &[i64],
    rows: usize,
    cols: usize,
    labels: &[Vec<i64>],
    reference: &ReferenceFile,
    device: &burn::tensor::Device<B>,
) -> Result<(), Box<dyn std::error::Error>> {
    use spec_actions_train::objective::{gather_rows, hidden_states};
    type I = Flex;
    let batch = TokenBatch {
        ids: ids
            .chunks(cols)
            .map(|r| r.iter().map(|&t| t as u32).collect())
            .collect(),
        lengths: vec![cols; rows],
    };
    let (mut positions, mut targets) = (Vec::new(), Vec::new());
    for (r, row) in labels.iter().enumerate() {
        for (t, &label) in row.iter().enumerate().skip(1) {
            if label != -100 {
                positions.push(r * cols + t - 1);
                targets.push(label);
            }
        }
    }
    let n = positions.len();
    let h_graph = gather_rows(hidden_states(model, &batch, device), &positions);
    let h = h_graph.clone().detach();
    let weight = model.embed_tokens.weight.val().inner();
    let weight64 = weight.clone().cast(FloatDType::F64);
    let relative = |ours: &[f32], reference: &[f64]| {
        ParityCheck::compare_relative("", ours, reference, 1e-3).max_abs_diff
    };
    let (mut worst_logits, mut worst_rows, mut worst_matmul) = (0.0f64, 0.0f64, 0.0f64);
    let (mut grad_h64, mut grad_h_ours, mut grad_h_matmul) = (Vec::new(), Vec::new(), Vec::new());
    let mut grad_h_rounded = Vec::new();
    let mut worst_logits_before = 0.0f64;
    let host = |t: Tensor<I, 2>| t.into_data().convert::<f64>().to_vec::<f64>().unwrap_or_default();
    for start in (0..n).step_by(HEAD_STEP_CHUNK) {
        let end = (start + HEAD_STEP_CHUNK).min(n);
        let m = end - start;
        let part = h.clone().slice(start..end);
        let idx =
            Tensor::<B, 2, Int>::from_data(TensorData::new(targets[start..end].to_vec(), [m, 1]), device);
        // f64 from the same f32 values: softmax − label, divided by n (the mean), and its product with the head
        let logits64 = part
            .clone()
            .inner()
            .cast(FloatDType::F64)
            .matmul(weight64.clone().transpose());
        let max = logits64.clone().max_dim(1);
        let e = (logits64 - max).exp();
        let p = e.clone() / e.sum_dim(1);
        let onehot = Tensor::<I, 2>::zeros(p.dims(), device)
            .cast(FloatDType::F64)
            .scatter(
                1,
                idx.clone().inner(),
                Tensor::<I, 2>::ones([m, 1], device).cast(FloatDType::F64),
                burn::tensor::IndexingUpdateOp::Add,
            );
        let g64 = (p - onehot) / n as f64;
        let gh64 = g64.clone().matmul(weight64.clone());
        // ours: the trainer's loss pieces on these rows, as a mean over all n
        let leaf = model
            .logits(part.clone().unsqueeze_dim::<3>(0))
            .squeeze_dim::<2>(0)
            .detach()
            .require_grad();
        let nll = (log_sum_exp(leaf.clone()) - leaf.clone().gather(1, idx.clone())).sum() / n as f32;
        let g_before = leaf.grad(&nll.backward()).ok_or("no logits gradient")?;
        worst_logits_before = worst_logits_before.max(relative(&to_vec(g_before), &host(g64.clone())));
        let leaf = leaf.detach().require_grad();
        let nll = label_nll(leaf.clone(), idx).sum() / n as f32;
        let g_logits = leaf.grad(&nll.backward()).ok_or("no logits gradient")?;
        let rows_in = part.require_grad();
        let sum = spec_actions_train::objective::negative_log_likelihood(
            model,
            rows_in.clone(),
            &targets[start..end],
            device,
        );
        let g_rows = rows_in
            .grad(&(sum / n as f32).backward())
            .ok_or("no rows gradient")?;
        let matmul_only = g64.clone().cast(FloatDType::F32).matmul(weight.clone());
        let rounded_only = g64
            .clone()
            .cast(FloatDType::F32)
            .cast(FloatDType::F64)
            .matmul(weight64.clone());
        grad_h_rounded.extend(to_vec(rounded_only.cast(FloatDType::F32)));
        let g64_host = host(g64);
        let gh64_host = host(gh64);
        worst_logits = worst_logits.max(relative(&to_vec(g_logits), &g64_host));
        let (ours_rows, ours_matmul) = (to_vec(g_rows), to_vec(matmul_only));
        worst_rows = worst_rows.max(relative(&ours_rows, &gh64_host));
        worst_matmul = worst_matmul.max(relative(&ours_matmul, &gh64_host));
        grad_h64.extend(gh64_host);
        grad_h_ours.extend(ours_rows);
        grad_h_matmul.extend(ours_matmul.clone());
    }
    println!(
        "LM-head step on all {n} label rows (ours vs f64 from the same f32 inputs, per chunk of {HEAD_STEP_CHUNK}):"
    );
    println!("  logits gradient (softmax − label), log_sum_exp − gather  {worst_logits_before:.2e}");
    println!("  logits gradient (softmax − label), label_nll             {worst_logits:.2e}");
    println!(
        "  rows gradient (whole step)             {worst_rows:.2e}   (over all rows {:.2e})",
        relative(&grad_h_ours, &grad_h64)
    );
    println!(
        "  rows gradient, backward matmul alone   {worst_matmul:.2e}   (over all rows {:.2e})",
        relative(&grad_h_matmul, &grad_h64)
    );
    drop(h_graph);
    // LoRA gradients through the model's backward from a given rows gradient: Σ h ⊙ g
    let hidden = h.dims()[1];
    for (name, g) in [
        (
            "f64 rows gradient (rounded to f32)",
            grad_h64.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
        ),
        ("our rows gradient", grad_h_ours.clone()),
        ("f64 logits gradient, our matmul", grad_h_matmul),
        ("f64 logits gradient rounded to f32, f64 matmul", grad_h_rounded),
    ] {
        let g = Tensor::<B, 2>::from_data(TensorData::new(g, [n, hidden]), device);
        let h_graph = gather_rows(hidden_states(model, &batch, device), &positions);
        let grads = (h_graph * g).sum().backward();
        let (a, b) = worst(&grad_errors(model, &grads, reference)?);
        println!("  LoRA gradients from the {name:<36} A {a:.2e}  B {b:.2e}");
    }
    Ok(())
}

/// PyTorch f32's errors on the reference's rows, from the script's `pytorch_f32.json`.
struct PyTorchErrors {
    loss: f64,
    worst_a: f64,
    worst_b: f64,
    /// `grad.<PEFT name>` → relative error (trained mode only).
    per_tensor: std::collections::BTreeMap<String, f64>,
}

/// `pytorch_f32.json` beside `reference`, if there is one: the trained mode's
/// `pytorch_f32_label_positions` figures, or the random mode's `pytorch_f32_*` ones.
fn pytorch_f32(reference: &std::path::Path) -> Result<Option<PyTorchErrors>, Box<dyn std::error::Error>> {
    let path = reference.with_file_name("pytorch_f32.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let number = |v: &serde_json::Value, key: &str| -> Result<f64, String> {
        v[key]
            .as_f64()
            .ok_or_else(|| format!("{}: no number `{key}`", path.display()))
    };
    let trained = &json["pytorch_f32_label_positions"];
    Ok(Some(if trained.is_object() {
        PyTorchErrors {
            loss: number(trained, "loss_abs_error")?,
            worst_a: number(trained, "grad_rel_error_max_A")?,
            worst_b: number(trained, "grad_rel_error_max_B")?,
            per_tensor: serde_json::from_value(trained["grad_rel_error"].clone())
                .map_err(|e| format!("{}: `grad_rel_error`: {e}", path.display()))?,
        }
    } else {
        PyTorchErrors {
            loss: number(&json, "pytorch_f32_loss_abs_error")?,
            worst_a: number(&json, "pytorch_f32_grad_rel_error_max_A")?,
            worst_b: number(&json, "pytorch_f32_grad_rel_error_max_B")?,
            per_tensor: Default::default(),
        }
    }))
}

/// The worst relative error over the lora_A and over the lora_B gradients.
fn worst(errors: &[(String, f64)]) -> (f64, f64) {
    let max = |part: &str| {
        errors
            .iter()
            .filter(|(k, _)| k.contains(part))
            .fold(0.0f64, |m, (_, e)| m.max(*e))
    };
    (max("lora_A"), max("lora_B"))
}

/// The relative error of every LoRA gradient the reference holds, by its `grad.` key.
fn grad_errors(
    model: &Qwen3<B>,
    grads: &<B as AutodiffBackend>::Gradients,
    reference: &ReferenceFile,
) -> Result<Vec<(String, f64)>, Box<dyn std::error::Error>> {
    let mut errors = Vec::new();
    for key in reference.tensors.keys().filter(|k| k.starts_with("grad.")) {
        let Some((site, which)) = AdapterSite::parse_key(&key["grad.".len()..]) else {
            continue;
        };
        let (_, proj) = model
            .projections()
            .into_iter()
            .find(|(s, _)| *s == site)
            .ok_or_else(|| format!("{key}: no such projection"))?;
        let lora = proj.lora.as_ref().ok_or_else(|| format!("{key}: no adapter"))?;
        let param = if which == 'A' { &lora.lora_a } else { &lora.lora_b };
        let grad = param
            .val()
            .grad(grads)
            .ok_or_else(|| format!("{key}: no gradient"))?;
        let r = reference.get_shaped(key, &grad.dims())?;
        let check = ParityCheck::compare_relative(key.clone(), &to_vec(grad), &r.values, 1e-3);
        errors.push((key.clone(), check.max_abs_diff));
    }
    Ok(errors)
}

fn to_vec<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default()
}
