//! The `CausalLm` seam: a second implementor — a wrapper that delegates every method to a
//! `Qwen3` and counts its forward passes — decodes and scores exactly what the `Qwen3` does
//! through `generate` and `score_continuations`, and its forward passes are the ones that run.
//! So generation and scoring depend on the trait alone. The decoded tokens are also checked
//! against an uncached greedy re-computation with `Qwen3::forward` (the pass the parity tests
//! tie to transformers) on the `tiny` fixture.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::FloatDType;
use spec_actions_qwen3::causal_lm::CausalLm;
use spec_actions_qwen3::generate::{GenerationConfig, Sampling, argmax, generate};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::{KvCache, Qwen3, RotaryEmbedding, StepContext};
use spec_actions_qwen3::score::score_continuations;

/// A model that is not `Qwen3`: it forwards every call to one and counts the passes.
struct Delegating<B: Backend> {
    inner: Qwen3<B>,
    forward_passes: AtomicUsize,
    logit_calls: AtomicUsize,
}

impl<B: Backend> CausalLm<B> for Delegating<B> {
    fn vocab_size(&self) -> usize {
        CausalLm::vocab_size(&self.inner)
    }
    fn hidden_size(&self) -> usize {
        CausalLm::hidden_size(&self.inner)
    }
    fn max_position_embeddings(&self) -> usize {
        CausalLm::max_position_embeddings(&self.inner)
    }
    fn device(&self) -> B::Device {
        CausalLm::device(&self.inner)
    }
    fn compute_dtype(&self) -> FloatDType {
        CausalLm::compute_dtype(&self.inner)
    }
    fn rotary(&self) -> &RotaryEmbedding {
        CausalLm::rotary(&self.inner)
    }
    fn new_cache(&self, batch: usize, capacity: usize, device: &B::Device) -> KvCache<B> {
        CausalLm::new_cache(&self.inner, batch, capacity, device)
    }
    fn lora_targets(&self) -> &'static [&'static str] {
        CausalLm::lora_targets(&self.inner)
    }
    fn forward_hidden(
        &self,
        input_ids: Tensor<B, 2, Int>,
        ctx: &StepContext<B>,
        cache: Option<&mut KvCache<B>>,
        hidden_states: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3> {
        self.forward_passes.fetch_add(1, Ordering::Relaxed);
        CausalLm::forward_hidden(&self.inner, input_ids, ctx, cache, hidden_states)
    }
    fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        self.logit_calls.fetch_add(1, Ordering::Relaxed);
        CausalLm::logits(&self.inner, hidden)
    }
    fn head_columns(&self, token_ids: &[u32], device: &B::Device) -> Tensor<B, 2> {
        CausalLm::head_columns(&self.inner, token_ids, device)
    }
    fn context_for(
        &self,
        input_ids: &Tensor<B, 2, Int>,
        attention_mask: Option<&[Vec<bool>]>,
    ) -> StepContext<B> {
        CausalLm::context_for(&self.inner, input_ids, attention_mask)
    }
}

fn tiny() -> Qwen3<Flex> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny");
    load_qwen3(dir, &Default::default()).unwrap()
}

fn wrapped() -> Delegating<Flex> {
    Delegating {
        inner: tiny(),
        forward_passes: AtomicUsize::new(0),
        logit_calls: AtomicUsize::new(0),
    }
}

/// Greedy continuation of `prompt` by `steps` uncached full forward passes.
fn uncached_greedy(model: &Qwen3<Flex>, prompt: &[u32], steps: usize) -> Vec<u32> {
    let mut ids = prompt.to_vec();
    let vocab = model.config.vocab_size;
    for _ in 0..steps {
        let data: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
        let input =
            Tensor::<Flex, 2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &Default::default());
        let logits = model.forward(input, None).into_data().into_vec::<f32>().unwrap();
        ids.push(argmax(&logits[logits.len() - vocab..]));
    }
    ids[prompt.len()..].to_vec()
}

#[test]
fn a_second_implementor_decodes_what_qwen3_decodes() {
    let model = tiny();
    let other = wrapped();
    let prompts = vec![vec![3, 14, 15, 92], vec![5, 77, 300, 12, 999, 42], vec![640]];
    let steps = 6;
    let greedy = GenerationConfig::greedy(steps);
    let ours = generate(&model, &prompts, &greedy).unwrap();
    let theirs = generate(&other, &prompts, &greedy).unwrap();
    assert_eq!(ours.len(), prompts.len());
    for ((a, b), prompt) in ours.iter().zip(&theirs).zip(&prompts) {
        assert_eq!(a.tokens, b.tokens);
        let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.token_logprobs), bits(&b.token_logprobs));
        assert_eq!(a.tokens, uncached_greedy(&model, prompt, steps), "{prompt:?}");
    }
    // one prefill and one pass per further token, each through the wrapper's own methods
    let passes = other.forward_passes.load(Ordering::Relaxed);
    assert_eq!(passes, steps, "forward passes");
    assert_eq!(other.logit_calls.load(Ordering::Relaxed), passes);

    // sampling, seeded: the same draws
    let sampled = GenerationConfig::greedy(steps).with_sampling(Sampling::TopP {
        temperature: 0.8,
        top_p: 0.95,
        seed: 11,
    });
    let ours = generate(&model, &prompts, &sampled).unwrap();
    let theirs = generate(&other, &prompts, &sampled).unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.tokens, b.tokens);
    }
}

#[test]
fn a_second_implementor_scores_what_qwen3_scores() {
    let model = tiny();
    let other = wrapped();
    let prompt = [5, 77, 300, 12, 999, 42];
    let candidates = vec![vec![7], vec![8, 9, 10], vec![1023, 0, 5, 6]];
    let ours = score_continuations(&model, &prompt, &candidates).unwrap();
    let theirs = score_continuations(&other, &prompt, &candidates).unwrap();
    assert_eq!(ours.len(), candidates.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.total.to_bits(), b.total.to_bits());
        assert_eq!(a.token_logprobs, b.token_logprobs);
    }
    assert_eq!(other.forward_passes.load(Ordering::Relaxed), 1);
    assert_eq!(other.lora_targets().len(), 7);
}
