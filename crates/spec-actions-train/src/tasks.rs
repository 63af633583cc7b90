//! The three trainers' objectives: SFT of the proposer, the ACCEPT/REJECT verifier, and the
//! Bradley–Terry reward model. Examples come tokenized from
//! `spec_actions_qwen3::action_prompts::ActionPromptEncoder`, the encoder evaluation uses too.

use burn::prelude::*;

use spec_actions_qwen3::action_prompts::{IGNORE, LabeledTokens};

use crate::objective::{
    TokenBatch, bradley_terry_loss, causal_lm_loss, choice_logits, choice_loss, head_weighted_causal_lm_loss,
    last_token_scores,
};
use crate::trainer::{BatchLoss, Objective, TrainModel};

/// Causal-LM loss on the answer tokens (the proposer's SFT).
#[derive(Debug, Clone)]
pub struct SftObjective {
    pub pad_id: u32,
}

impl Objective for SftObjective {
    type Example = LabeledTokens;

    fn count(&self, batch: &[&LabeledTokens]) -> usize {
        // position 0 is never predicted
        batch
            .iter()
            .map(|e| e.labels.iter().skip(1).filter(|&&l| l != IGNORE).count())
            .sum()
    }

    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&LabeledTokens],
        device: &B::Device,
    ) -> BatchLoss<B> {
        let rows: Vec<&[u32]> = batch.iter().map(|e| e.ids.as_slice()).collect();
        let tokens = TokenBatch::right_padded(&rows, self.pad_id);
        let labels: Vec<Vec<i64>> = batch.iter().map(|e| e.labels.clone()).collect();
        let (sum, _) = causal_lm_loss(&model.qwen, &tokens, &labels, device);
        BatchLoss {
            sum,
            tokens: rows.iter().map(|r| r.len()).sum(),
        }
    }
}

/// [`SftObjective`] with each answer's kind tokens — the first label tokens that spell one of
/// `kind_prefixes`, and the token after them (the newline before a call block, or the end of
/// turn) — weighted `head_weight` times (see [`head_weighted_causal_lm_loss`]); the mean is
/// over the weights. An answer that starts with no kind gets its first token weighted.
#[derive(Debug, Clone)]
pub struct KindWeightedSftObjective {
    pub pad_id: u32,
    /// The token ids of every kind as an answer starts with it
    /// (`ActionPromptEncoder::kind_candidates`).
    pub kind_prefixes: Vec<Vec<u32>>,
    pub head_weight: usize,
}

impl KindWeightedSftObjective {
    /// The weighted span of one example: its kind's tokens and the one after them.
    pub fn head_tokens(&self, example: &LabeledTokens) -> usize {
        let answer: Vec<i64> = example
            .labels
            .iter()
            .skip(1)
            .copied()
            .filter(|&l| l != IGNORE)
            .collect();
        let kind = self
            .kind_prefixes
            .iter()
            .filter(|ids| {
                ids.len() <= answer.len()
                    && ids
                        .iter()
                        .zip(&answer)
                        .all(|(&id, &label)| i64::from(id) == label)
            })
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        (kind + 1).min(answer.len())
    }
}

impl Objective for KindWeightedSftObjective {
    type Example = LabeledTokens;

    fn count(&self, batch: &[&LabeledTokens]) -> usize {
        batch
            .iter()
            .map(|e| {
                let n = e.labels.iter().skip(1).filter(|&&l| l != IGNORE).count();
                n + (self.head_weight.saturating_sub(1)) * self.head_tokens(e)
            })
            .sum()
    }

    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&LabeledTokens],
        device: &B::Device,
    ) -> BatchLoss<B> {
        let rows: Vec<&[u32]> = batch.iter().map(|e| e.ids.as_slice()).collect();
        let tokens = TokenBatch::right_padded(&rows, self.pad_id);
        let labels: Vec<Vec<i64>> = batch.iter().map(|e| e.labels.clone()).collect();
        let heads: Vec<usize> = batch.iter().map(|e| self.head_tokens(e)).collect();
        let (sum, _) =
            head_weighted_causal_lm_loss(&model.qwen, &tokens, &labels, &heads, self.head_weight, device);
        BatchLoss {
            sum,
            tokens: rows.iter().map(|r| r.len()).sum(),
        }
    }
}

