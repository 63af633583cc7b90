//! Scaled dot-product attention for many query rows on Flex (a prefill), one block of query
//! rows at a time: the block's scores by one `gemm` call, their scale, bias and softmax in one
//! pass while they sit in cache, and the block's output by a second `gemm` call.
//!
//! The [dense](super::scaled_dot_product::dense) form runs the same two products but over
//! whole score tensors (`[batch, kv_heads, group · seq, keys]`), with the scale, the bias and
//! the softmax as four more passes over them, each into a new buffer. Here a block's scores
//! (`BLOCK_ROWS × keys`) are computed, normalised and used before the next block's exist, and
//! the blocks of every `[batch, kv head]` pair run in parallel on rayon's threads.
//!
//! Keys that the bias masks with `−∞` for every row of a block (the future of a causal block,
//! the left padding of a batch row) have probability exactly 0; the block's products skip
//! them: a block reads only the keys from the first to the last that some row of it may see.
//! A long causal prefill thereby skips a growing share of the products' work (3/8 of it at
//! 1,024 tokens in blocks of [`BLOCK_ROWS`]).
//!
//! Measured on a 2-core Xeon (Intel family 6 model 167): a Qwen3-0.6B prefill of 128 tokens,
//! the 28 layers' attention (8 kv heads × 2 query heads × 128 queries over 128 keys, causal),
//! 32–33 ms in the dense form against 24 ms here (a throwaway harness timing each form on a
//! prefill's tensors, [`BLOCK_ROWS`]).
//!
//! [`attend`](super::scaled_dot_product::attend) takes this form for inference on Flex in f32
//! with more than [`MAX_QUERY_ROWS`](super::direct_attention::MAX_QUERY_ROWS) query rows per kv
//! head; the values equal the dense form's up to the order of the sums (`tests::equals_dense`).

use burn::prelude::*;
use burn::tensor::DType;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::direct_attention::{Rows, flex};
use super::gemm_product::{self, Strided};
use super::scaled_dot_product::Inputs;
use crate::flex_tensors::{from_flex, is_flex};
use crate::simd::lanes_fold;

/// Query rows a task handles. Its scores (`BLOCK_ROWS × keys` f32) stay in L2 up to some 4 Ki
/// keys, and each block is two `gemm` calls, whose set-up (packing, buffers) smaller blocks
/// pay more often: the 28 layers' attention of a 128-token Qwen3-0.6B prefill (8 kv heads × 256
/// query rows, causal) took 30 / 26 / 24 ms with blocks of 32 / 64 / 256 rows, dense 32–33 ms
/// (a throwaway harness, 2-core Xeon family 6 model 167). The rows of a kv head are its query
/// heads one after the other, so a block of a long prompt's rows covers a range of positions
/// of one head, and its causal mask skips the keys after them.
pub const BLOCK_ROWS: usize = 256;

