//! From an [`Example`] to the list of terms the TF-IDF vectoriser counts.
//!
//! The terms of one example, in order:
//!
//! - for each of the last `last_messages` messages, its words (runs of two or more letters,
//!   digits or `_`, lower-cased, as scikit-learn's default token pattern), tagged with the
//!   message's role (`user:fix`), and the bigrams of adjacent words in that message
//!   (`user:fix the`); an assistant message adds `assistant:call=NAME` for each call it makes,
//!   a tool message `tool:name=NAME`, a message with no words `ROLE:<empty>`;
//! - the role of the last message (`last_role=tool`);
//! - the name of every offered tool (`offered=read_file`), or `offered=<none>`;
//! - the message count, bucketed (`messages=1`, `messages=2`, `messages=3`, `messages=4`,
//!   `messages=5-6`, `messages=7-8`, `messages=9-12`, `messages=13+`).

use spec_actions_core::{ChatRole, Example};

/// Lower-cased words of `text`: maximal runs of alphanumeric characters or `_` that are at least
/// two characters long (scikit-learn's default `(?u)\b\w\w+\b`).
///
/// ```
/// use spec_actions_baseline::features::words;
/// assert_eq!(words("Run tests/test_auth.py: 3 FAILED"), ["run", "tests", "test_auth", "py", "failed"]);
/// ```
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().nth(1).is_some())
        .map(str::to_lowercase)
        .collect()
}

/// The tag of a role in a term (`user`, `assistant`, …).
pub fn role_tag(role: ChatRole) -> &'static str {
    match role {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
        ChatRole::Tool => "tool",
    }
}

/// The bucket of a message count, as written in the `messages=` term.
pub fn message_count_bucket(count: usize) -> &'static str {
    match count {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        5..=6 => "5-6",
        7..=8 => "7-8",
        9..=12 => "9-12",
        _ => "13+",
    }
}

/// The name of an offered tool schema: `function.name` (OpenAI form) or `name` (bare form).
pub fn tool_name(schema: &serde_json::Value) -> Option<&str> {
    schema
        .get("function")
        .and_then(|f| f.get("name"))
        .or_else(|| schema.get("name"))
        .and_then(|n| n.as_str())
}

/// Every term of `example` (see the module doc), with repeats (the vectoriser counts them).
///
/// ```
/// use spec_actions_baseline::features::example_terms;
/// use spec_actions_core::{Action, ActionKind, Example, Message, Split};
/// let example = Example {
///     id: "e".into(),
///     source: "doc".into(),
///     conversation: "c".into(),
///     split: Split::Train,
///     messages: vec![Message::user("Fix the test")],
///     tools: vec![serde_json::json!({"name": "run_tests"})],
///     gold: Action::kind(ActionKind::Repair),
/// };
/// assert_eq!(
///     example_terms(&example, 3),
///     [
///         "user:fix", "user:the", "user:test", "user:fix the", "user:the test",
///         "last_role=user", "offered=run_tests", "messages=1",
///     ]
/// );
/// ```
pub fn example_terms(example: &Example, last_messages: usize) -> Vec<String> {
    let mut terms = Vec::new();
    let start = example.messages.len().saturating_sub(last_messages);
    for message in &example.messages[start..] {
        let role = role_tag(message.role);
        let ws = words(&message.content);
        if ws.is_empty() {
            terms.push(format!("{role}:<empty>"));
        }
        terms.extend(ws.iter().map(|w| format!("{role}:{w}")));
        terms.extend(ws.windows(2).map(|p| format!("{role}:{} {}", p[0], p[1])));
        for call in &message.tool_calls {
            terms.push(format!("{role}:call={}", call.function.name.to_lowercase()));
        }
        if let Some(name) = &message.name {
            terms.push(format!("{role}:name={}", name.to_lowercase()));
        }
    }
    if let Some(last) = example.messages.last() {
        terms.push(format!("last_role={}", role_tag(last.role)));
    }
    let before = terms.len();
    terms.extend(
        example
            .tools
            .iter()
            .filter_map(tool_name)
            .map(|n| format!("offered={}", n.to_lowercase())),
    );
    if terms.len() == before {
        terms.push("offered=<none>".to_string());
    }
    terms.push(format!(
        "messages={}",
        message_count_bucket(example.messages.len())
    ));
    terms
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spec_actions_core::{Action, ActionKind, Message, Split, ToolCall};

    #[test]
    fn only_the_last_messages_count_and_calls_and_tool_names_are_terms() {
        let example = Example {
            id: "e".into(),
            source: "t".into(),
            conversation: "c".into(),
            split: Split::Train,
            messages: vec![
                Message::system("old words"),
                Message::user("go"),
                Message::assistant_calls("", vec![ToolCall::new("Read_File", json!({"path": "a"}))]),
                Message::tool("read_file", "x"),
            ],
            tools: vec![json!({"type": "function", "function": {"name": "read_file"}})],
            gold: Action::kind(ActionKind::FinalAnswer),
        };
        let terms = example_terms(&example, 3);
        assert_eq!(
            terms,
            [
                "user:go",
                "assistant:<empty>",
                "assistant:call=read_file",
                "tool:<empty>",
                "tool:name=read_file",
                "last_role=tool",
                "offered=read_file",
                "messages=4",
            ]
        );
        assert!(!terms.iter().any(|t| t.contains("old")));
    }

    #[test]
    fn buckets_cover_every_count() {
        let got: Vec<_> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 40]
            .into_iter()
            .map(message_count_bucket)
            .collect();
        assert_eq!(
            got,
            [
                "1", "2", "3", "4", "5-6", "5-6", "7-8", "7-8", "9-12", "9-12", "13+", "13+"
            ]
        );
    }
}
