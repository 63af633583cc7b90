//! Metrics of a policy swept over thresholds, as RouteLLM (Ong et al., 2024) defines them for
//! routers, with "calls to the strong model" generalised to cost:
//!
//! - *cost share* `c = (cost - cost_cheap) / (cost_strong - cost_cheap)`: 0 at the cheap-only
//!   end point, 1 at the strong-only one;
//! - *PGR* (performance gap recovered) `= (acc - acc_cheap) / (acc_strong - acc_cheap)`;
//! - *APGR*: area under PGR against cost share over `[0, 1]`; *AUC*: the same area in accuracy
//!   units (`acc_cheap + APGR · gap`);
//! - *CPT(x%)*: the smallest cost share at which the curve recovers `x%` of the gap.
//!
//! The curve runs through the sweep's points sorted by cost share, plus both end points (a
//! policy can always answer cheap-only or strong-only), linearly interpolated (mixing two
//! thresholds at random realises any point between them). A random router lies on the
//! diagonal: APGR 0.5, CPT(50%) = 0.5.
//!
//! ```
//! use spec_actions_frontier::sweep::{Anchor, SweepMetrics};
//! let cheap = Anchor { cost: 0.15, accuracy: 0.40 };
//! let strong = Anchor { cost: 1.15, accuracy: 0.80 };
//! // One threshold: cost share 0.2, 80% of the gap recovered.
//! let m = SweepMetrics::new(&[(0.35, 0.72)], cheap, strong).unwrap();
//! assert!((m.apgr - 0.80).abs() < 1e-12);
//! assert!((m.cpt80 - 0.2).abs() < 1e-12);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::FrontierError;

/// An end point of the sweep: cheap-only or strong-only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub cost: f64,
    pub accuracy: f64,
}

/// RouteLLM metrics of one sweep. CPT values are cost shares in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepMetrics {
    /// Area under accuracy against cost share, over `[0, 1]`.
    pub auc: f64,
    /// Average performance gap recovered.
    pub apgr: f64,
    pub cpt50: f64,
    pub cpt80: f64,
    pub cpt95: f64,
}

impl SweepMetrics {
    /// Metrics of the sweep `points` (`(cost, accuracy)` per threshold, any order).
    pub fn new(points: &[(f64, f64)], cheap: Anchor, strong: Anchor) -> Result<Self, FrontierError> {
        let curve = Curve::new(points, cheap, strong)?;
        let apgr = curve.area();
        Ok(SweepMetrics {
            auc: cheap.accuracy + apgr * (strong.accuracy - cheap.accuracy),
            apgr,
            cpt50: curve.cost_to_recover(0.50),
            cpt80: curve.cost_to_recover(0.80),
            cpt95: curve.cost_to_recover(0.95),
        })
    }
}

/// PGR against cost share, as sorted vertices of a piecewise-linear curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// `(cost share, PGR)`, sorted by cost share, then PGR.
    pub vertices: Vec<(f64, f64)>,
}

impl Curve {
    pub fn new(points: &[(f64, f64)], cheap: Anchor, strong: Anchor) -> Result<Self, FrontierError> {
        let finite = [cheap.cost, cheap.accuracy, strong.cost, strong.accuracy]
            .iter()
            .all(|v| v.is_finite());
        if !finite || strong.cost <= cheap.cost || strong.accuracy <= cheap.accuracy {
            return Err(FrontierError::NoGap {
                cheap_cost: cheap.cost,
                cheap_accuracy: cheap.accuracy,
                strong_cost: strong.cost,
                strong_accuracy: strong.accuracy,
            });
        }
        let mut vertices = vec![(0.0, 0.0), (1.0, 1.0)];
        for (index, &(cost, accuracy)) in points.iter().enumerate() {
            for (field, value) in [("cost", cost), ("accuracy", accuracy)] {
                if !value.is_finite() {
                    return Err(FrontierError::BadSweepPoint { index, field, value });
                }
            }
            vertices.push((
                (cost - cheap.cost) / (strong.cost - cheap.cost),
                (accuracy - cheap.accuracy) / (strong.accuracy - cheap.accuracy),
            ));
        }
        vertices.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        Ok(Curve { vertices })
    }

