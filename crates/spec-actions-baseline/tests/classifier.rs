//! The classifier on hand-made examples: it separates a separable set, its probabilities are
//! distributions, bad input is a typed error, and a saved classifier predicts the same.

use std::sync::OnceLock;

use proptest::prelude::*;
use spec_actions_baseline::{FitError, KindClassifier, KindClassifierConfig, ModelFileError};
use spec_actions_core::{Action, ActionKind, Example, Message, Split};

fn example(kind: ActionKind, messages: Vec<Message>) -> Example {
    Example {
        id: format!("{kind}-{}", messages.len()),
        source: "test".into(),
        conversation: "c".into(),
        split: Split::Train,
        messages,
        tools: vec![],
        gold: Action::kind(kind),
    }
}

/// Kind i has the cue word `cue{i}`; every example also has one of six filler words shared by all
/// kinds. Linearly separable by the cue words alone.
fn separable() -> Vec<Example> {
    ActionKind::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, &kind)| {
            // Uneven class sizes (2 to 6), so the class weights matter.
            (0..2 + i % 5).map(move |j| example(kind, vec![Message::user(format!("cue{i} filler{j}"))]))
        })
        .collect()
}

fn config() -> KindClassifierConfig {
    KindClassifierConfig {
        min_df: 1,
        ..KindClassifierConfig::default()
    }
}

fn fitted() -> &'static KindClassifier {
    static MODEL: OnceLock<KindClassifier> = OnceLock::new();
    MODEL.get_or_init(|| config().fit(&separable()).expect("fit the separable set"))
}

#[test]
fn a_separable_set_is_separated_perfectly() {
    let model = fitted();
    let train = separable();
    for e in &train {
        assert_eq!(model.predict(e), e.gold.kind, "{:?}", e.messages[0].content);
    }
    // New combinations of a cue with an unseen filler are classified by the cue.
    for (i, kind) in ActionKind::ALL.into_iter().enumerate() {
        let e = example(kind, vec![Message::user(format!("cue{i} unseen words here"))]);
        assert_eq!(model.predict(&e), kind);
    }
    let report = model.fit_report();
    assert!(report.converged, "{report:?}");
    assert_eq!(report.examples, train.len());
    assert_eq!(report.per_kind, [2, 3, 4, 5, 6, 2, 3, 4, 5]);
}

#[test]
fn fitting_is_deterministic() {
    let again = config().fit(&separable()).unwrap();
    let e = example(ActionKind::Repair, vec![Message::user("cue4 filler0 cue2")]);
    assert_eq!(again.predict_proba(&e), fitted().predict_proba(&e));
}

#[test]
fn bad_training_input_is_a_typed_error() {
    assert_eq!(config().fit(&[]).unwrap_err(), FitError::EmptyTrainingSet);
    let no_blocked: Vec<Example> = separable()
        .into_iter()
        .filter(|e| e.gold.kind != ActionKind::Blocked)
        .collect();
    let n = no_blocked.len();
    assert_eq!(
        config().fit(&no_blocked).unwrap_err(),
        FitError::MissingKind {
            kind: ActionKind::Blocked,
            examples: n
        }
    );
    let train = separable();
    let too_rare = KindClassifierConfig {
        min_df: train.len() + 1,
        ..config()
    };
    assert!(matches!(
        too_rare.fit(&train).unwrap_err(),
        FitError::EmptyVocabulary { .. }
    ));
    for (bad, field) in [
        (KindClassifierConfig { c: 0.0, ..config() }, "c"),
        (
            KindClassifierConfig {
                c: f64::NAN,
                ..config()
            },
            "c",
        ),
        (
            KindClassifierConfig {
                tol: -1.0,
                ..config()
            },
            "tol",
        ),
        (
            KindClassifierConfig {
                min_df: 0,
                ..config()
            },
            "min_df",
        ),
        (
            KindClassifierConfig {
                last_messages: 0,
                ..config()
            },
            "last_messages",
        ),
        (
            KindClassifierConfig {
                max_iter: 0,
                ..config()
            },
            "max_iter",
        ),
    ] {
        match bad.fit(&train).unwrap_err() {
            FitError::InvalidConfig { field: got, .. } => assert_eq!(got, field),
            other => panic!("{field}: unexpected {other:?}"),
        }
    }
}

#[test]
fn a_saved_classifier_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/classifier.json");
    let model = fitted();
    model.save(&path).unwrap();
    let back = KindClassifier::load(&path).unwrap();
    assert_eq!(back.config(), model.config());
    assert_eq!(back.fit_report(), model.fit_report());
    for e in separable() {
        assert_eq!(back.predict_proba(&e), model.predict_proba(&e));
    }
    // Saving again over the file leaves one file, no temp file.
    model.save(&path).unwrap();
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
}

#[test]
fn bad_model_files_are_typed_errors_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let err = KindClassifier::load(&missing).unwrap_err();
    assert!(matches!(err, ModelFileError::File(_)), "{err}");
    assert!(err.to_string().contains("missing.json"), "{err}");

    let path = dir.path().join("model.json");
    fitted().save(&path).unwrap();
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let write = |v: &serde_json::Value| std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();

    let mut v = good.clone();
    v["weights"].as_array_mut().unwrap().pop();
    write(&v);
    match KindClassifier::load(&path).unwrap_err() {
        ModelFileError::Invalid { field, .. } => assert_eq!(field, "weights"),
        other => panic!("{other}"),
    }

    let mut v = good.clone();
    v["version"] = 99.into();
    write(&v);
    match KindClassifier::load(&path).unwrap_err() {
        ModelFileError::Invalid { field, .. } => assert_eq!(field, "version"),
        other => panic!("{other}"),
    }

    let mut v = good.clone();
    v["tfidf"]["idf"].as_array_mut().unwrap().push(1.0.into());
    write(&v);
    match KindClassifier::load(&path).unwrap_err() {
        ModelFileError::Invalid { field, .. } => assert_eq!(field, "tfidf"),
        other => panic!("{other}"),
    }

    let mut v = good.clone();
    v["bias"][3] = "high".into();
    write(&v);
    let err = KindClassifier::load(&path).unwrap_err();
    match &err {
        ModelFileError::Parse { field, .. } => assert_eq!(field, "bias[3]"),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("model.json"), "{err}");

    std::fs::write(&path, b"{\"format\": ").unwrap();
    assert!(matches!(
        KindClassifier::load(&path).unwrap_err(),
        ModelFileError::Parse { .. }
    ));
}

fn role() -> impl Strategy<Value = fn(String) -> Message> {
    prop_oneof![
        Just(Message::user as fn(String) -> Message),
        Just(Message::system as fn(String) -> Message),
        Just(Message::assistant as fn(String) -> Message),
        Just((|c| Message::tool("run_tests", c)) as fn(String) -> Message),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the conversation (any text, any roles, no messages at all), the nine
    /// probabilities are finite, in [0, 1], and sum to 1; `predict` is their arg max.
    #[test]
    fn probabilities_are_a_distribution(
        messages in prop::collection::vec((role(), "(cue[0-9] |filler[0-9] |[a-z ]{0,12}|.{0,8})*"), 0..6)
    ) {
        let messages: Vec<Message> = messages.into_iter().map(|(make, text)| make(text)).collect();
        let e = example(ActionKind::FinalAnswer, messages);
        let model = fitted();
        let p = model.predict_proba(&e);
        prop_assert!(p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{p:?}");
        prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{p:?}");
        let best = p.iter().cloned().fold(f32::MIN, f32::max);
        prop_assert_eq!(p[model.predict(&e).index()], best);
    }
}
