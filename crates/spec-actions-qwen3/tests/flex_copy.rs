//! Contiguous copies of strided views on the Flex CPU backend as this workspace builds it: the
//! vendored burn-flex copies a view that collapses to three or more dimensions plane by plane
//! (`vendor/README.md`, change 6), where upstream walked it element by element. A copy must
//! put every element where the view says; the reference here is the index arithmetic written
//! out on the host. Every permutation of ranks 3 to 5, with and without a slice taken first,
//! below and above the size at which the copy is threaded, in f32, bf16 and i64.

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

type B = Flex;

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// The flat source index of every element of `x[ranges].permute(axes)`, in row-major order of
/// the result, for a contiguous `x` of `shape`.
fn reference_indices(shape: &[usize], ranges: &[std::ops::Range<usize>], axes: &[usize]) -> Vec<usize> {
    let src_strides = strides(shape);
    let out_shape: Vec<usize> = axes.iter().map(|&a| ranges[a].len()).collect();
    let n: usize = out_shape.iter().product();
    let out_strides = strides(&out_shape);
    (0..n)
        .map(|flat| {
            axes.iter()
                .enumerate()
                .map(|(k, &a)| (ranges[a].start + flat / out_strides[k] % out_shape[k]) * src_strides[a])
                .sum()
        })
        .collect()
}

/// Checks `x[ranges].permute(axes)` made contiguous (by a flattening reshape) in `dtype`.
fn check<const D: usize>(shape: [usize; D], ranges: [std::ops::Range<usize>; D], dtype: Option<FloatDType>) {
    let device = Default::default();
    let n: usize = shape.iter().product();
    // every value distinct and exact in bf16 (integers below 256) or f32 / i64 (below 2^24)
    let modulus = if dtype == Some(FloatDType::BF16) {
        256
    } else {
        1 << 24
    };
    let values: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % modulus).collect();
    for axes in permutations(D) {
        let axes_arr: [isize; D] = std::array::from_fn(|k| axes[k] as isize);
        let expected: Vec<i64> = reference_indices(&shape, &ranges, &axes)
            .into_iter()
            .map(|i| values[i])
            .collect();
        let ints =
            Tensor::<B, 1, Int>::from_data(TensorData::new(values.clone(), [n]), &device).reshape(shape);
        let got: Vec<i64> = match dtype {
            None => ints
                .slice(ranges.clone())
                .permute(axes_arr)
                .reshape([expected.len()])
                .into_data()
                .convert::<i64>()
                .into_vec()
                .unwrap(),
            Some(dtype) => {
                let x = ints.float().cast(dtype);
                let y = x
                    .slice(ranges.clone())
                    .permute(axes_arr)
                    .reshape([expected.len()]);
                assert_eq!(y.dtype(), DType::from(dtype));
                y.cast(FloatDType::F32)
                    .into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(|v| v as i64)
                    .collect()
            }
        };
        assert_eq!(
            got, expected,
            "shape {shape:?}, ranges {ranges:?}, axes {axes:?}, dtype {dtype:?}"
        );
    }
}

#[test]
fn permuted_views_copy_to_their_elements() {
    for dtype in [None, Some(FloatDType::F32), Some(FloatDType::BF16)] {
        check([3, 4, 5], [0..3, 0..4, 0..5], dtype);
        check([3, 4, 5], [1..3, 0..3, 2..5], dtype);
        check([2, 3, 4, 5], [0..2, 0..3, 0..4, 0..5], dtype);
        check([2, 3, 4, 5], [1..2, 1..3, 0..4, 1..4], dtype);
        check([2, 3, 2, 4, 3], [0..2, 0..3, 0..2, 0..4, 0..3], dtype);
        check([3, 2, 3, 4, 5], [0..3, 0..2, 1..3, 1..4, 0..5], dtype);
    }
}

#[test]
fn large_permuted_views_copy_to_their_elements() {
    // above the 256 Ki elements at which the copy runs on rayon's threads: attention heads
    // as a prefill swaps them, `[seq, heads, head_dim]` ⇄ `[heads, seq, head_dim]`
    check([128, 16, 128], [0..128, 0..16, 0..128], Some(FloatDType::F32));
    check([130, 17, 129], [1..129, 0..17, 1..129], None);
    check([2, 64, 8, 96], [0..2, 0..64, 0..8, 0..96], Some(FloatDType::F32));
}
