//! `cargo xtask <command>`: the project's pipelines.
//!
//! - `datasets --out DIR [--seed N]`: build the v3 datasets (see `spec_actions_data`).
//! - `import-traces FILE --map kinds.toml --out DIR`: a user's agent logs → examples, with the
//!   kind distribution and every unusable line (see `spec_actions_data::traces`).
//! - `train-all [--preset tiny|smoke|qwen3 | --config FILE] [--set key=value] [--run DIR]
//!   [--force STAGE]`: datasets →
//!   bag-of-words classifier → cheap proposer → verifier → reward model → strong model, each
//!   stage resumable.
//! - `eval`: record every model's outputs, replay every policy (calibrated on dev).
//! - `report`: the frontier report of the run, with the verdict and the study's v2 numbers.
//! - `all`: `train-all`, `eval` and `report` in one go (the README's main job).
//! - `score-bfcl --category NAME --predictions FILE [--out FILE]`: score function-call
//!   predictions against the bundled BFCL v4 ground truth with BFCL's AST-checker semantics
//!   (see `spec_actions_data::bfcl_check`).
//! - `merge --base DIR [--adapter DIR] --out DIR [--score-head FILE]`: an adapter merged into
//!   its base as an HF folder (or a reward model as `Qwen3ForSequenceClassification`).
//! - `logits --model DIR [--adapter DIR] --tokens 1,2,3 | --text … --out FILE`: logits as
//!   safetensors.
//!
//! - `dry-run [--preset qwen3] [--role cheap|verifier|reward|strong|all] [--dtype bf16|f32]
//!   [--steps N] [--batch B] [--seq S] [--paper] [--out FILE]`: each role at its real shape with
//!   random weights, one training and one recording step, peak memory against the plan (see
//!   `pipeline::dry_run`).
//!
//! CPU (burn's Flex backend) by default; `--features cuda` runs on CUDA.

mod config;
mod hf_tools;
mod pipeline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use spec_actions_data::budget::{ContextBudget, HfTokenCounter};
use spec_actions_data::pipeline::{DatasetConfig, ExtraSources, Progress, build_datasets_rendered};
use spec_actions_qwen3::LoadOptions;
use spec_actions_qwen3::backend::{BackendChoice, BackendJob, run_on};

#[derive(Parser)]
#[command(
    name = "xtask",
    about = "spec-actions pipelines: datasets, training, evaluation, reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the v3 datasets (BFCL v4 import + synthetic coding-agent episodes): split files,
    /// SFT / verifier / reward files and the dataset card (card.md, card.json).
    Datasets(DatasetsArgs),
    /// Import agent logs (OpenAI chat-completions / TRL conversational JSONL) as next-action
    /// examples: writes `examples.jsonl` and `import.json`, prints the kind distribution, the
    /// decision points per conversation and every unusable line (file:line, reason).
    ImportTraces(ImportTracesArgs),
    /// Train every model of the study: datasets → bag-of-words classifier → cheap proposer
    /// (SFT) → verifier (ACCEPT/REJECT) → reward model (Bradley–Terry) → strong model (SFT);
    /// LoRA on real checkpoints, every weight on the tiny preset's random-initialised models.
    /// Finished stages are skipped, so an interrupted run continues where it stopped.
    TrainAll(RunArgs),
    /// Record every model's outputs on dev / eval / heldout and replay every policy
    /// (thresholds calibrated on dev): results, decision logs, sweeps, analysis.
    Eval(RunArgs),
    /// The frontier report of a run: markdown, text chart, SVG, JSON, paired tests, verdict.
    Report(RunArgs),
    /// train-all, eval and report in one command.
    All(RunArgs),
    /// Score function-call predictions against BFCL v4's ground truth as BFCL's AST checker
    /// does (every accepted value, optional arguments, its string standardisation and type
    /// rules): one `{"id", "valid", "error"}` row per test case and the category's accuracy.
    ScoreBfcl(ScoreBfclArgs),
    /// Merge a PEFT adapter into its base and save an HF checkpoint folder (PEFT's
    /// `merge_and_unload()` + `save_pretrained()`); with `--score-head`, a reward model as
    /// `Qwen3ForSequenceClassification`.
    Merge(hf_tools::MergeArgs),
    /// Write the logits of a checkpoint (+ adapter) on token ids or a text to a safetensors file
    /// (`input_ids`, `logits`) that other tools compare against.
    Logits(hf_tools::LogitsArgs),
    /// Check a preset's memory plan by measurement: build each role at its real Qwen3 shape
    /// with random weights (no weights are read), run one training step at the preset's batch
    /// × sequence and one batched recording step, and print each phase's peak memory (process
    /// resident set) against the plan in `preset.rs`; `--paper` extrapolates a model too large
    /// for the machine from 1- and 2-layer builds of its shape.
    DryRun(pipeline::dry_run::DryRunArgs),
}

