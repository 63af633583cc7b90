//! [`Qwen3Config`]: the architecture hyper-parameters, read from an HF `config.json`
//! (transformers 4.x or 5.x layout) or taken from a preset of a published Qwen3 size.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Qwen3Error, Result};

/// Hyper-parameters of a Qwen3 decoder, as in transformers' `Qwen3Config`.
///
/// Only settings this implementation computes exactly are representable; anything else
/// (sliding window, rope scaling, attention bias, another activation) is rejected by
/// [`Qwen3Config::from_json_str`] with [`Qwen3Error::Unsupported`].
#[derive(Debug, Clone, PartialEq)]
pub struct Qwen3Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Width of one attention head; may differ from `hidden_size / num_attention_heads`.
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    /// `true`: the LM head reuses `model.embed_tokens.weight` and the checkpoint has no `lm_head.weight`.
    pub tie_word_embeddings: bool,
    /// The dtype the checkpoint was saved in (`torch_dtype` in 4.x, `dtype` in 5.x), if stated.
    pub storage_dtype: Option<String>,
    /// End-of-sequence token ids declared by the config (may be empty).
    pub eos_token_ids: Vec<u32>,
}

/// Largest accepted value of any size field of `config.json`.
pub const MAX_DIMENSION: usize = 1 << 24;
/// Largest accepted parameter count (2^40 ≈ 1.1 T; Qwen3's largest dense model has 32 B).
pub const MAX_PARAMETERS: usize = 1 << 40;

impl Qwen3Config {
    /// Number of parameters (embeddings counted once when tied), or `None` on overflow.
    pub fn parameter_count(&self) -> Option<usize> {
        let (h, i, hd) = (self.hidden_size, self.intermediate_size, self.head_dim);
        let q = self.num_attention_heads.checked_mul(hd)?;
        let kv = self.num_key_value_heads.checked_mul(hd)?;
        // q, k, v, o; gate, up, down; four norms
        let attention = h.checked_mul(q.checked_mul(2)?.checked_add(kv.checked_mul(2)?)?)?;
        let mlp = h.checked_mul(i)?.checked_mul(3)?;
        let norms = h.checked_mul(2)?.checked_add(hd.checked_mul(2)?)?;
        let layer = attention.checked_add(mlp)?.checked_add(norms)?;
        let embed = self.vocab_size.checked_mul(h)?;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        layer
            .checked_mul(self.num_hidden_layers)?
            .checked_add(embed)?
            .checked_add(head)?
            .checked_add(h)
    }

    fn preset(
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        tie_word_embeddings: bool,
    ) -> Self {
        Self {
            vocab_size: 151_936,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads: 8,
            head_dim: 128,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            max_position_embeddings: 40_960,
            tie_word_embeddings,
            storage_dtype: Some("bfloat16".into()),
            eos_token_ids: vec![151_645],
        }
    }

    /// Qwen3-0.6B: hidden 1024, intermediate 3072, 28 layers, 16 heads, tied embeddings.
    pub fn qwen3_0_6b() -> Self {
        Self::preset(1024, 3072, 28, 16, true)
    }

    /// Qwen3-1.7B: hidden 2048, intermediate 6144, 28 layers, 16 heads, tied embeddings.
    pub fn qwen3_1_7b() -> Self {
        Self::preset(2048, 6144, 28, 16, true)
    }

    /// Qwen3-4B: hidden 2560, intermediate 9728, 36 layers, 32 heads, tied embeddings.
    pub fn qwen3_4b() -> Self {
        Self::preset(2560, 9728, 36, 32, true)
    }

    /// Qwen3-8B: hidden 4096, intermediate 12288, 36 layers, 32 heads, untied LM head.
    pub fn qwen3_8b() -> Self {
        Self::preset(4096, 12288, 36, 32, false)
    }

