//! Backend operations implementations.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_std::{bf16, f16};

use crate::FlexTensor;

/// The `DType` that matches `isize` on the current platform.
#[cfg(target_pointer_width = "64")]
pub(crate) const INDEX_DTYPE: DType = DType::I64;
/// The `DType` that matches `isize` on the current platform.
#[cfg(target_pointer_width = "32")]
pub(crate) const INDEX_DTYPE: DType = DType::I32;

/// Minimum total element count for rayon fan-out on per-row or per-chunk loops.
/// Below this, task-dispatch overhead dominates the per-unit work.
#[cfg(feature = "rayon")]
pub(crate) const PARALLEL_THRESHOLD: usize = 256 * 1024;

/// Elements per task of [`for_each_chunk_mut`].
#[cfg(feature = "rayon")]
const ELEMENTWISE_CHUNK: usize = 64 * 1024;

/// `f` on consecutive chunks of `data`, on rayon's threads when `data` holds at least
/// [`PARALLEL_THRESHOLD`] elements (spec-actions patch, see `vendor/README.md`: upstream runs
/// every element-wise op on one thread). Each element is computed by the same code either
/// way, so results are bit for bit those of the serial loop.
pub(crate) fn for_each_chunk_mut<E: Send>(data: &mut [E], f: impl Fn(&mut [E]) + Sync + Send) {
    #[cfg(feature = "rayon")]
    if data.len() >= PARALLEL_THRESHOLD {
        use rayon::prelude::*;
        data.par_chunks_mut(ELEMENTWISE_CHUNK).for_each(|chunk| f(chunk));
        return;
    }
    f(data)
}

/// [`for_each_chunk_mut`] over `dst` with the matching chunks of `src` (`src.len() >= dst.len()`).
pub(crate) fn for_each_chunk_pair_mut<E: Send + Sync, R: Sync>(
    dst: &mut [E],
    src: &[R],
    f: impl Fn(&mut [E], &[R]) + Sync + Send,
) {
    let src = &src[..dst.len()];
    #[cfg(feature = "rayon")]
    if dst.len() >= PARALLEL_THRESHOLD {
        use rayon::prelude::*;
        dst.par_chunks_mut(ELEMENTWISE_CHUNK)
            .zip(src.par_chunks(ELEMENTWISE_CHUNK))
            .for_each(|(d, s)| f(d, s));
        return;
    }
    f(dst, src)
}

/// `op` of every element of `src`, as a new vector — on rayon's threads, in chunks of
/// `ELEMENTWISE_CHUNK`, when `src` holds at least [`PARALLEL_THRESHOLD`] elements
/// (spec-actions patch 10, see `vendor/README.md`: upstream collects the result of an op on a
/// shared tensor on one thread, and copies such a tensor before its threaded in-place pass).
/// Each element is `op` of its own input either way: bit for bit the serial `map().collect()`.
pub(crate) fn map_to_vec<E: Copy + Sync, R: Send>(
    src: &[E],
    op: impl Fn(E) -> R + Sync + Send,
) -> Vec<R> {
    vec_by_chunks(src.len(), |start, out| {
        let end = start + out.len();
        for (o, &x) in out.iter_mut().zip(&src[start..end]) {
            o.write(op(x));
        }
    })
}

/// [`map_to_vec`] of `op` over the pairs of `lhs` and `rhs` (`rhs.len() >= lhs.len()`).
pub(crate) fn zip_map_to_vec<E: Copy + Sync, R: Send>(
    lhs: &[E],
    rhs: &[E],
    op: impl Fn(E, E) -> R + Sync + Send,
) -> Vec<R> {
    let rhs = &rhs[..lhs.len()];
    vec_by_chunks(lhs.len(), |start, out| {
        let end = start + out.len();
        for ((o, &a), &b) in out.iter_mut().zip(&lhs[start..end]).zip(&rhs[start..end]) {
            o.write(op(a, b));
        }
    })
}

