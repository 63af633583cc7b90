//! End-to-end checks of the dataset build on a small BFCL folder made from the first lines of
//! the repository's `assets/bfcl-v4` (real test cases), plus the importer on the whole folder.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use spec_actions_core::ActionKind;
use spec_actions_data::bfcl::{default_bfcl_dir, import_bfcl};
use spec_actions_data::budget::{CharCounter, ContextBudget};
use spec_actions_data::pipeline::{DatasetConfig, NoProgress, build_datasets, read_examples};

/// A BFCL folder with the first `n` cases of every category (answers and docs alongside).
fn mini_bfcl(n: usize) -> tempfile::TempDir {
    let src = default_bfcl_dir();
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("possible_answer")).unwrap();
    fs::create_dir_all(dir.path().join("multi_turn_func_doc")).unwrap();
    for entry in fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("BFCL_v4_") && name != "BFCL_v4_format_sensitivity.json" {
            for sub in ["", "possible_answer"] {
                let from = src.join(sub).join(&name);
                if from.exists() {
                    let text = fs::read_to_string(&from).unwrap();
                    let head: Vec<&str> = text.lines().take(n).collect();
                    fs::write(dir.path().join(sub).join(&name), head.join("\n") + "\n").unwrap();
                }
            }
        }
    }
    for entry in fs::read_dir(src.join("multi_turn_func_doc")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(
            entry.path(),
            dir.path().join("multi_turn_func_doc").join(entry.file_name()),
        )
        .unwrap();
    }
    dir
}

fn config(bfcl: &Path, seed: u64) -> DatasetConfig {
    DatasetConfig {
        bfcl_dir: Some(bfcl.to_path_buf()),
        synthetic_examples: 1500,
        seed,
        budget: ContextBudget::tiny(),
        eval_size: 200,
        dev_fraction: 0.1,
        heldout_category: Some("simple_java".into()),
        negatives: spec_actions_data::builders::NegativeLevel::Call,
    }
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap() {
        let p: PathBuf = e.unwrap().path();
        out.insert(
            p.file_name().unwrap().to_string_lossy().into_owned(),
            fs::read(&p).unwrap(),
        );
    }
    out
}

#[test]
fn same_seed_same_bytes_and_valid_splits() {
    let bfcl = mini_bfcl(12);
    let counter = CharCounter { chars_per_token: 4 };
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    build_datasets(&config(bfcl.path(), 3), &counter, a.path(), &mut NoProgress).unwrap();
    build_datasets(&config(bfcl.path(), 3), &counter, b.path(), &mut NoProgress).unwrap();
    build_datasets(&config(bfcl.path(), 4), &counter, c.path(), &mut NoProgress).unwrap();
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    assert!(fa.contains_key("card.md") && fa.contains_key("card.json") && fa.contains_key("sft_train.jsonl"));
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{name} differs between two runs with the same seed"
        );
    }
    assert_ne!(
        fa["train.jsonl"], fc["train.jsonl"],
        "another seed gives other data"
    );

    // No conversation (nor multi-turn group) in two splits; nine kinds in train and eval.
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    let mut group_owner: BTreeMap<String, &str> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, BTreeSet<ActionKind>> = BTreeMap::new();
    for split in ["train", "dev", "eval", "heldout"] {
        let examples = read_examples(&a.path().join(format!("{split}.jsonl"))).unwrap();
        assert!(!examples.is_empty(), "{split} is empty");
        for e in examples {
            assert_eq!(e.split.as_str(), split);
            let prev = owner.insert(e.conversation.clone(), split);
            assert!(
                prev.is_none_or(|p| p == split),
                "{} in {prev:?} and {split}",
                e.conversation
            );
            if let Some(n) = e
                .conversation
                .strip_prefix("bfcl:multi_turn_")
                .and_then(|r| r.rsplit('_').next())
            {
                let prev = group_owner.insert(n.to_string(), split);
                assert!(
                    prev.is_none_or(|p| p == split),
                    "multi-turn dialogue {n} in {prev:?} and {split}"
                );
            }
            if split == "heldout" {
                assert_eq!(e.source, "bfcl:simple_java");
            }
            kinds.entry(split).or_default().insert(e.gold.kind);
        }
    }
    assert_eq!(kinds["train"].len(), 9, "train kinds: {:?}", kinds["train"]);
    assert_eq!(kinds["eval"].len(), 9, "eval kinds: {:?}", kinds["eval"]);
    let eval = read_examples(&a.path().join("eval.jsonl")).unwrap();
    assert_eq!(eval.len(), 200);

    // Verifier files are balanced; the card records BFCL counts per category.
    let verifier = String::from_utf8(fa["verifier_train.jsonl"].clone()).unwrap();
    let accept = verifier
        .lines()
        .filter(|l| l.contains("\"label\":\"ACCEPT\""))
        .count();
    let reject = verifier
        .lines()
        .filter(|l| l.contains("\"label\":\"REJECT\""))
        .count();
    assert_eq!(accept, reject);
    assert!(accept > 0);
    let card: serde_json::Value = serde_json::from_slice(&fa["card.json"]).unwrap();
    let cats = card["bfcl_categories"].as_array().unwrap();
    let base = cats.iter().find(|c| c["category"] == "multi_turn_base").unwrap();
    assert_eq!(base["lines"], 12);
}

