//! The matrix products of one decode step alone: a `[1, k]` row times each of the 196
//! projection weights of Qwen3-0.6B's 28 layers (2.4 GB in f32, so read from DRAM, not cache),
//! in f32 and in bf16, with the weights in the heap's 4 KiB pages and in huge-page memory
//! (where the model keeps them: `spec_actions_qwen3::huge_pages`); the same products with the
//! weights stored as HF stores them (`[d_out, d_in]`, multiplied as a transposed view: one dot
//! product per output, as the head runs); then the tied LM head (`x · Eᵀ`). Each step's
//! products run on a thread of rayon's pool, as the model runs them
//! (`spec_actions_qwen3::compute_threads`; until session 25 they were called from the main
//! thread, and the bf16 `[d_out, d_in]` line multiplied f32 weights). The profile behind the
//! vendored Flex's row-vector product (`vendor/README.md`, change 4) and the `decode bf16`
//! lines of the `qwen3_forward` bench.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example decode_products
//! RAYON_NUM_THREADS=1 cargo run --release -p spec-actions-qwen3 --example decode_products
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::compute_threads::on_compute_threads;
use spec_actions_qwen3::huge_pages::in_huge_pages;
use spec_actions_qwen3::model::LoraTarget;

type B = Flex;

fn main() {
    let device = Default::default();
    let c = Qwen3Config::qwen3_0_6b();
    let h = c.hidden_size;
    // [d_in, d_out] of q, k, v, o, gate, up, down (the transpose of HF's shape)
    let shapes = LoraTarget::ALL.map(|t| {
        let [d_out, d_in] = t.hf_shape(&c);
        (d_in, d_out)
    });
    let f32_weights: Vec<Tensor<B, 2>> = (0..c.num_hidden_layers)
        .flat_map(|_| shapes)
        .map(|(k, n)| Tensor::random([k, n], Distribution::Normal(0.0, 0.02), &device))
        .collect();
    let params: usize = shapes.iter().map(|(k, n)| k * n).sum::<usize>() * c.num_hidden_layers;
    let bf16_weights: Vec<Tensor<B, 2>> = f32_weights
        .iter()
        .map(|w| w.clone().cast(FloatDType::BF16))
        .collect();
    println!(
        "{} projections, {:.2} G parameters, {} rayon threads",
        f32_weights.len(),
        params as f64 / 1e9,
        rayon::current_num_threads()
    );
    // the same weights in huge-page memory, where the model keeps its weights
    // (`spec_actions_qwen3::huge_pages`)
    let huge =
        |ws: &[Tensor<B, 2>]| -> Vec<Tensor<B, 2>> { ws.iter().map(|w| in_huge_pages(w.clone())).collect() };
    let (f32_huge, bf16_huge) = (huge(&f32_weights), huge(&bf16_weights));
    // the same products with the weights stored as HF stores them, `[d_out, d_in]` (in huge
    // pages), and multiplied as a transposed view: one dot product per output, as the tied
    // head runs
    let hf_layout = |ws: &[Tensor<B, 2>]| -> Vec<Tensor<B, 2>> {
        ws.iter()
            .map(|w| {
                in_huge_pages(
                    Tensor::<B, 2>::from_data(w.clone().transpose().into_data(), &device).cast(w.dtype()),
                )
            })
            .collect()
    };
    let (f32_hf, bf16_hf) = (hf_layout(&f32_weights), hf_layout(&bf16_weights));
    for (name, weights, transposed, bytes) in [
        ("f32, heap", &f32_weights, false, 4),
        ("bf16, heap", &bf16_weights, false, 2),
        ("f32, huge pages", &f32_huge, false, 4),
        ("bf16, huge pages", &bf16_huge, false, 2),
        ("f32, huge pages, [d_out, d_in] transposed", &f32_hf, true, 4),
        ("bf16, huge pages, [d_out, d_in] transposed", &bf16_hf, true, 2),
    ] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            // on a thread of rayon's pool, as the model runs a decode step
            let seconds = on_compute_threads::<B, _>(|| {
                let start = Instant::now();
                for w in weights {
                    let w = if transposed {
                        w.clone().transpose()
                    } else {
                        w.clone()
                    };
                    let x = Tensor::<B, 2>::ones([1, w.dims()[0]], &device).cast(w.dtype());
                    std::hint::black_box(x.matmul(w));
                }
                start.elapsed().as_secs_f64()
            });
            best = best.min(seconds);
        }
        println!(
            "{name:>4}: {:.1} ms a step's products (best of 5), weights read at {:.1} GB/s",
            best * 1e3,
            (params * bytes) as f64 / best / 1e9
        );
    }
    // the tied LM head: `x · Eᵀ`, a transposed view of the `[vocab, hidden]` embedding
    let embedding = Tensor::<B, 2>::random([c.vocab_size, h], Distribution::Normal(0.0, 0.02), &device);
    for (name, e, bytes) in [
        ("f32, heap", embedding.clone(), 4),
        ("bf16, heap", embedding.clone().cast(FloatDType::BF16), 2),
        ("f32, huge pages", in_huge_pages(embedding.clone()), 4),
        (
            "bf16, huge pages",
            in_huge_pages(embedding.clone().cast(FloatDType::BF16)),
            2,
        ),
    ] {
        let x = Tensor::<B, 2>::ones([1, h], &device).cast(e.dtype());
        let mut best = f64::MAX;
        for _ in 0..5 {
            let seconds = on_compute_threads::<B, _>(|| {
                let start = Instant::now();
                std::hint::black_box(x.clone().matmul(e.clone().transpose()));
                start.elapsed().as_secs_f64()
            });
            best = best.min(seconds);
        }
        println!(
            "{name:>4}: {:.1} ms the tied LM head (best of 5), read at {:.1} GB/s",
            best * 1e3,
            (c.vocab_size * h * bytes) as f64 / best / 1e9
        );
    }
}
