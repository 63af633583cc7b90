//! # spec-actions-qwen3
//!
//! Qwen3 on burn, numerically the same model as HF transformers, loaded from HF checkpoint
//! folders; tokenizer and chat template; generation and one-pass scoring of candidate
//! continuations.

pub mod chat_template;
pub mod config;
pub mod error;
pub mod generate;
pub mod loader;
pub mod model;
pub mod score;
pub mod tokenizer;

pub use chat_template::{ChatTemplate, ChatTemplateError, PromptAndAnswer, RenderOptions, RenderedChat};
pub use tokenizer::{Qwen3Tokenizer, SpecialTokens, TokenizerError};
