//! Failure paths of what core reads: a dataset line that fails to parse names its file and
//! line; a results file from a newer schema is refused; an unparseable model output is scored
//! wrong and counted, never dropped.

use std::path::Path;

use serde_json::json;
use spec_actions_core::metrics::call_accuracy_of_records;
use spec_actions_core::{
    Action, ActionKind, ConfusionMatrix, CostLedger, Example, ExampleRecord, JsonlError, Message,
    RESULTS_SCHEMA_VERSION, ResultsError, ResultsFile, Split, parse_action, read_jsonl, write_jsonl,
};

fn example(id: &str) -> Example {
    Example {
        id: id.into(),
        source: "synthetic:test".into(),
        conversation: id.into(),
        split: Split::Train,
        messages: vec![Message::user("run the tests")],
        tools: vec![],
        gold: Action::kind(ActionKind::Verify),
    }
}

#[test]
fn dataset_line_that_fails_to_parse_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    write_jsonl(&path, [example("a"), example("b")]).unwrap();
    // Line 3 is cut short (a copy interrupted half-way), line 4 is fine.
    let good = serde_json::to_string(&example("d")).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&good[..good.len() / 2]);
    text.push('\n');
    text.push_str(&good);
    text.push('\n');
    std::fs::write(&path, text).unwrap();

    let err = read_jsonl::<Example>(&path).unwrap_err();
    match &err {
        JsonlError::Row { path: p, line, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 3);
        }
        other => panic!("expected a row error, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!("{}:3:", path.display())),
        "{err}"
    );
}

#[test]
fn dataset_file_that_is_not_utf8_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eval.jsonl");
    let mut bytes = serde_json::to_vec(&example("a")).unwrap();
    bytes.extend_from_slice(b"\n{\"id\": \"\xff\xfe\"}\n");
    std::fs::write(&path, bytes).unwrap();
    let err = read_jsonl::<Example>(&path).unwrap_err();
    assert!(matches!(err, JsonlError::File(_)), "{err:?}");
    assert!(err.to_string().contains("eval.jsonl"), "{err}");
}

#[test]
fn results_file_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    let mut file = ResultsFile::new("hostile", 1.0 / 9.0);
    file.write(&path).unwrap();
    assert_eq!(ResultsFile::read(&path).unwrap(), file);

    file.schema_version = RESULTS_SCHEMA_VERSION + 1;
    file.write(&path).unwrap();
    let err = ResultsFile::read(&path).unwrap_err();
    match &err {
        ResultsError::TooNew {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*found, u64::from(RESULTS_SCHEMA_VERSION) + 1);
            assert_eq!(*supported, RESULTS_SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("results.json") && shown.contains("upgrade"),
        "{shown}"
    );

    // Versions that are not positive integers are refused too, naming the field.
    for bad in [json!(0), json!(-1), json!("2"), json!(1.5), json!(null)] {
        let text = json!({"schema_version": bad, "random_baseline": 0.1, "configs": []}).to_string();
        let err = ResultsFile::from_json_str(&text, Path::new("r.json")).unwrap_err();
        assert!(matches!(err, ResultsError::BadVersion { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains("schema_version"), "{err}");
    }
}

#[test]
fn unparseable_model_output_is_scored_wrong_and_counted() {
    // Three decisions: one right, one wrong, one whose output parses to nothing.
    let cases = [
        (Action::kind(ActionKind::Repair), "Action: repair"),
        (Action::kind(ActionKind::FinalAnswer), "verifier"),
        (
            Action::kind(ActionKind::FileRead),
            "<think>\nI should open the file and then",
        ),
    ];
    let records: Vec<ExampleRecord> = cases
        .iter()
        .enumerate()
        .map(|(i, (gold, raw))| {
            let parsed = parse_action(raw);
            let correct = parsed.as_ref().is_ok_and(|a| a.kind == gold.kind);
            ExampleRecord {
                example_id: format!("e{i}"),
                gold: gold.clone(),
                raw_output: parsed.as_ref().err().map(|e| e.raw().to_string()),
                predicted: parsed.ok(),
                correct,
                accepted: None,
                ledger: CostLedger::new(),
            }
        })
        .collect();
    assert!(records[2].predicted.is_none());
    assert_eq!(
        records[2].raw_output.as_deref(),
        Some(cases[2].1),
        "raw output kept"
    );

    let matrix = ConfusionMatrix::from_records(&records);
    assert_eq!(matrix.total(), 3, "the unparseable output is not dropped");
    assert_eq!(matrix.unparseable_total(), 1);
    assert_eq!(matrix.unparseable[ActionKind::FileRead.index()], 1);
    assert_eq!(matrix.support(ActionKind::FileRead), 1);
    assert_eq!(matrix.predicted(ActionKind::FileRead), 0);
    let accuracy = matrix.accuracy();
    assert_eq!((accuracy.correct, accuracy.total), (1, 3));
    let calls = call_accuracy_of_records(&records);
    assert_eq!((calls.correct, calls.total), (1, 3));

    // And the record survives a results file round trip with its raw output.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    let mut file = ResultsFile::new("unparseable", 1.0 / 9.0);
    file.configs.push(spec_actions_core::ConfigResult {
        name: "B".into(),
        description: "cheap only".into(),
        accuracy: accuracy.value(),
        mean_cost: 0.15,
        accept_rate: None,
        fallback_rate: None,
        records: records.clone(),
    });
    file.write(&path).unwrap();
    let back = ResultsFile::read(&path).unwrap();
    assert_eq!(back.configs[0].records, records);
}
