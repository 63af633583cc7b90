//! The verifier and reward training sets, built once: the dataset writer
//! ([`crate::pipeline::build_datasets`], `verifier_*.jsonl` / `reward_*.jsonl`) and the trainers
//! (`cargo xtask train-all`, which encodes these rows for the model) both call
//! [`verdict_rows`] and [`preference_pairs`], so the files a user inspects are the rows the
//! models saw.
//!
//! Every example gets one hard negative ([`hard_negative`]) drawn from its own RNG
//! ([`example_rng`]`(seed, id)`), with the **data seed** (the one the dataset card records
//! as `config.seed`, read back by [`crate::pipeline::read_card_seed`]). A row depends on its
//! example and the seed only, so the rows of any subset of a split are the file's rows of
//! those examples, in the subset's order.
//!
//! ```
//! use spec_actions_core::{Action, ActionKind, Example, Message, Split};
//! use spec_actions_data::builders::NegativeLevel;
//! use spec_actions_data::role_sets::{preference_pairs, verdict_rows};
//!
//! let example = Example {
//!     id: "e1".into(),
//!     source: "synthetic:test".into(),
//!     conversation: "c1".into(),
//!     split: Split::Train,
//!     messages: vec![Message::user("the build is red")],
//!     tools: vec![],
//!     gold: Action::kind(ActionKind::Repair),
//! };
//! let examples = [example];
//! let verdicts = verdict_rows(&examples, 7, NegativeLevel::Call);
//! // One ACCEPT row (the gold) and one REJECT row (a hard negative) per example.
//! assert_eq!(verdicts.len(), 2);
//! assert!(verdicts[0].accept && verdicts[0].action == examples[0].gold);
//! assert!(!verdicts[1].accept && !verdicts[1].action.matches_call(&examples[0].gold));
//! // The reward pair of the example rejects the same negative.
//! let pairs = preference_pairs(&examples, 7, NegativeLevel::Call);
//! assert_eq!(pairs[0].rejected, verdicts[1].action);
//! ```

use serde_json::Value;
use spec_actions_core::{Action, Example};

use super::builders::{
    NegativeLevel, NegativeType, example_rng, hard_negative, preference_row, verifier_row,
};

/// One verifier training row: "is `action` right for `example`?" → `accept`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictRow<'a> {
    pub example: &'a Example,
    /// The proposed action: the gold (`accept`) or the example's hard negative.
    pub action: Action,
    /// `ACCEPT` (true) or `REJECT` (false).
    pub accept: bool,
    /// The kind of mistake of a `REJECT` row; `None` for `ACCEPT`.
    pub negative_type: Option<NegativeType>,
}

impl VerdictRow<'_> {
    /// The row as written to `verifier_*.jsonl` (see [`verifier_row`]).
    pub fn to_json(&self) -> Value {
        verifier_row(self.example, &self.action, self.accept, self.negative_type)
    }
}

/// One reward-model preference pair: `chosen` (the gold) is better than `rejected` (the hard
/// negative) for `example`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow<'a> {
    pub example: &'a Example,
    pub chosen: Action,
    pub rejected: Action,
    pub negative_type: NegativeType,
}

impl PairRow<'_> {
    /// The row as written to `reward_*.jsonl` (see [`preference_row`]).
    pub fn to_json(&self) -> Value {
        preference_row(self.example, &self.chosen, &self.rejected, self.negative_type)
    }
}

/// The hard negative of every example, from its own seeded RNG.
fn negatives(
    examples: &[Example],
    seed: u64,
    level: NegativeLevel,
) -> impl Iterator<Item = (&Example, Action, NegativeType)> {
    examples.iter().map(move |e| {
        let (negative, t) = hard_negative(e, &mut example_rng(seed, &e.id), level);
        (e, negative, t)
    })
}

/// The verifier set of `examples`: per example, in order, an `ACCEPT` row for the gold then a
/// `REJECT` row for its hard negative (balanced by construction); `level` says which mistakes
/// the negatives may be (the dataset card's `config.negatives`).
pub fn verdict_rows(examples: &[Example], seed: u64, level: NegativeLevel) -> Vec<VerdictRow<'_>> {
    negatives(examples, seed, level)
        .flat_map(|(example, negative, t)| {
            [
                VerdictRow {
                    example,
                    action: example.gold.clone(),
                    accept: true,
                    negative_type: None,
                },
                VerdictRow {
                    example,
                    action: negative,
                    accept: false,
                    negative_type: Some(t),
                },
            ]
        })
        .collect()
}

