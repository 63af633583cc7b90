//! Agent-trace import: the shipped hand-written sample (`examples/traces`), the kind map's
//! rules and errors, bad lines, and a round trip through BFCL data written out as
//! chat-completions rows (the first cases of the repository's `assets/bfcl-v4`, as
//! `tests/datasets.rs` uses them).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use spec_actions_core::{Action, ActionKind, ChatRole, Example};
use spec_actions_data::bfcl::{default_bfcl_dir, import_bfcl};
use spec_actions_data::error::DataError;
use spec_actions_data::kind_table::{FILE_READ_FUNCTIONS, FILE_WRITE_FUNCTIONS, RETRIEVAL_FUNCTIONS};
use spec_actions_data::pipeline::BadLines;
use spec_actions_data::traces::{KindMap, import_traces};

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/traces")
}

fn sample() -> spec_actions_data::traces::TraceImport {
    let map = KindMap::from_file(&sample_dir().join("kinds.toml")).expect("kind map");
    import_traces(
        &sample_dir().join("agent-logs.jsonl"),
        &map,
        "traces:sample",
        BadLines::Refuse,
    )
    .expect("the sample imports")
}

fn kinds(examples: &[Example]) -> Vec<&'static str> {
    examples.iter().map(|e| e.gold.kind.as_str()).collect()
}

/// The shipped sample: at least 30 conversations, every kind present, and the decision points
/// of three conversations checked by hand against the file.
#[test]
fn sample_traces_cover_every_kind() {
    let import = sample();
    assert!(import.conversations.len() >= 30, "{}", import.conversations.len());
    let counts = import.kind_counts();
    for kind in ActionKind::ALL {
        assert!(
            counts.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind} in the sample"
        );
    }
    let conv = |id: &str| {
        import
            .conversations
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("conversation {id}"))
    };
    // agent-02 (TRL style, arguments as objects): test, read, patch, test, answer.
    let c = conv("agent-02");
    assert_eq!(
        kinds(&c.examples),
        ["verifier", "file_read", "repair", "verifier", "final_answer"]
    );
    assert_eq!(c.examples[0].gold.name.as_deref(), Some("run_tests"));
    assert_eq!(c.examples[0].gold.arguments, json!({"target": "test_parse_date"}));
    // The first decision sees the system prompt and the request; the answer sees everything.
    assert_eq!(c.examples[0].messages.len(), 2);
    assert_eq!(c.examples[4].messages.len(), 10);
    assert_eq!(c.examples[0].tools.len(), 13);
    // agent-11 (OpenAI style, string arguments): two reads in one message give two decision
    // points; the second sees the first call, not yet its output.
    let c = conv("agent-11");
    assert_eq!(
        kinds(&c.examples),
        ["file_read", "file_read", "file_read", "final_answer"]
    );
    let second = &c.examples[2];
    assert_eq!(second.gold.arguments, json!({"path": "config/prod.toml"}));
    let last = second.messages.last().expect("context");
    assert_eq!(last.role, ChatRole::Assistant);
    assert_eq!(last.tool_calls.len(), 1);
    assert_eq!(
        last.tool_calls[0].function.arguments,
        json!({"path": "config/dev.toml"})
    );
    // The tool outputs are named by `tool_call_id` (the OpenAI rows carry no `name`).
    let answer = &c.examples[3];
    let tool_names: Vec<&str> = answer
        .messages
        .iter()
        .filter(|m| m.role == ChatRole::Tool)
        .filter_map(|m| m.name.as_deref())
        .collect();
    assert_eq!(tool_names, ["list_dir", "read_file", "read_file"]);
    // agent-13 (OpenAI `refusal` field, no content) is BLOCKED; agent-10 asks back.
    assert_eq!(kinds(&conv("agent-13").examples), ["BLOCKED"]);
    assert_eq!(kinds(&conv("agent-10").examples), ["ask_clarification"]);
    // Rows without an id are named by source and line (conversation 3 is on line 3).
    assert_eq!(
        kinds(&conv("traces:sample:3").examples),
        ["ask_clarification", "file_read", "file_write", "final_answer"]
    );
}

