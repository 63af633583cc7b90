//! The three trainers' objectives: SFT of the proposer, the ACCEPT/REJECT verifier, and the
//! Bradley–Terry reward model. Examples come tokenized from
//! `spec_actions_qwen3::action_prompts::ActionPromptEncoder`, the encoder evaluation uses too.
//!
//! A judge (the verifier or the reward model) reads a proposal in one of two
//! [`JudgeFormat`]s: *prompted* — the LLM-as-judge of the study, with its own prompt and the
//! `ACCEPT`/`REJECT` tokens ([`VerifierObjective`]) or a scalar head ([`RewardObjective`]) — or
//! *kind likelihood* — the judge reads the proposer's own prompt and its score of a proposal is
//! its log-probability of the proposal's kind ([`KindVerdictObjective`],
//! [`KindRewardObjective`]), the way a token-level speculative decoder's target model scores a
//! draft.

use burn::prelude::*;

use spec_actions_core::metrics::roc_auc;
use spec_actions_qwen3::action_prompts::{IGNORE, LabeledTokens};
use spec_actions_qwen3::causal_lm::CausalLm;
use spec_actions_qwen3::score::{ScoringItem, continuation_log_probs};

use crate::objective::{
    TokenBatch, bradley_terry_loss, causal_lm_loss, choice_logits, choice_loss, head_weighted_causal_lm_loss,
    last_token_scores,
};
use crate::trainer::{BatchLoss, HeldOut, Objective, TrainModel};

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
pub fn kind_predictions<B: Backend, M: CausalLm<B>>(
    model: &M,
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

/// How a judge — the verifier or the reward model — reads a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeFormat {
    /// LLM-as-judge: the verifier reads its own prompt with the proposal in a user turn and
    /// answers `ACCEPT` or `REJECT` ([`VerifierObjective`]); the reward model reads the proposal
    /// as the assistant's answer and a scalar head scores the last token ([`RewardObjective`]).
    /// What a pretrained checkpoint is fine-tuned into.
    #[default]
    Prompted,
    /// The judge reads the proposer's prompt and scores the proposal's kind by its own
    /// log-likelihood `ℓ = log p(kind tokens | prompt)`: the verifier's P(ACCEPT) is `e^ℓ`,
    /// trained by binary cross-entropy on the same ACCEPT / REJECT rows
    /// ([`KindVerdictObjective`]); the reward model's score is `ℓ`, trained by Bradley–Terry on
    /// the same pairs ([`KindRewardObjective`]). Judges only the kind (train it on kind-level
    /// negatives). A small model trained from scratch learns this in as many steps as a proposer,
    /// where the prompted format must first learn to compare a proposal with its context.
    KindLikelihood,
}

/// A kind-likelihood question: the proposer prompt and the tokens of the proposed kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindQuestion {
    pub prompt: Vec<u32>,
    pub kind: Vec<u32>,
}

