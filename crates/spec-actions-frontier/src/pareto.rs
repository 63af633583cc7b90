//! The Pareto frontier over (cost ↓, accuracy ↑), the dominance relation with its reason in
//! words, and a ranking by Pareto layers.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::FrontierError;

/// Two costs or accuracies closer than this are the same (results files round to a few
/// decimals; float noise must not make `0.51` beat `0.51`).
pub const TIE_TOLERANCE: f64 = 1e-9;

/// One configuration on the cost/accuracy plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub name: String,
    /// Mean cost per decision (lower is better).
    pub cost: f64,
    /// Accuracy (higher is better).
    pub accuracy: f64,
}

impl Point {
    pub fn new(name: impl Into<String>, cost: f64, accuracy: f64) -> Self {
        Point {
            name: name.into(),
            cost,
            accuracy,
        }
    }
}

/// How a dominated point compares with the point that dominates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DominanceReason {
    /// Same accuracy, higher cost.
    SameAccuracyHigherCost,
    /// Same cost, lower accuracy.
    SameCostLowerAccuracy,
    /// Higher cost and lower accuracy.
    BothAxes,
}

impl DominanceReason {
    /// The study's wording: `dominated by B — same acc, higher cost`,
    /// `dominated by B on both axes`.
    pub fn describe(self, by: &str) -> String {
        match self {
            DominanceReason::SameAccuracyHigherCost => format!("dominated by {by} — same acc, higher cost"),
            DominanceReason::SameCostLowerAccuracy => format!("dominated by {by} — same cost, lower acc"),
            DominanceReason::BothAxes => format!("dominated by {by} on both axes"),
        }
    }
}

/// Whether `a` dominates `b` (at least as good on both axes, better on one), and how.
pub fn dominates(a: &Point, b: &Point) -> Option<DominanceReason> {
    let same_cost = (a.cost - b.cost).abs() <= TIE_TOLERANCE;
    let same_accuracy = (a.accuracy - b.accuracy).abs() <= TIE_TOLERANCE;
    let cheaper = a.cost < b.cost - TIE_TOLERANCE;
    let more_accurate = a.accuracy > b.accuracy + TIE_TOLERANCE;
    match () {
        _ if cheaper && more_accurate => Some(DominanceReason::BothAxes),
        _ if cheaper && same_accuracy => Some(DominanceReason::SameAccuracyHigherCost),
        _ if same_cost && more_accurate => Some(DominanceReason::SameCostLowerAccuracy),
        _ => None,
    }
}

/// Where a point stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// No other point dominates it.
    Frontier,
    /// `by`, a frontier point, dominates it.
    Dominated { by: String, reason: DominanceReason },
}

impl Status {
    pub fn is_frontier(&self) -> bool {
        matches!(self, Status::Frontier)
    }

    /// `★ PARETO OPTIMAL` or `(dominated by B — same acc, higher cost)`, as the study wrote.
    pub fn describe(&self) -> String {
        match self {
            Status::Frontier => "★ PARETO OPTIMAL".to_string(),
            Status::Dominated { by, reason } => format!("({})", reason.describe(by)),
        }
    }
}

/// A point with its status and Pareto rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    #[serde(flatten)]
    pub point: Point,
    #[serde(flatten)]
    pub status: Status,
    /// Pareto layer: 1 for the frontier, 2 for the frontier of the rest, and so on.
    pub rank: usize,
}

/// Every point placed relative to the frontier, sorted by cost (then accuracy, descending,
/// then name), the order the study lists them in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    pub placements: Vec<Placement>,
}

impl Frontier {
    /// Place `points`. Errors on a non-finite cost or accuracy, or a repeated name.
    pub fn new(points: impl IntoIterator<Item = Point>) -> Result<Self, FrontierError> {
        let mut points: Vec<Point> = points.into_iter().collect();
        for p in &points {
            for (field, value) in [("cost", p.cost), ("accuracy", p.accuracy)] {
                if !value.is_finite() {
                    return Err(FrontierError::NotFinite {
                        config: p.name.clone(),
                        field,
                        value,
                    });
                }
            }
        }
        points.sort_by(listing_order);
        let mut names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(FrontierError::DuplicateName {
                config: w[0].to_string(),
            });
        }

