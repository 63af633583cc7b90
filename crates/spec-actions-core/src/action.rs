//! The action space: the nine kinds of next step an agent can take, and a concrete [`Action`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::accepted::AcceptedCall;

/// What kind of step an agent takes next. The nine kinds of the study, spelled exactly as
/// [`ActionKind::as_str`] writes them (`BLOCKED` is upper case on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ActionKind {
    #[serde(rename = "tool_call")]
    ToolCall,
    #[serde(rename = "retrieval")]
    Retrieval,
    #[serde(rename = "file_read")]
    FileRead,
    #[serde(rename = "file_write")]
    FileWrite,
    #[serde(rename = "repair")]
    Repair,
    /// Running a check of the work (tests, a linter, a build); serialized `verifier`, the
    /// study's name for the kind (not the verifier *model* role, [`crate::ModelRole::Verifier`]).
    #[serde(rename = "verifier")]
    Verify,
    #[serde(rename = "ask_clarification")]
    AskClarification,
    #[serde(rename = "final_answer")]
    FinalAnswer,
    #[serde(rename = "BLOCKED")]
    Blocked,
}

impl ActionKind {
    /// Every kind, in the study's order. Index `i` of a per-kind array refers to `ALL[i]`.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::ToolCall,
        ActionKind::Retrieval,
        ActionKind::FileRead,
        ActionKind::FileWrite,
        ActionKind::Repair,
        ActionKind::Verify,
        ActionKind::AskClarification,
        ActionKind::FinalAnswer,
        ActionKind::Blocked,
    ];

    /// Number of kinds (9).
    pub const COUNT: usize = 9;

    /// The canonical spelling, as written on output and in datasets.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ToolCall => "tool_call",
            ActionKind::Retrieval => "retrieval",
            ActionKind::FileRead => "file_read",
            ActionKind::FileWrite => "file_write",
            ActionKind::Repair => "repair",
            ActionKind::Verify => "verifier",
            ActionKind::AskClarification => "ask_clarification",
            ActionKind::FinalAnswer => "final_answer",
            ActionKind::Blocked => "BLOCKED",
        }
    }

    /// Position of this kind in [`ActionKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = crate::parse::ParseActionError;

    /// Exact canonical spelling only (case-insensitive). Use [`crate::parse::parse_action`]
    /// for raw model output.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        ActionKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| crate::parse::ParseActionError::UnknownKind { raw: s.to_string() })
    }
}

/// One concrete next step: a kind, and for calls the function name and its JSON arguments.
///
/// Scored at two levels: *kind level* (only `kind` compared) and *call level* (kind, name and
/// arguments compared, as BFCL's AST checker does) — see [`Action::matches_call`].
///
/// Equality (`==`) compares the concrete step (kind, name, arguments); a gold's
/// [`Action::accepted_values`] are how it is scored, not part of the step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    pub kind: ActionKind,
    /// Function name for calls (`tool_call`, `file_read`, `file_write`, `retrieval` when they
    /// name a function); `None` for kind-only actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments as a JSON object; `Value::Null` when absent.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub arguments: Value,
    /// For a gold call from BFCL's single-turn categories: every value BFCL accepts per
    /// argument and the function's parameter types, so a prediction is scored as BFCL scores
    /// it ([`Action::matches_call`]). `name` / `arguments` hold one concrete call (the first
    /// accepted value of each argument), the one a proposer is trained to emit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_values: Option<Box<AcceptedCall>>,
    /// For a parsed prediction: the output named no kind (a bare `<tool_call>` block or JSON
    /// call with no kind line before it), so `kind` is the parser's default `tool_call`, not
    /// a claim of the model's. [`Action::score_against`] then scores the call against a gold
    /// call whatever the gold's kind. Absent (false) in files written before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kind_unnamed: bool,
}

/// How a predicted action scores against a gold one — the one rule every scorer applies
/// (metrics, the policies' records, calibration, the report and its diagnostics), from
/// [`Action::score_against`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// The kind the prediction is scored as: its own, or the gold's when it named none and
    /// the gold is a call ([`Action::kind_unnamed`]).
    pub kind: ActionKind,
    /// Kind level: `kind` equals the gold's kind.
    pub kind_correct: bool,
    /// Call level: [`Action::matches_call`] with the prediction scored as `kind`.
    pub call_correct: bool,
}

