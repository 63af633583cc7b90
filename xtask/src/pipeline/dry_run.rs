//! `dry-run`: a preset's memory plan checked by measurement. Each role is built at its real
//! Qwen3 shape with random weights (never read from disk: the shape comes from the role's
//! `config.json` when there is one, else from the published size its folder is named after),
//! then runs the preset's training step (LoRA or full, through the trainer the pipeline uses)
//! and one batched recording step (a prefill and a few decode steps at the recording batch for
//! the proposers, one batched forward pass for the judges), measuring each phase's peak memory
//! against [`MemoryPlan`], the plan of `preset.rs`.
//!
//! Memory is the process's resident set: the peak of a phase is `VmHWM` of
//! `/proc/self/status` after the peak was reset to the current resident size at the phase's
//! start (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0). It counts host memory only — on CUDA
//! the tensors live on the GPU and `scripts/gpu_check.sh` samples `nvidia-smi` instead. One
//! process measures one model: the xtask binary keeps freed memory in its heap
//! (`spec_actions_qwen3::allocator`), so a second model in the same process would reuse the
//! first one's pages and look smaller; [`run_jobs`] runs each job in a child process.
//!
//! A model too large for the machine is measured *on paper*: the same shape with 1 and 2
//! decoder layers, each in its own process; the difference is one layer's share of every
//! phase, extrapolated linearly to the real depth ([`PaperEstimate`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, FloatDType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spec_actions_qwen3::action_prompts::{IGNORE, LabeledTokens};
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::generate::{GenerationConfig, generate};
use spec_actions_qwen3::lora::LoraConfig;
use spec_actions_qwen3::model::LoraTarget;
use spec_actions_train::objective::{TokenBatch, hidden_states};
use spec_actions_train::tasks::{
    JudgeFormat, KindWeightedSftObjective, PreferencePair, RewardObjective, VerdictExample, VerifierObjective,
};
use spec_actions_train::trainer::{StepMetrics, TrainModel, Trainer, TrainerConfig};

use super::preset::{Finetune, ModelSource, Preset};
use spec_actions_core::ModelRole as Role;
use spec_actions_qwen3::backend::{BackendChoice, ComputeDtype};

/// Errors of a dry run, each naming what it could not do.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("reading {what} from /proc/self/status: {reason}")]
    Memory { what: &'static str, reason: String },
    #[error(
        "the {role} model's folder {folder} has no config.json and its name is not a published Qwen3 size \
         (Qwen3-0.6B, Qwen3-1.7B, Qwen3-4B, Qwen3-8B): give a folder with a config.json"
    )]
    UnknownShape { role: &'static str, folder: PathBuf },
    #[error("the {role} model's config.json: {reason}")]
    Config { role: &'static str, reason: String },
    #[error("{role}: {what} failed: {reason}")]
    Step {
        role: &'static str,
        what: &'static str,
        reason: String,
    },
    #[error("invalid dry-run settings: {0}")]
    Settings(String),
    #[error("dry-run child process for {job}: {reason}")]
    Child { job: String, reason: String },
}

/// What the memory figures are (recorded in every result).
pub const MEMORY_COUNTER: &str = "process resident set: VmHWM of /proc/self/status, peak reset per phase via /proc/self/clear_refs (host memory only)";

/// The sequence length of a preset without a prompt limit (the `qwen3` plan's 1,024 tokens).
pub const PLAN_SEQUENCE: usize = 1024;

/// Answer tokens of a random SFT row (the labelled tail the proposers' loss reads).
pub const ANSWER_TOKENS: usize = 64;

/// The shape and training of one role, as the preset builds it.
#[derive(Debug, Clone)]
pub struct RoleShape {
    pub role: Role,
    /// The model's name (its folder's name, or `random` for a random-initialised base).
    pub model: String,
    pub config: Qwen3Config,
    pub finetune: Finetune,
    pub kind_weight: usize,
    pub trainer: TrainerConfig,
}

/// The shape of `role` in `preset`: its folder's `config.json` when there is one, else the
/// published Qwen3 size the folder is named after. No weight is read.
pub fn role_shape(preset: &Preset, role: Role) -> Result<RoleShape, DryRunError> {
    if !Role::LANGUAGE_MODELS.contains(&role) {
        return Err(DryRunError::Settings(format!(
            "the {role} is not a language model: it has no shape to dry-run"
        )));
    }
    let spec = preset.role(role);
    let mut source = &spec.source;
    // a role that starts from another's trained model has that model's shape
    while let ModelSource::Trained(from) = source {
        source = &preset.role(*from).source;
    }
    let (model, config) = match source {
        ModelSource::Random { config, .. } => ("random".to_string(), config.clone()),
        ModelSource::Folder(dir) => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = dir.join("config.json");
            let config = if file.is_file() {
                Qwen3Config::from_file(&file).map_err(|e| DryRunError::Config {
                    role: role.as_str(),
                    reason: e.to_string(),
                })?
            } else {
                published_shape(&name).ok_or_else(|| DryRunError::UnknownShape {
                    role: role.as_str(),
                    folder: dir.clone(),
                })?
            };
            (name, config)
        }
        ModelSource::Trained(_) => unreachable!("followed above"),
    };
    Ok(RoleShape {
        role,
        model,
        config,
        finetune: spec.finetune.clone(),
        kind_weight: spec.kind_weight,
        trainer: spec.trainer.clone(),
    })
}

/// The published Qwen3 size a folder is named after (`Qwen3-1.7B`, `qwen3-8b-base`, …).
pub fn published_shape(folder_name: &str) -> Option<Qwen3Config> {
    let name = folder_name.to_ascii_lowercase();
    let size = name.strip_prefix("qwen3-")?;
    let size = size.split('-').next()?;
    match size {
        "0.6b" => Some(Qwen3Config::qwen3_0_6b()),
        "1.7b" => Some(Qwen3Config::qwen3_1_7b()),
        "4b" => Some(Qwen3Config::qwen3_4b()),
        "8b" => Some(Qwen3Config::qwen3_8b()),
        _ => None,
    }
}

