//! How long a split of work waits for a second thread of rayon's pool: `rayon::join` of two
//! halves of busy work (50 µs each), with a gap of idle work between two splits, as a decode
//! step's products come one after another with norms and attention between them.
//!
//! Each line times 2,000 splits run from a thread of the pool, two ways:
//! - `plain`: inside `rayon::scope`, where the pool's other threads go to sleep when they find
//!   no work (within some 20 µs) and are woken when a split is pushed;
//! - `kept awake`: inside [`on_compute_threads`], which keeps the pool's other threads looking
//!   for work while it runs (as every forward pass on Flex does).
//!
//! and prints the median and 90th percentile of the delay from the split to the start of its
//! second half (on another thread, or on the same one after the first half when none took it),
//! and the mean time of a split beyond the 50 µs of one half.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example split_latency
//! ```

use std::time::Instant;

use burn::backend::Flex;
use spec_actions_qwen3::compute_threads::on_compute_threads;

/// Busy work of one half of a split, µs.
const HALF_US: f64 = 50.0;
/// Splits timed for each gap.
const SPLITS: usize = 2000;

fn spin(us: f64) {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() * 1e6 < us {
        std::hint::spin_loop();
    }
}

/// Median and 90th percentile of the second half's start delay, and the mean split time
/// beyond one half, µs.
fn splits(gap_us: f64) -> (f64, f64, f64) {
    let mut delays = Vec::with_capacity(SPLITS);
    let mut busy = 0.0;
    for _ in 0..SPLITS {
        spin(gap_us);
        let start = Instant::now();
        let ((), delay) = rayon::join(
            || spin(HALF_US),
            || {
                let delay = start.elapsed().as_secs_f64() * 1e6;
                spin(HALF_US);
                delay
            },
        );
        busy += start.elapsed().as_secs_f64() * 1e6;
        delays.push(delay);
    }
    delays.sort_by(f64::total_cmp);
    (
        delays[SPLITS / 2],
        delays[SPLITS * 9 / 10],
        busy / SPLITS as f64 - HALF_US,
    )
}

fn main() {
    if rayon::current_num_threads() < 2 {
        eprintln!("split_latency: rayon's pool has one thread; nothing to measure");
        return;
    }
    println!(
        "{} rayon threads; splits of two {HALF_US} µs halves, {SPLITS} a line",
        rayon::current_num_threads()
    );
    for gap in [0.0, 20.0, 100.0, 500.0] {
        let plain = rayon::scope(|_| splits(gap));
        let awake = on_compute_threads::<Flex, _>(|| splits(gap));
        println!(
            "gap {gap:>3} µs: second half starts after {:.1} µs (p90 {:.1}) plain, {:.1} µs (p90 {:.1}) kept awake; \
             a split takes {:.1} / {:.1} µs beyond one half",
            plain.0, plain.1, awake.0, awake.1, plain.2, awake.2
        );
    }
}
