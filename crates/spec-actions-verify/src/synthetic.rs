//! Seeded synthetic recordings, for tests and benches: controllable proposer and strong-model
//! accuracy, gates whose scores are informative or not, unparseable outputs and timings.
//!
//! Per example: the gold kind is uniform over the nine. The cheap proposal is right with
//! probability `cheap_accuracy` (otherwise a uniform wrong kind) and is the argmax of the
//! one-pass scores, ahead of the runner-up by a random margin that grows by `gate_separation`
//! when it is right. Samples are drawn from the one-pass distribution. Verifier `P(ACCEPT)` is
//! `sigmoid(1.5·sep·(±1) + N(0,1))` and the reward score `sep·(±1) + N(0,1)` (+ for the gold
//! kind), recorded for every kind decoded and the one-pass top [`ONE_PASS_JUDGED`]; with
//! `gate_separation = 0` every gate is noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spec_actions_core::{Action, ActionKind, JudgeMap, ModelRole, Split};

use crate::recorded::{
    KindLogprobs, RecordedCall, RecordedExample, RecordedJudgement, RecordedOnePass, RecordedOutput,
};

/// Knobs of the generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticRecordingConfig {
    pub examples: usize,
    pub seed: u64,
    /// Probability that the cheap proposal is right (before unparseable outputs).
    pub cheap_accuracy: f64,
    /// Probability that the strong model is right.
    pub strong_accuracy: f64,
    /// How strongly gate scores separate right from wrong proposals (0: not at all).
    pub gate_separation: f64,
    /// Probability that a cheap decode (greedy or sampled) does not parse.
    pub unparseable_rate: f64,
    /// Sampled proposals recorded per example.
    pub samples: usize,
    /// Share of examples in the dev split (the first ones); the rest are eval.
    pub dev_fraction: f64,
    /// Record prefill/decode milliseconds (from fixed per-token rates with ±10% noise).
    pub timings: bool,
}

impl Default for SyntheticRecordingConfig {
    fn default() -> Self {
        SyntheticRecordingConfig {
            examples: 1000,
            seed: 0,
            cheap_accuracy: 0.6,
            strong_accuracy: 0.8,
            gate_separation: 1.5,
            unparseable_rate: 0.02,
            samples: 3,
            dev_fraction: 0.5,
            timings: true,
        }
    }
}

/// Milliseconds per token (prefill, decode) used for synthetic timings, per role:
/// cheap, strong, verifier, reward model.
pub const SYNTHETIC_MS_PER_TOKEN: [(f64, f64); 4] = [(0.02, 8.0), (0.09, 30.0), (0.05, 20.0), (0.05, 20.0)];

/// One-pass candidates judged per example: policies may use `OnePass { k ≤ 3 }`.
pub const ONE_PASS_JUDGED: usize = 3;

/// Generate `config.examples` rows, deterministically from `config.seed`.
pub fn generate(config: &SyntheticRecordingConfig) -> Vec<RecordedExample> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let dev = (config.dev_fraction * config.examples as f64).round() as usize;
    (0..config.examples)
        .map(|i| {
            example(
                config,
                i,
                if i < dev { Split::Dev } else { Split::Eval },
                &mut rng,
            )
        })
        .collect()
}

