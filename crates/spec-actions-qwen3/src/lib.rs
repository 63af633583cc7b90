//! # spec-actions-qwen3
//!
//! Qwen3 on burn, numerically the same model as HF transformers, loaded from HF checkpoint
//! folders; tokenizer and chat template; generation and one-pass scoring of candidate
//! continuations.
//!
//! ```
//! use burn::backend::Flex;
//! use spec_actions_qwen3::{GenerationConfig, generate, load_qwen3, score_continuations};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny");
//! let model = load_qwen3::<Flex>(dir, &Default::default())?;
//! // Greedy decoding with a KV cache (a batch of prompts of any lengths is left-padded).
//! let out = generate(&model, &[vec![3, 14, 15, 92]], &GenerationConfig::greedy(5))?;
//! assert_eq!(out[0].tokens.len(), 5);
//! // Log-probabilities of candidate continuations, prefilling the prompt once.
//! let scores = score_continuations(&model, &[3, 14, 15, 92], &[vec![7], vec![8, 9]])?;
//! assert!(scores.iter().all(|s| s.total < 0.0));
//! # Ok::<(), spec_actions_qwen3::Qwen3Error>(())
//! ```

pub mod action_prompts;
pub mod allocator;
pub mod backend;
pub mod causal_lm;
pub mod chat_template;
pub mod compute_threads;
pub mod config;
pub mod error;
pub(crate) mod flex_tensors;
pub mod generate;
pub mod hf_export;
pub mod hf_save;
pub mod huge_pages;
pub mod load_options;
pub mod loader;
pub mod lora;
pub mod model;
pub mod score;
pub mod simd;
pub mod tokenizer;

pub use causal_lm::CausalLm;
pub use chat_template::{ChatTemplate, ChatTemplateError, PromptAndAnswer, RenderOptions, RenderedChat};
pub use config::Qwen3Config;
pub use error::{Qwen3Error, TensorProblem};
pub use generate::{
    FinishReason, GeneratedSequence, GenerationConfig, GenerationTiming, RowSampling, Sampling, generate,
    generate_timed,
};
pub use load_options::{LoadOptions, load_qwen3_with};
pub use loader::load_qwen3;
pub use model::{KvCache, Projection, Qwen3};
pub use score::{
    CandidateScore, ScoringItem, continuation_log_probs, score_continuations, score_continuations_batch,
};
pub use tokenizer::{Qwen3Tokenizer, SpecialTokens, TokenizerError};
