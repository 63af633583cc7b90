//! Decode steps of a random Qwen3-0.6B-shaped model on Flex, batch 1, in f32 or with bf16
//! weights and f32 compute (`spec-actions serve --dtype bf16`): a process to profile
//! (`perf record`) beside the `qwen3_forward` bench's `decode` lines, which time the same steps.
//!
//! After the steps it times the parts of a step the same way (median of repeated runs, on
//! rayon's threads as the step runs them, [`on_compute_threads`]), so that a machine without a
//! profiler still shows where a step goes:
//! - `projections`: the model's 196 [`Projection::forward`](spec_actions_qwen3::model::Projection::forward) calls on one f32 row;
//! - `products`: the same matrix products alone ([`times_weight`]: with bf16 weights, computed
//!   in f32 from the bf16 values);
//! - `products from the main thread`: the same, each handed to rayon's pool (as the
//!   `decode_products` example times them);
//! - `head`: [`Qwen3::logits`] (the tied LM head) of one row;
//! - `attention`: the 28 layers' [`attend`] calls of the last step (one query row a head over
//!   the cache's keys, read in place from cache-sized buffers, in huge pages from 2 MiB as the
//!   cache keeps them), and beside it the same calls in
//!   the [`dense`] form (two batched matrix products a layer, what `attend` ran before
//!   [`direct_attention`](spec_actions_qwen3::model::direct_attention));
//! - `rest`: the step minus `projections`, `head` and `attention` (embedding, norms, RoPE, the
//!   cache writes, residuals, argmax).
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example decode_steps -- f32|bf16 [STEPS] [PROMPT]
//! ```
//!
//! `PROMPT` (default 0) tokens are prefilled first, untimed, so that the steps attend over a
//! cache as long as the bench's (`qwen3_forward`'s decode follows a 128-token prompt).

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::Distribution;
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::huge_pages::in_huge_pages;
use spec_actions_qwen3::model::scaled_dot_product::{attend, dense};
use spec_actions_qwen3::model::weight_product::times_weight;
use spec_actions_qwen3::model::{KvCache, StepContext};

mod common;

type B = Flex;

/// A form of scaled dot-product attention ([`attend`] or [`dense`]).
type AttentionForm = fn(Tensor<B, 5>, Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 5>>, f64) -> Tensor<B, 5>;

/// Times of each part: repetitions, of which the median is printed.
const REPEATS: usize = 9;

fn main() {
    // As the bench and the pipeline do (see `spec_actions_qwen3::allocator`).
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    let mut args = std::env::args().skip(1);
    let dtype = args.next().unwrap_or_else(|| "f32".into());
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let prompt: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let device = Default::default();
    let (config, model) = common::random_qwen3_0_6b(&dtype, &device);
    let mut cache = KvCache::new(&config, 1, prompt + steps + 1, &device);
    if prompt > 0 {
        let ctx = StepContext::new(
            &model.rotary,
            &[vec![true; prompt]],
            &[(0..prompt).collect()],
            0,
            &device,
        )
        .cast(model.compute_dtype());
        let ids: Vec<i64> = (0..prompt as i64).map(|i| (i * 7919 + 13) % 150_000).collect();
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, prompt]), &device);
        model.forward_hidden(input, &ctx, Some(&mut cache), None);
    }
    let mut token = 1i64;
    let start = Instant::now();
    let mut step_ms = Vec::with_capacity(steps);
    for pos in prompt..prompt + steps {
        let step_start = Instant::now();
        token = common::greedy_step(&model, &mut cache, token, pos, &device);
        step_ms.push(step_start.elapsed().as_secs_f64() * 1e3);
    }
    let s = start.elapsed().as_secs_f64();
    let step = common::median(&mut step_ms);
    println!(
        "{dtype}: {steps} decode steps in {s:.3} s = {:.2} tok/s; a step: median {step:.1} ms, fastest {:.1} ms",
        steps as f64 / s,
        step_ms[0]
    );

    // The parts of a step, each the median of REPEATS runs.
    let projections = common::projections(&model);
    let rows: Vec<Tensor<B, 3>> = projections
        .iter()
        .map(|p| Tensor::ones([1, 1, p.dims()[0]], &device))
        .collect();
    let flat_rows: Vec<Tensor<B, 2>> = rows
        .iter()
        .zip(&projections)
        .map(|(x, p)| x.clone().reshape([1, p.dims()[0]]))
        .collect();
    let forward = time(|| {
        on_compute_threads::<B, _>(|| {
            for (p, x) in projections.iter().zip(&rows) {
                std::hint::black_box(p.forward(x.clone()));
            }
        })
    });
    let products = |x: &[Tensor<B, 2>]| {
        for (p, x) in projections.iter().zip(x) {
            std::hint::black_box(times_weight(x.clone(), p.base.weight.val()));
        }
    };
    let on_pool = time(|| on_compute_threads::<B, _>(|| products(&flat_rows)));
    let from_main = time(|| products(&flat_rows));
    let hidden = Tensor::<B, 3>::ones([1, 1, config.hidden_size], &device);
    let head = time(|| {
        std::hint::black_box(model.logits(hidden.clone()));
    });
    // Attention over the last step's keys, in layers' own cache-sized buffers (views, as the
    // cache hands them out; in huge pages from 2 MiB, as the cache keeps them), the model's
    // compute dtype.
    let (nkv, hd) = (config.num_key_value_heads, config.head_dim);
    let group = config.num_attention_heads / nkv;
    let (keys, capacity) = (prompt + steps, prompt + steps + 1);
    let normal = Distribution::Normal(0.0, 1.0);
    let q = Tensor::<B, 5>::random([1, nkv, group, 1, hd], normal, &device);
    let buffers: Vec<[Tensor<B, 4>; 2]> = (0..config.num_hidden_layers)
        .map(|_| {
            [(); 2].map(|_| in_huge_pages(Tensor::<B, 4>::random([1, nkv, capacity, hd], normal, &device)))
        })
        .collect();
    let scale = (hd as f64).powf(-0.5);
    let attention = |form: AttentionForm| {
        time(|| {
            on_compute_threads::<B, _>(|| {
                for [k, v] in &buffers {
                    let view = |t: &Tensor<B, 4>| t.clone().slice([0..1, 0..nkv, 0..keys, 0..hd]);
                    std::hint::black_box(form(q.clone(), view(k), view(v), None, scale));
                }
            })
        })
    };
    let (direct, dense) = (attention(attend), attention(dense));
    println!(
        "{dtype}: a step's parts (median of {REPEATS}): projections {forward:.1} ms \
         (products alone {on_pool:.1} ms; from the main thread {from_main:.1} ms), head \
         {head:.1} ms, attention over {keys} keys {direct:.2} ms (dense form {dense:.2} ms), \
         rest {:.1} ms",
        step - forward - head - direct
    );
}

/// Median wall time of `REPEATS` runs of `f`, in ms.
fn time(mut f: impl FnMut()) -> f64 {
    let mut ms: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    common::median(&mut ms)
}
