//! Live roles on Qwen3 models (any burn backend): the cheap proposer, the strong model, the
//! ACCEPT/REJECT verifier and the reward model, implementing `spec-actions-verify`'s role
//! traits — and a [`Recorder`] that asks every role everything any policy could ask about an
//! example, writing one `RecordedExample` row, so that every policy can then be replayed
//! offline from the recording (`spec_actions_verify::ReplayRoles`).
//!
//! Timing: each call records its measured wall time. A generate call's time is split into
//! `prefill_ms` (the measured one-pass prefill of the same prompt) and `decode_ms` (the rest).

use std::time::Instant;

use burn::prelude::*;
use spec_actions_core::{Action, ActionKind, CostModel, Example, ModelCall, ModelRole, parse_action};
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::generate::{GenerationConfig, Sampling, generate};
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::score::score_continuations;
use spec_actions_verify::recorded::KindLogprobs;
use spec_actions_verify::{
    Candidate, ProposalSource, Proposals, Proposer, RecordedCall, RecordedExample, RecordedJudgement,
    RecordedOnePass, RecordedOutput, Scorer, StrongModel, Verifier, VerifyError, one_pass_candidates,
};

use crate::objective::{TokenBatch, last_token_scores};

/// Settings of live decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeSettings {
    /// Most new tokens of one action (kind line + a tool call block).
    pub max_new_tokens: usize,
    /// Sampling temperature of multi-proposal sampling (study: 0.8).
    pub temperature: f32,
    pub top_p: f32,
    /// Base seed of sampling (mixed with the example id).
    pub seed: u64,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        DecodeSettings {
            max_new_tokens: 64,
            temperature: 0.8,
            top_p: 0.95,
            seed: 7,
        }
    }
}

/// The four models of a study and the prompt encoder they share.
pub struct LiveModels<B: Backend> {
    pub encoder: ActionPromptEncoder,
    pub cheap: Qwen3<B>,
    pub strong: Qwen3<B>,
    pub verifier: Qwen3<B>,
    /// Reward model: a Qwen3 and its `[hidden, 1]` scalar head.
    pub reward: (Qwen3<B>, Tensor<B, 2>),
    pub decode: DecodeSettings,
    /// Model names written into recorded calls.
    pub names: [String; 4],
}

/// The single output of a one-row decode.
fn first_output(outputs: Vec<RecordedOutput>) -> Result<RecordedOutput, VerifyError> {
    outputs
        .into_iter()
        .next()
        .ok_or_else(|| live_error("generation", "no output row"))
}

fn live_error(what: &str, e: impl std::fmt::Display) -> VerifyError {
    VerifyError::Role(format!("{what}: {e}"))
}

impl<B: Backend> LiveModels<B> {
    fn device(&self) -> B::Device {
        self.cheap.embed_tokens.weight.device()
    }

    /// The nine kinds' log-probabilities after the proposer prompt, from one prefill.
    pub fn one_pass(&self, prompt: &[u32]) -> Result<RecordedOnePass, VerifyError> {
        let candidates = self
            .encoder
            .kind_candidates()
            .map_err(|e| live_error("kind candidates", e))?;
        let ids: Vec<Vec<u32>> = candidates.iter().map(|(_, ids)| ids.clone()).collect();
        let started = Instant::now();
        let scores =
            score_continuations(&self.cheap, prompt, &ids).map_err(|e| live_error("one-pass scoring", e))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let mut lp = [0.0; ActionKind::COUNT];
        for ((kind, _), s) in candidates.iter().zip(&scores) {
            lp[kind.index()] = f64::from(s.total);
        }
        let call = RecordedCall {
            model: Some(self.names[0].clone()),
            prefill_tokens: (prompt.len() + ids.iter().map(Vec::len).sum::<usize>()) as u64,
            decode_tokens: 0,
            prefill_ms: Some(ms),
            decode_ms: None,
        };
        Ok(RecordedOnePass {
            kind_logprobs: KindLogprobs(lp),
            call,
        })
    }

