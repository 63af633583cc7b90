//! `spec-actions-verify`: replay recorded model outputs through every policy, calibrate on dev,
//! evaluate on eval, write results, sweeps and decision logs; explain any decision.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use spec_actions_core::{ActionKind, CostModel, Split};
use spec_actions_verify::{
    Calibration, Confidence, GateReport, GateTable, LatencyModel, OracleAnalysis, Policy, PolicyRun,
    ProposalSource, RecordedSet, ReplayRoles, Result, Sweep, SyntheticConfig, explain, generate,
    memory_origin, read_decision_logs, results_file, run_policy, write_decision_logs, write_json,
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

#[derive(Serialize)]
struct Analysis {
    oracle: OracleAnalysis,
    gates: Vec<GateReport>,
    calibrations: Vec<Calibration>,
    latency_model: LatencyModel,
    mean_latency_ms: Vec<(String, Option<f64>)>,
}

fn gate_families(greedy_only: bool) -> Vec<Policy> {
    let greedy = ProposalSource::Greedy;
    let mut out = vec![
        Policy::Verified {
            source: greedy,
            threshold: 0.0,
        },
        Policy::RewardThreshold {
            source: greedy,
            threshold: 0.0,
        },
        Policy::Confidence {
            source: greedy,
            measure: Confidence::TopProb,
            threshold: 0.0,
        },
    ];
    if !greedy_only {
        let g2 = ProposalSource::OnePass { k: 2 };
        out.extend([
            Policy::Rerank {
                source: ProposalSource::Sampled { n: 3 },
                threshold: 0.0,
            },
            Policy::Verified {
                source: ProposalSource::OnePass { k: 1 },
                threshold: 0.0,
            },
            Policy::Confidence {
                source: g2,
                measure: Confidence::Margin,
                threshold: 0.0,
            },
        ]);
    }
    out
}

fn replay(
    recorded: PathBuf,
    out_dir: PathBuf,
    fallback_rates: &[f64],
    budgets: &[f64],
    read_exec_ms: f64,
    greedy_only: bool,
) -> Result<()> {
    let set = RecordedSet::read_jsonl(&recorded)?;
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let (dev, eval) = (set.examples(Split::Dev), set.examples(Split::Eval));
    let mut exec = [0.0; ActionKind::COUNT];
    exec[ActionKind::FileRead.index()] = read_exec_ms;
    exec[ActionKind::Retrieval.index()] = read_exec_ms;
    let latency = LatencyModel::fit(&set, exec);

    // 1. Fixed policies.
    let mut policies = vec![
        Policy::StrongOnly,
        Policy::CheapOnly {
            source: ProposalSource::Greedy,
        },
    ];
    if !greedy_only {
        policies.push(Policy::CheapOnly {
            source: ProposalSource::OnePass { k: 1 },
        });
    }
    policies.push(Policy::Speculative {
        source: ProposalSource::Greedy,
    });
    // 2. Gated policies, calibrated on dev; sweeps on dev and eval.
    let (mut calibrations, mut gates, mut sweeps): (Vec<Calibration>, Vec<GateReport>, Vec<Sweep>) =
        Default::default();
    for family in gate_families(greedy_only) {
        let dev_table = GateTable::probe(&family, &dev, &mut replay.roles())?;
        for &rate in fallback_rates {
            calibrations.push(dev_table.calibrate_fallback_rate(rate)?);
        }
        for &budget in budgets {
            match dev_table.calibrate_budget(budget) {
                Ok(c) => calibrations.push(c),
                Err(e) => eprintln!("skipping: {e}"),
            }
        }
        let eval_table = GateTable::probe(&family, &eval, &mut replay.roles())?;
        gates.push(GateReport::new(&eval_table));
        sweeps.push(dev_table.sweep());
        sweeps.push(eval_table.sweep());
    }
    policies.extend(calibrations.iter().map(|c| c.policy));
    // 3. Evaluate on eval.
    let runs: Vec<PolicyRun> = policies
        .iter()
        .map(|p| run_policy(p, &eval, &mut replay.roles(), Some(&latency)))
        .collect::<Result<_>>()?;
    let oracle = OracleAnalysis::from_runs(&runs[1], &runs[0])?;
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>12}",
        "config", "accuracy", "cost", "accept", "latency ms"
    );
    for run in &runs {
        let c = &run.config;
        let accept = c.accept_rate.map_or("-".to_string(), |a| format!("{a:.3}"));
        let lat = run
            .summary
            .mean_latency_ms
            .map_or("-".to_string(), |l| format!("{l:.1}"));
        println!(
            "{:<28} {:>9.4} {:>9.4} {:>9} {:>12}",
            c.name, c.accuracy, c.mean_cost, accept, lat
        );
    }
    println!(
        "oracle router: accuracy {:.4} at cost {:.4}",
        oracle.oracle_accuracy, oracle.oracle_cost
    );

    let title = format!("replay of {} (eval split)", recorded.display());
    results_file(title, &runs).write(out_dir.join("results.json"))?;
    write_decision_logs(&out_dir.join("decisions.jsonl"), &runs)?;
    write_json(&out_dir.join("sweeps.json"), &sweeps, "sweeps")?;
    let mean_latency_ms = runs
        .iter()
        .map(|r| (r.config.name.clone(), r.summary.mean_latency_ms))
        .collect();
    let analysis = Analysis {
        oracle,
        gates,
        calibrations,
        latency_model: latency,
        mean_latency_ms,
    };
    write_json(&out_dir.join("analysis.json"), &analysis, "analysis")?;
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
            let config = SyntheticConfig {
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
            &fallback_rate,
            &budget,
            read_exec_ms,
            greedy_only,
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
