//! Agent-trace import: a user's own agent logs, as most frameworks write them, become
//! next-action [`Example`]s.
//!
//! # Input
//! JSON Lines, one conversation per line:
//! - OpenAI chat completions: `{"messages": [...], "tools": [...]}`, assistant messages with
//!   `tool_calls` (`{"id", "type": "function", "function": {"name", "arguments"}}`) and `tool`
//!   messages (matched to their call by `name`, or by `tool_call_id`);
//! - TRL's conversational formats: the same `messages` with `arguments` as a JSON object, or
//!   `{"prompt": [...], "completion": [...]}` (read as one list of messages).
//!
//! `arguments` may be a JSON string (OpenAI) or an object (TRL); `content` may be a string,
//! `null` or a list of `{"type": "text", "text": …}` parts; `developer` messages are read as
//! `system`. An optional string `id` names the conversation (default `<source>:<line>`).
//!
//! # What becomes an example
//! Every assistant message is a decision point; the context is every message before it, the
//! tools are the row's `tools` (one list per row: tools that change half-way through a
//! conversation, as in BFCL's `multi_turn_miss_func`, cannot be expressed).
//! - An assistant message with tool calls gives one example per call, in order (as the BFCL
//!   importer does for parallel calls): the gold action is the call, its kind the first
//!   [`KindMap`] `[tools]` pattern matching the function name (unmatched: `tool_call`); the
//!   context of the second call holds the first one as an assistant message with that call
//!   only, and so on (the outputs of calls made together arrive after all of them).
//! - An assistant message without calls is `BLOCKED` when it carries OpenAI's `refusal` field
//!   or matches the map's refusal rule, else `ask_clarification` when it matches the
//!   clarification rule, else `final_answer` — a kind-only gold action.
//!
//! A line that cannot be used (not JSON, no messages, an unknown role, arguments that are not
//! a JSON object, no assistant message, a repeated conversation id) is refused or skipped and
//! listed with its file and line ([`BadLines`]). The conversations split like every other
//! source: by conversation, never by example.
//!
//! # The kind map
//! ```toml
//! # First matching pattern in file order wins; `*` is any run of characters, `?` one.
//! [tools]
//! "read_*" = "file_read"
//! "search*" = "retrieval"
//! "run_tests" = "verifier"
//!
//! # Text replies (optional; these are the defaults). Matching ignores case and the
//! # surrounding whitespace; a rule matches when any of its lists does.
//! [replies.refusal]
//! starts_with = ["I can't", "I cannot", "I won't", "I'm unable", "I am unable", "Sorry, I can't", "I'm sorry, but I can't"]
//! [replies.clarification]
//! ends_with = ["?"]
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::Value;
use spec_actions_core::io::FileError;
use spec_actions_core::{Action, ActionKind, ChatRole, Example, Message, Split, ToolCall};
use toml::Spanned;

use super::conversation::Conversation;
use super::error::DataError;
use super::pipeline::{BadLines, SkippedLine};
use super::toml_file::{line_of, parse_toml};

/// A text rule: matches when the trimmed text (case ignored) starts with, ends with or
/// contains any of the listed strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRule {
    #[serde(default)]
    pub starts_with: Vec<String>,
    #[serde(default)]
    pub ends_with: Vec<String>,
    #[serde(default)]
    pub contains: Vec<String>,
}

impl ReplyRule {
    /// The default refusal rule (see the module docs).
    pub fn default_refusal() -> Self {
        ReplyRule {
            starts_with: [
                "I can't",
                "I cannot",
                "I won't",
                "I'm unable",
                "I am unable",
                "Sorry, I can't",
                "I'm sorry, but I can't",
            ]
            .map(String::from)
            .to_vec(),
            ..ReplyRule::default()
        }
    }

    /// The default clarification rule: a reply that ends with a question mark.
    pub fn default_clarification() -> Self {
        ReplyRule {
            ends_with: vec!["?".into()],
            ..ReplyRule::default()
        }
    }

    /// Whether `text` matches the rule.
    pub fn matches(&self, text: &str) -> bool {
        let t = text.trim().to_lowercase();
        self.starts_with.iter().any(|s| t.starts_with(&s.to_lowercase()))
            || self.ends_with.iter().any(|s| t.ends_with(&s.to_lowercase()))
            || self.contains.iter().any(|s| t.contains(&s.to_lowercase()))
    }
}

/// The rules for assistant messages without calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRules {
    #[serde(default = "ReplyRule::default_refusal")]
    pub refusal: ReplyRule,
    #[serde(default = "ReplyRule::default_clarification")]
    pub clarification: ReplyRule,
}

impl Default for ReplyRules {
    fn default() -> Self {
        ReplyRules {
            refusal: ReplyRule::default_refusal(),
            clarification: ReplyRule::default_clarification(),
        }
    }
}

/// Tool-name patterns → kinds and the reply rules (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KindMap {
    /// `(glob, kind)` in file order.
    pub tools: Vec<(String, ActionKind)>,
    pub replies: ReplyRules,
}

