//! [`Recorder`]: every output any policy could ask for, one example at a time
//! ([`Recorder::record`]) or a chunk of examples with every role batched across them
//! ([`Recorder::record_batch`]).

use std::time::Instant;

use burn::prelude::*;
use spec_actions_core::{Action, Example};
use spec_actions_qwen3::generate::RowSampling;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_verify::{
    RecordedCall, RecordedExample, RecordedJudgement, RecordedOnePass, RecordedOutput, VerifyError,
    one_pass_candidates,
};

use super::{LiveModels, first_output, live_error, shares};
use crate::objective::{TokenBatch, gather_rows, hidden_states, last_token_scores};
use crate::tasks::{JudgeFormat, KindQuestion, kind_log_likelihoods};

/// Most tokens (rows × padded length) of one batched verifier or reward pass: rows are sorted
/// by length and grouped up to this size, which bounds the attention scores held at once.
const PASS_TOKENS: usize = 4096;

/// Asks every role everything any policy may ask about one example.
pub struct Recorder<'a, B: Backend> {
    pub models: &'a LiveModels<B>,
    /// Sampled proposals per example (policy E; study: 3).
    pub samples: usize,
    /// One-pass kinds judged per example (policies C–F with `OnePass { k }`).
    pub one_pass_k: usize,
}

/// What the proposer and the strong model produced for one example.
struct Proposed {
    one_pass: RecordedOnePass,
    greedy: RecordedOutput,
    samples: Vec<RecordedOutput>,
    strong: RecordedOutput,
}