/// Sizes of one dry run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRunSizes {
    /// Rows per training micro-batch (pairs for the reward model).
    pub batch: usize,
    /// Tokens per training row.
    pub seq: usize,
    /// Optimizer steps run (the first includes the autodiff graph's first build, and on a GPU
    /// kernel compilation; the rate leaves it out when there are more).
    pub steps: u64,
    /// Rows of the recording step.
    pub record_rows: usize,
    /// Prompt tokens per recording row.
    pub record_prompt: usize,
    /// Decode steps after the prefill (proposers).
    pub new_tokens: usize,
    /// Decoder layers built (the real depth unless measuring on paper).
    pub layers: usize,
}

impl DryRunSizes {
    /// The preset's sizes for `shape`: its batch, [`PLAN_SEQUENCE`] tokens (or the preset's
    /// prompt limit plus its answer tokens), the recorder's batch — the preset's `record_chunk`
    /// examples,
    /// each with `1 + samples` rows for the cheap model, one pass of
    /// `spec_actions_live::PASS_TOKENS` tokens for the judges.
    pub fn of_preset(preset: &Preset, shape: &RoleShape) -> Self {
        let seq = preset
            .data
            .budget
            .max_prompt_tokens
            .map_or(PLAN_SEQUENCE, |p| p + preset.decode.max_new_tokens);
        let record_rows = match shape.role {
            Role::Cheap => preset.record_chunk * (1 + preset.samples),
            // (no classifier shape: `role_shape` refuses it)
            Role::Strong | Role::Classifier => preset.record_chunk,
            Role::Verifier | Role::Reward => (spec_actions_live::PASS_TOKENS / seq).max(1),
        };
        DryRunSizes {
            batch: shape.trainer.batch_size,
            seq,
            steps: 1,
            record_rows,
            record_prompt: seq,
            new_tokens: 4,
            layers: shape.config.num_hidden_layers,
        }
    }

    fn check(&self) -> Result<(), DryRunError> {
        let problems: Vec<&str> = [
            (self.batch == 0, "batch is 0"),
            (self.seq < 2, "seq must be at least 2"),
            (self.steps == 0, "steps is 0"),
            (self.record_rows == 0, "record rows is 0"),
            (self.record_prompt == 0, "record prompt is 0"),
            (self.layers == 0, "layers is 0"),
        ]
        .into_iter()
        .filter_map(|(bad, what)| bad.then_some(what))
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DryRunError::Settings(problems.join("; ")))
        }
    }
}

/// The plan's figures for one role (the formulas of the memory plan in `preset.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryPlan {
    /// Base weights: parameters × the compute dtype's bytes.
    pub weights_bytes: u64,
    /// What training adds beside activations: LoRA weights, gradients and two AdamW moments
    /// in f32 (or, trained in full, f32 gradients and moments of every weight).
    pub trainable_state_bytes: u64,
    /// Activations as the plan counts them: layers × rows × seq × 34 × hidden × 2 B
    /// (Korthikanti et al.'s `34·s·b·h` per layer, counted in 2-byte units).
    pub activations_bytes: u64,
    /// Elements of the dense attention scores of one step: layers × rows × heads × seq² —
    /// which the plan leaves out, and training does not keep: under autodiff the attention
    /// recomputes them chunk by chunk in the backward pass (`qwen3::model::scaled_dot_product`);
    /// the dense form would hold each in the compute dtype and again in f32, ≥ 2 + 4 bytes.
    pub attention_score_elements: u64,
    /// The KV cache of the recording step: layers × rows × (prompt + new) × 2 × kv heads ×
    /// head dim × dtype bytes.
    pub kv_cache_bytes: u64,
    /// The plan's training peak: weights + trainable state + activations.
    pub train_bytes: u64,
    /// The plan's recording peak: weights + KV cache.
    pub record_bytes: u64,
}

impl MemoryPlan {
    /// The plan for `config` trained as `finetune` at `sizes` in `dtype`; `pairs`: the
    /// reward model's rows come in pairs (twice the rows).
    pub fn of(
        config: &Qwen3Config,
        finetune: &Finetune,
        sizes: &DryRunSizes,
        dtype: FloatDType,
        pairs: bool,
    ) -> Self {
        let bytes = dtype_bytes(dtype) as u64;
        let mut config = config.clone();
        config.num_hidden_layers = sizes.layers;
        let params = config.parameter_count().unwrap_or(usize::MAX) as u64;
        let weights_bytes = params * bytes;
        let trainable_state_bytes = match finetune {
            Finetune::Lora(lora) => lora_parameters(&config, lora) * 4 * 4,
            Finetune::Full => params * 4 * 3,
        };
        let (l, h, a) = (
            config.num_hidden_layers as u64,
            config.hidden_size as u64,
            config.num_attention_heads as u64,
        );
        let rows = sizes.batch as u64 * if pairs { 2 } else { 1 };
        let s = sizes.seq as u64;
        let activations_bytes = l * rows * s * 34 * h * 2;
        let attention_score_elements = l * rows * a * s * s;
        let kv_cache_bytes = l
            * sizes.record_rows as u64
            * (sizes.record_prompt + sizes.new_tokens) as u64
            * 2
            * (config.num_key_value_heads * config.head_dim) as u64
            * bytes;
        MemoryPlan {
            weights_bytes,
            trainable_state_bytes,
            activations_bytes,
            attention_score_elements,
            kv_cache_bytes,
            train_bytes: weights_bytes + trainable_state_bytes + activations_bytes,
            record_bytes: weights_bytes + kv_cache_bytes,
        }
    }
}