        let ranks = pareto_ranks(&points);
        let placements = points
            .iter()
            .zip(&ranks)
            .map(|(p, &rank)| {
                // Name the dominating frontier point that comes first in listing order
                // (cheapest, then most accurate): a frontier point always dominates a
                // dominated one, because dominance is transitive and the set is finite.
                let status = points
                    .iter()
                    .zip(&ranks)
                    .filter(|&(_, &r)| r == 1)
                    .find_map(|(q, _)| dominates(q, p).map(|reason| (q, reason)))
                    .map_or(Status::Frontier, |(q, reason)| Status::Dominated {
                        by: q.name.clone(),
                        reason,
                    });
                Placement {
                    point: p.clone(),
                    status,
                    rank,
                }
            })
            .collect();
        Ok(Frontier { placements })
    }

    /// The frontier points, cheapest first.
    pub fn frontier(&self) -> impl Iterator<Item = &Placement> {
        self.placements.iter().filter(|p| p.status.is_frontier())
    }

    /// The placement of the point called `name`.
    pub fn get(&self, name: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.point.name == name)
    }

    /// The study's listing, one line per point, cheapest first:
    /// `Config B: cost=0.150 acc=0.510 ★ PARETO OPTIMAL`.
    pub fn listing(&self) -> String {
        self.placements
            .iter()
            .map(|p| {
                format!(
                    "Config {}: cost={:.3} acc={:.3} {}\n",
                    p.point.name,
                    p.point.cost,
                    p.point.accuracy,
                    p.status.describe()
                )
            })
            .collect()
    }
}

/// Cheapest first, then most accurate, then by name (a total order, so the result does not
/// depend on input order).
fn listing_order(a: &Point, b: &Point) -> Ordering {
    a.cost
        .total_cmp(&b.cost)
        .then_with(|| b.accuracy.total_cmp(&a.accuracy))
        .then_with(|| a.name.cmp(&b.name))
}

/// Pareto layer of every point (1 = not dominated by any point; k = not dominated once layers
/// below k are removed).
pub fn pareto_ranks(points: &[Point]) -> Vec<usize> {
    let mut ranks = vec![0usize; points.len()];
    let mut layer = 0;
    while ranks.contains(&0) {
        layer += 1;
        let current: Vec<usize> = (0..points.len())
            .filter(|&i| ranks[i] == 0)
            .filter(|&i| {
                !(0..points.len()).any(|j| ranks[j] == 0 && dominates(&points[j], &points[i]).is_some())
            })
            .collect();
        for i in current {
            ranks[i] = layer;
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominance_reasons() {
        let b = Point::new("B", 0.15, 0.51);
        assert_eq!(
            dominates(&b, &Point::new("D", 0.25, 0.51)),
            Some(DominanceReason::SameAccuracyHigherCost)
        );
        assert_eq!(
            dominates(&b, &Point::new("A", 1.0, 0.40)),
            Some(DominanceReason::BothAxes)
        );
        assert_eq!(
            dominates(&b, &Point::new("X", 0.15, 0.30)),
            Some(DominanceReason::SameCostLowerAccuracy)
        );
        assert_eq!(
            dominates(&b, &b.clone()),
            None,
            "a point does not dominate its twin"
        );
        assert_eq!(
            dominates(&b, &Point::new("Y", 0.10, 0.40)),
            None,
            "a trade-off is no dominance"
        );
        // Float noise is a tie.
        assert_eq!(
            dominates(&Point::new("P", 0.1, 0.51), &Point::new("Q", 0.1 + 1e-12, 0.51)),
            None
        );
    }

    #[test]
    fn ties_share_the_frontier_and_layers_rank_the_rest() {
        let f = Frontier::new([
            Point::new("cheap", 0.1, 0.3),
            Point::new("twin", 0.1, 0.3),
            Point::new("strong", 1.0, 0.8),
            Point::new("mid", 0.5, 0.6),
            Point::new("bad", 0.6, 0.5),
            Point::new("worse", 0.7, 0.4),
        ])
        .unwrap();
        let frontier: Vec<&str> = f.frontier().map(|p| p.point.name.as_str()).collect();
        assert_eq!(frontier, ["cheap", "twin", "mid", "strong"]);
        assert_eq!(f.get("bad").unwrap().rank, 2);
        assert_eq!(f.get("worse").unwrap().rank, 3);
        assert_eq!(
            f.get("worse").unwrap().status,
            Status::Dominated {
                by: "mid".into(),
                reason: DominanceReason::BothAxes
            }
        );
    }

    #[test]
    fn bad_input_is_named() {
        let err = Frontier::new([Point::new("A", f64::NAN, 0.4)]).unwrap_err();
        assert!(err.to_string().contains("\"A\": cost is NaN"), "{err}");
        let err = Frontier::new([Point::new("A", 1.0, 0.4), Point::new("A", 2.0, 0.4)]).unwrap_err();
        assert!(
            matches!(err, FrontierError::DuplicateName { ref config } if config == "A"),
            "{err}"
        );
    }
}
