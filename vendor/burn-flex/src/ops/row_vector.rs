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
//!   (bf16 on AVX-512F or AVX2: [`x86_kernels`], kernels of two register widths, prefetching each
//!   row's stream ahead of the loads or not, the fastest on this CPU chosen by timing them on
//!   the first products);
//!   the partials are added in chunk order. Splitting the *columns* instead
//!   (every thread reading a part of every row) ran at a third of one thread's speed on a
//!   2-core EPYC with the weights in DRAM; the chunks are fixed, so the sums — and the bits —
//!   do not depend on the number of threads;
//! - `W` with contiguous columns (row stride 1: `Eᵀ`, the embedding `[n, k]` seen transposed):
//!   one dot product of `x` and a contiguous row of `E` per output, in 16 partial sums, on
//!   rayon's threads by blocks of outputs (each block a contiguous stretch of `E`; on x86-64
//!   its rows read two at a time, half the block apart: [`x86_kernels::dot_rows`]).
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

/// Rows of `E` one thread reads side by side in [`x86_kernels::dot_rows`]: 2, or 1 as before
/// (spec-actions, session 35). See [`set_dot_rows_together`].
#[cfg(all(feature = "std", target_arch = "x86_64"))]
static DOT_ROWS_TOGETHER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(2);

/// How many rows of `E` each thread reads side by side in the x86-64 dot-product kernels
/// (`x · Eᵀ`: a tied LM head, bf16 projections held as HF holds them): 2 (the default; rows
/// `j` and `j + len/2` of a thread's block of outputs) or 1 (one row after another, as before
/// session 35); any other value is taken as 2. Every output is the same sum either way, bit for
/// bit; only the speed changes. For measuring the two against each other in one process
/// (`spec-actions-qwen3`'s `dot_rows_together` example) — a VM's speed drifts too much between
/// processes to see a few per cent.
pub fn set_dot_rows_together(rows: usize) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    DOT_ROWS_TOGETHER.store(rows, core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    let _ = rows;
}

/// Rows of a row-major `W` summed into one partial vector (one thread's contiguous stretch).
const ROW_CHUNK: usize = 256;

/// f32 values in a 64-byte cache line.
const LINE_F32: usize = 16;

/// Lanes of the dot product's partial sums (one AVX-512 register of f32).
const LANES: usize = 16;

/// f32 weight rows summed per pass of [`axpy_body`]: eight streams of `W` in flight at once.
/// One thread read an f32 decode step's weights at 15.2–16.0 GB/s one row at a time and
/// 18.8–21.7 GB/s four at a time (AVX2 EPYC, session 17); eight at a time against four on a
/// Zen 4 EPYC, `decode_products`, 16 alternating pairs: 58.4 → 57.4 ms median, 50.9 → 46.3 ms
/// best (`vendor/README.md`, change 4, session 23).
const F32_ROWS: usize = 8;

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
    row_vector_product_of::<T, T, T>(lhs, rhs)
}

/// `x · W` for an **f32** row `x` and **bf16** weights `W`, summed in f32 and returned in f32:
/// the bf16 values read as the f32 numbers they are, the row not rounded to bf16, the result
/// not rounded either — bf16 weights with f32 compute, at the cost of reading the bf16 bytes.
/// `None` when the operands are not of that form (other dtypes, more than one row, a matrix
/// with neither rows nor columns contiguous); the caller then takes another path.
///
/// The same kernels and order of sums as a bf16 row times bf16 weights (`flex_gemv.rs` in
/// spec-actions checks both).
///
/// # Shapes
/// - `lhs`: `[1, …, 1, 1, k]`, f32
/// - `rhs`: `[1, …, 1, k, n]`, bf16, rows or columns contiguous
/// - output: the broadcast batch dimensions, then `[1, n]`, f32
pub fn f32_row_times_bf16(lhs: &FlexTensor, rhs: &FlexTensor) -> Option<FlexTensor> {
    if lhs.dtype() != DType::F32 || rhs.dtype() != DType::BF16 {
        return None;
    }
    row_vector_product_of::<f32, bf16, f32>(lhs, rhs)
}

/// [`row_vector_product`] with the row of dtype `X`, the matrix of dtype `T` and the output
/// of dtype `O` (the sums are f32 whatever the three).
fn row_vector_product_of<X: Weight, T: Weight, O: Weight>(lhs: &FlexTensor, rhs: &FlexTensor) -> Option<FlexTensor> {
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
    let x_data: &[X] = lhs.storage();
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
    let out: Vec<O> = y.into_iter().map(O::narrow).collect();
    Some(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(dims)),
        O::DTYPE,
    ))
}

/// The bf16 kernels this process has chosen by measurement, by name: `[rows of a row-major
/// matrix, dot products with the columns of a column-major one (a tied LM head, or projections
/// held as HF holds them)]`, each `None` until its trials are over, or on a CPU (or
/// build) without them — for a benchmark to print beside its figures.
pub fn bf16_kernels_chosen() -> [Option<&'static str>; 2] {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    return [x86_kernels::ROW_KERNEL.chosen(), x86_kernels::DOT_KERNEL.chosen()].map(|k| k.map(|k| k.name()));
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    [None, None]
}

