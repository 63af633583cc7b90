//! Prefill passes of a random Qwen3-0.6B-shaped model on Flex, batch 1, f32: a process to
//! profile (`perf record`) beside the `qwen3_forward` bench's `prefill` line, which times the
//! same pass (a 128-token prompt into an empty KV cache, then the last position's logits).
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example prefill_passes -- [TOKENS] [PASSES]
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::{KvCache, Qwen3, StepContext};

type B = Flex;

fn main() {
    // As the bench and the pipeline do (see `spec_actions_qwen3::allocator`).
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    let mut args = std::env::args().skip(1);
    let tokens: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(128);
    let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let device = Default::default();
    let config = Qwen3Config::qwen3_0_6b();
    let model: Qwen3<B> = config.init(&device);
    let ids: Vec<i64> = (0..tokens as i64).map(|i| (i * 7919 + 13) % 150_000).collect();
    let mut pass_ms = Vec::with_capacity(passes);
    for _ in 0..passes {
        let start = Instant::now();
        let mut cache = KvCache::new(&config, 1, tokens, &device);
        let ctx = StepContext::new(
            &model.rotary,
            &[vec![true; tokens]],
            &[(0..tokens).collect()],
            0,
            &device,
        )
        .cast(model.compute_dtype());
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [1, tokens]), &device);
        let hidden = model.forward_hidden(input, &ctx, Some(&mut cache), None);
        let [_, s, h] = hidden.dims();
        let logits = model.logits(hidden.slice([0..1, s - 1..s, 0..h]));
        std::hint::black_box(logits.argmax(2).into_scalar());
        pass_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let total: f64 = pass_ms.iter().sum();
    pass_ms.sort_by(f64::total_cmp);
    println!(
        "prefill {tokens} tokens × {passes}: {:.1} tok/s; a pass: median {:.1} ms, fastest {:.1} ms",
        (tokens * passes) as f64 / (total / 1e3),
        pass_ms[pass_ms.len() / 2],
        pass_ms[0]
    );
}
