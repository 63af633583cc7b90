//! The prompts every role sees, defined once so that training and evaluation use exactly the
//! same format (the study's first failure was training on one format and evaluating on another).
//!
//! - Proposer: [`proposer_messages`] → the assistant answers with [`Action::to_model_text`]
//!   (the kind on the first line; for calls a Qwen `<tool_call>` block), which
//!   [`crate::parse_action`] reads back.
//! - Verifier: [`verifier_messages`] → the assistant answers `ACCEPT` or `REJECT`.
//! - Reward model: [`reward_messages`] → a scalar head reads the last token.
//!
//! All are chat messages plus the example's `tools`; the chat template of the model renders them.

use crate::action::{Action, ActionKind};
use crate::example::{ChatRole, Example, Message};

/// The verifier's two answers.
pub const ACCEPT: &str = "ACCEPT";
/// See [`ACCEPT`].
pub const REJECT: &str = "REJECT";

/// System prompt of the proposer: the nine kinds and the answer format.
pub fn proposer_system_prompt() -> String {
    let kinds: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
    format!(
        "You are the planner of a software agent. Decide the agent's next action.\n\
         Answer with exactly one action kind on the first line, one of: {}.\n\
         For tool_call, file_read, file_write and retrieval that call a function, follow the kind with a \
         <tool_call>{{\"name\": ..., \"arguments\": ...}}</tool_call> block.",
        kinds.join(", ")
    )
}

/// The conversation the proposer sees for `example`: the proposer system prompt (merged with
/// any system message of the example) followed by the example's messages.
pub fn proposer_messages(example: &Example) -> Vec<Message> {
    with_system(proposer_system_prompt(), &example.messages)
}

/// The proposer's training conversation: [`proposer_messages`] plus the gold answer.
pub fn proposer_training_messages(example: &Example) -> Vec<Message> {
    let mut messages = proposer_messages(example);
    messages.push(Message::assistant(example.gold.to_model_text()));
    messages
}

/// The verifier's conversation: the context, then a user turn showing the proposed action and
/// asking for `ACCEPT` or `REJECT`.
pub fn verifier_messages(example: &Example, proposed: &Action) -> Vec<Message> {
    let system = format!(
        "You review the planner of a software agent. Given the conversation and a proposed next action, \
         answer {ACCEPT} if it is the right next action and {REJECT} otherwise. Answer with one word."
    );
    let mut messages = with_system(system, &example.messages);
    messages.push(Message::user(format!(
        "Proposed next action:\n{}\n\nACCEPT or REJECT?",
        proposed.to_model_text()
    )));
    messages
}

/// The reward model's conversation: the context with the action as the assistant's answer.
pub fn reward_messages(example: &Example, action: &Action) -> Vec<Message> {
    let mut messages = proposer_messages(example);
    messages.push(Message::assistant(action.to_model_text()));
    messages
}

fn with_system(system: String, messages: &[Message]) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    match messages.first() {
        Some(first) if first.role == ChatRole::System => {
            out.push(Message::system(format!("{system}\n\n{}", first.content)));
            out.extend_from_slice(&messages[1..]);
        }
        _ => {
            out.push(Message::system(system));
            out.extend_from_slice(messages);
        }
    }
    out
}
