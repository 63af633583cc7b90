//! Statistics over per-example records, against hand-computed values and reference formulas.

use spec_actions_core::metrics::{Z_95, wilson_interval};
use spec_actions_core::{
    Action, ActionKind, ConfigResult, CostLedger, CostModel, ExampleRecord, ModelRole, ResultsFile,
};
use spec_actions_frontier::{
    Bootstrap, BootstrapOptions, FrontierError, FrontierReport, PairedRecords, ReportOptions, mcnemar_exact,
};

/// A configuration whose example `i` is correct when `correct(i)`, each decision costing `cost`.
fn config(name: &str, n: usize, cost_role: ModelRole, correct: impl Fn(usize) -> bool) -> ConfigResult {
    let model = CostModel::default();
    let records: Vec<ExampleRecord> = (0..n)
        .map(|i| {
            let mut ledger = CostLedger::new();
            ledger.record(model.call(cost_role, 100, 2));
            let ok = correct(i);
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
                accepted: None,
                ledger,
            }
        })
        .collect();
    let hits = records.iter().filter(|r| r.correct).count();
    ConfigResult {
        name: name.to_string(),
        description: format!("{name} test config"),
        accuracy: hits as f64 / n as f64,
        mean_cost: model.nominal(cost_role),
        accept_rate: None,
        fallback_rate: None,
        records,
    }
}

fn file(configs: Vec<ConfigResult>) -> ResultsFile {
    let mut f = ResultsFile::new("stats test", 1.0 / 9.0);
    f.configs = configs;
    f
}

#[test]
fn bootstrap_interval_agrees_with_wilson_for_large_n() {
    // 1000 examples, 500 correct in a scrambled order.
    let n = 1000;
    let f = file(vec![config("X", n, ModelRole::Cheap, |i| (i * 7919) % n < 500)]);
    let records = PairedRecords::from_configs(&f.configs).unwrap().unwrap();
    let b = Bootstrap::run(
        &records,
        BootstrapOptions {
            resamples: 2000,
            seed: 7,
            confidence: 0.95,
        },
    )
    .unwrap();
    let boot = b.accuracy_interval(0);
    let wilson = wilson_interval(500, 1000, Z_95);
    assert!((boot.lo - wilson.lo).abs() < 0.006, "{boot:?} vs {wilson:?}");
    assert!((boot.hi - wilson.hi).abs() < 0.006, "{boot:?} vs {wilson:?}");
    // Cost never varies: its interval is a point.
    let cost = b.cost_interval(0);
    assert!(
        (cost.lo - 0.15).abs() < 1e-12 && (cost.hi - 0.15).abs() < 1e-12,
        "{cost:?}"
    );
}

#[test]
fn seeded_runs_are_reproducible() {
    let f = file(vec![
        config("X", 300, ModelRole::Cheap, |i| i % 3 != 0),
        config("Y", 300, ModelRole::Strong, |i| i % 4 != 0),
    ]);
    let options = ReportOptions::default();
    let a = FrontierReport::analyze(&f, options).unwrap();
    let b = FrontierReport::analyze(&f, options).unwrap();
    assert_eq!(a, b);
    let mut other = options;
    other.bootstrap.seed = 1;
    let c = FrontierReport::analyze(&f, other).unwrap();
    assert_ne!(a.configs[0].accuracy_interval, c.configs[0].accuracy_interval);
}

#[test]
fn paired_comparison_by_hand() {
    // 100 examples. X right on 0..60, Y right on 5..61 plus nothing else:
    // X only: 0..5 (5), Y only: 60 (1) → McNemar p = 2·(C(6,0)+C(6,1))/2^6 = 14/64.
    let f = file(vec![
        config("X", 100, ModelRole::Cheap, |i| i < 60),
        config("Y", 100, ModelRole::Strong, |i| (5..61).contains(&i)),
    ]);
    let report = FrontierReport::analyze(&f, ReportOptions::default()).unwrap();
    let stats = report.statistics.as_ref().unwrap();
    assert_eq!(stats.examples, 100);
    let c = &stats.comparisons[0];
    assert_eq!((c.a.as_str(), c.b.as_str()), ("X", "Y"));
    assert_eq!((c.only_a_correct, c.only_b_correct), (5, 1));
    assert!((c.mcnemar_p - 14.0 / 64.0).abs() < 1e-12);
    assert!((c.accuracy_difference - 0.04).abs() < 1e-12);
    assert!(!c.significant);
    assert!(c.difference_interval.contains(0.04));
    // Y (0.56 @ 1.00) is dominated by X (0.60 @ 0.15); the comparison says by how much.
    let y = &report.configs[1];
    assert_eq!(y.against_dominator.as_ref().unwrap().mcnemar_p, c.mcnemar_p);
    assert_eq!(mcnemar_exact(5, 1), c.mcnemar_p);
}