/// One verifier example: the verifier prompt (generation prompt appended) and the right verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictExample {
    pub prompt: Vec<u32>,
    pub accept: bool,
}

/// Two-way cross-entropy between the first tokens of `ACCEPT` and `REJECT` at the answer
/// position — a calibrated P(ACCEPT) comes out of the same two logits at inference.
#[derive(Debug, Clone)]
pub struct VerifierObjective {
    /// `[ACCEPT, REJECT]` first-token ids.
    pub verdict_ids: [u32; 2],
    pub pad_id: u32,
}

impl Objective for VerifierObjective {
    type Example = VerdictExample;

    fn count(&self, batch: &[&VerdictExample]) -> usize {
        batch.len()
    }

    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&VerdictExample],
        device: &B::Device,
    ) -> BatchLoss<B> {
        let rows: Vec<&[u32]> = batch.iter().map(|e| e.prompt.as_slice()).collect();
        let tokens = TokenBatch::right_padded(&rows, self.pad_id);
        let positions: Vec<usize> = tokens.lengths.iter().map(|&l| l.saturating_sub(1)).collect();
        let logits = choice_logits(&model.qwen, &tokens, &positions, &self.verdict_ids, device);
        let targets: Vec<usize> = batch.iter().map(|e| usize::from(!e.accept)).collect();
        BatchLoss {
            sum: choice_loss(logits, &targets),
            tokens: rows.iter().map(|r| r.len()).sum(),
        }
    }
}

/// A reward-model pair: the same context with a better and a worse action.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferencePair {
    pub better: Vec<u32>,
    pub worse: Vec<u32>,
}

/// Bradley–Terry loss on the scalar head's scores of each pair's last tokens.
#[derive(Debug, Clone)]
pub struct RewardObjective {
    pub pad_id: u32,
}

impl Objective for RewardObjective {
    type Example = PreferencePair;

    fn count(&self, batch: &[&PreferencePair]) -> usize {
        batch.len()
    }

    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&PreferencePair],
        device: &B::Device,
    ) -> BatchLoss<B> {
        let n = batch.len();
        let rows: Vec<&[u32]> = batch
            .iter()
            .map(|p| p.better.as_slice())
            .chain(batch.iter().map(|p| p.worse.as_slice()))
            .collect();
        let tokens = TokenBatch::right_padded(&rows, self.pad_id);
        let head = match &model.score_head {
            Some(h) => h.val(),
            None => {
                return BatchLoss {
                    sum: Tensor::zeros([1], device),
                    tokens: 0,
                };
            }
        };
        let scores = last_token_scores(&model.qwen, head, &tokens, device);
        let better = scores.clone().narrow(0, 0, n);
        let worse = scores.narrow(0, n, n);
        BatchLoss {
            sum: bradley_terry_loss(better, worse),
            tokens: rows.iter().map(|r| r.len()).sum(),
        }
    }
}

/// Share of pairs whose better action scores strictly higher (held-out pairwise accuracy).
pub fn pairwise_accuracy<B: Backend>(
    model: &TrainModel<B>,
    pairs: &[PreferencePair],
    pad_id: u32,
    device: &B::Device,
) -> f64 {
    let Some(head) = &model.score_head else { return 0.0 };
    let mut right = 0usize;
    for chunk in pairs.chunks(8) {
        let n = chunk.len();
        let rows: Vec<&[u32]> = chunk
            .iter()
            .map(|p| p.better.as_slice())
            .chain(chunk.iter().map(|p| p.worse.as_slice()))
            .collect();
        let tokens = TokenBatch::right_padded(&rows, pad_id);
        let scores = last_token_scores(&model.qwen, head.val(), &tokens, device);
        let values = scores
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        right += (0..n).filter(|&i| values.get(i) > values.get(n + i)).count();
    }
    right as f64 / pairs.len().max(1) as f64
}

