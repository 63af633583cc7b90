//! Autoregressive generation with a KV cache: left-padded batches of different prompts,
//! greedy or seeded temperature/top-p sampling (one RNG for the batch, or one per row), stop
//! tokens, a new-token budget, and the LM head evaluated at the last position only.
//!
//! Rows that share a prompt are prefilled once (the prompt's cache is copied to each of them);
//! rows that finish leave the batch (unless one RNG is shared by the batch, whose stream needs
//! every row to keep drawing).

use std::time::Instant;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::causal_lm::CausalLm;
use crate::error::{Qwen3Error, Result};
use crate::model::{KvCache, positions_from_mask};
use crate::simd;

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The arg-max token (ties: the lowest id, as `torch.argmax`).
    Greedy,
    /// Softmax of `logits / temperature`, restricted to the smallest set of most probable
    /// tokens whose mass reaches `top_p` (nucleus sampling), drawn with a ChaCha8 RNG seeded
    /// with `seed`: the same seed gives the same tokens. One RNG serves the whole batch (row by
    /// row at each step), so a row's tokens depend on the other rows.
    TopP { temperature: f32, top_p: f32, seed: u64 },
    /// One rule per prompt row (as many as prompts), each sampled row drawing from its own RNG:
    /// a row's tokens are those it would get alone, whatever batch it is in.
    PerRow(Vec<RowSampling>),
}

/// The rule of one row of [`Sampling::PerRow`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowSampling {
    /// The arg-max token.
    Greedy,
    /// Nucleus sampling as [`Sampling::TopP`], with this row's own ChaCha8 RNG seeded with `seed`.
    TopP { temperature: f32, top_p: f32, seed: u64 },
}

/// Settings of one [`generate`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most tokens generated per row (the stop token included).
    pub max_new_tokens: usize,
    /// Generation of a row ends after it produces one of these (e.g. `<|im_end|>`).
    pub stop_tokens: Vec<u32>,
    pub sampling: Sampling,
}

impl GenerationConfig {
    /// Greedy decoding of at most `max_new_tokens`, with no stop token.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            stop_tokens: Vec::new(),
            sampling: Sampling::Greedy,
        }
    }

    /// Adds stop tokens.
    pub fn with_stop_tokens(mut self, stop_tokens: impl IntoIterator<Item = u32>) -> Self {
        self.stop_tokens = stop_tokens.into_iter().collect();
        self
    }

    /// Replaces the sampling rule.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It produced a stop token (the last of its tokens).
    Stop,
    /// It reached `max_new_tokens`.
    Length,
}

/// The new tokens of one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedSequence {
    /// Generated token ids, ending with the stop token when `finish == Stop`.
    pub tokens: Vec<u32>,
    /// `log p(tokens[i] | prompt, tokens[..i])` under the model's own distribution
    /// (temperature 1, whatever the sampling settings), one per generated token.
    pub token_logprobs: Vec<f32>,
    pub finish: FinishReason,
}

impl GeneratedSequence {
    /// Log-probability of the whole output (sum of [`Self::token_logprobs`]).
    pub fn logprob(&self) -> f32 {
        self.token_logprobs.iter().sum()
    }
}

/// Measured wall time of one [`generate_timed`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GenerationTiming {
    /// The prefill of the distinct prompts and the choice of every row's first token.
    pub prefill_ms: f64,
    /// Every later step.
    pub decode_ms: f64,
}

/// Most prompt tokens (rows × padded length) of one prefill pass: a batch of long prompts is
/// prefilled in groups, which bounds the attention scores held at once (rows × heads × len²).
const PREFILL_TOKENS: usize = 4096;

/// Generates continuations of a batch of prompts (of any lengths: rows are left-padded and
/// positions count from each row's first real token, as transformers' `generate()`).
pub fn generate<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<Vec<GeneratedSequence>> {
    generate_timed(model, prompts, config).map(|(outputs, _)| outputs)
}

