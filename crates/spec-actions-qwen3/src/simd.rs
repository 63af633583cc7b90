//! Run-time SIMD dispatch for host-side loops over a vocabulary (decoding's maximum, Σ exp,
//! argmax and nucleus probabilities over 151,936 logits per row and step).
//!
//! The workspace is built for baseline x86-64 (SSE2), so a plain loop is compiled for
//! 128-bit registers whatever the CPU. [`dispatch`] runs a closure inside a function compiled
//! with AVX-512 (or AVX2 + FMA) enabled when CPUID reports it, as `gemm` does for the matmuls
//! (see `spec_actions_core::machine`): the closure is inlined there and vectorised for the
//! wider registers. Without the features it runs as compiled (portable).
//!
//! **Mark the closure `#[inline(always)]`** (`dispatch(#[inline(always)] || ...)`), and the
//! functions it calls too: the compiler inlines a closure into the dispatching function only
//! when told to, and a closure compiled on its own is baseline SSE2 code whatever function calls
//! it. The decode picks were once such closures: a profile showed them in 128-bit registers,
//! and inlining them made the tiny preset's recording 13 % faster.
//!
//! Results are bit-identical at every level: Rust never contracts `a * b + c` into a fused
//! multiply-add nor reorders floating-point sums unless told to, so wider registers change the
//! speed of an elementwise loop and of independent accumulator lanes, not their values
//! (checked by this module's test on each level the CPU offers, and by
//! `scripts/cpu_fallback.sh` under emulated CPUs without AVX-512 or AVX2).
//!
//! ```
//! let xs: Vec<f32> = (0..1000).map(|i| (i as f32).sin()).collect();
//! let max = spec_actions_qwen3::simd::dispatch(#[inline(always)] || xs.iter().copied().fold(f32::NEG_INFINITY, f32::max));
//! assert_eq!(max, xs.iter().copied().fold(f32::NEG_INFINITY, f32::max));
//! ```

/// `values` reduced in 16 independent lanes: element `i` folded into lane `i % 16` by `step`,
/// the lanes then combined pairwise by `combine` (four steps, not fifteen). A single running
/// sum or maximum is a chain of dependent instructions that the compiler may not reorder (float
/// reductions are not associative); 16 lanes vectorise at every level [`dispatch`] runs at.
/// The result depends on the order of the sums like any float reduction — the same for every
/// level and run, but not a sequential fold's.
///
/// ```
/// use spec_actions_qwen3::simd::lanes_fold;
///
/// let xs: Vec<f32> = (1..=40).map(|i| i as f32).collect();
/// assert_eq!(lanes_fold(&xs, 0.0, |a, x| a + x, |a, b| a + b), 820.0);
/// assert_eq!(lanes_fold(&xs, f32::NEG_INFINITY, f32::max, f32::max), 40.0);
/// assert_eq!(lanes_fold(&xs[..3], 0.0, |a, x| a + x * x, |a, b| a + b), 14.0);
/// ```
#[inline(always)]
pub fn lanes_fold(
    values: &[f32],
    init: f32,
    step: impl Fn(f32, f32) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut lanes = [init; 16];
    let chunks = values.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(init, |a, &x| step(a, x));
    for chunk in chunks {
        for l in 0..16 {
            lanes[l] = step(lanes[l], chunk[l]);
        }
    }
    let mut width = 8;
    while width > 0 {
        for l in 0..width {
            lanes[l] = combine(lanes[l], lanes[l + width]);
        }
        width /= 2;
    }
    combine(lanes[0], tail)
}

/// The SIMD level [`dispatch`] runs at on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// AVX-512 F/BW/VL/DQ with AVX2 and FMA (512-bit registers).
    Avx512,
    /// AVX2 with FMA (256-bit registers).
    Avx2,
    /// What the build targets (SSE2 on x86-64; NEON on aarch64).
    Portable,
}

impl SimdLevel {
    /// The best level this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f")
                && has!("avx512bw")
                && has!("avx512vl")
                && has!("avx512dq")
                && has!("avx2")
                && has!("fma")
            {
                return SimdLevel::Avx512;
            }
            if has!("avx2") && has!("fma") {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Portable
    }
}

/// `f()`, compiled for the best [`SimdLevel`] of this CPU.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    // the highest level asked for falls back to the best this CPU has
    dispatch_at(SimdLevel::Avx512, f)
}

/// `f()`, compiled for `level` — which must be at most [`SimdLevel::detect`]'s (a higher one
/// falls back to the best available, never to an instruction the CPU lacks).
#[inline(always)]
pub fn dispatch_at<R>(level: SimdLevel, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        let available = SimdLevel::detect();
        match (level, available) {
            (SimdLevel::Avx512, SimdLevel::Avx512) => {
                // SAFETY: CPUID reports every feature the function is compiled with.
                return unsafe { run_avx512(f) };
            }
            (SimdLevel::Avx512 | SimdLevel::Avx2, SimdLevel::Avx512 | SimdLevel::Avx2) => {
                // SAFETY: as above (AVX-512 CPUs have AVX2 and FMA).
                return unsafe { run_avx2(f) };
            }
            _ => {}
        }
    }
    let _ = level;
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
