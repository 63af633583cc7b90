//! LoRA that PEFT recognises: [`LoraConfig`] (PEFT's `adapter_config.json`), [`LoraAdapter`]
//! (the trainable low-rank path of one projection), [`PeftAdapter`] (PEFT's adapter folder),
//! and the model-level operations — attach fresh adapters, load / save a PEFT folder, merge and
//! unmerge.
//!
//! Base weights are frozen when adapters are attached: they carry no gradient and get no
//! optimizer state; only `lora_A` / `lora_B` train. Adapters are f32 ([`LORA_DTYPE`]) whatever
//! the base model's compute dtype (bf16 on a GPU: see [`crate::model::precision`]); merging one
//! into a bf16 base adds in f32 and rounds once, as PEFT does.

mod adapter;
mod config;
mod parity;
mod peft_file;

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;

pub use crate::model::tensor_names::QWEN3_PROJECTIONS;
pub use adapter::{LORA_DTYPE, LoraAdapter};
pub use config::LoraConfig;
pub use parity::{causal_lm_loss_full, check_lora_reference, mean_label_nll};
pub use peft_file::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterMatrices, AdapterSite, PeftAdapter};

use crate::model::{LoraTarget, Projection, Qwen3};

/// Errors of adapter files and of fitting an adapter to a model.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] spec_actions_core::io::FileError),
    #[error("{path}: field `{field}`: {reason}")]
    Config {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("invalid safetensors file {path}: {message}")]
    Safetensors { path: PathBuf, message: String },
    /// Tensors of an adapter file that do not fit (its config, or the model): all listed.
    #[error("adapter {path} does not fit ({} problem(s)):\n  {}", problems.len(), problems.join("\n  "))]
    Tensors { path: PathBuf, problems: Vec<String> },
}

impl<B: Backend> Projection<B> {
    /// Whether a LoRA adapter is attached (merged or not).
    pub fn has_lora(&self) -> bool {
        self.lora.is_some()
    }
}

impl<B: Backend> Qwen3<B> {
    /// Every LoRA-capable projection with its site, in layer order.
    pub fn projections_mut(&mut self) -> Vec<(AdapterSite, &mut Projection<B>)> {
        let mut out = Vec::with_capacity(self.layers.len() * LoraTarget::ALL.len());
        for (layer, l) in self.layers.iter_mut().enumerate() {
            for (target, p) in l.projections_mut() {
                out.push((AdapterSite::new(layer, target), p));
            }
        }
        out
    }

    /// Read-only [`Qwen3::projections_mut`].
    pub fn projections(&self) -> Vec<(AdapterSite, &Projection<B>)> {
        let mut out = Vec::with_capacity(self.layers.len() * LoraTarget::ALL.len());
        for (layer, l) in self.layers.iter().enumerate() {
            for target in LoraTarget::ALL {
                out.push((AdapterSite::new(layer, target), l.projection(target)));
            }
        }
        out
    }

    /// Freezes every base weight and attaches freshly initialised adapters (PEFT's init:
    /// kaiming-uniform `A`, zero `B`) to the projections `config` targets.
    pub fn with_new_lora(mut self, config: &LoraConfig) -> Self {
        self = self.no_grad();
        let device = self.embed_tokens.weight.device();
        for (site, proj) in self.projections_mut() {
            if config.targets(site.module) {
                let [d_in, d_out] = proj.dims();
                proj.lora = Some(LoraAdapter::init(config, d_in, d_out, &device));
            }
        }
        self
    }

    /// Freezes every base weight and attaches the adapters of a PEFT folder. Adapters whose
    /// layer does not exist or whose shapes disagree with the projection are all reported.
    pub fn with_peft_adapter(mut self, dir: &Path) -> Result<Self, LoraError> {
        let adapter = PeftAdapter::read(dir)?;
        self = self.no_grad();
        let device = self.embed_tokens.weight.device();
        let layers = self.layers.len();
        let mut problems: Vec<String> = adapter
            .sites
            .keys()
            .filter(|s| s.layer >= layers)
            .map(|s| format!("`{}`: the model has {layers} layers", s.peft_key('A')))
            .collect();
        let mut pending = Vec::new();
        for (site, proj) in self.projections_mut() {
            let Some(m) = adapter.sites.get(&site) else {
                continue;
            };
            let [d_in, d_out] = proj.dims();
            let (want_a, want_b) = ([adapter.config.r, d_in], [d_out, adapter.config.r]);
            if m.a.1 != want_a || m.b.1 != want_b {
                problems.push(format!(
                    "`{}`: A {:?} / B {:?}, but the projection needs A {want_a:?} / B {want_b:?}",
                    site.peft_key('A'),
                    m.a.1,
                    m.b.1
                ));
                continue;
            }
            pending.push((proj, m));
        }
        if !problems.is_empty() {
            return Err(LoraError::Tensors {
                path: dir.join(ADAPTER_WEIGHTS),
                problems,
            });
        }
        for (proj, m) in pending {
            let f32 = (&device, burn::tensor::DType::from(LORA_DTYPE));
            let a = Tensor::from_data(TensorData::new(m.a.0.clone(), m.a.1), f32);
            let b = Tensor::from_data(TensorData::new(m.b.0.clone(), m.b.1), f32);
            proj.lora = Some(LoraAdapter::from_weights(&adapter.config, a, b));
        }
        Ok(self)
    }

    /// The attached adapters as a PEFT folder's content (for [`PeftAdapter::write`]).
    pub fn peft_adapter(&self, config: &LoraConfig) -> PeftAdapter {
        let sites = self
            .projections()
            .into_iter()
            .filter_map(|(site, proj)| {
                let lora = proj.lora.as_ref()?;
                let matrix = |p: &Param<Tensor<B, 2>>| {
                    let t = p.val();
                    let [r, c] = t.dims();
                    (
                        t.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default(),
                        [r, c],
                    )
                };
                Some((
                    site,
                    AdapterMatrices {
                        a: matrix(&lora.lora_a),
                        b: matrix(&lora.lora_b),
                    },
                ))
            })
            .collect();
        PeftAdapter {
            config: config.clone(),
            sites,
        }
    }

    /// Folds every attached adapter into its base weight (`W += (B·A)ᵀ·scale`); the adapters
    /// stay attached but inactive, so [`Qwen3::unmerge_lora`] can undo it. Idempotent.
    pub fn merge_lora(mut self) -> Self {
        for (_, proj) in self.projections_mut() {
            proj.merge();
        }
        self
    }

    /// Undoes [`Qwen3::merge_lora`]. Idempotent.
    pub fn unmerge_lora(mut self) -> Self {
        for (_, proj) in self.projections_mut() {
            proj.unmerge();
        }
        self
    }
}
