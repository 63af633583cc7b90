//! `log Σ exp` over a vocabulary, summed precisely enough for Qwen3's 151,936 tokens (issue
//! #14, item 2): the shared step of every LM-head loss and log-softmax in this workspace.
//!
//! A plain f32 sum of 151,936 terms accumulates ~10⁴ roundings per SIMD lane. The gradient
//! suffers most when the model is trained: it gives its label most of the probability, so
//! `p − 1` at the label cancels and the sum's relative error is amplified by `1 / (1 − p)`.
//! Here the terms are summed in f32 over blocks of at most [`MAX_BLOCK`] (few roundings
//! each), and the block sums in f64 ("per-chunk f64 partial sums"): the same passes over the
//! logits as before, plus a sum over `vocab / block` values.
//!
//! Measured (`scripts/make_real_vocab_reference.py`, 2 layers, hidden 64, vocab 151,936, rank-8
//! adapter on all projections, labels the model's own argmax; `examples/lm_head_precision.rs`
//! in spec-actions-train), against float64, loss |Δ| and LoRA gradients' relative error:
//! with mean p(label) 0.95, plain f32 sum 2.2e-6 / 2.5e-2, this sum 1.1e-7 / 1.8e-3 (PyTorch
//! f32 1.8e-5 / 1.7e-1); with mean p(label) 0.002, both at PyTorch's level (1.1e-7 / 7e-4).
//! The loss step (LM head, log-sum-exp, backward on 256 rows) is not slower (−0.4 to −4 %).

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::log_softmax;

/// Largest block of terms summed in f32 before the f64 sum of the blocks.
pub const MAX_BLOCK: usize = 256;

/// The block size for a row of `n` terms: the largest divisor of `n` that is at most
/// [`MAX_BLOCK`] (151,936 = 128 · 1,187 → 128; a prime `n` above it → 1, an f64 sum of every
/// term), so that a row reshapes into whole blocks without padding.
pub fn block_size(n: usize) -> usize {
    (1..=MAX_BLOCK.min(n.max(1)))
        .rev()
        .find(|b| n.is_multiple_of(*b))
        .unwrap_or(1)
}

/// `log Σ_j exp(x_j)` of every row, with the row maximum subtracted first (as in any stable
/// log-softmax) and the shifted logits floored at −80 before `exp`: `e^−80 ≈ 1.8e−35`, so a
/// floored term changes a sum that holds at least `e^0 = 1` by less than f32's resolution,
/// while `exp` of a value that would underflow takes libm's slow path. The sum is blocked:
/// f32 within blocks of [`block_size`]`(vocab)`, f64 across blocks; the result (and the
/// gradient, `softmax(x)`) is in `x`'s dtype.
///
/// # Shapes
/// - `x`: `[rows, vocab]`
/// - returns `[rows, 1]`
pub fn log_sum_exp<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let [rows, vocab] = x.dims();
    let dtype = FloatDType::from(x.dtype());
    let max = x.clone().max_dim(1).detach();
    let block = block_size(vocab);
    let terms = (x - max.clone()).clamp_min(-80.0).exp();
    let partial = terms
        .reshape([rows, vocab / block, block])
        .sum_dim(2)
        .reshape([rows, vocab / block]);
    // The log is taken in f32, after the f64 sum: burn 0.21's wgpu backend (on Mesa's lavapipe)
    // computes `log` and `exp` of f64 tensors wrong (`[3.0].log()` gives −88.03; reproduced by
    // `wgpu_parity::f64_log_and_exp_on_wgpu`), while f64 casts and sums are right. Rounding the
    // sum to f32 first moves the log by at most 6e-8, below the f32 result's own rounding.
    partial
        .cast(FloatDType::F64)
        .sum_dim(1)
        .cast(FloatDType::F32)
        .log()
        .cast(dtype)
        + max
}

/// `log_softmax(x)` along the last dimension with the precise [`log_sum_exp`]: `x − lse(x)`.
///
/// # Shapes
/// - `x`: `[batch, seq, vocab]`; returns the same
pub fn precise_log_softmax<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, s, v] = x.dims();
    let flat = x.reshape([b * s, v]);
    (flat.clone() - log_sum_exp(flat)).reshape([b, s, v])
}

/// burn's own `log_softmax` (an f32 sum over the whole row), kept to measure the difference:
/// see the test `log_sum_exp_precision` and spec-actions-train's `examples/lm_head_precision.rs`.
///
/// # Shapes
/// - `x`: `[rows, vocab]`; returns `[rows, 1]`
pub fn plain_log_sum_exp<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let max = x.clone().max_dim(1).detach();
    (x - max.clone()).clamp_min(-80.0).exp().sum_dim(1).log() + max
}

