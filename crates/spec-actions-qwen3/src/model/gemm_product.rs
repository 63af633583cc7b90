//! One f32 or f64 matrix product on the calling thread through `gemm`, for the crate's Flex forms
//! that run their own products on rayon's tasks ([`weight_product`](super::weight_product)'s
//! column blocks, [`blocked_attention`](super::blocked_attention)'s two products a block,
//! [`head_gradient`](super::head_gradient)'s f64 blocks): the matrices as pointers with strides,
//! the output overwritten.

/// A matrix as `gemm` reads it: where its first element is, and how many elements lie between
/// two columns and between two rows.
#[derive(Clone, Copy)]
pub(crate) struct Strided<P> {
    pub(crate) at: P,
    pub(crate) column_stride: usize,
    pub(crate) row_stride: usize,
}

/// `dst = lhs · rhs` (`[m, k] · [k, n]`) in `T` (f32 or f64), computed on the calling thread.
///
/// # Safety
/// Each view addresses every element of its matrix (`dst` `[m, n]`, `lhs` `[m, k]`, `rhs`
/// `[k, n]`) inside one live allocation, and nothing else reads or writes `dst`'s elements
/// during the call.
pub(crate) unsafe fn product<T: Copy + From<f32> + 'static>(
    [m, n, k]: [usize; 3],
    dst: Strided<*mut T>,
    lhs: Strided<*const T>,
    rhs: Strided<*const T>,
) {
    // Safety: the caller's contract, as `gemm::gemm` states it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.at,
            dst.column_stride as isize,
            dst.row_stride as isize,
            false,
            lhs.at,
            lhs.column_stride as isize,
            lhs.row_stride as isize,
            rhs.at,
            rhs.column_stride as isize,
            rhs.row_stride as isize,
            T::from(0.0),
            T::from(1.0),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
