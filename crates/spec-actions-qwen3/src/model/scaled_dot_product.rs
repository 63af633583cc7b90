//! Scaled dot-product attention, `softmax(Q·Kᵀ·scale + bias)·V`, the core of
//! [`Attention`](super::attention::Attention), in two forms:
//!
//! - [`dense`] materialises every score (`[batch, kv_heads, group, seq, keys]`) and lets the
//!   backend's autodiff differentiate it. Fast, and what inference runs; but under autodiff
//!   every layer keeps its scores (and the softmax's intermediates) until the backward pass:
//!   layers × batch × heads × seq² elements, ≥ 13.5 GiB for Qwen3-8B at the `qwen3` preset's
//!   2 × 1,024 tokens. burn 0.21's fused `attention` does not help: its autodiff falls back to
//!   the dense form (`burn_backend::attention_fallback`).
//! - [`recomputed`], a custom autodiff operation in the manner of FlashAttention's backward: the
//!   forward pass runs over query chunks and keeps only Q, K, V, the output and two numbers a
//!   query row (the softmax's max and sum); the backward pass recomputes each chunk's
//!   probabilities from them. A layer's saved state is O(seq × head_dim) instead of O(seq²),
//!   and no chunk's scores exceed [`CHUNK_SCORES`] elements, at the price of one more
//!   `Q·Kᵀ` product a chunk in the backward pass — and yet faster on Flex than the dense
//!   form's autodiff, which walks several score-sized tensors (`examples/attention_backward.rs`:
//!   forward + backward 217 against 385 ms at 16 × 4 heads × 512² scores, 403 against 735 ms
//!   at 8 × 4 × 1,024², on a 2-core AVX2 EPYC). Chunks are whole batch rows while a row fits:
//!   a range of rows is contiguous in every input, a range of queries is not (chunking by
//!   queries first made the tiny preset's judges train ≈ 3× slower). Measured by `cargo xtask dry-run --paper`
//!   (bf16, 1 and 2 layers extrapolated): the Qwen3-8B LoRA step at 2 × 1,024 tokens
//!   62.9 → 41.7 GiB, the 1.7B's at 4 × 1,024 40.3 → 24.2 GiB (`xtask::pipeline::preset`).
//!
//! [`attend`] chooses: the recomputed form for an autodiff backend the crate knows by type
//! (`Autodiff<Flex>`, and `Autodiff<Wgpu>` / `Autodiff<Cuda>` when their features are built:
//! `backend::each_built_backend`); for inference on Flex in f32 with a few query rows a kv
//! head (a decode step), [`direct_attention`](super::direct_attention), which reads the
//! cache's rows in place without matrix products; with more rows (a prefill)
//! [`blocked_attention`](super::blocked_attention), a block of query rows at a time; the dense
//! form otherwise (inference on other backends, or another autodiff backend — correct, only
//! larger).
//!
//! # Example
//! ```
//! use burn::backend::{Autodiff, Flex};
//! use burn::prelude::*;
//! use burn::tensor::Distribution;
//! use spec_actions_qwen3::model::scaled_dot_product::{dense, recomputed};
//!
//! type B = Autodiff<Flex>;
//! let device = Default::default();
//! // batch 1, 2 kv heads of 2 query heads each, 6 queries over 6 keys, head_dim 4
//! let q = Tensor::<B, 5>::random([1, 2, 2, 6, 4], Distribution::Normal(0.0, 1.0), &device).require_grad();
//! let k = Tensor::<B, 4>::random([1, 2, 6, 4], Distribution::Normal(0.0, 1.0), &device).require_grad();
//! let v = Tensor::<B, 4>::random([1, 2, 6, 4], Distribution::Normal(0.0, 1.0), &device);
//! let a = dense(q.clone(), k.clone(), v.clone(), None, 0.5);
//! let b = recomputed(q.clone(), k.clone(), v, None, 0.5, 5);
//! let (ga, gb) = (a.sum().backward(), b.sum().backward());
//! let dq = (q.grad(&ga).unwrap() - q.grad(&gb).unwrap()).abs().max().into_scalar();
//! assert!(dq < 1e-5);
//! ```

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::{FloatDType, TensorPrimitive};

use crate::flex_tensors::same_type;

/// Largest number of score elements one chunk of [`recomputed`] holds at once (32 Mi: 128 MiB
/// in f32): whole batch rows while a row fits (one row of Qwen3-8B at 1,024 tokens is 32
/// heads × 1,024² = 32 Mi), query ranges of one row beyond.
pub const CHUNK_SCORES: usize = 32 << 20;

