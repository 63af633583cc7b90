//! The shipped verifier and reward files are exactly the rows the trainers consume.
//!
//! `cargo xtask train-all` reads a split back (`read_examples`), takes the data seed from the
//! card (`read_card_seed`), and encodes `verdict_rows` / `preference_pairs` of the examples it
//! samples. Here a small synthetic build is read back the same way and its
//! `verifier_{train,dev}.jsonl` / `reward_{train,dev}.jsonl` are compared row by row with the
//! builder's rows: the whole split, and a seeded sample as a trainer draws it.

use std::fs;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use spec_actions_core::{Action, Example};
use spec_actions_data::budget::{CharCounter, ContextBudget};
use spec_actions_data::builders::NegativeLevel;
use spec_actions_data::error::DataError;
use spec_actions_data::pipeline::{
    DatasetConfig, NoProgress, build_datasets, read_card_seed, read_examples, read_role_set_options,
};
use spec_actions_data::role_sets::{preference_pairs, verdict_rows};

const DATA_SEED: u64 = 11;

fn build(out: &Path) {
    build_with(out, NegativeLevel::Call);
}

fn build_with(out: &Path, negatives: NegativeLevel) {
    let config = DatasetConfig {
        bfcl_dir: None,
        synthetic_examples: 400,
        seed: DATA_SEED,
        budget: ContextBudget::tiny(),
        eval_size: 45,
        dev_fraction: 0.2,
        heldout_category: None,
        negatives,
    };
    build_datasets(&config, &CharCounter { chars_per_token: 4 }, out, &mut NoProgress).unwrap();
}

fn jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn action(v: &Value) -> Action {
    serde_json::from_value(v.clone()).unwrap()
}

/// The verifier file's rows as (example id, proposed action, accept).
fn verdicts_of_file(rows: &[Value]) -> Vec<(String, Action, bool)> {
    rows.iter()
        .map(|r| {
            let accept = match r["label"].as_str().unwrap() {
                "ACCEPT" => true,
                "REJECT" => false,
                other => panic!("label {other}"),
            };
            (
                r["id"].as_str().unwrap().to_string(),
                action(&r["proposed"]),
                accept,
            )
        })
        .collect()
}

/// The reward file's rows as (example id, chosen, rejected).
fn pairs_of_file(rows: &[Value]) -> Vec<(String, Action, Action)> {
    rows.iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                action(&r["chosen_action"]),
                action(&r["rejected_action"]),
            )
        })
        .collect()
}

fn verdicts_of_builder(examples: &[Example], seed: u64) -> Vec<(String, Action, bool)> {
    verdict_rows(examples, seed, NegativeLevel::Call)
        .into_iter()
        .map(|r| (r.example.id.clone(), r.action, r.accept))
        .collect()
}

fn pairs_of_builder(examples: &[Example], seed: u64) -> Vec<(String, Action, Action)> {
    preference_pairs(examples, seed, NegativeLevel::Call)
        .into_iter()
        .map(|p| (p.example.id.clone(), p.chosen, p.rejected))
        .collect()
}

/// `a == b`, reporting the first differing row rather than both lists.
fn assert_same_rows<T: PartialEq + std::fmt::Debug>(what: &str, a: &[T], b: &[T]) {
    assert_eq!(a.len(), b.len(), "{what}: row counts");
    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
        panic!("{what}: row {i} differs:\n  {:?}\n  {:?}", a[i], b[i]);
    }
}

