//! Decode steps of a random Qwen3-0.6B-shaped model on Flex, batch 1, with the dot-product
//! kernels reading one row of `E` at a time and two rows side by side
//! ([`burn_flex::set_dot_rows_together`]), alternating every two steps in one process, so that
//! both see the same machine: a VM's memory speed drifts by more between two processes than the
//! difference measured (`vendor/README.md`, change 4).
//!
//! The dot-product kernels read bf16 weights' projections (held as HF holds them) and the tied
//! LM head, so `bf16` shows the whole effect and `f32` the head's share. Every step computes the
//! same logits either way (checked here: the greedy tokens of the alternating run are compared
//! with a run of all steps one row at a time).
//!
//! Then the same for a step's products alone, alternating round by round: the 196 projections
//! ([`times_weight`] of one row and each layer's weights, as [`Projection::forward`](spec_actions_qwen3::model::Projection::forward) calls it)
//! and the tied head ([`Qwen3::logits`](spec_actions_qwen3::model::Qwen3::logits) of one row), each with the bytes of weights it read a
//! second.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example dot_rows_together -- f32|bf16 [STEPS]
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::model::KvCache;
use spec_actions_qwen3::model::weight_product::times_weight;

mod common;

type B = Flex;

/// Rounds of the products alone, each way.
const ROUNDS: usize = 30;

/// Steps at the start left out of the medians (the kernel choice's trials run in them).
const WARM_UP: usize = 16;

fn main() {
    // As the bench and the pipeline do (see `spec_actions_qwen3::allocator`).
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    let mut args = std::env::args().skip(1);
    let dtype = args.next().unwrap_or_else(|| "bf16".into());
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let device = Default::default();
    let (config, model) = common::random_qwen3_0_6b(&dtype, &device);
    // `rows_together(pos)`: the rows read side by side at step `pos`
    let decode = |rows_together: &dyn Fn(usize) -> usize| {
        let mut cache = KvCache::new(&config, 1, steps + 1, &device);
        let (mut token, mut tokens, mut step_ms) = (1i64, Vec::new(), [Vec::new(), Vec::new()]);
        for pos in 0..steps {
            let rows = rows_together(pos);
            burn_flex::set_dot_rows_together(rows);
            let start = Instant::now();
            token = common::greedy_step(&model, &mut cache, token, pos, &device);
            if pos >= WARM_UP {
                step_ms[rows - 1].push(start.elapsed().as_secs_f64() * 1e3);
            }
            tokens.push(token);
        }
        (tokens, step_ms)
    };
    let (alternating, mut step_ms) = decode(&|pos| 1 + (pos / 2) % 2);
    let (one_row, _) = decode(&|_| 1);
    assert_eq!(
        alternating, one_row,
        "the greedy tokens differ between the two ways of reading E"
    );
    let [one, two] = step_ms
        .each_mut()
        .map(|ms| (common::median(ms), ms[ms.len() / 4], ms.len()));
    println!(
        "{dtype}: a decode step, median (25th percentile) of {} steps each: one row at a time {:.2} ms ({:.2}), two rows side by side {:.2} ms ({:.2}) = {:.3}× as fast; the same {} greedy tokens",
        one.2,
        one.0,
        one.1,
        two.0,
        two.1,
        one.0 / two.0,
        steps
    );

    // The products alone: one row times every projection's weights, and the head.
    let projections = common::projections(&model);
    let rows: Vec<Tensor<B, 2>> = projections
        .iter()
        .map(|p| Tensor::ones([1, p.dims()[0]], &device))
        .collect();
    let hidden = Tensor::<B, 3>::ones([1, 1, config.hidden_size], &device);
    let bytes = |t: &Tensor<B, 2>| (t.shape().num_elements() * t.dtype().size()) as f64;
    let projection_bytes: f64 = projections.iter().map(|p| bytes(&p.base.weight.val())).sum();
    let head_bytes = bytes(&model.embed_tokens.weight.val());
    let time = |rows_together: usize, op: &(dyn Fn() + Sync)| {
        burn_flex::set_dot_rows_together(rows_together);
        let start = Instant::now();
        on_compute_threads::<B, _>(op);
        start.elapsed().as_secs_f64() * 1e3
    };
    let products = || {
        for (p, x) in projections.iter().zip(&rows) {
            std::hint::black_box(times_weight(x.clone(), p.base.weight.val()));
        }
    };
    let head = || {
        std::hint::black_box(model.logits(hidden.clone()));
    };
    let mut ms = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for round in 0..ROUNDS + 2 {
        for rows_together in [1, 2] {
            let (p, h) = (time(rows_together, &products), time(rows_together, &head));
            // the first two rounds warm up
            if round >= 2 {
                ms[0][rows_together - 1].push(p);
                ms[1][rows_together - 1].push(h);
            }
        }
    }
    let [projections_ms, head_ms] = &mut ms;
    for (what, bytes, ms) in [
        ("196 projections", projection_bytes, projections_ms),
        ("tied head", head_bytes, head_ms),
    ] {
        let [one, two] = ms.each_mut().map(|v| common::median(v));
        println!(
            "{dtype}: {what}, median of {ROUNDS} rounds: one row at a time {one:.2} ms ({:.1} GB/s), two rows side by side {two:.2} ms ({:.1} GB/s)",
            bytes / one / 1e6,
            bytes / two / 1e6
        );
    }
}