/// The map's patterns apply in file order (the first match wins, whatever the key's sort
/// order), unmatched tools are `tool_call`, and the reply rules can be set.
#[test]
fn kind_map_first_match_wins_and_reply_rules_are_settable() {
    let text = r#"
[tools]
"zz_*" = "repair"
"*" = "file_read"
"aa_*" = "file_write"
[replies.clarification]
starts_with = ["could you"]
[replies.refusal]
contains = ["not allowed"]
"#;
    let map = KindMap::from_toml(text, Path::new("map.toml")).expect("map");
    assert_eq!(map.kind_of_tool("zz_fix"), ActionKind::Repair);
    assert_eq!(map.kind_of_tool("aa_x"), ActionKind::FileRead);
    let plain = KindMap::from_toml("[tools]\n\"aa_*\" = \"file_write\"\n", Path::new("m")).expect("map");
    assert_eq!(plain.kind_of_tool("aa_x"), ActionKind::FileWrite);
    assert_eq!(plain.kind_of_tool("other"), ActionKind::ToolCall);
    assert_eq!(
        map.kind_of_reply("Could you say which file", false),
        ActionKind::AskClarification
    );
    // The default "?" rule was replaced.
    assert_eq!(map.kind_of_reply("Which file?", false), ActionKind::FinalAnswer);
    assert_eq!(
        map.kind_of_reply("That is NOT ALLOWED here", false),
        ActionKind::Blocked
    );
    assert_eq!(map.kind_of_reply("", true), ActionKind::Blocked);
    // Defaults: a question mark asks back, "I can't …" refuses.
    let defaults = KindMap::default();
    assert_eq!(
        defaults.kind_of_reply(" Which file? ", false),
        ActionKind::AskClarification
    );
    assert_eq!(
        defaults.kind_of_reply("I can't do that.", false),
        ActionKind::Blocked
    );
    assert_eq!(defaults.kind_of_reply("Done.", false), ActionKind::FinalAnswer);
}

/// A bad kind or an unknown key is an error naming the file, the line and the key.
#[test]
fn kind_map_errors_name_file_line_and_key() {
    let err = KindMap::from_toml(
        "[tools]\n\"read_*\" = \"file_read\"\n\"x\" = \"file_reed\"\n",
        Path::new("kinds.toml"),
    )
    .expect_err("unknown kind");
    let msg = err.to_string();
    assert!(msg.starts_with("kinds.toml:3:"), "{msg}");
    assert!(msg.contains("tools.x") && msg.contains("file_reed"), "{msg}");
    let err = KindMap::from_toml(
        "[tools]\n\"a\" = \"repair\"\n\n[replies.refusal]\nstart_with = [\"no\"]\n",
        Path::new("kinds.toml"),
    )
    .expect_err("unknown key");
    let msg = err.to_string();
    assert!(msg.starts_with("kinds.toml:5:"), "{msg}");
    assert!(
        msg.contains("replies.refusal") && msg.contains("start_with"),
        "{msg}"
    );
    let err = KindMap::from_toml("[tool]\n", Path::new("kinds.toml")).expect_err("unknown table");
    assert!(err.to_string().contains("tool"), "{err}");
}

/// Unusable lines: refused with file and line, or skipped and listed; usable lines around
/// them still import. Duplicate ids and rows without an assistant turn are unusable.
#[test]
fn bad_lines_are_refused_or_listed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.jsonl");
    let good =
        json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]});
    let lines = [
        good.to_string(),
        "{not json".to_string(),
        json!({"messages": [{"role": "user", "content": "x"}]}).to_string(),
        json!({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}).to_string(),
        json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}]}).to_string(),
        json!({"id": "a", "messages": [{"role": "assistant", "content": "y"}]}).to_string(),
        json!({"id": "a", "messages": [{"role": "assistant", "content": "z"}]}).to_string(),
        String::new(),
        good.to_string(),
    ];
    fs::write(&path, lines.join("\n")).expect("write");
    let map = KindMap::default();
    match import_traces(&path, &map, "traces:t", BadLines::Refuse) {
        Err(DataError::InvalidLine { line, reason, .. }) => {
            assert_eq!(line, 2);
            assert!(reason.contains("not JSON"), "{reason}");
        }
        other => panic!("expected a line error, got {other:?}"),
    }
    let import = import_traces(&path, &map, "traces:t", BadLines::Skip).expect("skip");
    let skipped: Vec<usize> = import.skipped.iter().map(|s| s.line).collect();
    assert_eq!(skipped, [2, 3, 4, 5, 7]);
    assert!(import.skipped[1].reason.contains("no assistant message"));
    assert!(import.skipped[2].reason.contains("robot"));
    assert!(import.skipped[3].reason.contains("not a JSON object"));
    assert!(import.skipped[4].reason.contains("earlier line"));
    let ids: Vec<&str> = import.conversations.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["traces:t:1", "a", "traces:t:9"]);
}

