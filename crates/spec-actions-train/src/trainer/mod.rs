//! The training loop: seeded micro-batches, gradient accumulation, global gradient-norm
//! clipping, AdamW with warm-up + cosine decay, atomic checkpoints with exact resume, a NaN
//! guard, a progress bar and a JSONL metrics log.
//!
//! A run folder holds `metrics.jsonl` and `checkpoints/step-NNNNNNN/` folders (the trainable
//! tensors, the optimizer moments, the trainer state and a PEFT adapter folder), with
//! `checkpoints/LATEST` naming the newest complete one. A killed run restarted on the same
//! folder resumes from `LATEST` to the identical loss trajectory: the data order and dropout
//! are pure functions of (seed, step), and the optimizer state is saved by tensor name.
//!
//! - this module: the loop ([`Trainer`]), its settings, the [`Objective`] trait and metrics;
//! - [`TrainModel`] (`model.rs`): the model being trained and its trainable tensors by name;
//! - [`CheckpointStore`] (`checkpoint.rs`): atomic checkpoints and resume;
//! - `tensor_io.rs`: named tensors to and from safetensors files ([`write_tensors`],
//!   [`read_tensors`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spec_actions_qwen3::compute_threads::on_compute_threads;

use spec_actions_core::io::{FileError, atomic_write_bytes};
use spec_actions_qwen3::lora::{LoraConfig, LoraError};

use crate::optim::{AdamW, AdamWConfig, LrSchedule, clip_coefficient};

mod checkpoint;
mod model;
mod score_head;
mod tensor_io;

pub use checkpoint::{CheckpointStore, TrainerState};
use model::EMBEDDING;
pub use model::{SCORE_HEAD, TrainModel};
pub use score_head::{read_score_head, write_score_head};
pub use tensor_io::{read_tensors, write_tensors};

/// Errors of a training run. None leaves a torn checkpoint behind.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Lora(#[from] LoraError),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error(
        "loss became {loss} at step {step}; stopped without updating. The last good checkpoint is {last_checkpoint:?}"
    )]
    NonFiniteLoss {
        step: u64,
        loss: f64,
        last_checkpoint: Option<PathBuf>,
    },
    #[error(
        "interrupted at step {step}; checkpoint saved in {checkpoint}. Re-run the same command to resume"
    )]
    Interrupted { step: u64, checkpoint: PathBuf },
    /// A checkpoint could not be written (disk full, folder not writable). Nothing half-written
    /// is left behind and `LATEST` still names the previous complete checkpoint.
    #[error(
        "could not write checkpoint {checkpoint}: {source}. {}",
        match last_checkpoint {
            Some(last) => format!(
                "The last complete checkpoint, {}, is intact: free space or fix permissions, then re-run the same command to resume from it",
                last.display()
            ),
            None => "There is no earlier checkpoint: free space or fix permissions, then re-run".to_string(),
        }
    )]
    CheckpointWrite {
        step: u64,
        /// The checkpoint folder that was being written.
        checkpoint: PathBuf,
        /// The checkpoint `LATEST` still names.
        last_checkpoint: Option<PathBuf>,
        #[source]
        source: Box<TrainError>,
    },
    #[error("invalid training setup: {0}")]
    Setup(String),
}

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Optimizer steps.
    pub total_steps: u64,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_steps: u64,
    pub adamw: AdamWConfig,
    /// Global gradient-norm clipping (`None` = off).
    pub max_grad_norm: Option<f64>,
    pub seed: u64,
    /// Checkpoint every this many optimizer steps (and always at the end).
    pub checkpoint_every: u64,
    /// Evaluate the held-out loss every this many steps (and at the end), when a set is given.
    pub eval_every: u64,
    /// Show an indicatif progress bar.
    pub progress: bool,
    /// When every weight trains (no adapters): keep the token embedding — and the LM head
    /// tied to it — frozen. A judge that starts from a trained proposer reads its last hidden
    /// state and needs no new token geometry; freezing spares the dense `[vocab, hidden]`
    /// gradient and its AdamW update every step (most of a small model's step over Qwen3's
    /// 151,936 tokens).
    #[serde(default)]
    pub freeze_embeddings: bool,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            total_steps: 100,
            batch_size: 8,
            grad_accum: 1,
            lr: 2e-4,
            warmup_steps: 10,
            adamw: AdamWConfig::default(),
            max_grad_norm: Some(1.0),
            seed: 42,
            checkpoint_every: 50,
            eval_every: 50,
            progress: true,
            freeze_embeddings: false,
        }
    }
}