impl PartialEq for Action {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name && self.arguments == other.arguments
    }
}

impl Action {
    /// A kind-only action (no call).
    pub fn kind(kind: ActionKind) -> Self {
        Action {
            kind,
            name: None,
            arguments: Value::Null,
            accepted_values: None,
            kind_unnamed: false,
        }
    }

    /// A structured call of `name` with JSON `arguments`, of the given kind.
    pub fn call(kind: ActionKind, name: impl Into<String>, arguments: Value) -> Self {
        Action {
            kind,
            name: Some(name.into()),
            arguments,
            accepted_values: None,
            kind_unnamed: false,
        }
    }

    /// This prediction as one whose output named no kind ([`Action::kind_unnamed`]).
    pub fn with_kind_unnamed(mut self) -> Self {
        self.kind_unnamed = true;
        self
    }

    /// Score this prediction against `gold`: kind level, and call level by
    /// [`Action::matches_call`]. A prediction that named no kind ([`Action::kind_unnamed`]:
    /// a bare `<tool_call>` block) is scored as the gold's kind when the gold is a call (it
    /// names a function, whatever its kind: `file_read`, `verifier`, …), so its call alone
    /// decides; against a kind-only gold it keeps its default `tool_call`. The kind is never
    /// guessed from the tool's name (a user's own tool named `ls` is not a `file_read`).
    pub fn score_against(&self, gold: &Action) -> Score {
        let kind = if self.kind_unnamed && gold.name.is_some() {
            gold.kind
        } else {
            self.kind
        };
        Score {
            kind,
            kind_correct: kind == gold.kind,
            call_correct: kind == gold.kind && self.matches_call_ignoring_kind(gold),
        }
    }

    /// This call, scored with BFCL's accepted values (see [`Action::accepted_values`]).
    pub fn with_accepted_values(mut self, accepted: AcceptedCall) -> Self {
        self.accepted_values = Some(Box::new(accepted));
        self
    }

    /// Kind-level agreement.
    pub fn matches_kind(&self, other: &Action) -> bool {
        self.kind == other.kind
    }

    /// Call-level agreement: same kind and same name, and
    /// - where either side (the gold) carries [`Action::accepted_values`] (the other's if both
    ///   do), the other side's arguments pass BFCL's AST check of that call
    ///   ([`AcceptedCall::check`]: any accepted value, optional arguments, BFCL's string
    ///   standardisation and type rules);
    /// - otherwise equal arguments ([`json_equal`]: key order ignored, integers and floats of
    ///   equal value equal).
    pub fn matches_call(&self, other: &Action) -> bool {
        self.kind == other.kind && self.matches_call_ignoring_kind(other)
    }

    /// [`Action::matches_call`] but for the kind.
    fn matches_call_ignoring_kind(&self, other: &Action) -> bool {
        if self.name != other.name {
            return false;
        }
        let (Some(name), Some(other_name)) = (&self.name, &other.name) else {
            return json_equal(&self.arguments, &other.arguments);
        };
        match (&self.accepted_values, &other.accepted_values) {
            (_, Some(gold)) => gold.check(other_name, name, &self.arguments).is_ok(),
            (Some(gold), None) => gold.check(name, other_name, &other.arguments).is_ok(),
            (None, None) => json_equal(&self.arguments, &other.arguments),
        }
    }

    /// The text the proposer is trained to emit and evaluation parses: the kind on its own
    /// line, or for a call a Qwen `<tool_call>` block.
    pub fn to_model_text(&self) -> String {
        match &self.name {
            None => self.kind.as_str().to_string(),
            Some(name) => {
                let args = if self.arguments.is_null() {
                    Value::Object(Default::default())
                } else {
                    self.arguments.clone()
                };
                let call = serde_json::json!({"name": name, "arguments": args});
                format!("{}\n<tool_call>\n{}\n</tool_call>", self.kind.as_str(), call)
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => f.write_str(self.kind.as_str()),
            Some(n) => write!(f, "{}:{}({})", self.kind, n, self.arguments),
        }
    }
}

/// JSON equality that ignores object key order and compares numbers by value.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
