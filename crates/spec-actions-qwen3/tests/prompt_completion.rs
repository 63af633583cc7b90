//! Issue #14, item 5: the proposer's SFT example as TRL's prompt-completion pair puts the loss
//! on the tokens our trainer does, but the template's newline after `<|im_end|>` (which TRL's
//! EOS handling leaves out and decoding never reaches). TRL (1.16, `SFTTrainer` on a non-conversational
//! prompt-completion dataset) tokenizes `prompt` and `prompt + completion` and trains on the
//! tokens after the prompt's; here the same is done with the Qwen3 tokenizer and compared with
//! [`ActionPromptEncoder::proposer_sft`]'s ids and labels (`scripts/check_trl_prompt_completion.py`
//! runs TRL itself on the exported file).

use serde_json::json;
use spec_actions_core::{Action, ActionKind, Example, Message, Split};
use spec_actions_qwen3::Qwen3Tokenizer;
use spec_actions_qwen3::action_prompts::{ActionPromptEncoder, IGNORE};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/qwen3-tokenizer");

fn examples() -> Vec<Example> {
    let tools = vec![json!({"type": "function", "function": {"name": "read_file",
        "description": "Reads a file.", "parameters": {"type": "object",
        "properties": {"path": {"type": "string"}}, "required": ["path"]}}})];
    let base = |messages: Vec<Message>, gold: Action| Example {
        id: "pc".into(),
        source: "test".into(),
        conversation: "c".into(),
        split: Split::Train,
        messages,
        tools: tools.clone(),
        gold,
    };
    vec![
        base(
            vec![Message::user("what is in log.txt? — ünïcode, 日本語")],
            Action::call(ActionKind::FileRead, "read_file", json!({"path": "log.txt"})),
        ),
        base(
            vec![
                Message::user("summarise the log"),
                Message::tool("read_file", "line 1\nline 2"),
            ],
            Action::kind(ActionKind::FinalAnswer),
        ),
    ]
}

#[test]
fn prompt_completion_pair_trains_the_answer_tokens_only() {
    let encoder = ActionPromptEncoder::from_dir(DIR).unwrap();
    let tokenizer = Qwen3Tokenizer::from_dir(DIR).unwrap();
    for ex in examples() {
        let pc = encoder.proposer_prompt_completion(&ex).expect("renders");
        let sft = encoder.proposer_sft(&ex).expect("encodes");
        // TRL's procedure on the exported strings (the completion already ends with EOS)
        assert!(pc.completion.ends_with("<|im_end|>"), "{:?}", pc.completion);
        let prompt_ids = tokenizer.encode(&pc.prompt).unwrap();
        let all_ids = tokenizer
            .encode(&format!("{}{}", pc.prompt, pc.completion))
            .unwrap();
        assert!(all_ids.starts_with(&prompt_ids));
        // our row is the same tokens and the template's newline after `<|im_end|>`
        let newline = tokenizer.encode("\n").unwrap();
        assert_eq!(
            [all_ids.clone(), newline].concat(),
            sft.ids,
            "same tokens as our SFT row"
        );
        let trl_mask: Vec<bool> = (0..all_ids.len()).map(|i| i >= prompt_ids.len()).collect();
        let our_mask: Vec<bool> = sft.labels.iter().map(|&l| l != IGNORE).collect();
        assert_eq!(
            trl_mask[..],
            our_mask[..all_ids.len()],
            "loss on the same positions"
        );
        assert_eq!(our_mask.last(), Some(&true), "ours also trains the newline");
        assert_eq!(
            (pc.prompt_tokens, pc.completion_tokens),
            (prompt_ids.len(), all_ids.len() - prompt_ids.len())
        );
        // the prompt is the evaluation prompt; the completion holds the answer
        assert_eq!(prompt_ids, encoder.proposer_prompt(&ex).unwrap());
        assert!(
            pc.completion.contains(&ex.gold.to_model_text()),
            "{:?}",
            pc.completion
        );
    }
}
