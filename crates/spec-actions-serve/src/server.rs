//! The HTTP service: OpenAI-compatible chat completions on a [`Speculator`].
//!
//! Requests are parsed and checked on the async side ([`crate::openai`]), then queued (a
//! bounded queue: a full one answers 503 with `Retry-After`) to one model worker thread that
//! owns the speculator. The worker collects requests for `batch_window` (up to `max_batch`),
//! decides them together with one batched pass per role ([`Speculator::decide_batch`]),
//! appends every decision to the decision log (JSONL, the replay's `LoggedDecision` rows) and
//! flushes it, and only then answers. Shutdown stops accepting, lets the requests in flight
//! finish, then the worker drains its queue and flushes the log: every answered decision is
//! logged.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use burn::prelude::*;
use serde_json::json;
use spec_actions_core::Example;
use spec_actions_verify::Route;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, ServeError};
use crate::openai::{completion_body, error_body, parse_request};
use crate::speculator::{ServedDecision, Speculator, route_label, served_example};

/// How the service runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// Largest accepted request body (413 above).
    pub max_body_bytes: usize,
    /// Requests waiting for the model worker (503 + `Retry-After` above).
    pub queue_capacity: usize,
    /// How long the worker collects requests into one batch; zero: one request at a time.
    pub batch_window: Duration,
    /// Most requests decided in one batch.
    pub max_batch: usize,
    /// The JSONL decision log (appended to; created if missing).
    pub decision_log: PathBuf,
}

impl ServeOptions {
    /// Defaults: 1 MiB bodies, 64 queued requests, 5 ms batching window, 16 per batch.
    pub fn new(decision_log: impl Into<PathBuf>) -> Self {
        ServeOptions {
            max_body_bytes: 1 << 20,
            queue_capacity: 64,
            batch_window: Duration::from_millis(5),
            max_batch: 16,
            decision_log: decision_log.into(),
        }
    }
}

/// Latency histogram bounds, seconds (Prometheus `le`).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counters of `/metrics`.
#[derive(Debug, Default, Clone)]
struct Metrics {
    /// Answered requests by HTTP status.
    requests: BTreeMap<u16, u64>,
    decisions: u64,
    by_route: BTreeMap<&'static str, u64>,
    cost: f64,
    strong_only_cost: f64,
    latency_counts: [u64; BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
    batches: u64,
    batched_requests: u64,
}

impl Metrics {
    fn render(&self, config: &str) -> String {
        let mut s = String::new();
        s.push_str("# HELP spec_actions_requests_total Chat-completion requests answered, by HTTP status.\n");
        s.push_str("# TYPE spec_actions_requests_total counter\n");
        for (code, n) in &self.requests {
            s.push_str(&format!("spec_actions_requests_total{{code=\"{code}\"}} {n}\n"));
        }
        s.push_str("# HELP spec_actions_decisions_total Decisions made, by route.\n");
        s.push_str("# TYPE spec_actions_decisions_total counter\n");
        for (route, n) in &self.by_route {
            s.push_str(&format!(
                "spec_actions_decisions_total{{config=\"{config}\",route=\"{route}\"}} {n}\n"
            ));
        }
        let accepted = self.by_route.get("cheap_accepted").copied().unwrap_or(0);
        let gated = accepted + self.by_route.get("fell_back").copied().unwrap_or(0);
        let rate = if gated > 0 {
            accepted as f64 / gated as f64
        } else {
            0.0
        };
        s.push_str(
            "# HELP spec_actions_accept_rate Share of gated decisions whose cheap proposal was accepted.\n",
        );
        s.push_str("# TYPE spec_actions_accept_rate gauge\n");
        s.push_str(&format!("spec_actions_accept_rate {rate}\n"));
        s.push_str("# HELP spec_actions_cost_units_total Nominal cost units spent.\n");
        s.push_str("# TYPE spec_actions_cost_units_total counter\n");
        s.push_str(&format!("spec_actions_cost_units_total {}\n", self.cost));
        s.push_str(
            "# HELP spec_actions_strong_only_cost_units_total Units always-strong would have spent.\n",
        );
        s.push_str("# TYPE spec_actions_strong_only_cost_units_total counter\n");
        s.push_str(&format!(
            "spec_actions_strong_only_cost_units_total {}\n",
            self.strong_only_cost
        ));
        let ratio = if self.strong_only_cost > 0.0 {
            self.cost / self.strong_only_cost
        } else {
            0.0
        };
        s.push_str("# HELP spec_actions_cost_vs_strong_only Cost spent over the cost of always-strong.\n");
        s.push_str("# TYPE spec_actions_cost_vs_strong_only gauge\n");
        s.push_str(&format!("spec_actions_cost_vs_strong_only {ratio}\n"));
        s.push_str("# HELP spec_actions_request_duration_seconds Latency of answered decisions.\n");
        s.push_str("# TYPE spec_actions_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(&self.latency_counts) {
            cumulative += n;
            s.push_str(&format!(
                "spec_actions_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}\n"
            ));
        }
        s.push_str(&format!(
            "spec_actions_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
            self.latency_count
        ));
        s.push_str(&format!(
            "spec_actions_request_duration_seconds_sum {}\n",
            self.latency_sum
        ));
        s.push_str(&format!(
            "spec_actions_request_duration_seconds_count {}\n",
            self.latency_count
        ));
        s.push_str("# HELP spec_actions_batches_total Model batches run.\n");
        s.push_str("# TYPE spec_actions_batches_total counter\n");
        s.push_str(&format!("spec_actions_batches_total {}\n", self.batches));
        s.push_str(&format!(
            "spec_actions_batched_requests_total {}\n",
            self.batched_requests
        ));
        s
    }

