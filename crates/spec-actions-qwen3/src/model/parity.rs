//! Parity checks against a reference file in the fixtures' format (keys `input_ids`,
//! `logits`, `padded_attention_mask`, `padded_logits`, `greedy_prompt`, `greedy_output`,
//! `hidden_state.N`), as written by HF transformers. Used by the parity tests and the
//! `parity` example.
//!
//! A reference is outside data: every tensor's shape is checked against the shape the model
//! gives ([`Qwen3Error::ReferenceShape`]), token ids and masks against the model's vocabulary
//! ([`Qwen3Error::InvalidReference`]), and a NaN or ±∞ on either side fails the check of that
//! tensor ([`ParityCheck::non_finite_ours`], [`ParityCheck::non_finite_reference`]) instead of
//! vanishing from the maximum.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Qwen3Error, Result};
use crate::generate::{GenerationConfig, generate};
use crate::model::Qwen3;

/// A reference tensor as f64 values with its shape.
#[derive(Debug, Clone)]
pub struct RefTensor {
    /// Shape as stored in the file.
    pub shape: Vec<usize>,
    /// Values in row-major order, converted to f64 from the stored dtype.
    pub values: Vec<f64>,
}

/// All tensors of a reference file.
#[derive(Debug, Clone)]
pub struct ReferenceFile {
    /// The file the tensors were read from (named in every error).
    pub path: PathBuf,
    /// Every tensor of a readable dtype, by name.
    pub tensors: HashMap<String, RefTensor>,
    /// Tensors stored in a dtype that is not read, with that dtype (reported by [`Self::get`]).
    unreadable: HashMap<String, String>,
}

/// The outcome of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ParityCheck {
    /// The reference key compared.
    pub key: String,
    /// Largest absolute difference (for token outputs: the number of differing tokens); NaN
    /// when either side holds a non-finite value.
    pub max_abs_diff: f64,
    /// The largest difference that passes.
    pub tolerance: f64,
    /// How many of our values are NaN or ±∞ (any one fails the check).
    pub non_finite_ours: usize,
    /// How many reference values are NaN or ±∞ (any one fails the check).
    pub non_finite_reference: usize,
}

impl ParityCheck {
    /// A check that passes when `max_abs_diff ≤ tolerance` (and both sides are finite).
    pub fn new(key: impl Into<String>, max_abs_diff: f64, tolerance: f64) -> Self {
        Self {
            key: key.into(),
            max_abs_diff,
            tolerance,
            non_finite_ours: 0,
            non_finite_reference: 0,
        }
    }

    /// Element-wise comparison of `ours` with `reference` (equal lengths; the caller checks the
    /// shapes), the maximum taken over the indices `include` accepts. Non-finite values are
    /// counted over *all* indices of both sides, and any one makes `max_abs_diff` NaN and the
    /// check fail. Lengths that differ give an infinite difference.
    pub fn compare(
        key: impl Into<String>,
        ours: &[f32],
        reference: &[f64],
        include: impl Fn(usize) -> bool,
        tolerance: f64,
    ) -> Self {
        Self::compare_with(key, ours, reference, tolerance, |i, a, b| {
            include(i).then(|| (a - b).abs())
        })
    }

    /// Largest relative error `|a − b| / max(|b|, floor)` with `floor` = 1e-3 · max|b| (so that
    /// entries near zero are judged against the tensor's own scale); non-finite values and
    /// lengths as in [`Self::compare`].
    pub fn compare_relative(key: impl Into<String>, ours: &[f32], reference: &[f64], tolerance: f64) -> Self {
        let scale = reference
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let floor = (1e-3 * scale).max(f64::MIN_POSITIVE);
        Self::compare_with(key, ours, reference, tolerance, |_, a, b| {
            Some((a - b).abs() / b.abs().max(floor))
        })
    }

