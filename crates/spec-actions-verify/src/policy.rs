//! The policies: how a next action is decided from cheap proposals, gates and fallback.
//!
//! | name | policy | calls (nominal units, study prices) |
//! |---|---|---|
//! | A | strong only | 1.00 |
//! | B | cheap only (B\[G\]: one-pass top-1) | 0.15 |
//! | C | cheap + verifier `P(ACCEPT) ≥ τ`, else strong | 0.15 + 0.10 (+ 1.00) |
//! | D | cheap + reward model `score ≥ τ`, else strong | 0.15 + 0.10 (+ 1.00) |
//! | E | n proposals, RM rerank, best `score ≥ τ`, else strong | n·0.15 + n·0.10 (+ 1.00) |
//! | F | confidence gate: top-1 prob (or top-1 − top-2) ≥ τ, else strong | 0.15 (+ 1.00) |
//! | G | one-pass proposals, a [`ProposalSource`] usable in B–F and H | one cheap call for top-k |
//! | H | cheap and strong together; strong action committed; side-effect-free cheap action run early | 0.15 + 1.00 |
//! | K | bag-of-words classifier only: its most probable kind, as a kind-only action | 0.001 |
//! | K→A | classifier, commit its kind if its top probability ≥ τ, else strong | 0.001 (+ 1.00) |
//! | K→F | classifier, commit its kind if its top probability ≥ τ, else F at its own (dev-calibrated) threshold, else strong | 0.001 (+ 0.15 (+ 1.00)) |
//!
//! K cannot propose a tool call's name or arguments: its tool-call kinds are kind-only actions,
//! right at the kind level and wrong at the call level. K→A and K→F are gated policies whose gate
//! is the classifier's confidence ([`GateKind::Classifier`]); their swept threshold is the
//! classifier's (`K→A@0.9000`), K→F's second-tier threshold is part of the policy
//! ([`CascadeTier::Confidence`]) and printed in its description. A K→F decision passed on to F
//! logs the classifier's tier in [`DecisionLog::first_tier`]. The classifier's price is stated in
//! [`spec_actions_core::cost`].
//!
//! C, D, F and H judge the *top* candidate (highest log-probability; the first on ties); E
//! scores every candidate, duplicates included (the study's n·0.10), and keeps the best.
//! Every call made is recorded, whether or not its proposal is used. A proposal that does not
//! parse cannot be judged: the gate makes no call and the policy falls back. A prediction that
//! does not parse is scored wrong and kept (with its raw text).

use serde::{Deserialize, Serialize};
use spec_actions_core::{Action, CostLedger, Example, ExampleRecord, ModelCall};

use crate::decision_log::{
    DecisionLog, FallbackReason, FirstTierLog, GateKind, GateLog, LoggedCandidate, Route, SpeculationLog,
};
use crate::error::{Result, VerifyError};
use crate::recorded::KindProbs;
use crate::roles::{Candidate, PolicyRoles, ProposalSource};
use crate::side_effects::SpeculativeAction;

/// What F's confidence gate reads from the proposer's probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Probability of the top candidate.
    TopProb,
    /// Top-1 minus top-2 probability (needs at least two candidates, e.g. `OnePass { k ≥ 2 }`).
    Margin,
}

/// What a cascade does with an example its classifier tier is not confident about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "tier")]
pub enum CascadeTier {
    /// K→A: the strong model decides.
    Strong,
    /// K→F: policy F (its source, measure and threshold) decides — the cheap proposal when
    /// confident enough, else the strong model.
    Confidence {
        source: ProposalSource,
        measure: Confidence,
        threshold: f64,
    },
}

impl CascadeTier {
    /// The F policy of a `Confidence` tier.
    pub fn policy(&self) -> Option<Policy> {
        match *self {
            CascadeTier::Strong => None,
            CascadeTier::Confidence {
                source,
                measure,
                threshold,
            } => Some(Policy::Confidence {
                source,
                measure,
                threshold,
            }),
        }
    }
}

