//! `cargo xtask merge` and `cargo xtask logits`: what users of HF tools expect to run on a
//! trained role (issue #14, item 6), composed of library functions
//! (`spec_actions_qwen3::hf_export`, `Qwen3::save_hf_sequence_classification`,
//! `spec_actions_train::trainer::read_score_head`).

use std::path::PathBuf;

use burn::backend::Flex;
use spec_actions_core::Example;
use spec_actions_data::prompt_completion::{RenderedPair, SftRenderer};
use spec_actions_qwen3::Qwen3Tokenizer;
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::hf_export::{companion_files, merge_to_hf, merged_model, write_logits_file};
use spec_actions_train::trainer::read_score_head;

use crate::pipeline::BoxError;

/// The proposer's chat template as the data crate's [`SftRenderer`]: the SFT set's TRL
/// prompt-completion pairs are rendered by the encoder training uses.
pub struct EncoderRenderer<'a>(pub &'a ActionPromptEncoder);

impl SftRenderer for EncoderRenderer<'_> {
    fn render(&self, example: &Example) -> Result<RenderedPair, String> {
        let pc = self
            .0
            .proposer_prompt_completion(example)
            .map_err(|e| e.to_string())?;
        Ok(RenderedPair {
            prompt: pc.prompt,
            completion: pc.completion,
            prompt_tokens: pc.prompt_tokens,
            completion_tokens: pc.completion_tokens,
        })
    }
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// HF checkpoint folder (config.json + safetensors): the base model.
    #[arg(long)]
    pub base: PathBuf,
    /// PEFT adapter folder (adapter_config.json + adapter_model.safetensors) to merge in; without
    /// it the base is written as is (e.g. with `--score-head`).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Output folder: an HF checkpoint (f32), with the base's tokenizer files; replaced whole.
    #[arg(long)]
    pub out: PathBuf,
    /// A reward model's head (`score_head.safetensors`, `score.weight`): write the merged model
    /// as `Qwen3ForSequenceClassification` with one label instead of a causal LM.
    #[arg(long)]
    pub score_head: Option<PathBuf>,
    /// With `--score-head`: the padding id written to config.json (transformers scores each row
    /// at its last token that is not this id).
    #[arg(long, requires = "score_head")]
    pub pad_token_id: Option<u32>,
}

#[derive(clap::Args)]
pub struct LogitsArgs {
    /// HF checkpoint folder.
    #[arg(long)]
    pub model: PathBuf,
    /// PEFT adapter folder applied to the model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Token ids of one row, comma-separated (`--tokens 9707,11,1879`); repeat for more rows
    /// of the same length.
    #[arg(
        long,
        value_name = "ID,ID,…",
        required_unless_present = "text",
        conflicts_with = "text"
    )]
    pub tokens: Vec<String>,
    /// A text to tokenize (no chat template, no special tokens added) as the one row.
    #[arg(long)]
    pub text: Option<String>,
    /// Folder of tokenizer.json for `--text` (default: --model).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Output safetensors file: `input_ids` (I64 [batch, seq]) and `logits` (F32 [batch, seq, vocab]).
    #[arg(long)]
    pub out: PathBuf,
}

/// `merge`: base (+ adapter) → HF folder, or a sequence-classification folder with a score head.
pub fn merge(args: &MergeArgs) -> Result<(), BoxError> {
    let device = Default::default();
    match &args.score_head {
        None => {
            let model = merge_to_hf::<Flex>(&args.base, args.adapter.as_deref(), &args.out, &device)?;
            println!(
                "wrote {} ({} layers, hidden {}, vocab {}){}",
                args.out.display(),
                model.config.num_hidden_layers,
                model.config.hidden_size,
                model.config.vocab_size,
                if args.adapter.is_some() {
                    ", adapter merged"
                } else {
                    ""
                }
            );
        }
        Some(head) => {
            let model = merged_model::<Flex>(&args.base, args.adapter.as_deref(), &device)?;
            let head = read_score_head::<Flex>(head, model.config.hidden_size, &device)?;
            let values = head
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| format!("score head: {e:?}"))?;
            model.save_hf_sequence_classification(
                &args.out,
                &values,
                args.pad_token_id,
                &companion_files(&args.base)?,
            )?;
            println!(
                "wrote {} (Qwen3ForSequenceClassification, 1 label, pad_token_id {:?})",
                args.out.display(),
                args.pad_token_id
            );
        }
    }
    Ok(())
}

/// `logits`: the logits of a checkpoint (+ adapter) on the given tokens, as a safetensors file.
pub fn logits(args: &LogitsArgs) -> Result<(), BoxError> {
    let device = Default::default();
    let rows: Vec<Vec<u32>> = match &args.text {
        Some(text) => {
            let dir = args.tokenizer.as_ref().unwrap_or(&args.model);
            vec![Qwen3Tokenizer::from_dir(dir)?.encode(text)?]
        }
        None => args
            .tokens
            .iter()
            .enumerate()
            .map(|(r, row)| parse_row(row).map_err(|e| format!("--tokens #{}: {e}", r + 1)))
            .collect::<Result<_, _>>()?,
    };
    let model = merged_model::<Flex>(&args.model, None, &device)?;
    let model = match &args.adapter {
        Some(dir) => model.with_peft_adapter(dir)?,
        None => model,
    };
    let [batch, seq, vocab] = write_logits_file(&model, &rows, &args.out)?;
    println!(
        "wrote {}: input_ids [{batch}, {seq}], logits [{batch}, {seq}, {vocab}]",
        args.out.display()
    );
    Ok(())
}

/// `"9707, 11,1879"` → `[9707, 11, 1879]`; an entry that is not a token id is an error naming it.
fn parse_row(row: &str) -> Result<Vec<u32>, String> {
    row.split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, id)| {
            id.parse::<u32>()
                .map_err(|_| format!("entry {} `{id}` is not a token id", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rows_parse_or_name_the_bad_entry() {
        assert_eq!(parse_row("9707, 11,1879"), Ok(vec![9707, 11, 1879]));
        assert_eq!(parse_row("1,x,3").unwrap_err(), "entry 2 `x` is not a token id");
        assert!(parse_row("").is_err());
    }
}
