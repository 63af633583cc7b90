//! [`Speculator`]: one policy of `spec-actions-verify`, decided live on the Qwen3 roles of
//! `spec_actions_live`, for conversations as they come.
//!
//! Decisions are made by [`Policy::decide`] itself — the code the replay runs — on roles that
//! answer from a per-example store of model outputs in the recorded format. A batch of
//! examples is decided in rounds: every undecided example is run through the policy; an answer
//! the store does not hold yet is noted as a *need* and the example waits; then every need of
//! the round is fetched with one batched pass per role (all greedy and sampled cheap rows in
//! one generation batch, all strong rows in another, all verifier and reward questions in
//! length-sorted batches, as `Recorder::record_batch` does), and the next round runs. A batch
//! of one example is the unbatched path. Only what the policy asks for is computed: a gate that
//! accepts never runs the strong model.
//!
//! So a decision equals the replay of the same example from a recording of it (same
//! candidates, route, calls and tokens; gate scores up to the rounding of batched passes).

use std::cell::RefCell;

use burn::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use spec_actions_baseline::KindClassifier;
use spec_actions_core::{
    Action, ActionKind, CostModel, Example, JudgeMap, Message, ModelCall, ModelRole, Split,
};
use spec_actions_live::{LiveModels, Recorder};
use spec_actions_qwen3::generate::RowSampling;
use spec_actions_verify::{
    Candidate, Classifier, Decision, KindProbs, LoggedDecision, Policy, PolicyRoles, ProposalSource,
    Proposals, Proposer, RecordedClassifier, RecordedJudgement, RecordedOnePass, RecordedOutput, Route,
    Scorer, StrongModel, Verifier, VerifyError, one_pass_candidates, record_classifier,
};

use crate::error::{Result, ServeError};

/// The gold action written into the records of served (unlabelled) decisions: a placeholder.
/// A served record's `correct` says nothing; its ledger, route and log are what it is for.
pub const UNLABELLED_GOLD: ActionKind = ActionKind::Blocked;

/// Most rounds of one batch (each round fetches what the policies asked for; a reranking
/// policy asks one reward question per round).
const MAX_ROUNDS: usize = 40;

/// Marks a role answer that is not fetched yet (never returned to a caller).
const PENDING: &str = "answer pending: fetched in the next round";

/// A live policy on live models: `decide(messages, tools)`.
pub struct Speculator<B: Backend> {
    /// The four Qwen3 roles and their prompt encoder.
    pub models: LiveModels<B>,
    /// The bag-of-words classifier and its model name (policies K, K→A, K→F need it).
    pub classifier: Option<(KindClassifier, String)>,
    /// Prices of the calls (nominal units; FLOPs from the models' parameter counts).
    pub costs: CostModel,
    /// The operating point, its threshold included.
    pub policy: Policy,
}

/// What the ledger of one decision adds up to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LedgerSummary {
    /// Model calls made (every call, including rejected proposals).
    pub calls: usize,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    /// Measured wall time of the calls (each call's share of the batch it ran in).
    pub wall_ms: f64,
    /// Nominal units of the decision.
    pub nominal: f64,
    /// Nominal units the same decision costs when always decided by the strong model.
    pub strong_only_nominal: f64,
    /// Distinct model names called, in call order.
    pub models: Vec<String>,
}

/// One served decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedDecision {
    /// The configuration name (`C@0.5220`).
    pub config: String,
    /// The committed action; `None` when the committed output did not parse (then `raw`).
    pub action: Option<Action>,
    pub raw: Option<String>,
    /// The route taken (cheap accepted / fell back / speculative / …).
    pub route: Route,
    /// The gate's score of the chosen candidate (gated policies; `None` if unparseable).
    pub gate_score: Option<f64>,
    pub ledger: LedgerSummary,
    /// The model whose output was committed.
    pub model: String,
    /// The decision-log row, in the replay's schema (`decisions.jsonl`).
    pub logged: LoggedDecision,
}

/// Short label of a route: `strong_only`, `cheap_only`, `cheap_accepted`, `fell_back`,
/// `speculative`.
pub fn route_label(route: &Route) -> &'static str {
    match route {
        Route::StrongOnly => "strong_only",
        Route::CheapOnly => "cheap_only",
        Route::Accepted => "cheap_accepted",
        Route::FellBack { .. } => "fell_back",
        Route::Speculative(_) => "speculative",
    }
}

