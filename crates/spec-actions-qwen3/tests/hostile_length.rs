//! Issue 18, item 2: one valid example with a 10 MB message made training allocate 51 TB for
//! attention. An encoder bounded to `max_tokens` returns no sequence longer than that, on every
//! path (proposer prompt and SFT row, verifier prompt, reward input), keeps the end of a long
//! sequence (answer, verdict position, scored action) and never tokenizes a huge string whole.

use serde_json::json;
use spec_actions_core::{Action, ActionKind, Example, Message, Split};
use spec_actions_qwen3::action_prompts::{ActionPromptEncoder, IGNORE, MAX_CHARS_PER_TOKEN};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/qwen3-tokenizer");

fn example(message: &str, description: &str) -> Example {
    Example {
        id: "long".into(),
        source: "test".into(),
        conversation: "c".into(),
        split: Split::Train,
        messages: vec![
            Message::user("summarise the log"),
            Message::tool("read_file", message),
        ],
        tools: vec![json!({"type": "function", "function": {"name": "read_file",
            "description": description, "parameters": {"type": "object"}}})],
        gold: Action::call(ActionKind::FileRead, "read_file", json!({ "path": "log.txt" })),
    }
}

fn answer_labels(labels: &[i64]) -> Vec<i64> {
    labels.iter().copied().filter(|&l| l != IGNORE).collect()
}

/// A row a little over the limit (no string long enough to be shortened): each bounded
/// sequence is exactly the last `max` tokens of the unbounded one, labels aligned, so the
/// whole answer is still trained on.
#[test]
fn a_long_row_keeps_its_last_tokens() {
    let max = 256;
    let unbounded = ActionPromptEncoder::from_dir(DIR).unwrap();
    let bounded = unbounded.clone().with_max_tokens(max);
    let text = "line of a log with some words in it\n".repeat(60); // ~2,200 chars < 256 · 16
    assert!(text.chars().count() < max * MAX_CHARS_PER_TOKEN);
    let ex = example(&text, "Reads a file.");
    let last = |ids: Vec<u32>| ids[ids.len().saturating_sub(max)..].to_vec();

    let full = unbounded.proposer_prompt(&ex).unwrap();
    assert!(full.len() > max, "the row must be over the limit: {}", full.len());
    assert_eq!(bounded.proposer_prompt(&ex).unwrap(), last(full));

    let (full, cut) = (
        unbounded.proposer_sft(&ex).unwrap(),
        bounded.proposer_sft(&ex).unwrap(),
    );
    assert_eq!(cut.ids, last(full.ids.clone()));
    assert_eq!(cut.labels, full.labels[full.labels.len() - max..]);
    assert_eq!(
        answer_labels(&cut.labels),
        answer_labels(&full.labels),
        "the whole answer"
    );

    let action = &ex.gold;
    assert_eq!(
        bounded.verifier_prompt(&ex, action).unwrap(),
        last(unbounded.verifier_prompt(&ex, action).unwrap())
    );
    assert_eq!(
        bounded.reward_input(&ex, action).unwrap(),
        last(unbounded.reward_input(&ex, action).unwrap())
    );
}

/// A 10 MB tool output and a 1 MB tool description: every sequence has at most `max` tokens,
/// the SFT row keeps the same answer as a short example's, and the verifier and reward
/// inputs end as a short example's do (the verdict position, the scored action).
#[test]
fn a_ten_megabyte_message_is_bounded_on_every_path() {
    let max = 512;
    let encoder = ActionPromptEncoder::from_dir(DIR).unwrap().with_max_tokens(max);
    let huge = "0123456789abcdef ".repeat(10 * 1024 * 1024 / 17);
    let ex = example(&huge, &"describes ".repeat(100_000));
    let short = example("ok", "Reads a file.");
    let started = std::time::Instant::now();

    let prompt = encoder.proposer_prompt(&ex).unwrap();
    assert!(prompt.len() <= max, "{}", prompt.len());
    let sft = encoder.proposer_sft(&ex).unwrap();
    assert!(sft.ids.len() <= max && sft.labels.len() == sft.ids.len());
    assert_eq!(
        answer_labels(&sft.labels),
        answer_labels(&encoder.proposer_sft(&short).unwrap().labels)
    );
    let tail = |ids: &[u32]| ids[ids.len() - 24..].to_vec();
    let verifier = encoder.verifier_prompt(&ex, &ex.gold).unwrap();
    assert!(verifier.len() <= max);
    assert_eq!(
        tail(&verifier),
        tail(&encoder.verifier_prompt(&short, &short.gold).unwrap())
    );
    let reward = encoder.reward_input(&ex, &ex.gold).unwrap();
    assert!(reward.len() <= max);
    assert_eq!(
        tail(&reward),
        tail(&encoder.reward_input(&short, &short.gold).unwrap())
    );
    // the end of the message is what stays
    let end: String = huge.chars().skip(huge.chars().count() - 40).collect();
    assert!(encoder.tokenizer.decode(&prompt, false).unwrap().contains(&end));
    // never tokenized whole: five encodings of 10 MB would take minutes
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}