/// Parameters of the adapters `lora` attaches to every layer of `config`.
pub fn lora_parameters(config: &Qwen3Config, lora: &LoraConfig) -> u64 {
    let per_layer: usize = LoraTarget::ALL
        .into_iter()
        .filter(|t| lora.targets(t.module()))
        .map(|t| t.hf_shape(config))
        .map(|[d_out, d_in]| lora.r * (d_in + d_out))
        .sum();
    (per_layer * config.num_hidden_layers) as u64
}

/// Bytes of one element of `dtype`.
pub fn dtype_bytes(dtype: FloatDType) -> usize {
    match dtype {
        FloatDType::F64 => 8,
        FloatDType::F32 | FloatDType::Flex32 => 4,
        FloatDType::F16 | FloatDType::BF16 => 2,
    }
}

/// Memory of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseMemory {
    /// `weights`, `train_step` or `record_step`.
    pub phase: String,
    /// Resident bytes when the phase started (the peak is reset to this).
    pub start_bytes: u64,
    /// Peak resident bytes during the phase.
    pub peak_bytes: u64,
    /// Resident bytes when it ended.
    pub end_bytes: u64,
    pub seconds: f64,
}

/// What one job (one role at one depth, in one process) measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleMeasurement {
    pub role: String,
    pub model: String,
    pub dtype: String,
    /// Parameters of the model as built (at `sizes.layers`).
    pub parameters: u64,
    /// The depth of the real model.
    pub full_layers: usize,
    pub sizes: DryRunSizes,
    pub finetune: String,
    pub phases: Vec<PhaseMemory>,
    /// Training tokens per second in steady state: over steps 2 onwards when there are two or
    /// more (on a GPU the first step also compiles and autotunes every kernel it meets, as
    /// PyTorch benchmarks leave their warm-up steps untimed), else over the one step.
    pub train_tokens_per_s: f64,
    /// Wall seconds of the first training step alone (0 where unknown, and in files written
    /// before it was kept).
    #[serde(default)]
    pub first_step_seconds: f64,
    /// Tokens (prompt + generated) per second of the recording step.
    pub record_tokens_per_s: f64,
    /// The last step's training loss (finite, or the step failed).
    pub last_loss: f64,
    pub plan: MemoryPlan,
}

impl RoleMeasurement {
    /// The phase called `name`.
    pub fn phase(&self, name: &str) -> Option<&PhaseMemory> {
        self.phases.iter().find(|p| p.phase == name)
    }
}

/// Reads a `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &'static str) -> Result<u64, DryRunError> {
    let text = std::fs::read_to_string("/proc/self/status").map_err(|e| DryRunError::Memory {
        what: field,
        reason: e.to_string(),
    })?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| DryRunError::Memory {
            what: field,
            reason: "no such line".into(),
        })?;
    let kib: u64 = line
        .trim()
        .strip_suffix("kB")
        .map(str::trim)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| DryRunError::Memory {
            what: field,
            reason: format!("not a kB figure: {line:?}"),
        })?;
    Ok(kib * 1024)
}

/// Resets the process's peak resident size (`VmHWM`) to its current size.
fn reset_peak() -> Result<(), DryRunError> {
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| DryRunError::Memory {
        what: "VmHWM",
        reason: format!("resetting the peak through /proc/self/clear_refs: {e}"),
    })
}

/// Runs `body` as phase `name`: the peak is reset first and read after; `sync` waits for the
/// device's queued work so the time and peak include it.
fn phase<T>(
    name: &str,
    sync: &dyn Fn(),
    body: impl FnOnce() -> Result<T, DryRunError>,
) -> Result<(T, PhaseMemory), DryRunError> {
    reset_peak()?;
    let start_bytes = status_bytes("VmRSS")?;
    let started = Instant::now();
    let out = body()?;
    sync();
    let seconds = started.elapsed().as_secs_f64();
    let peak_bytes = status_bytes("VmHWM")?;
    let end_bytes = status_bytes("VmRSS")?;
    Ok((
        out,
        PhaseMemory {
            phase: name.to_string(),
            start_bytes,
            peak_bytes,
            end_bytes,
            seconds,
        },
    ))
}

/// Random token ids below `vocab` (never the pad id 0 ... `vocab` - 1 range is uniform).
fn random_ids(rng: &mut ChaCha8Rng, vocab: usize, len: usize) -> Vec<u32> {
    (0..len).map(|_| rng.random_range(1..vocab as u32)).collect()
}

