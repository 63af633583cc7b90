//! Pipeline presets: which models play each role, how long each trains, how much data is used.
//! A [`Preset`] is a resolved run config ([`crate::config`]); the built-in presets are the
//! shipped files `configs/*.toml` ([`LoadedConfig::preset`](crate::config::LoadedConfig::preset)):
//!
//! - `tiny` (default, CPU): small random-initialised Qwen3-architecture models with the real
//!   Qwen3 tokenizer, trained in full on the bundled data; the whole pipeline in minutes.
//! - `smoke` (CI): the same pipeline on minimal sizes.
//! - `qwen3` (CUDA, `--models DIR`): Qwen3-1.7B proposer, Qwen3-4B verifier and reward model,
//!   Qwen3-8B strong model, each LoRA-fine-tuned — the study's plan, with the 8B trained too.
//!
//! Why the tiny numbers (`configs/tiny.toml`): the proposer is hidden 64, 2 layers, trained in
//! full from random initialisation, 140 steps × 8 at peak learning rate 8e-3; the verifier and
//! reward model start from the trained proposer (it already reads the task; a pretrained
//! checkpoint plays that part for real models) and judge in the kind-likelihood format
//! (`JudgeFormat::KindLikelihood`) on kind-level negatives — the prompted format (the
//! verifier's own prompt and ACCEPT / REJECT tokens, a scalar reward head) stayed at chance
//! here: held-out loss ln 2 and eval ROC-AUC 0.52 after 60 × 16 steps, from the proposer or the
//! strong model, embedding frozen or not; it must first learn to compare a proposal with its
//! context, which a 64-wide model does not in minutes. In the kind-likelihood format the
//! verifier's held-out ROC-AUC rose 0.88 → 0.92 in 60 × 16 steps at 2e-3 and 0.89 → 0.94 in
//! 100 × 16 at 4e-3; on today's data, 0.881 → 0.913 in 100 × 16 and 0.881 → 0.908 in 60 × 16
//! at 4e-3 (eval ROC-AUC 0.893 and 0.869): the shipped 60 steps, 55 s less on two cores. The
//! strong model keeps its 240 steps: at 160 its eval kind accuracy fell from 0.778 to 0.658,
//! 0.096 above the proposer's where the study needs 0.12. Each role is evaluated on its
//! held-out rows at its start, middle and end (`eval_every`: three points of each learning
//! curve; five cost the default run about a minute). The reward model starts where the proposer's
//! ranking already is (held-out pairwise accuracy ≈ 0.87) and a restarted learning rate
//! shocks it: 50 × 8 steps at 2e-3 took the held-out Bradley–Terry loss 0.34 → 1.11 at step
//! 12 and ended at accuracy 0.86; at 5e-4 (0.34 → 0.47) and at 1e-3 with the embedding frozen
//! (0.34 → 0.63) the same. At 2e-4 with 16 pairs a step, 15 warm-up steps and the embedding
//! frozen (the shipped numbers, 60 steps) the accuracy rose 0.879 → 0.891 on 256 held-out
//! pairs, the loss flat (0.314 → 0.319); freezing also spares the `[vocab, hidden]` update
//! every step. The strong model is
//! hidden 128, 3 layers, 240 steps × 8 at 6e-3 — bigger and better trained than the proposer.
//! The learning rates are the largest of those tried that train stably: at 4e-3 / 3e-3 a
//! 64 × 3 proposer and the strong model ended 200 steps at held-out kind accuracy 0.51 / 0.61
//! instead of 0.68 / 0.78. A 64 × 3 proposer trained 200 steps at 8e-3 came within 4 points
//! of the strong model on eval (0.78 against 0.82), and a 64 × 2 one reached the same
//! held-out accuracy (0.70), so the proposer is the smaller *and* shorter-trained model: the
//! study needs a gap for the gates to recover. The kind tokens weigh 16 in the proposers' SFT
//! loss (their answers' first few tokens decide the kind, among dozens of argument tokens).
//! A random base's embedding is drawn with std `0.02 · 15 · √(64 / hidden)`: the same initial
//! logit spread at every width (a tied head gives logits of std ≈ √hidden · 0.02 · scale).
//!
//! Memory plan of `qwen3` on one 80 GB GPU (bf16 weights, f32 LoRA/optimizer state), as
//! `dry_run::MemoryPlan` computes it; `cargo xtask dry-run` measures it (figures below from
//! this CPU, see `dry_run`):
//! - weights: 8B ≈ 16.4 GB, 4B ≈ 8 GB, 1.7B ≈ 3.4 GB. LoRA r16 on all seven projections:
//!   43.6 M parameters for the 8B (17.4 M for the 1.7B), 16 B each in f32 with gradient and
//!   two AdamW moments: 0.70 GB (0.28 GB) — not the "< 0.2 GB" this plan first said.
//! - training activations as the plan counts them, layers × b × s × 34 × hidden × 2 B: ≈ 41 GB
//!   for the 8B at batch 4 × 1024, so the 8B trains at batch 2 with gradient accumulation; the
//!   1.7B and 4B at batch 4. Measured on the Qwen3-1.7B shape in bf16 (batch 1 at 128 and 384
//!   tokens, one LoRA step): ≈ 4.9 MiB a token, 179 KB a token and layer against the plan's
//!   139 KB (1.3×: the f32 inputs of the LoRA paths, f32 norm statistics), plus ≈ 1.7 GiB a
//!   step that does not grow with tokens (transients of the backward pass).
//! - the plan leaves out the dense attention scores: layers × b × heads × s² elements, held in
//!   the compute dtype and again in f32 for the softmax (≥ 6 B each) — for the 8B at
//!   2 × 1024, 2.4 G elements, ≥ 13.5 GiB; for the 1.7B at 4 × 1024, 1.9 G elements,
//!   ≥ 10.5 GiB. burn 0.21's fused (flash) `attention` runs only forward (under `Autodiff` it
//!   falls back to dense scores), so training attends through
//!   `spec_actions_qwen3::model::scaled_dot_product::recomputed`, a custom autodiff op that
//!   keeps Q, K, V, the output and two numbers a query row, and recomputes the scores chunk by
//!   chunk in the backward pass. Measured at the preset's sizes, on paper (`dry-run --paper`,
//!   1 and 2 layers, bf16, this CPU), dense (the previous build) → recomputed, the same
//!   losses: the 1.7B step at 4 × 1024 1.344 → 0.766 GiB a layer, 40.3 → **24.2 GiB**
//!   extrapolated (plan 18.3: 1.32×, the f32 LoRA inputs and norm statistics above); the 8B
//!   step at 2 × 1024 1.578 → 0.986 GiB a layer, 62.9 → **41.7 GiB** (plan 35.0: 1.19×). Both
//!   fit one 80 GB GPU; the 8B at 4 × 1024 would need ≈ 77 GiB, so it keeps batch 2.
//! - the 8B on paper at batch 1 × 128 tokens (`dry-run --role strong --paper --batch 1 --seq
//!   128`): 0.36 GiB of weights a layer, resident weights extrapolated to 15.3 GiB at 36
//!   layers (the plan's 15.26); the training step 0.41 GiB a layer, 20.7 GiB in all at that
//!   size.
//! - the 4B whole (`dry-run --role verifier --batch 1 --seq 128`, 36 layers, bf16): resident
//!   weights 7.63 GiB against the plan's 7.49; the recording step (32 rows × 128 tokens + 4
//!   new) peaks at 8.57 GiB against 8.07 and the LoRA step at 9.24 against 8.73 (1.06× each).
//! - building random weights peaks at ≈ 2× their size (f32 draws cast to bf16); loading a
//!   checkpoint converts tensor by tensor instead (`examples/load_memory.rs`).
//! - evaluation holds all four models at once (≈ 36 GB) plus the recorder's KV cache: 96 rows
//!   (`eval.record_chunk` = 24 examples × 4 decodes) × 1,088 tokens × 112 KiB for the 1.7B ≈ 11.2 GiB, 24 rows ×
//!   144 KiB for the 8B ≈ 3.6 GiB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spec_actions_core::{LanguageModelMap, ModelRole};
use spec_actions_data::budget::{ContextBudget, ToolSchemas};
use spec_actions_data::builders::NegativeLevel;
use spec_actions_live::DecodeSettings;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::lora::LoraConfig;
use spec_actions_train::optim::AdamWConfig;
use spec_actions_train::tasks::JudgeFormat;
use spec_actions_train::trainer::TrainerConfig;

