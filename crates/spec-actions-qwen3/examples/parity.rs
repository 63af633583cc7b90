//! Checks a checkpoint folder against a reference file in the fixtures' format.
//!
//! ```text
//! cargo run --release -p spec-actions-qwen3 --example parity -- <checkpoint_dir> <reference.safetensors> [--tolerance 1e-4]
//! ```
//!
//! Prints max |Δ| for `logits`, `padded_logits` (real tokens only), every `hidden_state.N`
//! and the number of differing `greedy_output` tokens; exits 1 if any is above tolerance.

use std::path::PathBuf;
use std::process::ExitCode;

use burn::backend::Flex;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::parity::{ReferenceFile, check_reference};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut tolerance = 1e-4;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tolerance" => match args.next().and_then(|t| t.parse::<f64>().ok()) {
                Some(t) => tolerance = t,
                None => return usage("--tolerance needs a number"),
            },
            "-h" | "--help" => return usage(""),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let [checkpoint, reference] = positional.as_slice() else {
        return usage("expected <checkpoint_dir> <reference.safetensors>");
    };
    let device = Default::default();
    let result = load_qwen3::<Flex>(checkpoint, &device)
        .and_then(|model| Ok((model, ReferenceFile::open(reference)?)))
        .and_then(|(model, reference)| check_reference(&model, &reference, tolerance));
    let checks = match result {
        Ok(checks) => checks,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for check in &checks {
        let verdict = if check.passed() { "ok" } else { "FAIL" };
        failed |= !check.passed();
        println!(
            "{:<16} max|Δ| = {:.3e}  (tolerance {:.1e})  {verdict}",
            check.key, check.max_abs_diff, check.tolerance
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: parity <checkpoint_dir> <reference.safetensors> [--tolerance T]\n\
         Compares logits, padded_logits, hidden_state.N (max |Δ| <= T, default 1e-4) and greedy_output (exact)."
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
