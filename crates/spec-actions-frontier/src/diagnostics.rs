//! Per-run diagnostics read from the files a pipeline run already writes: learning curves
//! (`<run>/<role>/train/metrics.jsonl`), and from the recorded eval outputs
//! (`<run>/eval/recorded-eval.jsonl`) the verifier's reliability diagram and ROC-AUC, the 9×9
//! confusion matrices of strong-only (A) and cheap-only (B), and call-level beside kind-level
//! accuracy.
//!
//! The recorded rows are read with a minimal serde view of the recording format (the fields
//! named below; every other field is ignored), so this crate needs neither
//! `spec-actions-verify` nor burn. The format is documented, and validated in full, by
//! `spec_actions_verify::RecordedSet::read_jsonl`.
//!
//! ```
//! use spec_actions_frontier::diagnostics::{roc_auc, Reliability};
//! // Every right proposal scored above every wrong one: AUC 1.
//! assert_eq!(roc_auc(&[(0.9, true), (0.8, true), (0.2, false)]), Some(1.0));
//! let r = Reliability::new(&[(0.95, true), (0.91, false), (0.05, false)], 10);
//! assert_eq!(r.bins[9].count, 2);
//! assert_eq!(r.bins[9].observed, Some(0.5));
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spec_actions_core::{Action, ActionKind, Split};

use crate::error::FrontierError;

/// One line of a trainer's `metrics.jsonl` (the fields a learning curve needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPoint {
    pub step: u64,
    /// Mean training loss of the optimizer step.
    pub loss: f64,
    /// Held-out loss, on the steps where it was measured.
    #[serde(default)]
    pub eval_loss: Option<f64>,
}

/// A role's learning curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearningCurve {
    /// The role (`cheap`, `verifier`, `reward`, `strong`).
    pub role: String,
    /// Every step, in file order.
    pub steps: Vec<StepPoint>,
}

impl LearningCurve {
    /// Read `metrics.jsonl`; blank lines are skipped. A line that is not a JSON object with
    /// `step` and a finite `loss` is an error naming the file, line and field.
    pub fn read(role: &str, path: &Path) -> Result<Self, FrontierError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| spec_actions_core::io::FileError::new("read", path, e))?;
        let mut steps = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let point: StepPoint = serde_json::from_str(line).map_err(|source| FrontierError::Json {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
            let bad = |field: &str, value: f64| FrontierError::BadField {
                path: path.to_path_buf(),
                line: i + 1,
                field: field.to_string(),
                reason: format!("{value} is not a finite number"),
            };
            if !point.loss.is_finite() {
                return Err(bad("loss", point.loss));
            }
            if let Some(e) = point.eval_loss.filter(|e| !e.is_finite()) {
                return Err(bad("eval_loss", e));
            }
            steps.push(point);
        }
        Ok(LearningCurve {
            role: role.to_string(),
            steps,
        })
    }

    /// `(step, held-out loss)` where it was measured.
    pub fn eval_points(&self) -> Vec<(u64, f64)> {
        self.steps
            .iter()
            .filter_map(|s| s.eval_loss.map(|e| (s.step, e)))
            .collect()
    }

    /// `train loss 2.31 → 0.84 (steps 0–79); held-out loss 2.30 → 0.90 (5 points)`.
    pub fn summary(&self) -> String {
        let (Some(first), Some(last)) = (self.steps.first(), self.steps.last()) else {
            return "no steps".into();
        };
        let mut out = format!(
            "train loss {:.3} → {:.3} (steps {}–{})",
            first.loss, last.loss, first.step, last.step
        );
        let eval = self.eval_points();
        if let (Some(a), Some(b)) = (eval.first(), eval.last()) {
            out.push_str(&format!(
                "; held-out loss {:.3} → {:.3} ({} points)",
                a.1,
                b.1,
                eval.len()
            ));
        }
        out
    }
}

/// The fields of a recorded row this module reads.
#[derive(Debug, Clone, Deserialize)]
struct RowView {
    id: String,
    split: Split,
    gold: Action,
    #[serde(default)]
    greedy: Option<OutputView>,
    strong: OutputView,
    #[serde(default)]
    verifier: Vec<JudgementView>,
}

#[derive(Debug, Clone, Deserialize)]
struct OutputView {
    action: Option<Action>,
}

#[derive(Debug, Clone, Deserialize)]
struct JudgementView {
    action: Action,
    score: f64,
}

