//! The three training objectives, each computing logits or scores only where they are needed:
//!
//! - [`causal_lm_loss`]: next-token cross-entropy on label tokens only (HF's `-100` convention),
//!   with the LM head applied to the label positions alone — over Qwen3's 151,936-token
//!   vocabulary the head at every position would be most of the work otherwise;
//! - [`choice_logits`]: the logits of a few answer tokens (`ACCEPT` / `REJECT`) at one position
//!   per row, for the verifier;
//! - [`last_token_scores`] + [`bradley_terry_loss`]: a scalar head on each row's last real token
//!   and the pairwise loss `−log σ(r_better − r_worse)`, for the reward model.
//!
//! Losses are computed in f32 whatever the model's compute dtype (bf16 on a GPU): logits are
//! cast to f32 before the log-softmax, and the reward head (f32, like the LoRA adapters) is
//! applied to hidden states cast to f32, so its gradient and optimizer state stay f32.

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::{log_softmax, softplus};

use spec_actions_qwen3::causal_lm::CausalLm;
use spec_actions_qwen3::model::head_gradient::head_rows_gradient;
use spec_actions_qwen3::model::log_sum_exp::{label_nll_parts, with_gradient};

/// Label value of positions that carry no loss (HF / PyTorch `ignore_index`).
pub const IGNORE: i64 = -100;

/// A right-padded batch of token rows.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// `[batch][seq]`, padded on the right with `pad_id`.
    pub ids: Vec<Vec<u32>>,
    /// Real length of each row.
    pub lengths: Vec<usize>,
}

impl TokenBatch {
    /// Pads `rows` on the right to the longest one.
    pub fn right_padded(rows: &[&[u32]], pad_id: u32) -> Self {
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let ids = rows
            .iter()
            .map(|r| {
                let mut row = r.to_vec();
                row.resize(width, pad_id);
                row
            })
            .collect();
        TokenBatch {
            ids,
            lengths: rows.iter().map(|r| r.len()).collect(),
        }
    }

    /// `[batch, seq]`
    pub fn dims(&self) -> [usize; 2] {
        [self.ids.len(), self.ids.first().map_or(0, Vec::len)]
    }

    /// The ids as an Int tensor.
    ///
    /// # Shapes
    /// - returns `[batch, seq]`
    pub fn tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2, Int> {
        let [b, s] = self.dims();
        let flat: Vec<i64> = self.ids.iter().flatten().map(|&t| i64::from(t)).collect();
        Tensor::from_data(TensorData::new(flat, [b, s]), device)
    }
}

/// Final hidden states of a right-padded batch. Right padding needs no attention mask: causal
/// attention never lets a real token see the padding after it.
///
/// # Shapes
/// - returns `[batch, seq, hidden]`
pub fn hidden_states<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &TokenBatch,
    device: &B::Device,
) -> Tensor<B, 3> {
    let ids = batch.tensor::<B>(device);
    let ctx = model.context_for(&ids, None);
    model.forward_hidden(ids, &ctx, None, None)
}

/// Rows `flat_positions` of `hidden` flattened over batch and sequence.
///
/// # Shapes
/// - `hidden`: `[batch, seq, hidden]`
/// - returns `[flat_positions.len(), hidden]`
pub fn gather_rows<B: Backend>(hidden: Tensor<B, 3>, flat_positions: &[usize]) -> Tensor<B, 2> {
    let [b, s, h] = hidden.dims();
    let device = hidden.device();
    let idx: Vec<i64> = flat_positions.iter().map(|&p| p as i64).collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [flat_positions.len()]), &device);
    hidden.reshape([b * s, h]).select(0, idx)
}

/// Sum of next-token negative log-likelihoods over every label token of the batch, and
/// the number of label tokens. `labels[r][t]` is the token expected *at* position `t`
/// (aligned with the ids, `IGNORE` where there is no loss), so position `t − 1` predicts it,
/// as in transformers' `ForCausalLMLoss`.
///
/// Divide by the total label count of the accumulation window to get HF's mean loss.
///
/// # Shapes
/// - returns a `[1]` tensor (the sum) and a count
pub fn causal_lm_loss<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &TokenBatch,
    labels: &[Vec<i64>],
    device: &B::Device,
) -> (Tensor<B, 1>, usize) {
    let [_, s] = batch.dims();
    // 1. positions whose next token is a label
    let mut positions = Vec::new();
    let mut targets = Vec::new();
    for (r, row) in labels.iter().enumerate() {
        for (t, &label) in row.iter().enumerate().take(s).skip(1) {
            if label != IGNORE {
                positions.push(r * s + t - 1);
                targets.push(label);
            }
        }
    }
    let n = positions.len();
    if n == 0 {
        return (Tensor::zeros([1], device), 0);
    }
    // 2. hidden states at those positions only
    let rows = gather_rows(hidden_states(model, batch, device), &positions);
    // 3. LM head, log-softmax in f32 and −log p(target), a chunk of rows at a time
    (negative_log_likelihood(model, rows, &targets, device), n)
}

