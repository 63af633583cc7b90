//! Rows of the training files, all TRL-compatible JSONL built from one [`Example`] with the
//! shared prompt formats of `spec_actions_core::prompt` (so training and evaluation see exactly
//! the same conversations):
//!
//! - **SFT** ([`sft_row`]): `messages` = [`proposer_training_messages`] (system prompt, context,
//!   the gold action as the final assistant turn), `tools`, plus our fields. Train the loss on
//!   the last assistant message only (the earlier ones are context).
//! - **Verifier** ([`verifier_rows`]): one `ACCEPT` row (the gold action) and one `REJECT` row
//!   (a hard negative) per example — balanced by construction; `messages` =
//!   [`verifier_messages`] + the answer.
//! - **Reward** ([`reward_row`]): TRL's preference format, `chosen` / `rejected` = the
//!   [`reward_messages`] of the gold action and of the hard negative.
//!
//! Which negative each example gets is decided once, in [`crate::role_sets`], for the files
//! and the trainers alike.
//!
//! Hard negatives ([`hard_negative`]) are mistakes a proposer plausibly makes in that context:
//! a wrong kind from a confusion table (e.g. `final_answer` where a check is due, repeating the
//! last call instead of answering), and for calls a wrong tool among those offered or wrong
//! arguments (one value changed or a required one dropped), never a call BFCL's checker would
//! accept where the gold carries BFCL's accepted values.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Map, Value, json};
use spec_actions_core::prompt::{
    ACCEPT, REJECT, proposer_training_messages, reward_messages, verifier_messages,
};
use spec_actions_core::{Action, ActionKind, ChatRole, Example};

use super::kind_table::kind_of_function;

/// Which kind of mistake a negative is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeType {
    WrongKind,
    RepeatedCall,
    WrongName,
    WrongArguments,
}

impl NegativeType {
    pub fn as_str(self) -> &'static str {
        match self {
            NegativeType::WrongKind => "wrong_kind",
            NegativeType::RepeatedCall => "repeated_call",
            NegativeType::WrongName => "wrong_name",
            NegativeType::WrongArguments => "wrong_arguments",
        }
    }
}

/// Plausible wrong kinds for each gold kind (the first is the most tempting).
pub fn confusable_kinds(gold: ActionKind) -> &'static [ActionKind] {
    use ActionKind::*;
    match gold {
        ToolCall => &[FinalAnswer, AskClarification, Retrieval],
        Retrieval => &[FinalAnswer, ToolCall, FileRead],
        FileRead => &[FileWrite, FinalAnswer, Retrieval],
        FileWrite => &[Verify, FileRead, FinalAnswer],
        Repair => &[FinalAnswer, Verify, FileRead],
        Verify => &[FinalAnswer, FileWrite, Repair],
        AskClarification => &[ToolCall, FileRead, Blocked],
        FinalAnswer => &[Verify, ToolCall, AskClarification],
        Blocked => &[ToolCall, FileWrite, FinalAnswer],
    }
}

/// A seeded RNG for one example: the same example always gets the same negative.
pub fn example_rng(seed: u64, id: &str) -> ChaCha8Rng {
    // FNV-1a: stable across runs and platforms (std's hasher is not guaranteed to be).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    ChaCha8Rng::seed_from_u64(seed ^ h)
}

fn tool_name(tool: &Value) -> Option<&str> {
    tool.get("function")
        .unwrap_or(tool)
        .get("name")
        .and_then(Value::as_str)
}

/// The last call the assistant made in the context.
fn last_call(example: &Example) -> Option<(String, Value)> {
    example
        .messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::Assistant && !m.tool_calls.is_empty())
        .and_then(|m| m.tool_calls.last())
        .map(|c| (c.function.name.clone(), c.function.arguments.clone()))
}

/// Which mistakes the hard negatives may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeLevel {
    /// Any mistake of [`NegativeType`]: a wrong kind, a repeated call, and for calls a wrong
    /// tool or wrong arguments (the study's default: judges of real models must see calls).
    #[default]
    Call,
    /// Only mistakes of the action's kind ([`NegativeType::WrongKind`],
    /// [`NegativeType::RepeatedCall`]): for judges that read the proposal's kind alone, and for
    /// studies scored at kind level (a wrong-argument negative is right at kind level, so it
    /// would teach such a judge to reject right kinds).
    Kind,
}

