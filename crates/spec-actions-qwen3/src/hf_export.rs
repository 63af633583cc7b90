//! What this crate hands to other tools: a PEFT adapter merged into its base as a plain HF
//! checkpoint folder (what PEFT's `merge_and_unload()` + `save_pretrained()` give), and the
//! logits of a checkpoint (with or without an adapter) on given tokens as a safetensors file in
//! the parity reference format (`input_ids`, `logits`), which the parity example and
//! `scripts/check_peft_load.py --logits-key logits` compare against.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::Dtype;

use crate::error::Qwen3Error;
use crate::loader::load_qwen3;
use crate::lora::LoraError;
use crate::model::Qwen3;

/// Files of an HF checkpoint folder besides its weights and `config.json` that a merged model
/// keeps from its base, when the base has them: its tokenizer and generation settings.
pub const COMPANION_FILES: [&str; 7] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
];

/// Why a merge or a logits file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Model(#[from] Qwen3Error),
    #[error(transparent)]
    Adapter(#[from] LoraError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Token rows that cannot be run: empty, of different lengths, an id outside the vocabulary
    /// or longer than the model's context.
    #[error("tokens: {0}")]
    Tokens(String),
}

/// The [`COMPANION_FILES`] present in `dir`, by name with their bytes.
pub fn companion_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let mut out = Vec::new();
    for name in COMPANION_FILES {
        let path = dir.join(name);
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|source| ExportError::Read { path, source })?;
            out.push((name.to_string(), bytes));
        }
    }
    Ok(out)
}

/// Loads the checkpoint `base`, applies the PEFT adapter `adapter` (when given), merges it into
/// the weights and writes the result to `out` as an HF folder (f32 weights, `config.json`, the
/// base's [`COMPANION_FILES`]), atomically. Returns the merged model.
pub fn merge_to_hf<B: Backend>(
    base: &Path,
    adapter: Option<&Path>,
    out: &Path,
    device: &B::Device,
) -> Result<Qwen3<B>, ExportError> {
    let model = merged_model::<B>(base, adapter, device)?;
    model.save_hf_with_files(out, &companion_files(base)?)?;
    Ok(model)
}

/// The checkpoint `base` with the PEFT adapter `adapter` (when given) merged into its weights.
pub fn merged_model<B: Backend>(
    base: &Path,
    adapter: Option<&Path>,
    device: &B::Device,
) -> Result<Qwen3<B>, ExportError> {
    let model = load_qwen3::<B>(base, device)?;
    Ok(match adapter {
        Some(dir) => model.with_peft_adapter(dir)?.merge_lora(),
        None => model,
    })
}

/// The logits of `model` on `rows` (one forward pass, no padding), checked first: at least one
/// row, every row as long as the first and at most the model's context, every id in the
/// vocabulary.
///
/// # Shapes
/// - `rows`: `[batch][seq]`
/// - returns the flat `[batch, seq, vocab]` f32 values and those dims
pub fn logits_of<B: Backend>(
    model: &Qwen3<B>,
    rows: &[Vec<u32>],
) -> Result<(Vec<f32>, [usize; 3]), ExportError> {
    let vocab = model.config.vocab_size;
    let seq = rows.first().map_or(0, Vec::len);
    if seq == 0 {
        return Err(ExportError::Tokens("no tokens to run".into()));
    }
    for (r, row) in rows.iter().enumerate() {
        if row.len() != seq {
            return Err(ExportError::Tokens(format!(
                "row {r} has {} tokens, row 0 has {seq}: rows of one file have one length",
                row.len()
            )));
        }
        if let Some((t, id)) = row.iter().enumerate().find(|&(_, &id)| id as usize >= vocab) {
            return Err(ExportError::Tokens(format!(
                "row {r}, position {t}: id {id} is outside the vocabulary ({vocab} tokens)"
            )));
        }
    }
    if seq > model.config.max_position_embeddings {
        return Err(ExportError::Tokens(format!(
            "{seq} tokens, the model's context is {}",
            model.config.max_position_embeddings
        )));
    }
    let device = model.embed_tokens.weight.device();
    let flat: Vec<i64> = rows.iter().flatten().map(|&t| i64::from(t)).collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows.len(), seq]), &device);
    let logits = model.forward(ids, None);
    let dims = logits.dims();
    let values = logits
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| ExportError::Tokens(format!("logits: {e:?}")))?;
    Ok((values, dims))
}

/// Writes `input_ids` (I64 `[batch, seq]`) and `logits` (F32 `[batch, seq, vocab]`) of `model`
/// on `rows` to the safetensors file `path`, atomically: the keys of the parity reference
/// format, so that the parity example, `scripts/check_peft_load.py --logits-key logits` or any
/// safetensors reader compares them with another implementation's.
///
/// # Shapes
/// - `rows`: `[batch][seq]`
pub fn write_logits_file<B: Backend>(
    model: &Qwen3<B>,
    rows: &[Vec<u32>],
    path: &Path,
) -> Result<[usize; 3], ExportError> {
    let (logits, dims) = logits_of(model, rows)?;
    let ids: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|&t| i64::from(t).to_le_bytes())
        .collect();
    let values: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    let bad = |message: String| {
        ExportError::Model(Qwen3Error::Safetensors {
            path: path.to_path_buf(),
            message,
        })
    };
    let views = vec![
        (
            "input_ids".to_string(),
            safetensors::tensor::TensorView::new(Dtype::I64, vec![dims[0], dims[1]], &ids)
                .map_err(|e| bad(e.to_string()))?,
        ),
        (
            "logits".to_string(),
            safetensors::tensor::TensorView::new(Dtype::F32, dims.to_vec(), &values)
                .map_err(|e| bad(e.to_string()))?,
        ),
    ];
    let metadata = Some([("format".to_string(), "pt".to_string())].into_iter().collect());
    let bytes = safetensors::serialize(views, metadata).map_err(|e| bad(e.to_string()))?;
    spec_actions_core::io::atomic_write_bytes(path, &bytes).map_err(|e| ExportError::Write {
        path: e.path,
        source: e.source,
    })?;
    Ok(dims)
}
