//! Model weights in transparent huge pages (Linux, Flex).
//!
//! A decode step reads every weight once, as a few long sequential streams. From the heap
//! ([`crate::allocator`]) those streams run over 4 KiB pages scattered wherever freed blocks
//! were, and with bf16 weights the product kernels then read below the machine's memory speed:
//! on a 2-core Xeon VM (Intel family 6 model 167, AVX-512 BF16, THP in `madvise` mode) the 196
//! projection products of a Qwen3-0.6B decode step with the model's bf16 weights in the heap
//! took 47.0–59.4 ms (`decode_steps bf16`, its `products alone`, each bf16 kernel pinned), in
//! huge pages 33.4–37.6 ms with the `avx512`, `avx512-noprefetch` and `avx2` kernels (50.5–50.8
//! with `avx2-noprefetch`); the
//! `qwen3_forward` bench's bf16 decode went from 1.38× / 1.48× to 1.59× / 1.57× its f32 decode
//! (`vendor/README.md`, change 4, session 25).
//!
//! [`in_huge_pages`] moves one tensor into memory of its own, mapped 2 MiB-aligned and marked
//! `MADV_HUGEPAGE`, so that the kernel backs it with huge pages when it faults it in (which THP
//! allows in its default `madvise` mode; under `never`, or when no huge page is free, the same
//! memory in 4 KiB pages). The model puts every weight matrix of at least [`HUGE_PAGE_BYTES`]
//! there as it is built, cast or merged ([`crate::Qwen3Config::init_with`]); the values and the
//! tensor are unchanged, only where its bytes live. Other backends, tensors of an autodiff
//! backend (training), views and small tensors stay where they are.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::prelude::*;
//! use spec_actions_qwen3::huge_pages::{HUGE_PAGE_BYTES, in_huge_pages};
//!
//! let device = Default::default();
//! let rows = HUGE_PAGE_BYTES / 4 / 256;
//! let w = Tensor::<Flex, 2>::ones([rows, 256], &device);
//! let moved = in_huge_pages(w.clone());
//! // the same tensor, held elsewhere
//! assert_eq!(moved.to_data(), w.to_data());
//! ```

use burn::prelude::*;
use burn::tensor::FloatDType;

/// Bytes of a transparent huge page with 4 KiB base pages (x86-64, aarch64): tensors of at
/// least this size move, and their memory is mapped in multiples of it.
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// `tensor` with its bytes in memory of its own backed by transparent huge pages, when it is a
/// contiguous Flex tensor of at least [`HUGE_PAGE_BYTES`] on Linux; otherwise (another backend,
/// an autodiff tensor, a view, a small tensor, another OS, a failed `mmap`) `tensor` as it is.
/// Values, shape and dtype never change.
pub fn in_huge_pages<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(target_os = "linux")]
    {
        use burn::tensor::TensorPrimitive;
        let primitive = match tensor.into_primitive() {
            TensorPrimitive::Float(primitive) => primitive,
            // a quantized tensor: left as it is
            quantized => return Tensor::from_primitive(quantized),
        };
        use crate::flex_tensors::same_type;
        let primitive = match same_type::<_, burn_flex::FlexTensor>(primitive) {
            Ok(flex) => match same_type::<_, B::FloatTensorPrimitive>(linux::moved(flex)) {
                Ok(primitive) => primitive,
                // the same type both ways: the first conversion succeeded
                Err(_) => unreachable!("FlexTensor is B's float primitive"),
            },
            Err(primitive) => primitive,
        };
        Tensor::from_primitive(TensorPrimitive::Float(primitive))
    }
    #[cfg(not(target_os = "linux"))]
    tensor
}

