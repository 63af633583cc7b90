//! The vendored burn-flex's change 10 (`vendor/README.md`): element-wise ops whose result needs a
//! new buffer (the left operand shared, as autodiff holds it, or a view) write it on rayon's
//! threads chunk by chunk, and `matmul` hands `gemm` its f32/f64 output unzeroed. Each result
//! element must still be the op of its own inputs, bit for bit (the reference: the arithmetic
//! written out on the host), and every output element must be written — so before each
//! product a freed buffer of NaNs of the output's size is left for the allocator to hand back:
//! an element `gemm` skipped would read as NaN, not as a lucky zero. Sizes below and above the
//! size at which Flex threads (256 Ki elements), and ones that are no whole number of its 64 Ki
//! chunks.

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::DType;

type B = Flex;

mod distinct_values;
use distinct_values::values;

fn tensor(data: &[f32], shape: [usize; 2]) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape), &Default::default())
}

fn host(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().into_vec::<f32>().expect("f32 values")
}

fn assert_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} against {w}");
    }
}

/// A binary op on a left operand that is shared (a clone is alive), so Flex cannot write in
/// place and allocates.
type BinaryOp = (
    &'static str,
    fn(Tensor<B, 2>, Tensor<B, 2>) -> Tensor<B, 2>,
    fn(f32, f32) -> f32,
);

const SHAPES: [[usize; 2]; 3] = [[3, 1_001], [5, 131_101], [4, 65_536]];

#[test]
fn binary_ops_on_a_shared_operand_are_the_host_ops() {
    let ops: [BinaryOp; 5] = [
        ("mul", |a, b| a * b, |a, b| a * b),
        ("add", |a, b| a + b, |a, b| a + b),
        ("sub", |a, b| a - b, |a, b| a - b),
        ("div", |a, b| a / b, |a, b| a / b),
        ("max", |a, b| a.max_pair(b), f32::max),
    ];
    for shape in SHAPES {
        let n = shape[0] * shape[1];
        let (a, b) = (values(n, 1), values(n, 2));
        for (name, op, host_op) in ops {
            let lhs = tensor(&a, shape);
            let held = lhs.clone();
            let got = host(op(lhs, tensor(&b, shape)));
            let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| host_op(x, y)).collect();
            assert_bits(&format!("{name} {shape:?}"), &got, &want);
            drop(held);
        }
    }
}

#[test]
fn a_binary_op_on_an_offset_view_is_the_host_op() {
    // rows 1.. of a tensor: contiguous, but not at the start of its storage
    let shape = [6, 131_101];
    let n = shape[0] * shape[1];
    let (a, b) = (values(n, 3), values(n - shape[1], 4));
    let view = tensor(&a, shape).slice([1..6, 0..shape[1]]);
    let got = host(view * tensor(&b, [5, shape[1]]));
    let want: Vec<f32> = a[shape[1]..].iter().zip(&b).map(|(&x, &y)| x * y).collect();
    assert_bits("mul of an offset view", &got, &want);
}

/// An op's result on the backend, and the op on the host.
type UnaryCheck = (&'static str, Tensor<B, 2>, fn(f32) -> f32);

#[test]
fn scalar_and_unary_ops_on_a_shared_operand_are_the_host_ops() {
    for shape in SHAPES {
        let n = shape[0] * shape[1];
        let a = values(n, 5);
        let x = tensor(&a, shape);
        let held = x.clone();
        let checks: [UnaryCheck; 4] = [
            ("mul_scalar", x.clone().mul_scalar(0.37), |v| v * 0.37),
            ("add_scalar", x.clone().add_scalar(-1.25), |v| v + -1.25),
            ("sqrt of abs", x.clone().abs().sqrt(), |v| v.abs().sqrt()),
            ("neg", x.clone().neg(), |v| -v),
        ];
        for (name, got, host_op) in checks {
            let want: Vec<f32> = a.iter().map(|&v| host_op(v)).collect();
            assert_bits(&format!("{name} {shape:?}"), &host(got), &want);
        }
        // a transposed view: mapped in storage order, read back in the view's order
        let got = host(x.clone().transpose().abs().sqrt().transpose());
        let want: Vec<f32> = a.iter().map(|v| v.abs().sqrt()).collect();
        assert_bits(&format!("sqrt of a transposed view {shape:?}"), &got, &want);
        drop(held);
    }
}

/// A freed buffer of `n` NaNs: the allocator's likely answer to the next request of that size.
fn leave_nans(n: usize) {
    let nans = Tensor::<B, 1>::full([n], f32::NAN, &Default::default());
    assert!(host(nans.reshape([1, n]))[n - 1].is_nan());
}

/// `a · b` on the host in f64, `a`: `[m, k]`, `b`: `[k, n]`, row-major.
fn host_product(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0f64; m * n];
    for i in 0..m {
        for p in 0..k {
            let x = f64::from(a[i * k + p]);
            for j in 0..n {
                out[i * n + j] += x * f64::from(b[p * n + j]);
            }
        }
    }
    out
}

