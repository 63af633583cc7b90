//! JSON Lines files: one JSON value per line, read as a stream and written atomically.
//!
//! Generic over any serde type, so every crate reads and writes its own rows (datasets of
//! [`Example`], training pairs, per-example records) the same way. A bad row is an error that
//! names the file, the 1-based line and the failing field (`messages[2].role`), never a panic.
//!
//! ```
//! use spec_actions_core::jsonl::{JsonlReader, write_jsonl};
//! use spec_actions_core::{Action, ActionKind};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("actions.jsonl");
//! let rows = vec![Action::kind(ActionKind::Repair), Action::kind(ActionKind::Blocked)];
//! write_jsonl(&path, &rows).unwrap();
//! let back: Vec<Action> = JsonlReader::open(&path).unwrap().collect::<Result<_, _>>().unwrap();
//! assert_eq!(back, rows);
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::example::Example;
use crate::io::{FileError, atomic_write};

/// Why a JSONL file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    /// Opening, reading or writing the file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// One line is not valid JSON, or does not have the expected shape.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Row {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Path of the failing field inside the row (`.` for the row itself).
        field: String,
        message: String,
    },
    /// A row could not be serialized (e.g. a map with non-string keys).
    #[error("{path}: row {row}: cannot serialize: {source}")]
    Serialize {
        path: PathBuf,
        /// 1-based row number.
        row: usize,
        #[source]
        source: serde_json::Error,
    },
}

impl JsonlError {
    /// The 1-based line of a [`JsonlError::Row`] error.
    pub fn line(&self) -> Option<usize> {
        match self {
            JsonlError::Row { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Streaming reader: an iterator of `Result<T, JsonlError>`, one item per non-blank line.
///
/// After an I/O error the iterator ends; after a bad row it goes on with the next line, so a
/// caller may collect every bad line of a file before giving up.
pub struct JsonlReader<T, R = BufReader<File>> {
    reader: R,
    path: PathBuf,
    line: usize,
    buffer: String,
    failed: bool,
    _row: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonlReader<T> {
    /// Open `path` for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JsonlError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| FileError::new("open", path, e))?;
        Ok(Self::from_reader(BufReader::new(file), path))
    }
}

impl<T: DeserializeOwned, R: BufRead> JsonlReader<T, R> {
    /// Read from any buffered reader; `path` is only used to name the source in errors.
    pub fn from_reader(reader: R, path: impl Into<PathBuf>) -> Self {
        JsonlReader {
            reader,
            path: path.into(),
            line: 0,
            buffer: String::new(),
            failed: false,
            _row: PhantomData,
        }
    }

    /// Number of lines consumed so far (the line of the last item returned).
    pub fn line(&self) -> usize {
        self.line
    }
}

impl<T: DeserializeOwned, R: BufRead> Iterator for JsonlReader<T, R> {
    type Item = Result<T, JsonlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            self.buffer.clear();
            match self.reader.read_line(&mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(e) => {
                    self.failed = true;
                    let op = if e.kind() == std::io::ErrorKind::InvalidData {
                        "read (not UTF-8)"
                    } else {
                        "read"
                    };
                    return Some(Err(FileError::new(op, &self.path, e).into()));
                }
            }
            let text = self.buffer.trim();
            if text.is_empty() {
                continue;
            }
            return Some(parse_row(text).map_err(|(field, message)| JsonlError::Row {
                path: self.path.clone(),
                line: self.line,
                field,
                message,
            }));
        }
    }
}

/// Deserialize one JSON text into `T`; on failure, the failing field path and the message.
pub(crate) fn parse_row<T: DeserializeOwned>(text: &str) -> Result<T, (String, String)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        (field, e.into_inner().to_string())
    })?;
    de.end().map_err(|e| (".".to_string(), e.to_string()))?;
    Ok(value)
}

/// Read a whole JSONL file into memory, stopping at the first error.
pub fn read_jsonl<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<Vec<T>, JsonlError> {
    JsonlReader::open(path)?.collect()
}

/// Stream a dataset of [`Example`]s.
pub fn read_examples(path: impl AsRef<Path>) -> Result<JsonlReader<Example>, JsonlError> {
    JsonlReader::open(path)
}