impl TrainerConfig {
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            peak: self.lr,
            warmup_steps: self.warmup_steps,
            total_steps: self.total_steps,
        }
    }
}

/// The loss of one micro-batch: a sum, and what the window's mean divides it by.
pub struct BatchLoss<B: Backend> {
    /// `[1]` summed loss
    pub sum: Tensor<B, 1>,
    /// Tokens processed (for throughput).
    pub tokens: usize,
}

/// A training objective over examples of type `Self::Example`.
///
/// `Sync` (objective and examples): on Flex a micro-batch's forward and backward run on a thread
/// of the pool its ops run on (`spec_actions_qwen3::compute_threads`).
pub trait Objective: Sync {
    type Example: Sync;
    /// The normaliser of a micro-batch (label tokens, rows or pairs), known before any forward
    /// pass so that an accumulation window's mean is exact (as transformers' `num_items_in_batch`).
    fn count(&self, batch: &[&Self::Example]) -> usize;
    /// Summed loss of a micro-batch.
    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&Self::Example],
        device: &B::Device,
    ) -> BatchLoss<B>;
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: u64,
    pub lr: f64,
    pub loss: f64,
    pub grad_norm: f64,
    pub tokens: usize,
    pub tokens_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
    /// The run's held-out metric (see [`Trainer::fit_with_metric`]) at the steps the held-out
    /// loss is measured, when the run has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_metric: Option<f64>,
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub steps: u64,
    /// Mean training loss of each optimizer step, from step 0 (resumed steps included).
    pub losses: Vec<f64>,
    pub eval_losses: Vec<(u64, f64)>,
    /// The held-out evaluation after the last step: `None` without a held-out set, or when
    /// the run resumed from a checkpoint at its last step (nothing was evaluated).
    #[serde(default)]
    pub last_eval: Option<HeldOut>,
    pub final_checkpoint: PathBuf,
    pub resumed_from: Option<u64>,
}

/// What one held-out evaluation measured: the objective's mean loss and, when the run has
/// one, the metric the run is for (a held-out AUC or accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    pub loss: f64,
    pub metric: Option<f64>,
}

/// The training loop. Build with [`Trainer::new`], run with [`Trainer::fit`].
pub struct Trainer {
    pub config: TrainerConfig,
    pub run_dir: PathBuf,
    /// Adapter hyper-parameters, written with each checkpoint's PEFT folder.
    pub lora: LoraConfig,
    /// Set to stop at the next step boundary (wire it to SIGINT / SIGTERM).
    pub stop: Arc<AtomicBool>,
    /// Stop (as if interrupted) after this many steps of this invocation — for time-boxed runs.
    pub stop_after: Option<u64>,
}

impl Trainer {
    pub fn new(config: TrainerConfig, run_dir: impl Into<PathBuf>, lora: LoraConfig) -> Self {
        Trainer {
            config,
            run_dir: run_dir.into(),
            lora,
            stop: Arc::new(AtomicBool::new(false)),
            stop_after: None,
        }
    }

    /// Applies [`TrainerConfig::freeze_embeddings`]: the frozen tensors stop requiring a
    /// gradient; returns their names (the optimizer skips them).
    fn frozen_names<B: AutodiffBackend>(&self, model: &mut TrainModel<B>) -> Vec<String> {
        if !(self.config.freeze_embeddings && model.trains_all_weights()) {
            return Vec::new();
        }
        let weight = &mut model.qwen.embed_tokens.weight;
        *weight = weight.clone().set_require_grad(false);
        vec![EMBEDDING.to_string()]
    }

    /// The checkpoints of the run folder.
    pub fn checkpoints(&self) -> CheckpointStore {
        CheckpointStore::new(&self.run_dir)
    }

