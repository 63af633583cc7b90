//! Tolerant parsing of raw model output into an [`Action`].
//!
//! Models emit the action in many shapes: `final_answer`, `Action: file_read.`,
//! `"BLOCKED"`, `<think>…</think>\n\nrepair`, or a Qwen tool call block
//! `<tool_call>{"name": …, "arguments": …}</tool_call>`. [`parse_action`] accepts all of them;
//! anything else is a [`ParseActionError`] that keeps the raw text, so an evaluation can count
//! the proposal as wrong instead of crashing.

use serde_json::Value;

use crate::action::{Action, ActionKind};

/// Why a model output could not be read as an action. Every variant keeps the raw text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseActionError {
    #[error("no answer in model output {raw:?} (empty, or only a <think> block)")]
    Empty { raw: String },
    #[error("no action kind found in model output {raw:?}")]
    UnknownKind { raw: String },
    #[error("malformed <tool_call> block ({reason}) in model output {raw:?}")]
    BadToolCall { raw: String, reason: String },
}

impl ParseActionError {
    /// The model output that failed to parse.
    pub fn raw(&self) -> &str {
        match self {
            ParseActionError::Empty { raw }
            | ParseActionError::UnknownKind { raw }
            | ParseActionError::BadToolCall { raw, .. } => raw,
        }
    }
}