/// Measures one role at `sizes` in this process: weights, one recording step, `sizes.steps`
/// training steps. Run it in a fresh process for figures that mean anything (see the module
/// docs); `work_dir` takes the trainer's checkpoint (removed afterwards).
pub fn measure_role<B: AutodiffBackend>(
    shape: &RoleShape,
    judge_format: JudgeFormat,
    sizes: &DryRunSizes,
    dtype: FloatDType,
    work_dir: &Path,
    device: &B::Device,
) -> Result<RoleMeasurement, DryRunError> {
    sizes.check()?;
    let role = shape.role.as_str();
    let step_error = |what: &'static str| {
        move |e: String| DryRunError::Step {
            role,
            what,
            reason: e,
        }
    };
    let sync = || {
        let _ = B::sync(device);
    };
    let mut config = shape.config.clone();
    config.num_hidden_layers = sizes.layers;
    let vocab = config.vocab_size;
    let mut rng = ChaCha8Rng::seed_from_u64(shape.trainer.seed);
    let pairs = shape.role == Role::Reward && judge_format == JudgeFormat::Prompted;

    // 1. weights: the base in the compute dtype, adapters attached as the preset trains them
    B::seed(device, shape.trainer.seed);
    let (qwen, weights) = phase("weights", &sync, || {
        let base = config.init_in::<B>(dtype, device);
        Ok(match &shape.finetune {
            Finetune::Full => base,
            Finetune::Lora(lora) => base.with_new_lora(lora),
        })
    })?;
    let lora = match &shape.finetune {
        Finetune::Full => LoraConfig::default(),
        Finetune::Lora(lora) => lora.clone(),
    };

    // 2. one recording step on the gradient-free model, before training: the heap keeps
    //    what a phase freed, so the smaller phase goes first and each peak is its own
    let inference = qwen.valid();
    let record_error = step_error("recording step");
    let prompts: Vec<Vec<u32>> = (0..sizes.record_rows)
        .map(|_| random_ids(&mut rng, vocab, sizes.record_prompt))
        .collect();
    let (record_tokens, record) = phase("record_step", &sync, || match shape.role {
        Role::Cheap | Role::Strong | Role::Classifier => {
            let out = generate(&inference, &prompts, &GenerationConfig::greedy(sizes.new_tokens))
                .map_err(|e| record_error(e.to_string()))?;
            Ok(prompts.len() * sizes.record_prompt + out.iter().map(|o| o.tokens.len()).sum::<usize>())
        }
        Role::Verifier | Role::Reward => {
            let slices: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
            let batch = TokenBatch::right_padded(&slices, 0);
            let hidden = hidden_states(&inference, &batch, device);
            let [b, s, _] = hidden.dims();
            // read one value back so the pass has run on any backend
            let _ = hidden.slice([0..1, s - 1..s, 0..1]).into_scalar();
            Ok(b * s)
        }
    })?;
    drop(inference);

    // 3. training steps through the pipeline's trainer, on the role's objective
    let trainer_config = TrainerConfig {
        total_steps: sizes.steps,
        batch_size: sizes.batch,
        grad_accum: 1,
        warmup_steps: 0,
        checkpoint_every: u64::MAX,
        eval_every: u64::MAX,
        progress: false,
        ..shape.trainer.clone()
    };
    let trainer = Trainer::new(trainer_config, work_dir.join(role), lora);
    let rows = sizes.batch;
    let seq = sizes.seq;
    let answer = ANSWER_TOKENS.min(seq - 1);
    let fit_error = step_error("training step");
    let (loss, train) = phase("train_step", &sync, || {
        let (model, report) = match (shape.role, judge_format) {
            (Role::Cheap | Role::Strong | Role::Classifier, _) | (_, JudgeFormat::KindLikelihood) => {
                // SFT on random rows, the last `answer` tokens labelled (the proposer's loss;
                // the kind-likelihood judges' losses read the same logits at fewer positions)
                let set: Vec<LabeledTokens> = (0..rows)
                    .map(|_| {
                        let ids = random_ids(&mut rng, vocab, seq);
                        let labels = ids
                            .iter()
                            .enumerate()
                            .map(|(i, &t)| if i >= seq - answer { i64::from(t) } else { IGNORE })
                            .collect();
                        LabeledTokens { ids, labels }
                    })
                    .collect();
                let objective = KindWeightedSftObjective {
                    pad_id: 0,
                    kind_prefixes: vec![set[0].ids[seq - answer..seq - answer + 1].to_vec()],
                    head_weight: shape.kind_weight.max(1),
                };
                let model = TrainModel {
                    qwen,
                    score_head: None,
                };
                trainer.fit(model, &objective, &set, None, device)
            }
            (Role::Verifier, JudgeFormat::Prompted) => {
                let set: Vec<VerdictExample> = (0..rows)
                    .map(|i| VerdictExample {
                        prompt: random_ids(&mut rng, vocab, seq),
                        accept: i % 2 == 0,
                    })
                    .collect();
                let objective = VerifierObjective {
                    verdict_ids: [1, 2],
                    pad_id: 0,
                };
                let model = TrainModel {
                    qwen,
                    score_head: None,
                };
                trainer.fit(model, &objective, &set, None, device)
            }
            (Role::Reward, JudgeFormat::Prompted) => {
                let set: Vec<PreferencePair> = (0..rows)
                    .map(|_| PreferencePair {
                        better: random_ids(&mut rng, vocab, seq),
                        worse: random_ids(&mut rng, vocab, seq),
                    })
                    .collect();
                let head =
                    Tensor::<B, 2>::random([config.hidden_size, 1], Distribution::Normal(0.0, 0.02), device);
                let model = TrainModel {
                    qwen,
                    score_head: Some(Param::from_tensor(head)),
                };
                trainer.fit(model, &RewardObjective { pad_id: 0 }, &set, None, device)
            }
        }
        .map_err(|e| fit_error(e.to_string()))?;
        drop(model);
        Ok(report.losses.last().copied().unwrap_or(f64::NAN))
    })?;
    let step_seconds = step_seconds(&work_dir.join(role).join("metrics.jsonl"));
    let _ = std::fs::remove_dir_all(work_dir.join(role));
    if !loss.is_finite() {
        return Err(step_error("training step")(format!("the loss is {loss}")));
    }
    let step_tokens = rows * seq * if pairs { 2 } else { 1 };
    let (train_tokens_per_s, first_step_seconds) =
        train_rate(step_seconds.as_deref(), step_tokens, sizes.steps, train.seconds);

    let finetune = match &shape.finetune {
        Finetune::Full => "full".to_string(),
        Finetune::Lora(l) => format!("lora r{} alpha {}", l.r, l.lora_alpha),
    };
    Ok(RoleMeasurement {
        role: role.to_string(),
        model: shape.model.clone(),
        dtype: format!("{dtype:?}").to_lowercase(),
        parameters: config.parameter_count().unwrap_or(usize::MAX) as u64,
        full_layers: shape.config.num_hidden_layers,
        sizes: sizes.clone(),
        finetune,
        train_tokens_per_s,
        first_step_seconds,
        record_tokens_per_s: record_tokens as f64 / record.seconds.max(1e-9),
        last_loss: loss,
        plan: MemoryPlan::of(&shape.config, &shape.finetune, sizes, dtype, pairs),
        phases: vec![weights, record, train],
    })
}