/// How each row chooses its tokens: the rule, and its RNG when it has its own.
enum Chooser {
    Greedy,
    Shared {
        temperature: f32,
        top_p: f32,
        rng: Box<ChaCha8Rng>,
    },
    PerRow(Vec<(RowSampling, Option<ChaCha8Rng>)>),
}

fn check_top_p(temperature: f32, top_p: f32) -> Result<()> {
    if temperature > 0.0 && top_p > 0.0 && top_p <= 1.0 {
        Ok(())
    } else {
        Err(Qwen3Error::InvalidInput(format!(
            "sampling needs temperature > 0 and 0 < top_p <= 1, got temperature {temperature}, top_p {top_p}"
        )))
    }
}

impl Chooser {
    fn new(sampling: &Sampling, rows: usize) -> Result<Self> {
        Ok(match sampling {
            Sampling::Greedy => Chooser::Greedy,
            &Sampling::TopP {
                temperature,
                top_p,
                seed,
            } => {
                check_top_p(temperature, top_p)?;
                Chooser::Shared {
                    temperature,
                    top_p,
                    rng: Box::new(ChaCha8Rng::seed_from_u64(seed)),
                }
            }
            Sampling::PerRow(rules) => {
                if rules.len() != rows {
                    return Err(Qwen3Error::InvalidInput(format!(
                        "per-row sampling gives {} rules for {rows} prompts",
                        rules.len()
                    )));
                }
                let mut out = Vec::with_capacity(rows);
                for &rule in rules {
                    let rng = match rule {
                        RowSampling::Greedy => None,
                        RowSampling::TopP {
                            temperature,
                            top_p,
                            seed,
                        } => {
                            check_top_p(temperature, top_p)?;
                            Some(ChaCha8Rng::seed_from_u64(seed))
                        }
                    };
                    out.push((rule, rng));
                }
                Chooser::PerRow(out)
            }
        })
    }

    /// Whether finished rows must keep running (a shared RNG draws for every row at every step).
    fn keeps_finished_rows(&self) -> bool {
        matches!(self, Chooser::Shared { .. })
    }

    /// The token of each row in `rows` (original row indices, increasing) and its
    /// log-probability, from `logits` (`rows.len() * vocab` values). Rows with their own rule
    /// are chosen on all cores.
    fn choose(&mut self, logits: &[f32], vocab: usize, rows: &[usize]) -> Vec<(u32, f32)> {
        match self {
            Chooser::Shared {
                temperature,
                top_p,
                rng,
            } => logits
                .chunks(vocab)
                .map(|l| sampled_pick(l, *temperature, *top_p, rng.as_mut()))
                .collect(),
            Chooser::Greedy => parallel_map(logits.chunks(vocab).collect(), greedy_pick),
            Chooser::PerRow(rules) => {
                // the rule of each active row, borrowed mutably (rows are increasing)
                let mut wanted = rows.iter().peekable();
                let active_rules: Vec<&mut (RowSampling, Option<ChaCha8Rng>)> = rules
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(i, rule)| wanted.next_if_eq(&&i).map(|_| rule))
                    .collect();
                let items = logits.chunks(vocab).zip(active_rules).collect();
                parallel_map(items, |(l, (rule, rng))| match (rule, rng.as_mut()) {
                    (
                        RowSampling::TopP {
                            temperature, top_p, ..
                        },
                        Some(rng),
                    ) => sampled_pick(l, *temperature, *top_p, rng),
                    _ => greedy_pick(l),
                })
            }
        }
    }
}

