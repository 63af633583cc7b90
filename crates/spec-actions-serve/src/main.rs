//! `spec-actions`: `spec-actions serve --run DIR [--policy RULE] --addr 127.0.0.1:8080`.

use spec_actions_train::tasks::JudgeFormat;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use burn::prelude::Backend;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Parser, Subcommand};
use spec_actions_core::{LanguageModelMap, ModelRole};
use spec_actions_live::DecodeSettings;
use spec_actions_qwen3::LoadOptions;
use spec_actions_qwen3::backend::{BackendChoice, BackendJob, ComputeDtype, run_on};
use spec_actions_serve::{
    ModelPaths, OperatingPoint, RoleSource, RunFolder, ServeOptions, Speculator, bind, load_models,
    priced_costs, serve,
};
use spec_actions_verify::Policy;

#[derive(Parser)]
#[command(
    name = "spec-actions",
    about = "Speculative next actions for agents: serve a run's policy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve OpenAI-compatible chat completions with the run's chosen policy.
    Serve(ServeArgs),
}

impl ServeArgs {
    /// The `--cheap` / `--strong` / `--verifier` / `--reward` value of a language-model role.
    fn source(&self, role: ModelRole) -> &Option<String> {
        match role {
            ModelRole::Cheap => &self.cheap,
            ModelRole::Strong => &self.strong,
            ModelRole::Verifier => &self.verifier,
            _ => &self.reward,
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// A finished run folder (`cargo xtask all --run DIR`).
    #[arg(long, required_unless_present = "cheap")]
    run: Option<PathBuf>,
    /// Operating point: a configuration name (`C@0.5220`) or a rule (`cheapest within 1 point
    /// of strong-only`, `fallback rate <= 30%`, `cost <= 0.3`). Default `recommended`: the
    /// cheapest within 1 point of strong-only among configurations that commit whole actions
    /// (not K, the cascades or one-pass proposals, which commit kinds only).
    #[arg(long)]
    policy: Option<String>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// JSONL decision log (default `<run>/serve/decisions.jsonl`, or `decisions.jsonl`).
    #[arg(long)]
    decision_log: Option<PathBuf>,
    /// Batching window in milliseconds (0: no batching).
    #[arg(long, default_value_t = 5)]
    batch_window_ms: u64,
    /// Most requests decided in one batch.
    #[arg(long, default_value_t = 16)]
    max_batch: usize,
    /// Requests waiting for the models before 503.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Without --run: the cheap model's HF folder (`DIR` or `DIR+ADAPTER_DIR`).
    #[arg(long, requires_all = ["strong", "verifier", "reward", "policy_json"])]
    cheap: Option<String>,
    /// Without --run: the strong model (`DIR` or `DIR+ADAPTER_DIR`).
    #[arg(long)]
    strong: Option<String>,
    /// Without --run: the verifier (`DIR` or `DIR+ADAPTER_DIR`).
    #[arg(long)]
    verifier: Option<String>,
    /// Without --run: the reward model (`DIR` or `DIR+ADAPTER_DIR`).
    #[arg(long)]
    reward: Option<String>,
    /// Without --run: the reward head (`score_head.safetensors`; prompted judges only).
    #[arg(long)]
    reward_head: Option<PathBuf>,
    /// Without --run: how the verifier and reward model read a proposal: `prompted`
    /// (ACCEPT / REJECT tokens, a scalar reward head) or `kind_likelihood` (the judge's
    /// probability of the proposed kind).
    #[arg(long, default_value = "prompted", value_parser = ["prompted", "kind_likelihood"])]
    judge_format: String,
    /// Without --run: the tokenizer folder (default: the bundled Qwen3 tokenizer).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Without --run: the bag-of-words classifier (`classifier.json`).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Without --run: the policy with its threshold, as JSON
    /// (`{"policy":"verified","source":{"mode":"greedy"},"threshold":0.52}`).
    #[arg(long)]
    policy_json: Option<String>,
    /// Backend to serve on: `flex` (CPU), `wgpu` (Vulkan / Metal / DX12; build with
    /// `--features wgpu`) or `cuda` (build with `--features cuda`). The speculator and its
    /// batching are backend-generic.
    #[arg(long, value_enum, default_value_t = BackendChoice::Flex)]
    backend: BackendChoice,
    /// dtype of the models (default: the backend's — f32 on flex and wgpu, bf16 on cuda).
    /// `bf16` on flex is bf16 weights with f32 compute: half the models' memory and the bytes
    /// a decode step reads (`cargo bench --bench qwen3_forward`, `decode bf16` line: its speed
    /// against f32 decode), logits within bf16's rounding; on a GPU, bf16 throughout.
    #[arg(long, value_enum)]
    dtype: Option<ComputeDtype>,
}

fn role(spec: &str) -> RoleSource {
    match spec.split_once('+') {
        Some((model, adapter)) => RoleSource {
            model: model.into(),
            adapter: Some(adapter.into()),
        },
        None => RoleSource {
            model: spec.into(),
            adapter: None,
        },
    }
}

fn build<B: Backend>(
    args: &ServeArgs,
    load: &LoadOptions,
    device: &B::Device,
) -> Result<(Speculator<B>, PathBuf), String> {
    if let Some(dir) = &args.run {
        let run = RunFolder::open(dir).map_err(|e| e.to_string())?;
        let point = match &args.policy {
            Some(rule) => rule.parse::<OperatingPoint>().map_err(|e| e.to_string())?,
            None => OperatingPoint::default(),
        };
        let (spec, row) = run
            .speculator::<B>(&point, load, device)
            .map_err(|e| e.to_string())?;
        println!(
            "serving {} — {} — chosen by `{point}`: eval accuracy {:.4}, mean cost {:.4} units{}",
            row.name,
            row.description,
            row.accuracy,
            row.mean_cost,
            row.fallback_rate
                .map_or(String::new(), |f| format!(", fallback rate {f:.3}"))
        );
        let log = args
            .decision_log
            .clone()
            .unwrap_or_else(|| dir.join("serve/decisions.jsonl"));
        return Ok((spec, log));
    }
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .ok_or_else(|| format!("--{what} is required without --run"))
    };
    let policy: Policy = serde_json::from_str(&need(&args.policy_json, "policy-json")?)
        .map_err(|e| format!("--policy-json: {e}"))?;
    let judge_format: JudgeFormat =
        serde_json::from_value(serde_json::Value::String(args.judge_format.clone()))
            .map_err(|e| format!("--judge-format: {e}"))?;
    let paths = ModelPaths {
        models: LanguageModelMap::try_from_fn(|r| Ok::<_, String>(role(&need(args.source(r), r.as_str())?)))?,
        reward_head: match (&args.reward_head, judge_format) {
            (Some(head), _) => head.clone(),
            (None, JudgeFormat::KindLikelihood) => PathBuf::new(),
            (None, JudgeFormat::Prompted) => {
                return Err("--reward-head is required without --run for prompted judges".into());
            }
        },
        judge_format,
        tokenizer: args
            .tokenizer
            .clone()
            .unwrap_or_else(spec_actions_serve::run::bundled_tokenizer),
        classifier: args.classifier.clone(),
    };
    let names = LanguageModelMap::from_fn(|r| format!("serve:{r}"));
    let models = load_models::<B>(&paths, load, names, DecodeSettings::default(), device)
        .map_err(|e| e.to_string())?;
    let classifier = match &paths.classifier {
        Some(p) => Some((
            spec_actions_baseline::KindClassifier::load(p).map_err(|e| format!("{}: {e}", p.display()))?,
            "serve:classifier".to_string(),
        )),
        None => None,
    };
    let costs = priced_costs(&models);
    println!("serving {} — {}", policy.name(), policy.description());
    let log = args
        .decision_log
        .clone()
        .unwrap_or_else(|| PathBuf::from("decisions.jsonl"));
    Ok((
        Speculator {
            models,
            classifier,
            costs,
            policy,
        },
        log,
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("shutting down: finishing the requests in flight");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    // The one place the backend is chosen (`spec_actions_qwen3::backend`).
    match run_on(args.backend, ServeJob(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serving, generic over the backend `--backend` chose (inference: the autodiff backend's
/// inner one).
struct ServeJob(ServeArgs);

impl BackendJob for ServeJob {
    type Output = ExitCode;
    fn run<B: AutodiffBackend>(self, device: B::Device, load: LoadOptions) -> ExitCode {
        let load = match self.0.dtype {
            Some(dtype) => self.0.backend.load_options_with(dtype),
            None => load,
        };
        serve_on::<B::InnerBackend>(self.0, &load, &device)
    }
}

fn serve_on<B: Backend>(args: ServeArgs, load: &LoadOptions, device: &B::Device) -> ExitCode {
    let (spec, log) = match build::<B>(&args, load, device) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = ServeOptions::new(&log);
    options.batch_window = Duration::from_millis(args.batch_window_ms);
    options.max_batch = args.max_batch;
    options.queue_capacity = args.queue;
    options.max_body_bytes = args.max_body_bytes;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = bind(args.addr).await?;
        println!(
            "listening on http://{} — POST /v1/chat/completions; decisions logged to {}",
            args.addr,
            log.display()
        );
        serve(spec, listener, options, shutdown_signal()).await
    });
    match result {
        Ok(report) => {
            println!(
                "stopped: {} decisions logged in {} batches",
                report.logged, report.batches
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