/// A model measured on paper: one layer's share of each phase's peak, from the same shape
/// built with 1 and 2 decoder layers, extrapolated to the real depth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperEstimate {
    pub layers: usize,
    /// Per phase: (phase, bytes of one layer, bytes of everything else, extrapolated peak).
    pub phases: Vec<PaperPhase>,
    /// The plan at the real depth.
    pub plan: MemoryPlan,
}

/// One phase of a [`PaperEstimate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperPhase {
    pub phase: String,
    /// Peak(2 layers) − peak(1 layer).
    pub per_layer_bytes: i64,
    /// Peak(1 layer) − one layer: embeddings, head, losses, the process itself.
    pub fixed_bytes: i64,
    /// `fixed + layers × per_layer`.
    pub extrapolated_peak_bytes: i64,
}

impl PaperEstimate {
    /// The estimate from measurements of the same role at 1 and 2 layers.
    pub fn from_shallow(one: &RoleMeasurement, two: &RoleMeasurement, plan: MemoryPlan) -> Self {
        let layers = one.full_layers;
        let phases = one
            .phases
            .iter()
            .filter_map(|p1| {
                let p2 = two.phase(&p1.phase)?;
                let per_layer = p2.peak_bytes as i64 - p1.peak_bytes as i64;
                let fixed = p1.peak_bytes as i64 - per_layer;
                Some(PaperPhase {
                    phase: p1.phase.clone(),
                    per_layer_bytes: per_layer,
                    fixed_bytes: fixed,
                    extrapolated_peak_bytes: fixed + layers as i64 * per_layer,
                })
            })
            .collect();
        PaperEstimate { layers, phases, plan }
    }
}

/// One role's result: measured at its real depth, or on paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleResult {
    pub role: String,
    pub measured: Vec<RoleMeasurement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_paper: Option<PaperEstimate>,
}

/// The `--out` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRunReport {
    pub preset: String,
    pub memory_counter: String,
    pub machine: String,
    pub roles: Vec<RoleResult>,
}

/// One measurement to run in a child process: a role at a depth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Job {
    pub role: Role,
    pub layers: Option<usize>,
}

/// Runs every job in its own process — `child(job, out)` builds the command that measures
/// `job` and writes its [`RoleMeasurement`] as JSON to `out` — and reads the results back.
pub fn run_jobs(
    jobs: &[Job],
    scratch: &Path,
    child: impl Fn(Job, &Path) -> std::process::Command,
) -> Result<Vec<RoleMeasurement>, DryRunError> {
    std::fs::create_dir_all(scratch).map_err(|e| DryRunError::Child {
        job: "scratch folder".into(),
        reason: format!("{}: {e}", scratch.display()),
    })?;
    jobs.iter()
        .enumerate()
        .map(|(i, job)| {
            let name = match job.layers {
                Some(l) => format!("{} at {l} layer(s)", job.role.as_str()),
                None => job.role.as_str().to_string(),
            };
            let out = scratch.join(format!("job-{i}.json"));
            let status = child(*job, &out).status().map_err(|e| DryRunError::Child {
                job: name.clone(),
                reason: e.to_string(),
            })?;
            if !status.success() {
                return Err(DryRunError::Child {
                    job: name,
                    reason: format!("exited with {status}"),
                });
            }
            let text = std::fs::read(&out).map_err(|e| DryRunError::Child {
                job: name.clone(),
                reason: format!("reading {}: {e}", out.display()),
            })?;
            serde_json::from_slice(&text).map_err(|e| DryRunError::Child {
                job: name,
                reason: format!("{}: {e}", out.display()),
            })
        })
        .collect()
}

/// `bytes` in GiB.
pub fn gib(bytes: f64) -> f64 {
    bytes / (1u64 << 30) as f64
}

/// The table printed for a role measured at its real depth.
pub fn measured_table(m: &RoleMeasurement) -> String {
    let plan = &m.plan;
    let planned = |phase: &str| match phase {
        "weights" => plan.weights_bytes,
        "train_step" => plan.train_bytes,
        _ => plan.record_bytes,
    };
    let mut out = format!(
        "{} ({}, {} layers of {}, {}, {}): train {} × {} tokens, record {} rows × {} + {} new\n",
        m.role,
        m.model,
        m.sizes.layers,
        m.full_layers,
        m.dtype,
        m.finetune,
        m.sizes.batch,
        m.sizes.seq,
        m.sizes.record_rows,
        m.sizes.record_prompt,
        m.sizes.new_tokens
    );
    out.push_str("  phase        peak GiB  +phase GiB   end GiB   plan GiB  peak/plan  seconds\n");
    for p in &m.phases {
        let plan_bytes = planned(&p.phase);
        out.push_str(&format!(
            "  {:<11} {:>9.2} {:>11.2} {:>9.2} {:>10.2} {:>10.2} {:>8.1}\n",
            p.phase,
            gib(p.peak_bytes as f64),
            gib(p.peak_bytes.saturating_sub(p.start_bytes) as f64),
            gib(p.end_bytes as f64),
            gib(plan_bytes as f64),
            p.peak_bytes as f64 / plan_bytes.max(1) as f64,
            p.seconds
        ));
    }
    out.push_str(&format!(
        "  plan: weights {:.2} GiB, trainable state {:.3} GiB, activations {:.2} GiB; dense attention scores \
         {:.3} G elements (≥ {:.2} GiB at 2 + 4 B each if kept; training recomputes them); KV cache {:.2} GiB\n",
        gib(plan.weights_bytes as f64),
        gib(plan.trainable_state_bytes as f64),
        gib(plan.activations_bytes as f64),
        plan.attention_score_elements as f64 / 1e9,
        gib(plan.attention_score_elements as f64 * 6.0),
        gib(plan.kv_cache_bytes as f64),
    ));
    out.push_str(&format!(
        "  train {:.1} tokens/s (loss {:.3}; {}), record {:.1} tokens/s (its first call)\n",
        m.train_tokens_per_s,
        m.last_loss,
        if m.sizes.steps >= 2 {
            format!(
                "steps 2–{}; step 1 took {:.1} s",
                m.sizes.steps, m.first_step_seconds
            )
        } else {
            "one step: first-run costs such as kernel compilation included".to_string()
        },
        m.record_tokens_per_s
    ));
    out
}

