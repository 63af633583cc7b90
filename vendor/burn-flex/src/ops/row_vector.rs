//! spec-actions patch 4: a row vector times a matrix (a decode step's products) in one pass
//! over the weights, f32 or bf16.
//!
//! Upstream sends a `[1, k] × [k, n]` product to the `gemm` crate: for f32 that is a
//! general-purpose kernel that packs and runs on one thread for `m = 1`; for bf16 it first copies
//! both operands contiguous and widens them to f32 (reading the bf16 weights, writing and reading
//! them again as f32: three times the bytes of the product itself), after copying a transposed
//! view (the tied LM head's `Eᵀ`). Here the product reads each weight once (a bf16 widened in
//! registers: it is the high half of an f32) and accumulates in f32, on rayon's threads, in the
//! two layouts a model's weights have:
//! - `W` with contiguous rows (`[k, n]`, column stride 1: a Linear's `[d_in, d_out]`): the rows
//!   are cut into fixed chunks of [`ROW_CHUNK`]; each chunk (one contiguous stretch of memory,
//!   one thread) sums `x_i · W[i, ·]` over its rows, one row at a time, into a partial vector
//!   (bf16 on AVX-512F or AVX2: [`bf16_x86`], which prefetches each row's stream ahead of the
//!   loads);
//!   the partials are added in chunk order. Splitting the *columns* instead
//!   (every thread reading a part of every row) ran at a third of one thread's speed on a
//!   2-core EPYC with the weights in DRAM; the chunks are fixed, so the sums — and the bits —
//!   do not depend on the number of threads;
//! - `W` with contiguous columns (row stride 1: `Eᵀ`, the embedding `[n, k]` seen transposed):
//!   one dot product of `x` and a contiguous row of `E` per output, in 16 partial sums, on
//!   rayon's threads by blocks of outputs (each block a contiguous stretch of `E`).
//!
//! A bf16 result is rounded to bf16 once, from the f32 sum. Any other shape or layout returns
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

/// Rows of a row-major `W` summed into one partial vector (one thread's contiguous stretch).
const ROW_CHUNK: usize = 256;

/// Lanes of the dot product's partial sums (one AVX-512 register of f32).
const LANES: usize = 16;

/// A weight element: read as f32 (exactly), written back from the f32 sum.
pub(crate) trait Weight: burn_backend::Element + bytemuck::Pod + Send + Sync + 'static {
    const DTYPE: DType;
    fn widen(self) -> f32;
    fn narrow(x: f32) -> Self;
}

impl Weight for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
    #[inline(always)]
    fn narrow(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

impl Weight for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
    #[inline(always)]
    fn narrow(x: f32) -> Self {
        x
    }
}

/// `x · W` for `x` `[.., 1, k]` (every batch dimension 1) and `W` `[.., k, n]` (every batch
/// dimension 1), both of dtype `T`, or `None` when the operands are not of that form.
///
/// # Shapes
/// - `lhs`: `[1, …, 1, 1, k]`
/// - `rhs`: `[1, …, 1, k, n]`, rows or columns contiguous
/// - output: the broadcast batch dimensions, then `[1, n]`
pub(crate) fn row_vector_product<T: Weight>(lhs: &FlexTensor, rhs: &FlexTensor) -> Option<FlexTensor> {
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
    let x_data: &[T] = lhs.storage();
    let x_start = lhs.layout().start_offset() as isize;
    let x: Vec<f32> = (0..k)
        .map(|i| x_data[(x_start + i as isize * lhs_stride) as usize].widen())
        .collect();
    let w_data: &[T] = rhs.storage();
    let w = &w_data[rhs.layout().start_offset()..];

    let y = if rows {
        row_major_product(&x, w, row_stride as usize, n)
    } else {
        transposed_product(&x, w, col_stride as usize, n)
    };

    let mut dims: Vec<usize> = vec![1; lr.max(rr) - 2];
    dims.extend([1, n]);
    let out: Vec<T> = y.into_iter().map(T::narrow).collect();
    Some(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(dims)),
        T::DTYPE,
    ))
}

/// Whether a product of `work` multiply-adds is split over rayon's threads.
fn parallel(work: usize) -> bool {
    #[cfg(feature = "rayon")]
    return rayon::current_num_threads() > 1 && work >= PARALLEL_THRESHOLD;
    #[cfg(not(feature = "rayon"))]
    {
        let _ = work;
        false
    }
}

