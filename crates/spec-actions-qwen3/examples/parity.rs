//! Checks a checkpoint folder (and optionally a PEFT adapter) against a reference file in the
//! fixtures' format, as written by HF transformers + PEFT.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example parity -- <checkpoint_dir> <reference.safetensors> \
//!     [--adapter DIR] [--save-adapter DIR] [--tolerance 1e-4] [--loss-tolerance 1e-5] [--grad-tolerance 1e-3]
//! ```
//!
//! Base model: max |Δ| of `logits`, `padded_logits` (real tokens only), every `hidden_state.N`,
//! and the number of differing `greedy_output` tokens. With an adapter (default
//! `<checkpoint_dir>/lora` when it exists) and a reference holding them: `lora_logits`,
//! `merged_logits`, `train_loss` and every `grad.*` (relative error). Exits 1 if any check is
//! above its tolerance (a NaN or ±∞ on either side always is), 2 if the inputs cannot be read
//! or the reference does not fit the model (a tensor of another shape, token ids outside the
//! vocabulary, a malformed mask or greedy output): the library's checks validate the reference
//! and return typed errors naming the file and the field, so the example never panics on it.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::backend::{Autodiff, Flex};
use clap::Parser;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::{PeftAdapter, check_lora_reference};
use spec_actions_qwen3::model::parity::{ParityCheck, ReferenceFile, check_reference};

/// Parity of a Qwen3 checkpoint (and LoRA adapter) with a transformers/PEFT reference file.
#[derive(Parser)]
struct Args {
    /// HF checkpoint folder (config.json + safetensors).
    checkpoint: PathBuf,
    /// Reference safetensors (keys input_ids, logits, padded_*, greedy_*, hidden_state.N,
    /// lora_logits, merged_logits, train_labels, train_loss, grad.*).
    reference: PathBuf,
    /// PEFT adapter folder (default: <checkpoint>/lora when it exists).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Absolute tolerance of logits and hidden states.
    /// Also write the adapter back out, as this crate saves adapters (attached to the model,
    /// then `peft_adapter().write`), to DIR: `scripts/check_peft_load.py` then shows that PEFT's
    /// `PeftModel.from_pretrained` loads what we save and reproduces the reference logits.
    #[arg(long, value_name = "DIR")]
    save_adapter: Option<PathBuf>,
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// Absolute tolerance of the training loss.
    #[arg(long, default_value_t = 1e-5)]
    loss_tolerance: f64,
    /// Relative tolerance of the LoRA gradients.
    #[arg(long, default_value_t = 1e-3)]
    grad_tolerance: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let device = Default::default();
    let mut checks: Vec<ParityCheck> = Vec::new();
    let reference = match ReferenceFile::open(&args.reference) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match load_qwen3::<Flex>(&args.checkpoint, &device)
        .and_then(|m| check_reference(&m, &reference, args.tolerance))
    {
        Ok(c) => checks.extend(c),
        Err(e) => return fail(e),
    }
    let adapter = args
        .adapter
        .clone()
        .or_else(|| Some(args.checkpoint.join("lora")).filter(|d| d.is_dir()));
    if let Some(adapter) = adapter.filter(|_| reference.has("lora_logits")) {
        let result = load_qwen3::<Autodiff<Flex>>(&args.checkpoint, &device).and_then(|m| {
            check_lora_reference(
                m,
                &adapter,
                &reference,
                args.tolerance,
                args.loss_tolerance,
                args.grad_tolerance,
            )
        });
        match result {
            Ok(c) => checks.extend(c),
            Err(e) => return fail(e),
        }
        if let Some(out) = &args.save_adapter {
            let saved = || -> Result<(), Box<dyn std::error::Error>> {
                let config = PeftAdapter::read(&adapter)?.config;
                let model = load_qwen3::<Flex>(&args.checkpoint, &device)?.with_peft_adapter(&adapter)?;
                model.peft_adapter(&config).write(out)?;
                Ok(())
            };
            let saved = saved();
            match saved {
                Ok(()) => println!("adapter written to {}", out.display()),
                Err(e) => return fail(e),
            }
        }
    }
    let mut failed = false;
    for check in &checks {
        failed |= !check.passed();
        println!("{check}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
