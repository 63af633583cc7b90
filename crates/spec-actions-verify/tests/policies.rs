//! Every policy replayed on `tests/data/hand.jsonl`, against expectations computed by hand.
//!
//! The file is hand-designed (written by a short script from the probabilities below; every
//! log-probability is the natural log of a round probability, −50 stands for "never"):
//!
//! | id | gold | greedy (p) | one-pass top | samples | strong | P(ACCEPT) | RM |
//! |---|---|---|---|---|---|---|---|
//! | e1 | file_read | file_read .9 | file_read .6, retrieval .3, tool_call .1 | file_read, retrieval, ✗ | file_read | fr .8, re .4, tc .1 | fr 1.0, re 2.0, tc −1 |
//! | e2 | repair | final_answer .5 | final_answer .5, repair .45, BLOCKED .05 | fa, repair, fa | repair | fa .3, rep .9 | fa −.5, rep .7 |
//! | e3 | tool_call ls() | ✗ "hmm" | tool_call .7, final_answer .2, BLOCKED .1 | ✗, ✗, tool_call | file_write | tc .95, fa .5 | tc .1, fa 0 |
//! | e4 | retrieval search(q=y) | search(q=x) .8 | retrieval .8, file_read .2 | 3 × search(q=x) | search(q=y) | x .6, re .6, fr .2 | x .5, re .5, fr .3 |
//!
//! ✗ = output that does not parse. Prices: the study's (strong 1.00, cheap 0.15, judge 0.10).

use std::path::Path;

use approx::assert_abs_diff_eq;
use spec_actions_core::{ActionKind, CostModel, ModelRole, Split};
use spec_actions_verify::{
    Confidence, FallbackReason, LatencyModel, OracleAnalysis, Policy, PolicyRun, ProposalSource, RecordedSet,
    ReplayRoles, Route, VerifyError, explain, run_policy,
};

fn hand_set() -> RecordedSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hand.jsonl");
    RecordedSet::read_jsonl(&path).expect("hand.jsonl is valid")
}

fn run(policy: Policy) -> PolicyRun {
    let set = hand_set();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    run_policy(&policy, &set.examples(Split::Dev), &mut replay.roles(), None).expect("policy runs")
}

/// Per example: predicted kind (None = unparseable), correct, nominal cost.
fn check(run: &PolicyRun, expected: &[(Option<ActionKind>, bool, f64)], accuracy: f64, mean_cost: f64) {
    let name = &run.config.name;
    assert_eq!(run.config.records.len(), expected.len(), "{name}");
    for (r, (kind, correct, cost)) in run.config.records.iter().zip(expected) {
        assert_eq!(
            r.predicted.as_ref().map(|a| a.kind),
            *kind,
            "{name} {}",
            r.example_id
        );
        assert_eq!(r.correct, *correct, "{name} {}", r.example_id);
        assert_abs_diff_eq!(r.ledger.nominal(), *cost, epsilon = 1e-12);
    }
    assert_abs_diff_eq!(run.config.accuracy, accuracy, epsilon = 1e-12);
    assert_abs_diff_eq!(run.config.mean_cost, mean_cost, epsilon = 1e-12);
}

use ActionKind::*;

#[test]
fn a_strong_only() {
    let r = run(Policy::StrongOnly);
    check(
        &r,
        &[
            (Some(FileRead), true, 1.0),
            (Some(Repair), true, 1.0),
            (Some(FileWrite), false, 1.0),
            (Some(Retrieval), true, 1.0),
        ],
        0.75,
        1.0,
    );
    // FLOPs: 2 · 8.2e9 params · (100 prefilled + 4 decoded).
    assert_abs_diff_eq!(
        r.config.records[0].ledger.flops(),
        2.0 * 8.2e9 * 104.0,
        epsilon = 1.0
    );
    assert_eq!(r.config.accept_rate, None);
}