    /// The newest complete checkpoint of the run folder, if any.
    pub fn latest_checkpoint(&self) -> Option<PathBuf> {
        self.checkpoints().latest()
    }

    /// Trains `model` on `train` (resuming from the run folder's latest checkpoint if there is
    /// one), evaluating on `eval` when given. Returns the trained model and a report.
    pub fn fit<B: AutodiffBackend, O: Objective>(
        &self,
        model: TrainModel<B>,
        objective: &O,
        train: &[O::Example],
        eval: Option<&[O::Example]>,
        device: &B::Device,
    ) -> Result<(TrainModel<B>, TrainReport), TrainError> {
        self.fit_with_metric(
            model,
            objective,
            train,
            eval,
            None::<fn(&TrainModel<B::InnerBackend>) -> f64>,
            device,
        )
    }

    /// [`Trainer::fit`] that also measures `metric` (a held-out accuracy, say) on the
    /// gradient-free model wherever the held-out loss is measured, logged as `eval_metric` in
    /// `metrics.jsonl` — the learning curve of what the run is for, beside its loss.
    pub fn fit_with_metric<B: AutodiffBackend, O: Objective>(
        &self,
        model: TrainModel<B>,
        objective: &O,
        train: &[O::Example],
        eval: Option<&[O::Example]>,
        metric: Option<impl Fn(&TrainModel<B::InnerBackend>) -> f64>,
        device: &B::Device,
    ) -> Result<(TrainModel<B>, TrainReport), TrainError> {
        let held_out = eval.map(|set| {
            move |valid: &TrainModel<B::InnerBackend>| HeldOut {
                loss: evaluate(valid, objective, set, self.config.batch_size, device),
                metric: metric.as_ref().map(|m| m(valid)),
            }
        });
        self.fit_with_eval(model, objective, train, held_out, device)
    }

