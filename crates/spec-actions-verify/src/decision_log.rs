//! Why a policy decided what it did, for one example: the candidates and their scores, the gate
//! and its threshold, the route taken, and (with the record's ledger) every call made.
//!
//! A [`DecisionLog`] is serialisable and travels beside its [`ExampleRecord`]; [`explain`]
//! renders the pair for a person.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use spec_actions_core::{ActionKind, ExampleRecord};

use crate::roles::Candidate;

/// What a policy saw and concluded for one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionLog {
    /// The cheap proposer's candidates (empty for policy A), with the gate's score of each one
    /// that was judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<LoggedCandidate>,
    /// The gate, for policies C–F.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateLog>,
    /// The route taken. When it involves the strong model, the record's prediction is the
    /// strong model's answer.
    pub route: Route,
    /// A three-tier cascade (`K→F…`) whose classifier tier passed the example on: the
    /// classifier's candidate and its gate (rejected). `candidates`, `gate` and `route` are
    /// then the second tier's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_tier: Option<FirstTierLog>,
}

/// The classifier tier of a cascade that passed the example on to its next tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstTierLog {
    /// The classifier's most probable kind, with its probability as the score.
    pub candidate: LoggedCandidate,
    pub gate: GateLog,
}

/// A candidate and, if the gate judged it, its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedCandidate {
    #[serde(flatten)]
    pub candidate: Candidate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Which signal a gate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// C: the verifier's `P(ACCEPT)` of the top candidate.
    Verifier,
    /// D: the reward model's score of the top candidate.
    RewardModel,
    /// E: the best reward-model score over all candidates.
    Rerank,
    /// F: the proposer's probability of its top candidate.
    TopProb,
    /// F: top-1 minus top-2 probability.
    Margin,
    /// K→A, K→F: the bag-of-words classifier's top kind probability.
    Classifier,
}

/// The gate's reading and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateLog {
    pub kind: GateKind,
    /// `None` when there was nothing to judge (the chosen candidate did not parse).
    pub score: Option<f64>,
    /// Accept iff `score ≥ threshold`.
    pub threshold: f64,
    /// Index into `candidates` of the candidate the gate chose.
    pub chosen: usize,
    pub accepted: bool,
}

/// Which way the decision went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "route")]
pub enum Route {
    /// A: the strong model decided.
    StrongOnly,
    /// B/G: the cheap proposal stands, unjudged; K: the classifier's kind stands.
    CheapOnly,
    /// C–F: the gate accepted the cheap proposal.
    Accepted,
    /// C–F: the strong model decided instead.
    FellBack { reason: FallbackReason },
    /// H: cheap and strong ran together; the strong action is committed.
    Speculative(SpeculationLog),
}

/// Why a gated policy fell back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// The score was below the threshold.
    BelowThreshold,
    /// The chosen proposal did not parse, so no gate could judge it (and no gate call was made).
    Unparseable,
}

/// What policy H did with the cheap proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeculationLog {
    /// Kind of the cheap proposal (`None` if it did not parse).
    pub cheap_kind: Option<ActionKind>,
    /// Whether the cheap action was executed while the strong model decoded (only
    /// side-effect-free kinds are).
    pub executed: bool,
    /// Whether the strong action equals the cheap one (call level), so that the speculative
    /// result, if any, is used.
    pub agreed: bool,
}

/// A readable account of one decision of policy `policy`: candidates and scores, gate and
/// threshold, route, prediction, and every call with its cost.
pub fn explain(policy: &str, record: &ExampleRecord, log: &DecisionLog) -> String {
    let mut s = String::new();
    let show = |a: &Option<spec_actions_core::Action>| {
        a.as_ref().map_or("<unparseable>".to_string(), |a| a.to_string())
    };
    let _ = writeln!(s, "policy {policy} on example {}", record.example_id);
    let _ = writeln!(s, "  gold: {}", record.gold);
    if let Some(t) = &log.first_tier {
        let _ = writeln!(
            s,
            "  classifier tier: {} p {:.4} vs threshold {:.4} → passed on",
            show(&t.candidate.candidate.action),
            t.candidate.candidate.prob(),
            t.gate.threshold
        );
    }
    for (i, c) in log.candidates.iter().enumerate() {
        let score = c.score.map_or(String::new(), |v| format!("  score {v:.4}"));
        let _ = writeln!(
            s,
            "  candidate {i}: {}  p {:.4}{score}",
            show(&c.candidate.action),
            c.candidate.prob()
        );
    }
    if let Some(g) = &log.gate {
        let score = g.score.map_or("none".to_string(), |v| format!("{v:.4}"));
        let verdict = if g.accepted { "accept" } else { "reject" };
        let _ = writeln!(
            s,
            "  gate {:?}: candidate {} score {score} vs threshold {:.4} → {verdict}",
            g.kind, g.chosen, g.threshold
        );
    }
    let route = match &log.route {
        Route::StrongOnly => "strong model only".to_string(),
        Route::CheapOnly => "cheap proposal, unjudged".to_string(),
        Route::Accepted => "cheap proposal accepted".to_string(),
        Route::FellBack { reason } => format!("fell back to the strong model ({reason:?})"),
        Route::Speculative(sp) => format!(
            "speculative: cheap {} executed early: {}, strong agreed: {}; strong action committed",
            sp.cheap_kind
                .map_or("<unparseable>".to_string(), |k| k.to_string()),
            sp.executed,
            sp.agreed
        ),
    };
    let _ = writeln!(s, "  route: {route}");
    let verdict = if record.correct { "correct" } else { "wrong" };
    let _ = writeln!(s, "  predicted: {} ({verdict})", show(&record.predicted));
    for call in &record.ledger.calls {
        let wall = call.wall_ms.map_or(String::new(), |w| format!(", {w:.1} ms"));
        let _ = writeln!(
            s,
            "  call {:?}: {} prefill + {} decode tokens, {:.2} units{wall}",
            call.role, call.prefill_tokens, call.decode_tokens, call.nominal
        );
    }
    let _ = writeln!(s, "  total: {:.2} units", record.ledger.nominal());
    s
}