/// `items.map(f)`, in order, split over the available cores.
pub(crate) fn parallel_map<I: Send, T: Send>(mut items: Vec<I>, f: impl Fn(I) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 || items.len() < 4 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    while items.len() > per {
        let tail = items.split_off(items.len() - per);
        parts.push(tail);
    }
    parts.push(items);
    parts.reverse();
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// [`generate`], with the measured time of its prefill and of its decode steps.
pub fn generate_timed<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<(Vec<GeneratedSequence>, GenerationTiming)> {
    validate_prompts(model, prompts)?;
    let mut chooser = Chooser::new(&config.sampling, prompts.len())?;
    let started = Instant::now();
    let device = model.device();
    let vocab = model.vocab_size();
    let batch = prompts.len();
    let prompt_len = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let capacity = prompt_len + config.max_new_tokens;

    // 1. The distinct prompts (`source[row]` is a row's), left-padded; padding keys are masked.
    let mut distinct: Vec<&Vec<u32>> = Vec::new();
    let source: Vec<usize> = prompts
        .iter()
        .map(|p| {
            distinct.iter().position(|d| *d == p).unwrap_or_else(|| {
                distinct.push(p);
                distinct.len() - 1
            })
        })
        .collect();
    let valid_of = |p: &[u32]| -> Vec<bool> { (0..prompt_len).map(|j| j >= prompt_len - p.len()).collect() };

    // 2. Prefill the distinct prompts, in groups of at most `PREFILL_TOKENS` tokens, into
    //    caches sized for the whole generation; one cache row per prompt row.
    let group = (PREFILL_TOKENS / prompt_len.max(1)).max(1);
    let mut caches = Vec::new();
    let mut distinct_logits: Vec<f32> = Vec::with_capacity(distinct.len() * vocab);
    for part in distinct.chunks(group) {
        let key_valid: Vec<Vec<bool>> = part.iter().map(|p| valid_of(p)).collect();
        let ids: Vec<i64> = part
            .iter()
            .flat_map(|p| {
                std::iter::repeat_n(0i64, prompt_len - p.len()).chain(p.iter().map(|&t| i64::from(t)))
            })
            .collect();
        let positions: Vec<Vec<usize>> = key_valid.iter().map(|row| positions_from_mask(row)).collect();
        let mut cache = model.new_cache(part.len(), capacity, &device);
        let ctx = model.step_context(&key_valid, &positions, 0, &device);
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [part.len(), prompt_len]), &device);
        distinct_logits.extend(last_position_logits(
            model,
            model.forward_hidden(input, &ctx, Some(&mut cache), None),
        ));
        caches.push(cache);
    }
    let cache = KvCache::cat_rows(caches);
    let identity = source.iter().enumerate().all(|(row, &s)| row == s);
    let mut cache = if identity {
        cache
    } else {
        cache.select_rows(&source)
    };
    let mut last_logits: Vec<f32> = if identity {
        distinct_logits
    } else {
        source
            .iter()
            .flat_map(|&s| distinct_logits[s * vocab..(s + 1) * vocab].iter().copied())
            .collect()
    };
    let mut key_valid: Vec<Vec<bool>> = source.iter().map(|&s| valid_of(distinct[s])).collect();
    let mut next_position: Vec<usize> = prompts.iter().map(Vec::len).collect();

    // 3. Decode one token per step. `active` holds the original rows still in the batch (in
    //    the order of the cache's rows).
    let mut outputs: Vec<GeneratedSequence> = (0..batch)
        .map(|_| GeneratedSequence {
            tokens: Vec::new(),
            token_logprobs: Vec::new(),
            finish: FinishReason::Length,
        })
        .collect();
    let mut active: Vec<usize> = (0..batch).collect();
    let mut done = vec![false; batch];
    let mut timing = GenerationTiming::default();
    for step in 0..config.max_new_tokens {
        let chosen = chooser.choose(&last_logits, vocab, &active);
        if step == 0 {
            timing.prefill_ms = started.elapsed().as_secs_f64() * 1e3;
        }
        let mut step_ids = Vec::with_capacity(active.len());
        for (&row, &(token, logprob)) in active.iter().zip(&chosen) {
            if !done[row] {
                let out = &mut outputs[row];
                out.tokens.push(token);
                out.token_logprobs.push(logprob);
                if config.stop_tokens.contains(&token) {
                    out.finish = FinishReason::Stop;
                    done[row] = true;
                }
            }
            step_ids.push(i64::from(token));
        }
        if done.iter().all(|&d| d) || step + 1 == config.max_new_tokens {
            break;
        }
        // 4. Finished rows leave the batch (their output is frozen); with a shared RNG they
        //    keep running so that the stream of draws is that of the whole batch.
        if !chooser.keeps_finished_rows() && active.iter().any(|&r| done[r]) {
            let keep: Vec<usize> = (0..active.len()).filter(|&i| !done[active[i]]).collect();
            cache = cache.select_rows(&keep);
            active = keep.iter().map(|&i| active[i]).collect();
            step_ids = keep.iter().map(|&i| step_ids[i]).collect();
            key_valid = keep.iter().map(|&i| std::mem::take(&mut key_valid[i])).collect();
        }
        // 5. Feed the chosen tokens.
        let past_len = cache.len();
        for row in &mut key_valid {
            row.push(true);
        }
        let positions: Vec<Vec<usize>> = active.iter().map(|&r| vec![next_position[r]]).collect();
        for &r in &active {
            next_position[r] += 1;
        }
        let ctx = model.step_context(&key_valid, &positions, past_len, &device);
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(step_ids, [active.len(), 1]), &device);
        last_logits = last_position_logits(model, model.forward_hidden(input, &ctx, Some(&mut cache), None));
    }
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    timing.decode_ms = (total_ms - timing.prefill_ms).max(0.0);
    Ok((outputs, timing))
}

