//! Row-vector products (`[1, k] × [k, n]`: a decode step's projections and its LM head) on the
//! Flex CPU backend as this workspace builds it, in both weight layouts: the product against an
//! f64 reference computed here, the same bits on any number of rayon threads (a decode step is
//! deterministic whatever the machine's core count) — the vendored burn-flex's row-vector
//! product (`vendor/README.md`, change 4) in f32 and in bf16, which multiplies bf16 weights
//! without widening them.

use burn::backend::Flex;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type B = Flex;

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random::<f32>() - 0.5).collect()
}

/// `x · W` on Flex inside a rayon pool of `threads` threads, widened to f32 (exactly).
fn product(x: &Tensor<B, 2>, w: &Tensor<B, 2>, threads: usize) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    pool.install(|| x.clone().matmul(w.clone()))
        .cast(burn::tensor::FloatDType::F32)
        .into_data()
        .into_vec::<f32>()
        .expect("f32 data")
}

/// The f64 product of `x` `[k]` and the matrix whose element `(i, j)` is `w(i, j)`.
fn reference(x: &[f32], n: usize, w: impl Fn(usize, usize) -> f32) -> Vec<f64> {
    (0..n)
        .map(|j| {
            x.iter()
                .enumerate()
                .map(|(i, &xi)| f64::from(xi) * f64::from(w(i, j)))
                .sum()
        })
        .collect()
}

fn check(case: &str, got: &[f32], want: &[f64], k: usize) {
    assert_eq!(got.len(), want.len(), "{case}");
    // |x_i w_ij| ≤ 1/4, k terms: f32 accumulation error well under k · 2⁻²⁴ · 1/4 · 4
    let tol = k as f64 * 2f64.powi(-22);
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((f64::from(g) - w).abs() <= tol, "{case}: column {j}: {g} vs {w}");
    }
}

/// A projection's layout: `W` `[k, n]` row-major (Linear's `[d_in, d_out]`), `k` not a multiple
/// of the row chunks (three chunks, the last one short), on 1, 2, 3 and 4 threads.
#[test]
fn a_row_vector_times_a_row_major_matrix_is_the_same_on_any_thread_count() {
    let (k, n) = (700, 3000 - 7);
    let (xs, ws) = (random(k, 1), random(k * n, 2));
    let device = Default::default();
    let x = Tensor::<B, 2>::from_data(TensorData::new(xs.clone(), [1, k]), &device);
    let w = Tensor::<B, 2>::from_data(TensorData::new(ws.clone(), [k, n]), &device);
    let one = product(&x, &w, 1);
    check("1 thread", &one, &reference(&xs, n, |i, j| ws[i * n + j]), k);
    for threads in [2, 3, 4] {
        let many = product(&x, &w, threads);
        assert!(
            one.iter().zip(&many).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{threads} threads differ from one"
        );
    }
    // the rank-3 form a Linear layer uses (`[1, 1, k] × [1, k, n]`, the batched path)
    let x3 = x.clone().reshape([1, 1, k]);
    let w3 = w.clone().reshape([1, k, n]);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let batched = pool
        .install(|| x3.matmul(w3))
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    assert!(one.iter().zip(&batched).all(|(a, b)| a.to_bits() == b.to_bits()));
}

/// The tied LM head's layout: `Eᵀ`, a transposed view of the `[n, k]` embedding (dot products
/// over contiguous rows).
#[test]
fn a_row_vector_times_a_transposed_matrix_is_the_same_on_any_thread_count() {
    let (k, n) = (256, 4099);
    let (xs, es) = (random(k, 3), random(n * k, 4));
    let device = Default::default();
    let x = Tensor::<B, 2>::from_data(TensorData::new(xs.clone(), [1, k]), &device);
    let e = Tensor::<B, 2>::from_data(TensorData::new(es.clone(), [n, k]), &device);
    let et = e.transpose();
    let one = product(&x, &et, 1);
    check("1 thread", &one, &reference(&xs, n, |i, j| es[j * k + i]), k);
    for threads in [2, 4] {
        let many = product(&x, &et, threads);
        assert!(
            one.iter().zip(&many).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{threads} threads differ from one"
        );
    }
}