use crate::config::{
    BaseConfig, BudgetPreset, ConfigError, FinetuneConfig, LoadedConfig, Prices, RoleConfig, StudyConfig,
    ToolSchemasConfig, mixing_weights,
};

/// Where a role's base model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// Random initialisation of this architecture with this seed (saved as an HF folder).
    /// The embedding (tied to the LM head) is drawn with std `0.02 · embedding_scale`: at 0.02
    /// the final norm caps every logit near ±1.3 and no adapter could make a confident
    /// prediction, so the tiny models use a trained-model-like scale.
    Random {
        config: Qwen3Config,
        seed: u64,
        embedding_scale: f64,
    },
    /// A user's HF checkpoint folder.
    Folder(PathBuf),
    /// The trained model of an earlier role (trained in full): the judges of the tiny study
    /// start from the proposer, which already knows the task — the "shared tiny base" whose
    /// role a pretrained checkpoint plays for real models.
    Trained(ModelRole),
}

/// Which parameters a role's training updates.
#[derive(Debug, Clone, PartialEq)]
pub enum Finetune {
    /// Every weight (embedding, projections, norms): for random-initialised bases, which give
    /// an adapter nothing to adapt. The trained model is saved as an HF folder.
    Full,
    /// LoRA adapters on a frozen base (real checkpoints); saved as a PEFT adapter folder.
    Lora(LoraConfig),
}

