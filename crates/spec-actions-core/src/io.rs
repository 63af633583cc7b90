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
    let mut staged = StagedWrites::new();
    staged.write(path, fill)?;
    staged.commit()?;
    Ok(())
}

/// The folder of `path` and its file name.
fn parent_and_name(path: &Path) -> (&Path, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

/// A number unique to this call in this process, so that threads writing the same file (or
/// folder) never share a temp name.
fn next_temp_number() -> u64 {
    static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
    NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
}

/// Several files written as one: each [`StagedWrites::write`] fills and fsyncs a temp file
/// beside its target; [`StagedWrites::commit`] renames them all into place, in order. Until the
/// commit no target changes, so an error while writing any of them (a full disk, a serializer
/// failure) leaves every previous file as it was, and the set is never a mix of old and new
/// files. Renames need no space, so only a `kill -9` inside the commit's few renames could
/// leave a mix. Dropping it uncommitted (error or panic) removes the temp files.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use spec_actions_core::io::{FileError, StagedWrites};
/// let mut set = StagedWrites::new();
/// set.write_bytes(&dir.path().join("results.json"), b"{}")?;
/// set.write_bytes(&dir.path().join("sweeps.json"), b"[]")?;
/// set.commit()?; // both appear now, or (on an error above) neither changed
/// assert!(dir.path().join("sweeps.json").exists());
/// # Ok::<(), FileError>(())
/// ```
#[derive(Debug, Default)]
pub struct StagedWrites {
    /// `(temp file, target)` in the order written.
    staged: Vec<(PathBuf, PathBuf)>,
}

impl StagedWrites {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `path`'s new contents into a temp file beside it (flushed and fsynced); `path`
    /// itself changes only at [`StagedWrites::commit`]. Errors name `path` (or its folder).
    pub fn write<E>(
        &mut self,
        path: &Path,
        fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<FileError>,
    {
        let (dir, file_name) = parent_and_name(path);
        fs::create_dir_all(dir).map_err(|e| FileError::new("create folder", dir, e))?;
        fault::point(path)?;
        let tmp = dir.join(format!(
            ".{file_name}.{}.{}.tmp",
            std::process::id(),
            next_temp_number()
        ));
        // Registered before the file exists: a panic in `fill` still removes it (on drop).
        self.staged.push((tmp.clone(), path.to_path_buf()));
        let result = (|| {
            // Errors name the file being written (a read-only folder: "write <path>: Permission
            // denied"), not the temp file the user never asked for.
            let file = File::create(&tmp).map_err(|e| FileError::new("write", path, e))?;
            let mut writer = BufWriter::new(file);
            fill(&mut writer)?;
            // A full disk surfaces here or at fsync: name the file being written, not the temp.
            let file = writer
                .into_inner()
                .map_err(|e| FileError::new("write", path, e.into_error()))?;
            file.sync_all()
                .map_err(|e| FileError::new("write (fsync)", path, e))?;
            Ok(())
        })();
        if result.is_err()
            && let Some((tmp, _)) = self.staged.pop()
        {
            let _ = fs::remove_file(tmp);
        }
        result
    }

    /// [`StagedWrites::write`] of a byte string.
    pub fn write_bytes(&mut self, path: &Path, bytes: &[u8]) -> Result<(), FileError> {
        self.write(path, |w| {
            w.write_all(bytes).map_err(|e| FileError::new("write", path, e))
        })
    }

    /// Renames every staged file over its target, in the order written, and removes temp files
    /// of the same targets that dead writers left behind.
    pub fn commit(mut self) -> Result<(), FileError> {
        let staged = std::mem::take(&mut self.staged);
        let mut pending = staged.iter();
        for (tmp, path) in pending.by_ref() {
            if let Err(e) = fs::rename(tmp, path) {
                // Put the rest back so that drop removes their temp files.
                self.staged = std::iter::once((tmp.clone(), path.clone()))
                    .chain(pending.cloned())
                    .collect();
                return Err(FileError::new("rename into", path, e));
            }
        }
        for (_, path) in &staged {
            let (dir, file_name) = parent_and_name(path);
            remove_stale_temps(dir, &file_name, ".tmp");
        }
        Ok(())
    }
}

impl Drop for StagedWrites {
    fn drop(&mut self) {
        for (tmp, _) in &self.staged {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Write the folder `dir` as a whole: `fill` writes the files into a fresh temp folder beside
/// it, which replaces `dir` only when `fill` succeeds. A reader therefore sees the old folder,
/// the new one, or — only after a `kill -9` between the two renames of the swap — none, never a
/// folder with some of the new files (e.g. `model.safetensors` without its `config.json`). On
/// error (or a panic in `fill`) the temp folder is removed and any previous `dir` is untouched;
/// temp folders that dead writers left beside `dir` are removed after a success.
///
/// ```
/// # let root = tempfile::tempdir().unwrap();
/// use spec_actions_core::io::{FileError, atomic_write_bytes, atomic_write_dir};
/// let model = root.path().join("model");
/// atomic_write_dir(&model, |tmp| {
///     atomic_write_bytes(&tmp.join("model.safetensors"), b"weights")?;
///     atomic_write_bytes(&tmp.join("config.json"), b"{}")
/// })?;
/// assert!(model.join("config.json").exists());
/// # Ok::<(), FileError>(())
/// ```
pub fn atomic_write_dir<E>(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E>
where
    E: From<FileError>,
{
    let (parent, name) = parent_and_name(dir);
    fs::create_dir_all(parent).map_err(|e| FileError::new("create folder", parent, e))?;
    let stamp = format!("{}.{}", std::process::id(), next_temp_number());
    let tmp = parent.join(format!(".{name}.{stamp}.tmpdir"));
    let aside = parent.join(format!(".{name}.{stamp}.olddir"));
    struct RemoveOnDrop<'a>(&'a Path, bool);
    impl Drop for RemoveOnDrop<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = fs::remove_dir_all(self.0);
            }
        }
    }
    let mut guard = RemoveOnDrop(&tmp, false);
    fs::create_dir(&tmp).map_err(|e| FileError::new("create folder", &tmp, e))?;
    fill(&tmp)?;
    fault::point(dir)?;
    // Swap: the old folder aside, the new one in, the old one removed.
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, &aside).map_err(|e| FileError::new("rename", dir, e))?;
    }
    if let Err(e) = fs::rename(&tmp, dir) {
        if had_old {
            let _ = fs::rename(&aside, dir);
        }
        return Err(FileError::new("rename into", dir, e).into());
    }
    guard.1 = true;
    if had_old {
        let _ = fs::remove_dir_all(&aside);
    }
    remove_stale_temps(parent, &name, ".tmpdir");
    remove_stale_temps(parent, &name, ".olddir");
    Ok(())
}

