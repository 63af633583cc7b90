//! The v3 datasets: BFCL v4 import ([`bfcl`]), synthetic coding-agent episodes
//! ([`synthetic`]), the context budget ([`budget`]), splits ([`split`]), SFT / verifier /
//! reward rows ([`builders`]), the dataset card ([`card`]), and the whole build
//! ([`pipeline::build_datasets`], behind `cargo xtask datasets`).
//!
//! ```no_run
//! use spec_actions_train::data::budget::{ContextBudget, HfTokenCounter};
//! use spec_actions_train::data::pipeline::{DatasetConfig, NoProgress, build_datasets};
//! # fn main() -> Result<(), spec_actions_train::data::error::DataError> {
//! let counter = HfTokenCounter::from_file("assets/qwen3-tokenizer/tokenizer.json".as_ref())?;
//! let config = DatasetConfig::study(Some("assets/bfcl-v4".into()), 0, ContextBudget::full());
//! let report = build_datasets(&config, &counter, "data/v3".as_ref(), &mut NoProgress)?;
//! println!("{} train examples", report.card.sizes["train"].examples);
//! # Ok(()) }
//! ```

pub mod bfcl;
pub mod budget;
pub mod builders;
pub mod call_parser;
pub mod card;
pub mod conversation;
pub mod error;
pub mod kind_table;
pub mod pipeline;
pub mod split;
pub mod synthetic;