/// Training tokens/s and the first step's seconds from each step's seconds: the rate over steps
/// 2 onwards when there are two or more, else over the one step; without a per-step log, over
/// the whole phase (`steps` of `step_tokens` in `phase_seconds`; the first step unknown: 0).
fn train_rate(
    step_seconds: Option<&[f64]>,
    step_tokens: usize,
    steps: u64,
    phase_seconds: f64,
) -> (f64, f64) {
    match step_seconds {
        Some([first, rest @ ..]) if !rest.is_empty() => (
            rest.len() as f64 * step_tokens as f64 / rest.iter().sum::<f64>().max(1e-9),
            *first,
        ),
        Some([only]) => (step_tokens as f64 / only.max(1e-9), *only),
        _ => (
            (steps as usize * step_tokens) as f64 / phase_seconds.max(1e-9),
            0.0,
        ),
    }
}

/// Wall seconds of each step in a trainer's `metrics.jsonl` (its tokens over its tokens/s), or
/// `None` when the log is missing or unreadable.
fn step_seconds(metrics: &Path) -> Option<Vec<f64>> {
    let text = std::fs::read_to_string(metrics).ok()?;
    text.lines()
        .map(|line| {
            let m: StepMetrics = serde_json::from_str(line).ok()?;
            (m.tokens_per_s > 0.0).then(|| m.tokens as f64 / m.tokens_per_s)
        })
        .collect()
}

/// The table printed for a role measured on paper.
pub fn paper_table(role: &str, model: &str, estimate: &PaperEstimate) -> String {
    let plan = &estimate.plan;
    let mut out = format!(
        "{role} ({model}) ON PAPER: 1- and 2-layer models measured, extrapolated to {} layers\n",
        estimate.layers
    );
    out.push_str("  phase        per layer GiB  fixed GiB  extrapolated GiB   plan GiB  ratio\n");
    for p in &estimate.phases {
        let plan_bytes = match p.phase.as_str() {
            "weights" => plan.weights_bytes,
            "train_step" => plan.train_bytes,
            _ => plan.record_bytes,
        };
        out.push_str(&format!(
            "  {:<11} {:>14.3} {:>10.2} {:>17.2} {:>10.2} {:>6.2}\n",
            p.phase,
            gib(p.per_layer_bytes as f64),
            gib(p.fixed_bytes as f64),
            gib(p.extrapolated_peak_bytes as f64),
            gib(plan_bytes as f64),
            p.extrapolated_peak_bytes as f64 / plan_bytes.max(1) as f64
        ));
    }
    out.push_str(&format!(
        "  plan at {} layers: weights {:.2} GiB, activations {:.2} GiB, dense attention scores {:.3} G elements \
         (≥ {:.2} GiB at 2 + 4 B each if kept; training recomputes them), KV cache {:.2} GiB\n",
        estimate.layers,
        gib(plan.weights_bytes as f64),
        gib(plan.activations_bytes as f64),
        plan.attention_score_elements as f64 / 1e9,
        gib(plan.attention_score_elements as f64 * 6.0),
        gib(plan.kv_cache_bytes as f64)
    ));
    out
}

/// Which roles `dry-run` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleChoice {
    Cheap,
    Verifier,
    Reward,
    Strong,
    All,
}

impl RoleChoice {
    fn roles(self) -> Vec<Role> {
        match self {
            RoleChoice::Cheap => vec![Role::Cheap],
            RoleChoice::Verifier => vec![Role::Verifier],
            RoleChoice::Reward => vec![Role::Reward],
            RoleChoice::Strong => vec![Role::Strong],
            RoleChoice::All => Role::LANGUAGE_MODELS.to_vec(),
        }
    }
}

/// `cargo xtask dry-run`: the arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DryRunArgs {
    /// Backend to measure on: `flex` (CPU), `wgpu` or `cuda` when built in
    /// (`spec_actions_qwen3::backend`); the memory figures are the host process's either way.
    #[arg(long, value_enum, default_value_t = BackendChoice::Flex)]
    pub backend: BackendChoice,
    /// A shipped config whose roles to build (`configs/<name>.toml`).
    #[arg(long, default_value = "qwen3", value_parser = ["tiny", "smoke", "qwen3"], conflicts_with = "config")]
    pub preset: String,
    /// A run config file (TOML) instead of a shipped preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one config entry (`--set roles.strong.batch=4`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Folder of the config's checkpoint folders: only their `config.json` is read (never
    /// weights); without it, or where a folder has none, the shape is the published Qwen3 size
    /// the folder is named after.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// The role(s) to measure, each in its own process.
    #[arg(long, value_enum, default_value = "all")]
    pub role: RoleChoice,
    /// Compute dtype of the base weights and activations.
    #[arg(long, value_enum, default_value = "bf16")]
    pub dtype: ComputeDtype,
    /// Optimizer steps to run: with two or more, the training rate is over steps 2 onwards (on
    /// a GPU the first compiles and autotunes kernels; its time is reported apart)
    #[arg(long, default_value_t = 1)]
    pub steps: u64,
    /// Rows per training micro-batch (default: the preset's batch of the role).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tokens per training row (default: the preset's prompt limit + answer tokens, or 1024).
    #[arg(long)]
    pub seq: Option<usize>,
    /// Rows of the recording step (default: the recorder's: the preset's `record_chunk`
    /// examples × (1 + samples) for the cheap model, `record_chunk` for the strong model, 4096
    /// tokens' worth for a judge).
    #[arg(long)]
    pub record_rows: Option<usize>,
    /// Prompt tokens per recording row (default: the training sequence).
    #[arg(long)]
    pub record_prompt: Option<usize>,
    /// Decode steps of the recording step after the prefill.
    #[arg(long, default_value_t = 4)]
    pub new_tokens: usize,
    /// Measure on paper: the role's shape with 1 and 2 decoder layers, extrapolated to its
    /// real depth (for models larger than this machine's memory).
    #[arg(long)]
    pub paper: bool,
    /// Build this many decoder layers instead of the real depth.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Write the result as JSON here (atomically).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Measure one role in this process and write its measurement to `--out` (what the
    /// parent runs in each child process).
    #[arg(long, hide = true, requires = "out")]
    pub in_process: bool,
}