    fn compare_with(
        key: impl Into<String>,
        ours: &[f32],
        reference: &[f64],
        tolerance: f64,
        diff: impl Fn(usize, f64, f64) -> Option<f64>,
    ) -> Self {
        let non_finite_ours = ours.iter().filter(|v| !v.is_finite()).count();
        let non_finite_reference = reference.iter().filter(|v| !v.is_finite()).count();
        let max_abs_diff = if non_finite_ours + non_finite_reference > 0 {
            f64::NAN
        } else if ours.len() != reference.len() {
            f64::INFINITY
        } else {
            ours.iter()
                .zip(reference)
                .enumerate()
                .filter_map(|(i, (&a, &b))| diff(i, f64::from(a), b))
                .fold(0.0, f64::max)
        };
        Self {
            key: key.into(),
            max_abs_diff,
            tolerance,
            non_finite_ours,
            non_finite_reference,
        }
    }

    /// `true` when both sides are finite and the difference is within the tolerance.
    pub fn passed(&self) -> bool {
        self.non_finite_ours == 0 && self.non_finite_reference == 0 && self.max_abs_diff <= self.tolerance
    }
}

impl std::fmt::Display for ParityCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed() { "ok" } else { "FAIL" };
        write!(
            f,
            "{:<36} max|Δ| = {:.3e}  (tolerance {:.1e})  {verdict}",
            self.key, self.max_abs_diff, self.tolerance
        )?;
        if self.non_finite_ours > 0 {
            write!(
                f,
                "; {} non-finite value(s) (NaN/inf) in ours",
                self.non_finite_ours
            )?;
        }
        if self.non_finite_reference > 0 {
            write!(
                f,
                "; {} non-finite value(s) (NaN/inf) in the reference",
                self.non_finite_reference
            )?;
        }
        Ok(())
    }
}

/// Token ids of a reference as a `[rows, cols]` matrix (validated: integers in range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMatrix {
    /// Number of rows (sequences), ≥ 1.
    pub rows: usize,
    /// Tokens per row, ≥ 1.
    pub cols: usize,
    /// Row-major values.
    pub values: Vec<i64>,
}

impl TokenMatrix {
    /// The rows as token id vectors (the values are known to be non-negative).
    pub fn to_rows(&self) -> Vec<Vec<u32>> {
        self.values
            .chunks(self.cols)
            .map(|row| row.iter().map(|&v| v as u32).collect())
            .collect()
    }
}