/// The example a served conversation is decided as: its id is a hash of the messages and
/// tools (`serve:<16 hex>`), so the same conversation draws the same sampled proposals; its
/// gold is the [`UNLABELLED_GOLD`] placeholder.
pub fn served_example(messages: Vec<Message>, tools: Vec<Value>) -> Example {
    let mut hasher = Sha256::new();
    // serialising plain data cannot fail; an empty hash input would still give an id
    hasher.update(serde_json::to_vec(&(&messages, &tools)).unwrap_or_default());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let id = format!("serve:{hex}");
    Example {
        id: id.clone(),
        source: "serve".into(),
        conversation: id,
        split: Split::Eval,
        messages,
        tools,
        gold: Action::kind(UNLABELLED_GOLD),
    }
}

/// A model's price list with the parameter counts read from the models' configs (as the eval
/// stage prices a run), nominal units as the study counts them.
pub fn priced_costs<B: Backend>(models: &LiveModels<B>) -> CostModel {
    let mut costs = CostModel::default();
    let count = |c: &spec_actions_qwen3::Qwen3Config, fallback: f64| {
        c.parameter_count().map_or(fallback, |n| n as f64)
    };
    for (role, model) in models.models.iter() {
        costs.params[role] = count(&model.config, costs.params[role]);
    }
    costs
}

impl<B: Backend> Speculator<B> {
    /// The context window every prompt must fit, with room for `max_new_tokens`: the smallest
    /// `max_position_embeddings` of the four models.
    pub fn context_window(&self) -> usize {
        self.models
            .models
            .values()
            .map(|q| q.config.max_position_embeddings)
            .min()
            .unwrap_or(0)
    }

    /// The configuration name of the policy (`C@0.5220`).
    pub fn config_name(&self) -> String {
        self.policy.name()
    }

    /// The proposer prompt of `example`, or a bad request when it does not render or does
    /// not fit the context window (with room for the answer and a judge's verdict).
    pub fn prompt(&self, example: &Example) -> Result<Vec<u32>> {
        let prompt =
            self.models.encoder.proposer_prompt(example).map_err(|e| {
                ServeError::bad("messages", format!("the chat template cannot render them: {e}"))
            })?;
        let window = self.context_window();
        // the judges read the prompt plus the answer: keep room for the longest answer
        let need = prompt.len() + self.models.decode.max_new_tokens + 16;
        if need > window {
            return Err(ServeError::BadRequest {
                param: "messages".into(),
                message: format!(
                    "the conversation is {} tokens; with {} for the answer it exceeds the context window of {} tokens",
                    prompt.len(),
                    self.models.decode.max_new_tokens + 16,
                    window
                ),
                code: "context_length_exceeded",
            });
        }
        Ok(prompt)
    }

    /// Decides the next action of a conversation.
    ///
    /// ```no_run
    /// # use spec_actions_serve::Speculator;
    /// # use spec_actions_core::Message;
    /// # fn doc(s: &Speculator<burn::backend::Flex>) -> spec_actions_serve::Result<()> {
    /// let d = s.decide(vec![Message::user("list the files")], Vec::new())?;
    /// println!("{:?} via {:?}, {} units", d.action, d.route, d.ledger.nominal);
    /// # Ok(()) }
    /// ```
    pub fn decide(&self, messages: Vec<Message>, tools: Vec<Value>) -> Result<ServedDecision> {
        self.decide_example(&served_example(messages, tools))
    }

    /// Decides `example` (a labelled one keeps its id and gold: its record is scored).
    pub fn decide_example(&self, example: &Example) -> Result<ServedDecision> {
        self.decide_batch(std::slice::from_ref(example))
            .pop()
            .unwrap_or_else(|| Err(ServeError::Model("no decision".into())))
    }

