//! The whole report of a run folder, on small hand-made run files: the targets table with
//! hand-computed values, the per-run figures, `n/a` for missing files, and errors naming the
//! file and line for bad ones.

use std::path::Path;

use spec_actions_core::{
    Action, ActionKind, ConfigResult, CostLedger, CostModel, ExampleRecord, ModelRole, ResultsFile,
};
use spec_actions_frontier::diagnostics::{LearningCurve, RecordedDiagnostics};
use spec_actions_frontier::{DocumentOptions, FrontierError, write_report};

const N: usize = 200;

/// A configuration right on the examples where `correct(i)`, at `mean_cost`.
fn config(name: &str, mean_cost: f64, gated: bool, correct: impl Fn(usize) -> bool) -> ConfigResult {
    let model = CostModel::default();
    let records: Vec<ExampleRecord> = (0..N)
        .map(|i| {
            let ok = correct(i);
            let mut ledger = CostLedger::new();
            ledger.record(model.call(ModelRole::Cheap, 100, 2));
            ExampleRecord {
                example_id: format!("ex{i}"),
                gold: Action::kind(ActionKind::Repair),
                predicted: Some(Action::kind(if ok {
                    ActionKind::Repair
                } else {
                    ActionKind::Blocked
                })),
                raw_output: None,
                correct: ok,
                accepted: gated.then_some(true),
                ledger,
            }
        })
        .collect();
    let hits = records.iter().filter(|r| r.correct).count();
    ConfigResult {
        name: name.into(),
        description: format!("{name} test"),
        accuracy: hits as f64 / N as f64,
        mean_cost,
        accept_rate: gated.then_some(0.5),
        fallback_rate: gated.then_some(0.5),
        records,
    }
}