#[derive(clap::Args)]
struct ScoreBfclArgs {
    /// BFCL category: single-turn (`simple_python`, `simple_java`, `simple_javascript`,
    /// `multiple`, `parallel`, `parallel_multiple`, `live_simple`, `live_multiple`,
    /// `live_parallel`, `live_parallel_multiple`), or multi-turn (`multi_turn_base`,
    /// `multi_turn_long_context`, `multi_turn_miss_param`, `multi_turn_miss_func`), scored
    /// step by step.
    #[arg(long)]
    category: String,
    /// JSON Lines, one case a line: `{"id": "<BFCL test id>", "calls": [{"name": …,
    /// "arguments": {…}}]}`; for a multi-turn category the id is a step's,
    /// `<BFCL test id>#t<turn>.s<step>`, with one call. Java / JavaScript arguments are
    /// source text (`"42L"`, `"new int[]{1, 2}"`), as BFCL's checker reads them.
    #[arg(long)]
    predictions: PathBuf,
    /// Write the result rows here (JSON Lines, atomically) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// BFCL v4 folder (`BFCL_v4_<category>.json` and `possible_answer/`).
    #[arg(long, default_value = "assets/bfcl-v4")]
    bfcl: PathBuf,
}

/// `score-bfcl`: the result rows to `--out` (or standard output), the accuracy to standard
/// output (standard error when the rows go there).
fn score_bfcl(args: ScoreBfclArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (rows, score) =
        spec_actions_data::bfcl_check::score_predictions(&args.bfcl, &args.category, &args.predictions)?;
    let summary = format!(
        "{}: {}/{} correct, accuracy {:.4} ({} cases predicted)",
        score.category, score.correct, score.cases, score.accuracy, score.predicted
    );
    match &args.out {
        Some(out) => {
            spec_actions_core::write_jsonl(out, &rows)?;
            println!("{summary}");
            println!("wrote {} rows to {}", rows.len(), out.display());
        }
        None => {
            for row in &rows {
                println!("{}", serde_json::to_string(row)?);
            }
            eprintln!("{summary}");
        }
    }
    Ok(())
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// A shipped config: `tiny` (CPU, minutes), `smoke` (CI, minimal sizes) or `qwen3` (real
    /// checkpoints, CUDA) — `configs/<name>.toml`.
    #[arg(long, default_value = "tiny", value_parser = ["tiny", "smoke", "qwen3"], conflicts_with = "config")]
    preset: String,
    /// A run config file (TOML; see `configs/` and the README).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one config entry: dotted key = TOML value (`--set roles.cheap.steps=200`,
    /// `--set data.traces.0.weight=2`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Run folder (default: runs/<preset>).
    #[arg(long)]
    run: Option<PathBuf>,
    /// Folder of the config's relative checkpoint folders (`models_dir`); for `qwen3` it holds
    /// the Qwen3-1.7B, Qwen3-4B and Qwen3-8B HF checkpoint folders.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Redo this stage even if it finished (datasets, classifier, cheap, verifier, reward, strong,
    /// eval); repeatable.
    #[arg(long)]
    force: Vec<String>,
    /// Seed of data, initialisation, shuffling and sampling (default: the config's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Training stages: skip dataset lines that do not parse instead of stopping before
    /// training; each skipped line (file:line and reason) is printed and counted in the stage's
    /// metrics (`bad_lines_skipped` in the run manifest).
    #[arg(long)]
    skip_bad_lines: bool,
    /// Backend to train and evaluate on: `flex` (CPU), `wgpu` (Vulkan / Metal / DX12; build
    /// with `--features wgpu`) or `cuda` (build with `--features cuda`). It sets the compute
    /// dtype too: bf16 on CUDA, f32 on Flex and wgpu.
    #[arg(long, value_enum, default_value_t = BackendChoice::Flex)]
    backend: BackendChoice,
}

