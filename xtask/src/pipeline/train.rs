//! `train-all`: the dataset stage and one training stage per role.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::module::{AutodiffModule, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use spec_actions_core::Example;
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_train::data::budget::HfTokenCounter;
use spec_actions_train::data::builders::{example_rng, hard_negative};
use spec_actions_train::data::pipeline::{DatasetConfig, NoProgress, build_datasets, read_examples};
use spec_actions_train::tasks::{
    PreferencePair, RewardObjective, SftObjective, VerdictExample, VerifierObjective, pairwise_accuracy,
};
use spec_actions_train::trainer::{SCORE_HEAD, TrainModel, Trainer, evaluate, read_tensors, write_tensors};

use super::preset::{ModelSource, Preset, Role, RoleSpec};
use super::{BoxError, RunDir};

/// Where the repo's shipped assets are (the tokenizer, BFCL).
pub fn assets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("assets")
}

/// Stage 1: the v3 datasets, in `<run>/datasets`.
pub fn datasets_stage(run: &RunDir, preset: &Preset) -> Result<(), BoxError> {
    run.stage("datasets", |dir| {
        let assets = assets_dir();
        let counter = HfTokenCounter::from_file(&assets.join("qwen3-tokenizer/tokenizer.json"))?;
        let d = &preset.data;
        let config = DatasetConfig {
            bfcl_dir: d.use_bfcl.then(|| assets.join("bfcl-v4")),
            synthetic_examples: d.synthetic,
            seed: preset.seed,
            budget: d.budget,
            eval_size: d.eval_size,
            dev_fraction: d.dev_fraction,
            heldout_category: d.use_bfcl.then(|| "simple_java".to_string()),
        };
        let report = build_datasets(&config, &counter, dir, &mut NoProgress)?;
        let sizes: serde_json::Map<String, Value> = report
            .card
            .sizes
            .iter()
            .map(|(split, s)| (split.to_string(), json!(s.examples)))
            .collect();
        println!("  datasets: {}", serde_json::to_string(&sizes)?);
        let majority_kind = report.card.baselines.get("eval").map(|b| b.majority_kind.clone());
        Ok(json!({ "sizes": sizes, "majority_kind": majority_kind }))
    })?;
    Ok(())
}

/// The examples of one split of the run's datasets, seeded-shuffled and cut to `limit`.
pub fn split_examples(run: &RunDir, split: &str, limit: usize, seed: u64) -> Result<Vec<Example>, BoxError> {
    let path = run.stage_dir("datasets").join(format!("{split}.jsonl"));
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut examples = read_examples(&path)?;
    examples.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    examples.truncate(limit);
    Ok(examples)
}

/// The prompt encoder of the shipped Qwen3 tokenizer (or of a user's model folder).
pub fn encoder_for(source: &ModelSource) -> Result<ActionPromptEncoder, BoxError> {
    let dir = match source {
        ModelSource::Folder(dir) if dir.join("tokenizer.json").exists() => dir.clone(),
        _ => assets_dir().join("qwen3-tokenizer"),
    };
    Ok(ActionPromptEncoder::from_dir(&dir)?)
}

/// The base model of a role: loaded from the user's folder, or random-initialised and saved in
/// `<run>/models/<role>/base` (so evaluation loads exactly the trained base).
pub fn base_model<B: Backend>(
    run: &RunDir,
    role: Role,
    spec: &RoleSpec,
    device: &B::Device,
) -> Result<Qwen3<B>, BoxError> {
    match &spec.source {
        ModelSource::Folder(dir) => Ok(load_qwen3(dir, device)?),
        ModelSource::Random {
            config,
            seed,
            embedding_scale,
        } => {
            let dir = model_dir(run, role).join("base");
            if dir.join("model.safetensors").exists() {
                return Ok(load_qwen3(&dir, device)?);
            }
            B::seed(device, *seed);
            let mut model = config.init::<B>(device);
            model.embed_tokens.weight = model
                .embed_tokens
                .weight
                .clone()
                .map(|w| w.mul_scalar(*embedding_scale));
            model.save_hf(&dir)?;
            Ok(model)
        }
    }
}

pub fn model_dir(run: &RunDir, role: Role) -> PathBuf {
    run.root.join("models").join(role.as_str())
}

