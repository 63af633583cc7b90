//! The live roles are the online path: a policy decided live on an example (the Qwen3 roles of
//! `spec_actions_live` behind `spec-actions-verify`'s policy code) gives the same
//! decision — action, route, gate score — and the same ledger — calls, roles, models, tokens,
//! prices; not wall times — as its replay from the recording of that example
//! (`Recorder::record_batch`, as the pipeline records).

mod live_common;

use live_common::{examples, live_models};
use spec_actions_core::{CostLedger, CostModel, Example};
use spec_actions_live::{LiveProposer, LiveScorer, LiveStrong, LiveVerifier, Recorder};
use spec_actions_verify::{
    Confidence, Decision, Policy, PolicyRoles, ProposalSource, RecordedSet, ReplayRoles, memory_origin,
};

const TOL: f64 = 1e-4;

fn same_ledger(what: &str, live: &CostLedger, replay: &CostLedger) {
    assert_eq!(live.calls.len(), replay.calls.len(), "{what}: calls");
    for (i, (a, b)) in live.calls.iter().zip(&replay.calls).enumerate() {
        assert_eq!(
            (a.role, &a.model, a.prefill_tokens, a.decode_tokens),
            (b.role, &b.model, b.prefill_tokens, b.decode_tokens),
            "{what}: call {i}"
        );
        assert_eq!(
            (a.nominal, a.flops),
            (b.nominal, b.flops),
            "{what}: price of call {i}"
        );
        assert!(a.wall_ms.is_some(), "{what}: a live call is timed");
    }
}

fn same_decision(what: &str, live: &Decision, replay: &Decision) {
    let (a, b) = (&live.record, &replay.record);
    assert_eq!(a.predicted, b.predicted, "{what}: action");
    assert_eq!(a.raw_output, b.raw_output, "{what}: raw output");
    assert_eq!(
        (a.correct, a.accepted),
        (b.correct, b.accepted),
        "{what}: outcome"
    );
    assert_eq!(live.log.route, replay.log.route, "{what}: route");
    let (p, q) = (&live.log.gate, &replay.log.gate);
    assert_eq!(p.is_some(), q.is_some(), "{what}: gate");
    if let (Some(p), Some(q)) = (p, q) {
        assert_eq!(
            (p.kind, p.chosen, p.accepted),
            (q.kind, q.chosen, q.accepted),
            "{what}: gate"
        );
        assert_eq!(p.threshold, q.threshold);
        match (p.score, q.score) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= TOL, "{what}: gate score {x} vs {y}"),
            (x, y) => assert_eq!(x, y, "{what}: gate score"),
        }
    }
    assert_eq!(
        live.log.candidates.len(),
        replay.log.candidates.len(),
        "{what}: candidates"
    );
    for (x, y) in live.log.candidates.iter().zip(&replay.log.candidates) {
        assert_eq!(x.candidate.action, y.candidate.action, "{what}: candidate");
        assert_eq!(x.candidate.raw, y.candidate.raw, "{what}: candidate text");
        assert!(
            (x.candidate.logprob - y.candidate.logprob).abs() <= TOL,
            "{what}: candidate logprob"
        );
        assert_eq!(x.score.is_some(), y.score.is_some(), "{what}: candidate judged");
    }
    same_ledger(what, &a.ledger, &b.ledger);
}

/// A threshold between the replayed gate scores of `examples`, at least `margin` away from
/// each, splitting them as evenly as possible (so both routes are taken).
fn splitting_threshold(
    policy: &Policy,
    examples: &[Example],
    replay: &mut ReplayRoles<'_>,
    margin: f64,
) -> f64 {
    let mut scores: Vec<f64> = examples
        .iter()
        .filter_map(|e| policy.judge(e, &mut replay.roles()).unwrap().score)
        .collect();
    scores.sort_by(f64::total_cmp);
    assert!(scores.len() >= 2, "{}: judged scores {scores:?}", policy.name());
    let mid = scores.len() / 2;
    let best = (1..scores.len())
        .filter(|&i| scores[i] - scores[i - 1] > 2.0 * margin)
        .min_by_key(|&i| i.abs_diff(mid))
        .unwrap_or_else(|| panic!("{}: no gap between scores {scores:?}", policy.name()));
    (scores[best] + scores[best - 1]) / 2.0
}

