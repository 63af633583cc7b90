//! Time and memory of one attention call's forward + backward pass, dense against recomputed
//! (`spec_actions_qwen3::model::scaled_dot_product`), best of 5, at a shape given on the command
//! line — the profile behind `scaled_dot_product::RECOMPUTE_ABOVE`.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example attention_backward -- BATCH KV_HEADS GROUP SEQ HEAD_DIM
//! cargo run --release -p spec-actions-qwen3 --example attention_backward -- 16 2 2 512 16   # a tiny-preset judge batch
//! ```

use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::Distribution;
use spec_actions_qwen3::model::scaled_dot_product::{CHUNK_SCORES, dense, recomputed};

type B = Autodiff<Flex>;

fn main() {
    let dims: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let [b, nkv, group, s, hd] = <[usize; 5]>::try_from(dims).unwrap_or([16, 2, 2, 512, 16]);
    let device = Default::default();
    let normal = Distribution::Normal(0.0, 1.0);
    let q = Tensor::<B, 5>::random([b, nkv, group, s, hd], normal, &device).require_grad();
    let k = Tensor::<B, 4>::random([b, nkv, s, hd], normal, &device).require_grad();
    let v = Tensor::<B, 4>::random([b, nkv, s, hd], normal, &device).require_grad();
    let causal: Vec<f32> = (0..s)
        .flat_map(|i| (0..s).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    let bias = Tensor::<B, 5>::from_data(TensorData::new(causal, [1, 1, 1, s, s]), &device)
        .repeat_dim(0, b)
        .repeat_dim(1, nkv)
        .repeat_dim(2, group);
    let scale = (hd as f64).powf(-0.5);
    println!(
        "batch {b} × {nkv} kv heads × {group} query heads each × {s} tokens × head_dim {hd}: {:.1} M scores",
        (b * nkv * group * s * s) as f64 / 1e6
    );
    for name in ["dense", "recomputed"] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            let out = match name {
                "dense" => dense(q.clone(), k.clone(), v.clone(), Some(bias.clone()), scale),
                _ => recomputed(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    Some(bias.clone()),
                    scale,
                    CHUNK_SCORES,
                ),
            };
            let grads = out.sum().backward();
            std::hint::black_box(q.grad(&grads));
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!("{name:>10}: forward + backward {:.1} ms (best of 5)", best * 1e3);
    }
}