/// `softmax(q·kᵀ·scale + bias)·v` block by block when `B` is Flex and the tensors are f32; the
/// inputs back otherwise (and for empty inputs).
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group, seq, head_dim]`
/// - `k`, `v`: `[batch, kv_heads, keys, head_dim]` (views of a cache are read in place)
/// - `bias`: `[batch, kv_heads | 1, group | 1, seq, keys]`, additive
/// - returns `[batch, kv_heads, group, seq, head_dim]`
pub(crate) fn on_flex<B: Backend>(inputs: Inputs<B>, scale: f64) -> Result<Tensor<B, 5>, Inputs<B>> {
    let (q, k, v, bias) = inputs;
    let [b, nkv, group, s, hd] = q.dims();
    let keys = k.dims()[2];
    let f32_inputs = [q.dtype(), k.dtype(), v.dtype()]
        .into_iter()
        .chain(bias.as_ref().map(|t| t.dtype()))
        .all(|d| d == DType::F32);
    let empty = [b, nkv, group, s, hd, keys].contains(&0);
    if !is_flex::<B>() || !f32_inputs || empty {
        return Err((q, k, v, bias));
    }
    // The bias as a view of one value per score, broadcast axes read in place (stride 0).
    let bias = bias.map(|t| t.expand([b, nkv, group, s, keys]));
    let (q, k, v, bias) = flex((q, k, v, bias)).unwrap_or_else(|_| unreachable!("B is Flex"));
    let out = blocks_attention(
        &q,
        &k,
        &v,
        bias.as_ref(),
        [b, nkv, group, s, keys, hd],
        scale as f32,
    );
    Ok(from_flex(FlexTensor::new(
        burn_std::Bytes::from_elems(out),
        burn_flex::Layout::contiguous(burn_std::Shape::new([b, nkv, group, s, hd])),
        DType::F32,
    )))
}

/// The attention of every `[batch, kv head]` pair, in parallel over the pairs' blocks of
/// [`BLOCK_ROWS`] query rows.
///
/// # Shapes
/// - `q`: `[batch, kv_heads, group, seq, head_dim]` (group × seq query rows a kv head)
/// - `k`, `v`: `[batch, kv_heads, keys, head_dim]`
/// - `bias`: `[batch, kv_heads, group, seq, keys]`, a view (broadcast axes of stride 0)
/// - returns `[batch, kv_heads, group · seq, head_dim]`, contiguous
fn blocks_attention(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    bias: Option<&FlexTensor>,
    [b, nkv, group, s, keys, hd]: [usize; 6],
    scale: f32,
) -> Vec<f32> {
    let rows = group * s;
    let q = q.to_contiguous();
    let bias = bias.map(|t| {
        let strides = t.layout().strides();
        if strides.last() == Some(&1) && strides.iter().all(|&s| s >= 0) {
            t.clone()
        } else {
            t.to_contiguous()
        }
    });
    let (mut k_copy, mut v_copy) = (None, None);
    let (k, v) = (Rows::of(k, &mut k_copy), Rows::of(v, &mut v_copy));
    let q: &[f32] = q.as_slice().expect("a contiguous f32 tensor");
    let bias = bias.as_ref().map(|t| {
        let st = t.layout().strides();
        let st: [usize; 4] = std::array::from_fn(|a| st[a] as usize);
        (t.storage::<f32>(), t.layout().start_offset(), st)
    });
    let mut out = vec![0f32; b * nkv * rows * hd];
    out.par_chunks_mut(rows * hd).enumerate().for_each(|(pair, out)| {
        let (i, j) = (pair / nkv, pair % nkv);
        out.par_chunks_mut(BLOCK_ROWS * hd)
            .enumerate()
            .for_each(|(block, out)| {
                let first_row = pair * rows + block * BLOCK_ROWS;
                let m = out.len() / hd;
                let block = Block {
                    q: &q[first_row * hd..(first_row + m) * hd],
                    bias: bias.map(|(data, start, st)| BiasRows {
                        data,
                        start: start + i * st[0] + j * st[1],
                        strides: [st[2], st[3]],
                        seq: s,
                        first_row: block * BLOCK_ROWS,
                        keys,
                    }),
                    keys: &k.data[k.offset(i, j, 0)..],
                    values: &v.data[v.offset(i, j, 0)..],
                    strides: [k.strides[2], v.strides[2]],
                    dims: [m, keys, hd],
                    scale,
                };
                block.attend(out);
            });
    });
    out
}

/// One task: the query rows of one block against the keys and values of their kv head.
struct Block<'a> {
    /// `[m, head_dim]`, contiguous
    q: &'a [f32],
    /// `[m, keys]`
    bias: Option<BiasRows<'a>>,
    /// from the head's first key row on; rows `strides[0]` apart
    keys: &'a [f32],
    /// from the head's first value row on; rows `strides[1]` apart
    values: &'a [f32],
    strides: [usize; 2],
    /// `[m, keys, head_dim]`
    dims: [usize; 3],
    scale: f32,
}

impl Block<'_> {
    /// Writes the block's attention into `out` (`[m, head_dim]`, contiguous).
    fn attend(&self, out: &mut [f32]) {
        let [m, keys, hd] = self.dims;
        let [k_stride, v_stride] = self.strides;
        // 1. The keys some row may see (all of them when no bias says otherwise).
        let (first, end) = self
            .bias
            .and_then(|bias| visible_keys((0..m).map(|r| bias.row(r))))
            .unwrap_or((0, keys));
        let used = end - first;
        let (keys_from, values_from) = (&self.keys[first * k_stride..], &self.values[first * v_stride..]);
        // Both products read inside the slices: the last key row used starts at
        // `(used − 1) · stride` and is `hd` long.
        assert!(
            keys_from.len() >= (used - 1) * k_stride + hd && values_from.len() >= (used - 1) * v_stride + hd
        );
        // 2. scores = q · Kᵀ over those keys (`[m, used]`).
        let mut scores = vec![0f32; m * used];
        // Safety: `q` is `[m, hd]` contiguous, Kᵀ's element (d, r) is `keys_from[r · k_stride
        // + d]` (in bounds: asserted above), `scores` is `[m, used]` contiguous and this
        // task's own.
        unsafe {
            gemm_product::product(
                [m, used, hd],
                Strided {
                    at: scores.as_mut_ptr(),
                    column_stride: 1,
                    row_stride: used,
                },
                Strided {
                    at: self.q.as_ptr(),
                    column_stride: 1,
                    row_stride: hd,
                },
                Strided {
                    at: keys_from.as_ptr(),
                    column_stride: k_stride,
                    row_stride: 1,
                },
            );
        }
        // 3. scale, bias and softmax of each row, in cache.
        let bias = self.bias;
        crate::simd::dispatch(
            #[inline(always)]
            || {
                for (row, scores) in scores.chunks_exact_mut(used).enumerate() {
                    let bias = bias.map(|t| &t.row(row)[first..end]);
                    softmax_row(scores, bias, self.scale);
                }
            },
        );
        // 4. out = probabilities · V over those keys (`[m, hd]`).
        // Safety: `scores` is `[m, used]` contiguous, V's element (r, d) is
        // `values_from[r · v_stride + d]` (in bounds: asserted above), `out` is `[m, hd]`
        // contiguous and this task's own.
        unsafe {
            gemm_product::product(
                [m, hd, used],
                Strided {
                    at: out.as_mut_ptr(),
                    column_stride: 1,
                    row_stride: hd,
                },
                Strided {
                    at: scores.as_ptr(),
                    column_stride: 1,
                    row_stride: used,
                },
                Strided {
                    at: values_from.as_ptr(),
                    column_stride: 1,
                    row_stride: v_stride,
                },
            );
        }
    }
}

