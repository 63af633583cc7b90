//! The one error type of the data pipeline: every variant names the file (and line or field)
//! it is about.

use std::path::PathBuf;

use spec_actions_core::io::FileError;

/// A failure that stops a dataset build. Problems with single BFCL lines are not errors: they
/// are collected as [`crate::bfcl::ImportIssue`]s and reported in the dataset card.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    InvalidLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("tokenizer {path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("serialize {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
}