    /// Decides every example of `examples`, batching each role's passes across them; one
    /// result per example, in order. One example's failure does not fail the others.
    pub fn decide_batch(&self, examples: &[Example]) -> Vec<Result<ServedDecision>> {
        let n = examples.len();
        let mut out: Vec<Option<Result<ServedDecision>>> = (0..n).map(|_| None).collect();
        let mut prompts: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, e) in examples.iter().enumerate() {
            match self.prompt(e) {
                Ok(p) => prompts[i] = p,
                Err(err) => out[i] = Some(Err(err)),
            }
        }
        let mut store: Vec<Fetched> = (0..n).map(|_| Fetched::default()).collect();
        for _ in 0..MAX_ROUNDS {
            let mut needs: Vec<(usize, Vec<Need>)> = Vec::new();
            for i in 0..n {
                if out[i].is_some() {
                    continue;
                }
                let wanted = RefCell::new(Vec::new());
                let look = Lookup {
                    f: &store[i],
                    costs: &self.costs,
                    needs: &wanted,
                };
                let (mut p, mut s, mut v, mut r, mut c) = (look, look, look, look, look);
                let mut roles = PolicyRoles {
                    proposer: &mut p,
                    strong: &mut s,
                    verifier: Some(&mut v),
                    scorer: Some(&mut r),
                    classifier: if self.classifier.is_some() {
                        Some(&mut c)
                    } else {
                        None
                    },
                };
                match self.policy.decide(&examples[i], &mut roles) {
                    Ok(d) => out[i] = Some(Ok(self.served(d))),
                    Err(e) => {
                        let wanted = wanted.into_inner();
                        if wanted.is_empty() {
                            out[i] = Some(Err(ServeError::Model(e.to_string())));
                        } else {
                            needs.push((i, wanted));
                        }
                    }
                }
            }
            if needs.is_empty() {
                break;
            }
            self.fetch(examples, &prompts, &mut store, needs, &mut out);
        }
        out.into_iter()
            .map(|d| d.unwrap_or_else(|| Err(ServeError::Model("the policy did not finish".into()))))
            .collect()
    }

    /// Fetches every need of a round: one batched pass per role, each example's failure kept
    /// to itself (a failed batch is retried one example at a time).
    fn fetch(
        &self,
        examples: &[Example],
        prompts: &[Vec<u32>],
        store: &mut [Fetched],
        needs: Vec<(usize, Vec<Need>)>,
        out: &mut [Option<Result<ServedDecision>>],
    ) {
        let m = &self.models;
        // cheap rows: greedy and sampled; strong rows; one-pass; judges; classifier
        let mut cheap: Vec<(usize, Option<usize>)> = Vec::new();
        let mut strong: Vec<usize> = Vec::new();
        let mut one_pass: Vec<usize> = Vec::new();
        let mut judge_questions: JudgeMap<Vec<(usize, Action)>> = JudgeMap::default();
        let mut classify: Vec<usize> = Vec::new();
        for (i, wanted) in needs {
            let mut seen: Vec<Need> = Vec::new();
            for need in wanted {
                if seen.contains(&need) {
                    continue;
                }
                seen.push(need.clone());
                match need {
                    Need::Greedy => cheap.push((i, None)),
                    Need::Samples(k) => {
                        let have = store[i].samples.len();
                        cheap.extend((have..k).map(|s| (i, Some(s))));
                    }
                    Need::OnePass => one_pass.push(i),
                    Need::Strong => strong.push(i),
                    Need::Judge(role, a) => judge_questions[role].push((i, a)),
                    Need::Classify => classify.push(i),
                }
            }
        }
        let mut fail = |i: usize, e: String| {
            if out[i].is_none() {
                out[i] = Some(Err(ServeError::Model(e)));
            }
        };
        // 1. cheap rows in one generation batch
        if !cheap.is_empty() {
            let rule = |&(i, s): &(usize, Option<usize>)| match s {
                None => RowSampling::Greedy,
                Some(s) => m
                    .sample_rules(&examples[i], s + 1)
                    .pop()
                    .unwrap_or(RowSampling::Greedy),
            };
            let results = per_example(
                &cheap,
                |&(i, _)| i,
                |rows| {
                    let ps: Vec<Vec<u32>> = rows.iter().map(|(i, _)| prompts[*i].clone()).collect();
                    m.decode_rows(
                        &m.models[ModelRole::Cheap],
                        &m.names[ModelRole::Cheap],
                        &ps,
                        rows.iter().map(rule).collect(),
                    )
                },
            );
            for ((i, s), r) in cheap.iter().zip(results) {
                match r {
                    Ok(o) if s.is_none() => store[*i].greedy = Some(o),
                    Ok(o) => store[*i].samples.push(o),
                    Err(e) => fail(*i, e),
                }
            }
        }
        // 2. strong rows in another
        if !strong.is_empty() {
            let results = per_example(
                &strong,
                |&i| i,
                |rows| {
                    let ps: Vec<Vec<u32>> = rows.iter().map(|&i| prompts[i].clone()).collect();
                    m.decode_rows(
                        &m.models[ModelRole::Strong],
                        &m.names[ModelRole::Strong],
                        &ps,
                        vec![RowSampling::Greedy; rows.len()],
                    )
                },
            );
            for (&i, r) in strong.iter().zip(results) {
                match r {
                    Ok(o) => store[i].strong = Some(o),
                    Err(e) => fail(i, e),
                }
            }
        }
        // 3. one-pass scores, one pass per example
        for &i in &one_pass {
            match m.one_pass(&prompts[i]) {
                Ok(o) => store[i].one_pass = Some(o),
                Err(e) => fail(i, e.to_string()),
            }
        }
        // 4. the judges, every question of the round in length-sorted batches
        let recorder = Recorder {
            models: m,
            samples: 0,
            one_pass_k: 0,
        };
        for (role, questions) in judge_questions.iter() {
            if questions.is_empty() {
                continue;
            }
            let results = per_example(
                questions,
                |(i, _)| *i,
                |rows| {
                    let qs: Vec<(&Example, &Action)> = rows.iter().map(|(i, a)| (&examples[*i], a)).collect();
                    recorder.judgements(role, &qs)
                },
            );
            for ((i, _), r) in questions.iter().zip(results) {
                match r {
                    Ok(j) => store[*i].judgements[role].push(j),
                    Err(e) => fail(*i, e),
                }
            }
        }
        // 5. the classifier (no language model)
        if let Some((classifier, name)) = &self.classifier {
            for &i in &classify {
                store[i].classifier = Some(record_classifier(classifier, &examples[i], Some(name)));
            }
        }
    }

    /// A policy's decision as served.
    fn served(&self, d: Decision) -> ServedDecision {
        let calls = &d.record.ledger.calls;
        let mut models: Vec<String> = Vec::new();
        for c in calls {
            if let Some(name) = &c.model
                && !models.contains(name)
            {
                models.push(name.clone());
            }
        }
        let ledger = LedgerSummary {
            calls: calls.len(),
            prefill_tokens: calls.iter().map(|c| c.prefill_tokens).sum(),
            decode_tokens: calls.iter().map(|c| c.decode_tokens).sum(),
            wall_ms: calls.iter().filter_map(|c| c.wall_ms).sum(),
            nominal: d.record.ledger.nominal(),
            strong_only_nominal: self.costs.nominal[ModelRole::Strong],
            models,
        };
        let role_model = |role: ModelRole| -> Option<String> {
            calls
                .iter()
                .rev()
                .find(|c| c.role == role)
                .and_then(|c| c.model.clone())
        };
        let producer = match &d.log.route {
            Route::StrongOnly | Route::FellBack { .. } | Route::Speculative(_) => ModelRole::Strong,
            Route::Accepted | Route::CheapOnly => {
                let classified = calls.first().is_some_and(|c| c.role == ModelRole::Classifier);
                if classified && d.log.first_tier.is_none() {
                    ModelRole::Classifier
                } else {
                    ModelRole::Cheap
                }
            }
        };
        let model = role_model(producer).unwrap_or_else(|| producer.to_string());
        let config = self.policy.name();
        ServedDecision {
            config: config.clone(),
            action: d.record.predicted.clone(),
            raw: d.record.raw_output.clone(),
            route: d.log.route.clone(),
            gate_score: d.log.gate.as_ref().and_then(|g| g.score),
            ledger,
            model,
            logged: LoggedDecision {
                config,
                record: d.record,
                log: d.log,
            },
        }
    }
}

