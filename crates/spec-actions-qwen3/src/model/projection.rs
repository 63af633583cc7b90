//! [`Projection`]: a bias-free linear map, the unit that LoRA adapters wrap.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::in_dtype;
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
    /// rows are rounded to the weight dtype for the product and the result returned in `x`'s.
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
        let weight_dtype: FloatDType = self.base.weight.val().dtype().into();
        let y = match &self.lora {
            // 1. base path in the weight dtype, plus 2. the low-rank path (f32) unless it is
            //    merged into the base: summed in f32 and rounded once, as PEFT does with a bf16
            //    base and f32 adapters (all casts are no-ops for an f32 model)
            Some(lora) if !self.merged => {
                let low_rank = lora.forward(x.clone());
                let base = self.base.forward(in_dtype(x, weight_dtype));
                in_dtype(in_dtype(base, low_rank.dtype().into()) + low_rank, dtype)
            }
            _ => in_dtype(self.base.forward(in_dtype(x, weight_dtype)), dtype),
        };
        dims[D - 1] = y.dims()[1];
        y.reshape(dims)
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
/// memory as the weight it replaces ([`in_huge_pages`]).
fn add_in<B: Backend>(w: Tensor<B, 2>, delta: Tensor<B, 2>, sign: f64) -> Tensor<B, 2> {
    let dtype = w.dtype();
    in_huge_pages(
        (w.cast(delta.dtype()) + delta.mul_scalar(sign))
            .cast(dtype)
            .detach(),
    )
}
