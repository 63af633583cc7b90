//! Prefill passes of a random Qwen3-0.6B-shaped model on Flex, batch 1, f32 (or, with a third
//! argument `bf16`, bf16 weights with f32 compute, `spec-actions serve --dtype bf16`): a process to
//! profile (`perf record`) beside the `qwen3_forward` bench's `prefill` line, which times the
//! same pass (a 128-token prompt into an empty KV cache, then the last position's logits).
//! Then it times the pass's 196 projection products alone (on rayon's threads, as the pass
//! runs them), so that a machine without a profiler shows what share of a pass they are;
//! `scripts/bench_prefill_matmuls.py` times the same products in PyTorch and NumPy's BLAS.
//! Last, the 28 layers' other steps of a pass that have a Flex form of their own, each as the
//! model runs it and as burn's composed ops run it (median of [`REPEATS`], on a prefill's
//! tensors, in f32): attention ([`attend`]: [`blocked_attention`] against [`dense`]), the
//! SwiGLU gate and the RoPE rotation ([`fused_elementwise`] against `silu(gate) * up` and
//! `x·cos + swap_halves(x)·sin_signed`).
//!
//! [`blocked_attention`]: spec_actions_qwen3::model::blocked_attention
//! [`fused_elementwise`]: spec_actions_qwen3::model::fused_elementwise
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example prefill_passes -- [TOKENS] [PASSES] [f32|bf16]
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::FloatDType;
use burn::tensor::activation::silu;
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::fused_elementwise::{rope_on_flex, swiglu_on_flex};
use spec_actions_qwen3::model::scaled_dot_product::{attend, dense};
use spec_actions_qwen3::model::weight_product::times_weight;
use spec_actions_qwen3::model::{KvCache, LoraTarget, Qwen3, StepContext};

type B = Flex;

/// A form of scaled dot-product attention ([`attend`] or [`dense`]).
type AttentionForm = fn(Tensor<B, 5>, Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 5>>, f64) -> Tensor<B, 5>;

/// Times of each part: repetitions, of which the median is printed.
const REPEATS: usize = 9;

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

    parts(&model, tokens);
}

/// The 28 layers' attention, SwiGLU gates and RoPE rotations of a pass, each in the model's
/// form and in burn's composed ops, on tensors of a prefill's shapes (f32).
fn parts(model: &Qwen3<B>, tokens: usize) {
    let device = Default::default();
    let c = &model.config;
    let (layers, hd, nkv) = (c.num_hidden_layers, c.head_dim, c.num_key_value_heads);
    let group = c.num_attention_heads / nkv;
    let normal = Distribution::Normal(0.0, 1.0);
    let ctx = StepContext::<B>::new(
        &model.rotary,
        &[vec![true; tokens]],
        &[(0..tokens).collect()],
        0,
        &device,
    );
    let scale = (hd as f64).powf(-0.5);
    // Attention: the model's queries ([b, kv, group, s, hd]) against keys and values laid out
    // as a layer's cache hands them out (heads first, views of a transposed tensor).
    let q = Tensor::<B, 5>::random([1, nkv, group, tokens, hd], normal, &device);
    let [k, v] =
        [(); 2].map(|_| Tensor::<B, 4>::random([1, tokens, nkv, hd], normal, &device).swap_dims(1, 2));
    let attention = |form: AttentionForm| {
        time(|| {
            for _ in 0..layers {
                std::hint::black_box(form(q.clone(), k.clone(), v.clone(), ctx.bias.clone(), scale));
            }
        })
    };
    let (model_attention, dense_attention) = (attention(attend), attention(dense));
    // The gate: fresh projection outputs (uniquely owned, as the model's are).
    let gate = Tensor::<B, 3>::random([1, tokens, c.intermediate_size], normal, &device);
    let fresh = || gate.clone().add_scalar(0.0);
    let copies = time(|| {
        for _ in 0..layers {
            std::hint::black_box(fresh());
        }
    });
    let swiglu = |fused: bool| {
        time(|| {
            for _ in 0..layers {
                let (g, u) = (fresh(), gate.clone());
                std::hint::black_box(match fused {
                    true => swiglu_on_flex(g, u).unwrap_or_else(|_| unreachable!("f32 on Flex")),
                    false => silu(g) * u,
                });
            }
        }) - copies
    };
    let (fused_gate, composed_gate) = (swiglu(true), swiglu(false));
    // The rotation of the query heads and of the key heads.
    let rope = |fused: bool| {
        time(|| {
            for _ in 0..layers {
                for t in [&ctx.rope.q, &ctx.rope.k] {
                    let x = Tensor::<B, 4>::random(t.cos.dims(), normal, &device);
                    std::hint::black_box(match fused {
                        true => rope_on_flex(x, &t.cos, &t.sin_signed)
                            .unwrap_or_else(|_| unreachable!("f32 on Flex")),
                        false => {
                            let [b, s, h, d] = x.dims();
                            let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
                            let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
                            x * t.cos.clone() + Tensor::cat(vec![x2, x1], 3) * t.sin_signed.clone()
                        }
                    });
                }
            }
        })
    };
    let randoms = time(|| {
        for _ in 0..layers {
            for t in [&ctx.rope.q, &ctx.rope.k] {
                std::hint::black_box(Tensor::<B, 4>::random(t.cos.dims(), normal, &device));
            }
        }
    });
    let (fused_rope, composed_rope) = (rope(true) - randoms, rope(false) - randoms);
    println!(
        "f32: a pass's parts over {layers} layers (median of {REPEATS}; model's form / burn's composed ops): \
         attention {model_attention:.1} / {dense_attention:.1} ms, SwiGLU gate {fused_gate:.1} / \
         {composed_gate:.1} ms, RoPE {fused_rope:.1} / {composed_rope:.1} ms"
    );
}

/// Median wall time of `REPEATS` runs of `f` on rayon's threads (as a pass runs), in ms.
fn time(f: impl Fn() + Send + Sync) -> f64 {
    let mut ms: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            on_compute_threads::<B, _>(&f);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}
