//! Examples: one decision point of an agent — the conversation so far, the tools on offer, and
//! the gold next [`Action`]. Messages follow the OpenAI / HF chat format, so a dataset file is
//! also a TRL-compatible JSONL file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
    Tool,
}

/// A function call made by the assistant, in the OpenAI / HF format:
/// `{"type": "function", "function": {"name": …, "arguments": {…}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(rename = "type", default = "function_type")]
    pub call_type: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_string()
}

/// Name and JSON arguments of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON object (HF chat templates accept an object or a JSON string).
    #[serde(default)]
    pub arguments: Value,
}

impl ToolCall {
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            call_type: function_type(),
            function: FunctionCall {
                name: name.into(),
                arguments,
            },
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: ChatRole,
    #[serde(default)]
    pub content: String,
    /// Assistant calls (empty for other roles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `tool` messages: the name of the function whose output this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(ChatRole::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(ChatRole::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(ChatRole::Assistant, content)
    }
    /// An assistant turn that makes calls.
    pub fn assistant_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Message {
            tool_calls: calls,
            ..Self::text(ChatRole::Assistant, content)
        }
    }
    /// A tool response to the call of `name`.
    pub fn tool(name: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            name: Some(name.into()),
            ..Self::text(ChatRole::Tool, content)
        }
    }
    fn text(role: ChatRole, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            name: None,
        }
    }
}

/// Which part of a study an example belongs to. Splits are made by conversation, never by
/// example (no conversation in two splits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    /// Threshold calibration.
    Dev,
    Eval,
    /// A BFCL category kept out of training, for a generalisation check.
    Heldout,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Eval => "eval",
            Split::Heldout => "heldout",
        }
    }
}

/// One decision point: context (messages + tools) and the gold next action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Unique id, e.g. `bfcl:multi_turn_base_12#turn2.step1`.
    pub id: String,
    /// Where it came from: `bfcl:<category>` or `synthetic:<scenario>`.
    pub source: String,
    /// Conversation / episode id: every example of one conversation shares it (split unit).
    pub conversation: String,
    pub split: Split,
    /// The conversation so far, ending with the turn after which the action is taken.
    pub messages: Vec<Message>,
    /// JSON function schemas offered to the model (`{"type":"function","function":{…}}` or bare).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    /// The gold next action.
    pub gold: Action,
}

/// Class-balanced training list: every kind present gets at least its fair share
/// (`⌈total / kinds present⌉` rows) by cycling its examples in order; kinds with more keep all
/// of theirs (nothing is dropped). A proposer trained on the raw mix learns the mix's prior
/// (a quarter of the train split is `final_answer`); the eval split is balanced by kind.
/// The order is by kind, then by input order; a trainer shuffles it.
pub fn balance_kinds(examples: &[Example]) -> Vec<Example> {
    use crate::action::ActionKind;
    let mut by_kind: Vec<Vec<&Example>> = vec![Vec::new(); ActionKind::COUNT];
    for e in examples {
        by_kind[e.gold.kind.index()].push(e);
    }
    let present = by_kind.iter().filter(|k| !k.is_empty()).count().max(1);
    let share = examples.len().div_ceil(present);
    by_kind
        .iter()
        .filter(|k| !k.is_empty())
        .flat_map(|k| k.iter().cycle().take(share.max(k.len())).map(|e| (*e).clone()))
        .collect()
}

#[cfg(test)]
mod balance_tests {
    use super::*;
    use crate::action::{Action, ActionKind};

    fn example(id: usize, kind: ActionKind) -> Example {
        Example {
            id: format!("e{id}"),
            source: "test".into(),
            conversation: format!("c{id}"),
            split: Split::Train,
            messages: Vec::new(),
            tools: Vec::new(),
            gold: Action::kind(kind),
        }
    }

    /// 6 final answers and 2 file reads: the share is ⌈8 / 2⌉ = 4, so the reads are cycled to
    /// 4 rows (each twice) and the 6 answers are all kept.
    #[test]
    fn rare_kinds_are_cycled_up_to_the_share_and_nothing_is_dropped() {
        let mut set: Vec<Example> = (0..6).map(|i| example(i, ActionKind::FinalAnswer)).collect();
        set.push(example(6, ActionKind::FileRead));
        set.push(example(7, ActionKind::FileRead));
        let out = balance_kinds(&set);
        let count = |k: ActionKind| out.iter().filter(|e| e.gold.kind == k).count();
        assert_eq!(
            (count(ActionKind::FinalAnswer), count(ActionKind::FileRead)),
            (6, 4)
        );
        let ids: Vec<&str> = out
            .iter()
            .filter(|e| e.gold.kind == ActionKind::FileRead)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(ids, ["e6", "e7", "e6", "e7"]);
        assert!(balance_kinds(&[]).is_empty());
    }
}
