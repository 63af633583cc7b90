//! # spec-actions
//!
//! Speculative decoding lifted from tokens to agent actions: a cheap model proposes the agent's
//! next action, verifiers accept it or fall back to a strong model, and a cost/accuracy Pareto
//! analysis says which configuration wins.
//!
//! This facade re-exports the pure-Rust crates every user needs: [`core`] (action space,
//! datasets, metrics, cost model, results schema) and [`frontier`] (Pareto frontier,
//! statistics, reports). The model (`spec-actions-qwen3`), training (`spec-actions-train`) and
//! policies (`spec-actions-verify`) are crates of their own. Run
//! `cargo run --release --example frontier` for the study's report.
//!
//! ```
//! use spec_actions::{FrontierReport, ReportOptions, parse_action, ActionKind};
//!
//! assert_eq!(parse_action("Action: final_answer.").unwrap().kind, ActionKind::FinalAnswer);
//! let report = FrontierReport::analyze(&spec_actions::frontier::reference::study_v2(), ReportOptions::default()).unwrap();
//! assert_eq!(report.frontier.frontier().count(), 1);
//! ```

pub use spec_actions_core as core;
pub use spec_actions_frontier as frontier;

pub use spec_actions_core::{Action, ActionKind, Example, ResultsFile, parse_action};
pub use spec_actions_frontier::{FrontierReport, ReportOptions};