/// `log softmax(logits)[token]`, with the maximum subtracted before exponentiating.
pub fn log_softmax_at(logits: &[f32], token: u32) -> f32 {
    simd::dispatch(
        #[inline(always)]
        || log_softmax_at_lanes(logits, token),
    )
}

#[inline(always)]
fn log_softmax_at_lanes(logits: &[f32], token: u32) -> f32 {
    log_softmax_at_max(logits, token, max_lanes(logits))
}

/// [`log_softmax_at`] given the logits' maximum `max` (NaNs ignored).
#[inline(always)]
fn log_softmax_at_max(logits: &[f32], token: u32, max: f32) -> f32 {
    logits[token as usize] - max - sum_exp_lanes(logits, max, 1.0).ln() as f32
}

/// The largest value, NaNs ignored (`f32::NEG_INFINITY` when there is none): the value
/// `values.iter().fold(f32::NEG_INFINITY, f32::max)` gives, in sixteen lanes that vectorize
/// (a maximum does not depend on the order it is taken in). The scalar fold was the slowest
/// pass of a decode step's log-probability.
#[inline(always)]
fn max_lanes(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = values.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v);
        }
    }
    lanes
        .iter()
        .chain(rest)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// A greedy row's token and its log-probability (the maximum found once for both).
fn greedy_pick(logits: &[f32]) -> (u32, f32) {
    simd::dispatch(
        #[inline(always)]
        || {
            let max = max_lanes(logits);
            let token = argmax_of(logits, max);
            (token, log_softmax_at_max(logits, token, max))
        },
    )
}

/// A sampled row's token ([`sample_top_p`]) and its log-probability under the untempered
/// softmax (the maximum found once for both).
fn sampled_pick(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> (u32, f32) {
    simd::dispatch(
        #[inline(always)]
        || {
            let max = max_lanes(logits);
            let token = sample_top_p_max(logits, max, temperature, top_p, rng);
            (token, log_softmax_at_max(logits, token, max))
        },
    )
}

/// `Σ e^((l − max) / temperature)` over `logits` (`max` their maximum), in f64: eight lanes of
/// [`exp_nonpositive`] accumulated side by side, which the compiler vectorizes — a call of
/// libm's `expf` per vocabulary entry made a decode step's log-probability and nucleus
/// sampling cost more than its forward pass at Qwen3's 151,936 tokens.
///
/// Compiled for the CPU's widest SIMD registers at run time ([`simd::dispatch`]), with the
/// same result at every level.
pub fn sum_exp(logits: &[f32], max: f32, temperature: f32) -> f64 {
    simd::dispatch(
        #[inline(always)]
        || sum_exp_lanes(logits, max, temperature),
    )
}

#[inline(always)]
fn sum_exp_lanes(logits: &[f32], max: f32, temperature: f32) -> f64 {
    let inv = 1.0 / temperature;
    let mut lanes = [0.0f64; 8];
    let chunks = logits.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &l) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(exp_nonpositive((l - max) * inv));
        }
    }
    let rest: f64 = rest
        .iter()
        .map(|&l| f64::from(exp_nonpositive((l - max) * inv)))
        .sum();
    lanes.iter().sum::<f64>() + rest
}

