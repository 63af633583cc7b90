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
use spec_actions_core::example::balance_kinds;
use spec_actions_core::metrics::roc_auc;
use spec_actions_core::{Action, ActionKind, Example, ModelRole};
use spec_actions_data::budget::HfTokenCounter;
use spec_actions_data::pipeline::{
    BadLines, DatasetConfig, ExtraSources, NoProgress, SkippedLine, TraceSource, build_datasets_rendered,
    read_examples_with, read_role_set_options,
};
use spec_actions_data::role_sets::{preference_pairs, verdict_rows};
use spec_actions_data::traces::KindMap;
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::lora::LoraConfig;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::{LoadOptions, load_qwen3_with};
use spec_actions_train::tasks::{
    JudgeFormat, KindPreferencePair, KindQuestion, KindRewardObjective, KindVerdictExample,
    KindVerdictObjective, KindWeightedSftObjective, PreferencePair, RewardObjective, VerdictExample,
    VerifierObjective, accuracy_of, kind_predictions, p_accept, pairwise_accuracy,
};
use spec_actions_train::trainer::{TrainModel, Trainer, evaluate, read_score_head, write_score_head};

use super::preset::{Finetune, ModelSource, Preset, RoleSpec};
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
            bfcl_dir: d
                .use_bfcl
                .then(|| d.bfcl_dir.clone().unwrap_or_else(|| assets.join("bfcl-v4"))),
            synthetic_examples: d.synthetic,
            seed: preset.seed,
            budget: d.budget,
            eval_size: d.eval_size,
            dev_fraction: d.dev_fraction,
            heldout_category: if d.use_bfcl {
                d.heldout_category.clone()
            } else {
                None
            },
            negatives: d.negatives,
        };
        let mut extra = ExtraSources {
            traces: Vec::new(),
            weights: d.weights.clone(),
        };
        for t in &d.traces {
            extra.traces.push(TraceSource {
                path: t.path.clone(),
                map: KindMap::from_file(&t.map)?,
                source: format!("traces:{}", t.name),
                bad_lines: if t.skip_bad_lines {
                    BadLines::Skip
                } else {
                    BadLines::Refuse
                },
            });
        }
        // The SFT set also as TRL prompt-completion pairs, rendered by the proposer's encoder.
        let encoder = encoder_for(&preset.roles[ModelRole::Cheap].source)?;
        let renderer = crate::hf_tools::EncoderRenderer(&encoder);
        let report =
            build_datasets_rendered(&config, &extra, &counter, Some(&renderer), dir, &mut NoProgress)?;
        if !report.trace_skipped.is_empty() {
            println!(
                "  datasets: {} trace line(s) skipped:",
                report.trace_skipped.len()
            );
            for line in &report.trace_skipped {
                println!("    {line}");
            }
        }
        let sizes: serde_json::Map<String, Value> = report
            .card
            .sizes
            .iter()
            .map(|(split, s)| (split.to_string(), json!(s.examples)))
            .collect();
        println!("  datasets: {}", serde_json::to_string(&sizes)?);
        let majority_kind = report.card.baselines.get("eval").map(|b| b.majority_kind.clone());
        Ok(json!({
            "sizes": sizes,
            "majority_kind": majority_kind,
            "trace_lines_skipped": report.trace_skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))
    })?;
    Ok(())
}

/// The examples of one split of the run's datasets, seeded-shuffled and cut to `limit`.
///
/// A line that does not parse stops the run before training, naming the file and the line.
pub fn split_examples(run: &RunDir, split: &str, limit: usize, seed: u64) -> Result<Vec<Example>, BoxError> {
    Ok(split_examples_with(run, split, limit, seed, BadLines::Refuse)?.0)
}

/// [`split_examples`] with a choice for bad lines; also returns the lines skipped.
pub fn split_examples_with(
    run: &RunDir,
    split: &str,
    limit: usize,
    seed: u64,
    bad_lines: BadLines,
) -> Result<(Vec<Example>, Vec<SkippedLine>), BoxError> {
    let path = run.stage_dir("datasets").join(format!("{split}.jsonl"));
    // Only the held-out category is optional (a synthetic-only run has none); a missing
    // train, dev or eval file is an error naming it, not an empty split.
    if split == "heldout" && !path.exists() {
        return Ok((Vec::new(), Vec::new()));
    }
    let read = read_examples_with(&path, bad_lines)?;
    let mut examples = read.examples;
    examples.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    examples.truncate(limit);
    Ok((examples, read.skipped))
}

