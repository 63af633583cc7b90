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
/// the whole range (tested against `f64::exp`); `+∞` above `ln f32::MAX`, `0` below
/// `ln 2^−150`, NaN for NaN. No branches or calls: a loop of it vectorises.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between `got` and the f32 nearest to `want`.
    fn ulps(got: f32, want: f64) -> u32 {
        let want = want as f32;
        if got == want {
            return 0;
        }
        (got.to_bits() as i64 - want.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn within_two_ulp_of_f64_exp_over_the_whole_range() {
        let mut worst = 0;
        let mut x = -104.0f32;
        while x < 89.0 {
            let got = exp_f32(x);
            let want = (x as f64).exp();
            // subnormal results carry fewer bits: compare them absolutely
            if want < f32::MIN_POSITIVE as f64 {
                assert!((got as f64 - want).abs() <= 2.0 * f32::from_bits(1) as f64, "x = {x}");
            } else if want <= f32::MAX as f64 {
                worst = worst.max(ulps(got, want));
                assert!(ulps(got, want) <= 2, "x = {x}: {got} vs {want}");
            }
            x += 0.000_731;
        }
        assert!(worst <= 2);
    }

    #[test]
    fn edges_match_the_exact_function() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(88.7).is_finite());
    }

    #[test]
    fn the_slice_kernel_is_the_scalar_function() {
        let mut xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.21).collect();
        let want: Vec<f32> = xs.iter().map(|&x| exp_f32(x)).collect();
        exp_f32_in_place(&mut xs);
        assert_eq!(xs, want);
    }
}
