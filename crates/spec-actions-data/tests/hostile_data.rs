//! Failure paths of the dataset files the training side reads back: a line that fails to
//! parse stops the read with the file and the 1-based line, or, only when asked
//! (`BadLines::Skip`, `cargo xtask train-all --skip-bad-lines`), is skipped and counted.

use spec_actions_core::{Action, ActionKind, Example, Message, Split, write_jsonl};
use spec_actions_data::error::DataError;
use spec_actions_data::pipeline::{BadLines, read_examples, read_examples_with};

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

/// A file with good lines, a blank line and four bad ones (not JSON, an unknown kind, a
/// missing field, not UTF-8): (text, 1-based lines of the bad ones, ids of the good ones).
fn mixed_file() -> (Vec<u8>, Vec<usize>, Vec<&'static str>) {
    let good = |id| serde_json::to_string(&example(id)).unwrap();
    let lines: Vec<Vec<u8>> = vec![
        good("a").into_bytes(),
        b"{\"id\": \"truncated".to_vec(),
        good("b").into_bytes(),
        Vec::new(),
        good("c").replace("\"repair\"", "\"jump\"").into_bytes(),
        good("d").replace("\"conversation\":\"d\",", "").into_bytes(),
        [b"{\"id\": \"".as_slice(), &[0xff, 0xfe], b"\"}"].concat(),
        good("e").into_bytes(),
    ];
    (lines.join(&b'\n'), vec![2, 5, 6, 7], vec!["a", "b", "e"])
}

#[test]
fn by_default_the_first_bad_line_stops_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    let (text, bad, _) = mixed_file();
    std::fs::write(&path, text).unwrap();
    for err in [
        read_examples(&path).unwrap_err(),
        read_examples_with(&path, BadLines::Refuse).unwrap_err(),
    ] {
        assert!(
            matches!(&err, DataError::InvalidLine { path: p, line, .. } if p == &path && *line == bad[0]),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(&format!("{}:2:", path.display())),
            "{err}"
        );
    }
}

#[test]
fn skip_mode_skips_and_counts_exactly_the_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    let (text, bad, good) = mixed_file();
    std::fs::write(&path, text).unwrap();
    let read = read_examples_with(&path, BadLines::Skip).unwrap();
    let ids: Vec<&str> = read.examples.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, good);
    let lines: Vec<usize> = read.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, bad);
    assert!(read.skipped.iter().all(|s| s.path == path));
    let reasons: Vec<String> = read.skipped.iter().map(ToString::to_string).collect();
    assert!(reasons[1].contains("jump"), "{reasons:?}");
    assert!(reasons[2].contains("conversation"), "{reasons:?}");
    assert!(reasons[3].contains("not UTF-8"), "{reasons:?}");
    assert!(
        reasons[0].starts_with(&format!("{}:2: ", path.display())),
        "{reasons:?}"
    );

    // A clean file skips nothing, in either mode.
    write_jsonl(&path, [example("x"), example("y")]).unwrap();
    let clean = read_examples_with(&path, BadLines::Skip).unwrap();
    assert_eq!(clean.examples.len(), 2);
    assert!(clean.skipped.is_empty());
    assert_eq!(read_examples(&path).unwrap(), clean.examples);
}

/// Issue 18, item 12: an error on line 5 read "train.jsonl:5: … at line 1 column 44" (serde
/// counts the row as line 1). Now the file's line comes first and the row's column after it,
/// with no second line number.
#[test]
fn a_bad_row_names_the_file_line_and_column_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    let good = serde_json::to_string(&example("a")).unwrap();
    let bad = good.replace("\"repair\"", "\"jump\"");
    let column = bad.find("\"jump\"").unwrap() + "\"jump\"".len();
    let text = [good.as_str(), &good, &good, &good, &bad].join("\n");
    std::fs::write(&path, text).unwrap();
    let message = read_examples(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}:5: column {column}: ", path.display())),
        "{message}"
    );
    assert!(
        message.contains("jump") && !message.contains("line 1"),
        "{message}"
    );
}