/// One policy configuration, thresholds included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Policy {
    /// A.
    StrongOnly,
    /// B (G when `source` is one-pass).
    CheapOnly { source: ProposalSource },
    /// C.
    Verified { source: ProposalSource, threshold: f64 },
    /// D.
    RewardThreshold { source: ProposalSource, threshold: f64 },
    /// E: `source` is `Sampled { n }` (the study) or `OnePass { k }`.
    Rerank { source: ProposalSource, threshold: f64 },
    /// F.
    Confidence {
        source: ProposalSource,
        measure: Confidence,
        threshold: f64,
    },
    /// H.
    Speculative { source: ProposalSource },
    /// K: the bag-of-words classifier's most probable kind.
    Classifier,
    /// K→A, K→F: the classifier's kind when its top probability is ≥ `threshold`, else `then`.
    Cascade { threshold: f64, then: CascadeTier },
}

/// A decision: the record the results file keeps, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub record: ExampleRecord,
    pub log: DecisionLog,
}

/// Stage one of a gated policy: candidates proposed and judged, before the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub candidates: Vec<LoggedCandidate>,
    /// Index of the candidate the gate would commit.
    pub chosen: usize,
    /// The gate's score of it; `None` if it did not parse.
    pub score: Option<f64>,
    pub ledger: CostLedger,
}

impl Policy {
    /// Short configuration name: `A`, `B`, `B[G]`, `C@0.5000`, `E[n=3]@0.2000`,
    /// `F-margin[G,k=2]@0.3000`, `H`, `K`, `K→A@0.9000`, `K→F-margin[G,k=2]@0.9000` (the
    /// classifier's threshold; F's is in the description).
    pub fn name(&self) -> String {
        let at = |threshold: &f64| threshold_label(*threshold);
        let tagged = |letter: &str, source: &ProposalSource| match source.tag() {
            t if t.is_empty() => letter.to_string(),
            t => format!("{letter}[{t}]"),
        };
        match self {
            Policy::StrongOnly => "A".into(),
            Policy::CheapOnly { source } => tagged("B", source),
            Policy::Verified { source, threshold } => format!("{}@{}", tagged("C", source), at(threshold)),
            Policy::RewardThreshold { source, threshold } => {
                format!("{}@{}", tagged("D", source), at(threshold))
            }
            Policy::Rerank { source, threshold } => format!("{}@{}", tagged("E", source), at(threshold)),
            Policy::Confidence {
                source,
                measure,
                threshold,
            } => {
                let letter = match measure {
                    Confidence::TopProb => "F",
                    Confidence::Margin => "F-margin",
                };
                format!("{}@{}", tagged(letter, source), at(threshold))
            }
            Policy::Speculative { source } => tagged("H", source),
            Policy::Classifier => "K".into(),
            Policy::Cascade { threshold, then } => {
                let next = match then.policy() {
                    Some(f) => crate::calibrate::family(&f),
                    None => "A".into(),
                };
                format!("K→{next}@{}", at(threshold))
            }
        }
    }

    /// A sentence for the results file.
    pub fn description(&self) -> String {
        let src = |s: &ProposalSource| match s {
            ProposalSource::Greedy => "greedy cheap proposal".to_string(),
            ProposalSource::Sampled { n } => format!("{n} sampled cheap proposals"),
            ProposalSource::OnePass { k } => format!("one-pass top-{k} cheap proposals"),
        };
        match self {
            Policy::StrongOnly => "strong model only".into(),
            Policy::CheapOnly { source } => format!("{} only", src(source)),
            Policy::Verified { source, threshold } => {
                format!(
                    "{} + verifier, accept if P(ACCEPT) ≥ {}, else strong",
                    src(source),
                    threshold_label(*threshold)
                )
            }
            Policy::RewardThreshold { source, threshold } => {
                format!(
                    "{} + reward model, accept if score ≥ {}, else strong",
                    src(source),
                    threshold_label(*threshold)
                )
            }
            Policy::Rerank { source, threshold } => {
                format!(
                    "{} reranked by reward model, accept best if score ≥ {}, else strong",
                    src(source),
                    threshold_label(*threshold)
                )
            }
            Policy::Confidence {
                source,
                measure,
                threshold,
            } => {
                format!(
                    "{} + confidence gate ({measure:?} ≥ {}), else strong",
                    src(source),
                    threshold_label(*threshold)
                )
            }
            Policy::Speculative { source } => {
                format!(
                    "{} and strong model together, strong action committed (lossless)",
                    src(source)
                )
            }
            Policy::Classifier => "bag-of-words classifier only (kind-only actions)".into(),
            Policy::Cascade { threshold, then } => {
                let next = match then.policy() {
                    Some(f) => f.description(),
                    None => "strong model".into(),
                };
                format!(
                    "bag-of-words classifier, commit its kind if top prob ≥ {}, else {next}",
                    threshold_label(*threshold)
                )
            }
        }
    }