/// `y = x · W`, `W` `[k, n]` with rows `row_stride` apart: partial sums over fixed chunks of
/// [`ROW_CHUNK`] rows (in parallel when large), added in chunk order.
fn row_major_product<T: Weight>(x: &[f32], w: &[T], row_stride: usize, n: usize) -> Vec<f32> {
    let k = x.len();
    let chunks = k.div_ceil(ROW_CHUNK);
    let partial = |c: usize| {
        let rows = c * ROW_CHUNK..k.min((c + 1) * ROW_CHUNK);
        let mut out = vec![0f32; n];
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if let Some(width) = bf16_x86::width::<T>() {
            bf16_x86::axpy_rows(width, &x[rows.clone()], bytemuck::cast_slice(&w[rows.start * row_stride..]), row_stride, &mut out);
            return out;
        }
        axpy_block(&x[rows.clone()], &w[rows.start * row_stride..], row_stride, &mut out);
        out
    };
    if chunks == 1 {
        return partial(0);
    }
    let partials: Vec<Vec<f32>> = if parallel(n.saturating_mul(k)) {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            (0..chunks).into_par_iter().map(partial).collect()
        }
        #[cfg(not(feature = "rayon"))]
        unreachable!("parallel() is false without rayon")
    } else {
        (0..chunks).map(partial).collect()
    };
    let mut parts = partials.into_iter();
    let mut y = parts.next().expect("at least two chunks");
    for part in parts {
        for (yj, pj) in y.iter_mut().zip(&part) {
            *yj += pj;
        }
    }
    y
}

/// `y = x · Eᵀ`, `E` `[n, k]` with rows `row_stride` apart: one dot product per output, on
/// rayon's threads by blocks of outputs when large.
fn transposed_product<T: Weight>(x: &[f32], e: &[T], row_stride: usize, n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n];
    #[cfg(feature = "rayon")]
    if n >= 2 * BLOCK_ALIGN && parallel(n.saturating_mul(x.len())) {
        use rayon::prelude::*;
        let block = n.div_ceil(rayon::current_num_threads()).next_multiple_of(BLOCK_ALIGN);
        y.par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, out)| dot(x, e, row_stride, b * block, out));
        return y;
    }
    dot(x, e, row_stride, 0, &mut y);
    y
}

/// `out[j] += Σ_i x[i] · W[i, j]`, rows of `W` `row_stride` apart, columns contiguous.
#[cfg(feature = "simd")]
#[macerator::with_simd]
fn axpy_block<S: macerator::Simd, T: Weight>(x: &[f32], w: &[T], row_stride: usize, out: &mut [f32]) {
    axpy_body(x, w, row_stride, out)
}

#[cfg(not(feature = "simd"))]
fn axpy_block<T: Weight>(x: &[f32], w: &[T], row_stride: usize, out: &mut [f32]) {
    axpy_body(x, w, row_stride, out)
}

/// f32 rows four at a time (four sequential streams of `W`), each output updated as
/// `(((o + x₀w₀) + x₁w₁) + x₂w₂) + x₃w₃`: the additions of one row after another in the same
/// order as one row at a time — the same bits — with `out` loaded and stored once per four rows
/// instead of once per row (one thread read its weights at 15.2–16.0 GB/s one row at a time,
/// 18.8–21.7 GB/s four at a time, `decode_products`, AVX2 EPYC). bf16 rows one at a time: four
/// at a time read them 8 % slower there (on x86-64 with AVX2, [`bf16_x86`] runs them instead,
/// with the same sums). The order of the sums depends on `k` and `n` alone.
#[inline(always)]
fn axpy_body<T: Weight>(x: &[f32], w: &[T], row_stride: usize, out: &mut [f32]) {
    match T::DTYPE {
        DType::F32 => axpy_rows::<T, 4>(x, w, row_stride, out),
        _ => axpy_rows::<T, 1>(x, w, row_stride, out),
    }
}

