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
/// 2. All candidates, without their last token (whose output is not needed), are packed
///    into one row appended to that cache, with a tree-attention mask: each candidate token
///    attends the prompt and its own earlier tokens only, at the positions it would have
///    alone. Nothing is copied or padded, and the weights are read once for all candidates.
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
    let longest = candidates.iter().map(Vec::len).max().unwrap_or(1);

    // 1. Prefill the prompt once.
    let packed_len: usize = candidates.iter().map(|c| c.len() - 1).sum();
    let mut cache = KvCache::new(&model.config, 1, prompt_len + packed_len, &device);
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
            CandidateScore {
                token_logprobs: vec![lp],
                total: lp,
            }
        })
        .collect();
    if longest == 1 {
        return Ok(scores);
    }

    // 2. Every candidate's tokens but its last, packed into one row after the prompt
    //    (tree attention): token `i` of a candidate sees the prompt and its own tokens
    //    `0..=i`, at positions `prompt_len + i`.
    let mut ids = Vec::new();
    let mut targets = Vec::new();
    let mut positions = Vec::new();
    let mut owner = Vec::new();
    for (c, candidate) in candidates.iter().enumerate() {
        for i in 0..candidate.len() - 1 {
            ids.push(i64::from(candidate[i]));
            targets.push(i64::from(candidate[i + 1]));
            positions.push(prompt_len + i);
            owner.push(c);
        }
    }
    let packed = ids.len();
    let allowed: Vec<Vec<bool>> = (0..packed)
        .map(|q| {
            (0..prompt_len + packed)
                .map(|j| j < prompt_len || (j - prompt_len <= q && owner[j - prompt_len] == owner[q]))
                .collect()
        })
        .collect();
    let ctx = StepContext::with_pattern(&model.rotary, &[allowed], &[positions], prompt_len, &device);
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, packed]), &device);
    let hidden = model.forward_hidden(input, &ctx, Some(&mut cache), None);

    // 3. Log-softmax and gather each candidate's next tokens.
    let targets = Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [1, packed, 1]), &device);
    let picked = host(log_softmax(model.logits(hidden), 2).gather(2, targets));
    for (lp, &c) in picked.into_iter().zip(&owner) {
        scores[c].token_logprobs.push(lp);
        scores[c].total += lp;
    }
    Ok(scores)
}

fn host<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}