/// [`causal_lm_loss`] with the first `head_tokens[r]` label tokens of row `r` weighted
/// `head_weight` times (the others once): `Σ wᵢ · (−log p(targetᵢ))` and `Σ wᵢ`.
///
/// The proposer's answer starts with its kind (`tool_call`, `final_answer`, …, then a call
/// block or the end of turn), so weighting each answer's kind tokens is weighting the
/// decision the study scores first, which is otherwise a few tokens among dozens of call
/// arguments. `head_weight = 1` is [`causal_lm_loss`]. A row without an entry in
/// `head_tokens` gets no extra weight.
///
/// # Shapes
/// - returns a `[1]` tensor (the weighted sum) and the sum of weights
pub fn head_weighted_causal_lm_loss<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &TokenBatch,
    labels: &[Vec<i64>],
    head_tokens: &[usize],
    head_weight: usize,
    device: &B::Device,
) -> (Tensor<B, 1>, usize) {
    let [_, s] = batch.dims();
    // 1. positions whose next token is a label, and their weights
    let mut positions = Vec::new();
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    for (r, row) in labels.iter().enumerate() {
        let head = head_tokens.get(r).copied().unwrap_or(0);
        let mut seen = 0;
        for (t, &label) in row.iter().enumerate().take(s).skip(1) {
            if label != IGNORE {
                positions.push(r * s + t - 1);
                targets.push(label);
                weights.push(if seen < head { head_weight } else { 1 });
                seen += 1;
            }
        }
    }
    let total: usize = weights.iter().sum();
    if positions.is_empty() {
        return (Tensor::zeros([1], device), 0);
    }
    // 2. hidden states at those positions only; 3. weighted NLL in chunks
    let rows = gather_rows(hidden_states(model, batch, device), &positions);
    let chunk = (LOGITS_CHUNK_BYTES / 4 / model.vocab_size().max(1)).max(1);
    let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
    (
        nll_in_chunks(model, rows, &targets, Some(&weights), chunk, device),
        total,
    )
}

/// Bytes of f32 logits held at once by [`negative_log_likelihood`], so that the peak memory of
/// the loss does not grow with the number of label positions (the "chunked cross-entropy" of
/// Liger-Kernel and Unsloth, without a fused kernel). As large as memory allows: every chunk
/// multiplies by (and so re-packs) the whole `[vocab, hidden]` head once forward and once
/// backward. Until the allocator served blocks above 32 MiB from the heap
/// ([`spec_actions_qwen3::allocator`]), chunks stayed below that size (16 MiB 0.87 s, 30 MiB
/// 0.82 s, one 78 MiB piece 1.04 s a `lora_step`, page faults and all); since, on an AMD EPYC
/// family 26 model 2, 2 cores, alternating: 30 MiB (three chunks of the bench's 128 label rows)
/// 425 / 420 ms, 80 MiB (one chunk) 375 / 405 ms a step, peak resident set 0.86 → 1.09 GB.
const LOGITS_CHUNK_BYTES: usize = 80 << 20;

/// `−Σ log p(targets[i] | rows[i])` over the LM head: logits in the compute dtype, log-softmax
/// in f32, computed over chunks of rows so that at most `LOGITS_CHUNK_BYTES` (80 MiB) of logits exist
/// at a time. The sum (and its gradient) is the same as in one piece.
///
/// # Shapes
/// - `rows`: `[n, hidden]` (n = `targets.len()`)
/// - returns `[1]`
pub fn negative_log_likelihood<B: Backend, M: CausalLm<B>>(
    model: &M,
    rows: Tensor<B, 2>,
    targets: &[i64],
    device: &B::Device,
) -> Tensor<B, 1> {
    let chunk = (LOGITS_CHUNK_BYTES / 4 / model.vocab_size().max(1)).max(1);
    nll_in_chunks(model, rows, targets, None, chunk, device)
}