#[test]
fn import_reports_bad_lines_with_file_and_line() {
    let bfcl = mini_bfcl(5);
    // Line 3 of the base ground truth: an unterminated string. Line 2 of simple_python: not JSON.
    let answers = bfcl.path().join("possible_answer/BFCL_v4_multi_turn_base.json");
    let text = fs::read_to_string(&answers).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2]
        .replacen("(folder='", "(folder='oops", 1)
        .replacen("')\"", "\"", 1);
    assert!(lines[2].contains("oops"), "the fixture line has a cd call");
    fs::write(&answers, lines.join("\n")).unwrap();
    let questions = bfcl.path().join("BFCL_v4_simple_python.json");
    let text = fs::read_to_string(&questions).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1] = "{\"id\": \"simple_python_1\", \"question\": [".into();
    fs::write(&questions, lines.join("\n")).unwrap();

    let import = import_bfcl(bfcl.path()).unwrap();
    let failed: Vec<_> = import.issues.iter().filter(|i| i.status == "failed").collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    let bad_call = failed
        .iter()
        .find(|i| i.file == "possible_answer/BFCL_v4_multi_turn_base.json")
        .unwrap();
    assert_eq!(bad_call.line, 3);
    assert!(bad_call.reason.contains("unterminated"), "{}", bad_call.reason);
    let bad_json = failed
        .iter()
        .find(|i| i.file == "BFCL_v4_simple_python.json")
        .unwrap();
    assert_eq!(bad_json.line, 2);
    let base = import
        .categories
        .iter()
        .find(|c| c.category == "multi_turn_base")
        .unwrap();
    assert_eq!((base.lines, base.conversations, base.failed), (5, 4, 1));
    // live_relevance has no ground truth: every line is reported as skipped.
    let skipped = import.issues.iter().filter(|i| i.status == "skipped").count();
    assert_eq!(skipped, 5);
}

#[test]
fn whole_bfcl_folder_parses() {
    // Every one of BFCL's 4 625 multi-turn call strings parses (escaped quotes, `\n`, dicts,
    // positional arguments, floats, booleans); the only failures are ground-truth calls of a
    // function BFCL has not offered yet in that turn.
    let import = import_bfcl(&default_bfcl_dir()).unwrap();
    for issue in import.issues.iter().filter(|i| i.status == "failed") {
        assert!(issue.reason.contains("is not offered in this turn"), "{issue:?}");
    }
    let calls: usize = import
        .conversations
        .iter()
        .filter(|c| c.source.starts_with("bfcl:multi_turn"))
        .flat_map(|c| &c.examples)
        .filter(|e| e.gold.name.is_some())
        .count();
    assert!(calls > 3000, "{calls} multi-turn call examples");
    let kinds: BTreeSet<ActionKind> = import
        .conversations
        .iter()
        .flat_map(|c| &c.examples)
        .map(|e| e.gold.kind)
        .collect();
    for k in [
        ActionKind::ToolCall,
        ActionKind::FileRead,
        ActionKind::FileWrite,
        ActionKind::AskClarification,
        ActionKind::Blocked,
        ActionKind::FinalAnswer,
        ActionKind::Retrieval,
    ] {
        assert!(kinds.contains(&k), "{k} missing from BFCL");
    }
}

