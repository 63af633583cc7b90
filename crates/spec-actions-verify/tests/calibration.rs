//! Calibration, sweeps, gates and H over seeded synthetic recordings, plus the recorded-file
//! reader's errors and the results/decision-log files.

use std::path::PathBuf;

use approx::assert_abs_diff_eq;
use spec_actions_core::{CostModel, ResultsFile, Split};
use spec_actions_verify::{
    Confidence, GateReport, GateTable, Policy, ProposalSource, RecordedSet, ReplayRoles, Route, SideEffects,
    SyntheticRecordingConfig, VerifyError, generate, memory_origin, read_decision_logs, results_file,
    run_policy, write_decision_logs,
};

fn synthetic(config: SyntheticRecordingConfig) -> RecordedSet {
    RecordedSet::from_rows(generate(&config), &memory_origin()).expect("synthetic rows are valid")
}

fn gated_policies() -> Vec<Policy> {
    let g2 = ProposalSource::OnePass { k: 2 };
    vec![
        Policy::Verified {
            source: ProposalSource::Greedy,
            threshold: 0.0,
        },
        Policy::RewardThreshold {
            source: ProposalSource::Greedy,
            threshold: 0.0,
        },
        Policy::Rerank {
            source: ProposalSource::Sampled { n: 3 },
            threshold: 0.0,
        },
        Policy::Confidence {
            source: ProposalSource::Greedy,
            measure: Confidence::TopProb,
            threshold: 0.0,
        },
        Policy::Confidence {
            source: g2,
            measure: Confidence::Margin,
            threshold: 0.0,
        },
        Policy::Verified {
            source: g2,
            threshold: 0.0,
        },
    ]
}

/// A scratch folder under the system temp dir, unique to this test and process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spec-actions-verify-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn calibration_lands_on_the_requested_fallback_rate_on_dev() {
    let set = synthetic(SyntheticRecordingConfig {
        examples: 4000,
        seed: 7,
        ..Default::default()
    });
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let dev = set.examples(Split::Dev);
    for policy in gated_policies() {
        let table = GateTable::probe(&policy, &dev, &mut replay.roles()).expect("probe");
        for target in [0.1, 0.3, 0.5, 0.8] {
            let cal = table.calibrate_fallback_rate(target).expect("calibrates");
            // Continuous scores: the quantile is hit to within one example (plus the few
            // unparseable proposals, which always fall back, when the target is below their share).
            assert!(
                (cal.dev.fallback_rate - target).abs() <= 1.0 / dev.len() as f64 + 1e-12,
                "{}: target {target}, got {}",
                policy.name(),
                cal.dev.fallback_rate
            );
            // Deciding dev with the calibrated policy reproduces the table's point exactly.
            let run = run_policy(&cal.policy, &dev, &mut replay.roles(), None).expect("runs");
            assert_abs_diff_eq!(
                run.config.fallback_rate.unwrap_or(-1.0),
                cal.dev.fallback_rate,
                epsilon = 1e-12
            );
            assert_abs_diff_eq!(run.config.accuracy, cal.dev.accuracy, epsilon = 1e-12);
            assert_abs_diff_eq!(run.config.mean_cost, cal.dev.mean_cost, epsilon = 1e-9);
        }
    }
}

#[test]
fn calibration_refuses_eval_and_bad_targets() {
    let set = synthetic(SyntheticRecordingConfig {
        examples: 200,
        seed: 1,
        ..Default::default()
    });
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let policy = gated_policies()[0];
    let eval_table =
        GateTable::probe(&policy, &set.examples(Split::Eval), &mut replay.roles()).expect("probe");
    assert!(matches!(
        eval_table.calibrate_fallback_rate(0.3),
        Err(VerifyError::NotDevSplit {
            split: Split::Eval,
            ..
        })
    ));
    assert!(matches!(
        eval_table.calibrate_budget(0.5),
        Err(VerifyError::NotDevSplit { .. })
    ));
    // Mixed splits cannot even be probed together.
    let all: Vec<_> = set.rows().iter().map(|r| r.example_stub()).collect();
    assert!(matches!(
        GateTable::probe(&policy, &all, &mut replay.roles()),
        Err(VerifyError::MixedSplits { .. })
    ));
    let dev_table = GateTable::probe(&policy, &set.examples(Split::Dev), &mut replay.roles()).expect("probe");
    assert!(matches!(
        dev_table.calibrate_fallback_rate(1.5),
        Err(VerifyError::OutOfRange { .. })
    ));
    // C always pays cheap + verifier = 0.25: a budget of 0.2 is unreachable.
    assert!(matches!(
        dev_table.calibrate_budget(0.2),
        Err(VerifyError::BudgetUnreachable { .. })
    ));
}