/// `softmax(q·kᵀ·scale + bias)·v` over grouped-query heads: the recomputed form on a known
/// autodiff backend, the dense form otherwise (see the module doc).
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group, seq, head_dim]` (the `group` query heads sharing a kv head)
/// - `k`, `v`: `[batch, kv_heads, keys, head_dim]`
/// - `bias`: `[batch, kv_heads | 1, group | 1, seq, keys]`, additive (0, −∞ or a finite
///   −1e30 for the keys of a fully masked row); never differentiated
/// - returns `[batch, kv_heads, group, seq, head_dim]`
pub fn attend<B: Backend>(
    q: Tensor<B, 5>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    bias: Option<Tensor<B, 5>>,
    scale: f64,
) -> Tensor<B, 5> {
    if !B::ad_enabled(&q.device()) {
        // Inference: on Flex a few query rows directly, more block by block; dense elsewhere.
        let inputs = match super::direct_attention::on_flex((q, k, v, bias), scale) {
            Ok(out) => return out,
            Err(inputs) => inputs,
        };
        return match super::blocked_attention::on_flex(inputs, scale) {
            Ok(out) => out,
            Err((q, k, v, bias)) => dense(q, k, v, bias, scale),
        };
    }
    let mut inputs = (q, k, v, bias);
    macro_rules! recomputed_on {
        ($inner:ty) => {
            inputs = match on_backend::<B, $inner>(inputs, scale) {
                Ok(out) => return out,
                Err(inputs) => inputs,
            };
        };
    }
    crate::backend::each_built_backend!(recomputed_on);
    let (q, k, v, bias) = inputs;
    dense(q, k, v, bias, scale)
}

/// The inputs of one attention call.
pub(crate) type Inputs<B> = (Tensor<B, 5>, Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 5>>);

/// Runs [`recomputed`] when `B` is `Autodiff<I>` (burn's default checkpointing); gives the
/// inputs back otherwise.
fn on_backend<B: Backend, I: Backend>(inputs: Inputs<B>, scale: f64) -> Result<Tensor<B, 5>, Inputs<B>> {
    let (q, k, v, bias) = same_type::<_, Inputs<Autodiff<I, NoCheckpointing>>>(inputs)?;
    let out = recomputed(q, k, v, bias, scale, CHUNK_SCORES);
    Ok(same_type(out).unwrap_or_else(|_| unreachable!("B is Autodiff<I>")))
}

/// The dense form: every score materialised, differentiated by the backend's autodiff.
///
/// # Shapes
/// as [`attend`]
pub fn dense<B: Backend>(
    q: Tensor<B, 5>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    bias: Option<Tensor<B, 5>>,
    scale: f64,
) -> Tensor<B, 5> {
    let [b, nkv, group, s, hd] = q.dims();
    let keys = k.dims()[2];
    // 1. Scores of the `group` query heads of each kv head, stacked along the sequence axis
    //    so that K and V are never repeated.
    let scores = q
        .reshape([b, nkv, group * s, hd])
        .matmul(k.swap_dims(2, 3))
        .mul_scalar(scale)
        .reshape([b, nkv, group, s, keys]);
    let scores = match bias {
        Some(bias) => scores + bias,
        None => scores,
    };
    // 2. Softmax in f32, weighted sum of values.
    let dtype = scores.dtype();
    let probs: Tensor<B, 5> = softmax(scores.cast(FloatDType::F32), 4).cast(dtype);
    probs
        .reshape([b, nkv, group * s, keys])
        .matmul(v)
        .reshape([b, nkv, group, s, hd])
}

/// The recomputed form: a custom autodiff operation whose forward pass keeps no scores and
/// whose backward pass recomputes them, `chunk_scores` score elements at a time.
///
/// # Shapes
/// as [`attend`]
pub fn recomputed<I: Backend, C: CheckpointStrategy>(
    q: Tensor<Autodiff<I, C>, 5>,
    k: Tensor<Autodiff<I, C>, 4>,
    v: Tensor<Autodiff<I, C>, 4>,
    bias: Option<Tensor<Autodiff<I, C>, 5>>,
    scale: f64,
    chunk_scores: usize,
) -> Tensor<Autodiff<I, C>, 5> {
    // 1. The inner backend's tensors (the bias is a constant: never tracked).
    let (q, k, v) = (
        q.into_primitive().tensor(),
        k.into_primitive().tensor(),
        v.into_primitive().tensor(),
    );
    let inner = |p: I::FloatTensorPrimitive| Tensor::<I, 4>::from_primitive(TensorPrimitive::Float(p));
    let bias = bias.map(|b| {
        Tensor::<I, 5>::from_primitive(TensorPrimitive::Float(b.into_primitive().tensor().primitive))
    });
    let inputs = Saved {
        q: Tensor::<I, 5>::from_primitive(TensorPrimitive::Float(q.primitive.clone())),
        k: inner(k.primitive.clone()),
        v: inner(v.primitive.clone()),
        bias,
        chunk: Chunking::new(scale, chunk_scores),
    };
    // 2. The forward pass, chunk by chunk (`Chunking::chunks`).
    let forward = inputs.forward();
    let out = forward.out.clone().into_primitive().tensor();
    // 3. The node: parents Q, K, V; state the inputs and the softmax statistics.
    let node = RecomputedAttention
        .prepare::<C>([q.node.clone(), k.node.clone(), v.node.clone()])
        .compute_bound()
        .stateful();
    let out = match node {
        OpsKind::Tracked(prep) => prep.finish((inputs, forward), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// How [`recomputed`] splits a call into chunks, and its score scale.
#[derive(Debug, Clone, Copy)]
struct Chunking {
    scale: f64,
    /// Largest score elements of one chunk.
    chunk_scores: usize,
}

impl Chunking {
    fn new(scale: f64, chunk_scores: usize) -> Self {
        Self {
            scale,
            chunk_scores: chunk_scores.max(1),
        }
    }

    /// The chunks of a call, each a range of batch rows and a range of queries holding at most
    /// `chunk_scores` scores: whole rows (all queries) while one row fits, else one row at a
    /// time in ranges of queries. Rows first, because a range of rows is a contiguous part of
    /// every input (a range of queries is not).
    fn chunks(&self, q_dims: [usize; 5], keys: usize) -> Vec<Chunk> {
        let [b, nkv, group, s, _] = q_dims;
        let per_query = (nkv * group * keys).max(1);
        let per_row = per_query * s;
        if per_row <= self.chunk_scores {
            let rows = (self.chunk_scores / per_row.max(1)).clamp(1, b.max(1));
            return (0..b)
                .step_by(rows)
                .map(|start| Chunk {
                    rows: start..(start + rows).min(b),
                    queries: 0..s,
                })
                .collect();
        }
        let queries = (self.chunk_scores / per_query).clamp(1, s.max(1));
        (0..b)
            .flat_map(|row| {
                (0..s).step_by(queries).map(move |start| Chunk {
                    rows: row..row + 1,
                    queries: start..(start + queries).min(s),
                })
            })
            .collect()
    }
}

/// A part of one attention call: batch rows × queries.
#[derive(Debug, Clone)]
struct Chunk {
    rows: std::ops::Range<usize>,
    queries: std::ops::Range<usize>,
}

impl Chunk {
    /// This chunk of a query-shaped tensor: its rows (dim 0) and its queries (dim 3).
    ///
    /// # Shapes
    /// - `t`: `[batch, kv_heads, group, seq, x]`; returns `[rows, kv_heads, group, queries, x]`
    fn of<I: Backend>(&self, t: &Tensor<I, 5>) -> Tensor<I, 5> {
        t.clone().narrow(0, self.rows.start, self.rows.len()).narrow(
            3,
            self.queries.start,
            self.queries.len(),
        )
    }
}

/// `pieces` joined along `dim`; a single piece as it is.
fn join<B: Backend, const D: usize>(mut pieces: Vec<Tensor<B, D>>, dim: usize) -> Tensor<B, D> {
    if pieces.len() == 1 {
        return pieces.remove(0);
    }
    Tensor::cat(pieces, dim)
}

/// The inputs [`recomputed`] keeps for its backward pass (inner-backend tensors).
#[derive(Debug, Clone)]
struct Saved<I: Backend> {
    /// `[batch, kv_heads, group, seq, head_dim]`
    q: Tensor<I, 5>,
    /// `[batch, kv_heads, keys, head_dim]`
    k: Tensor<I, 4>,
    /// `[batch, kv_heads, keys, head_dim]`
    v: Tensor<I, 4>,
    /// `[batch, kv_heads | 1, group | 1, seq, keys]`
    bias: Option<Tensor<I, 5>>,
    chunk: Chunking,
}

/// The forward pass's results: the output and, per query row, the softmax's max and sum.
#[derive(Debug, Clone)]
struct Forward<I: Backend> {
    /// `[batch, kv_heads, group, seq, head_dim]`
    out: Tensor<I, 5>,
    /// `[batch, kv_heads, group, seq, 1]`, f32
    row_max: Tensor<I, 5>,
    /// `[batch, kv_heads, group, seq, 1]`, f32: `Σ exp(score − row_max)`
    row_sum: Tensor<I, 5>,
}

impl<I: Backend> Saved<I> {
    /// Q, K and V of `chunk`'s rows, Q of its queries only.
    ///
    /// # Shapes
    /// - returns `[rows, kv_heads, group, queries, head_dim]`, `[rows, kv_heads, keys,
    ///   head_dim]` twice
    fn inputs(&self, chunk: &Chunk) -> (Tensor<I, 5>, Tensor<I, 4>, Tensor<I, 4>) {
        let rows = (chunk.rows.start, chunk.rows.len());
        (
            chunk.of(&self.q),
            self.k.clone().narrow(0, rows.0, rows.1),
            self.v.clone().narrow(0, rows.0, rows.1),
        )
    }

    /// Scaled, biased scores of `chunk`, in f32.
    ///
    /// # Shapes
    /// - `q`, `k`: as [`Saved::inputs`] gives them
    /// - returns `[rows, kv_heads, group, queries, keys]`
    fn scores(&self, chunk: &Chunk, q: Tensor<I, 5>, k: Tensor<I, 4>) -> Tensor<I, 5> {
        let [b, nkv, group, n, hd] = q.dims();
        let keys = k.dims()[2];
        let scores = q
            .reshape([b, nkv, group * n, hd])
            .matmul(k.swap_dims(2, 3))
            .mul_scalar(self.chunk.scale)
            .reshape([b, nkv, group, n, keys]);
        let scores = match &self.bias {
            Some(bias) => {
                // a bias broadcast over the batch keeps its one row
                let rows = if bias.dims()[0] == 1 {
                    0..1
                } else {
                    chunk.rows.clone()
                };
                let bias = bias.clone().narrow(0, rows.start, rows.len());
                scores + bias.narrow(3, chunk.queries.start, n)
            }
            None => scores,
        };
        scores.cast(FloatDType::F32)
    }

    /// Chunk by chunk: `p = exp(score − max) / sum`, `out = p·v`.
    fn forward(&self) -> Forward<I> {
        let keys = self.k.dims()[2];
        let dtype = self.q.dtype();
        let (mut outs, mut maxes, mut sums) = (Vec::new(), Vec::new(), Vec::new());
        let mut row_outs = (Vec::new(), Vec::new(), Vec::new());
        let chunks = self.chunk.chunks(self.q.dims(), keys);
        for (i, chunk) in chunks.iter().enumerate() {
            let (q, k, v) = self.inputs(chunk);
            let [b, nkv, group, n, hd] = q.dims();
            let scores = self.scores(chunk, q, k);
            let row_max = scores.clone().max_dim(4);
            let exp = (scores - row_max.clone()).exp();
            let row_sum = exp.clone().sum_dim(4);
            let probs = (exp / row_sum.clone()).cast(dtype);
            let out = probs
                .reshape([b, nkv, group * n, keys])
                .matmul(v)
                .reshape([b, nkv, group, n, hd]);
            row_outs.0.push(out);
            row_outs.1.push(row_max);
            row_outs.2.push(row_sum);
            // the last query chunk of these rows: join the rows' queries
            if chunks.get(i + 1).is_none_or(|next| next.rows != chunk.rows) {
                let (o, m, s) = std::mem::take(&mut row_outs);
                outs.push(join(o, 3));
                maxes.push(join(m, 3));
                sums.push(join(s, 3));
            }
        }
        Forward {
            out: join(outs, 0),
            row_max: join(maxes, 0),
            row_sum: join(sums, 0),
        }
    }

    /// The gradients of Q, K and V given the output's, recomputing each chunk's probabilities:
    /// with `p` the probabilities, `dO` the output's gradient and `D = rowsum(dO ∘ O)`,
    /// `dV = Σ pᵀ·dO`, `dS = p ∘ (dO·Vᵀ − D)`, `dQ = dS·K·scale`, `dK = Σ dSᵀ·Q·scale`.
    ///
    /// # Shapes
    /// - `grad_out`: `[batch, kv_heads, group, seq, head_dim]`
    /// - returns the shapes of `q`, `k`, `v`
    fn backward(
        &self,
        forward: &Forward<I>,
        grad_out: Tensor<I, 5>,
    ) -> (Tensor<I, 5>, Tensor<I, 4>, Tensor<I, 4>) {
        let keys = self.k.dims()[2];
        let dtype = self.q.dtype();
        let scale = self.chunk.scale;
        // D: [batch, nkv, group, seq, 1], f32
        let d =
            (grad_out.clone().cast(FloatDType::F32) * forward.out.clone().cast(FloatDType::F32)).sum_dim(4);
        let (mut grad_q, mut grad_k, mut grad_v) = (Vec::new(), Vec::new(), Vec::new());
        // this batch range's gradients so far (over its query chunks)
        let (mut row_dq, mut row_dk, mut row_dv): (Vec<_>, Option<Tensor<I, 4>>, Option<Tensor<I, 4>>) =
            (Vec::new(), None, None);
        let chunks = self.chunk.chunks(self.q.dims(), keys);
        for (i, chunk) in chunks.iter().enumerate() {
            let (q, k, v) = self.inputs(chunk);
            let [b, nkv, group, n, hd] = q.dims();
            // 1. this chunk's probabilities, recomputed: [b, nkv, group, n, keys], f32
            let probs = (self.scores(chunk, q.clone(), k.clone()) - chunk.of(&forward.row_max)).exp()
                / chunk.of(&forward.row_sum);
            let grad_out = chunk.of(&grad_out).reshape([b, nkv, group * n, hd]);
            // 2. dV = pᵀ·dO
            let probs_t = probs
                .clone()
                .cast(dtype)
                .reshape([b, nkv, group * n, keys])
                .swap_dims(2, 3);
            let dv = probs_t.matmul(grad_out.clone());
            // 3. dS = p ∘ (dO·Vᵀ − D)
            let grad_probs = grad_out
                .matmul(v.swap_dims(2, 3))
                .reshape([b, nkv, group, n, keys])
                .cast(FloatDType::F32);
            let grad_scores =
                (probs * (grad_probs - chunk.of(&d)))
                    .cast(dtype)
                    .reshape([b, nkv, group * n, keys]);
            // 4. dQ = dS·K·scale, dK = dSᵀ·Q·scale
            let q = q.reshape([b, nkv, group * n, hd]);
            let dk = grad_scores.clone().swap_dims(2, 3).matmul(q).mul_scalar(scale);
            row_dq.push(
                grad_scores
                    .matmul(k)
                    .mul_scalar(scale)
                    .reshape([b, nkv, group, n, hd]),
            );
            // 5. K and V gradients add up over the query chunks of the same rows
            row_dk = Some(match row_dk.take() {
                Some(acc) => acc + dk,
                None => dk,
            });
            row_dv = Some(match row_dv.take() {
                Some(acc) => acc + dv,
                None => dv,
            });
            if chunks.get(i + 1).is_none_or(|next| next.rows != chunk.rows) {
                grad_q.push(join(std::mem::take(&mut row_dq), 3));
                grad_k.extend(row_dk.take());
                grad_v.extend(row_dv.take());
            }
        }
        (join(grad_q, 0), join(grad_k, 0), join(grad_v, 0))
    }
}

