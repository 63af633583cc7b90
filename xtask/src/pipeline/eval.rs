//! `eval`: record every model's outputs on dev, eval and the held-out category (the live
//! roles of `spec_actions_live`), then replay every policy of `spec-actions-verify` on
//! the recording: thresholds calibrated on dev, results on eval (and on the held-out category).
//! Every recorded row also carries the bag-of-words classifier's nine probabilities (the
//! classifier stage's model), so the study includes K and the cascades K→A, K→F.

use std::path::Path;

use burn::prelude::*;
use serde_json::{Value, json};
use spec_actions_baseline::KindClassifier;
use spec_actions_core::{ActionKind, CostModel, Example, LanguageModelMap, ModelRole, Split};
use spec_actions_live::{LiveModels, Recorder};
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::{LoadOptions, Qwen3Config, load_qwen3_with};
use spec_actions_train::tasks::JudgeFormat;
use spec_actions_verify::study::{StudyOptions, run_study};
use spec_actions_verify::{RecordedExample, RecordedSet, memory_origin, record_classifier};

use super::classifier::load_classifier;
use super::preset::{Finetune, Preset};
use super::train::{
    TRAINED_ADAPTER, TRAINED_MODEL, base_model, encoder_for, is_complete_checkpoint, model_dir, read_head,
    split_examples,
};
use super::{BoxError, RunDir, bar};
use crate::config::Prices;

/// A role's trained model: its base with the stage's adapter merged in.
fn trained<B: Backend>(
    run: &RunDir,
    preset: &Preset,
    role: ModelRole,
    load: &LoadOptions,
    device: &B::Device,
) -> Result<Qwen3<B>, BoxError> {
    let spec = preset.role(role);
    if let Finetune::Full = spec.finetune {
        let dir = model_dir(run, role).join(TRAINED_MODEL);
        if !is_complete_checkpoint(&dir) {
            return Err(format!(
                "no trained model in {}: run `cargo xtask train-all` first",
                dir.display()
            )
            .into());
        }
        return Ok(load_qwen3_with(&dir, load, device)?);
    }
    let base = base_model::<B>(run, role, spec, load, device)?;
    let adapter = model_dir(run, role).join(TRAINED_ADAPTER);
    if !adapter.join("adapter_model.safetensors").exists() {
        return Err(format!(
            "no trained adapter in {}: run `cargo xtask train-all` first",
            adapter.display()
        )
        .into());
    }
    Ok(base.with_peft_adapter(&adapter)?.merge_lora())
}

/// Parameter count of a model from its config alone (embeddings counted once when tied): the
/// costing reads no weight, so it costs nothing even for an 8B model on a GPU.
fn param_count(config: &Qwen3Config) -> Result<f64, BoxError> {
    config
        .parameter_count()
        .map(|n| n as f64)
        .ok_or_else(|| "the parameter count of a model config overflows".into())
}

/// Sets the nominal prices of `costs` from the config's `[cost] prices` (the parameter counts
/// must already be in `costs.params`).
fn apply_prices(prices: &Prices, costs: &mut CostModel) {
    match prices {
        Prices::Study => {}
        Prices::Parameters => {
            let strong = costs.params[ModelRole::Strong];
            for role in ModelRole::LANGUAGE_MODELS {
                costs.nominal[role] = costs.params[role] / strong;
            }
        }
        Prices::Nominal(n) => costs.nominal = n.by_role(),
    }
}