impl NegativeLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NegativeLevel::Call => "call",
            NegativeLevel::Kind => "kind",
        }
    }
}

/// A hard negative for `example` (never equal to the gold at call level; at
/// [`NegativeLevel::Kind`] never of the gold's kind). The draws at [`NegativeLevel::Call`] do
/// not depend on the level's existence: the same seed gives the same negatives as before it.
pub fn hard_negative(
    example: &Example,
    rng: &mut ChaCha8Rng,
    level: NegativeLevel,
) -> (Action, NegativeType) {
    let gold = &example.gold;
    if gold.name.is_some() && level == NegativeLevel::Call {
        let choice = rng.random_range(0..3);
        if choice == 1
            && let Some(neg) = wrong_name(example, rng)
        {
            return (neg, NegativeType::WrongName);
        }
        if choice >= 1
            && let Some(neg) = wrong_arguments(example, rng)
        {
            return (neg, NegativeType::WrongArguments);
        }
    }
    // Answering instead of acting is not the mistake when the gold answers: repeat the last call.
    if gold.kind == ActionKind::FinalAnswer
        && rng.random_bool(0.5)
        && let Some((name, args)) = last_call(example)
    {
        return (
            Action::call(kind_of_function(&name), name, args),
            NegativeType::RepeatedCall,
        );
    }
    let kind = *confusable_kinds(gold.kind)
        .choose(rng)
        .unwrap_or(&ActionKind::FinalAnswer);
    (wrong_kind_action(example, kind, rng), NegativeType::WrongKind)
}

/// An action of `kind`: for call kinds, a call of an offered function of that kind if any.
fn wrong_kind_action(example: &Example, kind: ActionKind, rng: &mut ChaCha8Rng) -> Action {
    let callable = matches!(
        kind,
        ActionKind::ToolCall | ActionKind::FileRead | ActionKind::FileWrite | ActionKind::Retrieval
    );
    if callable {
        let candidates: Vec<&str> = example
            .tools
            .iter()
            .filter_map(tool_name)
            .filter(|n| kind_of_function(n) == kind)
            .collect();
        if let Some(name) = candidates.choose(rng) {
            // Reuse the gold's or the last call's arguments where they belong to this function.
            let args = match (&example.gold.name, last_call(example)) {
                (Some(g), _) if g == name => example.gold.arguments.clone(),
                (_, Some((n, a))) if n == *name => a,
                _ => Value::Object(Map::new()),
            };
            return Action::call(kind, *name, args);
        }
    }
    Action::kind(kind)
}

/// The gold call with another offered function's name (same kind preferred).
fn wrong_name(example: &Example, rng: &mut ChaCha8Rng) -> Option<Action> {
    let gold_name = example.gold.name.as_deref()?;
    let others: Vec<&str> = example
        .tools
        .iter()
        .filter_map(tool_name)
        .filter(|n| *n != gold_name)
        .collect();
    let same_kind: Vec<&str> = others
        .iter()
        .copied()
        .filter(|n| kind_of_function(n) == example.gold.kind)
        .collect();
    let pool = if same_kind.is_empty() { &others } else { &same_kind };
    let name = pool.choose(rng)?;
    Some(Action::call(
        example.gold.kind,
        *name,
        example.gold.arguments.clone(),
    ))
}

/// Whether leaving `key` out of the gold call is a mistake: for a BFCL gold with accepted
/// values, when BFCL requires it (the function's `required`, or no `""` among its accepted
/// values); otherwise when the offered schema of the gold's function lists it as `required`.
fn must_be_given(example: &Example, key: &str) -> bool {
    let gold = &example.gold;
    if let Some(accepted) = &gold.accepted_values {
        return accepted.required.iter().any(|r| r == key) || !accepted.is_optional(key);
    }
    let Some(name) = gold.name.as_deref() else {
        return false;
    };
    example
        .tools
        .iter()
        .map(|t| t.get("function").unwrap_or(t))
        .find(|f| f.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|f| f.get("parameters")?.get("required")?.as_array())
        .is_some_and(|req| req.iter().any(|r| r.as_str() == Some(key)))
}