/// bf16 inputs: the vendored Flex multiplies a bf16 row vector by bf16 weights without widening
/// the matrix (`vendor/README.md`, change 4). The product of the bf16 values, summed in f32 and
/// rounded to bf16 once, is within one bf16 rounding (2⁻⁸ relative) of the exact product of the
/// same bf16 values, in both weight layouts and on any thread count; and it is what the f32
/// product of the widened operands gives, rounded.
#[test]
fn a_bf16_row_vector_product_is_the_rounded_f32_product_in_both_layouts() {
    use burn::tensor::FloatDType;
    let (k, n) = (320, 2500);
    let device = Default::default();
    let to_bf16 = |t: Tensor<B, 2>| t.cast(FloatDType::BF16);
    let x = to_bf16(Tensor::<B, 2>::from_data(
        TensorData::new(random(k, 5), [1, k]),
        &device,
    ));
    let w = to_bf16(Tensor::<B, 2>::from_data(
        TensorData::new(random(k * n, 6), [k, n]),
        &device,
    ));
    let e = to_bf16(Tensor::<B, 2>::from_data(
        TensorData::new(random(n * k, 7), [n, k]),
        &device,
    ));
    // the bf16 values, widened exactly
    let values =
        |t: &Tensor<B, 2>| -> Vec<f32> { t.clone().cast(FloatDType::F32).into_data().into_vec().unwrap() };
    let (xs, ws, es) = (values(&x), values(&w), values(&e));
    for (case, rhs, want) in [
        (
            "rows contiguous",
            w.clone(),
            reference(&xs, n, |i, j| ws[i * n + j]),
        ),
        (
            "Eᵀ",
            e.clone().transpose(),
            reference(&xs, n, |i, j| es[j * k + i]),
        ),
    ] {
        let mut first: Option<Vec<f32>> = None;
        for threads in [1, 2, 4] {
            let got = product(&x, &rhs, threads);
            for (j, (&g, &want)) in got.iter().zip(&want).enumerate() {
                // one bf16 rounding of the f32 sum, plus the f32 sum's own error
                let tol = want.abs() * 2f64.powi(-8) + k as f64 * 2f64.powi(-22);
                assert!(
                    (f64::from(g) - want).abs() <= tol,
                    "{case}, {threads} threads, column {j}: {g} vs {want}"
                );
            }
            match &first {
                None => first = Some(got),
                Some(one) => assert!(
                    one.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{case}: {threads} threads differ from one"
                ),
            }
        }
    }
}

/// The f32 sums in the order `vendor/README.md` (change 4) documents, computed here one
/// multiply and one add at a time: row-major `W` in chunks of 256 rows, each chunk summing
/// `o + x_i · W[i, j]` row after row into its own partial, the partials added in chunk order;
/// `Eᵀ` one dot product per output in 16 partial sums (lane `l` takes `i ≡ l mod 16` of the
/// whole 16-blocks), summed lane after lane, then the `k mod 16` last terms.
fn documented_order(x: &[f32], n: usize, w: impl Fn(usize, usize) -> f32, row_major: bool) -> Vec<f32> {
    let k = x.len();
    if row_major {
        let mut y: Option<Vec<f32>> = None;
        for chunk in (0..k).collect::<Vec<_>>().chunks(256) {
            let mut part = vec![0f32; n];
            for &i in chunk {
                for (j, o) in part.iter_mut().enumerate() {
                    *o += x[i] * w(i, j);
                }
            }
            y = Some(match y {
                None => part,
                Some(y) => y.iter().zip(&part).map(|(a, b)| a + b).collect(),
            });
        }
        return y.unwrap_or_else(|| vec![0.0; n]);
    }
    let whole = k / 16 * 16;
    (0..n)
        .map(|j| {
            let mut acc = [0f32; 16];
            for (i, &xi) in x.iter().enumerate().take(whole) {
                acc[i % 16] += xi * w(i, j);
            }
            let mut sum: f32 = acc.iter().sum();
            for (i, &xi) in x.iter().enumerate().skip(whole) {
                sum += xi * w(i, j);
            }
            sum
        })
        .collect()
}