/// Removes the temp files (or folders) of `file_name` that processes which no longer run left
/// in `dir` (a `kill -9` between create and rename): `.{file_name}.{pid}.{n}{suffix}` with a
/// `pid` that is not this process and has no `/proc/{pid}`. Where `/proc` does not exist
/// nothing is removed: a live writer's temp file must never go. Best effort: errors are
/// ignored.
fn remove_stale_temps(dir: &Path, file_name: &str, suffix: &str) {
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
            .and_then(|n| n.strip_suffix(suffix))
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
            let path = entry.path();
            if path.is_dir() {
                let _ = fs::remove_dir_all(path);
            } else {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// [`atomic_write`] of a byte string.
pub fn atomic_write_bytes(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    atomic_write(path, |w| {
        w.write_all(bytes).map_err(|e| FileError::new("write", path, e))
    })
}

/// Fault injection for tests (feature `fault-injection`): make the N-th commit of a file or
/// folder on this thread fail as a full disk does, to show that a pipeline interrupted between
/// any two of its writes recovers. Without the feature every [`fault::point`] is `Ok`.
pub mod fault {
    use std::path::Path;

    use super::FileError;

    #[cfg(feature = "fault-injection")]
    thread_local! {
        static REMAINING: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
        static PASSED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// From now on, on this thread: let `writes` more writes succeed, then fail the next one
    /// (and every later one) with `StorageFull`; `None` turns the fault off. Resets the count
    /// of [`writes_passed`].
    #[cfg(feature = "fault-injection")]
    pub fn fail_after(writes: Option<u64>) {
        REMAINING.with(|r| r.set(writes));
        PASSED.with(|p| p.set(0));
    }

    /// Writes that passed [`point`] on this thread since the last [`fail_after`].
    #[cfg(feature = "fault-injection")]
    pub fn writes_passed() -> u64 {
        PASSED.with(std::cell::Cell::get)
    }

    /// Called before each file or folder write: the injected failure, naming `path`, when the
    /// fault is due.
    #[cfg(feature = "fault-injection")]
    pub fn point(path: &Path) -> Result<(), FileError> {
        let due = REMAINING.with(|r| match r.get() {
            Some(0) => true,
            Some(n) => {
                r.set(Some(n - 1));
                false
            }
            None => false,
        });
        if due {
            return Err(FileError::new(
                "write",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device (injected)",
                ),
            ));
        }
        PASSED.with(|p| p.set(p.get() + 1));
        Ok(())
    }

    /// Called before each file or folder write; without the feature it never fails.
    #[cfg(not(feature = "fault-injection"))]
    #[inline]
    pub fn point(_path: &Path) -> Result<(), FileError> {
        Ok(())
    }
}
