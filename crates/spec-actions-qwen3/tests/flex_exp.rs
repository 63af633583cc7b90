//! `exp` on the Flex CPU backend as this workspace builds it: the vendored burn-flex computes
//! f32 `e^x` with its own vectorised kernel instead of libm (`vendor/README.md`, change 3).
//! The reference is `f64::exp` rounded to f32; the kernel promises 2 ulp over the whole range,
//! the same value on every path a tensor can take (in place, a shared buffer, a transposed
//! view, one thread or rayon's threads), and IEEE behaviour at the edges.

use burn::backend::Flex;
use burn::prelude::*;

type B = Flex;

/// Distance in units in the last place between `got` and the f32 nearest to `want`.
fn ulps(got: f32, want: f64) -> u64 {
    let want = want as f32;
    (i64::from(got.to_bits() as i32) - i64::from(want.to_bits() as i32)).unsigned_abs()
}

fn exp_of(values: Vec<f32>) -> Vec<f32> {
    let n = values.len();
    Tensor::<B, 1>::from_data(TensorData::new(values, [n]), &Default::default())
        .exp()
        .into_data()
        .into_vec::<f32>()
        .expect("f32 data")
}

/// Evenly spread arguments over `[lo, hi)`, `n` of them.
fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n).map(|i| lo + (hi - lo) * i as f32 / n as f32).collect()
}

#[test]
fn exp_is_within_two_ulp_of_f64_over_the_whole_f32_range() {
    // 600 Ki arguments: above the 256 Ki elements at which element-wise ops go to rayon
    let xs = grid(-103.9, 88.72, 600 * 1024);
    let got = exp_of(xs.clone());
    let mut worst = 0;
    for (&x, &y) in xs.iter().zip(&got) {
        let want = f64::from(x).exp();
        if want < f64::from(f32::MIN_POSITIVE) {
            // subnormal results hold fewer bits: two of the smallest steps, absolutely
            assert!(
                (f64::from(y) - want).abs() <= 2.0 * f64::from(f32::from_bits(1)),
                "exp({x}) = {y:e}, exact {want:e}"
            );
        } else {
            let u = ulps(y, want);
            assert!(u <= 2, "exp({x}) = {y:e}, exact {want:e}: {u} ulp");
            worst = worst.max(u);
        }
    }
    println!("worst: {worst} ulp");
}

#[test]
fn exp_gives_ieee_values_at_the_edges() {
    let got = exp_of(vec![
        0.0,
        -0.0,
        f32::NEG_INFINITY,
        -1000.0,
        f32::INFINITY,
        89.0,
        f32::NAN,
        88.7,
        -87.0,
    ]);
    assert_eq!(&got[..6], &[1.0, 1.0, 0.0, 0.0, f32::INFINITY, f32::INFINITY]);
    assert!(got[6].is_nan());
    assert!(got[7].is_finite() && ulps(got[7], f64::from(88.7f32).exp()) <= 2);
    assert!(ulps(got[8], (-87.0f64).exp()) <= 2);
}

#[test]
fn exp_of_a_view_a_shared_tensor_and_a_small_tensor_agree_with_the_contiguous_one() {
    let device = Default::default();
    let values = grid(-20.0, 20.0, 300 * 700);
    let matrix = Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [300, 700]), &device);
    let expected = matrix.clone().exp(); // `matrix` is still held: the shared path
    // the transposed view, made contiguous after the exponential
    let transposed = matrix.clone().transpose().exp().transpose();
    assert_eq!(
        transposed.into_data().into_vec::<f32>().unwrap(),
        expected.clone().into_data().into_vec::<f32>().unwrap()
    );
    // a slice (an offset into the buffer) and a small tensor (one thread)
    let row = matrix.slice([7..8, 0..700]).exp();
    assert_eq!(
        row.into_data().into_vec::<f32>().unwrap(),
        expected.into_data().into_vec::<f32>().unwrap()[7 * 700..8 * 700]
    );
    assert_eq!(exp_of(values[..10].to_vec()), exp_of(values.clone())[..10]);
}

#[test]
fn softmax_rows_sum_to_one_and_match_f64() {
    let device = Default::default();
    let values = grid(-30.0, 30.0, 4 * 1000);
    let probs = burn::tensor::activation::softmax(
        Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [4, 1000]), &device),
        1,
    )
    .into_data()
    .into_vec::<f32>()
    .unwrap();
    for (row, got) in values.chunks(1000).zip(probs.chunks(1000)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = row.iter().map(|&x| (f64::from(x) - f64::from(max)).exp()).sum();
        for (&x, &p) in row.iter().zip(got) {
            let want = (f64::from(x) - f64::from(max)).exp() / z;
            assert!(
                (f64::from(p) - want).abs() <= 1e-4 * want + 1e-12,
                "{p} vs {want}"
            );
        }
        let sum: f64 = got.iter().map(|&p| f64::from(p)).sum();
        assert!((sum - 1.0).abs() < 1e-5, "row sums to {sum}");
    }
}
