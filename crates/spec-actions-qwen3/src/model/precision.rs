//! Mixed precision, as PEFT users run it: the base model (weights, embeddings, activations) in a
//! *compute dtype* — bf16 on a GPU, f32 on CPU — while LoRA adapters stay in f32.
//!
//! What stays in f32 whatever the compute dtype:
//! - `lora_A` / `lora_B` (so their gradients and AdamW moments), and the low-rank path, which
//!   casts its input to f32 and adds to the base output in f32 before rounding once to the
//!   compute dtype (PEFT's `_cast_input_dtype` + `result.to(torch_result_dtype)`);
//! - RMSNorm statistics and the attention softmax (see [`super::norm`], [`super::attention`]);
//! - losses and log-softmax (the trainers cast logits to f32 first).
//!
//! A model's base tensors come in two kinds with a dtype each:
//! - *matrices* (token embeddings, the projections, an untied LM head): the **weight dtype**
//!   ([`Qwen3::weight_dtype`]), the bytes a decode step reads;
//! - *vectors* (the RMSNorm gains): the **compute dtype** ([`Qwen3::compute_dtype`]), the dtype
//!   of the activations between layers, of the KV cache, the RoPE tables and the score bias.
//!
//! The two are equal except for *bf16 weights with f32 compute*, the CPU's way of serving bf16
//! ([`crate::LoadOptions::bf16_weights`], as llama.cpp keeps norms and activations in f32 beside
//! narrow matrices): every product reads the matrix at half the bytes and returns f32
//! ([`super::weight_product`]: on Flex computed in f32 from the bf16 values, the projections held
//! in HF's `[d_out, d_in]` order for a decode step's dot products; elsewhere the rows rounded to
//! bf16 for the product), while norms, RoPE, attention and the residual stream stay f32 (fast on
//! Flex, where bf16 element-wise ops are not). [`Qwen3::cast_base`] sets both to one dtype, [`Qwen3::cast_weights`] the matrices
//! alone, and [`CastWeights`] builds a model directly in its dtypes.

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::weight_product::in_row_product_layout;
use super::weights::WeightSource;
use super::{Qwen3, StepContext};
use crate::huge_pages::in_huge_pages;

/// Casts every float parameter it visits — matrices to `matrices`, vectors to `vectors`
/// (`None`: left as they are) — keeping its id and whether it requires a gradient.
struct CastParams {
    matrices: FloatDType,
    vectors: Option<FloatDType>,
}

