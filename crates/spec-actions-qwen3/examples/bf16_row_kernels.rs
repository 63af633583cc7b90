//! Variants of the bf16 decode kernel (`x · W`, `W` `[k, n]` bf16 with contiguous rows, summed
//! `ROW_CHUNK` rows a chunk on rayon's threads, as the vendored Flex's `row_vector.rs` does),
//! timed over a decode step's 196 projections of Qwen3-0.6B: rows summed 1, 2 or 4 at a time
//! (the same sums, the same bits: `(((o + x₀w₀) + x₁w₁) + …)`), each row's stream prefetched
//! 0, 512, 1024, 2048, 4096 or 8192 bytes ahead, in 512-bit registers where the CPU has AVX-512F and 256-bit
//! ones where it has AVX2; where the CPU has AVX-512 BF16, `vdpbf16ps` over 2 or 4 rows a pass
//! (pairs of rows interleaved by unpack or by permute; the same order of additions, the same
//! bits as one row a pass for bf16 values). Beside them, in the same run: the same products as
//! Flex computes them (f32 and bf16 weights) and a read of the bf16 weights alone (the bound).
//!
//! A tool for choosing the kernel on a CPU one cannot profile (a lent machine without `perf`):
//! it prints each variant's median time and GB/s, and checks every variant's sums bit for bit
//! against the one-row, no-prefetch variant.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example bf16_row_kernels
//! HEAP=1 cargo run --release -p spec-actions-qwen3 --example bf16_row_kernels
//! ```
//!
//! With `HEAP` set, the run first calls `allocator::keep_freed_memory_in_heap` (as the xtask
//! and the benches do), so Flex's products see the allocator they see in the pipeline.