impl<B: Backend> Recorder<'_, B> {
    /// One row of the recorded-outputs file: every role asked one call at a time, as the live
    /// roles ask them.
    pub fn record(&self, example: &Example) -> Result<RecordedExample, VerifyError> {
        let m = self.models;
        let prompt = m
            .encoder
            .proposer_prompt(example)
            .map_err(|e| live_error("proposer prompt", e))?;
        // 1. one-pass scores of the nine kinds
        let one_pass = m.one_pass(&prompt)?;
        // 2. greedy and sampled decodes of the cheap model, the strong model's greedy decode
        let greedy = m
            .decode(&m.cheap, &m.names[0], &prompt, vec![RowSampling::Greedy])
            .and_then(first_output)?;
        let samples = if self.samples > 0 {
            m.decode(
                &m.cheap,
                &m.names[0],
                &prompt,
                m.sample_rules(example, self.samples),
            )?
        } else {
            Vec::new()
        };
        let strong = m
            .decode(&m.strong, &m.names[1], &prompt, vec![RowSampling::Greedy])
            .and_then(first_output)?;
        let proposed = Proposed {
            one_pass,
            greedy,
            samples,
            strong,
        };
        // 3. every distinct candidate a gate may be asked about, judged by both judges
        let candidates = self.candidates(&proposed);
        let verifier = candidates
            .iter()
            .map(|a| m.judge(example, a))
            .collect::<Result<Vec<_>, _>>()?;
        let reward = candidates
            .iter()
            .map(|a| m.reward_score(example, a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(row(example, proposed, verifier, reward))
    }

    /// The rows of `examples`, in order, with every role batched across them: one-pass scoring
    /// per example (one forward pass each), the cheap model's greedy and sampled decodes of all
    /// examples in one generation batch (each distinct prompt prefilled once), the strong
    /// model's in another, and every verifier and reward question of the chunk in
    /// length-sorted batches. Outputs equal [`Recorder::record`]'s of each example (greedy
    /// and sampled tokens, candidates; scores up to the rounding of batched passes).
    ///
    /// Times are each call's share of the batch it ran in (see the [module](super) docs).
    pub fn record_batch(&self, examples: &[Example]) -> Result<Vec<RecordedExample>, VerifyError> {
        if examples.is_empty() {
            return Ok(Vec::new());
        }
        let m = self.models;
        let prompts = examples
            .iter()
            .map(|e| m.encoder.proposer_prompt(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| live_error("proposer prompt", e))?;
        // 1. one-pass scores of the nine kinds, one pass per example
        let one_pass = prompts
            .iter()
            .map(|p| m.one_pass(p))
            .collect::<Result<Vec<_>, _>>()?;
        // 2. the cheap model's greedy row and sampled rows of every example, in one batch
        let per_example = 1 + self.samples;
        let mut cheap_prompts = Vec::with_capacity(examples.len() * per_example);
        let mut rules = Vec::with_capacity(examples.len() * per_example);
        for (example, prompt) in examples.iter().zip(&prompts) {
            cheap_prompts.extend(std::iter::repeat_n(prompt.clone(), per_example));
            rules.push(RowSampling::Greedy);
            rules.extend(m.sample_rules(example, self.samples));
        }
        let mut cheap = m
            .decode_rows(&m.cheap, &m.names[0], &cheap_prompts, rules)?
            .into_iter();
        //    and the strong model's greedy row of every example
        let strong = m.decode_rows(
            &m.strong,
            &m.names[1],
            &prompts,
            vec![RowSampling::Greedy; examples.len()],
        )?;
        let proposed: Vec<Proposed> = one_pass
            .into_iter()
            .zip(strong)
            .map(|(one_pass, strong)| {
                let greedy = cheap
                    .next()
                    .ok_or_else(|| live_error("generation", "missing greedy row"))?;
                let samples: Vec<RecordedOutput> = cheap.by_ref().take(self.samples).collect();
                Ok(Proposed {
                    one_pass,
                    greedy,
                    samples,
                    strong,
                })
            })
            .collect::<Result<_, VerifyError>>()?;
        // 3. every distinct candidate of every example, judged by both judges in batches
        let candidates: Vec<Vec<Action>> = proposed.iter().map(|p| self.candidates(p)).collect();
        let questions: Vec<(&Example, &Action)> = examples
            .iter()
            .zip(&candidates)
            .flat_map(|(e, cs)| cs.iter().map(move |a| (e, a)))
            .collect();
        let mut verifier = self.judge_batch(&questions)?.into_iter();
        let mut reward = self.reward_batch(&questions)?.into_iter();
        Ok(examples
            .iter()
            .zip(proposed)
            .zip(&candidates)
            .map(|((example, proposed), cs)| {
                let v = verifier.by_ref().take(cs.len()).collect();
                let r = reward.by_ref().take(cs.len()).collect();
                row(example, proposed, v, r)
            })
            .collect())
    }

    /// Every distinct action a gate may be asked about: the greedy proposal, the sampled ones,
    /// the one-pass top-k kinds (first occurrence order, call-level distinct).
    fn candidates(&self, p: &Proposed) -> Vec<Action> {
        let mut candidates: Vec<Action> = Vec::new();
        let one_pass_actions = one_pass_candidates(&p.one_pass.kind_logprobs.0, self.one_pass_k)
            .into_iter()
            .filter_map(|c| c.action);
        for action in p
            .greedy
            .action
            .iter()
            .chain(p.samples.iter().filter_map(|s| s.action.as_ref()))
            .cloned()
            .chain(one_pass_actions)
        {
            if !candidates.iter().any(|c| c.matches_call(&action)) {
                candidates.push(action);
            }
        }
        candidates
    }

    /// The verifier's P(ACCEPT) of every question, batched: right-padded prompts (causal
    /// attention never lets a real token see the padding after it), the final hidden state of
    /// each prompt's last token, and the two verdict tokens' logits there.
    pub fn judge_batch(
        &self,
        questions: &[(&Example, &Action)],
    ) -> Result<Vec<RecordedJudgement>, VerifyError> {
        let m = self.models;
        if m.judge_format == JudgeFormat::KindLikelihood {
            return kind_likelihood_judgements(m, &m.verifier, &m.names[2], questions, f64::exp);
        }
        let [accept, reject] = m
            .encoder
            .verdict_token_ids()
            .map_err(|e| live_error("verdict tokens", e))?;
        let prompts = questions
            .iter()
            .map(|(e, a)| m.encoder.verifier_prompt(e, a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| live_error("verifier prompt", e))?;
        let model = &m.verifier;
        let device = m.device();
        let verdicts = Tensor::<B, 1, Int>::from_data(
            TensorData::new(vec![i64::from(accept), i64::from(reject)], [2]),
            &device,
        );
        let scores = batched_passes(&prompts, m.encoder.tokenizer.special().pad, |batch, _| {
            let [_, s] = batch.dims();
            let last: Vec<usize> = batch
                .lengths
                .iter()
                .enumerate()
                .map(|(r, &len)| r * s + len - 1)
                .collect();
            let rows = gather_rows(hidden_states(model, batch, &device), &last);
            let [n, h] = rows.dims();
            let logits = model
                .logits(rows.reshape([n, 1, h]))
                .select(2, verdicts.clone())
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| live_error("verifier", format!("{e:?}")))?;
            Ok(logits
                .chunks(2)
                .map(|ar| {
                    let (a, r) = (f64::from(ar[0]), f64::from(ar[1]));
                    (1.0 / (1.0 + (r - a).exp())).clamp(0.0, 1.0)
                })
                .collect())
        })?;
        Ok(judgements(questions, &prompts, scores, &m.names[2], 1))
    }

    /// The reward model's score of every question, batched as the trainer scores them
    /// ([`last_token_scores`] on right-padded rows).
    pub fn reward_batch(
        &self,
        questions: &[(&Example, &Action)],
    ) -> Result<Vec<RecordedJudgement>, VerifyError> {
        let m = self.models;
        if m.judge_format == JudgeFormat::KindLikelihood {
            return kind_likelihood_judgements(m, &m.reward.0, &m.names[3], questions, |ll| ll);
        }
        let inputs = questions
            .iter()
            .map(|(e, a)| m.encoder.reward_input(e, a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| live_error("reward input", e))?;
        let device = m.device();
        let model: &Qwen3<B> = &m.reward.0;
        let head = m.reward.1.as_ref().ok_or_else(|| {
            live_error(
                "reward",
                "a prompted reward model needs its score head (score_head.safetensors)",
            )
        })?;
        let scores = batched_passes(&inputs, m.encoder.tokenizer.special().pad, |batch, _| {
            last_token_scores(model, head.clone(), batch, &device)
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .map(|v| v.into_iter().map(f64::from).collect())
                .map_err(|e| live_error("reward", format!("{e:?}")))
        })?;
        Ok(judgements(questions, &inputs, scores, &m.names[3], 0))
    }
}

/// Runs `pass` over `rows` in length-sorted, right-padded batches of at most [`PASS_TOKENS`]
/// tokens; returns each row's score (in the order of `rows`) and its share of its batch's
/// time (in proportion to its tokens).
fn batched_passes(
    rows: &[Vec<u32>],
    pad: u32,
    mut pass: impl FnMut(&TokenBatch, &[usize]) -> Result<Vec<f64>, VerifyError>,
) -> Result<Vec<(f64, f64)>, VerifyError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].len());
    let mut out = vec![(0.0, 0.0); rows.len()];
    let mut start = 0;
    while start < order.len() {
        // rows sorted by length: the batch's width is its last row's length
        let mut end = start + 1;
        while end < order.len() && (end + 1 - start) * rows[order[end]].len() <= PASS_TOKENS {
            end += 1;
        }
        let group = &order[start..end];
        let slices: Vec<&[u32]> = group.iter().map(|&i| rows[i].as_slice()).collect();
        if slices.iter().any(|s| s.is_empty()) {
            return Err(live_error("batched pass", "an empty input"));
        }
        let batch = TokenBatch::right_padded(&slices, pad);
        let started = Instant::now();
        let scores = pass(&batch, group)?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if scores.len() != group.len() {
            return Err(live_error(
                "batched pass",
                format!("{} scores for {} rows", scores.len(), group.len()),
            ));
        }
        let tokens: Vec<f64> = slices.iter().map(|s| s.len() as f64).collect();
        for ((&i, score), time) in group.iter().zip(scores).zip(shares(ms, &tokens)) {
            out[i] = (score, time);
        }
        start = end;
    }
    Ok(out)
}

