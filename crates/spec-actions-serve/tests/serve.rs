//! The service against its references: the library's decision and the replay of the
//! recording (`spec-actions-verify`'s policy code on `ReplayRoles`) of the same example, over
//! real HTTP on 127.0.0.1 with a real client (reqwest); concurrent clients; every bad input's
//! 4xx naming its field; back-pressure; and a shutdown that loses no logged decision.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{B, fixture, request_body, speculator};
use serde_json::{Value, json};
use spec_actions_core::{CostModel, Example};
use spec_actions_serve::{
    OperatingPoint, RunFolder, ServeOptions, ServeReport, ServedDecision, Speculator, bind, route_label,
    serve,
};
use spec_actions_verify::{Decision, Policy, ReplayRoles, read_decision_logs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TOL: f64 = 1e-4;

/// A served decision equals the replay's decision of the same example: action, route, gate,
/// candidates, and the ledger's calls (roles, models, tokens, prices; not wall times).
fn same_as_replay(what: &str, served: &ServedDecision, replay: &Decision) {
    let (a, b) = (&served.logged.record, &replay.record);
    assert_eq!(a.predicted, b.predicted, "{what}: action");
    assert_eq!(a.raw_output, b.raw_output, "{what}: raw output");
    assert_eq!(a.accepted, b.accepted, "{what}: accepted");
    assert_eq!(served.logged.log.route, replay.log.route, "{what}: route");
    let (p, q) = (&served.logged.log.gate, &replay.log.gate);
    assert_eq!(p.is_some(), q.is_some(), "{what}: gate");
    if let (Some(p), Some(q)) = (p, q) {
        assert_eq!(
            (p.kind, p.chosen, p.accepted),
            (q.kind, q.chosen, q.accepted),
            "{what}: gate"
        );
        assert_eq!(p.threshold, q.threshold, "{what}: threshold");
        match (p.score, q.score) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= TOL, "{what}: gate score {x} vs {y}"),
            (x, y) => assert_eq!(x, y, "{what}: gate score"),
        }
    }
    let (cs, ds) = (&served.logged.log.candidates, &replay.log.candidates);
    assert_eq!(cs.len(), ds.len(), "{what}: candidates");
    for (x, y) in cs.iter().zip(ds) {
        assert_eq!(x.candidate.action, y.candidate.action, "{what}: candidate");
        assert!(
            (x.candidate.logprob - y.candidate.logprob).abs() <= TOL,
            "{what}: logprob"
        );
    }
    assert_eq!(a.ledger.calls.len(), b.ledger.calls.len(), "{what}: calls");
    for (i, (x, y)) in a.ledger.calls.iter().zip(&b.ledger.calls).enumerate() {
        assert_eq!(
            (
                x.role,
                &x.model,
                x.prefill_tokens,
                x.decode_tokens,
                x.nominal,
                x.flops
            ),
            (
                y.role,
                &y.model,
                y.prefill_tokens,
                y.decode_tokens,
                y.nominal,
                y.flops
            ),
            "{what}: call {i}"
        );
        assert!(x.wall_ms.is_some(), "{what}: a live call is timed");
    }
    assert_eq!(
        served.gate_score.is_some(),
        replay.log.gate.as_ref().and_then(|g| g.score).is_some()
    );
    assert_eq!(served.route, replay.log.route);
}

/// The run's servable configurations (results rows with their calibrated policies).
fn servable() -> Vec<(String, Policy)> {
    let run = spec_actions_serve::RunFolder::open(&fixture().root).unwrap();
    run.results
        .configs
        .iter()
        .filter_map(|c| {
            run.catalog
                .iter()
                .find(|p| p.name() == c.name)
                .map(|p| (c.name.clone(), *p))
        })
        .collect()
}

fn replayed(policy: &Policy, example: &Example, costs: &CostModel) -> Decision {
    let mut replay = ReplayRoles::new(&fixture().recording, costs);
    policy.decide(example, &mut replay.roles()).unwrap()
}

