//! spec-actions patch 5 (see `vendor/README.md`): a float cast in one pass from the source
//! dtype to the target, on rayon's threads when the tensor is large.
//!
//! Upstream's `float_cast` converted every element to an `f64` vector first and the vector to
//! the target: two passes over the data (three for an `f64` source, which it copied), one
//! thread. The training loss casts `[rows, 151,936]` logits and an LM head of 39 M elements to
//! `f64` and back (`spec_actions_train::objective`), and mixed precision casts every
//! projection's input: the extra pass and the idle second core showed in profiles (`float_cast`
//! 8.5 % of a LoRA step, `perf` on the `lora_step` bench).
//!
//! Each conversion is the one upstream's two steps compose to: a source value widened to `f64`
//! is exact (f16, bf16, f32 ⊂ f64), and the narrowing to the target is the same rounding of
//! the same value, so every bit equals upstream's (`crates/spec-actions-qwen3/tests/flex_cast.rs`).

use alloc::vec::Vec;
use burn_backend::DType;
use burn_std::{Bytes, bf16, f16};

use super::for_each_chunk_pair_mut;
use crate::{FlexTensor, Layout};

/// A float element that converts to and from `f64` as upstream's cast does.
pub(crate) trait CastElement: burn_backend::Element + bytemuck::Pod + Send + Sync + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl CastElement for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl CastElement for f64 {
    const DTYPE: DType = DType::F64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl CastElement for f16 {
    const DTYPE: DType = DType::F16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        // upstream: `v.to_f32() as f64`
        f64::from(self.to_f32())
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

impl CastElement for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        // upstream: `v.to_f32() as f64`
        f64::from(self.to_f32())
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
}

/// `tensor` (contiguous, dtype `S`) cast to `target`.
pub(crate) fn cast_from<S: CastElement>(tensor: &FlexTensor, target: DType) -> FlexTensor {
    match target {
        DType::F32 => cast_to::<S, f32>(tensor),
        DType::F64 => cast_to::<S, f64>(tensor),
        DType::F16 => cast_to::<S, f16>(tensor),
        DType::BF16 => cast_to::<S, bf16>(tensor),
        _ => panic!("float_cast: unsupported target dtype {target:?}"),
    }
}

fn cast_to<S: CastElement, T: CastElement>(tensor: &FlexTensor) -> FlexTensor {
    let src: &[S] = tensor.storage();
    let mut out: Vec<T> = alloc::vec![T::zeroed(); src.len()];
    for_each_chunk_pair_mut(&mut out, src, |dst, src| {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = T::from_f64(s.to_f64());
        }
    });
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(tensor.layout().shape().clone()),
        T::DTYPE,
    )
}
