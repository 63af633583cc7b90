//! Chat-template rendering of arbitrary messages with the real Qwen3 template
//! (`assets/qwen3-tokenizer/tokenizer_config.json`).
//!
//! Input: JSON `{"messages": [...], "tools": [...]?, "add_generation_prompt": bool?,
//! "enable_thinking": bool?}` — any JSON values, hostile types included (content as a list,
//! a number, a missing role…). Properties: rendering returns Ok or a typed Err and never
//! panics; and a message cannot break out of its role: when no string in the input holds
//! `<|im_start|>`, the rendering has exactly as many `<|im_start|>` markers as the same
//! conversation with every `content` / `reasoning_content` string replaced by `x`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use spec_actions_qwen3::chat_template::{ChatTemplate, RenderOptions};

const MARKER: &str = "<|im_start|>";

fn template() -> &'static ChatTemplate {
    static TEMPLATE: OnceLock<ChatTemplate> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/qwen3-tokenizer");
        ChatTemplate::from_dir(dir).expect("the shipped Qwen3 template loads")
    })
}

fn any_string_contains(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| any_string_contains(v, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(needle) || any_string_contains(v, needle)),
        _ => false,
    }
}

fn neutral_contents(messages: &[Value]) -> Vec<Value> {
    let mut out = messages.to_vec();
    for message in &mut out {
        if let Value::Object(map) = message {
            for field in ["content", "reasoning_content"] {
                if let Some(v @ Value::String(_)) = map.get_mut(field) {
                    *v = Value::from("x");
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(messages) = input.get("messages").and_then(Value::as_array) else {
        return;
    };
    let tools = input.get("tools").and_then(Value::as_array).map(Vec::as_slice);
    let options = RenderOptions {
        add_generation_prompt: input
            .get("add_generation_prompt")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        enable_thinking: input.get("enable_thinking").and_then(Value::as_bool),
        ..Default::default()
    };
    let template = template();
    let Ok(text) = template.render(messages, tools, &options) else {
        return;
    };
    if any_string_contains(&input, MARKER) {
        return;
    }
    if let Ok(neutral) = template.render(&neutral_contents(messages), tools, &options) {
        assert_eq!(
            text.matches(MARKER).count(),
            neutral.matches(MARKER).count(),
            "message content changed the turn structure:\n{text}\n---\n{neutral}"
        );
    }
});
