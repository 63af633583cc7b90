//! [`CausalLm`]: what generation, scoring, the training objectives and the live roles use of a
//! causal language model — the seam a second model family (Llama, Qwen3-MoE) would implement.
//!
//! [`Qwen3`] implements it. Loading and saving checkpoints (`loader`, `load_options`,
//! `hf_save`, `hf_export`), LoRA adapter files (`lora`) and the trainer's model
//! (`spec_actions_train::trainer::TrainModel`) stay concrete: they walk Qwen3's own tensors
//! ([`crate::model::tensor_names`]) and are Qwen3-specific by nature.
//!
//! Code written against the trait is generic (`M: CausalLm<B>`) and so monomorphised: no
//! `dyn` dispatch on the decoding hot path.

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::model::tensor_names::QWEN3_PROJECTIONS;
use crate::model::{KvCache, Qwen3, RotaryEmbedding, StepContext};

/// A decoder-only language model: hidden states with a [`StepContext`] and an optional
/// [`KvCache`], logits of chosen hidden rows, the LM head's columns of chosen token ids.
pub trait CausalLm<B: Backend> {
    /// Size of the vocabulary (rows of the LM head); token ids are below it.
    fn vocab_size(&self) -> usize;

    /// Width of the hidden states.
    fn hidden_size(&self) -> usize;

    /// Longest sequence the position encoding is configured for.
    fn max_position_embeddings(&self) -> usize;

    /// The device the weights live on.
    fn device(&self) -> B::Device;

    /// The float dtype activations are computed in.
    fn compute_dtype(&self) -> FloatDType;

    /// The rotary position embedding the attention of every layer applies.
    fn rotary(&self) -> &RotaryEmbedding;

    /// An empty KV cache for `batch` rows of up to `capacity` positions.
    fn new_cache(&self, batch: usize, capacity: usize, device: &B::Device) -> KvCache<B>;

    /// PEFT's names of the modules a LoRA adapter can wrap (`q_proj`, …).
    fn lora_targets(&self) -> &'static [&'static str];

    /// Hidden states after the final norm, writing keys and values into `cache` when given;
    /// `hidden_states` receives transformers' tuple (embeddings, every layer, normed output).
    ///
    /// # Shapes
    /// - `input_ids`: `[batch, seq]`
    /// - returns `[batch, seq, hidden]`
    fn forward_hidden(
        &self,
        input_ids: Tensor<B, 2, Int>,
        ctx: &StepContext<B>,
        cache: Option<&mut KvCache<B>>,
        hidden_states: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3>;

    /// LM head: logits over the vocabulary of chosen hidden rows.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, vocab]`
    fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3>;

    /// The LM head's columns for `token_ids`: `logits[..., k] = hidden · columns[:, k]`.
    ///
    /// # Shapes
    /// - returns `[hidden, token_ids.len()]`
    fn head_columns(&self, token_ids: &[u32], device: &B::Device) -> Tensor<B, 2>;

    /// The whole LM head in HF's layout, `logits = hidden · headᵀ` (the tied embedding when the
    /// model ties them). The default gathers every column through [`Self::head_columns`].
    ///
    /// # Shapes
    /// - returns `[vocab, hidden]`
    fn head_matrix(&self) -> Tensor<B, 2> {
        let ids: Vec<u32> = (0..self.vocab_size() as u32).collect();
        self.head_columns(&ids, &self.device()).transpose()
    }

    /// The [`StepContext`] of an uncached pass over `input_ids` with an optional padding mask
    /// (`attention_mask[r][j]` is 1 for real tokens), in the compute dtype.
    fn context_for(
        &self,
        input_ids: &Tensor<B, 2, Int>,
        attention_mask: Option<&[Vec<bool>]>,
    ) -> StepContext<B>;

    /// The [`StepContext`] of a causal step ([`StepContext::new`]) in the compute dtype.
    fn step_context(
        &self,
        key_valid: &[Vec<bool>],
        positions: &[Vec<usize>],
        past_len: usize,
        device: &B::Device,
    ) -> StepContext<B> {
        StepContext::new(self.rotary(), key_valid, positions, past_len, device).cast(self.compute_dtype())
    }

    /// The [`StepContext`] of a pass under an explicit attention pattern
    /// ([`StepContext::with_pattern`]) in the compute dtype.
    fn pattern_context(
        &self,
        allowed: &[Vec<Vec<bool>>],
        positions: &[Vec<usize>],
        past_len: usize,
        device: &B::Device,
    ) -> StepContext<B> {
        StepContext::with_pattern(self.rotary(), allowed, positions, past_len, device)
            .cast(self.compute_dtype())
    }
}

impl<B: Backend> CausalLm<B> for Qwen3<B> {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    fn max_position_embeddings(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn device(&self) -> B::Device {
        self.embed_tokens.weight.device()
    }

    fn compute_dtype(&self) -> FloatDType {
        Qwen3::compute_dtype(self)
    }

    fn rotary(&self) -> &RotaryEmbedding {
        &self.rotary
    }

    fn new_cache(&self, batch: usize, capacity: usize, device: &B::Device) -> KvCache<B> {
        KvCache::new(&self.config, batch, capacity, device)
    }

    fn lora_targets(&self) -> &'static [&'static str] {
        &QWEN3_PROJECTIONS
    }

    fn forward_hidden(
        &self,
        input_ids: Tensor<B, 2, Int>,
        ctx: &StepContext<B>,
        cache: Option<&mut KvCache<B>>,
        hidden_states: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3> {
        Qwen3::forward_hidden(self, input_ids, ctx, cache, hidden_states)
    }

    fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        Qwen3::logits(self, hidden)
    }

    fn head_columns(&self, token_ids: &[u32], device: &B::Device) -> Tensor<B, 2> {
        let idx: Vec<i64> = token_ids.iter().map(|&t| i64::from(t)).collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [token_ids.len()]), device);
        let columns = match &self.lm_head {
            // burn layout [hidden, vocab]
            Some(head) => head.base.weight.val().select(1, idx),
            // tied: embedding [vocab, hidden]
            None => self.embed_tokens.weight.val().select(0, idx).transpose(),
        };
        // in the compute dtype, the hidden states' (a few columns: the cast is small)
        crate::model::in_dtype(columns, self.compute_dtype())
    }

    fn head_matrix(&self) -> Tensor<B, 2> {
        // the frozen base: the LM head is never a LoRA target (`LoraTarget` lists the layers'
        // projections), as in `head_columns`
        match &self.lm_head {
            // burn layout [hidden, vocab]
            Some(head) => head.base.weight.val().transpose(),
            None => self.embed_tokens.weight.val(),
        }
    }

    fn context_for(
        &self,
        input_ids: &Tensor<B, 2, Int>,
        attention_mask: Option<&[Vec<bool>]>,
    ) -> StepContext<B> {
        Qwen3::context_for(self, input_ids, attention_mask)
    }
}
