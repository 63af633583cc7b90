//! One-pass scoring of candidate continuations: the prompt is prefilled once, its KV cache
//! is shared by a batch of all candidates, and each candidate gets its per-token and total
//! log-probability. This is how the nine action kinds are ranked.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::error::{Qwen3Error, Result};
use crate::generate::validate_tokens;
use crate::model::{KvCache, Qwen3, StepContext};

/// Log-probabilities of one candidate continuation given the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateScore {
    /// `log p(candidate[i] | prompt, candidate[..i])` for every token `i`.
    pub token_logprobs: Vec<f32>,
    /// Sum of `token_logprobs`.
    pub total: f32,
}

impl CandidateScore {
    /// Average log-probability per token (length-normalised score).
    pub fn mean(&self) -> f32 {
        self.total / self.token_logprobs.len().max(1) as f32
    }
}

/// Scores every candidate continuation of `prompt`.
///
/// 1. The prompt is run once (batch 1) into a KV cache; the LM head is applied at its last
///    position only, giving every candidate's first-token distribution.
/// 2. The cache is expanded to one row per candidate and all candidates (right-padded,
///    without their last token, whose output is not needed) run as one batch.
/// 3. Log-softmax over the vocabulary, then each candidate's own next tokens are gathered.
pub fn score_continuations<B: Backend>(
    model: &Qwen3<B>,
    prompt: &[u32],
    candidates: &[Vec<u32>],
) -> Result<Vec<CandidateScore>> {
    validate_tokens(model, prompt, "the prompt")?;
    if candidates.is_empty() {
        return Err(Qwen3Error::InvalidInput("no candidate to score".into()));
    }
    for (i, candidate) in candidates.iter().enumerate() {
        validate_tokens(model, candidate, &format!("candidate {i}"))?;
    }
    let device = model.embed_tokens.weight.device();
    let prompt_len = prompt.len();
    let n = candidates.len();
    let longest = candidates.iter().map(Vec::len).max().unwrap_or(1);

    // 1. Prefill the prompt once.
    let mut cache = KvCache::new(&model.config, 1, prompt_len, &device);
    let positions = vec![(0..prompt_len).collect::<Vec<_>>()];
    let ctx = StepContext::new(&model.rotary, &[vec![true; prompt_len]], &positions, 0, &device);
    let ids: Vec<i64> = prompt.iter().map(|&t| i64::from(t)).collect();
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, prompt_len]), &device);
    let hidden = model.forward_hidden(input, &ctx, Some(&mut cache), None);
    let [_, s, h] = hidden.dims();
    let first: Vec<f32> = host(log_softmax(model.logits(hidden.slice([0..1, s - 1..s, 0..h])), 2));

    let mut scores: Vec<CandidateScore> = candidates
        .iter()
        .map(|c| {
            let lp = first[c[0] as usize];
            CandidateScore { token_logprobs: vec![lp], total: lp }
        })
        .collect();
    if longest == 1 {
        return Ok(scores);
    }

    // 2. All candidates in one batch over the shared prompt cache.
    let steps = longest - 1;
    let mut cache = cache.expand_rows(n, steps);
    let mut ids = Vec::with_capacity(n * steps);
    let mut targets = Vec::with_capacity(n * steps);
    let mut key_valid = Vec::with_capacity(n);
    for c in candidates {
        for i in 0..steps {
            ids.push(c.get(i).map_or(0, |&t| i64::from(t)));
            targets.push(c.get(i + 1).map_or(0, |&t| i64::from(t)));
        }
        key_valid.push((0..prompt_len + steps).map(|j| j < prompt_len + c.len() - 1).collect::<Vec<_>>());
    }
    let positions = vec![(prompt_len..prompt_len + steps).collect::<Vec<_>>(); n];
    let ctx = StepContext::new(&model.rotary, &key_valid, &positions, prompt_len, &device);
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [n, steps]), &device);
    let hidden = model.forward_hidden(input, &ctx, Some(&mut cache), None);

    // 3. Log-softmax and gather each candidate's next tokens.
    let targets = Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [n, steps, 1]), &device);
    let picked = host(log_softmax(model.logits(hidden), 2).gather(2, targets));
    for (row, (score, c)) in scores.iter_mut().zip(candidates).enumerate() {
        for i in 0..c.len() - 1 {
            let lp = picked[row * steps + i];
            score.token_logprobs.push(lp);
            score.total += lp;
        }
    }
    Ok(scores)
}

fn host<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default()
}
