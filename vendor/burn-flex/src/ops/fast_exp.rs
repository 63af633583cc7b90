//! spec-actions patch (see `vendor/README.md`, change 3): `e^x` for f32 without a libm call,
//! so that loops over large tensors vectorise, run in the CPU's widest SIMD registers.
//!
//! Upstream calls `f32::exp` (glibc's scalar `expf`) per element; in a training step of a
//! model with Qwen3's 151,936-token vocabulary the log-sum-exp of the loss and its backward
//! spent 12 % of the step in that call.

/// `e^x` in f32 for every `x`: Cephes' `expf` — `x = n·ln 2 + r` with `n` rounded to nearest
/// by the 1.5·2²³ trick and `ln 2` in two parts, a degree-5 minimax polynomial for `e^r` on
/// `|r| ≤ ln 2 / 2`, and `2^n` applied as two powers of two built in the exponent bits (so
/// that results down to the subnormals round once). Within 2 ulp of the exact value over
/// the whole range (tested against `f64::exp` by the workspace's `flex_exp.rs` test in
/// `crates/spec-actions-qwen3/tests/`); `+∞` above `ln f32::MAX`, `0` below
/// `ln 2^−150`, NaN for NaN. No branches or calls: a loop of it vectorises.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    const HI: f32 = 88.722_84; // ln(f32::MAX)
    const LO: f32 = -103.972_08; // ln(2^-150): e^x rounds to 0 below
    // selects, not branches; NaN fails both comparisons and stays NaN
    let xc = if x > HI {
        HI
    } else if x < LO {
        LO
    } else {
        x
    };
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = xc - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * (r * r) + r + 1.0;
    // n ∈ [−150, 128]: two factors 2^(n/2), each a normal float
    let n1 = n_int >> 1;
    let n2 = n_int - n1;
    let scale1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let scale2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    let y = e * scale1 * scale2;
    if x > HI {
        f32::INFINITY
    } else if x < LO {
        0.0
    } else {
        y
    }
}

/// `x ← e^x` over `data`, compiled for the best SIMD level of this CPU.
#[cfg(feature = "simd")]
#[macerator::with_simd]
pub(crate) fn exp_f32_in_place<S: macerator::Simd>(data: &mut [f32]) {
    for x in data.iter_mut() {
        *x = exp_f32(*x);
    }
}

/// `x ← e^x` over `data`.
#[cfg(not(feature = "simd"))]
pub(crate) fn exp_f32_in_place(data: &mut [f32]) {
    for x in data.iter_mut() {
        *x = exp_f32(*x);
    }
}