/// A vector of `len` elements, each chunk written by `fill(chunk's first index, chunk)`; `fill`
/// must write every element of the chunk it is given (both callers above zip the chunk with an
/// input of its length).
fn vec_by_chunks<R: Send>(
    len: usize,
    fill: impl Fn(usize, &mut [core::mem::MaybeUninit<R>]) + Sync + Send,
) -> Vec<R> {
    let mut out: Vec<R> = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    #[cfg(feature = "rayon")]
    if len >= PARALLEL_THRESHOLD {
        use rayon::prelude::*;
        spare
            .par_chunks_mut(ELEMENTWISE_CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| fill(i * ELEMENTWISE_CHUNK, chunk));
    } else {
        fill(0, spare);
    }
    #[cfg(not(feature = "rayon"))]
    fill(0, spare);
    // SAFETY: `fill` wrote each of the first `len` elements (its contract, kept by its callers).
    unsafe { out.set_len(len) };
    out
}

/// Wrapper for raw mutable pointers that can be sent across rayon threads.
///
/// # Safety
///
/// The caller must ensure:
/// - The pointer remains valid for the lifetime of all uses
/// - No two threads write to the same offset
/// - No references to the underlying data exist during writes
#[cfg(feature = "rayon")]
pub(crate) struct SendMutPtr<T>(*mut T);

#[cfg(feature = "rayon")]
unsafe impl<T> Send for SendMutPtr<T> {}
#[cfg(feature = "rayon")]
unsafe impl<T> Sync for SendMutPtr<T> {}

#[cfg(feature = "rayon")]
impl<T> SendMutPtr<T> {
    pub(crate) fn new(ptr: *mut T) -> Self {
        Self(ptr)
    }

    /// Write `val` at the given element offset.
    ///
    /// # Safety
    /// Offset must be in bounds and no other thread may write to the same offset.
    pub(crate) unsafe fn write(&self, offset: usize, val: T) {
        unsafe { self.0.add(offset).write(val) }
    }

    /// Returns the raw pointer offset by `offset` elements.
    ///
    /// # Safety
    /// Offset must be in bounds.
    pub(crate) unsafe fn ptr_add(&self, offset: usize) -> *mut T {
        unsafe { self.0.add(offset) }
    }
}

/// Read a float tensor's storage as f32 values, regardless of source dtype.
/// Returns a borrowed slice for F32 (zero-copy) and an owned Vec for other
/// float dtypes (F64, F16, BF16).
///
/// Returns elements in underlying buffer order. Callers needing logical
/// iteration order must call `to_contiguous()` first.
///
/// # Panics
/// Panics if the tensor's dtype is not one of F32, F64, F16, or BF16.
pub(crate) fn float_storage_as_f32(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    match tensor.dtype() {
        DType::F32 => Cow::Borrowed(tensor.storage::<f32>()),
        DType::F64 => Cow::Owned(tensor.storage::<f64>().iter().map(|&x| x as f32).collect()),
        DType::F16 => Cow::Owned(
            tensor
                .storage::<f16>()
                .iter()
                .map(|x| f32::from(*x))
                .collect(),
        ),
        DType::BF16 => Cow::Owned(
            tensor
                .storage::<bf16>()
                .iter()
                .map(|x| f32::from(*x))
                .collect(),
        ),
        other => panic!("float_storage_as_f32: unsupported dtype {:?}", other),
    }
}

pub mod activation;
pub mod attention;
// spec-actions patch 4
mod row_vector;
pub use row_vector::{bf16_kernels_chosen, f32_kernels_chosen, f32_row_times_bf16, set_dot_rows_together};
pub mod binary;
mod bool;
pub mod cat;
pub mod comparison;
#[macro_use]
mod conv_common;
pub mod conv;
pub mod conv_transpose;
pub mod cumulative;
pub mod deform_conv;
pub mod expand;
pub(crate) mod cast; // spec-actions patch 5 (vendor/README.md)
pub mod fast_exp; // spec-actions patch (vendor/README.md, change 3)
pub mod fft;
pub mod flip;
mod float;
pub mod gather_scatter;
pub mod grid_sample;
mod int;
pub mod interpolate;
pub mod mask;
pub mod matmul;
mod module;
pub mod pool;
mod qtensor;
pub mod reduce;
pub mod repeat_dim;
pub mod slice;
pub mod sort;
mod transaction;
pub mod unary;
pub mod unfold;