    /// Number of query heads sharing one key/value head (grouped-query attention).
    pub fn kv_group_size(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Reads and validates `path` (an HF `config.json`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Qwen3Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses a `config.json` text; `path` only names the source in errors.
    ///
    /// Accepts transformers 4.x (`rope_theta`, `torch_dtype`, `rope_scaling`) and 5.x
    /// (`rope_parameters: {rope_theta, rope_type}`, `dtype`) layouts.
    pub fn from_json_str(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let value: Value = serde_json::from_str(text).map_err(|source| Qwen3Error::Json {
            path: path.clone(),
            source,
        })?;
        let Some(obj) = value.as_object() else {
            return Err(unsupported(
                &path,
                "<root>",
                &value,
                "config.json must be a JSON object",
            ));
        };
        let fields = Fields { obj, path: &path };

        // 1. Reject what we do not compute exactly.
        if let Some(v) = fields.get("model_type")
            && v.as_str() != Some("qwen3")
        {
            return Err(unsupported(&path, "model_type", v, "only `qwen3` is implemented"));
        }
        if let Some(v) = fields.get("hidden_act")
            && v.as_str() != Some("silu")
        {
            return Err(unsupported(&path, "hidden_act", v, "Qwen3 uses `silu`"));
        }
        if let Some(v) = fields.get("attention_bias")
            && v.as_bool() != Some(false)
        {
            return Err(unsupported(
                &path,
                "attention_bias",
                v,
                "projection biases are not implemented",
            ));
        }
        if let Some(v) = fields.get("use_sliding_window")
            && v.as_bool() != Some(false)
        {
            return Err(unsupported(
                &path,
                "use_sliding_window",
                v,
                "sliding-window attention is not implemented",
            ));
        }
        if let Some(Value::Array(types)) = fields.get("layer_types")
            && let Some(bad) = types.iter().find(|t| t.as_str() != Some("full_attention"))
        {
            return Err(unsupported(
                &path,
                "layer_types",
                bad,
                "only `full_attention` layers are implemented",
            ));
        }

        // 2. RoPE: 5.x `rope_parameters` or 4.x `rope_theta` + `rope_scaling`.
        let rope_theta = match fields.get("rope_parameters") {
            Some(Value::Object(params)) => {
                let rope = Fields {
                    obj: params,
                    path: &path,
                };
                check_rope_type(&path, "rope_parameters.rope_type", rope.get("rope_type"))?;
                rope.req_f64("rope_theta")
                    .map_err(|e| prefix_field(e, "rope_parameters."))?
            }
            Some(other) if !other.is_null() => {
                return Err(unsupported(&path, "rope_parameters", other, "expected an object"));
            }
            _ => {
                match fields.get("rope_scaling") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(scaling)) => {
                        let kind = scaling.get("rope_type").or_else(|| scaling.get("type"));
                        check_rope_type(&path, "rope_scaling.rope_type", kind)?;
                    }
                    Some(other) => {
                        return Err(unsupported(
                            &path,
                            "rope_scaling",
                            other,
                            "expected null or an object",
                        ));
                    }
                }
                fields.req_f64("rope_theta")?
            }
        };

        // 3. Shapes.
        let hidden_size = fields.req_usize("hidden_size")?;
        let num_attention_heads = fields.req_usize("num_attention_heads")?;
        let num_key_value_heads = match fields.get("num_key_value_heads") {
            None | Some(Value::Null) => num_attention_heads,
            Some(_) => fields.req_usize("num_key_value_heads")?,
        };
        let head_dim = match fields.get("head_dim") {
            None | Some(Value::Null) => hidden_size / num_attention_heads.max(1),
            Some(_) => fields.req_usize("head_dim")?,
        };
        let config = Self {
            vocab_size: fields.req_usize("vocab_size")?,
            hidden_size,
            intermediate_size: fields.req_usize("intermediate_size")?,
            num_hidden_layers: fields.req_usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: fields.req_f64("rms_norm_eps")?,
            rope_theta,
            max_position_embeddings: fields.opt_usize("max_position_embeddings")?.unwrap_or(40_960),
            tie_word_embeddings: match fields.get("tie_word_embeddings") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(unsupported(
                        &path,
                        "tie_word_embeddings",
                        other,
                        "expected a boolean",
                    ));
                }
            },
            storage_dtype: fields
                .get("dtype")
                .or_else(|| fields.get("torch_dtype"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            eos_token_ids: match fields.get("eos_token_id") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(ids)) => ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| token_id(&path, &format!("eos_token_id[{i}]"), id))
                    .collect::<Result<_>>()?,
                Some(id) => vec![token_id(&path, "eos_token_id", id)?],
            },
        };
        config.validate(&path)?;
        Ok(config)
    }

    /// Checks the relations between sizes (non-zero, bounded, heads divisible by kv heads, even
    /// head_dim) and that `rms_norm_eps` and `rope_theta` are positive and finite; every error
    /// names `path` and the field.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
        ];
        for (field, value) in positive {
            // No published model comes near 2^24 in any dimension; bounding them keeps a hostile
            // config.json from overflowing shape arithmetic or allocating without bound.
            if value > MAX_DIMENSION {
                return Err(Qwen3Error::Unsupported {
                    path: path.to_path_buf(),
                    field: field.into(),
                    value: value.to_string(),
                    reason: format!("larger than {MAX_DIMENSION}, beyond any Qwen3 model"),
                });
            }
            if value == 0 {
                return Err(Qwen3Error::Unsupported {
                    path: path.to_path_buf(),
                    field: field.into(),
                    value: "0".into(),
                    reason: "must be positive".into(),
                });
            }
        }
        if self.parameter_count().is_none_or(|n| n > MAX_PARAMETERS) {
            return Err(Qwen3Error::Unsupported {
                path: path.to_path_buf(),
                field: "(sizes)".into(),
                value: format!("{:?}", self.parameter_count()),
                reason: format!("the model would have more than {MAX_PARAMETERS} parameters"),
            });
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(Qwen3Error::Unsupported {
                path: path.to_path_buf(),
                field: "num_key_value_heads".into(),
                value: self.num_key_value_heads.to_string(),
                reason: format!("must divide num_attention_heads = {}", self.num_attention_heads),
            });
        }
        // RMSNorm divides by sqrt(mean(x²) + eps): eps ≤ 0 gives NaN (or ∞ on a zero row);
        // RoPE raises theta to fractional powers: theta ≤ 0 gives NaN frequencies.
        for (field, value) in [
            ("rms_norm_eps", self.rms_norm_eps),
            ("rope_theta", self.rope_theta),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Qwen3Error::Unsupported {
                    path: path.to_path_buf(),
                    field: field.into(),
                    value: value.to_string(),
                    reason: "must be a positive finite number (anything else makes the model output NaN)"
                        .into(),
                });
            }
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(Qwen3Error::Unsupported {
                path: path.to_path_buf(),
                field: "head_dim".into(),
                value: self.head_dim.to_string(),
                reason: "rotary embeddings need an even head_dim".into(),
            });
        }
        Ok(())
    }
}

