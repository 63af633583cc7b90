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
//! against 8.0 / 8.5 k tokens/s, 0.95 against 1.30 GB). Programs call it once at start-up (the xtask pipeline and the benches do);
//! a library never changes the process's allocator on its own.

/// Largest `M_MMAP_THRESHOLD` glibc accepts on 64-bit targets (`32 MiB`).
const MMAP_THRESHOLD_MAX: i32 = 32 << 20;

/// Asks glibc's `malloc` to keep freed memory for reuse: blocks up to 32 MiB come from the
/// heap, the heap is never trimmed back to the OS, and every thread shares it (one arena). Memory use then stays at the
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
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
