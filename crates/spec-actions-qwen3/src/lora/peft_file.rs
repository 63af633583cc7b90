//! PEFT's adapter folder: `adapter_config.json` + `adapter_model.safetensors`, with key names
//! `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` etc. — read and written so
//! that `PeftModel.from_pretrained` loads what we save and we load what PEFT saves.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::{LoraConfig, LoraError};
use crate::model::tensor_names::{LAYERS, LoraTarget, layer_prefix};

/// What PEFT puts before a base model's tensor name in an adapter key
/// (`base_model.model.` + `model.layers.0.self_attn.q_proj` + `.lora_A.weight`).
const PEFT_PREFIX: &str = "base_model.model.";

/// File name of the adapter's hyper-parameters.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// File name of the adapter's weights.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// Where one adapter sits: decoder layer and projection name (`q_proj`, …, `down_proj`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdapterSite {
    pub layer: usize,
    pub module: &'static str,
}

impl AdapterSite {
    /// The site of projection `target` in decoder layer `layer`.
    pub fn new(layer: usize, target: LoraTarget) -> Self {
        AdapterSite {
            layer,
            module: target.module(),
        }
    }

    /// The projection this site names; `None` when `module` is not one of
    /// [`QWEN3_PROJECTIONS`](super::QWEN3_PROJECTIONS) (a site built by hand).
    pub fn target(&self) -> Option<LoraTarget> {
        LoraTarget::from_module(self.module).ok()
    }

    /// The sub-module holding the projection: `self_attn` or `mlp`.
    pub fn block(&self) -> &'static str {
        self.target().map_or("self_attn", LoraTarget::block)
    }

    /// PEFT's key of the `A` (`which = 'A'`) or `B` matrix, as saved in adapter files.
    pub fn peft_key(&self, which: char) -> String {
        format!(
            "{PEFT_PREFIX}{}.{}.{}.lora_{which}.weight",
            layer_prefix(self.layer),
            self.block(),
            self.module
        )
    }

    /// Parses a saved key back into a site and `'A'`/`'B'`. Accepts PEFT's in-memory names
    /// too (with the adapter name, e.g. `.lora_A.default.weight`).
    pub fn parse_key(key: &str) -> Option<(AdapterSite, char)> {
        let rest = key.strip_prefix(PEFT_PREFIX)?.strip_prefix(LAYERS)?;
        let (layer, rest) = rest.strip_prefix('.')?.split_once('.')?;
        let layer = layer.parse().ok()?;
        let (block, rest) = rest.split_once('.')?;
        let (module, rest) = rest.split_once('.')?;
        let target = LoraTarget::from_module(module).ok()?;
        let site = AdapterSite::new(layer, target);
        if target.block() != block {
            return None;
        }
        let (matrix, tail) = rest.split_once('.')?;
        let which = match matrix {
            "lora_A" => 'A',
            "lora_B" => 'B',
            _ => return None,
        };
        let adapter_name_ok = |name: &str| !name.is_empty() && !name.contains('.');
        if tail != "weight" && !tail.strip_suffix(".weight").is_some_and(adapter_name_ok) {
            return None;
        }
        Some((site, which))
    }
}

/// A matrix as f32 values (row-major) and its `[rows, cols]` shape.
pub type Matrix = (Vec<f32>, [usize; 2]);

/// One adapter's two matrices as f32 values in PEFT's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterMatrices {
    /// `[r, d_input]`
    pub a: Matrix,
    /// `[d_output, r]`
    pub b: Matrix,
}

/// An adapter folder's content, checked for consistency with its own config (not yet with a model).
#[derive(Debug, Clone)]
pub struct PeftAdapter {
    pub config: LoraConfig,
    pub sites: BTreeMap<AdapterSite, AdapterMatrices>,
}

