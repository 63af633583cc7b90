//! [`WeightSource`]: where a model's tensors come from when it is built (random
//! initialisation or a checkpoint), so that one constructor serves both.

use burn::prelude::*;
use burn::tensor::Distribution;

/// Supplies each named tensor of a Qwen3 model while it is being built.
///
/// Names and shapes are those of the HF checkpoint (`model.layers.0.self_attn.q_proj.weight`,
/// matrices in `[d_output, d_input]` layout).
pub trait WeightSource<B: Backend> {
    /// A matrix of HF shape `[rows, cols]`.
    fn matrix(&mut self, name: &str, shape: [usize; 2]) -> Tensor<B, 2>;
    /// The weight of a projection whose HF matrix is `[d_output, d_input]`, returned
    /// transposed and contiguous as `[d_input, d_output]` (the layout Flex multiplies fastest:
    /// see `benches/projection_layout.rs`).
    fn projection(&mut self, name: &str, hf_shape: [usize; 2]) -> Tensor<B, 2>;
    /// A vector of length `len` (norm weights).
    fn vector(&mut self, name: &str, len: usize) -> Tensor<B, 1>;
}

/// Random weights: matrices `N(0, std²)`, norm weights `U(0.9, 1.1)` (around 1 so that norms
/// are exercised). For benches and from-scratch training.
#[derive(Debug, Clone)]
pub struct RandomWeights<'a, B: Backend> {
    pub std: f64,
    pub device: &'a B::Device,
}

impl<B: Backend> WeightSource<B> for RandomWeights<'_, B> {
    fn matrix(&mut self, _name: &str, shape: [usize; 2]) -> Tensor<B, 2> {
        Tensor::random(shape, Distribution::Normal(0.0, self.std), self.device)
    }

    fn projection(&mut self, _name: &str, [out, inp]: [usize; 2]) -> Tensor<B, 2> {
        Tensor::random([inp, out], Distribution::Normal(0.0, self.std), self.device)
    }

    fn vector(&mut self, _name: &str, len: usize) -> Tensor<B, 1> {
        Tensor::random([len], Distribution::Uniform(0.9, 1.1), self.device)
    }
}