/// A 0.80 at cost 1, B 0.30 at 0.15, C@0.5000 0.40 at 0.30 (B's hits plus 20 more), and H
/// (strong action committed: A's hits).
fn results() -> ResultsFile {
    let mut file = ResultsFile::new("document test", 1.0 / 9.0);
    file.cheap_only_config = Some("B".into());
    file.strong_only_config = Some("A".into());
    let mut h = config("H", 1.1, true, |i| i % 10 < 8);
    h.description =
        "greedy cheap proposal and strong model together, strong action committed (lossless)".into();
    file.configs = vec![
        config("A", 1.0, false, |i| i % 10 < 8),
        config("B", 0.15, false, |i| i % 10 < 3),
        config("C@0.5000", 0.30, true, |i| i % 10 < 3 || i % 10 == 5),
        h,
    ];
    file
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Four eval rows and one dev row (skipped). Cheap greedy proposals: e1 right (call too), e2
/// wrong, e3 right (kind-only gold), e4 right kind with wrong arguments. Verifier P(ACCEPT):
/// 0.9, 0.8, 0.7, 0.4. Strong: e1, e2, e4 right, e3 BLOCKED.
const RECORDED: &str = r#"{"id":"d1","split":"dev","gold":{"kind":"repair"},"greedy":{"action":{"kind":"repair"},"call":{"prefill_tokens":1}},"strong":{"action":{"kind":"repair"},"call":{"prefill_tokens":1}},"verifier":[{"action":{"kind":"repair"},"score":0.1,"call":{"prefill_tokens":1}}]}
{"id":"e1","split":"eval","gold":{"kind":"tool_call","name":"f","arguments":{"x":1}},"greedy":{"action":{"kind":"tool_call","name":"f","arguments":{"x":1}},"call":{"prefill_tokens":1}},"strong":{"action":{"kind":"tool_call","name":"f","arguments":{"x":1}},"call":{"prefill_tokens":1}},"verifier":[{"action":{"kind":"tool_call","name":"f","arguments":{"x":1}},"score":0.9,"call":{"prefill_tokens":1}}]}
{"id":"e2","split":"eval","gold":{"kind":"final_answer"},"greedy":{"action":{"kind":"repair"},"call":{"prefill_tokens":1}},"strong":{"action":{"kind":"final_answer"},"call":{"prefill_tokens":1}},"verifier":[{"action":{"kind":"final_answer"},"score":0.05,"call":{"prefill_tokens":1}},{"action":{"kind":"repair"},"score":0.8,"call":{"prefill_tokens":1}}]}

{"id":"e3","split":"eval","gold":{"kind":"repair"},"greedy":{"action":{"kind":"repair"},"call":{"prefill_tokens":1}},"strong":{"action":{"kind":"BLOCKED"},"call":{"prefill_tokens":1}},"verifier":[{"action":{"kind":"repair"},"score":0.7,"call":{"prefill_tokens":1}}]}
{"id":"e4","split":"eval","gold":{"kind":"tool_call","name":"f","arguments":{"x":2}},"greedy":{"action":{"kind":"tool_call","name":"f","arguments":{"x":3}},"call":{"prefill_tokens":1}},"strong":{"action":{"kind":"tool_call","name":"f","arguments":{"x":2}},"call":{"prefill_tokens":1}},"verifier":[{"action":{"kind":"tool_call","name":"f","arguments":{"x":2}},"score":0.99,"call":{"prefill_tokens":1}},{"action":{"kind":"tool_call","name":"f","arguments":{"x":3}},"score":0.4,"call":{"prefill_tokens":1}}]}
"#;

const METRICS: &str = r#"{"step":0,"lr":0.001,"loss":2.5,"grad_norm":1.0,"tokens":100,"tokens_per_s":50.0,"eval_loss":2.6}
{"step":1,"lr":0.001,"loss":2.0,"grad_norm":1.0,"tokens":100,"tokens_per_s":50.0}
{"step":2,"lr":0.001,"loss":1.5,"grad_norm":1.0,"tokens":100,"tokens_per_s":50.0,"eval_loss":1.8}
"#;

fn run_folder() -> tempfile::TempDir {
    let run = tempfile::tempdir().unwrap();
    let root = run.path();
    write(&root.join("cheap/train/metrics.jsonl"), METRICS);
    write(
        &root.join("verifier/train/metrics.jsonl"),
        "{\"step\":0,\"lr\":0.1,\"loss\":1.0,\"grad_norm\":1,\"tokens\":1,\"tokens_per_s\":1}\n{\"step\":1,\"loss\":\"high\"}\n",
    );
    write(
        &root.join("reward/stage.json"),
        r#"{"stage":"reward","preset":"smoke","seconds":1.0,"metrics":{"heldout_pairwise_accuracy_start":0.6,"heldout_pairwise_accuracy_end":0.85}}"#,
    );
    write(&root.join("eval/recorded-eval.jsonl"), RECORDED);
    run
}

#[test]
fn recorded_diagnostics_by_hand() {
    let run = run_folder();
    let d = RecordedDiagnostics::read(&run.path().join("eval/recorded-eval.jsonl")).unwrap();
    assert_eq!(d.examples, 4);
    assert_eq!(d.verifier.scored, 4);
    // The judgement of each proposal is found by call-level match (e2: 0.8, not 0.05; e4: 0.4).
    // Kind-correct e1 0.9, e3 0.7, e4 0.4 against wrong e2 0.8: 0.9 wins, 0.7 and 0.4 lose → 1/3.
    assert!((d.verifier.auc_kind.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // Call-correct e1 0.9, e3 0.7 against e2 0.8, e4 0.4: (2 + 1) / 4.
    assert!((d.verifier.auc_call.unwrap() - 0.75).abs() < 1e-12);
    let [a, b] = &d.confusion;
    assert_eq!(a.accuracy(), Some(0.75));
    assert_eq!(b.accuracy(), Some(0.75));
    assert_eq!(
        a.counts[ActionKind::Repair.index()][ActionKind::Blocked.index()],
        1
    );
    assert_eq!(
        b.counts[ActionKind::FinalAnswer.index()][ActionKind::Repair.index()],
        1
    );
    let [ca, cb] = d.accuracy;
    assert_eq!(ca.call_examples, 2);
    assert_eq!((ca.kind_accuracy, ca.call_accuracy), (Some(1.0), Some(1.0)));
    assert_eq!((cb.kind_accuracy, cb.call_accuracy), (Some(1.0), Some(0.5)));
    assert_eq!(cb.call_accuracy_all, Some(0.5));
}

#[test]
fn report_of_a_run_folder_has_targets_figures_and_methods() {
    let run = run_folder();
    let out = tempfile::tempdir().unwrap();
    let options = DocumentOptions {
        run: Some(run.path().to_path_buf()),
        ..DocumentOptions::default()
    };
    let md = write_report(&results(), out.path(), &options).unwrap();

    // Verdict: C@0.5000 alone in the family (H kept out), 20 wins, no losses: p = 2/2²⁰ = 1.9e-6.
    assert!(md.contains("C@0.5000 (+10.0 points, McNemar p = 1.9e-6)"), "{md}");
    assert!(md.contains("H kept out of the family"), "{md}");
    // Targets, with hand-computed values.
    for row in [
        "| Cheap-only B: kind accuracy ≥ 0.50 | 0.300 | ✗ |",
        "| Strong-only A: kind accuracy ≥ B + 0.12 | A 0.800 − B 0.300 = +0.500 | ✓ |",
        "| Verifier: ROC-AUC of P(ACCEPT) against the cheap proposal's correctness ≥ 0.80 (eval) | 0.333 | ✗ |",
        "| Reward model: held-out pairwise accuracy ≥ 0.80 and rising during training | 0.600 → 0.850 | ✓ |",
        "| A gated policy (C–F) significantly above B (Holm) at mean cost ≤ 0.5 | C@0.5000 at cost 0.300: +10.0 points, Holm-adjusted p = 1.9e-6 | ✓ |",
        // C's sweep: one point at cost share 0.15/0.85, PGR 0.2 → area 0.51176…
        "| APGR ≥ 0.6 over that policy's threshold sweep | C: 0.512 | ✗ |",
        "| Call-level accuracy reported beside kind accuracy (tool-call examples) | A call 1.000 / kind 1.000; B call 0.500 / kind 1.000 (2 examples) | ✓ |",
    ] {
        assert!(md.contains(row), "missing {row}\n{md}");
    }
    // Learning curves: one read, one unreadable (named by file and line), two missing.
    assert!(md.contains("train loss 2.500 → 1.500 (steps 0–2); held-out loss 2.600 → 1.800 (2 points)"));
    assert!(md.contains("metrics.jsonl:2:"), "{md}");
    assert!(md.contains("**strong**: n/a: no "), "{md}");
    // The figures exist and the statistics print Holm-adjusted p-values; methods are stated.
    for file in [
        "report.md",
        "frontier.svg",
        "frontier.json",
        "learning-cheap.svg",
        "verifier-reliability.svg",
        "confusion-A.svg",
        "confusion-B.svg",
    ] {
        assert!(out.path().join(file).exists(), "{file}");
    }
    assert!(!out.path().join("learning-reward.svg").exists());
    assert!(md.contains("Holm p"), "{md}");
    assert!(md.contains("10000 resamples"), "{md}");
    assert!(md.contains("ChaCha8"), "{md}");
    assert!(md.contains("ties broken by PGR"), "{md}");
    assert!(md.contains("| repair | 1 | 0.000 | 1.000 | 0 | 0 |"), "{md}");
}

#[test]
fn an_empty_run_folder_gives_na_not_a_panic() {
    let run = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let options = DocumentOptions {
        run: Some(run.path().to_path_buf()),
        ..DocumentOptions::default()
    };
    let md = write_report(&results(), out.path(), &options).unwrap();
    assert!(md.contains("(eval) | n/a | n/a |"), "{md}");
    assert!(md.contains("rising during training | n/a | n/a |"), "{md}");
    assert!(md.contains("recorded-eval.jsonl"), "{md}");
    assert!(!out.path().join("confusion-A.svg").exists());
}

#[test]
fn bad_lines_are_named_by_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    write(
        &path,
        "{\"step\":0,\"loss\":1.0}\n\n{\"step\":1,\"loss\":1e999}\n",
    );
    let err = LearningCurve::read("cheap", &path).unwrap_err();
    assert!(matches!(err, FrontierError::Json { line: 3, .. }), "{err}");
    write(
        &path,
        "{\"step\":0,\"loss\":1.0,\"eval_loss\":null}\n{\"step\":1}\n",
    );
    let err = LearningCurve::read("cheap", &path).unwrap_err();
    assert!(err.to_string().contains("metrics.jsonl:2:"), "{err}");

    let recorded = dir.path().join("recorded-eval.jsonl");
    write(
        &recorded,
        r#"{"id":"e","split":"eval","gold":{"kind":"repair"},"strong":{"action":null},"verifier":[{"action":{"kind":"repair"},"score":1.5}]}"#,
    );
    let err = RecordedDiagnostics::read(&recorded).unwrap_err();
    assert!(
        err.to_string()
            .contains("recorded-eval.jsonl:1: field `verifier[0].score`"),
        "{err}"
    );
}
