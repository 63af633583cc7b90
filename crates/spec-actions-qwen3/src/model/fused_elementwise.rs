//! Three steps of a decoder layer in one pass each on Flex (f32 inference): the SwiGLU gate of
//! [`Mlp`](super::Mlp), `silu(gate) · up`, the rotation of
//! [`HeadTables::apply`](super::rope::HeadTables::apply), `x·cos + swap_halves(x)·sin_signed`,
//! and [`RmsNorm`](super::RmsNorm), `w · x / sqrt(mean(x²) + eps)` row by row.
//!
//! burn composes the gate from three ops (`sigmoid`, two `mul`s), the rotation from five (two
//! slices, a `cat`, two `mul`s and an `add`) and the norm from seven (square, mean, add, root,
//! reciprocal, two `mul`s): each a pass over the tensor into a new buffer, and on Flex each a
//! loop compiled for baseline SSE2 (its `sigmoid` a scalar loop of divisions). A prefill of 128
//! tokens through Qwen3-0.6B spent 15 ms in the gates and 24 ms in the rotations
//! (`examples/prefill_passes.rs`' parts, 28 layers, 2-core Xeon family 6 model 167; 4 and 9 ms
//! here); a decode step 3.5–3.7 ms outside its products, head and attention, 0.7–2.6 ms with
//! the three steps here (`examples/decode_steps.rs f32 32 128`'s `rest`, two runs each). Here
//! each is one loop over its inputs, written into the first input's buffer when it is the only
//! owner, compiled for the CPU's widest registers ([`crate::simd::dispatch`]) and split over
//! rayon's threads in chunks of [`CHUNK_ELEMENTS`].
//!
//! The gate and the rotation compute every element by the same f32 operations in the same
//! order as the composed ops (Rust never contracts `a·b + c` into a fused multiply-add; the
//! sigmoid is Flex's own, [`burn_flex::sigmoid_f32`]), so their results equal the composed
//! ops' bit for bit (`tests`); the norm's sum of squares is taken in another order, so it
//! agrees to f32 rounding. Any other backend, autodiff (training), another dtype, or inputs
//! that are not contiguous take the composed ops: the functions give their inputs back.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use burn::tensor::activation::silu;
//! use spec_actions_qwen3::model::fused_elementwise::swiglu_on_flex;
//!
//! let device = Default::default();
//! let gate = Tensor::<Flex, 2>::from_floats([[-2.0, 0.5, 3.0]], &device);
//! let up = Tensor::<Flex, 2>::from_floats([[1.0, 2.0, -1.0]], &device);
//! let composed = silu(gate.clone()) * up.clone();
//! let fused = swiglu_on_flex(gate, up).expect("f32 tensors on Flex");
//! fused.into_data().assert_eq(&composed.into_data(), true);
//! ```

use burn::prelude::*;
use burn::tensor::DType;
use burn_flex::{FlexTensor, Layout, sigmoid_f32};
use rayon::prelude::*;

use crate::flex_tensors::{from_flex, into_flex, is_flex};
use crate::simd::lanes_fold;

/// Elements one task of a fused loop handles (64 KiB of f32): a 128-token prefill's gate of
/// Qwen3-0.6B (`[128, 3,072]`) is 24 tasks; a decode step's (3,072 elements) one, run on the
/// calling thread.
pub const CHUNK_ELEMENTS: usize = 16 * 1024;

/// `silu(gate) · up` (`gate · sigmoid(gate) · up`) in one pass when `B` is Flex and both are
/// contiguous f32 tensors of one shape; the inputs back otherwise.
///
/// # Shapes
/// - `gate`, `up`: `[..., d]`, the same shape
/// - returns that shape
pub fn swiglu_on_flex<B: Backend, const D: usize>(
    gate: Tensor<B, D>,
    up: Tensor<B, D>,
) -> Result<Tensor<B, D>, (Tensor<B, D>, Tensor<B, D>)> {
    let f32_inputs = gate.dtype() == DType::F32 && up.dtype() == DType::F32;
    if !is_flex::<B>() || !f32_inputs || gate.dims() != up.dims() {
        return Err((gate, up));
    }
    let (gate, up) = (into_flex(gate), into_flex(up));
    match in_one_pass(
        gate,
        &[&up],
        #[inline(always)]
        |out, [up]| gate_chunk(out, up),
    ) {
        Ok(out) => Ok(from_flex(out)),
        Err(gate) => Err((from_flex(gate), from_flex(up))),
    }
}

