//! `compute_threads`: a Flex forward pass called from a thread outside rayon's pool runs on a
//! thread of the pool, and gives the same bits as the same pass run where it is called (inside
//! another pool of the same size) — the hop moves work, never changes values. Prefill (a
//! matrix product per projection) and a decode step (the row-vector product) both.

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::compute_threads::{computes_on_rayon, on_compute_threads};
use spec_actions_qwen3::model::{KvCache, Qwen3, StepContext};

type B = Flex;

fn tiny() -> Qwen3Config {
    let mut config = Qwen3Config::qwen3_0_6b();
    (config.vocab_size, config.hidden_size, config.intermediate_size) = (600, 128, 384);
    (
        config.num_hidden_layers,
        config.num_attention_heads,
        config.head_dim,
    ) = (2, 4, 32);
    config.num_key_value_heads = 2;
    config
}

/// Logits of a 40-token prefill and of the decode step after it, as f32 bits.
fn prefill_and_step(model: &Qwen3<B>, config: &Qwen3Config) -> (Vec<u32>, Vec<u32>) {
    let device = Default::default();
    let prompt: Vec<i64> = (0..40).map(|i| (i * 37 + 5) % 600).collect();
    let mut cache = KvCache::new(config, 1, 41, &device);
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(prompt.clone(), [1, 40]), &device);
    let ctx = StepContext::new(&model.rotary, &[vec![true; 40]], &[(0..40).collect()], 0, &device);
    let prefill = model.logits(model.forward_hidden(ids, &ctx, Some(&mut cache), None));
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![7i64], [1, 1]), &device);
    let ctx = StepContext::new(&model.rotary, &[vec![true; 41]], &[vec![40]], 40, &device);
    let step = model.logits(model.forward_hidden(ids, &ctx, Some(&mut cache), None));
    let bits = |t: Tensor<B, 3>| {
        t.into_data()
            .into_vec::<f32>()
            .expect("f32")
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    (bits(prefill), bits(step))
}

#[test]
fn a_forward_pass_gives_the_same_bits_wherever_it_runs() {
    let config = tiny();
    let model: Qwen3<B> = config.init(&Default::default());
    // from this test's thread, outside every pool: the pass hops onto the global pool
    assert!(rayon::current_thread_index().is_none());
    let hopped = prefill_and_step(&model, &config);
    // a pool as large as the global one (the same work split: only the threads differ)
    let threads = rayon::current_num_threads();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a pool");
    let here = pool.install(|| prefill_and_step(&model, &config));
    assert!(
        here == hopped,
        "{threads}-thread pool: logits differ from the hopped pass"
    );
}

#[test]
fn flex_work_runs_on_the_pool_and_other_work_where_it_is_called() {
    assert!(computes_on_rayon::<Flex>());
    assert!(computes_on_rayon::<Autodiff<Flex>>());
    assert!(on_compute_threads::<Flex, _>(
        || rayon::current_thread_index().is_some()
    ));
    // already on a pool's thread: stays there
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool");
    let caller = pool.install(|| {
        (
            std::thread::current().id(),
            on_compute_threads::<Flex, _>(|| std::thread::current().id()),
        )
    });
    assert_eq!(caller.0, caller.1);
    #[cfg(feature = "wgpu")]
    {
        assert!(!computes_on_rayon::<burn::backend::Wgpu>());
        assert!(on_compute_threads::<burn::backend::Wgpu, _>(|| {
            rayon::current_thread_index().is_none()
        }));
    }
}

/// While a pass runs, the pool's other threads are kept looking for work by jobs that end only
/// when the pass ends or when they find none for a while. Passes started from several threads
/// at once share the pool — each one's keep-awake jobs may land on a thread that is waiting
/// inside another pass — and must all finish, with the bits of the pass run alone.
#[test]
fn passes_started_from_several_threads_at_once_all_finish_with_the_bits_of_one_alone() {
    // wide enough that a decode step's products (512 × 1536) are split over the pool
    let mut config = tiny();
    (config.hidden_size, config.intermediate_size) = (512, 1536);
    let model: Qwen3<B> = config.init(&Default::default());
    let alone = prefill_and_step(&model, &config);
    let results: Vec<_> = std::thread::scope(|s| {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..3)
                        .map(|_| prefill_and_step(&model, &config))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|c| c.join().expect("a caller thread"))
            .collect()
    });
    assert_eq!(results.len(), 12);
    for (i, r) in results.iter().enumerate() {
        assert!(
            *r == alone,
            "pass {i} of 12 (4 threads at once): logits differ from the pass alone"
        );
    }
}
