//! # spec-actions-train
//!
//! Training-side code of spec-actions (the datasets it trains on are built by the model-free
//! `spec-actions-data` crate):
//!
//! - [`trainer`] is the LoRA training loop (AdamW with PyTorch's semantics from [`optim`],
//!   warm-up + cosine, accumulation, clipping, atomic checkpoints with exact resume);
//! - [`objective`] and [`tasks`] are the losses of the three trainers: the proposer's SFT, the
//!   ACCEPT/REJECT verifier and the Bradley–Terry reward model (and the judges' scorers, which
//!   `spec-actions-live` runs the trained judges with).
//!
//! The trained models run as the policies' roles in `spec-actions-live`.
//!
//! ```
//! use spec_actions_train::optim::{LrSchedule, clip_coefficient};
//! // Linear warm-up over 10 steps to 2e-4, then cosine decay to 0 at step 110.
//! let schedule = LrSchedule { peak: 2e-4, warmup_steps: 10, total_steps: 110 };
//! assert!((schedule.lr(5) - 1e-4).abs() < 1e-12);
//! assert!((schedule.lr(60) - 1e-4).abs() < 1e-12);
//! // Gradients of norm 4 clipped to norm 1 are scaled by about 1/4.
//! assert!((clip_coefficient(4.0, 1.0) - 0.25).abs() < 1e-6);
//! ```

pub mod objective;
pub mod optim;
pub mod tasks;
pub mod trainer;
