//! [`Projection`]: a bias-free linear map, the unit that LoRA adapters wrap.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

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
    /// read once for all rows (a batched matmul would stream it once per batch row).
    ///
    /// # Shapes
    /// - `x`: `[..., d_input]`
    /// - returns `[..., d_output]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut dims = x.dims();
        let d_input = dims[D - 1];
        let rows = x.shape().num_elements() / d_input.max(1);
        let x = x.reshape([rows, d_input]);
        let y = match &self.lora {
            // 1. base path, plus 2. the low-rank path unless it is merged into the base
            Some(lora) if !self.merged => self.base.forward(x.clone()) + lora.forward(x),
            _ => self.base.forward(x),
        };
        dims[D - 1] = y.dims()[1];
        y.reshape(dims)
    }

    /// Folds the adapter into the base weight (`W += (B·A)ᵀ·scale`). No-op without an
    /// adapter or when already merged.
    pub fn merge(&mut self) {
        if let (Some(lora), false) = (&self.lora, self.merged) {
            let delta = lora.delta_weight();
            self.base.weight = self.base.weight.clone().map(|w| (w + delta).detach());
            self.merged = true;
        }
    }

    /// Subtracts a merged adapter back out of the base weight. No-op unless merged.
    pub fn unmerge(&mut self) {
        if let (Some(lora), true) = (&self.lora, self.merged) {
            let delta = lora.delta_weight();
            self.base.weight = self.base.weight.clone().map(|w| (w - delta).detach());
            self.merged = false;
        }
    }
}
