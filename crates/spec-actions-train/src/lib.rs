//! # spec-actions-train
//!
//! Training-side code of spec-actions:
//!
//! - [`data`] builds the v3 datasets: the BFCL v4 importer, synthetic coding-agent episodes,
//!   the SFT / verifier / reward / eval files and the dataset card;
//! - [`trainer`] is the LoRA training loop (AdamW with PyTorch's semantics from [`optim`],
//!   warm-up + cosine, accumulation, clipping, atomic checkpoints with exact resume);
//! - [`objective`] and [`tasks`] are the losses of the three trainers: the proposer's SFT, the
//!   ACCEPT/REJECT verifier and the Bradley–Terry reward model;
//! - [`live`] runs trained models as the policies' roles and records their outputs.
//!
//! ```
//! use spec_actions_train::data::call_parser::parse_call;
//! let call = parse_call("mv(source='final_report.pdf', destination='temp')").unwrap();
//! assert_eq!(call.name, "mv");
//! ```

pub mod data;
pub mod live;
pub mod objective;
pub mod optim;
pub mod tasks;
pub mod trainer;
