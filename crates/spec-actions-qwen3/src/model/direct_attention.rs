//! Scaled dot-product attention for a few query rows on Flex, computed directly: for each
//! query row its dot products with the key rows, the softmax, and the weighted sum of the value
//! rows — no matrix product, no copy of the cache.
//!
//! A decode step has one query per head (two query heads a kv head in Qwen3-0.6B) against
//! every cached key. The [dense](super::scaled_dot_product::dense) form makes that two batched
//! matrix products of `m = 2` rows, which Flex hands to `gemm`: packing, and a call per kv head,
//! for a few thousand multiply-adds each. This form reads each key and value row once, straight
//! from the cache's buffer. On a 2-core Xeon (Intel family 6 model 167), 28 layers over 160
//! keys, `examples/decode_steps.rs`'s `attention` part: 2.0 ms against 3.2 ms for the dense form
//! (the same process); timed inside the steps (a throwaway instrumentation of the layers, not
//! kept) the step's attention went from 6.4 to 2.9 ms, and the bf16 step from 63.5 to 52 ms —
//! `gemm`'s calls slowed the products around them too.
//!
//! Over a long context the cache's bytes are much of what a step reads: at 1,532 keys, 28
//! layers' keys and values are 351 MB in f32 (the weights 2.4 GB). Session 30 put the cache's
//! buffers in huge pages ([`KvCache`](super::KvCache)) and `dot`'s 16 lanes in one 512-bit
//! register (the compiler had vectorised them two lanes to an instruction); on the same Xeon,
//! `decode_steps bf16|f32 32 1500`, the revision before and this one alternating, two pairs:
//! bf16 weights' decode 10.94 / 13.15 → 15.28 / 14.96 tok/s, f32 decode 8.27 / 9.17 → 9.34 /
//! 9.54 tok/s. Prefetching 8, 16 or 32 rows ahead instead of `AHEAD` (4) read no faster.
//!
//! [`attend`](super::scaled_dot_product::attend) takes this form for inference on Flex in f32
//! with at most [`MAX_QUERY_ROWS`] query rows per kv head; the values equal the dense form's
//! up to the order of the sums (`tests::equals_dense`).

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::scaled_dot_product::Inputs;
use crate::flex_tensors::{from_flex, is_flex, same_type};

/// Most query rows per kv head (`group × seq`) this form takes: a decode step of every Qwen3
/// size (`group`: 2 for 0.6B and 1.7B, 4 for 4B and 8B, 5 for 14B, 8 for 32B) and a few drafted
/// tokens. Beyond it the dense form runs, whose matrix products spread their setup over more
/// rows. 28 layers, 8 kv heads, head_dim 128, Intel
/// family 6 model 167 (2 cores), best of 7, direct against dense: 160 keys — 2 rows 2.5 / 5.3
/// ms, 4 rows 3.2 / 4.4, 8 rows 5.2 / 6.5, 16 rows 10.0 / 4.9, 32 rows 17.0 / 8.3; 512 keys —
/// 2 rows 8.3 / 19.6, 4 rows 9.1 / 12.3, 8 rows 15.4 / 14.3, 16 rows 28.8 / 16.5 (a throwaway
/// harness calling [`attend`](super::scaled_dot_product::attend) and
/// [`dense`](super::scaled_dot_product::dense) on cache-sized buffers, as `decode_steps`'
/// `attention` part does for one row a head).
pub const MAX_QUERY_ROWS: usize = 8;

