//! Which weight layout makes `x·W` fastest on Flex for the 0.6B MLP shape (1024 → 3072):
//! `W` stored `[in, out]` row-major, or the transposed view of HF's `[out, in]` storage.
//! Decode (1 row) and prefill (128 rows), each as a 3D product (`[1, rows, in]` times the
//! weight unsqueezed) and as the 2D product [`Projection::forward`] makes (rows flattened).
//! The one 12 MB weight, multiplied again and again, stays in cache: this times the kernels,
//! not memory. For decode's DRAM-bound case (every weight of a step read once) see the
//! `decode_products` example, which times both layouts too.
//! `cargo bench -p spec-actions-qwen3 --bench projection_layout`
//!
//! [`Projection::forward`]: spec_actions_qwen3::model::Projection::forward

use std::hint::black_box;
use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::Distribution;

type B = Flex;

fn time(label: &str, reps: usize, f: impl Fn() -> Tensor<B, 3>) {
    black_box(f().into_data());
    let t = Instant::now();
    for _ in 0..reps {
        black_box(f().into_data());
    }
    eprintln!("{label}: {:.3} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
}

fn main() {
    // Which machine: speed figures compare only as same-run ratios on one machine.
    eprintln!("machine: {}", spec_actions_core::machine::Machine::detect());
    let device = Default::default();
    let (inp, out) = (1024, 3072);
    let hf = Tensor::<B, 2>::random([out, inp], Distribution::Default, &device);
    let view = hf.clone().transpose();
    let row_major = Tensor::<B, 2>::from_data(view.to_data(), &device);
    for rows in [1usize, 128] {
        let x = Tensor::<B, 3>::random([1, rows, inp], Distribution::Default, &device);
        let reps = if rows == 1 { 200 } else { 10 };
        time(&format!("rows {rows}: [in,out] row-major"), reps, || {
            x.clone().matmul(row_major.clone().unsqueeze())
        });
        time(&format!("rows {rows}: transposed view of [out,in]"), reps, || {
            x.clone().matmul(view.clone().unsqueeze())
        });
        time(
            &format!("rows {rows}: transposed view of [out,in], 2D"),
            reps,
            || {
                x.clone()
                    .reshape([rows, inp])
                    .matmul(view.clone())
                    .reshape([1, rows, out])
            },
        );
        time(&format!("rows {rows}: [in,out] row-major, 2D"), reps, || {
            x.clone()
                .reshape([rows, inp])
                .matmul(row_major.clone())
                .reshape([1, rows, out])
        });
        time(&format!("rows {rows}: ([out,in] · xᵀ)ᵀ"), reps, || {
            let xt = x.clone().reshape([rows, inp]).transpose();
            hf.clone().matmul(xt).transpose().reshape([1, rows, out])
        });
    }
}
