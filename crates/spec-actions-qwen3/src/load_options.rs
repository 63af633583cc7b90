//! [`LoadOptions`] and [`load_qwen3_with`]: loading a checkpoint with the base model in a chosen
//! compute dtype (bf16 for GPU training and inference, f32 on CPU, the default).

use std::path::Path;

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::config::Qwen3Config;
use crate::error::Result;
use crate::loader::{CheckpointFiles, load_with_config};
use crate::model::Qwen3;

/// How a checkpoint is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// dtype of the base weights and activations ([`Qwen3::compute_dtype`]); LoRA adapters
    /// attached later are f32 whatever this is.
    pub compute_dtype: FloatDType,
}

impl Default for LoadOptions {
    /// f32 compute, what [`load_qwen3`] gives.
    fn default() -> Self {
        LoadOptions {
            compute_dtype: FloatDType::F32,
        }
    }
}

impl LoadOptions {
    /// bf16 compute (the usual GPU setting).
    pub fn bf16() -> Self {
        LoadOptions {
            compute_dtype: FloatDType::BF16,
        }
    }
}

/// [`load_qwen3`] with the base model in `options.compute_dtype`, each tensor converted as it
/// is read (peak memory is the model in that dtype, not an f32 copy first).
///
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::FloatDType;
/// use spec_actions_qwen3::{LoadOptions, load_qwen3_with};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny");
/// let model = load_qwen3_with::<Flex>(dir, &LoadOptions::bf16(), &Default::default())?;
/// assert_eq!(model.compute_dtype(), FloatDType::BF16);
/// # Ok::<(), spec_actions_qwen3::Qwen3Error>(())
/// ```
pub fn load_qwen3_with<B: Backend>(
    dir: impl AsRef<Path>,
    options: &LoadOptions,
    device: &B::Device,
) -> Result<Qwen3<B>> {
    let dir = dir.as_ref();
    let config = Qwen3Config::from_file(dir.join("config.json"))?;
    let files = CheckpointFiles::open(dir)?;
    load_with_config(&config, &files, options.compute_dtype, device)
}