/// The reward set of `examples`: one (gold, hard negative) pair per example, in order; the
/// negative is the one [`verdict_rows`] rejects for the same seed and level.
pub fn preference_pairs(examples: &[Example], seed: u64, level: NegativeLevel) -> Vec<PairRow<'_>> {
    negatives(examples, seed, level)
        .map(|(example, rejected, negative_type)| PairRow {
            example,
            chosen: example.gold.clone(),
            rejected,
            negative_type,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::{reward_row, verifier_rows};
    use serde_json::json;
    use spec_actions_core::{ActionKind, Message, Split};

    fn example(id: &str, gold: Action) -> Example {
        Example {
            id: id.into(),
            source: "test".into(),
            conversation: id.into(),
            split: Split::Train,
            messages: vec![Message::user("move a.txt to b")],
            tools: ["mv", "cp", "ls"]
                .iter()
                .map(|n| json!({"type": "function", "function": {"name": n}}))
                .collect(),
            gold,
        }
    }

    fn examples() -> Vec<Example> {
        (0..12)
            .map(|i| {
                let gold = if i % 2 == 0 {
                    Action::call(
                        ActionKind::FileWrite,
                        "mv",
                        json!({"source": "a.txt", "destination": "b"}),
                    )
                } else {
                    Action::kind(ActionKind::FinalAnswer)
                };
                example(&format!("e{i}"), gold)
            })
            .collect()
    }

    #[test]
    fn rows_are_the_per_example_negatives_of_the_builders() {
        let examples = examples();
        let verdicts = verdict_rows(&examples, 5, NegativeLevel::Call);
        let pairs = preference_pairs(&examples, 5, NegativeLevel::Call);
        assert_eq!(
            (verdicts.len(), pairs.len()),
            (2 * examples.len(), examples.len())
        );
        for (i, e) in examples.iter().enumerate() {
            let (negative, t) = hard_negative(e, &mut example_rng(5, &e.id), NegativeLevel::Call);
            let [accept, reject] = verifier_rows(e, &negative, t);
            assert_eq!(verdicts[2 * i].to_json(), accept);
            assert_eq!(verdicts[2 * i + 1].to_json(), reject);
            assert_eq!(pairs[i].to_json(), reward_row(e, &negative, t));
        }
    }

    #[test]
    fn a_subset_gets_the_rows_of_its_examples_and_another_seed_other_negatives() {
        let examples = examples();
        let all = verdict_rows(&examples, 5, NegativeLevel::Call);
        let subset: Vec<Example> = [7, 2, 9].iter().map(|&i| examples[i].clone()).collect();
        let part = verdict_rows(&subset, 5, NegativeLevel::Call);
        for (k, &i) in [7usize, 2, 9].iter().enumerate() {
            assert_eq!(part[2 * k].to_json(), all[2 * i].to_json());
            assert_eq!(part[2 * k + 1].to_json(), all[2 * i + 1].to_json());
        }
        let other = preference_pairs(&examples, 6, NegativeLevel::Call);
        let same = preference_pairs(&examples, 5, NegativeLevel::Call);
        assert!(
            other.iter().zip(&same).any(|(a, b)| a.rejected != b.rejected),
            "a different seed draws different negatives somewhere among 12 examples"
        );
    }

    #[test]
    fn kind_level_negatives_are_always_of_another_kind() {
        let examples = examples();
        for seed in 0..20 {
            for row in verdict_rows(&examples, seed, NegativeLevel::Kind) {
                if !row.accept {
                    assert_ne!(row.action.kind, row.example.gold.kind, "{}", row.action);
                    assert!(matches!(
                        row.negative_type,
                        Some(NegativeType::WrongKind | NegativeType::RepeatedCall)
                    ));
                }
            }
        }
        // At call level, the same examples get same-kind mistakes (wrong tool, wrong arguments).
        let same_kind = (0..20)
            .flat_map(|seed| verdict_rows(&examples, seed, NegativeLevel::Call))
            .filter(|r| !r.accept && r.action.kind == r.example.gold.kind)
            .count();
        assert!(same_kind > 0);
    }
}