/// Issue 18, item 8: options that leave a split empty are errors naming the option, not empty
/// files and exit 0.
#[test]
fn options_that_empty_a_split_are_errors_naming_the_option() {
    let counter = CharCounter { chars_per_token: 4 };
    let synthetic = |eval_size: usize, max_prompt_tokens: Option<usize>| DatasetConfig {
        bfcl_dir: None,
        synthetic_examples: 300,
        seed: 0,
        budget: ContextBudget {
            max_prompt_tokens,
            ..ContextBudget::tiny()
        },
        eval_size,
        dev_fraction: 0.1,
        heldout_category: None,
        negatives: spec_actions_data::builders::NegativeLevel::Call,
    };
    let build = |config: DatasetConfig| {
        let out = tempfile::tempdir().unwrap();
        build_datasets(&config, &counter, out.path(), &mut NoProgress).map(|_| ())
    };
    let err = build(synthetic(100_000, Some(576))).unwrap_err().to_string();
    assert!(
        err.contains("no training example left") && err.contains("eval_size 100000"),
        "{err}"
    );
    let err = build(synthetic(18, Some(0))).unwrap_err().to_string();
    assert!(err.contains("max_prompt_tokens 0"), "{err}");
    // a budget no synthetic prompt fits: everything is dropped
    let err = build(synthetic(18, Some(40))).unwrap_err().to_string();
    assert!(err.contains("dropped over the context budget"), "{err}");
    // sane options still build
    build(synthetic(18, Some(576))).unwrap();
}

/// Issue #14, item 5: with a renderer, the build writes the SFT set also as prompt-completion
/// rows (one per `messages` row, same ids, the rendered strings), and the card reports their
/// token lengths against TRL's default `max_length` of 1,024 (counted here from the
/// renderer's own counts: a stand-in renderer whose lengths are known).
#[test]
fn prompt_completion_files_and_card_lengths() {
    use spec_actions_core::Example;
    use spec_actions_data::pipeline::{ExtraSources, build_datasets_rendered};
    use spec_actions_data::prompt_completion::{RenderedPair, SftRenderer};

    /// Prompt = the id, completion = the gold action's text; token counts: 1,000 for the
    /// prompt and 10 per completion character (so short answers fit 1,024, long ones do not).
    struct Stand;
    impl SftRenderer for Stand {
        fn render(&self, e: &Example) -> Result<RenderedPair, String> {
            if e.id.ends_with('7') {
                return Err("left out".into());
            }
            let completion = e.gold.to_model_text();
            Ok(RenderedPair {
                prompt: format!("<prompt {}>", e.id),
                completion_tokens: completion.len() * 10,
                completion,
                prompt_tokens: 1000,
            })
        }
    }
    let bfcl = mini_bfcl(6);
    let counter = CharCounter { chars_per_token: 4 };
    let out = tempfile::tempdir().unwrap();
    let report = build_datasets_rendered(
        &config(bfcl.path(), 3),
        &ExtraSources::default(),
        &counter,
        Some(&Stand),
        out.path(),
        &mut NoProgress,
    )
    .unwrap();
    for split in ["train", "dev"] {
        let sft = read_examples(&out.path().join(format!("{split}.jsonl"))).unwrap();
        let text = fs::read_to_string(out.path().join(format!("sft_pc_{split}.jsonl"))).unwrap();
        let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let kept: Vec<&Example> = sft.iter().filter(|e| !e.id.ends_with('7')).collect();
        assert_eq!(rows.len(), kept.len(), "{split}: one row per rendered example");
        for (row, e) in rows.iter().zip(&kept) {
            assert_eq!(row["id"], e.id.as_str());
            assert_eq!(row["prompt"], format!("<prompt {}>", e.id));
            assert_eq!(row["completion"], e.gold.to_model_text());
            assert_eq!(row["kind"], e.gold.kind.as_str());
        }
        let lengths = &report.card.sft_prompt_completion[split];
        assert_eq!(lengths.rows, kept.len());
        assert_eq!(lengths.not_rendered, sft.len() - kept.len());
        let over = kept
            .iter()
            .filter(|e| 1000 + 10 * e.gold.to_model_text().len() > 1024)
            .count();
        assert_eq!(lengths.over_trl_max_length, over, "{split}");
        assert_eq!(lengths.trl_max_length, 1024);
        assert_eq!(report.card.files[&format!("sft_pc_{split}.jsonl")], kept.len());
    }
    let md = fs::read_to_string(out.path().join("card.md")).unwrap();
    assert!(md.contains("## SFT as TRL prompt-completion pairs"), "{md}");
    // without a renderer: no such files, and no such section
    let plain = tempfile::tempdir().unwrap();
    let report = build_datasets(&config(bfcl.path(), 3), &counter, plain.path(), &mut NoProgress).unwrap();
    assert!(report.card.sft_prompt_completion.is_empty());
    assert!(!plain.path().join("sft_pc_train.jsonl").exists());
}