/// One recorded eval example, reduced to what the diagnostics use.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRow {
    pub id: String,
    pub gold: Action,
    /// Strong-only (A): the strong model's decode (`None`: did not parse).
    pub strong: Option<Action>,
    /// Cheap-only (B): the cheap model's greedy decode (`None`: absent or did not parse).
    pub cheap: Option<Action>,
    /// The verifier's P(ACCEPT) of the cheap greedy proposal (the judgement whose action
    /// matches the proposal call-level, as the replay finds it).
    pub verifier_score: Option<f64>,
}

/// Read the rows of `split` from a recording (JSONL). Errors name the file, line and field.
pub fn read_recorded(path: &Path, split: Split) -> Result<Vec<RecordedRow>, FrontierError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| spec_actions_core::io::FileError::new("read", path, e))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: RowView = serde_json::from_str(line).map_err(|source| FrontierError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        if row.split != split {
            continue;
        }
        for (j, judgement) in row.verifier.iter().enumerate() {
            if !(0.0..=1.0).contains(&judgement.score) {
                return Err(FrontierError::BadField {
                    path: path.to_path_buf(),
                    line: i + 1,
                    field: format!("verifier[{j}].score"),
                    reason: format!("P(ACCEPT) {} is outside [0, 1]", judgement.score),
                });
            }
        }
        let cheap = row.greedy.and_then(|g| g.action);
        let verifier_score = cheap.as_ref().and_then(|proposal| {
            row.verifier
                .iter()
                .find(|j| j.action.matches_call(proposal))
                .map(|j| j.score)
        });
        rows.push(RecordedRow {
            id: row.id,
            gold: row.gold,
            strong: row.strong.action,
            cheap,
            verifier_score,
        });
    }
    Ok(rows)
}

/// ROC-AUC of `score` against `positive`: the probability that a random positive scores above
/// a random negative, ties counting one half (Mann–Whitney U / (n₊ n₋)). `None` without both
/// classes.
pub fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|s| s.1).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Midranks over the pooled scores, then U = R₊ − n₊(n₊+1)/2.
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| scored[a].0.total_cmp(&scored[b].0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scored[order[j + 1]].0 == scored[order[i]].0 {
            j += 1;
        }
        let midrank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += midrank * order[i..=j].iter().filter(|&&k| scored[k].1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (positives * (positives + 1)) as f64 / 2.0;
    Some(u / (positives as f64 * negatives as f64))
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// `[lo, hi)` (the last bin includes 1).
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// Mean predicted probability in the bin.
    pub mean_predicted: Option<f64>,
    /// Fraction of positives in the bin.
    pub observed: Option<f64>,
}

/// A reliability diagram: equal-width bins of a predicted probability against the observed
/// frequency, and the expected calibration error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reliability {
    pub bins: Vec<ReliabilityBin>,
    /// `Σ_b (n_b / n) · |observed_b − mean_predicted_b|`.
    pub ece: Option<f64>,
}

impl Reliability {
    /// Bin `scored` (`(probability in [0, 1], positive)`) into `bins` equal-width bins.
    pub fn new(scored: &[(f64, bool)], bins: usize) -> Self {
        let bins = bins.max(1);
        let mut count = vec![0usize; bins];
        let mut predicted = vec![0.0; bins];
        let mut positive = vec![0usize; bins];
        for &(p, y) in scored {
            let b = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
            count[b] += 1;
            predicted[b] += p;
            positive[b] += usize::from(y);
        }
        let n = scored.len();
        let bins: Vec<ReliabilityBin> = (0..bins)
            .map(|b| ReliabilityBin {
                lo: b as f64 / bins as f64,
                hi: (b + 1) as f64 / bins as f64,
                count: count[b],
                mean_predicted: (count[b] > 0).then(|| predicted[b] / count[b] as f64),
                observed: (count[b] > 0).then(|| positive[b] as f64 / count[b] as f64),
            })
            .collect();
        let ece = (n > 0).then(|| {
            bins.iter()
                .filter_map(|b| Some(b.count as f64 / n as f64 * (b.observed? - b.mean_predicted?).abs()))
                .sum::<f64>()
        });
        Reliability { bins, ece }
    }
}

/// Gold kind × predicted kind counts, indexed as [`ActionKind::ALL`]; unparsed predictions
/// are counted per gold kind apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// The configuration (`A`, `B`).
    pub config: String,
    /// `counts[gold][predicted]`.
    pub counts: [[usize; ActionKind::COUNT]; ActionKind::COUNT],
    /// `unparsed[gold]`: no action parsed from the output.
    pub unparsed: [usize; ActionKind::COUNT],
}