fn assert_product(what: &str, got: &[f32], want: &[f64], k: usize) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        // f32 accumulation of `k` terms of magnitude ≲ 2.25
        let tolerance = 1e-6 * (k as f64 + 1.0) * 2.25;
        assert!(
            g.is_finite() && (f64::from(g) - w).abs() <= tolerance,
            "{what}: element {i}: {g} against {w}"
        );
    }
}

#[test]
fn matmul_writes_every_output_element() {
    // [m, k, n]: a product gemm splits over threads, one it runs alone, a row and a column
    for [m, k, n] in [[300, 70, 900], [7, 5, 3], [1, 33, 1_000], [1_000, 33, 1]] {
        let (a, b) = (values(m * k, 6), values(k * n, 7));
        leave_nans(m * n);
        let got = host(tensor(&a, [m, k]).matmul(tensor(&b, [k, n])));
        assert_product(
            &format!("[{m}, {k}] x [{k}, {n}]"),
            &got,
            &host_product(&a, &b, m, k, n),
            k,
        );
    }
}

#[test]
fn batched_matmul_writes_every_output_element() {
    // [batch, m, k, n]: each matrix on gemm's threads, the batch on rayon's, and a small one serially
    for [batch, m, k, n] in [[2, 300, 64, 800], [16, 64, 32, 64], [3, 4, 5, 6]] {
        let (a, b) = (values(batch * m * k, 8), values(batch * k * n, 9));
        leave_nans(batch * m * n);
        let lhs = Tensor::<B, 3>::from_data(TensorData::new(a.clone(), [batch, m, k]), &Default::default());
        let rhs = Tensor::<B, 3>::from_data(TensorData::new(b.clone(), [batch, k, n]), &Default::default());
        let got = lhs.matmul(rhs).into_data().into_vec::<f32>().expect("f32 values");
        for i in 0..batch {
            let want = host_product(
                &a[i * m * k..(i + 1) * m * k],
                &b[i * k * n..(i + 1) * k * n],
                m,
                k,
                n,
            );
            assert_product(
                &format!("matrix {i} of [{batch}, {m}, {k}] x [{batch}, {k}, {n}]"),
                &got[i * m * n..(i + 1) * m * n],
                &want,
                k,
            );
        }
    }
}

#[test]
fn f64_matmul_writes_every_output_element() {
    let [m, k, n] = [200, 48, 700];
    let (a, b) = (values(m * k, 10), values(k * n, 11));
    leave_nans(2 * m * n);
    let device = Default::default();
    let lhs = Tensor::<B, 2>::from_data(TensorData::new(a.clone(), [m, k]), &device).cast(DType::F64);
    let rhs = Tensor::<B, 2>::from_data(TensorData::new(b.clone(), [k, n]), &device).cast(DType::F64);
    let got = lhs
        .matmul(rhs)
        .into_data()
        .convert::<f64>()
        .into_vec::<f64>()
        .expect("f64 values");
    let want = host_product(&a, &b, m, k, n);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * k as f64, "element {i}: {g} against {w}");
    }
}
