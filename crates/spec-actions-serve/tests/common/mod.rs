//! A small finished run folder, built once per test binary under `CARGO_TARGET_TMPDIR`:
//! four random Qwen3 models with the real vocabulary (seeded ChaCha8 weights; the cheap and
//! strong models favour a few tokens so that their outputs are peaked, as trained models'
//! are — adapted from `crates/spec-actions-train/tests/live_common`), saved as HF folders; the
//! recording of a few synthetic dev and eval examples by the live `Recorder`; and the study
//! replayed on it (`eval/results.json`, `eval/analysis.json`), as `cargo xtask eval` writes
//! them. Nothing is read from `runs/` or `../shared`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::backend::Flex;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use spec_actions_core::{ChatRole, CostModel, Example, LanguageModelMap, Split};
use spec_actions_data::budget::{ContextBudget, HfTokenCounter, TokenMeter, ToolSchemas, apply_budget};
use spec_actions_data::synthetic::{SyntheticConfig, generate_episodes};
use spec_actions_live::Recorder;
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::model::{Qwen3, WeightSource};
use spec_actions_serve::run::bundled_tokenizer;
use spec_actions_serve::{OperatingPoint, RunFolder, Speculator, served_example};
use spec_actions_train::trainer::{SCORE_HEAD, write_tensors};
use spec_actions_verify::study::{StudyOptions, run_study};
use spec_actions_verify::{RecordedSet, memory_origin};

pub type B = Flex;

/// Decode settings written into the fixture's manifest (the debug text of a preset).
pub const MANIFEST_CONFIG: &str = "Preset { name: \"test\", decode: DecodeSettings { max_new_tokens: 8, temperature: 0.8, top_p: 0.95, seed: 7 } }";

fn shape(hidden: usize, layers: usize, head_dim: usize) -> Qwen3Config {
    let mut c = Qwen3Config::qwen3_0_6b();
    (c.hidden_size, c.intermediate_size, c.num_hidden_layers) = (hidden, 3 * hidden, layers);
    (c.num_attention_heads, c.num_key_value_heads, c.head_dim) = (4, 2, head_dim);
    c.max_position_embeddings = 4096;
    c.tie_word_embeddings = true;
    c
}

struct Seeded {
    rng: ChaCha8Rng,
    boosted: Vec<u32>,
    boost: f32,
}

impl Seeded {
    fn normal(&mut self) -> f32 {
        let u1: f32 = self.rng.random::<f32>().max(1e-12);
        let u2: f32 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos() * 0.02
    }

    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }
}

impl WeightSource<B> for Seeded {
    fn matrix(&mut self, name: &str, [rows, cols]: [usize; 2]) -> Tensor<B, 2> {
        let mut values = self.values(rows * cols);
        if name == "model.embed_tokens.weight" && !self.boosted.is_empty() {
            let base = self.values(cols);
            let half = self.boosted.len().div_ceil(2);
            for (i, &t) in self.boosted.iter().enumerate() {
                let sign = if i < half { 1.0 } else { -1.0 };
                let row = &mut values[t as usize * cols..(t as usize + 1) * cols];
                for (v, b) in row.iter_mut().zip(&base) {
                    *v = (sign * b + 0.3 * *v) * self.boost;
                }
            }
        }
        Tensor::from_data(TensorData::new(values, [rows, cols]), &Default::default())
    }

    fn projection(&mut self, _name: &str, [out, inp]: [usize; 2]) -> Tensor<B, 2> {
        let values = self.values(out * inp);
        Tensor::from_data(TensorData::new(values, [inp, out]), &Default::default())
    }

    fn vector(&mut self, _name: &str, len: usize) -> Tensor<B, 1> {
        let values: Vec<f32> = (0..len).map(|_| 0.9 + 0.2 * self.rng.random::<f32>()).collect();
        Tensor::from_data(TensorData::new(values, [len]), &Default::default())
    }
}

fn model(config: &Qwen3Config, seed: u64, boosted: &[u32], boost: f32) -> Qwen3<B> {
    config.init_with(&mut Seeded {
        rng: ChaCha8Rng::seed_from_u64(seed),
        boosted: boosted.to_vec(),
        boost,
    })
}

