//! Rotary position embeddings in the rotate-half layout of transformers' Qwen3
//! (the two halves of a head are rotated against each other, not interleaved pairs).

use burn::prelude::*;
use burn::tensor::FloatDType;

use super::fused_elementwise::rope_on_flex;

/// Inverse frequencies of the default RoPE: `1 / theta^(2i / head_dim)`, computed in f32
/// as transformers does.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    inv_freq: Vec<f32>,
    /// Query heads and key/value heads: the tables are laid out for both.
    heads: [usize; 2],
}

/// cos and sign-folded sin of one set of heads, laid out exactly like the tensor they rotate.
#[derive(Debug, Clone)]
pub struct HeadTables<B: Backend> {
    /// `[batch, seq, heads, head_dim]`: `cos(angle)` over both halves.
    pub cos: Tensor<B, 4>,
    /// `[batch, seq, heads, head_dim]`: `-sin(angle)` over the first half, `sin(angle)` over
    /// the second, so that `rotate_half(x) · sin = swap_halves(x) · sin_signed`.
    pub sin_signed: Tensor<B, 4>,
}

/// The RoPE tables for the positions of one forward call, for queries and for keys.
///
/// The tables are materialised per head (not broadcast over heads): multiplying two
/// contiguous tensors of one shape is a straight vectorised loop on every backend, while a
/// broadcast over the head axis makes Flex walk both operands element by element (≈ 10 % of a
/// Qwen3-0.6B prefill before this layout).
#[derive(Debug, Clone)]
pub struct RopeTables<B: Backend> {
    /// Tables of the query heads.
    pub q: HeadTables<B>,
    /// Tables of the key heads.
    pub k: HeadTables<B>,
}

impl RotaryEmbedding {
    /// Frequencies for heads of `head_dim` features, for `num_heads` query heads and
    /// `num_kv_heads` key/value heads.
    pub fn new(head_dim: usize, theta: f64, num_heads: usize, num_kv_heads: usize) -> Self {
        let theta = theta as f32;
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        Self {
            inv_freq,
            heads: [num_heads, num_kv_heads],
        }
    }

    /// Query heads and key/value heads, `[num_heads, num_kv_heads]`.
    pub fn heads(&self) -> [usize; 2] {
        self.heads
    }

    /// Tables for the given positions (one row of positions per batch row).
    ///
    /// # Shapes
    /// - `positions`: `batch` rows of `seq` positions
    /// - returns query tables `[batch, seq, num_heads, head_dim]` and key tables
    ///   `[batch, seq, num_kv_heads, head_dim]`
    pub fn tables<B: Backend>(&self, positions: &[Vec<usize>], device: &B::Device) -> RopeTables<B> {
        let [q, k] = self.heads.map(|heads| self.head_tables(positions, heads, device));
        RopeTables { q, k }
    }

    fn head_tables<B: Backend>(
        &self,
        positions: &[Vec<usize>],
        heads: usize,
        device: &B::Device,
    ) -> HeadTables<B> {
        let batch = positions.len();
        let seq = positions.first().map_or(0, Vec::len);
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(batch * seq * heads * half * 2);
        let mut sin_signed = Vec::with_capacity(batch * seq * heads * half * 2);
        for row in positions {
            for &pos in row {
                let angles = self.inv_freq.iter().map(|&f| pos as f32 * f);
                let (c, s): (Vec<f32>, Vec<f32>) = angles.map(|a| (a.cos(), a.sin())).unzip();
                // emb = cat(freqs, freqs): the same angles for both halves, and for every head
                for _ in 0..heads {
                    cos.extend_from_slice(&c);
                    cos.extend_from_slice(&c);
                    sin_signed.extend(s.iter().map(|v| -v));
                    sin_signed.extend_from_slice(&s);
                }
            }
        }
        let shape = [batch, seq, heads, half * 2];
        HeadTables {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin_signed: Tensor::from_data(TensorData::new(sin_signed, shape), device),
        }
    }
}

impl<B: Backend> HeadTables<B> {
    /// `x·cos + rotate_half(x)·sin`, with `rotate_half([x1, x2]) = [-x2, x1]`, computed as
    /// `x·cos + [x2, x1]·sin_signed` (in one pass on Flex: [`rope_on_flex`], the same values).
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, heads, head_dim]`
    /// - returns `[batch, seq, heads, head_dim]`
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = match rope_on_flex(x, &self.cos, &self.sin_signed) {
            Ok(rotated) => return rotated,
            Err(x) => x,
        };
        let [b, s, h, d] = x.dims();
        let half = d / 2;
        let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..half]);
        let x2 = x.clone().slice([0..b, 0..s, 0..h, half..d]);
        let swapped = Tensor::cat(vec![x2, x1], 3);
        x * self.cos.clone() + swapped * self.sin_signed.clone()
    }

    fn cast(self, dtype: FloatDType) -> Self {
        Self {
            cos: self.cos.cast(dtype),
            sin_signed: self.sin_signed.cast(dtype),
        }
    }
}

impl<B: Backend> RopeTables<B> {
    /// The tables in `dtype` (the compute dtype of the model they serve).
    pub fn cast(self, dtype: FloatDType) -> Self {
        Self {
            q: self.q.cast(dtype),
            k: self.k.cast(dtype),
        }
    }
}
