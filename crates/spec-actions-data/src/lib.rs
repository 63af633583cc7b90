//! # spec-actions-data
//!
//! The v3 datasets of spec-actions, model-free (no burn, no model crate; the only heavy
//! dependency is the `tokenizers` crate, for token counts):
//!
//! - [`bfcl`] imports BFCL v4 (its Python-call strings parsed by [`call_parser`], functions
//!   mapped to action kinds by [`kind_table`]);
//! - [`synthetic`] generates coding-agent episodes ([`conversation::Conversation`]s);
//! - [`traces`] imports a user's agent logs (OpenAI chat-completions / TRL conversational
//!   JSONL) with a TOML map of tool-name patterns to kinds ([`traces::KindMap`]);
//!   [`toml_file`] reads such hand-written TOML strictly (errors name file, line and key);
//! - [`budget`] fits every example into a context budget ([`budget::HfTokenCounter`] counts
//!   with the Qwen3 tokenizer);
//! - [`split`] splits by conversation group (train, dev, eval, heldout);
//! - [`builders`] makes the SFT / verifier / reward rows and the hard negatives;
//!   [`role_sets`] is the one builder of the verifier and reward sets, used by the writer and
//!   by the trainers alike;
//! - [`card`] is the dataset card; [`pipeline::build_datasets`] is the whole build (behind
//!   `cargo xtask datasets`), [`pipeline::read_examples`] reads a split back.
//!
//! Every failure is a [`error::DataError`] naming its file (and line or field).
//!
//! A synthetic-only build, read back:
//!
//! ```
//! use spec_actions_data::budget::{CharCounter, ContextBudget};
//! use spec_actions_data::pipeline::{DatasetConfig, NoProgress, build_datasets, read_examples};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let out = tempfile::tempdir()?;
//! let config = DatasetConfig {
//!     bfcl_dir: None,
//!     synthetic_examples: 300,
//!     seed: 1,
//!     budget: ContextBudget::tiny(),
//!     eval_size: 45,
//!     dev_fraction: 0.1,
//!     heldout_category: None,
//!     negatives: spec_actions_data::builders::NegativeLevel::Call,
//! };
//! let counter = CharCounter { chars_per_token: 4 };
//! let report = build_datasets(&config, &counter, out.path(), &mut NoProgress)?;
//! let train = read_examples(&out.path().join("train.jsonl"))?;
//! assert_eq!(report.card.sizes["train"].examples, train.len());
//! // Two verifier rows (ACCEPT, REJECT) per train example.
//! assert_eq!(report.card.files["verifier_train.jsonl"], 2 * train.len());
//! # Ok(()) }
//! ```
//!
//! The study's build, with the real tokenizer and BFCL:
//!
//! ```no_run
//! use spec_actions_data::budget::{ContextBudget, HfTokenCounter};
//! use spec_actions_data::pipeline::{DatasetConfig, NoProgress, build_datasets};
//! # fn main() -> Result<(), spec_actions_data::error::DataError> {
//! let counter = HfTokenCounter::from_file("assets/qwen3-tokenizer/tokenizer.json".as_ref())?;
//! let config = DatasetConfig::study(Some("assets/bfcl-v4".into()), 0, ContextBudget::full());
//! let report = build_datasets(&config, &counter, "data/v3".as_ref(), &mut NoProgress)?;
//! println!("{} train examples", report.card.sizes["train"].examples);
//! # Ok(()) }
//! ```

pub mod bfcl;
pub mod bfcl_check;
pub mod budget;
pub mod builders;
pub mod call_parser;
pub mod card;
pub mod conversation;
pub mod error;
pub mod kind_table;
pub mod pipeline;
pub mod prompt_completion;
pub mod role_sets;
pub mod split;
pub mod synthetic;
pub mod toml_file;
pub mod traces;