/// `log p(kind | prompt)` of every question. Questions with the same prompt share one packed
/// row — the prompt once, then each distinct kind under the tree-attention mask
/// ([`continuation_log_probs`]) — so a verdict pair or a preference pair of one example costs
/// one prompt, not two; rows are right-padded into one batch, log-softmax in f32 at the kind
/// positions only, summed per question.
///
/// The questions come from the action-prompt encoder (non-empty prompt and kind, ids the
/// model's vocabulary holds: `Qwen3Tokenizer::check_fits`); should one not, every value is
/// NaN, which the trainer reports as a non-finite loss naming the step.
///
/// # Shapes
/// - returns `[questions.len()]`
pub fn kind_log_likelihoods<B: Backend, M: CausalLm<B>>(
    model: &M,
    questions: &[&KindQuestion],
    device: &B::Device,
) -> Tensor<B, 1> {
    // 1. one item per distinct prompt, with its distinct kinds; each question's (item, kind)
    let mut prompts: Vec<&[u32]> = Vec::new();
    let mut kinds: Vec<Vec<Vec<u32>>> = Vec::new();
    let mut asks = Vec::with_capacity(questions.len());
    for q in questions {
        let item = prompts
            .iter()
            .position(|p| *p == q.prompt.as_slice())
            .unwrap_or_else(|| {
                prompts.push(&q.prompt);
                kinds.push(Vec::new());
                prompts.len() - 1
            });
        let kind = kinds[item].iter().position(|k| *k == q.kind).unwrap_or_else(|| {
            kinds[item].push(q.kind.clone());
            kinds[item].len() - 1
        });
        asks.push((item, kind));
    }
    if questions.is_empty() {
        return Tensor::zeros([0], device);
    }
    // 2. where each (item, kind)'s tokens lie in the flat output
    let mut offsets: Vec<Vec<(usize, usize)>> = Vec::with_capacity(kinds.len());
    let mut total = 0;
    for item_kinds in &kinds {
        offsets.push(
            item_kinds
                .iter()
                .map(|k| {
                    total += k.len();
                    (total - k.len(), k.len())
                })
                .collect(),
        );
    }
    let items: Vec<ScoringItem<'_>> = prompts
        .iter()
        .zip(&kinds)
        .map(|(prompt, candidates)| ScoringItem { prompt, candidates })
        .collect();
    let log_p = continuation_log_probs(model, &items)
        .unwrap_or_else(|_| Tensor::full([total], f32::NAN, device))
        .cast(burn::tensor::FloatDType::F32); // [total]
    // 3. per-question sums: [questions, total] · [total, 1]
    let mut sel = vec![0.0f32; questions.len() * total];
    for (r, &(item, kind)) in asks.iter().enumerate() {
        let (start, len) = offsets[item][kind];
        sel[r * total + start..r * total + start + len].fill(1.0);
    }
    let sel = Tensor::<B, 2>::from_data(TensorData::new(sel, [questions.len(), total]), device)
        .cast(burn::tensor::FloatDType::F32);
    sel.matmul(log_p.reshape([total, 1])).reshape([questions.len()])
}

/// One kind-likelihood verifier example: the question and the right verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct KindVerdictExample {
    pub question: KindQuestion,
    pub accept: bool,
}

/// Binary cross-entropy of P(ACCEPT) = `e^ℓ`, `ℓ` the judge's log-likelihood of the proposed
/// kind: `−ℓ` for an ACCEPT row, `−log(1 − e^ℓ)` for a REJECT row (with `1 − e^ℓ` floored at
/// 1e-6).
#[derive(Debug, Clone, Copy, Default)]
pub struct KindVerdictObjective;

impl Objective for KindVerdictObjective {
    type Example = KindVerdictExample;

    fn count(&self, batch: &[&KindVerdictExample]) -> usize {
        batch.len()
    }

    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&KindVerdictExample],
        device: &B::Device,
    ) -> BatchLoss<B> {
        let questions: Vec<&KindQuestion> = batch.iter().map(|e| &e.question).collect();
        let ll = kind_log_likelihoods(&model.qwen, &questions, device);
        let accept: Vec<f32> = batch.iter().map(|e| if e.accept { 1.0 } else { 0.0 }).collect();
        let accept = Tensor::<B, 1>::from_data(TensorData::new(accept, [batch.len()]), device)
            .cast(burn::tensor::FloatDType::F32);
        let reject_term = (ll.clone().exp().neg() + 1.0).clamp_min(1e-6).log();
        let per_row = accept.clone() * ll + (accept.neg() + 1.0) * reject_term;
        BatchLoss {
            sum: per_row.sum().neg(),
            tokens: questions.iter().map(|q| q.prompt.len() + q.kind.len()).sum(),
        }
    }
}

