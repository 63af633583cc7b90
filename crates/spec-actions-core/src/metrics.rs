//! Scoring predictions against gold actions: accuracy with a Wilson 95% interval, per-kind
//! precision / recall / F1, macro-F1, the confusion matrix, call-level accuracy, and the random
//! and majority baselines with the study's xRand / xMaj ratios.
//!
//! An unparseable prediction (`None`) is scored wrong, never dropped: it counts in every total
//! and in [`ConfusionMatrix::unparseable`], and in no predicted column.
//!
//! ```
//! use spec_actions_core::metrics::{ConfusionMatrix, RANDOM_BASELINE, times_baseline};
//! use spec_actions_core::ActionKind::*;
//!
//! let mut m = ConfusionMatrix::new();
//! m.add(Repair, Some(Repair));
//! m.add(Repair, Some(FinalAnswer));
//! m.add(FinalAnswer, Some(FinalAnswer));
//! m.add(FinalAnswer, None); // did not parse: wrong
//! assert_eq!(m.accuracy().value(), 0.5);
//! assert_eq!(format!("{:.1}", times_baseline(0.51, RANDOM_BASELINE)), "4.6");
//! ```

use serde::{Deserialize, Serialize};

use crate::action::{Action, ActionKind};
use crate::results::ExampleRecord;

/// Random-guess accuracy over the nine kinds, as the study used: 1/9.
pub const RANDOM_BASELINE: f64 = 1.0 / ActionKind::COUNT as f64;

/// z for a two-sided 95% interval (the 0.975 quantile of the standard normal).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A closed interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
}

/// Wilson score interval for `successes` out of `trials` at normal quantile `z`.
/// `trials == 0` gives the uninformative `[0, 1]`.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Interval {
    if trials == 0 {
        return Interval { lo: 0.0, hi: 1.0 };
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Interval {
        lo: (centre - half).max(0.0),
        hi: (centre + half).min(1.0),
    }
}

/// `correct` out of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Accuracy {
    pub correct: u64,
    pub total: u64,
}

impl Accuracy {
    /// Share correct; 0 when there is nothing to score.
    pub fn value(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
    /// Wilson 95% interval.
    pub fn wilson95(&self) -> Interval {
        wilson_interval(self.correct, self.total, Z_95)
    }
}

/// `accuracy / baseline`: the study's xRand (baseline = random) and xMaj (baseline = majority).
pub fn times_baseline(accuracy: f64, baseline: f64) -> f64 {
    accuracy / baseline
}

/// Precision, recall and F1 of one kind (one-vs-rest). A ratio with a zero denominator is 0,
/// as scikit-learn's `zero_division=0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KindScores {
    pub kind: ActionKind,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold examples of this kind.
    pub support: u64,
    /// Predictions of this kind.
    pub predicted: u64,
}

/// Gold kind (rows) × predicted kind (columns), indexed by [`ActionKind::index`], plus the
/// unparseable predictions per gold kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// `counts[gold][predicted]`.
    pub counts: [[u64; ActionKind::COUNT]; ActionKind::COUNT],
    /// `unparseable[gold]`: predictions that did not parse (scored wrong).
    pub unparseable: [u64; ActionKind::COUNT],
}

impl ConfusionMatrix {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one prediction (`None`: the model output did not parse).
    pub fn add(&mut self, gold: ActionKind, predicted: Option<ActionKind>) {
        match predicted {
            Some(p) => self.counts[gold.index()][p.index()] += 1,
            None => self.unparseable[gold.index()] += 1,
        }
    }

    /// Build from `(gold, predicted)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (ActionKind, Option<ActionKind>)>) -> Self {
        let mut m = Self::new();
        for (gold, predicted) in pairs {
            m.add(gold, predicted);
        }
        m
    }

    /// Build from per-example records (kind level, each prediction as
    /// [`Action::score_against`] scores it; `predicted: None` is unparseable).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a ExampleRecord>) -> Self {
        Self::from_pairs(records.into_iter().map(|r| {
            (
                r.gold.kind,
                r.predicted.as_ref().map(|p| p.score_against(&r.gold).kind),
            )
        }))
    }

    /// Total unparseable predictions.
    pub fn unparseable_total(&self) -> u64 {
        self.unparseable.iter().sum()
    }

    /// Examples scored (parseable or not).
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum::<u64>() + self.unparseable_total()
    }

    /// Kind-level accuracy: the diagonal over the total.
    pub fn accuracy(&self) -> Accuracy {
        let correct = (0..ActionKind::COUNT).map(|i| self.counts[i][i]).sum();
        Accuracy {
            correct,
            total: self.total(),
        }
    }

    /// Gold examples of `kind` (including unparseable predictions).
    pub fn support(&self, kind: ActionKind) -> u64 {
        self.counts[kind.index()].iter().sum::<u64>() + self.unparseable[kind.index()]
    }

    /// Predictions of `kind`.
    pub fn predicted(&self, kind: ActionKind) -> u64 {
        self.counts.iter().map(|row| row[kind.index()]).sum()
    }

    /// One-vs-rest scores of every kind, in [`ActionKind::ALL`] order.
    pub fn per_kind(&self) -> [KindScores; ActionKind::COUNT] {
        ActionKind::ALL.map(|kind| {
            let tp = self.counts[kind.index()][kind.index()] as f64;
            let support = self.support(kind);
            let predicted = self.predicted(kind);
            let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            KindScores {
                kind,
                precision,
                recall,
                f1,
                support,
                predicted,
            }
        })
    }

    /// Unweighted mean F1 over the kinds that occur as gold or as a prediction (scikit-learn's
    /// `f1_score(average="macro")` over the labels present). 0 for an empty matrix.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self
            .per_kind()
            .iter()
            .filter(|s| s.support > 0 || s.predicted > 0)
            .map(|s| s.f1)
            .collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }
}