impl DryRunArgs {
    /// The preset the arguments name (the `qwen3` preset's folders resolve under `--models`,
    /// or `models/` — which need not exist).
    pub fn preset(&self) -> Result<Preset, super::BoxError> {
        let loaded = match &self.config {
            Some(path) => crate::config::LoadedConfig::from_file(path)?,
            None => crate::config::LoadedConfig::preset(&self.preset)?,
        }
        .with_overrides(&self.set)?;
        let models = self.models.clone().unwrap_or_else(|| PathBuf::from("models"));
        Ok(Preset::from_config(&loaded, None, Some(&models))?)
    }

    /// The sizes of `shape` with the arguments' overrides.
    pub fn sizes(&self, preset: &Preset, shape: &RoleShape) -> DryRunSizes {
        let mut sizes = DryRunSizes::of_preset(preset, shape);
        sizes.steps = self.steps;
        sizes.new_tokens = self.new_tokens;
        if let Some(b) = self.batch {
            sizes.batch = b;
        }
        if let Some(s) = self.seq {
            sizes.seq = s;
            sizes.record_prompt = s;
            if matches!(shape.role, Role::Verifier | Role::Reward) && self.record_rows.is_none() {
                sizes.record_rows = (spec_actions_live::PASS_TOKENS / s.max(1)).max(1);
            }
        }
        if let Some(r) = self.record_rows {
            sizes.record_rows = r;
        }
        if let Some(p) = self.record_prompt {
            sizes.record_prompt = p;
        }
        if let Some(l) = self.layers {
            sizes.layers = l;
        }
        sizes
    }

    /// The arguments of the child process that measures `job`, writing to `out`.
    fn child_args(&self, job: Job, out: &Path) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec!["dry-run".into()];
        let mut push = |k: &str, v: std::ffi::OsString| {
            a.push(k.into());
            a.push(v);
        };
        match &self.config {
            Some(c) => push("--config", c.clone().into()),
            None => push("--preset", self.preset.clone().into()),
        }
        for s in &self.set {
            push("--set", s.into());
        }
        if let Some(m) = &self.models {
            push("--models", m.clone().into());
        }
        push("--backend", self.backend.as_str().into());
        push("--role", job.role.as_str().into());
        push("--dtype", self.dtype.as_str().into());
        push("--steps", self.steps.to_string().into());
        push("--new-tokens", self.new_tokens.to_string().into());
        for (k, v) in [
            ("--batch", self.batch),
            ("--seq", self.seq),
            ("--record-rows", self.record_rows),
            ("--record-prompt", self.record_prompt),
            ("--layers", job.layers.or(self.layers)),
        ] {
            if let Some(v) = v {
                push(k, v.to_string().into());
            }
        }
        push("--out", out.as_os_str().to_owned());
        a.push("--in-process".into());
        a
    }
}