impl Confusion {
    /// Count `(gold, predicted)` pairs.
    pub fn new<'a>(config: &str, pairs: impl IntoIterator<Item = (&'a Action, Option<&'a Action>)>) -> Self {
        let mut counts = [[0; ActionKind::COUNT]; ActionKind::COUNT];
        let mut unparsed = [0; ActionKind::COUNT];
        for (gold, predicted) in pairs {
            match predicted {
                Some(p) => counts[gold.kind.index()][p.score_against(gold).kind.index()] += 1,
                None => unparsed[gold.kind.index()] += 1,
            }
        }
        Confusion {
            config: config.to_string(),
            counts,
            unparsed,
        }
    }

    /// Examples of gold kind `k`.
    pub fn support(&self, k: usize) -> usize {
        self.counts[k].iter().sum::<usize>() + self.unparsed[k]
    }

    /// Recall of gold kind `k` (unparsed outputs count as wrong); `None` without examples.
    pub fn recall(&self, k: usize) -> Option<f64> {
        let n = self.support(k);
        (n > 0).then(|| self.counts[k][k] as f64 / n as f64)
    }

    /// Kind accuracy over every example.
    pub fn accuracy(&self) -> Option<f64> {
        let n: usize = (0..ActionKind::COUNT).map(|k| self.support(k)).sum();
        let hits: usize = (0..ActionKind::COUNT).map(|k| self.counts[k][k]).sum();
        (n > 0).then(|| hits as f64 / n as f64)
    }
}

/// Kind- and call-level accuracy of one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallAccuracy {
    /// Examples whose gold action is a call (it names a function).
    pub call_examples: usize,
    /// Kind accuracy on those examples.
    pub kind_accuracy: Option<f64>,
    /// Call-level accuracy ([`Action::matches_call`]: kind, name and arguments) on them.
    pub call_accuracy: Option<f64>,
    /// Every example.
    pub examples: usize,
    pub kind_accuracy_all: Option<f64>,
    pub call_accuracy_all: Option<f64>,
}

impl CallAccuracy {
    /// Accuracy of `(gold, predicted)` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a Action, Option<&'a Action>)>) -> Self {
        let (mut n, mut kind, mut call) = (0usize, 0usize, 0usize);
        let (mut n_all, mut kind_all, mut call_all) = (0usize, 0usize, 0usize);
        for (gold, predicted) in pairs {
            let score = predicted.map(|p| p.score_against(gold));
            let k = score.is_some_and(|s| s.kind_correct);
            let c = score.is_some_and(|s| s.call_correct);
            n_all += 1;
            kind_all += usize::from(k);
            call_all += usize::from(c);
            if gold.name.is_some() {
                n += 1;
                kind += usize::from(k);
                call += usize::from(c);
            }
        }
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        CallAccuracy {
            call_examples: n,
            kind_accuracy: ratio(kind, n),
            call_accuracy: ratio(call, n),
            examples: n_all,
            kind_accuracy_all: ratio(kind_all, n_all),
            call_accuracy_all: ratio(call_all, n_all),
        }
    }
}

/// The verifier's discrimination of the cheap greedy proposal's correctness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifierDiagnostics {
    /// Proposals with a verifier score.
    pub scored: usize,
    /// Eval examples without a parsed proposal or without a matching judgement.
    pub unscored: usize,
    /// Correct = kind match with gold.
    pub auc_kind: Option<f64>,
    /// Correct = call-level match with gold.
    pub auc_call: Option<f64>,
    /// Against kind-level correctness, 10 bins.
    pub reliability: Reliability,
}

/// Everything [`read_recorded`] rows give.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedDiagnostics {
    /// The recording it was read from.
    pub path: PathBuf,
    pub examples: usize,
    pub verifier: VerifierDiagnostics,
    /// A (strong-only) then B (cheap-only).
    pub confusion: [Confusion; 2],
    /// A then B.
    pub accuracy: [CallAccuracy; 2],
}

impl RecordedDiagnostics {
    /// The diagnostics of the eval rows of `path`.
    pub fn read(path: &Path) -> Result<Self, FrontierError> {
        Ok(Self::of(path, &read_recorded(path, Split::Eval)?))
    }