#[test]
fn live_decisions_equal_their_replay_from_the_recording() {
    let models = live_models(8);
    let examples = examples(4, 5);
    let recorder = Recorder {
        models: &models,
        samples: 3,
        one_pass_k: 2,
    };
    let rows = recorder.record_batch(&examples).unwrap();
    let set = RecordedSet::from_rows(rows, &memory_origin()).unwrap();
    let costs = CostModel::default();
    let mut replay = ReplayRoles::new(&set, &costs);

    let one_pass = ProposalSource::OnePass { k: 2 };
    let gated = [
        Policy::Verified {
            source: one_pass,
            threshold: 0.0,
        },
        Policy::Confidence {
            source: one_pass,
            measure: Confidence::TopProb,
            threshold: 0.0,
        },
        Policy::Confidence {
            source: one_pass,
            measure: Confidence::Margin,
            threshold: 0.0,
        },
        Policy::RewardThreshold {
            source: one_pass,
            threshold: 0.0,
        },
        Policy::Rerank {
            source: ProposalSource::Sampled { n: 3 },
            threshold: 0.0,
        },
    ];
    let mut policies = vec![
        Policy::StrongOnly,
        Policy::CheapOnly {
            source: ProposalSource::Greedy,
        },
        Policy::CheapOnly { source: one_pass },
        Policy::CheapOnly {
            source: ProposalSource::Sampled { n: 2 },
        },
        // greedy proposals of an untrained model rarely parse: the gate falls back unjudged
        Policy::Verified {
            source: ProposalSource::Greedy,
            threshold: 0.5,
        },
        Policy::Speculative { source: one_pass },
    ];
    for policy in gated {
        let tau = if matches!(policy, Policy::Rerank { .. }) {
            // unparseable samples have no score: accept whatever parses, if anything
            -1e9
        } else if matches!(policy, Policy::Confidence { .. }) {
            // confidence reads the one-pass scores, computed live and recorded by the same
            // single pass: any gap splits them
            splitting_threshold(&policy, &examples, &mut replay, 1e-12)
        } else {
            // judges recorded in batches: scores within rounding of the live single passes
            splitting_threshold(&policy, &examples, &mut replay, 1e-5)
        };
        policies.push(policy.with_threshold(tau));
    }

    let mut routes = std::collections::BTreeSet::new();
    for policy in &policies {
        for example in &examples {
            let what = format!("{} on {}", policy.name(), example.id);
            let (mut proposer, mut strong, mut verifier, mut scorer) = (
                LiveProposer {
                    models: &models,
                    costs: &costs,
                },
                LiveStrong {
                    models: &models,
                    costs: &costs,
                },
                LiveVerifier {
                    models: &models,
                    costs: &costs,
                },
                LiveScorer {
                    models: &models,
                    costs: &costs,
                },
            );
            let mut live_roles = PolicyRoles {
                proposer: &mut proposer,
                strong: &mut strong,
                verifier: Some(&mut verifier),
                scorer: Some(&mut scorer),
                classifier: None,
            };
            let live = policy.decide(example, &mut live_roles).unwrap();
            let replayed = policy.decide(example, &mut replay.roles()).unwrap();
            same_decision(&what, &live, &replayed);
            routes.insert(format!("{:?}", live.log.route));
        }
    }
    // every route was taken live: strong only, cheap only, accepted, fell back (both reasons),
    // speculative
    for route in [
        "StrongOnly",
        "CheapOnly",
        "Accepted",
        "BelowThreshold",
        "Unparseable",
        "Speculative",
    ] {
        assert!(
            routes.iter().any(|r| r.contains(route)),
            "route {route} taken: {routes:?}"
        );
    }
}