fn example(
    config: &SyntheticRecordingConfig,
    i: usize,
    split: Split,
    rng: &mut ChaCha8Rng,
) -> RecordedExample {
    let sep = config.gate_separation;
    let gold = rng.random_range(0..ActionKind::COUNT);
    let cheap_right = rng.random_bool(config.cheap_accuracy.clamp(0.0, 1.0));
    let proposed = if cheap_right { gold } else { other_kind(gold, rng) };

    // One-pass scores: the proposal leads the runner-up by a margin that grows when it is right.
    let mut logits: [f64; ActionKind::COUNT] = std::array::from_fn(|_| normal(rng) - 2.0);
    let runner_up = (0..ActionKind::COUNT)
        .filter(|&k| k != proposed)
        .map(|k| logits[k])
        .fold(f64::MIN, f64::max);
    logits[proposed] = runner_up + 0.1 + 0.5 * normal(rng).abs() + if cheap_right { sep } else { 0.0 };
    let log_z = log_sum_exp(&logits);
    let logprob = |k: usize| logits[k] - log_z;

    let prompt = rng.random_range(300..1500u64);
    let timed = config.timings;
    let call = |rng: &mut ChaCha8Rng, role: usize, prefill: u64, decode: u64| {
        let (p, d) = SYNTHETIC_MS_PER_TOKEN[role];
        let mut jitter = || 1.0 + 0.1 * (2.0 * rng.random::<f64>() - 1.0);
        RecordedCall {
            model: None,
            prefill_tokens: prefill,
            decode_tokens: decode,
            prefill_ms: timed.then(|| prefill as f64 * p * jitter()),
            decode_ms: timed.then(|| decode as f64 * d * jitter()),
        }
    };
    let unparseable = config.unparseable_rate.clamp(0.0, 1.0);
    let decode = |rng: &mut ChaCha8Rng, kind: usize| {
        let parsed = !rng.random_bool(unparseable);
        RecordedOutput {
            action: parsed.then(|| Action::kind(ActionKind::ALL[kind])),
            raw: (!parsed).then(|| "I need to think about which step comes next".to_string()),
            logprob: logprob(kind),
            call: call(rng, 0, prompt, 4),
        }
    };
    let greedy = decode(rng, proposed);
    let samples: Vec<RecordedOutput> = (0..config.samples)
        .map(|_| {
            let k = sample_kind(&logits, log_z, rng);
            decode(rng, k)
        })
        .collect();
    let one_pass = RecordedOnePass {
        kind_logprobs: KindLogprobs(logits),
        call: call(rng, 0, prompt + 27, 0),
    };

    let strong_kind = if rng.random_bool(config.strong_accuracy.clamp(0.0, 1.0)) {
        gold
    } else {
        other_kind(gold, rng)
    };
    let strong = RecordedOutput {
        action: Some(Action::kind(ActionKind::ALL[strong_kind])),
        raw: None,
        logprob: -0.05,
        call: call(rng, 1, prompt, 4),
    };
    // Judgements for every action a policy can ask about: the kinds decoded (greedy, samples)
    // and the one-pass top three, each once, as a live run records them.
    let mut judged: Vec<usize> = Vec::with_capacity(6);
    let mut by_logit: [usize; ActionKind::COUNT] = std::array::from_fn(|k| k);
    by_logit.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    let decoded = std::iter::once(&greedy)
        .chain(&samples)
        .filter_map(|o| o.action.as_ref().map(|a| a.kind.index()));
    for k in decoded.chain(by_logit.iter().take(ONE_PASS_JUDGED).copied()) {
        if !judged.contains(&k) {
            judged.push(k);
        }
    }
    let sign = |k: usize| if k == gold { 1.0 } else { -1.0 };
    let verifier = judged
        .iter()
        .map(|&k| RecordedJudgement {
            action: Action::kind(ActionKind::ALL[k]),
            score: sigmoid(1.5 * sep * sign(k) + normal(rng)),
            call: call(rng, 2, prompt + 40, 1),
        })
        .collect();
    let reward = judged
        .iter()
        .map(|&k| RecordedJudgement {
            action: Action::kind(ActionKind::ALL[k]),
            score: sep * sign(k) + normal(rng),
            call: call(rng, 3, prompt + 5, 0),
        })
        .collect();
    let mut judgements = JudgeMap::default();
    judgements[ModelRole::Verifier] = verifier;
    judgements[ModelRole::Reward] = reward;
    RecordedExample {
        id: format!("synthetic:{i}"),
        split,
        source: "synthetic:replay".into(),
        conversation: format!("synthetic:{i}"),
        gold: Action::kind(ActionKind::ALL[gold]),
        greedy: Some(greedy),
        one_pass: Some(one_pass),
        samples,
        strong,
        judgements,
        classifier: None,
    }
}

fn other_kind(kind: usize, rng: &mut ChaCha8Rng) -> usize {
    let k = rng.random_range(0..ActionKind::COUNT - 1);
    if k >= kind { k + 1 } else { k }
}

fn sample_kind(logits: &[f64; ActionKind::COUNT], log_z: f64, rng: &mut ChaCha8Rng) -> usize {
    let mut u: f64 = rng.random();
    for (k, lg) in logits.iter().enumerate() {
        u -= (lg - log_z).exp();
        if u <= 0.0 {
            return k;
        }
    }
    ActionKind::COUNT - 1
}

/// Standard normal (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn log_sum_exp(x: &[f64]) -> f64 {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