/// The skipped lines of a stage as stage metrics (a count per split and the first 20 lines),
/// printed when there are any.
fn skipped_lines_metrics(role: ModelRole, skipped: &[(&str, &[SkippedLine])]) -> Value {
    let total: usize = skipped.iter().map(|(_, lines)| lines.len()).sum();
    if total > 0 {
        println!(
            "  {}: skipped {total} dataset line(s) that do not parse (--skip-bad-lines):",
            role.as_str()
        );
        for line in skipped.iter().flat_map(|(_, lines)| lines.iter()).take(20) {
            println!("    {line}");
        }
    }
    let per_split: serde_json::Map<String, Value> = skipped
        .iter()
        .map(|(split, lines)| (split.to_string(), json!(lines.len())))
        .collect();
    let first: Vec<String> = skipped
        .iter()
        .flat_map(|(_, lines)| lines.iter())
        .take(20)
        .map(ToString::to_string)
        .collect();
    json!({ "total": total, "per_split": per_split, "first": first })
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
/// `<run>/models/<role>/base` (so evaluation loads exactly the trained base); either way in the
/// backend's compute dtype, `load` (`spec_actions_qwen3::backend::BackendChoice::load_options`:
/// bf16 on CUDA, f32 on Flex and wgpu; LoRA adapters, their gradients and AdamW state, the
/// losses and the reward head are f32 whatever it is).
pub fn base_model<B: Backend>(
    run: &RunDir,
    role: ModelRole,
    spec: &RoleSpec,
    load: &LoadOptions,
    device: &B::Device,
) -> Result<Qwen3<B>, BoxError> {
    match &spec.source {
        // A user's checkpoint is read straight into the compute dtype.
        ModelSource::Folder(dir) => Ok(load_qwen3_with(dir, load, device)?),
        ModelSource::Trained(from) => {
            let dir = model_dir(run, *from).join(TRAINED_MODEL);
            if !is_complete_checkpoint(&dir) {
                return Err(format!(
                    "the {} model starts from the trained {} model, which is not in {}: train that role first",
                    role.as_str(),
                    from.as_str(),
                    dir.display()
                )
                .into());
            }
            Ok(load_qwen3_with(&dir, load, device)?)
        }
        ModelSource::Random {
            config,
            seed,
            embedding_scale,
        } => {
            let dir = model_dir(run, role).join("base");
            // `save_hf` writes the folder as a whole; a folder with one file only (left by an
            // older build killed between its two writes) is made again.
            if is_complete_checkpoint(&dir) {
                return Ok(load_qwen3_with(&dir, load, device)?);
            }
            B::seed(device, *seed);
            let mut model = config.init::<B>(device);
            model.embed_tokens.weight = model
                .embed_tokens
                .weight
                .clone()
                .map(|w| w.mul_scalar(*embedding_scale));
            model.save_hf(&dir)?;
            Ok(model.cast_base(load.compute_dtype))
        }
    }
}

/// Whether `dir` holds both files [`Qwen3::save_hf`] writes (`model.safetensors`, `config.json`).
pub fn is_complete_checkpoint(dir: &Path) -> bool {
    dir.join("model.safetensors").is_file() && dir.join("config.json").is_file()
}

/// The `config.json` of the base model [`base_model`] loads for `role`.
pub fn base_config_path(run: &RunDir, role: ModelRole, spec: &RoleSpec) -> PathBuf {
    let dir = match &spec.source {
        ModelSource::Folder(dir) => dir.clone(),
        ModelSource::Trained(from) => model_dir(run, *from).join(TRAINED_MODEL),
        ModelSource::Random { .. } => model_dir(run, role).join("base"),
    };
    dir.join("config.json")
}

pub fn model_dir(run: &RunDir, role: ModelRole) -> PathBuf {
    run.root.join("models").join(role.as_str())
}

/// The classifier has its own stage ([`crate::pipeline::classifier`]), not a language model's.
fn classifier_is_not_a_role_stage() -> BoxError {
    "the classifier is trained by the `classifier` stage, not as a language-model role".into()
}

/// Stage 2–5: train one role with LoRA (and, for the reward model, a scalar head).
///
/// `stop` is the interruption flag (SIGINT / SIGTERM): training then stops at the next step
/// boundary, checkpoints, and the error says how to resume. `bad_lines` says what a dataset
/// line that does not parse does: stop the stage before training (naming file and line), or
/// be skipped and counted in the stage's metrics (`bad_lines_skipped`). `load` is the backend's
/// compute dtype (see [`base_model`]).
pub fn role_stage<B: AutodiffBackend>(
    run: &RunDir,
    preset: &Preset,
    role: ModelRole,
    bad_lines: BadLines,
    stop: &Arc<AtomicBool>,
    load: &LoadOptions,
    device: &B::Device,
) -> Result<(), BoxError> {
    if !role.is_language_model() {
        return Err(classifier_is_not_a_role_stage());
    }
    let spec = preset.role(role).clone();
    run.stage(role.as_str(), |dir| {
        let encoder = encoder_for(&spec.source)?;
        let pad = encoder.tokenizer.special().pad;
        let (train, train_skipped) =
            split_examples_with(run, "train", spec.train_examples, spec.trainer.seed, bad_lines)?;
        if train.is_empty() {
            let path = run.stage_dir("datasets").join("train.jsonl");
            return Err(match train_skipped.len() {
                0 => format!("{}: the file holds no example to train on", path.display()),
                n => format!(
                    "{}: no example to train on: all {n} rows were skipped as bad lines",
                    path.display()
                ),
            }
            .into());
        }
        let (heldout_pool, dev_skipped) =
            split_examples_with(run, "dev", usize::MAX, spec.trainer.seed, bad_lines)?;
        let heldout: Vec<Example> = heldout_pool.iter().take(spec.heldout_examples).cloned().collect();
        let bad_lines_skipped =
            skipped_lines_metrics(role, &[("train", &train_skipped), ("dev", &dev_skipped)]);
        // The eval split is balanced by kind; the train split is not (a quarter is final_answer).
        let train = balance_kinds(&train);
        let base = base_model::<B>(run, role, &spec, load, device)?;
        // Every tokenizer id must have an embedding row (else training indexes out of bounds).
        encoder
            .tokenizer
            .check_fits(&base.config, &base_config_path(run, role, &spec))?;
        // Every row fits the model's context, whatever the data (a 10 MB message included).
        let context = base.config.max_position_embeddings;
        let encoder = encoder.with_max_tokens(context);
        let (qwen, lora) = match &spec.finetune {
            Finetune::Full => (base, LoraConfig::default()),
            Finetune::Lora(lora) => (base.with_new_lora(lora), lora.clone()),
        };
        let mut trainer = Trainer::new(spec.trainer.clone(), dir.join("train"), lora);
        trainer.stop = Arc::clone(stop);
        let out_dir = model_dir(run, role);
        let mut metrics = match role {
            ModelRole::Cheap | ModelRole::Strong => {
                let (train_set, skipped) = encode_all(&train, |e| encoder.proposer_sft(e).ok());
                let (held_set, _) = encode_all(&heldout, |e| encoder.proposer_sft(e).ok());
                let objective = KindWeightedSftObjective {
                    pad_id: pad,
                    kind_prefixes: encoder.kind_candidates()?.into_iter().map(|(_, ids)| ids).collect(),
                    head_weight: spec.kind_weight.max(1),
                };
                let model = TrainModel { qwen, score_head: None };
                let candidates: Vec<Vec<u32>> =
                    encoder.kind_candidates()?.into_iter().map(|(_, ids)| ids).collect();
                // Kind accuracy on a kind-balanced held-out sample (as the eval split is).
                let kind_set = balanced_sample(&heldout_pool, KIND_HELDOUT_PER_KIND);
                let (kind_prompts, kind_gold): (Vec<Vec<u32>>, Vec<usize>) = kind_set
                    .iter()
                    .filter_map(|e| Some((encoder.proposer_prompt(e).ok()?, e.gold.kind.index())))
                    .unzip();
                let kind_metric = |m: &TrainModel<B::InnerBackend>| {
                    accuracy_of(&kind_predictions(&m.qwen, &kind_prompts, &candidates), &kind_gold)
                };
                let start_loss = evaluate(&model.valid(), &objective, &held_set, 8, device);
                let accuracy_start = kind_metric(&model.valid());
                let (model, report) =
                    trainer.fit_with_metric(model, &objective, &train_set, Some(&held_set), Some(kind_metric), device)?;
                let predicted = kind_predictions(&model.valid().qwen, &kind_prompts, &candidates);
                // recall of each kind present in the sample
                let recall: serde_json::Map<String, Value> = ActionKind::ALL
                    .iter()
                    .filter_map(|k| {
                        let rows: Vec<usize> =
                            (0..kind_gold.len()).filter(|&i| kind_gold[i] == k.index()).collect();
                        let right = rows.iter().filter(|&&i| predicted[i] == Some(k.index())).count();
                        (!rows.is_empty())
                            .then(|| (k.as_str().to_string(), json!(right as f64 / rows.len() as f64)))
                    })
                    .collect();
                save_trained(&model.qwen, &spec.finetune, &out_dir)?;
                let at_limit = train_set.iter().filter(|r| r.ids.len() >= context).count();
                json!({"examples": train_set.len(), "skipped": skipped, "heldout_loss_start": start_loss,
                       "context_tokens": context, "rows_cut_to_context": at_limit,
                       "heldout_loss_end": report.eval_losses.last().map(|(_, l)| *l),
                       "heldout_kind_examples": kind_gold.len(),
                       "heldout_kind_accuracy_start": accuracy_start,
                       "heldout_kind_accuracy_end": accuracy_of(&predicted, &kind_gold),
                       "heldout_kind_recall_end": recall,
                       "train_loss_last": report.losses.last()})
            }
            ModelRole::Verifier if preset.judge_format == JudgeFormat::KindLikelihood => {
                // The rows of `verifier_*.jsonl`, read as (proposer prompt, proposed kind).
                let (data_seed, level) = read_role_set_options(&run.stage_dir("datasets"))?;
                let kinds = encoder.kind_candidates()?;
                let verdicts = |set: &[Example]| -> Vec<KindVerdictExample> {
                    verdict_rows(set, data_seed, level)
                        .into_iter()
                        .filter_map(|r| {
                            Some(KindVerdictExample {
                                question: kind_question(&encoder, &kinds, r.example, &r.action)?,
                                accept: r.accept,
                            })
                        })
                        .collect()
                };
                let (train_set, held_set) = (verdicts(&train), verdicts(&heldout));
                let objective = KindVerdictObjective;
                let model = TrainModel { qwen, score_head: None };
                // loss and AUC from one pass over the held-out rows (NaN AUC without both classes)
                let held_out = |model: &TrainModel<B::InnerBackend>| objective.held_out(model, &held_set, device);
                let start = held_out(&model.valid());
                let (model, report) = trainer.fit_with_eval(model, &objective, &train_set, Some(held_out), device)?;
                let end = report.last_eval.unwrap_or_else(|| held_out(&model.valid()));
                save_trained(&model.qwen, &spec.finetune, &out_dir)?;
                json!({"examples": train_set.len(), "judge_format": "kind_likelihood",
                       "negatives": level.as_str(),
                       "heldout_loss_start": start.loss, "heldout_loss_end": end.loss,
                       "heldout_auc_start": start.metric, "heldout_auc_end": end.metric,
                       "train_loss_last": report.losses.last()})
            }
            ModelRole::Reward if preset.judge_format == JudgeFormat::KindLikelihood => {
                // The pairs of `reward_*.jsonl`, read as (proposer prompt, chosen / rejected kind).
                let (data_seed, level) = read_role_set_options(&run.stage_dir("datasets"))?;
                let kinds = encoder.kind_candidates()?;
                let pairs = |set: &[Example]| -> Vec<KindPreferencePair> {
                    preference_pairs(set, data_seed, level)
                        .into_iter()
                        .filter_map(|p| {
                            Some(KindPreferencePair {
                                better: kind_question(&encoder, &kinds, p.example, &p.chosen)?,
                                worse: kind_question(&encoder, &kinds, p.example, &p.rejected)?,
                            })
                        })
                        .collect()
                };
                let (train_set, held_set) = (pairs(&train), pairs(&heldout));
                let objective = KindRewardObjective;
                let model = TrainModel { qwen, score_head: None };
                // loss and pairwise accuracy from one pass over the held-out pairs
                let held_out = |model: &TrainModel<B::InnerBackend>| objective.held_out(model, &held_set, device);
                let start = held_out(&model.valid());
                let (model, report) = trainer.fit_with_eval(model, &objective, &train_set, Some(held_out), device)?;
                let end = report.last_eval.unwrap_or_else(|| held_out(&model.valid()));
                save_trained(&model.qwen, &spec.finetune, &out_dir)?;
                json!({"pairs": train_set.len(), "judge_format": "kind_likelihood",
                       "negatives": level.as_str(),
                       "heldout_pairwise_accuracy_start": start.metric,
                       "heldout_pairwise_accuracy_end": end.metric,
                       "heldout_loss_start": start.loss, "heldout_loss_end": end.loss})
            }
            ModelRole::Verifier => {
                // The rows of `verifier_*.jsonl`: built by the data crate with the data seed.
                let (data_seed, level) = read_role_set_options(&run.stage_dir("datasets"))?;
                let verdicts = |set: &[Example]| -> Vec<VerdictExample> {
                    verdict_rows(set, data_seed, level)
                        .into_iter()
                        .filter_map(|r| {
                            let prompt = encoder.verifier_prompt(r.example, &r.action).ok()?;
                            Some(VerdictExample { prompt, accept: r.accept })
                        })
                        .collect()
                };
                let (train_set, held_set) = (verdicts(&train), verdicts(&heldout));
                let objective = VerifierObjective { verdict_ids: encoder.verdict_token_ids()?, pad_id: pad };
                let model = TrainModel { qwen, score_head: None };
                let labels: Vec<bool> = held_set.iter().map(|v| v.accept).collect();
                let auc = |model: &TrainModel<B::InnerBackend>| {
                    let scores = p_accept(model, &objective, &held_set, device);
                    roc_auc(&scores.into_iter().zip(labels.iter().copied()).collect::<Vec<_>>())
                };
                let auc_start = auc(&model.valid());
                let (model, report) = trainer.fit(model, &objective, &train_set, Some(&held_set), device)?;
                let auc_end = auc(&model.valid());
                save_trained(&model.qwen, &spec.finetune, &out_dir)?;
                let at_limit = train_set.iter().filter(|r| r.prompt.len() >= context).count();
                json!({"examples": train_set.len(), "heldout_loss_end": report.eval_losses.last().map(|(_, l)| *l),
                       "context_tokens": context, "rows_cut_to_context": at_limit,
                       "heldout_auc_start": auc_start, "heldout_auc_end": auc_end,
                       "train_loss_last": report.losses.last()})
            }
            ModelRole::Reward => {
                // The rows of `reward_*.jsonl`: built by the data crate with the data seed.
                let (data_seed, level) = read_role_set_options(&run.stage_dir("datasets"))?;
                let pairs = |set: &[Example]| -> Vec<PreferencePair> {
                    preference_pairs(set, data_seed, level)
                        .into_iter()
                        .filter_map(|p| {
                            Some(PreferencePair {
                                better: encoder.reward_input(p.example, &p.chosen).ok()?,
                                worse: encoder.reward_input(p.example, &p.rejected).ok()?,
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
                save_trained(&model.qwen, &spec.finetune, &out_dir)?;
                if let Some(head) = &model.score_head {
                    write_head(&out_dir.join("score_head.safetensors"), head.val())?;
                }
                let at_limit = train_set
                    .iter()
                    .filter(|p| p.better.len().max(p.worse.len()) >= context)
                    .count();
                json!({"pairs": train_set.len(), "heldout_pairwise_accuracy_start": accuracy_start,
                       "context_tokens": context, "rows_cut_to_context": at_limit,
                       "heldout_pairwise_accuracy_end": accuracy_end,
                       "heldout_loss_end": report.eval_losses.last().map(|(_, l)| *l)})
            }
            ModelRole::Classifier => return Err(classifier_is_not_a_role_stage()),
        };
        metrics["bad_lines_skipped"] = bad_lines_skipped;
        println!("  {}: {}", role.as_str(), metrics);
        Ok(metrics)
    })?;
    Ok(())
}

/// The kind-likelihood question of `action` for `example`: the proposer prompt and the tokens
/// of the action's kind (`None` where the prompt does not encode).
fn kind_question(
    encoder: &ActionPromptEncoder,
    kinds: &[(ActionKind, Vec<u32>)],
    example: &Example,
    action: &Action,
) -> Option<KindQuestion> {
    Some(KindQuestion {
        prompt: encoder.proposer_prompt(example).ok()?,
        kind: kinds.iter().find(|(k, _)| *k == action.kind)?.1.clone(),
    })
}

/// Held-out examples per kind for a proposer's kind accuracy during training.
const KIND_HELDOUT_PER_KIND: usize = 16;

/// Up to `per_kind` examples of each kind, in order.
fn balanced_sample(examples: &[Example], per_kind: usize) -> Vec<Example> {
    let mut taken = [0usize; ActionKind::COUNT];
    examples
        .iter()
        .filter(|e| {
            let n = &mut taken[e.gold.kind.index()];
            *n += 1;
            *n <= per_kind
        })
        .cloned()
        .collect()
}

/// Where a role trained in full keeps its model (an HF folder).
pub const TRAINED_MODEL: &str = "model";
/// Where a LoRA-trained role keeps its adapter (a PEFT folder).
pub const TRAINED_ADAPTER: &str = "adapter";

/// Saves a trained role: the whole model as an HF folder (`<role>/model`) when it trained in
/// full, its PEFT adapter (`<role>/adapter`) otherwise.
fn save_trained<B: Backend>(qwen: &Qwen3<B>, finetune: &Finetune, out_dir: &Path) -> Result<(), BoxError> {
    match finetune {
        Finetune::Full => qwen.save_hf(&out_dir.join(TRAINED_MODEL))?,
        Finetune::Lora(lora) => qwen.peft_adapter(lora).write(&out_dir.join(TRAINED_ADAPTER))?,
    }
    Ok(())
}

fn encode_all<T>(examples: &[Example], encode: impl Fn(&Example) -> Option<T>) -> (Vec<T>, usize) {
    let out: Vec<T> = examples.iter().filter_map(encode).collect();
    let skipped = examples.len() - out.len();
    (out, skipped)
}

/// The reward head `[hidden, 1]` as a one-tensor safetensors file in HF's
/// sequence-classification layout (`score.weight`, `[1, hidden]`).
pub fn write_head<B: Backend>(path: &Path, head: Tensor<B, 2>) -> Result<(), BoxError> {
    Ok(write_score_head(path, head)?)
}

/// Reads [`write_head`]'s file (or one in the former `[hidden, 1]` layout) for a model of
/// width `hidden`, as `[hidden, 1]`.
pub fn read_head<B: Backend>(
    path: &Path,
    hidden: usize,
    device: &B::Device,
) -> Result<Tensor<B, 2>, BoxError> {
    Ok(read_score_head::<B>(path, hidden, device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model folder whose vocabulary is smaller than the tokenizer's ids (issue 18, item 1:
    /// the qwen3 preset pointed at a 1,024-token checkpoint) stops the stage before training
    /// with an error naming the vocabulary size, instead of an out-of-bounds gather.
    #[test]
    fn a_model_smaller_than_the_tokenizer_is_refused_before_training() {
        let _rng = super::super::rng_lock();
        let root = tempfile::tempdir().expect("temp dir");
        let mut preset = super::super::preset::synthetic_tiny("vocab-test", 200, 18);
        preset.roles[ModelRole::Cheap].source = ModelSource::Folder(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/spec-actions-qwen3/tests/data/tiny"),
        );
        let run = RunDir::new(root.path(), &preset.name);
        datasets_stage(&run, &preset).expect("datasets");
        let err = role_stage::<burn::backend::Autodiff<burn::backend::Flex>>(
            &run,
            &preset,
            ModelRole::Cheap,
            BadLines::Refuse,
            &Arc::new(AtomicBool::new(false)),
            &LoadOptions::default(),
            &Default::default(),
        )
        .expect_err("a 1,024-token model cannot take Qwen3 token ids");
        let message = err.to_string();
        assert!(message.contains("1024"), "{message}");
        assert!(run.finished("cheap").is_none());
    }

    /// Copies the files of `from` into `to` (a run's datasets folder).
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create folder");
        for entry in std::fs::read_dir(from).expect("read folder") {
            let entry = entry.expect("entry");
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
            }
        }
    }

    /// The cheap stage (base model saved, two checkpoints, trained model, stage record) with
    /// the `n`-th write failing as a full disk does (`None`: no failure), in a fresh run
    /// folder holding a copy of `datasets`. Returns the run, the stage's outcome and the
    /// writes that succeeded.
    fn cheap_stage_failing_at(
        root: &Path,
        datasets: &Path,
        preset: &Preset,
        n: Option<u64>,
    ) -> (RunDir, Result<(), BoxError>, u64) {
        let run = RunDir::new(root, &preset.name);
        copy_dir(datasets, &run.stage_dir("datasets"));
        spec_actions_core::io::fault::fail_after(n);
        let outcome = role_stage::<burn::backend::Autodiff<burn::backend::Flex>>(
            &run,
            preset,
            ModelRole::Cheap,
            BadLines::Refuse,
            &Arc::new(AtomicBool::new(false)),
            &LoadOptions::default(),
            &Default::default(),
        );
        let writes = spec_actions_core::io::fault::writes_passed();
        spec_actions_core::io::fault::fail_after(None);
        (run, outcome, writes)
    }

    /// Issue 18, item 9: a stage's outputs are all-or-nothing. A full disk at each write of the
    /// cheap stage in turn — between the base model's weights and its config, inside a
    /// checkpoint, before the trained model, before `stage.json` — fails the stage with an
    /// error naming a file, and the rerun completes with the same trained weights as an
    /// uninterrupted run. Also a base folder with weights but no `config.json` (what a kill
    /// between the two writes left before the fix) is made again, not trusted.
    #[test]
    fn a_stage_failing_between_any_two_writes_completes_on_rerun() {
        let _rng = super::super::rng_lock();
        let mut preset = super::super::preset::synthetic_tiny("fault-test", 200, 18);
        let t = &mut preset.roles[ModelRole::Cheap].trainer;
        (t.total_steps, t.warmup_steps, t.eval_every, t.checkpoint_every) = (2, 1, 2, 1);
        (t.batch_size, t.progress) = (2, false);
        preset.roles[ModelRole::Cheap].train_examples = 8;
        preset.roles[ModelRole::Cheap].heldout_examples = 2;
        let data_root = tempfile::tempdir().expect("temp dir");
        let data_run = RunDir::new(data_root.path(), &preset.name);
        datasets_stage(&data_run, &preset).expect("datasets");
        let datasets = data_run.stage_dir("datasets");

        // The uninterrupted run: its write count and its trained weights.
        let clean_root = tempfile::tempdir().expect("temp dir");
        let (clean, outcome, writes) =
            cheap_stage_failing_at(clean_root.path(), &datasets, &preset, Some(u64::MAX));
        outcome.expect("uninterrupted stage");
        assert!(writes >= 8, "the cheap stage writes {writes} times");
        println!("the cheap stage writes {writes} times");
        let trained = |run: &RunDir| {
            std::fs::read(
                model_dir(run, ModelRole::Cheap)
                    .join(TRAINED_MODEL)
                    .join("model.safetensors"),
            )
            .expect("trained weights")
        };
        let clean_weights = trained(&clean);

        for n in 0..writes {
            let root = tempfile::tempdir().expect("temp dir");
            let (run, outcome, _) = cheap_stage_failing_at(root.path(), &datasets, &preset, Some(n));
            let err = outcome.expect_err("the injected full disk fails the stage");
            assert!(
                err.to_string().contains(&*root.path().to_string_lossy()),
                "write {n}: {err}"
            );
            assert!(
                run.finished("cheap").is_none(),
                "write {n}: no record after a failure"
            );
            for dir in ["base", TRAINED_MODEL] {
                let dir = model_dir(&run, ModelRole::Cheap).join(dir);
                assert!(
                    !dir.exists() || is_complete_checkpoint(&dir),
                    "write {n}: {} is half-written",
                    dir.display()
                );
            }
            let (run, outcome, _) = cheap_stage_failing_at(root.path(), &datasets, &preset, None);
            outcome.unwrap_or_else(|e| panic!("rerun after a failure at write {n}: {e}"));
            assert!(run.finished("cheap").is_some());
            assert!(
                trained(&run) == clean_weights,
                "write {n}: the rerun trained other weights"
            );
        }

        // The state a kill between the base model's two writes left before the fix.
        let root = tempfile::tempdir().expect("temp dir");
        let base = model_dir(&RunDir::new(root.path(), &preset.name), ModelRole::Cheap).join("base");
        std::fs::create_dir_all(&base).expect("base folder");
        std::fs::write(base.join("model.safetensors"), b"half of a model").expect("weights");
        let (run, outcome, _) = cheap_stage_failing_at(root.path(), &datasets, &preset, None);
        outcome.expect("a base folder without config.json is made again");
        assert!(is_complete_checkpoint(&base));
        assert!(trained(&run) == clean_weights);
    }

    /// Issue 18, item 2: one valid training example with a 10 MB message (before: memory grew
    /// to 19 GB, then attention asked for 51 TB). Every row is cut to the model's context
    /// (`max_position_embeddings`, 256 here): the stage trains and says how many rows it cut.
    #[test]
    fn a_ten_megabyte_message_trains_within_the_context() {
        let _rng = super::super::rng_lock();
        let mut preset = super::super::preset::synthetic_tiny("long-test", 200, 18);
        let t = &mut preset.roles[ModelRole::Cheap].trainer;
        (t.total_steps, t.warmup_steps, t.eval_every, t.checkpoint_every) = (2, 1, 2, 2);
        (t.batch_size, t.progress) = (2, false);
        preset.roles[ModelRole::Cheap].train_examples = 8;
        preset.roles[ModelRole::Cheap].heldout_examples = 2;
        let ModelSource::Random { config, .. } = &mut preset.roles[ModelRole::Cheap].source else {
            panic!("the tiny proposer starts from a random model");
        };
        config.max_position_embeddings = 256;
        let root = tempfile::tempdir().expect("temp dir");
        let run = RunDir::new(root.path(), &preset.name);
        datasets_stage(&run, &preset).expect("datasets");
        // eight training examples, each with a 10 MB last message
        let train = run.stage_dir("datasets").join("train.jsonl");
        let huge = "all work and no play ".repeat(10 * 1024 * 1024 / 21);
        let rows: Vec<String> = std::fs::read_to_string(&train)
            .expect("train.jsonl")
            .lines()
            .take(8)
            .map(|line| {
                let mut example: Example = serde_json::from_str(line).expect("an example");
                if let Some(last) = example.messages.last_mut() {
                    last.content = huge.clone();
                }
                serde_json::to_string(&example).expect("json")
            })
            .collect();
        std::fs::write(&train, rows.join("\n") + "\n").expect("rewrite train.jsonl");

        role_stage::<burn::backend::Autodiff<burn::backend::Flex>>(
            &run,
            &preset,
            ModelRole::Cheap,
            BadLines::Refuse,
            &Arc::new(AtomicBool::new(false)),
            &LoadOptions::default(),
            &Default::default(),
        )
        .expect("the stage trains within the context");
        let m = run.finished("cheap").expect("finished").metrics;
        assert_eq!(m["context_tokens"], 256, "{m}");
        let examples = m["examples"].as_u64().expect("examples");
        assert!(examples > 0 && m["rows_cut_to_context"] == examples, "{m}");
        assert!(m["train_loss_last"].as_f64().is_some_and(f64::is_finite), "{m}");
    }

    /// Issue 18, item 12: a missing train.jsonl was read as an empty one, and both ended in
    /// the trainer's "empty training set, batch size or accumulation" without a file. Now a
    /// missing file is a read error naming it, an empty one says that it holds no example.
    #[test]
    fn a_missing_or_empty_train_file_is_named() {
        let _rng = super::super::rng_lock();
        let preset = super::super::preset::synthetic_tiny("empty-test", 200, 18);
        let root = tempfile::tempdir().expect("temp dir");
        let run = RunDir::new(root.path(), &preset.name);
        datasets_stage(&run, &preset).expect("datasets");
        let train = run.stage_dir("datasets").join("train.jsonl");
        let stage = || {
            role_stage::<burn::backend::Autodiff<burn::backend::Flex>>(
                &run,
                &preset,
                ModelRole::Cheap,
                BadLines::Refuse,
                &Arc::new(AtomicBool::new(false)),
                &LoadOptions::default(),
                &Default::default(),
            )
            .expect_err("nothing to train on")
            .to_string()
        };
        std::fs::remove_file(&train).expect("remove train.jsonl");
        let missing = stage();
        assert!(
            missing.starts_with(&format!("read {}", train.display())),
            "{missing}"
        );
        std::fs::write(&train, "\n").expect("empty train.jsonl");
        let empty = stage();
        assert_eq!(
            empty,
            format!("{}: the file holds no example to train on", train.display())
        );
    }

    /// The learning test of the default recipe at a small budget: the tiny preset's proposer
    /// (hidden 64, 2 layers, trained in full from random initialisation with the kind-weighted
    /// loss) on 80 × 8 class-balanced synthetic examples. Held-out loss must fall by more than
    /// half (it starts near 20 nats at the tiny preset's initial logit spread) and held-out
    /// kind accuracy, measured as policy B's one-pass proposals are on a kind-balanced sample,
    /// must end well above both the uniform guess (0.111) and always answering one kind
    /// (1 / kinds present in the sample).
    #[test]
    fn a_small_proposer_learns_the_kinds() {
        let _rng = super::super::rng_lock();
        let root = tempfile::tempdir().expect("temp dir");
        let mut preset = super::super::preset::synthetic_tiny("learning-test", 1500, 90);
        preset.roles[ModelRole::Cheap].trainer.total_steps = 80;
        preset.roles[ModelRole::Cheap].trainer.warmup_steps = 8;
        preset.roles[ModelRole::Cheap].trainer.eval_every = 80;
        preset.roles[ModelRole::Cheap].trainer.checkpoint_every = 80;
        preset.roles[ModelRole::Cheap].trainer.progress = false;
        preset.roles[ModelRole::Cheap].train_examples = 80 * 8;
        preset.roles[ModelRole::Cheap].heldout_examples = 32;
        let run = RunDir::new(root.path(), &preset.name);
        datasets_stage(&run, &preset).expect("datasets");
        let device = Default::default();
        role_stage::<burn::backend::Autodiff<burn::backend::Flex>>(
            &run,
            &preset,
            ModelRole::Cheap,
            BadLines::Refuse,
            &Arc::new(AtomicBool::new(false)),
            &LoadOptions::default(),
            &device,
        )
        .expect("cheap stage");
        let m = run.finished("cheap").expect("finished").metrics;
        let number = |key: &str| m[key].as_f64().unwrap_or_else(|| panic!("{key} in {m}"));
        let (loss_start, loss_end) = (number("heldout_loss_start"), number("heldout_loss_end"));
        let accuracy_end = number("heldout_kind_accuracy_end");
        let kinds_present = m["heldout_kind_recall_end"]
            .as_object()
            .map_or(9, |recall| recall.len())
            .max(1);
        assert!(
            loss_end < 0.5 * loss_start,
            "held-out loss {loss_start} -> {loss_end}"
        );
        let one_kind = 1.0 / kinds_present as f64;
        assert!(
            accuracy_end >= 0.3 && accuracy_end >= 1.5 * one_kind,
            "held-out kind accuracy {accuracy_end} (uniform 0.111, one kind {one_kind:.3}): {m}"
        );
    }
}