    /// The diagnostics of `rows` (`path` is recorded as their origin).
    pub fn of(path: &Path, rows: &[RecordedRow]) -> Self {
        let mut by_kind = Vec::new();
        let mut by_call = Vec::new();
        for r in rows {
            if let (Some(p), Some(s)) = (&r.cheap, r.verifier_score) {
                let score = p.score_against(&r.gold);
                by_kind.push((s, score.kind_correct));
                by_call.push((s, score.call_correct));
            }
        }
        let verifier = VerifierDiagnostics {
            scored: by_kind.len(),
            unscored: rows.len() - by_kind.len(),
            auc_kind: roc_auc(&by_kind),
            auc_call: roc_auc(&by_call),
            reliability: Reliability::new(&by_kind, 10),
        };
        let strong = || rows.iter().map(|r| (&r.gold, r.strong.as_ref()));
        let cheap = || rows.iter().map(|r| (&r.gold, r.cheap.as_ref()));
        RecordedDiagnostics {
            path: path.to_path_buf(),
            examples: rows.len(),
            verifier,
            confusion: [Confusion::new("A", strong()), Confusion::new("B", cheap())],
            accuracy: [CallAccuracy::new(strong()), CallAccuracy::new(cheap())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // positives 0.8, 0.4; negatives 0.6, 0.4, 0.1. Pairs (4 of 6 won, one tie):
        // 0.8 beats all 3; 0.4 beats 0.1, ties 0.4 (½), loses to 0.6 → (3 + 1.5) / 6 = 0.75.
        let s = [(0.8, true), (0.4, true), (0.6, false), (0.4, false), (0.1, false)];
        assert!((roc_auc(&s).unwrap() - 0.75).abs() < 1e-12);
        // reversed scores: 1 − 0.75
        let r: Vec<(f64, bool)> = s.iter().map(|&(p, y)| (1.0 - p, y)).collect();
        assert!((roc_auc(&r).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(roc_auc(&[(0.3, true), (0.3, true)]), None);
        // all tied: ½
        assert_eq!(roc_auc(&[(0.5, true), (0.5, false), (0.5, false)]), Some(0.5));
    }

    #[test]
    fn reliability_by_hand() {
        let s = [
            (0.05, false),
            (0.15, true),
            (0.12, false),
            (1.0, true),
            (0.95, true),
            (0.9, false),
        ];
        let r = Reliability::new(&s, 10);
        assert_eq!(r.bins.len(), 10);
        assert_eq!(r.bins[0].count, 1);
        assert_eq!(r.bins[1].count, 2);
        assert_eq!(r.bins[1].observed, Some(0.5));
        assert!((r.bins[1].mean_predicted.unwrap() - 0.135).abs() < 1e-12);
        // 1.0 falls in the last bin with 0.95 and 0.9
        assert_eq!(r.bins[9].count, 3);
        assert!(r.bins[5].observed.is_none());
        // ECE = 1/6·0.05 + 2/6·|0.5 − 0.135| + 3/6·|2/3 − 0.95|
        let want = 0.05 / 6.0 + 2.0 / 6.0 * 0.365 + 0.5 * (0.95 - 2.0 / 3.0);
        assert!((r.ece.unwrap() - want).abs() < 1e-12, "{:?}", r.ece);
    }

    #[test]
    fn confusion_and_call_accuracy_by_hand() {
        use serde_json::json;
        let call = |name: &str, x: i64| Action::call(ActionKind::ToolCall, name, json!({ "x": x }));
        let gold = [
            call("f", 1),
            call("f", 2),
            Action::kind(ActionKind::FinalAnswer),
            Action::kind(ActionKind::Repair),
        ];
        let predicted = [
            Some(call("f", 1)),                          // call match
            Some(call("g", 2)),                          // kind match only
            Some(Action::kind(ActionKind::FinalAnswer)), // kind-only match
            None,                                        // unparsed
        ];
        let pairs = || gold.iter().zip(predicted.iter().map(Option::as_ref));
        let c = Confusion::new("B", pairs());
        let (t, f, r) = (
            ActionKind::ToolCall.index(),
            ActionKind::FinalAnswer.index(),
            ActionKind::Repair.index(),
        );
        assert_eq!(c.counts[t][t], 2);
        assert_eq!(c.counts[f][f], 1);
        assert_eq!(c.unparsed[r], 1);
        assert_eq!(c.recall(r), Some(0.0));
        assert_eq!(c.recall(t), Some(1.0));
        assert_eq!(c.recall(ActionKind::Retrieval.index()), None);
        assert_eq!(c.accuracy(), Some(0.75));
        let a = CallAccuracy::new(pairs());
        assert_eq!(a.call_examples, 2);
        assert_eq!(a.kind_accuracy, Some(1.0));
        assert_eq!(a.call_accuracy, Some(0.5));
        assert_eq!(a.kind_accuracy_all, Some(0.75));
        assert_eq!(a.call_accuracy_all, Some(0.5));
    }
}
