//! The recorded-outputs format keeps its shape while the Rust side keys judges by role.
//!
//! `data/hand.jsonl` was written by hand (with the study's numbers) before the judges became a
//! `JudgeMap`: its rows carry the top-level `verifier` / `reward` lists.

use serde_json::Value;
use spec_actions_core::ModelRole;
use spec_actions_verify::RecordedExample;

const HAND: &str = include_str!("data/hand.jsonl");

/// Every hand-written row reads into the judge map under its own role and writes back as the
/// same JSON value: no key renamed, none added (empty judges stay left out), none lost.
#[test]
fn judges_read_by_role_and_write_back_the_same_row() {
    let mut judged = 0;
    for line in HAND.lines().filter(|l| !l.trim().is_empty()) {
        let original: Value = serde_json::from_str(line).unwrap();
        let row: RecordedExample = serde_json::from_str(line).unwrap();
        for role in ModelRole::JUDGES {
            let listed = original
                .get(role.as_str())
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            assert_eq!(row.judgements[role].len(), listed, "{}: {role}", row.id);
            if let Some(first) = row.judgements[role].first() {
                assert_eq!(
                    first.score,
                    original[role.as_str()][0]["score"].as_f64().unwrap(),
                    "{}: {role}",
                    row.id
                );
                judged += 1;
            }
        }
        assert_eq!(serde_json::to_value(&row).unwrap(), original, "{}", row.id);
    }
    assert!(judged >= 2, "the hand rows judge with both judges");
}

/// A row without judges writes neither key, and reads back with empty lists.
#[test]
fn a_row_without_judges_has_no_judge_keys() {
    let line = HAND.lines().next().unwrap();
    let mut row: RecordedExample = serde_json::from_str(line).unwrap();
    for role in ModelRole::JUDGES {
        row.judgements[role].clear();
    }
    let value = serde_json::to_value(&row).unwrap();
    assert!(
        value.get("verifier").is_none() && value.get("reward").is_none(),
        "{value}"
    );
    let back: RecordedExample = serde_json::from_value(value).unwrap();
    assert_eq!(back, row);
}
