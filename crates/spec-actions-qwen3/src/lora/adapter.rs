//! [`LoraAdapter`]: the trainable low-rank path `dropout(x)·Aᵀ·Bᵀ·scale` beside a frozen
//! projection, kept in f32 whatever the base model's compute dtype (see
//! [`crate::model::precision`]).

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use burn::tensor::{DType, Distribution, FloatDType};

use super::LoraConfig;

/// The dtype of LoRA parameters, their gradients and optimizer moments, and of the low-rank
/// path's arithmetic.
pub const LORA_DTYPE: FloatDType = FloatDType::F32;

/// The low-rank update of one projection, in PEFT's layout.
///
/// The path is computed as two small matmuls (`x·Aᵀ`, then `·Bᵀ`); the dense `ΔW = B·A` is only
/// formed by [`LoraAdapter::delta_weight`] when merging, never in the training graph.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// `lora_A.weight`: `[r, d_input]`, kaiming-uniform at init.
    pub lora_a: Param<Tensor<B, 2>>,
    /// `lora_B.weight`: `[d_output, r]`, zeros at init (so a new adapter changes nothing).
    pub lora_b: Param<Tensor<B, 2>>,
    /// Input dropout (identity outside training).
    pub dropout: Dropout,
    /// `alpha / r` (or `alpha / √r` with rsLoRA).
    pub scale: f64,
}

impl<B: Backend> LoraAdapter<B> {
    /// A fresh adapter for a `d_input → d_output` projection, initialised as PEFT does:
    /// `A ~ kaiming_uniform(a=√5)`, i.e. U(−1/√d_input, 1/√d_input), and `B = 0`.
    pub fn init(config: &LoraConfig, d_input: usize, d_output: usize, device: &B::Device) -> Self {
        let bound = 1.0 / (d_input as f64).sqrt();
        let options = (device, DType::from(LORA_DTYPE));
        let a = Tensor::random([config.r, d_input], Distribution::Uniform(-bound, bound), options);
        let b = Tensor::zeros([d_output, config.r], options);
        Self::from_weights(config, a, b)
    }

    /// An adapter from stored `lora_A.weight` `[r, d_input]` and `lora_B.weight` `[d_output, r]`,
    /// held in f32 ([`LORA_DTYPE`]) whatever their dtype.
    pub fn from_weights(config: &LoraConfig, lora_a: Tensor<B, 2>, lora_b: Tensor<B, 2>) -> Self {
        LoraAdapter {
            lora_a: Param::from_tensor(lora_a.cast(LORA_DTYPE)),
            lora_b: Param::from_tensor(lora_b.cast(LORA_DTYPE)),
            dropout: DropoutConfig::new(config.lora_dropout).init(),
            scale: config.scale(),
        }
    }

    /// `[d_input, d_output]`
    pub fn dims(&self) -> [usize; 2] {
        let [_, d_input] = self.lora_a.dims();
        let [d_output, _] = self.lora_b.dims();
        [d_input, d_output]
    }

    /// The low-rank path's contribution in the adapter's dtype (f32), to be added to the base
    /// projection's output: the input is cast to f32 first (a no-op for an f32 model).
    ///
    /// # Shapes
    /// - `x`: `[..., d_input]`
    /// - returns `[..., d_output]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let a = self.lora_a.val();
        let x = x.cast(FloatDType::from(a.dtype()));
        let a_t = a.transpose().unsqueeze::<D>(); // [1.., d_input, r]
        let b_t = self.lora_b.val().transpose().unsqueeze::<D>(); // [1.., r, d_output]
        self.dropout
            .forward(x)
            .matmul(a_t)
            .matmul(b_t)
            .mul_scalar(self.scale)
    }

    /// The dense update in burn's `Linear` layout, `(B·A)ᵀ·scale`, for merging (in the
    /// adapter's dtype, f32).
    ///
    /// # Shapes
    /// - returns `[d_input, d_output]`
    pub fn delta_weight(&self) -> Tensor<B, 2> {
        self.lora_a
            .val()
            .transpose()
            .matmul(self.lora_b.val().transpose())
            .mul_scalar(self.scale)
    }
}
