//! Strict TOML reading for the project's hand-written files (the trace kind map, the run
//! config): a bad key or value is a [`TomlError`] naming the file, the 1-based line and the
//! dotted key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A TOML file that does not read as the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    /// The file (or a description of the text, such as `--set cheap.steps=x`).
    pub path: PathBuf,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// Dotted key of the offending entry (`roles.cheap.steps`); empty at the top level.
    pub key: String,
    pub message: String,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TomlError {}

/// The 1-based line of byte offset `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Deserialize `text` (the contents of `path`) as `T`, with the key path and line of the
/// first problem in the error.
pub fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, TomlError> {
    let at = |line, key: String, message: String| TomlError {
        path: path.to_path_buf(),
        line,
        key,
        message,
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        at(
            e.span().map(|s| line_of(text, s.start)),
            String::new(),
            e.message().trim().to_string(),
        )
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let key = if key == "." { String::new() } else { key };
        at(
            inner.span().map(|s| line_of(text, s.start)),
            key,
            inner.message().trim().to_string(),
        )
    })
}