/// Call-level accuracy ([`Action::score_against`]: kind, name and arguments, with BFCL's
/// accepted values where the gold carries them) of predictions against gold actions; `None`
/// predictions are wrong.
pub fn call_accuracy<'a>(pairs: impl IntoIterator<Item = (&'a Action, Option<&'a Action>)>) -> Accuracy {
    let mut acc = Accuracy::default();
    for (gold, predicted) in pairs {
        acc.total += 1;
        if predicted.is_some_and(|p| p.score_against(gold).call_correct) {
            acc.correct += 1;
        }
    }
    acc
}

/// [`call_accuracy`] of per-example records.
pub fn call_accuracy_of_records<'a>(records: impl IntoIterator<Item = &'a ExampleRecord>) -> Accuracy {
    call_accuracy(records.into_iter().map(|r| (&r.gold, r.predicted.as_ref())))
}

/// Always predicting the most common kind of a training split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MajorityBaseline {
    /// The most common training kind (ties go to the earlier kind in [`ActionKind::ALL`]).
    pub kind: ActionKind,
    /// Its share of the training split.
    pub train_share: f64,
}

impl MajorityBaseline {
    /// Fit on the gold kinds of a training split; `None` when it is empty.
    pub fn fit(train_kinds: impl IntoIterator<Item = ActionKind>) -> Option<Self> {
        let mut counts = [0u64; ActionKind::COUNT];
        for kind in train_kinds {
            counts[kind.index()] += 1;
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        // First maximum wins ties: `max_by_key` keeps the last, so scan explicitly.
        let mut best = 0;
        for i in 1..ActionKind::COUNT {
            if counts[i] > counts[best] {
                best = i;
            }
        }
        Some(MajorityBaseline {
            kind: ActionKind::ALL[best],
            train_share: counts[best] as f64 / total as f64,
        })
    }

    /// Accuracy of always predicting [`Self::kind`] on an evaluation split.
    pub fn accuracy_on(&self, eval_kinds: impl IntoIterator<Item = ActionKind>) -> Accuracy {
        let mut acc = Accuracy::default();
        for kind in eval_kinds {
            acc.total += 1;
            acc.correct += u64::from(kind == self.kind);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionKind::*;
    use approx::assert_abs_diff_eq;
    use serde_json::json;

    #[test]
    fn wilson_matches_newcombe_1998() {
        // Newcombe (1998), "Two-sided confidence intervals for the single proportion",
        // Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity
        // correction), published to 4 decimals.
        let cases = [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0000, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ];
        for (k, n, lo, hi) in cases {
            let i = wilson_interval(k, n, Z_95);
            assert_abs_diff_eq!(i.lo, lo, epsilon = 5e-5);
            assert_abs_diff_eq!(i.hi, hi, epsilon = 5e-5);
        }
        assert_eq!(wilson_interval(0, 0, Z_95), Interval { lo: 0.0, hi: 1.0 });
        let all = wilson_interval(10, 10, Z_95);
        assert!(all.hi <= 1.0 && all.lo > 0.7);
    }

    #[test]
    fn per_kind_scores_by_hand() {
        // gold repair ×3: predicted repair, repair, final_answer
        // gold final_answer ×2: predicted final_answer, unparseable
        // gold BLOCKED ×1: predicted repair
        let m = ConfusionMatrix::from_pairs([
            (Repair, Some(Repair)),
            (Repair, Some(Repair)),
            (Repair, Some(FinalAnswer)),
            (FinalAnswer, Some(FinalAnswer)),
            (FinalAnswer, None),
            (Blocked, Some(Repair)),
        ]);
        assert_eq!(m.total(), 6);
        assert_eq!(m.unparseable_total(), 1);
        assert_eq!(m.accuracy(), Accuracy { correct: 3, total: 6 });
        let s = m.per_kind();
        // repair: tp 2, predicted 3, support 3 → p 2/3, r 2/3, f1 2/3
        assert_abs_diff_eq!(s[Repair.index()].precision, 2.0 / 3.0);
        assert_abs_diff_eq!(s[Repair.index()].recall, 2.0 / 3.0);
        assert_abs_diff_eq!(s[Repair.index()].f1, 2.0 / 3.0);
        // final_answer: tp 1, predicted 2, support 2 → p 1/2, r 1/2, f1 1/2
        assert_abs_diff_eq!(s[FinalAnswer.index()].f1, 0.5);
        // BLOCKED: tp 0, support 1 → 0
        assert_eq!(s[Blocked.index()].f1, 0.0);
        assert_eq!(s[Blocked.index()].support, 1);
        // kinds never seen are left out of the macro mean: (2/3 + 1/2 + 0) / 3
        assert_abs_diff_eq!(m.macro_f1(), (2.0 / 3.0 + 0.5) / 3.0, epsilon = 1e-12);
        assert_eq!(m.counts[Blocked.index()][Repair.index()], 1);
    }

    #[test]
    fn baselines_and_ratios_match_the_study() {
        // Study v2: B 0.510 → 4.6× random, 2.1× majority (0.24); A 0.400 → 3.6×, 1.7×.
        assert_eq!(format!("{:.1}", times_baseline(0.51, RANDOM_BASELINE)), "4.6");
        assert_eq!(format!("{:.1}", times_baseline(0.51, 0.24)), "2.1");
        assert_eq!(format!("{:.1}", times_baseline(0.40, RANDOM_BASELINE)), "3.6");
        assert_eq!(format!("{:.1}", times_baseline(0.40, 0.24)), "1.7");

        let train = [FinalAnswer, FinalAnswer, Repair, ToolCall, Repair, FinalAnswer];
        let majority = MajorityBaseline::fit(train).unwrap();
        assert_eq!(majority.kind, FinalAnswer);
        assert_abs_diff_eq!(majority.train_share, 0.5);
        assert_eq!(
            majority.accuracy_on([Repair, FinalAnswer, ToolCall, Blocked]),
            Accuracy { correct: 1, total: 4 }
        );
        // Ties go to the earlier kind.
        assert_eq!(MajorityBaseline::fit([Repair, ToolCall]).unwrap().kind, ToolCall);
        assert!(MajorityBaseline::fit([]).is_none());
    }

    #[test]
    fn call_level_is_stricter_than_kind_level() {
        let gold = Action::call(ToolCall, "get_weather", json!({"city": "Paris", "days": 3}));
        let same = Action::call(ToolCall, "get_weather", json!({"days": 3.0, "city": "Paris"}));
        let wrong_args = Action::call(ToolCall, "get_weather", json!({"city": "Rome", "days": 3}));
        let wrong_name = Action::call(ToolCall, "get_forecast", json!({"city": "Paris", "days": 3}));
        let pairs = [
            (&gold, Some(&same)),
            (&gold, Some(&wrong_args)),
            (&gold, Some(&wrong_name)),
            (&gold, None),
        ];
        assert_eq!(call_accuracy(pairs), Accuracy { correct: 1, total: 4 });
        let kinds = ConfusionMatrix::from_pairs(pairs.map(|(g, p)| (g.kind, p.map(|p| p.kind))));
        assert_eq!(kinds.accuracy(), Accuracy { correct: 3, total: 4 });
    }
}

/// Area under the ROC curve of `score` as a detector of `positive` (Mann–Whitney U from average
/// ranks; ties count half; 0.5 is uninformative). `None` without both classes.
pub fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let mut scored = scored.to_vec();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = scored.iter().filter(|(_, ok)| *ok).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j + 1 < scored.len() && scored[j + 1].0 == scored[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * scored[i..=j].iter().filter(|(_, ok)| *ok).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

#[cfg(test)]
mod roc_auc_tests {
    use super::roc_auc;

    /// Hand-computed: positives {0.9, 0.4}, negatives {0.5, 0.1}: of the 4 pairs, 3 are ordered
    /// right → 0.75; a tie between a positive and a negative counts half.
    #[test]
    fn hand_computed_values() {
        let s = [(0.9, true), (0.4, true), (0.5, false), (0.1, false)];
        assert_eq!(roc_auc(&s), Some(0.75));
        assert_eq!(roc_auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.1, true), (0.9, false)]), Some(0.0));
        assert_eq!(roc_auc(&[(0.1, true)]), None);
    }
}
