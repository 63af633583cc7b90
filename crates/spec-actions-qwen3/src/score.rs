//! One-pass scoring of candidate continuations: the prompt and all candidates go through the
//! model together, the prompt's keys and values shared by every candidate through a
//! tree-attention mask, and each candidate gets its per-token and total log-probability.
//! This is how the nine action kinds are ranked.

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::log_softmax;

use crate::causal_lm::CausalLm;
use crate::error::{Qwen3Error, Result};
use crate::generate::{parallel_map, sum_exp, validate_tokens};

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

/// Scores every candidate continuation of `prompt` in one forward pass (one
/// [`ScoringItem`] of [`score_continuations_batch`]).
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
pub fn score_continuations<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompt: &[u32],
    candidates: &[Vec<u32>],
) -> Result<Vec<CandidateScore>> {
    let mut scores = score_continuations_batch(model, &[ScoringItem { prompt, candidates }])?;
    Ok(scores.pop().unwrap_or_default())
}

/// One prompt and the continuations to score after it.
#[derive(Debug, Clone, Copy)]
pub struct ScoringItem<'a> {
    pub prompt: &'a [u32],
    pub candidates: &'a [Vec<u32>],
}

impl ScoringItem<'_> {
    /// Tokens of the item's packed row: the prompt and every candidate but its last token.
    pub fn packed_len(&self) -> usize {
        self.prompt.len() + self.candidates.iter().map(|c| c.len() - 1).sum::<usize>()
    }
}

/// [`score_continuations`] of several prompts in one forward pass: each item's packed row
/// (prompt, then its candidates under the tree-attention mask) is right-padded to the
/// longest, and padding is attended by nothing. Equal to scoring each item alone up to the
/// rounding of a batched pass; one weight read for every item, which is what makes it pay
/// on a CPU with a small model.
pub fn score_continuations_batch<B: Backend, M: CausalLm<B>>(
    model: &M,
    items: &[ScoringItem<'_>],
) -> Result<Vec<Vec<CandidateScore>>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    // The LM head's rows on the host, then `logit − log Σ exp` per row: the vectorised
    // Σ exp of decoding (`generate::sum_exp`, f64 sums, dispatched to the CPU's SIMD level)
    // instead of a log-softmax tensor over the whole vocabulary, of which one entry per
    // candidate token is read.
    let packed = predicting_rows(model, items)?;
    let logits = host(
        model
            .logits(packed.hidden.unsqueeze_dim::<3>(0))
            .cast(FloatDType::F32),
    );
    let vocab = model.vocab_size();
    let log_z: Vec<f32> = parallel_map(logits.chunks(vocab).collect(), |row: &[f32]| {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        max + sum_exp(row, max, 1.0).ln() as f32
    });
    let mut picked = packed.predict.iter().map(|&(p, token)| {
        let k = packed.at.binary_search(&p).unwrap_or_default();
        logits[k * vocab + token as usize] - log_z[k]
    });
    Ok(items
        .iter()
        .map(|item| {
            item.candidates
                .iter()
                .map(|candidate| {
                    let token_logprobs: Vec<f32> = picked.by_ref().take(candidate.len()).collect();
                    CandidateScore {
                        total: token_logprobs.iter().sum(),
                        token_logprobs,
                    }
                })
                .collect()
        })
        .collect())
}

