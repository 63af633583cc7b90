//! `∂logits · head` in f64: the gradient that reaches the hidden rows from the gradient of their
//! logits, summed precisely enough for Qwen3's 151,936 tokens (issue #14, item 2) — the other
//! half of the LM-head loss's precise path, beside [`super::log_sum_exp`]'s log-sum-exp.
//!
//! Through the head's f32 backward product each term `∂logit_j · head_j` is rounded before a
//! sum over the whole vocabulary, and the LoRA gradients — sums over many positions of a trained
//! model, which mostly cancel — magnify that rounding. Measured (issue #14, item 2;
//! `lm_head_precision --head-step` in spec-actions-train: a LoRA adapter of 40 steps on the tiny
//! proposer, 64 real SFT rows, 1,507 label tokens, against float64 PyTorch): LoRA gradients
//! 1.24e-3 / 1.22e-3 relative (A / B) from the exact logits gradient through the f32 product,
//! 2.3e-4 / 3.1e-4 through this one; the f32 product summed in blocks of 4,096 tokens with f64
//! across did not help (1.38e-3 / 1.35e-3 on an earlier adapter of the same recipe): the
//! rounding is in the terms, not in the long sum.
//!
//! The cost is an f64 product and the head widened to f64, block by block of
//! [`HEAD_BLOCK_BYTES`], each block's product added to the f64 sum in block order, so that the
//! widened head is never written out whole (311 MB a call at the `lora_step` bench's vocab
//! 151,936 × hidden 256): that bench 1.55 s a step without the f64 product, 1.80 s with it cast
//! whole (criterion medians 1.42 / 2.16 s; AVX2 EPYC, 2 cores); by blocks, AMD EPYC family 26
//! model 2, alternating, the bench binaries cast whole and by 4 MiB blocks: criterion medians
//! 331 / 321 → 328 / 317 ms a step, peak resident set 1.09 → 0.65–0.71 GB (16 MiB blocks: 359 /
//! 333 ms).
//!
//! On Flex (with autodiff or without: both operands are constants) the blocks are widened and
//! multiplied on rayon's threads, as many blocks at a time as the pool has threads, each
//! block's product on one thread, and added on the calling thread in block order: the same
//! bits as the generic path (burn's casts and f64 `matmul`, one block after another), which
//! splits each block's small product (`rows × hidden × block`) over the threads instead and
//! widens the blocks on one: there, timed inside a `lora_step` step on a 2-core Intel Xeon VM
//! (family 6 model 207), this product took 180–200 ms on two threads against 223–226 ms on
//! one. The `lora_step` bench binaries of the revision before and of this one alternating on
//! that VM, three pairs: 0.697 / 0.713 / 0.700 → 0.631 / 0.613 / 0.611 s a step (criterion
//! medians 708 / 680 / 712 → 609 / 600 / 698 ms).
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use spec_actions_qwen3::model::head_gradient::head_rows_gradient;
//!
//! let device = Default::default();
//! let grad = Tensor::<Flex, 2>::from_floats([[1.0, -2.0, 0.5]], &device); // [rows 1, vocab 3]
//! let head = Tensor::<Flex, 2>::from_floats([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], &device);
//! let rows = head_rows_gradient(grad, head); // [1, hidden 2]
//! assert_eq!(rows.into_data().to_vec::<f32>().unwrap(), vec![2.0, -1.0]);
//! ```

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::gemm_product::{self, Strided};
use crate::flex_tensors::{flex_values, from_flex_values};

/// Bytes of the f64 LM-head block [`head_rows_gradient`] widens and multiplies at a time.
pub const HEAD_BLOCK_BYTES: usize = 4 << 20;

/// `grad · head` summed in f64 over blocks of [`HEAD_BLOCK_BYTES`] of the widened head, rounded
/// once to f32 (module doc). Both operands are taken as constants (detached).
///
/// # Shapes
/// - `grad`: `[rows, vocab]`; `head`: `[vocab, hidden]`
/// - returns `[rows, hidden]` in f32
pub fn head_rows_gradient<B: Backend>(grad: Tensor<B, 2>, head: Tensor<B, 2>) -> Tensor<B, 2> {
    let block = (HEAD_BLOCK_BYTES / 8 / head.dims()[1].max(1)).max(1);
    head_rows_gradient_by_blocks(grad, head, block)
}

/// [`head_rows_gradient`] over blocks of `block` vocabulary rows.
///
/// # Shapes
/// - `grad`: `[rows, vocab]`; `head`: `[vocab, hidden]`
/// - returns `[rows, hidden]` in f32
pub fn head_rows_gradient_by_blocks<B: Backend>(
    grad: Tensor<B, 2>,
    head: Tensor<B, 2>,
    block: usize,
) -> Tensor<B, 2> {
    if let (Ok(g), Ok(h)) = (flex_values(grad.clone()), flex_values(head.clone()))
        && g.dtype() == DType::F32
        && h.dtype() == DType::F32
    {
        return from_flex_values(by_blocks_on_flex(&g, &h, block.max(1)));
    }
    by_blocks(grad, head, block.max(1))
}