/// The gold call with one argument changed, or a required one dropped; `None` when the change
/// is still right (checked with [`Action::matches_call`], BFCL's accepted values where the gold
/// has them).
fn wrong_arguments(example: &Example, rng: &mut ChaCha8Rng) -> Option<Action> {
    let gold = &example.gold;
    let args = gold.arguments.as_object()?;
    if args.is_empty() {
        return None;
    }
    let keys: Vec<&String> = args.keys().collect();
    let key = (*keys.choose(rng)?).clone();
    let mut new_args = args.clone();
    // The draw comes first so the RNG stream is the one of the negatives before this rule.
    if keys.len() >= 2 && rng.random_bool(0.25) && must_be_given(example, &key) {
        new_args.remove(&key);
    } else {
        let value = perturb(&args[&key], rng);
        new_args.insert(key, value);
    }
    let neg = Action::call(gold.kind, gold.name.clone()?, Value::Object(new_args));
    (!neg.matches_call(gold)).then_some(neg)
}

/// A plausible wrong value of the same type.
fn perturb(value: &Value, rng: &mut ChaCha8Rng) -> Value {
    match value {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(if i == 0 {
                    1
                } else if rng.random_bool(0.5) {
                    i + 1
                } else {
                    i * 2
                })
            } else {
                let x = n.as_f64().unwrap_or(0.0);
                json!(if x == 0.0 { 1.0 } else { x * 2.0 })
            }
        }
        Value::String(s) => {
            if let Some((stem, ext)) = s
                .rsplit_once('.')
                .filter(|(st, e)| !st.is_empty() && e.len() <= 4 && !e.contains(' '))
            {
                json!(format!("{stem}_old.{ext}"))
            } else if s.is_empty() {
                json!("none")
            } else if let Some(first) = s.split_whitespace().next().filter(|f| f.len() < s.len()) {
                json!(first)
            } else {
                json!(format!("{s}2"))
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let mut items = items.clone();
            items.pop();
            Value::Array(items)
        }
        Value::Array(_) => json!([""]),
        Value::Object(map) if !map.is_empty() => {
            let mut map = map.clone();
            let keys: Vec<String> = map.keys().cloned().collect();
            if let Some(k) = keys.choose(rng) {
                let v = perturb(&map[k], rng);
                map.insert(k.clone(), v);
            }
            Value::Object(map)
        }
        Value::Object(_) | Value::Null => json!("none"),
    }
}

/// Our fields shared by every row.
fn meta(example: &Example) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(example.id));
    m.insert("source".into(), json!(example.source));
    m.insert("conversation".into(), json!(example.conversation));
    m.insert("split".into(), json!(example.split.as_str()));
    m.insert("kind".into(), json!(example.gold.kind.as_str()));
    m
}

/// One SFT row.
pub fn sft_row(example: &Example) -> Value {
    let mut row = Map::new();
    row.insert("messages".into(), json!(proposer_training_messages(example)));
    row.insert("tools".into(), json!(example.tools));
    row.extend(meta(example));
    row.insert("gold".into(), json!(example.gold));
    Value::Object(row)
}

/// One verifier row: `proposed` for `example`, answered `ACCEPT` (`accept`) or `REJECT`;
/// `negative_type` names the mistake of a `REJECT` row.
pub fn verifier_row(
    example: &Example,
    proposed: &Action,
    accept: bool,
    negative_type: Option<NegativeType>,
) -> Value {
    let answer = if accept { ACCEPT } else { REJECT };
    let mut messages = verifier_messages(example, proposed);
    messages.push(spec_actions_core::Message::assistant(answer));
    let mut row = Map::new();
    row.insert("messages".into(), json!(messages));
    row.insert("tools".into(), json!(example.tools));
    row.extend(meta(example));
    row.insert("label".into(), json!(answer));
    row.insert("proposed".into(), json!(proposed));
    row.insert(
        "negative_type".into(),
        json!(negative_type.map(NegativeType::as_str)),
    );
    Value::Object(row)
}

/// The two verifier rows of an example: gold → `ACCEPT`, hard negative → `REJECT`.
pub fn verifier_rows(example: &Example, negative: &Action, negative_type: NegativeType) -> [Value; 2] {
    [
        verifier_row(example, &example.gold, true, None),
        verifier_row(example, negative, false, Some(negative_type)),
    ]
}