/// The kind a proposer finds most likely after each prompt: the nine kinds' continuations
/// (`candidates`, the encoder's `kind_candidates`) scored in one pass after the prompt, as
/// policy B's one-pass proposals are. Returns each prompt's best candidate index (`None` where
/// scoring failed).
pub fn kind_predictions<B: Backend>(
    model: &spec_actions_qwen3::model::Qwen3<B>,
    prompts: &[Vec<u32>],
    candidates: &[Vec<u32>],
) -> Vec<Option<usize>> {
    prompts
        .iter()
        .map(|prompt| {
            let scores = spec_actions_qwen3::score::score_continuations(model, prompt, candidates).ok()?;
            scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total.total_cmp(&b.1.total))
                .map(|(i, _)| i)
        })
        .collect()
}

/// Share of `predicted` equal to `gold`.
pub fn accuracy_of(predicted: &[Option<usize>], gold: &[usize]) -> f64 {
    let right = predicted
        .iter()
        .zip(gold)
        .filter(|(p, g)| **p == Some(**g))
        .count();
    right as f64 / gold.len().max(1) as f64
}

/// P(ACCEPT) of every verdict example (softmax over the `ACCEPT` / `REJECT` first-token logits
/// at the answer position), in order.
pub fn p_accept<B: Backend>(
    model: &TrainModel<B>,
    objective: &VerifierObjective,
    set: &[VerdictExample],
    device: &B::Device,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(set.len());
    for chunk in set.chunks(16) {
        let rows: Vec<&[u32]> = chunk.iter().map(|e| e.prompt.as_slice()).collect();
        let tokens = TokenBatch::right_padded(&rows, objective.pad_id);
        let positions: Vec<usize> = tokens.lengths.iter().map(|&l| l.saturating_sub(1)).collect();
        let logits = choice_logits(&model.qwen, &tokens, &positions, &objective.verdict_ids, device);
        let values = logits
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        for pair in values.chunks_exact(2) {
            let (accept, reject) = (f64::from(pair[0]), f64::from(pair[1]));
            out.push(1.0 / (1.0 + (reject - accept).exp()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(prompt: usize, answer: &[u32]) -> LabeledTokens {
        let ids: Vec<u32> = (0..prompt as u32).chain(answer.iter().copied()).collect();
        let labels = (0..prompt)
            .map(|_| IGNORE)
            .chain(answer.iter().map(|&t| i64::from(t)))
            .collect();
        LabeledTokens { ids, labels }
    }

    /// Kinds `[7]`, `[7, 8]` (a longer kind sharing a first token) and `[9, 10, 11]`: the
    /// weighted span is the longest kind the answer starts with, plus the token after it.
    #[test]
    fn the_weighted_span_is_each_answers_own_kind_and_the_token_after_it() {
        let objective = KindWeightedSftObjective {
            pad_id: 0,
            kind_prefixes: vec![vec![7], vec![7, 8], vec![9, 10, 11]],
            head_weight: 16,
        };
        // a call answer: kind [7, 8], newline, then a long call block
        assert_eq!(objective.head_tokens(&answer(5, &[7, 8, 1, 42, 43, 44, 45])), 3);
        // a one-token kind then end of turn
        assert_eq!(objective.head_tokens(&answer(5, &[7, 2])), 2);
        assert_eq!(objective.head_tokens(&answer(5, &[9, 10, 11, 2])), 4);
        // no kind: the first token only; a kind cut short by the end of the row: what there is
        assert_eq!(objective.head_tokens(&answer(5, &[3, 7, 8])), 1);
        assert_eq!(objective.head_tokens(&answer(5, &[9, 10, 11])), 3);
        // the weighted count: 7 label tokens, 3 of them weighted 16 times
        let e = answer(5, &[7, 8, 1, 42, 43, 44, 45]);
        assert_eq!(objective.count(&[&e]), 7 + 15 * 3);
    }
}