    /// The gate of a gated policy (C–F), else `None`.
    pub fn gate(&self) -> Option<GateKind> {
        match self {
            Policy::Verified { .. } => Some(GateKind::Verifier),
            Policy::RewardThreshold { .. } => Some(GateKind::RewardModel),
            Policy::Rerank { .. } => Some(GateKind::Rerank),
            Policy::Confidence {
                measure: Confidence::TopProb,
                ..
            } => Some(GateKind::TopProb),
            Policy::Confidence {
                measure: Confidence::Margin,
                ..
            } => Some(GateKind::Margin),
            Policy::Cascade { .. } => Some(GateKind::Classifier),
            _ => None,
        }
    }

    /// The threshold of a gated policy.
    pub fn threshold(&self) -> Option<f64> {
        match *self {
            Policy::Verified { threshold, .. }
            | Policy::RewardThreshold { threshold, .. }
            | Policy::Rerank { threshold, .. }
            | Policy::Confidence { threshold, .. }
            | Policy::Cascade { threshold, .. } => Some(threshold),
            _ => None,
        }
    }

    /// The same policy with another threshold (unchanged for ungated policies).
    pub fn with_threshold(mut self, tau: f64) -> Self {
        match &mut self {
            Policy::Verified { threshold, .. }
            | Policy::RewardThreshold { threshold, .. }
            | Policy::Rerank { threshold, .. }
            | Policy::Confidence { threshold, .. }
            | Policy::Cascade { threshold, .. } => *threshold = tau,
            _ => {}
        }
        self
    }

    /// Decide the next action of `example`.
    pub fn decide(&self, example: &Example, roles: &mut PolicyRoles<'_>) -> Result<Decision> {
        match self {
            Policy::StrongOnly => {
                let (strong, call) = roles.strong.act(example)?;
                let ledger = CostLedger { calls: vec![call] };
                let log = DecisionLog {
                    candidates: Vec::new(),
                    gate: None,
                    route: Route::StrongOnly,
                    first_tier: None,
                };
                Ok(finish(example, strong, None, ledger, log))
            }
            Policy::CheapOnly { source } => {
                let proposals = roles.proposer.propose(example, *source)?;
                let top = top_index(&proposals.candidates).ok_or_else(|| self.no_candidates())?;
                let chosen = proposals.candidates[top].clone();
                let log = DecisionLog {
                    candidates: logged(proposals.candidates),
                    gate: None,
                    route: Route::CheapOnly,
                    first_tier: None,
                };
                Ok(finish(
                    example,
                    chosen,
                    None,
                    CostLedger {
                        calls: proposals.calls,
                    },
                    log,
                ))
            }
            Policy::Speculative { source } => self.speculate(example, *source, roles),
            Policy::Classifier => {
                let (probs, call) = self.classify(example, roles)?;
                let pick = classifier_candidate(&probs);
                let log = DecisionLog {
                    candidates: logged(vec![pick.clone()]),
                    gate: None,
                    route: Route::CheapOnly,
                    first_tier: None,
                };
                Ok(finish(example, pick, None, CostLedger { calls: vec![call] }, log))
            }
            gated => {
                let threshold = gated.threshold().unwrap_or(f64::INFINITY);
                let judged = gated.judge(example, roles)?;
                let Judged {
                    candidates,
                    chosen,
                    score,
                    mut ledger,
                } = judged;
                let accepted = score.is_some_and(|s| s >= threshold);
                let gate = GateLog {
                    kind: self.gate_kind(),
                    score,
                    threshold,
                    chosen,
                    accepted,
                };
                if accepted {
                    let pick = candidates[chosen].candidate.clone();
                    let log = DecisionLog {
                        candidates,
                        gate: Some(gate),
                        route: Route::Accepted,
                        first_tier: None,
                    };
                    return Ok(finish(example, pick, Some(true), ledger, log));
                }
                if let Some(next) = self.second_tier() {
                    // K→F: the classifier passes the example on; F decides (and may fall back).
                    let mut decision = next.decide(example, roles)?;
                    ledger.calls.append(&mut decision.record.ledger.calls);
                    decision.record.ledger = ledger;
                    let mut first = candidates;
                    decision.log.first_tier = Some(FirstTierLog {
                        candidate: first.swap_remove(chosen),
                        gate,
                    });
                    return Ok(decision);
                }
                let reason = if score.is_some() {
                    FallbackReason::BelowThreshold
                } else {
                    FallbackReason::Unparseable
                };
                let (strong, call) = roles.strong.act(example)?;
                ledger.record(call);
                let log = DecisionLog {
                    candidates,
                    gate: Some(gate),
                    route: Route::FellBack { reason },
                    first_tier: None,
                };
                Ok(finish(example, strong, Some(false), ledger, log))
            }
        }
    }

