//! `Recorder::record_batch` against `Recorder::record` one example at a time, on small random
//! models with the real vocabulary and tokenizer: the same greedy and sampled outputs, the
//! same candidate lists, the same one-pass / verifier / reward scores (within 1e-4), the same
//! token counts — whatever the chunking of the examples.

mod live_common;

use live_common::{examples, live_models};
use spec_actions_core::ModelRole;
use spec_actions_live::Recorder;
use spec_actions_verify::{RecordedCall, RecordedExample, RecordedJudgement, RecordedOutput};

const TOL: f64 = 1e-4;

fn same_call(what: &str, a: &RecordedCall, b: &RecordedCall) {
    assert_eq!(a.model, b.model, "{what}: model");
    assert_eq!(a.prefill_tokens, b.prefill_tokens, "{what}: prefill tokens");
    assert_eq!(a.decode_tokens, b.decode_tokens, "{what}: decode tokens");
    for ms in [a.prefill_ms, a.decode_ms, b.prefill_ms, b.decode_ms]
        .into_iter()
        .flatten()
    {
        assert!(ms.is_finite() && ms >= 0.0, "{what}: time {ms}");
    }
    assert!(
        a.prefill_ms.is_some() && b.prefill_ms.is_some(),
        "{what}: prefill time measured"
    );
}

fn same_output(what: &str, a: &RecordedOutput, b: &RecordedOutput) {
    assert_eq!(a.action, b.action, "{what}: action");
    assert_eq!(a.raw, b.raw, "{what}: raw text");
    assert!(
        (a.logprob - b.logprob).abs() <= TOL,
        "{what}: logprob {} vs {}",
        a.logprob,
        b.logprob
    );
    same_call(what, &a.call, &b.call);
}

fn same_judgements(what: &str, a: &[RecordedJudgement], b: &[RecordedJudgement]) {
    assert_eq!(a.len(), b.len(), "{what}: candidates");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.action, y.action, "{what}[{i}]: action");
        assert!(
            (x.score - y.score).abs() <= TOL,
            "{what}[{i}]: score {} vs {}",
            x.score,
            y.score
        );
        same_call(&format!("{what}[{i}]"), &x.call, &y.call);
    }
}

fn same_row(a: &RecordedExample, b: &RecordedExample) {
    let id = &a.id;
    assert_eq!(a.id, b.id);
    assert_eq!(
        (a.split, &a.source, &a.conversation, &a.gold),
        (b.split, &b.source, &b.conversation, &b.gold)
    );
    same_output(
        &format!("{id} greedy"),
        a.greedy.as_ref().unwrap(),
        b.greedy.as_ref().unwrap(),
    );
    assert_eq!(a.samples.len(), b.samples.len(), "{id}: samples");
    for (i, (x, y)) in a.samples.iter().zip(&b.samples).enumerate() {
        same_output(&format!("{id} sample {i}"), x, y);
    }
    same_output(&format!("{id} strong"), &a.strong, &b.strong);
    let (p, q) = (a.one_pass.as_ref().unwrap(), b.one_pass.as_ref().unwrap());
    for (x, y) in p.kind_logprobs.0.iter().zip(&q.kind_logprobs.0) {
        assert!((x - y).abs() <= TOL, "{id}: one-pass {x} vs {y}");
    }
    same_call(&format!("{id} one-pass"), &p.call, &q.call);
    for role in ModelRole::JUDGES {
        same_judgements(&format!("{id} {role}"), &a.judgements[role], &b.judgements[role]);
    }
}

#[test]
fn record_batch_equals_record_one_example_at_a_time() {
    let models = live_models(10);
    let recorder = Recorder {
        models: &models,
        samples: 3,
        one_pass_k: 2,
    };
    let examples = examples(5, 3);
    let lengths: Vec<usize> = examples
        .iter()
        .map(|e| models.encoder.proposer_prompt(e).unwrap().len())
        .collect();
    assert!(
        lengths.iter().min() < lengths.iter().max(),
        "prompts of different lengths (left padding exercised): {lengths:?}"
    );

    let alone: Vec<RecordedExample> = examples.iter().map(|e| recorder.record(e).unwrap()).collect();
    let batched = recorder.record_batch(&examples).unwrap();
    assert_eq!(batched.len(), examples.len());
    for (a, b) in alone.iter().zip(&batched) {
        same_row(a, b);
    }
    // another chunking: each row is independent of the batch it is recorded in
    let mut chunked = recorder.record_batch(&examples[..2]).unwrap();
    chunked.extend(recorder.record_batch(&examples[2..]).unwrap());
    for (a, b) in batched.iter().zip(&chunked) {
        same_row(a, b);
    }

    // Rows stopping at different steps inside one batch are checked on the generation itself
    // (`spec-actions-qwen3`'s `generate_batched` test); here every row is checked to have run
    // and the judges to have several candidates per example.
    assert!(batched.iter().all(|r| r.strong.call.decode_tokens > 0));
    // each sample of an example has its own seed
    let seeds = |e| {
        models
            .sample_rules(e, 3)
            .into_iter()
            .map(|r| format!("{r:?}"))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(seeds(&examples[0]).len(), 3);
    assert!(seeds(&examples[0]).is_disjoint(&seeds(&examples[1])));
    assert!(
        batched
            .iter()
            .all(|r| r.judgements[ModelRole::Verifier].len() >= 2
                && r.judgements[ModelRole::Reward].len() == r.judgements[ModelRole::Verifier].len())
    );
    assert!(batched.iter().all(|r| r.samples.len() == 3));
}

#[test]
fn an_empty_chunk_records_nothing() {
    let models = live_models(4);
    let recorder = Recorder {
        models: &models,
        samples: 2,
        one_pass_k: 2,
    };
    assert!(recorder.record_batch(&[]).unwrap().is_empty());
}
