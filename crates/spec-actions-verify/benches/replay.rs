//! All policies replayed over 100 000 recorded decisions (seeded synthetic recording).
//! Target: one pass over every policy in under a second.
//!
//! `cargo bench -p spec-actions-verify --bench replay`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spec_actions_core::{CostModel, Split};
use spec_actions_verify::{
    Confidence, GateTable, Policy, ProposalSource, RecordedSet, ReplayRoles, SyntheticRecordingConfig,
    generate, memory_origin, run_policy,
};

const DECISIONS: usize = 100_000;

/// A, B, B[G], C, C[G], D, E (n=3), E[G,k=3], F, F-margin[G,k=2], H.
fn all_policies() -> Vec<Policy> {
    let (greedy, g1) = (ProposalSource::Greedy, ProposalSource::OnePass { k: 1 });
    vec![
        Policy::StrongOnly,
        Policy::CheapOnly { source: greedy },
        Policy::CheapOnly { source: g1 },
        Policy::Verified {
            source: greedy,
            threshold: 0.5,
        },
        Policy::Verified {
            source: g1,
            threshold: 0.5,
        },
        Policy::RewardThreshold {
            source: greedy,
            threshold: 0.0,
        },
        Policy::Rerank {
            source: ProposalSource::Sampled { n: 3 },
            threshold: 0.0,
        },
        Policy::Rerank {
            source: ProposalSource::OnePass { k: 3 },
            threshold: 0.0,
        },
        Policy::Confidence {
            source: greedy,
            measure: Confidence::TopProb,
            threshold: 0.6,
        },
        Policy::Confidence {
            source: ProposalSource::OnePass { k: 2 },
            measure: Confidence::Margin,
            threshold: 0.3,
        },
        Policy::Speculative { source: greedy },
    ]
}

fn bench(c: &mut Criterion) {
    // Which machine: speed figures compare only as same-run ratios on one machine.
    eprintln!("machine: {}", spec_actions_core::machine::Machine::detect());
    let config = SyntheticRecordingConfig {
        examples: DECISIONS,
        seed: 42,
        dev_fraction: 0.0,
        ..Default::default()
    };
    let set = RecordedSet::from_rows(generate(&config), &memory_origin()).expect("valid synthetic rows");
    let costs = CostModel::default();
    let eval = set.examples(Split::Eval);
    let policies = all_policies();

    let mut group = c.benchmark_group("replay_100k");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("all_11_policies", |b| {
        b.iter(|| {
            let mut replay = ReplayRoles::new(&set, &costs);
            for policy in &policies {
                let run = run_policy(policy, &eval, &mut replay.roles(), None).expect("replays");
                black_box(run.config.accuracy);
            }
        })
    });
    group.bench_function("sweep_C_probe_and_curve", |b| {
        b.iter(|| {
            let mut replay = ReplayRoles::new(&set, &costs);
            let policy = Policy::Verified {
                source: ProposalSource::Greedy,
                threshold: 0.0,
            };
            let table = GateTable::probe(&policy, &eval, &mut replay.roles()).expect("probes");
            black_box(table.sweep().points.len())
        })
    });
    // Anchor, measured in the same run: building the 100k example stubs the replay decides
    // (one id and one gold clone each) — a machine- and load-dependent yardstick.
    group.bench_function("anchor_build_100k_example_stubs", |b| {
        b.iter(|| black_box(set.examples(Split::Eval).len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