    /// Decodes `rows` continuations of `prompt` with `model` (greedy when `sampling` is), parses
    /// each into an action, with each output's log-probability.
    fn decode(
        &self,
        model: &Qwen3<B>,
        model_name: &str,
        prompt: &[u32],
        rows: usize,
        sampling: Sampling,
        prefill_ms: f64,
    ) -> Result<Vec<RecordedOutput>, VerifyError> {
        let stop = self.encoder.tokenizer.stop_ids();
        let config = GenerationConfig::greedy(self.decode.max_new_tokens)
            .with_stop_tokens(stop.clone())
            .with_sampling(sampling);
        let prompts = vec![prompt.to_vec(); rows];
        let started = Instant::now();
        let outputs = generate(model, &prompts, &config).map_err(|e| live_error("generation", e))?;
        let per_row_ms = started.elapsed().as_secs_f64() * 1e3 / rows.max(1) as f64;
        outputs
            .into_iter()
            .map(|out| {
                let text = self
                    .encoder
                    .tokenizer
                    .decode(&out.tokens, true)
                    .map_err(|e| live_error("decoding", e))?;
                // the model's own log-probability of its output, kept while decoding
                let logprob = f64::from(out.logprob()).min(0.0);
                let (action, raw) = match parse_action(&text) {
                    Ok(a) => (Some(a), None),
                    Err(_) => (None, Some(text)),
                };
                Ok(RecordedOutput {
                    action,
                    raw,
                    logprob,
                    call: RecordedCall {
                        model: Some(model_name.to_string()),
                        prefill_tokens: prompt.len() as u64,
                        decode_tokens: out.tokens.len() as u64,
                        prefill_ms: Some(prefill_ms.min(per_row_ms)),
                        decode_ms: Some((per_row_ms - prefill_ms).max(0.0)),
                    },
                })
            })
            .collect()
    }

    /// P(ACCEPT) of `action`: softmax over the first tokens of `ACCEPT` and `REJECT`.
    pub fn judge(&self, example: &Example, action: &Action) -> Result<RecordedJudgement, VerifyError> {
        let prompt = self
            .encoder
            .verifier_prompt(example, action)
            .map_err(|e| live_error("verifier prompt", e))?;
        let [accept, reject] = self
            .encoder
            .verdict_token_ids()
            .map_err(|e| live_error("verdict tokens", e))?;
        let started = Instant::now();
        let s = score_continuations(&self.verifier, &prompt, &[vec![accept], vec![reject]])
            .map_err(|e| live_error("verifier", e))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let (a, r) = (f64::from(s[0].total), f64::from(s[1].total));
        let p = 1.0 / (1.0 + (r - a).exp());
        Ok(RecordedJudgement {
            action: action.clone(),
            score: p.clamp(0.0, 1.0),
            call: RecordedCall {
                model: Some(self.names[2].clone()),
                prefill_tokens: prompt.len() as u64,
                decode_tokens: 1,
                prefill_ms: Some(ms),
                decode_ms: None,
            },
        })
    }

    /// The reward model's scalar score of `action`.
    pub fn reward_score(&self, example: &Example, action: &Action) -> Result<RecordedJudgement, VerifyError> {
        let ids = self
            .encoder
            .reward_input(example, action)
            .map_err(|e| live_error("reward input", e))?;
        let device = self.device();
        let started = Instant::now();
        let batch = TokenBatch::right_padded(&[ids.as_slice()], self.encoder.tokenizer.special().pad);
        let scores = last_token_scores(&self.reward.0, self.reward.1.clone(), &batch, &device);
        let score = scores
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| live_error("reward", format!("{e:?}")))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(RecordedJudgement {
            action: action.clone(),
            score: f64::from(score.first().copied().unwrap_or_default()),
            call: RecordedCall {
                model: Some(self.names[3].clone()),
                prefill_tokens: ids.len() as u64,
                decode_tokens: 0,
                prefill_ms: Some(ms),
                decode_ms: None,
            },
        })
    }

    fn sample_seed(&self, example: &Example) -> u64 {
        example
            .id
            .bytes()
            .fold(self.decode.seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
            })
    }
}

/// Asks every role everything any policy may ask about one example.
pub struct Recorder<'a, B: Backend> {
    pub models: &'a LiveModels<B>,
    /// Sampled proposals per example (policy E; study: 3).
    pub samples: usize,
    /// One-pass kinds judged per example (policies C–F with `OnePass { k }`).
    pub one_pass_k: usize,
}

impl<B: Backend> Recorder<'_, B> {
    /// One row of the recorded-outputs file.
    pub fn record(&self, example: &Example) -> Result<RecordedExample, VerifyError> {
        let m = self.models;
        let prompt = m
            .encoder
            .proposer_prompt(example)
            .map_err(|e| live_error("proposer prompt", e))?;
        // 1. one-pass scores of the nine kinds (also the prefill timing of this prompt)
        let one_pass = m.one_pass(&prompt)?;
        let prefill_ms = one_pass.call.prefill_ms.unwrap_or_default();
        // 2. greedy and sampled decodes of the cheap model, the strong model's greedy decode
        let greedy = m
            .decode(&m.cheap, &m.names[0], &prompt, 1, Sampling::Greedy, prefill_ms)
            .and_then(first_output)?;
        let samples = if self.samples > 0 {
            let sampling = Sampling::TopP {
                temperature: m.decode.temperature,
                top_p: m.decode.top_p,
                seed: m.sample_seed(example),
            };
            m.decode(&m.cheap, &m.names[0], &prompt, self.samples, sampling, prefill_ms)?
        } else {
            Vec::new()
        };
        let strong = m
            .decode(&m.strong, &m.names[1], &prompt, 1, Sampling::Greedy, prefill_ms)
            .and_then(first_output)?;
        // 3. every distinct candidate a gate may be asked about, judged by both judges
        let mut candidates: Vec<Action> = Vec::new();
        let one_pass_actions = one_pass_candidates(&one_pass.kind_logprobs.0, self.one_pass_k)
            .into_iter()
            .filter_map(|c| c.action);
        for action in greedy
            .action
            .iter()
            .chain(samples.iter().filter_map(|s| s.action.as_ref()))
            .cloned()
            .chain(one_pass_actions)
        {
            if !candidates.iter().any(|c| c.matches_call(&action)) {
                candidates.push(action);
            }
        }
        let verifier = candidates
            .iter()
            .map(|a| m.judge(example, a))
            .collect::<Result<Vec<_>, _>>()?;
        let reward = candidates
            .iter()
            .map(|a| m.reward_score(example, a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordedExample {
            id: example.id.clone(),
            split: example.split,
            source: example.source.clone(),
            conversation: example.conversation.clone(),
            gold: example.gold.clone(),
            greedy: Some(greedy),
            one_pass: Some(one_pass),
            samples,
            strong,
            verifier,
            reward,
        })
    }
}

