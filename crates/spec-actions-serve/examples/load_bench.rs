//! A bounded load bench on loopback: `N` concurrent clients for `T` seconds against
//! `spec-actions serve` on 127.0.0.1, batching on and then off in the same run; prints
//! throughput, p50/p99 latency and the accept rate of each, and the on/off throughput ratio.
//!
//! ```text
//! cargo run --release -p spec-actions-serve --example load_bench -- \
//!     --run runs/tiny [--policy RULE] [--clients 8] [--seconds 20] [--window-ms 5]
//! ```
//!
//! Conversations are the run's eval split (`<run>/datasets/eval.jsonl`), sent round-robin; the
//! tiny budget's compact tools (`"parameters": ["path", "limit?"]`) are sent as JSON schemas
//! of string parameters (so prompts differ a little from the recording's).
//! Decision logs go to a temporary folder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use spec_actions_core::{ChatRole, Example};
use spec_actions_serve::{OperatingPoint, RunFolder, ServeOptions, bind, serve};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    run: PathBuf,
    #[arg(long)]
    policy: Option<String>,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 5)]
    window_ms: u64,
    /// Most conversations read from the eval split.
    #[arg(long, default_value_t = 64)]
    conversations: usize,
}

fn body(e: &Example) -> Value {
    let messages: Vec<Value> = e
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role {
                ChatRole::System => "system",
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
                ChatRole::Tool => "tool",
            };
            let mut v = json!({"role": role, "content": m.content});
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        json!({"id": format!("call_{i}_{j}"), "type": "function",
                        "function": {"name": c.function.name, "arguments": c.function.arguments.to_string()}})
                    })
                    .collect();
            }
            if let Some(n) = &m.name {
                v["name"] = json!(n);
            }
            v
        })
        .collect();
    let tools: Vec<Value> = e
        .tools
        .iter()
        .map(|t| {
            if t.get("type").and_then(Value::as_str) == Some("function") {
                return t.clone();
            }
            let mut f = t.clone();
            // the tiny budget's compact tools (`"parameters": ["path", "limit?"]`) as schemas
            if let Some(names) = t.get("parameters").and_then(Value::as_array) {
                let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                let properties: serde_json::Map<String, Value> = names
                    .iter()
                    .map(|n| (n.trim_end_matches('?').to_string(), json!({"type": "string"})))
                    .collect();
                let required: Vec<&str> = names.iter().filter(|n| !n.ends_with('?')).copied().collect();
                f["parameters"] = json!({"type": "object", "properties": properties, "required": required});
            }
            json!({"type": "function", "function": f})
        })
        .collect();
    json!({"messages": messages, "tools": tools})
}

struct Outcome {
    requests: usize,
    errors: usize,
    accepted: usize,
    gated: usize,
    latencies: Vec<f64>,
    seconds: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn phase(args: &Args, run: &RunFolder, bodies: &[Value], window: Duration) -> Outcome {
    let point: OperatingPoint = match &args.policy {
        Some(p) => p.parse().expect("policy rule"),
        None => OperatingPoint::default(),
    };
    let run2 = run.clone();
    let spec = tokio::task::spawn_blocking(move || {
        run2.speculator::<burn::backend::Flex>(&point, &Default::default(), &Default::default())
            .expect("speculator")
            .0
    })
    .await
    .expect("load");
    let dir = std::env::temp_dir().join(format!("spec-actions-bench-{}", std::process::id()));
    let mut options = ServeOptions::new(dir.join("decisions.jsonl"));
    options.batch_window = window;
    options.max_batch = args.clients.max(1);
    options.queue_capacity = 4 * args.clients.max(1);
    let listener = bind("127.0.0.1:0".parse().expect("loopback"))
        .await
        .expect("bind");
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().expect("addr")
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(spec, listener, options, async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let url = url.clone();
        let bodies = bodies.to_vec();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut lat, mut errors, mut accepted, mut gated) = (Vec::new(), 0, 0, 0);
            let mut i = c;
            while Instant::now() < deadline {
                let t = Instant::now();
                match http.post(&url).json(&bodies[i % bodies.len()]).send().await {
                    Ok(r) if r.status() == 200 => {
                        let route = r
                            .headers()
                            .get("x-spec-route")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        accepted += usize::from(route == "cheap_accepted");
                        gated += usize::from(route == "cheap_accepted" || route == "fell_back");
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(r) => {
                        if errors == 0 {
                            eprintln!(
                                "client {c}: {} {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            );
                        }
                        errors += 1;
                    }
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("client {c}: {e}");
                        }
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                i += args_stride();
            }
            (lat, errors, accepted, gated)
        }));
    }
    let mut out = Outcome {
        requests: 0,
        errors: 0,
        accepted: 0,
        gated: 0,
        latencies: Vec::new(),
        seconds: 0.0,
    };
    for t in tasks {
        let (lat, e, a, g) = t.await.expect("client");
        out.requests += lat.len();
        out.latencies.extend(lat);
        out.errors += e;
        out.accepted += a;
        out.gated += g;
    }
    out.seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    out.latencies.sort_by(f64::total_cmp);
    out
}

/// Clients step through the conversations with a stride, so concurrent ones differ.
fn args_stride() -> usize {
    7
}

fn report(name: &str, o: &Outcome) -> f64 {
    let rps = o.requests as f64 / o.seconds;
    let accept = if o.gated > 0 {
        format!("{:.3}", o.accepted as f64 / o.gated as f64)
    } else {
        "-".into()
    };
    println!(
        "{name:<13} {:>6} req  {:>7.2} req/s  p50 {:>8.1} ms  p99 {:>8.1} ms  accept {accept}  errors {}",
        o.requests,
        rps,
        percentile(&o.latencies, 0.5),
        percentile(&o.latencies, 0.99),
        o.errors
    );
    rps
}

fn main() {
    let args = Args::parse();
    let run = RunFolder::open(&args.run).expect("run folder");
    let text = std::fs::read_to_string(args.run.join("datasets/eval.jsonl")).expect("datasets/eval.jsonl");
    let bodies: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(args.conversations)
        .map(|l| body(&serde_json::from_str::<Example>(l).expect("an example")))
        .collect();
    assert!(!bodies.is_empty(), "no eval conversations");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "{} clients × {} s on loopback, {} conversations",
        args.clients,
        args.seconds,
        bodies.len()
    );
    let on = runtime.block_on(phase(&args, &run, &bodies, Duration::from_millis(args.window_ms)));
    let off = runtime.block_on(phase(&args, &run, &bodies, Duration::ZERO));
    let a = report(&format!("batched {}ms", args.window_ms), &on);
    let b = report("unbatched", &off);
    println!("throughput ratio batched / unbatched: {:.2}", a / b);
}