/// Runs `f` on all `rows` at once; if that fails, on each example's rows alone, so one bad
/// example fails only itself. One result per row, in order.
fn per_example<R, T>(
    rows: &[R],
    example_of: impl Fn(&R) -> usize,
    f: impl Fn(&[R]) -> std::result::Result<Vec<T>, VerifyError>,
) -> Vec<std::result::Result<T, String>>
where
    R: Clone,
{
    if let Ok(all) = f(rows)
        && all.len() == rows.len()
    {
        return all.into_iter().map(Ok).collect();
    }
    let mut out: Vec<Option<std::result::Result<T, String>>> = (0..rows.len()).map(|_| None).collect();
    let mut examples: Vec<usize> = rows.iter().map(&example_of).collect();
    examples.dedup();
    examples.sort_unstable();
    examples.dedup();
    for e in examples {
        let idx: Vec<usize> = (0..rows.len()).filter(|&k| example_of(&rows[k]) == e).collect();
        let mine: Vec<R> = idx.iter().map(|&k| rows[k].clone()).collect();
        match f(&mine) {
            Ok(v) if v.len() == mine.len() => {
                for (k, t) in idx.into_iter().zip(v) {
                    out[k] = Some(Ok(t));
                }
            }
            Ok(v) => {
                for k in idx {
                    out[k] = Some(Err(format!("{} results for {} rows", v.len(), mine.len())));
                }
            }
            Err(err) => {
                for k in idx {
                    out[k] = Some(Err(err.to_string()));
                }
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Err("no result".into())))
        .collect()
}

/// Model outputs of one example fetched so far, in the recorded format.
#[derive(Default)]
struct Fetched {
    greedy: Option<RecordedOutput>,
    /// Sampled proposals in sample order (sample `i` seeded by the example id and `i`).
    samples: Vec<RecordedOutput>,
    one_pass: Option<RecordedOnePass>,
    strong: Option<RecordedOutput>,
    /// Each judge's answers about the actions asked so far.
    judgements: JudgeMap<Vec<RecordedJudgement>>,
    classifier: Option<RecordedClassifier>,
}

/// An answer a policy asked for that is not fetched yet.
#[derive(Debug, Clone, PartialEq)]
enum Need {
    Greedy,
    Samples(usize),
    OnePass,
    Strong,
    /// A judge's ([`ModelRole::JUDGES`]) answer about an action.
    Judge(ModelRole, Action),
    Classify,
}

/// Every role, answering from one example's [`Fetched`] store as the replay answers from a
/// recorded row, and noting what is missing.
#[derive(Clone, Copy)]
struct Lookup<'a> {
    f: &'a Fetched,
    costs: &'a CostModel,
    needs: &'a RefCell<Vec<Need>>,
}

