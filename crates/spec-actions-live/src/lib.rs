//! # spec-actions-live
//!
//! Live roles on Qwen3 models (any burn backend): the cheap proposer, the strong model, the
//! ACCEPT/REJECT verifier and the reward model, implementing `spec-actions-verify`'s role
//! traits — the online path, on which a policy decides an example as it comes — and a
//! [`Recorder`] that asks every role everything any policy could ask about an example, writing
//! one `RecordedExample` row, so that every policy can then be replayed offline from the
//! recording (`spec_actions_verify::ReplayRoles`). [`Recorder::record_batch`] records a chunk of
//! examples with every role batched across them.
//!
//! A live decision and its replay from the recording of the same example agree: same
//! candidates, same gate scores (up to the rounding of batched passes), same calls and tokens.
//! Sampled proposals are seeded per example *and* per sample ([`LiveModels::sample_rules`]), so
//! the live `Sampled { n }` proposals are the first `n` recorded samples, whichever batch
//! recorded them.
//!
//! Timing: each call records its measured wall time. A generate call's time is split into
//! `prefill_ms` (its prefill, up to the choice of the first token) and `decode_ms` (the later
//! steps). When several rows share one pass (sampled rows of one prompt, a batch of examples),
//! each row's time is its share of the pass: prefill time in proportion to the row's prompt
//! tokens, decode time in proportion to its generated tokens, a verifier or reward pass in
//! proportion to each row's tokens. The times of a batch are thus per-call costs at that
//! batch's throughput, not the latency a lone call would see.
//!
//! ```no_run
//! # use burn::backend::Flex;
//! # use spec_actions_live::{LiveModels, Recorder};
//! # fn doc(models: LiveModels<Flex>, examples: Vec<spec_actions_core::Example>) -> Result<(), spec_actions_verify::VerifyError> {
//! let recorder = Recorder { models: &models, samples: 3, one_pass_k: 2 };
//! let rows = recorder.record_batch(&examples)?; // one row per example, in order
//! assert_eq!(rows.len(), examples.len());
//! # Ok(()) }
//! ```

mod record;

use std::time::Instant;

use burn::prelude::*;
use spec_actions_core::{Action, CostModel, Example, LanguageModelMap, ModelCall, ModelRole, parse_action};
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::causal_lm::CausalLm;
use spec_actions_qwen3::generate::{
    GeneratedSequence, GenerationConfig, GenerationTiming, RowSampling, Sampling, generate_timed,
};
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::score::score_continuations;
use spec_actions_verify::{
    Candidate, ProposalSource, Proposals, Proposer, RecordedCall, RecordedJudgement, RecordedOnePass,
    RecordedOutput, Scorer, StrongModel, Verifier, VerifyError, one_pass_candidates,
};

use spec_actions_train::objective::{TokenBatch, last_token_scores};
use spec_actions_train::tasks::JudgeFormat;

pub use record::PASS_TOKENS;
pub use record::Recorder;

/// Settings of live decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeSettings {
    /// Most new tokens of one action (kind line + a tool call block).
    pub max_new_tokens: usize,
    /// Sampling temperature of multi-proposal sampling (study: 0.8).
    pub temperature: f32,
    pub top_p: f32,
    /// Base seed of sampling (mixed with the example id and the sample's index).
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

/// The four models of a study and the prompt encoder they share: any [`CausalLm`], Qwen3 by
/// default.
pub struct LiveModels<B: Backend, M = Qwen3<B>> {
    pub encoder: ActionPromptEncoder,
    /// The language model playing each role (the reward model without its scalar head).
    pub models: LanguageModelMap<M>,
    /// The reward model's `[hidden, 1]` scalar head, for [`JudgeFormat::Prompted`] judges.
    pub reward_head: Option<Tensor<B, 2>>,
    /// How the verifier and the reward model read a proposal.
    pub judge_format: JudgeFormat,
    pub decode: DecodeSettings,
    /// Model names written into recorded calls, by role.
    pub names: LanguageModelMap<String>,
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

/// `total` split in proportion to `weights` (equally when they sum to zero).
fn shares(total: f64, weights: &[f64]) -> Vec<f64> {
    let sum: f64 = weights.iter().sum();
    if sum > 0.0 {
        weights.iter().map(|w| total * w / sum).collect()
    } else {
        vec![total / weights.len().max(1) as f64; weights.len()]
    }
}

/// SplitMix64 finaliser: a well-mixed 64-bit value of `x`.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Where a decode's per-row times come from: the generate call's timing, shared by its rows.
struct RowTiming {
    prefill_ms: f64,
    decode_ms: f64,
}

impl RowTiming {
    /// Each row's share of one generate call (rows in the order of `prompt_lens`/`outputs`).
    fn split(timing: GenerationTiming, prompt_lens: &[usize], outputs: &[GeneratedSequence]) -> Vec<Self> {
        let prompt: Vec<f64> = prompt_lens.iter().map(|&n| n as f64).collect();
        let decoded: Vec<f64> = outputs.iter().map(|o| o.tokens.len() as f64).collect();
        shares(timing.prefill_ms, &prompt)
            .into_iter()
            .zip(shares(timing.decode_ms, &decoded))
            .map(|(prefill_ms, decode_ms)| RowTiming {
                prefill_ms,
                decode_ms,
            })
            .collect()
    }
}

impl<B: Backend, M: CausalLm<B>> LiveModels<B, M> {
    fn device(&self) -> B::Device {
        self.models[ModelRole::Cheap].device()
    }

