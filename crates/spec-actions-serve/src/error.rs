//! What can go wrong, typed: bad requests (a 4xx naming the field), a full queue, a model
//! error (a 5xx for that request only), and bad run folders at start-up.

use std::path::PathBuf;

/// An error of the library or the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request is wrong: `param` names the field (`messages[2].role`, `tools[0].function.parameters.type`).
    #[error("{param}: {message}")]
    BadRequest {
        /// The offending field, as a JSON path.
        param: String,
        message: String,
        /// OpenAI-style error code (`invalid_value`, `context_length_exceeded`, …).
        code: &'static str,
    },
    /// The request body is larger than the limit.
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The queue is full: try again later.
    #[error("the server is busy: {queued} requests queued")]
    Overloaded { queued: usize },
    /// The service is shutting down and takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A model failed on this request.
    #[error("model error: {0}")]
    Model(String),
    /// A run folder or checkpoint could not be used.
    #[error("{path}: {message}")]
    Run { path: PathBuf, message: String },
    /// The operating point rule names no configuration of the run, or is not understood.
    #[error("policy `{rule}`: {message}")]
    Policy { rule: String, message: String },
}

impl ServeError {
    /// A [`ServeError::BadRequest`] with code `invalid_value`.
    pub fn bad(param: impl Into<String>, message: impl Into<String>) -> Self {
        ServeError::BadRequest {
            param: param.into(),
            message: message.into(),
            code: "invalid_value",
        }
    }

    /// A [`ServeError::Run`] about `path`.
    pub fn run(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        ServeError::Run {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ServeError::BadRequest { .. } => 400,
            ServeError::TooLarge { .. } => 413,
            ServeError::Overloaded { .. } | ServeError::ShuttingDown => 503,
            ServeError::Model(_) | ServeError::Run { .. } | ServeError::Policy { .. } => 500,
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, ServeError>;