/// A BFCL folder with the first `n` cases of `categories` and every function document.
fn mini_bfcl(categories: &[&str], n: usize) -> tempfile::TempDir {
    let src = default_bfcl_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("possible_answer")).expect("dir");
    fs::create_dir_all(dir.path().join("multi_turn_func_doc")).expect("dir");
    for category in categories {
        let name = format!("BFCL_v4_{category}.json");
        for sub in ["", "possible_answer"] {
            let from = src.join(sub).join(&name);
            if from.exists() {
                let text = fs::read_to_string(&from).expect("read");
                let head: Vec<&str> = text.lines().take(n).collect();
                fs::write(dir.path().join(sub).join(&name), head.join("\n") + "\n").expect("write");
            }
        }
    }
    for entry in fs::read_dir(src.join("multi_turn_func_doc")).expect("docs") {
        let entry = entry.expect("entry");
        fs::copy(
            entry.path(),
            dir.path().join("multi_turn_func_doc").join(entry.file_name()),
        )
        .expect("copy");
    }
    dir
}

/// The assistant message a gold action was in the conversation (BFCL's placeholders for
/// kind-only steps).
fn reply_of(gold: &Action) -> Value {
    match &gold.name {
        Some(name) => json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "c", "type": "function",
            "function": {"name": name, "arguments": gold.arguments.to_string()}}]}),
        None => {
            let what = match gold.kind {
                ActionKind::AskClarification => "clarifying question",
                ActionKind::Blocked => "reply that the step cannot be done",
                _ => "final answer",
            };
            json!({"role": "assistant", "content": format!("[{what} not recorded in BFCL]")})
        }
    }
}

/// BFCL multi-turn (and parallel / irrelevance) cases written out as chat-completions rows —
/// the whole conversation, calls with OpenAI string arguments — and imported back with a map
/// made of the importer's own function table give the BFCL importer's examples: the same
/// decision points, contexts, tools and gold actions, in the same order.
#[test]
fn bfcl_written_as_traces_imports_back_to_the_same_examples() {
    let categories = [
        "multi_turn_base",
        "multi_turn_long_context",
        "multi_turn_miss_param",
        "parallel",
        "irrelevance",
    ];
    let bfcl = mini_bfcl(&categories, 6);
    let import = import_bfcl(bfcl.path()).expect("bfcl");
    let mut map = String::from("[tools]\n");
    for (names, kind) in [
        (FILE_READ_FUNCTIONS, "file_read"),
        (FILE_WRITE_FUNCTIONS, "file_write"),
        (RETRIEVAL_FUNCTIONS, "retrieval"),
    ] {
        for name in names {
            map.push_str(&format!("{name:?} = {kind:?}\n"));
        }
    }
    map.push_str(
        "[replies.clarification]\ncontains = [\"[clarifying question not recorded\"]\n\
         [replies.refusal]\ncontains = [\"cannot be done not recorded\"]\n",
    );
    let map = KindMap::from_toml(&map, Path::new("bfcl-kinds.toml")).expect("map");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bfcl.jsonl");
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for conv in &import.conversations {
        let last = conv.examples.last().expect("examples");
        // One tool list per row: the categories above offer the same tools at every turn.
        assert!(conv.examples.iter().all(|e| e.tools == last.tools), "{}", conv.id);
        let mut messages = serde_json::to_value(&last.messages).expect("json");
        // OpenAI writes arguments as JSON strings and calls without content as null.
        for m in messages.as_array_mut().expect("list") {
            if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
                for call in calls {
                    let args = call["function"]["arguments"].to_string();
                    call["function"]["arguments"] = Value::String(args);
                }
                m["content"] = Value::Null;
            }
        }
        messages.as_array_mut().expect("list").push(reply_of(&last.gold));
        rows.push(json!({"id": conv.id, "messages": messages, "tools": last.tools}).to_string());
        seen.insert(conv.source.clone());
    }
    assert_eq!(seen.len(), categories.len(), "{seen:?}");
    fs::write(&path, rows.join("\n") + "\n").expect("write");
    let back = import_traces(&path, &map, "traces:bfcl", BadLines::Refuse).expect("import back");
    assert_eq!(back.conversations.len(), import.conversations.len());
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (a, b) in import.conversations.iter().zip(&back.conversations) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.examples.len(), b.examples.len(), "{}", a.id);
        for (x, y) in a.examples.iter().zip(&b.examples) {
            assert_eq!(x.messages, y.messages, "{}", x.id);
            assert_eq!(x.tools, y.tools, "{}", x.id);
            assert_eq!(x.gold, y.gold, "{}", x.id);
            assert_eq!(x.conversation, y.conversation);
            *per_kind.entry(x.gold.kind.as_str()).or_default() += 1;
        }
    }
    // The round trip exercised calls of several kinds and the kind-only steps.
    for kind in ["file_read", "tool_call", "final_answer", "ask_clarification"] {
        assert!(per_kind.contains_key(kind), "{per_kind:?}");
    }
}

