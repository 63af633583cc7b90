//! Recording throughput: `Recorder::record` one example at a time against
//! `Recorder::record_batch` in chunks, on random models of the tiny preset's shapes (cheap,
//! verifier and reward: hidden 64, 2 layers, 4 heads, 2 kv heads, head_dim 16, intermediate
//! 192; strong: hidden 128, 3 layers, head_dim 32, intermediate 384; the real 151,936-token
//! vocabulary, tied embeddings scaled as the preset scales them), synthetic examples under the
//! tiny budget (prompts up to 576 tokens), 48 new tokens, 3 samples, one-pass top-2.
//!
//! Two cases: `worst` (untrained models never emit the stop token, so every row decodes all 48
//! tokens) and `stops` (the embedding row of `<|im_end|>` scaled by `--boost`, default 25, so
//! that many rows stop at once; an untrained tiny model otherwise repeats its input token, so
//! the rows that do not stop at once run to the budget). `--max-new` changes the 48-token budget.
//!
//! ```text
//! cargo run -p spec-actions-train --release --example record_throughput -- \
//!     [--case worst|stops] [--boost X] [--max-new N] [--single N] [--batched N] [--chunk C]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use spec_actions_core::{Example, LanguageModelMap, ModelRole};
use spec_actions_data::budget::{ContextBudget, HfTokenCounter, TokenMeter, apply_budget};
use spec_actions_data::synthetic::{SyntheticConfig, generate_episodes};
use spec_actions_live::{DecodeSettings, LiveModels, Recorder};
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::model::Qwen3;

type B = Flex;

fn shape(hidden: usize, layers: usize, head_dim: usize) -> Qwen3Config {
    let mut c = Qwen3Config::qwen3_0_6b();
    (c.hidden_size, c.intermediate_size, c.num_hidden_layers) = (hidden, 3 * hidden, layers);
    (c.num_attention_heads, c.num_key_value_heads, c.head_dim) = (4, 2, head_dim);
    c.max_position_embeddings = 4096;
    c.tie_word_embeddings = true;
    c
}

/// A random model as the tiny preset makes one (embeddings scaled to a logit spread that does
/// not depend on the width), with the `boosted` token's embedding row scaled by `boost`.
fn model(config: &Qwen3Config, seed: u64, boosted: Option<(u32, f32)>) -> Qwen3<B> {
    let device = Default::default();
    B::seed(&device, seed);
    let mut model = config.init::<B>(&device);
    let scale = 15.0 * (64.0 / config.hidden_size as f64).sqrt();
    let hidden = config.hidden_size;
    model.embed_tokens.weight = model.embed_tokens.weight.clone().map(|w| {
        let w = w.mul_scalar(scale);
        match boosted {
            Some((token, boost)) => {
                let t = token as usize;
                let row = w.clone().slice([t..t + 1, 0..hidden]).mul_scalar(boost);
                w.slice_assign([t..t + 1, 0..hidden], row)
            }
            None => w,
        }
    });
    model
}

fn examples(n: usize, dir: &std::path::Path) -> Vec<Example> {
    let counter = HfTokenCounter::from_file(&dir.join("tokenizer.json")).expect("tokenizer");
    let mut meter = TokenMeter::new(&counter);
    let budget = ContextBudget::tiny();
    let mut out = Vec::new();
    for conv in generate_episodes(SyntheticConfig {
        seed: 1,
        target_examples: 2 * n + 50,
    }) {
        for mut e in conv.examples {
            if !apply_budget(&mut e, &budget, &mut meter).over_budget {
                out.push(e);
            }
        }
    }
    // spread over episodes and depths: every other example
    out.into_iter().step_by(2).take(n).collect()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = arg(&args, "--case").unwrap_or_else(|| "worst".into());
    let single: usize = arg(&args, "--single").map_or(8, |v| v.parse().expect("--single N"));
    let batched: usize = arg(&args, "--batched").map_or(48, |v| v.parse().expect("--batched N"));
    let chunk: usize = arg(&args, "--chunk").map_or(24, |v| v.parse().expect("--chunk C"));
    let _ = spec_actions_qwen3::allocator::keep_freed_memory_in_heap();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/qwen3-tokenizer");
    let encoder = ActionPromptEncoder::from_dir(&dir).expect("tokenizer and template");
    let im_end = encoder.tokenizer.special().im_end;
    // a boost of the stop token's embedding that makes it a likely answer after a few tokens
    let boost: f32 = arg(&args, "--boost").map_or(25.0, |v| v.parse().expect("--boost X"));
    let max_new_tokens: usize = arg(&args, "--max-new").map_or(48, |v| v.parse().expect("--max-new N"));
    let stop = (case == "stops").then_some((im_end, boost));
    let cheap = shape(64, 2, 16);
    let strong = shape(128, 3, 32);
    let head = Tensor::<B, 2>::random(
        [cheap.hidden_size, 1],
        burn::tensor::Distribution::Normal(0.0, 0.1),
        &Default::default(),
    );
    let models = LiveModels {
        models: LanguageModelMap::from_fn(|role| match role {
            ModelRole::Cheap => model(&cheap, 1, stop),
            ModelRole::Strong => model(&strong, 2, stop),
            ModelRole::Verifier => model(&cheap, 3, None),
            _ => model(&cheap, 4, None),
        }),
        reward_head: Some(head),
        judge_format: spec_actions_train::tasks::JudgeFormat::Prompted,
        encoder,
        decode: DecodeSettings {
            max_new_tokens,
            ..DecodeSettings::default()
        },
        names: LanguageModelMap::from_fn(|r| r.to_string()),
    };
    let recorder = Recorder {
        models: &models,
        samples: 3,
        one_pass_k: 2,
    };
    let examples = examples(single.max(batched), &dir);
    let lens: Vec<usize> = examples
        .iter()
        .map(|e| models.encoder.proposer_prompt(e).map_or(0, |p| p.len()))
        .collect();
    println!(
        "case {case}: {} examples, proposer prompts {}–{} tokens (mean {:.0})",
        examples.len(),
        lens.iter().min().unwrap_or(&0),
        lens.iter().max().unwrap_or(&0),
        lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64
    );
    let report = |what: &str, rows: &[spec_actions_verify::RecordedExample], secs: f64| {
        let decoded: u64 = rows
            .iter()
            .flat_map(|r| r.greedy.iter().chain(&r.samples).chain([&r.strong]))
            .map(|o| o.call.decode_tokens)
            .sum();
        let outputs: usize = rows.iter().map(|r| 2 + r.samples.len()).sum();
        let judged: usize = rows.iter().map(|r| r.judgements[ModelRole::Verifier].len()).sum();
        println!(
            "{what}: {} examples in {secs:.1} s = {:.2} examples/s ({:.1} tokens per decode, {:.1} candidates per example)",
            rows.len(),
            rows.len() as f64 / secs,
            decoded as f64 / outputs.max(1) as f64,
            judged as f64 / rows.len().max(1) as f64,
        );
    };
    if single > 0 {
        let started = Instant::now();
        let rows: Vec<_> = examples[..single]
            .iter()
            .map(|e| recorder.record(e).expect("record"))
            .collect();
        report("record (one at a time)", &rows, started.elapsed().as_secs_f64());
    }
    if batched > 0 {
        let started = Instant::now();
        let mut rows = Vec::new();
        for part in examples[..batched].chunks(chunk) {
            rows.extend(recorder.record_batch(part).expect("record_batch"));
        }
        report(
            &format!("record_batch (chunks of {chunk})"),
            &rows,
            started.elapsed().as_secs_f64(),
        );
    }
}
