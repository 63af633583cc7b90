//! [`RmsNorm`]: root-mean-square normalisation with statistics in f32, as transformers'
//! `Qwen3RMSNorm`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::fused_elementwise::rms_norm_on_flex;

/// `y = w · x / sqrt(mean(x²) + eps)` over the last dimension.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// `[dim]`
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// Wraps a loaded weight vector.
    pub fn new(weight: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            eps,
        }
    }

    /// Normalises over the last dimension. Statistics are computed in f32 whatever the
    /// compute dtype; the result is cast back before the weight is applied (as transformers does).
    /// In f32 on Flex, one pass over each row ([`rms_norm_on_flex`]).
    ///
    /// # Shapes
    /// - `x`: `[..., dim]`
    /// - returns `[..., dim]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        // one pass on Flex in f32 (`fused_elementwise`; the same up to the order of the sum)
        let x = match rms_norm_on_flex(x, &self.weight.val(), self.eps) {
            Ok(normed) => return normed,
            Err(x) => x,
        };
        let dtype = x.dtype();
        // 1. mean of squares in f32
        let x32 = x.cast(FloatDType::F32);
        let variance = x32.clone().powi_scalar(2).mean_dim(D - 1);
        // 2. scale by the reciprocal root
        let normed = x32 * (variance + self.eps).sqrt().recip();
        // 3. back to the compute dtype, then the learned gain
        let normed: Tensor<B, D> = normed.cast(dtype);
        normed * self.weight.val().unsqueeze::<D>()
    }
}