#[test]
fn close_frontier_points_are_flagged_and_distant_ones_are_not() {
    let n = 400;
    // cheap: right on even i (0.50). mid: right when i % 4 ∈ {0, 1}, plus i % 100 == 3 (0.51):
    // 100 examples only cheap gets, 104 only mid gets → McNemar p ≈ 0.83. strong: 0.90.
    let mut f = file(vec![
        config("cheap", n, ModelRole::Cheap, |i| i % 2 == 0),
        config("mid", n, ModelRole::Verifier, |i| i % 4 < 2 || i % 100 == 3),
        config("strong", n, ModelRole::Strong, |i| i % 10 != 9),
    ]);
    // mid = a verifier pass (0.10) plus a cheap proposal (0.15): between cheap and strong.
    for r in &mut f.configs[1].records {
        r.ledger
            .record(CostModel::default().call(ModelRole::Cheap, 10, 1));
    }
    f.configs[1].mean_cost = 0.25;
    let report = FrontierReport::analyze(&f, ReportOptions::default()).unwrap();
    let frontier: Vec<&str> = report
        .frontier
        .frontier()
        .map(|p| p.point.name.as_str())
        .collect();
    assert_eq!(frontier, ["cheap", "mid", "strong"]);
    let flags = &report.statistics.as_ref().unwrap().flags;
    assert_eq!(flags.len(), 1, "{flags:?}");
    let mid_vs_cheap = report
        .statistics
        .as_ref()
        .unwrap()
        .comparisons
        .iter()
        .find(|c| c.a == "cheap" && c.b == "mid")
        .unwrap();
    assert_eq!(
        (mid_vs_cheap.only_a_correct, mid_vs_cheap.only_b_correct),
        (100, 104)
    );
    assert!(
        flags[0].starts_with("frontier points cheap and mid are not significantly apart"),
        "{}",
        flags[0]
    );
    let text = report.statistics_text().unwrap();
    assert!(text.contains("⚠ frontier points cheap and mid"), "{text}");
}

#[test]
fn unpaired_or_repeated_records_are_named() {
    let mut f = file(vec![
        config("X", 10, ModelRole::Cheap, |_| true),
        config("Y", 10, ModelRole::Strong, |_| true),
    ]);
    f.configs[1].records[3].example_id = "stranger".into();
    let err = FrontierReport::analyze(&f, ReportOptions::default()).unwrap_err();
    assert!(
        matches!(&err, FrontierError::UnpairedRecords { config, example_id, .. } if config == "Y" && example_id == "stranger"),
        "{err}"
    );

    let mut f = file(vec![config("X", 10, ModelRole::Cheap, |_| true)]);
    f.configs[0].records[4].example_id = "ex3".into();
    let err = FrontierReport::analyze(&f, ReportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("example \"ex3\" appears twice"), "{err}");

    let mut f = file(vec![config("X", 10, ModelRole::Cheap, |_| true)]);
    f.configs[0].accuracy = f64::NAN;
    let err = FrontierReport::analyze(&f, ReportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("\"X\": accuracy is NaN"), "{err}");

    let f = file(vec![]);
    assert!(matches!(
        FrontierReport::analyze(&f, ReportOptions::default()),
        Err(FrontierError::Empty)
    ));
}

#[test]
fn threshold_sweeps_get_routellm_metrics() {
    // cheap-only 0.40 @ 0.15, strong-only 0.80 @ 1.15; F@0.9 recovers 80% of the gap at a
    // cost share of 0.2 (0.35), F@0.5 all of it at 0.6 (0.75).
    let summary = |name: &str, accuracy: f64, mean_cost: f64| ConfigResult {
        name: name.to_string(),
        description: String::new(),
        accuracy,
        mean_cost,
        accept_rate: None,
        fallback_rate: None,
        records: Vec::new(),
    };
    let mut f = file(vec![
        summary("cheap", 0.40, 0.15),
        summary("strong", 0.80, 1.15),
        summary("F@0.9", 0.72, 0.35),
        summary("F@0.5", 0.80, 0.75),
        summary("G@0.5", 0.50, 0.95),
    ]);
    let report = FrontierReport::analyze(&f, ReportOptions::default()).unwrap();
    assert_eq!(report.sweeps.len(), 2);
    assert!(report.sweeps[0].metrics.is_none());
    assert!(
        report.sweeps[0]
            .note
            .as_ref()
            .unwrap()
            .contains("cheap_only_config")
    );

    f.cheap_only_config = Some("cheap".into());
    f.strong_only_config = Some("strong".into());
    let report = FrontierReport::analyze(&f, ReportOptions::default()).unwrap();
    let sweep = &report.sweeps[0];
    assert_eq!(sweep.policy, "F");
    assert_eq!(sweep.configs, ["F@0.9", "F@0.5"]);
    let m = sweep.metrics.unwrap();
    // Curve (0,0) → (0.2,0.8) → (0.6,1) → (1,1): 0.08 + 0.36 + 0.4 = 0.84.
    assert!((m.apgr - 0.84).abs() < 1e-9, "{m:?}");
    assert!((m.cpt80 - 0.2).abs() < 1e-9, "{m:?}");
    assert!((m.cpt95 - 0.5).abs() < 1e-9, "{m:?}");
    assert!(
        report
            .sweeps_text()
            .unwrap()
            .contains("F (2 thresholds): AUC 0.736, APGR 0.840")
    );
}