    /// The nine kinds' log-probabilities after the proposer prompt, from one pass (a batch of
    /// one of the recorder's batched scoring).
    pub fn one_pass(&self, prompt: &[u32]) -> Result<RecordedOnePass, VerifyError> {
        record::one_pass_batch(self, &[prompt.to_vec()])?
            .pop()
            .ok_or_else(|| live_error("one-pass scoring", "no row"))
    }

    /// The sampling rules of `n` sampled proposals of `example`: sample `i` draws from its own
    /// RNG, seeded from the base seed, the example id and `i` — so sample `i` is the same
    /// whether it is drawn alone, with the example's other samples, or in a batch of examples.
    pub fn sample_rules(&self, example: &Example, n: usize) -> Vec<RowSampling> {
        let base = self.sample_seed(example);
        (0..n)
            .map(|i| RowSampling::TopP {
                temperature: self.decode.temperature,
                top_p: self.decode.top_p,
                seed: mix64(base ^ mix64(i as u64)),
            })
            .collect()
    }

    /// The generation settings of live decoding with `sampling`.
    fn generation(&self, sampling: Sampling) -> GenerationConfig {
        GenerationConfig::greedy(self.decode.max_new_tokens)
            .with_stop_tokens(self.encoder.tokenizer.stop_ids())
            .with_sampling(sampling)
    }

    /// Decodes `prompts` (one row each) with `model`, one rule per row, and parses each output
    /// into an action with its log-probability; each row's call gets its share of the time.
    /// `model_name` is written into each row's call.
    pub fn decode_rows(
        &self,
        model: &M,
        model_name: &str,
        prompts: &[Vec<u32>],
        rules: Vec<RowSampling>,
    ) -> Result<Vec<RecordedOutput>, VerifyError> {
        let config = self.generation(Sampling::PerRow(rules));
        let (outputs, timing) =
            generate_timed(model, prompts, &config).map_err(|e| live_error("generation", e))?;
        let lens: Vec<usize> = prompts.iter().map(Vec::len).collect();
        let times = RowTiming::split(timing, &lens, &outputs);
        outputs
            .into_iter()
            .zip(times)
            .zip(&lens)
            .map(|((out, time), &len)| self.output(out, model_name, len, time))
            .collect()
    }

