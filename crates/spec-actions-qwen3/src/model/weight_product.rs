//! Activation rows times a weight matrix stored in another dtype: the products of *bf16
//! weights with f32 compute* ([`super::precision`]), where every projection and the tied LM
//! head multiply f32 rows by bf16 matrices.
//!
//! On Flex the product is computed in f32 from the bf16 values, with no rounding of the rows
//! or of the result:
//! - one row (a decode step at batch 1): Flex's row-vector kernels read the bf16 bytes and sum
//!   in f32 ([`burn_flex::f32_row_times_bf16`]) — the same pass over the matrix as a bf16 row
//!   times it, without the two casts a product around it (on a 2-core Xeon, Intel family 6
//!   model 167, `examples/decode_steps.rs bf16 32 128`: the casts alone 0.74 ms of a 52.7 ms
//!   step, the projections 1.8 ms slower than their products alone);
//! - more rows (a prefill): `gemm` on blocks of the matrix's columns, each widened to f32 in
//!   cache just before its product, instead of the whole matrix widened to f32 in memory first
//!   (what Flex's bf16 product does): `examples/prefill_passes.rs 128 6 bf16` on that Xeon,
//!   alternating with the revision before, two pairs: 136.7–137.9 → 161.5–162.7 tok/s.
//!
//! Any other backend (and autodiff) rounds the rows to the weight dtype, multiplies there (a
//! GPU's bf16 product) and returns the result in the rows' dtype. Both are within the bf16
//! tolerances of `tests/mixed_precision.rs`.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use burn::tensor::FloatDType;
//! use spec_actions_qwen3::model::weight_product::times_weight;
//!
//! let device = Default::default();
//! let x = Tensor::<Flex, 2>::from_floats([[1.0, 2.0]], &device);
//! let w = Tensor::<Flex, 2>::from_floats([[0.5, 1.0], [0.25, 3.0]], &device).cast(FloatDType::BF16);
//! let y = times_weight(x, w);
//! assert_eq!(y.dtype(), burn::tensor::DType::F32);
//! assert_eq!(y.into_data().into_vec::<f32>().unwrap(), vec![1.0, 7.0]);
//! ```

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

use super::gemm_product::{self, Strided};
use super::in_dtype;
use crate::flex_tensors::{from_flex, into_flex, is_flex};
use crate::huge_pages::in_huge_pages;

/// `x · w`, returned in `x`'s dtype, whatever `w`'s.
///
/// # Shapes
/// - `x`: `[rows, k]`
/// - `w`: `[k, n]` (a transposed view too)
/// - returns `[rows, n]`
pub fn times_weight<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>) -> Tensor<B, 2> {
    let dtype: FloatDType = x.dtype().into();
    let weight_dtype: FloatDType = w.dtype().into();
    if dtype == weight_dtype {
        return x.matmul(w);
    }
    if is_flex::<B>() && x.dtype() == DType::F32 && w.dtype() == DType::BF16 {
        if x.dims()[0] == 1
            && let Some(y) = burn_flex::f32_row_times_bf16(&into_flex(x.clone()), &into_flex(w.clone()))
        {
            return from_flex(y);
        }
        if is_in_row_product_layout(&w) {
            return from_flex(rows_times_held_bf16(&into_flex(x), &into_flex(w)));
        }
        return x.matmul(w.cast(dtype));
    }
    in_dtype(in_dtype(x, weight_dtype).matmul(w), dtype)
}

/// `w` held for [`times_weight`]'s one-row products on Flex: a bf16 `[d_in, d_out]` weight
/// stored as HF stores it, `[d_out, d_in]` in memory (in huge pages, [`in_huge_pages`]), and
/// seen through a transposed view — the same shape and values, each output's weights
/// contiguous. Flex then takes each output as one dot product over a contiguous stretch (the
/// tied LM head's kernels), which reads bf16 faster than summing rows of `[d_in, d_out]`: on a
/// 2-core Xeon (Intel family 6 model 167), bf16 products of 800 MB of `[1024, n]` weights, a
/// throwaway harness, two rounds: 27.6–29.5 GB/s against 20.4–26.5 GB/s as rows.
///
/// Any other backend or dtype: `w` as it is. A product of several rows takes `gemm` on
/// blocks of columns widened in cache (`rows_times_held_bf16`).
///
/// # Shapes
/// - `w`: `[d_in, d_out]`; returns `[d_in, d_out]`
pub fn in_row_product_layout<B: Backend>(w: Tensor<B, 2>) -> Tensor<B, 2> {
    if !is_flex::<B>() || w.dtype() != DType::BF16 || is_in_row_product_layout(&w) {
        return w;
    }
    let hf_layout = into_flex(w.transpose()).to_contiguous();
    in_huge_pages(from_flex::<B, 2>(hf_layout)).transpose()
}

