//! Failure paths of `io::atomic_write`: a writer that fails, panics or is killed half-way
//! leaves either the old file or the new one — never a torn one — and a folder that cannot be
//! written is a typed error naming it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spec_actions_core::io::{FileError, atomic_write, atomic_write_bytes};

const OLD: &[u8] = b"old contents\n";

/// Files in `dir` other than `keep` (leftover temp files).
fn others(dir: &Path, keep: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != keep)
        .collect()
}

#[test]
fn fill_error_half_way_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    atomic_write_bytes(&path, OLD).unwrap();

    let err = atomic_write(&path, |w| {
        w.write_all(&[b'x'; 100_000])
            .map_err(|e| FileError::new("write", &path, e))?;
        // The disk fills up half-way.
        Err(FileError::new(
            "write",
            &path,
            std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
        ))
    })
    .unwrap_err();
    assert!(err.to_string().contains("results.json"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), OLD);
    assert_eq!(
        others(dir.path(), &path),
        Vec::<PathBuf>::new(),
        "temp file removed"
    );
}

#[test]
fn fill_panic_half_way_keeps_the_old_file_and_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adapter_config.json");
    atomic_write_bytes(&path, OLD).unwrap();

    let outcome = std::panic::catch_unwind(|| {
        let _ = atomic_write(&path, |w| {
            w.write_all(&[b'x'; 100_000])
                .map_err(|e| FileError::new("write", &path, e))?;
            panic!("serializer bug half-way");
            #[allow(unreachable_code)]
            Ok::<(), FileError>(())
        });
    });
    assert!(outcome.is_err(), "the panic propagates to the caller");
    assert_eq!(std::fs::read(&path).unwrap(), OLD);
    assert_eq!(
        others(dir.path(), &path),
        Vec::<PathBuf>::new(),
        "temp file removed on unwind"
    );
}

#[test]
fn first_write_that_fails_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.jsonl");
    let err = atomic_write(&path, |_| {
        Err(FileError::new("write", &path, std::io::Error::other("boom")))
    });
    assert!(err.is_err());
    assert!(!path.exists());
    assert_eq!(others(dir.path(), &path), Vec::<PathBuf>::new());
}