/// Every row count left over by the row chunks (f32 rows are summed eight at a time: the `k`
/// below leave every remainder of 8 in some chunk) and every output count left over by the
/// blocks of outputs (the bf16 rows' x86 kernels on 32 outputs at a time — two 512-bit
/// registers or four 256-bit ones — then 8, then 1: n = 61 takes all three; the dot kernels'
/// rows two at a time, an odd block's last alone), in f32 and bf16: bit for bit the documented
/// order of the sums, on 1 and 2 threads, whichever kernels this CPU runs (AVX-512F, AVX2 or
/// portable).
#[test]
fn a_row_vector_product_sums_in_the_documented_order_bit_for_bit() {
    use burn::tensor::FloatDType;
    let device = Default::default();
    for (k, n) in [
        (703, 37),
        (257, 130),
        (6, 1),
        (263, 4099),
        (65, 61),
        (131, 19),
        (76, 33),
        (261, 9),
        (2, 70),
    ] {
        let (xs, ws) = (random(k, 8), random(k * n, 9));
        for dtype in [FloatDType::F32, FloatDType::BF16] {
            let x = Tensor::<B, 2>::from_data(TensorData::new(xs.clone(), [1, k]), &device).cast(dtype);
            let w = Tensor::<B, 2>::from_data(TensorData::new(ws.clone(), [k, n]), &device).cast(dtype);
            let e = Tensor::<B, 2>::from_data(TensorData::new(ws.clone(), [n, k]), &device).cast(dtype);
            let values = |t: &Tensor<B, 2>| -> Vec<f32> {
                t.clone().cast(FloatDType::F32).into_data().into_vec().unwrap()
            };
            let (xv, wv, ev) = (values(&x), values(&w), values(&e));
            let narrow = |v: Vec<f32>| -> Vec<f32> {
                match dtype {
                    FloatDType::BF16 => v.into_iter().map(|s| half::bf16::from_f32(s).to_f32()).collect(),
                    _ => v,
                }
            };
            for (layout, rhs, want) in [
                (
                    "rows contiguous",
                    w.clone(),
                    documented_order(&xv, n, |i, j| wv[i * n + j], true),
                ),
                (
                    "Eᵀ",
                    e.clone().transpose(),
                    documented_order(&xv, n, |i, j| ev[j * k + i], false),
                ),
            ] {
                let want = narrow(want);
                // the dot kernels reading one row of `E` at a time and two side by side (the
                // default, restored last); the products of other tests running meanwhile are
                // the same bits either way
                for rows_together in [1, 2] {
                    burn_flex::set_dot_rows_together(rows_together);
                    for threads in [1, 2] {
                        let got = product(&x, &rhs, threads);
                        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                            assert_eq!(
                                g.to_bits(),
                                w.to_bits(),
                                "{dtype:?} {layout} k {k} n {n}, {threads} threads, {rows_together} rows of E together, column {j}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// For each case `(layout, matrix, documented sums, products)`, `products` products of `x`
/// and the matrix on 2 threads, each bit for bit the documented sums.
fn each_product_in_documented_order(x: &Tensor<B, 2>, cases: [(&str, Tensor<B, 2>, Vec<f32>, usize); 2]) {
    for (layout, rhs, want, products) in cases {
        for p in 0..products {
            let got = product(x, &rhs, 2);
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{layout}, product {p}, column {j}: {g} vs {w}"
                );
            }
        }
    }
}

/// bf16 products on x86-64 take one of several kernels (register width, prefetch distance),
/// chosen by timing each on the process's first large products (`vendor/README.md`, change
/// 4): every product while the candidates take turns — enough of them, in both layouts, that
/// every candidate serves several and the choice is made — and every product after it, is
/// bit for bit the documented order of the sums. Other tests of this binary may take some of
/// the turns; their products are checked by their own tests.
#[test]
fn every_bf16_kernel_tried_and_the_one_chosen_sum_in_the_documented_order() {
    use burn::tensor::FloatDType;
    let device = Default::default();
    // 2.2 MB of bf16 weights: above the size from which products are timed (1 MiB)
    let (k, n) = (1031, 1077);
    let (xs, ws) = (random(k, 10), random(k * n, 11));
    let bf16 = |v: Vec<f32>, shape: [usize; 2]| {
        Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device).cast(FloatDType::BF16)
    };
    let (x, w, e) = (bf16(xs, [1, k]), bf16(ws.clone(), [k, n]), bf16(ws, [n, k]));
    let values =
        |t: &Tensor<B, 2>| -> Vec<f32> { t.clone().cast(FloatDType::F32).into_data().into_vec().unwrap() };
    let (xv, wv, ev) = (values(&x), values(&w), values(&e));
    let narrow =
        |v: Vec<f32>| -> Vec<f32> { v.into_iter().map(|s| half::bf16::from_f32(s).to_f32()).collect() };
    let cases = [
        (
            "rows contiguous",
            w,
            narrow(documented_order(&xv, n, |i, j| wv[i * n + j], true)),
            100,
        ),
        (
            "Eᵀ",
            e.transpose(),
            narrow(documented_order(&xv, n, |i, j| ev[j * k + i], false)),
            60,
        ),
    ];
    each_product_in_documented_order(&x, cases);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let [rows, head] = burn_flex::bf16_kernels_chosen();
        assert!(
            rows.is_some() && head.is_some(),
            "no kernel chosen after the trials: {rows:?}, {head:?}"
        );
    }
}

/// f32 products on x86-64 take kernels of the same kinds, chosen the same way
/// (`vendor/README.md`, change 4) — the rows of a projection (`[d_in, d_out]`, eight rows a
/// pass) and the dot products of a tied LM head (`x · Eᵀ`), each choice of its own: every
/// product while the candidates take turns, and every one after the choice, is bit for bit
/// the documented order of the sums.
#[test]
fn every_f32_kernel_tried_and_the_one_chosen_sum_in_the_documented_order() {
    let device = Default::default();
    // 4.5 MB of f32 weights: above the size from which products are timed (1 MiB). k leaves
    // every kind of remainder of both layouts' passes: four whole row chunks, then 13 rows (a
    // pass of eight, then five one at a time); 32-term passes, a 16-term block and single
    // terms of a dot product. n = 1085 = 67 · 16 + 8 + 5: the rows kernels' 16-output passes,
    // one of 8 and single outputs.
    let (k, n) = (1037, 1085);
    let (xv, wv) = (random(k, 12), random(k * n, 13));
    let x = Tensor::<B, 2>::from_data(TensorData::new(xv.clone(), [1, k]), &device);
    let w = Tensor::<B, 2>::from_data(TensorData::new(wv.clone(), [k, n]), &device);
    let e = Tensor::<B, 2>::from_data(TensorData::new(wv.clone(), [n, k]), &device);
    let cases = [
        (
            "rows contiguous",
            w,
            documented_order(&xv, n, |i, j| wv[i * n + j], true),
            100,
        ),
        (
            "Eᵀ",
            e.transpose(),
            documented_order(&xv, n, |i, j| wv[j * k + i], false),
            40,
        ),
    ];
    each_product_in_documented_order(&x, cases);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let [rows, head] = burn_flex::f32_kernels_chosen();
        assert!(
            rows.is_some() && head.is_some(),
            "no f32 kernel chosen after the trials: {rows:?}, {head:?}"
        );
    }
}

/// `burn_flex::f32_row_times_bf16` (bf16 weights with f32 compute): an f32 row, not rounded to
/// bf16, times bf16 weights in both layouts, is bit for bit the documented order of the f32 sums
/// of the same values, not rounded to bf16 either; other dtypes are declined.
#[test]
fn an_f32_row_times_bf16_weights_is_the_documented_f32_sum_unrounded() {
    use burn::tensor::FloatDType;
    let device = Default::default();
    let (k, n) = (1031, 1077);
    let (xs, ws) = (random(k, 12), random(k * n, 13));
    let flex = |t: Tensor<B, 2>| t.into_primitive().tensor();
    let x = Tensor::<B, 2>::from_data(TensorData::new(xs.clone(), [1, k]), &device);
    let bf16 = |v: Vec<f32>, shape: [usize; 2]| {
        Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device).cast(FloatDType::BF16)
    };
    let (w, e) = (bf16(ws.clone(), [k, n]), bf16(ws, [n, k]));
    let values =
        |t: &Tensor<B, 2>| -> Vec<f32> { t.clone().cast(FloatDType::F32).into_data().into_vec().unwrap() };
    let (wv, ev) = (values(&w), values(&e));
    let cases = [
        (
            "rows contiguous",
            w.clone(),
            documented_order(&xs, n, |i, j| wv[i * n + j], true),
        ),
        (
            "Eᵀ",
            e.transpose(),
            documented_order(&xs, n, |i, j| ev[j * k + i], false),
        ),
    ];
    for (layout, rhs, want) in cases {
        let got =
            burn_flex::f32_row_times_bf16(&flex(x.clone()), &flex(rhs)).expect("an f32 row, bf16 weights");
        let got: Tensor<B, 2> = Tensor::from_primitive(burn::tensor::TensorPrimitive::Float(got));
        assert_eq!(got.dtype(), burn::tensor::DType::F32, "{layout}");
        let got: Vec<f32> = got.into_data().into_vec().unwrap();
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{layout}, column {j}: {g} vs {w}");
        }
    }
    // a bf16 row, f32 weights, two rows: not this product
    let x16 = x.clone().cast(FloatDType::BF16);
    assert!(burn_flex::f32_row_times_bf16(&flex(x16), &flex(w.clone())).is_none());
    assert!(
        burn_flex::f32_row_times_bf16(&flex(x.clone()), &flex(w.clone().cast(FloatDType::F32))).is_none()
    );
    let two = Tensor::<B, 2>::ones([2, k], &device);
    assert!(burn_flex::f32_row_times_bf16(&flex(two), &flex(w)).is_none());
}
