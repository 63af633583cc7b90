//! The Qwen3 decoder: [`Qwen3`] and its parts, exactly the computation of transformers'
//! `Qwen3ForCausalLM`.

pub mod attention;
pub mod blocked_attention;
pub mod cache;
pub mod direct_attention;
pub mod fused_elementwise;
mod gemm_product;
pub mod head_gradient;
pub mod log_sum_exp;
pub mod mlp;
pub mod norm;
pub mod parity;
pub mod precision;
pub mod projection;
pub mod rope;
pub mod scaled_dot_product;
pub mod tensor_names;
pub mod weight_product;
pub mod weights;

use burn::module::Param;
use burn::nn::Embedding;
use burn::prelude::*;
use burn::tensor::FloatDType;

pub use attention::{Attention, StepContext};
pub use cache::KvCache;
pub use mlp::Mlp;
pub use norm::RmsNorm;
pub use precision::CastWeights;
pub use projection::Projection;
pub use rope::RotaryEmbedding;
pub use tensor_names::{DecoderNorm, HfWeightMut, LoraTarget};
pub use weights::{RandomWeights, WeightSource};

use crate::config::Qwen3Config;
use crate::huge_pages::in_huge_pages;
use tensor_names::{EMBED_TOKENS, FINAL_NORM, LM_HEAD};

/// One pre-norm decoder layer: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub self_attn: Attention<B>,
    pub mlp: Mlp<B>,
    pub input_layernorm: RmsNorm<B>,
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        ctx: &StepContext<B>,
        cache: Option<&mut cache::LayerKv<B>>,
    ) -> Tensor<B, 3> {
        // 1. attention block with residual
        let h = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), ctx, cache);
        // 2. MLP block with residual
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}

/// Qwen3 causal language model (`Qwen3ForCausalLM`).
#[derive(Module, Debug)]
pub struct Qwen3<B: Backend> {
    /// `[vocab, hidden]`
    pub embed_tokens: Embedding<B>,
    pub layers: Vec<DecoderLayer<B>>,
    /// Final norm applied to the last layer's output.
    pub norm: RmsNorm<B>,
    /// Untied LM head; `None` when the head reuses `embed_tokens` (tied embeddings).
    pub lm_head: Option<Projection<B>>,
    #[module(skip)]
    pub config: Qwen3Config,
    #[module(skip)]
    pub rotary: RotaryEmbedding,
}

impl Qwen3Config {
    /// A model with random weights (see [`RandomWeights`]).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Qwen3<B> {
        self.init_with(&mut RandomWeights { std: 0.02, device })
    }

    /// A model whose every tensor is taken from `weights`, by HF name; its weight matrices in
    /// huge-page memory on Flex ([`in_huge_pages`]).
    pub fn init_with<B: Backend>(&self, weights: &mut impl WeightSource<B>) -> Qwen3<B> {
        let c = self;
        let hd = c.head_dim;
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                // the tensors in the table's order: the seven projections, then the four norms
                let [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj] =
                    LoraTarget::ALL.map(|t| {
                        Projection::new(in_huge_pages(weights.projection(&t.hf_name(i), t.hf_shape(c))))
                    });
                let [q_norm, k_norm, input_layernorm, post_attention_layernorm] = DecoderNorm::ALL
                    .map(|n| RmsNorm::new(weights.vector(&n.hf_name(i), n.len(c)), c.rms_norm_eps));
                DecoderLayer {
                    self_attn: Attention {
                        q_proj,
                        k_proj,
                        v_proj,
                        o_proj,
                        q_norm,
                        k_norm,
                        num_heads: c.num_attention_heads,
                        num_kv_heads: c.num_key_value_heads,
                        head_dim: hd,
                    },
                    mlp: Mlp {
                        gate_proj,
                        up_proj,
                        down_proj,
                    },
                    input_layernorm,
                    post_attention_layernorm,
                }
            })
            .collect();
        let h = c.hidden_size;
        let embed = in_huge_pages(weights.matrix(EMBED_TOKENS, [c.vocab_size, h]));
        Qwen3 {
            embed_tokens: Embedding {
                weight: Param::from_tensor(embed),
            },
            layers,
            norm: RmsNorm::new(weights.vector(FINAL_NORM, h), c.rms_norm_eps),
            lm_head: (!c.tie_word_embeddings)
                .then(|| Projection::new(in_huge_pages(weights.projection(LM_HEAD, [c.vocab_size, h])))),
            config: c.clone(),
            rotary: RotaryEmbedding::new(hd, c.rope_theta, c.num_attention_heads, c.num_key_value_heads),
        }
    }

    /// Every tensor a checkpoint of this config must hold, with its HF shape.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        struct Lister(Vec<(String, Vec<usize>)>);
        impl<B: Backend> WeightSource<B> for Lister {
            fn matrix(&mut self, name: &str, shape: [usize; 2]) -> Tensor<B, 2> {
                self.0.push((name.to_owned(), shape.to_vec()));
                Tensor::empty([0, 0], &Default::default())
            }
            fn projection(&mut self, name: &str, shape: [usize; 2]) -> Tensor<B, 2> {
                self.matrix(name, shape)
            }
            fn vector(&mut self, name: &str, len: usize) -> Tensor<B, 1> {
                self.0.push((name.to_owned(), vec![len]));
                Tensor::empty([0], &Default::default())
            }
        }
        let mut lister = Lister(Vec::new());
        let _: Qwen3<burn::backend::Flex> = self.init_with(&mut lister);
        lister.0
    }
}

