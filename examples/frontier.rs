//! The cost/accuracy report of a results file, as the pipeline writes it: the verdict, the
//! study's table, the Pareto frontier with the reason every other configuration is dominated,
//! statistics with Holm-adjusted p-values when per-example records exist, the methods, and
//! `report.md`, `frontier.svg` + `frontier.json` in `--out` (with `--run`, the targets table
//! and the run's figures too).
//!
//! ```text
//! cargo run --release --example frontier                     # the study's v2 results
//! cargo run --release --example frontier -- --results runs/eval/results.json --out runs/eval
//! cargo run --release --example frontier -- --results RUN/eval/results.json --run RUN --out /tmp/r
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spec_actions::core::ResultsFile;
use spec_actions::frontier::reference::study_v2;
use spec_actions::frontier::{BootstrapOptions, DocumentOptions, FrontierError, ReportOptions, write_report};

/// Cost/accuracy frontier of spec-actions configurations.
///
/// Without --results, analyses the first study's v2 results (embedded): A 8B frozen, B 1.7B
/// LoRA, C cheap + 8B verifier, D cheap + 4B reward model, E multi-proposal.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Results file to analyse (ResultsFile JSON, as the policies write it).
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Folder where report.md, frontier.svg and frontier.json are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// A pipeline run folder: adds the targets table, learning curves, the verifier's
    /// reliability diagram and the confusion matrices.
    #[arg(long, value_name = "DIR")]
    run: Option<PathBuf>,
    /// Bootstrap resamples (used when the file has per-example records).
    #[arg(long, default_value_t = BootstrapOptions::default().resamples)]
    resamples: usize,
    /// Seed of the bootstrap's random generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Significance level of the paired comparisons.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), FrontierError> {
    let results = match &args.results {
        Some(path) => ResultsFile::read(path)?,
        None => study_v2(),
    };
    let options = DocumentOptions {
        report: ReportOptions {
            bootstrap: BootstrapOptions {
                resamples: args.resamples,
                seed: args.seed,
                ..BootstrapOptions::default()
            },
            alpha: args.alpha,
        },
        with_study: false,
        run: args.run,
    };
    let md = write_report(&results, &args.out, &options)?;
    println!("{md}");
    println!(
        "wrote report.md, frontier.svg and frontier.json in {}",
        args.out.display()
    );
    Ok(())
}