/// Stage 2–5: train one role with LoRA (and, for the reward model, a scalar head).
///
/// `stop` is the interruption flag (SIGINT / SIGTERM): training then stops at the next step
/// boundary, checkpoints, and the error says how to resume.
pub fn role_stage<B: AutodiffBackend>(
    run: &RunDir,
    preset: &Preset,
    role: Role,
    stop: &Arc<AtomicBool>,
    device: &B::Device,
) -> Result<(), BoxError> {
    let spec = preset.role(role).clone();
    run.stage(role.as_str(), |dir| {
        let encoder = encoder_for(&spec.source)?;
        let pad = encoder.tokenizer.special().pad;
        let train = split_examples(run, "train", spec.train_examples, spec.trainer.seed)?;
        let heldout = split_examples(run, "dev", spec.heldout_examples, spec.trainer.seed)?;
        let base = base_model::<B>(run, role, &spec, device)?;
        let qwen = base.with_new_lora(&spec.lora);
        let mut trainer = Trainer::new(spec.trainer.clone(), dir.join("train"), spec.lora.clone());
        trainer.stop = Arc::clone(stop);
        let out_dir = model_dir(run, role);
        let metrics = match role {
            Role::Cheap | Role::Strong => {
                let (train_set, skipped) = encode_all(&train, |e| encoder.proposer_sft(e).ok());
                let (held_set, _) = encode_all(&heldout, |e| encoder.proposer_sft(e).ok());
                let objective = SftObjective { pad_id: pad };
                let model = TrainModel { qwen, score_head: None };
                let start_loss = evaluate(&model.valid(), &objective, &held_set, 8, device);
                let (model, report) = trainer.fit(model, &objective, &train_set, Some(&held_set), device)?;
                model.qwen.peft_adapter(&spec.lora).write(&out_dir.join("adapter"))?;
                json!({"examples": train_set.len(), "skipped": skipped, "heldout_loss_start": start_loss,
                       "heldout_loss_end": report.eval_losses.last().map(|(_, l)| *l),
                       "train_loss_last": report.losses.last()})
            }
            Role::Verifier => {
                let verdicts = |set: &[Example]| {
                    let mut out = Vec::new();
                    for e in set {
                        let (negative, _) = hard_negative(e, &mut example_rng(spec.trainer.seed, &e.id));
                        for (action, accept) in [(&e.gold, true), (&negative, false)] {
                            if let Ok(prompt) = encoder.verifier_prompt(e, action) {
                                out.push(VerdictExample { prompt, accept });
                            }
                        }
                    }
                    out
                };
                let (train_set, held_set) = (verdicts(&train), verdicts(&heldout));
                let objective = VerifierObjective { verdict_ids: encoder.verdict_token_ids()?, pad_id: pad };
                let model = TrainModel { qwen, score_head: None };
                let (model, report) = trainer.fit(model, &objective, &train_set, Some(&held_set), device)?;
                model.qwen.peft_adapter(&spec.lora).write(&out_dir.join("adapter"))?;
                json!({"examples": train_set.len(), "heldout_loss_end": report.eval_losses.last().map(|(_, l)| *l),
                       "train_loss_last": report.losses.last()})
            }
            Role::Reward => {
                let pairs = |set: &[Example]| -> Vec<PreferencePair> {
                    set.iter()
                        .filter_map(|e| {
                            let (negative, _) = hard_negative(e, &mut example_rng(spec.trainer.seed, &e.id));
                            Some(PreferencePair {
                                better: encoder.reward_input(e, &e.gold).ok()?,
                                worse: encoder.reward_input(e, &negative).ok()?,
                            })
                        })
                        .collect()
                };
                let (train_set, held_set) = (pairs(&train), pairs(&heldout));
                let hidden = qwen.config.hidden_size;
                let head = Tensor::<B, 2>::random([hidden, 1], Distribution::Normal(0.0, 0.02), device);
                let model = TrainModel { qwen, score_head: Some(Param::from_tensor(head)) };
                let objective = RewardObjective { pad_id: pad };
                let accuracy_start = pairwise_accuracy(&model.valid(), &held_set, pad, device);
                let (model, report) = trainer.fit(model, &objective, &train_set, Some(&held_set), device)?;
                let accuracy_end = pairwise_accuracy(&model.valid(), &held_set, pad, device);
                model.qwen.peft_adapter(&spec.lora).write(&out_dir.join("adapter"))?;
                if let Some(head) = &model.score_head {
                    write_head(&out_dir.join("score_head.safetensors"), head.val())?;
                }
                json!({"pairs": train_set.len(), "heldout_pairwise_accuracy_start": accuracy_start,
                       "heldout_pairwise_accuracy_end": accuracy_end,
                       "heldout_loss_end": report.eval_losses.last().map(|(_, l)| *l)})
            }
        };
        println!("  {}: {}", role.as_str(), metrics);
        Ok(metrics)
    })?;
    Ok(())
}

fn encode_all<T>(examples: &[Example], encode: impl Fn(&Example) -> Option<T>) -> (Vec<T>, usize) {
    let out: Vec<T> = examples.iter().filter_map(encode).collect();
    let skipped = examples.len() - out.len();
    (out, skipped)
}

/// The reward head as a one-tensor safetensors file (`score.weight`, `[hidden, 1]`).
pub fn write_head<B: Backend>(path: &Path, head: Tensor<B, 2>) -> Result<(), BoxError> {
    Ok(write_tensors(path, &[(SCORE_HEAD.to_string(), head)])?)
}

/// Reads [`write_head`]'s file.
pub fn read_head<B: Backend>(path: &Path, device: &B::Device) -> Result<Tensor<B, 2>, BoxError> {
    read_tensors::<B>(path, device)?
        .remove(SCORE_HEAD)
        .ok_or_else(|| format!("{}: no `{SCORE_HEAD}` tensor", path.display()).into())
}
