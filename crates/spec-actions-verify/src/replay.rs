//! Replay implementations of the four roles: they answer from a [`RecordedSet`] instead of
//! running models, so every policy re-runs offline in milliseconds. Calls are priced with the
//! [`CostModel`] the replay is given.

use spec_actions_core::{Action, CostModel, Example, ModelCall, ModelRole};

use crate::error::{Result, VerifyError};
use crate::recorded::KindProbs;
use crate::recorded::{RecordedExample, RecordedOutput, RecordedSet};
use crate::roles::{
    Candidate, Classifier, PolicyRoles, ProposalSource, Proposals, Proposer, Scorer, StrongModel, Verifier,
    one_pass_candidates,
};

/// Plays every role from recorded outputs. It is `Copy`: one value per role.
#[derive(Debug, Clone, Copy)]
pub struct Replay<'a> {
    set: &'a RecordedSet,
    costs: &'a CostModel,
    /// Row last answered for: examples replayed in file order are found without hashing.
    last: usize,
}

/// Room left in a proposal's call list for the gate's and the fallback's calls, so the
/// decision's ledger grows without reallocating.
const LEDGER_HEADROOM: usize = 2;

impl<'a> Replay<'a> {
    pub fn new(set: &'a RecordedSet, costs: &'a CostModel) -> Self {
        Replay { set, costs, last: 0 }
    }

    fn row(&mut self, example: &Example) -> Result<&'a RecordedExample> {
        let set: &'a RecordedSet = self.set;
        let i = set
            .position_near(&example.id, self.last)
            .ok_or_else(|| VerifyError::NotRecorded {
                example_id: example.id.clone(),
                what: "example".into(),
            })?;
        self.last = i;
        Ok(&set.rows()[i])
    }

    fn candidate(output: &RecordedOutput) -> Candidate {
        Candidate {
            action: output.action.clone(),
            raw: output.raw.clone(),
            logprob: output.logprob,
        }
    }

    /// The recorded answer of judge `role` about `action` (found by call-level match).
    fn judgement(
        &mut self,
        example: &Example,
        action: &Action,
        role: ModelRole,
        what: &str,
    ) -> Result<(f64, ModelCall)> {
        self.row(example)?.judgements[role]
            .iter()
            .find(|j| j.action.kind == action.kind && j.action.matches_call(action))
            .map(|j| (j.score, j.call.priced(self.costs, role)))
            .ok_or_else(|| VerifyError::NotRecorded {
                example_id: example.id.clone(),
                what: format!("{what} for action {action}"),
            })
    }
}

impl Proposer for Replay<'_> {
    fn propose(&mut self, example: &Example, source: ProposalSource) -> Result<Proposals> {
        let row = self.row(example)?;
        let missing = |what: String| VerifyError::NotRecorded {
            example_id: example.id.clone(),
            what,
        };
        match source {
            ProposalSource::Greedy => {
                let g = row
                    .greedy
                    .as_ref()
                    .ok_or_else(|| missing("greedy proposal".into()))?;
                let mut calls = Vec::with_capacity(1 + LEDGER_HEADROOM);
                calls.push(g.call.priced(self.costs, ModelRole::Cheap));
                Ok(Proposals {
                    candidates: vec![Self::candidate(g)],
                    calls,
                })
            }
            ProposalSource::Sampled { n } => {
                let samples = row
                    .samples
                    .get(..n)
                    .ok_or_else(|| missing(format!("{n} sampled proposals (have {})", row.samples.len())))?;
                let mut calls = Vec::with_capacity(2 * n + LEDGER_HEADROOM);
                calls.extend(
                    samples
                        .iter()
                        .map(|s| s.call.priced(self.costs, ModelRole::Cheap)),
                );
                Ok(Proposals {
                    candidates: samples.iter().map(Self::candidate).collect(),
                    calls,
                })
            }
            ProposalSource::OnePass { k } => {
                let op = row
                    .one_pass
                    .as_ref()
                    .ok_or_else(|| missing("one-pass scores".into()))?;
                let mut calls = Vec::with_capacity(1 + k.min(9) + LEDGER_HEADROOM);
                calls.push(op.call.priced(self.costs, ModelRole::Cheap));
                Ok(Proposals {
                    candidates: one_pass_candidates(&op.kind_logprobs.0, k),
                    calls,
                })
            }
        }
    }
}

impl Verifier for Replay<'_> {
    fn p_accept(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall)> {
        self.judgement(example, action, ModelRole::Verifier, "verifier P(ACCEPT)")
    }
}

impl Scorer for Replay<'_> {
    fn score(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall)> {
        self.judgement(example, action, ModelRole::Reward, "reward-model score")
    }
}

impl StrongModel for Replay<'_> {
    fn act(&mut self, example: &Example) -> Result<(Candidate, ModelCall)> {
        let row = self.row(example)?;
        Ok((
            Self::candidate(&row.strong),
            row.strong.call.priced(self.costs, ModelRole::Strong),
        ))
    }
}

impl Classifier for Replay<'_> {
    fn classify(&mut self, example: &Example) -> Result<(KindProbs, ModelCall)> {
        let row = self.row(example)?;
        let c = row.classifier.as_ref().ok_or_else(|| VerifyError::NotRecorded {
            example_id: example.id.clone(),
            what: "classifier probabilities".into(),
        })?;
        Ok((c.kind_probs, c.call.priced(self.costs, ModelRole::Classifier)))
    }
}

/// One [`Replay`] per role, lent out as [`PolicyRoles`].
#[derive(Debug, Clone, Copy)]
pub struct ReplayRoles<'a> {
    proposer: Replay<'a>,
    strong: Replay<'a>,
    verifier: Replay<'a>,
    scorer: Replay<'a>,
    classifier: Replay<'a>,
}

impl<'a> ReplayRoles<'a> {
    pub fn new(set: &'a RecordedSet, costs: &'a CostModel) -> Self {
        let r = Replay::new(set, costs);
        ReplayRoles {
            proposer: r,
            strong: r,
            verifier: r,
            scorer: r,
            classifier: r,
        }
    }

    /// All five roles, played from the recording (the classifier's calls fail with
    /// [`VerifyError::NotRecorded`] on rows recorded without it).
    pub fn roles(&mut self) -> PolicyRoles<'_> {
        PolicyRoles {
            proposer: &mut self.proposer,
            strong: &mut self.strong,
            verifier: Some(&mut self.verifier),
            scorer: Some(&mut self.scorer),
            classifier: Some(&mut self.classifier),
        }
    }
}