    /// The policy a cascade's classifier tier passes unconfident examples to, when it is not
    /// the strong model (K→F: its F).
    pub fn second_tier(&self) -> Option<Policy> {
        match self {
            Policy::Cascade { then, .. } => then.policy(),
            _ => None,
        }
    }

    /// The classifier's answer, or [`VerifyError::MissingRole`].
    fn classify(&self, example: &Example, roles: &mut PolicyRoles<'_>) -> Result<(KindProbs, ModelCall)> {
        roles
            .classifier
            .as_deref_mut()
            .ok_or_else(|| VerifyError::MissingRole {
                policy: self.name(),
                role: "classifier",
            })?
            .classify(example)
    }

    fn gate_kind(&self) -> GateKind {
        self.gate().unwrap_or(GateKind::TopProb)
    }

    fn no_candidates(&self) -> VerifyError {
        VerifyError::BadPolicy {
            policy: self.name(),
            reason: "the proposer returned no candidates".into(),
        }
    }

    /// Stage one of a gated policy (C–F): propose, then judge, recording every call; the
    /// threshold is not applied. Used by [`Policy::decide`] and by calibration, which sweeps
    /// thresholds over judged examples.
    pub fn judge(&self, example: &Example, roles: &mut PolicyRoles<'_>) -> Result<Judged> {
        if let Policy::Cascade { .. } = self {
            let (probs, call) = self.classify(example, roles)?;
            let candidate = classifier_candidate(&probs);
            let score = Some(candidate.prob());
            return Ok(Judged {
                candidates: vec![LoggedCandidate { candidate, score }],
                chosen: 0,
                score,
                ledger: CostLedger { calls: vec![call] },
            });
        }
        let source = match *self {
            Policy::Verified { source, .. }
            | Policy::RewardThreshold { source, .. }
            | Policy::Rerank { source, .. }
            | Policy::Confidence { source, .. } => source,
            _ => {
                return Err(VerifyError::BadPolicy {
                    policy: self.name(),
                    reason: "has no gate to judge with".into(),
                });
            }
        };
        let proposals = roles.proposer.propose(example, source)?;
        let mut ledger = CostLedger {
            calls: proposals.calls,
        };
        let top = top_index(&proposals.candidates).ok_or_else(|| self.no_candidates())?;
        let mut candidates = logged(proposals.candidates);
        let (chosen, score) = match self {
            Policy::Verified { .. } => {
                let verifier = roles
                    .verifier
                    .as_deref_mut()
                    .ok_or_else(|| VerifyError::MissingRole {
                        policy: self.name(),
                        role: "verifier",
                    })?;
                let score = match &candidates[top].candidate.action {
                    Some(action) => {
                        let (p, call) = verifier.p_accept(example, action)?;
                        ledger.record(call);
                        Some(p)
                    }
                    None => None,
                };
                candidates[top].score = score;
                (top, score)
            }
            Policy::RewardThreshold { .. } | Policy::Rerank { .. } => {
                let scorer = roles
                    .scorer
                    .as_deref_mut()
                    .ok_or_else(|| VerifyError::MissingRole {
                        policy: self.name(),
                        role: "reward model",
                    })?;
                let rerank = matches!(self, Policy::Rerank { .. });
                let mut best: Option<(usize, f64)> = None;
                for (i, c) in candidates.iter_mut().enumerate() {
                    if !rerank && i != top {
                        continue;
                    }
                    if let Some(action) = &c.candidate.action {
                        let (s, call) = scorer.score(example, action)?;
                        ledger.record(call);
                        c.score = Some(s);
                        if best.is_none_or(|(_, b)| s > b) {
                            best = Some((i, s));
                        }
                    }
                }
                match best {
                    Some((i, s)) => (i, Some(s)),
                    None => (top, None),
                }
            }
            Policy::Confidence { measure, .. } => {
                let p_top = candidates[top].candidate.prob();
                let score = match measure {
                    Confidence::TopProb => p_top,
                    Confidence::Margin => {
                        let second = candidates
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != top)
                            .map(|(_, c)| c.candidate.prob())
                            .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
                            .ok_or_else(|| VerifyError::BadPolicy {
                                policy: self.name(),
                                reason: "a margin gate needs at least two candidates (use OnePass { k ≥ 2 })"
                                    .into(),
                            })?;
                        p_top - second
                    }
                };
                let score = candidates[top].candidate.action.as_ref().map(|_| score);
                candidates[top].score = score;
                (top, score)
            }
            _ => unreachable!("ungated policies returned above"),
        };
        Ok(Judged {
            candidates,
            chosen,
            score,
            ledger,
        })
    }

    /// H: cheap and strong start together. The cheap action is executed early only if its kind
    /// is side-effect free ([`SpeculativeAction`]); the committed action is always the strong
    /// one, so H is lossless — its result is used only when the strong action agrees.
    fn speculate(
        &self,
        example: &Example,
        source: ProposalSource,
        roles: &mut PolicyRoles<'_>,
    ) -> Result<Decision> {
        let proposals = roles.proposer.propose(example, source)?;
        let top = top_index(&proposals.candidates).ok_or_else(|| self.no_candidates())?;
        let cheap = proposals.candidates[top].action.clone();
        let mut ledger = CostLedger {
            calls: proposals.calls,
        };
        let speculative = cheap.clone().and_then(|a| SpeculativeAction::new(a).ok());
        let (strong, call) = roles.strong.act(example)?;
        ledger.record(call);
        let agreed = matches!((&cheap, &strong.action), (Some(c), Some(s)) if c.matches_call(s));
        let log = DecisionLog {
            candidates: logged(proposals.candidates),
            gate: None,
            route: Route::Speculative(SpeculationLog {
                cheap_kind: cheap.as_ref().map(|a| a.kind),
                executed: speculative.is_some(),
                agreed,
            }),
            first_tier: None,
        };
        Ok(finish(example, strong, Some(agreed), ledger, log))
    }
}