/// [`axpy_body`] `ROWS` rows at a time, the last `k mod ROWS` rows one at a time.
#[inline(always)]
fn axpy_rows<T: Weight, const ROWS: usize>(x: &[f32], w: &[T], row_stride: usize, out: &mut [f32]) {
    let n = out.len();
    let mut groups = x.chunks_exact(ROWS);
    let mut i = 0;
    for xs in &mut groups {
        let rows: [&[T]; ROWS] = core::array::from_fn(|r| &w[(i + r) * row_stride..][..n]);
        for (j, o) in out.iter_mut().enumerate() {
            let mut sum = *o;
            for r in 0..ROWS {
                sum = sum + xs[r] * rows[r][j].widen();
            }
            *o = sum;
        }
        i += ROWS;
    }
    for &xi in groups.remainder() {
        for (o, &a) in out.iter_mut().zip(&w[i * row_stride..][..n]) {
            *o += xi * a.widen();
        }
        i += 1;
    }
}

/// `out[j] = Σ_i x[i] · E[first + j, i]`, rows of `E` `row_stride` apart and contiguous: bf16
/// on AVX-512F or AVX2 by [`bf16_x86`], everything else by [`dot_body`] (the same sums).
fn dot<T: Weight>(x: &[f32], e: &[T], row_stride: usize, first: usize, out: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(width) = bf16_x86::width::<T>() {
        bf16_x86::dot_rows(width, x, bytemuck::cast_slice(e), row_stride, first, out);
        return;
    }
    dot_block(x, e, row_stride, first, out)
}

/// `out[j] = Σ_i x[i] · E[first + j, i]`, rows of `E` `row_stride` apart and contiguous.
#[cfg(feature = "simd")]
#[macerator::with_simd]
fn dot_block<S: macerator::Simd, T: Weight>(x: &[f32], e: &[T], row_stride: usize, first: usize, out: &mut [f32]) {
    dot_body(x, e, row_stride, first, out)
}

#[cfg(not(feature = "simd"))]
fn dot_block<T: Weight>(x: &[f32], e: &[T], row_stride: usize, first: usize, out: &mut [f32]) {
    dot_body(x, e, row_stride, first, out)
}

