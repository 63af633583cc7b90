//! `xtask dry-run` end to end on the tiny preset's shapes (2 layers, hidden 64, Qwen3's
//! 151,936-token vocabulary): the binary measures each role in a child process, as it does for
//! the real sizes, and writes its JSON report.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn dry_run(out: &Path, extra: &[&str]) -> Value {
    let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "dry-run", "--preset", "tiny", "--dtype", "f32", "--batch", "2", "--seq", "32",
        ])
        .args(["--record-rows", "2", "--new-tokens", "2", "--out"])
        .arg(out)
        .args(extra)
        .status()
        .expect("run xtask");
    assert!(status.success(), "dry-run failed: {status}");
    serde_json::from_slice(&std::fs::read(out).expect("report")).expect("json")
}

fn bytes(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a byte count: {v}"))
}

/// Building the model makes its weights resident: the weights phase grows the process by at
/// least the weights' own bytes (parameters × 4 in f32, by the config's parameter count), and
/// every later phase's peak holds them. A random model on random tokens predicts uniformly:
/// its loss is ln(vocabulary) (the hand-computed reference, 11.93).
#[test]
fn tiny_dry_run_peaks_hold_the_weights() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dry_run(&dir.path().join("report.json"), &["--role", "cheap"]);
    let m = &report["roles"][0]["measured"][0];
    assert_eq!(m["role"], "cheap");
    let weights = bytes(&m["plan"]["weights_bytes"]);
    // tiny's proposer: 2 layers of hidden 64 on the 151,936-token tied embedding
    assert_eq!(weights, bytes(&m["parameters"]) * 4);
    assert!(weights > 151_936 * 64 * 4, "{weights}");
    let phases = m["phases"].as_array().expect("phases");
    let names: Vec<&str> = phases.iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(names, ["weights", "record_step", "train_step"]);
    let built = bytes(&phases[0]["peak_bytes"]) - bytes(&phases[0]["start_bytes"]);
    assert!(
        built >= weights,
        "the weights phase grew {built} B for {weights} B of weights"
    );
    for p in phases {
        assert!(bytes(&p["peak_bytes"]) >= weights, "{p}");
        assert!(bytes(&p["peak_bytes"]) >= bytes(&p["start_bytes"]), "{p}");
    }
    let loss = m["last_loss"].as_f64().expect("loss");
    assert!((loss - (151_936f64).ln()).abs() < 0.2, "loss {loss}");
    // the (only) step's time is kept, inside the phase's time
    let first = m["first_step_seconds"].as_f64().expect("first step seconds");
    let phase_seconds = phases[2]["seconds"].as_f64().expect("phase seconds");
    assert!(
        first > 0.0 && first <= phase_seconds,
        "first step {first} s of {phase_seconds} s"
    );
    assert!(m["train_tokens_per_s"].as_f64().expect("rate") > 0.0, "{m}");
}

/// `--paper` measures the shape at 1 and 2 layers (each in its own process) and extrapolates
/// linearly; tiny's proposer has 2 layers, so the extrapolation must give back the 2-layer
/// measurement, phase by phase.
#[test]
fn paper_estimate_extrapolates_from_one_and_two_layers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dry_run(&dir.path().join("report.json"), &["--role", "cheap", "--paper"]);
    let role = &report["roles"][0];
    let measured = role["measured"].as_array().expect("measured");
    let layers: Vec<u64> = measured.iter().map(|m| bytes(&m["sizes"]["layers"])).collect();
    assert_eq!(layers, [1, 2]);
    let paper = &role["on_paper"];
    assert_eq!(paper["layers"], 2);
    for (i, phase) in paper["phases"].as_array().expect("phases").iter().enumerate() {
        let two = bytes(&measured[1]["phases"][i]["peak_bytes"]);
        assert_eq!(
            phase["extrapolated_peak_bytes"].as_i64(),
            Some(two as i64),
            "{phase}"
        );
    }
    // the plan at full depth counts both layers' weights
    assert_eq!(
        bytes(&paper["plan"]["weights_bytes"]),
        bytes(&measured[1]["plan"]["weights_bytes"])
    );
}

/// A bad setting is an error naming it, before any model is built.
#[test]
fn zero_batch_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "dry-run", "--preset", "tiny", "--role", "cheap", "--batch", "0", "--out",
        ])
        .arg(dir.path().join("r.json"))
        .output()
        .expect("run xtask");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("batch is 0"), "{stderr}");
    assert!(!dir.path().join("r.json").exists());
}