/// `[tools]` entries with their spans, so file order survives whatever map the TOML
/// deserializer keeps.
#[derive(Default)]
struct SpannedTools(Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for SpannedTools {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SpannedTools;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of tool-name pattern = \"kind\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpannedTools, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<Spanned<String>, Spanned<String>>()? {
                    out.push(entry);
                }
                Ok(SpannedTools(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindMapFile {
    #[serde(default)]
    tools: SpannedTools,
    #[serde(default)]
    replies: ReplyRules,
}

impl KindMap {
    /// Reads a kind map file (see the module docs); an unknown key or kind names the file and
    /// the line.
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::new("read", path, e))?;
        Self::from_toml(&text, path)
    }

    /// Parses the text of a kind map; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, DataError> {
        let file: KindMapFile = parse_toml(text, path).map_err(|e| DataError::InvalidLine {
            path: e.path.clone(),
            line: e.line.unwrap_or(0),
            reason: if e.key.is_empty() {
                e.message
            } else {
                format!("key `{}`: {}", e.key, e.message)
            },
        })?;
        let mut entries = file.tools.0;
        entries.sort_by_key(|(k, _)| k.span().start);
        let mut tools = Vec::with_capacity(entries.len());
        for (pattern, kind) in entries {
            let parsed = kind
                .get_ref()
                .parse::<ActionKind>()
                .map_err(|_| DataError::InvalidLine {
                    path: path.to_path_buf(),
                    line: line_of(text, kind.span().start),
                    reason: format!(
                        "key `tools.{}`: unknown kind {:?} (one of {})",
                        pattern.get_ref(),
                        kind.get_ref(),
                        ActionKind::ALL.map(ActionKind::as_str).join(", ")
                    ),
                })?;
            tools.push((pattern.into_inner(), parsed));
        }
        Ok(KindMap {
            tools,
            replies: file.replies,
        })
    }

    /// The kind of a call of `function`: the first matching pattern's, else `tool_call`.
    pub fn kind_of_tool(&self, function: &str) -> ActionKind {
        self.tools
            .iter()
            .find(|(pattern, _)| glob_match(pattern, function))
            .map_or(ActionKind::ToolCall, |(_, kind)| *kind)
    }

    /// The kind of an assistant reply without calls (`refused`: OpenAI's `refusal` field is
    /// set).
    pub fn kind_of_reply(&self, text: &str, refused: bool) -> ActionKind {
        if refused || self.replies.refusal.matches(text) {
            ActionKind::Blocked
        } else if self.replies.clarification.matches(text) {
            ActionKind::AskClarification
        } else {
            ActionKind::FinalAnswer
        }
    }
}

/// Glob matching: `*` is any run of characters (also none), `?` exactly one; everything else
/// matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// What importing a trace file gave.
#[derive(Debug, Clone)]
pub struct TraceImport {
    /// One per usable line, in file order.
    pub conversations: Vec<Conversation>,
    /// Lines left out under [`BadLines::Skip`] (file, line, reason).
    pub skipped: Vec<SkippedLine>,
}

impl TraceImport {
    /// Examples per kind, over every conversation.
    pub fn kind_counts(&self) -> BTreeMap<ActionKind, usize> {
        let mut counts = BTreeMap::new();
        for e in self.conversations.iter().flat_map(|c| &c.examples) {
            *counts.entry(e.gold.kind).or_insert(0) += 1;
        }
        counts
    }
}

/// Imports every line of `path` as a conversation of source `source` (e.g. `traces:myagent`;
/// conversation ids default to `<source>:<line>`). Under [`BadLines::Refuse`] the first
/// unusable line is a [`DataError::InvalidLine`].
pub fn import_traces(
    path: &Path,
    map: &KindMap,
    source: &str,
    bad_lines: BadLines,
) -> Result<TraceImport, DataError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::new("read", path, e))?;
    let mut out = TraceImport {
        conversations: Vec::new(),
        skipped: Vec::new(),
    };
    let mut ids = BTreeSet::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let parsed = match std::str::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => trace_conversation(text, i + 1, map, source).and_then(|c| {
                if ids.insert(c.id.clone()) {
                    Ok(c)
                } else {
                    Err(format!("conversation id `{}` appears on an earlier line", c.id))
                }
            }),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        match (parsed, bad_lines) {
            (Ok(c), _) => out.conversations.push(c),
            (Err(reason), BadLines::Refuse) => {
                return Err(DataError::InvalidLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason,
                });
            }
            (Err(reason), BadLines::Skip) => out.skipped.push(SkippedLine {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            }),
        }
    }
    Ok(out)
}

/// An assistant message read from a trace, with its calls' ids.
struct Read {
    message: Message,
    call_ids: Vec<Option<String>>,
    refused: bool,
}

fn content_text(v: Option<&Value>, at: &str) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => Ok(s.as_str()),
                _ => p
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{at}: a content part without string `text`")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.concat()),
        Some(_) => Err(format!(
            "{at}: `content` is not a string, null or a list of parts"
        )),
    }
}

