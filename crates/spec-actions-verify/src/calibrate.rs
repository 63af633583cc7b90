//! Thresholds of the gated policies (C–F): sweeps that trace (cost, accuracy) curves, and
//! calibration on the dev split — to a target fallback rate (a score quantile, as RouteLLM
//! does) or to the best accuracy under a cost budget.
//!
//! A [`GateTable`] probes each example once — propose, judge, *and* ask the strong model — so
//! both outcomes are known and any threshold is evaluated without another model call. The
//! accept-path cost is what the judge stage spent, the reject-path cost adds the strong call;
//! [`GateTable::at`] equals what [`Policy::decide`] would produce at that threshold.

use serde::{Deserialize, Serialize};
use spec_actions_core::{Example, Split};

use crate::error::{Result, VerifyError};
use crate::policy::Policy;
use crate::roles::PolicyRoles;

/// Both outcomes of one gated decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateRow {
    pub example_id: String,
    /// The gate's score; `None` (the proposal did not parse) is never accepted.
    pub score: Option<f64>,
    /// Nominal cost if accepted (proposals + gate calls).
    pub accept_cost: f64,
    /// Nominal cost if rejected (the same plus the strong call; for K→F, plus F's decision).
    pub reject_cost: f64,
    /// The gate's chosen candidate is right (kind level).
    pub cheap_correct: bool,
    /// The strong model is right (kind level); for K→F, F's decision is.
    pub strong_correct: bool,
}

/// One threshold's outcome over a table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Accept iff `score ≥ threshold`.
    pub threshold: f64,
    pub mean_cost: f64,
    pub accuracy: f64,
    pub accept_rate: f64,
    pub fallback_rate: f64,
}

/// A (cost, accuracy) curve of one gated policy family: the points the frontier crate
/// summarises (APGR, CPT). Ascending threshold (descending accept rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The policy's name without its threshold, e.g. `C`, `F-margin[G,k=2]`.
    pub family: String,
    pub split: Split,
    pub points: Vec<CurvePoint>,
}

/// Accept rate against the accuracy of what was accepted, for one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AcceptPoint {
    pub threshold: f64,
    pub accept_rate: f64,
    pub accuracy_of_accepted: f64,
}

/// What a calibration aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationTarget {
    FallbackRate(f64),
    CostBudget(f64),
}

/// A calibrated policy and how it did on dev.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub policy: Policy,
    pub target: CalibrationTarget,
    pub dev: CurvePoint,
}

/// Every example of one split probed through one gated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct GateTable {
    policy: Policy,
    split: Split,
    rows: Vec<GateRow>,
}

impl GateTable {
    /// Probe `examples` (all of one split) through `policy`'s propose-and-judge stage and the
    /// strong model. `policy`'s own threshold is ignored.
    pub fn probe(policy: &Policy, examples: &[Example], roles: &mut PolicyRoles<'_>) -> Result<Self> {
        let first = examples.first().ok_or_else(|| VerifyError::Empty {
            what: format!("probe of {}", family(policy)),
        })?;
        let mut rows = Vec::with_capacity(examples.len());
        for example in examples {
            if example.split != first.split {
                return Err(VerifyError::MixedSplits {
                    example_id: example.id.clone(),
                    split: example.split,
                    first: first.split,
                });
            }
            let judged = policy.judge(example, roles)?;
            // The reject path: the strong model, or a cascade's next tier (K→F: F decides).
            let (fallback_correct, fallback_cost) = match policy.second_tier() {
                Some(next) => {
                    let d = next.decide(example, roles)?;
                    (d.record.correct, d.record.ledger.nominal())
                }
                None => {
                    let (strong, strong_call) = roles.strong.act(example)?;
                    let correct = strong
                        .action
                        .as_ref()
                        .is_some_and(|a| a.score_against(&example.gold).kind_correct);
                    (correct, strong_call.nominal)
                }
            };
            let accept_cost = judged.ledger.nominal();
            let chosen = &judged.candidates[judged.chosen].candidate;
            rows.push(GateRow {
                example_id: example.id.clone(),
                score: judged.score,
                accept_cost,
                reject_cost: accept_cost + fallback_cost,
                cheap_correct: chosen
                    .action
                    .as_ref()
                    .is_some_and(|a| a.score_against(&example.gold).kind_correct),
                strong_correct: fallback_correct,
            });
        }
        Ok(GateTable {
            policy: *policy,
            split: first.split,
            rows,
        })
    }

    /// A table from rows already probed (e.g. read back from a file).
    pub fn from_rows(policy: Policy, split: Split, rows: Vec<GateRow>) -> Result<Self> {
        if rows.is_empty() {
            return Err(VerifyError::Empty {
                what: format!("gate table of {}", family(&policy)),
            });
        }
        Ok(GateTable { policy, split, rows })
    }

