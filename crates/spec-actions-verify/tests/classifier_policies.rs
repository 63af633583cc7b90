//! Policy K (the bag-of-words classifier alone) and the cascades K→A and K→F, replayed on
//! `tests/data/hand.jsonl` (see `tests/policies.rs` for its table) with classifier
//! probabilities added by hand, against routes and costs computed by hand:
//!
//! | id | gold | classifier top (p) | nnz | strong | one-pass margin (F-margin[G,k=2]) |
//! |---|---|---|---|---|---|
//! | e1 | file_read | file_read .9 | 70 | file_read | .6 − .3 = .3 |
//! | e2 | repair | final_answer .5 (repair .4) | 50 | repair | .5 − .45 = .05 |
//! | e3 | tool_call ls() | tool_call .8 | 80 | file_write | .7 − .2 = .5 |
//! | e4 | retrieval search(q=y) | file_read .6 (retrieval .3) | 60 | search(q=y) | .8 − .2 = .6 |
//!
//! Prices: strong 1.00, cheap 0.15, classifier 0.001 (`CostModel::default`).

use std::path::Path;

use approx::assert_abs_diff_eq;
use spec_actions_baseline::KindClassifierConfig;
use spec_actions_core::{Action, ActionKind, CostModel, Example, Message, ModelRole, Split};
use spec_actions_verify::study::{StudyOptions, run_study};
use spec_actions_verify::{
    CascadeTier, Confidence, GateKind, GateTable, KindProbs, LiveClassifier, Policy, PolicyRoles, PolicyRun,
    ProposalSource, RecordedCall, RecordedClassifier, RecordedExample, RecordedSet, ReplayRoles, Route,
    VerifyError, explain, memory_origin, record_classifier, run_policy,
};

use ActionKind::*;

fn hand_rows() -> Vec<RecordedExample> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hand.jsonl");
    RecordedSet::read_jsonl(&path)
        .expect("hand.jsonl is valid")
        .rows()
        .to_vec()
}

/// The hand table's classifier answers: (top kind, p), (second kind, p), nnz; the rest of the
/// mass spread evenly over the other seven kinds.
fn classifier_of(id: &str) -> RecordedClassifier {
    let ((top, p1), (second, p2), nnz) = match id {
        "e1" => ((FileRead, 0.9), (Retrieval, 0.03), 70),
        "e2" => ((FinalAnswer, 0.5), (Repair, 0.4), 50),
        "e3" => ((ToolCall, 0.8), (FinalAnswer, 0.05), 80),
        "e4" => ((FileRead, 0.6), (Retrieval, 0.3), 60),
        other => panic!("no hand classifier for {other}"),
    };
    let rest = (1.0 - p1 - p2) / 7.0;
    let mut probs = [rest; ActionKind::COUNT];
    probs[top.index()] = p1;
    probs[second.index()] = p2;
    RecordedClassifier {
        kind_probs: KindProbs(probs),
        call: RecordedCall {
            model: Some("bow".into()),
            prefill_tokens: nnz,
            ..RecordedCall::default()
        },
    }
}

fn classified_set() -> RecordedSet {
    let rows = hand_rows()
        .into_iter()
        .map(|mut r| {
            r.classifier = Some(classifier_of(&r.id));
            r
        })
        .collect();
    RecordedSet::from_rows(rows, &memory_origin()).expect("valid rows")
}

fn run(policy: Policy) -> PolicyRun {
    let set = classified_set();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    run_policy(&policy, &set.examples(Split::Dev), &mut replay.roles(), None).expect("policy runs")
}

