//! A decode step's 196 projection products of Qwen3-0.6B's shape, the weights held as the model
//! holds them (f32 `[d_in, d_out]` and bf16 in the row-product layout, in huge pages), an f32
//! row times each: one product a projection (`times_weight`) against a layer's q/k/v and
//! gate/up taken together (`times_weights`, one pass over several matrices), the two in
//! alternating rounds in one process so that a VM's drift in memory speed falls on both alike.
//! Prints each form's median and fastest step and the weights' read rate.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example several_products [rounds]
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::huge_pages::in_huge_pages;
use spec_actions_qwen3::model::LoraTarget;
use spec_actions_qwen3::model::weight_product::{in_row_product_layout, times_weight, times_weights};

type B = Flex;

/// One layer's seven weights, q, k, v, o, gate, up, down.
type Layer = [Tensor<B, 2>; 7];

fn one_by_one(x: &Tensor<B, 2>, layers: &[Layer]) {
    for layer in layers {
        for w in layer {
            let x = x.clone().slice([0..1, 0..w.dims()[0]]);
            std::hint::black_box(times_weight(x, w.clone()));
        }
    }
}

fn together(x: &Tensor<B, 2>, layers: &[Layer]) {
    for [q, k, v, o, gate, up, down] in layers {
        let row = |w: &Tensor<B, 2>| x.clone().slice([0..1, 0..w.dims()[0]]);
        std::hint::black_box(times_weights(row(q), [q.clone(), k.clone(), v.clone()]));
        std::hint::black_box(times_weight(row(o), o.clone()));
        std::hint::black_box(times_weights(row(gate), [gate.clone(), up.clone()]));
        std::hint::black_box(times_weight(row(down), down.clone()));
    }
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(9);
    let device = Default::default();
    let c = Qwen3Config::qwen3_0_6b();
    let shapes = LoraTarget::ALL.map(|t| {
        let [d_out, d_in] = t.hf_shape(&c);
        [d_in, d_out]
    });
    let params: usize = shapes.iter().map(|[k, n]| k * n).sum::<usize>() * c.num_hidden_layers;
    let f32_layers: Vec<Layer> = (0..c.num_hidden_layers)
        .map(|_| shapes.map(|s| in_huge_pages(Tensor::random(s, Distribution::Normal(0.0, 0.02), &device))))
        .collect();
    let bf16_layers: Vec<Layer> = f32_layers
        .iter()
        .map(|l| l.clone().map(|w| in_row_product_layout(w.cast(FloatDType::BF16))))
        .collect();
    let x = Tensor::<B, 2>::random([1, c.intermediate_size], Distribution::Normal(0.0, 1.0), &device);
    println!("{} projections, {:.2} G parameters, {} rayon threads", 7 * f32_layers.len(), params as f64 / 1e9, rayon::current_num_threads());
    for (dtype, layers, bytes) in [("f32", &f32_layers, 4), ("bf16", &bf16_layers, 2)] {
        let mut times: [Vec<f64>; 2] = [vec![], vec![]];
        // two untimed rounds of each: the kernel choices' trials
        for round in 0..rounds + 2 {
            for (form, t) in times.iter_mut().enumerate() {
                let seconds = on_compute_threads::<B, _>(|| {
                    let start = Instant::now();
                    match form {
                        0 => one_by_one(&x, layers),
                        _ => together(&x, layers),
                    }
                    start.elapsed().as_secs_f64()
                });
                if round >= 2 {
                    t.push(seconds);
                }
            }
        }
        for (form, t) in ["one by one", "q/k/v and gate/up together"].iter().zip(&mut times) {
            t.sort_by(f64::total_cmp);
            let median = t[t.len() / 2];
            println!(
                "{dtype:>4}, {form}: a step's products median {:.1} ms, fastest {:.1} ms ({rounds} rounds), weights read at {:.1} GB/s (median)",
                median * 1e3,
                t[0] * 1e3,
                (params * bytes) as f64 / median / 1e9
            );
        }
    }
}
