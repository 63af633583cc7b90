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
use burn::tensor::activation::log_softmax;
use burn::tensor::{FloatDType, IndexingUpdateOp};

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
    let dtype = FloatDType::from(x.dtype());
    let max = x.clone().max_dim(1).detach();
    let terms = (x - max.clone()).clamp_min(-80.0).exp();
    // The log is taken in f32, after the f64 sum: burn 0.21's wgpu backend (on Mesa's lavapipe)
    // computes `log` and `exp` of f64 tensors wrong (`[3.0].log()` gives −88.03; reproduced by
    // `wgpu_parity::f64_log_and_exp_on_wgpu`), while f64 casts and sums are right. Rounding the
    // sum to f32 first moves the log by at most 6e-8, below the f32 result's own rounding.
    blocked_sum_f64(terms).cast(FloatDType::F32).log().cast(dtype) + max
}

/// `Σ_j terms_j` of every row in f32 blocks of [`block_size`]`(vocab)` and f64 across blocks,
/// returned in f64.
///
/// # Shapes
/// - `terms`: `[rows, vocab]`; returns `[rows, 1]`
fn blocked_sum_f64<B: Backend>(terms: Tensor<B, 2>) -> Tensor<B, 2> {
    let [rows, vocab] = terms.dims();
    let block = block_size(vocab);
    terms
        .reshape([rows, vocab / block, block])
        .sum_dim(2)
        .reshape([rows, vocab / block])
        .cast(FloatDType::F64)
        .sum_dim(1)
}

/// `−log softmax(x)[label]` of every row — the value of [`log_sum_exp`]`(x) − x[label]` — and
/// its gradient `softmax(x) − onehot(label)`, computed so that it stays precise when the model
/// gives its label most of the probability (issue #14, item 2); both detached from `x`'s graph.
///
/// Through autodiff, the label's entry is `p − 1` with `p = e^{x_l − m} / S` rounded to f32: an
/// error of an f32 ulp of 1 on a value of `1 − p`. Here it is `−R / S`, with `R` the sum of the
/// other terms (f32 blocks, f64 across, as [`log_sum_exp`]) and `S = R + e^{x_l − m}` in f64.
/// Measured on a trained adapter's real rows (`lm_head_precision --head-step` in
/// spec-actions-train, 1,507 label tokens, 327 with p > 0.99): the logits' gradient 1.6e-4
/// relative to float64 from the same f32 logits through `log_sum_exp − gather`, 5.9e-6 here.
///
/// # Shapes
/// - `x`: `[rows, vocab]`
/// - `labels`: `[rows, 1]`, each in `0..vocab`
/// - returns the value `[rows, 1]` and the gradient `[rows, vocab]`, in `x`'s dtype
pub fn label_nll_parts<B: Backend>(
    x: Tensor<B, 2>,
    labels: Tensor<B, 2, Int>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    match label_nll_parts_on_flex(x, &labels) {
        Ok(parts) => parts,
        Err(x) => label_nll_parts_by_ops(x, labels),
    }
}

/// [`label_nll_parts`] by burn's ops, on any backend.
fn label_nll_parts_by_ops<B: Backend>(
    x: Tensor<B, 2>,
    labels: Tensor<B, 2, Int>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let dtype = FloatDType::from(x.dtype());
    let values = x.detach();
    let max = values.clone().max_dim(1);
    let terms = (values.clone() - max.clone()).clamp_min(-80.0).exp();
    let label_terms = terms.clone().gather(1, labels.clone());
    // the other terms: the label's entry is `t − t`, exactly 0
    let others = terms.scatter(
        1,
        labels.clone(),
        label_terms.clone().neg(),
        IndexingUpdateOp::Add,
    );
    let rest = blocked_sum_f64(others.clone());
    let total = rest.clone() + label_terms.cast(FloatDType::F64);
    let inverse = total.clone().recip().cast(dtype);
    let label_grad = (rest.neg() / total.clone()).cast(dtype);
    // softmax off the label, `−R / S` on it (added to the exact 0 there)
    let grad = (others * inverse).scatter(1, labels.clone(), label_grad, IndexingUpdateOp::Add);
    // the value: `log S + m − x_l`, the log in f32 (see `log_sum_exp` on wgpu's f64 log)
    let value = total.cast(FloatDType::F32).log().cast(dtype) + max - values.gather(1, labels);
    (value, grad)
}

