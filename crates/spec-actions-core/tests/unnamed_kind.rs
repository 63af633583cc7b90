//! A prediction whose output names no kind (a bare `<tool_call>` block, Qwen's own tool-call
//! format with no kind line) is scored against a gold call at call level: its kind is the
//! gold's, and its call alone decides (`Action::score_against`, the one rule of every scorer).
//! The kind is never guessed from the tool's name. Expected values are decided by hand from
//! that rule; the metrics below go through the same function.

use serde_json::json;
use spec_actions_core::metrics::call_accuracy;
use spec_actions_core::{Accuracy, Action, ActionKind, parse_action};

fn file_read_gold() -> Action {
    Action::call(ActionKind::FileRead, "read_file", json!({"path": "src/lib.rs"}))
}

const BARE_RIGHT: &str =
    "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/lib.rs\"}}\n</tool_call>";
const BARE_WRONG: &str =
    "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.rs\"}}\n</tool_call>";

#[test]
fn a_bare_block_matching_a_file_read_gold_is_right_at_both_levels() {
    let gold = file_read_gold();
    let p = parse_action(BARE_RIGHT).unwrap();
    // The parsed action itself is unchanged: `tool_call`, now marked as unnamed.
    assert_eq!(p.kind, ActionKind::ToolCall);
    assert!(p.kind_unnamed);
    let s = p.score_against(&gold);
    assert_eq!(s.kind, ActionKind::FileRead);
    assert!(s.kind_correct);
    assert!(s.call_correct);
    // The same verdicts through the metrics.
    assert_eq!(
        call_accuracy([(&gold, Some(&p))]),
        Accuracy { correct: 1, total: 1 }
    );
    // A bare JSON call (no tags, no kind) is unnamed too.
    let json_call = parse_action(r#"{"name": "read_file", "arguments": {"path": "src/lib.rs"}}"#).unwrap();
    assert!(json_call.kind_unnamed);
    assert!(json_call.score_against(&gold).call_correct);
}

#[test]
fn a_bare_block_with_the_wrong_call_is_wrong_at_call_level() {
    let gold = file_read_gold();
    let p = parse_action(BARE_WRONG).unwrap();
    let s = p.score_against(&gold);
    assert!(s.kind_correct, "the kind is the gold's: the call decides");
    assert!(!s.call_correct);
    assert_eq!(
        call_accuracy([(&gold, Some(&p))]),
        Accuracy { correct: 0, total: 1 }
    );
    // A wrong function name is wrong too.
    let other = parse_action(
        "<tool_call>{\"name\": \"write_file\", \"arguments\": {\"path\": \"src/lib.rs\"}}</tool_call>",
    )
    .unwrap();
    assert!(!other.score_against(&gold).call_correct);
}

#[test]
fn a_kinded_block_with_the_wrong_kind_stays_wrong() {
    let gold = file_read_gold();
    let raw = format!("file_write\n{BARE_RIGHT}");
    let p = parse_action(&raw).unwrap();
    assert!(!p.kind_unnamed);
    let s = p.score_against(&gold);
    assert_eq!(s.kind, ActionKind::FileWrite);
    assert!(!s.kind_correct);
    assert!(!s.call_correct);
    // An explicit `tool_call` line is a claim too: wrong against a `file_read` gold.
    let claimed = parse_action(&format!("tool_call\n{BARE_RIGHT}")).unwrap();
    assert!(!claimed.score_against(&gold).kind_correct);
}

/// Against a kind-only gold (no call to compare), a bare block keeps its default `tool_call`.
#[test]
fn a_bare_block_against_a_kind_only_gold_is_tool_call() {
    let p = parse_action(BARE_RIGHT).unwrap();
    let s = p.score_against(&Action::kind(ActionKind::FinalAnswer));
    assert_eq!(s.kind, ActionKind::ToolCall);
    assert!(!s.kind_correct && !s.call_correct);
    assert!(p.score_against(&Action::kind(ActionKind::ToolCall)).kind_correct);
}

/// The flag survives a JSON round trip and is absent from files that predate it (and from
/// every action that named its kind).
#[test]
fn the_flag_round_trips_and_defaults_to_named() {
    let p = parse_action(BARE_RIGHT).unwrap();
    let text = serde_json::to_string(&p).unwrap();
    assert!(text.contains("\"kind_unnamed\":true"), "{text}");
    let back: Action = serde_json::from_str(&text).unwrap();
    assert!(back.kind_unnamed);
    let old: Action =
        serde_json::from_str(r#"{"kind": "tool_call", "name": "read_file", "arguments": {}}"#).unwrap();
    assert!(!old.kind_unnamed);
    let named = serde_json::to_string(&file_read_gold()).unwrap();
    assert!(!named.contains("kind_unnamed"), "{named}");
}
