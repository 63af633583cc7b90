//! The one table of a Qwen3 checkpoint's HF tensor names and shapes: the token embedding,
//! per decoder layer the seven projections ([`LoraTarget`], the modules LoRA can wrap) and the
//! four norms ([`DecoderNorm`]), the final norm and the untied LM head.
//!
//! Building a model ([`Qwen3Config::init_with`](crate::Qwen3Config::init_with), which the
//! loaders drive), saving it ([`Qwen3::hf_tensors`](crate::Qwen3::hf_tensors)), training every
//! weight by name ([`Qwen3::hf_weights_mut`]) and PEFT's adapter keys
//! ([`AdapterSite`](crate::lora::AdapterSite)) all walk this table; nothing else spells a
//! tensor name.

use std::fmt;

use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DecoderLayer, Projection, Qwen3, RmsNorm};
use crate::config::Qwen3Config;

/// HF name of the token embedding `[vocab, hidden]` (the LM head too when tied).
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";
/// HF name of the final norm's gain `[hidden]`.
pub const FINAL_NORM: &str = "model.norm.weight";
/// HF name of the untied LM head `[vocab, hidden]`.
pub const LM_HEAD: &str = "lm_head.weight";
/// HF name of a `Qwen3ForSequenceClassification`'s scalar head `[1, hidden]` (a reward model).
pub const SCORE_HEAD: &str = "score.weight";

/// HF name of the decoder layers' list; layer `i`'s tensors are under `model.layers.{i}.`.
pub const LAYERS: &str = "model.layers";

/// HF name prefix of decoder layer `layer`: `model.layers.{layer}`.
pub fn layer_prefix(layer: usize) -> String {
    format!("{LAYERS}.{layer}")
}

/// A projection of a decoder layer, the unit a LoRA adapter wraps; its PEFT module name is
/// [`LoraTarget::module`] (`q_proj`, …) and it deserializes from that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // the variants spell PEFT's module names
pub enum LoraTarget {
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}

/// The seven Qwen3 projections LoRA can target, in PEFT's module names (the order of
/// [`LoraTarget::ALL`]).
pub const QWEN3_PROJECTIONS: [&str; 7] = {
    let mut names = [""; 7];
    let mut i = 0;
    while i < names.len() {
        names[i] = LoraTarget::ALL[i].module();
        i += 1;
    }
    names
};

/// A module name that is not one of [`QWEN3_PROJECTIONS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a Qwen3 projection ({QWEN3_PROJECTIONS:?})")]
pub struct UnknownLoraTarget {
    pub name: String,
}

impl LoraTarget {
    /// Every projection, in checkpoint order (attention, then MLP).
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::QProj,
        LoraTarget::KProj,
        LoraTarget::VProj,
        LoraTarget::OProj,
        LoraTarget::GateProj,
        LoraTarget::UpProj,
        LoraTarget::DownProj,
    ];

    /// PEFT's module name (`q_proj`, …, `down_proj`).
    pub const fn module(self) -> &'static str {
        match self {
            LoraTarget::QProj => "q_proj",
            LoraTarget::KProj => "k_proj",
            LoraTarget::VProj => "v_proj",
            LoraTarget::OProj => "o_proj",
            LoraTarget::GateProj => "gate_proj",
            LoraTarget::UpProj => "up_proj",
            LoraTarget::DownProj => "down_proj",
        }
    }

    /// The sub-module holding the projection: `self_attn` or `mlp`.
    pub const fn block(self) -> &'static str {
        match self {
            LoraTarget::GateProj | LoraTarget::UpProj | LoraTarget::DownProj => "mlp",
            _ => "self_attn",
        }
    }

    /// The projection named `module` (PEFT's name), or a typed error naming it.
    pub fn from_module(module: &str) -> Result<Self, UnknownLoraTarget> {
        LoraTarget::ALL
            .into_iter()
            .find(|t| t.module() == module)
            .ok_or_else(|| UnknownLoraTarget { name: module.into() })
    }

    /// HF name of the weight in layer `layer`: `model.layers.{layer}.{block}.{module}.weight`.
    pub fn hf_name(self, layer: usize) -> String {
        format!(
            "{}.{}.{}.weight",
            layer_prefix(layer),
            self.block(),
            self.module()
        )
    }

    /// HF shape `[d_output, d_input]` of the weight under `config`.
    pub fn hf_shape(self, config: &Qwen3Config) -> [usize; 2] {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let q = config.num_attention_heads * config.head_dim;
        let kv = config.num_key_value_heads * config.head_dim;
        match self {
            LoraTarget::QProj => [q, h],
            LoraTarget::KProj | LoraTarget::VProj => [kv, h],
            LoraTarget::OProj => [h, q],
            LoraTarget::GateProj | LoraTarget::UpProj => [i, h],
            LoraTarget::DownProj => [h, i],
        }
    }
}

impl fmt::Display for LoraTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.module())
    }
}

/// A norm of a decoder layer (its gain vector).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DecoderNorm {
    /// `self_attn.q_norm`, `[head_dim]`.
    QNorm,
    /// `self_attn.k_norm`, `[head_dim]`.
    KNorm,
    /// `input_layernorm`, `[hidden]`.
    InputLayernorm,
    /// `post_attention_layernorm`, `[hidden]`.
    PostAttentionLayernorm,
}

