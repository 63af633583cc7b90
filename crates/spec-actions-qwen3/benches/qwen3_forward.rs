//! Qwen3-0.6B-shaped model (random weights built in Rust, f32, Flex, batch 1):
//! - `prefill_128`: 128 prompt tokens into a fresh KV cache, LM head at the last position;
//! - `decode_32`: 32 greedy decode steps after a 128-token prefill (prefill not timed);
//! - `score_nine_kinds` vs `prefill_prompt`: one-pass scoring of the nine action-kind strings
//!   after a prompt, against one prefill of the same prompt.
//!
//! `cargo bench -p spec-actions-qwen3 --bench qwen3_forward`
//! The headline figures are the best of three runs after a warm-up, as the PyTorch script
//! measures; criterion's own statistics follow.
//! Prints tok/s lines (`prefill tok/s`, `decode tok/s`, `scoring / prefill`), this machine's
//! copy and read-alone bandwidth in huge-page memory, where the model's weights live, the read
//! from the heap's 4 KiB pages beside them, and the share decode reaches (`memory …`), the
//! kernels chosen by timing, and decode with bf16 weights
//! against f32 decode timed in the same rounds (`decode bf16 …`), besides criterion's report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::FloatDType;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use spec_actions_core::ActionKind;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::generate::argmax;
use spec_actions_qwen3::model::{KvCache, Qwen3, StepContext};
use spec_actions_qwen3::score::score_continuations;

type B = Flex;

const PROMPT: usize = 128;
const DECODE: usize = 32;
/// Timed runs after one warm-up run; the best is reported (as the PyTorch script does).
const REPEATS: usize = 3;

fn prompt_ids(len: usize) -> Vec<u32> {
    (0..len as u32).map(|i| (i * 7919 + 13) % 150_000).collect()
}

/// Prefill `ids` into `cache`; returns the last position's logits.
fn prefill(model: &Qwen3<B>, ids: &[u32], cache: &mut KvCache<B>) -> Vec<f32> {
    let device = Default::default();
    let n = ids.len();
    let ctx = StepContext::new(
        &model.rotary,
        &[vec![true; n]],
        &[(0..n).collect()],
        cache.len(),
        &device,
    )
    .cast(model.compute_dtype());
    let data: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(data, [1, n]), &device);
    let hidden = model.forward_hidden(input, &ctx, Some(cache), None);
    let [_, s, h] = hidden.dims();
    model
        .logits(hidden.slice([0..1, s - 1..s, 0..h]))
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}

/// `steps` greedy decode steps from a prefilled cache.
fn decode(model: &Qwen3<B>, mut logits: Vec<f32>, cache: &mut KvCache<B>, steps: usize) -> u32 {
    let mut token = 0;
    for _ in 0..steps {
        token = argmax(&logits);
        logits = prefill_one(model, token, cache);
    }
    token
}

fn prefill_one(model: &Qwen3<B>, token: u32, cache: &mut KvCache<B>) -> Vec<f32> {
    let device = Default::default();
    let pos = cache.len();
    let ctx = StepContext::new(&model.rotary, &[vec![true; pos + 1]], &[vec![pos]], pos, &device)
        .cast(model.compute_dtype());
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![i64::from(token)], [1, 1]), &device);
    let hidden = model.forward_hidden(input, &ctx, Some(cache), None);
    model
        .logits(hidden)
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}

fn kind_candidates() -> Vec<Vec<u32>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/qwen3-tokenizer/tokenizer.json"
    );
    match tokenizers::Tokenizer::from_file(path) {
        Ok(tok) => ActionKind::ALL
            .iter()
            .map(|k| {
                tok.encode(format!(" {}", k.as_str()), false)
                    .map(|e| e.get_ids().to_vec())
                    .unwrap_or_default()
            })
            .collect(),
        // Without the tokenizer asset: nine candidates of 1-4 tokens, as the real kinds tokenize.
        Err(_) => (0..9u32)
            .map(|i| (0..1 + i % 4).map(|j| 1000 + 17 * i + j).collect())
            .collect(),
    }
}

/// Bytes of each bandwidth measurement's buffers.
const BANDWIDTH_BYTES: usize = 512 << 20;