#[test]
fn concurrent_writers_of_one_file_never_tear_it() {
    // Threads of one process (e.g. parallel evaluations writing the same report) must not
    // share a temp file: each write lands whole, the last rename wins.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let contents: Vec<Vec<u8>> = (0..6u8).map(|t| vec![b'a' + t; 256 * 1024]).collect();
    let torn = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for content in &contents {
            let (path, contents, torn) = (&path, &contents, &torn);
            scope.spawn(move || {
                for _ in 0..8 {
                    // Errors (a rename racing another) are allowed; torn files are not.
                    let written = atomic_write(path, |w| {
                        for chunk in content.chunks(16 * 1024) {
                            w.write_all(chunk)
                                .and_then(|()| w.flush())
                                .map_err(|e| FileError::new("write", path, e))?;
                            std::thread::yield_now();
                        }
                        Ok::<(), FileError>(())
                    });
                    if written.is_ok() && !contents.contains(&std::fs::read(path).unwrap()) {
                        torn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(
        torn.into_inner(),
        0,
        "torn files observed after successful writes"
    );
    let found = std::fs::read(&path).unwrap();
    assert!(contents.contains(&found), "torn file: {} bytes", found.len());
}

#[test]
fn folder_that_is_a_file_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("runs");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let path = blocker.join("step-100").join("adapter_model.safetensors");
    let err = atomic_write_bytes(&path, b"weights").unwrap_err();
    assert_eq!(err.op, "create folder");
    assert_eq!(err.path, blocker.join("step-100"));
    assert!(err.to_string().contains("runs/step-100"), "{err}");
    assert_eq!(std::fs::read(&blocker).unwrap(), b"not a folder");
}

#[test]
fn target_that_is_a_folder_is_a_typed_error_and_the_folder_survives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("keep.txt"), b"keep").unwrap();
    let err = atomic_write_bytes(&path, b"x").unwrap_err();
    assert_eq!(err.path, path);
    assert!(err.to_string().contains("checkpoint"), "{err}");
    assert_eq!(std::fs::read(path.join("keep.txt")).unwrap(), b"keep");
    assert_eq!(
        others(dir.path(), &path),
        Vec::<PathBuf>::new(),
        "temp file removed"
    );
}

#[test]
fn unwritable_folder_is_a_typed_error_naming_it() {
    // Permission bits do not stop root; /proc is never writable by anyone.
    let path = Path::new("/proc/spec-actions-hostile/out.json");
    let err = atomic_write_bytes(path, b"x").unwrap_err();
    assert!(err.path.starts_with("/proc"), "{err}");
    assert!(err.to_string().contains("/proc/spec-actions-hostile"), "{err}");
}

/// Env var that turns this test binary into the killed writer.
const CHILD_ENV: &str = "SPEC_ACTIONS_HOSTILE_IO_CHILD";
const NEW_LEN: usize = 16 * 1024 * 1024;

/// The child process: rewrites the file named by `CHILD_ENV` with `NEW_LEN` bytes of `n`,
/// slowly, announcing with `<file>.started` that the write is under way. Run by
/// `writer_killed_with_sigkill_leaves_old_or_new`.
#[test]
#[ignore = "helper: run as a child process by writer_killed_with_sigkill_leaves_old_or_new"]
fn killed_writer_child() {
    let Ok(target) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(target);
    let started = path.with_extension("started");
    let slow = std::env::var("SPEC_ACTIONS_HOSTILE_IO_SLOW").is_ok();
    atomic_write(&path, |w| {
        let chunk = vec![b'n'; 1024 * 1024];
        for i in 0..NEW_LEN / chunk.len() {
            w.write_all(&chunk)
                .map_err(|e| FileError::new("write", &path, e))?;
            if i == 1 {
                std::fs::write(&started, b"").map_err(|e| FileError::new("write", &started, e))?;
            }
            if slow {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok::<(), FileError>(())
    })
    .unwrap();
}

fn spawn_writer(path: &Path, slow: bool) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["killed_writer_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if slow {
        cmd.env("SPEC_ACTIONS_HOSTILE_IO_SLOW", "1");
    }
    cmd.spawn().unwrap()
}

#[test]
fn writer_killed_with_sigkill_leaves_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    atomic_write_bytes(&path, OLD).unwrap();

    // 1. Killed (SIGKILL: no unwinding, no cleanup) in the middle of the write: the old file.
    let mut child = spawn_writer(&path, true);
    let started = path.with_extension("started");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "child writer never started");
        assert!(child.try_wait().unwrap().is_none(), "child writer exited early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        OLD,
        "killed mid-write: the old file"
    );
    std::fs::remove_file(&started).unwrap();
    let temps = || {
        others(dir.path(), &path)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            .count()
    };
    assert_eq!(temps(), 1, "the killed writer's temp file is left behind");

    // 2. Left to finish: the new file, whole; and the dead writer's temp file is gone (issue 18,
    //    item 11: no stale `.train.jsonl.<pid>.<n>.tmp` after a kill).
    let status = spawn_writer(&path, false).wait().unwrap();
    assert!(status.success());
    let new = std::fs::read(&path).unwrap();
    assert_eq!(new.len(), NEW_LEN);
    assert!(new.iter().all(|&b| b == b'n'));
    assert_eq!(temps(), 0, "stale temp files of dead writers are removed");
}

/// Temp files of a live process (here: this one, and pid 1) are never removed; a dead one's are.
#[cfg(target_os = "linux")]
#[test]
fn only_dead_writers_temp_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.json");
    let temp = |pid: u32| dir.path().join(format!(".a.json.{pid}.7.tmp"));
    let dead = u32::MAX - 1; // above any pid_max: no such process
    for pid in [std::process::id(), 1, dead] {
        std::fs::write(temp(pid), b"partial").unwrap();
    }
    // another file's temp, even of a dead writer, is not this write's business
    let other = dir.path().join(format!(".b.json.{dead}.0.tmp"));
    std::fs::write(&other, b"partial").unwrap();
    atomic_write_bytes(&path, OLD).unwrap();
    assert!(temp(std::process::id()).exists());
    assert!(temp(1).exists());
    assert!(!temp(dead).exists());
    assert!(other.exists());
}

/// Env var that turns this test binary into the full-disk writer (it names the target file).
const FULL_DISK_ENV: &str = "SPEC_ACTIONS_HOSTILE_IO_FULL_DISK";
const FULL_DISK_DONE: &str = "full-disk writer: all checks passed";

