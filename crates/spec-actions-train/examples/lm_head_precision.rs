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
//!     [--chunked-only] [--per-tensor]
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
//! Measured so (tiny proposer of `runs/tiny`, 40 LoRA steps of our trainer; figures in
//! `scripts/make_real_vocab_reference.py`'s doc): ours within 1e-5 / 1e-3, PyTorch f32 not.

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
use spec_actions_train::objective::{TokenBatch, causal_lm_loss, log_sum_exp};

type B = Autodiff<Flex>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| all.iter().any(|a| a == name);
    let (chunked_only, per_tensor) = (flag("--chunked-only"), flag("--per-tensor"));
    if let Some(unknown) = all
        .iter()
        .find(|a| a.starts_with("--") && !["--chunked-only", "--per-tensor"].contains(&a.as_str()))
    {
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
    let mut cases: Vec<(&str, Box<dyn Fn() -> Tensor<B, 1>>)> = Vec::new();
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

const USAGE: &str =
    "usage: lm_head_precision CHECKPOINT ADAPTER REFERENCE [ROWS] [--chunked-only] [--per-tensor]";

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
