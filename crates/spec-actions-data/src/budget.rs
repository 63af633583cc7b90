//! Token counting and the context budget.
//!
//! **Counting.** [`TokenMeter`] counts the tokens of a prompt over a simple rendering that
//! approximates Qwen3's chat template (ChatML): each message is
//! `<|im_start|>{role}\n{content}<|im_end|>\n`, assistant calls add
//! `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`, tool outputs are wrapped in
//! `<tool_response>…</tool_response>`, and the tools are one JSON line each inside the system
//! turn's `<tools>…</tools>` block after a fixed preamble. The real template's wording differs
//! by a few dozen tokens per prompt; the exact renderer lives in `spec-actions-qwen3`. Because
//! the special tokens split the text, a prompt's count is the sum of its segments' counts, so
//! segments are counted once and cached (a conversation's decision points share their prefix).
//!
//! **Budget.** [`ContextBudget`] bounds the proposer's prompt: tool schemas can be compacted
//! ([`ToolSchemas`]), long message contents shortened in the middle, and then the oldest turns
//! are cut, one block (a message and the tool outputs answering it) at a time: first before
//! the latest user message, then after it; the system message, the latest user message and
//! the most recent block are never cut. An example still over budget is dropped and counted. Two presets: [`ContextBudget::full`]
//! (the real models: keep everything) and [`ContextBudget::tiny`] (the CPU pipeline: 576
//! prompt tokens, tools as names and parameter names).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};
use spec_actions_core::prompt::proposer_messages;
use spec_actions_core::{ChatRole, Example, Message};

use super::error::DataError;

/// Counts the tokens of a text. Implemented by [`HfTokenCounter`] (the real tokenizer) and by
/// cheap stand-ins in tests.
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;
}

/// A Hugging Face `tokenizer.json`, e.g. `assets/qwen3-tokenizer/tokenizer.json`.
pub struct HfTokenCounter {
    tokenizer: tokenizers::Tokenizer,
}

impl HfTokenCounter {
    pub fn from_file(path: &Path) -> Result<Self, DataError> {
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| DataError::Tokenizer {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(HfTokenCounter { tokenizer })
    }
}

impl TokenCounter for HfTokenCounter {
    fn count(&self, text: &str) -> usize {
        // Encoding plain text cannot fail for a loaded BPE tokenizer; count 0 if it ever does.
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.len())
            .unwrap_or(0)
    }
}

/// One token per `chars_per_token` characters (rounded up): a cheap, deterministic stand-in.
pub struct CharCounter {
    pub chars_per_token: usize,
}

impl TokenCounter for CharCounter {
    fn count(&self, text: &str) -> usize {
        text.chars().count().div_ceil(self.chars_per_token.max(1))
    }
}

/// Tokens of `<|im_start|>`, role, `\n`, `<|im_end|>`, `\n` around each message.
const MESSAGE_OVERHEAD: usize = 5;

/// The fixed text of the tools block (Qwen's wording, abridged).
const TOOLS_PREAMBLE: &str = "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n\n</tools>\n\n\
For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n\
<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

/// Caching token meter over the rendering described in the module docs.
pub struct TokenMeter<'a> {
    counter: &'a dyn TokenCounter,
    cache: HashMap<String, usize>,
}

impl<'a> TokenMeter<'a> {
    pub fn new(counter: &'a dyn TokenCounter) -> Self {
        TokenMeter {
            counter,
            cache: HashMap::new(),
        }
    }

    fn count_cached(&mut self, text: String) -> usize {
        if let Some(&n) = self.cache.get(&text) {
            return n;
        }
        let n = self.counter.count(&text);
        self.cache.insert(text, n);
        n
    }

    /// Tokens of one rendered message, overhead included.
    pub fn message_tokens(&mut self, message: &Message) -> usize {
        let role = match message.role {
            ChatRole::System => "system",
            ChatRole::User | ChatRole::Tool => "user",
            ChatRole::Assistant => "assistant",
        };
        let mut text = String::with_capacity(message.content.len() + 16);
        text.push_str(role);
        text.push('\n');
        if message.role == ChatRole::Tool {
            text.push_str("<tool_response>\n");
            text.push_str(&message.content);
            text.push_str("\n</tool_response>");
        } else {
            text.push_str(&message.content);
        }
        for call in &message.tool_calls {
            let json = json!({"name": call.function.name, "arguments": call.function.arguments});
            text.push_str("\n<tool_call>\n");
            text.push_str(&json.to_string());
            text.push_str("\n</tool_call>");
        }
        self.count_cached(text) + MESSAGE_OVERHEAD
    }

