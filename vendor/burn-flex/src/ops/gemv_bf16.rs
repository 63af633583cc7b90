//! spec-actions patch 4: a bf16 row vector times a bf16 matrix without widening the matrix.
//!
//! Upstream's bf16 `matmul` makes both operands contiguous, widens them to f32 and runs the f32
//! `gemm`: for a decode step's `[1, k] × [k, n]` that reads the bf16 weights, writes and reads
//! them again as f32 (three times the bytes of the product itself), and copies a transposed
//! view (the tied LM head's `Eᵀ`) first. Here a row-vector product reads each bf16 weight once,
//! widens it in registers (a bf16 is the high half of an f32) and accumulates in f32, on
//! rayon's threads by blocks of output columns, in the two layouts a model's weights have:
//! - `W` with contiguous rows (`[k, n]`, column stride 1: a Linear's `[d_in, d_out]`):
//!   `y += x_i · W[i, ·]` over a block of columns;
//! - `W` with contiguous columns (row stride 1: `Eᵀ`, the embedding `[n, k]` seen transposed):
//!   one dot product of `x` and a contiguous row of `E` per output, in 16 partial sums.
//!
//! The result is rounded to bf16 once, from the f32 sum. Any other shape or layout returns
//! `None` and takes upstream's path.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_std::{Bytes, Shape, bf16};

use crate::{FlexTensor, Layout};

/// Products with fewer multiply-adds than this run on the calling thread.
#[cfg(feature = "rayon")]
const PARALLEL_THRESHOLD: usize = 1 << 18;

/// Output-column blocks start at multiples of this many columns.
const BLOCK_ALIGN: usize = 64;

/// Lanes of the dot product's partial sums (one AVX-512 register of f32).
const LANES: usize = 16;

#[inline(always)]
fn widen(w: bf16) -> f32 {
    f32::from_bits(u32::from(w.to_bits()) << 16)
}

/// `x · W` for `x` `[.., 1, k]` (every batch dimension 1) and `W` `[.., k, n]` (every batch
/// dimension 1) in bf16, or `None` when the operands are not of that form.
///
/// # Shapes
/// - `lhs`: `[1, …, 1, 1, k]`
/// - `rhs`: `[1, …, 1, k, n]`, rows or columns contiguous
/// - output: the broadcast batch dimensions, then `[1, n]`
pub(crate) fn row_vector_product(lhs: &FlexTensor, rhs: &FlexTensor) -> Option<FlexTensor> {
    let (ls, rs) = (lhs.layout().shape(), rhs.layout().shape());
    let (lr, rr) = (ls.num_dims(), rs.num_dims());
    if lr < 2 || rr < 2 || ls[lr - 2] != 1 {
        return None;
    }
    if ls[..lr - 2].iter().chain(&rs[..rr - 2]).any(|&d| d != 1) {
        return None;
    }
    let (k, n) = (ls[lr - 1], rs[rr - 1]);
    if rs[rr - 2] != k || k == 0 || n == 0 {
        return None;
    }
    let lhs_stride = lhs.layout().strides()[lr - 1];
    let (row_stride, col_stride) = {
        let s = rhs.layout().strides();
        (s[rr - 2], s[rr - 1])
    };
    let rows = col_stride == 1;
    if !rows && row_stride != 1 {
        return None;
    }
    let x_data: &[bf16] = lhs.storage();
    let x_start = lhs.layout().start_offset() as isize;
    let x: Vec<f32> = (0..k)
        .map(|i| widen(x_data[(x_start + i as isize * lhs_stride) as usize]))
        .collect();
    let w_data: &[bf16] = rhs.storage();
    let w = &w_data[rhs.layout().start_offset()..];

    let mut y = vec![0f32; n];
    let block_of = |first: usize, out: &mut [f32]| {
        if rows {
            axpy_block(&x, w, row_stride as usize, first, out);
        } else {
            dot_block(&x, w, col_stride as usize, first, out);
        }
    };
    #[cfg(feature = "rayon")]
    {
        let threads = rayon::current_num_threads();
        if threads > 1 && n >= 2 * BLOCK_ALIGN && n.saturating_mul(k) >= PARALLEL_THRESHOLD {
            use rayon::prelude::*;
            let block = n.div_ceil(threads).next_multiple_of(BLOCK_ALIGN);
            y.par_chunks_mut(block)
                .enumerate()
                .for_each(|(b, out)| block_of(b * block, out));
        } else {
            block_of(0, &mut y);
        }
    }
    #[cfg(not(feature = "rayon"))]
    block_of(0, &mut y);

    let mut dims: Vec<usize> = vec![1; lr.max(rr) - 2];
    dims.extend([1, n]);
    let out: Vec<bf16> = y.into_iter().map(bf16::from_f32).collect();
    Some(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(dims)),
        DType::BF16,
    ))
}

/// `out[j] = Σ_i x[i] · W[i, first + j]`, rows of `W` `row_stride` apart, columns contiguous.
#[cfg(feature = "simd")]
#[macerator::with_simd]
fn axpy_block<S: macerator::Simd>(x: &[f32], w: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
    axpy_body(x, w, row_stride, first, out)
}

#[cfg(not(feature = "simd"))]
fn axpy_block(x: &[f32], w: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
    axpy_body(x, w, row_stride, first, out)
}

#[inline(always)]
fn axpy_body(x: &[f32], w: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
    let width = out.len();
    for (i, &xi) in x.iter().enumerate() {
        let row = &w[i * row_stride + first..][..width];
        for (o, &wij) in out.iter_mut().zip(row) {
            *o += xi * widen(wij);
        }
    }
}

/// `out[j] = Σ_i x[i] · E[first + j, i]`, rows of `E` `row_stride` apart and contiguous.
#[cfg(feature = "simd")]
#[macerator::with_simd]
fn dot_block<S: macerator::Simd>(x: &[f32], e: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
    dot_body(x, e, row_stride, first, out)
}

#[cfg(not(feature = "simd"))]
fn dot_block(x: &[f32], e: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
    dot_body(x, e, row_stride, first, out)
}

#[inline(always)]
fn dot_body(x: &[f32], e: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
    let k = x.len();
    let whole = k / LANES * LANES;
    for (j, o) in out.iter_mut().enumerate() {
        let row = &e[(first + j) * row_stride..][..k];
        let mut acc = [0f32; LANES];
        for (xs, es) in x[..whole].chunks_exact(LANES).zip(row[..whole].chunks_exact(LANES)) {
            for l in 0..LANES {
                acc[l] += xs[l] * widen(es[l]);
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for i in whole..k {
            sum += x[i] * widen(row[i]);
        }
        *o = sum;
    }
}