#[inline(always)]
fn dot_body<T: Weight>(x: &[f32], e: &[T], row_stride: usize, first: usize, out: &mut [f32]) {
    let k = x.len();
    let whole = k / LANES * LANES;
    for (j, o) in out.iter_mut().enumerate() {
        let row = &e[(first + j) * row_stride..][..k];
        let mut acc = [0f32; LANES];
        for (xs, es) in x[..whole].chunks_exact(LANES).zip(row[..whole].chunks_exact(LANES)) {
            for l in 0..LANES {
                acc[l] += xs[l] * es[l].widen();
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for i in whole..k {
            sum += x[i] * row[i].widen();
        }
        *o = sum;
    }
}

/// bf16 weights on x86-64 with software prefetch, in 512-bit registers where the CPU has
/// AVX-512F and 256-bit ones where it has AVX2 (chosen at run time): [`axpy_body`]'s
/// one-row-at-a-time sums and [`dot_body`]'s dot products (the tied LM head), the same bits on
/// either width — each lane computes what the portable loop computes for its output, in the same
/// order — for CPUs whose hardware prefetcher leaves a bf16 stream short of memory-level
/// parallelism. Widening a bf16 costs two instructions per register of weights that an f32 load
/// does not, so fewer cache lines are in flight; a prefetch [`PREFETCH_BYTES`] ahead of each
/// row's stream restores them. `decode_products`, AVX2 EPYC (family 25 model 1), 2 cores, bf16
/// projections: 23.2–26.6 GB/s of weights autovectorised, 27.7–29.9 GB/s with the AVX2 kernels
/// (three alternating pairs); one thread 12.5–16.3 → 17.1–18.2 GB/s. On a Xeon with AVX-512
/// (2 of its cores, `scripts/bench_pinned.sh`) the AVX2 kernels read bf16 at 10.1 GB/s on one
/// thread against 13.2 GB/s for f32 rows: instruction-bound, so the 512-bit kernels, half the
/// instructions; there, two threads, two alternating pairs: 13.3 / 14.4 → 16.2 / 15.8 GB/s.
/// f32 rows gained nothing from the same prefetch (their four-row loop already reaches the DRAM
/// bound on two threads) and keep [`axpy_body`].
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod bf16_x86 {
    use core::arch::x86_64::*;

    use super::{DType, LANES, Weight, bf16};

    // `dot_row_avx512` / `dot_row_avx2` keep the `LANES` partial sums of `dot_body` in one
    // 16-lane register / two 8-lane ones.
    const _: () = assert!(LANES == 16);

    /// How far ahead of the weights being read each row's stream is prefetched (1 KiB: 512
    /// weights; 512 B and 2 KiB read slower on the EPYC above).
    const PREFETCH_BYTES: usize = 1024;

    /// Weights a loop iteration reads: one 64-byte cache line of bf16.
    const LINE: usize = 32;

    /// The register width the kernels run at.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Width {
        /// 16 f32 lanes (AVX-512F).
        Avx512,
        /// 8 f32 lanes (AVX2).
        Avx2,
    }

    /// The kernels weights of type `T` take on this CPU: bf16 with AVX-512F or AVX2; `None`
    /// for any other type or an older CPU (the portable loops run).
    pub(super) fn width<T: Weight>() -> Option<Width> {
        if T::DTYPE != DType::BF16 {
            None
        } else if std::is_x86_feature_detected!("avx512f") {
            Some(Width::Avx512)
        } else if std::is_x86_feature_detected!("avx2") {
            Some(Width::Avx2)
        } else {
            None
        }
    }

    /// `out[j] += x[i] · W[i, j]` row after row, for bf16 `W` with rows `row_stride` apart: each
    /// output `o + x_i·w_ij` (a rounded product, then a rounded sum), as the portable loop
    /// computes it.
    pub(super) fn axpy_rows(width: Width, x: &[f32], w: &[bf16], row_stride: usize, out: &mut [f32]) {
        let n = out.len();
        if let Some(last) = x.len().checked_sub(1) {
            assert!(w.len() >= last * row_stride + n, "rows past the end of the weights");
        }
        for (i, &xi) in x.iter().enumerate() {
            let row = w[i * row_stride..].as_ptr();
            // Safety: the CPU has the width's features (`width`, checked by the caller), and
            // row `i`'s `n` weights lie in `w` (asserted above).
            unsafe {
                match width {
                    Width::Avx512 => axpy_row_avx512(xi, row, out),
                    Width::Avx2 => axpy_row_avx2(xi, row, out),
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn axpy_row_avx512(xi: f32, row: *const bf16, out: &mut [f32]) {
        let n = out.len();
        let o = out.as_mut_ptr();
        let x16 = _mm512_set1_ps(xi);
        let mut j = 0;
        // Safety (both loops): `row` holds `n` weights and `out` `n` outputs; a prefetch never
        // faults, wherever it points.
        unsafe {
            while j + LINE <= n {
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j + PREFETCH_BYTES / 2) as *const i8);
                for q in [0, 16] {
                    let sum = _mm512_add_ps(_mm512_loadu_ps(o.add(j + q)), _mm512_mul_ps(x16, widen16(row.add(j + q))));
                    _mm512_storeu_ps(o.add(j + q), sum);
                }
                j += LINE;
            }
            if j < n {
                // the last `n mod 32` outputs: the AVX2 kernel's loops and tail
                axpy_row_avx2(xi, row.add(j), &mut out[j..]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn axpy_row_avx2(xi: f32, row: *const bf16, out: &mut [f32]) {
        let n = out.len();
        let o = out.as_mut_ptr();
        let x8 = _mm256_set1_ps(xi);
        let mut j = 0;
        // Safety (all three loops): `row` holds `n` weights and `out` `n` outputs; a prefetch
        // never faults, wherever it points.
        unsafe {
            while j + LINE <= n {
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j + PREFETCH_BYTES / 2) as *const i8);
                for q in (0..LINE).step_by(8) {
                    let sum = _mm256_add_ps(_mm256_loadu_ps(o.add(j + q)), _mm256_mul_ps(x8, widen8(row.add(j + q))));
                    _mm256_storeu_ps(o.add(j + q), sum);
                }
                j += LINE;
            }
            while j + 8 <= n {
                let sum = _mm256_add_ps(_mm256_loadu_ps(o.add(j)), _mm256_mul_ps(x8, widen8(row.add(j))));
                _mm256_storeu_ps(o.add(j), sum);
                j += 8;
            }
            while j < n {
                *o.add(j) += xi * (*row.add(j)).widen();
                j += 1;
            }
        }
    }

    /// `out[j] = Σ_i x[i] · E[first + j, i]` for bf16 `E` with rows `row_stride` apart:
    /// [`super::dot_body`]'s sums — [`LANES`] partial sums, lane `l`
    /// taking `x[i]·e[i]` for `i ≡ l` in order, added in lane order, then the last `k mod 16`
    /// terms one by one — with each row's stream prefetched ahead of its loads.
    pub(super) fn dot_rows(width: Width, x: &[f32], e: &[bf16], row_stride: usize, first: usize, out: &mut [f32]) {
        let k = x.len();
        if !out.is_empty() {
            assert!(e.len() >= (first + out.len() - 1) * row_stride + k, "rows past the end of E");
        }
        for (j, o) in out.iter_mut().enumerate() {
            let row = e[(first + j) * row_stride..].as_ptr();
            // Safety: the CPU has the width's features (`width`, checked by the caller), and
            // row `first + j`'s `k` weights lie in `e` (asserted above).
            let partial = unsafe {
                match width {
                    Width::Avx512 => dot_row_avx512(x, row),
                    Width::Avx2 => dot_row_avx2(x, row),
                }
            };
            let mut sum: f32 = partial.iter().sum();
            for i in k / LANES * LANES..k {
                // Safety: row `first + j` holds `k` weights (asserted above).
                sum += x[i] * unsafe { *row.add(i) }.widen();
            }
            *o = sum;
        }
    }

    /// The [`LANES`] partial sums of `x · row` over the first `k / 16 · 16` terms.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_row_avx512(x: &[f32], row: *const bf16) -> [f32; LANES] {
        let whole = x.len() / LANES * LANES;
        let xp = x.as_ptr();
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        let mut partial = [0f32; LANES];
        // Safety (both loops): `x` and `row` hold `k` values; a prefetch never faults.
        unsafe {
            while i + LINE <= whole {
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(i + PREFETCH_BYTES / 2) as *const i8);
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(xp.add(i)), widen16(row.add(i))));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(xp.add(i + 16)), widen16(row.add(i + 16))));
                i += LINE;
            }
            if i < whole {
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(xp.add(i)), widen16(row.add(i))));
            }
            _mm512_storeu_ps(partial.as_mut_ptr(), acc);
        }
        partial
    }

    /// The [`LANES`] partial sums of `x · row` over the first `k / 16 · 16` terms.
    #[target_feature(enable = "avx2")]
    unsafe fn dot_row_avx2(x: &[f32], row: *const bf16) -> [f32; LANES] {
        let whole = x.len() / LANES * LANES;
        let xp = x.as_ptr();
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        let mut partial = [0f32; LANES];
        // Safety (both loops): `x` and `row` hold `k` values; a prefetch never faults.
        unsafe {
            while i + LINE <= whole {
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(i + PREFETCH_BYTES / 2) as *const i8);
                dot16(&mut lo, &mut hi, xp.add(i), row.add(i));
                dot16(&mut lo, &mut hi, xp.add(i + 16), row.add(i + 16));
                i += LINE;
            }
            if i < whole {
                dot16(&mut lo, &mut hi, xp.add(i), row.add(i));
            }
            _mm256_storeu_ps(partial.as_mut_ptr(), lo);
            _mm256_storeu_ps(partial.as_mut_ptr().add(8), hi);
        }
        partial
    }

    /// Lanes 0–7 and 8–15 of the partial sums, each `+ x·e` for the next 16 terms.
    #[inline(always)]
    unsafe fn dot16(lo: &mut __m256, hi: &mut __m256, x: *const f32, e: *const bf16) {
        // Safety: the caller guarantees 16 readable values at `x` and at `e`.
        unsafe {
            *lo = _mm256_add_ps(*lo, _mm256_mul_ps(_mm256_loadu_ps(x), widen8(e)));
            *hi = _mm256_add_ps(*hi, _mm256_mul_ps(_mm256_loadu_ps(x.add(8)), widen8(e.add(8))));
        }
    }

    /// Eight bf16 at `p` as the f32 values they are (each the high half of an f32), as
    /// [`Weight::widen`] widens one.
    #[inline(always)]
    unsafe fn widen8(p: *const bf16) -> __m256 {
        // Safety: the caller guarantees 8 readable bf16 at `p`.
        unsafe {
            let bits = _mm_loadu_si128(p as *const __m128i);
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits)))
        }
    }

    /// Sixteen bf16 at `p` as the f32 values they are, as [`widen8`] widens eight.
    #[inline(always)]
    unsafe fn widen16(p: *const bf16) -> __m512 {
        // Safety: the caller guarantees 16 readable bf16 at `p`.
        unsafe {
            let bits = _mm256_loadu_si256(p as *const __m256i);
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(bits)))
        }
    }
}