    /// Tokens of the tools block (0 without tools).
    pub fn tools_tokens(&mut self, tools: &[Value]) -> usize {
        if tools.is_empty() {
            return 0;
        }
        let preamble = self.count_cached(TOOLS_PREAMBLE.to_string());
        // One JSON line per tool, each followed by a newline token.
        preamble
            + tools
                .iter()
                .map(|t| self.count_cached(t.to_string()) + 1)
                .sum::<usize>()
    }

    /// Tokens of a rendered conversation with its tools.
    pub fn prompt_tokens(&mut self, messages: &[Message], tools: &[Value]) -> usize {
        self.tools_tokens(tools) + messages.iter().map(|m| self.message_tokens(m)).sum::<usize>()
    }

    /// Tokens of the proposer's prompt for `example` (what [`ContextBudget`] bounds), plus the
    /// generation prompt `<|im_start|>assistant\n`.
    pub fn proposer_prompt_tokens(&mut self, example: &Example) -> usize {
        self.prompt_tokens(&proposer_messages(example), &example.tools) + 3
    }
}

/// How tool schemas are written into examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolSchemas {
    /// As imported / generated.
    Full,
    /// JSON Schema without descriptions, defaults and enums:
    /// `{"type":"function","function":{"name","parameters":{"type","properties":{p:{"type"}},"required"}}}`.
    Compact,
    /// Name and parameter types only, without the `{"type":"function","function":…}` wrapper
    /// (chat templates render any JSON object): `{"name":…,"parameters":{"path":"string",
    /// "limit?":"integer"}}` (`?` marks an optional parameter).
    Signatures,
    /// Name and parameter names only (`?` marks an optional parameter):
    /// `{"name":…,"parameters":["path","limit?"]}` — the fewest tokens that still say which
    /// function exists and what its arguments are called (the tiny CPU budget).
    ParameterNames,
}

/// Limits on the proposer's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContextBudget {
    /// Preset name, recorded in the card.
    pub name: &'static str,
    /// Maximum prompt tokens ([`TokenMeter::proposer_prompt_tokens`]); `None` keeps everything.
    pub max_prompt_tokens: Option<usize>,
    pub tool_schemas: ToolSchemas,
    /// Message contents longer than this many characters keep their start and end around a
    /// `[… N characters cut …]` marker; `None` keeps them whole.
    pub max_content_chars: Option<usize>,
}

impl ContextBudget {
    /// The real models (Qwen3-1.7B / 8B): keep everything.
    pub fn full() -> Self {
        ContextBudget {
            name: "full",
            max_prompt_tokens: None,
            tool_schemas: ToolSchemas::Full,
            max_content_chars: None,
        }
    }

    /// The tiny CPU pipeline: 576 prompt tokens, tools as names and parameter names, contents
    /// ≤ 240 chars. The fixed part of a synthetic prompt (proposer and agent system prompts,
    /// the tools preamble and 14 tools) is about 430 tokens: at 576 every kind keeps hundreds
    /// of training examples (at 512 most synthetic steps after the first are dropped).
    pub fn tiny() -> Self {
        ContextBudget {
            name: "tiny",
            max_prompt_tokens: Some(576),
            tool_schemas: ToolSchemas::ParameterNames,
            max_content_chars: Some(240),
        }
    }

    /// A preset by name (`full` or `tiny`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "full" => Some(Self::full()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }
}

/// What the budget did to one example.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetOutcome {
    /// Messages removed from the start of the context.
    pub messages_cut: usize,
    /// Message contents shortened.
    pub contents_shortened: usize,
    /// Still over budget after everything: the example must be dropped.
    pub over_budget: bool,
    /// Prompt tokens after the budget.
    pub prompt_tokens: usize,
}