impl Lookup<'_> {
    fn miss<T>(&self, need: Need) -> std::result::Result<T, VerifyError> {
        self.needs.borrow_mut().push(need);
        Err(VerifyError::Role(PENDING.into()))
    }

    /// Judge `role`'s fetched answer about `action` (found by call-level match).
    fn judgement(
        &self,
        action: &Action,
        role: ModelRole,
    ) -> std::result::Result<(f64, ModelCall), VerifyError> {
        match self.f.judgements[role]
            .iter()
            .find(|j| j.action.kind == action.kind && j.action.matches_call(action))
        {
            Some(j) => Ok((j.score, j.call.priced(self.costs, role))),
            None => self.miss(Need::Judge(role, action.clone())),
        }
    }
}

fn candidate(o: &RecordedOutput) -> Candidate {
    Candidate {
        action: o.action.clone(),
        raw: o.raw.clone(),
        logprob: o.logprob,
    }
}

impl Proposer for Lookup<'_> {
    fn propose(
        &mut self,
        _example: &Example,
        source: ProposalSource,
    ) -> std::result::Result<Proposals, VerifyError> {
        match source {
            ProposalSource::Greedy => match &self.f.greedy {
                Some(g) => Ok(Proposals {
                    candidates: vec![candidate(g)],
                    calls: vec![g.call.priced(self.costs, ModelRole::Cheap)],
                }),
                None => self.miss(Need::Greedy),
            },
            ProposalSource::Sampled { n } => match self.f.samples.get(..n) {
                Some(samples) => Ok(Proposals {
                    candidates: samples.iter().map(candidate).collect(),
                    calls: samples
                        .iter()
                        .map(|s| s.call.priced(self.costs, ModelRole::Cheap))
                        .collect(),
                }),
                None => self.miss(Need::Samples(n)),
            },
            ProposalSource::OnePass { k } => match &self.f.one_pass {
                Some(op) => Ok(Proposals {
                    candidates: one_pass_candidates(&op.kind_logprobs.0, k),
                    calls: vec![op.call.priced(self.costs, ModelRole::Cheap)],
                }),
                None => self.miss(Need::OnePass),
            },
        }
    }
}

impl StrongModel for Lookup<'_> {
    fn act(&mut self, _example: &Example) -> std::result::Result<(Candidate, ModelCall), VerifyError> {
        match &self.f.strong {
            Some(s) => Ok((candidate(s), s.call.priced(self.costs, ModelRole::Strong))),
            None => self.miss(Need::Strong),
        }
    }
}

impl Verifier for Lookup<'_> {
    fn p_accept(
        &mut self,
        _example: &Example,
        action: &Action,
    ) -> std::result::Result<(f64, ModelCall), VerifyError> {
        self.judgement(action, ModelRole::Verifier)
    }
}

impl Scorer for Lookup<'_> {
    fn score(
        &mut self,
        _example: &Example,
        action: &Action,
    ) -> std::result::Result<(f64, ModelCall), VerifyError> {
        self.judgement(action, ModelRole::Reward)
    }
}

impl Classifier for Lookup<'_> {
    fn classify(&mut self, _example: &Example) -> std::result::Result<(KindProbs, ModelCall), VerifyError> {
        match &self.f.classifier {
            Some(c) => Ok((c.kind_probs, c.call.priced(self.costs, ModelRole::Classifier))),
            None => self.miss(Need::Classify),
        }
    }
}