/// Whether `w` is a Flex tensor held in [`in_row_product_layout`]'s layout: `[k, n]` whose
/// columns are contiguous (strides `[1, k]`), rows not.
pub fn is_in_row_product_layout<B: Backend>(w: &Tensor<B, 2>) -> bool {
    if !is_flex::<B>() {
        return false;
    }
    let w = into_flex(w.clone());
    let [k, n] = [w.layout().shape()[0], w.layout().shape()[1]];
    let strides = w.layout().strides();
    n > 1 && strides[0] == 1 && strides[1] == k as isize
}

/// Side of the square tiles [`widen_columns`] transposes.
const TILE: usize = 16;

/// Output columns a task of [`rows_times_held_bf16`] computes.
const COLUMN_BLOCK: usize = 256;

/// `x · W` for f32 rows and a bf16 weight in the row-product layout, in f32: on rayon's
/// threads, blocks of [`COLUMN_BLOCK`] output columns, each widening its columns of `W` into an
/// f32 `[k, block]` buffer (small enough to stay in cache) and handing it to `gemm` with the
/// rows — so the weight is read once as bf16 and never written out whole as f32. `gemm` reads
/// `[d_in, d_out]` rows fastest: from a transposed f32 view of the whole weight a prefill's
/// products took 15 % longer, and widening the whole weight first (Flex's bf16 product does)
/// costs a write and a read of twice its bytes.
///
/// # Shapes
/// - `x`: `[m, k]`, f32
/// - `w`: `[k, n]`, strides `[1, k]`, bf16
/// - returns `[m, n]`, contiguous, f32
fn rows_times_held_bf16(x: &burn_flex::FlexTensor, w: &burn_flex::FlexTensor) -> burn_flex::FlexTensor {
    use rayon::prelude::*;
    let x = x.to_contiguous();
    let [m, k] = [x.layout().shape()[0], x.layout().shape()[1]];
    let n = w.layout().shape()[1];
    let lhs: &[f32] = &x.storage::<f32>()[x.layout().start_offset()..];
    let src: &[half::bf16] = &w.storage::<half::bf16>()[w.layout().start_offset()..];
    let mut out = vec![0f32; m * n];
    let dst = SharedOutput(out.as_mut_ptr());
    let blocks = if m == 0 || k == 0 {
        0
    } else {
        n.div_ceil(COLUMN_BLOCK)
    };
    (0..blocks).into_par_iter().for_each(|block| {
        let (first, width) = (block * COLUMN_BLOCK, COLUMN_BLOCK.min(n - block * COLUMN_BLOCK));
        let widened = widen_columns(src, k, first, width);
        // Safety: `lhs` is `[m, k]` and `widened` `[k, width]`, both contiguous; the task
        // writes only columns `first..first + width` of `out` (`[m, n]`, contiguous), which no
        // other task writes, and `out` outlives the parallel loop.
        unsafe {
            gemm_product::product(
                [m, width, k],
                Strided {
                    at: dst.at(first),
                    column_stride: 1,
                    row_stride: n,
                },
                Strided {
                    at: lhs.as_ptr(),
                    column_stride: 1,
                    row_stride: k,
                },
                Strided {
                    at: widened.as_ptr(),
                    column_stride: 1,
                    row_stride: width,
                },
            );
        }
    });
    burn_flex::FlexTensor::new(
        burn_std::Bytes::from_elems(out),
        burn_flex::Layout::contiguous(burn_std::Shape::new([m, n])),
        DType::F32,
    )
}

/// The output buffer of [`rows_times_held_bf16`], shared by its tasks (each writes its own
/// columns).
#[derive(Clone, Copy)]
struct SharedOutput(*mut f32);

