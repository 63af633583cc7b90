//! [`Recorder`]: every output any policy could ask for, one example at a time
//! ([`Recorder::record`]) or a chunk of examples with every role batched across them
//! ([`Recorder::record_batch`]).

use std::time::Instant;

use burn::prelude::*;
use spec_actions_core::{Action, ActionKind, Example, JudgeMap, ModelRole};
use spec_actions_qwen3::causal_lm::CausalLm;
use spec_actions_qwen3::generate::RowSampling;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::score::{CandidateScore, ScoringItem, score_continuations_batch};
use spec_actions_verify::{
    KindLogprobs, RecordedCall, RecordedExample, RecordedJudgement, RecordedOnePass, RecordedOutput,
    VerifyError, one_pass_candidates,
};

use crate::{LiveModels, first_output, live_error, shares};
use spec_actions_train::objective::{TokenBatch, gather_rows, hidden_states, last_token_scores};
use spec_actions_train::tasks::JudgeFormat;

/// Most tokens (rows × padded length) of one batched verifier or reward pass: rows are sorted
/// by length and grouped up to this size, which bounds the attention scores held at once.
pub const PASS_TOKENS: usize = 4096;

/// Asks every role everything any policy may ask about one example.
pub struct Recorder<'a, B: Backend, M = Qwen3<B>> {
    pub models: &'a LiveModels<B, M>,
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