/// `log Σ_j exp(x_j)` of every row: [`spec_actions_qwen3::model::log_sum_exp::log_sum_exp`]
/// (row maximum subtracted, shifted logits floored at −80, the vocabulary summed in f32 blocks
/// and f64 across blocks, so that the loss and its gradient over Qwen3's 151,936 tokens stay
/// within PyTorch's f32 error of a float64 reference — issue #14, item 2).
///
/// # Shapes
/// - `x`: `[rows, vocab]`
/// - returns `[rows, 1]`
pub fn log_sum_exp<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    spec_actions_qwen3::model::log_sum_exp::log_sum_exp(x)
}

/// `−log softmax(x)[label]` of every row, with a gradient that stays precise when `p(label)`
/// is near 1: [`spec_actions_qwen3::model::log_sum_exp::label_nll`] (the value of
/// [`log_sum_exp`]`(x) − x[label]`; the label's gradient `p − 1` computed as `−Σ_{j≠label} p_j`
/// — issue #14, item 2).
///
/// # Shapes
/// - `x`: `[rows, vocab]`; `labels`: `[rows, 1]`
/// - returns `[rows, 1]`
pub fn label_nll<B: Backend>(x: Tensor<B, 2>, labels: Tensor<B, 2, Int>) -> Tensor<B, 2> {
    spec_actions_qwen3::model::log_sum_exp::label_nll(x, labels)
}

fn nll_in_chunks<B: Backend, M: CausalLm<B>>(
    model: &M,
    rows: Tensor<B, 2>,
    targets: &[i64],
    weights: Option<&[f32]>,
    chunk: usize,
    device: &B::Device,
) -> Tensor<B, 1> {
    let [n, hidden] = rows.dims();
    let rows_dtype = FloatDType::from(rows.dtype());
    // The precise path (see `head_rows_gradient`) where it matters: f32 compute, with gradients.
    // In bf16 the product's own rounding is far larger than what f64 would save.
    let head = (B::ad_enabled(device) && rows_dtype == FloatDType::F32).then(|| model.head_matrix().detach());
    let mut total: Option<Tensor<B, 1>> = None;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let part = rows.clone().slice([start..end, 0..hidden]);
        let idx = Tensor::<B, 2, Int>::from_data(
            TensorData::new(targets[start..end].to_vec(), [end - start, 1]),
            device,
        );
        let per_row = match &head {
            Some(head) => {
                // the head applied to the detached rows: its graph reaches a trained head only;
                // the rows get `∂logits · head` in f64
                let logits = model
                    .logits(part.clone().detach().unsqueeze_dim::<3>(0))
                    .squeeze_dim::<2>(0)
                    .cast(FloatDType::F32); // [end - start, vocab]
                let (value, grad) = label_nll_parts(logits.clone(), idx);
                let rows_grad = head_rows_gradient(grad.clone(), head.clone());
                with_gradient(with_gradient(value, logits, grad), part, rows_grad)
            }
            None => {
                let logits = model
                    .logits(part.unsqueeze_dim::<3>(0))
                    .squeeze_dim::<2>(0)
                    .cast(FloatDType::F32);
                log_sum_exp(logits.clone()) - logits.gather(1, idx)
            }
        }; // [end - start, 1]
        let nll = match weights {
            Some(w) => {
                let w = Tensor::<B, 2>::from_data(
                    TensorData::new(w[start..end].to_vec(), [end - start, 1]),
                    device,
                )
                .cast(FloatDType::F32);
                (per_row * w).sum()
            }
            None => per_row.sum(),
        };
        total = Some(match total {
            Some(t) => t + nll,
            None => nll,
        });
    }
    total.unwrap_or_else(|| Tensor::zeros([1], device))
}

/// The logits of `choice_ids` (e.g. the first tokens of `ACCEPT` and `REJECT`) at one position
/// per row, computed from those vocabulary rows of the LM head only, returned in f32.
///
/// # Shapes
/// - `positions[r]`: the position of row `r` whose *next* token is the choice
/// - returns `[batch, choice_ids.len()]`
pub fn choice_logits<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &TokenBatch,
    positions: &[usize],
    choice_ids: &[u32],
    device: &B::Device,
) -> Tensor<B, 2> {
    let [_, s] = batch.dims();
    let flat: Vec<usize> = positions.iter().enumerate().map(|(r, &p)| r * s + p).collect();
    let rows = gather_rows(hidden_states(model, batch, device), &flat); // [batch, hidden]
    rows.matmul(head_columns(model, choice_ids, device))
        .cast(FloatDType::F32)
}

