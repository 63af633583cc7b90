//! Issue 18, items 10 and 12: a replay's four output files appear together or not at all, a
//! full disk names the file, and a recording without dev or eval rows says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use spec_actions_core::CostModel;
use spec_actions_core::io::fault;
use spec_actions_verify::study::{StudyOptions, run_study};
use spec_actions_verify::{
    RecordedSet, SyntheticRecordingConfig, VerifyError, generate, write_decision_logs, write_json,
};

const OUTPUTS: [&str; 4] = ["results.json", "decisions.jsonl", "sweeps.json", "analysis.json"];

/// A seeded synthetic recording, read back from a file (so errors can name it).
fn recording(dir: &Path, seed: u64, dev_fraction: f64) -> RecordedSet {
    let path = dir.join(format!("recorded-{seed}-{dev_fraction}.jsonl"));
    let config = SyntheticRecordingConfig {
        examples: 200,
        seed,
        dev_fraction,
        ..Default::default()
    };
    RecordedSet::from_rows(generate(&config), Path::new("<memory>"))
        .expect("valid rows")
        .write_jsonl(&path)
        .expect("writes");
    RecordedSet::read_jsonl(&path).expect("reads")
}

/// Replays `set` into `out`.
fn replay(set: &RecordedSet, out: &Path) -> Result<(), VerifyError> {
    let study = run_study(set, &CostModel::default(), &StudyOptions::default())?;
    study.write(&study.results("hostile replay"), out)
}

