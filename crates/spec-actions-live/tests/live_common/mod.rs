//! Shared by the live-role tests: small random Qwen3 models with the real vocabulary (their
//! weights drawn from a seeded ChaCha8 stream, so every run builds the same models), the real
//! Qwen3 tokenizer and chat template (`assets/qwen3-tokenizer`), and synthetic examples under
//! the tiny preset's context budget.

#![allow(dead_code)]

use std::path::PathBuf;

use burn::backend::Flex;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spec_actions_core::{Example, LanguageModelMap, ModelRole};
use spec_actions_data::budget::{ContextBudget, HfTokenCounter, TokenMeter, apply_budget};
use spec_actions_data::synthetic::{SyntheticConfig, generate_episodes};
use spec_actions_live::{DecodeSettings, LiveModels};
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::model::{Qwen3, WeightSource};

pub type B = Flex;

pub fn tokenizer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/qwen3-tokenizer")
}

pub fn encoder() -> ActionPromptEncoder {
    ActionPromptEncoder::from_dir(tokenizer_dir()).expect("the Qwen3 tokenizer in assets/")
}

/// A small Qwen3 shape with the real vocabulary (151,936) and tied embeddings.
pub fn shape(hidden: usize, layers: usize, head_dim: usize) -> Qwen3Config {
    let mut c = Qwen3Config::qwen3_0_6b();
    (c.hidden_size, c.intermediate_size, c.num_hidden_layers) = (hidden, 3 * hidden, layers);
    (c.num_attention_heads, c.num_key_value_heads, c.head_dim) = (4, 2, head_dim);
    c.max_position_embeddings = 4096;
    c.tie_word_embeddings = true;
    c
}

/// Weights `N(0, std²)` (norm weights `U(0.9, 1.1)`) from a seeded stream; the embedding rows
/// of `boosted` tokens are scaled up by `boost` (see [`WeightSource::matrix`] below), which
/// (embeddings tied) makes those tokens likely answers.
pub struct Seeded {
    rng: ChaCha8Rng,
    std: f32,
    boosted: Vec<u32>,
    boost: f32,
}

impl Seeded {
    fn normal(&mut self) -> f32 {
        // Box–Muller
        let u1: f32 = self.rng.random::<f32>().max(1e-12);
        let u2: f32 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos() * self.std
    }

    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }
}

impl WeightSource<B> for Seeded {
    fn matrix(&mut self, name: &str, [rows, cols]: [usize; 2]) -> Tensor<B, 2> {
        let mut values = self.values(rows * cols);
        if name == "model.embed_tokens.weight" && !self.boosted.is_empty() {
            // favoured rows: ± one shared direction plus a smaller row of their own, scaled, so
            // that favoured tokens of one sign get close, large logits together (the first
            // half on one side; the second half, `<|im_end|>` included, on the other)
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

/// A random model of `config` from `seed`, with `boosted` tokens' embeddings scaled by `boost`.
pub fn model(config: &Qwen3Config, seed: u64, boosted: &[u32], boost: f32) -> Qwen3<B> {
    config.init_with(&mut Seeded {
        rng: ChaCha8Rng::seed_from_u64(seed),
        std: 0.02,
        boosted: boosted.to_vec(),
        boost,
    })
}

/// Tokens a test model is made to favour: a dozen ordinary ones and `<|im_end|>`.
fn favoured(im_end: u32) -> Vec<u32> {
    (0..12).map(|i| 1000 + 9973 * i).chain([im_end]).collect()
}

/// The four roles on small random models. The cheap and strong models favour a few tokens
/// (their embedding rows scaled up: next-token distributions peaked on one or two of them, as
/// a trained model's are, with `<|im_end|>` among them, so that some rows stop at once and
/// others run to the budget); the verifier and reward models are plain.
///
/// Peaked distributions matter for sampled rows: over a nearly flat distribution of 151,936
/// tokens, the sorted order of near-equal probabilities (and so a nucleus draw) moves with the
/// last bit of a logit, which a batched pass may round differently from a lone one.
pub fn live_models(max_new_tokens: usize) -> LiveModels<B> {
    let encoder = encoder();
    let favoured = favoured(encoder.tokenizer.special().im_end);
    let cheap = shape(32, 2, 8);
    let strong = shape(48, 2, 12);
    let judge = shape(32, 1, 8);
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
    LiveModels {
        // favoured logits of std ≈ 0.02 · √hidden · boost ≈ 10
        models: LanguageModelMap::from_fn(|role| match role {
            ModelRole::Cheap => model(&cheap, 11, &favoured, 90.0),
            ModelRole::Strong => model(&strong, 12, &favoured, 75.0),
            ModelRole::Verifier => model(&judge, 13, &[], 1.0),
            _ => model(&judge, 14, &[], 1.0),
        }),
        reward_head: Some(head),
        judge_format: spec_actions_train::tasks::JudgeFormat::Prompted,
        encoder,
        decode: DecodeSettings {
            max_new_tokens,
            ..DecodeSettings::default()
        },
        names: LanguageModelMap::from_fn(|r| format!("test:{r}")),
    }
}

/// `n` synthetic examples under the tiny budget (576 prompt tokens), from distinct episodes
/// where possible, so that prompt lengths differ.
pub fn examples(n: usize, seed: u64) -> Vec<Example> {
    let counter = HfTokenCounter::from_file(&tokenizer_dir().join("tokenizer.json")).expect("tokenizer");
    let mut meter = TokenMeter::new(&counter);
    let budget = ContextBudget::tiny();
    let episodes = generate_episodes(SyntheticConfig {
        seed,
        target_examples: 4 * n,
    });
    let mut out = Vec::new();
    // one example per episode, at a varying depth
    for (i, episode) in episodes.iter().enumerate().cycle().take(8 * n) {
        let Some(example) = episode
            .examples
            .get((i * 3 + out.len()) % episode.examples.len().max(1))
        else {
            continue;
        };
        if out.iter().any(|e: &Example| e.id == example.id) {
            continue;
        }
        let mut example = example.clone();
        if !apply_budget(&mut example, &budget, &mut meter).over_budget {
            out.push(example);
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "enough synthetic examples");
    out
}