/// The generic path: burn's casts and f64 products, one block after another.
fn by_blocks<B: Backend>(grad: Tensor<B, 2>, head: Tensor<B, 2>, block: usize) -> Tensor<B, 2> {
    let [rows, vocab] = grad.dims();
    let hidden = head.dims()[1];
    let mut sum: Option<Tensor<B, 2>> = None;
    for start in (0..vocab).step_by(block) {
        let end = (start + block).min(vocab);
        let g = grad.clone().slice([0..rows, start..end]).cast(FloatDType::F64);
        let h = head.clone().slice([start..end, 0..hidden]).cast(FloatDType::F64);
        let part = g.matmul(h);
        sum = Some(match sum {
            Some(sum) => sum + part,
            None => part,
        });
    }
    match sum {
        Some(sum) => sum.cast(FloatDType::F32),
        None => Tensor::zeros([rows, hidden], &grad.device()),
    }
}

/// A matrix of f32 values as [`block_product`] reads it: its storage from its first element,
/// and the distances between rows and between columns.
struct F32Matrix<'a> {
    values: &'a [f32],
    row_stride: usize,
    column_stride: usize,
}

impl<'a> F32Matrix<'a> {
    /// The matrix of a 2-D f32 Flex tensor with non-negative strides; `None` otherwise.
    fn of(t: &'a FlexTensor) -> Option<Self> {
        let strides = t.layout().strides();
        let [row_stride, column_stride] = [strides[0], strides[1]].map(|s| usize::try_from(s).ok());
        Some(Self {
            values: &t.storage::<f32>()[t.layout().start_offset()..],
            row_stride: row_stride?,
            column_stride: column_stride?,
        })
    }

    /// Rows `rows` and columns `columns` widened to f64, contiguous `[rows, columns]`.
    fn widened(&self, rows: std::ops::Range<usize>, columns: std::ops::Range<usize>) -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len() * columns.len());
        for r in rows {
            let row = r * self.row_stride;
            match self.column_stride {
                1 => out.extend(
                    self.values[row + columns.start..row + columns.end]
                        .iter()
                        .map(|&v| f64::from(v)),
                ),
                s => out.extend(columns.clone().map(|c| f64::from(self.values[row + c * s]))),
            }
        }
        out
    }
}

/// [`head_rows_gradient_by_blocks`] on Flex's f32 tensors: the blocks' products (each widened
/// and multiplied on one thread) as many at a time as rayon's pool has threads, added in
/// block order on the calling thread.
///
/// # Shapes
/// - `grad`: `[rows, vocab]`; `head`: `[vocab, hidden]`, f32, any non-negative strides
/// - returns `[rows, hidden]`, f32
fn by_blocks_on_flex(grad: &FlexTensor, head: &FlexTensor, block: usize) -> FlexTensor {
    let (rows, vocab) = (grad.layout().shape()[0], grad.layout().shape()[1]);
    let hidden = head.layout().shape()[1];
    let (g, h) = match (F32Matrix::of(grad), F32Matrix::of(head)) {
        (Some(g), Some(h)) => (g, h),
        // negative strides (a flipped view): contiguous copies first
        _ => return by_blocks_on_flex(&grad.to_contiguous(), &head.to_contiguous(), block),
    };
    let starts: Vec<usize> = (0..vocab).step_by(block).collect();
    let mut sum: Option<Vec<f64>> = None;
    for group in starts.chunks(rayon::current_num_threads().max(1)) {
        let parts: Vec<Vec<f64>> = group
            .par_iter()
            .map(|&start| block_product(&g, &h, [rows, hidden], start..(start + block).min(vocab)))
            .collect();
        for part in parts {
            match &mut sum {
                None => sum = Some(part),
                Some(sum) => sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p),
            }
        }
    }
    let sum: Vec<f32> = match sum {
        Some(sum) => sum.into_iter().map(|v| v as f32).collect(),
        None => vec![0.0; rows * hidden],
    };
    FlexTensor::new(
        burn_std::Bytes::from_elems(sum),
        burn_flex::Layout::contiguous(burn_std::Shape::new([rows, hidden])),
        DType::F32,
    )
}