    /// Trapezoid area over cost share `[0, 1]` (parts of the curve outside are cut off).
    pub fn area(&self) -> f64 {
        self.vertices
            .windows(2)
            .map(|w| {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                let (lo, hi) = (x0.max(0.0), x1.min(1.0));
                if hi <= lo {
                    return 0.0;
                }
                let at = |x: f64| y0 + (y1 - y0) * (x - x0) / (x1 - x0);
                (hi - lo) * (at(lo) + at(hi)) / 2.0
            })
            .sum()
    }

    /// The smallest cost share in `[0, 1]` at which PGR reaches `target`, walking the curve
    /// from cheap to strong.
    pub fn cost_to_recover(&self, target: f64) -> f64 {
        for w in self.vertices.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            if x1 < 0.0 {
                continue;
            }
            if y0 >= target && x0 >= 0.0 {
                return x0.min(1.0);
            }
            if y1 >= target {
                // Crossing inside this segment (y0 < target ≤ y1).
                let x = if y1 == y0 {
                    x1
                } else {
                    x0 + (x1 - x0) * (target - y0) / (y1 - y0)
                };
                return x.clamp(0.0, 1.0);
            }
        }
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    const CHEAP: Anchor = Anchor {
        cost: 0.2,
        accuracy: 0.5,
    };
    const STRONG: Anchor = Anchor {
        cost: 1.2,
        accuracy: 0.7,
    };

    fn at(share: f64, pgr: f64) -> (f64, f64) {
        (CHEAP.cost + share, CHEAP.accuracy + pgr * 0.2)
    }

    #[test]
    fn random_router_is_the_diagonal() {
        let points: Vec<_> = (0..=10).map(|i| at(i as f64 / 10.0, i as f64 / 10.0)).collect();
        let m = SweepMetrics::new(&points, CHEAP, STRONG).unwrap();
        assert_abs_diff_eq!(m.apgr, 0.5, epsilon = 1e-12);
        assert_abs_diff_eq!(m.auc, 0.6, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt50, 0.5, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt80, 0.8, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt95, 0.95, epsilon = 1e-12);
    }

    #[test]
    fn one_good_threshold_by_hand() {
        // Curve (0,0) → (0.2,0.8) → (1,1): area 0.2·0.4 + 0.8·0.9 = 0.80.
        // PGR 0.5 at 0.2·0.5/0.8 = 0.125; 0.8 at 0.2; 0.95 at 0.2 + 0.8·0.15/0.2 = 0.8.
        let m = SweepMetrics::new(&[at(0.2, 0.8)], CHEAP, STRONG).unwrap();
        assert_abs_diff_eq!(m.apgr, 0.80, epsilon = 1e-12);
        assert_abs_diff_eq!(m.auc, 0.5 + 0.8 * 0.2, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt50, 0.125, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt80, 0.2, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt95, 0.8, epsilon = 1e-12);
    }

    #[test]
    fn better_than_strong_and_outside_the_range() {
        // A threshold beating the strong model at half the cost, and one costing more than strong.
        let m = SweepMetrics::new(&[at(0.5, 1.2), at(1.5, 0.9)], CHEAP, STRONG).unwrap();
        // Area over [0,1] through (0,0),(0.5,1.2),(1,1): 0.5·0.6 + 0.5·1.1 = 0.85 (the point at
        // 1.5 lies outside and is cut off).
        assert_abs_diff_eq!(m.apgr, 0.85, epsilon = 1e-12);
        assert_abs_diff_eq!(m.cpt95, 0.5 * 0.95 / 1.2, epsilon = 1e-12);
    }

    #[test]
    fn no_gap_is_an_error() {
        // The study's v2: strong-only (0.40 @ 1.00) is worse than cheap-only (0.51 @ 0.15).
        let err = SweepMetrics::new(
            &[],
            Anchor {
                cost: 0.15,
                accuracy: 0.51,
            },
            Anchor {
                cost: 1.0,
                accuracy: 0.40,
            },
        )
        .unwrap_err();
        assert!(matches!(err, FrontierError::NoGap { .. }), "{err}");
        let err = SweepMetrics::new(&[(f64::NAN, 0.5)], CHEAP, STRONG).unwrap_err();
        assert!(err.to_string().contains("sweep point 0: cost is NaN"), "{err}");
    }
}
