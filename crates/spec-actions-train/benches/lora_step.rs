//! One LoRA SFT step (forward, backward, global-norm clipping, AdamW) on the issue's shape:
//! a random Qwen3-architecture model (hidden 256, 4 layers, 4 heads, 2 kv heads, head_dim 64,
//! intermediate 768, vocab 151,936, tied), r 16 on all seven projections, a batch of 8 × 256
//! tokens with labels on the last 16 tokens of each row — and, in the same run, the PyTorch +
//! PEFT anchor `scripts/bench_pytorch_lora_step.py` when a Python with torch, transformers and
//! peft is found (`$SPEC_ACTIONS_PYTHON`, else `python3`). Prints seconds per step, tokens/s and
//! the speed-up over PyTorch.
//!
//! ```text
//! cargo bench -p spec-actions-train --bench lora_step
//! SPEC_ACTIONS_PYTHON=/work/venv/bin/python cargo bench -p spec-actions-train --bench lora_step
//! ```

use std::process::Command;
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use criterion::{Criterion, criterion_group};
use spec_actions_qwen3::action_prompts::{IGNORE, LabeledTokens};
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::lora::LoraConfig;
use spec_actions_train::optim::{AdamW, AdamWConfig, clip_coefficient};
use spec_actions_train::tasks::SftObjective;
use spec_actions_train::trainer::{Objective, TrainModel};

type B = Autodiff<Flex>;
const BATCH: usize = 8;
const SEQ: usize = 256;
const LABELS: usize = 16;

fn shape() -> Qwen3Config {
    let mut c = Qwen3Config::qwen3_0_6b();
    c.hidden_size = 256;
    c.intermediate_size = 768;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c
}

fn batch() -> Vec<LabeledTokens> {
    (0..BATCH)
        .map(|r| {
            let ids: Vec<u32> = (0..SEQ)
                .map(|t| ((r * 7919 + t * 104_729) % 151_000) as u32)
                .collect();
            let labels = ids
                .iter()
                .enumerate()
                .map(|(t, &id)| if t >= SEQ - LABELS { i64::from(id) } else { IGNORE })
                .collect();
            LabeledTokens { ids, labels }
        })
        .collect()
}

/// One optimizer step: what `Trainer::fit` does per step, without its file writes.
fn step(model: &mut TrainModel<B>, optimizer: &mut AdamW<Flex>, rows: &[LabeledTokens]) -> f64 {
    let device = Default::default();
    let objective = SftObjective { pad_id: 0 };
    let batch: Vec<&LabeledTokens> = rows.iter().collect();
    let count = objective.count(&batch) as f64;
    let params = model.trainable();
    // forward and backward on a thread of Flex's pool, as `Trainer::fit` runs them
    let (value, g): (f64, Vec<_>) = on_compute_threads::<B, _>(|| {
        let loss = objective.loss(model, &batch, &device).sum.div_scalar(count);
        let value = f64::from(loss.clone().into_scalar());
        let grads = loss.backward();
        let g = params
            .iter()
            .map(|(n, p)| (n.clone(), p.grad(&grads).expect("gradient")))
            .collect();
        (value, g)
    });
    let norm: f64 = g
        .iter()
        .map(|(_, g)| f64::from(g.clone().powi_scalar(2).sum().into_scalar()))
        .sum::<f64>()
        .sqrt();
    let coef = clip_coefficient(norm, 1.0);
    optimizer.begin_step();
    let mut updated = std::collections::BTreeMap::new();
    for ((name, p), (_, g)) in params.into_iter().zip(g) {
        updated.insert(
            name.clone(),
            Tensor::from_inner(optimizer.update(&name, p.inner(), g.mul_scalar(coef), 1e-4)),
        );
    }
    model.set_trainable(updated).expect("same tensors");
    value
}

/// The PyTorch + PEFT anchor's seconds per step, when it can run.
fn pytorch_anchor() -> Option<f64> {
    let python = std::env::var("SPEC_ACTIONS_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/bench_pytorch_lora_step.py"
    );
    let out = Command::new(python)
        .arg(script)
        .args(["--threads", "2", "--steps", "3"])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "PyTorch anchor not run: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("pytorch_peft"))?;
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("lora_step_s="))
        .and_then(|v| v.parse().ok())
}

fn bench(c: &mut Criterion) {
    // Which machine: speed figures compare only as same-run ratios on one machine.
    eprintln!("machine: {}", spec_actions_core::machine::Machine::detect());
    let device = Default::default();
    B::seed(&device, 0);
    let qwen = shape()
        .init::<B>(&device)
        .with_new_lora(&LoraConfig::new(16, 32.0));
    let mut model = TrainModel {
        qwen,
        score_head: None,
    };
    let mut optimizer = AdamW::<Flex>::new(AdamWConfig::default());
    let rows = batch();
    step(&mut model, &mut optimizer, &rows); // warm-up

    // The headline figure, measured like the anchor: mean of 3 steps.
    let started = Instant::now();
    for _ in 0..3 {
        step(&mut model, &mut optimizer, &rows);
    }
    let ours = started.elapsed().as_secs_f64() / 3.0;
    let tokens = (BATCH * SEQ) as f64;
    println!("spec-actions lora_step_s={ours:.3} tok_s={:.0}", tokens / ours);
    match pytorch_anchor() {
        Some(torch) => println!(
            "pytorch_peft lora_step_s={torch:.3} tok_s={:.0}  →  speed-up {:.2}× (same run, same shape)",
            tokens / torch,
            torch / ours
        ),
        None => println!(
            "pytorch_peft anchor unavailable (set SPEC_ACTIONS_PYTHON to a Python with torch, transformers, peft)"
        ),
    }

    let mut group = c.benchmark_group("lora_sft_step");
    group.sample_size(10);
    group.bench_function("hidden256_l4_vocab151936_r16_b8x256", |b| {
        b.iter(|| step(&mut model, &mut optimizer, &rows))
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    // Freed tensors stay in the heap (see `spec_actions_qwen3::allocator`), as in the pipeline.
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