impl PeftAdapter {
    /// Reads `dir/adapter_config.json` and `dir/adapter_model.safetensors`. Every key that is
    /// not a LoRA matrix of a targeted projection, every A without its B, and every matrix
    /// whose rank disagrees with `r` is reported together in one error.
    pub fn read(dir: &Path) -> Result<Self, LoraError> {
        let config = LoraConfig::from_adapter_config(&dir.join(ADAPTER_CONFIG))?;
        let path = dir.join(ADAPTER_WEIGHTS);
        let bytes = std::fs::read(&path).map_err(|source| LoraError::Io {
            path: path.clone(),
            source,
        })?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| LoraError::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;

        let mut problems = Vec::new();
        let mut halves: BTreeMap<AdapterSite, (Option<Matrix>, Option<Matrix>)> = BTreeMap::new();
        // Every LoRA key in the file, read or not: one that is present but unusable (a dtype,
        // a shape) is reported once, for what it is, never also as missing.
        let mut present = std::collections::BTreeSet::new();
        for (name, view) in st.tensors() {
            let Some((site, which)) = AdapterSite::parse_key(&name) else {
                problems.push(format!("unexpected tensor `{name}`"));
                continue;
            };
            present.insert((site.clone(), which));
            if !config.targets(site.module) {
                problems.push(format!(
                    "tensor `{name}` is for `{}`, which target_modules does not list",
                    site.module
                ));
                continue;
            }
            let shape = view.shape();
            let [rows, cols] = match shape {
                [r, c] => [*r, *c],
                _ => {
                    problems.push(format!(
                        "tensor `{name}` has shape {shape:?}, expected 2 dimensions"
                    ));
                    continue;
                }
            };
            let rank = if which == 'A' { rows } else { cols };
            if rank != config.r {
                problems.push(format!(
                    "tensor `{name}` has shape {shape:?}: rank {rank} but r = {}",
                    config.r
                ));
                continue;
            }
            let Some(values) = to_f32(view.dtype(), view.data()) else {
                problems.push(format!(
                    "tensor `{name}` is stored as {:?}; only F32, BF16, F16 are read",
                    view.dtype()
                ));
                continue;
            };
            let entry = halves.entry(site).or_default();
            let slot = if which == 'A' { &mut entry.0 } else { &mut entry.1 };
            *slot = Some((values, [rows, cols]));
        }
        let mut sites = BTreeMap::new();
        for (site, pair) in halves {
            match pair {
                (Some(a), Some(b)) => {
                    sites.insert(site, AdapterMatrices { a, b });
                }
                (a, _) => {
                    let missing = if a.is_none() { 'A' } else { 'B' };
                    if !present.contains(&(site.clone(), missing)) {
                        problems.push(format!("missing tensor `{}`", site.peft_key(missing)));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(LoraError::Tensors { path, problems });
        }
        Ok(PeftAdapter { config, sites })
    }

    /// Writes the folder as a whole ([`spec_actions_core::io::atomic_write_dir`]): the weights
    /// (f32, metadata `format: pt`) and the config appear together or not at all.
    pub fn write(&self, dir: &Path) -> Result<(), LoraError> {
        let mut views = Vec::with_capacity(self.sites.len() * 2);
        let le = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        for (site, m) in &self.sites {
            views.push((site.peft_key('A'), m.a.1, le(&m.a.0)));
            views.push((site.peft_key('B'), m.b.1, le(&m.b.0)));
        }
        let path = dir.join(ADAPTER_WEIGHTS);
        let tensors = views
            .iter()
            .map(|(name, shape, data)| {
                safetensors::tensor::TensorView::new(Dtype::F32, shape.to_vec(), data)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| LoraError::Safetensors {
                        path: path.clone(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = Some([("format".to_string(), "pt".to_string())].into_iter().collect());
        let bytes = safetensors::serialize(tensors, metadata).map_err(|e| LoraError::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let config_text =
            serde_json::to_string_pretty(&self.config.to_adapter_config_json()).map_err(|e| {
                LoraError::Config {
                    path: dir.join(ADAPTER_CONFIG),
                    field: "(json)".into(),
                    reason: e.to_string(),
                }
            })?;
        // One folder: the weights never appear without their config (or the reverse).
        spec_actions_core::io::atomic_write_dir(dir, |tmp| {
            spec_actions_core::io::atomic_write_bytes(&tmp.join(ADAPTER_WEIGHTS), &bytes)?;
            spec_actions_core::io::atomic_write_bytes(&tmp.join(ADAPTER_CONFIG), config_text.as_bytes())
        })
        .map_err(|e: spec_actions_core::io::FileError| {
            LoraError::Write(spec_actions_core::io::FileError::new(
                e.op,
                crate::hf_save::named_in(dir, &e.path),
                e.source,
            ))
        })
    }
}

/// Little-endian f32/bf16/f16 bytes to f32 values (`None` for other dtypes).
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    crate::loader::to_f32(dtype, bytes)
}
