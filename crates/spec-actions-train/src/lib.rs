//! # spec-actions-train
//!
//! Training-side code of spec-actions. [`data`] builds the v3 datasets: the BFCL v4 importer,
//! synthetic coding-agent episodes, the SFT / verifier / reward / eval files and the dataset
//! card.
//!
//! ```
//! use spec_actions_train::data::call_parser::parse_call;
//! let call = parse_call("mv(source='final_report.pdf', destination='temp')").unwrap();
//! assert_eq!(call.name, "mv");
//! ```

pub mod data;