/// The bias rows of one block: row `r` of the block is row `first_row + r` of its kv head,
/// query head `(first_row + r) / seq`, position `(first_row + r) % seq`.
#[derive(Clone, Copy)]
struct BiasRows<'a> {
    data: &'a [f32],
    /// where the kv head's first row starts in `data`
    start: usize,
    /// strides of the query-head and position axes (0 where broadcast)
    strides: [usize; 2],
    seq: usize,
    first_row: usize,
    keys: usize,
}

impl<'a> BiasRows<'a> {
    /// `[keys]`
    fn row(&self, r: usize) -> &'a [f32] {
        let q = self.first_row + r;
        let at = self.start + (q / self.seq) * self.strides[0] + (q % self.seq) * self.strides[1];
        &self.data[at..at + self.keys]
    }
}

/// The range of keys `first..end` outside which every row of `bias` is `−∞`;
/// `None` when no key of any row is visible (then every key is kept, and the softmax gives
/// what the dense form gives).
fn visible_keys<'a>(bias: impl Iterator<Item = &'a [f32]>) -> Option<(usize, usize)> {
    let mut range: Option<(usize, usize)> = None;
    for row in bias {
        let Some(first) = row.iter().position(|&b| b != f32::NEG_INFINITY) else {
            continue;
        };
        let last = row.iter().rposition(|&b| b != f32::NEG_INFINITY).unwrap_or(first);
        range = Some(match range {
            None => (first, last + 1),
            Some((f, e)) => (f.min(first), e.max(last + 1)),
        });
    }
    range
}

