//! The crate's error type: every failure names the file, field or tensor it is about.

use std::path::PathBuf;

/// What is wrong with one tensor of a checkpoint, as reported by the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorProblem {
    /// The model needs this tensor and no file of the checkpoint holds it.
    Missing {
        name: String,
        expected_shape: Vec<usize>,
    },
    /// The checkpoint holds a tensor that the model does not use.
    Unexpected { name: String, file: PathBuf },
    /// The tensor exists but its shape differs from what the config implies.
    WrongShape {
        name: String,
        file: PathBuf,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The tensor is stored in a dtype the loader cannot convert (only f32, bf16, f16 are read).
    UnsupportedDtype {
        name: String,
        file: PathBuf,
        dtype: String,
    },
}

impl std::fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { name, expected_shape } => {
                write!(f, "missing tensor `{name}` (expected shape {expected_shape:?})")
            }
            Self::Unexpected { name, file } => {
                write!(f, "unexpected tensor `{name}` in {}", file.display())
            }
            Self::WrongShape {
                name,
                file,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` in {} has shape {found:?}, expected {expected:?}",
                file.display()
            ),
            Self::UnsupportedDtype { name, file, dtype } => write!(
                f,
                "tensor `{name}` in {} is stored as {dtype}; only F32, BF16 and F16 are supported",
                file.display()
            ),
        }
    }
}

/// Errors of configuration parsing, checkpoint loading, generation and scoring.
#[derive(Debug, thiserror::Error)]
pub enum Qwen3Error {
    /// A file could not be opened, read or memory-mapped.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file or folder could not be written (a full disk, a read-only folder).
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config.json, the shard index) is not valid or lacks a required field.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// config.json parsed but holds a value this implementation does not support.
    #[error("unsupported setting in {path}: `{field}` = {value} ({reason})")]
    Unsupported {
        path: PathBuf,
        field: String,
        value: String,
        reason: String,
    },
    /// config.json lacks a field (or both alternatives of a field that moved between versions).
    #[error("{path}: missing field `{field}`")]
    MissingField { path: PathBuf, field: String },
    /// A safetensors file is truncated or its header is corrupt.
    #[error("invalid safetensors file {path}: {message}")]
    Safetensors { path: PathBuf, message: String },
    /// The checkpoint's tensors do not match the model the config describes; every problem is listed.
    #[error("checkpoint {dir} does not match its config ({} problem(s)):\n  {}", problems.len(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    TensorMismatch {
        dir: PathBuf,
        problems: Vec<TensorProblem>,
    },
    /// A checkpoint folder holds neither `model.safetensors` nor `model.safetensors.index.json`.
    #[error("no model.safetensors or model.safetensors.index.json in {dir}")]
    NoWeights { dir: PathBuf },
    /// A tokenizer can produce token ids the model has no embedding row for (its largest id,
    /// special tokens included, is ≥ the config's `vocab_size`).
    #[error(
        "tokenizer {tokenizer} produces token ids up to {max_token_id}, but the model of {config} has \
         vocab_size = {vocab_size} (ids must be below it): the tokenizer does not belong to this checkpoint"
    )]
    TokenizerVocabMismatch {
        tokenizer: PathBuf,
        max_token_id: u32,
        config: PathBuf,
        vocab_size: usize,
    },
    /// A field of a parity reference file has a shape or a value the checks cannot use
    /// (wrong rank, token ids outside the vocabulary, an empty greedy output, …).
    #[error("{path}: reference field `{field}`: {reason}")]
    InvalidReference {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// A parity reference tensor's shape differs from the shape the model gives for it.
    #[error("{path}: reference tensor `{tensor}` has shape {found:?}, the model gives {expected:?}")]
    ReferenceShape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// Generation or scoring was called with inputs it cannot process.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// The crate's result type.
pub type Result<T, E = Qwen3Error> = std::result::Result<T, E>;