/// How one role is built and trained.
#[derive(Debug, Clone)]
pub struct RoleSpec {
    pub source: ModelSource,
    pub finetune: Finetune,
    /// Proposers (cheap, strong): weight of the answer's kind tokens in the SFT loss
    /// (1: plain SFT, as TRL's). See `spec_actions_train::tasks::KindWeightedSftObjective`.
    pub kind_weight: usize,
    pub trainer: TrainerConfig,
    /// Training examples drawn from the train split (`usize::MAX`: all).
    pub train_examples: usize,
    /// Held-out examples (dev split) for the eval loss / accuracy.
    pub heldout_examples: usize,
}

/// Dataset settings of a preset.
#[derive(Debug, Clone)]
pub struct DataSpec {
    pub synthetic: usize,
    pub budget: ContextBudget,
    pub eval_size: usize,
    pub dev_fraction: f64,
    pub use_bfcl: bool,
    /// Which mistakes the verifier and reward sets' hard negatives may be.
    pub negatives: NegativeLevel,
    /// A BFCL folder other than the bundled one.
    pub bfcl_dir: Option<PathBuf>,
    /// BFCL category held out whole (used with BFCL only).
    pub heldout_category: Option<String>,
    /// The user's agent traces.
    pub traces: Vec<TraceSpec>,
    /// Mixing weights of the train split by source family (`bfcl`, `synthetic`,
    /// `traces:<name>`).
    pub weights: BTreeMap<String, f64>,
}

/// One trace file of a preset.
#[derive(Debug, Clone)]
pub struct TraceSpec {
    /// Examples get `source = "traces:<name>"`.
    pub name: String,
    pub path: PathBuf,
    /// The kind map (TOML).
    pub map: PathBuf,
    pub skip_bad_lines: bool,
}

/// Everything a pipeline run is configured by.
#[derive(Debug, Clone)]
pub struct Preset {
    pub name: String,
    pub seed: u64,
    pub data: DataSpec,
    /// How each language-model role is built and trained (trained in
    /// [`ModelRole::LANGUAGE_MODELS`] order).
    pub roles: LanguageModelMap<RoleSpec>,
    /// How the verifier and the reward model read a proposal (their training objective and
    /// their scores at evaluation).
    pub judge_format: JudgeFormat,
    /// Dev examples recorded for threshold calibration.
    pub dev_examples: usize,
    /// Eval examples recorded (≤ the eval split).
    pub eval_examples: usize,
    /// Held-out-category examples recorded.
    pub heldout_examples: usize,
    /// Sampled proposals per example (policy E).
    pub samples: usize,
    /// One-pass kinds judged per example.
    pub one_pass_k: usize,
    /// Examples recorded together by [`spec_actions_live::Recorder::record_batch`].
    pub record_chunk: usize,
    pub decode: DecodeSettings,
    /// Nominal prices of the calls.
    pub prices: Prices,
    /// The study's operating points.
    pub study: StudyConfig,
}

