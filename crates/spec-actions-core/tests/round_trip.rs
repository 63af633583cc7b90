//! Property tests: what the proposer is trained to emit ([`Action::to_model_text`]) parses back
//! to the same action, also wrapped the ways a model wraps it; datasets survive JSONL.

use proptest::prelude::*;
use serde_json::{Map, Value};
use spec_actions_core::jsonl::{JsonlReader, write_jsonl};
use spec_actions_core::{Action, ActionKind, parse_action};

fn kind() -> impl Strategy<Value = ActionKind> {
    proptest::sample::select(ActionKind::ALL.to_vec())
}

/// JSON leaves: strings with quotes, backslashes, tags and unicode; integers; finite floats.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-zA-Z0-9 _./\"\\\\<>{}:,\u{e9}\u{4e2d}-]{0,16}".prop_map(Value::from),
        Just(Value::from("</tool_call>")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arguments() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z_][a-z0-9_]{0,10}", json_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        kind().prop_map(Action::kind),
        (kind(), "[a-zA-Z_][a-zA-Z0-9_.]{0,20}", arguments()).prop_map(|(k, n, a)| Action::call(k, n, a)),
    ]
}

proptest! {
    #[test]
    fn model_text_parses_back(action in action()) {
        let text = action.to_model_text();
        let parsed = parse_action(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed, &action);
        prop_assert!(parsed.matches_call(&action));
    }

    #[test]
    fn model_text_parses_back_when_wrapped(
        action in action(),
        think in "[a-z ,.]{0,40}",
        end in proptest::sample::select(vec!["", "<|im_end|>", "\n", "<|endoftext|>"]),
    ) {
        let text = format!("<think>\n{think}\n</think>\n\n{}{end}", action.to_model_text());
        let parsed = parse_action(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, action);
    }

    #[test]
    fn kind_only_survives_decoration(
        kind in kind(),
        prefix in proptest::sample::select(vec!["", "Action: ", "**Action:** ", "action=", "Next action: ", "  "]),
        quote in proptest::sample::select(vec!["", "\"", "'", "`", "**"]),
        suffix in proptest::sample::select(vec!["", ".", "!", " — because the tests failed", "\n\nDone."]),
        upper in any::<bool>(),
    ) {
        let name = if upper { kind.as_str().to_uppercase() } else { kind.as_str().to_lowercase() };
        let text = format!("{prefix}{quote}{name}{quote}{suffix}");
        let parsed = parse_action(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, Action::kind(kind));
    }

    #[test]
    fn parser_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = parse_action(&text) {
            prop_assert_eq!(e.raw(), text.as_str());
        }
    }

    #[test]
    fn actions_survive_jsonl(actions in prop::collection::vec(action(), 0..8)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("actions.jsonl");
        write_jsonl(&path, &actions).unwrap();
        let back: Vec<Action> = JsonlReader::open(&path).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, actions);
    }
}
