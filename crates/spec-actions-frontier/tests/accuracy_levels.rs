//! The report's kind- and call-level accuracy table, on hand-made results whose values are
//! counted by hand: four examples, two of them named calls.

use serde_json::json;
use spec_actions_core::{Action, ActionKind, ConfigResult, CostLedger, ExampleRecord, ResultsFile};
use spec_actions_frontier::document::{
    accuracy_levels, accuracy_levels_markdown, accuracy_levels_of_every_config,
};
use spec_actions_frontier::{DocumentOptions, write_report};

use ActionKind::*;

fn call(name: &str, arguments: serde_json::Value) -> Action {
    Action {
        kind: ToolCall,
        name: Some(name.into()),
        arguments,
        accepted_values: None,
        kind_unnamed: false,
    }
}

/// Gold: search(q=1), file_read, ls(), final_answer.
fn gold() -> Vec<Action> {
    vec![
        call("search", json!({"q": 1})),
        Action::kind(FileRead),
        call("ls", json!({})),
        Action::kind(FinalAnswer),
    ]
}

fn config(name: &str, mean_cost: f64, predicted: Vec<Action>) -> ConfigResult {
    let records: Vec<ExampleRecord> = gold()
        .into_iter()
        .zip(predicted)
        .enumerate()
        .map(|(i, (gold, p))| ExampleRecord {
            example_id: format!("x{i}"),
            correct: p.matches_kind(&gold),
            gold,
            predicted: Some(p),
            raw_output: None,
            accepted: None,
            ledger: CostLedger::new(),
        })
        .collect();
    let accuracy = records.iter().filter(|r| r.correct).count() as f64 / records.len() as f64;
    ConfigResult {
        name: name.into(),
        description: format!("{name} test"),
        accuracy,
        mean_cost,
        accept_rate: None,
        fallback_rate: None,
        records,
    }
}

fn results() -> ResultsFile {
    let kinds = |ks: [ActionKind; 4]| ks.map(Action::kind).to_vec();
    let mut file = ResultsFile::new("levels", 1.0 / 9.0);
    file.strong_only_config = Some("A".into());
    file.cheap_only_config = Some("B".into());
    file.configs = vec![
        config("A", 1.0, gold()),
        config(
            "B",
            0.15,
            vec![
                call("search", json!({"q": 2})),
                Action::kind(FileRead),
                call("ls", json!({})),
                Action::kind(Repair),
            ],
        ),
        config("K", 0.001, kinds([ToolCall, FileRead, ToolCall, FinalAnswer])),
        config("K→A@0.5000", 0.5, kinds([ToolCall, FileRead, ToolCall, Repair])),
        config("K→A@0.8000", 0.8, {
            let mut p = kinds([ToolCall, FileRead, ToolCall, FinalAnswer]);
            p[0] = call("search", json!({"q": 1}));
            p
        }),
        config("K→A@0.9000", 0.9, gold()),
        config("C@0.5000", 0.3, kinds([Repair, FileRead, ToolCall, FinalAnswer])),
    ];
    file
}

#[test]
fn named_configurations_at_both_levels() {
    let levels = accuracy_levels(&results());
    let rows: Vec<(&str, &str, f64, f64, Option<f64>)> = levels
        .iter()
        .map(|l| {
            (
                l.config.as_str(),
                l.role.as_str(),
                l.kind_accuracy,
                l.call_accuracy,
                l.call_accuracy_on_calls,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("A", "strong-only", 1.0, 1.0, Some(1.0)),
            // search(q=2) is the right kind but the wrong call; repair is wrong at both levels
            ("B", "cheap-only", 0.75, 0.5, Some(0.5)),
            // kind-only: right kinds everywhere, but neither named call
            ("K", "classifier", 1.0, 0.5, Some(0.0)),
            // @0.8 and @0.9 tie on kind accuracy: the cheaper wins
            ("K→A@0.8000", "best of K→A", 1.0, 0.75, Some(0.5)),
            ("C@0.5000", "best of C", 0.75, 0.5, Some(0.0)),
        ]
    );
    assert!(levels.iter().all(|l| l.examples == 4 && l.call_examples == 2));
    let md = accuracy_levels_markdown(&levels);
    assert!(
        md.contains("| K | classifier | 0.001 | 1.000 | 0.500 | 2 | 0.000 |"),
        "{md}"
    );
}

#[test]
fn the_report_has_the_table_and_the_plot_names_the_classifier_families() {
    let out = tempfile::tempdir().unwrap();
    let md = write_report(&results(), out.path(), &DocumentOptions::default()).unwrap();
    assert!(md.contains("## Kind- and call-level accuracy"), "{md}");
    assert!(md.contains("| K→A@0.8000 | best of K→A |"), "{md}");
    let svg = std::fs::read_to_string(out.path().join("frontier.svg")).unwrap();
    assert!(svg.contains("K: bag-of-words classifier only"), "legend");
    assert!(svg.contains("K→A: classifier gate, else strong"), "legend");
}

/// Every configuration, not only the best of each family, in the results file's order and
/// listed by family; the report carries them below the named ones.
#[test]
fn every_configuration_at_both_levels() {
    let file = results();
    let every = accuracy_levels_of_every_config(&file);
    let rows: Vec<(&str, &str, f64, f64)> = every
        .iter()
        .map(|l| {
            (
                l.config.as_str(),
                l.role.as_str(),
                l.kind_accuracy,
                l.call_accuracy,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("A", "A", 1.0, 1.0),
            ("B", "B", 0.75, 0.5),
            ("K", "K", 1.0, 0.5),
            // the cascade that is not the best of its family is listed too: kinds right but
            // the last (repair for final_answer); calls: only the kind-only file_read matches
            ("K→A@0.5000", "K→A", 0.75, 0.25),
            ("K→A@0.8000", "K→A", 1.0, 0.75),
            ("K→A@0.9000", "K→A", 1.0, 1.0),
            ("C@0.5000", "C", 0.75, 0.5),
        ]
    );
    let out = tempfile::tempdir().unwrap();
    let md = write_report(&file, out.path(), &DocumentOptions::default()).unwrap();
    assert!(
        md.contains("| K→A@0.5000 | K→A | 0.500 | 0.750 | 0.250 | 2 | 0.000 |"),
        "{md}"
    );
}

#[test]
fn results_without_records_have_no_table() {
    let mut file = results();
    for c in &mut file.configs {
        c.records.clear();
    }
    assert!(accuracy_levels(&file).is_empty());
}
