//! Element-wise f32 ops of two operands of one shape, one or both of them a permuted view, on
//! the Flex CPU backend as this workspace builds it: the vendored burn-flex copies such
//! operands contiguous and runs its SIMD loop (`vendor/README.md`, change 8), where upstream
//! walked them element by element. Each result element must be the op of the two elements the
//! views put there, bit for bit; the reference is that arithmetic written out on the host.
//! The shapes are those of attention's head swap in training (`[batch, seq, heads, head_dim]`
//! read from `[batch, heads, seq, head_dim]`), small and above the size at which Flex threads.

use burn::backend::Flex;
use burn::prelude::*;

type B = Flex;

mod distinct_values;
use distinct_values::values;

/// A `[b, s, h, d]` view of a contiguous `[b, h, s, d]` tensor (the head swap), and its values
/// in the view's row-major order.
fn swapped(shape: [usize; 4], seed: u32) -> (Tensor<B, 4>, Vec<f32>) {
    let [b, s, h, d] = shape;
    let data = values(b * h * s * d, seed);
    let stored = Tensor::<B, 4>::from_data(TensorData::new(data.clone(), [b, h, s, d]), &Default::default());
    let mut view_order = Vec::with_capacity(data.len());
    for bi in 0..b {
        for si in 0..s {
            for hi in 0..h {
                let at = ((bi * h + hi) * s + si) * d;
                view_order.extend_from_slice(&data[at..at + d]);
            }
        }
    }
    (stored.swap_dims(1, 2), view_order)
}

fn contiguous(shape: [usize; 4], seed: u32) -> (Tensor<B, 4>, Vec<f32>) {
    let data = values(shape.iter().product(), seed);
    (
        Tensor::from_data(TensorData::new(data.clone(), shape), &Default::default()),
        data,
    )
}

/// An op on the backend and the same op on the host.
type Op = (
    &'static str,
    fn(Tensor<B, 4>, Tensor<B, 4>) -> Tensor<B, 4>,
    fn(f32, f32) -> f32,
);

fn check(shape: [usize; 4]) {
    let ops: [Op; 4] = [
        ("mul", |a, b| a * b, |a, b| a * b),
        ("add", |a, b| a + b, |a, b| a + b),
        ("sub", |a, b| a - b, |a, b| a - b),
        ("div", |a, b| a / b, |a, b| a / b),
    ];
    type Operand = fn([usize; 4], u32) -> (Tensor<B, 4>, Vec<f32>);
    let layouts: [(&str, Operand, Operand); 3] = [
        ("permuted · contiguous", swapped, contiguous),
        ("contiguous · permuted", contiguous, swapped),
        ("permuted · permuted", swapped, swapped),
    ];
    for (layout, left, right) in layouts {
        for (name, op, host) in ops {
            let ((a, av), (b, bv)) = (left(shape, 1), right(shape, 7));
            let got: Vec<f32> = op(a, b).into_data().to_vec().expect("f32");
            let want: Vec<f32> = av.iter().zip(&bv).map(|(&x, &y)| host(x, y)).collect();
            assert_eq!(got.len(), want.len());
            let wrong = got
                .iter()
                .zip(&want)
                .position(|(g, w)| g.to_bits() != w.to_bits());
            assert_eq!(
                wrong, None,
                "{name}, {layout}, shape {shape:?}: first wrong element"
            );
        }
    }
}

#[test]
fn permuted_operands_of_one_shape_give_the_elementwise_results() {
    check([2, 5, 3, 4]);
}

#[test]
fn permuted_operands_above_the_threaded_size_give_the_elementwise_results() {
    // 8 × 256 × 4 × 64 = 512 Ki elements: above Flex's 256 Ki threading threshold
    check([8, 256, 4, 64]);
}
