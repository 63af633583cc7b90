//! One-pass scoring of candidate continuations: the prompt and all candidates go through the
//! model together, the prompt's keys and values shared by every candidate through a
//! tree-attention mask, and each candidate gets its per-token and total log-probability.
//! This is how the nine action kinds are ranked.

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::log_softmax;

use crate::error::{Qwen3Error, Result};
use crate::generate::validate_tokens;
use crate::model::{Qwen3, StepContext};

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

/// Scores every candidate continuation of `prompt` in one forward pass.
///
/// 1. The prompt and every candidate's tokens but its last (whose output is not needed) are
///    packed into one row: `prompt ++ c₀[..n₀-1] ++ c₁[..n₁-1] ++ …`.
/// 2. A tree-attention mask makes the pass equal to scoring each candidate alone: prompt
///    tokens attend causally; token `i` of a candidate attends the whole prompt and its own
///    tokens `0..=i`, at position `prompt_len + i`. The prompt's keys and values are computed
///    once and shared by every candidate; nothing is copied or padded, and the weights are
///    read once for the prompt and all candidates together.
/// 3. The LM head runs only where a candidate token is predicted: the prompt's last position
///    (every candidate's first token) and the packed positions; log-softmax over the
///    vocabulary, then each candidate's own next tokens are gathered.
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

    // 1. One row: the prompt, then the packed candidates. `owner[i]` is the candidate of
    //    packed token `i`, `targets[i]` the token it predicts.
    let mut ids: Vec<i64> = prompt.iter().map(|&t| i64::from(t)).collect();
    let mut positions: Vec<usize> = (0..prompt_len).collect();
    let mut owner = Vec::new();
    let mut targets = Vec::new();
    for (c, candidate) in candidates.iter().enumerate() {
        for i in 0..candidate.len() - 1 {
            ids.push(i64::from(candidate[i]));
            targets.push(i64::from(candidate[i + 1]));
            positions.push(prompt_len + i);
            owner.push(c);
        }
    }
    let packed = owner.len();
    let total = prompt_len + packed;

    // 2. Causal over the prompt, tree attention over the candidates.
    let allowed: Vec<Vec<bool>> = (0..total)
        .map(|q| {
            (0..total)
                .map(|j| {
                    if q < prompt_len || j < prompt_len {
                        j <= q
                    } else {
                        let (q, j) = (q - prompt_len, j - prompt_len);
                        j <= q && owner[j] == owner[q]
                    }
                })
                .collect()
        })
        .collect();
    let ctx = StepContext::with_pattern(&model.rotary, &[allowed], &[positions], 0, &device)
        .cast(model.compute_dtype());
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, total]), &device);
    let hidden = model.forward_hidden(input, &ctx, None, None);

    // 3. Log-probabilities at the prompt's last position and at every packed position.
    let h = hidden.dims()[2];
    let log_probs = log_softmax(
        model
            .logits(hidden.slice([0..1, prompt_len - 1..total, 0..h]))
            .cast(FloatDType::F32),
        2,
    );
    let vocab = log_probs.dims()[2];
    let first: Vec<f32> = host(log_probs.clone().slice([0..1, 0..1, 0..vocab]));
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
    if packed > 0 {
        let targets = Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [1, packed, 1]), &device);
        let picked = host(
            log_probs
                .slice([0..1, 1..1 + packed, 0..vocab])
                .gather(2, targets),
        );
        for (lp, &c) in picked.into_iter().zip(&owner) {
            scores[c].token_logprobs.push(lp);
            scores[c].total += lp;
        }
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
