//! # spec-actions-core
//!
//! The vocabulary every other spec-actions crate speaks, with no ML dependencies:
//! the action space ([`ActionKind`], [`Action`], [`parse_action`]), examples and datasets
//! ([`Example`], [`Message`]), the cost model ([`CostModel`], [`CostLedger`]), the results
//! schema ([`ResultsFile`]) and atomic file writes ([`io::atomic_write`]).
//!
//! ```
//! use spec_actions_core::{parse_action, ActionKind};
//! let action = parse_action("<think>tests failed</think>\nAction: repair.").unwrap();
//! assert_eq!(action.kind, ActionKind::Repair);
//! ```

pub mod action;
pub mod cost;
pub mod example;
pub mod io;
pub mod parse;
pub mod prompt;
pub mod results;

pub use action::{Action, ActionKind, json_equal};
pub use cost::{CostLedger, CostModel, ModelCall, ModelRole};
pub use example::{Example, FunctionCall, Message, Role, Split, ToolCall};
pub use parse::{ParseActionError, parse_action};
pub use results::{ConfigResult, ExampleRecord, RESULTS_SCHEMA_VERSION, ResultsFile};
