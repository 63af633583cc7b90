//! Decode steps of a random Qwen3-0.6B-shaped model on Flex, batch 1, in f32 or with bf16
//! weights and f32 compute (`spec-actions serve --dtype bf16`): a process to profile
//! (`perf record`) beside the `qwen3_forward` bench's `decode` lines, which time the same steps.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example decode_steps -- f32|bf16 [STEPS]
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::FloatDType;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::{KvCache, Qwen3, StepContext};

type B = Flex;

fn main() {
    // As the bench and the pipeline do (see `spec_actions_qwen3::allocator`).
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    let mut args = std::env::args().skip(1);
    let dtype = args.next().unwrap_or_else(|| "f32".into());
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let device = Default::default();
    let config = Qwen3Config::qwen3_0_6b();
    let model: Qwen3<B> = config.init(&device);
    let model = match dtype.as_str() {
        "bf16" => model.cast_weights(FloatDType::BF16),
        _ => model,
    };
    let mut cache = KvCache::new(&config, 1, steps + 1, &device);
    let mut token = 1i64;
    let start = Instant::now();
    let mut step_ms = Vec::with_capacity(steps);
    for pos in 0..steps {
        let step_start = Instant::now();
        let ctx = StepContext::new(&model.rotary, &[vec![true; pos + 1]], &[vec![pos]], pos, &device)
            .cast(model.compute_dtype());
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![token], [1, 1]), &device);
        let hidden = model.forward_hidden(input, &ctx, Some(&mut cache), None);
        let logits = model.logits(hidden);
        token = logits.argmax(2).into_scalar().elem::<i64>();
        step_ms.push(step_start.elapsed().as_secs_f64() * 1e3);
    }
    step_ms.sort_by(f64::total_cmp);
    let s = start.elapsed().as_secs_f64();
    println!(
        "{dtype}: {steps} decode steps in {s:.3} s = {:.2} tok/s; a step: median {:.1} ms, fastest {:.1} ms",
        steps as f64 / s,
        step_ms[step_ms.len() / 2],
        step_ms[0]
    );
}