/// [`label_nll_parts`] of f32 logits on Flex (with autodiff or without: the parts are
/// constants), row by row on rayon's threads, each row in three passes — its maximum; its
/// terms `e^max(x − m, −80)` written where the gradient goes, with their blocks' f32 sums; the
/// gradient scaled in place — instead of some ten passes of burn's ops over the whole
/// `[rows, vocab]` logits, most of them on one thread. The same operations in the same order as
/// the generic path — Flex's `exp` ([`burn_flex::exp_f32`]), its last-dimension f32 sum
/// ([`burn_flex::simd::kernels::sum_rows_f32`]) over each block, the f64 sum of the blocks from
/// 0 in block order — so the same bits (`label_nll_parts_on_flex_is_the_generic_path_bit_for_bit`).
/// `Err(x)` for any other backend or dtype, or labels outside the vocabulary.
///
/// Measured on a 2-core Intel Xeon VM (family 6 model 207): inside a `lora_step` step (128
/// label rows × 151,936) burn's ops took 76 ms on two threads and 104 ms on one; the
/// `lora_step` bench binaries of the revision before and of this one alternating, five pairs:
/// 0.976 / 0.726 / 0.834 / 0.793 / 0.707 → 0.687 / 0.686 / 0.778 / 0.601 / 0.713 s a step.
fn label_nll_parts_on_flex<B: Backend>(
    x: Tensor<B, 2>,
    labels: &Tensor<B, 2, Int>,
) -> Result<(Tensor<B, 2>, Tensor<B, 2>), Tensor<B, 2>> {
    use rayon::prelude::*;

    let [rows, vocab] = x.dims();
    if x.dtype() != burn::tensor::DType::F32 || vocab == 0 || labels.dims() != [rows, 1] {
        return Err(x);
    }
    let logits = match crate::flex_tensors::flex_values(x.clone()) {
        Ok(logits) => logits.to_contiguous(),
        Err(x) => return Err(x),
    };
    let Ok(labels) = labels.to_data().convert::<i64>().into_vec::<i64>() else {
        return Err(x);
    };
    let Some(labels) = labels
        .iter()
        .map(|&l| usize::try_from(l).ok().filter(|&l| l < vocab))
        .collect::<Option<Vec<usize>>>()
    else {
        return Err(x);
    };
    let values: &[f32] = &logits.storage::<f32>()[logits.layout().start_offset()..];
    let block = block_size(vocab);
    // the gradient's buffer is written whole by step 2 before anything reads it: no zeroing
    // pass (a `[rows, vocab]` memset on one thread was ~0.5 % of a LoRA step's samples)
    let mut grad: Vec<f32> = Vec::with_capacity(rows * vocab);
    let mut nll = vec![0f32; rows];
    grad.spare_capacity_mut()[..rows * vocab]
        .par_chunks_mut(vocab)
        .zip(nll.par_iter_mut())
        .enumerate()
        .for_each(|(r, (unwritten, nll))| {
            let (row, label) = (&values[r * vocab..(r + 1) * vocab], labels[r]);
            // 1. the row's maximum (exact in any order)
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // 2. its terms; the label's replaced by `t − t`, exactly 0, as `scatter` adds it
            for (g, &v) in unwritten.iter_mut().zip(row) {
                g.write(burn_flex::exp_f32((v - max).max(-80.0)));
            }
            // SAFETY: the loop above wrote each of the row's `vocab` elements.
            let grad = unsafe { &mut *(std::ptr::from_mut(unwritten) as *mut [f32]) };
            let label_term = grad[label];
            grad[label] += -label_term;
            // 3. the other terms' sum: f32 within blocks, f64 across them from 0 in block order
            let mut block_sums = vec![0f32; vocab / block];
            burn_flex::simd::kernels::sum_rows_f32(grad, &mut block_sums, vocab / block, block);
            let rest = block_sums.iter().fold(0f64, |acc, &b| acc + f64::from(b));
            let total = rest + f64::from(label_term);
            let inverse = (1.0 / total) as f32;
            let label_grad = (-rest / total) as f32;
            // 4. softmax off the label, `−R / S` on it (added to the exact 0 there)
            for g in grad.iter_mut() {
                *g *= inverse;
            }
            grad[label] += label_grad;
            // 5. the value: `log S + m − x_l`, the log in f32
            *nll = ((total as f32).ln() + max) - row[label];
        });
    // SAFETY: every row of the `rows × vocab` buffer was written (step 2).
    unsafe { grad.set_len(rows * vocab) };
    let flex = |values: Vec<f32>, shape: [usize; 2]| {
        burn_flex::FlexTensor::new(
            burn_std::Bytes::from_elems(values),
            burn_flex::Layout::contiguous(burn_std::Shape::new(shape)),
            burn::tensor::DType::F32,
        )
    };
    Ok((
        crate::flex_tensors::from_flex_values(flex(nll, [rows, 1])),
        crate::flex_tensors::from_flex_values(flex(grad, [rows, vocab])),
    ))
}

