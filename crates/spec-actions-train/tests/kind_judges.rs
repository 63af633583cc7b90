//! The kind-likelihood judges (`JudgeFormat::KindLikelihood`) against external references:
//! - `kind_log_likelihoods` of a batch — questions sharing a prompt packed into one row —
//!   equals the one-pass scorer's total of each question alone (`spec_actions_qwen3::score::score_continuations`, itself checked against the
//!   transformers fixture);
//! - the verifier's loss is the binary cross-entropy of `e^ℓ` and the reward model's the
//!   Bradley–Terry loss of the likelihoods, computed by hand from those scores;
//! - each judge's one-pass held-out evaluation (`held_out`: loss and metric from one set of
//!   scores) equals the trainer's `evaluate` loss and the AUC / pairwise accuracy computed
//!   separately, and `fit_with_eval` reports the evaluation of the model it returns;
//! - a small judge trained on ACCEPT / REJECT rows of a learnable task separates them on
//!   held-out rows far better than at its start.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use spec_actions_core::metrics::roc_auc;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::score::score_continuations;
use spec_actions_train::tasks::{
    KindPreferencePair, KindQuestion, KindRewardObjective, KindVerdictExample, KindVerdictObjective,
    kind_log_likelihood_values,
};
use spec_actions_train::trainer::{Objective, TrainModel, Trainer, TrainerConfig, evaluate};

type B = Autodiff<Flex>;

fn fixture(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec-actions-qwen3/tests/data")
        .join(dir)
}

/// The tiny fixture (vocabulary 1,024) with its embeddings scaled as a trained model's are
/// (the fixture's std 0.02, tied to the head, caps every logit near ±1.3).
fn tiny_model() -> Qwen3<B> {
    let mut base = load_qwen3::<B>(fixture("tiny"), &Default::default()).expect("fixture loads");
    base.embed_tokens.weight = base.embed_tokens.weight.clone().map(|w| w.mul_scalar(25.0));
    base
}

/// Questions of different prompt lengths (so the batch is padded) and kinds of 1–3 tokens.
fn questions() -> Vec<KindQuestion> {
    let kinds: [&[u32]; 3] = [&[700], &[701, 702], &[703, 704, 705]];
    (0..6u32)
        .map(|i| KindQuestion {
            prompt: (0..(5 + 3 * i)).map(|k| 20 + (k * 37 + i * 11) % 600).collect(),
            kind: kinds[i as usize % 3].to_vec(),
        })
        .collect()
}

fn scalar(t: burn::tensor::Tensor<B, 1>) -> f64 {
    f64::from(t.into_scalar())
}

/// `log p(kind | prompt)` of one question, scored alone (one prompt, one candidate).
fn alone(model: &Qwen3<B>, q: &KindQuestion) -> f64 {
    let scores = score_continuations(model, &q.prompt, std::slice::from_ref(&q.kind)).expect("scores");
    f64::from(scores[0].total)
}

#[test]
fn batched_kind_likelihoods_equal_each_prompt_scored_alone() {
    let model = tiny_model();
    let mut qs = questions();
    // two more kinds after the first prompt (one of them asked twice): packed into its row
    for kind in [vec![701, 702], vec![703, 704, 705], vec![701, 702]] {
        qs.push(KindQuestion {
            prompt: qs[0].prompt.clone(),
            kind,
        });
    }
    let refs: Vec<&KindQuestion> = qs.iter().collect();
    let batched = kind_log_likelihood_values(&model, &refs, &Default::default());
    assert_eq!(batched.len(), qs.len());
    for (q, got) in qs.iter().zip(&batched) {
        let want = alone(&model, q);
        assert!(want < 0.0, "a log-probability: {want}");
        assert!((got - want).abs() < 1e-4, "batched {got} vs alone {want}");
    }
}

