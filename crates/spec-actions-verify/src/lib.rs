//! # spec-actions-verify
//!
//! Speculative decoding lifted to agent actions: a cheap model proposes the next action, a gate
//! (an LLM verifier, a reward model, or the proposer's own confidence) accepts it or falls back
//! to a strong model, and a [`CostLedger`](spec_actions_core::CostLedger) records every call.
//!
//! - Roles ([`roles`]): [`Proposer`], [`Verifier`], [`Scorer`], [`StrongModel`] and the
//!   language-model-free [`Classifier`] ([`classifier`]: live on a bag-of-words model) — backend
//!   agnostic traits; [`replay`] implements them from recorded outputs ([`recorded`], a
//!   documented JSONL format that live runs write), [`synthetic`] generates recordings.
//! - Policies ([`policy`]): A strong only, B cheap only, C verifier, D reward threshold,
//!   E rerank, F confidence gate, G one-pass proposals (a [`ProposalSource`] usable in B–F),
//!   H lossless speculative execution (only [`SideEffects::is_side_effect_free`] kinds run early),
//!   K the bag-of-words classifier alone, and the cascades K→A and K→F that put it first.
//! - Thresholds ([`calibrate`]): sweeps of (cost, accuracy), calibration on dev to a fallback
//!   rate or a cost budget; [`oracle`]: the best possible router and per-gate accept curves.
//! - Output ([`evaluate`]): per-example records in the core results schema, decision logs
//!   ([`decision_log::explain`] prints one), latency next to cost ([`latency`]).
//!
//! ```
//! use spec_actions_core::{CostModel, Split};
//! use spec_actions_verify::{
//!     explain, generate, memory_origin, run_policy, GateTable, Policy, ProposalSource, RecordedSet,
//!     ReplayRoles, SyntheticRecordingConfig,
//! };
//!
//! // Recorded outputs (here synthetic), replayed with the study's prices.
//! let rows = generate(&SyntheticRecordingConfig { examples: 400, ..Default::default() });
//! let set = RecordedSet::from_rows(rows, &memory_origin())?;
//! let costs = CostModel::default();
//! let mut replay = ReplayRoles::new(&set, &costs);
//! let (dev, eval) = (set.examples(Split::Dev), set.examples(Split::Eval));
//!
//! // Calibrate C's verifier threshold on dev to a 30% fallback rate, then run it on eval.
//! let c = Policy::Verified { source: ProposalSource::Greedy, threshold: 0.5 };
//! let calibration = GateTable::probe(&c, &dev, &mut replay.roles())?.calibrate_fallback_rate(0.3)?;
//! assert!((calibration.dev.fallback_rate - 0.3).abs() <= 1.0 / dev.len() as f64);
//! let run = run_policy(&calibration.policy, &eval, &mut replay.roles(), None)?;
//! println!("{}: accuracy {:.3}, cost {:.3}", run.config.name, run.config.accuracy, run.config.mean_cost);
//!
//! // Why it decided what it did on the first eval example.
//! println!("{}", explain(&run.config.name, &run.config.records[0], &run.logs[0]));
//! # Ok::<(), spec_actions_verify::VerifyError>(())
//! ```

pub mod calibrate;
pub mod classifier;
pub mod decision_log;
pub mod error;
pub mod evaluate;
pub mod latency;
pub mod oracle;
pub mod policy;
pub mod recorded;
pub mod replay;
pub mod roles;
pub mod side_effects;
pub mod study;
pub mod synthetic;

pub use calibrate::{
    AcceptPoint, Calibration, CalibrationTarget, CurvePoint, GateRow, GateTable, Sweep, family,
};
pub use classifier::{LiveClassifier, record_classifier};
pub use decision_log::{
    DecisionLog, FallbackReason, FirstTierLog, GateKind, GateLog, LoggedCandidate, Route, SpeculationLog,
    explain,
};
pub use error::{Result, VerifyError};
pub use evaluate::{
    LoggedDecision, PolicyRun, RunSummary, read_decision_logs, results_file, run_policy, write_decision_logs,
    write_decision_logs_staged, write_json, write_json_staged,
};
pub use latency::{LatencyModel, RoleLatency};
pub use oracle::{GateReport, OracleAnalysis};
pub use policy::{CascadeTier, Confidence, Decision, Judged, Policy};
pub use recorded::{
    KindLogprobs, KindProbs, RecordedCall, RecordedClassifier, RecordedExample, RecordedJudgement,
    RecordedOnePass, RecordedOutput, RecordedSet, memory_origin,
};
pub use replay::{Replay, ReplayRoles};
pub use roles::{
    Candidate, Classifier, PolicyRoles, ProposalSource, Proposals, Proposer, Scorer, StrongModel, Verifier,
    one_pass_candidates,
};
pub use side_effects::{HasSideEffects, SideEffects, SpeculativeAction};
pub use synthetic::{SyntheticRecordingConfig, generate};