    /// [`Trainer::fit`] with the held-out evaluation given as one function of the
    /// gradient-free model, run every `eval_every` steps and after the last: for objectives
    /// whose loss and metric come from the same scores, one pass over the held-out set
    /// instead of two (see [`HeldOut`]).
    pub fn fit_with_eval<B: AutodiffBackend, O: Objective>(
        &self,
        mut model: TrainModel<B>,
        objective: &O,
        train: &[O::Example],
        held_out: Option<impl Fn(&TrainModel<B::InnerBackend>) -> HeldOut>,
        device: &B::Device,
    ) -> Result<(TrainModel<B>, TrainReport), TrainError> {
        let c = &self.config;
        for (bad, what) in [
            (
                train.is_empty(),
                "the training set is empty: no example to train on",
            ),
            (c.batch_size == 0, "batch_size is 0"),
            (c.grad_accum == 0, "grad_accum is 0"),
        ] {
            if bad {
                return Err(TrainError::Setup(what.into()));
            }
        }
        // Every trainable tensor becomes a fresh parameter that requires a gradient, whatever
        // the model was loaded with (a loaded checkpoint trained in full has frozen weights).
        let current = model.trainable();
        model.set_trainable(current).map_err(TrainError::Setup)?;
        let schedule = c.schedule();
        let mut optimizer = AdamW::<B::InnerBackend>::new(c.adamw.clone());
        let mut losses = Vec::new();
        let mut eval_losses = Vec::new();
        let mut last_eval = None;
        let mut start = 0;
        let mut resumed_from = None;
        let store = self.checkpoints();
        if let Some(dir) = store.latest() {
            let state = store.load(&dir, c, &mut model, &mut optimizer, device)?;
            start = state.step;
            losses = state.losses;
            eval_losses = state.eval_losses;
            resumed_from = Some(start);
        }
        let frozen = self.frozen_names(&mut model);
        fs::create_dir_all(&self.run_dir).map_err(|e| FileError::new("create folder", &self.run_dir, e))?;
        let metrics_path = self.run_dir.join("metrics.jsonl");
        truncate_metrics(&metrics_path, start)?;
        let mut metrics_log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(|e| FileError::new("open", &metrics_path, e))?;

        let stream = BatchStream {
            len: train.len(),
            batch_size: c.batch_size,
            seed: c.seed,
        };
        let bar = progress_bar(c, start);
        let mut last_checkpoint = store.latest();
        let save = |step: u64,
                    model: &TrainModel<B>,
                    optimizer: &AdamW<B::InnerBackend>,
                    losses: &[f64],
                    eval_losses: &[(u64, f64)]| {
            let state = TrainerState {
                step,
                optimizer_step: optimizer.step,
                config: c.clone(),
                losses: losses.to_vec(),
                eval_losses: eval_losses.to_vec(),
            };
            store.save(&state, model, optimizer, &self.lora)
        };
        for step in start..c.total_steps {
            let budget_spent = self.stop_after.is_some_and(|n| step >= start + n);
            if self.stop.load(Ordering::SeqCst) || budget_spent {
                let checkpoint = save(step, &model, &optimizer, &losses, &eval_losses)?;
                return Err(TrainError::Interrupted { step, checkpoint });
            }
            let started = Instant::now();
            B::seed(
                device,
                c.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(step),
            );
            let lr = schedule.lr(step);

            // 1. the window's micro-batches and its normaliser
            let batches: Vec<Vec<&O::Example>> = (0..c.grad_accum)
                .map(|j| {
                    stream
                        .indices(step * c.grad_accum as u64 + j as u64)
                        .iter()
                        .map(|&i| &train[i])
                        .collect()
                })
                .collect();

            // 2. accumulate gradients of the window's mean loss
            let Accumulated {
                mut grads_sum,
                loss: loss_value,
                tokens,
            } = accumulate(&model, objective, &batches, device);
            if !loss_value.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    step,
                    loss: loss_value,
                    last_checkpoint,
                });
            }

            // 3. clip by the global norm, then one AdamW update per tensor
            let norm_sq: f64 = grads_sum
                .values()
                .map(|g| g.clone().powi_scalar(2).sum().into_scalar().elem::<f64>())
                .sum();
            let grad_norm = norm_sq.sqrt();
            if !grad_norm.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    step,
                    loss: grad_norm,
                    last_checkpoint,
                });
            }
            let coef = c.max_grad_norm.map_or(1.0, |m| clip_coefficient(grad_norm, m));
            optimizer.begin_step();
            let mut updated = BTreeMap::new();
            for (name, value) in model.trainable() {
                if frozen.contains(&name) {
                    continue;
                }
                let grad = grads_sum
                    .remove(&name)
                    .unwrap_or_else(|| value.clone().inner().zeros_like());
                let new = optimizer.update(&name, value.inner(), grad.mul_scalar(coef), lr);
                updated.insert(name, Tensor::from_inner(new));
            }
            model.set_trainable(updated).map_err(TrainError::Setup)?;
            losses.push(loss_value);

            // 4. evaluation, metrics, progress, checkpoint
            let done = step + 1;
            let (eval_loss, eval_metric) = match &held_out {
                Some(measure) if done % c.eval_every.max(1) == 0 || done == c.total_steps => {
                    let measured = measure(&model.valid());
                    eval_losses.push((done, measured.loss));
                    if done == c.total_steps {
                        last_eval = Some(measured);
                    }
                    (Some(measured.loss), measured.metric)
                }
                _ => (None, None),
            };
            let seconds = started.elapsed().as_secs_f64();
            let m = StepMetrics {
                step: done,
                lr,
                loss: loss_value,
                grad_norm,
                tokens,
                tokens_per_s: tokens as f64 / seconds.max(1e-9),
                eval_loss,
                eval_metric,
            };
            let line = serde_json::to_string(&m).map_err(|e| TrainError::Setup(e.to_string()))?;
            writeln!(metrics_log, "{line}").map_err(|e| FileError::new("append to", &metrics_path, e))?;
            bar.set_message(format!("loss {loss_value:.4} | {:.0} tok/s", m.tokens_per_s));
            bar.inc(1);
            if done % c.checkpoint_every.max(1) == 0 || done == c.total_steps {
                last_checkpoint = Some(save(done, &model, &optimizer, &losses, &eval_losses)?);
            }
        }
        bar.finish_and_clear();
        let final_checkpoint = match last_checkpoint {
            Some(p) => p,
            None => save(c.total_steps, &model, &optimizer, &losses, &eval_losses)?,
        };
        let report = TrainReport {
            steps: c.total_steps,
            losses,
            eval_losses,
            last_eval,
            final_checkpoint,
            resumed_from,
        };
        Ok((model, report))
    }
}

