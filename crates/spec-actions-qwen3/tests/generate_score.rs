//! Generation and scoring on the `tiny` fixture, checked against the plain (uncached)
//! forward pass, which the parity tests tie to transformers.

use std::path::PathBuf;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use spec_actions_qwen3::generate::{FinishReason, GenerationConfig, Sampling, argmax, generate};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::score::{ScoringItem, score_continuations, score_continuations_batch};

fn tiny() -> Qwen3<Flex> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny");
    load_qwen3(dir, &Default::default()).unwrap()
}

/// Log-probabilities of every position of `ids`, from one uncached forward pass.
fn full_log_probs(model: &Qwen3<Flex>, ids: &[u32]) -> Vec<Vec<f32>> {
    let data: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    let input = Tensor::<Flex, 2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &Default::default());
    let lp = log_softmax(model.forward(input, None), 2)
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    lp.chunks(model.config.vocab_size).map(<[f32]>::to_vec).collect()
}

#[test]
fn one_pass_tree_scoring_equals_full_forward_per_candidate() {
    let model = tiny();
    let prompt = vec![5, 77, 300, 12, 999, 42];
    let candidates = vec![vec![7], vec![8, 9, 10], vec![100, 200], vec![1023, 0, 5, 6]];
    let scores = score_continuations(&model, &prompt, &candidates).unwrap();
    for (candidate, score) in candidates.iter().zip(&scores) {
        let ids: Vec<u32> = prompt.iter().chain(candidate).copied().collect();
        let lp = full_log_probs(&model, &ids);
        let expected: Vec<f32> = (0..candidate.len())
            .map(|i| lp[prompt.len() - 1 + i][candidate[i] as usize])
            .collect();
        assert_eq!(score.token_logprobs.len(), candidate.len());
        for (a, b) in score.token_logprobs.iter().zip(&expected) {
            assert!(
                (a - b).abs() < 1e-4,
                "{candidate:?}: {:?} vs {expected:?}",
                score.token_logprobs
            );
        }
        let sum: f32 = expected.iter().sum();
        assert!((score.total - sum).abs() < 1e-3);
    }
}

/// A batch of items of different packed lengths (so rows are padded) and candidate counts
/// scores each item as a full forward pass of `prompt ++ candidate` does.
#[test]
fn batched_tree_scoring_equals_a_full_forward_of_each_item() {
    let model = tiny();
    let prompts: [Vec<u32>; 3] = [vec![5, 77, 300], vec![1, 2, 3, 4, 5, 6, 7, 8, 9], vec![640]];
    let candidates: [Vec<Vec<u32>>; 3] = [
        vec![vec![7], vec![8, 9, 10]],
        vec![vec![100, 200], vec![1023, 0, 5, 6], vec![3]],
        vec![vec![11, 12]],
    ];
    let items: Vec<ScoringItem> = prompts
        .iter()
        .zip(&candidates)
        .map(|(prompt, candidates)| ScoringItem { prompt, candidates })
        .collect();
    let batched = score_continuations_batch(&model, &items).unwrap();
    assert_eq!(batched.len(), 3);
    for ((prompt, cands), scores) in prompts.iter().zip(&candidates).zip(&batched) {
        assert_eq!(scores.len(), cands.len());
        for (candidate, score) in cands.iter().zip(scores) {
            let ids: Vec<u32> = prompt.iter().chain(candidate).copied().collect();
            let lp = full_log_probs(&model, &ids);
            assert_eq!(score.token_logprobs.len(), candidate.len());
            for (i, got) in score.token_logprobs.iter().enumerate() {
                let want = lp[prompt.len() - 1 + i][candidate[i] as usize];
                assert!(
                    (got - want).abs() < 1e-4,
                    "{prompt:?} {candidate:?} token {i}: {got} vs {want}"
                );
            }
        }
    }
    assert!(score_continuations_batch(&model, &[]).unwrap().is_empty());
}

