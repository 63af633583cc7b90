//! [`LoadOptions`] and [`load_qwen3_with`]: loading a checkpoint with the base model in chosen
//! dtypes: f32 (the default), bf16 throughout (GPU training and inference), or bf16 weights with
//! f32 compute (serving on a CPU: half the bytes per decode step, f32 arithmetic).

use std::path::Path;

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::config::Qwen3Config;
use crate::error::Result;
use crate::loader::{CheckpointFiles, load_with_config};
use crate::model::Qwen3;

/// How a checkpoint is loaded: the dtypes of its base tensors (see
/// [`crate::model::precision`]). LoRA adapters attached later are f32 whatever these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// dtype of the activations and norm gains ([`Qwen3::compute_dtype`]).
    pub compute_dtype: FloatDType,
    /// dtype of the embeddings, projections and LM head ([`Qwen3::weight_dtype`]).
    pub weight_dtype: FloatDType,
}

impl Default for LoadOptions {
    /// f32 throughout, what [`load_qwen3`](crate::load_qwen3) gives.
    fn default() -> Self {
        LoadOptions::uniform(FloatDType::F32)
    }
}

impl LoadOptions {
    /// Weights and compute in one `dtype`.
    pub fn uniform(dtype: FloatDType) -> Self {
        LoadOptions {
            compute_dtype: dtype,
            weight_dtype: dtype,
        }
    }

    /// bf16 weights and compute (the usual GPU setting).
    pub fn bf16() -> Self {
        LoadOptions::uniform(FloatDType::BF16)
    }

    /// bf16 weights with f32 compute (serving on a CPU): each product reads bf16 matrices and
    /// returns f32; norms, RoPE, attention and the residual stream stay f32.
    pub fn bf16_weights() -> Self {
        LoadOptions {
            compute_dtype: FloatDType::F32,
            weight_dtype: FloatDType::BF16,
        }
    }
}

/// [`load_qwen3`](crate::load_qwen3) with the base model in `options`' dtypes, each tensor
/// converted as it is read (peak memory is the model in those dtypes, not an f32 copy first).
///
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::FloatDType;
/// use spec_actions_qwen3::{LoadOptions, load_qwen3_with};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny");
/// let model = load_qwen3_with::<Flex>(dir, &LoadOptions::bf16(), &Default::default())?;
/// assert_eq!(model.compute_dtype(), FloatDType::BF16);
///
/// let model = load_qwen3_with::<Flex>(dir, &LoadOptions::bf16_weights(), &Default::default())?;
/// assert_eq!((model.weight_dtype(), model.compute_dtype()), (FloatDType::BF16, FloatDType::F32));
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
    load_with_config(&config, &files, options, device)
}