/// Parse raw model output into an [`Action`].
///
/// Steps:
/// 1. drop a `<think>…</think>` block (an unterminated one swallows the rest; output that starts
///    inside a block opened by the prompt is cut after its `</think>`), then everything from an
///    end-of-turn token (`<|im_end|>`, `<|endoftext|>`) on;
/// 2. a `<tool_call>` block → a structured call whose kind is the kind named before the block,
///    or `tool_call` marked [`Action::kind_unnamed`] (scored as the gold's kind against a gold
///    call, [`Action::score_against`]) (a block that is not a call after a kind line gives that kind without a
///    call: right or wrong at the kind level, always wrong at the call level); its JSON may
///    sit in a code fence, `arguments` may be an object or a JSON-encoded string (`parameters` is accepted too), and whatever follows the JSON value
///    (the closing tag, a second call) is ignored, so an unterminated block still parses; a
///    `<tool_call>` inside the strings of a leading JSON object is text, not a block;
/// 3. a bare JSON object → an [`Action`] (`{"kind": …}`), a call (`{"name": …, "arguments": …}`,
///    kind unnamed as in 2.)
///    or `{"action": "<kind>"}`;
/// 4. otherwise strip a label (`Action:`, `Next action:`, `Answer:`, `The next action is`),
///    markdown decoration, quotes and backticks, and match the first word, or the first two
///    joined by `_`, against the nine kinds (case-insensitive; `-` and spaces count as `_`).
///    Text after the kind is ignored; prose before it is not understood.
///
/// Anything else is a [`ParseActionError`] that keeps `raw`.
pub fn parse_action(raw: &str) -> Result<Action, ParseActionError> {
    // 1. Reasoning and end-of-turn tokens.
    let mut body = strip_think(raw);
    for end_token in END_OF_TURN {
        if let Some(end) = body.find(end_token) {
            body = &body[..end];
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return Err(ParseActionError::Empty { raw: raw.to_string() });
    }
    let bad_call = |reason: String| ParseActionError::BadToolCall {
        raw: raw.to_string(),
        reason,
    };

    // 2. A Qwen tool-call block; a tag inside the strings of a leading JSON value is text.
    let unfenced = strip_code_fence(body);
    let leading_json_end = unfenced
        .starts_with('{')
        .then(|| leading_json_len(unfenced))
        .flatten()
        .map(|len| (unfenced.as_ptr() as usize - body.as_ptr() as usize) + len);
    if let Some(start) = body.find(TOOL_CALL_OPEN)
        && leading_json_end.is_none_or(|end| start >= end)
    {
        // Read the first JSON value after the tag: the closing tag (or a missing one, or a
        // `</tool_call>` inside an argument string) does not need to be found first.
        let after = &body[start + TOOL_CALL_OPEN.len()..];
        let named_kind = leading_kind(&body[..start]);
        let call = first_json_value(skip_fence_opening(after)).and_then(|value| tool_call_fields(&value));
        return match (call, named_kind) {
            (Ok((name, arguments)), Some(kind)) => Ok(Action::call(kind, name, arguments)),
            // No kind line: `tool_call` by default, marked so scoring takes the gold's kind.
            (Ok((name, arguments)), None) => {
                Ok(Action::call(ActionKind::ToolCall, name, arguments).with_kind_unnamed())
            }
            // A kind line before a block that is not a call: the model committed to that kind
            // and wrote no usable call — right or wrong at the kind level, wrong at the call
            // level (no function name), as BFCL would score it.
            (Err(_), Some(kind)) => Ok(Action::kind(kind)),
            (Err(reason), None) => Err(bad_call(reason)),
        };
    }

    // 3. A bare JSON object.
    if unfenced.starts_with('{')
        && let Ok(Value::Object(obj)) = first_json_value(unfenced)
    {
        if obj.contains_key("kind")
            && let Ok(action) = serde_json::from_value::<Action>(Value::Object(obj.clone()))
        {
            return Ok(action);
        }
        if obj.contains_key("name") {
            let (name, arguments) = tool_call_fields(&Value::Object(obj)).map_err(bad_call)?;
            return Ok(Action::call(ActionKind::ToolCall, name, arguments).with_kind_unnamed());
        }
        if let Some(kind) = obj.get("action").and_then(Value::as_str).and_then(leading_kind) {
            return Ok(Action::kind(kind));
        }
    }

    // 4. A kind, possibly labelled and decorated.
    leading_kind(body)
        .map(Action::kind)
        .ok_or_else(|| ParseActionError::UnknownKind { raw: raw.to_string() })
}

const TOOL_CALL_OPEN: &str = "<tool_call>";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
/// Tokens after which nothing the model wrote belongs to its answer.
const END_OF_TURN: [&str; 2] = ["<|im_end|>", "<|endoftext|>"];
/// Labels models put before the kind; matched case-insensitively, longest first.
const LABELS: [&str; 6] = [
    "the next action is",
    "next action is",
    "next action",
    "next_action",
    "action",
    "answer",
];
/// Characters that decorate a kind: whitespace, markdown emphasis and headings, quotes,
/// backticks, bullets, brackets.
const DECORATION: &[char] = &[
    ' ', '\t', '\n', '\r', '*', '_', '#', '>', '-', '"', '\'', '`', '{', '[', '(',
];

/// Remove a `<think>…</think>` block; an unterminated one swallows the rest. Output that starts
/// inside a block the prompt opened (a `</think>` with no `<think>` before it, and not inside a
/// leading JSON object's strings) is cut after it.
fn strip_think(s: &str) -> &str {
    let t = s.trim_start();
    if let Some(rest) = t.strip_prefix(THINK_OPEN) {
        return match rest.find(THINK_CLOSE) {
            Some(end) => &rest[end + THINK_CLOSE.len()..],
            None => "",
        };
    }
    match t.find(THINK_CLOSE) {
        Some(end) if !t[..end].contains(THINK_OPEN) && !inside_leading_json(t, end) => {
            &t[end + THINK_CLOSE.len()..]
        }
        _ => t,
    }
}

/// Whether byte `pos` of `t` lies inside the JSON object `t` starts with (possibly fenced).
fn inside_leading_json(t: &str, pos: usize) -> bool {
    let json = skip_fence_opening(t);
    let offset = t.len() - json.len();
    json.starts_with('{') && leading_json_len(json).is_some_and(|len| pos < offset + len)
}

/// Strip a surrounding markdown code fence (```` ```json … ``` ````), if any.
fn strip_code_fence(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    // Drop the info string (`json`) up to the end of the first line.
    let rest = rest.find('\n').map_or(rest, |nl| &rest[nl + 1..]);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

/// `s` after an opening code fence line (```` ```json ````), if it starts with one.
fn skip_fence_opening(s: &str) -> &str {
    let t = s.trim_start();
    match t.strip_prefix("```") {
        Some(rest) => rest.find('\n').map_or(rest, |nl| &rest[nl + 1..]),
        None => t,
    }
}

/// The first JSON value of `text`; whatever follows it is ignored.
fn first_json_value(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Err("empty tool call".to_string());
    }
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(format!("invalid JSON: {e}")),
        None => Err("empty tool call".to_string()),
    }
}

