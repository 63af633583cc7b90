//! Parity checks against a reference file in the fixtures' format (keys `input_ids`,
//! `logits`, `padded_attention_mask`, `padded_logits`, `greedy_prompt`, `greedy_output`,
//! `hidden_state.N`), as written by HF transformers. Used by the parity tests and the
//! `parity` example.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Qwen3Error, Result};
use crate::generate::{GenerationConfig, generate};
use crate::model::Qwen3;

/// A reference tensor as f64 values with its shape.
#[derive(Debug, Clone)]
pub struct RefTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// All tensors of a reference file.
#[derive(Debug, Clone)]
pub struct ReferenceFile {
    pub path: PathBuf,
    pub tensors: HashMap<String, RefTensor>,
}

/// The outcome of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ParityCheck {
    /// The reference key compared.
    pub key: String,
    /// Largest absolute difference (for token outputs: the number of differing tokens).
    pub max_abs_diff: f64,
    pub tolerance: f64,
}

impl ParityCheck {
    pub fn passed(&self) -> bool {
        self.max_abs_diff <= self.tolerance
    }
}

impl ReferenceFile {
    /// Reads every F32/I64 tensor of `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|source| Qwen3Error::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: read-only map of a file we do not modify.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| Qwen3Error::Io {
            path: path.clone(),
            source,
        })?;
        let st = SafeTensors::deserialize(&map).map_err(|e| Qwen3Error::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.iter() {
            let bytes = view.data();
            let values: Vec<f64> = match view.dtype() {
                Dtype::F32 => bytes
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect(),
                Dtype::I64 => bytes
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f64)
                    .collect(),
                _ => continue,
            };
            tensors.insert(
                name.to_owned(),
                RefTensor {
                    shape: view.shape().to_vec(),
                    values,
                },
            );
        }
        Ok(Self { path, tensors })
    }

    /// The tensor `key`, or an error naming the file and key.
    pub fn get(&self, key: &str) -> Result<&RefTensor> {
        self.tensors.get(key).ok_or_else(|| Qwen3Error::MissingField {
            path: self.path.clone(),
            field: key.into(),
        })
    }

    fn rows_of_ids(&self, key: &str) -> Result<Vec<Vec<u32>>> {
        let t = self.get(key)?;
        let cols = *t.shape.last().unwrap_or(&0);
        Ok(t.values
            .chunks(cols.max(1))
            .map(|row| row.iter().map(|&v| v as u32).collect())
            .collect())
    }
}

pub(crate) fn max_abs_diff(ours: &[f32], reference: &[f64], include: impl Fn(usize) -> bool) -> f64 {
    ours.iter()
        .zip(reference)
        .enumerate()
        .filter(|(i, _)| include(*i))
        .map(|(_, (&a, &b))| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
}

pub(crate) fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}

/// Runs every check the reference file supports: `logits`, `padded_logits` (compared where
/// the mask is 1), each `hidden_state.N` (all with `tolerance`), and `greedy_output` (token
/// for token, tolerance 0).
pub fn check_reference<B: Backend>(
    model: &Qwen3<B>,
    reference: &ReferenceFile,
    tolerance: f64,
) -> Result<Vec<ParityCheck>> {
    let device = model.embed_tokens.weight.device();
    let ids_ref = reference.get("input_ids")?;
    let [batch, seq] = [ids_ref.shape[0], ids_ref.shape[1]];
    let ids: Vec<i64> = ids_ref.values.iter().map(|&v| v as i64).collect();
    let input = || Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [batch, seq]), &device);
    let mut checks = Vec::new();

    // 1. Plain logits and every hidden state.
    let ctx = model.context_for(&input(), None);
    let mut states = Vec::new();
    let hidden = model.forward_hidden(input(), &ctx, None, Some(&mut states));
    let logits = to_vec(model.logits(hidden));
    checks.push(ParityCheck {
        key: "logits".into(),
        max_abs_diff: max_abs_diff(&logits, &reference.get("logits")?.values, |_| true),
        tolerance,
    });
    for (n, state) in states.into_iter().enumerate() {
        let key = format!("hidden_state.{n}");
        if let Some(r) = reference.tensors.get(&key) {
            checks.push(ParityCheck {
                key,
                max_abs_diff: max_abs_diff(&to_vec(state), &r.values, |_| true),
                tolerance,
            });
        }
    }
    let expected_states = reference
        .tensors
        .keys()
        .filter(|k| k.starts_with("hidden_state."))
        .count();
    if expected_states > model.layers.len() + 1 {
        return Err(Qwen3Error::InvalidInput(format!(
            "{} has {expected_states} hidden states, the model gives {}",
            reference.path.display(),
            model.layers.len() + 1
        )));
    }

    // 2. Left-padded logits, compared only at real tokens.
    if let Ok(mask) = reference.get("padded_attention_mask") {
        let mask: Vec<Vec<bool>> = mask
            .values
            .chunks(seq)
            .map(|r| r.iter().map(|&v| v != 0.0).collect())
            .collect();
        let logits = to_vec(model.forward(input(), Some(&mask)));
        let vocab = logits.len() / (batch * seq);
        let flat_mask: Vec<bool> = mask.concat();
        checks.push(ParityCheck {
            key: "padded_logits".into(),
            max_abs_diff: max_abs_diff(&logits, &reference.get("padded_logits")?.values, |i| {
                flat_mask[i / vocab]
            }),
            tolerance,
        });
    }

    // 3. Greedy decoding with the KV cache, token for token.
    if let (Ok(prompts), Ok(outputs)) = (
        reference.rows_of_ids("greedy_prompt"),
        reference.rows_of_ids("greedy_output"),
    ) {
        let new_tokens = outputs[0].len().saturating_sub(prompts[0].len());
        let generated = generate(model, &prompts, &GenerationConfig::greedy(new_tokens))?;
        let differing: usize = generated
            .iter()
            .zip(&prompts)
            .zip(&outputs)
            .map(|((g, p), o)| {
                let ours: Vec<u32> = p.iter().chain(&g.tokens).copied().collect();
                ours.iter().zip(o).filter(|(a, b)| a != b).count() + ours.len().abs_diff(o.len())
            })
            .sum();
        checks.push(ParityCheck {
            key: "greedy_output".into(),
            max_abs_diff: differing as f64,
            tolerance: 0.0,
        });
    }
    Ok(checks)
}