fn outputs(out: &Path) -> Vec<Vec<u8>> {
    OUTPUTS
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A full disk at each of the four files of a second replay into the same folder: the error
/// names that file, and the folder keeps the first replay's four files byte for byte — never
/// a new `results.json` beside the old decisions — with no temp file; then the second replay
/// replaces all four.
#[test]
fn a_replay_failing_at_any_output_keeps_the_previous_four() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (first, second) = (recording(dir.path(), 1, 0.4), recording(dir.path(), 2, 0.4));
    replay(&first, &out).expect("first replay");
    let old = outputs(&out);
    for (n, file) in OUTPUTS.iter().enumerate() {
        fault::fail_after(Some(n as u64));
        let err = replay(&second, &out).expect_err("the disk is full");
        fault::fail_after(None);
        assert!(
            err.to_string().contains(&*out.join(file).to_string_lossy()),
            "{file}: {err}"
        );
        assert!(
            outputs(&out) == old,
            "write {n} ({file}) changed the previous replay's files"
        );
        assert_eq!(entries(&out), sorted(&OUTPUTS), "no temp file");
    }
    replay(&second, &out).expect("second replay");
    let new = outputs(&out);
    for (i, file) in OUTPUTS.iter().enumerate() {
        assert!(new[i] != old[i], "{file} replaced");
    }
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const FULL_DISK_ENV: &str = "SPEC_ACTIONS_HOSTILE_REPLAY_OUT";
const FULL_DISK_DONE: &str = "replay child: checks passed";

/// Run by [`a_real_full_disk_names_the_file`] in a child process under `ulimit -f 8`.
#[test]
#[ignore = "helper: run as a child process by a_real_full_disk_names_the_file"]
fn full_disk_replay_child() {
    let Ok(out) = std::env::var(FULL_DISK_ENV) else {
        return;
    };
    let out = PathBuf::from(out);
    let before = outputs(&out);
    let set = RecordedSet::read_jsonl(&out.parent().unwrap().join("recorded-2-0.4.jsonl")).unwrap();
    let study = run_study(&set, &CostModel::default(), &StudyOptions::default()).unwrap();
    // 1. the replay's set: the first file over the limit is named, the old four stay
    let err = study
        .write(&study.results("hostile replay"), &out)
        .expect_err("the file size limit");
    let message = err.to_string();
    assert!(
        message.contains(&*out.join("results.json").to_string_lossy()),
        "{message}"
    );
    assert!(outputs(&out) == before, "the previous four files are kept");
    assert_eq!(entries(&out), sorted(&OUTPUTS), "no temp file");
    // 2. serde writing straight into the file (JSON and JSONL): the error names the file
    let analysis = out.join("analysis.json");
    let err = write_json(&analysis, &study.analysis, "analysis").expect_err("the file size limit");
    assert!(
        matches!(err, VerifyError::File(_)),
        "an I/O error, not a serializer's: {err}"
    );
    assert!(err.to_string().contains(&*analysis.to_string_lossy()), "{err}");
    let decisions = out.join("decisions.jsonl");
    let err = write_decision_logs(&decisions, &study.runs).expect_err("the file size limit");
    assert!(err.to_string().contains(&*decisions.to_string_lossy()), "{err}");
    assert!(outputs(&out) == before, "the previous four files are kept");
    println!("{FULL_DISK_DONE}");
}

/// A real full disk (the kernel's file size limit: `EFBIG`, as `ENOSPC` on a full disk)
/// during a replay's writes: before the fix serde's writes said "serialising decision log:
/// File too large (os error 27)" without a path. Now every error names its file and the
/// previous replay's files are intact.
#[test]
fn a_real_full_disk_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    replay(&recording(dir.path(), 1, 0.4), &out).expect("first replay");
    recording(dir.path(), 2, 0.4);
    // `ulimit -f 8`: 4 or 8 KiB per file; every output is larger
    let output = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 8 && exec \"$0\" full_disk_replay_child --exact --ignored --nocapture",
        ])
        .arg(std::env::current_exe().unwrap())
        .env(FULL_DISK_ENV, &out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(FULL_DISK_DONE),
        "child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue 18, item 12: a recording with no dev rows (or no eval rows) is an error naming the
/// file and the split, not "probe of C: no examples".
#[test]
fn a_recording_without_dev_or_eval_rows_names_the_file_and_the_split() {
    let dir = tempfile::tempdir().unwrap();
    for (dev_fraction, missing) in [(0.0, "dev"), (1.0, "eval")] {
        let set = recording(dir.path(), 3, dev_fraction);
        let err = replay(&set, &dir.path().join("out")).expect_err("a split is missing");
        match &err {
            VerifyError::MissingSplit { path, split, rows } => {
                assert_eq!((path.as_path(), *split, *rows), (set.origin(), missing, 200));
            }
            other => panic!("{other}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("recorded-3-") && message.contains(&format!("no {missing} rows")),
            "{message}"
        );
    }
}

/// Issue 18, item 12: `--budget=-1`, `--budget=NaN` and `--read-exec-ms=NaN` were accepted and
/// dropped (no threshold meets a NaN budget) while `--fallback-rate` was validated. Now each is
/// an error naming the option, before any work.
#[test]
fn bad_budgets_and_times_are_errors_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let set = recording(dir.path(), 4, 0.4);
    let cases = [
        (
            StudyOptions {
                budgets: vec![0.5, -1.0],
                ..Default::default()
            },
            "cost budget is -1",
        ),
        (
            StudyOptions {
                budgets: vec![f64::NAN],
                ..Default::default()
            },
            "cost budget is NaN",
        ),
        (
            StudyOptions {
                read_exec_ms: f64::NAN,
                ..Default::default()
            },
            "read execution time (ms) is NaN",
        ),
        (
            StudyOptions {
                read_exec_ms: -3.0,
                ..Default::default()
            },
            "read execution time (ms) is -3",
        ),
        (
            StudyOptions {
                fallback_rates: vec![f64::NAN],
                ..Default::default()
            },
            "target fallback rate",
        ),
    ];
    for (options, expected) in cases {
        let Err(err) = run_study(&set, &CostModel::default(), &options) else {
            panic!("{expected}: accepted");
        };
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    // in range: accepted
    let fine = StudyOptions {
        budgets: vec![0.0, 0.5],
        read_exec_ms: 2.0,
        ..Default::default()
    };
    assert!(
        run_study(&set, &CostModel::default(), &fine).is_ok(),
        "valid options"
    );
}
