//! [`Mlp`]: the SwiGLU feed-forward block `down(silu(gate(x)) · up(x))`.

use burn::prelude::*;
use burn::tensor::activation::silu;

use super::fused_elementwise::swiglu_on_flex;
use super::projection::Projection;

/// SwiGLU feed-forward block of one decoder layer.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: Projection<B>,
    pub up_proj: Projection<B>,
    pub down_proj: Projection<B>,
}

impl<B: Backend> Mlp<B> {
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = self.gate_proj.forward(x.clone());
        let up = self.up_proj.forward(x);
        // one pass on Flex (`fused_elementwise`), the same values as burn's ops
        let gated = match swiglu_on_flex(gate, up) {
            Ok(gated) => gated,
            Err((gate, up)) => silu(gate) * up,
        };
        self.down_proj.forward(gated)
    }
}