#[derive(clap::Args)]
struct DatasetsArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the synthetic episodes, the splits and the hard negatives.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Context-budget preset: `full` (real models, keep everything) or `tiny` (CPU pipeline:
    /// 576 prompt tokens, tools as names and parameter names).
    #[arg(long, default_value = "full", value_parser = ["full", "tiny"])]
    preset: String,
    /// Override the preset's maximum prompt tokens.
    #[arg(long)]
    max_prompt_tokens: Option<usize>,
    /// BFCL v4 folder (as shipped in the bfcl-eval package's data folder).
    #[arg(long, default_value = "assets/bfcl-v4")]
    bfcl: PathBuf,
    /// Build from synthetic episodes only.
    #[arg(long)]
    no_bfcl: bool,
    /// Qwen3 tokenizer.json used for token counts.
    #[arg(long, default_value = "assets/qwen3-tokenizer/tokenizer.json")]
    tokenizer: PathBuf,
    /// Number of synthetic examples (whole episodes, at least this many).
    #[arg(long, default_value_t = 20_000)]
    synthetic: usize,
    /// Examples in the eval split.
    #[arg(long, default_value_t = 500)]
    eval_size: usize,
    /// Fraction of the remaining examples for the dev split.
    #[arg(long, default_value_t = 0.1)]
    dev_fraction: f64,
    /// BFCL category held out whole for the generalisation check (`none` for no heldout split).
    #[arg(long, default_value = "simple_java")]
    heldout_category: String,
    /// Which mistakes the verifier and reward sets' hard negatives may be: `call` (any: wrong
    /// kind, repeated call, wrong tool, wrong arguments) or `kind` (only a wrong kind or a
    /// repeated call — for judges that read the kind alone).
    #[arg(long, default_value = "call", value_parser = ["call", "kind"])]
    negatives: String,
}

