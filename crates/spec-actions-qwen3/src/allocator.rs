//! Heap settings for CPU inference and training.
//!
//! Every tensor op on the CPU backend allocates its output, often several megabytes, and
//! drops its inputs. glibc's `malloc` serves blocks above 128 KiB–32 MiB with `mmap` and
//! returns them with `munmap`, so each op pays for fresh pages: the kernel zeroes them on first
//! touch. On a LoRA training step that is about a fifth of the time (`perf`: `clear_page_erms`,
//! `exc_page_fault`). [`keep_freed_memory_in_heap`] makes freed blocks stay in the heap for the
//! next op instead, and makes every thread allocate from that one heap: Flex's forward passes
//! run on rayon's threads ([`crate::compute_threads`]), and with glibc's default of an arena
//! per thread their buffers came from per-thread arenas of 64 MiB heaps that do not keep the
//! settings' promise — a training step of the tiny preset's verifier ran at 0.75× the speed with
//! a third more peak memory (`MALLOC_ARENA_MAX=1` against the default, alternating: 10.7 / 11.1 k
//! against 8.0 / 8.5 k tokens/s, 0.95 against 1.30 GB).
//!
//! Blocks above 32 MiB — glibc's largest `M_MMAP_THRESHOLD` — were still served by `mmap`
//! whatever the threshold: a training step's `[label rows, 151,936]` logits and their
//! gradients, and the LM head cast to f64 for the hidden rows' gradient (311 MB at hidden 256),
//! each fresh zeroed pages every step. `M_MMAP_MAX = 0` (no `mmap`ed blocks at all; glibc still
//! falls back to `mmap` if the heap cannot grow) serves them from the heap too: the `lora_step`
//! bench, AMD EPYC family 26 model 2 (AVX-512), 2 cores, alternating runs of the same binary with
//! and without it (`MALLOC_MMAP_MAX_=0`, glibc's environment form): criterion medians 506 / 523 →
//! 439 / 418 ms a step, peak resident set 870 → 865 MB; prefill and decode unchanged
//! (`prefill_passes`, `decode_steps`).
//!
//! Programs call it once at start-up (the xtask pipeline and the benches do); a library never
//! changes the process's allocator on its own.

/// Largest `M_MMAP_THRESHOLD` glibc accepts on 64-bit targets (`32 MiB`).
const MMAP_THRESHOLD_MAX: i32 = 32 << 20;

/// Asks glibc's `malloc` to keep freed memory for reuse: every block comes from the heap
/// (none from `mmap`), the heap is never trimmed back to the OS, and every thread shares it (one arena). Memory use then stays at the
/// program's peak instead of following it down. Returns `true` when the settings were
/// applied (glibc on Linux), `false` elsewhere (other allocators reuse memory by default).
///
/// ```
/// // Safe to call any number of times.
/// let applied = spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
/// assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn keep_freed_memory_in_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes allocator parameters; it is safe to call at any
        // time from any thread, and it reports an unsupported value by returning 0.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
                && libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
                && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
                && libc::mallopt(libc::M_MMAP_MAX, 0) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