/// The f32 kernels this process has chosen by measurement, by name: `[rows of a row-major
/// matrix (a Linear's `[d_in, d_out]` weight), dot products with the columns of a column-major
/// one (a tied LM head in f32)]`, each `None` until its trials are over, or on a CPU (or build)
/// without them — for a benchmark to print beside its figures.
pub fn f32_kernels_chosen() -> [Option<&'static str>; 2] {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    return [x86_kernels::F32_ROW_KERNEL.chosen(), x86_kernels::F32_DOT_KERNEL.chosen()].map(|k| k.map(|k| k.name()));
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    [None, None]
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
/// [`ROW_CHUNK`] rows (in parallel when large), added in chunk order. bf16 and f32 rows on
/// x86-64 by the [`x86_kernels`] kernel chosen for this CPU (the same sums).
fn row_major_product<T: Weight>(x: &[f32], w: &[T], row_stride: usize, n: usize) -> Vec<f32> {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(y) = x86_kernels::product(x86_kernels::Reading::Rows, x, w, row_stride, n) {
        return y;
    }
    sum_row_chunks(x.len(), n, |rows, out| {
        axpy_block(&x[rows.clone()], &w[rows.start * row_stride..], row_stride, out)
    })
}

/// `y` `[n]`, the sum in chunk order of one partial vector per chunk of [`ROW_CHUNK`] rows of
/// `k`, `sum_rows(rows, out)` adding chunk `rows`' terms into `out` (zeros); the chunks on
/// rayon's threads when `n · k` is large.
fn sum_row_chunks(k: usize, n: usize, sum_rows: impl Fn(core::ops::Range<usize>, &mut [f32]) + Sync) -> Vec<f32> {
    // at least one chunk, so that `k = 0` gives zeros
    let chunks = k.div_ceil(ROW_CHUNK).max(1);
    let partial = |c: usize, out: &mut [f32]| sum_rows(c * ROW_CHUNK..k.min((c + 1) * ROW_CHUNK), out);
    // Every chunk's partial vector in one buffer, allocated (and freed) by the calling thread:
    // with one malloc arena for every thread (`spec_actions_qwen3::allocator`), a vector
    // allocated on each chunk's thread and freed on this one cost the decode step's bf16
    // products a quarter of their speed. Partials `stride` apart, at least a cache line between
    // two, so that no line is written by two threads.
    let stride = n.next_multiple_of(LINE_F32) + LINE_F32;
    let mut partials = vec![0f32; (chunks - 1) * stride + n];
    if parallel(n.saturating_mul(k)) && chunks > 1 {
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            partials
                .par_chunks_mut(stride)
                .enumerate()
                .for_each(|(c, out)| partial(c, &mut out[..n]));
        }
        #[cfg(not(feature = "rayon"))]
        unreachable!("parallel() is false without rayon")
    } else {
        for (c, out) in partials.chunks_mut(stride).enumerate() {
            partial(c, &mut out[..n]);
        }
    }
    // the partials added in chunk order into the first
    let (y, rest) = partials.split_at_mut(stride.min((chunks - 1) * stride + n));
    for part in rest.chunks(stride) {
        for (yj, pj) in y.iter_mut().zip(&part[..n]) {
            *yj += pj;
        }
    }
    partials.truncate(n);
    partials
}

/// `y = x · Eᵀ`, `E` `[n, k]` with rows `row_stride` apart: one dot product per output, on
/// rayon's threads by blocks of outputs when large. bf16 and f32 on x86-64 by the
/// [`x86_kernels`] kernel chosen for this CPU, everything else by [`dot_body`] (the same sums).
fn transposed_product<T: Weight>(x: &[f32], e: &[T], row_stride: usize, n: usize) -> Vec<f32> {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(y) = x86_kernels::product(x86_kernels::Reading::Dots, x, e, row_stride, n) {
        return y;
    }
    dot_output_blocks(x.len(), n, |first, out| dot_block(x, e, row_stride, first, out))
}

/// `y` `[n]`, `dot(first, out)` filling the outputs `first..first + out.len()`: by blocks of
/// outputs on rayon's threads when `n · k` is large.
fn dot_output_blocks(k: usize, n: usize, dot: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut y = vec![0f32; n];
    #[cfg(feature = "rayon")]
    if n >= 2 * BLOCK_ALIGN && parallel(n.saturating_mul(k)) {
        use rayon::prelude::*;
        let block = n.div_ceil(rayon::current_num_threads()).next_multiple_of(BLOCK_ALIGN);
        y.par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, out)| dot(b * block, out));
        return y;
    }
    #[cfg(not(feature = "rayon"))]
    let _ = k;
    dot(0, &mut y);
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

