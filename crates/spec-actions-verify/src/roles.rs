//! The four roles a policy composes, as backend-agnostic traits: a cheap [`Proposer`], an
//! ACCEPT/REJECT [`Verifier`], a reward-model [`Scorer`] and the [`StrongModel`] used as
//! fallback.
//!
//! Two kinds of implementation plug in: replay ones ([`crate::replay`]) that read recorded model
//! outputs, and live ones (Qwen3 models on any burn backend, in a crate that depends on this
//! one). Every method returns the [`ModelCall`]s it made, priced by the implementation's
//! [`spec_actions_core::CostModel`], so the policy can record them in the decision's ledger —
//! including the calls of proposals that end up rejected.

use serde::{Deserialize, Serialize};
use spec_actions_core::{Action, ActionKind, Example, ModelCall};

use crate::error::Result;
use crate::recorded::KindProbs;

/// How the cheap proposer produces its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum ProposalSource {
    /// One greedy decode: one candidate, one cheap call. The study's proposer.
    Greedy,
    /// `n` sampled decodes: `n` candidates in sample order, `n` cheap calls.
    Sampled { n: usize },
    /// Policy G: the nine kinds scored in one prefill; the `k` most likely kinds, best first,
    /// from one cheap call. Log-probabilities are normalised over the nine kinds.
    OnePass { k: usize },
}

impl ProposalSource {
    /// Short tag for configuration names: `""`, `"n=3"`, `"G"`.
    pub fn tag(self) -> String {
        match self {
            ProposalSource::Greedy => String::new(),
            ProposalSource::Sampled { n } => format!("n={n}"),
            ProposalSource::OnePass { k: 1 } => "G".to_string(),
            ProposalSource::OnePass { k } => format!("G,k={k}"),
        }
    }
}

/// One proposed action with the proposer's log-probability of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// `None` when the model output did not parse; such a candidate is never accepted, and a
    /// prediction of `None` is scored wrong.
    pub action: Option<Action>,
    /// The raw model output, kept when it did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Natural log-probability of the action under the proposer (≤ 0).
    pub logprob: f64,
}

impl Candidate {
    /// A parsed candidate.
    pub fn new(action: Action, logprob: f64) -> Self {
        Candidate {
            action: Some(action),
            raw: None,
            logprob,
        }
    }

    /// A candidate whose output did not parse.
    pub fn unparseable(raw: impl Into<String>, logprob: f64) -> Self {
        Candidate {
            action: None,
            raw: Some(raw.into()),
            logprob,
        }
    }

    /// Probability `exp(logprob)`.
    pub fn prob(&self) -> f64 {
        self.logprob.exp()
    }
}

/// What a proposer returns: its candidates and every call it made to produce them.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposals {
    /// [`ProposalSource::OnePass`]: best first. [`ProposalSource::Sampled`]: in sample order.
    pub candidates: Vec<Candidate>,
    pub calls: Vec<ModelCall>,
}

/// The cheap model that proposes the next action.
pub trait Proposer {
    /// Candidates for the next action of `example`, produced as `source` says.
    ///
    /// Contract: `Greedy` → exactly one candidate; `Sampled { n }` → `n` candidates and `n`
    /// calls; `OnePass { k }` → `min(k, 9)` kind-only candidates sorted by log-probability
    /// (normalised over the nine kinds, see [`one_pass_candidates`]) from one call.
    fn propose(&mut self, example: &Example, source: ProposalSource) -> Result<Proposals>;
}

/// An LLM judge: the probability that `action` is the right next step.
pub trait Verifier {
    /// `P(ACCEPT)` in `[0, 1]` (live: softmax over the `ACCEPT`/`REJECT` answers) and the call.
    fn p_accept(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall)>;
}

/// A reward model: a scalar score, higher is better.
pub trait Scorer {
    fn score(&mut self, example: &Example, action: &Action) -> Result<(f64, ModelCall)>;
}

/// The expensive model that decides when the cheap proposal is not accepted.
pub trait StrongModel {
    /// Its action (a [`Candidate`] whose `action` is `None` when its output did not parse).
    fn act(&mut self, example: &Example) -> Result<(Candidate, ModelCall)>;
}

/// A next-kind classifier that needs no language model (policy K and the cascades' first tier):
/// a probability for each of the nine kinds. Live: [`crate::classifier::LiveClassifier`] on a
/// `spec_actions_baseline::KindClassifier`.
pub trait Classifier {
    /// The nine kinds' probabilities of `example`'s next action and the call.
    fn classify(&mut self, example: &Example) -> Result<(KindProbs, ModelCall)>;
}

/// The roles a policy may use. Verifier, scorer and classifier are optional; a policy that
/// needs a missing one fails with [`crate::VerifyError::MissingRole`].
pub struct PolicyRoles<'a> {
    pub proposer: &'a mut dyn Proposer,
    pub strong: &'a mut dyn StrongModel,
    pub verifier: Option<&'a mut dyn Verifier>,
    pub scorer: Option<&'a mut dyn Scorer>,
    pub classifier: Option<&'a mut dyn Classifier>,
}

/// Policy G's candidates from the nine kinds' sequence log-probabilities (indexed as
/// [`ActionKind::ALL`]): log-softmax over the nine, the `k` best first (ties: study order).
/// Live one-pass proposers and the replay share this, so both normalise identically.
pub fn one_pass_candidates(kind_logprobs: &[f64; ActionKind::COUNT], k: usize) -> Vec<Candidate> {
    let max = kind_logprobs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_z = max + kind_logprobs.iter().map(|lp| (lp - max).exp()).sum::<f64>().ln();
    // Selection of the k best (k ≤ 9): no sort, no scratch allocation.
    let mut taken = [false; ActionKind::COUNT];
    let mut out = Vec::with_capacity(k.min(ActionKind::COUNT));
    for _ in 0..k.min(ActionKind::COUNT) {
        let mut best: Option<usize> = None;
        for i in (0..ActionKind::COUNT).filter(|&i| !taken[i]) {
            if best.is_none_or(|b| kind_logprobs[i] > kind_logprobs[b]) {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        taken[i] = true;
        out.push(Candidate::new(
            Action::kind(ActionKind::ALL[i]),
            kind_logprobs[i] - log_z,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_normalises_and_orders() {
        // Two kinds with log-probs ln 3 and ln 1, the rest −∞-ish: probabilities 0.75, 0.25.
        let mut lps = [-1e9; 9];
        lps[ActionKind::Repair.index()] = 3f64.ln();
        lps[ActionKind::FileRead.index()] = 0.0;
        let c = one_pass_candidates(&lps, 3);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].action, Some(Action::kind(ActionKind::Repair)));
        assert_eq!(c[1].action, Some(Action::kind(ActionKind::FileRead)));
        approx::assert_abs_diff_eq!(c[0].prob(), 0.75, epsilon = 1e-12);
        approx::assert_abs_diff_eq!(c[1].prob(), 0.25, epsilon = 1e-12);
        assert_eq!(one_pass_candidates(&lps, 20).len(), 9);
    }
}