impl<B: Backend> ModuleMapper<B> for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let target = if D >= 2 { Some(self.matrices) } else { self.vectors };
        let tensor = match target {
            Some(dtype) if FloatDType::from(tensor.dtype()) != dtype => {
                let require_grad = tensor.is_require_grad();
                // a cast matrix leaves the huge pages its source was in; put it back
                let cast = tensor.cast(dtype).detach();
                let cast = if D >= 2 { in_huge_pages(cast) } else { cast };
                cast.set_require_grad(require_grad)
            }
            _ => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

impl<B: Backend> Qwen3<B> {
    /// The dtype of the activations between layers (and of the norm gains, the KV cache, the
    /// RoPE tables and the score bias).
    pub fn compute_dtype(&self) -> FloatDType {
        self.norm.weight.val().dtype().into()
    }

    /// The dtype of the base matrices: token embeddings, projections, an untied LM head.
    pub fn weight_dtype(&self) -> FloatDType {
        self.embed_tokens.weight.val().dtype().into()
    }

    /// The same model with every *base* tensor — embeddings, projections, norm weights, LM
    /// head — cast to `dtype`; attached LoRA adapters are left as they are (f32). Which tensors
    /// require a gradient does not change, so a frozen base stays frozen.
    ///
    /// `cast_base(FloatDType::F32)` of an f32 model returns it unchanged.
    pub fn cast_base(self, dtype: FloatDType) -> Self {
        self.cast_base_params(CastParams {
            matrices: dtype,
            vectors: Some(dtype),
        })
    }

    /// The same model with its base *matrices* (embeddings, projections, LM head) in `dtype`
    /// and everything else as it was: `cast_weights(FloatDType::BF16)` of an f32 model gives
    /// bf16 weights with f32 compute (module doc). Adapters are left as they are.
    pub fn cast_weights(self, dtype: FloatDType) -> Self {
        self.cast_base_params(CastParams {
            matrices: dtype,
            vectors: None,
        })
    }

    fn cast_base_params(mut self, mut cast: CastParams) -> Self {
        // 1. detach the adapters so that the cast cannot reach them
        let adapters: Vec<_> = self
            .projections_mut()
            .into_iter()
            .map(|(_, proj)| proj.lora.take())
            .collect();
        // 2. cast everything that is left
        let mut model = self.map(&mut cast);
        // 3. re-attach the adapters where they were
        for ((_, proj), lora) in model.projections_mut().into_iter().zip(adapters) {
            proj.lora = lora;
        }
        // 4. bf16 weights with f32 compute: projections held for one-row products
        if (model.weight_dtype(), model.compute_dtype()) == (FloatDType::BF16, FloatDType::F32) {
            for (_, proj) in model.projections_mut() {
                proj.base.weight = proj.base.weight.clone().map(in_row_product_layout);
            }
            if let Some(head) = &mut model.lm_head {
                head.base.weight = head.base.weight.clone().map(in_row_product_layout);
            }
        }
        model
    }
}

impl<B: Backend> StepContext<B> {
    /// The context with its RoPE tables and score bias in `dtype` (the compute dtype of the
    /// model it serves), as transformers casts `cos` / `sin` and the mask to the model's dtype.
    pub fn cast(mut self, dtype: FloatDType) -> Self {
        self.rope = self.rope.cast(dtype);
        self.bias = self.bias.map(|bias| bias.cast(dtype));
        self
    }
}

/// A [`WeightSource`] that hands out `inner`'s matrices cast to `matrices` (the weight dtype)
/// and its vectors to `vectors` (the compute dtype), so that a model is built directly in its
/// dtypes (one tensor at a time, never a whole f32 copy).
///
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::FloatDType;
/// use spec_actions_qwen3::Qwen3Config;
/// use spec_actions_qwen3::model::{CastWeights, RandomWeights};
///
/// let mut config = Qwen3Config::qwen3_0_6b();
/// (config.vocab_size, config.hidden_size, config.intermediate_size) = (64, 32, 64);
/// (config.num_hidden_layers, config.num_attention_heads, config.head_dim) = (1, 2, 16);
/// config.num_key_value_heads = 1;
/// let device = Default::default();
/// let mut random = RandomWeights::<Flex> { std: 0.02, device: &device };
/// let model = config.init_with(&mut CastWeights::uniform(&mut random, FloatDType::BF16));
/// assert_eq!(model.compute_dtype(), FloatDType::BF16);
///
/// let mut random = RandomWeights::<Flex> { std: 0.02, device: &device };
/// let model = config.init_with(&mut CastWeights {
///     inner: &mut random,
///     matrices: FloatDType::BF16,
///     vectors: FloatDType::F32,
/// });
/// assert_eq!((model.weight_dtype(), model.compute_dtype()), (FloatDType::BF16, FloatDType::F32));
/// ```
pub struct CastWeights<'a, W> {
    pub inner: &'a mut W,
    /// dtype of the matrices (the model's weight dtype).
    pub matrices: FloatDType,
    /// dtype of the vectors (the model's compute dtype).
    pub vectors: FloatDType,
}

impl<'a, W> CastWeights<'a, W> {
    /// Every tensor in one `dtype`.
    pub fn uniform(inner: &'a mut W, dtype: FloatDType) -> Self {
        CastWeights {
            inner,
            matrices: dtype,
            vectors: dtype,
        }
    }
}

impl<B: Backend, W: WeightSource<B>> WeightSource<B> for CastWeights<'_, W> {
    fn matrix(&mut self, name: &str, shape: [usize; 2]) -> Tensor<B, 2> {
        self.inner.matrix(name, shape).cast(self.matrices)
    }

    fn projection(&mut self, name: &str, hf_shape: [usize; 2]) -> Tensor<B, 2> {
        let weight = self.inner.projection(name, hf_shape).cast(self.matrices);
        match (self.matrices, self.vectors) {
            // bf16 weights with f32 compute: held for one-row products
            (FloatDType::BF16, FloatDType::F32) => in_row_product_layout(weight),
            _ => weight,
        }
    }

    fn vector(&mut self, name: &str, len: usize) -> Tensor<B, 1> {
        self.inner.vector(name, len).cast(self.vectors)
    }
}

impl crate::config::Qwen3Config {
    /// [`Qwen3Config::init`](crate::config::Qwen3Config::init) (random weights) with the base
    /// model in `dtype`.
    pub fn init_in<B: Backend>(&self, dtype: FloatDType, device: &B::Device) -> Qwen3<B> {
        let mut random = super::RandomWeights { std: 0.02, device };
        self.init_with(&mut CastWeights::uniform(&mut random, dtype))
    }
}
