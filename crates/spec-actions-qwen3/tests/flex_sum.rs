//! The sum of a whole f32 tensor large enough for Flex to split over rayon's threads (the
//! vendored burn-flex's patch 9, `vendor/README.md`): the same bits on every run and on any
//! number of threads — the chunks' sums added in chunk order, as computed here from Flex's own
//! chunk sum — where upstream's `sum()` of the chunks' sums followed the split rayon happened to
//! make, so that a trainer's gradient norm, and through its clipping every weight, could differ
//! from one run to the next.

use burn::backend::Flex;
use burn::prelude::*;

#[test]
fn a_large_sum_is_the_chunk_order_sum_on_every_run_and_thread_count() {
    let device = Default::default();
    let n = 5 * 1024 * 1024 + 12_345; // above the parallel threshold (4 Mi), a short last chunk
    let values: Vec<f32> = (0..n)
        .map(|i| ((i as u64 * 2_654_435_761 % 1_000_003) as f32 / 1_000_003.0 - 0.5) * 1e3)
        .collect();
    let want = values
        .chunks(burn_flex::ops::reduce::SUM_CHUNK)
        .map(burn_flex::simd::kernels::sum_f32)
        .fold(0f32, |sum, part| sum + part);
    let x = Tensor::<Flex, 1>::from_data(TensorData::new(values, [n]), &device);
    for threads in [1, 2, 3, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for run in 0..8 {
            let got: f32 = pool.install(|| x.clone().sum().into_scalar());
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{threads} threads, run {run}: {got} against {want}"
            );
        }
    }
}