/// `e^x` for `x ≤ 0`, in f32, without branches or calls (so that loops over a vocabulary
/// vectorize): Cephes' `expf` — `x = n·ln 2 + r` with `n` rounded to nearest by the
/// 1.5·2²³ trick and `ln 2` in two parts, a degree-5 minimax polynomial for `e^r` on
/// `|r| ≤ ln 2 / 2`, and `2^n` built in the exponent bits. Within 2 ulp of the exact value on
/// `[−87, 0]` (tested against `f64::exp`); arguments below −87 (where `e^x < 2^−125`, NaN
/// included) give `e^−87`, far under the resolution of any sum holding `e^0 = 1`.
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    // a select, not a branch; NaN fails the comparison and becomes −87
    let x = if x >= -87.0 { x.min(0.0) } else { -87.0 };
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// Rejects empty batches, empty prompts and out-of-vocabulary ids.
pub(crate) fn validate_prompts<B: Backend, M: CausalLm<B>>(model: &M, prompts: &[Vec<u32>]) -> Result<()> {
    if prompts.is_empty() {
        return Err(Qwen3Error::InvalidInput("no prompt given".into()));
    }
    for (row, prompt) in prompts.iter().enumerate() {
        validate_tokens(model, prompt, &format!("prompt {row}"))?;
    }
    Ok(())
}

pub(crate) fn validate_tokens<B: Backend, M: CausalLm<B>>(
    model: &M,
    tokens: &[u32],
    what: &str,
) -> Result<()> {
    if tokens.is_empty() {
        return Err(Qwen3Error::InvalidInput(format!("{what} is empty")));
    }
    let vocab = model.vocab_size();
    if let Some(bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(Qwen3Error::InvalidInput(format!(
            "{what} holds token id {bad}, outside the vocabulary of {vocab}"
        )));
    }
    Ok(())
}

/// Logits of the last position only, on the host.
///
/// # Shapes
/// - `hidden`: `[batch, seq, hidden]`
/// - returns `batch * vocab` values, row-major
fn last_position_logits<B: Backend, M: CausalLm<B>>(model: &M, hidden: Tensor<B, 3>) -> Vec<f32> {
    let [b, s, h] = hidden.dims();
    let last = hidden.slice([0..b, s - 1..s, 0..h]);
    model
        .logits(last)
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}

/// Index of the largest value; the first one on ties.
pub fn argmax(values: &[f32]) -> u32 {
    simd::dispatch(
        #[inline(always)]
        || argmax_scan(values),
    )
}

#[inline(always)]
fn argmax_scan(values: &[f32]) -> u32 {
    // What `best = i if values[i] > values[best]` computes, in two passes that vectorise: a NaN
    // is never greater, so a NaN first value stays the answer and later NaNs are skipped; the
    // answer is otherwise the first position of the largest non-NaN value (−0.0 == 0.0).
    match values.first() {
        None => 0,
        Some(first) if first.is_nan() => 0,
        Some(_) => argmax_of(values, max_lanes(values)),
    }
}

/// [`argmax_scan`] given the maximum `max` of `values` (NaNs ignored).
#[inline(always)]
fn argmax_of(values: &[f32], max: f32) -> u32 {
    match values.first() {
        Some(first) if first.is_nan() => 0,
        _ => values.iter().position(|&v| v == max).unwrap_or(0) as u32,
    }
}

