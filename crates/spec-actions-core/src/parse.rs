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
    #[error("empty model output")]
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
/// Steps: drop a leading `<think>…</think>` block (or an unterminated one, up to the end) →
/// if a `<tool_call>` block is present, read its JSON into a structured call whose kind is the
/// kind named before the block, or `tool_call` → otherwise strip an `Action:` prefix, quotes,
/// backticks and trailing punctuation, and match the first word against the nine kinds
/// (case-insensitive; `-` and spaces count as `_`).
pub fn parse_action(raw: &str) -> Result<Action, ParseActionError> {
    let body = strip_think(raw).trim();
    if body.is_empty() {
        return Err(ParseActionError::Empty { raw: raw.to_string() });
    }
    if let Some(start) = body.find("<tool_call>") {
        let after = &body[start + "<tool_call>".len()..];
        let json_text = match after.find("</tool_call>") {
            Some(end) => &after[..end],
            None => after,
        };
        let (name, arguments) = parse_tool_call_json(json_text.trim())
            .map_err(|reason| ParseActionError::BadToolCall { raw: raw.to_string(), reason })?;
        let kind = leading_kind(&body[..start]).unwrap_or(ActionKind::ToolCall);
        return Ok(Action::call(kind, name, arguments));
    }
    leading_kind(body)
        .map(Action::kind)
        .ok_or_else(|| ParseActionError::UnknownKind { raw: raw.to_string() })
}

/// Remove a `<think>…</think>` block wherever it starts; an unterminated one swallows the rest.
fn strip_think(s: &str) -> &str {
    let t = s.trim_start();
    if let Some(rest) = t.strip_prefix("<think>") {
        return match rest.find("</think>") {
            Some(end) => &rest[end + "</think>".len()..],
            None => "",
        };
    }
    // A template may have opened the block in the prompt: output then starts inside it.
    match t.find("</think>") {
        Some(end) if !t[..end].contains("<think>") => &t[end + "</think>".len()..],
        _ => t,
    }
}

/// The kind named by the first one or two words of `s`, after prefixes and decorations.
fn leading_kind(s: &str) -> Option<ActionKind> {
    let mut t = s.trim();
    for prefix in ["next action", "action"] {
        if t.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix)) {
            let rest = t[prefix.len()..].trim_start();
            if let Some(r) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) {
                t = r;
            }
        }
    }
    // Words: runs of letters, digits, `_` and `-`; everything else (quotes, `*`, punctuation) separates.
    let words: Vec<String> = t
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| w.to_ascii_lowercase().replace('-', "_"))
        .collect();
    let lookup = |text: &str| ActionKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(text));
    let first = words.first()?;
    lookup(first).or_else(|| words.get(1).and_then(|second| lookup(&format!("{first}_{second}"))))
}

/// Read `{"name": …, "arguments": …}`; `arguments` may be an object or a JSON-encoded string.
fn parse_tool_call_json(text: &str) -> Result<(String, Value), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = value.as_object().ok_or("tool call is not a JSON object")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or("missing string field `name`")?
        .to_string();
    let arguments = match obj.get("arguments").or_else(|| obj.get("parameters")) {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| format!("`arguments` string is not JSON: {e}"))?,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err("`arguments` is not an object".to_string()),
    };
    Ok((name, arguments))
}