impl Qwen3Config {
    /// Refuses a tokenizer whose largest token id (special tokens included) is not below
    /// `vocab_size`: such ids index past the embedding. `config_path` and `tokenizer_path` only
    /// name the two sides in the error ([`Qwen3Error::TokenizerVocabMismatch`]).
    /// [`crate::Qwen3Tokenizer::check_fits`] calls this with the tokenizer's own largest id.
    ///
    /// ```
    /// use spec_actions_qwen3::Qwen3Config;
    ///
    /// let config = Qwen3Config::qwen3_0_6b(); // vocab_size 151,936
    /// assert!(config.check_token_ids_fit("config.json".as_ref(), "tokenizer.json".as_ref(), 151_668).is_ok());
    /// assert!(config.check_token_ids_fit("config.json".as_ref(), "tokenizer.json".as_ref(), 151_936).is_err());
    /// ```
    pub fn check_token_ids_fit(
        &self,
        config_path: &Path,
        tokenizer_path: &Path,
        max_token_id: u32,
    ) -> Result<()> {
        if usize::try_from(max_token_id).is_ok_and(|id| id < self.vocab_size) {
            return Ok(());
        }
        Err(Qwen3Error::TokenizerVocabMismatch {
            tokenizer: tokenizer_path.to_path_buf(),
            max_token_id,
            config: config_path.to_path_buf(),
            vocab_size: self.vocab_size,
        })
    }
}

fn check_rope_type(path: &Path, field: &str, kind: Option<&Value>) -> Result<()> {
    match kind {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_str() == Some("default") => Ok(()),
        Some(v) => Err(unsupported(
            path,
            field,
            v,
            "only the `default` rope type is implemented",
        )),
    }
}

/// A token id: an integer in `0..=u32::MAX` (never truncated, never rounded).
fn token_id(path: &Path, field: &str, value: &Value) -> Result<u32> {
    value
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| {
            unsupported(
                path,
                field,
                value,
                "expected a token id: an integer from 0 to 4294967295",
            )
        })
}

fn unsupported(path: &Path, field: &str, value: &Value, reason: &str) -> Qwen3Error {
    Qwen3Error::Unsupported {
        path: path.to_path_buf(),
        field: field.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn prefix_field(error: Qwen3Error, prefix: &str) -> Qwen3Error {
    match error {
        Qwen3Error::MissingField { path, field } => Qwen3Error::MissingField {
            path,
            field: format!("{prefix}{field}"),
        },
        other => other,
    }
}

/// A JSON object with the path it came from, for typed field access with named errors.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: &'a PathBuf,
}

impl Fields<'_> {
    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field)
    }

    fn missing(&self, field: &str) -> Qwen3Error {
        Qwen3Error::MissingField {
            path: self.path.clone(),
            field: field.into(),
        }
    }

    fn req_usize(&self, field: &str) -> Result<usize> {
        self.opt_usize(field)?.ok_or_else(|| self.missing(field))
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| unsupported(self.path, field, v, "expected a non-negative integer")),
        }
    }

    fn req_f64(&self, field: &str) -> Result<f64> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Err(self.missing(field)),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| unsupported(self.path, field, v, "expected a number")),
        }
    }
}
