//! The cost/accuracy report of a results file: the study's table, the Pareto frontier with the
//! reason every other configuration is dominated, statistics when per-example records exist, a
//! text chart, and `frontier.svg` + `frontier.json` in `--out`.
//!
//! ```text
//! cargo run --release --example frontier                     # the study's v2 results
//! cargo run --release --example frontier -- --results runs/eval/results.json --out runs/eval
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spec_actions::core::ResultsFile;
use spec_actions::frontier::study::study_v2;
use spec_actions::frontier::{BootstrapOptions, FrontierError, FrontierReport, ReportOptions, chart, plot};

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
    /// Folder where frontier.svg and frontier.json are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Bootstrap resamples (used when the file has per-example records).
    #[arg(long, default_value_t = 1000)]
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
    let options = ReportOptions {
        bootstrap: BootstrapOptions {
            resamples: args.resamples,
            seed: args.seed,
            ..BootstrapOptions::default()
        },
        alpha: args.alpha,
    };
    let report = FrontierReport::analyze(&results, options)?;

    if !report.title.is_empty() {
        println!("# {}\n", report.title);
    }
    println!("{}", report.markdown_table());
    println!("{}\n", report.baselines_line());
    println!(
        "## Cost-Quality Frontier\n\n```\n{}```\n",
        report.frontier_listing()
    );
    if let Some(sweeps) = report.sweeps_text() {
        println!("## Threshold sweeps (RouteLLM metrics)\n\n```\n{sweeps}```\n");
    }
    if let Some(stats) = report.statistics_text() {
        println!("## Statistics\n\n```\n{stats}```\n");
    }
    println!("```\n{}```\n", chart::text_chart(&report.frontier, 64, 16));

    let svg_path = args.out.join("frontier.svg");
    let json_path = args.out.join("frontier.json");
    plot::write_svg(&report, &svg_path)?;
    report.write_json(&json_path)?;
    println!("wrote {} and {}", svg_path.display(), json_path.display());
    Ok(())
}
