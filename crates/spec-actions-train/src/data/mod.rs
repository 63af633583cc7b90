//! The v3 datasets.
pub mod bfcl;
pub mod call_parser;
pub mod conversation;
pub mod error;
pub mod kind_table;
pub mod synthetic;