/// Per example: predicted kind, kind-level correct, nominal cost.
fn check(run: &PolicyRun, expected: &[(ActionKind, bool, f64)], accuracy: f64, mean_cost: f64) {
    let name = &run.config.name;
    for (r, (kind, correct, cost)) in run.config.records.iter().zip(expected) {
        assert_eq!(
            r.predicted.as_ref().map(|a| a.kind),
            Some(*kind),
            "{name} {}",
            r.example_id
        );
        assert_eq!(r.correct, *correct, "{name} {}", r.example_id);
        assert_abs_diff_eq!(r.ledger.nominal(), *cost, epsilon = 1e-12);
    }
    assert_eq!(run.config.records.len(), expected.len());
    assert_abs_diff_eq!(run.config.accuracy, accuracy, epsilon = 1e-12);
    assert_abs_diff_eq!(run.config.mean_cost, mean_cost, epsilon = 1e-12);
}

fn k_then_f(classifier_threshold: f64) -> Policy {
    Policy::Cascade {
        threshold: classifier_threshold,
        then: CascadeTier::Confidence {
            source: ProposalSource::OnePass { k: 2 },
            measure: Confidence::Margin,
            threshold: 0.25,
        },
    }
}

#[test]
fn k_commits_the_classifiers_kind_and_is_wrong_at_the_call_level_on_calls() {
    let r = run(Policy::Classifier);
    assert_eq!(r.config.name, "K");
    check(
        &r,
        &[
            (FileRead, true, 0.001),
            (FinalAnswer, false, 0.001),
            (ToolCall, true, 0.001),
            (FileRead, false, 0.001),
        ],
        0.5,
        0.001,
    );
    assert_eq!(r.config.accept_rate, None);
    // e3: the right kind, but a kind-only action cannot match the gold call ls().
    let e3 = &r.config.records[2];
    assert!(!e3.predicted.as_ref().unwrap().matches_call(&e3.gold));
    assert_eq!(e3.predicted, Some(Action::kind(ToolCall)));
    // One classifier call of 80 non-zeros: 2 · 9 · 80 FLOPs; logged with p = .8.
    assert_eq!(e3.ledger.calls.len(), 1);
    assert_eq!(e3.ledger.calls[0].role, ModelRole::Classifier);
    assert_abs_diff_eq!(e3.ledger.flops(), 2.0 * 9.0 * 80.0, epsilon = 1e-9);
    assert_eq!(r.logs[2].route, Route::CheapOnly);
    assert_abs_diff_eq!(r.logs[2].candidates[0].candidate.prob(), 0.8, epsilon = 1e-12);
}

#[test]
fn k_then_a_routes_by_the_classifiers_confidence() {
    let r = run(Policy::Cascade {
        threshold: 0.7,
        then: CascadeTier::Strong,
    });
    assert_eq!(r.config.name, "K→A@0.7000");
    // e1 .9 and e3 .8 accepted; e2 .5 and e4 .6 fall back to the strong model (repair, search).
    check(
        &r,
        &[
            (FileRead, true, 0.001),
            (Repair, true, 1.001),
            (ToolCall, true, 0.001),
            (Retrieval, true, 1.001),
        ],
        1.0,
        0.501,
    );
    assert_eq!(r.config.accept_rate, Some(0.5));
    assert_eq!(r.config.fallback_rate, Some(0.5));
    let gate = r.logs[1].gate.as_ref().expect("gate logged");
    assert_eq!(gate.kind, GateKind::Classifier);
    assert_abs_diff_eq!(gate.score.unwrap(), 0.5, epsilon = 1e-12);
    assert!(!gate.accepted);
    let roles: Vec<ModelRole> = r.config.records[1].ledger.calls.iter().map(|c| c.role).collect();
    assert_eq!(roles, [ModelRole::Classifier, ModelRole::Strong]);
}