    /// One generated sequence as a recorded output.
    fn output(
        &self,
        out: GeneratedSequence,
        model_name: &str,
        prompt_len: usize,
        time: RowTiming,
    ) -> Result<RecordedOutput, VerifyError> {
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
                prefill_tokens: prompt_len as u64,
                decode_tokens: out.tokens.len() as u64,
                prefill_ms: Some(time.prefill_ms),
                decode_ms: Some(time.decode_ms),
            },
        })
    }

    /// Decodes `rows` continuations of one prompt with `model`: greedy, or the example's
    /// sampled proposals.
    fn decode(
        &self,
        model: &M,
        model_name: &str,
        prompt: &[u32],
        rules: Vec<RowSampling>,
    ) -> Result<Vec<RecordedOutput>, VerifyError> {
        let prompts = vec![prompt.to_vec(); rules.len()];
        self.decode_rows(model, model_name, &prompts, rules)
    }

    /// P(ACCEPT) of `action`: softmax over the first tokens of `ACCEPT` and `REJECT`
    /// ([`JudgeFormat::Prompted`]), or `e^ℓ` of the verifier's kind log-likelihood `ℓ`
    /// ([`JudgeFormat::KindLikelihood`]).
    pub fn judge(&self, example: &Example, action: &Action) -> Result<RecordedJudgement, VerifyError> {
        if self.judge_format == JudgeFormat::KindLikelihood {
            return record::kind_likelihood_judgements(
                self,
                &self.models[ModelRole::Verifier],
                &self.names[ModelRole::Verifier],
                &[(example, action)],
                f64::exp,
            )
            .and_then(|mut j| j.pop().ok_or_else(|| live_error("verifier", "no judgement")));
        }
        let prompt = self
            .encoder
            .verifier_prompt(example, action)
            .map_err(|e| live_error("verifier prompt", e))?;
        let [accept, reject] = self
            .encoder
            .verdict_token_ids()
            .map_err(|e| live_error("verdict tokens", e))?;
        let started = Instant::now();
        let s = score_continuations(
            &self.models[ModelRole::Verifier],
            &prompt,
            &[vec![accept], vec![reject]],
        )
        .map_err(|e| live_error("verifier", e))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let (a, r) = (f64::from(s[0].total), f64::from(s[1].total));
        let p = 1.0 / (1.0 + (r - a).exp());
        Ok(RecordedJudgement {
            action: action.clone(),
            score: p.clamp(0.0, 1.0),
            call: RecordedCall {
                model: Some(self.names[ModelRole::Verifier].clone()),
                prefill_tokens: prompt.len() as u64,
                // the verdict is read from the prefill's last logits: no decode step
                decode_tokens: 1,
                prefill_ms: Some(ms),
                decode_ms: Some(0.0),
            },
        })
    }

    /// The reward model's scalar score of `action` (its kind log-likelihood for
    /// [`JudgeFormat::KindLikelihood`]).
    pub fn reward_score(&self, example: &Example, action: &Action) -> Result<RecordedJudgement, VerifyError> {
        if self.judge_format == JudgeFormat::KindLikelihood {
            return record::kind_likelihood_judgements(
                self,
                &self.models[ModelRole::Reward],
                &self.names[ModelRole::Reward],
                &[(example, action)],
                |ll| ll,
            )
            .and_then(|mut j| j.pop().ok_or_else(|| live_error("reward", "no judgement")));
        }
        let head = self.reward_head.clone().ok_or_else(|| {
            live_error(
                "reward",
                "a prompted reward model needs its score head (score_head.safetensors)",
            )
        })?;
        let ids = self
            .encoder
            .reward_input(example, action)
            .map_err(|e| live_error("reward input", e))?;
        let device = self.device();
        let started = Instant::now();
        let batch = TokenBatch::right_padded(&[ids.as_slice()], self.encoder.tokenizer.special().pad);
        let scores = last_token_scores(&self.models[ModelRole::Reward], head, &batch, &device);
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
                model: Some(self.names[ModelRole::Reward].clone()),
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

/// [`Proposer`] on the live cheap model.
pub struct LiveProposer<'a, B: Backend, M = Qwen3<B>> {
    pub models: &'a LiveModels<B, M>,
    pub costs: &'a CostModel,
}

impl<B: Backend, M: CausalLm<B>> Proposer for LiveProposer<'_, B, M> {
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
                let rules = match source {
                    ProposalSource::Sampled { n } => m.sample_rules(example, n),
                    _ => vec![RowSampling::Greedy],
                };
                let outs = m.decode(
                    &m.models[ModelRole::Cheap],
                    &m.names[ModelRole::Cheap],
                    &prompt,
                    rules,
                )?;
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
pub struct LiveStrong<'a, B: Backend, M = Qwen3<B>> {
    pub models: &'a LiveModels<B, M>,
    pub costs: &'a CostModel,
}

impl<B: Backend, M: CausalLm<B>> StrongModel for LiveStrong<'_, B, M> {
    fn act(&mut self, example: &Example) -> Result<(Candidate, ModelCall), VerifyError> {
        let m = self.models;
        let prompt = m
            .encoder
            .proposer_prompt(example)
            .map_err(|e| live_error("strong prompt", e))?;
        let out = m
            .decode(
                &m.models[ModelRole::Strong],
                &m.names[ModelRole::Strong],
                &prompt,
                vec![RowSampling::Greedy],
            )
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
pub struct LiveVerifier<'a, B: Backend, M = Qwen3<B>> {
    pub models: &'a LiveModels<B, M>,
    pub costs: &'a CostModel,
}

impl<B: Backend, M: CausalLm<B>> Verifier for LiveVerifier<'_, B, M> {
    fn p_accept(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall), VerifyError> {
        let j = self.models.judge(example, action)?;
        Ok((j.score, j.call.priced(self.costs, ModelRole::Verifier)))
    }
}

/// [`Scorer`] on the live reward model.
pub struct LiveScorer<'a, B: Backend, M = Qwen3<B>> {
    pub models: &'a LiveModels<B, M>,
    pub costs: &'a CostModel,
}

impl<B: Backend, M: CausalLm<B>> Scorer for LiveScorer<'_, B, M> {
    fn score(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall), VerifyError> {
        let j = self.models.reward_score(example, action)?;
        Ok((j.score, j.call.priced(self.costs, ModelRole::Reward)))
    }
}