/// Apply `budget` to `example` in place.
pub fn apply_budget(example: &mut Example, budget: &ContextBudget, meter: &mut TokenMeter) -> BudgetOutcome {
    let mut outcome = BudgetOutcome::default();
    // 1. Tool schemas.
    if budget.tool_schemas != ToolSchemas::Full {
        example.tools = example
            .tools
            .iter()
            .map(|t| compact_tool(t, budget.tool_schemas))
            .collect();
    }
    // 2. Long contents.
    if let Some(max) = budget.max_content_chars {
        for m in &mut example.messages {
            if let Some(short) = shorten(&m.content, max) {
                m.content = short;
                outcome.contents_shortened += 1;
            }
        }
    }
    // 3. Oldest turns.
    let mut tokens = meter.proposer_prompt_tokens(example);
    if let Some(max) = budget.max_prompt_tokens {
        let start = usize::from(
            example
                .messages
                .first()
                .is_some_and(|m| m.role == ChatRole::System),
        );
        while tokens > max {
            let Some((from, to)) = oldest_block(&example.messages, start) else {
                break;
            };
            outcome.messages_cut += to - from;
            example.messages.drain(from..to);
            tokens = meter.proposer_prompt_tokens(example);
        }
        outcome.over_budget = tokens > max;
    }
    outcome.prompt_tokens = tokens;
    outcome
}

/// The oldest removable block `from..to` of `messages` (one message and the tool outputs that
/// answer it): first before the latest user message, then after it; never the system message
/// (`messages[..start]`), the latest user message, or the last block.
fn oldest_block(messages: &[Message], start: usize) -> Option<(usize, usize)> {
    let last_user = messages.iter().rposition(|m| m.role == ChatRole::User)?;
    let block_end = |from: usize| {
        let mut to = from + 1;
        while to < messages.len() && messages[to].role == ChatRole::Tool {
            to += 1;
        }
        to
    };
    if last_user > start {
        return Some((start, block_end(start).min(last_user)));
    }
    let from = last_user + 1;
    let to = block_end(from);
    (from < messages.len() && to < messages.len()).then_some((from, to))
}

/// `text` shortened to about `max` characters (start and end kept), or `None` if it fits.
fn shorten(text: &str, max: usize) -> Option<String> {
    let n = text.chars().count();
    if n <= max {
        return None;
    }
    let head = max * 3 / 5;
    let tail = max - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    Some(format!("{start}[… {} characters cut …]{end}", n - head - tail))
}