/// `x·cos + swap_halves(x)·sin_signed` over the last dimension (RoPE in transformers'
/// rotate-half layout, the sign of `rotate_half` folded into `sin_signed`) in one pass when `B`
/// is Flex and all three are contiguous f32 tensors of one shape; `x` back otherwise.
///
/// # Shapes
/// - `x`, `cos`, `sin_signed`: `[batch, seq, heads, head_dim]`, `head_dim` even
/// - returns `[batch, seq, heads, head_dim]`
pub fn rope_on_flex<B: Backend>(
    x: Tensor<B, 4>,
    cos: &Tensor<B, 4>,
    sin_signed: &Tensor<B, 4>,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    let dims = x.dims();
    let head_dim = dims[3];
    let f32_inputs = [x.dtype(), cos.dtype(), sin_signed.dtype()]
        .iter()
        .all(|&d| d == DType::F32);
    let same_shapes = cos.dims() == dims && sin_signed.dims() == dims;
    if !is_flex::<B>() || !f32_inputs || !same_shapes || !head_dim.is_multiple_of(2) || head_dim == 0 {
        return Err(x);
    }
    let (cos, sin_signed) = (into_flex(cos.clone()), into_flex(sin_signed.clone()));
    in_one_pass(
        into_flex(x),
        &[&cos, &sin_signed],
        #[inline(always)]
        |out, [cos, sin]| rope_chunk(out, cos, sin, head_dim),
    )
    .map(from_flex)
    .map_err(from_flex)
}

/// `w · x / sqrt(mean(x²) + eps)` over the last dimension (RMSNorm, as [`RmsNorm`](super::RmsNorm)
/// computes it in f32: `x · (1 / sqrt(mean + eps))`, then `· w`) in one pass when `B` is Flex
/// and `x` and `weight` are contiguous f32 tensors; `x` back otherwise. Unlike the two steps
/// above, not bit for bit the composed ops: the sum of squares is taken in 16 lanes (burn's
/// `mean_dim` sums in its own order), so the results agree to f32 rounding (`tests`).
///
/// # Shapes
/// - `x`: `[..., dim]`
/// - `weight`: `[dim]`
/// - returns `[..., dim]`
pub fn rms_norm_on_flex<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: &Tensor<B, 1>,
    eps: f64,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    let dim = x.dims()[D - 1];
    let f32_inputs = x.dtype() == DType::F32 && weight.dtype() == DType::F32;
    if !is_flex::<B>() || !f32_inputs || weight.dims() != [dim] || dim == 0 {
        return Err(x);
    }
    let weight = into_flex(weight.clone());
    let Some(weight) = weight.as_slice::<f32>() else {
        return Err(x);
    };
    let (eps, inverse_dim) = (eps as f32, 1.0 / dim as f32);
    in_one_pass(
        into_flex(x),
        &[],
        #[inline(always)]
        |out, []| rms_norm_chunk(out, weight, eps, inverse_dim),
    )
    .map(from_flex)
    .map_err(from_flex)
}

/// `kernel(out, inputs)` over chunks of whole rows of `first`'s last dimension (mark the
/// kernel `#[inline(always)]`: only then is it compiled into [`crate::simd::dispatch`]'s wide
/// registers, see there): `out` holds
/// `first`'s values on entry and the results on return. Written into `first`'s own buffer when
/// it is its only owner, else into a new one. `first` back when it or an input is not a
/// contiguous f32 tensor.
fn in_one_pass<const N: usize>(
    mut first: FlexTensor,
    inputs: &[&FlexTensor; N],
    kernel: impl Fn(&mut [f32], [&[f32]; N]) + Sync,
) -> Result<FlexTensor, FlexTensor> {
    let shape = first.layout().shape().clone();
    let n = shape.num_elements();
    let row = shape.last().copied().unwrap_or(1).max(1);
    let Some(slices) = inputs
        .iter()
        .map(|t| t.as_slice::<f32>().filter(|s| s.len() == n))
        .collect::<Option<Vec<&[f32]>>>()
    else {
        return Err(first);
    };
    let chunk = CHUNK_ELEMENTS.div_ceil(row) * row;
    let run = |out: &mut [f32]| {
        let run_chunk = |(i, out): (usize, &mut [f32])| {
            let start = i * chunk;
            let inputs: [&[f32]; N] = std::array::from_fn(|k| &slices[k][start..start + out.len()]);
            crate::simd::dispatch(
                #[inline(always)]
                || kernel(out, inputs),
            );
        };
        if n <= chunk {
            run_chunk((0, out));
        } else {
            out.par_chunks_mut(chunk).enumerate().for_each(run_chunk);
        }
    };
    let range = first.layout().contiguous_offsets();
    if first.is_unique()
        && first.layout().is_contiguous()
        && let Some((start, end)) = range
        && end - start == n
        && let Some(storage) = first.try_storage_mut::<f32>()
    {
        run(&mut storage[start..end]);
        return Ok(first);
    }
    let Some(values) = first.as_slice::<f32>().filter(|s| s.len() == n) else {
        return Err(first);
    };
    let mut out = values.to_vec();
    run(&mut out);
    Ok(FlexTensor::new(
        burn_std::Bytes::from_elems(out),
        Layout::contiguous(shape),
        DType::F32,
    ))
}