/// The eval stage: recordings in `<run>/eval/recorded-<split>.jsonl`, the study in
/// `<run>/eval/` (results.json, decisions.jsonl, sweeps.json, analysis.json) and the held-out
/// study in `<run>/eval/heldout/`. Models are loaded in the backend's compute dtype, `load`.
pub fn eval_stage<B: Backend>(
    run: &RunDir,
    preset: &Preset,
    load: &LoadOptions,
    device: &B::Device,
) -> Result<(), BoxError> {
    run.stage("eval", |dir| {
        let trained_models =
            LanguageModelMap::try_from_fn(|role| trained::<B>(run, preset, role, load, device))?;
        // Every prompt recorded, with the tokens decoded after it, fits every model's context,
        // whatever the data (as in training).
        let context = trained_models
            .values()
            .map(|m| m.config.max_position_embeddings)
            .min()
            .unwrap_or(usize::MAX);
        let encoder = encoder_for(&preset.roles[ModelRole::Cheap].source)?
            .with_max_tokens(context.saturating_sub(preset.decode.max_new_tokens));
        let reward_hidden = trained_models[ModelRole::Reward].config.hidden_size;
        let models = LiveModels {
            encoder,
            models: trained_models,
            reward_head: match preset.judge_format {
                JudgeFormat::Prompted => Some(read_head::<B>(
                    &model_dir(run, ModelRole::Reward).join("score_head.safetensors"),
                    reward_hidden,
                    device,
                )?),
                JudgeFormat::KindLikelihood => None,
            },
            judge_format: preset.judge_format,
            decode: preset.decode.clone(),
            names: LanguageModelMap::from_fn(|r| format!("{}:{r}", preset.name)),
        };
        let recorder = Recorder {
            models: &models,
            samples: preset.samples,
            one_pass_k: preset.one_pass_k,
        };
        let classifier = load_classifier(run)?;
        let classifier_name = format!("{}:classifier", preset.name);

        // 1. Record (each split's file is kept: a re-run after an interruption skips it).
        let mut rows = Vec::new();
        for (split, limit) in [
            ("dev", preset.dev_examples),
            ("eval", preset.eval_examples),
            ("heldout", preset.heldout_examples),
        ] {
            let examples = split_examples(run, split, limit, preset.seed)?;
            rows.push((
                split,
                record_split(
                    &recorder,
                    (&classifier, &classifier_name),
                    &examples,
                    &dir.join(format!("recorded-{split}.jsonl")),
                    split,
                    preset.record_chunk,
                )?,
            ));
        }
        // 2. Replay every policy with costs priced by the real parameter counts (FLOP units)
        //    and the study's nominal units.
        let mut costs = CostModel::default();
        for (role, model) in models.models.iter() {
            costs.params[role] = param_count(&model.config)?;
        }
        apply_prices(&preset.prices, &mut costs);
        let options = StudyOptions {
            fallback_rates: preset.study.fallback_rates.iter().map(|r| r.0).collect(),
            budgets: preset.study.budgets.iter().map(|b| b.0).collect(),
            samples: preset.samples,
            greedy_only: preset.study.greedy_only,
            read_exec_ms: preset.study.read_exec_ms.0,
            policies: preset.study.policies.clone(),
        };
        let majority_kind = run
            .finished("datasets")
            .and_then(|r| {
                r.metrics
                    .get("majority_kind")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .and_then(|k| k.parse::<ActionKind>().ok());
        let mut summary = serde_json::Map::new();
        for (name, eval_split) in [("eval", "eval"), ("heldout", "heldout")] {
            let dev = rows
                .iter()
                .find(|(s, _)| *s == "dev")
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            let mut evaluated: Vec<RecordedExample> = rows
                .iter()
                .find(|(s, _)| *s == eval_split)
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            if evaluated.is_empty() {
                continue;
            }
            for row in &mut evaluated {
                row.split = Split::Eval;
            }
            let set = RecordedSet::from_rows(
                dev.into_iter().chain(evaluated.iter().cloned()).collect(),
                &memory_origin(),
            )?;
            let study = run_study(&set, &costs, &options)?;
            println!(
                "\n{name} split ({} examples):\n{}",
                evaluated.len(),
                study.summary_table()
            );
            let mut results =
                study.results(format!("spec-actions v3 — {} preset, {name} split", preset.name));
            if let Some(kind) = majority_kind {
                results.majority_kind = Some(kind);
                let hits = evaluated.iter().filter(|r| r.gold.kind == kind).count();
                results.majority_baseline = Some(hits as f64 / evaluated.len() as f64);
            }
            let out = if name == "eval" {
                dir.to_path_buf()
            } else {
                dir.join(name)
            };
            std::fs::create_dir_all(&out)?;
            study.write(&results, &out)?;
            let configs: Vec<Value> = results
                .configs
                .iter()
                .map(|c| json!({"name": c.name, "accuracy": c.accuracy, "cost": c.mean_cost}))
                .collect();
            summary.insert(
                name.into(),
                json!({"examples": evaluated.len(), "configs": configs,
                "oracle_accuracy": study.analysis.oracle.oracle_accuracy}),
            );
        }
        Ok(Value::Object(summary))
    })?;
    Ok(())
}

/// Records `examples` into `path`, or reads the file when a complete one is already there; every
/// row gets the classifier's answer (a recording made before it is completed and rewritten).
fn record_split<B: Backend>(
    recorder: &Recorder<'_, B>,
    classifier: (&KindClassifier, &str),
    examples: &[Example],
    path: &Path,
    split: &str,
    chunk: usize,
) -> Result<Vec<RecordedExample>, BoxError> {
    let mut rows = record_models(recorder, examples, path, split, chunk)?;
    let mut changed = false;
    for (row, example) in rows.iter_mut().zip(examples) {
        let answer = Some(record_classifier(classifier.0, example, Some(classifier.1)));
        // the measured time differs on every call: compare what a policy reads
        let same = match (&row.classifier, &answer) {
            (Some(a), Some(b)) => {
                a.kind_probs == b.kind_probs && a.call.prefill_tokens == b.call.prefill_tokens
            }
            _ => false,
        };
        if !same {
            row.classifier = answer;
            changed = true;
        }
    }
    if changed {
        RecordedSet::from_rows(rows.clone(), &memory_origin())?.write_jsonl(path)?;
    }
    Ok(rows)
}

/// The language models' part of [`record_split`], `chunk` examples per batch.
fn record_models<B: Backend>(
    recorder: &Recorder<'_, B>,
    examples: &[Example],
    path: &Path,
    split: &str,
    chunk: usize,
) -> Result<Vec<RecordedExample>, BoxError> {
    let complete = |rows: &[RecordedExample]| {
        rows.len() == examples.len()
            && rows
                .iter()
                .zip(examples)
                .all(|(r, e)| r.id == e.id && r.samples.len() == recorder.samples)
    };
    if let Ok(set) = RecordedSet::read_jsonl(path)
        && complete(set.rows())
    {
        println!(
            "  {split}: {} recorded examples reused from {}",
            examples.len(),
            path.display()
        );
        return Ok(set.rows().to_vec());
    }
    let progress = bar(examples.len() as u64, &format!("recording {split}"));
    let mut rows = Vec::with_capacity(examples.len());
    for part in examples.chunks(chunk) {
        rows.extend(recorder.record_batch(part)?);
        progress.inc(part.len() as u64);
    }
    progress.finish();
    let set = RecordedSet::from_rows(rows.clone(), &memory_origin())?;
    set.write_jsonl(path)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters of `config` counted tensor by tensor from the list of what a checkpoint of it
    /// holds (built without allocating a weight).
    fn listed(config: &Qwen3Config) -> f64 {
        config
            .expected_tensors()
            .iter()
            .map(|(_, shape)| shape.iter().product::<usize>() as f64)
            .sum()
    }

    /// The tiny preset's shapes (cheap: hidden 64, 2 layers; strong: hidden 128, 3 layers),
    /// with the real vocabulary and tied embeddings.
    fn tiny_shapes() -> Vec<Qwen3Config> {
        [(64, 2, 16), (128, 3, 32)]
            .into_iter()
            .map(|(hidden, layers, head_dim)| {
                let mut c = Qwen3Config::qwen3_0_6b();
                (c.hidden_size, c.intermediate_size, c.num_hidden_layers) = (hidden, 3 * hidden, layers);
                (c.num_attention_heads, c.num_key_value_heads, c.head_dim) = (4, 2, head_dim);
                c.tie_word_embeddings = true;
                c
            })
            .collect()
    }

    /// The costing's count comes from the config alone (the function takes nothing else) and
    /// equals the tensors a checkpoint holds — tied embeddings once, an untied head apart —
    /// for the tiny preset's shapes and the Qwen3 ones, and the weights of a materialised
    /// model.
    #[test]
    fn parameter_counts_come_from_the_config_and_match_the_tensors() {
        let _rng = super::super::rng_lock();
        let shapes = tiny_shapes();
        let mut untied = shapes[0].clone();
        untied.tie_word_embeddings = false;
        for config in
            shapes
                .iter()
                .cloned()
                .chain([untied.clone(), Qwen3Config::qwen3_0_6b(), Qwen3Config::qwen3_8b()])
        {
            assert_eq!(param_count(&config).unwrap(), listed(&config), "{config:?}");
        }
        // the untied head adds exactly vocab × hidden
        let tied = &shapes[0];
        assert_eq!(
            param_count(&untied).unwrap() - param_count(tied).unwrap(),
            (tied.vocab_size * tied.hidden_size) as f64
        );
        // and the weights of a materialised (small) model agree
        let mut small = tied.clone();
        small.vocab_size = 256;
        for tie in [true, false] {
            small.tie_word_embeddings = tie;
            let model = small.init::<burn::backend::Flex>(&Default::default());
            let weights: f64 = model
                .hf_tensors()
                .iter()
                .map(|(_, shape, _)| shape.iter().product::<usize>() as f64)
                .sum();
            assert_eq!(param_count(&model.config).unwrap(), weights, "tied {tie}");
        }
    }

    #[test]
    fn an_overflowing_config_is_an_error() {
        let mut config = Qwen3Config::qwen3_0_6b();
        config.vocab_size = usize::MAX / 2;
        assert!(param_count(&config).is_err());
    }
}