#[test]
fn b_cheap_only_scores_unparseable_as_wrong_and_counts_it() {
    let r = run(Policy::CheapOnly {
        source: ProposalSource::Greedy,
    });
    check(
        &r,
        &[
            (Some(FileRead), true, 0.15),
            (Some(FinalAnswer), false, 0.15),
            (None, false, 0.15),
            (Some(Retrieval), true, 0.15),
        ],
        0.5,
        0.15,
    );
    assert_eq!(r.summary.unparseable, 1);
    assert_eq!(r.config.records[2].raw_output.as_deref(), Some("hmm"));
}

#[test]
fn g_one_pass_top1() {
    let r = run(Policy::CheapOnly {
        source: ProposalSource::OnePass { k: 1 },
    });
    assert_eq!(r.config.name, "B[G]");
    check(
        &r,
        &[
            (Some(FileRead), true, 0.15),
            (Some(FinalAnswer), false, 0.15),
            (Some(ToolCall), true, 0.15),
            (Some(Retrieval), true, 0.15),
        ],
        0.75,
        0.15,
    );
    assert_eq!(r.config.records[0].ledger.calls[0].prefill_tokens, 127);
}

#[test]
fn c_verifier_accepts_rejects_and_skips_unparseable() {
    let r = run(Policy::Verified {
        source: ProposalSource::Greedy,
        threshold: 0.5,
    });
    // e1 0.8 ≥ .5 accept; e2 0.3 reject → strong; e3 unparseable → no verifier call, strong;
    // e4 0.6 (looked up at call level: search(q=x)) accept.
    check(
        &r,
        &[
            (Some(FileRead), true, 0.25),
            (Some(Repair), true, 1.25),
            (Some(FileWrite), false, 1.15),
            (Some(Retrieval), true, 0.25),
        ],
        0.75,
        2.9 / 4.0,
    );
    assert_eq!(r.config.accept_rate, Some(0.5));
    assert_eq!(r.config.fallback_rate, Some(0.5));
    assert_eq!(
        r.logs[2].route,
        Route::FellBack {
            reason: FallbackReason::Unparseable
        }
    );
    assert_eq!(r.config.records[2].ledger.count(ModelRole::Verifier), 0);
    assert_eq!(
        r.logs[1].route,
        Route::FellBack {
            reason: FallbackReason::BelowThreshold
        }
    );
}

#[test]
fn c_with_nothing_accepted_costs_the_studys_1_25() {
    let r = run(Policy::Verified {
        source: ProposalSource::Greedy,
        threshold: 1.01,
    });
    for i in [0, 1, 3] {
        let ledger = &r.config.records[i].ledger;
        assert_abs_diff_eq!(ledger.nominal(), 0.15 + 0.10 + 1.00, epsilon = 1e-12);
        assert_eq!(
            (
                ledger.count(ModelRole::Cheap),
                ledger.count(ModelRole::Verifier),
                ledger.count(ModelRole::Strong)
            ),
            (1, 1, 1)
        );
    }
    assert_eq!(r.summary.accepted, 0);
}

#[test]
fn c_with_one_pass_proposals() {
    let r = run(Policy::Verified {
        source: ProposalSource::OnePass { k: 1 },
        threshold: 0.5,
    });
    // e3's one-pass top is tool_call (P(ACCEPT) .95) where greedy did not parse.
    check(
        &r,
        &[
            (Some(FileRead), true, 0.25),
            (Some(Repair), true, 1.25),
            (Some(ToolCall), true, 0.25),
            (Some(Retrieval), true, 0.25),
        ],
        1.0,
        0.5,
    );
}

#[test]
fn d_reward_threshold() {
    let r = run(Policy::RewardThreshold {
        source: ProposalSource::Greedy,
        threshold: 0.6,
    });
    check(
        &r,
        &[
            (Some(FileRead), true, 0.25),
            (Some(Repair), true, 1.25),
            (Some(FileWrite), false, 1.15),
            (Some(Retrieval), true, 1.25),
        ],
        0.75,
        3.9 / 4.0,
    );
}