impl KindVerdictObjective {
    /// The held-out loss and ROC-AUC of `set` from one pass of `ℓ` values: the loss of
    /// [`Objective::loss`] (averaged per row, computed on the host in f64) and the AUC of
    /// `ℓ` (equivalently of P(ACCEPT) = `e^ℓ`) against the verdicts — NaN when `set` lacks a
    /// class.
    pub fn held_out<B: Backend>(
        &self,
        model: &TrainModel<B>,
        set: &[KindVerdictExample],
        device: &B::Device,
    ) -> HeldOut {
        let questions: Vec<&KindQuestion> = set.iter().map(|e| &e.question).collect();
        let ll = kind_log_likelihood_values(&model.qwen, &questions, device);
        let loss = ll
            .iter()
            .zip(set)
            .map(|(&l, e)| {
                if e.accept {
                    -l
                } else {
                    -(1.0 - l.exp()).max(1e-6).ln()
                }
            })
            .sum::<f64>()
            / set.len().max(1) as f64;
        let scored: Vec<(f64, bool)> = ll.into_iter().zip(set.iter().map(|e| e.accept)).collect();
        HeldOut {
            loss,
            metric: Some(roc_auc(&scored).unwrap_or(f64::NAN)),
        }
    }
}

/// A kind-likelihood reward pair: one prompt, the better and the worse action's kind tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct KindPreferencePair {
    pub better: KindQuestion,
    pub worse: KindQuestion,
}

/// Bradley–Terry loss on the judge's kind log-likelihoods of each pair.
#[derive(Debug, Clone, Copy, Default)]
pub struct KindRewardObjective;

impl Objective for KindRewardObjective {
    type Example = KindPreferencePair;

    fn count(&self, batch: &[&KindPreferencePair]) -> usize {
        batch.len()
    }

    fn loss<B: Backend>(
        &self,
        model: &TrainModel<B>,
        batch: &[&KindPreferencePair],
        device: &B::Device,
    ) -> BatchLoss<B> {
        let n = batch.len();
        let questions: Vec<&KindQuestion> = batch
            .iter()
            .map(|p| &p.better)
            .chain(batch.iter().map(|p| &p.worse))
            .collect();
        let ll = kind_log_likelihoods(&model.qwen, &questions, device);
        BatchLoss {
            sum: bradley_terry_loss(ll.clone().narrow(0, 0, n), ll.narrow(0, n, n)),
            tokens: questions.iter().map(|q| q.prompt.len() + q.kind.len()).sum(),
        }
    }
}

impl KindRewardObjective {
    /// The held-out loss and pairwise accuracy of `set` from one pass of `ℓ` values: the
    /// Bradley–Terry loss of [`Objective::loss`] (averaged per pair, on the host in f64) and
    /// the share of pairs whose better action scores strictly higher.
    pub fn held_out<B: Backend>(
        &self,
        model: &TrainModel<B>,
        set: &[KindPreferencePair],
        device: &B::Device,
    ) -> HeldOut {
        let questions: Vec<&KindQuestion> = set.iter().flat_map(|p| [&p.better, &p.worse]).collect();
        let ll = kind_log_likelihood_values(&model.qwen, &questions, device);
        let n = set.len().max(1) as f64;
        // softplus(w − b) = −log σ(b − w), in its overflow-free form
        let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        let loss = ll.chunks_exact(2).map(|bw| softplus(bw[1] - bw[0])).sum::<f64>() / n;
        let right = ll.chunks_exact(2).filter(|bw| bw[0] > bw[1]).count();
        HeldOut {
            loss,
            metric: Some(right as f64 / n),
        }
    }
}

/// `ℓ = log p(kind | prompt)` of every question, in chunks of 16, as f64.
pub fn kind_log_likelihood_values<B: Backend, M: CausalLm<B>>(
    model: &M,
    questions: &[&KindQuestion],
    device: &B::Device,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(questions.len());
    for chunk in questions.chunks(16) {
        let values = kind_log_likelihoods(model, chunk, device)
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        out.extend(values.into_iter().map(f64::from));
    }
    out
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
