//! [`Projection`]: a bias-free linear map, the unit that LoRA adapters wrap.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::in_dtype;
use super::weight_product::{in_row_product_layout, is_in_row_product_layout, times_weight};
use crate::huge_pages::in_huge_pages;
use crate::lora::LoraAdapter;

/// A bias-free linear projection `y = x·W`, as every q/k/v/o and MLP projection of Qwen3.
///
/// Kept as its own type (rather than a bare [`Linear`]) so that a low-rank adapter can be
/// attached to exactly these seven projections without touching the layers that use them.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    /// The frozen base map; `base.weight` is `[d_input, d_output]` (the transpose of HF's layout).
    pub base: Linear<B>,
    /// Low-rank adapter (see [`crate::lora`]); `None` without LoRA.
    pub lora: Option<LoraAdapter<B>>,
    /// Whether `lora` is folded into `base` (then the forward pass skips the adapter path).
    pub merged: bool,
}

impl<B: Backend> Projection<B> {
    /// Builds a projection from a contiguous `[d_input, d_output]` weight (the transpose of
    /// the HF/PyTorch layout; see [`super::WeightSource::projection`]).
    pub fn new(weight: Tensor<B, 2>) -> Self {
        Self {
            base: Linear {
                weight: Param::from_tensor(weight),
                bias: None,
            },
            lora: None,
            merged: false,
        }
    }

    /// `[d_input, d_output]`
    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
    }

    /// Applies the projection. Leading dimensions are flattened first so that the weight is
    /// read once for all rows (a batched matmul would stream it once per batch row). When the
    /// weight's dtype differs from `x`'s (bf16 weights, f32 compute: [`super::precision`]), the
    /// product is [`times_weight`]'s and the result returned in `x`'s dtype.
    ///
    /// # Shapes
    /// - `x`: `[..., d_input]`
    /// - returns `[..., d_output]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut dims = x.dims();
        let d_input = dims[D - 1];
        let rows = x.shape().num_elements() / d_input.max(1);
        let x = x.reshape([rows, d_input]);
        let dtype: FloatDType = x.dtype().into();
        let y = match &self.lora {
            // 1. the base map (in `x`'s dtype, `base_forward`), plus 2. the low-rank path (f32)
            //    unless it is merged into the base: summed in f32 and rounded once, as PEFT does
            //    with a bf16 base and f32 adapters (all casts are no-ops for an f32 model)
            Some(lora) if !self.merged => {
                let low_rank = lora.forward(x.clone());
                let base = self.base_forward(x);
                in_dtype(in_dtype(base, low_rank.dtype().into()) + low_rank, dtype)
            }
            _ => self.base_forward(x),
        };
        dims[D - 1] = y.dims()[1];
        y.reshape(dims)
    }

    /// The base map of `[rows, d_input]` rows, in `x`'s dtype: [`times_weight`] (computed in
    /// f32 from bf16 weights on Flex), or with a bias (not Qwen3's) [`Linear::forward`] on the
    /// rows rounded to the weight dtype.
    fn base_forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.base.bias {
            None => times_weight(x, self.base.weight.val()),
            Some(_) => {
                let dtype = x.dtype().into();
                in_dtype(
                    self.base
                        .forward(in_dtype(x, self.base.weight.val().dtype().into())),
                    dtype,
                )
            }
        }
    }

    /// Folds the adapter into the base weight (`W += (B·A)ᵀ·scale`). The sum is formed in the
    /// adapter's dtype (f32) and rounded once to the base weight's dtype, so a bf16 base stays
    /// bf16. No-op without an adapter or when already merged.
    pub fn merge(&mut self) {
        if let (Some(lora), false) = (&self.lora, self.merged) {
            let delta = lora.delta_weight();
            self.base.weight = self.base.weight.clone().map(|w| add_in(w, delta, 1.0));
            self.merged = true;
        }
    }

    /// Subtracts a merged adapter back out of the base weight (exact in f32; in bf16 it
    /// restores the weight up to the rounding of the merge, as in PEFT). No-op unless merged.
    pub fn unmerge(&mut self) {
        if let (Some(lora), true) = (&self.lora, self.merged) {
            let delta = lora.delta_weight();
            self.base.weight = self.base.weight.clone().map(|w| add_in(w, delta, -1.0));
            self.merged = false;
        }
    }
}

/// `w + sign·delta` computed in `delta`'s dtype and cast back to `w`'s, detached, in huge-page
/// memory ([`in_huge_pages`]) and the layout of the weight it replaces
/// ([`in_row_product_layout`]).
fn add_in<B: Backend>(w: Tensor<B, 2>, delta: Tensor<B, 2>, sign: f64) -> Tensor<B, 2> {
    let dtype = w.dtype();
    let row_product_layout = is_in_row_product_layout(&w);
    let sum = (w.cast(delta.dtype()) + delta.mul_scalar(sign))
        .cast(dtype)
        .detach();
    match row_product_layout {
        true => in_row_product_layout(sum),
        false => in_huge_pages(sum),
    }
}
