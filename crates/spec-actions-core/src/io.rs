//! Files: atomic writes (temp file in the same folder, fsync, rename) and streaming JSONL.
//!
//! Every file this project writes goes through [`atomic_write`], so a crash or a full disk leaves
//! either the old file or the new one, never a torn one.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An I/O failure, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct FileError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FileError {
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FileError {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Write `path` atomically: `fill` writes into a temp file beside it, which is flushed, fsynced
/// and renamed over `path` only when `fill` succeeds. On error the temp file is removed and any
/// previous `path` is untouched.
pub fn atomic_write<E>(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>) -> Result<(), E>
where
    E: From<FileError>,
{
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FileError::new("create folder", dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per call, so that threads writing the same file never share a temp file.
    static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
    // Removes the temp file on every exit but success, a panic in `fill` included.
    struct RemoveOnDrop<'a>(&'a Path, bool);
    impl Drop for RemoveOnDrop<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = fs::remove_file(self.0);
            }
        }
    }
    let mut guard = RemoveOnDrop(&tmp, false);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| FileError::new("create", &tmp, e))?;
        let mut writer = BufWriter::new(file);
        fill(&mut writer)?;
        let file = writer
            .into_inner()
            .map_err(|e| FileError::new("flush", &tmp, e.into_error()))?;
        file.sync_all().map_err(|e| FileError::new("fsync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| FileError::new("rename into", path, e))?;
        Ok(())
    })();
    guard.1 = result.is_ok();
    if result.is_ok() {
        remove_stale_temps(dir, &file_name);
    }
    result
}

/// Removes the temp files of `file_name` that processes which no longer run left in `dir`
/// (a `kill -9` between create and rename): `.{file_name}.{pid}.{n}.tmp` with a `pid` that is
/// not this process and has no `/proc/{pid}`. Where `/proc` does not exist nothing is removed:
/// a live writer's temp file must never go. Best effort: errors are ignored.
fn remove_stale_temps(dir: &Path, file_name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(middle) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some(pid) = middle
            .split_once('.')
            .and_then(|(pid, n)| n.parse::<u64>().is_ok().then_some(pid))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// [`atomic_write`] of a byte string.
pub fn atomic_write_bytes(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    atomic_write(path, |w| {
        w.write_all(bytes).map_err(|e| FileError::new("write", path, e))
    })
}