/// Nucleus sampling: temperature, then the smallest top set whose probability reaches
/// `top_p` (at least one token), renormalised, then one draw.
pub fn sample_top_p(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> u32 {
    simd::dispatch(
        #[inline(always)]
        || sample_top_p_lanes(logits, temperature, top_p, rng),
    )
}

#[inline(always)]
fn sample_top_p_lanes(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> u32 {
    sample_top_p_max(logits, max_lanes(logits), temperature, top_p, rng)
}

/// [`sample_top_p`] given the maximum `max` of `logits` (NaNs ignored).
#[inline(always)]
fn sample_top_p_max(logits: &[f32], max: f32, temperature: f32, top_p: f32, rng: &mut impl Rng) -> u32 {
    let inv = 1.0 / temperature;
    let prob = |l: f32| exp_nonpositive((l - max) * inv);
    let total = sum_exp_lanes(logits, max, temperature) as f32;
    // Tokens by decreasing probability (ties by id); the nucleus is the shortest prefix of that
    // order holding `top_p` of the mass. Every token below `floor = (1 - top_p) / n` of the mass
    // lies outside it (together they hold less than `1 - top_p`, and they come last), so only
    // the `m` tokens at or above the floor are selected (linear time) and sorted: the same
    // tokens in the same order as a sort of the whole vocabulary, at a fraction of its cost
    // whenever the distribution is peaked.
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let n = logits.len();
    let floor = (1.0 - top_p).max(0.0) * total / n as f32;
    let nucleus_end = |probs: &[(u32, f32)]| {
        let mut mass = 0.0f32;
        probs.iter().position(|(_, p)| {
            mass += p / total;
            mass >= top_p
        })
    };
    let draw = |probs: &[(u32, f32)], rng: &mut dyn FnMut() -> f32| {
        let kept_total: f32 = probs.iter().map(|p| p.1).sum();
        let mut draw = rng() * kept_total;
        for &(token, p) in probs {
            if draw < p {
                return token;
            }
            draw -= p;
        }
        probs[probs.len() - 1].0
    };
    // 1. The tokens at or above the floor, found without an exponential per vocabulary entry:
    //    `p ≥ floor` needs `(l − max) / T ≥ ln floor` up to the 2 ulp of `exp_nonpositive` and
    //    the roundings of the bound, which the margin (1e-2 in log space, plus a relative term
    //    for large logits) covers many times over; a token past the bound but under the floor
    //    is dropped by the same test as before. Same tokens, same order, same draw; when they
    //    do not reach `top_p` (rounding) the whole-vocabulary path below decides, as before.
    if floor >= 1e-30 {
        let margin = 1e-2 * temperature + 1e-5 * max.abs();
        let bound = max + floor.ln() * temperature - margin;
        let mut probs: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l >= bound)
            .map(|(i, &l)| (i as u32, prob(l)))
            .filter(|&(_, p)| p >= floor)
            .collect();
        probs.sort_by(order);
        if let Some(i) = nucleus_end(&probs) {
            return draw(&probs[..=i], &mut || rng.random::<f32>());
        }
    }
    // 2. Every token: those at or above the floor moved to the front and sorted, then the
    //    whole vocabulary if rounding kept their mass just under `top_p`.
    let mut probs: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, prob(l)))
        .collect();
    // The tokens at or above the floor, moved to the front by one linear pass (a comparison of
    // probabilities only): they are exactly the first `m` of the order, which a selection by
    // the order would find at many times the cost.
    let mut m = 0usize;
    for j in 0..n {
        if probs[j].1 >= floor {
            probs.swap(m, j);
            m += 1;
        }
    }
    if m == 0 {
        // only when rounding put every token under the floor: the first of the order
        probs.select_nth_unstable_by(0, order);
        m = 1;
    }
    probs[..m].sort_by(order);
    let mut reached = nucleus_end(&probs[..m]);
    if reached.is_none() && m < n {
        // rounding kept the mass of the first `m` just under `top_p`: sort everything
        probs.sort_by(order);
        reached = nucleus_end(&probs);
    }
    let kept = reached.map_or(n, |i| i + 1);
    draw(&probs[..kept], &mut || rng.random::<f32>())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Every SIMD level this CPU offers computes the decoding loops bit for bit as the
    /// portable build does (the `_lanes` / `_scan` bodies called without dispatch), on a
    /// real vocabulary's worth of logits with ties, a NaN and −0.0 / 0.0.
    #[test]
    fn every_simd_level_decodes_as_the_portable_build() {
        use crate::simd::{SimdLevel, dispatch_at};
        let vocab = 151_936;
        let mut logits: Vec<f32> = (0..vocab)
            .map(|i| ((i as f32) * 0.618_034).sin() * 9.0 + if i % 7919 == 0 { 14.0 } else { 0.0 })
            .collect();
        logits[5] = f32::NAN;
        (logits[100], logits[200]) = (30.0, 30.0);
        let max = logits
            .iter()
            .copied()
            .filter(|l| !l.is_nan())
            .fold(f32::NEG_INFINITY, f32::max);
        let reference = (
            sum_exp_lanes(&logits, max, 0.8),
            argmax_scan(&logits),
            log_softmax_at_lanes(&logits, 4242),
            sample_top_p_lanes(&logits, 0.8, 0.95, &mut ChaCha8Rng::seed_from_u64(3)),
        );
        // the loop `best = i if v > values[best]` that argmax_scan replaces
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        assert_eq!(reference.1, best as u32);
        assert_eq!(reference.1, 100, "the first of the tied maxima");
        for level in [SimdLevel::Avx512, SimdLevel::Avx2, SimdLevel::Portable] {
            let got = dispatch_at(
                level,
                #[inline(always)]
                || {
                    (
                        sum_exp_lanes(&logits, max, 0.8),
                        argmax_scan(&logits),
                        log_softmax_at_lanes(&logits, 4242),
                        sample_top_p_lanes(&logits, 0.8, 0.95, &mut ChaCha8Rng::seed_from_u64(3)),
                    )
                },
            );
            assert_eq!(got.0.to_bits(), reference.0.to_bits(), "{level:?}");
            assert_eq!((got.1, got.3), (reference.1, reference.3), "{level:?}");
            assert_eq!(got.2.to_bits(), reference.2.to_bits(), "{level:?}");
        }
        // the public entry points dispatch at the detected level
        assert_eq!(sum_exp(&logits, max, 0.8).to_bits(), reference.0.to_bits());
        assert_eq!(argmax(&logits), reference.1);
        let nan_first = [f32::NAN, 1.0, 2.0];
        assert_eq!(argmax(&nan_first), 0);
        assert_eq!(argmax(&[-0.0, 0.0, -1.0]), 0);
    }

    /// The nucleus sampler as first written: sort the whole vocabulary.
    fn sample_top_p_full_sort(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> u32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let inv = 1.0 / temperature;
        let mut probs: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, exp_nonpositive((l - max) * inv)))
            .collect();
        let total = sum_exp_lanes(logits, max, temperature) as f32;
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = 0usize;
        let mut mass = 0.0f32;
        for (_, p) in &probs {
            kept += 1;
            mass += p / total;
            if mass >= top_p {
                break;
            }
        }
        let probs = &probs[..kept];
        let kept_total: f32 = probs.iter().map(|p| p.1).sum();
        let mut draw = rng.random::<f32>() * kept_total;
        for &(token, p) in probs {
            if draw < p {
                return token;
            }
            draw -= p;
        }
        probs[kept - 1].0
    }

    /// Peaked, flat and tied distributions, nuclei from one token to the whole vocabulary: the
    /// prefix sort draws exactly the tokens the full sort draws from the same random stream.
    #[test]
    fn prefix_sorted_nucleus_draws_what_a_full_sort_draws() {
        let mut source = ChaCha8Rng::seed_from_u64(11);
        for (vocab, spread) in [(5000usize, 8.0f32), (5000, 0.01), (300, 3.0), (1, 1.0)] {
            let mut logits: Vec<f32> = (0..vocab).map(|_| source.random::<f32>() * spread).collect();
            if vocab > 10 {
                logits[7] = logits[3]; // a tie, broken by id
            }
            for (temperature, top_p) in [(1.0, 0.9), (0.7, 0.5), (1.3, 0.999), (1.0, 1.0), (1.0, 1e-6)] {
                let mut a = ChaCha8Rng::seed_from_u64(5);
                let mut b = ChaCha8Rng::seed_from_u64(5);
                for _ in 0..20 {
                    assert_eq!(
                        sample_top_p(&logits, temperature, top_p, &mut a),
                        sample_top_p_full_sort(&logits, temperature, top_p, &mut b),
                        "vocab {vocab}, spread {spread}, T {temperature}, top_p {top_p}"
                    );
                }
            }
        }
    }

    /// Far from zero (logits around ±1,000, where the bound on the logit rounds coarsely) the
    /// sampler still draws what the full sort draws, and the pick of a row (token and
    /// log-probability, the maximum taken once) equals `argmax` / `sample_top_p` followed by
    /// `log_softmax_at`, bit for bit.
    #[test]
    fn picks_equal_their_separate_steps_at_any_logit_offset() {
        let mut source = ChaCha8Rng::seed_from_u64(17);
        for offset in [-1000.0f32, 0.0, 1000.0] {
            let logits: Vec<f32> = (0..20_000)
                .map(|_| source.random::<f32>() * 6.0 + offset)
                .collect();
            for (temperature, top_p) in [(0.8, 0.95), (1.0, 0.5), (0.3, 0.99)] {
                let (mut a, mut b, mut c) = (
                    ChaCha8Rng::seed_from_u64(9),
                    ChaCha8Rng::seed_from_u64(9),
                    ChaCha8Rng::seed_from_u64(9),
                );
                for _ in 0..10 {
                    let full = sample_top_p_full_sort(&logits, temperature, top_p, &mut a);
                    let (token, logprob) = sampled_pick(&logits, temperature, top_p, &mut b);
                    assert_eq!(token, full, "offset {offset}, T {temperature}, top_p {top_p}");
                    assert_eq!(sample_top_p(&logits, temperature, top_p, &mut c), full);
                    assert_eq!(logprob.to_bits(), log_softmax_at(&logits, token).to_bits());
                }
            }
            let (token, logprob) = greedy_pick(&logits);
            assert_eq!(token, argmax(&logits));
            assert_eq!(logprob.to_bits(), log_softmax_at(&logits, token).to_bits());
        }
    }

    #[test]
    fn exp_nonpositive_is_within_two_ulp_of_the_exact_value() {
        let mut worst = 0.0f64;
        for i in 0..=2_000_000u32 {
            let x = -87.0 * i as f32 / 2_000_000.0;
            let exact = f64::from(x).exp();
            let got = f64::from(exp_nonpositive(x));
            // one ulp of the exact value in f32
            let ulp = f64::from(f32::EPSILON) * exact;
            worst = worst.max((got - exact).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
        assert!(exp_nonpositive(f32::NAN).is_finite());
    }

    #[test]
    fn log_softmax_at_matches_an_f64_reference_over_a_real_vocabulary() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let logits: Vec<f32> = (0..151_936).map(|_| rng.random::<f32>() * 40.0 - 30.0).collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let reference: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum::<f64>().ln();
        for token in [0u32, 7, 151_935, argmax(&logits)] {
            let want = f64::from(logits[token as usize]) - f64::from(max) - reference;
            let got = f64::from(log_softmax_at(&logits, token));
            assert!((got - want).abs() < 1e-5, "token {token}: {got} vs {want}");
        }
    }
}