/// The judgements of a [`JudgeFormat::KindLikelihood`] judge: `score(ℓ)` of each question's
/// `ℓ = log p(kind | proposer prompt)` under `model` — one batched pass per distinct
/// (example, kind), its time shared by the questions that ask it.
pub(super) fn kind_likelihood_judgements<B: Backend>(
    m: &LiveModels<B>,
    model: &Qwen3<B>,
    name: &str,
    questions: &[(&Example, &Action)],
    score: impl Fn(f64) -> f64,
) -> Result<Vec<RecordedJudgement>, VerifyError> {
    let kinds = m
        .encoder
        .kind_candidates()
        .map_err(|e| live_error("kind candidates", e))?;
    // 1. distinct (example, kind) questions, in first-asked order
    let mut keys: Vec<(&str, usize)> = Vec::new();
    let mut rows: Vec<KindQuestion> = Vec::new();
    let mut of_question = Vec::with_capacity(questions.len());
    for (example, action) in questions {
        let key = (example.id.as_str(), action.kind.index());
        let at = match keys.iter().position(|k| *k == key) {
            Some(at) => at,
            None => {
                let prompt = m
                    .encoder
                    .proposer_prompt(example)
                    .map_err(|e| live_error("proposer prompt", e))?;
                let kind = kinds
                    .iter()
                    .find(|(k, _)| *k == action.kind)
                    .map(|(_, ids)| ids.clone())
                    .ok_or_else(|| live_error("kind candidates", format!("no tokens for {}", action.kind)))?;
                keys.push(key);
                rows.push(KindQuestion { prompt, kind });
                keys.len() - 1
            }
        };
        of_question.push(at);
    }
    // 2. one batched pass over the distinct questions
    let device = m.device();
    let ids: Vec<Vec<u32>> = rows
        .iter()
        .map(|q| q.prompt.iter().chain(&q.kind).copied().collect())
        .collect();
    let pad = m.encoder.tokenizer.special().pad;
    let scored = batched_passes(&ids, pad, |_, group| {
        let group: Vec<&KindQuestion> = group.iter().map(|&i| &rows[i]).collect();
        kind_log_likelihoods(model, &group, pad, &device)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map(|v| v.into_iter().map(f64::from).collect())
            .map_err(|e| live_error(name, format!("{e:?}")))
    })?;
    // 3. every question gets its row's score and time
    let inputs: Vec<Vec<u32>> = of_question.iter().map(|&i| ids[i].clone()).collect();
    let scores: Vec<(f64, f64)> = of_question
        .iter()
        .map(|&i| (score(scored[i].0), scored[i].1))
        .collect();
    Ok(judgements(questions, &inputs, scores, name, 0))
}