/// Zeros of `shape` and `dtype` on `device`, their bytes in memory of their own backed by
/// transparent huge pages when `B` is Flex, the tensor is at least [`HUGE_PAGE_BYTES`] and the
/// OS is Linux (zeroed by the kernel as it faults the pages in: no copy, unlike
/// [`in_huge_pages`]; all-zero bytes are +0.0 in every float dtype); `Tensor::zeros` in `dtype`
/// otherwise. Used for the key/value cache, which a decode step reads whole.
pub fn zeros_in_huge_pages<B: Backend, const D: usize>(
    shape: [usize; D],
    dtype: FloatDType,
    device: &B::Device,
) -> Tensor<B, D> {
    #[cfg(target_os = "linux")]
    if crate::flex_tensors::is_flex::<B>() {
        let dtype = burn::tensor::DType::from(dtype);
        let bytes = shape.iter().product::<usize>() * dtype.size();
        if bytes >= HUGE_PAGE_BYTES
            && let Some(zeros) = linux::zeroed(shape, dtype, bytes)
        {
            return crate::flex_tensors::from_flex(zeros);
        }
    }
    let zeros = Tensor::zeros(shape, device);
    match dtype {
        FloatDType::F32 => zeros,
        _ => zeros.cast(dtype),
    }
}