#[test]
fn library_decisions_equal_their_replay_for_every_configuration() {
    let fx = fixture();
    let mut spec: Speculator<B> = speculator("A");
    let configs = servable();
    // the fixture's study has fixed and calibrated gated configurations
    assert!(configs.len() >= 6, "configs {configs:?}");
    assert!(configs.iter().any(|(n, _)| n.starts_with("C@")));
    // one configuration per family (a family's thresholds differ only in the comparison)
    let mut families: Vec<&str> = Vec::new();
    let mut one_each = Vec::new();
    for (name, policy) in &configs {
        let family = name.split('@').next().unwrap_or(name);
        if !families.contains(&family) {
            families.push(family);
            one_each.push((name.clone(), *policy));
        }
    }
    let mut routes = std::collections::BTreeSet::new();
    for (name, policy) in &one_each {
        spec.policy = *policy;
        let costs = spec.costs.clone();
        // all eval examples in one batch
        let batch = spec.decide_batch(&fx.eval);
        for (example, d) in fx.eval.iter().zip(batch) {
            let d = d.unwrap();
            assert_eq!(d.config, *name);
            let what = format!("{name} on {}", example.id);
            same_as_replay(&what, &d, &replayed(policy, example, &costs));
            assert_eq!(
                d.logged.record.correct,
                replayed(policy, example, &costs).record.correct
            );
            routes.insert(route_label(&d.route));
        }
    }
    for r in ["strong_only", "cheap_only", "speculative", "fell_back"] {
        assert!(routes.contains(r), "route {r} taken: {routes:?}");
    }
    // a batch of one decides as the batch did
    let (_, policy) = configs.iter().find(|(n, _)| n.starts_with("C@")).unwrap();
    spec.policy = *policy;
    let costs = spec.costs.clone();
    for example in &fx.eval {
        let alone = spec.decide_example(example).unwrap();
        same_as_replay(&example.id, &alone, &replayed(policy, example, &costs));
    }
}

/// `--dtype bf16`: on the CPU (`--backend flex`) every model is loaded with bf16 weights and
/// f32 compute (the vendored Flex multiplies a bf16 row vector by bf16 weights directly), on a
/// GPU in bf16 throughout; with either, the speculator of a verifier-gated configuration (cheap
/// proposal, verifier, strong fallback) decides every eval example, each decision costed as in
/// f32. Its actions mostly agree with the f32 speculator's (the fixture's models favour their
/// tokens by wide logit margins, far beyond bf16's rounding); the share is printed.
#[test]
fn a_run_served_in_bf16_decides_every_example_through_a_gate() {
    use burn::tensor::FloatDType;
    use spec_actions_qwen3::LoadOptions;
    use spec_actions_qwen3::backend::{BackendChoice, ComputeDtype};
    let fx = fixture();
    let run = RunFolder::open(&fx.root).unwrap();
    let (gated, _) = gated_config();
    let point: OperatingPoint = gated.parse().unwrap();
    let spec_f32: Speculator<B> = speculator(&gated);
    let f32 = spec_f32.decide_batch(&fx.eval);
    let cpu = BackendChoice::Flex.load_options_with(ComputeDtype::Bf16);
    for (load, weights, compute) in [
        (cpu, FloatDType::BF16, FloatDType::F32),
        (LoadOptions::bf16(), FloatDType::BF16, FloatDType::BF16),
    ] {
        let (spec_bf16, _) = run.speculator::<B>(&point, &load, &Default::default()).unwrap();
        for (role, model) in spec_bf16.models.models.iter() {
            assert_eq!(model.compute_dtype(), compute, "{role}");
            assert_eq!(model.weight_dtype(), weights, "{role}");
        }
        let bf16 = spec_bf16.decide_batch(&fx.eval);
        let mut same = 0;
        for ((example, a), b) in fx.eval.iter().zip(bf16).zip(&f32) {
            let (a, b) = (a.unwrap(), b.as_ref().unwrap());
            assert_eq!(a.config, b.config, "{}", example.id);
            assert!(
                a.logged.record.ledger.nominal() > 0.0,
                "{}: a costed decision",
                example.id
            );
            same += usize::from(a.logged.record.predicted == b.logged.record.predicted);
        }
        eprintln!(
            "{gated} ({weights:?} weights, {compute:?} compute): actions agree with f32 on {same} of {}",
            fx.eval.len()
        );
        assert!(
            2 * same > fx.eval.len(),
            "bf16 agrees with f32 on {same} of {}",
            fx.eval.len()
        );
    }
}