#[test]
fn k_then_f_passes_unconfident_examples_to_f_which_may_fall_back() {
    let r = run(k_then_f(0.7));
    assert_eq!(r.config.name, "K→F-margin[G,k=2]@0.7000");
    assert!(
        r.config.description.contains("0.2500"),
        "{}",
        r.config.description
    );
    // e2: classifier .5 < .7 → F: margin .05 < .25 → strong: 0.001 + 0.15 + 1.00.
    // e4: classifier .6 < .7 → F: margin .6 ≥ .25 → one-pass retrieval: 0.001 + 0.15.
    check(
        &r,
        &[
            (FileRead, true, 0.001),
            (Repair, true, 1.151),
            (ToolCall, true, 0.001),
            (Retrieval, true, 0.151),
        ],
        1.0,
        (0.001 + 1.151 + 0.001 + 0.151) / 4.0,
    );
    // Accepted by either tier: e1, e3, e4; the strong model decided e2.
    assert_eq!(r.config.accept_rate, Some(0.75));
    assert_eq!(r.config.fallback_rate, Some(0.25));
    // e2's log: the classifier tier passed it on, F's gate rejected, strong decided.
    let log = &r.logs[1];
    let first = log.first_tier.as_ref().expect("first tier logged");
    assert_eq!(first.gate.kind, GateKind::Classifier);
    assert!(!first.gate.accepted);
    assert_eq!(first.candidate.candidate.action, Some(Action::kind(FinalAnswer)));
    assert_eq!(log.gate.as_ref().map(|g| g.kind), Some(GateKind::Margin));
    assert!(matches!(log.route, Route::FellBack { .. }));
    let roles: Vec<ModelRole> = r.config.records[1].ledger.calls.iter().map(|c| c.role).collect();
    assert_eq!(
        roles,
        [ModelRole::Classifier, ModelRole::Cheap, ModelRole::Strong]
    );
    // e1's log: accepted by the classifier, no second tier.
    assert!(r.logs[0].first_tier.is_none());
    assert_eq!(r.logs[0].route, Route::Accepted);
    let text = explain(&r.config.name, &r.config.records[1], log);
    assert!(text.contains("classifier tier"), "{text}");
    assert!(text.contains("Classifier"), "{text}");
}

/// The gate table of a cascade agrees with deciding at each threshold, K→F's reject path
/// included, and its dev calibration is a classifier threshold.
#[test]
fn cascade_gate_tables_equal_their_decisions() {
    let set = classified_set();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let dev = set.examples(Split::Dev);
    for family in [
        Policy::Cascade {
            threshold: 0.0,
            then: CascadeTier::Strong,
        },
        k_then_f(0.0),
    ] {
        let table = GateTable::probe(&family, &dev, &mut replay.roles()).unwrap();
        for tau in [0.0, 0.55, 0.7, 0.85, 0.95] {
            let point = table.at(tau);
            let run = run_policy(&family.with_threshold(tau), &dev, &mut replay.roles(), None).unwrap();
            assert_abs_diff_eq!(point.mean_cost, run.config.mean_cost, epsilon = 1e-12);
            assert_abs_diff_eq!(point.accuracy, run.config.accuracy, epsilon = 1e-12);
        }
        // Accepting everything is K (plus nothing); accepting nothing pays the classifier too.
        assert_abs_diff_eq!(table.at(0.0).accuracy, 0.5, epsilon = 1e-12);
        let calibrated = table.calibrate_fallback_rate(0.5).unwrap();
        assert_abs_diff_eq!(calibrated.dev.fallback_rate, 0.5, epsilon = 1e-12);
        assert_abs_diff_eq!(calibrated.policy.threshold().unwrap(), 0.8, epsilon = 1e-12);
    }
}

#[test]
fn k_without_a_recorded_classifier_is_a_typed_error() {
    let set = RecordedSet::from_rows(hand_rows(), &memory_origin()).unwrap();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let err = run_policy(
        &Policy::Classifier,
        &set.examples(Split::Dev),
        &mut replay.roles(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::NotRecorded { .. }), "{err}");
}

