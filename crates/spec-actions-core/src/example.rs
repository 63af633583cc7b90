//! Examples: one decision point of an agent — the conversation so far, the tools on offer, and
//! the gold next [`Action`]. Messages follow the OpenAI / HF chat format, so a dataset file is
//! also a TRL-compatible JSONL file.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
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
    pub role: Role,
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
        Self::text(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }
    /// An assistant turn that makes calls.
    pub fn assistant_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Message {
            tool_calls: calls,
            ..Self::text(Role::Assistant, content)
        }
    }
    /// A tool response to the call of `name`.
    pub fn tool(name: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            name: Some(name.into()),
            ..Self::text(Role::Tool, content)
        }
    }
    fn text(role: Role, content: impl Into<String>) -> Self {
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