/// The LM head's columns for `token_ids`: `logits[..., k] = hidden · columns[:, k]`.
///
/// # Shapes
/// - returns `[hidden, token_ids.len()]`
pub fn head_columns<B: Backend, M: CausalLm<B>>(
    model: &M,
    token_ids: &[u32],
    device: &B::Device,
) -> Tensor<B, 2> {
    model.head_columns(token_ids, device)
}

/// Two-way (or k-way) cross-entropy of choice logits against the index of the right choice;
/// returns the sum over rows, computed in f32.
///
/// # Shapes
/// - `logits`: `[batch, k]`; returns `[1]`
pub fn choice_loss<B: Backend>(logits: Tensor<B, 2>, targets: &[usize]) -> Tensor<B, 1> {
    let [b, _] = logits.dims();
    let device = logits.device();
    let t: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
    let t = Tensor::<B, 2, Int>::from_data(TensorData::new(t, [b, 1]), &device);
    log_softmax(logits.cast(FloatDType::F32), 1)
        .gather(1, t)
        .sum()
        .neg()
}

/// Scalar scores of each row's last real token through a linear head, in the head's dtype
/// (the hidden states are cast to it).
///
/// # Shapes
/// - `head`: `[hidden, 1]`
/// - returns `[batch]`
pub fn last_token_scores<B: Backend, M: CausalLm<B>>(
    model: &M,
    head: Tensor<B, 2>,
    batch: &TokenBatch,
    device: &B::Device,
) -> Tensor<B, 1> {
    let [_, s] = batch.dims();
    let flat: Vec<usize> = batch
        .lengths
        .iter()
        .enumerate()
        .map(|(r, &len)| r * s + len.saturating_sub(1))
        .collect();
    let rows = gather_rows(hidden_states(model, batch, device), &flat);
    rows.cast(FloatDType::from(head.dtype()))
        .matmul(head)
        .squeeze_dim::<1>(1)
}

/// Bradley–Terry pairwise loss summed over pairs: `Σ −log σ(better − worse) = Σ softplus(worse − better)`.
///
/// # Shapes
/// - `better`, `worse`: `[pairs]`; returns `[1]`
pub fn bradley_terry_loss<B: Backend>(better: Tensor<B, 1>, worse: Tensor<B, 1>) -> Tensor<B, 1> {
    softplus(worse - better, 1.0).sum()
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use spec_actions_qwen3::model::Qwen3;

    use super::*;

    type B = Autodiff<Flex>;

    /// Chunking changes the summation order only: the loss and the gradient reaching the hidden
    /// rows equal the one-piece computation (chunk ≥ n), for a chunk that does not divide n.
    #[test]
    fn chunked_nll_equals_one_piece_value_and_gradient() {
        let device = Default::default();
        let mut config = spec_actions_qwen3::Qwen3Config::qwen3_0_6b();
        (config.vocab_size, config.hidden_size, config.intermediate_size) = (50, 16, 32);
        (
            config.num_hidden_layers,
            config.num_attention_heads,
            config.head_dim,
        ) = (1, 2, 8);
        config.num_key_value_heads = 1;
        B::seed(&device, 7);
        let model: Qwen3<B> = config.init(&device);
        let rows = Tensor::<B, 2>::random([7, 16], burn::tensor::Distribution::Normal(0.0, 3.0), &device);
        let targets = [3i64, 49, 0, 7, 7, 12, 30];
        let run = |chunk: usize| {
            let rows = rows.clone().detach().require_grad();
            let loss = nll_in_chunks(&model, rows.clone(), &targets, None, chunk, &device);
            let grads = loss.backward();
            let grad = rows.grad(&grads).expect("gradient of the rows");
            (
                loss.into_scalar(),
                grad.into_data().into_vec::<f32>().expect("f32 gradient"),
            )
        };
        let (whole, whole_grad) = run(7);
        let (chunked, chunked_grad) = run(3);
        assert!(
            (whole - chunked).abs() <= 1e-4 * whole.abs(),
            "{whole} vs {chunked}"
        );
        assert!(whole > 0.0);
        for (a, b) in whole_grad.iter().zip(&chunked_grad) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
    }
}