/// [`Proposer`] on the live cheap model.
pub struct LiveProposer<'a, B: Backend> {
    pub models: &'a LiveModels<B>,
    pub costs: &'a CostModel,
}

impl<B: Backend> Proposer for LiveProposer<'_, B> {
    fn propose(&mut self, example: &Example, source: ProposalSource) -> Result<Proposals, VerifyError> {
        let m = self.models;
        let prompt = m
            .encoder
            .proposer_prompt(example)
            .map_err(|e| live_error("proposer prompt", e))?;
        let price = |c: &RecordedCall| c.priced(self.costs, ModelRole::Cheap);
        let to_candidate = |o: RecordedOutput| match o.action {
            Some(a) => Candidate::new(a, o.logprob),
            None => Candidate::unparseable(o.raw.unwrap_or_default(), o.logprob),
        };
        match source {
            ProposalSource::OnePass { k } => {
                let op = m.one_pass(&prompt)?;
                Ok(Proposals {
                    candidates: one_pass_candidates(&op.kind_logprobs.0, k),
                    calls: vec![price(&op.call)],
                })
            }
            ProposalSource::Greedy | ProposalSource::Sampled { .. } => {
                let (rows, sampling) = match source {
                    ProposalSource::Sampled { n } => (
                        n,
                        Sampling::TopP {
                            temperature: m.decode.temperature,
                            top_p: m.decode.top_p,
                            seed: m.sample_seed(example),
                        },
                    ),
                    _ => (1, Sampling::Greedy),
                };
                let outs = m.decode(&m.cheap, &m.names[0], &prompt, rows, sampling, 0.0)?;
                let calls = outs.iter().map(|o| price(&o.call)).collect();
                Ok(Proposals {
                    candidates: outs.into_iter().map(to_candidate).collect(),
                    calls,
                })
            }
        }
    }
}

/// [`StrongModel`] on the live strong model.
pub struct LiveStrong<'a, B: Backend> {
    pub models: &'a LiveModels<B>,
    pub costs: &'a CostModel,
}

impl<B: Backend> StrongModel for LiveStrong<'_, B> {
    fn act(&mut self, example: &Example) -> Result<(Candidate, ModelCall), VerifyError> {
        let m = self.models;
        let prompt = m
            .encoder
            .proposer_prompt(example)
            .map_err(|e| live_error("strong prompt", e))?;
        let out = m
            .decode(&m.strong, &m.names[1], &prompt, 1, Sampling::Greedy, 0.0)
            .and_then(first_output)?;
        let call = out.call.priced(self.costs, ModelRole::Strong);
        let candidate = match out.action {
            Some(a) => Candidate::new(a, out.logprob),
            None => Candidate::unparseable(out.raw.unwrap_or_default(), out.logprob),
        };
        Ok((candidate, call))
    }
}

/// [`Verifier`] on the live verifier model.
pub struct LiveVerifier<'a, B: Backend> {
    pub models: &'a LiveModels<B>,
    pub costs: &'a CostModel,
}

impl<B: Backend> Verifier for LiveVerifier<'_, B> {
    fn p_accept(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall), VerifyError> {
        let j = self.models.judge(example, action)?;
        Ok((j.score, j.call.priced(self.costs, ModelRole::Verifier)))
    }
}

/// [`Scorer`] on the live reward model.
pub struct LiveScorer<'a, B: Backend> {
    pub models: &'a LiveModels<B>,
    pub costs: &'a CostModel,
}

impl<B: Backend> Scorer for LiveScorer<'_, B> {
    fn score(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall), VerifyError> {
        let j = self.models.reward_score(example, action)?;
        Ok((j.score, j.call.priced(self.costs, ModelRole::RewardModel)))
    }
}