    fn decision(&mut self, d: &ServedDecision, seconds: f64) {
        self.decisions += 1;
        *self.by_route.entry(route_label(&d.route)).or_default() += 1;
        self.cost += d.ledger.nominal;
        self.strong_only_cost += d.ledger.strong_only_nominal;
        if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
            self.latency_counts[i] += 1;
        }
        self.latency_sum += seconds;
        self.latency_count += 1;
    }
}

/// One queued request.
struct Job {
    example: Example,
    reply: oneshot::Sender<Result<ServedDecision>>,
}

/// Shared state of the handlers.
struct App {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    metrics: Arc<Mutex<Metrics>>,
    config: String,
    model_names: Vec<String>,
    options: ServeOptions,
}

/// What a finished service did.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeReport {
    /// Decisions appended to the log.
    pub logged: u64,
    /// Batches the worker ran.
    pub batches: u64,
}

/// Appends decisions to the JSONL log.
struct DecisionLogWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl DecisionLogWriter {
    fn open(path: &std::path::Path) -> Result<Self> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| ServeError::run(parent, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| ServeError::run(path, e))?;
        Ok(DecisionLogWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    fn append(&mut self, d: &ServedDecision) -> std::io::Result<()> {
        let line = serde_json::to_string(&d.logged).map_err(std::io::Error::other)?;
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

/// The model worker: collects a batch, decides it, logs it, answers it; until the queue closes.
fn worker<B: Backend>(
    spec: Speculator<B>,
    mut rx: mpsc::Receiver<Job>,
    options: ServeOptions,
    mut log: DecisionLogWriter,
    metrics: Arc<Mutex<Metrics>>,
) -> ServeReport {
    let mut report = ServeReport {
        logged: 0,
        batches: 0,
    };
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        if !options.batch_window.is_zero() {
            let deadline = Instant::now() + options.batch_window;
            while jobs.len() < options.max_batch.max(1) {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(_) => break,
                }
            }
        }
        let examples: Vec<Example> = jobs.iter().map(|j| j.example.clone()).collect();
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spec.decide_batch(&examples)))
            .unwrap_or_else(|_| {
                (0..examples.len())
                    .map(|_| {
                        Err(ServeError::Model(
                            "the model worker panicked on this batch".into(),
                        ))
                    })
                    .collect()
            });
        let mut results = Vec::with_capacity(jobs.len());
        for d in decided {
            results.push(match d {
                Ok(d) => match log.append(&d) {
                    Ok(()) => {
                        report.logged += 1;
                        Ok(d)
                    }
                    Err(e) => Err(ServeError::Model(format!(
                        "decision log {}: {e}",
                        log.path.display()
                    ))),
                },
                Err(e) => Err(e),
            });
        }
        // the log is on disk before any answer leaves
        if let Err(e) = log.flush() {
            results = results
                .into_iter()
                .map(|r| {
                    r.and_then(|_| {
                        Err(ServeError::Model(format!(
                            "decision log {}: {e}",
                            log.path.display()
                        )))
                    })
                })
                .collect();
        }
        report.batches += 1;
        if let Ok(mut m) = metrics.lock() {
            m.batches += 1;
            m.batched_requests += jobs.len() as u64;
        }
        for (job, r) in jobs.into_iter().zip(results) {
            // a client that went away does not stop the others
            let _ = job.reply.send(r);
        }
    }
    let _ = log.flush();
    report
}

