//! Autoregressive generation with a KV cache: left-padded batches, greedy or seeded
//! temperature/top-p sampling, stop tokens, a new-token budget, and the LM head evaluated
//! at the last position only.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Qwen3Error, Result};
use crate::model::{KvCache, Qwen3, StepContext, positions_from_mask};

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The arg-max token (ties: the lowest id, as `torch.argmax`).
    Greedy,
    /// Softmax of `logits / temperature`, restricted to the smallest set of most probable
    /// tokens whose mass reaches `top_p` (nucleus sampling), drawn with a ChaCha8 RNG seeded
    /// with `seed`: the same seed gives the same tokens.
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

/// Generates continuations of a batch of prompts (of any lengths: rows are left-padded and
/// positions count from each row's first real token, as transformers' `generate()`).
pub fn generate<B: Backend>(
    model: &Qwen3<B>,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<Vec<GeneratedSequence>> {
    validate_prompts(model, prompts)?;
    if let Sampling::TopP {
        temperature, top_p, ..
    } = config.sampling
        && !(temperature > 0.0 && top_p > 0.0 && top_p <= 1.0)
    {
        return Err(Qwen3Error::InvalidInput(format!(
            "sampling needs temperature > 0 and 0 < top_p <= 1, got temperature {temperature}, top_p {top_p}"
        )));
    }
    let device = model.embed_tokens.weight.device();
    let batch = prompts.len();
    let prompt_len = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut rng = match config.sampling {
        Sampling::TopP { seed, .. } => Some(ChaCha8Rng::seed_from_u64(seed)),
        Sampling::Greedy => None,
    };

    // 1. Left-pad the prompts; padding keys are masked.
    let mut key_valid: Vec<Vec<bool>> = prompts
        .iter()
        .map(|p| (0..prompt_len).map(|j| j >= prompt_len - p.len()).collect())
        .collect();
    let ids: Vec<i64> = prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(0i64, prompt_len - p.len()).chain(p.iter().map(|&t| i64::from(t))))
        .collect();
    let positions: Vec<Vec<usize>> = key_valid.iter().map(|row| positions_from_mask(row)).collect();
    let mut next_position: Vec<usize> = positions
        .iter()
        .map(|row| row.last().map_or(0, |p| p + 1))
        .collect();

    // 2. Prefill into a cache sized for the whole generation.
    let mut cache = KvCache::new(&model.config, batch, prompt_len + config.max_new_tokens, &device);
    let ctx = StepContext::new(&model.rotary, &key_valid, &positions, 0, &device).cast(model.compute_dtype());
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [batch, prompt_len]), &device);
    let mut last_logits =
        last_position_logits(model, model.forward_hidden(input, &ctx, Some(&mut cache), None));

    // 3. Decode one token per step.
    let mut outputs: Vec<GeneratedSequence> = (0..batch)
        .map(|_| GeneratedSequence {
            tokens: Vec::new(),
            token_logprobs: Vec::new(),
            finish: FinishReason::Length,
        })
        .collect();
    let mut done = vec![false; batch];
    for step in 0..config.max_new_tokens {
        let vocab = model.config.vocab_size;
        let mut step_ids = Vec::with_capacity(batch);
        for (row, out) in outputs.iter_mut().enumerate() {
            let logits = &last_logits[row * vocab..(row + 1) * vocab];
            let token = match (&config.sampling, rng.as_mut()) {
                (
                    Sampling::TopP {
                        temperature, top_p, ..
                    },
                    Some(rng),
                ) => sample_top_p(logits, *temperature, *top_p, rng),
                _ => argmax(logits),
            };
            if !done[row] {
                out.tokens.push(token);
                out.token_logprobs.push(log_softmax_at(logits, token));
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
        // 4. Feed the chosen tokens (finished rows keep running; their output is frozen).
        let past_len = cache.len();
        for row in &mut key_valid {
            row.push(true);
        }
        let positions: Vec<Vec<usize>> = next_position.iter().map(|&p| vec![p]).collect();
        for p in &mut next_position {
            *p += 1;
        }
        let ctx = StepContext::new(&model.rotary, &key_valid, &positions, past_len, &device)
            .cast(model.compute_dtype());
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(step_ids, [batch, 1]), &device);
        last_logits = last_position_logits(model, model.forward_hidden(input, &ctx, Some(&mut cache), None));
    }
    Ok(outputs)
}

/// `log softmax(logits)[token]`, with the maximum subtracted before exponentiating.
pub fn log_softmax_at(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
    logits[token as usize] - max - sum.ln() as f32
}

/// Rejects empty batches, empty prompts and out-of-vocabulary ids.
pub(crate) fn validate_prompts<B: Backend>(model: &Qwen3<B>, prompts: &[Vec<u32>]) -> Result<()> {
    if prompts.is_empty() {
        return Err(Qwen3Error::InvalidInput("no prompt given".into()));
    }
    for (row, prompt) in prompts.iter().enumerate() {
        validate_tokens(model, prompt, &format!("prompt {row}"))?;
    }
    Ok(())
}

pub(crate) fn validate_tokens<B: Backend>(model: &Qwen3<B>, tokens: &[u32], what: &str) -> Result<()> {
    if tokens.is_empty() {
        return Err(Qwen3Error::InvalidInput(format!("{what} is empty")));
    }
    let vocab = model.config.vocab_size;
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
fn last_position_logits<B: Backend>(model: &Qwen3<B>, hidden: Tensor<B, 3>) -> Vec<f32> {
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
    let mut best = 0usize;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Nucleus sampling: temperature, then the smallest top set whose probability reaches
/// `top_p` (at least one token), renormalised, then one draw.
pub fn sample_top_p(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, ((l - max) / temperature).exp()))
        .collect();
    let total: f32 = probs.iter().map(|p| p.1).sum();
    // Tokens by decreasing probability (ties by id); the nucleus is the shortest prefix of that
    // order holding `top_p` of the mass. Every token below `floor = (1 - top_p) / n` of the mass
    // lies outside it (together they hold less than `1 - top_p`, and they come last), so only
    // the `m` tokens at or above the floor are selected (linear time) and sorted: the same
    // tokens in the same order as a sort of the whole vocabulary, at a fraction of its cost
    // whenever the distribution is peaked.
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let n = probs.len();
    let floor = (1.0 - top_p).max(0.0) * total / n as f32;
    let m = probs.iter().filter(|p| p.1 >= floor).count().max(1);
    if m < n {
        probs.select_nth_unstable_by(m - 1, order);
    }
    probs[..m].sort_by(order);
    let nucleus_end = |probs: &[(u32, f32)]| {
        let mut mass = 0.0f32;
        probs.iter().position(|(_, p)| {
            mass += p / total;
            mass >= top_p
        })
    };
    let mut reached = nucleus_end(&probs[..m]);
    if reached.is_none() && m < n {
        // rounding kept the mass of the first `m` just under `top_p`: sort everything
        probs.sort_by(order);
        reached = nucleus_end(&probs);
    }
    let kept = reached.map_or(n, |i| i + 1);
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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The nucleus sampler as first written: sort the whole vocabulary.
    fn sample_top_p_full_sort(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> u32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, ((l - max) / temperature).exp()))
            .collect();
        let total: f32 = probs.iter().map(|p| p.1).sum();
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
}