/// The autodiff node of [`recomputed`].
#[derive(Debug)]
struct RecomputedAttention;

impl<I: Backend> Backward<I, 3> for RecomputedAttention {
    type State = (Saved<I>, Forward<I>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_q, node_k, node_v] = ops.parents;
        let grad_out = Tensor::<I, 5>::from_primitive(TensorPrimitive::Float(grads.consume::<I>(&ops.node)));
        let (saved, forward) = ops.state;
        let (grad_q, grad_k, grad_v) = saved.backward(&forward, grad_out);
        for (node, grad) in [
            (node_q, grad_q.into_primitive().tensor()),
            (node_k, grad_k.into_primitive().tensor()),
            (node_v, grad_v.into_primitive().tensor()),
        ] {
            if let Some(node) = node {
                grads.register::<I>(node.id, grad);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{Distribution, TensorData};

    use super::*;

    type B = Autodiff<Flex>;

    /// A causal bias with left padding on row 0 (its first two queries attend nothing: the
    /// model's fully masked rows), laid out `[batch, 1, 1, seq, keys]`.
    fn padded_causal_bias(batch: usize, seq: usize, pad: usize) -> Tensor<B, 5> {
        let mut bias = Vec::new();
        for r in 0..batch {
            let pad = if r == 0 { pad } else { 0 };
            for i in 0..seq {
                let row: Vec<f32> = (0..seq)
                    .map(|j| {
                        if j <= i && j >= pad {
                            0.0
                        } else {
                            f32::NEG_INFINITY
                        }
                    })
                    .collect();
                if i < pad {
                    bias.extend(std::iter::repeat_n(-1e30, seq));
                } else {
                    bias.extend(row);
                }
            }
        }
        Tensor::from_data(
            TensorData::new(bias, [batch, 1, 1, seq, seq]),
            &Default::default(),
        )
    }

    fn max_abs(a: Tensor<Flex, 5>, b: Tensor<Flex, 5>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Output and the gradients of Q, K and V of the recomputed form equal the dense form's
    /// (autodiff through materialised scores), with grouped-query heads, left padding, a
    /// causal mask, and chunks of 1 and 3 queries of a row, one row, two rows, all rows.
    #[test]
    fn recomputed_attention_matches_dense_autodiff() {
        let device = Default::default();
        let (b, nkv, group, s, hd) = (3, 2, 3, 7, 4);
        let normal = Distribution::Normal(0.0, 1.0);
        let q = Tensor::<B, 5>::random([b, nkv, group, s, hd], normal, &device).require_grad();
        let k = Tensor::<B, 4>::random([b, nkv, s, hd], normal, &device).require_grad();
        let v = Tensor::<B, 4>::random([b, nkv, s, hd], normal, &device).require_grad();
        let weights = Tensor::<B, 5>::random([b, nkv, group, s, hd], normal, &device);
        let loss = |out: Tensor<B, 5>| (out * weights.clone()).sum();
        // the bias as the model lays it out: broadcast over the heads, or per head
        let broadcast = padded_causal_bias(b, s, 2);
        let per_head = broadcast.clone().repeat_dim(1, nkv).repeat_dim(2, group);
        for bias in [broadcast, per_head] {
            let reference = dense(q.clone(), k.clone(), v.clone(), Some(bias.clone()), 0.5);
            let grads = loss(reference.clone()).backward();
            let dense_grads = (
                q.grad(&grads).unwrap(),
                k.grad(&grads).unwrap(),
                v.grad(&grads).unwrap(),
            );
            let per_query = nkv * group * s;
            for chunk in [
                per_query,
                3 * per_query,
                per_query * s,
                2 * per_query * s,
                b * per_query * s,
            ] {
                let out = recomputed(q.clone(), k.clone(), v.clone(), Some(bias.clone()), 0.5, chunk);
                assert!(max_abs(out.clone().inner(), reference.clone().inner()) < 1e-6);
                let grads = loss(out).backward();
                let dq = max_abs(q.grad(&grads).unwrap(), dense_grads.0.clone());
                let dk = (k.grad(&grads).unwrap() - dense_grads.1.clone())
                    .abs()
                    .max()
                    .into_scalar();
                let dv = (v.grad(&grads).unwrap() - dense_grads.2.clone())
                    .abs()
                    .max()
                    .into_scalar();
                assert!(
                    dq < 1e-5 && dk < 1e-5 && dv < 1e-5,
                    "chunks of {chunk} scores: |Δ| dq {dq} dk {dk} dv {dv}"
                );
            }
        }
    }

    /// `attend` takes the recomputed form on `Autodiff<Flex>` (the output's one tracked parent
    /// is Q itself: no score or probability node in between) and the dense form without
    /// autodiff, with the same values.
    #[test]
    fn attend_chooses_by_backend() {
        let device = Default::default();
        let normal = Distribution::Normal(0.0, 1.0);
        let q = Tensor::<B, 5>::random([1, 1, 2, 5, 4], normal, &device);
        let k = Tensor::<B, 4>::random([1, 1, 5, 4], normal, &device);
        let v = Tensor::<B, 4>::random([1, 1, 5, 4], normal, &device);
        let bias = padded_causal_bias(1, 5, 0);
        let q_tracked = q.clone().require_grad();
        let q_id = q_tracked.clone().into_primitive().tensor().node.id;
        let tracked = attend(q_tracked, k.clone(), v.clone(), Some(bias.clone()), 0.5);
        let plain = attend(q.inner(), k.inner(), v.inner(), Some(bias.inner()), 0.5);
        assert!(max_abs(tracked.clone().inner(), plain) < 1e-6);
        let node = tracked.into_primitive().tensor().node;
        let parents: Vec<_> = node.parents.iter().map(|p| p.id).collect();
        assert_eq!(parents, vec![q_id]);
    }
}