/// `x ← x · (1 / sqrt(mean(x²) + eps)) · w`, row by row of `w`'s length.
#[inline(always)]
fn rms_norm_chunk(x: &mut [f32], weight: &[f32], eps: f32, inverse_dim: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let mean = lanes_fold(row, 0.0, |sum, x| sum + x * x, |a, b| a + b) * inverse_dim;
        let inverse_root = (mean + eps).sqrt().recip();
        row.iter_mut()
            .zip(weight)
            .for_each(|(x, &w)| *x = (*x * inverse_root) * w);
    }
}

/// `gate ← gate · sigmoid(gate) · up`, as `silu(gate) * up` computes each element.
#[inline(always)]
fn gate_chunk(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = (*g * sigmoid_f32(*g)) * u;
    }
}

/// `x ← x·cos + swap_halves(x)·sin`, row by row of `head_dim`, as the composed ops compute
/// each element (`x·cos` plus `swapped·sin`).
#[inline(always)]
fn rope_chunk(x: &mut [f32], cos: &[f32], sin: &[f32], head_dim: usize) {
    let half = head_dim / 2;
    for ((x, cos), sin) in x
        .chunks_exact_mut(head_dim)
        .zip(cos.chunks_exact(head_dim))
        .zip(sin.chunks_exact(head_dim))
    {
        let (first, second) = x.split_at_mut(half);
        let (cos_1, cos_2) = cos.split_at(half);
        let (sin_1, sin_2) = sin.split_at(half);
        // zipped slices, no indices: the loop vectorises
        let halves = first.iter_mut().zip(second.iter_mut());
        let tables = cos_1.iter().zip(cos_2).zip(sin_1.iter().zip(sin_2));
        for ((a, b), ((&c1, &c2), (&s1, &s2))) in halves.zip(tables) {
            let (x1, x2) = (*a, *b);
            *a = x1 * c1 + x2 * s1;
            *b = x2 * c2 + x1 * s2;
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;
    use burn::tensor::activation::silu;
    use burn::tensor::{Distribution, FloatDType};

    use super::{CHUNK_ELEMENTS, rms_norm_on_flex, rope_on_flex, swiglu_on_flex};
    use crate::model::RotaryEmbedding;

    fn random<B: Backend, const D: usize>(dims: [usize; D], std: f64) -> Tensor<B, D> {
        Tensor::random(dims, Distribution::Normal(0.0, std), &Default::default())
    }

    /// The composed ops' `x·cos + swap_halves(x)·sin_signed`, as `HeadTables::apply` wrote it.
    fn composed_rope<B: Backend>(x: Tensor<B, 4>, cos: Tensor<B, 4>, sin: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, s, h, d] = x.dims();
        let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
        let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
        x * cos + Tensor::cat(vec![x2, x1], 3) * sin
    }

    /// Bit for bit `silu(gate) * up`, over sizes from one chunk to several (the last partial),
    /// large and tiny values (the sigmoid's two branches, its saturation), in place or not.
    #[test]
    fn swiglu_equals_the_composed_ops_bit_for_bit() {
        for (rows, d, std) in [(1, 48, 1.0), (3, 3_072, 4.0), (7, CHUNK_ELEMENTS / 4 + 5, 30.0)] {
            let gate = random::<Flex, 2>([rows, d], std);
            let up = random::<Flex, 2>([rows, d], 1.0);
            let composed = silu(gate.clone()) * up.clone();
            // a shared gate (cloned above): written into a new buffer
            let shared = swiglu_on_flex(gate.clone(), up.clone()).expect("f32 on Flex");
            shared.into_data().assert_eq(&composed.clone().into_data(), true);
            // a uniquely owned gate: written in place
            let owned = gate.clone().add_scalar(0.0);
            let in_place = swiglu_on_flex(owned, up).expect("f32 on Flex");
            in_place.into_data().assert_eq(&composed.into_data(), true);
        }
    }

    /// Bit for bit the composed rotation, with the real tables of a prefill and a decode step,
    /// query and key heads.
    #[test]
    fn rope_equals_the_composed_ops_bit_for_bit() {
        let device = Default::default();
        let rotary = RotaryEmbedding::new(64, 1_000_000.0, 4, 2);
        for positions in [vec![(0..37).collect::<Vec<_>>(); 2], vec![vec![4_095]]] {
            let tables = rotary.tables::<Flex>(&positions, &device);
            for t in [tables.q, tables.k] {
                let x = random::<Flex, 4>(t.cos.dims(), 2.0);
                let composed = composed_rope(x.clone(), t.cos.clone(), t.sin_signed.clone());
                let fused = rope_on_flex(x.clone(), &t.cos, &t.sin_signed).expect("f32 on Flex");
                fused.into_data().assert_eq(&composed.into_data(), true);
            }
        }
    }

    /// RMSNorm within f32 rounding of the composed ops (`RmsNorm::forward` on `Autodiff<Flex>`,
    /// which takes them), rows of a prefill's hidden size and of a head, with large values.
    #[test]
    fn rms_norm_equals_the_composed_ops_to_f32_rounding() {
        use crate::model::RmsNorm;
        for (rows, dim, std) in [(1, 1_024, 1.0), (37, 128, 30.0), (3, 2_000, 0.01)] {
            let x = random::<Flex, 2>([rows, dim], std);
            let weight = random::<Flex, 1>([dim], 1.0);
            let fused = rms_norm_on_flex(x.clone(), &weight, 1e-6).expect("f32 on Flex");
            let norm = RmsNorm::<Autodiff<Flex>>::new(Tensor::from_inner(weight), 1e-6);
            let composed = norm.forward(Tensor::from_inner(x)).inner();
            let scale = composed.clone().abs().max().into_scalar();
            let diff = (fused - composed).abs().max().into_scalar();
            assert!(
                diff <= 4e-7 * scale,
                "{rows}×{dim}: max |Δ| {diff} of max {scale}"
            );
        }
    }

    /// Other backends, other dtypes, strided views and mismatched shapes get their inputs back.
    #[test]
    fn other_inputs_are_given_back() {
        let ad = random::<Autodiff<Flex>, 2>([2, 8], 1.0);
        assert!(swiglu_on_flex(ad.clone(), ad).is_err());
        let bf16 = random::<Flex, 2>([2, 8], 1.0).cast(FloatDType::BF16);
        assert!(swiglu_on_flex(bf16.clone(), bf16).is_err());
        let x = random::<Flex, 2>([2, 8], 1.0);
        assert!(swiglu_on_flex(x.clone(), random::<Flex, 2>([2, 4], 1.0)).is_err());
        let strided = random::<Flex, 2>([8, 2], 1.0).transpose();
        let given_back = swiglu_on_flex(x.clone(), strided).expect_err("a transposed view");
        given_back.0.into_data().assert_eq(&x.into_data(), true);
        let tables =
            RotaryEmbedding::new(8, 10_000.0, 2, 2).tables::<Flex>(&[vec![0, 1, 2]], &Default::default());
        let heads_first = random::<Flex, 4>([1, 2, 3, 8], 1.0).swap_dims(1, 2);
        assert!(rope_on_flex(heads_first, &tables.q.cos, &tables.q.sin_signed).is_err());
        let odd = random::<Flex, 4>([1, 3, 2, 7], 1.0);
        assert!(rope_on_flex(odd.clone(), &odd, &odd).is_err());
        let rows = random::<Flex, 2>([3, 8], 1.0);
        assert!(rms_norm_on_flex(rows.clone(), &random::<Flex, 1>([4], 1.0), 1e-6).is_err());
        let bf16_weight = random::<Flex, 1>([8], 1.0).cast(FloatDType::BF16);
        assert!(rms_norm_on_flex(rows, &bf16_weight, 1e-6).is_err());
    }
}