impl ReferenceFile {
    /// Reads every F32, F16, BF16, F64, I64 and I32 tensor of `path` (as f64); tensors of other
    /// dtypes are reported by [`Self::get`] when asked for.
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
        let mut unreadable = HashMap::new();
        for (name, view) in st.iter() {
            let bytes = view.data();
            let values: Vec<f64> = match view.dtype() {
                Dtype::F32 => bytes
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect(),
                Dtype::F16 => bytes
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f64())
                    .collect(),
                Dtype::BF16 => bytes
                    .chunks_exact(2)
                    .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f64())
                    .collect(),
                Dtype::F64 => bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect(),
                Dtype::I64 => bytes
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f64)
                    .collect(),
                Dtype::I32 => bytes
                    .chunks_exact(4)
                    .map(|b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect(),
                other => {
                    unreadable.insert(name.to_owned(), format!("{other:?}"));
                    continue;
                }
            };
            tensors.insert(
                name.to_owned(),
                RefTensor {
                    shape: view.shape().to_vec(),
                    values,
                },
            );
        }
        Ok(Self {
            path,
            tensors,
            unreadable,
        })
    }

    /// The tensor `key`, or an error naming the file and key (missing, or stored in a dtype
    /// that is not read).
    pub fn get(&self, key: &str) -> Result<&RefTensor> {
        if let Some(dtype) = self.unreadable.get(key) {
            return Err(self.invalid(
                key,
                format!("stored as {dtype}; only F32, F16, BF16, F64, I64 and I32 are read"),
            ));
        }
        self.tensors.get(key).ok_or_else(|| Qwen3Error::MissingField {
            path: self.path.clone(),
            field: key.into(),
        })
    }

    /// Whether the file holds `key` (readable or not): optional checks run when it does.
    pub fn has(&self, key: &str) -> bool {
        self.tensors.contains_key(key) || self.unreadable.contains_key(key)
    }

    /// The tensor `key`, which must have exactly the shape `expected`
    /// ([`Qwen3Error::ReferenceShape`] naming the tensor and both shapes otherwise).
    pub fn get_shaped(&self, key: &str, expected: &[usize]) -> Result<&RefTensor> {
        let t = self.get(key)?;
        if t.shape != expected {
            return Err(Qwen3Error::ReferenceShape {
                path: self.path.clone(),
                tensor: key.into(),
                expected: expected.to_vec(),
                found: t.shape.clone(),
            });
        }
        Ok(t)
    }

    /// The tensor `key` as a `[rows, cols]` matrix of token ids, each an integer in
    /// `0..vocab_size` or equal to `allowed` (e.g. -100 for ignored labels).
    /// [`Qwen3Error::InvalidReference`] names the field otherwise (another rank, an empty
    /// matrix, a fractional, negative or out-of-vocabulary value with its position).
    pub fn token_matrix(&self, key: &str, vocab_size: usize, allowed: Option<i64>) -> Result<TokenMatrix> {
        let t = self.get(key)?;
        let &[rows, cols] = t.shape.as_slice() else {
            return Err(self.invalid(
                key,
                format!("expected 2 dimensions [batch, tokens], found shape {:?}", t.shape),
            ));
        };
        if rows == 0 || cols == 0 {
            return Err(self.invalid(key, format!("is empty (shape {:?})", t.shape)));
        }
        let mut values = Vec::with_capacity(t.values.len());
        for (i, &v) in t.values.iter().enumerate() {
            let id = (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64);
            match id {
                Some(id) if Some(id) == allowed || (id >= 0 && (id as u64) < vocab_size as u64) => {
                    values.push(id)
                }
                _ => {
                    return Err(self.invalid(
                        key,
                        format!(
                            "value {v} at [{}, {}] is not a token id of the model (0..{vocab_size}{})",
                            i / cols,
                            i % cols,
                            allowed.map(|a| format!(" or {a}")).unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(TokenMatrix { rows, cols, values })
    }

    fn invalid(&self, field: &str, reason: String) -> Qwen3Error {
        Qwen3Error::InvalidReference {
            path: self.path.clone(),
            field: field.into(),
            reason,
        }
    }

    /// `input_ids`, validated against the model's vocabulary.
    pub fn input_ids(&self, vocab_size: usize) -> Result<TokenMatrix> {
        self.token_matrix("input_ids", vocab_size, None)
    }

    /// `padded_attention_mask`: shape `[batch, seq]` of `input_ids`, values 0 or 1.
    fn padded_mask(&self, batch: usize, seq: usize) -> Result<Vec<Vec<bool>>> {
        let key = "padded_attention_mask";
        let t = self.get_shaped(key, &[batch, seq])?;
        if let Some((i, v)) = t
            .values
            .iter()
            .enumerate()
            .find(|(_, v)| **v != 0.0 && **v != 1.0)
        {
            return Err(self.invalid(
                key,
                format!("value {v} at [{}, {}] is neither 0 nor 1", i / seq, i % seq),
            ));
        }
        Ok(t.values
            .chunks(seq)
            .map(|r| r.iter().map(|&v| v != 0.0).collect())
            .collect())
    }
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
///
/// Errors (never panics) when a reference tensor has another shape than the model's output
/// ([`Qwen3Error::ReferenceShape`]) or holds ids or mask values the model cannot take
/// ([`Qwen3Error::InvalidReference`]); non-finite values fail their check.
///
/// # Shapes
/// - `input_ids`: `[batch, seq]`; `logits`, `padded_logits`: `[batch, seq, vocab]`;
///   `hidden_state.N`: `[batch, seq, hidden]`; `padded_attention_mask`: `[batch, seq]`;
///   `greedy_prompt`: `[rows, prompt]`; `greedy_output`: `[rows, prompt + new]`
pub fn check_reference<B: Backend>(
    model: &Qwen3<B>,
    reference: &ReferenceFile,
    tolerance: f64,
) -> Result<Vec<ParityCheck>> {
    let device = model.embed_tokens.weight.device();
    let ids = reference.input_ids(model.config.vocab_size)?;
    let (batch, seq) = (ids.rows, ids.cols);
    let input = || Tensor::<B, 2, Int>::from_data(TensorData::new(ids.values.clone(), [batch, seq]), &device);
    let mut checks = Vec::new();

    // 1. Plain logits and every hidden state.
    // HF's hidden_states: the embeddings, then the output of each layer (the last after the
    // final norm). A key beyond them, or not numbered, would otherwise go unchecked.
    let states_given = model.layers.len() + 1;
    let mut state_keys: Vec<&String> = reference
        .tensors
        .keys()
        .chain(reference.unreadable.keys())
        .filter(|k| k.starts_with("hidden_state."))
        .collect();
    state_keys.sort();
    for key in state_keys {
        if !key["hidden_state.".len()..]
            .parse::<usize>()
            .is_ok_and(|n| n < states_given)
        {
            return Err(reference.invalid(
                key,
                format!(
                    "the model gives {states_given} hidden states, hidden_state.0 to hidden_state.{}",
                    states_given - 1
                ),
            ));
        }
    }
    let ctx = model.context_for(&input(), None);
    let mut states = Vec::new();
    let hidden = model.forward_hidden(input(), &ctx, None, Some(&mut states));
    let logits = model.logits(hidden);
    let dims = logits.dims().to_vec();
    let expected = reference.get_shaped("logits", &dims)?;
    checks.push(ParityCheck::compare(
        "logits",
        &to_vec(logits),
        &expected.values,
        |_| true,
        tolerance,
    ));
    for (n, state) in states.into_iter().enumerate() {
        let key = format!("hidden_state.{n}");
        if reference.has(&key) {
            let r = reference.get_shaped(&key, &state.dims())?;
            checks.push(ParityCheck::compare(
                key,
                &to_vec(state),
                &r.values,
                |_| true,
                tolerance,
            ));
        }
    }

    // 2. Left-padded logits, compared only at real tokens.
    if reference.has("padded_attention_mask") {
        let mask = reference.padded_mask(batch, seq)?;
        let logits = model.forward(input(), Some(&mask));
        let dims = logits.dims();
        let expected = reference.get_shaped("padded_logits", &dims)?;
        let vocab = dims[2];
        let flat_mask: Vec<bool> = mask.concat();
        checks.push(ParityCheck::compare(
            "padded_logits",
            &to_vec(logits),
            &expected.values,
            |i| flat_mask[i / vocab],
            tolerance,
        ));
    }

    // 3. Greedy decoding with the KV cache, token for token.
    if reference.has("greedy_prompt") || reference.has("greedy_output") {
        let vocab = model.config.vocab_size;
        let prompts = reference.token_matrix("greedy_prompt", vocab, None)?;
        let outputs = reference.token_matrix("greedy_output", vocab, None)?;
        if outputs.rows != prompts.rows {
            return Err(Qwen3Error::ReferenceShape {
                path: reference.path.clone(),
                tensor: "greedy_output".into(),
                expected: vec![prompts.rows, outputs.cols],
                found: vec![outputs.rows, outputs.cols],
            });
        }
        if outputs.cols <= prompts.cols {
            return Err(Qwen3Error::InvalidReference {
                path: reference.path.clone(),
                field: "greedy_output".into(),
                reason: format!(
                    "has {} tokens per row, not more than the {} of `greedy_prompt`: no generated token to compare",
                    outputs.cols, prompts.cols
                ),
            });
        }
        let (prompts, outputs) = (prompts.to_rows(), outputs.to_rows());
        let new_tokens = outputs[0].len() - prompts[0].len();
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
        checks.push(ParityCheck::new("greedy_output", differing as f64, 0.0));
    }
    Ok(checks)
}
