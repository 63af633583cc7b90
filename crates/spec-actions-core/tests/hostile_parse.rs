//! Hostile model outputs found by fuzzing `parse_action` (fuzz/fuzz_targets/action_parser.rs).
//! Each case is a regression test for a crash input, kept verbatim.

use serde_json::json;
use spec_actions_core::{Action, ActionKind, parse_action};

/// fuzz/artifacts/action_parser/crash-af881a98…: a `<tool_call>` tag inside a JSON string made
/// the parser take the string's tail for a tool-call block, so an action's own JSON form did
/// not parse back.
#[test]
fn tool_call_tag_inside_a_json_string_is_text() {
    let action = Action::call(
        ActionKind::ToolCall,
        "get_weather",
        json!({"city": "Paris", "unit": "celsi<tool_call>4}us"}),
    );
    let own_json = serde_json::to_string(&action).unwrap();
    assert_eq!(parse_action(&own_json).unwrap(), action);

    // The same thing as a model would write it: documentation about Qwen's call format.
    let raw = r#"{"kind": "file_write", "name": "write_file", "arguments": {"path": "FORMAT.md", "content": "Calls are wrapped in <tool_call> and </tool_call>."}}"#;
    let parsed = parse_action(raw).unwrap();
    assert_eq!(parsed.kind, ActionKind::FileWrite);
    assert_eq!(parsed.name.as_deref(), Some("write_file"));
    assert_eq!(
        parsed.arguments["content"],
        "Calls are wrapped in <tool_call> and </tool_call>."
    );

    // A call object (`{"name", "arguments"}`) too.
    let raw = r#"{"name": "echo", "arguments": {"text": "<tool_call>"}}"#;
    assert_eq!(
        parse_action(raw).unwrap(),
        Action::call(ActionKind::ToolCall, "echo", json!({"text": "<tool_call>"}))
    );
}

#[test]
fn tool_call_block_after_a_json_object_is_still_a_block() {
    // The tag follows the JSON value, so it is a real block: the call comes from the block.
    let raw = "{\"kind\": \"tool_call\"}\n<tool_call>\n{\"name\": \"ls\", \"arguments\": {}}\n</tool_call>";
    assert_eq!(
        parse_action(raw).unwrap(),
        Action::call(ActionKind::ToolCall, "ls", json!({}))
    );
}

/// Found by the test below while checking the fuzz property: a `</think>` inside a JSON string
/// was taken for the end of a reasoning block opened by the prompt, and the action cut there.
#[test]
fn think_close_inside_a_json_string_is_text() {
    let raw = r#"{"kind": "file_write", "name": "write_file", "arguments": {"content": "reasoning ends at </think>"}}"#;
    let parsed = parse_action(raw).unwrap();
    assert_eq!(parsed.name.as_deref(), Some("write_file"));
    // Output that starts inside a prompt-opened block is still cut after its end.
    assert_eq!(
        parse_action("the user wants {a} </think>\nrepair").unwrap().kind,
        ActionKind::Repair
    );
}

#[test]
fn every_action_reparses_from_its_own_json() {
    // The property the fuzz target checks, on the arguments most likely to confuse the parser.
    // (`<|im_end|>` is left out on purpose: it ends the turn wherever it appears, as it ends
    // generation.)
    let tricky = [
        "<tool_call>",
        "</tool_call>",
        "<think>",
        "</think>",
        "```",
        "Action: repair",
    ];
    for kind in ActionKind::ALL {
        for text in tricky {
            let action = Action::call(kind, "f", json!({"x": text}));
            let own_json = serde_json::to_string(&action).unwrap();
            let back = parse_action(&own_json).unwrap_or_else(|e| panic!("{own_json}: {e}"));
            assert_eq!(back.kind, kind, "{own_json}");
            assert_eq!(back.name.as_deref(), Some("f"), "{own_json}");
        }
    }
}