struct Running {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<spec_actions_serve::Result<ServeReport>>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Stops the server; returns its report and the folder of its log (kept while held).
    async fn stop(mut self) -> (ServeReport, tempfile::TempDir) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (self.handle.await.unwrap().unwrap(), self._dir)
    }
}

async fn start(point: &str, tweak: impl FnOnce(&mut ServeOptions)) -> Running {
    let point = point.to_string();
    let spec = tokio::task::spawn_blocking(move || speculator(&point))
        .await
        .unwrap();
    start_with(spec, tweak).await
}

async fn start_with(spec: Speculator<B>, tweak: impl FnOnce(&mut ServeOptions)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let mut options = ServeOptions::new(&log);
    options.batch_window = Duration::ZERO;
    tweak(&mut options);
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve(spec, listener, options, async {
        let _ = rx.await;
    }));
    Running {
        base,
        stop: Some(tx),
        handle,
        log,
        _dir: dir,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// The answer's action matches the library's decision.
fn check_answer(what: &str, body: &Value, d: &ServedDecision) {
    let message = &body["choices"][0]["message"];
    assert_eq!(message["role"], "assistant", "{what}");
    match &d.action {
        Some(a) if a.name.is_some() => {
            let call = &message["tool_calls"][0]["function"];
            assert_eq!(call["name"].as_str(), a.name.as_deref(), "{what}: tool name");
            let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            let want = if a.arguments.is_null() {
                json!({})
            } else {
                a.arguments.clone()
            };
            assert_eq!(args, want, "{what}: arguments");
            assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        }
        Some(a) => assert_eq!(
            message["content"].as_str(),
            Some(a.to_model_text().as_str()),
            "{what}"
        ),
        None => assert_eq!(message["content"].as_str(), d.raw.as_deref(), "{what}"),
    }
    assert_eq!(body["model"].as_str(), Some(d.model.as_str()), "{what}: model");
    assert_eq!(
        body["usage"]["prompt_tokens"].as_u64(),
        Some(d.ledger.prefill_tokens),
        "{what}"
    );
    assert_eq!(
        body["usage"]["completion_tokens"].as_u64(),
        Some(d.ledger.decode_tokens),
        "{what}"
    );
}

fn gated_config() -> (String, Policy) {
    servable().into_iter().find(|(n, _)| n.starts_with("C@")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_served_decision_equals_the_library_and_the_replay() {
    let fx = fixture();
    let (name, policy) = gated_config();
    let library = {
        let n = name.clone();
        tokio::task::spawn_blocking(move || speculator(&n)).await.unwrap()
    };
    let server = start(&name, |_| {}).await;
    let http = client();
    let costs = library.costs.clone();
    for example in &fx.eval {
        let response = http
            .post(format!("{}/v1/chat/completions", server.base))
            .json(&request_body(example))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", example.id);
        let h = response.headers().clone();
        let body: Value = response.json().await.unwrap();
        let lib = library
            .decide(example.messages.clone(), example.tools.clone())
            .unwrap();
        check_answer(&example.id, &body, &lib);
        assert_eq!(h["x-spec-route"], route_label(&lib.route));
        assert_eq!(h["x-spec-config"].to_str().unwrap(), name);
        let score = h["x-spec-gate-score"].to_str().unwrap();
        match lib.gate_score {
            Some(s) => assert!((score.parse::<f64>().unwrap() - s).abs() <= TOL),
            None => assert_eq!(score, "none"),
        }
        let cost: f64 = h["x-spec-cost"].to_str().unwrap().parse().unwrap();
        assert!((cost - lib.ledger.nominal).abs() < 1e-6);
        assert_eq!(h["x-spec-models"].to_str().unwrap(), lib.ledger.models.join(","));
        // the library decides the conversation as the replay decides its recording
        same_as_replay(&example.id, &lib, &replayed(&policy, example, &costs));
    }
    // metrics, models, health
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("spec_actions_requests_total{code=\"200\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spec_actions_request_duration_seconds_count 4"),
        "{metrics}"
    );
    let models: Value = http
        .get(format!("{}/v1/models", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "test:strong")
    );
    let health = http.get(format!("{}/health", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let log = server.log.clone();
    let (report, _dir) = server.stop().await;
    assert_eq!(report.logged, 4);
    // the log holds the replay's rows: each served conversation is its recorded example
    let rows = read_decision_logs(&log).unwrap();
    assert_eq!(rows.len(), 4);
    for (row, example) in rows.iter().zip(&fx.eval) {
        assert_eq!(
            row.record.example_id, example.id,
            "the served id is the content id"
        );
        assert_eq!(row.config, name);
        let replay = replayed(&policy, example, &costs);
        assert_eq!(row.record.predicted, replay.record.predicted);
        assert_eq!(row.log.route, replay.log.route);
        let tokens = |r: &spec_actions_core::ExampleRecord| -> Vec<(u64, u64)> {
            r.ledger
                .calls
                .iter()
                .map(|c| (c.prefill_tokens, c.decode_tokens))
                .collect()
        };
        assert_eq!(tokens(&row.record), tokens(&replay.record));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_get_their_own_answers_batched() {
    let fx = fixture();
    let (name, _) = gated_config();
    let library = {
        let n = name.clone();
        tokio::task::spawn_blocking(move || speculator(&n)).await.unwrap()
    };
    // each example twice, eight clients at once, collected into batches of up to eight
    let server = start(&name, |o| {
        o.batch_window = Duration::from_millis(150);
        o.max_batch = 8;
    })
    .await;
    let jobs: Vec<Example> = fx.eval.iter().chain(&fx.eval).cloned().collect();
    let mut tasks = Vec::new();
    for example in jobs.clone() {
        let url = format!("{}/v1/chat/completions", server.base);
        tasks.push(tokio::spawn(async move {
            let r = client()
                .post(url)
                .json(&request_body(&example))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let route = r.headers()["x-spec-route"].to_str().unwrap().to_string();
            (route, r.json::<Value>().await.unwrap())
        }));
    }
    for (example, task) in jobs.iter().zip(tasks) {
        let (route, body) = task.await.unwrap();
        let lib = library
            .decide(example.messages.clone(), example.tools.clone())
            .unwrap();
        check_answer(&example.id, &body, &lib);
        assert_eq!(route, route_label(&lib.route), "{}", example.id);
    }
    let metrics = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |key: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {metrics}"))
    };
    assert_eq!(count("spec_actions_batched_requests_total "), 8);
    assert!(
        count("spec_actions_batches_total ") < 8,
        "requests were batched: {metrics}"
    );
    assert_eq!(server.stop().await.0.logged, 8);
}

/// POSTs `body` on a raw HTTP/1.1 connection, writing it while reading the answer (a write
/// error after the server has answered is ignored); returns the status and the JSON body.
async fn raw_post(base: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let _ = write.write_all(&body).await;
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut answer))
        .await
        .expect("an answer within 30 s")
        .ok();
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let json = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (
        status,
        serde_json::from_str(json).unwrap_or_else(|e| panic!("error body {json:?}: {e}")),
    )
}

/// Every bad input gets its 4xx with an OpenAI error body naming the field, and the server
/// goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_inputs_get_a_4xx_naming_the_field() {
    let fx = fixture();
    let server = start("A", |o| o.max_body_bytes = 256 * 1024).await;
    let http = client();
    let url = format!("{}/v1/chat/completions", server.base);
    let user = json!([{"role": "user", "content": "hi"}]);
    let tool = |parameters: Value| json!([{"type": "function", "function": {"name": "get_weather", "parameters": parameters}}]);
    let long = "word ".repeat(6000);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", b"{\"messages\": [".to_vec(), 400, "body"),
        ("not an object", b"[1, 2]".to_vec(), 400, "body"),
        ("no messages", json!({"model": "x"}).to_string().into_bytes(), 400, "messages"),
        ("empty messages", json!({"messages": []}).to_string().into_bytes(), 400, "messages"),
        ("messages not a list", json!({"messages": "hi"}).to_string().into_bytes(), 400, "messages"),
        ("unknown role", json!({"messages": [{"role": "user", "content": "a"}, {"role": "wizard", "content": "b"}]}).to_string().into_bytes(), 400, "messages[1].role"),
        ("image content", json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}).to_string().into_bytes(), 400, "messages[0].content[0].type"),
        ("bad call arguments", json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}).to_string().into_bytes(), 400, "messages[1].tool_calls[0].function.arguments"),
        ("stream", json!({"messages": user, "stream": true}).to_string().into_bytes(), 400, "stream"),
        ("n > 1", json!({"messages": user, "n": 3}).to_string().into_bytes(), 400, "n"),
        ("unsupported parameter", json!({"messages": user, "logprobs": true}).to_string().into_bytes(), 400, "logprobs"),
        ("tool type", json!({"messages": user, "tools": [{"type": "retrieval"}]}).to_string().into_bytes(), 400, "tools[0].type"),
        ("tool name", json!({"messages": user, "tools": [{"type": "function", "function": {"name": "has space"}}]}).to_string().into_bytes(), 400, "tools[0].function.name"),
        ("schema type", json!({"messages": user, "tools": tool(json!({"type": "banana"}))}).to_string().into_bytes(), 400, "tools[0].function.parameters.type"),
        ("nested schema type", json!({"messages": user, "tools": tool(json!({"type": "object", "properties": {"loc": {"type": "array", "items": {"type": 7}}}}))}).to_string().into_bytes(), 400, "tools[0].function.parameters.properties.loc.items.type"),
        ("undeclared required", json!({"messages": user, "tools": tool(json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["town"]}))}).to_string().into_bytes(), 400, "tools[0].function.parameters.required[0]"),
        ("parameters not a schema", json!({"messages": user, "tools": tool(json!("object"))}).to_string().into_bytes(), 400, "tools[0].function.parameters"),
        ("tool_choice string", json!({"messages": user, "tool_choice": "always"}).to_string().into_bytes(), 400, "tool_choice"),
        ("tool_choice unknown tool", json!({"messages": user, "tools": tool(json!({"type": "object"})), "tool_choice": {"type": "function", "function": {"name": "send_mail"}}}).to_string().into_bytes(), 400, "tool_choice.function.name"),
        ("too long", json!({"messages": [{"role": "user", "content": long}]}).to_string().into_bytes(), 400, "messages"),
        ("10 MB body", vec![b' '; 10 << 20], 413, "body"),
    ];
    for (what, body, status, param) in cases {
        let (got, e): (u16, Value) = if status == 413 {
            // The server answers an oversized body before reading all of it and closes the
            // connection, so a client still writing gets a broken pipe: write the body and
            // read the answer side by side on a raw connection.
            raw_post(&server.base, "/v1/chat/completions", body).await
        } else {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let got = r.status().as_u16();
            let e = r
                .json()
                .await
                .unwrap_or_else(|e| panic!("{what}: error body: {e}"));
            (got, e)
        };
        assert_eq!(got, status, "{what}");
        assert_eq!(e["error"]["param"], param, "{what}: {e}");
        assert!(
            e["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(e["error"]["type"].is_string(), "{what}");
        if what == "too long" {
            assert_eq!(e["error"]["code"], "context_length_exceeded");
        }
    }
    let r = http
        .get(format!("{}/v1/nothing", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // still serving everyone else, with tool_choice as an object naming a given tool
    let mut ok = request_body(&fx.eval[0]);
    if let Some(name) = fx.eval[0]
        .tools
        .first()
        .and_then(|t| t.pointer("/function/name"))
        .cloned()
    {
        ok["tool_choice"] = json!({"type": "function", "function": {"name": name}});
    }
    ok["temperature"] = json!(0.2);
    ok["stream"] = json!(false);
    let r = http.post(&url).json(&ok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (report, _dir) = server.stop().await;
    assert_eq!(report.logged, 1, "only the good request was decided");
}

/// A full queue answers 503 with `Retry-After` and an error body; the others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_answers_503_with_retry_after() {
    let fx = fixture();
    let server = start("A", |o| {
        o.queue_capacity = 1;
        o.max_batch = 1;
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let url = format!("{}/v1/chat/completions", server.base);
        let body = request_body(&fx.eval[i % fx.eval.len()]);
        tasks.push(tokio::spawn(async move {
            let r = client().post(url).json(&body).send().await.unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
        }));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert_eq!(retry.as_deref(), Some("1"));
                assert_eq!(body["error"]["code"], "queue_full");
            }
            s => panic!("status {s}: {body}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "served {ok}, refused {busy}");
    assert_eq!(server.stop().await.0.logged, ok);
}

/// Shutdown while requests are in flight: each finishes, and every answered decision is in
/// the log (flushed), as the report says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_in_flight_requests_and_loses_no_logged_decision() {
    let fx = fixture();
    let server = start("A", |o| {
        o.batch_window = Duration::from_millis(20);
        o.max_batch = 2;
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let url = format!("{}/v1/chat/completions", server.base);
        let body = request_body(&fx.eval[i % fx.eval.len()]);
        tasks.push(tokio::spawn(async move {
            let r = client().post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    // let the requests reach the server, then stop it while the models are busy
    tokio::time::sleep(Duration::from_millis(150)).await;
    let log = server.log.clone();
    let (report, _dir) = server.stop().await;
    let mut answered = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        answered.push(
            body["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("chatcmpl-")
                .to_string(),
        );
    }
    let rows = read_decision_logs(&log).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(report.logged, 6);
    for id in answered {
        assert!(
            rows.iter().any(|r| r.record.example_id == format!("serve:{id}")),
            "{id} logged"
        );
    }
}

/// A model error (here: a policy asking for the classifier the run does not have) is a 500
/// with an OpenAI error body for that request; the server goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_error_is_a_500_and_the_server_goes_on() {
    let fx = fixture();
    let mut spec = tokio::task::spawn_blocking(|| speculator("A")).await.unwrap();
    assert!(spec.classifier.is_none(), "the fixture has no classifier");
    spec.policy = Policy::Classifier;
    let server = start_with(spec, |_| {}).await;
    let http = client();
    for example in &fx.eval[..2] {
        let r = http
            .post(format!("{}/v1/chat/completions", server.base))
            .json(&request_body(example))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "model_error");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("classifier"),
            "{e}"
        );
    }
    let health = http.get(format!("{}/health", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("spec_actions_requests_total{code=\"500\"} 2"),
        "{metrics}"
    );
    assert_eq!(server.stop().await.0.logged, 0, "a failed decision is not logged");
}
