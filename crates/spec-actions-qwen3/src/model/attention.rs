//! [`Attention`]: grouped-query self-attention with per-head q/k RMSNorm and RoPE, plus
//! [`StepContext`], the positions and masks of one forward call.

use burn::prelude::*;

use super::cache::LayerKv;
use super::norm::RmsNorm;
use super::projection::Projection;
use super::rope::{RopeTables, RotaryEmbedding};
use super::scaled_dot_product::attend;

/// Additive bias of a masked key in a query row that attends at least one key: `exp` of it is
/// exactly 0, as `exp(-1e30)` is, but `-inf` takes libm's quick path where a huge finite
/// negative takes the underflow path (errno and all) — a tenth of a tiny model's training step
/// went there, half of every causal score matrix being masked.
const MASKED: f32 = f32::NEG_INFINITY;
/// Additive bias of the keys of a fully masked query row (left padding): finite, so that the
/// row gives a uniform distribution instead of NaN.
const MASKED_ROW: f32 = -1e30;

/// Positions and masks shared by all layers of one forward call.
#[derive(Debug, Clone)]
pub struct StepContext<B: Backend> {
    /// cos/sin of each query position, for query and key heads.
    pub rope: RopeTables<B>,
    /// Additive score bias `[batch, kv_heads, group, seq, keys]` (0, `-inf` for a masked key,
    /// or `-1e30` where a whole row is masked), laid out exactly like the attention scores so
    /// that adding it is one contiguous pass (a bias broadcast over the heads makes Flex walk
    /// the scores element by element); for very long calls `[batch, 1, 1, seq, keys]`,
    /// broadcast (see `MAX_EXPANDED_BIAS`). `None` when every query may attend every key (one
    /// decode step without padding).
    pub bias: Option<Tensor<B, 5>>,
    /// Positions already in the KV cache (the offset at which this call's keys are written).
    pub past_len: usize,
}

impl<B: Backend> StepContext<B> {
    /// Builds the context of a call over `seq` new tokens per row.
    ///
    /// - `key_valid[r][j]`: whether key `j` (over `past_len + seq` cached and new positions) of
    ///   row `r` is a real token (false for padding);
    /// - `positions[r][i]`: the RoPE position of new token `i` of row `r`.
    ///
    /// Query `i` attends key `j` iff `j <= past_len + i` (causal) and `key_valid[r][j]`.
    pub fn new(
        rotary: &RotaryEmbedding,
        key_valid: &[Vec<bool>],
        positions: &[Vec<usize>],
        past_len: usize,
        device: &B::Device,
    ) -> Self {
        let seq = positions.first().map_or(0, Vec::len);
        let keys = past_len + seq;
        let all_valid = key_valid.iter().all(|row| row.iter().take(keys).all(|&v| v));
        let bias = (seq != 1 || !all_valid).then(|| {
            score_bias(rotary, positions, past_len, device, |r, i, j| {
                j <= past_len + i && key_valid[r].get(j) == Some(&true)
            })
        });
        Self {
            rope: rotary.tables(positions, device),
            bias,
            past_len,
        }
    }

    /// A context with an explicit attention pattern: `allowed[r][i][j]` says whether new
    /// token `i` of row `r` may attend key `j` (over `past_len + seq` keys). Used for tree
    /// attention, where several continuations share one row after a common prefix.
    pub fn with_pattern(
        rotary: &RotaryEmbedding,
        allowed: &[Vec<Vec<bool>>],
        positions: &[Vec<usize>],
        past_len: usize,
        device: &B::Device,
    ) -> Self {
        let bias = score_bias(rotary, positions, past_len, device, |r, i, j| {
            allowed[r][i].get(j) == Some(&true)
        });
        Self {
            rope: rotary.tables(positions, device),
            bias: Some(bias),
            past_len,
        }
    }
}

/// The additive bias of `attends(row, query, key)`, expanded to the scores' layout.
///
/// # Shapes
/// - returns `[batch, kv_heads, group, seq, past_len + seq]`
fn score_bias<B: Backend>(
    rotary: &RotaryEmbedding,
    positions: &[Vec<usize>],
    past_len: usize,
    device: &B::Device,
    attends: impl Fn(usize, usize, usize) -> bool,
) -> Tensor<B, 5> {
    let batch = positions.len();
    let seq = positions.first().map_or(0, Vec::len);
    let keys = past_len + seq;
    let mut bias = Vec::with_capacity(batch * seq * keys);
    for r in 0..batch {
        for i in 0..seq {
            // one pass over the keys: 0 where attended, MASKED elsewhere, and the whole row
            // MASKED_ROW when nothing is attended
            let row_start = bias.len();
            bias.extend((0..keys).map(|j| if attends(r, i, j) { 0.0 } else { MASKED }));
            if bias[row_start..].iter().all(|&b| b == MASKED) {
                bias[row_start..].fill(MASKED_ROW);
            }
        }
    }
    let [heads, kv_heads] = rotary.heads();
    let bias = Tensor::<B, 5>::from_data(TensorData::new(bias, [batch, 1, 1, seq, keys]), device);
    if batch * heads * seq * keys > MAX_EXPANDED_BIAS {
        // long sequences: a broadcast bias (slower to add on Flex, but `heads` times smaller)
        return bias;
    }
    bias.repeat_dim(1, kv_heads)
        .repeat_dim(2, heads / kv_heads.max(1))
}

