//! Frontier + bootstrap (1,000 resamples) + pairwise exact McNemar over 10,000 records × 20
//! configurations: the whole `FrontierReport::analyze` of a large results file.
//! Target: under 2 s on one core. `cargo bench --bench frontier`. Two parts are timed alone as
//! anchors: aligning the records, and the bootstrap — at 1,000 resamples and at the default
//! (10,000), which the report uses.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spec_actions::core::{
    Action, ActionKind, ConfigResult, CostLedger, CostModel, ExampleRecord, ModelRole, ResultsFile,
};
use spec_actions::frontier::{Bootstrap, BootstrapOptions, FrontierReport, PairedRecords, ReportOptions};

const EXAMPLES: usize = 10_000;
const CONFIGS: usize = 20;

/// 20 configurations of rising cost and varied accuracy on the same 10,000 examples.
fn results() -> ResultsFile {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let model = CostModel::default();
    let gold: Vec<ActionKind> = (0..EXAMPLES)
        .map(|_| ActionKind::ALL[rng.random_range(0..ActionKind::COUNT)])
        .collect();
    let mut file = ResultsFile::new("bench: 10,000 records × 20 configurations", 1.0 / 9.0);
    for c in 0..CONFIGS {
        let skill = 0.3 + 0.5 * rng.random::<f64>();
        let fallback = c as f64 / CONFIGS as f64;
        let records: Vec<ExampleRecord> = gold
            .iter()
            .enumerate()
            .map(|(i, &kind)| {
                let mut ledger = CostLedger::new();
                ledger.record(model.call(ModelRole::Cheap, 300, 4));
                let fell_back = rng.random::<f64>() < fallback;
                if fell_back {
                    ledger.record(model.call(ModelRole::Verifier, 300, 1));
                    ledger.record(model.call(ModelRole::Strong, 300, 4));
                }
                let correct = rng.random::<f64>() < skill;
                ExampleRecord {
                    example_id: format!("bench:{i}"),
                    gold: Action::kind(kind),
                    predicted: Some(Action::kind(if correct { kind } else { ActionKind::Blocked })),
                    raw_output: None,
                    correct,
                    accepted: Some(!fell_back),
                    ledger,
                }
            })
            .collect();
        let accuracy = records.iter().filter(|r| r.correct).count() as f64 / EXAMPLES as f64;
        let mean_cost = records.iter().map(|r| r.ledger.nominal()).sum::<f64>() / EXAMPLES as f64;
        file.configs.push(ConfigResult {
            name: format!("C{c:02}"),
            description: format!("synthetic, {:.0}% fallback", fallback * 100.0),
            accuracy,
            mean_cost,
            accept_rate: Some(1.0 - fallback),
            fallback_rate: Some(fallback),
            records,
        });
    }
    file
}

fn bench(c: &mut Criterion) {
    // Which machine: speed figures compare only as same-run ratios on one machine.
    eprintln!("machine: {}", spec_actions_core::machine::Machine::detect());
    let file = results();
    let options = ReportOptions {
        bootstrap: BootstrapOptions {
            resamples: 1000,
            ..BootstrapOptions::default()
        },
        ..ReportOptions::default()
    };
    assert_eq!(options.bootstrap.resamples, 1000);
    let mut group = c.benchmark_group("frontier");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function(
        "analyze 10k records x 20 configs, 1000 resamples, 190 McNemar",
        |b| {
            b.iter(|| {
                let report = FrontierReport::analyze(black_box(&file), options).unwrap();
                assert_eq!(
                    report.statistics.as_ref().map(|s| s.comparisons.len()),
                    Some(CONFIGS * (CONFIGS - 1) / 2)
                );
                report
            })
        },
    );
    // Anchors measured in the same run: the parts of `analyze`.
    group.bench_function("part: align records (hash by example id)", |b| {
        b.iter(|| PairedRecords::from_configs(black_box(&file.configs)).unwrap())
    });
    let records = PairedRecords::from_configs(&file.configs).unwrap().unwrap();
    group.bench_function("part: bootstrap 1000 resamples", |b| {
        b.iter(|| Bootstrap::run(black_box(&records), options.bootstrap).unwrap())
    });
    let default = BootstrapOptions::default();
    assert_eq!(default.resamples, 10_000);
    group.bench_function("part: bootstrap 10000 resamples (the default)", |b| {
        b.iter(|| Bootstrap::run(black_box(&records), default).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
