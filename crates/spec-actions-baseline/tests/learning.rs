//! The classifier learns the kind from the text on a small sample of the repository's own
//! datasets (tests/data, see its README): trained on 300 train examples, it beats uniform chance
//! (1/9) and the majority kind on 100 eval examples by a wide margin.

use std::path::Path;

use spec_actions_baseline::KindClassifierConfig;
use spec_actions_core::jsonl::read_jsonl;
use spec_actions_core::{ActionKind, Example};

fn read(name: &str) -> Vec<Example> {
    read_jsonl(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

#[test]
fn kind_accuracy_on_a_real_sample_is_far_above_chance() {
    let train = read("train.jsonl");
    let eval = read("eval.jsonl");
    assert_eq!((train.len(), eval.len()), (300, 100));
    let model = KindClassifierConfig::default().fit(&train).unwrap();
    let correct = eval.iter().filter(|e| model.predict(e) == e.gold.kind).count();
    let accuracy = correct as f64 / eval.len() as f64;
    let mut per_kind = [0usize; ActionKind::COUNT];
    eval.iter().for_each(|e| per_kind[e.gold.kind.index()] += 1);
    let majority = *per_kind.iter().max().unwrap() as f64 / eval.len() as f64;
    eprintln!("eval kind accuracy {accuracy:.3} (majority kind {majority:.2}, chance 0.111)");
    assert!(accuracy >= 0.55, "accuracy {accuracy}");
    assert!(
        accuracy >= majority + 0.3,
        "accuracy {accuracy}, majority {majority}"
    );
}
