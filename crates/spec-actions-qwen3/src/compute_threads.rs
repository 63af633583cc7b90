//! Where the CPU backend's work runs: on the threads of rayon's global pool.
//!
//! Flex splits its large ops (matrix products, the vendored row-vector product of a decode step,
//! element-wise ops over at least 256 Ki elements) over rayon's global pool. Called from a thread
//! outside the pool — a program's main thread — each such op is handed to the pool as a job
//! while the caller sleeps on a latch until the job is done: two thread wake-ups an op (a futex
//! call each, in a VM an inter-processor interrupt), and some 200 such ops a decode step of
//! Qwen3-0.6B. Called from a thread *of* the pool, an op starts on that thread and the other
//! threads steal what they can: nothing hands over, nothing sleeps on a latch.
//!
//! [`on_compute_threads`] makes that one hand-over a forward pass instead of one an op: the
//! model's [`forward_hidden`](crate::Qwen3::forward_hidden) and [`logits`](crate::Qwen3::logits)
//! run through it, and the trainer runs each micro-batch's forward and backward through it.
//! Measured on an AMD EPYC family 25 model 17 (2 cores), the bench binaries of the revision
//! before and of this one run alternately, twice each (with
//! [`keep_freed_memory_in_heap`](crate::allocator::keep_freed_memory_in_heap)'s one arena):
//! `qwen3_forward` decode 10.23 / 13.05 → 16.71 / 17.30 tok/s, `lora_step` 1.139 / 1.089 →
//! 0.935 / 0.990 s a step (this VM's speed drifts by up to 1.6× within a session: compare
//! pairs). In `perf record -g` of f32 decode steps (the `decode_steps` example, its loop run
//! from the main thread and inside `rayon::scope`) the futex and scheduler share of the samples
//! fell from 12.4 % to 7.8 % and the product kernels' rose from 81 % to 86 %.
//!
//! Only Flex computes on rayon's pool; any other backend's op runs where it is called.
//!
//! ```
//! use burn::backend::Flex;
//! use spec_actions_qwen3::compute_threads::on_compute_threads;
//!
//! // A Flex op called in here starts on a thread of rayon's pool.
//! let in_pool = on_compute_threads::<Flex, _>(|| rayon::current_thread_index().is_some());
//! assert!(in_pool);
//! ```

use std::any::TypeId;

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;

/// Whether `B` computes on rayon's global pool (Flex, with or without autodiff).
pub fn computes_on_rayon<B: Backend>() -> bool {
    let id = TypeId::of::<B>();
    id == TypeId::of::<Flex>() || id == TypeId::of::<Autodiff<Flex>>()
}

/// Runs `op` on a thread of rayon's global pool when `B` computes there and the caller is not
/// already one of its threads (the caller waits for it, once); otherwise runs it where it is.
pub fn on_compute_threads<B: Backend, R: Send>(op: impl FnOnce() -> R + Send) -> R {
    if computes_on_rayon::<B>() && rayon::current_thread_index().is_none() {
        rayon::scope(|_| op())
    } else {
        op()
    }
}
