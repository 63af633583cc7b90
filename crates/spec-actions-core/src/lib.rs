//! # spec-actions-core
//!
//! The vocabulary every other spec-actions crate speaks, with no ML dependencies:
//! the action space ([`ActionKind`], [`Action`], [`parse_action`]), examples and datasets
//! ([`Example`], [`Message`]) and their JSONL files ([`jsonl`]), scoring ([`metrics`]), the cost
//! model ([`CostModel`], [`CostLedger`]), the results schema ([`ResultsFile`]), the prompts every
//! role sees ([`prompt`]) and atomic file writes ([`io::atomic_write`]).
//!
//! What it is not: it loads no model and runs nothing; the model lives in `spec-actions-qwen3`,
//! the policies in `spec-actions-verify`, the cost/accuracy analysis in `spec-actions-frontier`.
//!
//! ```
//! use spec_actions_core::{parse_action, ActionKind};
//! let action = parse_action("<think>tests failed</think>\nAction: repair.").unwrap();
//! assert_eq!(action.kind, ActionKind::Repair);
//!
//! // Unparseable output is a typed error that keeps the text, to be scored wrong.
//! let err = parse_action("I am not sure").unwrap_err();
//! assert_eq!(err.raw(), "I am not sure");
//! ```

pub mod accepted;
pub mod action;
pub mod cost;
pub mod example;
pub mod io;
pub mod jsonl;
pub mod machine;
pub mod metrics;
pub mod parse;
pub mod prompt;
pub mod results;
pub mod role;
pub mod type_converter;

pub use accepted::{AcceptedCall, CallMismatch, Language, ParamType};
pub use action::{Action, ActionKind, Score, json_equal};
pub use cost::{CostLedger, CostModel, ModelCall};
pub use example::{ChatRole, Example, FunctionCall, Message, Split, ToolCall};
pub use jsonl::{JsonlError, JsonlReader, read_jsonl, write_jsonl};
pub use metrics::{Accuracy, ConfusionMatrix, Interval, MajorityBaseline, RANDOM_BASELINE};
pub use parse::{ParseActionError, parse_action};
pub use results::{ConfigResult, ExampleRecord, RESULTS_SCHEMA_VERSION, ResultsError, ResultsFile};
pub use role::{JudgeMap, LanguageModelMap, ModelRole, RoleMap, UnknownRole};
