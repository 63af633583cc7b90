//! The oracle analysis: the best any cheap/strong router could do, from a cheap-only run (B or
//! G) and a strong-only run (A) over the same examples, and per-gate accept curves.

use serde::{Deserialize, Serialize};

use crate::calibrate::{AcceptPoint, GateTable, family};
use crate::error::{Result, VerifyError};
use crate::evaluate::PolicyRun;

/// Where the cheap and strong models are right, and what a perfect router would score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleAnalysis {
    pub examples: usize,
    pub cheap_accuracy: f64,
    pub strong_accuracy: f64,
    /// Both right.
    pub both: f64,
    /// Only the cheap model right.
    pub cheap_only: f64,
    /// Only the strong model right.
    pub strong_only: f64,
    /// Either right: the accuracy of a perfect router (the ceiling of every gated policy that
    /// commits one of the two).
    pub oracle_accuracy: f64,
    /// Mean cost of that router when it always runs the cheap model first and calls the strong
    /// one only where it alone is right.
    pub oracle_cost: f64,
}

impl OracleAnalysis {
    /// Compare a cheap-only and a strong-only run record by record (same examples, same order).
    pub fn from_runs(cheap: &PolicyRun, strong: &PolicyRun) -> Result<Self> {
        let (c, s) = (&cheap.config.records, &strong.config.records);
        let n = c.len().max(s.len());
        for i in 0..n {
            let (ci, si) = (c.get(i).map(|r| &r.example_id), s.get(i).map(|r| &r.example_id));
            if ci != si {
                return Err(VerifyError::MismatchedRuns {
                    left: cheap.config.name.clone(),
                    right: strong.config.name.clone(),
                    index: i,
                    left_id: ci.cloned().unwrap_or_default(),
                    right_id: si.cloned().unwrap_or_default(),
                });
            }
        }
        if n == 0 {
            return Err(VerifyError::Empty {
                what: "oracle analysis".into(),
            });
        }
        let (mut both, mut cheap_only, mut strong_only, mut cost) = (0usize, 0usize, 0usize, 0.0);
        for (cr, sr) in c.iter().zip(s) {
            cost += cr.ledger.nominal();
            match (cr.correct, sr.correct) {
                (true, true) => both += 1,
                (true, false) => cheap_only += 1,
                (false, true) => {
                    strong_only += 1;
                    cost += sr.ledger.nominal();
                }
                (false, false) => {}
            }
        }
        let f = |k: usize| k as f64 / n as f64;
        Ok(OracleAnalysis {
            examples: n,
            cheap_accuracy: f(both + cheap_only),
            strong_accuracy: f(both + strong_only),
            both: f(both),
            cheap_only: f(cheap_only),
            strong_only: f(strong_only),
            oracle_accuracy: f(both + cheap_only + strong_only),
            oracle_cost: cost / n as f64,
        })
    }
}

/// How well one gate separates right from wrong cheap proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub family: String,
    /// AUROC of the gate score as a detector of a right proposal (0.5: uninformative).
    pub auroc: Option<f64>,
    pub accept_curve: Vec<AcceptPoint>,
}

impl GateReport {
    pub fn new(table: &GateTable) -> Self {
        GateReport {
            family: family(table.policy()),
            auroc: table.auroc(),
            accept_curve: table.accept_curve(),
        }
    }
}