#[test]
fn e_three_samples_cost_0_75_before_fallback() {
    let r = run(Policy::Rerank {
        source: ProposalSource::Sampled { n: 3 },
        threshold: 0.5,
    });
    // e1: two parseable samples scored (file_read 1.0, retrieval 2.0) → retrieval, wrong: 0.45+0.20.
    // e2: three scored, repair .7 wins: 3·0.15 + 3·0.10 = 0.75. e3: one scored (.1) → strong: 0.45+0.10+1.
    // e4: three scored, all .5 ≥ .5 → first: 0.75.
    check(
        &r,
        &[
            (Some(Retrieval), false, 0.65),
            (Some(Repair), true, 0.75),
            (Some(FileWrite), false, 1.55),
            (Some(Retrieval), true, 0.75),
        ],
        0.5,
        3.7 / 4.0,
    );
    let e2 = &r.config.records[1].ledger;
    assert_eq!((e2.count(ModelRole::Cheap), e2.count(ModelRole::Reward)), (3, 3));
    assert_eq!(r.logs[1].gate.as_ref().map(|g| g.chosen), Some(1));
}

#[test]
fn e_rerank_of_one_pass_top2() {
    let r = run(Policy::Rerank {
        source: ProposalSource::OnePass { k: 2 },
        threshold: 0.5,
    });
    check(
        &r,
        &[
            (Some(Retrieval), false, 0.35),
            (Some(Repair), true, 0.35),
            (Some(FileWrite), false, 1.35),
            (Some(Retrieval), true, 0.35),
        ],
        0.5,
        0.6,
    );
}

#[test]
fn f_confidence_top_prob() {
    let r = run(Policy::Confidence {
        source: ProposalSource::Greedy,
        measure: Confidence::TopProb,
        threshold: 0.7,
    });
    check(
        &r,
        &[
            (Some(FileRead), true, 0.15),
            (Some(Repair), true, 1.15),
            (Some(FileWrite), false, 1.15),
            (Some(Retrieval), true, 0.15),
        ],
        0.75,
        0.65,
    );
    assert_abs_diff_eq!(
        r.logs[0].gate.as_ref().and_then(|g| g.score).unwrap_or(0.0),
        0.9,
        epsilon = 1e-12
    );
}

#[test]
fn f_confidence_margin_on_one_pass() {
    let r = run(Policy::Confidence {
        source: ProposalSource::OnePass { k: 2 },
        measure: Confidence::Margin,
        threshold: 0.1,
    });
    // Margins: e1 .6−.3 = .3, e2 .5−.45 = .05 (reject), e3 .7−.2 = .5, e4 .8−.2 = .6.
    check(
        &r,
        &[
            (Some(FileRead), true, 0.15),
            (Some(Repair), true, 1.15),
            (Some(ToolCall), true, 0.15),
            (Some(Retrieval), true, 0.15),
        ],
        1.0,
        0.4,
    );
    assert_abs_diff_eq!(
        r.logs[1].gate.as_ref().and_then(|g| g.score).unwrap_or(0.0),
        0.05,
        epsilon = 1e-9
    );
}

#[test]
fn f_margin_needs_two_candidates() {
    let set = hand_set();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    let policy = Policy::Confidence {
        source: ProposalSource::Greedy,
        measure: Confidence::Margin,
        threshold: 0.1,
    };
    let err = run_policy(&policy, &set.examples(Split::Dev), &mut replay.roles(), None).unwrap_err();
    assert!(matches!(err, VerifyError::BadPolicy { .. }), "{err}");
}

#[test]
fn h_is_lossless_and_speculates_only_side_effect_free_kinds() {
    let h = run(Policy::Speculative {
        source: ProposalSource::Greedy,
    });
    let a = run(Policy::StrongOnly);
    // Committed = strong's action, always; both models always run: 1.15.
    check(
        &h,
        &[
            (Some(FileRead), true, 1.15),
            (Some(Repair), true, 1.15),
            (Some(FileWrite), false, 1.15),
            (Some(Retrieval), true, 1.15),
        ],
        0.75,
        1.15,
    );
    for (hr, ar) in h.config.records.iter().zip(&a.config.records) {
        assert_eq!(hr.predicted, ar.predicted);
    }
    let spec: Vec<(bool, bool)> = h
        .logs
        .iter()
        .map(|l| match &l.route {
            Route::Speculative(s) => (s.executed, s.agreed),
            other => panic!("H routed {other:?}"),
        })
        .collect();
    // e1 file_read agreed; e2 final_answer not run; e3 unparseable; e4 search(x) ran but strong chose search(y).
    assert_eq!(
        spec,
        vec![(true, true), (false, false), (false, false), (true, false)]
    );
    assert_eq!(h.config.accept_rate, Some(0.25));
}