/// f32 rows [`F32_ROWS`] at a time (that many sequential streams of `W`), each output updated
/// as `((o + x₀w₀) + x₁w₁) + …`: the additions of one row after another in the same order as
/// one row at a time — the same bits — with `out` loaded and stored once per group of rows
/// instead of once per row. bf16 rows one at a time: four at a time read them 8 % slower on
/// the AVX2 EPYC of `vendor/README.md` (on x86-64 with AVX2, [`x86_kernels`] runs them instead,
/// with the same sums). The order of the sums depends on `k` and `n` alone.
#[inline(always)]
fn axpy_body<T: Weight>(x: &[f32], w: &[T], row_stride: usize, out: &mut [f32]) {
    match T::DTYPE {
        DType::F32 => axpy_rows::<T, F32_ROWS>(x, w, row_stride, out),
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
/// does not, so fewer cache lines are in flight; a prefetch [`NEAR_PREFETCH_BYTES`] ahead of each
/// row's stream (and with [`Prefetch::Far`] one further ahead into L2) restores them. `decode_products`, AVX2 EPYC (family 25 model 1), 2 cores, bf16
/// projections: 23.2–26.6 GB/s of weights autovectorised, 27.7–29.9 GB/s with the AVX2 kernels
/// (three alternating pairs); one thread 12.5–16.3 → 17.1–18.2 GB/s. On a Xeon with AVX-512
/// (2 of its cores, `scripts/bench_pinned.sh`) the AVX2 kernels read bf16 at 10.1 GB/s on one
/// thread against 13.2 GB/s for f32 rows: instruction-bound, so the 512-bit kernels, half the
/// instructions; there, two threads, two alternating pairs: 13.3 / 14.4 → 16.2 / 15.8 GB/s.
/// f32 rows gained nothing from the same prefetch on the AVX2 EPYC (their four-row loop already
/// reached the DRAM bound on two threads there); since session 29 they take kernels of these
/// kinds too, [`F32_ROWS`] rows a pass as [`axpy_body`] sums them: on the Xeon of issue 19
/// (Intel family 6 model 167, 2 cores) a decode step's 196 f32 projections read at 28.0 / 27.5
/// GB/s with [`axpy_body`] and 30.1 / 29.2 GB/s with the 512-bit prefetching kernel
/// (`decode_products`, two rounds; `vendor/README.md`, change 4). f32 dot products (a tied LM head in f32) take
/// the same kinds of kernels since session 25: on the Xeon of issue 19 (Intel family 6 model
/// 167, 2 cores) `decode_products` read the f32 head in 25.1 ms with [`dot_body`] (the
/// revision before, calling it from the main thread) and in 18.8–19.6 ms with these kernels (the chosen one; with each pinned,
/// `decode_steps f32`'s `head` part, two rounds: 19.0–21.9 ms, prefetching or not within the
/// noise there; `vendor/README.md`, change 4).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod x86_kernels {
    use core::arch::x86_64::*;

    use super::{DType, F32_ROWS, LANES, Weight, bf16};

    // `dot_row_avx512` / `dot_row_avx2` keep the `LANES` partial sums of `dot_body` in one
    // 16-lane register / two 8-lane ones.
    const _: () = assert!(LANES == 16);

    /// How far ahead of the weights being read each row's stream is prefetched by the kernels
    /// that prefetch near ([`Prefetch::Near`]; 512 B and 2 KiB read bf16 slower on the AVX2
    /// EPYC above).
    const NEAR_PREFETCH_BYTES: usize = 1024;

    /// How far ahead the kernels that prefetch far ([`Prefetch::Far`]) also prefetch each row's
    /// stream into L2, besides [`NEAR_PREFETCH_BYTES`] ahead into L1. On an Intel Xeon of
    /// family 6 model 207 (AVX-512 without BF16 as its VM shows it), a standalone loop of
    /// [`dot_row_avx512`]'s form reading 800 MB of bf16 from DRAM on two threads, four rounds
    /// each: into L1 only, 1 KiB ahead 19.8 / 18.9 GB/s (two runs), 4 KiB ahead 23.6 / 23.8 /
    /// 22.6 / 22.9 (no faster at 6, 8 or 12 KiB); into L2 4 KiB ahead and L1 1 KiB ahead 27.2 /
    /// 27.7 / 26.3 / 27.3 GB/s (8 or 16 KiB into L2 the same; into L1 at both distances 23.9 /
    /// 24.1 / 22.8 / 24.0) — f32 dot products in the same rounds 22.1 / 22.2 / 18.1 / 22.3.
    const FAR_PREFETCH_BYTES: usize = 4096;

    /// Weights a loop iteration reads: one 64-byte cache line of bf16.
    const LINE: usize = 32;

    /// The register width a kernel runs at.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Width {
        /// 16 f32 lanes (AVX-512F).
        Avx512,
        /// 8 f32 lanes (AVX2).
        Avx2,
    }

    /// Whether and how far ahead a kernel prefetches each row's stream.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Prefetch {
        /// No software prefetch: the hardware prefetcher alone.
        Off,
        /// [`NEAR_PREFETCH_BYTES`] ahead, into L1.
        Near,
        /// [`FAR_PREFETCH_BYTES`] ahead into L2 and [`NEAR_PREFETCH_BYTES`] ahead into L1.
        Far,
    }

    /// One of the kernels: its register width and how far ahead it prefetches each row's
    /// stream. All compute the same sums in the same order (the same bits); which reads
    /// fastest depends on the CPU (`vendor/README.md`, change 4: on an AVX2 EPYC prefetching
    /// beat not prefetching; on a Xeon 512-bit registers beat 256-bit ones, both prefetching;
    /// on a Zen 4 EPYC — 512-bit operations executed in two halves — the 256-bit kernel without
    /// prefetch read 30 % faster than the prefetching 512-bit one; on a Xeon of family 6 model
    /// 207 bf16 streams read faster prefetched into L2 4 KiB ahead as well as into L1 1 KiB
    /// ahead), so [`KernelChoice`] times them on the products themselves.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) struct Kernel {
        width: Width,
        prefetch: Prefetch,
    }

    impl Kernel {
        const ALL: [Kernel; 6] = [
            Kernel { width: Width::Avx512, prefetch: Prefetch::Near },
            Kernel { width: Width::Avx512, prefetch: Prefetch::Far },
            Kernel { width: Width::Avx512, prefetch: Prefetch::Off },
            Kernel { width: Width::Avx2, prefetch: Prefetch::Near },
            Kernel { width: Width::Avx2, prefetch: Prefetch::Far },
            Kernel { width: Width::Avx2, prefetch: Prefetch::Off },
        ];

        /// `avx512`, `avx512-far`, `avx512-noprefetch`, `avx2`, `avx2-far` or
        /// `avx2-noprefetch`.
        pub(super) fn name(self) -> &'static str {
            match (self.width, self.prefetch) {
                (Width::Avx512, Prefetch::Near) => "avx512",
                (Width::Avx512, Prefetch::Far) => "avx512-far",
                (Width::Avx512, Prefetch::Off) => "avx512-noprefetch",
                (Width::Avx2, Prefetch::Near) => "avx2",
                (Width::Avx2, Prefetch::Far) => "avx2-far",
                (Width::Avx2, Prefetch::Off) => "avx2-noprefetch",
            }
        }

        fn runs_here(self) -> bool {
            match self.width {
                Width::Avx512 => std::is_x86_feature_detected!("avx512f"),
                Width::Avx2 => std::is_x86_feature_detected!("avx2"),
            }
        }
    }

    /// Prefetches the cache line `L1` bytes past `at` into L1 and the one `L2` bytes past it
    /// into L2 (either skipped where 0).
    #[inline(always)]
    fn prefetch_ahead<const L1: usize, const L2: usize>(at: *const i8) {
        // Safety (both): a prefetch never faults, wherever it points.
        if L1 > 0 {
            unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(L1)) };
        }
        if L2 > 0 {
            unsafe { _mm_prefetch::<_MM_HINT_T1>(at.wrapping_add(L2)) };
        }
    }

    /// `$avx512::<G…, L1, L2>(args)` or `$avx2::<G…, L1, L2>(args)` for `kernel`'s width, with
    /// `L1` and `L2` how far ahead it prefetches into each cache (0: not) — one instance of
    /// each kernel per [`Prefetch`], so the distances are constants in its loop.
    macro_rules! by_kernel {
        ($kernel:expr, $avx512:ident, $avx2:ident, [$($g:tt),*], ($($arg:expr),*)) => {
            match ($kernel.width, $kernel.prefetch) {
                (Width::Avx512, Prefetch::Near) => $avx512::<$($g,)* NEAR_PREFETCH_BYTES, 0>($($arg),*),
                (Width::Avx512, Prefetch::Far) => $avx512::<$($g,)* NEAR_PREFETCH_BYTES, FAR_PREFETCH_BYTES>($($arg),*),
                (Width::Avx512, Prefetch::Off) => $avx512::<$($g,)* 0, 0>($($arg),*),
                (Width::Avx2, Prefetch::Near) => $avx2::<$($g,)* NEAR_PREFETCH_BYTES, 0>($($arg),*),
                (Width::Avx2, Prefetch::Far) => $avx2::<$($g,)* NEAR_PREFETCH_BYTES, FAR_PREFETCH_BYTES>($($arg),*),
                (Width::Avx2, Prefetch::Off) => $avx2::<$($g,)* 0, 0>($($arg),*),
            }
        };
    }

    /// The environment variable that pins one bf16 kernel by [`Kernel::name`] (for benchmarks
    /// and for reproducing a run), instead of choosing by measurement.
    pub(super) const PIN_VARIABLE: &str = "FLEX_BF16_KERNEL";

    /// The same for the f32 dot products ([`F32_DOT_KERNEL`]).
    pub(super) const F32_DOT_PIN_VARIABLE: &str = "FLEX_F32_DOT_KERNEL";

    /// The same for the rows of f32 projections ([`F32_ROW_KERNEL`]).
    pub(super) const F32_ROW_PIN_VARIABLE: &str = "FLEX_F32_ROW_KERNEL";

    /// The kernels a choice is made among: every one this CPU runs (widest first, prefetching
    /// first), or the one the variable `pin` names (unset or empty: none). A name that is not a
    /// kernel this CPU runs is reported once on stderr and ignored.
    fn candidates_pinned_by(pin: &str) -> Vec<Kernel> {
        let here: Vec<Kernel> = Kernel::ALL.into_iter().filter(|k| k.runs_here()).collect();
        match std::env::var(pin) {
            Ok(name) if !name.is_empty() => match here.iter().find(|k| k.name() == name) {
                Some(&k) => vec![k],
                None => {
                    let names: Vec<&str> = here.iter().map(|k| k.name()).collect();
                    std::eprintln!(
                        "burn-flex: {pin}={name:?} is not a kernel this CPU runs ({names:?}); choosing by measurement"
                    );
                    here
                }
            },
            _ => here,
        }
    }

    /// [`candidates_pinned_by`] [`PIN_VARIABLE`], once a process.
    fn candidates() -> &'static [Kernel] {
        static CANDIDATES: std::sync::OnceLock<Vec<Kernel>> = std::sync::OnceLock::new();
        CANDIDATES.get_or_init(|| candidates_pinned_by(PIN_VARIABLE))
    }

    /// [`candidates_pinned_by`] [`F32_DOT_PIN_VARIABLE`], once a process.
    fn f32_dot_candidates() -> &'static [Kernel] {
        static CANDIDATES: std::sync::OnceLock<Vec<Kernel>> = std::sync::OnceLock::new();
        CANDIDATES.get_or_init(|| candidates_pinned_by(F32_DOT_PIN_VARIABLE))
    }

    /// [`candidates_pinned_by`] [`F32_ROW_PIN_VARIABLE`], once a process.
    fn f32_row_candidates() -> &'static [Kernel] {
        static CANDIDATES: std::sync::OnceLock<Vec<Kernel>> = std::sync::OnceLock::new();
        CANDIDATES.get_or_init(|| candidates_pinned_by(F32_ROW_PIN_VARIABLE))
    }

    /// Which layout of a matrix a product reads, and so which of its weight type's kernel
    /// choices it takes.
    #[derive(Clone, Copy)]
    pub(super) enum Reading {
        /// Rows of a row-major `W` (`[k, n]`), summed into partial vectors ([`axpy_rows`]).
        Rows,
        /// Rows of `E` (`[n, k]`, `Eᵀ` multiplied), one dot product per output ([`dot_rows`]).
        Dots,
    }

    /// `x · W` (`Rows`) or `x · Eᵀ` (`Dots`) by the kernel chosen for this weight type and
    /// layout ([`KernelWeight`]), in the portable loops' chunks and blocks of outputs (the same
    /// sums); `None` when the weights are neither bf16 nor f32 or this CPU runs none of the
    /// kernels (the portable loops run then).
    pub(super) fn product<T: Weight>(reading: Reading, x: &[f32], w: &[T], row_stride: usize, n: usize) -> Option<Vec<f32>> {
        match T::DTYPE {
            DType::BF16 => product_of::<bf16>(reading, x, bytemuck::cast_slice(w), row_stride, n),
            DType::F32 => product_of::<f32>(reading, x, bytemuck::cast_slice(w), row_stride, n),
            _ => None,
        }
    }

    fn product_of<U: KernelWeight>(reading: Reading, x: &[f32], w: &[U], row_stride: usize, n: usize) -> Option<Vec<f32>> {
        let choice = match reading {
            Reading::Rows => U::row_choice(),
            Reading::Dots => U::dot_choice(),
        };
        if !choice.has_candidates() {
            return None;
        }
        let bytes = x.len().saturating_mul(n).saturating_mul(core::mem::size_of::<U>());
        Some(choice.run((x.len(), n), bytes, |kernel| match reading {
            Reading::Rows => super::sum_row_chunks(x.len(), n, |rows, out| {
                U::axpy_rows(kernel, &x[rows.clone()], &w[rows.start * row_stride..], row_stride, out)
            }),
            Reading::Dots => {
                super::dot_output_blocks(x.len(), n, |first, out| dot_rows(kernel, x, w, row_stride, first, out))
            }
        }))
    }

    /// A weight type with kernels of its own: a choice of kernel for each layout, and the
    /// kernels that sum its rows (its dot products take [`dot_rows`]).
    pub(super) trait KernelWeight: DotKernels {
        /// The kernel for the rows of a row-major matrix of this type.
        fn row_choice() -> &'static KernelChoice;
        /// The kernel for dot products with the rows of a matrix of this type.
        fn dot_choice() -> &'static KernelChoice;
        /// `out[j] += x[i] · W[i, j]` row after row by `kernel`, as the portable loop sums them.
        fn axpy_rows(kernel: Kernel, x: &[f32], w: &[Self], row_stride: usize, out: &mut [f32]);
    }

    impl KernelWeight for bf16 {
        fn row_choice() -> &'static KernelChoice {
            &ROW_KERNEL
        }

        fn dot_choice() -> &'static KernelChoice {
            &DOT_KERNEL
        }

        fn axpy_rows(kernel: Kernel, x: &[f32], w: &[bf16], row_stride: usize, out: &mut [f32]) {
            axpy_rows(kernel, x, w, row_stride, out)
        }
    }

    impl KernelWeight for f32 {
        fn row_choice() -> &'static KernelChoice {
            &F32_ROW_KERNEL
        }

        fn dot_choice() -> &'static KernelChoice {
            &F32_DOT_KERNEL
        }

        fn axpy_rows(kernel: Kernel, x: &[f32], w: &[f32], row_stride: usize, out: &mut [f32]) {
            f32_axpy_rows(kernel, x, w, row_stride, out)
        }
    }

    /// Products smaller than this many bytes of weights are not timed (the timer would
    /// dominate); they run the first candidate until the choice is made.
    const MIN_TIMED_BYTES: usize = 1 << 20;

    /// The kernel for the rows of a projection: every candidate timed on 16 products.
    pub(super) static ROW_KERNEL: KernelChoice = KernelChoice::new(16);

    /// The kernel for the dot products of bf16 weights (their projections, held as HF holds
    /// them, and a tied LM head): every candidate timed on 8 products.
    pub(super) static DOT_KERNEL: KernelChoice = KernelChoice::new(8);

    /// The kernel for the dot products of f32 weights (a tied LM head in f32): every candidate
    /// timed on 4.
    pub(super) static F32_DOT_KERNEL: KernelChoice = KernelChoice::with_candidates(4, f32_dot_candidates);

    /// The kernel for the rows of f32 projections: every candidate timed on 16 products.
    pub(super) static F32_ROW_KERNEL: KernelChoice = KernelChoice::with_candidates(16, f32_row_candidates);

    /// A kernel chosen by measurement, once a process: the first products large enough
    /// ([`MIN_TIMED_BYTES`]) take the [`candidates`] in turn, each timed as a whole (every
    /// thread's share), until each has served `trials_per_kernel`; from then on every product
    /// takes the chosen one. The choice changes speed only, never a bit of the result.
    ///
    /// Candidates are compared on products of one shape only (spec-actions, session 34): each
    /// shape (`[k] · [k, n]`) has its own turns, and a candidate's score is the sum, over the
    /// shapes every candidate has served, of its fastest time on that shape. Before, one turn
    /// order over every product gave candidates different mixes of a model's shapes (a layer's
    /// seven products against six candidates), and the sum of their times per byte let one
    /// product slowed by the VM decide: on a Xeon (family 6 model 207) the bf16 dot products
    /// went to `avx2-far` in some runs and `avx512-far` in others, whose decode differed by up
    /// to 10 % (`decode_steps bf16` with `FLEX_BF16_KERNEL` pinning each, alternating: 21.50 /
    /// 22.02 / 22.19 against 21.71 / 19.91 / 19.75 tok/s). Slowdowns on a VM are one-sided
    /// noise, so the fastest trial of a shape is its estimate.
    pub(super) struct KernelChoice {
        trials_per_kernel: u32,
        /// The kernels this choice is made among.
        candidates: fn() -> &'static [Kernel],
        chosen: std::sync::OnceLock<Kernel>,
        trials: std::sync::Mutex<Vec<ShapeTrials>>,
    }

    /// The trials of one shape of product: whose turn is next, and each candidate's fastest
    /// time and number of trials (by its index in the candidates).
    struct ShapeTrials {
        shape: (usize, usize),
        next: usize,
        fastest: [f64; Kernel::ALL.len()],
        count: [u32; Kernel::ALL.len()],
    }

    impl KernelChoice {
        /// A choice among the bf16 [`candidates`].
        const fn new(trials_per_kernel: u32) -> Self {
            Self::with_candidates(trials_per_kernel, candidates)
        }

        const fn with_candidates(trials_per_kernel: u32, candidates: fn() -> &'static [Kernel]) -> Self {
            Self { trials_per_kernel, candidates, chosen: std::sync::OnceLock::new(), trials: std::sync::Mutex::new(Vec::new()) }
        }

        /// Whether this CPU runs any of the kernels.
        pub(super) fn has_candidates(&self) -> bool {
            !(self.candidates)().is_empty()
        }

        /// The kernel chosen, once the trials are over.
        pub(super) fn chosen(&self) -> Option<Kernel> {
            self.chosen.get().copied()
        }

        /// `product(kernel)` for a product of `shape` (`(k, n)`) reading `bytes` of weights,
        /// with the chosen kernel, or while the trials last the next candidate's for that
        /// shape, timed.
        pub(super) fn run<R>(&self, shape: (usize, usize), bytes: usize, product: impl FnOnce(Kernel) -> R) -> R {
            if let Some(&kernel) = self.chosen.get() {
                return product(kernel);
            }
            let candidates = (self.candidates)();
            if candidates.len() == 1 {
                let _ = self.chosen.set(candidates[0]);
                return product(candidates[0]);
            }
            if bytes < MIN_TIMED_BYTES {
                return product(candidates[0]);
            }
            let (at, index) = {
                let mut trials = self.trials.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let at = match trials.iter().position(|t| t.shape == shape) {
                    Some(at) => at,
                    None => {
                        trials.push(ShapeTrials {
                            shape,
                            next: 0,
                            fastest: [f64::INFINITY; Kernel::ALL.len()],
                            count: [0; Kernel::ALL.len()],
                        });
                        trials.len() - 1
                    }
                };
                let index = trials[at].next % candidates.len();
                trials[at].next += 1;
                (at, index)
            };
            let start = std::time::Instant::now();
            let result = product(candidates[index]);
            let seconds = start.elapsed().as_secs_f64();
            let mut trials = self.trials.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // `at` still names this shape's trials: they are only ever pushed
            let t = &mut trials[at];
            t.fastest[index] = t.fastest[index].min(seconds);
            t.count[index] += 1;
            let n = candidates.len();
            let served = |c: usize| trials.iter().map(|t| t.count[c]).sum::<u32>();
            if (0..n).all(|c| served(c) >= self.trials_per_kernel) {
                let _ = self.chosen.set(candidates[fastest_over_shared_shapes(&trials, n)]);
            }
            result
        }
    }

    /// The candidate (of the first `n`) with the least sum of fastest times over the shapes
    /// every candidate has served (the first candidate when there is no such shape).
    fn fastest_over_shared_shapes(trials: &[ShapeTrials], n: usize) -> usize {
        let shared: Vec<&ShapeTrials> = trials.iter().filter(|t| t.count[..n].iter().all(|&c| c > 0)).collect();
        let score = |c: usize| shared.iter().map(|t| t.fastest[c]).sum::<f64>();
        (0..n).min_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(0)
    }

    /// `out[j] += x[i] · W[i, j]` row after row, for bf16 `W` with rows `row_stride` apart: each
    /// output `o + x_i·w_ij` (a rounded product, then a rounded sum), as the portable loop
    /// computes it.
    pub(super) fn axpy_rows(kernel: Kernel, x: &[f32], w: &[bf16], row_stride: usize, out: &mut [f32]) {
        let n = out.len();
        if let Some(last) = x.len().checked_sub(1) {
            assert!(w.len() >= last * row_stride + n, "rows past the end of the weights");
        }
        for (i, &xi) in x.iter().enumerate() {
            let row = w[i * row_stride..].as_ptr();
            // Safety: the CPU has the kernel's features (every candidate does), and row `i`'s
            // `n` weights lie in `w` (asserted above).
            unsafe {
                by_kernel!(kernel, axpy_row_avx512, axpy_row_avx2, [], (xi, row, out))
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn axpy_row_avx512<const L1: usize, const L2: usize>(xi: f32, row: *const bf16, out: &mut [f32]) {
        let n = out.len();
        let o = out.as_mut_ptr();
        let x16 = _mm512_set1_ps(xi);
        let mut j = 0;
        // Safety (both loops): `row` holds `n` weights and `out` `n` outputs; a prefetch never
        // faults, wherever it points.
        unsafe {
            while j + LINE <= n {
                prefetch_ahead::<L1, L2>(row.wrapping_add(j) as *const i8);
                for q in [0, 16] {
                    let sum = _mm512_add_ps(_mm512_loadu_ps(o.add(j + q)), _mm512_mul_ps(x16, widen16(row.add(j + q))));
                    _mm512_storeu_ps(o.add(j + q), sum);
                }
                j += LINE;
            }
            if j < n {
                // the last `n mod 32` outputs: the AVX2 kernel's loops and tail
                axpy_row_avx2::<L1, L2>(xi, row.add(j), &mut out[j..]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn axpy_row_avx2<const L1: usize, const L2: usize>(xi: f32, row: *const bf16, out: &mut [f32]) {
        let n = out.len();
        let o = out.as_mut_ptr();
        let x8 = _mm256_set1_ps(xi);
        let mut j = 0;
        // Safety (all three loops): `row` holds `n` weights and `out` `n` outputs; a prefetch
        // never faults, wherever it points.
        unsafe {
            while j + LINE <= n {
                prefetch_ahead::<L1, L2>(row.wrapping_add(j) as *const i8);
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

    /// `out[j] += x[i] · W[i, j]` for f32 `W` with rows `row_stride` apart: [`super::axpy_body`]'s
    /// sums — [`F32_ROWS`] rows a pass, each output `((o + x₀w₀) + x₁w₁) + …` (a rounded product,
    /// then a rounded sum, row after row), the last `k mod F32_ROWS` rows one at a time — with
    /// `out` loaded and stored once a pass and, in the prefetching kernels, each row's stream
    /// prefetched ahead of its loads ([`Prefetch`]).
    pub(super) fn f32_axpy_rows(kernel: Kernel, x: &[f32], w: &[f32], row_stride: usize, out: &mut [f32]) {
        let n = out.len();
        if let Some(last) = x.len().checked_sub(1) {
            assert!(w.len() >= last * row_stride + n, "rows past the end of the weights");
        }
        let mut groups = x.chunks_exact(F32_ROWS);
        let mut i = 0;
        for xs in &mut groups {
            let xs: &[f32; F32_ROWS] = xs.try_into().expect("a whole group");
            let rows = core::array::from_fn(|r| w[(i + r) * row_stride..].as_ptr());
            // Safety: the CPU has the kernel's features (every candidate does), and rows
            // `i..i + F32_ROWS` each hold `n` weights in `w` (asserted above).
            unsafe { f32_rows(kernel, xs, rows, out) };
            i += F32_ROWS;
        }
        for &xi in groups.remainder() {
            // Safety: as above, for row `i`.
            unsafe { f32_rows(kernel, &[xi], [w[i * row_stride..].as_ptr()], out) };
            i += 1;
        }
    }

    /// `out[j] = ((out[j] + x₀·r₀[j]) + x₁·r₁[j]) + …` over the `ROWS` rows `rows` by `kernel`.
    ///
    /// # Safety
    /// The CPU has the kernel's features, and each row holds `out.len()` weights.
    #[inline(always)]
    unsafe fn f32_rows<const ROWS: usize>(kernel: Kernel, xs: &[f32; ROWS], rows: [*const f32; ROWS], out: &mut [f32]) {
        // Safety: the caller's guarantees.
        unsafe {
            by_kernel!(kernel, f32_rows_avx512, f32_rows_avx2, [ROWS], (xs, rows, out))
        }
    }

    /// Prefetches the cache line of each row at column `j` ([`prefetch_ahead`]).
    #[inline(always)]
    fn prefetch_rows<const ROWS: usize, const L1: usize, const L2: usize>(rows: &[*const f32; ROWS], j: usize) {
        for row in rows {
            prefetch_ahead::<L1, L2>(row.wrapping_add(j) as *const i8);
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn f32_rows_avx512<const ROWS: usize, const L1: usize, const L2: usize>(xs: &[f32; ROWS], rows: [*const f32; ROWS], out: &mut [f32]) {
        let n = out.len();
        let o = out.as_mut_ptr();
        let x16: [__m512; ROWS] = core::array::from_fn(|r| _mm512_set1_ps(xs[r]));
        let mut j = 0;
        // Safety: each row holds `n` weights and `out` `n` outputs.
        unsafe {
            // one cache line of each row a pass
            while j + 16 <= n {
                prefetch_rows::<ROWS, L1, L2>(&rows, j);
                let mut sum = _mm512_loadu_ps(o.add(j));
                for r in 0..ROWS {
                    sum = _mm512_add_ps(sum, _mm512_mul_ps(x16[r], _mm512_loadu_ps(rows[r].add(j))));
                }
                _mm512_storeu_ps(o.add(j), sum);
                j += 16;
            }
            if j < n {
                // the last `n mod 16` outputs: the AVX2 kernel's loop and tail
                f32_rows_avx2::<ROWS, 0, 0>(xs, rows.map(|row| row.add(j)), &mut out[j..]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn f32_rows_avx2<const ROWS: usize, const L1: usize, const L2: usize>(xs: &[f32; ROWS], rows: [*const f32; ROWS], out: &mut [f32]) {
        let n = out.len();
        let o = out.as_mut_ptr();
        let x8: [__m256; ROWS] = core::array::from_fn(|r| _mm256_set1_ps(xs[r]));
        let mut j = 0;
        // Safety (all three loops): each row holds `n` weights and `out` `n` outputs.
        unsafe {
            // one cache line of each row a pass, in two halves
            while j + 16 <= n {
                prefetch_rows::<ROWS, L1, L2>(&rows, j);
                for q in [j, j + 8] {
                    let mut sum = _mm256_loadu_ps(o.add(q));
                    for r in 0..ROWS {
                        sum = _mm256_add_ps(sum, _mm256_mul_ps(x8[r], _mm256_loadu_ps(rows[r].add(q))));
                    }
                    _mm256_storeu_ps(o.add(q), sum);
                }
                j += 16;
            }
            while j + 8 <= n {
                let mut sum = _mm256_loadu_ps(o.add(j));
                for r in 0..ROWS {
                    sum = _mm256_add_ps(sum, _mm256_mul_ps(x8[r], _mm256_loadu_ps(rows[r].add(j))));
                }
                _mm256_storeu_ps(o.add(j), sum);
                j += 8;
            }
            while j < n {
                let mut sum = *o.add(j);
                for r in 0..ROWS {
                    sum = sum + xs[r] * *rows[r].add(j);
                }
                *o.add(j) = sum;
                j += 1;
            }
        }
    }

    /// `out[j] = Σ_i x[i] · E[first + j, i]` for bf16 or f32 `E` with rows `row_stride` apart:
    /// [`super::dot_body`]'s sums — [`LANES`] partial sums, lane `l` taking `x[i]·e[i]` for
    /// `i ≡ l` in order, added in lane order, then the last `k mod 16` terms one by one — with
    /// each row's stream prefetched ahead of its loads.
    ///
    /// Rows `j` and `j + len/2` of the block are read side by side (the last row of an odd block
    /// alone): two streams of `E` a thread, far apart, each row still its own sums (the same
    /// bits). On a Xeon of family 6 model 207 (2 cores) a decode step's 196 bf16 projections
    /// read at 28.8 / 28.0 / 28.5 GB/s one row at a time and at 30.5 / 29.5 / 30.8 GB/s two such
    /// rows at a time, f32's rate (the f32 projections' rows in the same rounds: 30.5 / 28.8 /
    /// 30.2 GB/s); two *adjacent* rows read slower than one, four rows a quarter block apart no
    /// faster than two (`vendor/README.md`, change 4, session 35). [`super::set_dot_rows_together`]
    /// sets one row at a time instead, for measuring.
    pub(super) fn dot_rows<T: DotKernels>(kernel: Kernel, x: &[f32], e: &[T], row_stride: usize, first: usize, out: &mut [f32]) {
        let k = x.len();
        if !out.is_empty() {
            assert!(e.len() >= (first + out.len() - 1) * row_stride + k, "rows past the end of E");
        }
        let row = |j: usize| e[(first + j) * row_stride..].as_ptr();
        // the partial sums added in lane order, then the last `k mod 16` terms
        let finish = |partial: [f32; LANES], row: *const T| -> f32 {
            let mut sum: f32 = partial.iter().sum();
            for i in k / LANES * LANES..k {
                // Safety: `row` is one of `E`'s rows of `k` weights (asserted above).
                sum += x[i] * unsafe { *row.add(i) }.widen();
            }
            sum
        };
        let half = match super::DOT_ROWS_TOGETHER.load(core::sync::atomic::Ordering::Relaxed) {
            1 => 0,
            _ => out.len() / 2,
        };
        let (front, back) = out.split_at_mut(half);
        let (paired, alone) = back.split_at_mut(half);
        for (j, (a, b)) in front.iter_mut().zip(paired).enumerate() {
            let rows = [row(j), row(half + j)];
            // Safety: the CPU has the kernel's features (every candidate does), and both rows'
            // `k` weights lie in `e` (asserted above).
            let [pa, pb] = unsafe { dot_partials(kernel, x, rows) };
            (*a, *b) = (finish(pa, rows[0]), finish(pb, rows[1]));
        }
        for (j, o) in alone.iter_mut().enumerate() {
            let rows = [row(2 * half + j)];
            // Safety: as above.
            let [partial] = unsafe { dot_partials(kernel, x, rows) };
            *o = finish(partial, rows[0]);
        }
    }

    /// Weights [`dot_rows`] runs on: bf16 (widened in registers) and f32, read as f32 lanes.
    pub(super) trait DotKernels: Weight {
        /// Sixteen values at `p` as f32.
        ///
        /// # Safety
        /// The CPU has AVX-512F, and 16 values are readable at `p`.
        unsafe fn load16(p: *const Self) -> __m512;

        /// Eight values at `p` as f32.
        ///
        /// # Safety
        /// The CPU has AVX2, and 8 values are readable at `p`.
        unsafe fn load8(p: *const Self) -> __m256;
    }

    impl DotKernels for bf16 {
        #[inline(always)]
        unsafe fn load16(p: *const bf16) -> __m512 {
            // Safety: the caller's guarantees.
            unsafe { widen16(p) }
        }

        #[inline(always)]
        unsafe fn load8(p: *const bf16) -> __m256 {
            // Safety: the caller's guarantees.
            unsafe { widen8(p) }
        }
    }

    impl DotKernels for f32 {
        #[inline(always)]
        unsafe fn load16(p: *const f32) -> __m512 {
            // Safety: the caller's guarantees.
            unsafe { _mm512_loadu_ps(p) }
        }

        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m256 {
            // Safety: the caller's guarantees.
            unsafe { _mm256_loadu_ps(p) }
        }
    }

    /// The [`LANES`] partial sums of `x · row` over the first `k / 16 · 16` terms by `kernel`,
    /// for each of `R` rows read side by side.
    ///
    /// # Safety
    /// The CPU has the kernel's features, and each row holds `x.len()` values.
    unsafe fn dot_partials<T: DotKernels, const R: usize>(kernel: Kernel, x: &[f32], rows: [*const T; R]) -> [[f32; LANES]; R] {
        // Safety: the caller's guarantees.
        unsafe {
            by_kernel!(kernel, dot_row_avx512, dot_row_avx2, [T, R], (x, rows))
        }
    }

    /// Prefetches ([`prefetch_ahead`]) every cache line of the [`LINE`] weights a loop
    /// iteration of the dot kernels reads from `at` (one line of bf16, two of f32).
    #[inline(always)]
    fn prefetch_pass<T, const L1: usize, const L2: usize>(at: *const T) {
        let bytes = LINE * core::mem::size_of::<T>();
        for offset in (0..bytes).step_by(64) {
            prefetch_ahead::<L1, L2>((at as *const i8).wrapping_add(offset));
        }
    }

    /// The [`LANES`] partial sums of `x · row` over the first `k / 16 · 16` terms, for each of
    /// `R` rows read side by side (each row's sums its own, in the same order as alone).
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_row_avx512<T: DotKernels, const R: usize, const L1: usize, const L2: usize>(x: &[f32], rows: [*const T; R]) -> [[f32; LANES]; R] {
        let whole = x.len() / LANES * LANES;
        let xp = x.as_ptr();
        let mut acc = [_mm512_setzero_ps(); R];
        let mut i = 0;
        let mut partial = [[0f32; LANES]; R];
        // Safety (both loops): `x` and every row hold `k` values; a prefetch never faults.
        unsafe {
            while i + LINE <= whole {
                for row in rows {
                    prefetch_pass::<T, L1, L2>(row.add(i));
                }
                let (x0, x1) = (_mm512_loadu_ps(xp.add(i)), _mm512_loadu_ps(xp.add(i + 16)));
                for (a, row) in acc.iter_mut().zip(rows) {
                    *a = _mm512_add_ps(*a, _mm512_mul_ps(x0, T::load16(row.add(i))));
                }
                for (a, row) in acc.iter_mut().zip(rows) {
                    *a = _mm512_add_ps(*a, _mm512_mul_ps(x1, T::load16(row.add(i + 16))));
                }
                i += LINE;
            }
            if i < whole {
                let x0 = _mm512_loadu_ps(xp.add(i));
                for (a, row) in acc.iter_mut().zip(rows) {
                    *a = _mm512_add_ps(*a, _mm512_mul_ps(x0, T::load16(row.add(i))));
                }
            }
            for (p, a) in partial.iter_mut().zip(acc) {
                _mm512_storeu_ps(p.as_mut_ptr(), a);
            }
        }
        partial
    }

    /// The [`LANES`] partial sums of `x · row` over the first `k / 16 · 16` terms, for each of
    /// `R` rows read side by side (each row's sums its own, in the same order as alone).
    #[target_feature(enable = "avx2")]
    unsafe fn dot_row_avx2<T: DotKernels, const R: usize, const L1: usize, const L2: usize>(x: &[f32], rows: [*const T; R]) -> [[f32; LANES]; R] {
        let whole = x.len() / LANES * LANES;
        let xp = x.as_ptr();
        let mut acc = [(_mm256_setzero_ps(), _mm256_setzero_ps()); R];
        let mut i = 0;
        let mut partial = [[0f32; LANES]; R];
        // Safety (both loops): `x` and every row hold `k` values; a prefetch never faults.
        unsafe {
            while i + LINE <= whole {
                for row in rows {
                    prefetch_pass::<T, L1, L2>(row.add(i));
                }
                for ((lo, hi), row) in acc.iter_mut().zip(rows) {
                    dot16(lo, hi, xp.add(i), row.add(i));
                }
                for ((lo, hi), row) in acc.iter_mut().zip(rows) {
                    dot16(lo, hi, xp.add(i + 16), row.add(i + 16));
                }
                i += LINE;
            }
            if i < whole {
                for ((lo, hi), row) in acc.iter_mut().zip(rows) {
                    dot16(lo, hi, xp.add(i), row.add(i));
                }
            }
            for (p, (lo, hi)) in partial.iter_mut().zip(acc) {
                _mm256_storeu_ps(p.as_mut_ptr(), lo);
                _mm256_storeu_ps(p.as_mut_ptr().add(8), hi);
            }
        }
        partial
    }

    /// Lanes 0–7 and 8–15 of the partial sums, each `+ x·e` for the next 16 terms.
    #[inline(always)]
    unsafe fn dot16<T: DotKernels>(lo: &mut __m256, hi: &mut __m256, x: *const f32, e: *const T) {
        // Safety: the caller guarantees 16 readable values at `x` and at `e`.
        unsafe {
            *lo = _mm256_add_ps(*lo, _mm256_mul_ps(_mm256_loadu_ps(x), T::load8(e)));
            *hi = _mm256_add_ps(*hi, _mm256_mul_ps(_mm256_loadu_ps(x.add(8)), T::load8(e.add(8))));
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