#[test]
fn budget_calibration_picks_the_best_affordable_point() {
    let set = synthetic(SyntheticRecordingConfig {
        examples: 2000,
        seed: 3,
        ..Default::default()
    });
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let policy = Policy::Confidence {
        source: ProposalSource::Greedy,
        measure: Confidence::TopProb,
        threshold: 0.0,
    };
    let table = GateTable::probe(&policy, &set.examples(Split::Dev), &mut replay.roles()).expect("probe");
    let sweep = table.sweep();
    for budget in [0.3, 0.6, 0.9] {
        let cal = table.calibrate_budget(budget).expect("affordable");
        assert!(cal.dev.mean_cost <= budget + 1e-12);
        // Brute force over the sweep: nothing affordable is more accurate.
        let best = sweep
            .points
            .iter()
            .filter(|p| p.mean_cost <= budget + 1e-12)
            .map(|p| p.accuracy)
            .fold(0.0, f64::max);
        assert_abs_diff_eq!(cal.dev.accuracy, best, epsilon = 1e-12);
    }
}

#[test]
fn sweep_matches_brute_force_and_spans_cheap_to_strong() {
    let set = synthetic(SyntheticRecordingConfig {
        examples: 600,
        seed: 11,
        ..Default::default()
    });
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let dev = set.examples(Split::Dev);
    for policy in gated_policies() {
        let table = GateTable::probe(&policy, &dev, &mut replay.roles()).expect("probe");
        let sweep = table.sweep();
        for p in &sweep.points {
            let q = table.at(p.threshold);
            assert_abs_diff_eq!(p.accuracy, q.accuracy, epsilon = 1e-12);
            assert_abs_diff_eq!(p.mean_cost, q.mean_cost, epsilon = 1e-9);
            assert_abs_diff_eq!(p.accept_rate, q.accept_rate, epsilon = 1e-12);
        }
        // Thresholds ascend, accept rates descend, the last point accepts nothing.
        assert!(
            sweep
                .points
                .windows(2)
                .all(|w| w[0].threshold < w[1].threshold && w[0].accept_rate >= w[1].accept_rate)
        );
        assert_eq!(sweep.points.last().map(|p| p.accept_rate), Some(0.0));
    }
}

#[test]
fn informative_gates_separate_and_uninformative_ones_do_not() {
    let costs = CostModel::default();
    for (separation, lo, hi) in [(2.0, 0.8, 1.0), (0.0, 0.42, 0.58)] {
        let set = synthetic(SyntheticRecordingConfig {
            examples: 4000,
            seed: 5,
            gate_separation: separation,
            ..Default::default()
        });
        let mut replay = ReplayRoles::new(&set, &costs);
        for policy in gated_policies() {
            let table =
                GateTable::probe(&policy, &set.examples(Split::Dev), &mut replay.roles()).expect("probe");
            let report = GateReport::new(&table);
            let auroc = report.auroc.expect("both classes present");
            assert!(
                (lo..=hi).contains(&auroc),
                "{} separation {separation}: AUROC {auroc}",
                report.family
            );
            // The most confident accepts of an informative gate are more accurate than all of them.
            if separation > 0.0 {
                let curve = &report.accept_curve;
                let (first, last) = (curve[curve.len() / 10], curve[curve.len() - 1]);
                assert!(
                    first.accuracy_of_accepted > last.accuracy_of_accepted,
                    "{}",
                    report.family
                );
            }
        }
    }
}