/// The gradients, loss and tokens of one accumulation window.
struct Accumulated<B: AutodiffBackend> {
    /// Gradient of the window's mean loss per trainable tensor.
    grads_sum: BTreeMap<String, Tensor<B::InnerBackend, 2>>,
    /// The window's mean loss.
    loss: f64,
    tokens: usize,
}

/// Runs every micro-batch of a window forward and backward, each loss divided by the
/// window's normaliser (so the sum is the window's mean), and sums their gradients.
fn accumulate<B: AutodiffBackend, O: Objective>(
    model: &TrainModel<B>,
    objective: &O,
    batches: &[Vec<&O::Example>],
    device: &B::Device,
) -> Accumulated<B> {
    let window: usize = batches.iter().map(|b| objective.count(b)).sum::<usize>().max(1);
    let mut out = Accumulated {
        grads_sum: BTreeMap::new(),
        loss: 0.0,
        tokens: 0,
    };
    for batch in batches {
        // On Flex, forward and backward on one of the threads its ops run on
        // (spec_actions_qwen3::compute_threads).
        let (tokens, loss, grads) = on_compute_threads::<B, _>(|| {
            let step = objective.loss(model, batch, device);
            let loss = step.sum.div_scalar(window as f64);
            let value = loss.clone().into_scalar().elem::<f64>();
            (step.tokens, value, model.gradients(&loss.backward()))
        });
        out.tokens += tokens;
        out.loss += loss;
        for (name, g) in grads {
            let entry = out.grads_sum.remove(&name).map_or(g.clone(), |acc| acc + g);
            out.grads_sum.insert(name, entry);
        }
    }
    out
}

/// Mean loss of `set` (per the objective's normaliser), without gradients.
pub fn evaluate<B: Backend, O: Objective>(
    model: &TrainModel<B>,
    objective: &O,
    set: &[O::Example],
    batch_size: usize,
    device: &B::Device,
) -> f64 {
    let mut sum = 0.0;
    let mut count = 0;
    for chunk in set.chunks(batch_size.max(1)) {
        let batch: Vec<&O::Example> = chunk.iter().collect();
        count += objective.count(&batch);
        sum += objective
            .loss(model, &batch, device)
            .sum
            .into_scalar()
            .elem::<f64>();
    }
    sum / count.max(1) as f64
}

/// The seeded order of examples: epoch `e` is a ChaCha permutation seeded by (seed, e), and
/// micro-batch `k` takes positions `k·batch_size ..` of the concatenated epochs — a pure
/// function of (seed, k), which is what makes resume exact.
struct BatchStream {
    len: usize,
    batch_size: usize,
    seed: u64,
}

impl BatchStream {
    fn indices(&self, micro_batch: u64) -> Vec<usize> {
        let start = micro_batch as usize * self.batch_size;
        let mut out = Vec::with_capacity(self.batch_size);
        let mut epoch_cache: Option<(usize, Vec<usize>)> = None;
        for q in start..start + self.batch_size {
            let (epoch, pos) = (q / self.len, q % self.len);
            if epoch_cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut order: Vec<usize> = (0..self.len).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(
                    self.seed ^ (epoch as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                ));
                epoch_cache = Some((epoch, order));
            }
            if let Some((_, order)) = &epoch_cache {
                out.push(order[pos]);
            }
        }
        out
    }
}

fn progress_bar(c: &TrainerConfig, start: u64) -> indicatif::ProgressBar {
    if !c.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(c.total_steps);
    bar.set_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}<{eta_precise}] {bar:30} {pos}/{len} steps ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Keeps the metrics lines of steps `<= step` (those the resumed checkpoint covers).
fn truncate_metrics(path: &Path, step: u64) -> Result<(), TrainError> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| serde_json::from_str::<StepMetrics>(line).is_ok_and(|m| m.step <= step))
        .map(|line| format!("{line}\n"))
        .collect();
    atomic_write_bytes(path, kept.as_bytes())?;
    Ok(())
}
