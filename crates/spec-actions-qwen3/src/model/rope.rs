//! Rotary position embeddings in the rotate-half layout of transformers' Qwen3
//! (the two halves of a head are rotated against each other, not interleaved pairs).

use burn::prelude::*;

/// Inverse frequencies of the default RoPE: `1 / theta^(2i / head_dim)`, computed in f32
/// as transformers does.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    inv_freq: Vec<f32>,
}

/// The cos and sin tables for the positions of one forward call.
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    /// `[batch, 1, seq, head_dim]`
    pub cos: Tensor<B, 4>,
    /// `[batch, 1, seq, head_dim]`
    pub sin: Tensor<B, 4>,
}

impl RotaryEmbedding {
    pub fn new(head_dim: usize, theta: f64) -> Self {
        let theta = theta as f32;
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        Self { inv_freq }
    }

    /// Tables for the given positions (one row of positions per batch row).
    ///
    /// # Shapes
    /// - `positions`: `batch` rows of `seq` positions
    /// - returns cos/sin of `[batch, 1, seq, head_dim]`
    pub fn tables<B: Backend>(&self, positions: &[Vec<usize>], device: &B::Device) -> RopeTables<B> {
        let batch = positions.len();
        let seq = positions.first().map_or(0, Vec::len);
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(batch * seq * half * 2);
        let mut sin = Vec::with_capacity(batch * seq * half * 2);
        for row in positions {
            for &pos in row {
                // emb = cat(freqs, freqs): the same angles for both halves
                let start = cos.len();
                for &f in &self.inv_freq {
                    let angle = pos as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
                cos.extend_from_within(start..start + half);
                sin.extend_from_within(start..start + half);
            }
        }
        let shape = [batch, 1, seq, half * 2];
        RopeTables {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }
}

impl<B: Backend> RopeTables<B> {
    /// `x·cos + rotate_half(x)·sin`, with `rotate_half([x1, x2]) = [-x2, x1]`.
    ///
    /// # Shapes
    /// - `x`: `[batch, heads, seq, head_dim]`
    /// - returns `[batch, heads, seq, head_dim]`
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, s, d] = x.dims();
        let half = d / 2;
        let x1 = x.clone().slice([0..b, 0..h, 0..s, 0..half]);
        let x2 = x.clone().slice([0..b, 0..h, 0..s, half..d]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}