#[test]
fn h_never_commits_a_wrong_action_and_never_runs_side_effects_early() {
    // Low cheap accuracy, many unparseable proposals: many chances to go wrong.
    let set = synthetic(SyntheticRecordingConfig {
        examples: 5000,
        seed: 9,
        cheap_accuracy: 0.3,
        unparseable_rate: 0.2,
        ..Default::default()
    });
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let eval = set.examples(Split::Eval);
    for source in [ProposalSource::Greedy, ProposalSource::OnePass { k: 1 }] {
        let h =
            run_policy(&Policy::Speculative { source }, &eval, &mut replay.roles(), None).expect("H runs");
        let a = run_policy(&Policy::StrongOnly, &eval, &mut replay.roles(), None).expect("A runs");
        let mut executed = 0;
        for ((hr, log), ex) in h.config.records.iter().zip(&h.logs).zip(&eval) {
            let strong = &set.get(&ex.id).expect("recorded").strong;
            assert_eq!(
                hr.predicted, strong.action,
                "H committed something the strong model did not choose"
            );
            let Route::Speculative(sp) = &log.route else {
                panic!("H took route {:?}", log.route)
            };
            if sp.executed {
                executed += 1;
                assert!(
                    sp.cheap_kind.is_some_and(|k| k.is_side_effect_free()),
                    "ran {:?} early",
                    sp.cheap_kind
                );
            }
        }
        assert!(executed > 0);
        assert_eq!(h.config.accuracy, a.config.accuracy);
    }
}

#[test]
fn recorded_files_round_trip_and_bad_rows_name_file_line_and_field() {
    let dir = scratch("recorded");
    let set = synthetic(SyntheticRecordingConfig {
        examples: 20,
        seed: 2,
        ..Default::default()
    });
    let path = dir.join("recorded.jsonl");
    set.write_jsonl(&path).expect("writes");
    let back = RecordedSet::read_jsonl(&path).expect("reads");
    assert_eq!(back.rows(), set.rows());

    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .expect("read")
        .lines()
        .map(String::from)
        .collect();
    // Line 3: a verifier probability of 1.7.
    let mut row: serde_json::Value = serde_json::from_str(&lines[2]).expect("json");
    row["verifier"][0]["score"] = serde_json::json!(1.7);
    lines[2] = row.to_string();
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let err = RecordedSet::read_jsonl(&bad).unwrap_err();
    assert!(
        matches!(&err, VerifyError::InvalidRecord { line: 3, field, .. } if field == "verifier[0].score"),
        "{err}"
    );
    assert!(err.to_string().contains("bad.jsonl:3"), "{err}");

    // Line 5: one-pass scores missing a kind.
    let mut row: serde_json::Value = serde_json::from_str(&lines[4]).expect("json");
    row["one_pass"]["kind_logprobs"]
        .as_object_mut()
        .expect("object")
        .remove("repair");
    lines[2] = set
        .rows()
        .get(2)
        .map(|r| serde_json::to_string(r).expect("json"))
        .unwrap_or_default();
    lines[4] = row.to_string();
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let err = RecordedSet::read_jsonl(&bad).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Json { line: 5, .. }) && err.to_string().contains("repair"),
        "{err}"
    );

    // Duplicate ids.
    lines[4] = lines[0].clone();
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let err = RecordedSet::read_jsonl(&bad).unwrap_err();
    assert!(
        matches!(
            &err,
            VerifyError::DuplicateId {
                line: 5,
                first_line: 1,
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn results_and_decision_logs_are_written_and_read_back() {
    let dir = scratch("results");
    let set = synthetic(SyntheticRecordingConfig {
        examples: 100,
        seed: 4,
        unparseable_rate: 0.2,
        ..Default::default()
    });
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let eval = set.examples(Split::Eval);
    let runs: Vec<_> = [
        Policy::StrongOnly,
        Policy::CheapOnly {
            source: ProposalSource::Greedy,
        },
    ]
    .iter()
    .map(|p| run_policy(p, &eval, &mut replay.roles(), None).expect("runs"))
    .collect();
    // Unparseable cheap predictions are kept, counted and wrong.
    let b = &runs[1];
    let unparseable = b.config.records.iter().filter(|r| r.predicted.is_none()).count();
    assert_eq!(unparseable, b.summary.unparseable);
    assert!(
        unparseable > 0
            && b.config
                .records
                .iter()
                .filter(|r| r.predicted.is_none())
                .all(|r| !r.correct)
    );

    let results = results_file("synthetic", &runs);
    let path = dir.join("results.json");
    results.write(&path).expect("writes");
    assert_eq!(ResultsFile::read(&path).expect("reads"), results);

    let logs = dir.join("decisions.jsonl");
    write_decision_logs(&logs, &runs).expect("writes");
    let back = read_decision_logs(&logs).expect("reads");
    assert_eq!(back.len(), 2 * eval.len());
    assert_eq!(back[eval.len()].config, "B");
    assert_eq!(back[eval.len()].log, runs[1].logs[0]);
    std::fs::remove_dir_all(&dir).ok();
}