/// The child process of `full_disk_half_way_is_an_error_naming_the_file_and_keeps_the_old_one`:
/// it runs under a file-size limit, so the kernel fails its write half-way (`EFBIG`), as a
/// full disk does (`ENOSPC`).
#[test]
#[ignore = "helper: run as a child process by full_disk_half_way_is_an_error_naming_the_file_and_keeps_the_old_one"]
fn full_disk_writer_child() {
    let Ok(target) = std::env::var(FULL_DISK_ENV) else {
        return;
    };
    let path = PathBuf::from(target);
    let new = vec![b'n'; 1024 * 1024];
    let err = atomic_write_bytes(&path, &new).expect_err("1 MiB written under a 4 KiB limit");
    assert_eq!(err.path, path, "{err}");
    assert_eq!(err.source.raw_os_error(), Some(27), "EFBIG expected: {err}");
    assert!(err.to_string().contains("results.json"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), OLD, "the old file");
    assert_eq!(
        others(path.parent().unwrap(), &path),
        Vec::<PathBuf>::new(),
        "temp file removed"
    );
    println!("{FULL_DISK_DONE}");
}

#[test]
fn full_disk_half_way_is_an_error_naming_the_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    atomic_write_bytes(&path, OLD).unwrap();
    // `ulimit -f 8`: at most 8 blocks (4 KiB in dash, 8 KiB in bash) per file; SIGXFSZ ignored
    // (an ignored signal stays ignored across exec), so the write fails instead of killing us.
    let output = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 8 && exec \"$0\" full_disk_writer_child --exact --ignored --nocapture",
        ])
        .arg(std::env::current_exe().unwrap())
        .env(FULL_DISK_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(FULL_DISK_DONE),
        "child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read(&path).unwrap(), OLD);
}

/// Issue 18, item 10: several files written as one set. A failure while writing the third
/// file leaves all three old files as they were (never a new file beside old ones) and no
/// temp file; a complete set replaces all three.
#[test]
fn staged_set_failing_half_way_keeps_every_old_file() {
    use spec_actions_core::io::StagedWrites;
    let dir = tempfile::tempdir().unwrap();
    let names = ["results.json", "decisions.jsonl", "sweeps.json"];
    for name in names {
        atomic_write_bytes(&dir.path().join(name), OLD).unwrap();
    }
    let mut set = StagedWrites::new();
    set.write_bytes(&dir.path().join(names[0]), b"new results")
        .unwrap();
    set.write_bytes(&dir.path().join(names[1]), b"new decisions")
        .unwrap();
    let third = dir.path().join(names[2]);
    let err = set
        .write(&third, |w| {
            w.write_all(b"half")
                .map_err(|e| FileError::new("write", &third, e))?;
            Err(FileError::new(
                "write",
                &third,
                std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
            ))
        })
        .unwrap_err();
    assert!(err.to_string().contains("sweeps.json"), "{err}");
    drop(set);
    for name in names {
        assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), OLD, "{name}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no temp file left"
    );

    let mut set = StagedWrites::new();
    for name in names {
        set.write_bytes(&dir.path().join(name), name.as_bytes()).unwrap();
    }
    set.commit().unwrap();
    for name in names {
        assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), name.as_bytes());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// Issue 18, item 9: a folder written as a whole. A failure after its first file keeps the
/// old folder whole; a success replaces it (old files of the folder gone); temp folders of a
/// dead writer beside it are removed, a live writer's are kept.
#[test]
fn folder_failing_half_way_keeps_the_old_folder() {
    use spec_actions_core::io::atomic_write_dir;
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    atomic_write_dir(&model, |tmp| {
        atomic_write_bytes(&tmp.join("model.safetensors"), OLD)?;
        atomic_write_bytes(&tmp.join("config.json"), OLD)
    })
    .unwrap();
    let err = atomic_write_dir(&model, |tmp| {
        atomic_write_bytes(&tmp.join("model.safetensors"), b"new weights")?;
        Err(FileError::new(
            "write",
            tmp.join("config.json"),
            std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"),
        ))
    })
    .unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
    for file in ["model.safetensors", "config.json"] {
        assert_eq!(std::fs::read(model.join(file)).unwrap(), OLD, "{file}");
    }
    let entries = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(entries(root.path()), ["model"], "temp folder removed");

    // leftovers of a dead writer (no such pid) and of this live process
    let dead = root.path().join(".model.4194999.0.tmpdir");
    let live = root
        .path()
        .join(format!(".model.{}.999.tmpdir", std::process::id()));
    for dir in [&dead, &live] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("model.safetensors"), b"half").unwrap();
    }
    atomic_write_dir(&model, |tmp| atomic_write_bytes(&tmp.join("config.json"), b"new")).unwrap();
    assert_eq!(entries(&model), ["config.json"]);
    assert_eq!(std::fs::read(model.join("config.json")).unwrap(), b"new");
    assert!(
        !dead.exists() || !Path::new("/proc/self").exists(),
        "dead writer's folder removed"
    );
    assert!(live.exists(), "a live writer's folder is kept");
}