// Safety: the tasks write disjoint columns (see `rows_times_held_bf16`).
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    fn at(self, column: usize) -> *mut f32 {
        self.0.wrapping_add(column)
    }
}

/// Columns `first..first + width` of a bf16 `[k, n]` weight held as `[n, k]` (`src`), widened
/// to an f32 `[k, width]` buffer with rows contiguous: tile by tile, [`TILE`] contiguous
/// stretches of the source widened into a tile on the stack, then written out as [`TILE`]
/// contiguous stretches of the buffer.
fn widen_columns(src: &[half::bf16], k: usize, first: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0f32; k * width];
    let mut tile = [[0f32; TILE]; TILE];
    for i0 in (0..k).step_by(TILE) {
        let rows = TILE.min(k - i0);
        for c0 in (0..width).step_by(TILE) {
            let cols = TILE.min(width - c0);
            // 1. tile[c][r] = w[i0 + r, first + c0 + c], read along the source's rows
            for (c, line) in tile.iter_mut().enumerate().take(cols) {
                let from = (first + c0 + c) * k + i0;
                for (t, v) in line.iter_mut().zip(&src[from..from + rows]) {
                    *t = v.to_f32();
                }
            }
            // 2. out[i0 + r, c0 + c] = tile[c][r], written along the buffer's rows
            for r in 0..rows {
                let row = &mut out[(i0 + r) * width + c0..(i0 + r) * width + c0 + cols];
                for (c, o) in row.iter_mut().enumerate() {
                    *o = tile[c][r];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;
    use burn::tensor::{DType, Distribution, FloatDType};

    use super::{in_row_product_layout, is_in_row_product_layout, times_weight};

    /// `x · w` in f64 from the f32 values of `x` and of `w` (its bf16 values widened).
    fn exact(x: &[f32], w: &[f32], k: usize, n: usize) -> Vec<f64> {
        let rows = x.len() / k;
        let mut y = vec![0.0f64; rows * n];
        for r in 0..rows {
            for i in 0..k {
                for j in 0..n {
                    y[r * n + j] += f64::from(x[r * k + i]) * f64::from(w[i * n + j]);
                }
            }
        }
        y
    }

    fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.cast(FloatDType::F32).into_data().into_vec::<f32>().unwrap()
    }

    /// The largest |ours − exact| over Σ|xᵢ·wᵢⱼ| for each output (a relative error of the sum).
    fn relative_error(ours: &[f32], x: &[f32], w: &[f32], k: usize, n: usize) -> f64 {
        let want = exact(x, w, k, n);
        let abs_x: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let abs_w: Vec<f32> = w.iter().map(|v| v.abs()).collect();
        let scale = exact(&abs_x, &abs_w, k, n);
        ours.iter()
            .zip(want.iter().zip(&scale))
            .map(|(&o, (&e, &s))| (f64::from(o) - e).abs() / s.max(f64::MIN_POSITIVE))
            .fold(0.0, f64::max)
    }

    /// On Flex, f32 rows times bf16 weights are summed in f32 from the unrounded rows: within
    /// f32's rounding of the exact product of the same values (far inside bf16's 2⁻⁸), for one
    /// row (the row-vector kernels; rows or columns of `w` contiguous) and for several (gemm;
    /// columns contiguous: blocks of columns widened tile by tile, with every kind of partial
    /// block and tile).
    #[test]
    fn flex_sums_f32_rows_with_bf16_values_in_f32() {
        let device = Default::default();
        for (rows, k, n) in [(1, 300, 70), (3, 300, 70), (5, 37, 600), (2, 16, 256)] {
            let x = Tensor::<Flex, 2>::random([rows, k], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<Flex, 2>::random([k, n], Distribution::Normal(0.0, 1.0), &device)
                .cast(FloatDType::BF16);
            let (xv, wv) = (values(x.clone()), values(w.clone()));
            let y = times_weight(x.clone(), w.clone());
            assert_eq!(y.dtype(), DType::F32);
            assert_eq!(y.dims(), [rows, n]);
            let err = relative_error(&values(y), &xv, &wv, k, n);
            assert!(err < 1e-5, "{rows}×{k}×{n}: relative error {err:e}");

            // the same weights held as `[n, k]` and read through a transposed view
            let wt = w
                .clone()
                .transpose()
                .cast(FloatDType::F32)
                .cast(FloatDType::BF16)
                .transpose();
            let err = relative_error(&values(times_weight(x, wt)), &xv, &wv, k, n);
            assert!(
                err < 1e-5,
                "{rows}×{k}×{n}, transposed view: relative error {err:e}"
            );
        }
    }

    /// Elsewhere (here: autodiff over Flex) the rows are rounded to bf16 and the result too:
    /// an error of bf16's size, which the f32 path above does not have.
    #[test]
    fn other_backends_round_to_the_weight_dtype() {
        type A = Autodiff<Flex>;
        let device = Default::default();
        let (k, n) = (300, 70);
        let x = Tensor::<A, 2>::random([1, k], Distribution::Normal(0.0, 1.0), &device);
        let w =
            Tensor::<A, 2>::random([k, n], Distribution::Normal(0.0, 1.0), &device).cast(FloatDType::BF16);
        let (xv, wv) = (values(x.clone()), values(w.clone()));
        let y = times_weight(x, w);
        assert_eq!(y.dtype(), DType::F32);
        let err = relative_error(&values(y), &xv, &wv, k, n);
        assert!(err > 1e-4 && err < 2f64.powi(-6), "relative error {err:e}");
    }

    /// The row-product layout keeps a bf16 weight's shape and values, makes its columns
    /// contiguous, and leaves f32 weights (and weights elsewhere than on Flex) as they are.
    #[test]
    fn row_product_layout_keeps_shape_and_values() {
        let device = Default::default();
        let w = Tensor::<Flex, 2>::random([40, 24], Distribution::Normal(0.0, 1.0), &device);
        let held = in_row_product_layout(w.clone().cast(FloatDType::BF16));
        assert_eq!(held.dims(), [40, 24]);
        assert!(is_in_row_product_layout(&held));
        assert_eq!(values(held), values(w.clone().cast(FloatDType::BF16)));
        assert!(
            !is_in_row_product_layout(&in_row_product_layout(w.clone())),
            "f32 moved"
        );
        let w = Tensor::<Autodiff<Flex>, 2>::from_data(w.into_data(), &device).cast(FloatDType::BF16);
        assert!(
            !is_in_row_product_layout(&in_row_product_layout(w)),
            "autodiff moved"
        );
    }

    /// A LoRA adapter merged into and unmerged from a bf16 weight in the row-product layout
    /// leaves it in that layout, and the merged projection computes what the unmerged one does
    /// (within the bf16 rounding of the merge).
    #[test]
    fn merging_keeps_the_row_product_layout() {
        use crate::lora::{LoraAdapter, LoraConfig};
        use crate::model::Projection;
        let device = Default::default();
        let (k, n) = (64, 48);
        let w = Tensor::<Flex, 2>::random([k, n], Distribution::Normal(0.0, 0.5), &device);
        let mut proj = Projection::new(in_row_product_layout(w.cast(FloatDType::BF16)));
        let a = Tensor::random([4, k], Distribution::Normal(0.0, 0.5), &device);
        let b = Tensor::random([n, 4], Distribution::Normal(0.0, 0.5), &device);
        proj.lora = Some(LoraAdapter::from_weights(&LoraConfig::new(4, 8.0), a, b));
        let x = Tensor::<Flex, 2>::random([1, k], Distribution::Normal(0.0, 1.0), &device);
        let unmerged = values(proj.forward(x.clone()));
        proj.merge();
        assert!(
            is_in_row_product_layout(&proj.base.weight.val()),
            "merge moved the weight"
        );
        let merged = values(proj.forward(x.clone()));
        let largest = unmerged.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (m, u) in merged.iter().zip(&unmerged) {
            assert!((m - u).abs() <= 2f32.powi(-6) * largest, "{m} vs {u}");
        }
        proj.unmerge();
        assert!(
            is_in_row_product_layout(&proj.base.weight.val()),
            "unmerge moved the weight"
        );
    }

    /// Equal dtypes are a plain product.
    #[test]
    fn equal_dtypes_are_a_plain_product() {
        let device = Default::default();
        let x = Tensor::<Flex, 2>::random([2, 5], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<Flex, 2>::random([5, 3], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(values(times_weight(x.clone(), w.clone())), values(x.matmul(w)));
    }
}