#[test]
fn verdict_and_reward_losses_are_cross_entropy_and_bradley_terry_of_the_likelihoods() {
    let model = tiny_model();
    let device = Default::default();
    let qs = questions();
    let refs: Vec<&KindQuestion> = qs.iter().collect();
    let ll = kind_log_likelihood_values(&model, &refs, &device);
    let train_model = TrainModel {
        qwen: model,
        score_head: None,
    };

    // verifier: rows 0, 2, 4 ACCEPT; 1, 3, 5 REJECT
    let verdicts: Vec<KindVerdictExample> = qs
        .iter()
        .enumerate()
        .map(|(i, q)| KindVerdictExample {
            question: q.clone(),
            accept: i % 2 == 0,
        })
        .collect();
    let batch: Vec<&KindVerdictExample> = verdicts.iter().collect();
    let objective = KindVerdictObjective;
    assert_eq!(objective.count(&batch), 6);
    let got = scalar(objective.loss(&train_model, &batch, &device).sum);
    let want: f64 = ll
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if i % 2 == 0 {
                -l
            } else {
                -(1.0 - l.exp()).max(1e-6).ln()
            }
        })
        .sum();
    assert!(
        (got - want).abs() < 1e-4 * want.abs().max(1.0),
        "BCE {got} vs {want}"
    );

    // reward: each question better than another kind after the same prompt (one packed row
    // per pair), scored against each question alone
    let pairs: Vec<KindPreferencePair> = qs
        .iter()
        .enumerate()
        .map(|(i, q)| KindPreferencePair {
            better: q.clone(),
            worse: KindQuestion {
                prompt: q.prompt.clone(),
                kind: qs[(i + 1) % qs.len()].kind.clone(),
            },
        })
        .collect();
    let batch: Vec<&KindPreferencePair> = pairs.iter().collect();
    let objective = KindRewardObjective;
    let got = scalar(objective.loss(&train_model, &batch, &device).sum);
    let want: f64 = pairs
        .iter()
        .map(|p| {
            (1.0 + (alone(&train_model.qwen, &p.worse) - alone(&train_model.qwen, &p.better)).exp()).ln()
        })
        .sum();
    assert!(
        (got - want).abs() < 1e-4 * want.abs().max(1.0),
        "Bradley–Terry {got} vs {want}"
    );
}

/// A task a judge can only solve by reading the prompt: the class token (one of four) opens
/// the prompt, noise follows; the right kind is `700 + class`, a wrong one another class's.
fn verdict_task(n: usize, seed: u64) -> Vec<KindVerdictExample> {
    (0..n as u64)
        .map(|i| {
            let class = (i / 2 % 4) as u32;
            let accept = i % 2 == 0;
            let noise = |k: u64| ((seed * 7919 + i * 104_729 + k * 15_485_863) % 600 + 20) as u32;
            let kind = if accept {
                class
            } else {
                (class + 1 + (i / 8 % 3) as u32) % 4
            };
            KindVerdictExample {
                question: KindQuestion {
                    prompt: vec![10 + class, noise(1), noise(2), noise(3), 5],
                    kind: vec![700 + kind],
                },
                accept,
            }
        })
        .collect()
}

fn held_out_auc(model: &Qwen3<Flex>, set: &[KindVerdictExample]) -> f64 {
    let refs: Vec<&KindQuestion> = set.iter().map(|e| &e.question).collect();
    let scores = kind_log_likelihood_values(model, &refs, &Default::default());
    let pairs: Vec<(f64, bool)> = scores.into_iter().zip(set.iter().map(|e| e.accept)).collect();
    roc_auc(&pairs).expect("both classes")
}