#[cfg(target_arch = "x86_64")]
fn main() {
    kernels::main()
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("bf16_row_kernels: x86-64 only");
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use std::arch::x86_64::*;
    use std::time::Instant;

    use burn::backend::Flex;
    use burn::prelude::*;
    use burn::tensor::FloatDType;
    use rayon::prelude::*;
    use spec_actions_qwen3::compute_threads::on_compute_threads;
    use spec_actions_qwen3::config::Qwen3Config;
    use spec_actions_qwen3::model::LoraTarget;

    const ROW_CHUNK: usize = 256;
    const REPEATS: usize = 7;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Width {
        Avx512,
        Avx2,
        /// AVX-512 BF16's `vdpbf16ps`: two rows a multiply-add, pairs made by `vpunpck*wd`
        /// (the outputs of a pass in a permuted order, put back once a chunk).
        Dpbf16Unpack,
        /// `vdpbf16ps`, pairs made by `vpermt2w` (the outputs in order).
        Dpbf16Permute,
    }

    /// One projection: `[k, n]` bf16 bits, row-major.
    struct Matrix {
        k: usize,
        n: usize,
        w: Vec<u16>,
    }

    pub fn main() {
        if std::env::var_os("HEAP").is_some() {
            spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
        }
        let c = Qwen3Config::qwen3_0_6b();
        // [d_in, d_out] of q, k, v, o, gate, up, down (the transpose of HF's shape)
        let shapes = LoraTarget::ALL.map(|t| {
            let [d_out, d_in] = t.hf_shape(&c);
            (d_in, d_out)
        });
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // a normal-ish weight of scale 0.02, rounded to bf16 by truncation
            let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            ((u * 0.04).to_bits() >> 16) as u16
        };
        let matrices: Vec<Matrix> = (0..c.num_hidden_layers)
            .flat_map(|_| shapes)
            .map(|(k, n)| Matrix {
                k,
                n,
                w: (0..k * n).map(|_| next()).collect(),
            })
            .collect();
        let bytes: usize = matrices.iter().map(|m| m.w.len() * 2).sum();
        let rows: Vec<Vec<f32>> = matrices
            .iter()
            .map(|m| {
                (0..m.k)
                    .map(|_| {
                        // a bf16 value, as Flex's bf16 product sees its row (rounded to bf16)
                        let v = f32::from_bits(u32::from(next()) << 16) * 25.0;
                        f32::from_bits(v.to_bits() & 0xffff_0000)
                    })
                    .collect()
            })
            .collect();
        let bf16 = is_x86_feature_detected!("avx512bf16") && is_x86_feature_detected!("avx512bw");
        let widths: Vec<Width> = [
            (bf16, Width::Dpbf16Unpack),
            (bf16, Width::Dpbf16Permute),
            (is_x86_feature_detected!("avx512f"), Width::Avx512),
            (is_x86_feature_detected!("avx2"), Width::Avx2),
        ]
        .into_iter()
        .filter_map(|(has, w)| has.then_some(w))
        .collect();
        println!(
            "{} projections, {:.2} GB of bf16 weights, {} rayon threads, widths {widths:?}",
            matrices.len(),
            bytes as f64 / 1e9,
            rayon::current_num_threads()
        );
        let gbs = |ms: f64| bytes as f64 / ms / 1e6;

        // the bound: every weight read once, summed
        let read = time(|| {
            let s: u64 = matrices
                .iter()
                .map(|m| m.w.par_chunks(ROW_CHUNK * m.n).map(sum_bits).sum::<u64>())
                .sum();
            std::hint::black_box(s);
        });
        println!(
            "read alone (bf16 bits summed): {read:.1} ms, {:.1} GB/s",
            gbs(read)
        );

        // Flex's own products, f32 and bf16 weights (bf16 rows)
        let device = Default::default();
        for dtype in [FloatDType::F32, FloatDType::BF16] {
            let weights: Vec<Tensor<Flex, 2>> = matrices
                .iter()
                .map(|m| {
                    let f: Vec<f32> = m.w.iter().map(|&b| f32::from_bits(u32::from(b) << 16)).collect();
                    Tensor::<Flex, 2>::from_data(TensorData::new(f, [m.k, m.n]), &device).cast(dtype)
                })
                .collect();
            let xs: Vec<Tensor<Flex, 2>> = rows
                .iter()
                .map(|x| {
                    Tensor::<Flex, 2>::from_data(TensorData::new(x.clone(), [1, x.len()]), &device)
                        .cast(dtype)
                })
                .collect();
            let ms = time(|| {
                on_compute_threads::<Flex, _>(|| {
                    for (w, x) in weights.iter().zip(&xs) {
                        std::hint::black_box(x.clone().matmul(w.clone()));
                    }
                })
            });
            let (b, name) = if dtype == FloatDType::F32 {
                (2 * bytes, "f32")
            } else {
                (bytes, "bf16")
            };
            println!(
                "Flex products, {name} weights: {ms:.1} ms, {:.1} GB/s",
                b as f64 / ms / 1e6
            );
        }

        // the variants
        let reference: Vec<Vec<f32>> = matrices
            .iter()
            .zip(&rows)
            .map(|(m, x)| product(widths[widths.len() - 1], 1, 0, m, x))
            .collect();
        for &width in &widths {
            let dp = matches!(width, Width::Dpbf16Unpack | Width::Dpbf16Permute);
            let row_counts: &[usize] = if dp { &[2, 4] } else { &[1, 2, 4] };
            for &rows_at_once in row_counts {
                for prefetch in [0, 512, 1024, 2048, 4096, 8192] {
                    let mut same = true;
                    let ms = time(|| {
                        on_compute_threads::<Flex, _>(|| {
                            for (j, (m, x)) in matrices.iter().zip(&rows).enumerate() {
                                let y = product(width, rows_at_once, prefetch, m, x);
                                if j % 37 == 0 {
                                    same &= y
                                        .iter()
                                        .zip(&reference[j])
                                        .all(|(a, b)| a.to_bits() == b.to_bits());
                                }
                                std::hint::black_box(y);
                            }
                        })
                    });
                    println!(
                        "{width:?} {rows_at_once} row(s) a pass, prefetch {prefetch:>4} B: {ms:.1} ms, {:.1} GB/s{}",
                        gbs(ms),
                        if same { "" } else { "  DIFFERENT BITS" }
                    );
                }
            }
        }
    }

    fn sum_bits(w: &[u16]) -> u64 {
        w.iter().map(|&b| u64::from(b)).sum()
    }

    /// Median wall time of `REPEATS` runs of `f` (after one warm-up), in ms.
    fn time(mut f: impl FnMut()) -> f64 {
        f();
        let mut ms: Vec<f64> = (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms[REPEATS / 2]
    }

    /// `x · W`: chunks of `ROW_CHUNK` rows on rayon's threads, partials added in chunk order.
    fn product(width: Width, rows_at_once: usize, prefetch: usize, m: &Matrix, x: &[f32]) -> Vec<f32> {
        let chunks = m.k.div_ceil(ROW_CHUNK);
        let partials: Vec<Vec<f32>> = (0..chunks)
            .into_par_iter()
            .map(|c| {
                let rows = c * ROW_CHUNK..m.k.min((c + 1) * ROW_CHUNK);
                let mut out = vec![0f32; m.n];
                let w = &m.w[rows.start * m.n..rows.end * m.n];
                // Safety: the width's features were detected; `w` holds the chunk's rows.
                unsafe {
                    match (width, rows_at_once) {
                        (Width::Dpbf16Unpack, 4) => dp_rows::<2, false>(&x[rows], w, prefetch, &mut out),
                        (Width::Dpbf16Unpack, _) => dp_rows::<1, false>(&x[rows], w, prefetch, &mut out),
                        (Width::Dpbf16Permute, 4) => dp_rows::<2, true>(&x[rows], w, prefetch, &mut out),
                        (Width::Dpbf16Permute, _) => dp_rows::<1, true>(&x[rows], w, prefetch, &mut out),
                        (Width::Avx512, 4) => axpy512::<4>(&x[rows], w, prefetch, &mut out),
                        (Width::Avx512, 2) => axpy512::<2>(&x[rows], w, prefetch, &mut out),
                        (Width::Avx512, _) => axpy512::<1>(&x[rows], w, prefetch, &mut out),
                        (Width::Avx2, 4) => axpy256::<4>(&x[rows], w, prefetch, &mut out),
                        (Width::Avx2, 2) => axpy256::<2>(&x[rows], w, prefetch, &mut out),
                        (Width::Avx2, _) => axpy256::<1>(&x[rows], w, prefetch, &mut out),
                    }
                }
                out
            })
            .collect();
        let mut parts = partials.into_iter();
        let mut y = parts.next().expect("a chunk");
        for p in parts {
            y.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
        }
        y
    }

    /// `out[j] = (((out[j] + x₀w₀ⱼ) + x₁w₁ⱼ) + …)` over the rows, `R` rows a pass over `out`
    /// (`n` a multiple of 32 and `x.len()` of `R` here: the 0.6B shapes).
    #[target_feature(enable = "avx512f")]
    unsafe fn axpy512<const R: usize>(x: &[f32], w: &[u16], prefetch: usize, out: &mut [f32]) {
        let n = out.len();
        assert!(n.is_multiple_of(32) && x.len().is_multiple_of(R) && w.len() >= x.len() * n);
        let o = out.as_mut_ptr();
        for i in (0..x.len()).step_by(R) {
            let xs: [__m512; R] = std::array::from_fn(|r| _mm512_set1_ps(x[i + r]));
            let rows: [*const u16; R] = std::array::from_fn(|r| w[(i + r) * n..].as_ptr());
            let mut j = 0;
            unsafe {
                while j < n {
                    if prefetch > 0 {
                        for row in rows {
                            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j + prefetch / 2) as *const i8);
                        }
                    }
                    for q in [0, 16] {
                        let mut sum = _mm512_loadu_ps(o.add(j + q));
                        for r in 0..R {
                            sum = _mm512_add_ps(sum, _mm512_mul_ps(xs[r], widen16(rows[r].add(j + q))));
                        }
                        _mm512_storeu_ps(o.add(j + q), sum);
                    }
                    j += 32;
                }
            }
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn axpy256<const R: usize>(x: &[f32], w: &[u16], prefetch: usize, out: &mut [f32]) {
        let n = out.len();
        assert!(n.is_multiple_of(32) && x.len().is_multiple_of(R) && w.len() >= x.len() * n);
        let o = out.as_mut_ptr();
        for i in (0..x.len()).step_by(R) {
            let xs: [__m256; R] = std::array::from_fn(|r| _mm256_set1_ps(x[i + r]));
            let rows: [*const u16; R] = std::array::from_fn(|r| w[(i + r) * n..].as_ptr());
            let mut j = 0;
            unsafe {
                while j < n {
                    if prefetch > 0 {
                        for row in rows {
                            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j + prefetch / 2) as *const i8);
                        }
                    }
                    for q in [0, 8, 16, 24] {
                        let mut sum = _mm256_loadu_ps(o.add(j + q));
                        for r in 0..R {
                            sum = _mm256_add_ps(sum, _mm256_mul_ps(xs[r], widen8(rows[r].add(j + q))));
                        }
                        _mm256_storeu_ps(o.add(j + q), sum);
                    }
                    j += 32;
                }
            }
        }
    }

    /// `x_i` (high half) and `x_{i+1}` (low half) as one bf16 pair in every lane: `vdpbf16ps`
    /// adds a lane's high product first, so each output is `(o + x_i·w_i) + x_{i+1}·w_{i+1}`,
    /// the one-row order (exact products of bf16 values; denormals flushed to zero).
    #[inline(always)]
    unsafe fn pair(hi: f32, lo: f32) -> __m512bh {
        let bits = (hi.to_bits() & 0xffff_0000) | (lo.to_bits() >> 16);
        unsafe { std::mem::transmute(_mm512_set1_epi32(bits as i32)) }
    }

    /// `vdpbf16ps` over `P` row pairs a pass. Pairs made by `vpermt2w` (`PERMUTE`: the outputs
    /// in order) or by `vpunpck{l,h}wd`, which leaves each 32-output block of `out` as columns
    /// {0–3, 8–11, 16–19, 24–27} then {4–7, …, 28–31}, put back in order at the end.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn dp_rows<const P: usize, const PERMUTE: bool>(
        x: &[f32],
        w: &[u16],
        prefetch: usize,
        out: &mut [f32],
    ) {
        let n = out.len();
        assert!(n.is_multiple_of(32) && x.len().is_multiple_of(2 * P) && w.len() >= x.len() * n);
        let o = out.as_mut_ptr();
        // for `vpermt2w`, word 2m: row i+1's column m (second operand, index 32 + m); word
        // 2m + 1: row i's
        let index = |half: i16| {
            let words: [i16; 32] = std::array::from_fn(|t| {
                let m = (t / 2) as i16 + 16 * half;
                if t % 2 == 0 { 32 + m } else { m }
            });
            unsafe { _mm512_loadu_si512(words.as_ptr() as *const _) }
        };
        let (first, second) = (index(0), index(1));
        // rows i (`a`) and i + 1 (`b`) as bf16 pairs, row i in each pair's high half
        let pairs = |a: __m512i, b: __m512i| -> [__m512bh; 2] {
            let (lo, hi) = if PERMUTE {
                (
                    _mm512_permutex2var_epi16(a, first, b),
                    _mm512_permutex2var_epi16(a, second, b),
                )
            } else {
                (_mm512_unpacklo_epi16(b, a), _mm512_unpackhi_epi16(b, a))
            };
            // Safety: both are 512-bit vectors; a bf16 pair is two 16-bit words.
            unsafe { [lo, hi].map(|v| std::mem::transmute::<__m512i, __m512bh>(v)) }
        };
        for i in (0..x.len()).step_by(2 * P) {
            let xs: [__m512bh; P] = std::array::from_fn(|p| unsafe { pair(x[i + 2 * p], x[i + 2 * p + 1]) });
            let rows: [[*const u16; 2]; P] =
                std::array::from_fn(|p| std::array::from_fn(|r| w[(i + 2 * p + r) * n..].as_ptr()));
            let mut j = 0;
            unsafe {
                while j < n {
                    if prefetch > 0 {
                        for row in rows.iter().flatten() {
                            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j + prefetch / 2) as *const i8);
                        }
                    }
                    let mut lo = _mm512_loadu_ps(o.add(j));
                    let mut hi = _mm512_loadu_ps(o.add(j + 16));
                    for p in 0..P {
                        let a = _mm512_loadu_si512(rows[p][0].add(j) as *const _);
                        let b = _mm512_loadu_si512(rows[p][1].add(j) as *const _);
                        let [wl, wh] = pairs(a, b);
                        lo = _mm512_dpbf16_ps(lo, wl, xs[p]);
                        hi = _mm512_dpbf16_ps(hi, wh, xs[p]);
                    }
                    _mm512_storeu_ps(o.add(j), lo);
                    _mm512_storeu_ps(o.add(j + 16), hi);
                    j += 32;
                }
            }
        }
        if !PERMUTE {
            // back in order: position 4L + m holds column 8L + m, 16 + 4L + m column 8L + 4 + m
            for block in out.chunks_exact_mut(32) {
                let mut ordered = [0f32; 32];
                for l in 0..4 {
                    for m in 0..4 {
                        ordered[8 * l + m] = block[4 * l + m];
                        ordered[8 * l + 4 + m] = block[16 + 4 * l + m];
                    }
                }
                block.copy_from_slice(&ordered);
            }
        }
    }

    #[inline(always)]
    unsafe fn widen16(p: *const u16) -> __m512 {
        unsafe {
            let bits = _mm256_loadu_si256(p as *const __m256i);
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(bits)))
        }
    }

    #[inline(always)]
    unsafe fn widen8(p: *const u16) -> __m256 {
        unsafe {
            let bits = _mm_loadu_si128(p as *const __m128i);
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits)))
        }
    }
}