impl<B: Backend> Qwen3<B> {
    /// Hidden states after the final norm for `input_ids`, optionally with a KV cache.
    ///
    /// When `hidden_states` is given it receives transformers' `hidden_states` tuple:
    /// the embeddings, the outputs of layers `0..L-1`, and finally the normed output.
    ///
    /// # Shapes
    /// - `input_ids`: `[batch, seq]`
    /// - returns `[batch, seq, hidden]`
    pub fn forward_hidden(
        &self,
        input_ids: Tensor<B, 2, Int>,
        ctx: &StepContext<B>,
        cache: Option<&mut KvCache<B>>,
        hidden_states: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3> {
        // On Flex, the whole pass on one of the threads its ops run on (crate::compute_threads).
        crate::compute_threads::on_compute_threads::<B, _>(move || {
            self.forward_hidden_here(input_ids, ctx, cache, hidden_states)
        })
    }

    /// [`Qwen3::forward_hidden`] on the calling thread.
    fn forward_hidden_here(
        &self,
        input_ids: Tensor<B, 2, Int>,
        ctx: &StepContext<B>,
        mut cache: Option<&mut KvCache<B>>,
        mut hidden_states: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3> {
        let seq = input_ids.dims()[1];
        // 1. token embeddings, in the compute dtype
        let mut x = in_dtype(self.embed_tokens.forward(input_ids), self.compute_dtype());
        // 2. decoder layers, each writing its keys/values into the cache
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(states) = hidden_states.as_deref_mut() {
                states.push(x.clone());
            }
            let layer_cache = cache.as_deref_mut().map(|c| c.layer_mut(i));
            x = layer.forward(x, ctx, layer_cache);
        }
        if let Some(cache) = cache {
            cache.advance(seq);
        }
        // 3. final norm
        let x = self.norm.forward(x);
        if let Some(states) = hidden_states {
            states.push(x.clone());
        }
        x
    }

    /// LM head: logits over the vocabulary.
    ///
    /// A tied head multiplies by a transposed *view* of the `[vocab, hidden]` embedding matrix
    /// `E` (a transposed copy would double the largest tensor of the model; the vendored Flex
    /// reads the view in place). With bf16 weights and f32 compute the rows are rounded to the
    /// weight dtype for the product and the logits returned in the compute dtype.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`
    /// - returns `[batch, seq, vocab]`
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        crate::compute_threads::on_compute_threads::<B, _>(move || self.logits_here(hidden))
    }

    /// [`Qwen3::logits`] on the calling thread.
    fn logits_here(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => {
                let [b, s, h] = hidden.dims();
                let embedding = self.embed_tokens.weight.val();
                let vocab = embedding.dims()[0];
                weight_product::times_weight(hidden.reshape([b * s, h]), embedding.transpose())
                    .reshape([b, s, vocab])
            }
        }
    }

    /// Full forward pass without cache: logits at every position.
    ///
    /// `attention_mask[r][j]` is 1 for real tokens and 0 for (left) padding; positions are
    /// counted from each row's first real token (`cumsum(mask) - 1`, as `generate()` does).
    ///
    /// # Shapes
    /// - `input_ids`: `[batch, seq]`
    /// - returns `[batch, seq, vocab]`
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Option<&[Vec<bool>]>,
    ) -> Tensor<B, 3> {
        let ctx = self.context_for(&input_ids, attention_mask);
        self.logits(self.forward_hidden(input_ids, &ctx, None, None))
    }

    /// The [`StepContext`] of an uncached pass over `input_ids` with an optional padding mask,
    /// in the model's [compute dtype](Qwen3::compute_dtype).
    pub fn context_for(
        &self,
        input_ids: &Tensor<B, 2, Int>,
        attention_mask: Option<&[Vec<bool>]>,
    ) -> StepContext<B> {
        let [batch, seq] = input_ids.dims();
        let key_valid: Vec<Vec<bool>> = match attention_mask {
            Some(mask) => mask.to_vec(),
            None => vec![vec![true; seq]; batch],
        };
        let positions = key_valid
            .iter()
            .map(|row| positions_from_mask(row))
            .collect::<Vec<_>>();
        StepContext::new(&self.rotary, &key_valid, &positions, 0, &input_ids.device())
            .cast(self.compute_dtype())
    }
}

/// Position ids `cumsum(mask) - 1`, clamped at 0 for leading padding (as transformers'
/// `generate()` fills them with 1, a value that never matters because those rows are masked).
pub fn positions_from_mask(mask: &[bool]) -> Vec<usize> {
    let mut count = 0usize;
    mask.iter()
        .map(|&m| {
            count += usize::from(m);
            count.saturating_sub(1)
        })
        .collect()
}

/// `x` in `dtype`: itself when it already is, else a cast (the step between the compute dtype
/// and the weight dtype of [`precision`]).
pub(crate) fn in_dtype<B: Backend, const D: usize>(x: Tensor<B, D>, dtype: FloatDType) -> Tensor<B, D> {
    if FloatDType::from(x.dtype()) == dtype {
        x
    } else {
        x.cast(dtype)
    }
}