/// One preference row: (context, `chosen` action, worse `rejected` action).
pub fn preference_row(
    example: &Example,
    chosen: &Action,
    rejected: &Action,
    negative_type: NegativeType,
) -> Value {
    let mut row = Map::new();
    row.insert("chosen".into(), json!(reward_messages(example, chosen)));
    row.insert("rejected".into(), json!(reward_messages(example, rejected)));
    row.insert("tools".into(), json!(example.tools));
    row.extend(meta(example));
    row.insert("chosen_action".into(), json!(chosen));
    row.insert("rejected_action".into(), json!(rejected));
    row.insert("negative_type".into(), json!(negative_type.as_str()));
    Value::Object(row)
}

/// One reward-model preference row: (context, the gold action, the hard negative).
pub fn reward_row(example: &Example, negative: &Action, negative_type: NegativeType) -> Value {
    preference_row(example, &example.gold, negative, negative_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec_actions_core::{Message, Split, ToolCall};

    fn ex(gold: Action) -> Example {
        Example {
            id: "e1".into(),
            source: "test".into(),
            conversation: "c1".into(),
            split: Split::Train,
            messages: vec![
                Message::user("move a.txt to b"),
                Message::assistant_calls("", vec![ToolCall::new("ls", json!({}))]),
                Message::tool("ls", "a.txt"),
            ],
            tools: ["ls", "cd", "mv", "cp", "place_order"]
                .iter()
                .map(|n| json!({"type": "function", "function": {"name": n}}))
                .collect(),
            gold,
        }
    }

    #[test]
    fn negatives_differ_from_gold_and_are_plausible() {
        let golds = [
            Action::call(
                ActionKind::FileWrite,
                "mv",
                json!({"source": "a.txt", "destination": "b"}),
            ),
            Action::kind(ActionKind::FinalAnswer),
            Action::kind(ActionKind::Repair),
            Action::call(
                ActionKind::ToolCall,
                "place_order",
                json!({"symbol": "AAPL", "amount": 10, "price": 1.5, "buy": true}),
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for gold in golds {
            let e = ex(gold.clone());
            for i in 0..50 {
                let mut rng = example_rng(i, &e.id);
                let (neg, t) = hard_negative(&e, &mut rng, NegativeLevel::Call);
                assert!(!neg.matches_call(&gold), "{neg} equals gold {gold}");
                seen.insert(t);
                match t {
                    NegativeType::WrongKind => {
                        assert_ne!(neg.kind, gold.kind);
                        assert!(confusable_kinds(gold.kind).contains(&neg.kind));
                    }
                    NegativeType::WrongName => {
                        assert_eq!(neg.kind, gold.kind);
                        assert_ne!(neg.name, gold.name);
                        // Offered, and of the same kind when one exists (cp for mv).
                        if gold.name.as_deref() == Some("mv") {
                            assert_eq!(neg.name.as_deref(), Some("cp"));
                        }
                    }
                    NegativeType::WrongArguments => {
                        assert_eq!(neg.name, gold.name);
                        assert_ne!(neg.arguments, gold.arguments);
                    }
                    NegativeType::RepeatedCall => {
                        assert_eq!(gold.kind, ActionKind::FinalAnswer);
                        assert_eq!(neg.name.as_deref(), Some("ls"));
                    }
                }
            }
        }
        assert_eq!(seen.len(), 4, "every negative type occurs: {seen:?}");
    }

    #[test]
    fn rows_use_the_shared_prompts() {
        let e = ex(Action::call(
            ActionKind::FileWrite,
            "mv",
            json!({"source": "a.txt", "destination": "b"}),
        ));
        let sft = sft_row(&e);
        let msgs = sft["messages"].as_array().unwrap();
        assert_eq!(msgs.last().unwrap()["content"], json!(e.gold.to_model_text()));
        assert_eq!(msgs.len(), e.messages.len() + 2);
        assert_eq!(sft["tools"].as_array().unwrap().len(), 5);
        let neg = Action::kind(ActionKind::FinalAnswer);
        let [pos, negr] = verifier_rows(&e, &neg, NegativeType::WrongKind);
        assert_eq!(pos["label"], "ACCEPT");
        assert_eq!(negr["label"], "REJECT");
        assert_eq!(
            negr["messages"].as_array().unwrap().last().unwrap()["content"],
            "REJECT"
        );
        let r = reward_row(&e, &neg, NegativeType::WrongKind);
        assert_eq!(
            r["chosen"].as_array().unwrap().last().unwrap()["content"],
            json!(e.gold.to_model_text())
        );
        assert_eq!(
            r["rejected"].as_array().unwrap().last().unwrap()["content"],
            json!("final_answer")
        );
    }
}