fn error_response(e: &ServeError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(error_body(e))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

fn header(v: String) -> HeaderValue {
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

async fn chat(State(app): State<Arc<App>>, body: std::result::Result<Bytes, BytesRejection>) -> Response {
    let started = Instant::now();
    let response = match answer(&app, body, started).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    if let Ok(mut m) = app.metrics.lock() {
        *m.requests.entry(response.status().as_u16()).or_default() += 1;
    }
    response
}

async fn answer(
    app: &App,
    body: std::result::Result<Bytes, BytesRejection>,
    started: Instant,
) -> Result<Response> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServeError::TooLarge {
                limit: app.options.max_body_bytes,
            }
        } else {
            ServeError::bad("body", rejection.body_text())
        }
    })?;
    let request = parse_request(&body)?;
    let example = served_example(request.messages, request.tools);
    let sender = app
        .queue
        .lock()
        .ok()
        .and_then(|q| q.clone())
        .ok_or(ServeError::ShuttingDown)?;
    let (reply, wait) = oneshot::channel();
    sender.try_send(Job { example, reply }).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => ServeError::Overloaded {
            queued: app.options.queue_capacity,
        },
        mpsc::error::TrySendError::Closed(_) => ServeError::ShuttingDown,
    })?;
    drop(sender);
    let decision = wait
        .await
        .map_err(|_| ServeError::Model("the model worker stopped".into()))??;
    let seconds = started.elapsed().as_secs_f64();
    if let Ok(mut m) = app.metrics.lock() {
        m.decision(&decision, seconds);
    }
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = completion_body(&decision, &request.tool_choice, created);
    let mut headers = HeaderMap::new();
    headers.insert("x-spec-route", header(route_label(&decision.route).to_string()));
    headers.insert(
        "x-spec-gate-score",
        header(decision.gate_score.map_or("none".into(), |s| format!("{s:.6}"))),
    );
    headers.insert("x-spec-cost", header(format!("{:.6}", decision.ledger.nominal)));
    headers.insert("x-spec-models", header(decision.ledger.models.join(",")));
    headers.insert("x-spec-config", header(decision.config.clone()));
    if let Route::FellBack { reason } = &decision.route {
        headers.insert("x-spec-fallback-reason", header(format!("{reason:?}")));
    }
    Ok((StatusCode::OK, headers, axum::Json(body)).into_response())
}

async fn models(State(app): State<Arc<App>>) -> Response {
    let mut data = vec![
        json!({"id": format!("spec-actions/{}", app.config), "object": "model", "owned_by": "spec-actions"}),
    ];
    data.extend(
        app.model_names
            .iter()
            .map(|n| json!({"id": n, "object": "model", "owned_by": "spec-actions"})),
    );
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let open = app.queue.lock().map(|q| q.is_some()).unwrap_or(false);
    axum::Json(json!({"status": if open {"ok"} else {"shutting_down"}, "config": app.config})).into_response()
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    let text = app
        .metrics
        .lock()
        .map(|m| m.render(&app.config))
        .unwrap_or_default();
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

async fn not_found() -> Response {
    let mut r = error_response(&ServeError::BadRequest {
        param: "path".into(),
        message: "unknown endpoint (POST /v1/chat/completions, GET /v1/models, /health, /metrics)".into(),
        code: "not_found",
    });
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// Serves `spec` on `listener` until `shutdown` resolves; then finishes the requests in
/// flight, drains the queue, flushes the decision log and returns what it did.
///
/// `B: Backend` models run on one worker thread (the speculator moves there).
pub async fn serve<B>(
    spec: Speculator<B>,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<ServeReport>
where
    B: Backend,
    Speculator<B>: Send + 'static,
{
    let log = DecisionLogWriter::open(&options.decision_log)?;
    let (tx, rx) = mpsc::channel::<Job>(options.queue_capacity.max(1));
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let config = spec.config_name();
    let mut model_names: Vec<String> = spec.models.names.values().cloned().collect();
    if let Some((_, name)) = &spec.classifier {
        model_names.push(name.clone());
    }
    let worker_options = options.clone();
    let worker_metrics = metrics.clone();
    let handle = std::thread::Builder::new()
        .name("spec-actions-model".into())
        .spawn(move || worker(spec, rx, worker_options, log, worker_metrics))
        .map_err(|e| ServeError::Model(format!("cannot start the model worker: {e}")))?;
    let app = Arc::new(App {
        queue: Mutex::new(Some(tx)),
        metrics,
        config,
        model_names,
        options: options.clone(),
    });
    let router = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(app.clone());
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    // no new work: close the queue; the worker drains it, flushes the log and stops
    if let Ok(mut q) = app.queue.lock() {
        q.take();
    }
    let report = tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(|e| ServeError::Model(format!("model worker: {e}")))?
        .map_err(|_| ServeError::Model("the model worker panicked".into()))?;
    served.map_err(|e| ServeError::Model(format!("server: {e}")))?;
    Ok(report)
}

/// A listener on `addr` (e.g. `127.0.0.1:8080`; port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::run(addr.to_string(), e))
}
