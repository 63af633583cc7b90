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
//! Within a pass, an op's split still waits for a thread of the pool that has gone to sleep
//! between two ops (rayon sleeps an idle thread within some 20 µs); [`on_compute_threads`]
//! therefore keeps the pool's other threads looking for work while the pass runs
//! (`KeepAwake`). Measured on a 2-core Xeon VM (Intel family 6 model 167, AVX-512 + AMX),
//! the `qwen3_forward` bench binaries of the revision before and of this one run alternately,
//! twice each: f32 decode 8.84 / 8.65 → 9.83 / 9.45 tok/s, prefill 202.6 / 199.9 → 206.6 /
//! 213.3 tok/s, bf16 weights 14.18 / 13.02 → 14.21 / 13.76 tok/s; a LoRA step (`lora_step`,
//! large ops only) unchanged (0.773 / 0.797 → 0.784 / 0.763 s, with a first version that
//! pushed the keep-awake jobs on the caller's queue).
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;

/// How long a thread kept awake for a pass (`KeepAwake`) looks for work without finding any
/// before it goes back to rayon's own idling (which sleeps within some 20 µs).
const STAY_AWAKE_IDLE: Duration = Duration::from_millis(1);

/// Whether `B` computes on rayon's global pool (Flex, with or without autodiff).
pub fn computes_on_rayon<B: Backend>() -> bool {
    let id = TypeId::of::<B>();
    id == TypeId::of::<Flex>() || id == TypeId::of::<Autodiff<Flex>>()
}

/// Runs `op` on a thread of rayon's global pool when `B` computes there and the caller is not
/// already one of its threads (the caller waits for it, once); otherwise runs it where it is.
///
/// While `op` runs, the pool's other threads are kept awake (`KeepAwake`), so that each op's
/// split is picked up at once instead of after a wake-up.
pub fn on_compute_threads<B: Backend, R: Send>(op: impl FnOnce() -> R + Send) -> R {
    if computes_on_rayon::<B>() && rayon::current_thread_index().is_none() {
        rayon::scope(|_| {
            let _awake = KeepAwake::start();
            op()
        })
    } else {
        op()
    }
}

/// The pool's other threads kept looking for work while a pass runs (until dropped).
///
/// Rayon puts a thread that finds no work to sleep after some 32 rounds of looking (about
/// 20 µs) and wakes it with a futex call when work is pushed, in a VM an inter-processor
/// interrupt. On a 2-core Xeon VM the stolen half of a split started 33–46 µs after the push
/// once the other thread had been idle for 100 µs or more, against 0.5 µs when it was awake
/// (`cargo run --release -p spec-actions-qwen3 --example split_latency`). A decode step makes
/// some 200 splits of a few hundred µs each, with gaps between them long enough for the other
/// thread to fall asleep, so each split lost a good part of its second thread. OpenMP's
/// threads, which PyTorch computes on, spin for a while before they sleep; here
/// [`KeepAwake::start`] gives each other thread of the pool a job that looks for work with
/// [`rayon::yield_now`] — running whatever it finds, as an idle rayon thread would — until the
/// guard is dropped or it has found nothing for [`STAY_AWAKE_IDLE`].
///
/// The idle limit is what keeps this safe. A thread that is waiting inside a split of its own
/// (a `join` whose other half was stolen) may pick up one of these jobs; the split below it
/// then resumes only when the job returns: when its pass ends or after `STAY_AWAKE_IDLE`
/// without work, whichever comes first (so another pass's split may wait for this pass to end).
/// Were the job to return only when its pass ends, two passes sharing the pool could each wait
/// for the other for ever; the idle limit ends such a wait once neither has work left. The jobs are broadcast (`rayon::spawn_broadcast`):
/// each thread gets its own in a queue no other thread takes from, so every other thread gets
/// exactly one, however late it wakes; the calling thread's returns at once.
struct KeepAwake {
    done: Arc<AtomicBool>,
}

impl KeepAwake {
    /// Gives each thread of the current pool but the caller's a keep-awake job of its own.
    fn start() -> Self {
        let done = Arc::new(AtomicBool::new(false));
        if rayon::current_num_threads() > 1 {
            let caller = rayon::current_thread_index();
            let flag = Arc::clone(&done);
            // one job per thread, in that thread's own queue: no thread can take another's
            rayon::spawn_broadcast(move |thread| {
                if Some(thread.index()) != caller {
                    stay_awake(&flag);
                }
            });
        }
        Self { done }
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
    }
}

/// Runs the pool's pending jobs until `done`, or until none has turned up for
/// [`STAY_AWAKE_IDLE`].
fn stay_awake(done: &AtomicBool) {
    let mut last_work = Instant::now();
    while !done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_work = Instant::now(),
            Some(rayon::Yield::Idle) if last_work.elapsed() < STAY_AWAKE_IDLE => std::hint::spin_loop(),
            _ => return,
        }
    }
}