/// `log_softmax` as burn computes it (f32 sum over the row), for comparisons.
///
/// # Shapes
/// - `x`: `[batch, seq, vocab]`; returns the same
pub fn plain_log_softmax<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    log_softmax(x, 2)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    type B = Autodiff<Flex>;

    const VOCAB: usize = 151_936;

    /// Rows like a trained model's logits over Qwen3's vocabulary: the bulk uniform in
    /// [−2, 2], the label `p_label` of the probability.
    fn rows(p_label: &[f64], seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values = Vec::with_capacity(p_label.len() * VOCAB);
        let mut labels = Vec::new();
        for &p in p_label {
            let row: Vec<f32> = (0..VOCAB).map(|_| rng.random_range(-2.0f32..2.0)).collect();
            let label = rng.random_range(0..VOCAB);
            let rest: f64 = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != label)
                .map(|(_, &x)| f64::from(x).exp())
                .sum();
            let mut row = row;
            row[label] = (rest * p / (1.0 - p)).ln() as f32;
            values.extend(row);
            labels.push(label);
        }
        (values, labels)
    }

    /// Host f64 reference: `lse` of each row and the gradient of `Σ (lse − x_label)`, i.e.
    /// `softmax(x) − onehot(label)`.
    fn reference(values: &[f32], labels: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let mut lse = Vec::new();
        let mut grad = Vec::with_capacity(values.len());
        for (row, &label) in values.chunks(VOCAB).zip(labels) {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let s: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
            let l = max + s.ln();
            lse.push(l);
            grad.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, &x)| (f64::from(x) - l).exp() - f64::from(u8::from(j == label))),
            );
        }
        (lse, grad)
    }

    /// Largest `|a − b| / max(|b|, 1e-3 · max|b|)` (the parity example's gradient measure).
    fn relative(ours: &[f64], reference: &[f64]) -> f64 {
        let floor = 1e-3 * reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        ours.iter()
            .zip(reference)
            .map(|(a, b)| (a - b).abs() / b.abs().max(floor))
            .fold(0.0, f64::max)
    }

    /// Our loss `lse − x_label` and its gradient through `lse` on the burn backend.
    fn burn_lse(
        values: &[f32],
        labels: &[usize],
        lse: fn(Tensor<B, 2>) -> Tensor<B, 2>,
    ) -> (Vec<f64>, Vec<f64>) {
        let n = labels.len();
        let device = Default::default();
        let x =
            Tensor::<B, 2>::from_data(TensorData::new(values.to_vec(), [n, VOCAB]), &device).require_grad();
        let idx: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        let idx = Tensor::<B, 2, Int>::from_data(TensorData::new(idx, [n, 1]), &device);
        let l = lse(x.clone());
        let loss = (l.clone() - x.clone().gather(1, idx)).sum();
        let grads = loss.backward();
        let grad = x.grad(&grads).expect("gradient");
        let f = |d: TensorData| d.convert::<f64>().to_vec::<f64>().expect("values");
        (f(l.into_data()), f(grad.into_data()))
    }

    /// Issue #14, item 2: over 151,936 logits with the label at p = 0.995, a plain f32 sum
    /// (sequential, as a scalar loop computes it) puts `lse` and the gradient `p − 1` at the
    /// label beyond the parity tolerances (1e-5 absolute, 1e-3 relative) of an f64 host
    /// computation; [`log_sum_exp`] stays well within both. burn's own one-pass f32 sum
    /// ([`plain_log_sum_exp`]) is printed for comparison (its error depends on the SIMD width).
    #[test]
    fn log_sum_exp_precision() {
        let (values, labels) = rows(&[0.995, 0.9, 0.5, 0.01], 14);
        let (lse_ref, grad_ref) = reference(&values, &labels);

        // a scalar f32 loop: the plain summation
        let mut naive_lse = Vec::new();
        let mut naive_grad = Vec::new();
        for (row, &label) in values.chunks(VOCAB).zip(&labels) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let mut s = 0.0f32;
            for &x in row {
                s += (x - max).exp();
            }
            let l = max + s.ln();
            naive_lse.push(f64::from(l));
            naive_grad.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, &x)| f64::from((x - l).exp()) - f64::from(u8::from(j == label))),
            );
        }
        let abs = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let (ours_lse, ours_grad) = burn_lse(&values, &labels, log_sum_exp);
        let (plain_lse, plain_grad) = burn_lse(&values, &labels, plain_log_sum_exp);
        let report = [
            (
                "scalar f32 sum",
                abs(&naive_lse, &lse_ref),
                relative(&naive_grad, &grad_ref),
            ),
            (
                "burn f32 sum",
                abs(&plain_lse, &lse_ref),
                relative(&plain_grad, &grad_ref),
            ),
            (
                "blocked, f64 across",
                abs(&ours_lse, &lse_ref),
                relative(&ours_grad, &grad_ref),
            ),
        ];
        for (name, lse, grad) in report {
            println!("{name:<22} lse |Δ| {lse:.2e}  gradient relative {grad:.2e}");
        }
        let (_, naive_l, naive_g) = report[0];
        assert!(
            naive_l > 1e-5 || naive_g > 1e-3,
            "the plain sum must fail a tolerance: {naive_l:.2e} {naive_g:.2e}"
        );
        let (_, ours_l, ours_g) = report[2];
        assert!(ours_l <= 1e-6, "lse |Δ| {ours_l:.2e}");
        assert!(ours_g <= 1e-4, "gradient relative {ours_g:.2e}");
    }

    #[test]
    fn block_sizes_divide_the_row() {
        assert_eq!(block_size(151_936), 128);
        assert_eq!(block_size(1024), 256);
        assert_eq!(block_size(50), 50);
        assert_eq!(block_size(257), 1); // prime above the block: every term in f64
        assert_eq!(block_size(0), 1);
    }

    /// Same values as a one-piece f64 log-softmax on a small row, any block size.
    #[test]
    fn matches_f64_on_small_rows() {
        let device = Default::default();
        for n in [1usize, 7, 50, 257, 1024] {
            let v: Vec<f32> = (0..2 * n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let x = Tensor::<Flex, 2>::from_data(TensorData::new(v.clone(), [2, n]), &device);
            let got = log_sum_exp(x)
                .into_data()
                .convert::<f64>()
                .to_vec::<f64>()
                .unwrap();
            for (r, row) in v.chunks(n).enumerate() {
                let m = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
                let want = m + row.iter().map(|&x| (f64::from(x) - m).exp()).sum::<f64>().ln();
                assert!(
                    (got[r] - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "n {n}: {} vs {want}",
                    got[r]
                );
            }
        }
    }
}
