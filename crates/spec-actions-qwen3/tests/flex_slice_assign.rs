//! `slice_assign` on the Flex CPU backend as this workspace builds it: the vendored burn-flex
//! writes into a destination it holds the only handle on in place (`vendor/README.md`, change
//! 7), where upstream copied the whole destination first — a copy of every layer's key/value
//! cache at every decode step. A destination that is shared must still be copied (the other
//! handle keeps its values). The reference values are the index arithmetic on the host.

use burn::backend::Flex;
use burn::prelude::*;

type B = Flex;

/// Address of the first element of `t`'s buffer (a second handle, dropped before returning).
fn buffer_address(t: &Tensor<B, 4>) -> usize {
    t.clone().into_primitive().tensor().storage::<f32>().as_ptr() as usize
}

const SHAPE: [usize; 4] = [2, 3, 5, 4];

/// `0, 1, 2, …` in `SHAPE`, and `x[0..2, 1..2, 2..4, 0..4] = -(1, 2, 3, …)` written on the host.
fn before_and_after() -> (Vec<f32>, Vec<f32>) {
    let before: Vec<f32> = (0..SHAPE.iter().product::<usize>()).map(|i| i as f32).collect();
    let mut after = before.clone();
    let mut next = 1.0;
    for a in 0..2 {
        for c in 2..4 {
            for d in 0..4 {
                after[((a * 3 + 1) * 5 + c) * 4 + d] = -next;
                next += 1.0;
            }
        }
    }
    (before, after)
}

fn assign(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let device = x.device();
    let values: Vec<f32> = (1..=16).map(|i| -(i as f32)).collect();
    let v = Tensor::<B, 4>::from_data(TensorData::new(values, [2, 1, 2, 4]), &device);
    x.slice_assign([0..2, 1..2, 2..4, 0..4], v)
}

#[test]
fn a_destination_held_once_is_written_in_place() {
    let (before, after) = before_and_after();
    let x = Tensor::<B, 4>::from_data(TensorData::new(before, SHAPE), &Default::default());
    let address = buffer_address(&x);
    let y = assign(x);
    assert_eq!(buffer_address(&y), address, "the destination's buffer was copied");
    assert_eq!(y.into_data().to_vec::<f32>().unwrap(), after);
}

#[test]
fn a_shared_destination_is_copied_and_the_other_handle_keeps_its_values() {
    let (before, after) = before_and_after();
    let x = Tensor::<B, 4>::from_data(TensorData::new(before.clone(), SHAPE), &Default::default());
    let other = x.clone();
    let y = assign(x);
    assert_ne!(buffer_address(&y), buffer_address(&other));
    assert_eq!(y.into_data().to_vec::<f32>().unwrap(), after);
    assert_eq!(other.into_data().to_vec::<f32>().unwrap(), before);
}
