//! Shared by the decode examples (`decode_steps`, `dot_rows_together`): the random
//! Qwen3-0.6B-shaped model they time, its projections in a step's order, one greedy decode step
//! of it, and the median of timings.

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::FloatDType;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::model::{KvCache, LoraTarget, Projection, Qwen3, StepContext};

/// A Qwen3-0.6B-shaped model of random weights on Flex: f32, or with `dtype` `"bf16"` bf16
/// weights and f32 compute (`spec-actions serve --dtype bf16`).
pub fn random_qwen3_0_6b(dtype: &str, device: &burn_flex::FlexDevice) -> (Qwen3Config, Qwen3<Flex>) {
    let config = Qwen3Config::qwen3_0_6b();
    let model: Qwen3<Flex> = config.init(device);
    let model = match dtype {
        "bf16" => model.cast_weights(FloatDType::BF16),
        _ => model,
    };
    (config, model)
}

/// One decode step of `token` at position `pos` (batch 1, the cache holding positions
/// `0..pos`): the greedy next token.
pub fn greedy_step(
    model: &Qwen3<Flex>,
    cache: &mut KvCache<Flex>,
    token: i64,
    pos: usize,
    device: &burn_flex::FlexDevice,
) -> i64 {
    let ctx = StepContext::new(&model.rotary, &[vec![true; pos + 1]], &[vec![pos]], pos, device)
        .cast(model.compute_dtype());
    let input = Tensor::<Flex, 2, Int>::from_data(TensorData::new(vec![token], [1, 1]), device);
    let hidden = model.forward_hidden(input, &ctx, Some(cache), None);
    model.logits(hidden).argmax(2).into_scalar().elem::<i64>()
}

/// The model's 196 projections (28 layers × q, k, v, o, gate, up, down) in a step's order.
pub fn projections(model: &Qwen3<Flex>) -> Vec<&Projection<Flex>> {
    model
        .layers
        .iter()
        .flat_map(|l| LoraTarget::ALL.map(|t| l.projection(t)))
        .collect()
}

/// The median of `ms` (sorted in place).
pub fn median(ms: &mut [f64]) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}