/// A zeroed buffer of [`BANDWIDTH_BYTES`] in the memory the model's weights live in: huge
/// pages where `spec_actions_qwen3::huge_pages` puts them (Linux), the heap otherwise or when
/// `heap` is set.
fn bandwidth_buffer(heap: bool) -> Box<dyn std::ops::DerefMut<Target = [u8]>> {
    #[cfg(target_os = "linux")]
    if !heap && let Ok(buffer) = spec_actions_qwen3::huge_pages::HugePageBuffer::zeroed(BANDWIDTH_BYTES) {
        struct Huge(spec_actions_qwen3::huge_pages::HugePageBuffer);
        impl std::ops::Deref for Huge {
            type Target = [u8];
            fn deref(&self) -> &[u8] {
                &self.0.as_slice()[..BANDWIDTH_BYTES]
            }
        }
        impl std::ops::DerefMut for Huge {
            fn deref_mut(&mut self) -> &mut [u8] {
                &mut self.0.as_mut_slice()[..BANDWIDTH_BYTES]
            }
        }
        return Box::new(Huge(buffer));
    }
    let _ = heap;
    Box::new(vec![0u8; BANDWIDTH_BYTES])
}

/// This machine's memory bandwidth as a large copy measures it: 512 MiB copied between two
/// buffers in the weights' memory ([`bandwidth_buffer`]) on every core (one slice each), best
/// of three after a warm-up; bytes read plus bytes written per second.
fn copy_bandwidth_bytes_per_s() -> f64 {
    let mut src = bandwidth_buffer(false);
    src.fill(1);
    let mut dst = bandwidth_buffer(false);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = BANDWIDTH_BYTES.div_ceil(threads);
    let mut best = f64::INFINITY;
    for run in 0..=REPEATS {
        let t = Instant::now();
        std::thread::scope(|scope| {
            for (d, s) in dst.chunks_mut(per).zip(src.chunks(per)) {
                scope.spawn(move || d.copy_from_slice(s));
            }
        });
        let seconds = t.elapsed().as_secs_f64();
        black_box(&dst[..]);
        if run > 0 {
            best = best.min(seconds);
        }
    }
    2.0 * BANDWIDTH_BYTES as f64 / best
}

/// Bytes per second one pass of reading (summing) a 512 MiB buffer reaches on every core, best
/// of [`REPEATS`]: the ceiling of a step that only reads its weights, below the copy's
/// read + write figure on most machines. In the weights' memory ([`bandwidth_buffer`]), or
/// in the heap's pages with `heap` (for comparison). Each thread reads with [`read_sum`].
fn read_bandwidth_bytes_per_s(heap: bool) -> f64 {
    let mut buffer = bandwidth_buffer(heap);
    buffer.fill(1);
    // Safety: every bit pattern is a `u64`; the buffer is at least 8-byte aligned (a huge
    // page, or a 512 MiB heap block), and an unaligned head or tail would only go unread.
    let (_, src, _) = unsafe { buffer.align_to::<u64>() };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = src.len().div_ceil(threads);
    let mut best = f64::INFINITY;
    for run in 0..=REPEATS {
        let t = Instant::now();
        let total: u64 = std::thread::scope(|scope| {
            let parts: Vec<_> = src
                .chunks(per)
                .map(|s| scope.spawn(move || read_sum(s)))
                .collect();
            parts.into_iter().map(|p| p.join().expect("a reader")).sum()
        });
        let seconds = t.elapsed().as_secs_f64();
        if run == 0 {
            // the warm-up pass also checks the sum against a plain loop's
            let plain = src.iter().fold(0u64, |a, &b| a.wrapping_add(b));
            assert_eq!(total, plain, "read_sum disagrees with a plain sum");
        }
        black_box(total);
        if run > 0 {
            best = best.min(seconds);
        }
    }
    BANDWIDTH_BYTES as f64 / best
}

/// The wrapping sum of `words`, a 64-byte cache line a pass into eight sums, each line
/// prefetched [`READ_PREFETCH_BYTES`] ahead on x86-64: a read as fast as this code knows how
/// to make one, so that "decode at N % of the read" compares with the machine, not with a
/// plain loop. On a 2-core Intel Xeon of family 6 model 207 (a throwaway loop over 512 MiB in
/// huge pages, both cores, three runs): a plain `fold` 22.2 / 23.1 / 22.5 GB/s — below that
/// VM's f32 decode, which prefetches — prefetching 1 KiB ahead 25.5 / 25.8 / 26.9, 4 KiB
/// ahead 30.7 / 30.2 / 29.0 GB/s.
fn read_sum(words: &[u64]) -> u64 {
    let mut sums = [0u64; 8];
    let mut lines = words.chunks_exact(8);
    for line in &mut lines {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let ahead = line.as_ptr().wrapping_add(READ_PREFETCH_BYTES / 8) as *const i8;
            // Safety: a prefetch never faults, wherever it points.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead) };
        }
        for (sum, &word) in sums.iter_mut().zip(line) {
            *sum = sum.wrapping_add(word);
        }
    }
    sums.iter()
        .chain(lines.remainder())
        .fold(0u64, |a, &b| a.wrapping_add(b))
}

/// How far ahead of its loads [`read_sum`] prefetches.
const READ_PREFETCH_BYTES: usize = 4096;

