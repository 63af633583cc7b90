//! Flex's own tensors behind the generic `Tensor<B, D>`: the crate's CPU fast paths
//! ([`direct_attention`](crate::model::direct_attention), [`weight_product`](crate::model::weight_product),
//! [`fused_elementwise`](crate::model::fused_elementwise), [`huge_pages`](crate::huge_pages)) are
//! written against [`FlexTensor`] and taken only when the backend *is* Flex — chosen by type at
//! compile time (`TypeId`), so every other backend, autodiff over Flex included, keeps burn's
//! generic ops.

use std::any::{Any, TypeId};

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_flex::FlexTensor;

/// `value` as a `T` when `A` and `T` are the same type; `value` back otherwise.
pub(crate) fn same_type<A: 'static, T: 'static>(value: A) -> Result<T, A> {
    if TypeId::of::<A>() != TypeId::of::<T>() {
        return Err(value);
    }
    let value: Box<dyn Any> = Box::new(value);
    Ok(*value.downcast::<T>().expect("A and T have the same TypeId"))
}

/// Whether `B` is Flex itself (not autodiff over it).
pub(crate) fn is_flex<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Flex>()
}

/// The Flex tensor of `t` when `B` is Flex and `t` is not quantized; `t` back otherwise.
pub(crate) fn flex_tensor<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<FlexTensor, Tensor<B, D>> {
    let t = same_type::<_, Tensor<Flex, D>>(t)?;
    match t.into_primitive() {
        TensorPrimitive::Float(flex) => Ok(flex),
        quantized => {
            let t = Tensor::<Flex, D>::from_primitive(quantized);
            Err(same_type(t).unwrap_or_else(|_| unreachable!("B is Flex")))
        }
    }
}

/// The Flex tensor of `t`.
///
/// # Panics
/// When `B` is not Flex or `t` is quantized: call it only where [`is_flex`] said so (a model's
/// float tensors are never quantized).
pub(crate) fn into_flex<B: Backend, const D: usize>(t: Tensor<B, D>) -> FlexTensor {
    flex_tensor(t).unwrap_or_else(|_| panic!("into_flex: B is not Flex, or the tensor is quantized"))
}

/// `t` as a tensor of `B`.
///
/// # Panics
/// When `B` is not Flex: call it only with a backend [`is_flex`] (or [`flex_tensor`]) accepted.
pub(crate) fn from_flex<B: Backend, const D: usize>(t: FlexTensor) -> Tensor<B, D> {
    let t = same_type::<_, B::FloatTensorPrimitive>(t).unwrap_or_else(|_| panic!("from_flex: B is not Flex"));
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// The values of `t` as a Flex tensor when `B` is Flex or autodiff over it (there the tensor's
/// value, detached: a constant), and `t` is not quantized; `t` back otherwise.
pub(crate) fn flex_values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<FlexTensor, Tensor<B, D>> {
    let t = match same_type::<_, Tensor<Autodiff<Flex>, D>>(t) {
        Ok(t) => {
            return flex_tensor(t.inner()).map_err(|t| same_back(Tensor::<Autodiff<Flex>, D>::from_inner(t)));
        }
        Err(t) => t,
    };
    flex_tensor(t)
}

/// `t` as a constant tensor of `B` (no gradient), when `B` is Flex or autodiff over it.
///
/// # Panics
/// When `B` is neither: call it only where [`flex_values`] gave a tensor.
pub(crate) fn from_flex_values<B: Backend, const D: usize>(t: FlexTensor) -> Tensor<B, D> {
    let t = Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(t));
    match same_type::<_, Tensor<B, D>>(t) {
        Ok(t) => t,
        Err(t) => same_back(Tensor::<Autodiff<Flex>, D>::from_inner(t)),
    }
}

/// `t` as a tensor of `B`, which is `A`'s type.
///
/// # Panics
/// When `B` is not `A`.
fn same_back<A: 'static, T: 'static>(t: A) -> T {
    same_type(t).unwrap_or_else(|_| panic!("same_back: not the same type"))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;

    use super::{flex_tensor, from_flex, into_flex, is_flex, same_type};

    #[test]
    fn only_flex_itself_gives_its_tensors() {
        let device = Default::default();
        assert!(is_flex::<Flex>());
        assert!(!is_flex::<Autodiff<Flex>>());
        let t = Tensor::<Flex, 2>::from_data([[1.0f32, 2.0], [3.0, 4.0]], &device);
        let flex = flex_tensor(t.clone()).expect("a Flex tensor");
        assert_eq!(flex.layout().shape().to_vec(), vec![2, 2]);
        let back: Tensor<Flex, 2> = from_flex(flex);
        back.into_data().assert_eq(&t.clone().into_data(), true);
        let again: Tensor<Flex, 2> = from_flex(into_flex(t.clone()));
        again.into_data().assert_eq(&t.into_data(), true);
        let ad = Tensor::<Autodiff<Flex>, 2>::ones([2, 2], &device);
        assert!(flex_tensor(ad).is_err());
        assert_eq!(same_type::<u8, u8>(3), Ok(3));
        assert_eq!(same_type::<u8, u16>(3), Err(3));
    }
}
