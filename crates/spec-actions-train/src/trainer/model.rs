//! [`TrainModel`]: the Qwen3 being trained (with LoRA adapters, or every weight) and an
//! optional reward head, its trainable tensors by name, their gradients and replacement.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use spec_actions_qwen3::model::{HfWeightMut, Qwen3};

/// A Qwen3 with LoRA adapters and an optional scalar head (reward model): what the trainer
/// optimises. Its trainable tensors are named by PEFT's keys and `score.weight`.
#[derive(Module, Debug)]
pub struct TrainModel<B: Backend> {
    pub qwen: Qwen3<B>,
    /// `[hidden, 1]` scalar head of a reward model.
    pub score_head: Option<Param<Tensor<B, 2>>>,
}

/// HF name of the token embedding (the LM head too when tied).
pub(super) use spec_actions_qwen3::model::tensor_names::EMBED_TOKENS as EMBEDDING;

/// Name of the reward head's tensor (HF's `score.weight`).
pub use spec_actions_qwen3::model::tensor_names::SCORE_HEAD;

/// One trainable tensor of a model without adapters, reached by its HF name.
enum WeightSlot<'a, B: Backend> {
    /// A matrix (embedding `[vocab, hidden]`, or a projection in burn's `[d_in, d_out]` layout).
    Matrix(&'a mut Param<Tensor<B, 2>>),
    /// A norm gain `[dim]`, seen by the optimizer as `[1, dim]`.
    Vector(&'a mut Param<Tensor<B, 1>>),
}

impl<B: Backend> TrainModel<B> {
    /// Whether this model trains every base weight: it has no LoRA adapter attached. A
    /// random-initialised base gives an adapter nothing to adapt, so small models made from
    /// scratch train in full; real checkpoints get adapters ([`Qwen3::with_new_lora`]).
    pub fn trains_all_weights(&self) -> bool {
        !self.qwen.projections().iter().any(|(_, p)| p.has_lora())
    }

    /// Every base weight by its HF name (`model.layers.0.self_attn.q_proj.weight`, …), mutable
    /// ([`Qwen3::hf_weights_mut`]: the table of HF names).
    fn weight_slots(&mut self) -> Vec<(String, WeightSlot<'_, B>)> {
        self.qwen
            .hf_weights_mut()
            .into_iter()
            .map(|(name, weight)| {
                let slot = match weight {
                    HfWeightMut::Matrix(p) | HfWeightMut::Projection(p) => WeightSlot::Matrix(p),
                    HfWeightMut::Vector(p) => WeightSlot::Vector(p),
                };
                (name, slot)
            })
            .collect()
    }

    /// Every trainable tensor by name: the LoRA matrices (PEFT's keys) when adapters are
    /// attached, otherwise every base weight (HF names; norm gains as `[1, dim]`); and the
    /// reward head.
    pub fn trainable(&self) -> BTreeMap<String, Tensor<B, 2>> {
        let mut out = BTreeMap::new();
        if self.trains_all_weights() {
            // `weight_slots` needs `&mut`; cloning the module is cheap (tensors are shared).
            let mut copy = self.clone();
            for (name, slot) in copy.weight_slots() {
                let value = match slot {
                    WeightSlot::Matrix(p) => p.val(),
                    WeightSlot::Vector(p) => p.val().unsqueeze::<2>(),
                };
                out.insert(name, value);
            }
        }
        for (site, proj) in self.qwen.projections() {
            if let Some(lora) = &proj.lora {
                out.insert(site.peft_key('A'), lora.lora_a.val());
                out.insert(site.peft_key('B'), lora.lora_b.val());
            }
        }
        if let Some(head) = &self.score_head {
            out.insert(SCORE_HEAD.to_string(), head.val());
        }
        out
    }

    /// The gradient of every trainable tensor that has one, by the names of
    /// [`TrainModel::trainable`] and in its shapes.
    pub fn gradients(&self, grads: &B::Gradients) -> BTreeMap<String, Tensor<B::InnerBackend, 2>>
    where
        B: AutodiffBackend,
    {
        let mut out = BTreeMap::new();
        if self.trains_all_weights() {
            let mut copy = self.clone();
            for (name, slot) in copy.weight_slots() {
                let grad = match slot {
                    WeightSlot::Matrix(p) => p.val().grad(grads),
                    WeightSlot::Vector(p) => p.val().grad(grads).map(|g| g.unsqueeze::<2>()),
                };
                if let Some(g) = grad {
                    out.insert(name, g);
                }
            }
        }
        for (site, proj) in self.qwen.projections() {
            if let Some(lora) = &proj.lora {
                for (key, value) in [('A', &lora.lora_a), ('B', &lora.lora_b)] {
                    if let Some(g) = value.val().grad(grads) {
                        out.insert(site.peft_key(key), g);
                    }
                }
            }
        }
        if let Some(g) = self.score_head.as_ref().and_then(|h| h.val().grad(grads)) {
            out.insert(SCORE_HEAD.to_string(), g);
        }
        out
    }

    /// Replaces trainable tensors by name (values become new trainable parameters: leaves of
    /// the autodiff graph, detached from whatever computed them).
    /// Unknown names and shape mismatches are returned, nothing is partially applied.
    pub fn set_trainable(&mut self, mut values: BTreeMap<String, Tensor<B, 2>>) -> Result<(), String> {
        let current = self.trainable();
        let mut problems = Vec::new();
        for (name, value) in &values {
            match current.get(name) {
                None => problems.push(format!("`{name}` is not a trainable tensor of this model")),
                Some(t) if t.dims() != value.dims() => problems.push(format!(
                    "`{name}`: shape {:?}, the model has {:?}",
                    value.dims(),
                    t.dims()
                )),
                _ => {}
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        if self.trains_all_weights() {
            for (name, slot) in self.weight_slots() {
                if let Some(v) = values.remove(&name) {
                    match slot {
                        WeightSlot::Matrix(p) => *p = Param::from_tensor(v.detach()),
                        WeightSlot::Vector(p) => *p = Param::from_tensor(v.squeeze_dim::<1>(0).detach()),
                    }
                }
            }
        }
        for (site, proj) in self.qwen.projections_mut() {
            if let Some(lora) = proj.lora.as_mut() {
                if let Some(a) = values.remove(&site.peft_key('A')) {
                    lora.lora_a = Param::from_tensor(a.detach());
                }
                if let Some(b) = values.remove(&site.peft_key('B')) {
                    lora.lora_b = Param::from_tensor(b.detach());
                }
            }
        }
        if let (Some(head), Some(v)) = (self.score_head.as_mut(), values.remove(SCORE_HEAD)) {
            *head = Param::from_tensor(v.detach());
        }
        Ok(())
    }
}