#[test]
fn shipped_role_files_are_the_rows_the_trainers_encode() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    // What a trainer does: the seed from the card, the examples from the split file.
    let seed = read_card_seed(dir.path()).unwrap();
    assert_eq!(seed, DATA_SEED);
    for split in ["train", "dev"] {
        let examples = read_examples(&dir.path().join(format!("{split}.jsonl"))).unwrap();
        assert!(examples.len() > 20, "{split}: {} examples", examples.len());
        let verifier_file = jsonl(&dir.path().join(format!("verifier_{split}.jsonl")));
        let reward_file = jsonl(&dir.path().join(format!("reward_{split}.jsonl")));

        // Every row, in order: the fields the trainer encodes, and the whole JSON row.
        let verdicts = verdict_rows(&examples, seed, NegativeLevel::Call);
        assert_eq!(verifier_file.len(), verdicts.len());
        assert_same_rows(
            "verifier",
            &verdicts_of_file(&verifier_file),
            &verdicts_of_builder(&examples, seed),
        );
        let built: Vec<Value> = verdicts.iter().map(|r| r.to_json()).collect();
        assert_same_rows("verifier json", &verifier_file, &built);
        let pairs = preference_pairs(&examples, seed, NegativeLevel::Call);
        assert_eq!(reward_file.len(), pairs.len());
        assert_same_rows(
            "reward",
            &pairs_of_file(&reward_file),
            &pairs_of_builder(&examples, seed),
        );
        let built: Vec<Value> = pairs.iter().map(|p| p.to_json()).collect();
        assert_same_rows("reward json", &reward_file, &built);

        // A trainer's sample (shuffled with its own seed, cut) gets the file's rows of its
        // examples: the trainer's seed picks examples, never negatives.
        let mut sample = examples.clone();
        sample.shuffle(&mut ChaCha8Rng::seed_from_u64(99));
        sample.truncate(examples.len() / 2);
        let file_verdicts = verdicts_of_file(&verifier_file);
        let file_pairs = pairs_of_file(&reward_file);
        let expected_verdicts: Vec<_> = sample
            .iter()
            .flat_map(|e| file_verdicts.iter().filter(|(id, _, _)| id == &e.id).cloned())
            .collect();
        let expected_pairs: Vec<_> = sample
            .iter()
            .flat_map(|e| file_pairs.iter().filter(|(id, _, _)| id == &e.id).cloned())
            .collect();
        assert_eq!(
            expected_verdicts.len(),
            2 * sample.len(),
            "two verifier rows per example"
        );
        assert_same_rows(
            "verifier sample",
            &verdicts_of_builder(&sample, seed),
            &expected_verdicts,
        );
        assert_same_rows("reward sample", &pairs_of_builder(&sample, seed), &expected_pairs);

        // The negatives depend on the seed: another one (a trainer seed, say) gives other rows.
        assert!(
            pairs_of_builder(&examples, seed + 1) != file_pairs,
            "{split}: seed + 1 gave the same pairs"
        );
    }
}

#[test]
fn card_seed_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.json");
    match read_card_seed(dir.path()) {
        Err(DataError::File(e)) => assert!(e.to_string().contains("card.json"), "{e}"),
        other => panic!("missing card: {other:?}"),
    }
    for text in ["{\"config\": {\"seed\": -3}}", "{\"config\": {}}", "not json"] {
        fs::write(&card, text).unwrap();
        match read_card_seed(dir.path()) {
            Err(DataError::Invalid { path, reason }) => {
                assert_eq!(path, card);
                assert!(
                    reason.contains("config.seed") || reason.contains("not JSON"),
                    "{text}: {reason}"
                );
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    fs::write(&card, "{\"config\": {\"seed\": 18446744073709551615}}").unwrap();
    assert_eq!(read_card_seed(dir.path()).unwrap(), u64::MAX);
}

#[test]
fn a_kind_level_build_records_its_level_and_ships_the_rows_of_that_level() {
    let dir = tempfile::tempdir().unwrap();
    build_with(dir.path(), NegativeLevel::Kind);
    let (seed, level) = read_role_set_options(dir.path()).unwrap();
    assert_eq!((seed, level), (DATA_SEED, NegativeLevel::Kind));
    let examples = read_examples(&dir.path().join("train.jsonl")).unwrap();
    let file = jsonl(&dir.path().join("verifier_train.jsonl"));
    let built: Vec<Value> = verdict_rows(&examples, seed, level)
        .iter()
        .map(|r| r.to_json())
        .collect();
    assert_same_rows("kind-level verifier json", &file, &built);
    let pairs = jsonl(&dir.path().join("reward_train.jsonl"));
    let built: Vec<Value> = preference_pairs(&examples, seed, level)
        .iter()
        .map(|p| p.to_json())
        .collect();
    assert_same_rows("kind-level reward json", &pairs, &built);
    // No negative of the gold's kind.
    for row in verdict_rows(&examples, seed, level) {
        assert!(row.accept || row.action.kind != row.example.gold.kind);
    }
}