/// Prefill and decode tok/s of `scripts/bench_pytorch_qwen3.py` (its `pytorch …` line).
fn pytorch_anchor() -> Option<(f64, f64)> {
    let python = std::env::var("SPEC_ACTIONS_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/bench_pytorch_qwen3.py"
    );
    let out = std::process::Command::new(python).arg(script).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("pytorch "))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.parse::<f64>().ok())
    };
    Some((field("prefill_tok_s=")?, field("decode_tok_s=")?))
}

fn bench(c: &mut Criterion) {
    // Which machine: speed figures compare only as same-run ratios on one machine.
    eprintln!("machine: {}", spec_actions_core::machine::Machine::detect());
    let device = Default::default();
    let config = Qwen3Config::qwen3_0_6b();
    let started = Instant::now();
    let model: Qwen3<B> = config.init(&device);
    eprintln!(
        "built random Qwen3-0.6B-shaped model in {:.1?}",
        started.elapsed()
    );
    let ids = prompt_ids(PROMPT);

    // The headline figures, measured as the PyTorch script measures its own: one warm-up
    // run, then the best of three timed runs.
    let candidates = kind_candidates();
    let mut best = [f64::INFINITY; 4];
    for run in 0..=REPEATS {
        let mut cache = KvCache::new(&config, 1, PROMPT + DECODE, &device);
        let t = Instant::now();
        let logits = prefill(&model, &ids, &mut cache);
        let prefill_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        black_box(decode(&model, logits, &mut cache, DECODE));
        let decode_s = t.elapsed().as_secs_f64();
        // scoring against a prefill of the same prompt into a cache of its own size
        let t = Instant::now();
        let mut cache = KvCache::new(&config, 1, PROMPT, &device);
        black_box(prefill(&model, &ids, &mut cache));
        let one_prefill = t.elapsed().as_secs_f64();
        let t = Instant::now();
        black_box(score_continuations(&model, &ids, &candidates).ok());
        let scoring = t.elapsed().as_secs_f64();
        if run > 0 {
            for (b, v) in best.iter_mut().zip([prefill_s, decode_s, one_prefill, scoring]) {
                *b = b.min(v);
            }
        }
    }
    let [prefill_s, decode_s, one_prefill, scoring] = best;
    eprintln!(
        "prefill tok/s: {:.1}  ({PROMPT} tokens in {prefill_s:.3} s, best of {REPEATS})",
        PROMPT as f64 / prefill_s
    );
    eprintln!(
        "decode tok/s: {:.2}  ({DECODE} steps in {decode_s:.3} s, best of {REPEATS})",
        DECODE as f64 / decode_s
    );
    // Decode reads every weight once a token (f32; the tied embedding once, as the LM head):
    // its share of the bandwidth a large copy reaches on this machine, in the same run.
    let weight_bytes = config.parameter_count().unwrap_or(0) as f64 * 4.0;
    let bandwidth = copy_bandwidth_bytes_per_s();
    let read_bandwidth = read_bandwidth_bytes_per_s(false);
    let heap_read_bandwidth = read_bandwidth_bytes_per_s(true);
    let decode_read = weight_bytes * DECODE as f64 / decode_s;
    eprintln!(
        "memory (buffers in huge pages, as the weights): copy {:.1} GB/s (512 MiB, read + write, every core); decode reads weights at {:.1} GB/s = {:.0} % of it; read alone (a sum prefetched {} KiB ahead, every core) {:.1} GB/s = {:.0} % of the copy, decode {:.0} % of it; read alone from the heap's 4 KiB pages {:.1} GB/s",
        bandwidth / 1e9,
        decode_read / 1e9,
        100.0 * decode_read / bandwidth,
        READ_PREFETCH_BYTES / 1024,
        read_bandwidth / 1e9,
        100.0 * read_bandwidth / bandwidth,
        100.0 * decode_read / read_bandwidth,
        heap_read_bandwidth / 1e9
    );
    // bf16 on the CPU: decode reads half the bytes. Two ways, the same prompt and steps:
    // bf16 weights with f32 compute (what `spec-actions serve --dtype bf16` loads on Flex) and
    // bf16 throughout (the GPU setting), each against the f32 decode timed in the same rounds —
    // f32, then each bf16 model, round after round, best of three each — so that a drift of
    // this machine's memory speed between two measurements does not enter the ratio. Each
    // one's last-prompt-position logits against the f32 model's (the mixed-precision tests'
    // 2 % of the largest |logit|).
    let logits_f32 = prefill(&model, &ids, &mut KvCache::new(&config, 1, PROMPT, &device));
    let largest = logits_f32.iter().fold(0f32, |m, v| m.max(v.abs()));
    let models = [
        ("f32", model.clone()),
        (
            "bf16 weights, f32 compute",
            model.clone().cast_weights(FloatDType::BF16),
        ),
        ("bf16 throughout", model.clone().cast_base(FloatDType::BF16)),
    ];
    let mut best_decode = [f64::INFINITY; 3];
    let mut last_logits: [Vec<f32>; 3] = Default::default();
    for run in 0..=REPEATS {
        for (i, (_, m)) in models.iter().enumerate() {
            let mut cache = KvCache::new(&config, 1, PROMPT + DECODE, &device);
            let logits = prefill(m, &ids, &mut cache);
            last_logits[i].clone_from(&logits);
            let t = Instant::now();
            black_box(decode(m, logits, &mut cache, DECODE));
            if run > 0 {
                best_decode[i] = best_decode[i].min(t.elapsed().as_secs_f64());
            }
        }
    }
    let rounds = models.iter().zip(best_decode).zip(&last_logits).skip(1);
    for (((name, _), best_bf16), logits_bf16) in rounds {
        let worst = logits_f32
            .iter()
            .zip(logits_bf16)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!(
            "decode {name} tok/s: {:.2}  ({DECODE} steps in {best_bf16:.3} s, best of {REPEATS}) = {:.2}× f32 decode in the same rounds ({:.2} tok/s); reads weights at {:.1} GB/s = {:.0} % of the copy; logits max |Δ| {:.2} % of max |logit|",
            DECODE as f64 / best_bf16,
            best_decode[0] / best_bf16,
            DECODE as f64 / best_decode[0],
            weight_bytes / 2.0 * DECODE as f64 / best_bf16 / 1e9,
            100.0 * weight_bytes / 2.0 * DECODE as f64 / best_bf16 / bandwidth,
            100.0 * worst / largest
        );
    }
    let [rows, head] = burn_flex::bf16_kernels_chosen();
    eprintln!(
        "bf16 kernels chosen by measurement (burn-flex; FLEX_BF16_KERNEL pins one): rows of [d_in, d_out] (bf16 throughout) {}, dot products (bf16 weights' projections, tied head) {}",
        rows.unwrap_or("none"),
        head.unwrap_or("none")
    );
    let [rows, head] = burn_flex::f32_kernels_chosen();
    eprintln!(
        "f32 kernels chosen by measurement (burn-flex; FLEX_F32_ROW_KERNEL / FLEX_F32_DOT_KERNEL pin one): rows of [d_in, d_out] (f32 projections) {}, dot products (tied head) {}",
        rows.unwrap_or("none"),
        head.unwrap_or("none")
    );
    eprintln!(
        "scoring / prefill: {:.3}  (nine kinds, {} candidate tokens: {scoring:.3} s vs {one_prefill:.3} s, best of {REPEATS})",
        scoring / one_prefill,
        candidates.iter().map(Vec::len).sum::<usize>()
    );

    // The PyTorch eager anchor on the same shapes, in the same run, when a Python with torch and
    // transformers is found ($SPEC_ACTIONS_PYTHON, else python3).
    match pytorch_anchor() {
        Some((p, d)) => eprintln!(
            "pytorch eager: prefill {p:.1} tok/s, decode {d:.2} tok/s  →  ratios (ours / pytorch): prefill {:.2}×, decode {:.2}×",
            PROMPT as f64 / prefill_s / p,
            DECODE as f64 / decode_s / d
        ),
        None => eprintln!(
            "pytorch anchor unavailable (set SPEC_ACTIONS_PYTHON to a Python with torch + transformers)"
        ),
    }

    let mut group = c.benchmark_group("qwen3_0.6b_f32_flex");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(PROMPT as u64));
    group.bench_function("prefill_128", |b| {
        b.iter(|| {
            let mut cache = KvCache::new(&config, 1, PROMPT + DECODE, &device);
            black_box(prefill(&model, &ids, &mut cache))
        })
    });
    group.throughput(Throughput::Elements(DECODE as u64));
    group.bench_function("decode_32", |b| {
        b.iter_batched(
            || {
                let mut cache = KvCache::new(&config, 1, PROMPT + DECODE, &device);
                let logits = prefill(&model, &ids, &mut cache);
                (logits, cache)
            },
            |(logits, mut cache)| black_box(decode(&model, logits, &mut cache, DECODE)),
            BatchSize::PerIteration,
        )
    });
    group.throughput(Throughput::Elements(PROMPT as u64));
    group.bench_function("prefill_prompt", |b| {
        b.iter(|| {
            let mut cache = KvCache::new(&config, 1, PROMPT, &device);
            black_box(prefill(&model, &ids, &mut cache))
        })
    });
    group.bench_function("score_nine_kinds", |b| {
        b.iter(|| black_box(score_continuations(&model, &ids, &candidates).ok()))
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    // Freed tensors stay in the heap (see `spec_actions_qwen3::allocator`), as in the pipeline.
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