#[test]
fn generation_logprobs_equal_a_full_forward_of_the_output() {
    let model = tiny();
    let prompts = vec![vec![5, 77, 300, 12], vec![9, 8]];
    // greedy and sampled outputs: the log-probabilities are the model's own (temperature 1)
    for sampling in [
        Sampling::Greedy,
        Sampling::TopP {
            temperature: 1.5,
            top_p: 0.9,
            seed: 3,
        },
    ] {
        let config = GenerationConfig::greedy(6).with_sampling(sampling);
        let outputs = generate(&model, &prompts, &config).unwrap();
        for (prompt, out) in prompts.iter().zip(&outputs) {
            let ids: Vec<u32> = prompt.iter().chain(&out.tokens).copied().collect();
            let lp = full_log_probs(&model, &ids);
            assert_eq!(out.token_logprobs.len(), out.tokens.len());
            for (i, (&token, &got)) in out.tokens.iter().zip(&out.token_logprobs).enumerate() {
                let want = lp[prompt.len() - 1 + i][token as usize];
                assert!((got - want).abs() < 1e-4, "token {i}: {got} vs {want}");
            }
            assert!((out.logprob() - out.token_logprobs.iter().sum::<f32>()).abs() < 1e-6);
        }
    }
}

#[test]
fn left_padded_batch_generates_what_each_prompt_generates_alone() {
    let model = tiny();
    let prompts = vec![vec![3, 14, 15, 92, 65, 35, 89, 79], vec![27, 18, 28]];
    let config = GenerationConfig::greedy(6);
    let batch = generate(&model, &prompts, &config).unwrap();
    for (prompt, out) in prompts.iter().zip(&batch) {
        let alone = generate(&model, std::slice::from_ref(prompt), &config).unwrap();
        assert_eq!(out.tokens, alone[0].tokens);
        assert_eq!(out.finish, alone[0].finish);
        // padding changes the summation order of the attention, not the values
        for (a, b) in out.token_logprobs.iter().zip(&alone[0].token_logprobs) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(out.tokens.len(), 6);
        assert_eq!(out.finish, FinishReason::Length);
    }
    // The first greedy token is the arg-max of the uncached forward pass.
    let lp = full_log_probs(&model, &prompts[0]);
    assert_eq!(batch[0].tokens[0], argmax(lp.last().unwrap()));
}

#[test]
fn stop_token_ends_a_row_and_is_kept() {
    let model = tiny();
    let prompt = vec![vec![3, 14, 15, 92, 65]];
    let free = generate(&model, &prompt, &GenerationConfig::greedy(8)).unwrap();
    let stop = free[0].tokens[2];
    let first_stop = free[0].tokens.iter().position(|&t| t == stop).unwrap();
    let stopped = generate(
        &model,
        &prompt,
        &GenerationConfig::greedy(8).with_stop_tokens([stop]),
    )
    .unwrap();
    assert_eq!(stopped[0].finish, FinishReason::Stop);
    assert_eq!(stopped[0].tokens, free[0].tokens[..=first_stop]);
}

#[test]
fn seeded_sampling_is_reproducible_and_top_p_tiny_is_greedy() {
    let model = tiny();
    let prompt = vec![vec![3, 14, 15, 92, 65]];
    let sampled = |seed| {
        let sampling = Sampling::TopP {
            temperature: 1.5,
            top_p: 0.95,
            seed,
        };
        generate(
            &model,
            &prompt,
            &GenerationConfig::greedy(12).with_sampling(sampling),
        )
        .unwrap()
    };
    assert_eq!(sampled(7), sampled(7));
    assert_ne!(
        sampled(7),
        sampled(8),
        "different seeds gave identical 12-token samples"
    );
    // top_p so small that only the most probable token survives: greedy.
    let nucleus = Sampling::TopP {
        temperature: 1.0,
        top_p: 1e-9,
        seed: 1,
    };
    let narrow = generate(
        &model,
        &prompt,
        &GenerationConfig::greedy(12).with_sampling(nucleus),
    )
    .unwrap();
    assert_eq!(
        narrow,
        generate(&model, &prompt, &GenerationConfig::greedy(12)).unwrap()
    );
}

#[test]
fn invalid_inputs_are_errors() {
    let model = tiny();
    assert!(generate(&model, &[], &GenerationConfig::greedy(2)).is_err());
    assert!(generate(&model, &[vec![]], &GenerationConfig::greedy(2)).is_err());
    assert!(generate(&model, &[vec![5000]], &GenerationConfig::greedy(2)).is_err());
    assert!(score_continuations(&model, &[1, 2], &[]).is_err());
    assert!(score_continuations(&model, &[1, 2], &[vec![1], vec![]]).is_err());
}