/// A recording without the field (hand.jsonl predates it) reads with `classifier: None`; a
/// row with it round-trips; an out-of-range probability is a typed error naming the field.
#[test]
fn recordings_without_the_classifier_still_load() {
    assert!(hand_rows().iter().all(|r| r.classifier.is_none()));
    let row = classified_set().rows()[1].clone();
    let text = serde_json::to_string(&row).unwrap();
    assert!(text.contains("\"kind_probs\""), "{text}");
    let back: RecordedExample = serde_json::from_str(&text).unwrap();
    assert_eq!(back, row);
    let mut bad = row;
    bad.classifier.as_mut().unwrap().kind_probs.0[Repair.index()] = 1.5;
    let err = RecordedSet::from_rows(vec![bad], &memory_origin()).unwrap_err();
    assert!(err.to_string().contains("classifier.kind_probs.repair"), "{err}");
}

/// The classified rows as dev rows, and a copy of each as an eval row.
fn dev_and_eval_rows() -> Vec<RecordedExample> {
    classified_set()
        .rows()
        .iter()
        .flat_map(|r| {
            let mut eval = r.clone();
            eval.id = format!("{}-eval", r.id);
            eval.split = Split::Eval;
            [r.clone(), eval]
        })
        .collect()
}

/// The study adds K and both cascades when every row has the classifier, none otherwise.
#[test]
fn the_study_adds_k_and_the_cascades_when_recorded() {
    let rows = dev_and_eval_rows();
    let costs = CostModel::default();
    let options = StudyOptions::default();
    let with = run_study(
        &RecordedSet::from_rows(rows.clone(), &memory_origin()).unwrap(),
        &costs,
        &options,
    )
    .unwrap();
    let names: Vec<&str> = with.runs.iter().map(|r| r.config.name.as_str()).collect();
    assert!(names.contains(&"K"), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("K→A@")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("K→F-margin[G,k=2]@")),
        "{names:?}"
    );
    assert!(with.sweeps.iter().any(|s| s.family == "K→A"));
    let without: Vec<RecordedExample> = rows
        .into_iter()
        .map(|mut r| {
            r.classifier = None;
            r
        })
        .collect();
    let study = run_study(
        &RecordedSet::from_rows(without, &memory_origin()).unwrap(),
        &costs,
        &options,
    )
    .unwrap();
    assert!(study.runs.iter().all(|r| !r.config.name.starts_with('K')));
}

