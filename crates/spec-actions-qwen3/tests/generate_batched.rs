//! Batched generation across different prompts with per-row sampling, on the `tiny` fixture:
//! every row of a batch generates what it generates alone — with rows that share a prompt
//! (prefilled once), rows that stop at different steps (they leave the batch), greedy and
//! sampled rows side by side — and a lone per-row-seeded row equals the shared-RNG sampler.

use std::path::PathBuf;

use burn::backend::Flex;
use spec_actions_qwen3::generate::{
    FinishReason, GenerationConfig, RowSampling, Sampling, generate, generate_timed,
};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::Qwen3;

fn tiny() -> Qwen3<Flex> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny");
    load_qwen3(dir, &Default::default()).unwrap()
}

fn top_p(seed: u64) -> RowSampling {
    RowSampling::TopP {
        temperature: 1.3,
        top_p: 0.9,
        seed,
    }
}

#[test]
fn every_row_of_a_mixed_batch_generates_what_it_generates_alone() {
    let model = tiny();
    let a: Vec<u32> = vec![3, 14, 15, 92, 65, 35, 89, 79, 32, 38];
    let b = vec![27, 18, 28];
    let c = vec![500, 600, 700, 800, 900];
    let prompts = vec![
        a.clone(),
        a.clone(),
        b.clone(),
        a.clone(),
        c.clone(),
        b.clone(),
        a,
    ];
    let rules = vec![
        RowSampling::Greedy,
        top_p(1),
        RowSampling::Greedy,
        top_p(2),
        top_p(3),
        top_p(4),
        top_p(1), // the same prompt and seed as row 1
    ];
    // stop tokens taken from a free run (no stop token) of the same rows: the first token of
    // sampled row 1 from its 4th on, and of row 4 from its 8th on, that the row did not
    // produce before — so rows stop after different numbers of tokens
    let free_config = GenerationConfig::greedy(12).with_sampling(Sampling::PerRow(rules.clone()));
    let free = generate(&model, &prompts, &free_config).unwrap();
    let fresh = |row: usize, from: usize| {
        let own = &free[row].tokens;
        (from..own.len())
            .map(|k| own[k])
            .find(|t| !own[..from].contains(t))
            .expect("a fresh token")
    };
    let stops = [fresh(1, 3), fresh(4, 7)];
    let config = |rules: Vec<RowSampling>| {
        GenerationConfig::greedy(12)
            .with_stop_tokens(stops)
            .with_sampling(Sampling::PerRow(rules))
    };
    let (batch, timing) = generate_timed(&model, &prompts, &config(rules.clone())).unwrap();
    assert!(timing.prefill_ms >= 0.0 && timing.decode_ms >= 0.0);
    for (row, (prompt, rule)) in prompts.iter().zip(&rules).enumerate() {
        let alone = generate(&model, std::slice::from_ref(prompt), &config(vec![*rule])).unwrap();
        assert_eq!(batch[row].tokens, alone[0].tokens, "row {row}");
        assert_eq!(batch[row].finish, alone[0].finish, "row {row}");
        for (x, y) in batch[row].token_logprobs.iter().zip(&alone[0].token_logprobs) {
            assert!((x - y).abs() < 1e-5, "row {row}: {x} vs {y}");
        }
    }
    assert_eq!(batch[1], batch[6]);
    assert_ne!(batch[1].tokens, batch[3].tokens, "another seed, other draws");
    // the batch holds rows that stopped at different steps and rows that ran to the budget
    let stopped: Vec<usize> = batch
        .iter()
        .filter(|o| o.finish == FinishReason::Stop)
        .map(|o| o.tokens.len())
        .collect();
    assert!(stopped.len() >= 2, "{stopped:?}");
    assert!(stopped.iter().any(|&n| n != stopped[0]), "{stopped:?}");
    assert!(batch.iter().any(|o| o.finish == FinishReason::Length));
    assert!(batch.iter().all(|o| o.tokens.len() <= 12 && !o.tokens.is_empty()));
}

#[test]
fn a_lone_per_row_seeded_row_draws_what_the_shared_sampler_draws() {
    let model = tiny();
    let prompt = vec![vec![3, 14, 15, 92, 65]];
    let shared = generate(
        &model,
        &prompt,
        &GenerationConfig::greedy(10).with_sampling(Sampling::TopP {
            temperature: 1.3,
            top_p: 0.9,
            seed: 9,
        }),
    )
    .unwrap();
    let per_row = generate(
        &model,
        &prompt,
        &GenerationConfig::greedy(10).with_sampling(Sampling::PerRow(vec![top_p(9)])),
    )
    .unwrap();
    assert_eq!(shared, per_row);
    let greedy = generate(&model, &prompt, &GenerationConfig::greedy(10)).unwrap();
    let per_row_greedy = generate(
        &model,
        &prompt,
        &GenerationConfig::greedy(10).with_sampling(Sampling::PerRow(vec![RowSampling::Greedy])),
    )
    .unwrap();
    assert_eq!(greedy, per_row_greedy);
}

#[test]
fn per_row_rules_must_match_the_prompts_and_be_valid() {
    let model = tiny();
    let prompts = vec![vec![1, 2, 3], vec![4, 5]];
    let with = |rules| GenerationConfig::greedy(3).with_sampling(Sampling::PerRow(rules));
    assert!(generate(&model, &prompts, &with(vec![RowSampling::Greedy])).is_err());
    let bad = RowSampling::TopP {
        temperature: 0.0,
        top_p: 0.9,
        seed: 1,
    };
    assert!(generate(&model, &prompts, &with(vec![RowSampling::Greedy, bad])).is_err());
    assert!(generate(&model, &prompts, &with(vec![RowSampling::Greedy, top_p(1)])).is_ok());
}