/// The recorded judgements of `questions` from their scores and times.
fn judgements(
    questions: &[(&Example, &Action)],
    inputs: &[Vec<u32>],
    scores: Vec<(f64, f64)>,
    model: &str,
    decode_tokens: u64,
) -> Vec<RecordedJudgement> {
    questions
        .iter()
        .zip(inputs)
        .zip(scores)
        .map(|(((_, action), ids), (score, ms))| RecordedJudgement {
            action: (*action).clone(),
            score,
            call: RecordedCall {
                model: Some(model.to_string()),
                prefill_tokens: ids.len() as u64,
                decode_tokens,
                prefill_ms: Some(ms),
                // a verdict is read from the prefill's last logits: no decode step
                decode_ms: (decode_tokens > 0).then_some(0.0),
            },
        })
        .collect()
}

fn row(
    example: &Example,
    p: Proposed,
    verifier: Vec<RecordedJudgement>,
    reward: Vec<RecordedJudgement>,
) -> RecordedExample {
    RecordedExample {
        id: example.id.clone(),
        split: example.split,
        source: example.source.clone(),
        conversation: example.conversation.clone(),
        gold: example.gold.clone(),
        greedy: Some(p.greedy),
        one_pass: Some(p.one_pass),
        samples: p.samples,
        strong: p.strong,
        verifier,
        reward,
        classifier: None,
    }
}