/// Whether the bytes of `tensor` lie in memory the kernel was asked to back with huge pages
/// (`MADV_HUGEPAGE`: the `hg` flag of its mapping in `/proc/self/smaps`). `false` on other
/// OSes, other backends, and when `/proc` cannot be read.
pub fn advised_huge_pages<B: Backend, const D: usize>(tensor: &Tensor<B, D>) -> bool {
    #[cfg(target_os = "linux")]
    {
        use burn::tensor::TensorPrimitive;
        let TensorPrimitive::Float(primitive) = tensor.clone().into_primitive() else {
            return false;
        };
        match crate::flex_tensors::same_type::<_, burn_flex::FlexTensor>(primitive) {
            Ok(flex) => linux::mapping_flags(flex.bytes().as_ptr() as usize)
                .is_some_and(|flags| flags.split_whitespace().any(|f| f == "hg")),
            Err(_) => false,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tensor;
        false
    }
}

#[cfg(target_os = "linux")]
pub use linux::HugePageBuffer;

#[cfg(target_os = "linux")]
mod linux {
    use std::mem::MaybeUninit;
    use std::ptr::NonNull;

    use burn::tensor::DType;
    use burn_flex::FlexTensor;
    use burn_std::{AllocationController, AllocationProperty, Bytes};

    use super::HUGE_PAGE_BYTES;

    /// Alignment reported to `Bytes`, which allocates a copy of the buffer (`Bytes::clone`, a
    /// copy-on-write) with it: 16 bytes, the most its native allocations take; the buffer itself
    /// is 2 MiB-aligned.
    const REPORTED_ALIGN: usize = 16;

    /// Zeroed memory of its own (`mmap`), starting on a 2 MiB boundary, a whole number of huge
    /// pages long and marked `MADV_HUGEPAGE`; unmapped when dropped. As a `Bytes` controller it
    /// holds a Flex tensor's data.
    pub struct HugePageBuffer {
        start: NonNull<u8>,
        /// Bytes mapped: the length asked for, rounded up to [`HUGE_PAGE_BYTES`].
        mapped: usize,
    }

    // Safety: the buffer is plain memory owned by this value alone.
    unsafe impl Send for HugePageBuffer {}
    unsafe impl Sync for HugePageBuffer {}

    impl HugePageBuffer {
        /// `len` zeroed bytes (at least one), or the OS error of `mmap`.
        pub fn zeroed(len: usize) -> std::io::Result<Self> {
            let mapped = len.max(1).next_multiple_of(HUGE_PAGE_BYTES);
            // one huge page more than needed, so that a 2 MiB boundary lies inside
            let reserved = mapped + HUGE_PAGE_BYTES;
            // Safety: an anonymous private mapping at an address of the kernel's choice.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    reserved,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            let base = base as usize;
            let start = base.next_multiple_of(HUGE_PAGE_BYTES);
            // Safety: both ranges lie in the mapping just made and outside [start, start + mapped).
            unsafe {
                if start > base {
                    libc::munmap(base as *mut libc::c_void, start - base);
                }
                let end = start + mapped;
                if base + reserved > end {
                    libc::munmap(end as *mut libc::c_void, base + reserved - end);
                }
                // Only advice: where THP is off the memory stays in 4 KiB pages.
                libc::madvise(start as *mut libc::c_void, mapped, libc::MADV_HUGEPAGE);
            }
            let start =
                NonNull::new(start as *mut u8).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
            Ok(Self { start, mapped })
        }

        /// A buffer holding a copy of `data`.
        pub fn copy_of(data: &[u8]) -> std::io::Result<Self> {
            let mut buffer = Self::zeroed(data.len())?;
            buffer.as_mut_slice()[..data.len()].copy_from_slice(data);
            Ok(buffer)
        }

        /// The whole buffer (its length a multiple of [`HUGE_PAGE_BYTES`]).
        pub fn as_slice(&self) -> &[u8] {
            // Safety: `mapped` bytes from `start` are mapped, readable and initialised (zeroed
            // by the kernel, or written through `as_mut_slice`).
            unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.mapped) }
        }

        /// The whole buffer, writable.
        pub fn as_mut_slice(&mut self) -> &mut [u8] {
            // Safety: as `as_slice`, and `&mut self` makes the access exclusive.
            unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.mapped) }
        }
    }

    impl Drop for HugePageBuffer {
        fn drop(&mut self) {
            // Safety: the mapping made in `zeroed`, unmapped once.
            unsafe {
                libc::munmap(self.start.as_ptr() as *mut libc::c_void, self.mapped);
            }
        }
    }

    impl AllocationController for HugePageBuffer {
        fn alloc_align(&self) -> usize {
            REPORTED_ALIGN
        }

        fn property(&self) -> AllocationProperty {
            AllocationProperty::Other
        }

        unsafe fn memory_mut(&mut self) -> &mut [MaybeUninit<u8>] {
            // Safety: `MaybeUninit<u8>` has the layout of `u8`.
            unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr().cast(), self.mapped) }
        }

        fn memory(&self) -> &[MaybeUninit<u8>] {
            // Safety: `MaybeUninit<u8>` has the layout of `u8`.
            unsafe { std::slice::from_raw_parts(self.start.as_ptr().cast(), self.mapped) }
        }
    }

    /// `flex` with its bytes copied into a [`HugePageBuffer`], or `flex` as it is when it is a
    /// view (not contiguous from offset 0), smaller than a huge page, or `mmap` fails.
    pub(super) fn moved(flex: FlexTensor) -> FlexTensor {
        let layout = flex.layout();
        if !layout.is_contiguous() || layout.start_offset() != 0 {
            return flex;
        }
        let len = layout.num_elements() * flex.dtype().size();
        if len < HUGE_PAGE_BYTES || len > flex.bytes().len() {
            return flex;
        }
        match HugePageBuffer::copy_of(&flex.bytes()[..len]) {
            // Safety: the first `len` bytes were written by `copy_of`.
            Ok(buffer) => FlexTensor::new(
                unsafe { Bytes::from_controller(Box::new(buffer), len) },
                layout.clone(),
                flex.dtype(),
            ),
            Err(_) => flex,
        }
    }

    /// A contiguous f32 Flex tensor of zeros of `shape` in a [`HugePageBuffer`], or `None` when
    /// `mmap` fails.
    /// Zeros of `shape` and `dtype` in a buffer of their own: `bytes` is the tensor's size
    /// (the caller's, which decides by it whether huge pages are worth it).
    pub(super) fn zeroed<const D: usize>(
        shape: [usize; D],
        dtype: DType,
        bytes: usize,
    ) -> Option<FlexTensor> {
        let buffer = HugePageBuffer::zeroed(bytes).ok()?;
        Some(FlexTensor::new(
            // Safety: the first `bytes` bytes are mapped and zeroed (by the kernel).
            unsafe { Bytes::from_controller(Box::new(buffer), bytes) },
            burn_flex::Layout::contiguous(burn_std::Shape::new(shape)),
            dtype,
        ))
    }

    /// The `VmFlags` line of the mapping holding `address` in `/proc/self/smaps`.
    pub(super) fn mapping_flags(address: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((from, to)) = first.split_once('-')
                && let (Ok(from), Ok(to)) = (usize::from_str_radix(from, 16), usize::from_str_radix(to, 16))
            {
                inside = (from..to).contains(&address);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.to_owned());
            }
        }
        None
    }
}