/// `cargo xtask dry-run`: measures the roles (each in a child process, or this one with
/// `--in-process`), prints each against the plan, writes the JSON report to `--out`.
pub fn dry_run<B: AutodiffBackend>(args: &DryRunArgs, device: &B::Device) -> Result<(), super::BoxError> {
    let preset = args.preset()?;
    let roles = args.role.roles();
    if args.in_process {
        let [role] = roles.as_slice() else {
            return Err(DryRunError::Settings("--in-process measures one role: give --role".into()).into());
        };
        let shape = role_shape(&preset, *role)?;
        let sizes = args.sizes(&preset, &shape);
        let scratch = std::env::temp_dir().join(format!("spec-actions-dry-run-{}", std::process::id()));
        let measured = measure_role::<B>(
            &shape,
            preset.judge_format,
            &sizes,
            FloatDType::from(args.dtype),
            &scratch,
            device,
        );
        let _ = std::fs::remove_dir_all(&scratch);
        let out = args.out.as_deref().ok_or("--in-process needs --out")?;
        spec_actions_core::io::atomic_write_bytes(out, &serde_json::to_vec_pretty(&measured?)?)?;
        return Ok(());
    }
    // check every role's shape before the first child starts
    let shapes = roles
        .iter()
        .map(|&r| role_shape(&preset, r))
        .collect::<Result<Vec<_>, _>>()?;
    for shape in &shapes {
        args.sizes(&preset, shape).check()?;
    }
    let exe = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("spec-actions-dry-run-{}", std::process::id()));
    let machine = spec_actions_core::machine::Machine::detect();
    println!(
        "dry run of the {} preset in {} on {machine}\nmemory: {MEMORY_COUNTER}\n",
        preset.name,
        args.dtype.as_str()
    );
    let mut results = Vec::new();
    for shape in &shapes {
        let jobs: Vec<Job> = if args.paper {
            [1, 2]
                .into_iter()
                .map(|l| Job {
                    role: shape.role,
                    layers: Some(l),
                })
                .collect()
        } else {
            vec![Job {
                role: shape.role,
                layers: None,
            }]
        };
        let measured = run_jobs(&jobs, &scratch, |job, out| {
            let mut command = std::process::Command::new(&exe);
            command.args(args.child_args(job, out));
            command
        });
        let _ = std::fs::remove_dir_all(&scratch);
        let measured = measured?;
        let on_paper = match measured.as_slice() {
            [one, two] if args.paper => {
                let mut sizes = two.sizes.clone();
                sizes.layers = shape.config.num_hidden_layers;
                let pairs = shape.role == Role::Reward && preset.judge_format == JudgeFormat::Prompted;
                let plan = MemoryPlan::of(
                    &shape.config,
                    &shape.finetune,
                    &sizes,
                    FloatDType::from(args.dtype),
                    pairs,
                );
                for m in &measured {
                    print!("{}", measured_table(m));
                }
                let estimate = PaperEstimate::from_shallow(one, two, plan);
                println!("{}", paper_table(shape.role.as_str(), &shape.model, &estimate));
                Some(estimate)
            }
            _ => {
                for m in &measured {
                    println!("{}", measured_table(m));
                }
                None
            }
        };
        results.push(RoleResult {
            role: shape.role.as_str().to_string(),
            measured,
            on_paper,
        });
    }
    let report = DryRunReport {
        preset: preset.name.clone(),
        memory_counter: MEMORY_COUNTER.to_string(),
        machine: machine.to_string(),
        roles: results,
    };
    if let Some(out) = &args.out {
        spec_actions_core::io::atomic_write_bytes(out, &serde_json::to_vec_pretty(&report)?)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec_actions_qwen3::Qwen3Config;

    /// Each step's seconds are its tokens over its tokens/s (hand-computed: 1000 / 500 = 2 s,
    /// 300 / 600 = 0.5 s); a line that does not parse makes the log unusable, not a wrong rate.
    #[test]
    fn step_seconds_come_from_the_trainers_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("metrics.jsonl");
        let line = |step: u64, tokens: usize, rate: f64| {
            serde_json::to_string(&StepMetrics {
                step,
                lr: 1e-4,
                loss: 1.0,
                grad_norm: 1.0,
                tokens,
                tokens_per_s: rate,
                eval_loss: None,
                eval_metric: None,
            })
            .expect("serialise")
        };
        std::fs::write(
            &path,
            format!("{}\n{}\n", line(1, 1000, 500.0), line(2, 300, 600.0)),
        )
        .expect("write");
        assert_eq!(step_seconds(&path), Some(vec![2.0, 0.5]));
        std::fs::write(&path, format!("{}\nnot json\n", line(1, 1000, 500.0))).expect("write");
        assert_eq!(step_seconds(&path), None);
        assert_eq!(step_seconds(&dir.path().join("missing.jsonl")), None);
    }

    /// Hand-computed: 4096-token steps of 8 s, 1 s, 3 s run at 2 × 4096 / 4 = 2048 tokens/s in
    /// steady state, the first step apart; one step is its own rate; no log, the phase's.
    #[test]
    fn the_training_rate_leaves_the_first_step_out() {
        assert_eq!(train_rate(Some(&[8.0, 1.0, 3.0]), 4096, 3, 13.0), (2048.0, 8.0));
        assert_eq!(train_rate(Some(&[2.0]), 4096, 1, 2.5), (2048.0, 2.0));
        assert_eq!(train_rate(None, 4096, 3, 12.0), (1024.0, 0.0));
    }

    /// The plan's formulas against the figures of `preset.rs` worked by hand: the 8B's
    /// weights ≈ 16.4 GB, its activations at 4 × 1024 ≈ 41 GB, its LoRA r16 adapters on all
    /// seven projections counted projection by projection.
    #[test]
    fn plan_reproduces_the_hand_figures() {
        let lora = LoraConfig::new(16, 32.0);
        let sizes = DryRunSizes {
            batch: 4,
            seq: 1024,
            steps: 1,
            record_rows: 24,
            record_prompt: 1024,
            new_tokens: 64,
            layers: 36,
        };
        let plan = MemoryPlan::of(
            &Qwen3Config::qwen3_8b(),
            &Finetune::Lora(lora.clone()),
            &sizes,
            FloatDType::BF16,
            false,
        );
        let gb = |b: u64| b as f64 / 1e9;
        assert!(
            (gb(plan.weights_bytes) - 16.4).abs() < 0.1,
            "{}",
            gb(plan.weights_bytes)
        );
        assert!(
            (gb(plan.activations_bytes) - 41.1).abs() < 0.1,
            "{}",
            gb(plan.activations_bytes)
        );
        // LoRA r16 on the 8B by hand: r · Σ(d_in + d_out) over the seven projections, 36
        // layers: 43.6 M parameters, 16 B each in f32 with gradient and two AdamW moments
        let (h, q, kv, i) = (4096, 4096, 1024, 12288);
        let by_hand = 16 * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h)) * 36;
        assert_eq!(by_hand, 43_646_976);
        assert_eq!(lora_parameters(&Qwen3Config::qwen3_8b(), &lora), by_hand as u64);
        assert_eq!(plan.trainable_state_bytes, by_hand as u64 * 16);
        // the scores the plan leaves out: 36 layers × 4 rows × 32 heads × 1024²
        assert_eq!(plan.attention_score_elements, 36 * 4 * 32 * 1024 * 1024);
    }

    #[test]
    fn published_shapes_by_folder_name() {
        assert_eq!(published_shape("Qwen3-1.7B"), Some(Qwen3Config::qwen3_1_7b()));
        assert_eq!(published_shape("qwen3-8b-base"), Some(Qwen3Config::qwen3_8b()));
        assert_eq!(published_shape("Qwen3-4B"), Some(Qwen3Config::qwen3_4b()));
        assert_eq!(published_shape("Llama-8B"), None);
        assert_eq!(published_shape("Qwen3-3B"), None);
    }
}
