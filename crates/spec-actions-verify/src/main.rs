//! `spec-actions-verify`: replay recorded model outputs through every policy, calibrate on dev,
//! evaluate on eval, write results, sweeps and decision logs; explain any decision.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spec_actions_core::CostModel;
use spec_actions_verify::study::{StudyOptions, run_study};
use spec_actions_verify::{
    RecordedSet, Result, SyntheticRecordingConfig, explain, generate, memory_origin, read_decision_logs,
};

#[derive(Parser)]
#[command(
    version,
    about = "Speculative action policies: replay, calibrate, evaluate, explain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a seeded synthetic recording (JSONL, the recorded-outputs format).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2000)]
        examples: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 0.6)]
        cheap_accuracy: f64,
        #[arg(long, default_value_t = 0.8)]
        strong_accuracy: f64,
        /// How informative gate scores are (0: noise).
        #[arg(long, default_value_t = 1.5)]
        separation: f64,
    },
    /// Replay a recording: calibrate thresholds on its dev rows, evaluate every policy on its eval
    /// rows; write results.json, decisions.jsonl, sweeps.json and analysis.json into --out-dir.
    Replay {
        #[arg(long)]
        recorded: PathBuf,
        #[arg(long)]
        out_dir: PathBuf,
        /// Target dev fallback rates to calibrate every gate to.
        #[arg(long, value_delimiter = ',', default_value = "0.3")]
        fallback_rate: Vec<f64>,
        /// Cost budgets (mean nominal units) to calibrate every gate to.
        #[arg(long, value_delimiter = ',')]
        budget: Vec<f64>,
        /// Execution time (ms) of a file_read or retrieval, for policy H's latency.
        #[arg(long, default_value_t = 0.0)]
        read_exec_ms: f64,
        /// Recording has no sampled proposals / one-pass scores: skip policies that need them.
        #[arg(long)]
        greedy_only: bool,
    },
    /// Print why a policy decided what it did on one example, from a decisions.jsonl file.
    Explain {
        #[arg(long)]
        decisions: PathBuf,
        #[arg(long)]
        example: String,
        /// Only this configuration (default: every one).
        #[arg(long)]
        config: Option<String>,
    },
}

fn replay(recorded: PathBuf, out_dir: PathBuf, options: &StudyOptions) -> Result<()> {
    let set = RecordedSet::read_jsonl(&recorded)?;
    let study = run_study(&set, &CostModel::default(), options)?;
    print!("{}", study.summary_table());
    let results = study.results(format!("replay of {} (eval split)", recorded.display()));
    study.write(&results, &out_dir)?;
    println!(
        "wrote results.json, decisions.jsonl, sweeps.json, analysis.json in {}",
        out_dir.display()
    );
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Synth {
            out,
            examples,
            seed,
            cheap_accuracy,
            strong_accuracy,
            separation,
        } => {
            let config = SyntheticRecordingConfig {
                examples,
                seed,
                cheap_accuracy,
                strong_accuracy,
                gate_separation: separation,
                ..Default::default()
            };
            RecordedSet::from_rows(generate(&config), &memory_origin())?.write_jsonl(&out)?;
            println!("wrote {examples} recorded examples to {}", out.display());
            Ok(())
        }
        Command::Replay {
            recorded,
            out_dir,
            fallback_rate,
            budget,
            read_exec_ms,
            greedy_only,
        } => replay(
            recorded,
            out_dir,
            &StudyOptions {
                fallback_rates: fallback_rate,
                budgets: budget,
                read_exec_ms,
                greedy_only,
                samples: 3,
                policies: None,
            },
        ),
        Command::Explain {
            decisions,
            example,
            config,
        } => {
            let rows = read_decision_logs(&decisions)?;
            let hits: Vec<_> = rows
                .iter()
                .filter(|r| r.record.example_id == example && config.as_ref().is_none_or(|c| *c == r.config))
                .collect();
            if hits.is_empty() {
                eprintln!("no decision for example {example:?} in {}", decisions.display());
            }
            let mut out = std::io::stdout().lock();
            for r in hits {
                // A closed pipe (`| head`) ends the listing quietly.
                if writeln!(out, "{}", explain(&r.config, &r.record, &r.log)).is_err() {
                    break;
                }
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