/// `n` synthetic examples under the tiny budget, one per episode where possible.
fn examples(n: usize, seed: u64, split: Split) -> Vec<Example> {
    let counter = HfTokenCounter::from_file(&bundled_tokenizer().join("tokenizer.json")).expect("tokenizer");
    let mut meter = TokenMeter::new(&counter);
    // full tool schemas (valid OpenAI tools), contents shortened as the tiny budget does
    let budget = ContextBudget {
        name: "serve-test",
        max_prompt_tokens: Some(1024),
        tool_schemas: ToolSchemas::Full,
        max_content_chars: Some(240),
    };
    let episodes = generate_episodes(SyntheticConfig {
        seed,
        target_examples: 4 * n,
    });
    let mut out: Vec<Example> = Vec::new();
    for (i, episode) in episodes.iter().enumerate().cycle().take(8 * n) {
        let Some(example) = episode
            .examples
            .get((i * 3 + out.len()) % episode.examples.len().max(1))
        else {
            continue;
        };
        if out.iter().any(|e| e.id == example.id) {
            continue;
        }
        let mut example = example.clone();
        // three full tool schemas keep prompts short and the passes fast
        example.tools.truncate(3);
        if !apply_budget(&mut example, &budget, &mut meter).over_budget {
            for tool in &mut example.tools {
                if tool.get("type").and_then(Value::as_str) != Some("function") {
                    *tool = json!({"type": "function", "function": tool.clone()});
                }
            }
            // served examples are named by their content: record them under that name
            example.id = served_example(example.messages.clone(), example.tools.clone()).id;
            example.split = split;
            out.push(example);
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "enough synthetic examples");
    out
}

/// The fixture: a run folder and the eval examples its recording holds.
pub struct Fixture {
    pub root: PathBuf,
    pub eval: Vec<Example>,
    pub recording: RecordedSet,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The shared fixture (built on first use).
pub fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| build(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-fixture")))
}

fn build(root: &Path) -> Fixture {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let encoder =
        spec_actions_qwen3::action_prompts::ActionPromptEncoder::from_dir(bundled_tokenizer()).unwrap();
    let im_end = encoder.tokenizer.special().im_end;
    let favoured: Vec<u32> = (0..12).map(|i| 1000 + 9973 * i).chain([im_end]).collect();
    let judge = shape(32, 1, 8);
    let models = root.join("models");
    for (role, m) in [
        ("cheap", model(&shape(32, 2, 8), 11, &favoured, 90.0)),
        ("strong", model(&shape(48, 2, 12), 12, &favoured, 75.0)),
        ("verifier", model(&judge, 13, &[], 1.0)),
        ("reward", model(&judge, 14, &[], 1.0)),
    ] {
        m.save_hf(&models.join(role).join("model")).unwrap();
    }
    let head = {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        let values: Vec<f32> = (0..judge.hidden_size)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        Tensor::<B, 2>::from_data(
            TensorData::new(values, [judge.hidden_size, 1]),
            &Default::default(),
        )
    };
    write_tensors(
        &models.join("reward/score_head.safetensors"),
        &[(SCORE_HEAD.to_string(), head)],
    )
    .unwrap();
    std::fs::write(
        root.join("manifest.json"),
        serde_json::to_string(&json!({"preset": "test", "configuration": MANIFEST_CONFIG})).unwrap(),
    )
    .unwrap();

    // record dev and eval with the models as served (loaded back from the folders)
    let paths = RunFolder::model_paths_of(root).unwrap();
    let names = LanguageModelMap::from_fn(|r| format!("test:{r}"));
    let (_, decode) = spec_actions_serve::run::read_manifest(&root.join("manifest.json")).unwrap();
    let live =
        spec_actions_serve::load_models::<B>(&paths, &Default::default(), names, decode, &Default::default())
            .unwrap();
    let recorder = Recorder {
        models: &live,
        samples: 2,
        one_pass_k: 2,
    };
    let dev = examples(6, 21, Split::Dev);
    let eval = examples(4, 5, Split::Eval);
    let mut rows = recorder.record_batch(&dev).unwrap();
    rows.extend(recorder.record_batch(&eval).unwrap());
    let recording = RecordedSet::from_rows(rows, &memory_origin()).unwrap();
    let mut costs = CostModel::default();
    for (role, model) in live.models.iter() {
        costs.params[role] = model.config.parameter_count().unwrap() as f64;
    }
    let options = StudyOptions {
        fallback_rates: vec![0.3, 0.5],
        budgets: vec![0.6],
        samples: 2,
        ..StudyOptions::default()
    };
    let study = run_study(&recording, &costs, &options).unwrap();
    let eval_dir = root.join("eval");
    std::fs::create_dir_all(&eval_dir).unwrap();
    study.write(&study.results("serve fixture"), &eval_dir).unwrap();
    Fixture {
        root: root.to_path_buf(),
        eval,
        recording,
    }
}

/// The fixture's speculator at `point`.
pub fn speculator(point: &str) -> Speculator<B> {
    let run = RunFolder::open(&fixture().root).unwrap();
    let point: OperatingPoint = point.parse().unwrap();
    run.speculator::<B>(&point, &Default::default(), &Default::default())
        .unwrap()
        .0
}

/// An example's conversation as an OpenAI request body.
pub fn request_body(example: &Example) -> Value {
    let messages: Vec<Value> = example
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role {
                ChatRole::System => "system",
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
                ChatRole::Tool => "tool",
            };
            let mut v = json!({"role": role, "content": m.content});
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        let args = if c.function.arguments.is_null() {
                            Value::Null
                        } else {
                            Value::String(c.function.arguments.to_string())
                        };
                        json!({"id": format!("call_{i}_{j}"), "type": "function",
                               "function": {"name": c.function.name, "arguments": args}})
                    })
                    .collect();
            }
            if let Some(name) = &m.name {
                v["name"] = json!(name);
            }
            v
        })
        .collect();
    let mut body = json!({"model": "spec-actions", "messages": messages});
    if !example.tools.is_empty() {
        body["tools"] = json!(example.tools);
    }
    body
}