/// `log p(token | prompt, earlier candidate tokens)` of every candidate token of every item,
/// from one forward pass of the items' packed rows — differentiable, so a trainer can score
/// several continuations of one prompt for the price of one prompt.
///
/// # Shapes
/// - one forward pass of `[items, max packed_len]` tokens; the LM head runs on the predicting
///   positions only (`Σ 1 + packed candidate tokens` rows)
/// - returns `[Σ over items and candidates of the candidate's length]`, item by item,
///   candidate by candidate, token by token
pub fn continuation_log_probs<B: Backend, M: CausalLm<B>>(
    model: &M,
    items: &[ScoringItem<'_>],
) -> Result<Tensor<B, 1>> {
    let PredictingRows { hidden, at, predict } = predicting_rows(model, items)?;
    let device = hidden.device();
    // Log-softmax at the distinct predicting positions only, then each candidate token's own
    // entry.
    let log_probs = log_softmax(
        model.logits(hidden.unsqueeze_dim::<3>(0)).cast(FloatDType::F32),
        2,
    );
    let vocab = log_probs.dims()[2];
    let flat: Vec<i64> = predict
        .iter()
        .map(|&(p, token)| {
            let k = at.binary_search(&p).unwrap_or_default();
            (k * vocab + token as usize) as i64
        })
        .collect();
    let flat = Tensor::<B, 1, Int>::from_data(TensorData::new(flat, [predict.len()]), &device);
    Ok(log_probs.reshape([at.len() * vocab]).select(0, flat))
}

/// The hidden states of a packed forward pass at the positions that predict a candidate
/// token.
struct PredictingRows<B: Backend> {
    /// `[at.len(), hidden]`: the final hidden state at each position of `at`.
    hidden: Tensor<B, 2>,
    /// The distinct predicting positions (flat `row · width + column`), sorted.
    at: Vec<usize>,
    /// Every candidate token of every item, in order: its predicting position and the token.
    predict: Vec<(usize, u32)>,
}

/// One forward pass of the items' packed rows, kept at the predicting positions.
///
/// # Shapes
/// - one forward pass of `[items, max packed_len]` tokens
/// - `hidden` of the result: `[distinct predicting positions, hidden]`
fn predicting_rows<B: Backend, M: CausalLm<B>>(
    model: &M,
    items: &[ScoringItem<'_>],
) -> Result<PredictingRows<B>> {
    for item in items {
        validate_tokens(model, item.prompt, "the prompt")?;
        if item.candidates.is_empty() {
            return Err(Qwen3Error::InvalidInput("no candidate to score".into()));
        }
        for (i, candidate) in item.candidates.iter().enumerate() {
            validate_tokens(model, candidate, &format!("candidate {i}"))?;
        }
    }
    if items.is_empty() {
        return Err(Qwen3Error::InvalidInput("no item to score".into()));
    }
    let device = model.device();
    let width = items.iter().map(ScoringItem::packed_len).max().unwrap_or(0);

    // 1. One row per item: the prompt, then the packed candidates, right-padded to `width`.
    //    `predict` lists, for every candidate token, the flat position that predicts it
    //    (row · width + column) and the token.
    let mut ids: Vec<i64> = Vec::with_capacity(items.len() * width);
    let mut positions: Vec<Vec<usize>> = Vec::with_capacity(items.len());
    let mut allowed: Vec<Vec<Vec<bool>>> = Vec::with_capacity(items.len());
    let mut predict: Vec<(usize, u32)> = Vec::new();
    for (r, item) in items.iter().enumerate() {
        let prompt_len = item.prompt.len();
        let mut row_ids: Vec<i64> = item.prompt.iter().map(|&t| i64::from(t)).collect();
        let mut row_positions: Vec<usize> = (0..prompt_len).collect();
        let mut owner = Vec::new();
        for (c, candidate) in item.candidates.iter().enumerate() {
            predict.push((r * width + prompt_len - 1, candidate[0]));
            for i in 0..candidate.len() - 1 {
                predict.push((r * width + row_ids.len(), candidate[i + 1]));
                row_ids.push(i64::from(candidate[i]));
                row_positions.push(prompt_len + i);
                owner.push(c);
            }
        }
        let total = row_ids.len();
        // 2. Causal over the prompt, tree attention over the candidates, nothing for padding.
        let row_allowed: Vec<Vec<bool>> = (0..width)
            .map(|q| {
                (0..width)
                    .map(|j| {
                        if q >= total || j >= total {
                            false
                        } else if q < prompt_len || j < prompt_len {
                            j <= q
                        } else {
                            let (q, j) = (q - prompt_len, j - prompt_len);
                            j <= q && owner[j] == owner[q]
                        }
                    })
                    .collect()
            })
            .collect();
        row_ids.resize(width, 0);
        row_positions.resize(width, 0);
        ids.extend(row_ids);
        positions.push(row_positions);
        allowed.push(row_allowed);
    }
    let ctx = model.pattern_context(&allowed, &positions, 0, &device);
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [items.len(), width]), &device);
    let hidden = model.forward_hidden(input, &ctx, None, None);

    // 3. The hidden states at the distinct predicting positions only.
    let mut at: Vec<usize> = predict.iter().map(|&(p, _)| p).collect();
    at.sort_unstable();
    at.dedup();
    let [_, _, h] = hidden.dims();
    let rows = Tensor::<B, 1, Int>::from_data(
        TensorData::new(at.iter().map(|&p| p as i64).collect::<Vec<_>>(), [at.len()]),
        &device,
    );
    let hidden = hidden.reshape([items.len() * width, h]).select(0, rows);
    Ok(PredictingRows { hidden, at, predict })
}

fn host<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}
