//! Real SFT rows as the proposer's trainer encodes them, for an outside tool to compute on:
//! examples of a dataset split (`<run>/datasets/train.jsonl`) through
//! `ActionPromptEncoder::proposer_sft` (the chat template, labels on the answer tokens only,
//! `-100` elsewhere), written as JSON `{"source", "tokenizer", "rows": [{"id", "ids",
//! "labels"}]}`. `scripts/make_real_vocab_reference.py --rows` reads it (issue #14: the loss
//! and LoRA gradients of a trained adapter on these rows against float64 PyTorch).
//!
//! ```text
//! cargo run -p spec-actions-train --example sft_rows -- EXAMPLES.jsonl OUT.json [COUNT] [SKIP] [TOKENIZER_DIR]
//! ```
//! COUNT rows (default 4) after the first SKIP examples (default 0); TOKENIZER_DIR defaults to
//! the bundled `assets/qwen3-tokenizer`, the tokenizer the pipeline trains the tiny roles with.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use spec_actions_core::io::{FileError, atomic_write};
use spec_actions_core::jsonl::read_examples;
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;

const USAGE: &str = "usage: sft_rows EXAMPLES.jsonl OUT.json [COUNT] [SKIP] [TOKENIZER_DIR]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args.iter().any(|a| a == "--help" || a == "-h") {
        return Err(USAGE.into());
    }
    let (examples, out) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let count: usize = args.get(2).map_or(Ok(4), |c| c.parse())?;
    let skip: usize = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let tokenizer = args.get(4).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/qwen3-tokenizer"),
        PathBuf::from,
    );
    let encoder = ActionPromptEncoder::from_dir(&tokenizer)?;
    let mut rows = Vec::new();
    for example in read_examples(&examples)?.skip(skip) {
        if rows.len() == count {
            break;
        }
        let example = example?;
        let encoded = encoder
            .proposer_sft(&example)
            .map_err(|e| format!("{}: example {}: {e}", examples.display(), example.id))?;
        rows.push(json!({"id": example.id, "ids": encoded.ids, "labels": encoded.labels}));
    }
    let tokens: Vec<(usize, usize)> = rows
        .iter()
        .map(|r| {
            let labels = r["labels"]
                .as_array()
                .map_or(0, |l| l.iter().filter(|v| v.as_i64() != Some(-100)).count());
            (r["ids"].as_array().map_or(0, Vec::len), labels)
        })
        .collect();
    let file = json!({
        "source": examples.display().to_string(),
        "tokenizer": tokenizer.display().to_string(),
        "rows": rows,
    });
    atomic_write::<FileError>(&out, |w| {
        serde_json::to_writer(&mut *w, &file).map_err(|e| FileError::new("writing", &out, e.into()))?;
        w.flush().map_err(|e| FileError::new("writing", &out, e))
    })?;
    println!(
        "{} rows (tokens, label tokens): {tokens:?} → {}",
        tokens.len(),
        out.display()
    );
    Ok(())
}