/// `grad[:, tokens] · head[tokens, :]` in f64 on the calling thread: both widened, then
/// `gemm` as Flex's f64 `matmul` calls it (output overwritten), on one thread
/// ([`gemm_product::product`]).
///
/// # Shapes
/// - `grad`: `[rows, vocab]`; `head`: `[vocab, hidden]`
/// - returns `[rows, hidden]`, contiguous
fn block_product(
    grad: &F32Matrix<'_>,
    head: &F32Matrix<'_>,
    [rows, hidden]: [usize; 2],
    tokens: std::ops::Range<usize>,
) -> Vec<f64> {
    let width = tokens.len();
    let lhs = grad.widened(0..rows, tokens.clone());
    let rhs = head.widened(tokens, 0..hidden);
    let mut out = vec![0f64; rows * hidden];
    // Safety: `lhs` is `[rows, width]`, `rhs` `[width, hidden]` and `out` `[rows, hidden]`,
    // each contiguous and live for the call, and only this call touches `out`.
    unsafe {
        gemm_product::product(
            [rows, hidden, width],
            Strided {
                at: out.as_mut_ptr(),
                column_stride: 1,
                row_stride: hidden,
            },
            Strided {
                at: lhs.as_ptr(),
                column_stride: 1,
                row_stride: width,
            },
            Strided {
                at: rhs.as_ptr(),
                column_stride: 1,
                row_stride: hidden,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;

    /// The rows' gradient over blocks of the vocabulary (a block size that does not divide
    /// it, and one block) is `Σ_j ∂logit_j · head_j` summed in f64 on the host, rounded once
    /// to f32: the blocks' partial products are added in f64, so at most the last bit moves —
    /// on Flex, under autodiff, and on the generic path.
    #[test]
    fn head_rows_gradient_by_blocks_is_the_f64_product() {
        let device = Default::default();
        let (rows, vocab, hidden) = (3, 23, 5);
        let value = |i: usize, scale: f32| ((i * 7919 % 101) as f32 / 101.0 - 0.5) * scale;
        let grad: Vec<f32> = (0..rows * vocab).map(|i| value(i, 1e-3)).collect();
        let head: Vec<f32> = (0..vocab * hidden).map(|i| value(i + 13, 0.1)).collect();
        let want: Vec<f32> = (0..rows * hidden)
            .map(|o| {
                let (r, c) = (o / hidden, o % hidden);
                let sum: f64 = (0..vocab)
                    .map(|j| f64::from(grad[r * vocab + j]) * f64::from(head[j * hidden + c]))
                    .sum();
                sum as f32
            })
            .collect();
        let check = |case: &str, got: Vec<f32>| {
            for (o, (a, b)) in got.iter().zip(&want).enumerate() {
                let ulps = (a.to_bits() as i64 - b.to_bits() as i64).abs();
                assert!(ulps <= 1, "{case}, output {o}: {a} against {b}");
            }
        };
        let g = Tensor::<Flex, 2>::from_data(TensorData::new(grad.clone(), [rows, vocab]), &device);
        let h = Tensor::<Flex, 2>::from_data(TensorData::new(head.clone(), [vocab, hidden]), &device);
        let (ga, ha) = (
            Tensor::<Autodiff<Flex>, 2>::from_inner(g.clone()),
            Tensor::<Autodiff<Flex>, 2>::from_inner(h.clone()),
        );
        for block in [4, vocab, 1000] {
            let values = |t: Tensor<Flex, 2>| t.into_data().to_vec::<f32>().expect("f32");
            check(
                &format!("Flex, block {block}"),
                values(head_rows_gradient_by_blocks(g.clone(), h.clone(), block)),
            );
            check(
                &format!("generic, block {block}"),
                values(by_blocks(g.clone(), h.clone(), block)),
            );
            let on_autodiff = head_rows_gradient_by_blocks(ga.clone(), ha.clone(), block);
            check(
                &format!("autodiff, block {block}"),
                on_autodiff.into_data().to_vec::<f32>().expect("f32"),
            );
        }
    }

    /// On Flex the blocks' products run on rayon's threads, several at a time: the same bits as
    /// the generic path's products one block after another, on one thread and on three, for
    /// blocks deep enough that `gemm` splits its depth (a head seen transposed too).
    #[test]
    fn flex_blocks_on_threads_are_the_generic_blocks_bit_for_bit() {
        let device = Default::default();
        let (rows, vocab, hidden) = (37, 5003, 70);
        let random = |n: usize, seed: u64| {
            Tensor::<Flex, 2>::from_data(
                TensorData::new(
                    (0..n)
                        .map(|i| ((i as u64 * 2_654_435_761 + seed) % 1_000_003) as f32 / 1_000_003.0 - 0.5)
                        .collect::<Vec<f32>>(),
                    [n / vocab, vocab],
                ),
                &device,
            )
        };
        let grad = random(rows * vocab, 1);
        let head_t = random(hidden * vocab, 2); // [hidden, vocab]
        for (layout, head) in [
            (
                "contiguous",
                Tensor::<Flex, 2>::from_data(head_t.clone().transpose().into_data(), &device),
            ),
            ("transposed view", head_t.transpose()),
        ] {
            let want = by_blocks(grad.clone(), head.clone(), 1200)
                .into_data()
                .to_vec::<f32>()
                .unwrap();
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let got = pool
                    .install(|| head_rows_gradient_by_blocks(grad.clone(), head.clone(), 1200))
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap();
                for (o, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        a.to_bits(),
                        b.to_bits(),
                        "{layout}, {threads} threads, output {o}: {a} against {b}"
                    );
                }
            }
        }
    }
}