    /// The policy probed (its threshold is irrelevant).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn rows(&self) -> &[GateRow] {
        &self.rows
    }

    pub fn split(&self) -> Split {
        self.split
    }

    /// The outcome of threshold `tau`.
    pub fn at(&self, tau: f64) -> CurvePoint {
        let n = self.rows.len() as f64;
        let (mut cost, mut correct, mut accepted) = (0.0, 0usize, 0usize);
        for r in &self.rows {
            if r.score.is_some_and(|s| s >= tau) {
                cost += r.accept_cost;
                correct += usize::from(r.cheap_correct);
                accepted += 1;
            } else {
                cost += r.reject_cost;
                correct += usize::from(r.strong_correct);
            }
        }
        let accept_rate = accepted as f64 / n;
        CurvePoint {
            threshold: tau,
            mean_cost: cost / n,
            accuracy: correct as f64 / n,
            accept_rate,
            fallback_rate: 1.0 - accept_rate,
        }
    }

    /// Every distinct outcome: one point per distinct score (accepting the scores ≥ it), plus
    /// one just above the highest score (accept nothing). O(n log n).
    pub fn sweep(&self) -> Sweep {
        let n = self.rows.len() as f64;
        let mut scored: Vec<&GateRow> = self.rows.iter().filter(|r| r.score.is_some()).collect();
        scored.sort_by(|a, b| b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)));
        // Start from "reject everything", then accept rows in descending score order.
        let mut cost: f64 = self.rows.iter().map(|r| r.reject_cost).sum();
        let mut correct: i64 = self.rows.iter().map(|r| i64::from(r.strong_correct)).sum();
        let top = scored
            .first()
            .and_then(|r| r.score)
            .map_or(f64::MAX, f64::next_up);
        let point = |tau: f64, cost: f64, correct: i64, accepted: usize| CurvePoint {
            threshold: tau,
            mean_cost: cost / n,
            accuracy: correct as f64 / n,
            accept_rate: accepted as f64 / n,
            fallback_rate: 1.0 - accepted as f64 / n,
        };
        let mut points = vec![point(top, cost, correct, 0)];
        for (i, r) in scored.iter().enumerate() {
            cost += r.accept_cost - r.reject_cost;
            correct += i64::from(r.cheap_correct) - i64::from(r.strong_correct);
            let s = r.score.unwrap_or(0.0);
            let last_of_score = scored.get(i + 1).is_none_or(|next| next.score != Some(s));
            if last_of_score {
                points.push(point(s, cost, correct, i + 1));
            }
        }
        points.reverse();
        Sweep {
            family: family(&self.policy),
            split: self.split,
            points,
        }
    }

    fn require_dev(&self) -> Result<()> {
        match self.rows.first() {
            Some(r) if self.split != Split::Dev => Err(VerifyError::NotDevSplit {
                example_id: r.example_id.clone(),
                split: self.split,
            }),
            _ => Ok(()),
        }
    }

    /// (i) The threshold whose dev fallback rate is closest to `target` (ties: the lower
    /// threshold). Ties in scores can make the target unreachable; the achieved rate is in
    /// the returned point.
    pub fn calibrate_fallback_rate(&self, target: f64) -> Result<Calibration> {
        if !(0.0..=1.0).contains(&target) {
            return Err(VerifyError::OutOfRange {
                what: "target fallback rate",
                value: target,
            });
        }
        self.require_dev()?;
        let sweep = self.sweep();
        let best = sweep
            .points
            .iter()
            .min_by(|a, b| {
                (a.fallback_rate - target)
                    .abs()
                    .total_cmp(&(b.fallback_rate - target).abs())
            })
            .copied()
            .ok_or_else(|| VerifyError::Empty { what: "sweep".into() })?;
        Ok(Calibration {
            policy: self.policy.with_threshold(best.threshold),
            target: CalibrationTarget::FallbackRate(target),
            dev: best,
        })
    }

    /// (ii) The threshold with the best dev accuracy among those with mean cost ≤ `budget`
    /// (ties: the cheaper).
    pub fn calibrate_budget(&self, budget: f64) -> Result<Calibration> {
        if !(budget.is_finite() && budget >= 0.0) {
            return Err(VerifyError::BadOption {
                what: "cost budget",
                value: budget,
                expected: "a finite number ≥ 0",
            });
        }
        self.require_dev()?;
        let sweep = self.sweep();
        let best = sweep
            .points
            .iter()
            .filter(|p| p.mean_cost <= budget + 1e-12)
            .max_by(|a, b| {
                a.accuracy
                    .total_cmp(&b.accuracy)
                    .then(b.mean_cost.total_cmp(&a.mean_cost))
            })
            .copied();
        match best {
            Some(dev) => Ok(Calibration {
                policy: self.policy.with_threshold(dev.threshold),
                target: CalibrationTarget::CostBudget(budget),
                dev,
            }),
            None => Err(VerifyError::BudgetUnreachable {
                policy: family(&self.policy),
                budget,
                cheapest: sweep
                    .points
                    .iter()
                    .map(|p| p.mean_cost)
                    .fold(f64::INFINITY, f64::min),
            }),
        }
    }

    /// Accept rate against accuracy of the accepted, one point per distinct score, from the
    /// most confident accepts down.
    pub fn accept_curve(&self) -> Vec<AcceptPoint> {
        let n = self.rows.len() as f64;
        let mut scored: Vec<(f64, bool)> = self
            .rows
            .iter()
            .filter_map(|r| r.score.map(|s| (s, r.cheap_correct)))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out = Vec::new();
        let mut correct = 0usize;
        for (i, &(s, ok)) in scored.iter().enumerate() {
            correct += usize::from(ok);
            if scored.get(i + 1).is_none_or(|next| next.0 != s) {
                out.push(AcceptPoint {
                    threshold: s,
                    accept_rate: (i + 1) as f64 / n,
                    accuracy_of_accepted: correct as f64 / (i + 1) as f64,
                });
            }
        }
        out
    }

    /// Area under the ROC curve of the score as a detector of a correct cheap proposal
    /// (0.5: uninformative; ties count half). `None` without both classes among scored rows.
    pub fn auroc(&self) -> Option<f64> {
        let scored: Vec<(f64, bool)> = self
            .rows
            .iter()
            .filter_map(|r| r.score.map(|s| (s, r.cheap_correct)))
            .collect();
        spec_actions_core::metrics::roc_auc(&scored)
    }
}

/// A gated policy's name without its threshold.
pub fn family(policy: &Policy) -> String {
    let name = policy.name();
    match name.split_once('@') {
        Some((f, _)) => f.to_string(),
        None => name,
    }
}