#[test]
fn a_small_kind_likelihood_verifier_learns_to_separate_right_from_wrong_kinds() {
    let device = Default::default();
    let (train, heldout) = (verdict_task(96, 1), verdict_task(32, 2));
    let model = TrainModel {
        qwen: tiny_model(),
        score_head: None,
    };
    let start = held_out_auc(&model.valid().qwen, &heldout);
    let dir = tempfile::tempdir().expect("dir");
    let config = TrainerConfig {
        total_steps: 40,
        batch_size: 8,
        lr: 1e-2,
        warmup_steps: 3,
        checkpoint_every: 100,
        eval_every: 100,
        progress: false,
        ..TrainerConfig::default()
    };
    let (trained, _) = Trainer::new(config, dir.path(), Default::default())
        .fit(model, &KindVerdictObjective, &train, None, &device)
        .expect("trains");
    let end = held_out_auc(&trained.valid().qwen, &heldout);
    println!("held-out AUC {start:.3} → {end:.3}");
    assert!(end > 0.9 && end > start + 0.2, "held-out AUC {start} → {end}");
}

#[test]
fn one_pass_held_out_equals_the_separate_loss_and_metric() {
    let device = Default::default();
    let model = TrainModel {
        qwen: tiny_model(),
        score_head: None,
    }
    .valid();
    // verifier rows of both classes; the loss is averaged per row
    let verdicts = verdict_task(24, 3);
    let objective = KindVerdictObjective;
    let got = objective.held_out(&model, &verdicts, &device);
    let want_loss = evaluate(&model, &objective, &verdicts, 5, &device);
    assert!(
        (got.loss - want_loss).abs() < 1e-4 * want_loss.abs().max(1.0),
        "{} vs {want_loss}",
        got.loss
    );
    let want_auc = held_out_auc(&model.qwen, &verdicts);
    assert!((got.metric.expect("an AUC") - want_auc).abs() < 1e-12);

    // reward pairs: an ACCEPT row's kind is the better one of its pair
    let pairs: Vec<KindPreferencePair> = verdicts
        .chunks(2)
        .map(|p| KindPreferencePair {
            better: p[0].question.clone(),
            worse: KindQuestion {
                prompt: p[0].question.prompt.clone(),
                kind: p[1].question.kind.clone(),
            },
        })
        .collect();
    let objective = KindRewardObjective;
    let got = objective.held_out(&model, &pairs, &device);
    let want_loss = evaluate(&model, &objective, &pairs, 5, &device);
    assert!(
        (got.loss - want_loss).abs() < 1e-4 * want_loss.abs().max(1.0),
        "{} vs {want_loss}",
        got.loss
    );
    let refs: Vec<&KindQuestion> = pairs.iter().flat_map(|p| [&p.better, &p.worse]).collect();
    let ll = kind_log_likelihood_values(&model.qwen, &refs, &device);
    let right = ll.chunks(2).filter(|bw| bw[0] > bw[1]).count() as f64 / pairs.len() as f64;
    assert_eq!(got.metric, Some(right));
}

#[test]
fn fit_with_eval_reports_the_evaluation_of_the_model_it_returns() {
    let device = Default::default();
    let (train, heldout) = (verdict_task(32, 1), verdict_task(16, 2));
    let model = TrainModel {
        qwen: tiny_model(),
        score_head: None,
    };
    let objective = KindVerdictObjective;
    let dir = tempfile::tempdir().expect("dir");
    let config = TrainerConfig {
        total_steps: 6,
        batch_size: 8,
        lr: 1e-2,
        warmup_steps: 1,
        checkpoint_every: 100,
        eval_every: 4,
        progress: false,
        ..TrainerConfig::default()
    };
    let held_out = |m: &TrainModel<Flex>| objective.held_out(m, &heldout, &device);
    let (trained, report) = Trainer::new(config, dir.path(), Default::default())
        .fit_with_eval(model, &objective, &train, Some(held_out), &device)
        .expect("trains");
    // evaluated at step 4 and after the last step (6)
    assert_eq!(
        report.eval_losses.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [4, 6]
    );
    let last = report.last_eval.expect("evaluated after the last step");
    assert_eq!(last.loss, report.eval_losses[1].1);
    let again = objective.held_out(&trained.valid(), &heldout, &device);
    assert!(
        (last.loss - again.loss).abs() < 1e-9,
        "{} vs {}",
        last.loss,
        again.loss
    );
    assert_eq!(last.metric, again.metric);
}
