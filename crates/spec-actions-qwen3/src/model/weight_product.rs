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
//! - more rows: `gemm` on the matrix widened to f32, what Flex's bf16 product does inside.
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

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType, TensorPrimitive};

use super::in_dtype;
use super::scaled_dot_product::same_type;
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
    let on_flex = std::any::TypeId::of::<B>() == std::any::TypeId::of::<Flex>();
    if on_flex && x.dtype() == DType::F32 && w.dtype() == DType::BF16 {
        if x.dims()[0] == 1
            && let Some(y) = burn_flex::f32_row_times_bf16(&flex(x.clone()), &flex(w.clone()))
        {
            return back(y);
        }
        // widened where its bytes are contiguous: `[d_out, d_in]` for a weight in the
        // row-product layout, so that the cast reads it in order
        let widened = match is_in_row_product_layout(&w) {
            true => w.transpose().cast(dtype).transpose(),
            false => w.cast(dtype),
        };
        return x.matmul(widened);
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
/// Any other backend or dtype: `w` as it is. A product of several rows widens the weight to
/// f32 in this layout and hands `gemm` the transposed view.
///
/// # Shapes
/// - `w`: `[d_in, d_out]`; returns `[d_in, d_out]`
pub fn in_row_product_layout<B: Backend>(w: Tensor<B, 2>) -> Tensor<B, 2> {
    let on_flex = std::any::TypeId::of::<B>() == std::any::TypeId::of::<Flex>();
    if !on_flex || w.dtype() != DType::BF16 || is_in_row_product_layout(&w) {
        return w;
    }
    let hf_layout = flex(w.transpose()).to_contiguous();
    in_huge_pages(back::<B>(hf_layout)).transpose()
}

/// Whether `w` is a Flex tensor held in [`in_row_product_layout`]'s layout: `[k, n]` whose
/// columns are contiguous (strides `[1, k]`), rows not.
pub fn is_in_row_product_layout<B: Backend>(w: &Tensor<B, 2>) -> bool {
    let on_flex = std::any::TypeId::of::<B>() == std::any::TypeId::of::<Flex>();
    if !on_flex {
        return false;
    }
    let w = flex(w.clone());
    let [k, n] = [w.layout().shape()[0], w.layout().shape()[1]];
    let strides = w.layout().strides();
    n > 1 && strides[0] == 1 && strides[1] == k as isize
}

/// `t` as a tensor of `B` (`B` is Flex).
fn back<B: Backend>(t: burn_flex::FlexTensor) -> Tensor<B, 2> {
    let t = same_type::<_, B::FloatTensorPrimitive>(t).unwrap_or_else(|_| unreachable!("B is Flex"));
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// The Flex tensor of `t` (`B` is Flex).
fn flex<B: Backend>(t: Tensor<B, 2>) -> burn_flex::FlexTensor {
    let t = same_type::<_, Tensor<Flex, 2>>(t).unwrap_or_else(|_| unreachable!("B is Flex"));
    t.into_primitive().tensor()
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
    /// row (the row-vector kernels; rows or columns of `w` contiguous) and for several (gemm).
    #[test]
    fn flex_sums_f32_rows_with_bf16_values_in_f32() {
        let device = Default::default();
        let (k, n) = (300, 70);
        for rows in [1, 3] {
            let x = Tensor::<Flex, 2>::random([rows, k], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<Flex, 2>::random([k, n], Distribution::Normal(0.0, 1.0), &device)
                .cast(FloatDType::BF16);
            let (xv, wv) = (values(x.clone()), values(w.clone()));
            let y = times_weight(x.clone(), w.clone());
            assert_eq!(y.dtype(), DType::F32);
            assert_eq!(y.dims(), [rows, n]);
            let err = relative_error(&values(y), &xv, &wv, k, n);
            assert!(err < 1e-5, "{rows} rows: relative error {err:e}");

            // the same weights held as `[n, k]` and read through a transposed view
            let wt = w
                .clone()
                .transpose()
                .cast(FloatDType::F32)
                .cast(FloatDType::BF16)
                .transpose();
            let err = relative_error(&values(times_weight(x, wt)), &xv, &wv, k, n);
            assert!(err < 1e-5, "{rows} rows, transposed view: relative error {err:e}");
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