/// `softmax(q·kᵀ·scale + bias)·v` computed directly when `B` is Flex, the tensors are f32 and
/// there are at most [`MAX_QUERY_ROWS`] query rows per kv head; the inputs back otherwise.
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group, seq, head_dim]`
/// - `k`, `v`: `[batch, kv_heads, keys, head_dim]` (views of a cache are read in place)
/// - `bias`: `[batch, kv_heads | 1, group | 1, seq, keys]`, additive
/// - returns `[batch, kv_heads, group, seq, head_dim]`
pub(crate) fn on_flex<B: Backend>(inputs: Inputs<B>, scale: f64) -> Result<Tensor<B, 5>, Inputs<B>> {
    let (q, k, v, bias) = inputs;
    let [b, nkv, group, s, hd] = q.dims();
    let f32_inputs = [q.dtype(), k.dtype(), v.dtype()]
        .into_iter()
        .chain(bias.as_ref().map(|t| t.dtype()))
        .all(|d| d == burn::tensor::DType::F32);
    if !is_flex::<B>() || group * s > MAX_QUERY_ROWS || !f32_inputs {
        return Err((q, k, v, bias));
    }
    let keys = k.dims()[2];
    // The bias broadcast to one value per score (small: rows × keys per kv head).
    let bias = bias.map(|t| t.expand([b, nkv, group, s, keys]));
    let (q, k, v, bias) = flex((q, k, v, bias)).unwrap_or_else(|_| unreachable!("B is Flex"));
    let out = rows_attention(
        &q,
        &k,
        &v,
        bias.as_ref(),
        [b, nkv, group * s, keys, hd],
        scale as f32,
    );
    let out = FlexTensor::new(
        burn_std::Bytes::from_elems(out),
        burn_flex::Layout::contiguous(burn_std::Shape::new([b, nkv, group, s, hd])),
        burn::tensor::DType::F32,
    );
    Ok(from_flex(out))
}

/// The Flex tensors of `inputs` when `B` is Flex; `inputs` back otherwise.
pub(super) fn flex<B: Backend>(
    inputs: Inputs<B>,
) -> Result<(FlexTensor, FlexTensor, FlexTensor, Option<FlexTensor>), Inputs<B>> {
    let (q, k, v, bias) = same_type::<_, Inputs<Flex>>(inputs)?;
    let primitive = |t: TensorPrimitive<Flex>| t.tensor();
    Ok((
        primitive(q.into_primitive()),
        primitive(k.into_primitive()),
        primitive(v.into_primitive()),
        bias.map(|t| primitive(t.into_primitive())),
    ))
}

/// The rows of a `[batch, heads, rows, head_dim]` view whose last dimension is contiguous:
/// `offset(i, j, r)` is where row `r` of `[i, j]` starts.
pub(super) struct Rows<'a> {
    pub(super) data: &'a [f32],
    start: usize,
    pub(super) strides: [usize; 3],
}

impl<'a> Rows<'a> {
    /// `tensor` itself when its last dimension is contiguous and its strides non-negative, else
    /// a contiguous copy (kept alive in `copy`).
    pub(super) fn of(tensor: &'a FlexTensor, copy: &'a mut Option<FlexTensor>) -> Self {
        let layout = tensor.layout();
        let strides = layout.strides();
        let usable = strides.last() == Some(&1) && strides.iter().all(|&s| s >= 0);
        let tensor = if usable {
            tensor
        } else {
            copy.insert(tensor.to_contiguous())
        };
        let layout = tensor.layout();
        let st = layout.strides();
        Rows {
            data: tensor.storage::<f32>(),
            start: layout.start_offset(),
            strides: [st[0], st[1], st[2]].map(|s| s as usize),
        }
    }

    pub(super) fn offset(&self, i: usize, j: usize, r: usize) -> usize {
        self.start + i * self.strides[0] + j * self.strides[1] + r * self.strides[2]
    }
}

/// The attention of every `[batch, kv head]` pair, in parallel over the pairs.
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group, seq, head_dim]` (group × seq query rows a kv head)
/// - `k`, `v`: `[batch, kv_heads, keys, head_dim]`
/// - `bias`: `[batch, kv_heads, group, seq, keys]`
/// - returns `[batch, kv_heads, rows, head_dim]`, contiguous
fn rows_attention(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    bias: Option<&FlexTensor>,
    [b, nkv, rows, keys, hd]: [usize; 5],
    scale: f32,
) -> Vec<f32> {
    // q and bias: group and seq merged into rows needs them contiguous over those two.
    let q = q.to_contiguous();
    let bias = bias.map(FlexTensor::to_contiguous);
    let (mut k_copy, mut v_copy) = (None, None);
    let (k, v) = (Rows::of(k, &mut k_copy), Rows::of(v, &mut v_copy));
    let q: &[f32] = q.storage();
    let bias: Option<&[f32]> = bias.as_ref().map(|t| t.storage());
    let mut out = vec![0f32; b * nkv * rows * hd];
    out.par_chunks_mut(rows * hd).enumerate().for_each(|(pair, out)| {
        let (i, j) = (pair / nkv, pair % nkv);
        let q = &q[pair * rows * hd..(pair + 1) * rows * hd];
        let bias = bias.map(|t| &t[pair * rows * keys..(pair + 1) * rows * keys]);
        let key = |r: usize| &k.data[k.offset(i, j, r)..k.offset(i, j, r) + hd];
        let value = |r: usize| &v.data[v.offset(i, j, r)..v.offset(i, j, r) + hd];
        crate::simd::dispatch(
            #[inline(always)]
            || one_pair(q, key, value, bias, out, [rows, keys, hd], scale),
        );
    });
    out
}

/// The attention of the query rows of one kv head.
///
/// # Shapes
/// - `q`: `[rows, head_dim]`; `key(r)`, `value(r)`: `[head_dim]`; `bias`: `[rows, keys]`
/// - `out`: `[rows, head_dim]`, zeros on entry
#[inline(always)]
fn one_pair<'a>(
    q: &[f32],
    key: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    [rows, keys, hd]: [usize; 3],
    scale: f32,
) {
    // 1. Scores, key row by key row (each read once for every query row).
    let mut scores = vec![0f32; rows * keys];
    for r in 0..keys {
        prefetch(key((r + AHEAD).min(keys - 1)));
        let key = key(r);
        for (row, q) in q.chunks_exact(hd).enumerate() {
            scores[row * keys + r] = dot(q, key) * scale;
        }
    }
    if let Some(bias) = bias {
        scores.iter_mut().zip(bias).for_each(|(s, b)| *s += b);
    }
    // 2. Softmax of each row.
    for row in scores.chunks_exact_mut(keys) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.iter_mut().for_each(|s| *s = burn_flex::exp_f32(*s - max));
        let sum: f32 = row.iter().sum();
        let inverse = sum.recip();
        row.iter_mut().for_each(|s| *s *= inverse);
    }
    // 3. Weighted sum of the value rows, each read once.
    for r in 0..keys {
        prefetch(value((r + AHEAD).min(keys - 1)));
        let value = value(r);
        for (row, out) in out.chunks_exact_mut(hd).enumerate() {
            let p = scores[row * keys + r];
            out.iter_mut().zip(value).for_each(|(o, v)| *o += p * v);
        }
    }
}

