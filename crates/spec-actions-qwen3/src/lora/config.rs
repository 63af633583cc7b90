//! [`LoraConfig`]: the adapter's hyper-parameters, read from and written to PEFT's
//! `adapter_config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::LoraError;
use crate::model::tensor_names::{LoraTarget, QWEN3_PROJECTIONS};

/// Hyper-parameters of a LoRA adapter, with PEFT's meaning.
///
/// `scale = lora_alpha / r`, or `lora_alpha / √r` with rsLoRA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank of the update.
    pub r: usize,
    pub lora_alpha: f64,
    /// Dropout on the adapter's input during training (0 = none).
    #[serde(default)]
    pub lora_dropout: f64,
    /// Module names the adapter wraps (subset of [`QWEN3_PROJECTIONS`]).
    pub target_modules: Vec<String>,
    /// rsLoRA scaling (`alpha / √r`).
    #[serde(default)]
    pub use_rslora: bool,
    /// The base checkpoint it was trained on (PEFT's `base_model_name_or_path`).
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
}

impl Default for LoraConfig {
    /// r 16, alpha 32, no dropout, all seven projections.
    fn default() -> Self {
        LoraConfig {
            r: 16,
            lora_alpha: 32.0,
            lora_dropout: 0.0,
            target_modules: QWEN3_PROJECTIONS.iter().map(|s| s.to_string()).collect(),
            use_rslora: false,
            base_model_name_or_path: None,
        }
    }
}

impl LoraConfig {
    pub fn new(r: usize, lora_alpha: f64) -> Self {
        LoraConfig {
            r,
            lora_alpha,
            ..Default::default()
        }
    }

    pub fn with_dropout(mut self, p: f64) -> Self {
        self.lora_dropout = p;
        self
    }

    pub fn with_target_modules(mut self, modules: &[&str]) -> Self {
        self.target_modules = modules.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn with_rslora(mut self, on: bool) -> Self {
        self.use_rslora = on;
        self
    }

    /// Multiplier of the low-rank path.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// Whether projection `module` (e.g. `q_proj`) carries an adapter.
    pub fn targets(&self, module: &str) -> bool {
        self.target_modules.iter().any(|m| m == module)
    }

    /// Read PEFT's `adapter_config.json`. Settings this implementation does not support
    /// (DoRA, per-module ranks or alphas, biases, `modules_to_save`, layer subsets,
    /// `fan_in_fan_out`, another PEFT type) are an error, never silently ignored.
    pub fn from_adapter_config(path: &Path) -> Result<Self, LoraError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoraError::Io {
            path: path.into(),
            source: e,
        })?;
        Self::from_adapter_config_str(&text, path)
    }

    /// [`LoraConfig::from_adapter_config`] on a string; `path` only names the source in errors.
    pub fn from_adapter_config_str(text: &str, path: &Path) -> Result<Self, LoraError> {
        let bad = |field: &str, reason: String| LoraError::Config {
            path: path.into(),
            field: field.into(),
            reason,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| bad("(json)", e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("(json)", "not a JSON object".into()))?;

        let peft_type = obj.get("peft_type").and_then(Value::as_str).unwrap_or("LORA");
        if peft_type != "LORA" {
            return Err(bad(
                "peft_type",
                format!("{peft_type:?} is not supported (only LORA)"),
            ));
        }
        let r = obj
            .get("r")
            .and_then(Value::as_u64)
            .filter(|&r| r > 0)
            .ok_or_else(|| bad("r", "missing or not a positive integer".into()))? as usize;
        let lora_alpha = obj
            .get("lora_alpha")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("lora_alpha", "missing or not a number".into()))?;
        let lora_dropout = match obj.get("lora_dropout") {
            None | Some(Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .filter(|p| (0.0..1.0).contains(p))
                .ok_or_else(|| bad("lora_dropout", format!("{v} is not a probability in [0, 1)")))?,
        };
        let target_modules = match obj.get("target_modules") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad("target_modules", format!("{m} is not a string")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::String(s)) if s == "all-linear" => {
                QWEN3_PROJECTIONS.iter().map(|s| s.to_string()).collect()
            }
            Some(other) => {
                return Err(bad(
                    "target_modules",
                    format!("{other} is not a list of module names"),
                ));
            }
            None => return Err(bad("target_modules", "missing".into())),
        };
        if let Some(Err(unknown)) = target_modules
            .iter()
            .map(|m| LoraTarget::from_module(m))
            .find(Result::is_err)
        {
            return Err(bad("target_modules", unknown.to_string()));
        }
        let flag = |name: &str| obj.get(name).and_then(Value::as_bool).unwrap_or(false);
        let non_empty = |name: &str| match obj.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Object(m)) => !m.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        for unsupported in [
            "use_dora",
            "fan_in_fan_out",
            "lora_bias",
            "use_qalora",
            "use_bdlora",
        ] {
            if flag(unsupported) {
                return Err(bad(unsupported, "is true; not supported".into()));
            }
        }
        for unsupported in [
            "rank_pattern",
            "alpha_pattern",
            "modules_to_save",
            "layers_to_transform",
            "layer_replication",
            "trainable_token_indices",
            "exclude_modules",
        ] {
            if non_empty(unsupported) {
                return Err(bad(unsupported, "is set; not supported".into()));
            }
        }
        match obj.get("bias").and_then(Value::as_str) {
            None | Some("none") => {}
            Some(b) => return Err(bad("bias", format!("{b:?} is not supported (only \"none\")"))),
        }
        Ok(LoraConfig {
            r,
            lora_alpha,
            lora_dropout,
            target_modules,
            use_rslora: flag("use_rslora"),
            base_model_name_or_path: obj
                .get("base_model_name_or_path")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// PEFT's `adapter_config.json` for this adapter (the fields `LoraConfig.from_pretrained`
    /// reads; PEFT fills the rest with its defaults).
    pub fn to_adapter_config_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("peft_type".into(), "LORA".into());
        m.insert("task_type".into(), "CAUSAL_LM".into());
        m.insert(
            "base_model_name_or_path".into(),
            self.base_model_name_or_path.clone().into(),
        );
        m.insert("r".into(), self.r.into());
        m.insert("lora_alpha".into(), self.lora_alpha.into());
        m.insert("lora_dropout".into(), self.lora_dropout.into());
        m.insert("target_modules".into(), self.target_modules.clone().into());
        m.insert("use_rslora".into(), self.use_rslora.into());
        m.insert("use_dora".into(), false.into());
        m.insert("bias".into(), "none".into());
        m.insert("fan_in_fan_out".into(), false.into());
        m.insert("inference_mode".into(), true.into());
        m.insert("init_lora_weights".into(), true.into());
        m.insert("modules_to_save".into(), Value::Null);
        m.insert("layers_to_transform".into(), Value::Null);
        m.insert("rank_pattern".into(), Value::Object(Map::new()));
        m.insert("alpha_pattern".into(), Value::Object(Map::new()));
        Value::Object(m)
    }
}
