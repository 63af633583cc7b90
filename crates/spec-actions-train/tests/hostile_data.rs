//! Failure paths of the dataset files the training side reads back: a line that fails to
//! parse stops the read with the file and the 1-based line.

use spec_actions_core::{Action, ActionKind, Example, Message, Split, write_jsonl};
use spec_actions_train::data::error::DataError;
use spec_actions_train::data::pipeline::read_examples;

fn example(id: &str) -> Example {
    Example {
        id: id.into(),
        source: "synthetic:test".into(),
        conversation: id.into(),
        split: Split::Train,
        messages: vec![Message::user("fix the failing test")],
        tools: vec![],
        gold: Action::kind(ActionKind::Repair),
    }
}

#[test]
fn split_file_with_a_bad_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    write_jsonl(&path, [example("a"), example("b")]).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    // A blank line (skipped, but counted), then a row whose gold kind does not exist.
    text.push('\n');
    text.push_str(
        &serde_json::to_string(&example("c"))
            .unwrap()
            .replace("\"repair\"", "\"jump\""),
    );
    text.push('\n');
    std::fs::write(&path, text).unwrap();

    let err = read_examples(&path).unwrap_err();
    match &err {
        DataError::InvalidLine {
            path: p,
            line,
            reason,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 4);
            assert!(reason.contains("jump"), "{reason}");
        }
        other => panic!("expected InvalidLine, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!("{}:4:", path.display())),
        "{err}"
    );
}

#[test]
fn missing_split_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.jsonl");
    let err = read_examples(&path).unwrap_err();
    assert!(err.to_string().contains("dev.jsonl"), "{err}");
}