impl<B: Backend, M: CausalLm<B>> Recorder<'_, B, M> {
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
            .decode(
                &m.models[ModelRole::Cheap],
                &m.names[ModelRole::Cheap],
                &prompt,
                vec![RowSampling::Greedy],
            )
            .and_then(first_output)?;
        let samples = if self.samples > 0 {
            m.decode(
                &m.models[ModelRole::Cheap],
                &m.names[ModelRole::Cheap],
                &prompt,
                m.sample_rules(example, self.samples),
            )?
        } else {
            Vec::new()
        };
        let strong = m
            .decode(
                &m.models[ModelRole::Strong],
                &m.names[ModelRole::Strong],
                &prompt,
                vec![RowSampling::Greedy],
            )
            .and_then(first_output)?;
        let proposed = Proposed {
            one_pass,
            greedy,
            samples,
            strong,
        };
        // 3. every distinct candidate a gate may be asked about, judged by both judges
        let candidates = self.candidates(&proposed);
        let mut judgements = JudgeMap::default();
        judgements[ModelRole::Verifier] = candidates
            .iter()
            .map(|a| m.judge(example, a))
            .collect::<Result<Vec<_>, _>>()?;
        judgements[ModelRole::Reward] = candidates
            .iter()
            .map(|a| m.reward_score(example, a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(row(example, proposed, judgements))
    }

    /// The rows of `examples`, in order, with every role batched across them: one-pass scoring
    /// of every example's nine kinds in length-sorted batches of packed rows, the cheap
    /// model's greedy and sampled decodes of all examples in one generation batch (each
    /// distinct prompt prefilled once), the strong model's in another, and every verifier and
    /// reward question of the chunk in length-sorted batches. Outputs equal
    /// [`Recorder::record`]'s of each example (greedy and sampled tokens, candidates; scores
    /// up to the rounding of batched passes).
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
        // 1. one-pass scores of the nine kinds, the examples' packed rows batched
        let one_pass = one_pass_batch(m, &prompts)?;
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
            .decode_rows(
                &m.models[ModelRole::Cheap],
                &m.names[ModelRole::Cheap],
                &cheap_prompts,
                rules,
            )?
            .into_iter();
        //    and the strong model's greedy row of every example
        let strong = m.decode_rows(
            &m.models[ModelRole::Strong],
            &m.names[ModelRole::Strong],
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
        let mut answers = JudgeMap::default();
        for role in ModelRole::JUDGES {
            answers[role] = self.judgements(role, &questions)?.into_iter();
        }
        Ok(examples
            .iter()
            .zip(proposed)
            .zip(&candidates)
            .map(|((example, proposed), cs)| {
                let judgements = JudgeMap::from_fn(|role| answers[role].by_ref().take(cs.len()).collect());
                row(example, proposed, judgements)
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

    /// Judge `role`'s answer to every question, batched: [`Recorder::judge_batch`] for the
    /// verifier, [`Recorder::reward_batch`] for the reward model; any other role is an error.
    pub fn judgements(
        &self,
        role: ModelRole,
        questions: &[(&Example, &Action)],
    ) -> Result<Vec<RecordedJudgement>, VerifyError> {
        match role {
            ModelRole::Verifier => self.judge_batch(questions),
            ModelRole::Reward => self.reward_batch(questions),
            other => Err(live_error("judgements", format!("`{other}` is not a judge"))),
        }
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
            return kind_likelihood_judgements(
                m,
                &m.models[ModelRole::Verifier],
                &m.names[ModelRole::Verifier],
                questions,
                f64::exp,
            );
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
        let model = &m.models[ModelRole::Verifier];
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
        Ok(judgements(
            questions,
            &prompts,
            scores,
            &m.names[ModelRole::Verifier],
            1,
        ))
    }

    /// The reward model's score of every question, batched as the trainer scores them
    /// ([`last_token_scores`] on right-padded rows).
    pub fn reward_batch(
        &self,
        questions: &[(&Example, &Action)],
    ) -> Result<Vec<RecordedJudgement>, VerifyError> {
        let m = self.models;
        if m.judge_format == JudgeFormat::KindLikelihood {
            return kind_likelihood_judgements(
                m,
                &m.models[ModelRole::Reward],
                &m.names[ModelRole::Reward],
                questions,
                |ll| ll,
            );
        }
        let inputs = questions
            .iter()
            .map(|(e, a)| m.encoder.reward_input(e, a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| live_error("reward input", e))?;
        let device = m.device();
        let model: &M = &m.models[ModelRole::Reward];
        let head = m.reward_head.as_ref().ok_or_else(|| {
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
        Ok(judgements(
            questions,
            &inputs,
            scores,
            &m.names[ModelRole::Reward],
            0,
        ))
    }
}

/// The indices of rows of lengths `lens` in length-sorted groups of at most [`PASS_TOKENS`]
/// tokens once padded to the group's longest (a row longer than that is a group alone).
fn token_groups(lens: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&i| lens[i]);
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        // rows sorted by length: the group's width is its last row's length
        let mut end = start + 1;
        while end < order.len() && (end + 1 - start) * lens[order[end]] <= PASS_TOKENS {
            end += 1;
        }
        groups.push(order[start..end].to_vec());
        start = end;
    }
    groups
}

/// Runs `pass` over `rows` in right-padded [`token_groups`]; returns each row's score (in
/// the order of `rows`) and its share of its batch's time (in proportion to its tokens).
fn batched_passes(
    rows: &[Vec<u32>],
    pad: u32,
    mut pass: impl FnMut(&TokenBatch, &[usize]) -> Result<Vec<f64>, VerifyError>,
) -> Result<Vec<(f64, f64)>, VerifyError> {
    let lens: Vec<usize> = rows.iter().map(Vec::len).collect();
    let mut out = vec![(0.0, 0.0); rows.len()];
    for group in token_groups(&lens) {
        let slices: Vec<&[u32]> = group.iter().map(|&i| rows[i].as_slice()).collect();
        if slices.iter().any(|s| s.is_empty()) {
            return Err(live_error("batched pass", "an empty input"));
        }
        let batch = TokenBatch::right_padded(&slices, pad);
        let started = Instant::now();
        let scores = pass(&batch, &group)?;
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
    }
    Ok(out)
}

/// Every item's candidate scores under `model` ([`score_continuations_batch`] over
/// [`token_groups`] of the packed rows), with the item's share of its batch's time (in
/// proportion to its packed tokens).
fn scored_items<B: Backend, M: CausalLm<B>>(
    model: &M,
    items: &[ScoringItem<'_>],
    what: &str,
) -> Result<Vec<(Vec<CandidateScore>, f64)>, VerifyError> {
    let lens: Vec<usize> = items.iter().map(ScoringItem::packed_len).collect();
    let mut out: Vec<(Vec<CandidateScore>, f64)> = vec![(Vec::new(), 0.0); items.len()];
    for group in token_groups(&lens) {
        let batch: Vec<ScoringItem<'_>> = group.iter().map(|&i| items[i]).collect();
        let started = Instant::now();
        let scores = score_continuations_batch(model, &batch).map_err(|e| live_error(what, e))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let tokens: Vec<f64> = group.iter().map(|&i| lens[i] as f64).collect();
        for ((&i, score), time) in group.iter().zip(scores).zip(shares(ms, &tokens)) {
            out[i] = (score, time);
        }
    }
    Ok(out)
}

/// The one-pass scores of the nine kinds after each prompt, by the cheap model, batched
/// (equal to [`LiveModels::one_pass`] of each prompt up to the rounding of a batched pass).
pub(super) fn one_pass_batch<B: Backend, M: CausalLm<B>>(
    m: &LiveModels<B, M>,
    prompts: &[Vec<u32>],
) -> Result<Vec<RecordedOnePass>, VerifyError> {
    let candidates = m
        .encoder
        .kind_candidates()
        .map_err(|e| live_error("kind candidates", e))?;
    let ids: Vec<Vec<u32>> = candidates.iter().map(|(_, ids)| ids.clone()).collect();
    let items: Vec<ScoringItem<'_>> = prompts
        .iter()
        .map(|prompt| ScoringItem {
            prompt,
            candidates: &ids,
        })
        .collect();
    let kind_tokens: usize = ids.iter().map(Vec::len).sum();
    Ok(
        scored_items(&m.models[ModelRole::Cheap], &items, "one-pass scoring")?
            .into_iter()
            .zip(prompts)
            .map(|((scores, ms), prompt)| {
                let mut lp = [0.0; ActionKind::COUNT];
                for ((kind, _), s) in candidates.iter().zip(&scores) {
                    lp[kind.index()] = f64::from(s.total);
                }
                RecordedOnePass {
                    kind_logprobs: KindLogprobs(lp),
                    call: RecordedCall {
                        model: Some(m.names[ModelRole::Cheap].clone()),
                        prefill_tokens: (prompt.len() + kind_tokens) as u64,
                        decode_tokens: 0,
                        prefill_ms: Some(ms),
                        decode_ms: None,
                    },
                }
            })
            .collect(),
    )
}

/// The judgements of a [`JudgeFormat::KindLikelihood`] judge: `score(ℓ)` of each question's
/// `ℓ = log p(kind | proposer prompt)` under `model` — each example's proposer prompt encoded
/// once and scored with every kind asked of it in one packed row (prompt shared by the kinds
/// through the tree-attention mask), rows batched; a row's time is shared by the questions
/// that asked it.
pub(super) fn kind_likelihood_judgements<B: Backend, M: CausalLm<B>>(
    m: &LiveModels<B, M>,
    model: &M,
    name: &str,
    questions: &[(&Example, &Action)],
    score: impl Fn(f64) -> f64,
) -> Result<Vec<RecordedJudgement>, VerifyError> {
    let kinds = m
        .encoder
        .kind_candidates()
        .map_err(|e| live_error("kind candidates", e))?;
    let kind_ids = |kind: ActionKind| {
        kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, ids)| ids.clone())
            .ok_or_else(|| live_error("kind candidates", format!("no tokens for {kind}")))
    };
    // 1. distinct examples (first-asked order), each with its distinct kinds
    struct Asked<'e> {
        id: &'e str,
        prompt: Vec<u32>,
        kinds: Vec<ActionKind>,
        candidates: Vec<Vec<u32>>,
        questions: usize,
    }
    let mut asked: Vec<Asked<'_>> = Vec::new();
    let mut of_question = Vec::with_capacity(questions.len());
    for (example, action) in questions {
        let e = match asked.iter().position(|a| a.id == example.id) {
            Some(e) => e,
            None => {
                let prompt = m
                    .encoder
                    .proposer_prompt(example)
                    .map_err(|e| live_error("proposer prompt", e))?;
                asked.push(Asked {
                    id: &example.id,
                    prompt,
                    kinds: Vec::new(),
                    candidates: Vec::new(),
                    questions: 0,
                });
                asked.len() - 1
            }
        };
        let a = &mut asked[e];
        let k = match a.kinds.iter().position(|&k| k == action.kind) {
            Some(k) => k,
            None => {
                a.candidates.push(kind_ids(action.kind)?);
                a.kinds.push(action.kind);
                a.kinds.len() - 1
            }
        };
        a.questions += 1;
        of_question.push((e, k));
    }
    // 2. one packed row per example, rows batched
    let items: Vec<ScoringItem<'_>> = asked
        .iter()
        .map(|a| ScoringItem {
            prompt: &a.prompt,
            candidates: &a.candidates,
        })
        .collect();
    let scored = scored_items(model, &items, name)?;
    // 3. every question gets its kind's score and its share of the row's time
    let inputs: Vec<Vec<u32>> = of_question
        .iter()
        .map(|&(e, k)| {
            asked[e]
                .prompt
                .iter()
                .chain(&asked[e].candidates[k])
                .copied()
                .collect()
        })
        .collect();
    let scores: Vec<(f64, f64)> = of_question
        .iter()
        .map(|&(e, k)| {
            let (row, ms) = &scored[e];
            (score(f64::from(row[k].total)), ms / asked[e].questions as f64)
        })
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

fn row(example: &Example, p: Proposed, judgements: JudgeMap<Vec<RecordedJudgement>>) -> RecordedExample {
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
        judgements,
        classifier: None,
    }
}
