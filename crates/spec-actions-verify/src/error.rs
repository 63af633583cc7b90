//! Typed errors of this crate. Every variant names what was wrong and where: the file and line
//! of a recorded-outputs file, the example id, the field, the role or the split.

use std::path::PathBuf;

use spec_actions_core::Split;
use spec_actions_core::io::FileError;

/// Anything that can go wrong while replaying, deciding, calibrating or writing results.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Opening, reading or writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),

    /// Reading or writing a results file failed.
    #[error(transparent)]
    Results(#[from] spec_actions_core::ResultsError),

    /// A JSONL line is not valid JSON for the expected row type.
    #[error("{path}:{line}: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    /// A row parsed but one of its fields is out of range or inconsistent.
    #[error("{path}:{line}: example {example_id:?}: field `{field}`: {reason}")]
    InvalidRecord {
        path: PathBuf,
        line: usize,
        example_id: String,
        field: String,
        reason: String,
    },

    /// Two rows share an example id.
    #[error("{path}:{line}: example id {example_id:?} already used on line {first_line}")]
    DuplicateId {
        path: PathBuf,
        line: usize,
        first_line: usize,
        example_id: String,
    },

    /// A replayed role was asked for an output that the recording does not hold.
    #[error("example {example_id:?}: no recorded {what}")]
    NotRecorded { example_id: String, what: String },

    /// A live role (tokenizer, chat template, model forward pass) failed.
    #[error("live role: {0}")]
    Role(String),

    /// A policy needs a role that was not supplied.
    #[error("policy {policy} needs a {role} but none was supplied")]
    MissingRole { policy: String, role: &'static str },

    /// A policy is configured in a way that cannot work (e.g. a margin gate on one candidate).
    #[error("policy {policy}: {reason}")]
    BadPolicy { policy: String, reason: String },

    /// Thresholds are calibrated on the dev split only.
    #[error("calibration must use the dev split, but example {example_id:?} is in split {split:?}")]
    NotDevSplit { example_id: String, split: Split },

    /// A gate table mixes splits.
    #[error("a gate table holds one split: example {example_id:?} is in {split:?}, the first in {first:?}")]
    MixedSplits {
        example_id: String,
        split: Split,
        first: Split,
    },

    /// Two runs compared example by example do not cover the same examples.
    #[error("runs {left} and {right} differ at record {index}: {left_id:?} vs {right_id:?}")]
    MismatchedRuns {
        left: String,
        right: String,
        index: usize,
        left_id: String,
        right_id: String,
    },

    /// A recording replayed by the study lacks the rows of a split it needs (dev to calibrate
    /// the thresholds, eval to measure the policies).
    #[error(
        "{path}: the recording has no {split} rows ({rows} rows in all); a replay calibrates \
         thresholds on dev and measures the policies on eval, so it needs rows of both"
    )]
    MissingSplit {
        path: PathBuf,
        split: &'static str,
        rows: usize,
    },

    /// A calibration or a sweep was given no examples.
    #[error("{what}: no examples")]
    Empty { what: String },

    /// No threshold meets the cost budget.
    #[error("no threshold of {policy} has mean cost ≤ {budget} on dev (cheapest: {cheapest})")]
    BudgetUnreachable {
        policy: String,
        budget: f64,
        cheapest: f64,
    },

    /// A requested rate is outside [0, 1].
    #[error("{what} must lie in [0, 1], got {value}")]
    OutOfRange { what: &'static str, value: f64 },

    /// A policy family name that no study has (see `study::POLICY_FAMILIES`).
    #[error("unknown policy family `{name}` (known: {known})")]
    UnknownPolicy { name: String, known: String },

    /// A study option is out of its range (a NaN, a negative budget or time).
    #[error("{what} is {value}, expected {expected}")]
    BadOption {
        what: &'static str,
        value: f64,
        expected: &'static str,
    },

    /// Serialising an output failed.
    #[error("serialising {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = VerifyError> = std::result::Result<T, E>;