/// A compacted copy of one chat-format tool schema (bare function schemas are accepted too).
pub fn compact_tool(tool: &Value, mode: ToolSchemas) -> Value {
    let function = tool.get("function").unwrap_or(tool);
    let name = function.get("name").cloned().unwrap_or(Value::Null);
    let params = function.get("parameters");
    let properties = params
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object);
    let required: Vec<&str> = params
        .and_then(|p| p.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let type_of = |p: &Value| p.get("type").cloned().unwrap_or(Value::String("string".into()));
    match mode {
        ToolSchemas::Full => tool.clone(),
        ToolSchemas::Compact => {
            let props: Map<String, Value> = properties
                .map(|ps| {
                    ps.iter()
                        .map(|(k, p)| (k.clone(), json!({"type": type_of(p)})))
                        .collect()
                })
                .unwrap_or_default();
            json!({"type": "function", "function": {"name": name,
                "parameters": {"type": "object", "properties": props, "required": required}}})
        }
        ToolSchemas::Signatures => {
            let sig: Map<String, Value> = properties
                .map(|ps| {
                    ps.iter()
                        .map(|(k, p)| {
                            let key = if required.contains(&k.as_str()) {
                                k.clone()
                            } else {
                                format!("{k}?")
                            };
                            (key, type_of(p))
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({"name": name, "parameters": sig})
        }
        ToolSchemas::ParameterNames => {
            let names: Vec<String> = properties
                .map(|ps| {
                    ps.keys()
                        .map(|k| {
                            if required.contains(&k.as_str()) {
                                k.clone()
                            } else {
                                format!("{k}?")
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({"name": name, "parameters": names})
        }
    }
}

/// Nearest-rank percentiles (`p` in 0..=100) of `values`; zeros when empty.
pub fn percentiles(values: &[usize], ps: &[u32]) -> Vec<usize> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    ps.iter()
        .map(|&p| {
            if sorted.is_empty() {
                return 0;
            }
            let rank = ((p as f64 / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec_actions_core::{Action, ActionKind, Split, ToolCall};

    fn example(n_turns: usize) -> Example {
        let mut messages = vec![Message::system("rules")];
        for i in 0..n_turns {
            messages.push(Message::user(format!("request number {i} with some words")));
            messages.push(Message::assistant_calls(
                "",
                vec![ToolCall::new("ls", json!({"a": true}))],
            ));
            messages.push(Message::tool("ls", "a.txt b.txt"));
        }
        messages.push(Message::user("the latest request"));
        Example {
            id: "x".into(),
            source: "test".into(),
            conversation: "c".into(),
            split: Split::Train,
            messages,
            tools: vec![
                json!({"type": "function", "function": {"name": "ls", "description": "List files.",
                "parameters": {"type": "object", "properties": {"a": {"type": "boolean", "description": "all"}}, "required": []}}}),
            ],
            gold: Action::kind(ActionKind::FinalAnswer),
        }
    }

    #[test]
    fn cuts_oldest_turns_keeps_system_and_latest_user() {
        let counter = CharCounter { chars_per_token: 4 };
        let mut meter = TokenMeter::new(&counter);
        let mut ex = example(10);
        let before = meter.proposer_prompt_tokens(&ex);
        let budget = ContextBudget {
            name: "t",
            max_prompt_tokens: Some(before - 40),
            tool_schemas: ToolSchemas::Full,
            max_content_chars: None,
        };
        let out = apply_budget(&mut ex, &budget, &mut meter);
        assert!(!out.over_budget);
        assert!(out.prompt_tokens <= before - 40);
        assert!(out.messages_cut > 0);
        assert_eq!(ex.messages[0].content, "rules");
        assert_eq!(ex.messages.last().unwrap().content, "the latest request");
        // The cut is at a block boundary: no tool output without its call.
        assert_ne!(ex.messages[1].role, ChatRole::Tool);
        // Exactly the oldest messages went.
        assert_eq!(ex.messages.len(), example(10).messages.len() - out.messages_cut);
    }

    #[test]
    fn full_budget_keeps_everything_and_impossible_budget_flags() {
        let counter = CharCounter { chars_per_token: 4 };
        let mut meter = TokenMeter::new(&counter);
        let mut ex = example(3);
        let out = apply_budget(&mut ex, &ContextBudget::full(), &mut meter);
        assert_eq!(ex, example(3));
        assert_eq!(out.messages_cut, 0);
        let budget = ContextBudget {
            name: "t",
            max_prompt_tokens: Some(5),
            tool_schemas: ToolSchemas::Full,
            max_content_chars: None,
        };
        assert!(apply_budget(&mut example(3), &budget, &mut meter).over_budget);
    }

    #[test]
    fn segment_counts_add_up() {
        // The meter's cached sum equals counting the concatenated segments at once.
        let counter = CharCounter { chars_per_token: 1 };
        let mut meter = TokenMeter::new(&counter);
        let m = Message::user("hello");
        assert_eq!(meter.message_tokens(&m), "user\nhello".len() + MESSAGE_OVERHEAD);
    }

    #[test]
    fn compaction_levels() {
        let tool = example(0).tools[0].clone();
        assert_eq!(
            compact_tool(&tool, ToolSchemas::Compact),
            json!({"type": "function", "function": {"name": "ls", "parameters": {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": []}}})
        );
        assert_eq!(
            compact_tool(&tool, ToolSchemas::Signatures),
            json!({"name": "ls", "parameters": {"a?": "boolean"}})
        );
        assert_eq!(
            compact_tool(&tool, ToolSchemas::ParameterNames),
            json!({"name": "ls", "parameters": ["a?"]})
        );
        let required = json!({"type": "function", "function": {"name": "write", "parameters": {"type": "object",
            "properties": {"path": {"type": "string"}, "mode": {"type": "string"}}, "required": ["path"]}}});
        assert_eq!(
            compact_tool(&required, ToolSchemas::ParameterNames),
            json!({"name": "write", "parameters": ["path", "mode?"]})
        );
        assert_eq!(shorten("abcdefghij", 5).unwrap(), "abc[… 5 characters cut …]ij");
        assert_eq!(shorten("abc", 5), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<usize> = (1..=100).collect();
        assert_eq!(percentiles(&v, &[50, 90, 99, 100]), vec![50, 90, 99, 100]);
        assert_eq!(percentiles(&[7], &[50]), vec![7]);
        assert_eq!(percentiles(&[], &[50]), vec![0]);
    }
}