/// The sample traces as a source of the dataset build: their conversations land whole in one
/// split each, and a mixing weight of 2.5 keeps every train conversation of the family twice
/// plus half of them a third time (rounded), leaving dev and eval as they were.
#[test]
fn traces_in_the_build_split_by_conversation_and_mix_by_weight() {
    use spec_actions_data::budget::{CharCounter, ContextBudget};
    use spec_actions_data::pipeline::{
        DatasetConfig, ExtraSources, NoProgress, TraceSource, build_datasets_with, read_examples,
    };
    let config = DatasetConfig {
        bfcl_dir: None,
        synthetic_examples: 200,
        seed: 2,
        budget: ContextBudget::full(),
        eval_size: 40,
        dev_fraction: 0.2,
        heldout_category: None,
        negatives: spec_actions_data::builders::NegativeLevel::Call,
    };
    let traces = TraceSource {
        path: sample_dir().join("agent-logs.jsonl"),
        map: KindMap::from_file(&sample_dir().join("kinds.toml")).expect("map"),
        source: "traces:sample".into(),
        bad_lines: BadLines::Refuse,
    };
    let counter = CharCounter { chars_per_token: 4 };
    let build = |weights: &[(&str, f64)]| {
        let out = tempfile::tempdir().expect("temp dir");
        let extra = ExtraSources {
            traces: vec![traces.clone()],
            weights: weights.iter().map(|(k, w)| (k.to_string(), *w)).collect(),
        };
        build_datasets_with(&config, &extra, &counter, out.path(), &mut NoProgress).expect("build");
        let read = |split: &str| read_examples(&out.path().join(format!("{split}.jsonl"))).expect("read");
        (read("train"), read("dev"), read("eval"))
    };
    let (train, dev, eval) = build(&[]);
    let of = |examples: &[Example], source: &str| -> Vec<Example> {
        examples
            .iter()
            .filter(|e| e.source.starts_with(source))
            .cloned()
            .collect()
    };
    let mut split_of: BTreeMap<String, &str> = BTreeMap::new();
    for (name, examples) in [("train", &train), ("dev", &dev), ("eval", &eval)] {
        for e in of(examples, "traces:sample") {
            let prior = split_of.insert(e.conversation.clone(), name);
            assert!(
                prior.is_none_or(|p| p == name),
                "{} in two splits",
                e.conversation
            );
        }
    }
    let base_train = of(&train, "traces:sample");
    assert!(!base_train.is_empty());
    let convs: BTreeSet<&str> = base_train.iter().map(|e| e.conversation.as_str()).collect();
    let (w_train, w_dev, w_eval) = build(&[("traces:sample", 2.5)]);
    let weighted = of(&w_train, "traces:sample");
    // Every conversation at least twice, about half of them three times.
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &weighted {
        *copies.entry(e.conversation.as_str()).or_default() += 1;
    }
    let per_conv: BTreeMap<&str, usize> = base_train.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.conversation.as_str()).or_default() += 1;
        m
    });
    let mut thrice = 0;
    for c in &convs {
        let k = copies[c] / per_conv[c];
        assert_eq!(copies[c] % per_conv[c], 0);
        assert!(k == 2 || k == 3, "{c}: {k} copies");
        thrice += usize::from(k == 3);
    }
    assert_eq!(thrice, (0.5 * convs.len() as f64).round() as usize);
    // Other sources, dev and eval are untouched.
    assert_eq!(of(&w_train, "synthetic:").len(), of(&train, "synthetic:").len());
    assert_eq!(w_train.len() - weighted.len(), train.len() - base_train.len());
    assert_eq!((w_dev, w_eval), (dev, eval));
    // Copies keep unique ids.
    let ids: BTreeSet<&str> = w_train.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), w_train.len());
}
