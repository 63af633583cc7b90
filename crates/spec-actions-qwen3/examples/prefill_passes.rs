//! Prefill passes of a random Qwen3-0.6B-shaped model on Flex, batch 1, f32 (or, with a third
//! argument `bf16`, bf16 weights with f32 compute, `spec-actions serve --dtype bf16`): a process to
//! profile (`perf record`) beside the `qwen3_forward` bench's `prefill` line, which times the
//! same pass (a 128-token prompt into an empty KV cache, then the last position's logits).
//! Then it times the pass's 196 projection products alone (on rayon's threads, as the pass
//! runs them), so that a machine without a profiler shows what share of a pass they are;
//! `scripts/bench_prefill_matmuls.py` times the same products in PyTorch and NumPy's BLAS.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example prefill_passes -- [TOKENS] [PASSES] [f32|bf16]
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::FloatDType;
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::weight_product::times_weight;
use spec_actions_qwen3::model::{KvCache, LoraTarget, Qwen3, StepContext};

type B = Flex;

fn main() {
    // As the bench and the pipeline do (see `spec_actions_qwen3::allocator`).
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    let mut args = std::env::args().skip(1);
    let tokens: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(128);
    let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let dtype = args.next().unwrap_or_else(|| "f32".into());
    let device = Default::default();
    let config = Qwen3Config::qwen3_0_6b();
    let model: Qwen3<B> = config.init(&device);
    let model = match dtype.as_str() {
        "bf16" => model.cast_weights(FloatDType::BF16),
        _ => model,
    };
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
        "{dtype}: prefill {tokens} tokens × {passes}: {:.1} tok/s; a pass: median {:.1} ms, fastest {:.1} ms",
        (tokens * passes) as f64 / (total / 1e3),
        pass_ms[pass_ms.len() / 2],
        pass_ms[0]
    );

    // The pass's matrix products alone: each projection's `[tokens, d_in] × [d_in, d_out]`
    // (`times_weight`, as `Projection::forward` multiplies).
    let products: Vec<(Tensor<B, 2>, Tensor<B, 2>)> = model
        .layers
        .iter()
        .flat_map(|l| LoraTarget::ALL.map(|t| l.projection(t)))
        .map(|p| (Tensor::ones([tokens, p.dims()[0]], &device), p.base.weight.val()))
        .collect();
    let flops: usize = products
        .iter()
        .map(|(x, w)| 2 * tokens * x.dims()[1] * w.dims()[1])
        .sum();
    let mut best = f64::MAX;
    for _ in 0..passes.min(5) {
        let start = Instant::now();
        on_compute_threads::<B, _>(|| {
            for (x, w) in &products {
                std::hint::black_box(times_weight(x.clone(), w.clone()));
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{dtype}: the pass's {} projection products alone: {:.1} ms (best of {}), {:.1} GFLOP/s",
        products.len(),
        best * 1e3,
        passes.min(5),
        flops as f64 / best / 1e9
    );
}
