//! What can go wrong while analysing results.

use std::path::PathBuf;

use spec_actions_core::ResultsError;
use spec_actions_core::io::FileError;

/// Why a frontier analysis failed. Every variant names the configuration, example or option.
#[derive(Debug, thiserror::Error)]
pub enum FrontierError {
    #[error("no configurations to compare")]
    Empty,
    #[error("configuration {config:?}: {field} is {value}, expected a finite number")]
    NotFinite {
        config: String,
        field: &'static str,
        value: f64,
    },
    #[error("{field} is {value}, expected a number in (0, 1]")]
    BadBaseline { field: &'static str, value: f64 },
    #[error("configuration name {config:?} appears twice")]
    DuplicateName { config: String },
    #[error("configuration {config:?}: example {example_id:?} appears twice in its records")]
    DuplicateExample { config: String, example_id: String },
    #[error(
        "configuration {config:?}: its records are not paired with those of {reference:?} \
         (example {example_id:?} is in one but not the other)"
    )]
    UnpairedRecords {
        config: String,
        reference: String,
        example_id: String,
    },
    #[error(
        "record {example_id:?} of configuration {config:?}: ledger cost is {value}, expected a finite number"
    )]
    BadRecordCost {
        config: String,
        example_id: String,
        value: f64,
    },
    #[error("option {name}: {message}")]
    BadOption { name: &'static str, message: String },
    #[error(
        "sweep: the strong end point (cost {strong_cost}, accuracy {strong_accuracy}) must cost more and score higher \
         than the cheap one (cost {cheap_cost}, accuracy {cheap_accuracy})"
    )]
    NoGap {
        cheap_cost: f64,
        cheap_accuracy: f64,
        strong_cost: f64,
        strong_accuracy: f64,
    },
    #[error("sweep point {index}: {field} is {value}, expected a finite number")]
    BadSweepPoint {
        index: usize,
        field: &'static str,
        value: f64,
    },
    #[error("{}:{line}: {source}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}:{line}: field `{field}`: {reason}", path.display())]
    BadField {
        path: PathBuf,
        line: usize,
        field: String,
        reason: String,
    },
    #[error("plot: {0}")]
    Plot(String),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Results(#[from] ResultsError),
}