/// Live = replay: K and K→A decided with a fitted classifier equal their replay from the
/// classifier's recorded answers (same kind, probability, tokens and price).
#[test]
fn a_live_classifier_decides_as_its_replay() {
    let cues = [
        (ToolCall, "book a flight"),
        (Retrieval, "search the web"),
        (FileRead, "open the config file"),
        (FileWrite, "save the patch"),
        (Repair, "tests failed traceback"),
        (Verify, "run the test suite"),
        (AskClarification, "do something vague"),
        (FinalAnswer, "thanks that is all"),
        (Blocked, "deploy to production now"),
    ];
    let example = |kind, text: &str, id: String| Example {
        id,
        source: "test".into(),
        conversation: text.into(),
        split: Split::Dev,
        messages: vec![Message::user(text)],
        tools: vec![],
        gold: Action::kind(kind),
    };
    let train: Vec<Example> = cues
        .iter()
        .flat_map(|&(k, t)| {
            [
                example(k, t, t.into()),
                example(k, &format!("please {t}"), format!("p {t}")),
            ]
        })
        .collect();
    let config = KindClassifierConfig {
        min_df: 1,
        c: 100.0,
        ..KindClassifierConfig::default()
    };
    let classifier = config.fit(&train).unwrap();
    let examples: Vec<Example> = cues
        .iter()
        .enumerate()
        .map(|(i, &(k, t))| example(k, &format!("now {t} again"), format!("q{i}")))
        .collect();
    // Recorded rows: the classifier's answer plus a strong model that always says final_answer.
    let template = hand_rows()[0].clone();
    let rows: Vec<RecordedExample> = examples
        .iter()
        .map(|e| RecordedExample {
            id: e.id.clone(),
            split: Split::Dev,
            gold: e.gold.clone(),
            strong: spec_actions_verify::RecordedOutput {
                action: Some(Action::kind(FinalAnswer)),
                ..template.strong.clone()
            },
            classifier: Some(record_classifier(&classifier, e, Some("bow"))),
            ..template.clone()
        })
        .collect();
    let set = RecordedSet::from_rows(rows, &memory_origin()).unwrap();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let (mut proposer, mut strong) = (
        spec_actions_verify::Replay::new(&set, &costs),
        spec_actions_verify::Replay::new(&set, &costs),
    );
    let mut live = LiveClassifier {
        classifier: &classifier,
        costs: &costs,
        model: Some("bow".into()),
    };
    let mut routes = Vec::new();
    for policy in [
        Policy::Classifier,
        Policy::Cascade {
            threshold: 0.5,
            then: CascadeTier::Strong,
        },
    ] {
        for e in &examples {
            let mut live_roles = PolicyRoles {
                proposer: &mut proposer,
                strong: &mut strong,
                verifier: None,
                scorer: None,
                classifier: Some(&mut live),
            };
            let mut a = policy.decide(e, &mut live_roles).unwrap();
            let mut b = policy.decide(e, &mut replay.roles()).unwrap();
            // measured times differ between the live call and the recorded one
            for call in a
                .record
                .ledger
                .calls
                .iter_mut()
                .chain(b.record.ledger.calls.iter_mut())
            {
                call.wall_ms = None;
            }
            assert_eq!(a, b, "{} on {}", policy.name(), e.id);
            routes.push(format!("{:?}", a.log.route));
        }
    }
    // the classifier learned the cues, and the cascade took both routes
    let k = run_policy(&Policy::Classifier, &examples, &mut replay.roles(), None).unwrap();
    assert!(k.config.accuracy >= 0.7, "{}", k.config.accuracy);
    assert!(routes.iter().any(|r| r.contains("Accepted")), "{routes:?}");
}

/// `StudyOptions::policies` keeps A, B and exactly the named families (a letter names every
/// source of it: `C` is C and C[G]); an unknown name is refused before any work.
#[test]
fn the_study_runs_only_the_named_policy_families() {
    let rows = dev_and_eval_rows();
    let set = RecordedSet::from_rows(rows, &memory_origin()).unwrap();
    let costs = CostModel::default();
    let family = |name: &str| {
        name.split('@')
            .next()
            .unwrap()
            .split('[')
            .next()
            .unwrap()
            .to_string()
    };
    let all = run_study(&set, &costs, &StudyOptions::default()).unwrap();
    let all_families: std::collections::BTreeSet<String> =
        all.runs.iter().map(|r| family(&r.config.name)).collect();
    for wanted in [vec!["C", "K→A"], vec!["F-margin"], vec!["K"]] {
        let options = StudyOptions {
            policies: Some(wanted.iter().map(|s| s.to_string()).collect()),
            ..StudyOptions::default()
        };
        let study = run_study(&set, &costs, &options).unwrap();
        let got: std::collections::BTreeSet<String> =
            study.runs.iter().map(|r| family(&r.config.name)).collect();
        let mut expected: std::collections::BTreeSet<String> =
            ["A", "B"].iter().map(|s| s.to_string()).collect();
        expected.extend(
            wanted
                .iter()
                .map(|s| s.to_string())
                .filter(|f| all_families.contains(f)),
        );
        assert_eq!(got, expected, "asked for {wanted:?}");
        assert!(
            study
                .sweeps
                .iter()
                .all(|s| wanted.contains(&family(&s.family).as_str()))
        );
    }
    let options = StudyOptions {
        policies: Some(vec!["Z".into()]),
        ..StudyOptions::default()
    };
    let err = run_study(&set, &costs, &options)
        .err()
        .expect("unknown family refused");
    assert!(err.to_string().contains("unknown policy family `Z`"), "{err}");
}
