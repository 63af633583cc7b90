//! The proposer's SFT set in TRL's prompt-completion format (`sft_pc_<split>.jsonl`), beside
//! the `messages` rows of [`crate::builders::sft_row`] (issue #14, item 5).
//!
//! On `messages` rows TRL trains on every token (and `assistant_only_loss` cannot work: Qwen3's
//! template has no `{% generation %}` markers), while our trainer puts the loss on the answer
//! only. On prompt-completion rows TRL's `SFTTrainer` puts it on the completion only — so the
//! prompt here is the chat template rendered up to the assistant turn (generation prompt
//! included) and the completion the answer up to its closing `<|im_end|>` (TRL's EOS, which it
//! would append otherwise): the tokens our trainer trains on, but the template's newline after
//! `<|im_end|>`, which decoding never reaches. Rendering needs the model's chat template, which this crate does not
//! have: a [`SftRenderer`] supplies it (`spec_actions_qwen3::ActionPromptEncoder` in `xtask`).

use serde::Serialize;
use serde_json::{Map, Value, json};
use spec_actions_core::Example;

/// TRL's default `SFTConfig.max_length`: longer rows are truncated (from the end, which here
/// is the answer) unless the user raises it.
pub const TRL_DEFAULT_MAX_LENGTH: usize = 1024;

/// One example rendered as a prompt and a completion, with their token counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPair {
    pub prompt: String,
    pub completion: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// Renders an example's SFT pair with the proposer's chat template; `Err` names why an
/// example cannot be rendered (it is then left out of the file and counted). Called from
/// several threads at once.
pub trait SftRenderer: Sync {
    fn render(&self, example: &Example) -> Result<RenderedPair, String>;
}

/// One prompt-completion row: `prompt`, `completion` and our fields (`id`, `source`,
/// `conversation`, `split`, `kind`).
pub fn prompt_completion_row(example: &Example, pair: &RenderedPair) -> Value {
    let mut row = Map::new();
    row.insert("prompt".into(), json!(pair.prompt));
    row.insert("completion".into(), json!(pair.completion));
    row.insert("id".into(), json!(example.id));
    row.insert("source".into(), json!(example.source));
    row.insert("conversation".into(), json!(example.conversation));
    row.insert("split".into(), json!(example.split.as_str()));
    row.insert("kind".into(), json!(example.gold.kind.as_str()));
    Value::Object(row)
}

/// Token lengths of one split's prompt-completion rows, against TRL's default `max_length`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairLengths {
    pub rows: usize,
    /// Examples the renderer could not render (not in the file).
    pub not_rendered: usize,
    /// Prompt + completion tokens: p50 / p90 / p99 / max.
    pub total_p50: usize,
    pub total_p90: usize,
    pub total_p99: usize,
    pub total_max: usize,
    pub completion_max: usize,
    /// TRL's default `max_length` ([`TRL_DEFAULT_MAX_LENGTH`]).
    pub trl_max_length: usize,
    /// Rows longer than that: TRL would cut their end, the completion.
    pub over_trl_max_length: usize,
}

impl PairLengths {
    /// The statistics of `(prompt_tokens, completion_tokens)` pairs.
    pub fn of(pairs: &[(usize, usize)], not_rendered: usize) -> Self {
        let mut totals: Vec<usize> = pairs.iter().map(|(p, c)| p + c).collect();
        totals.sort_unstable();
        let q = |f: f64| -> usize {
            if totals.is_empty() {
                0
            } else {
                totals[((totals.len() - 1) as f64 * f).round() as usize]
            }
        };
        PairLengths {
            rows: pairs.len(),
            not_rendered,
            total_p50: q(0.5),
            total_p90: q(0.9),
            total_p99: q(0.99),
            total_max: totals.last().copied().unwrap_or(0),
            completion_max: pairs.iter().map(|&(_, c)| c).max().unwrap_or(0),
            trl_max_length: TRL_DEFAULT_MAX_LENGTH,
            over_trl_max_length: totals.iter().filter(|&&t| t > TRL_DEFAULT_MAX_LENGTH).count(),
        }
    }

    /// Share of rows over TRL's default `max_length`.
    pub fn over_share(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.over_trl_max_length as f64 / self.rows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank quantiles on a hand-checked list, and the count over 1,024 tokens.
    #[test]
    fn lengths_count_rows_over_trls_default() {
        let pairs: Vec<(usize, usize)> = (1..=10).map(|i| (i * 200, 24)).collect(); // totals 224 … 2,024
        let l = PairLengths::of(&pairs, 2);
        assert_eq!((l.rows, l.not_rendered), (10, 2));
        assert_eq!(l.total_max, 2024);
        assert_eq!(l.total_p50, 1224); // index round(9 · 0.5) = 5 (4.5 rounds away from 0)
        assert_eq!(l.over_trl_max_length, 5); // 1,224 … 2,024
        assert!((l.over_share() - 0.5).abs() < 1e-12);
        assert_eq!(PairLengths::of(&[], 0).total_max, 0);
    }
}