/// Largest score bias (in elements, 64 Mi = 256 MiB in f32) laid out per head; above it the
/// bias stays `[batch, 1, 1, seq, keys]` and is broadcast over the heads when added.
const MAX_EXPANDED_BIAS: usize = 64 << 20;

/// Self-attention of one decoder layer.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Projection<B>,
    pub k_proj: Projection<B>,
    pub v_proj: Projection<B>,
    pub o_proj: Projection<B>,
    /// RMSNorm over each query head's `head_dim` features, before RoPE.
    pub q_norm: RmsNorm<B>,
    /// RMSNorm over each key head's `head_dim` features, before RoPE.
    pub k_norm: RmsNorm<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        ctx: &StepContext<B>,
        cache: Option<&mut LayerKv<B>>,
    ) -> Tensor<B, 3> {
        let [b, s, _] = x.dims();
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let group = nh / nkv;

        // 1. Project and split into heads.
        let q = self.q_proj.forward(x.clone()).reshape([b, s, nh, hd]);
        let k = self.k_proj.forward(x.clone()).reshape([b, s, nkv, hd]);
        let v = self.v_proj.forward(x).reshape([b, s, nkv, hd]).swap_dims(1, 2);

        // 2. Per-head RMSNorm of queries and keys.
        let q = self.q_norm.forward(q);
        let k = self.k_norm.forward(k);

        // 3. Rotary position embedding (in the projections' own contiguous layout), then
        //    heads first: [b, heads, s, hd].
        let q = ctx.rope.q.apply(q).swap_dims(1, 2);
        let k = ctx.rope.k.apply(k).swap_dims(1, 2);

        // 4. Append to the cache; attend over every cached position.
        let (k, v) = match cache {
            Some(cache) => cache.append(k, v, ctx.past_len),
            None => (k, v),
        };
        // 5. softmax(q·kᵀ/√hd + bias)·v, the `group` query heads sharing a kv head side by
        //    side (K and V are never repeated); under autodiff without keeping the scores
        //    (`scaled_dot_product::attend`).
        let q = q.reshape([b, nkv, group, s, hd]);
        let out = attend(q, k, v, ctx.bias.clone(), (hd as f64).powf(-0.5));

        // 6. Merge heads and project out.
        let out = out
            .reshape([b, nh, s, hd])
            .swap_dims(1, 2)
            .reshape([b, s, nh * hd]);
        self.o_proj.forward(out)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;
    use crate::config::Qwen3Config;

    /// The per-head bias layout and the broadcast one (used above `MAX_EXPANDED_BIAS`) give the
    /// same hidden states, with left padding and grouped-query heads.
    #[test]
    fn broadcast_bias_equals_per_head_bias() {
        let device = Default::default();
        let mut config = Qwen3Config::qwen3_0_6b();
        (config.vocab_size, config.hidden_size, config.intermediate_size) = (64, 32, 48);
        (
            config.num_hidden_layers,
            config.num_attention_heads,
            config.head_dim,
        ) = (2, 4, 8);
        config.num_key_value_heads = 2;
        let model = config.init::<Flex>(&device);
        let ids = Tensor::<Flex, 2, Int>::from_data(
            TensorData::new(vec![0i64, 0, 5, 9, 3, 7, 1, 2, 8, 4, 6, 11], [2, 6]),
            &device,
        );
        let mask = [vec![false, false, true, true, true, true], vec![true; 6]];
        let per_head = model.context_for(&ids, Some(&mask));
        let bias = per_head.bias.clone().expect("a prefill has a bias");
        let [b, kv, group, s, k] = bias.dims();
        assert_eq!([kv, group], [2, 2]);
        let mut broadcast = per_head.clone();
        broadcast.bias = Some(bias.slice([0..b, 0..1, 0..1, 0..s, 0..k]));
        let a = model.forward_hidden(ids.clone(), &per_head, None, None);
        let c = model.forward_hidden(ids, &broadcast, None, None);
        let diff = (a - c).abs().max().into_scalar();
        assert!(diff <= 1e-6, "max |Δ| {diff}");
    }
}