impl DecoderNorm {
    /// Every norm of a layer, in checkpoint order.
    pub const ALL: [DecoderNorm; 4] = [
        DecoderNorm::QNorm,
        DecoderNorm::KNorm,
        DecoderNorm::InputLayernorm,
        DecoderNorm::PostAttentionLayernorm,
    ];

    /// The module path inside a layer (`self_attn.q_norm`, …).
    pub const fn path(self) -> &'static str {
        match self {
            DecoderNorm::QNorm => "self_attn.q_norm",
            DecoderNorm::KNorm => "self_attn.k_norm",
            DecoderNorm::InputLayernorm => "input_layernorm",
            DecoderNorm::PostAttentionLayernorm => "post_attention_layernorm",
        }
    }

    /// HF name of the gain in layer `layer`: `model.layers.{layer}.{path}.weight`.
    pub fn hf_name(self, layer: usize) -> String {
        format!("{}.{}.weight", layer_prefix(layer), self.path())
    }

    /// Length of the gain under `config`.
    pub fn len(self, config: &Qwen3Config) -> usize {
        match self {
            DecoderNorm::QNorm | DecoderNorm::KNorm => config.head_dim,
            DecoderNorm::InputLayernorm | DecoderNorm::PostAttentionLayernorm => config.hidden_size,
        }
    }
}

impl<B: Backend> DecoderLayer<B> {
    /// The projection `target` of this layer.
    pub fn projection(&self, target: LoraTarget) -> &Projection<B> {
        let (a, m) = (&self.self_attn, &self.mlp);
        match target {
            LoraTarget::QProj => &a.q_proj,
            LoraTarget::KProj => &a.k_proj,
            LoraTarget::VProj => &a.v_proj,
            LoraTarget::OProj => &a.o_proj,
            LoraTarget::GateProj => &m.gate_proj,
            LoraTarget::UpProj => &m.up_proj,
            LoraTarget::DownProj => &m.down_proj,
        }
    }

    /// Every projection of this layer, mutable, in [`LoraTarget::ALL`] order.
    pub fn projections_mut(&mut self) -> [(LoraTarget, &mut Projection<B>); 7] {
        self.weights_mut().0
    }

    /// Every projection and every norm of this layer, mutable, in [`LoraTarget::ALL`] and
    /// [`DecoderNorm::ALL`] order.
    #[allow(clippy::type_complexity)]
    pub fn weights_mut(
        &mut self,
    ) -> (
        [(LoraTarget, &mut Projection<B>); 7],
        [(DecoderNorm, &mut RmsNorm<B>); 4],
    ) {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        (
            [
                (LoraTarget::QProj, &mut a.q_proj),
                (LoraTarget::KProj, &mut a.k_proj),
                (LoraTarget::VProj, &mut a.v_proj),
                (LoraTarget::OProj, &mut a.o_proj),
                (LoraTarget::GateProj, &mut m.gate_proj),
                (LoraTarget::UpProj, &mut m.up_proj),
                (LoraTarget::DownProj, &mut m.down_proj),
            ],
            [
                (DecoderNorm::QNorm, &mut a.q_norm),
                (DecoderNorm::KNorm, &mut a.k_norm),
                (DecoderNorm::InputLayernorm, &mut self.input_layernorm),
                (
                    DecoderNorm::PostAttentionLayernorm,
                    &mut self.post_attention_layernorm,
                ),
            ],
        )
    }
}

/// One base weight of a [`Qwen3`] reached by its HF name (see [`Qwen3::hf_weights_mut`]).
#[derive(Debug)]
pub enum HfWeightMut<'a, B: Backend> {
    /// A matrix stored in HF layout: the embedding, `[vocab, hidden]`.
    Matrix(&'a mut Param<Tensor<B, 2>>),
    /// A projection's base weight, stored as burn's `[d_input, d_output]` (the transpose of
    /// HF's `[d_output, d_input]`).
    Projection(&'a mut Param<Tensor<B, 2>>),
    /// A norm gain `[dim]`.
    Vector(&'a mut Param<Tensor<B, 1>>),
}

impl<B: Backend> Qwen3<B> {
    /// Every base weight under its HF name, mutable, in checkpoint order: the embedding,
    /// per layer its seven projections then its four norms, the final norm,
    /// and the LM head when untied. Adapters are not included.
    pub fn hf_weights_mut(&mut self) -> Vec<(String, HfWeightMut<'_, B>)> {
        let mut out = vec![(
            EMBED_TOKENS.to_string(),
            HfWeightMut::Matrix(&mut self.embed_tokens.weight),
        )];
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (projections, norms) = layer.weights_mut();
            for (target, proj) in projections {
                out.push((target.hf_name(i), HfWeightMut::Projection(&mut proj.base.weight)));
            }
            for (norm, gain) in norms {
                out.push((norm.hf_name(i), HfWeightMut::Vector(&mut gain.weight)));
            }
        }
        out.push((FINAL_NORM.to_string(), HfWeightMut::Vector(&mut self.norm.weight)));
        if let Some(head) = self.lm_head.as_mut() {
            out.push((
                LM_HEAD.to_string(),
                HfWeightMut::Projection(&mut head.base.weight),
            ));
        }
        out
    }
}