/// [`label_nll_parts`] as a differentiable loss: its value, and `x` gets exactly its gradient,
/// through [`with_gradient`].
///
/// # Shapes
/// - `x`: `[rows, vocab]`; `labels`: `[rows, 1]`; returns `[rows, 1]`
pub fn label_nll<B: Backend>(x: Tensor<B, 2>, labels: Tensor<B, 2, Int>) -> Tensor<B, 2> {
    let (value, grad) = label_nll_parts(x.clone(), labels);
    with_gradient(value, x, grad)
}

/// `value` (detached) with the gradient `grad` for `x`: `value + (Σ_j x_j g_j − Σ_j x_j g_j)`,
/// the second sum detached: the bracket is exactly 0, so the value is unchanged bit for bit.
///
/// # Shapes
/// - `value`: `[rows, 1]`; `x`, `grad`: `[rows, n]`; returns `[rows, 1]`
pub fn with_gradient<B: Backend>(value: Tensor<B, 2>, x: Tensor<B, 2>, grad: Tensor<B, 2>) -> Tensor<B, 2> {
    if !B::ad_enabled(&x.device()) {
        return value;
    }
    let linear = (x * grad).sum_dim(1);
    value + (linear.clone() - linear.detach())
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

    /// [`label_nll`] where the label holds nearly all of the probability (p = 1 − 1e-5): the
    /// gradient at the label, `p − 1`, is 1e-5, so an f32 rounding of `p` (6e-8) is 6e-3 of
    /// it — the path through [`log_sum_exp`] and autodiff fails the parity tolerance (1e-3
    /// relative) there; `label_nll` computes it as `−Σ_{j≠label} p_j` and stays within 1e-5.
    /// Its value is `log_sum_exp(x) − x[label]` (within f32 rounding of the f64 reference),
    /// and on a row of ordinary confidence both gradients agree.
    /// On Flex the parts are computed row by row in three passes: the same bits as burn's ops
    /// on Flex, value and gradient — logits spread wide (terms floored at −80, a label far
    /// below the maximum, a label holding almost all the probability), a vocabulary of whole
    /// 128-blocks and one of a prime length (blocks of one), on one thread and on three, and
    /// under autodiff.
    #[test]
    fn label_nll_parts_on_flex_is_the_generic_path_bit_for_bit() {
        let device = Default::default();
        for (rows, vocab) in [(5, 128 * 13), (4, 1031)] {
            let logits: Vec<f32> = (0..rows * vocab)
                .map(|i| ((i as u64 * 2_654_435_761 % 1_000_003) as f32 / 1_000_003.0 - 0.5) * 60.0)
                .collect();
            let mut logits = logits;
            logits[vocab + 7] = 95.0; // row 1: its label 7 holds almost all the probability
            let labels: Vec<i64> = (0..rows)
                .map(|r| [3, 7, vocab as i64 - 1, 0, 500][r % 5])
                .collect();
            let x = Tensor::<Flex, 2>::from_data(TensorData::new(logits, [rows, vocab]), &device);
            let idx = Tensor::<Flex, 2, Int>::from_data(TensorData::new(labels, [rows, 1]), &device);
            let (want_value, want_grad) = label_nll_parts_by_ops(x.clone(), idx.clone());
            let bits = |t: Tensor<Flex, 2>| -> Vec<u32> {
                t.into_data()
                    .to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            let (want_value, want_grad) = (bits(want_value), bits(want_grad));
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let (value, grad) = pool.install(|| label_nll_parts(x.clone(), idx.clone()));
                assert_eq!(bits(value), want_value, "vocab {vocab}, {threads} threads: value");
                assert_eq!(
                    bits(grad),
                    want_grad,
                    "vocab {vocab}, {threads} threads: gradient"
                );
            }
            let (value, grad) = label_nll_parts(
                Tensor::<Autodiff<Flex>, 2>::from_inner(x.clone()),
                Tensor::<Autodiff<Flex>, 2, Int>::from_inner(idx.clone()),
            );
            assert_eq!(bits(value.inner()), want_value, "vocab {vocab}, autodiff: value");
            assert_eq!(bits(grad.inner()), want_grad, "vocab {vocab}, autodiff: gradient");
        }
    }

    #[test]
    fn label_nll_keeps_the_label_gradient_precise_near_p_1() {
        for (p, seed) in [(1.0 - 1e-5, 141), (0.6, 142)] {
            let (values, labels) = rows(&[p], seed);
            let (lse_ref, grad_ref) = reference(&values, &labels);
            let label = labels[0];
            let nll_ref = lse_ref[0] - f64::from(values[label]);
            let (plain_value, plain_grad) = burn_lse(&values, &labels, log_sum_exp);
            let plain_nll = plain_value[0] - f64::from(values[label]);

            let device = Default::default();
            let x = Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [1, VOCAB]), &device)
                .require_grad();
            let idx = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![label as i64], [1, 1]), &device);
            let nll = label_nll(x.clone(), idx);
            let value = nll.clone().into_scalar().to_f64();
            let grad: Vec<f64> = x
                .grad(&nll.sum().backward())
                .expect("gradient")
                .into_data()
                .convert::<f64>()
                .to_vec()
                .expect("values");

            assert!(
                (value - nll_ref).abs() <= 1e-6,
                "p {p}: value {value} vs {nll_ref}"
            );
            assert!(
                (plain_nll - nll_ref).abs() <= 1e-6,
                "p {p}: plain value {plain_nll} vs {nll_ref}"
            );
            let ours = relative(&grad, &grad_ref);
            let plain = relative(&plain_grad, &grad_ref);
            println!("p {p}: gradient relative, label_nll {ours:.2e}, log_sum_exp − gather {plain:.2e}");
            assert!(ours <= 1e-5, "p {p}: label_nll gradient {ours:.2e}");
            if p > 0.9999 {
                assert!(
                    plain > 1e-3,
                    "p {p}: the autodiff path was expected to miss: {plain:.2e}"
                );
            } else {
                assert!(
                    plain <= 1e-4,
                    "p {p}: both paths agree on an ordinary row: {plain:.2e}"
                );
            }
        }
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