/// `s ← softmax(s · scale + bias)` over one row. The maximum and the sum are taken in 16
/// independent lanes, combined at the end: a single running maximum or sum is a chain of
/// dependent instructions (the compiler may not reorder float reductions), which made this
/// row's softmax the slowest part of a block.
#[inline(always)]
fn softmax_row(scores: &mut [f32], bias: Option<&[f32]>, scale: f32) {
    match bias {
        Some(bias) => scores.iter_mut().zip(bias).for_each(|(s, b)| *s = *s * scale + b),
        None => scores.iter_mut().for_each(|s| *s *= scale),
    }
    let max = lanes_fold(scores, f32::NEG_INFINITY, f32::max, f32::max);
    scores.iter_mut().for_each(|s| *s = burn_flex::exp_f32(*s - max));
    let inverse = lanes_fold(scores, 0.0, |a, b| a + b, |a, b| a + b).recip();
    scores.iter_mut().for_each(|s| *s *= inverse);
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    use super::*;
    use crate::model::scaled_dot_product::dense;

    /// A causal bias over the last `s` of `keys` keys, with the first `pad` keys masked (left
    /// padding), one for every head.
    fn causal(b: usize, s: usize, keys: usize, pad: usize) -> Tensor<Flex, 5> {
        let values: Vec<f32> = (0..b * s * keys)
            .map(|i| {
                let (row, key) = ((i / keys) % s, i % keys);
                if key > keys - s + row || key < pad {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        Tensor::from_data(TensorData::new(values, [b, 1, 1, s, keys]), &Default::default())
    }

    /// The blocked form equals the dense one (up to the order of the sums) on views of a cache
    /// buffer: grouped heads, several blocks a kv head, no bias, a causal bias (broadcast over
    /// heads and read in place, or laid out per head) with
    /// left padding (keys skipped at both ends), a prefill after a cached prefix, a random
    /// bias, a batch of 2.
    #[test]
    fn equals_dense() {
        let device = Default::default();
        let normal = Distribution::Normal(0.0, 1.0);
        let (b, nkv, hd, capacity) = (2, 3, 24, 310);
        // (2, 300): three blocks of a kv head's 600 rows, the last partial, the first two
        // skipping keys at both ends
        let cases = [
            (2, 37, 37, 0),
            (2, 50, 50, 1),
            (4, 9, 70, 1),
            (1, 45, 45, 2),
            (2, 300, 300, 1),
            (2, 40, 40, 3),
        ];
        for (group, s, keys, bias_kind) in cases {
            let q = Tensor::<Flex, 5>::random([b, nkv, group, s, hd], normal, &device);
            let cache = Tensor::<Flex, 4>::random([b, nkv, capacity, hd], normal, &device);
            let k = cache.clone().slice([0..b, 0..nkv, 0..keys, 0..hd]);
            let v = (cache * 0.5).slice([0..b, 0..nkv, 3..keys + 3, 0..hd]);
            let bias = match bias_kind {
                0 => None,
                1 => Some(causal(b, s, keys, 5)),
                // the causal bias laid out per head (as a short prefill's context has it)
                3 => Some(
                    causal(b, s, keys, 5)
                        .expand([b, nkv, group, s, keys])
                        .add_scalar(0.0),
                ),
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
            assert!(diff < 1e-5, "group {group}, seq {s}, keys {keys}: max |Δ| {diff}");
        }
    }

    /// The keys some row sees: both ends trimmed, rows with nothing visible ignored, `None`
    /// when no row sees anything.
    #[test]
    fn visible_keys_spans_what_some_row_sees() {
        let inf = f32::NEG_INFINITY;
        let bias = [
            inf, 0.0, inf, inf, /**/ inf, inf, -1.0, inf, /**/ inf, inf, inf, inf,
        ];
        assert_eq!(visible_keys(bias.chunks(4)), Some((1, 3)));
        assert_eq!(visible_keys([inf; 8].chunks(4)), None);
        assert_eq!(visible_keys([0.0; 8].chunks(4)), Some((0, 4)));
    }

    /// Another dtype, another backend or an empty input: the inputs come back.
    #[test]
    fn declines_what_it_does_not_compute() {
        let device = Default::default();
        let k = Tensor::<Flex, 4>::zeros([1, 1, 4, 8], &device);
        let q16 = Tensor::<Flex, 5>::zeros([1, 1, 2, 20, 8], &device).cast(burn::tensor::FloatDType::BF16);
        let k16 = k.clone().cast(burn::tensor::FloatDType::BF16);
        assert!(on_flex((q16, k16.clone(), k16, None), 1.0).is_err());
        let no_keys = Tensor::<Flex, 4>::zeros([1, 1, 0, 8], &device);
        let q = Tensor::<Flex, 5>::zeros([1, 1, 2, 20, 8], &device);
        assert!(on_flex((q, no_keys.clone(), no_keys, None), 1.0).is_err());
        type Ad = burn::backend::Autodiff<Flex>;
        let qa = Tensor::<Ad, 5>::zeros([1, 1, 2, 20, 8], &device);
        let ka = Tensor::<Ad, 4>::zeros([1, 1, 4, 8], &device);
        assert!(on_flex((qa, ka.clone(), ka, None), 1.0).is_err());
    }
}