/// Rows ahead of the one being read whose cache lines are prefetched: with it the 28 layers'
/// attention over 532 keys took 7.0 ms against 9.9 ms without (`decode_steps bf16 32 500`'s
/// `attention` part, Intel family 6 model 167, one run each; 8 rows ahead read no faster).
const AHEAD: usize = 4;

/// Asks for every cache line of `row` ahead of its use.
#[inline(always)]
fn prefetch(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(16) {
        // SAFETY: a prefetch never faults; SSE is part of every x86-64 CPU.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `Σ a·b` in 16 independent lanes (vectorised at every SIMD level, see `crate::simd`), the
/// lanes then added pairwise (four vector additions, not fifteen dependent scalar ones).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    // fixed-size blocks: with slices of 16 the compiler vectorised the lanes two at a time
    let ((a16, a_tail), (b16, b_tail)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    for (x, y) in a16.iter().zip(b16) {
        for l in 0..16 {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut width = 8;
    while width > 0 {
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
        width /= 2;
    }
    lanes[0] + tail
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::model::scaled_dot_product::dense;

    /// The direct form equals the dense one (up to the order of the sums) on views of a cache
    /// buffer, with grouped heads, several queries, a broadcast bias with −∞ and a batch of 2.
    #[test]
    fn equals_dense() {
        let device = Default::default();
        let normal = Distribution::Normal(0.0, 1.0);
        for (group, s, bias_kind) in [(2, 1, 0), (4, 2, 1), (1, 5, 2)] {
            let (b, nkv, keys, hd, capacity) = (2, 3, 37, 24, 50);
            let q = Tensor::<Flex, 5>::random([b, nkv, group, s, hd], normal, &device);
            let cache = Tensor::<Flex, 4>::random([b, nkv, capacity, hd], normal, &device);
            let k = cache.clone().slice([0..b, 0..nkv, 0..keys, 0..hd]);
            let v = (cache * 0.5).slice([0..b, 0..nkv, 3..keys + 3, 0..hd]);
            let bias = match bias_kind {
                0 => None,
                1 => {
                    // causal-style: −∞ above the diagonal of the last `s` keys, one bias for
                    // every head
                    let values: Vec<f32> = (0..b * s * keys)
                        .map(|i| {
                            let (row, key) = ((i / keys) % s, i % keys);
                            if key > keys - s + row {
                                f32::NEG_INFINITY
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    Some(Tensor::<Flex, 5>::from_data(
                        TensorData::new(values, [b, 1, 1, s, keys]),
                        &device,
                    ))
                }
                _ => Some(Tensor::<Flex, 5>::random(
                    [b, nkv, group, s, keys],
                    normal,
                    &device,
                )),
            };
            let expected = dense(q.clone(), k.clone(), v.clone(), bias.clone(), 0.3);
            let got = on_flex((q, k, v, bias), 0.3).unwrap_or_else(|_| panic!("f32 Flex inputs"));
            assert_eq!(got.dims(), expected.dims());
            let diff = (got - expected).abs().max().into_scalar();
            assert!(diff < 1e-5, "group {group}, seq {s}: max |Δ| {diff}");
        }
    }

    /// Too many query rows, another dtype or another backend: the inputs come back.
    #[test]
    fn declines_what_it_does_not_compute() {
        let device = Default::default();
        let q = Tensor::<Flex, 5>::zeros([1, 1, 2, MAX_QUERY_ROWS, 8], &device);
        let k = Tensor::<Flex, 4>::zeros([1, 1, 4, 8], &device);
        assert!(on_flex((q, k.clone(), k.clone(), None), 1.0).is_err());
        let q16 = Tensor::<Flex, 5>::zeros([1, 1, 2, 1, 8], &device).cast(burn::tensor::FloatDType::BF16);
        let k16 = k.clone().cast(burn::tensor::FloatDType::BF16);
        assert!(on_flex((q16, k16.clone(), k16, None), 1.0).is_err());
        type Ad = burn::backend::Autodiff<Flex>;
        let qa = Tensor::<Ad, 5>::zeros([1, 1, 2, 1, 8], &device);
        let ka = Tensor::<Ad, 4>::zeros([1, 1, 4, 8], &device);
        assert!(on_flex((qa, ka.clone(), ka, None), 1.0).is_err());
    }
}