#[derive(clap::Args)]
struct ImportTracesArgs {
    /// JSON Lines of chat-completions conversations.
    file: PathBuf,
    /// Kind map (TOML: `[tools]` glob = kind, optional `[replies]` rules).
    #[arg(long)]
    map: PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Source name: examples get `source = "traces:<name>"` (default: the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Import the usable lines and list the others; without it, any unusable line (all are
    /// listed) stops the import before anything is written.
    #[arg(long)]
    skip_bad_lines: bool,
}

fn import_traces(args: ImportTracesArgs) -> Result<(), Box<dyn std::error::Error>> {
    use spec_actions_data::pipeline::BadLines;
    use spec_actions_data::traces::{KindMap, import_traces};
    let map = KindMap::from_file(&args.map)?;
    let name = args.name.clone().unwrap_or_else(|| {
        args.file
            .file_stem()
            .map_or_else(|| "traces".to_string(), |s| s.to_string_lossy().into_owned())
    });
    let source = format!("traces:{name}");
    // Every line is read, so that all unusable lines are listed at once; without
    // --skip-bad-lines any of them stops the import before anything is written.
    let import = import_traces(&args.file, &map, &source, BadLines::Skip)?;
    if !import.skipped.is_empty() && !args.skip_bad_lines {
        for line in &import.skipped {
            eprintln!("  {line}");
        }
        return Err(format!(
            "{} unusable line(s) in {} (listed above); fix them or pass --skip-bad-lines",
            import.skipped.len(),
            args.file.display()
        )
        .into());
    }
    let examples: Vec<&spec_actions_core::Example> =
        import.conversations.iter().flat_map(|c| &c.examples).collect();
    let mut jsonl = Vec::new();
    for e in &examples {
        serde_json::to_writer(&mut jsonl, e)?;
        jsonl.push(b'\n');
    }
    let counts = import.kind_counts();
    let per_conversation: Vec<serde_json::Value> = import
        .conversations
        .iter()
        .map(|c| serde_json::json!({"conversation": c.id, "decision_points": c.examples.len()}))
        .collect();
    let summary = serde_json::json!({
        "file": args.file,
        "map": args.map,
        "source": source,
        "conversations": import.conversations.len(),
        "examples": examples.len(),
        "kinds": counts.iter().map(|(k, n)| (k.as_str().to_string(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
        "decision_points": per_conversation,
        "unusable_lines": import.skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(&args.out)?;
    spec_actions_core::io::atomic_write_bytes(&args.out.join("examples.jsonl"), &jsonl)?;
    spec_actions_core::io::atomic_write_bytes(
        &args.out.join("import.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    println!(
        "{}: {} conversations, {} decision points ({source})",
        args.file.display(),
        import.conversations.len(),
        examples.len()
    );
    println!("kinds:");
    for kind in spec_actions_core::ActionKind::ALL {
        let n = counts.get(&kind).copied().unwrap_or(0);
        let share = if examples.is_empty() {
            0.0
        } else {
            100.0 * n as f64 / examples.len() as f64
        };
        println!("  {:<18} {n:>6}  {share:>5.1} %", kind.as_str());
    }
    let sizes: Vec<usize> = import.conversations.iter().map(|c| c.examples.len()).collect();
    if let (Some(min), Some(max)) = (sizes.iter().min(), sizes.iter().max()) {
        println!(
            "decision points per conversation: min {min}, mean {:.1}, max {max}",
            sizes.iter().sum::<usize>() as f64 / sizes.len() as f64
        );
    }
    for c in &import.conversations {
        let kinds: Vec<&str> = c.examples.iter().map(|e| e.gold.kind.as_str()).collect();
        println!("  {:<24} {:>3}  {}", c.id, c.examples.len(), kinds.join(" "));
    }
    println!("unusable lines: {}", import.skipped.len());
    for line in &import.skipped {
        println!("  {line}");
    }
    println!(
        "wrote {} and {}",
        args.out.join("examples.jsonl").display(),
        args.out.join("import.json").display()
    );
    Ok(())
}

/// indicatif bars for the pipeline's stages.
struct Bars {
    bar: Option<ProgressBar>,
}

impl Progress for Bars {
    fn start(&mut self, stage: &str, total: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>28} [{bar:30}] {pos}/{len} ({per_sec}, ETA {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(stage.to_string());
        self.bar = Some(bar);
    }
    fn advance(&mut self, steps: u64) {
        if let Some(b) = &self.bar {
            b.inc(steps);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

fn datasets(args: DatasetsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut budget = ContextBudget::preset(&args.preset).ok_or("unknown preset")?;
    if let Some(n) = args.max_prompt_tokens {
        budget.max_prompt_tokens = Some(n);
    }
    let counter = HfTokenCounter::from_file(&args.tokenizer)?;
    let tokenizer_load = start.elapsed();
    let config = DatasetConfig {
        bfcl_dir: (!args.no_bfcl).then_some(args.bfcl),
        synthetic_examples: args.synthetic,
        seed: args.seed,
        budget,
        eval_size: args.eval_size,
        dev_fraction: args.dev_fraction,
        heldout_category: (args.heldout_category != "none" && !args.no_bfcl).then_some(args.heldout_category),
        negatives: if args.negatives == "kind" {
            spec_actions_data::builders::NegativeLevel::Kind
        } else {
            spec_actions_data::builders::NegativeLevel::Call
        },
    };
    // The SFT set also as TRL prompt-completion pairs: rendered with the chat template of the
    // tokenizer's folder.
    let encoder = args
        .tokenizer
        .parent()
        .map(spec_actions_qwen3::action_prompts::ActionPromptEncoder::from_dir)
        .ok_or("the tokenizer path has no folder")??;
    let renderer = hf_tools::EncoderRenderer(&encoder);
    let report = build_datasets_rendered(
        &config,
        &ExtraSources::default(),
        &counter,
        Some(&renderer),
        &args.out,
        &mut Bars { bar: None },
    )?;
    println!("wrote {} files to {}", report.files.len(), args.out.display());
    for (split, size) in &report.card.sizes {
        println!(
            "  {split:<8} {:>7} examples  {:>6} conversations",
            size.examples, size.conversations
        );
    }
    let issues = &report.card.bfcl_import_issues;
    let failed = issues.iter().filter(|i| i.status == "failed").count();
    println!(
        "BFCL lines not imported: {} ({} failed, {} skipped; listed in card.md)",
        issues.len(),
        failed,
        issues.len() - failed
    );
    println!("timings:");
    println!(
        "  {:<32} {:>8.2} s",
        "load tokenizer",
        tokenizer_load.as_secs_f64()
    );
    for (stage, d) in &report.timings {
        println!("  {stage:<32} {:>8.2} s", d.as_secs_f64());
    }
    let import_and_generate: f64 = report.timings.iter().take(2).map(|(_, d)| d.as_secs_f64()).sum();
    println!(
        "  {:<32} {:>8.2} s",
        "bfcl import + synthetic", import_and_generate
    );
    println!("  {:<32} {:>8.2} s", "total", start.elapsed().as_secs_f64());
    Ok(())
}

fn report_outcome(result: Result<(), pipeline::BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Train,
    Eval,
    Report,
}

const STAGES: [&str; 7] = [
    "datasets",
    "classifier",
    "cheap",
    "verifier",
    "reward",
    "strong",
    "eval",
];

/// Runs `steps` on the backend `--backend` chose: the one place the binary picks a backend
/// ([`spec_actions_qwen3::backend::run_on`]), which also gives the compute dtype.
fn run_steps(args: &RunArgs, steps: &[Step]) -> Result<(), pipeline::BoxError> {
    run_on(args.backend, PipelineJob { args, steps })?
}

/// `cargo xtask dry-run` on the backend its `--backend` chose.
struct DryRunJob<'a>(&'a pipeline::dry_run::DryRunArgs);

impl BackendJob for DryRunJob<'_> {
    type Output = Result<(), pipeline::BoxError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _load: LoadOptions) -> Self::Output {
        pipeline::dry_run::dry_run::<B>(self.0, &device)
    }
}

/// The pipeline's steps, generic over the backend [`run_steps`] chooses.
struct PipelineJob<'a> {
    args: &'a RunArgs,
    steps: &'a [Step],
}

impl BackendJob for PipelineJob<'_> {
    type Output = Result<(), pipeline::BoxError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, load: LoadOptions) -> Self::Output {
        run_pipeline::<B>(self.args, self.steps, &load, &device)
    }
}

fn run_pipeline<B: AutodiffBackend>(
    args: &RunArgs,
    steps: &[Step],
    load: &LoadOptions,
    device: &B::Device,
) -> Result<(), pipeline::BoxError> {
    use pipeline::preset::Preset;
    use spec_actions_core::ModelRole;

    let loaded = match &args.config {
        Some(path) => config::LoadedConfig::from_file(path)?,
        None => config::LoadedConfig::preset(&args.preset)?,
    }
    .with_overrides(&args.set)?;
    let preset = Preset::from_config(&loaded, args.seed, args.models.as_deref())?;
    preset.check_model_folders()?;
    // The resolved config as it ran (seed and models folder included) for the manifest.
    let mut resolved = loaded.config.clone();
    resolved.seed = preset.seed;
    if let Some(models) = &args.models {
        resolved.models_dir = Some(models.clone());
    }
    let manifest_config = serde_json::json!({
        "file": loaded.path,
        "overrides": args.set,
        "resolved": resolved,
    });
    let root = args
        .run
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&preset.name));
    let run = pipeline::RunDir::new(&root, &preset.name);
    for stage in &args.force {
        if !STAGES.contains(&stage.as_str()) {
            return Err(format!("--force {stage}: no such stage ({})", STAGES.join(", ")).into());
        }
        run.reset(stage)?;
    }
    // SIGINT / SIGTERM: training stops at the next step boundary with a checkpoint; re-running
    // the same command resumes from it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))?;
    }
    let bad_lines = if args.skip_bad_lines {
        spec_actions_data::pipeline::BadLines::Skip
    } else {
        spec_actions_data::pipeline::BadLines::Refuse
    };
    let started = Instant::now();
    for step in steps {
        match step {
            Step::Train => {
                pipeline::train::datasets_stage(&run, &preset)?;
                pipeline::classifier::classifier_stage(&run, preset.seed)?;
                for role in ModelRole::LANGUAGE_MODELS {
                    pipeline::train::role_stage::<B>(&run, &preset, role, bad_lines, &stop, load, device)?;
                }
            }
            Step::Eval => pipeline::eval::eval_stage::<B::InnerBackend>(&run, &preset, load, device)?,
            Step::Report => pipeline::report::report_stage(&run)?,
        }
        run.write_manifest(&format!("{preset:?}"), &manifest_config, preset.seed, &STAGES)?;
    }
    println!(
        "done in {:.1} s; run folder {}",
        started.elapsed().as_secs_f64(),
        root.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Tensor buffers freed by one op are reused by the next instead of being unmapped and
    // page-faulted back (about a fifth of a CPU training step otherwise).
    spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    match cli.command {
        Command::Datasets(args) => match datasets(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::ImportTraces(args) => match import_traces(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::ScoreBfcl(args) => match score_bfcl(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::TrainAll(args) => report_outcome(run_steps(&args, &[Step::Train])),
        Command::Eval(args) => report_outcome(run_steps(&args, &[Step::Eval])),
        Command::Report(args) => report_outcome(run_steps(&args, &[Step::Report])),
        Command::All(args) => report_outcome(run_steps(&args, &[Step::Train, Step::Eval, Step::Report])),
        Command::Merge(args) => report_outcome(hf_tools::merge(&args)),
        Command::Logits(args) => report_outcome(hf_tools::logits(&args)),
        Command::DryRun(args) => report_outcome(
            run_on(args.backend, DryRunJob(&args))
                .map_err(Into::into)
                .and_then(|r| r),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: PathBuf, out: PathBuf, skip: bool) -> ImportTracesArgs {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        ImportTracesArgs {
            file,
            map: repo.join("examples/traces/kinds.toml"),
            out,
            name: None,
            skip_bad_lines: skip,
        }
    }

    /// `import-traces` on the shipped sample writes the importer's examples (read back through
    /// the project's dataset reader) and a summary whose kind counts add up; a file with an
    /// unusable line writes nothing unless `--skip-bad-lines`, which lists it.
    #[test]
    fn import_traces_writes_examples_and_refuses_bad_lines() {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let sample = repo.join("examples/traces/agent-logs.jsonl");
        let out = tempfile::tempdir().expect("temp dir");
        import_traces(args(sample.clone(), out.path().to_path_buf(), false)).expect("import");
        let written = spec_actions_data::pipeline::read_examples(&out.path().join("examples.jsonl"))
            .expect("read back");
        let map = spec_actions_data::traces::KindMap::from_file(&repo.join("examples/traces/kinds.toml"))
            .expect("map");
        let direct = spec_actions_data::traces::import_traces(
            &sample,
            &map,
            "traces:agent-logs",
            spec_actions_data::pipeline::BadLines::Refuse,
        )
        .expect("import");
        let expected: Vec<spec_actions_core::Example> = direct
            .conversations
            .into_iter()
            .flat_map(|c| c.examples)
            .collect();
        assert_eq!(written, expected);
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("import.json")).expect("summary"))
                .expect("json");
        let total: u64 = summary["kinds"]
            .as_object()
            .expect("kinds")
            .values()
            .filter_map(serde_json::Value::as_u64)
            .sum();
        assert_eq!(total as usize, written.len());
        assert_eq!(summary["kinds"].as_object().map(|k| k.len()), Some(9));

        let bad = out.path().join("bad.jsonl");
        let good_line = std::fs::read_to_string(&sample).expect("sample");
        let first = good_line.lines().next().expect("a line");
        std::fs::write(&bad, format!("{first}\n{{oops\n")).expect("write");
        let bad_out = out.path().join("bad-out");
        let err = import_traces(args(bad.clone(), bad_out.clone(), false)).expect_err("refused");
        assert!(err.to_string().contains("1 unusable line"), "{err}");
        assert!(!bad_out.join("examples.jsonl").exists());
        import_traces(args(bad, bad_out.clone(), true)).expect("skipped");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(bad_out.join("import.json")).expect("summary"))
                .expect("json");
        let listed = summary["unusable_lines"][0].as_str().expect("listed").to_string();
        assert!(
            listed.ends_with("bad.jsonl:2: not JSON: key must be a string at line 1 column 2"),
            "{listed}"
        );
    }

    /// `score-bfcl` on a tiny predictions file: BFCL's result rows written to `--out`
    /// (simple_python_0 right with its optional `unit` left out, simple_python_2 wrong: `z`
    /// accepts only "" or 0); a bad line is an error naming the file and line.
    #[test]
    fn score_bfcl_writes_bfcl_rows_and_names_bad_lines() {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = tempfile::tempdir().expect("temp dir");
        let predictions = dir.path().join("predictions.jsonl");
        std::fs::write(
            &predictions,
            "{\"id\": \"simple_python_0\", \"calls\": [{\"name\": \"calculate_triangle_area\", \"arguments\": {\"base\": 10, \"height\": 5}}]}\n\
             {\"id\": \"simple_python_2\", \"calls\": [{\"name\": \"math.hypot\", \"arguments\": {\"x\": 4, \"y\": 5, \"z\": 1}}]}\n",
        )
        .expect("write");
        let out = dir.path().join("scores.jsonl");
        let args = |predictions: PathBuf| ScoreBfclArgs {
            category: "simple_python".into(),
            predictions,
            out: Some(out.clone()),
            bfcl: repo.join("assets/bfcl-v4"),
        };
        score_bfcl(args(predictions.clone())).expect("score");
        let rows: Vec<serde_json::Value> = spec_actions_core::read_jsonl(&out).expect("rows");
        assert_eq!(rows.len(), 400);
        assert_eq!(
            (rows[0]["id"].as_str(), rows[0]["valid"].as_bool()),
            (Some("simple_python_0"), Some(true))
        );
        assert_eq!(
            (rows[2]["id"].as_str(), rows[2]["valid"].as_bool()),
            (Some("simple_python_2"), Some(false))
        );
        assert!(
            rows[2]["error"][0].as_str().unwrap().contains("'z'"),
            "{}",
            rows[2]
        );

        std::fs::write(
            &predictions,
            "{\"id\": \"simple_python_0\", \"calls\": []}\nnot json\n",
        )
        .expect("write");
        let err = score_bfcl(args(predictions)).unwrap_err().to_string();
        assert!(err.contains("predictions.jsonl:2"), "{err}");
    }
}