/// The classifier's most probable kind as a kind-only candidate, with its log-probability.
fn classifier_candidate(probs: &KindProbs) -> Candidate {
    let (kind, p) = probs.top();
    Candidate::new(Action::kind(kind), p.ln())
}

/// Index of the candidate with the highest log-probability (first on ties).
fn top_index(candidates: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate() {
        if best.is_none_or(|b| c.logprob > candidates[b].logprob) {
            best = Some(i);
        }
    }
    best
}

fn logged(candidates: Vec<Candidate>) -> Vec<LoggedCandidate> {
    candidates
        .into_iter()
        .map(|candidate| LoggedCandidate {
            candidate,
            score: None,
        })
        .collect()
}

/// The record of committing `pick`: kind-level correctness ([`Action::score_against`]); an
/// unparseable pick is wrong and keeps its raw text.
fn finish(
    example: &Example,
    pick: Candidate,
    accepted: Option<bool>,
    ledger: CostLedger,
    log: DecisionLog,
) -> Decision {
    let correct = pick
        .action
        .as_ref()
        .is_some_and(|a: &Action| a.score_against(&example.gold).kind_correct);
    let raw_output = if pick.action.is_none() { pick.raw } else { None };
    let record = ExampleRecord {
        example_id: example.id.clone(),
        gold: example.gold.clone(),
        predicted: pick.action,
        raw_output,
        correct,
        accepted,
        ledger,
    };
    Decision { record, log }
}

/// A threshold as configuration names print it: 4 decimals, or `+inf` / `-inf` for thresholds
/// that accept nothing / everything (calibration on a split where no proposal parsed).
pub fn threshold_label(threshold: f64) -> String {
    if threshold >= 1e12 {
        "+inf".into()
    } else if threshold <= -1e12 {
        "-inf".into()
    } else {
        format!("{threshold:.4}")
    }
}