#[test]
fn latency_model_fitted_from_measured_timings() {
    let set = hand_set();
    // Only e1's greedy (1 ms / 100 tokens, 40 ms / 4 tokens) and strong (10 ms, 200 ms) are timed.
    let mut exec = [0.0; ActionKind::COUNT];
    exec[FileRead.index()] = 200.0;
    let model = LatencyModel::fit(&set, exec);
    assert_abs_diff_eq!(
        model.roles[ModelRole::Cheap].prefill_ms_per_token,
        0.01,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        model.roles[ModelRole::Cheap].decode_ms_per_token,
        10.0,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        model.roles[ModelRole::Strong].prefill_ms_per_token,
        0.1,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        model.roles[ModelRole::Strong].decode_ms_per_token,
        50.0,
        epsilon = 1e-12
    );
    let h = run(Policy::Speculative {
        source: ProposalSource::Greedy,
    });
    let a = run(Policy::StrongOnly);
    // e1: cheap 1 + 40 = 41 ms, strong 10 + 200 = 210 ms, file_read 200 ms.
    // A: 210 + 200 = 410. H: the read starts at 41 ms → max(210, 241) = 241.
    assert_abs_diff_eq!(
        model.decision_ms(&a.config.records[0], &a.logs[0]),
        410.0,
        epsilon = 1e-9
    );
    assert_abs_diff_eq!(
        model.decision_ms(&h.config.records[0], &h.logs[0]),
        241.0,
        epsilon = 1e-9
    );
    // e4: speculation wasted (disagreement) → strong + exec(retrieval = 0) = 210.
    assert_abs_diff_eq!(
        model.decision_ms(&h.config.records[3], &h.logs[3]),
        210.0,
        epsilon = 1e-9
    );
}

#[test]
fn oracle_from_cheap_and_strong_runs() {
    let b = run(Policy::CheapOnly {
        source: ProposalSource::Greedy,
    });
    let a = run(Policy::StrongOnly);
    let o = OracleAnalysis::from_runs(&b, &a).expect("same examples");
    // cheap right: e1, e4; strong right: e1, e2, e4 → both .5, strong only .25 (e2), neither e3.
    assert_abs_diff_eq!(o.both, 0.5);
    assert_abs_diff_eq!(o.cheap_only, 0.0);
    assert_abs_diff_eq!(o.strong_only, 0.25);
    assert_abs_diff_eq!(o.oracle_accuracy, 0.75);
    // Cheap always (0.15) + strong for e2 only: (4·0.15 + 1.00) / 4.
    assert_abs_diff_eq!(o.oracle_cost, 0.4, epsilon = 1e-12);
}

#[test]
fn decision_log_explains_scores_threshold_and_calls() {
    let r = run(Policy::Verified {
        source: ProposalSource::Greedy,
        threshold: 0.5,
    });
    let text = explain(&r.config.name, &r.config.records[1], &r.logs[1]);
    for needle in [
        "example e2",
        "score 0.3000 vs threshold 0.5000 → reject",
        "fell back",
        "Strong",
        "total: 1.25 units",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Logs survive a JSON round trip.
    let json = serde_json::to_string(&r.logs[1]).expect("serialises");
    assert_eq!(
        serde_json::from_str::<spec_actions_verify::DecisionLog>(&json).expect("parses"),
        r.logs[1]
    );
}

#[test]
fn missing_recorded_outputs_are_typed_errors() {
    let set = hand_set();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);
    // Only three samples are recorded.
    let policy = Policy::Rerank {
        source: ProposalSource::Sampled { n: 5 },
        threshold: 0.0,
    };
    let err = run_policy(&policy, &set.examples(Split::Dev), &mut replay.roles(), None).unwrap_err();
    assert!(
        matches!(&err, VerifyError::NotRecorded { example_id, .. } if example_id == "e1"),
        "{err}"
    );
}
