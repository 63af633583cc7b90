//! Checks a tokenizer folder's chat template and tokenizer against reference renderings.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example chat_template -- \
//!     assets/qwen3-tokenizer crates/spec-actions-qwen3/tests/data/chat_template_cases.json
//! ```
//!
//! The cases file is a JSON list of objects with `messages`, `tools` (list or null),
//! `add_generation_prompt`, `enable_thinking` (bool or null/absent), and the expected `text` and
//! `input_ids` — the format of `tests/data/chat_template_cases.json`, which HF's
//! `apply_chat_template` produced. Every case must match exactly; the first mismatch is printed
//! as a diff (first differing position with context) and the exit status is 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;
use spec_actions_qwen3::chat_template::{ChatTemplate, RenderOptions, context_around, first_difference};
use spec_actions_qwen3::tokenizer::Qwen3Tokenizer;

/// Check every case of a chat-template cases file (text and token ids) against this crate.
#[derive(Parser)]
#[command(name = "chat_template")]
struct Args {
    /// Folder with tokenizer.json and tokenizer_config.json (or chat_template.jinja).
    tokenizer_dir: PathBuf,
    /// JSON list of cases: messages, tools, add_generation_prompt, enable_thinking, text, input_ids.
    cases: PathBuf,
}

/// One reference case.
#[derive(serde::Deserialize)]
struct Case {
    messages: Vec<Value>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    add_generation_prompt: bool,
    #[serde(default)]
    enable_thinking: Option<bool>,
    text: String,
    input_ids: Vec<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(true)` when every case matches; `Ok(false)` after printing the first mismatch.
fn run(args: &Args) -> Result<bool, String> {
    let template = ChatTemplate::from_dir(&args.tokenizer_dir).map_err(|e| e.to_string())?;
    let tokenizer = Qwen3Tokenizer::from_dir(&args.tokenizer_dir).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&args.cases)
        .map_err(|e| format!("cannot read {}: {e}", args.cases.display()))?;
    let cases: Vec<Case> = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a list of cases: {e}", args.cases.display()))?;

    for (i, case) in cases.iter().enumerate() {
        let options = RenderOptions {
            add_generation_prompt: case.add_generation_prompt,
            enable_thinking: case.enable_thinking,
            ..Default::default()
        };
        let rendered = template
            .render_and_encode(&tokenizer, &case.messages, case.tools.as_deref(), &options)
            .map_err(|e| format!("case {i}: {e}"))?;

        if rendered.text != case.text {
            let at = first_difference(case.text.as_bytes(), rendered.text.as_bytes());
            let line = case.text.as_bytes()[..at.min(case.text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            println!("case {i}: TEXT MISMATCH at byte {at} (line {line})");
            println!("  expected …{:?}…", context_around(&case.text, at));
            println!("  actual   …{:?}…", context_around(&rendered.text, at));
            println!(
                "  lengths: expected {} bytes, actual {} bytes",
                case.text.len(),
                rendered.text.len()
            );
            return Ok(false);
        }
        if rendered.ids != case.input_ids {
            let at = first_difference(&case.input_ids, &rendered.ids);
            println!("case {i}: TOKEN MISMATCH at index {at} (text identical)");
            let show = |ids: &[u32]| {
                let window = &ids[at.saturating_sub(5).min(ids.len())..(at + 5).min(ids.len())];
                window
                    .iter()
                    .map(|&id| format!("{id}={:?}", tokenizer.decode(&[id], false).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!("  expected {}", show(&case.input_ids));
            println!("  actual   {}", show(&rendered.ids));
            println!(
                "  lengths: expected {} ids, actual {} ids",
                case.input_ids.len(),
                rendered.ids.len()
            );
            return Ok(false);
        }
        println!(
            "case {i}: ok ({} bytes, {} ids)",
            case.text.len(),
            case.input_ids.len()
        );
    }
    println!("all {} cases match ({})", cases.len(), args.cases.display());
    Ok(true)
}
