//! A conversation (or synthetic episode): the examples of one dialogue, and the unit that
//! splits are made of.

use spec_actions_core::Example;

/// The decision points of one conversation, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// Conversation id, equal to every example's `conversation` field.
    pub id: String,
    /// `bfcl:<category>` or `synthetic:<scenario>`.
    pub source: String,
    /// Split unit: conversations that share a group always land in the same split. BFCL's four
    /// multi-turn categories are variants of the same 200 dialogues (`multi_turn_base_7`,
    /// `multi_turn_miss_func_7`, … share their requests), so they share the group
    /// `bfcl:multi_turn#7`; every other conversation is its own group.
    pub group: String,
    pub examples: Vec<Example>,
}