/// Byte length of the JSON value `text` starts with, if it starts with a valid one.
fn leading_json_len(text: &str) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(values.byte_offset()),
        _ => None,
    }
}

/// Read `{"name": …, "arguments": …}`; `arguments` (or `parameters`) may be an object or a
/// JSON-encoded object string; absent or null means no arguments (`{}`).
fn tool_call_fields(value: &Value) -> Result<(String, Value), String> {
    let obj = value.as_object().ok_or("tool call is not a JSON object")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or("missing string field `name`")?
        .to_string();
    let arguments = match obj.get("arguments").or_else(|| obj.get("parameters")) {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Default::default()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err("`arguments` string does not hold a JSON object".to_string()),
            Err(e) => return Err(format!("`arguments` string is not JSON: {e}")),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err("`arguments` is not an object".to_string()),
    };
    Ok((name, arguments))
}

/// `s` without a leading label such as `Action:` and without decoration.
fn strip_label(s: &str) -> &str {
    let t = s.trim_start_matches(DECORATION);
    for label in LABELS {
        let Some(head) = t.get(..label.len()) else {
            continue;
        };
        let boundary = t[label.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if head.eq_ignore_ascii_case(label) && boundary {
            let rest = t[label.len()..].trim_start_matches(DECORATION);
            let rest = rest.strip_prefix([':', '=']).unwrap_or(rest);
            return rest.trim_start_matches(DECORATION);
        }
    }
    t
}

/// The kind named by the first word of `s`, or its first two words joined by `_`.
fn leading_kind(s: &str) -> Option<ActionKind> {
    let t = strip_label(s);
    // Words: runs of letters, digits, `_` and `-`; everything else separates.
    let mut words = t
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.trim_matches(|c| c == '_' || c == '-')
                .to_ascii_lowercase()
                .replace('-', "_")
        });
    let lookup = |text: &str| {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text))
    };
    let first = words.next()?;
    lookup(&first).or_else(|| {
        words
            .next()
            .and_then(|second| lookup(&format!("{first}_{second}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionKind::*;
    use serde_json::json;

    fn kind_of(raw: &str) -> ActionKind {
        match parse_action(raw) {
            Ok(a) => a.kind,
            Err(e) => panic!("{raw:?} did not parse: {e}"),
        }
    }

    #[test]
    fn bare_kinds_in_every_case_and_spacing() {
        for kind in ActionKind::ALL {
            let s = kind.as_str();
            for raw in [
                s.to_string(),
                s.to_uppercase(),
                s.to_lowercase(),
                format!("  {s}  \n"),
                format!("\n\n{s}"),
                s.replace('_', " "),
                s.replace('_', "-"),
            ] {
                assert_eq!(kind_of(&raw), kind, "{raw:?}");
                assert_eq!(
                    parse_action(&raw).unwrap(),
                    Action::kind(kind),
                    "kind-only: {raw:?}"
                );
            }
        }
        assert_eq!(kind_of("Final Answer"), FinalAnswer);
        assert_eq!(kind_of("Ask Clarification"), AskClarification);
        assert_eq!(kind_of("File Write"), FileWrite);
        assert_eq!(kind_of("Tool-Call"), ToolCall);
    }

    #[test]
    fn quotes_markdown_and_trailing_text() {
        let cases = [
            ("\"repair\"", Repair),
            ("'repair'", Repair),
            ("`repair`", Repair),
            ("**repair**", Repair),
            ("_final_answer_", FinalAnswer),
            ("```\nverifier\n```", Verify),
            ("- final_answer", FinalAnswer),
            ("# BLOCKED", Blocked),
            ("[retrieval]", Retrieval),
            ("repair.", Repair),
            ("repair!", Repair),
            ("final_answer,", FinalAnswer),
            ("BLOCKED;", Blocked),
            ("file_read: open config.yaml to find the port", FileRead),
            ("retrieval - search the docs for the API limits", Retrieval),
            (
                "ask_clarification\nWhich environment do you mean, staging or prod?",
                AskClarification,
            ),
            ("final_answer\n\nThe deployment succeeded.", FinalAnswer),
            ("BLOCKED (the request needs credentials I don't have)", Blocked),
            ("verifier<|im_end|>", Verify),
            ("retrieval<|endoftext|><|im_end|>", Retrieval),
        ];
        for (raw, kind) in cases {
            assert_eq!(kind_of(raw), kind, "{raw:?}");
        }
    }

    #[test]
    fn labels_before_the_kind() {
        let cases = [
            ("Action: file_write", FileWrite),
            ("action:file_write", FileWrite),
            ("ACTION = verifier", Verify),
            ("Action: repair.", Repair),
            ("Next action: retrieval", Retrieval),
            ("next_action: tool_call", ToolCall),
            ("**Action:** ask_clarification", AskClarification),
            ("**Action**: ask_clarification", AskClarification),
            ("Action: `BLOCKED`", Blocked),
            ("Action: \"final_answer\"", FinalAnswer),
            ("### Action\nrepair", Repair),
            ("Answer: final_answer", FinalAnswer),
            ("The next action is: repair", Repair),
            ("The next action is file_read.", FileRead),
            ("  action :  Final Answer  ", FinalAnswer),
        ];
        for (raw, kind) in cases {
            assert_eq!(kind_of(raw), kind, "{raw:?}");
        }
    }

    #[test]
    fn think_blocks() {
        let cases = [
            (
                "<think>\nThe tests failed, so the code needs fixing.\n</think>\n\nrepair",
                Repair,
            ),
            ("<think>\n\n</think>\n\nfinal_answer", FinalAnswer),
            ("  <think>maybe tool_call? no.</think>Action: BLOCKED", Blocked),
            // The chat template opened the block in the prompt: output starts inside it.
            ("The user wants the config checked.\n</think>\n\nverifier", Verify),
            // A kind named inside the reasoning does not count.
            (
                "<think>final_answer would be premature</think>\nretrieval",
                Retrieval,
            ),
        ];
        for (raw, kind) in cases {
            assert_eq!(kind_of(raw), kind, "{raw:?}");
        }
        // Unterminated: the model ran out of tokens while thinking. No answer, raw kept.
        let raw = "<think>\nI should first read the file, then maybe";
        let err = parse_action(raw).unwrap_err();
        assert!(matches!(err, ParseActionError::Empty { .. }), "{err:?}");
        assert_eq!(err.raw(), raw);
        // Only reasoning, closed: still no answer.
        assert!(matches!(
            parse_action("<think>hmm</think>\n"),
            Err(ParseActionError::Empty { .. })
        ));
    }

    #[test]
    fn qwen_tool_call_blocks() {
        let weather = Action::call(
            ToolCall,
            "get_weather",
            json!({"city": "Paris", "unit": "celsius"}),
        );
        let cases = [
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>",
            "tool_call\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>",
            "Action: tool_call\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"unit\":\"celsius\",\"city\":\"Paris\"}}</tool_call>",
            // arguments as a JSON-encoded string (OpenAI style)
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\", \\\"unit\\\": \\\"celsius\\\"}\"}\n</tool_call>",
            // `parameters` instead of `arguments`
            "<tool_call>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}</tool_call>",
            // after reasoning, with the end-of-turn token
            "<think>\nNeed the forecast.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>",
            // unterminated block (generation stopped at the closing tag)
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n",
            // JSON in a code fence inside the block
            "<tool_call>\n```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n```\n</tool_call>",
            // prose before the block that names no kind
            "I'll check the weather first.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>",
            // two parallel calls: the first is the action
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
            // bare JSON call without tags
            "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}",
        ];
        for raw in cases {
            let got = parse_action(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert!(got.matches_call(&weather), "{raw:?} → {got}");
        }
        // The kind before the block is kept.
        let read = parse_action(
            "file_read\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"src/main.rs\\\"}\"}\n</tool_call>",
        )
        .unwrap();
        assert_eq!(
            read,
            Action::call(FileRead, "read_file", json!({"path": "src/main.rs"}))
        );
        // The closing tag inside an argument string does not end the block.
        let echo = parse_action(
            "<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"text\": \"</tool_call>\"}}\n</tool_call>",
        )
        .unwrap();
        assert_eq!(
            echo,
            Action::call(ToolCall, "echo", json!({"text": "</tool_call>"}))
        );
        // No arguments → empty object.
        let ls = parse_action("<tool_call>{\"name\": \"list_files\"}</tool_call>").unwrap();
        assert_eq!(ls, Action::call(ToolCall, "list_files", json!({})));
        let ls =
            parse_action("<tool_call>{\"name\": \"list_files\", \"arguments\": \"\"}</tool_call>").unwrap();
        assert_eq!(ls.arguments, json!({}));
    }

    #[test]
    fn json_objects_without_tags() {
        assert_eq!(
            parse_action("{\"kind\": \"repair\"}").unwrap(),
            Action::kind(Repair)
        );
        assert_eq!(
            parse_action("{\"action\": \"final_answer\"}").unwrap(),
            Action::kind(FinalAnswer)
        );
        assert_eq!(
            parse_action("```json\n{\"action\": \"BLOCKED\"}\n```").unwrap(),
            Action::kind(Blocked)
        );
        let serialized =
            serde_json::to_string(&Action::call(FileWrite, "write", json!({"path": "a"}))).unwrap();
        assert_eq!(
            parse_action(&serialized).unwrap(),
            Action::call(FileWrite, "write", json!({"path": "a"}))
        );
    }

    #[test]
    fn malformed_tool_calls_are_typed_errors_keeping_raw() {
        let cases = [
            // missing closing brace
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}\n</tool_call>",
            // no name
            "<tool_call>{\"arguments\": {}}</tool_call>",
            // empty name
            "<tool_call>{\"name\": \"  \", \"arguments\": {}}</tool_call>",
            // arguments string that is not JSON
            "<tool_call>{\"name\": \"f\", \"arguments\": \"city=Paris\"}</tool_call>",
            // arguments of the wrong type
            "<tool_call>{\"name\": \"f\", \"arguments\": [1, 2]}</tool_call>",
            "<tool_call>{\"name\": \"f\", \"arguments\": \"[1, 2]\"}</tool_call>",
            // python dict instead of JSON
            "<tool_call>{'name': 'f', 'arguments': {}}</tool_call>",
            // empty block
            "<tool_call>\n</tool_call>",
            // not an object
            "<tool_call>[\"f\"]</tool_call>",
        ];
        for raw in cases {
            match parse_action(raw) {
                Err(e @ ParseActionError::BadToolCall { .. }) => assert_eq!(e.raw(), raw),
                other => panic!("{raw:?} → {other:?}"),
            }
        }
    }

    /// A small model's broken call after its kind line (here the tiny preset's greedy loop)
    /// keeps the kind it committed to, with no call; without a kind line it stays an error.
    #[test]
    fn a_kind_line_before_a_broken_block_is_that_kind_without_a_call() {
        let looped = "file_read\n<tool_call>\n<tool_call>\n<tool_call>\n<tool_ca";
        assert_eq!(parse_action(looped), Ok(Action::kind(ActionKind::FileRead)));
        let bad_json = "tool_call\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }";
        assert_eq!(parse_action(bad_json), Ok(Action::kind(ActionKind::ToolCall)));
        assert!(matches!(
            parse_action("<tool_call>\n<tool_call>"),
            Err(ParseActionError::BadToolCall { .. })
        ));
        // a good call after the kind line is still the call
        let good = "file_read\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>";
        let action = parse_action(good).expect("a call");
        assert_eq!(
            (action.kind, action.name.as_deref()),
            (ActionKind::FileRead, Some("read_file"))
        );
    }

    #[test]
    fn garbage_is_a_typed_error_keeping_raw() {
        let cases = [
            "I'm not sure what to do next.",
            "tool",
            "final",
            "finalanswer",
            "actions: repair the build",
            "Sure! Here is the next step: we should look at the logs.",
            "42",
            "{\"foo\": 1}",
            "{\"kind\": \"jump\"}",
            "\u{1F600}",
        ];
        for raw in cases {
            match parse_action(raw) {
                Err(e @ ParseActionError::UnknownKind { .. }) => {
                    assert_eq!(e.raw(), raw);
                    assert!(e.to_string().contains("no action kind"), "{e}");
                }
                other => panic!("{raw:?} → {other:?}"),
            }
        }
        for raw in ["", "   \n\t", "<|im_end|>"] {
            assert!(
                matches!(parse_action(raw), Err(ParseActionError::Empty { .. })),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn from_str_is_strict() {
        assert_eq!("BLOCKED".parse::<ActionKind>().unwrap(), Blocked);
        assert_eq!(" blocked ".parse::<ActionKind>().unwrap(), Blocked);
        assert!("Action: blocked".parse::<ActionKind>().is_err());
    }
}