fn read_call(call: &Value, at: &str) -> Result<(ToolCall, Option<String>), String> {
    let function = call.get("function").unwrap_or(call);
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{at}: no function `name`"))?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Default::default()),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .map_err(|e| format!("{at} (`{name}`): `arguments` is not JSON: {e}"))?,
        Some(v) => v.clone(),
    };
    if !arguments.is_object() {
        return Err(format!("{at} (`{name}`): `arguments` is not a JSON object"));
    }
    let id = call.get("id").and_then(Value::as_str).map(str::to_string);
    Ok((ToolCall::new(name, arguments), id))
}

fn read_message(m: &Value, at: &str, call_names: &HashMap<String, String>) -> Result<Read, String> {
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: no string `role`"))?;
    let content = content_text(m.get("content"), at)?;
    let mut read = Read {
        message: Message::user(""),
        call_ids: Vec::new(),
        refused: false,
    };
    read.message = match role {
        "system" | "developer" => Message::system(content),
        "user" => Message::user(content),
        "assistant" => {
            let mut calls = Vec::new();
            if let Some(list) = m.get("tool_calls").filter(|v| !v.is_null()) {
                let list = list
                    .as_array()
                    .ok_or_else(|| format!("{at}: `tool_calls` is not a list"))?;
                for (c, call) in list.iter().enumerate() {
                    let (call, id) = read_call(call, &format!("{at} call {c}"))?;
                    calls.push(call);
                    read.call_ids.push(id);
                }
            }
            read.refused = m.get("refusal").is_some_and(|r| !r.is_null());
            Message::assistant_calls(content, calls)
        }
        "tool" | "function" | "ipython" => {
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    m.get("tool_call_id")
                        .and_then(Value::as_str)
                        .and_then(|id| call_names.get(id).cloned())
                })
                .ok_or_else(|| {
                    format!(
                        "{at}: a tool message with neither `name` nor the `tool_call_id` of an earlier call"
                    )
                })?;
            Message::tool(name, content)
        }
        other => return Err(format!("{at}: unknown role {other:?}")),
    };
    Ok(read)
}

/// One trace line → its conversation (the reason when it cannot be used).
pub fn trace_conversation(
    text: &str,
    line: usize,
    map: &KindMap,
    source: &str,
) -> Result<Conversation, String> {
    let row: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let raw: Vec<&Value> = match (row.get("messages"), row.get("prompt"), row.get("completion")) {
        (Some(Value::Array(m)), _, _) => m.iter().collect(),
        (None, Some(Value::Array(p)), Some(Value::Array(c))) => p.iter().chain(c).collect(),
        _ => {
            return Err(
                "no list `messages` (or `prompt` and `completion` lists, TRL's prompt-completion form)"
                    .into(),
            );
        }
    };
    let tools: Vec<Value> = match row.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(t)) => t.clone(),
        Some(_) => return Err("`tools` is not a list".into()),
    };
    let id = match row.get("id") {
        None | Some(Value::Null) => format!("{source}:{line}"),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err("`id` is not a non-empty string".into()),
    };
    let mut examples = Vec::new();
    let mut context: Vec<Message> = Vec::new();
    let mut call_names: HashMap<String, String> = HashMap::new();
    let push = |examples: &mut Vec<Example>, tag: String, messages: &[Message], gold: Action| {
        examples.push(Example {
            id: format!("{id}#{tag}"),
            source: source.to_string(),
            conversation: id.clone(),
            split: Split::Train,
            messages: messages.to_vec(),
            tools: tools.clone(),
            gold,
        });
    };
    for (i, m) in raw.iter().enumerate() {
        let read = read_message(m, &format!("message {i}"), &call_names)?;
        if read.message.role == ChatRole::Assistant {
            if read.message.tool_calls.is_empty() {
                let kind = map.kind_of_reply(&read.message.content, read.refused);
                push(&mut examples, format!("m{i}"), &context, Action::kind(kind));
            } else {
                for (c, call) in read.message.tool_calls.iter().enumerate() {
                    let mut messages = context.clone();
                    if c > 0 {
                        messages.push(Message::assistant_calls(
                            read.message.content.clone(),
                            read.message.tool_calls[..c].to_vec(),
                        ));
                    }
                    let f = &call.function;
                    let gold = Action::call(map.kind_of_tool(&f.name), &f.name, f.arguments.clone());
                    push(&mut examples, format!("m{i}.c{c}"), &messages, gold);
                }
                for (call, id) in read.message.tool_calls.iter().zip(&read.call_ids) {
                    if let Some(id) = id {
                        call_names.insert(id.clone(), call.function.name.clone());
                    }
                }
            }
        }
        context.push(read.message);
    }
    if examples.is_empty() {
        return Err("no assistant message: no decision point".into());
    }
    Ok(Conversation {
        group: id.clone(),
        id,
        source: source.to_string(),
        examples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-checked glob cases.
    #[test]
    fn glob_patterns() {
        assert!(glob_match("read_*", "read_file"));
        assert!(glob_match("read_*", "read_"));
        assert!(!glob_match("read_*", "reread_file"));
        assert!(glob_match("*search*", "web_search_v2"));
        assert!(glob_match("get_?", "get_x"));
        assert!(!glob_match("get_?", "get_xy"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("exact", "exact") && !glob_match("exact", "exactly"));
    }
}
