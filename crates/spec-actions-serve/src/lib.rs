//! # spec-actions-serve
//!
//! The speculative next-action service: a run's chosen policy (A–H, K, the cascades), decided
//! live on its Qwen3 roles, as a library call ([`Speculator::decide`]) and as an
//! OpenAI-compatible HTTP service ([`serve`], the `spec-actions serve` command).
//!
//! - [`run`]: a finished run folder — its checkpoints, its results and dev calibrations — and
//!   the [`OperatingPoint`] to serve (a configuration name such as `C@0.5220`, or a rule:
//!   `cheapest within 1 point of strong-only`, `fallback rate <= 30%`, `cost <= 0.3`; by default
//!   `recommended`: the cheapest within 1 point of strong-only that commits whole actions).
//! - [`speculator`]: decisions by the policy code the replay runs ([`spec_actions_verify::Policy::decide`]),
//!   on roles fed by batched passes of the live models; a decision carries its action, route,
//!   gate score, ledger and the decision-log row in the replay's schema.
//! - [`openai`]: the chat-completions request, checked field by field, and the answer.
//! - [`server`]: the axum service — batching worker, bounded queue, decision log, metrics,
//!   graceful shutdown.
//!
//! ```no_run
//! use spec_actions_core::Message;
//! use spec_actions_serve::{OperatingPoint, RunFolder};
//!
//! let run = RunFolder::open("runs/tiny")?;
//! let point: OperatingPoint = "cheapest within 1 point of strong-only".parse()?;
//! let (speculator, row) = run.speculator::<burn::backend::Flex>(&point, &Default::default(), &Default::default())?;
//! println!("serving {} (eval accuracy {:.3}, cost {:.3})", row.name, row.accuracy, row.mean_cost);
//! let decision = speculator.decide(vec![Message::user("open README.md")], Vec::new())?;
//! println!("{:?} by {} via {:?}", decision.action, decision.model, decision.route);
//! # Ok::<(), spec_actions_serve::ServeError>(())
//! ```

pub mod error;
pub mod openai;
pub mod run;
pub mod server;
pub mod speculator;

pub use error::{Result, ServeError};
pub use openai::{ChatRequest, ToolChoice, parse_request};
pub use run::{ModelPaths, OperatingPoint, RoleSource, RunFolder, commits_whole_actions, load_models};
pub use server::{ServeOptions, ServeReport, bind, serve};
pub use speculator::{
    LedgerSummary, ServedDecision, Speculator, UNLABELLED_GOLD, priced_costs, route_label, served_example,
};