/// Write `rows` to `path`, one compact JSON value per line, atomically (temp file, fsync,
/// rename): on error the previous file, if any, is untouched. Returns the number of rows.
///
/// `rows` may yield values or references (`&Vec<T>` works).
pub fn write_jsonl<I>(path: impl AsRef<Path>, rows: I) -> Result<usize, JsonlError>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    let path = path.as_ref();
    let mut count = 0;
    atomic_write(path, |w| {
        for row in rows {
            count += 1;
            serde_json::to_writer(&mut *w, &row).map_err(|source| {
                if source.is_io() {
                    JsonlError::File(FileError::new("write", path, std::io::Error::other(source)))
                } else {
                    JsonlError::Serialize {
                        path: path.to_path_buf(),
                        row: count,
                        source,
                    }
                }
            })?;
            w.write_all(b"\n").map_err(|e| FileError::new("write", path, e))?;
        }
        Ok::<(), JsonlError>(())
    })?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Action, ActionKind};
    use crate::example::{Message, Split};
    use serde_json::json;

    fn example(id: &str) -> Example {
        Example {
            id: id.to_string(),
            source: "synthetic:test".to_string(),
            conversation: "c1".to_string(),
            split: Split::Train,
            messages: vec![Message::user("read config.yaml")],
            tools: vec![json!({"type": "function", "function": {"name": "read_file"}})],
            gold: Action::call(ActionKind::FileRead, "read_file", json!({"path": "config.yaml"})),
        }
    }

    #[test]
    fn examples_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.jsonl");
        let rows = vec![example("a"), example("b")];
        assert_eq!(write_jsonl(&path, &rows).unwrap(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let back: Vec<Example> = read_examples(&path).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn bad_field_is_reported_with_line_and_path() {
        let good = serde_json::to_string(&example("a")).unwrap();
        let bad = good.replace("\"role\":\"user\"", "\"role\":\"robot\"");
        assert_ne!(good, bad);
        let text = format!("{good}\n\n{bad}\n{good}\n");
        let rows: Vec<_> =
            JsonlReader::<Example, _>::from_reader(text.as_bytes(), "data/train.jsonl").collect();
        assert_eq!(
            rows.len(),
            3,
            "blank line skipped, reading goes on after a bad row"
        );
        assert!(rows[0].is_ok() && rows[2].is_ok());
        let err = rows[1].as_ref().unwrap_err();
        match err {
            JsonlError::Row {
                path,
                line,
                field,
                message,
            } => {
                assert_eq!(path, Path::new("data/train.jsonl"));
                assert_eq!(*line, 3);
                assert_eq!(field, "messages[0].role");
                assert!(message.contains("robot"), "{message}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let shown = err.to_string();
        assert!(
            shown.starts_with("data/train.jsonl:3: field `messages[0].role`"),
            "{shown}"
        );
    }

    #[test]
    fn missing_field_and_bad_json_name_the_line() {
        let text = "{\"kind\":\"repair\"}\n{\"name\":\"x\"}\n{\"kind\": \"repair\"} trailing\nnot json\n";
        let rows: Vec<Result<Action, _>> = JsonlReader::from_reader(text.as_bytes(), "a.jsonl").collect();
        assert!(rows[0].is_ok());
        let lines: Vec<_> = rows
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.line())
            .collect();
        assert_eq!(lines, vec![Some(2), Some(3), Some(4)]);
        let missing = rows[1].as_ref().unwrap_err().to_string();
        assert!(missing.contains("missing field `kind`"), "{missing}");
    }

    #[test]
    fn unknown_kind_names_the_kind_field() {
        let text = "{\"id\":\"x\",\"source\":\"s\",\"conversation\":\"c\",\"split\":\"train\",\
                    \"messages\":[],\"gold\":{\"kind\":\"jump\"}}";
        let err = JsonlReader::<Example, _>::from_reader(text.as_bytes(), "x.jsonl")
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, JsonlError::Row { field, line: 1, .. } if field == "gold.kind"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let err = read_jsonl::<Example>("/nonexistent/dir/data.jsonl").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/data.jsonl"), "{err}");
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.jsonl");
        write_jsonl(&path, [json!({"a": 1})]).unwrap();
        // A map with non-string keys cannot be serialized to JSON.
        let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let err = write_jsonl(&path, [bad]).unwrap_err();
        assert!(matches!(err, JsonlError::Serialize { row: 1, .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file removed");
    }
}