impl Preset {
    /// How `role` is built and trained.
    ///
    /// # Panics
    /// For the classifier, which is no language model (see [`crate::pipeline::classifier`]).
    pub fn role(&self, role: ModelRole) -> &RoleSpec {
        &self.roles[role]
    }

    /// Checks, before any stage runs, that every user checkpoint folder of the preset has a
    /// readable `config.json`; every problem is listed in one error.
    pub fn check_model_folders(&self) -> Result<(), String> {
        let problems: Vec<String> = ModelRole::LANGUAGE_MODELS
            .iter()
            .filter_map(|&role| match &self.role(role).source {
                ModelSource::Folder(dir) => Qwen3Config::from_file(dir.join("config.json"))
                    .err()
                    .map(|e| format!("{} model: {e}", role.as_str())),
                ModelSource::Random { .. } | ModelSource::Trained(_) => None,
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the {} preset's checkpoints are not usable:\n  {}",
                self.name,
                problems.join("\n  ")
            ))
        }
    }

    /// A built-in preset by name (the shipped `configs/<name>.toml`, as `--preset` loads it);
    /// `seed` and `models` override the file's `seed` and `models_dir`.
    #[cfg(test)]
    pub fn named(name: &str, seed: Option<u64>, models: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_config(&LoadedConfig::preset(name)?, seed, models)
    }

    /// Resolves a run config (with `--seed` / `--models` overrides) into a preset.
    pub fn from_config(
        loaded: &LoadedConfig,
        seed: Option<u64>,
        models: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let c = &loaded.config;
        let seed = seed.unwrap_or(c.seed);
        let models_dir = models
            .map(Path::to_path_buf)
            .or_else(|| c.models_dir.as_deref().map(|d| loaded.path_of(d)));
        let d = &c.data;
        let mut budget = match d.budget.preset {
            BudgetPreset::Full => ContextBudget::full(),
            BudgetPreset::Tiny => ContextBudget::tiny(),
        };
        if let Some(n) = d.budget.max_prompt_tokens {
            budget.max_prompt_tokens = Some(n);
        }
        if let Some(n) = d.budget.max_content_chars {
            budget.max_content_chars = Some(n);
        }
        if let Some(t) = d.budget.tool_schemas {
            budget.tool_schemas = match t {
                ToolSchemasConfig::Full => ToolSchemas::Full,
                ToolSchemasConfig::Compact => ToolSchemas::Compact,
                ToolSchemasConfig::Signatures => ToolSchemas::Signatures,
                ToolSchemasConfig::ParameterNames => ToolSchemas::ParameterNames,
            };
        }
        if d.bfcl.is_none() && d.synthetic.is_none() && d.traces.is_empty() {
            return Err(loaded.error_at(
                "data",
                "no data source: set [data.bfcl], [data.synthetic] or [[data.traces]]",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in d.traces.iter().enumerate() {
            if t.name.is_empty() || !names.insert(t.name.clone()) {
                return Err(loaded.error_at(
                    &format!("data.traces.{i}.name"),
                    format!("trace source names must be non-empty and distinct ({:?})", t.name),
                ));
            }
        }
        let data = DataSpec {
            synthetic: d.synthetic.as_ref().map_or(0, |s| s.examples),
            budget,
            eval_size: d.eval_size,
            dev_fraction: d.dev_fraction.0,
            use_bfcl: d.bfcl.is_some(),
            bfcl_dir: d
                .bfcl
                .as_ref()
                .and_then(|b| b.path.as_deref())
                .map(|p| loaded.path_of(p)),
            heldout_category: d.bfcl.as_ref().and_then(|b| b.heldout.clone()),
            traces: d
                .traces
                .iter()
                .map(|t| TraceSpec {
                    name: t.name.clone(),
                    path: loaded.path_of(&t.path),
                    map: loaded.path_of(&t.map),
                    skip_bad_lines: t.skip_bad_lines,
                })
                .collect(),
            weights: mixing_weights(d),
            negatives: d.negatives,
        };
        for (i, name) in c.study.policies.iter().flatten().enumerate() {
            if !spec_actions_verify::study::POLICY_FAMILIES.contains(&name.as_str()) {
                return Err(loaded.error_at(
                    &format!("study.policies.{i}"),
                    format!(
                        "unknown policy family {name:?} (known: {})",
                        spec_actions_verify::study::POLICY_FAMILIES.join(", ")
                    ),
                ));
            }
        }
        let r = &c.roles;
        let mut specs = Vec::with_capacity(ModelRole::LANGUAGE_MODELS.len());
        for (role, spec) in r.by_role().iter() {
            specs.push(role_spec(loaded, role, spec, seed, models_dir.as_deref())?);
        }
        let mut specs = specs.into_iter();
        let roles = LanguageModelMap::from_fn(|_| specs.next().expect("one spec per role"));
        let preset = Preset {
            name: c.name.clone(),
            seed,
            data,
            roles,
            judge_format: r.judge_format,
            dev_examples: c.eval.dev_examples,
            eval_examples: c.eval.eval_examples,
            heldout_examples: c.eval.heldout_examples,
            samples: c.eval.samples,
            one_pass_k: c.eval.one_pass_k,
            record_chunk: c.eval.record_chunk.get(),
            decode: DecodeSettings {
                max_new_tokens: c.eval.max_new_tokens,
                temperature: c.eval.temperature,
                top_p: c.eval.top_p,
                seed: c.eval.decode_seed,
            },
            prices: c.cost.prices.clone(),
            study: c.study.clone(),
        };
        // A judge or strong model may start from a role trained before it in full.
        let order = ModelRole::LANGUAGE_MODELS;
        for (i, role) in order.iter().enumerate() {
            if let ModelSource::Trained(from) = &preset.role(*role).source {
                let earlier = order[..i].contains(from);
                if !earlier || preset.role(*from).finetune != Finetune::Full {
                    return Err(loaded.error_at(
                        &format!("roles.{}.base", role.as_str()),
                        format!(
                            "`trained = \"{}\"` needs a role trained before this one (order: cheap, verifier, reward, strong) and in full",
                            from.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(preset)
    }
}

/// One role of a config.
fn role_spec(
    loaded: &LoadedConfig,
    name: ModelRole,
    spec: &RoleConfig,
    seed: u64,
    models_dir: Option<&Path>,
) -> Result<RoleSpec, ConfigError> {
    let role_seed = seed + spec.seed_offset;
    let source = match &spec.base {
        BaseConfig::Folder(dir) if dir.is_absolute() => ModelSource::Folder(dir.clone()),
        BaseConfig::Folder(dir) => match models_dir {
            Some(models) => ModelSource::Folder(models.join(dir)),
            None => {
                return Err(loaded.error_at(
                    &format!("roles.{name}.base"),
                    format!(
                        "the relative folder {:?} needs `models_dir` in the file or --models DIR",
                        dir.display()
                    ),
                ));
            }
        },
        BaseConfig::Random(r) => {
            let mut config = small_config(r.hidden, r.layers, r.heads, r.kv_heads, r.head_dim);
            if let Some(i) = r.intermediate {
                config.intermediate_size = i;
            }
            let embedding_scale = r
                .embedding_scale
                .unwrap_or_else(|| 15.0 * (64.0 / r.hidden.max(1) as f64).sqrt());
            ModelSource::Random {
                config,
                seed: role_seed,
                embedding_scale,
            }
        }
        BaseConfig::Trained(from) => ModelSource::Trained(*from),
    };
    let finetune = match &spec.finetune {
        FinetuneConfig::Full => Finetune::Full,
        FinetuneConfig::Lora(l) => {
            let mut lora = LoraConfig::new(l.r.get(), l.alpha.0);
            if let Some(targets) = &l.targets {
                lora.target_modules = targets.iter().map(|t| t.module().to_string()).collect();
            }
            lora.lora_dropout = l.dropout.0;
            lora.use_rslora = l.rslora;
            Finetune::Lora(lora)
        }
    };
    let steps = spec.steps.get();
    let every = (steps / 4).max(1);
    Ok(RoleSpec {
        source,
        finetune,
        kind_weight: spec.kind_weight.get(),
        trainer: TrainerConfig {
            total_steps: steps,
            batch_size: spec.batch.get(),
            grad_accum: spec.accumulation.get(),
            lr: spec.lr.0,
            warmup_steps: spec.warmup_steps.unwrap_or((steps / 10).max(1)),
            adamw: AdamWConfig::default(),
            max_grad_norm: (spec.max_grad_norm.0 > 0.0).then_some(spec.max_grad_norm.0),
            seed: role_seed,
            checkpoint_every: spec.checkpoint_every.unwrap_or(every).max(1),
            eval_every: spec.eval_every.unwrap_or(every).max(1),
            progress: true,
            freeze_embeddings: spec.freeze_embeddings,
        },
        train_examples: spec.train_examples.get(),
        heldout_examples: spec.heldout_examples,
    })
}

/// A small Qwen3-architecture config with the real vocabulary.
pub(crate) fn small_config(
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
) -> Qwen3Config {
    let mut c = Qwen3Config::qwen3_0_6b();
    c.hidden_size = hidden;
    c.intermediate_size = hidden * 3;
    c.num_hidden_layers = layers;
    c.num_attention_heads = heads;
    c.num_key_value_heads = kv_heads;
    c.head_dim = head_dim;
    c.max_position_embeddings = 4096;
    c.tie_word_embeddings = true;
    c.storage_dtype = Some("float32".into());
    c
}

/// The shipped `tiny` preset (`configs/tiny.toml`).
#[cfg(test)]
pub(crate) fn tiny(seed: u64) -> Preset {
    Preset::named("tiny", Some(seed), None).expect("the shipped tiny.toml resolves (tested)")
}

/// The tiny preset on synthetic data only (no BFCL), for tests that build a small run.
#[cfg(test)]
pub(crate) fn synthetic_tiny(name: &str, synthetic: usize, eval_size: usize) -> Preset {
    let mut preset = tiny(0);
    preset.name = name.into();
    preset.data.use_bfcl = false;
    preset.data.synthetic = synthetic;
    preset.data.eval_size = eval_size;
    preset
}

/// The shipped `qwen3` preset with its checkpoints in `dir`.
#[cfg(test)]
pub(crate) fn qwen3(seed: u64, dir: &Path) -> Preset {
    Preset::named("qwen3", Some(seed), Some(dir)).expect("the shipped qwen3.toml resolves (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Missing or broken checkpoint folders are reported together, before any stage runs;
    /// folders with a valid `config.json` pass; random-initialised presets need none.
    #[test]
    fn qwen3_model_folders_are_checked_up_front() {
        let models = tempfile::tempdir().expect("temp dir");
        let preset = qwen3(0, models.path());
        let err = preset.check_model_folders().expect_err("no folders yet");
        for role in ["cheap", "verifier", "reward", "strong"] {
            assert!(err.contains(&format!("{role} model")), "{err}");
        }
        let config = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/spec-actions-qwen3/tests/data/tiny/config.json"
        );
        for folder in ["Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B"] {
            let dir = models.path().join(folder);
            std::fs::create_dir_all(&dir).expect("folder");
            std::fs::copy(config, dir.join("config.json")).expect("config");
        }
        std::fs::write(
            models.path().join("Qwen3-8B/config.json"),
            b"{\"hidden_size\": 1}",
        )
        .expect("write");
        let err = preset.check_model_folders().expect_err("a broken config");
        assert!(
            err.contains("strong model") && !err.contains("cheap model"),
            "{err}"
        );
        std::fs::copy(config, models.path().join("Qwen3-8B/config.json")).expect("config");
        assert_eq!(preset.check_model_folders(), Ok(()));
        assert_eq!(tiny(0).check_model_folders(), Ok(()));
    }

    /// Each file in `configs/`, read from disk, resolves to exactly the built-in preset the
    /// pipeline uses (`--preset NAME`, compiled in from the same files): the presets and the
    /// shipped files cannot drift.
    #[test]
    fn shipped_files_are_the_built_in_presets() {
        let models = Path::new("/checkpoints");
        for (name, _) in crate::config::SHIPPED {
            let path = crate::config::configs_dir().join(format!("{name}.toml"));
            let loaded = LoadedConfig::from_file(&path).expect("shipped file parses");
            for seed in [0, 5] {
                let from_file = Preset::from_config(&loaded, Some(seed), Some(models)).expect("resolves");
                let built_in = Preset::named(name, Some(seed), Some(models)).expect("preset");
                assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"), "{name}");
            }
            // The file's own seed is the default.
            let default = Preset::from_config(&loaded, None, Some(models)).expect("resolves");
            assert_eq!(default.seed, loaded.config.seed);
        }
    }

    /// `eval.record_chunk`: the tiny preset's own, 24 where a config names none (the qwen3 GPU
    /// plan's), an override reaches the preset, and 0 is refused naming the key.
    #[test]
    fn record_chunk_defaults_overrides_and_refuses_zero() {
        let tiny = LoadedConfig::preset("tiny").expect("tiny");
        assert_eq!(
            Preset::from_config(&tiny, None, None).expect("tiny").record_chunk,
            128
        );
        let qwen3 = LoadedConfig::preset("qwen3").expect("qwen3");
        let p = Preset::from_config(&qwen3, None, Some(Path::new("/checkpoints"))).expect("qwen3");
        assert_eq!(p.record_chunk, crate::config::DEFAULT_RECORD_CHUNK.get());
        let set = |v: &str| tiny.clone().with_overrides(&[format!("eval.record_chunk={v}")]);
        let p = Preset::from_config(&set("7").expect("override"), None, None).expect("resolves");
        assert_eq!(p.record_chunk, 7);
        let err = set("0").expect_err("zero").to_string();
        assert!(err.contains("eval.record_chunk"), "{err}");
    }

    /// Overrides change exactly the entries they name; bad keys and values name the key, the
    /// file and (in the file) the line.
    #[test]
    fn overrides_and_errors_name_key_file_and_line() {
        let tiny = LoadedConfig::preset("tiny").expect("tiny");
        let set = |sets: &[&str]| {
            tiny.clone()
                .with_overrides(&sets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        let changed =
            set(&["roles.cheap.steps=7", "data.synthetic.weight=2.5", "name=my-run"]).expect("overrides");
        let p = Preset::from_config(&changed, None, None).expect("resolves");
        assert_eq!(p.roles[ModelRole::Cheap].trainer.total_steps, 7);
        assert_eq!(p.roles[ModelRole::Cheap].trainer.warmup_steps, 1);
        assert_eq!(p.data.weights["synthetic"], 2.5);
        assert_eq!(p.name, "my-run");
        let base = Preset::from_config(&tiny, None, None).expect("resolves");
        assert_eq!(
            format!("{:?}", p.roles[ModelRole::Strong]),
            format!("{:?}", base.roles[ModelRole::Strong])
        );
        // A key that does not exist, a bad value, a bad kind of value.
        let err = set(&["roles.cheap.stepz=7"])
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("roles.cheap") && err.contains("stepz"), "{err}");
        let err = set(&["roles.cheap.lr=-1"]).expect_err("bad value").to_string();
        assert!(err.contains("roles.cheap.lr") && err.contains("-1"), "{err}");
        let err = set(&["data.dev_fraction=1.5"])
            .expect_err("bad value")
            .to_string();
        assert!(err.contains("data.dev_fraction"), "{err}");
        // A policy family no study has (`[study]` is the file's last table).
        let text = format!("{}policies = [\"C\", \"Z\"]\n", crate::config::SHIPPED[0].1);
        let loaded = LoadedConfig::parse(&text, Path::new("my.toml")).expect("parses");
        let err = Preset::from_config(&loaded, None, None)
            .expect_err("unknown family")
            .to_string();
        assert!(err.contains("study.policies.1") && err.contains("\"Z\""), "{err}");
        let with = set(&["study.policies=[\"C\", \"K→A\"]"]).expect("override");
        let p = Preset::from_config(&with, None, None).expect("resolves");
        assert_eq!(p.study.policies, Some(vec!["C".to_string(), "K→A".to_string()]));
        // In a file: the line, the key, the file.
        let text = crate::config::SHIPPED[0].1.replace("steps = 240", "steps = 0");
        let err = LoadedConfig::parse(&text, Path::new("my.toml"))
            .expect_err("0 steps")
            .to_string();
        let line = text.lines().position(|l| l == "steps = 0").expect("line") + 1;
        assert!(
            err.starts_with(&format!("my.toml:{line}: key `roles.strong.steps`")),
            "{err}"
        );
        let text = crate::config::SHIPPED[0].1.replace(
            "steps = 60\nbatch = 16\nlr = 4e-3",
            "steps = 60\nsped = 2\nbatch = 16\nlr = 4e-3",
        );
        let err = LoadedConfig::parse(&text, Path::new("my.toml"))
            .expect_err("unknown")
            .to_string();
        let line = text.lines().position(|l| l == "sped = 2").expect("line") + 1;
        assert!(
            err.starts_with(&format!("my.toml:{line}: key `roles.verifier")),
            "{err}"
        );
        assert!(err.contains("sped"), "{err}");
        let text = crate::config::SHIPPED[0].1.replacen(
            "base = { trained = \"cheap\" }",
            "base = { trained = \"cheep\" }",
            1,
        );
        let err = LoadedConfig::parse(&text, Path::new("my.toml"))
            .expect_err("bad role")
            .to_string();
        let line = text.lines().position(|l| l.contains("cheep")).expect("line") + 1;
        assert!(
            err.starts_with(&format!("my.toml:{line}: key `roles.verifier.base.trained`")),
            "{err}"
        );
        assert!(err.contains("cheep"), "{err}");
        // A cross-entry rule: a judge cannot start from a role trained after it.
        let bad = set(&["roles.verifier.base.trained=\"strong\""]).expect("parses");
        let err = Preset::from_config(&bad, None, None)
            .expect_err("later role")
            .to_string();
        assert!(err.contains("roles.verifier.base"), "{err}");
        // LoRA with chosen targets, prices from the config; a projection that does not exist.
        let lora = set(&[
            "roles.strong.finetune={ lora = { r = 8, alpha = 16.0, targets = [\"q_proj\", \"v_proj\"] } }",
            "cost.prices={ nominal = { cheap = 0.2, strong = 1.0, verifier = 0.1, reward = 0.1 } }",
        ])
        .expect("overrides");
        let p = Preset::from_config(&lora, None, None).expect("resolves");
        let Finetune::Lora(l) = &p.roles[ModelRole::Strong].finetune else {
            panic!("LoRA expected: {:?}", p.roles[ModelRole::Strong].finetune)
        };
        assert_eq!(
            (l.r, l.lora_alpha, l.target_modules.clone()),
            (8, 16.0, vec!["q_proj".to_string(), "v_proj".to_string()])
        );
        let Prices::Nominal(n) = &p.prices else {
            panic!("{:?}", p.prices)
        };
        assert_eq!((n.cheap.0, n.classifier.0), (0.2, 0.001));
        let err = set(&["roles.cheap.finetune={ lora = { r = 8, alpha = 16.0, targets = [\"qq_proj\"] } }"])
            .expect_err("bad target")
            .to_string();
        assert!(
            err.contains("roles.cheap.finetune") && err.contains("qq_proj"),
            "{err}"
        );
        // Relative checkpoint folders need a models folder.
        let err = Preset::named("qwen3", None, None)
            .expect_err("no models dir")
            .to_string();
        assert!(
            err.contains("qwen3.toml") && err.contains("roles.cheap.base") && err.contains("--models"),
            "{err}"
        );
    }
}
