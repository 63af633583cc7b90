//! The results schema: what the policies write and the frontier reads. Versioned by
//! [`RESULTS_SCHEMA_VERSION`]; a reader refuses files from a newer version.

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::cost::CostLedger;

/// Version of [`ResultsFile`] written by this build.
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// A whole results file: every configuration evaluated on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    pub schema_version: u32,
    /// What was evaluated (e.g. `study v2`, `tiny run 2026-11-22 eval split`).
    #[serde(default)]
    pub title: String,
    /// Random-guess accuracy (study: 1/9).
    pub random_baseline: f64,
    /// Accuracy of always predicting the training split's most common kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majority_baseline: Option<f64>,
    pub configs: Vec<ConfigResult>,
}

/// One configuration (policy + models + thresholds) and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigResult {
    /// Short name: `A`, `B`, `F@0.8`…
    pub name: String,
    pub description: String,
    pub accuracy: f64,
    /// Mean nominal cost per decision.
    pub mean_cost: f64,
    /// Share of decisions where the cheap proposal was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_rate: Option<f64>,
    /// Share of decisions that fell back to the strong model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_rate: Option<f64>,
    /// Per-example records (optional: the study's summary has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<ExampleRecord>,
}

/// What one configuration decided for one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleRecord {
    pub example_id: String,
    pub gold: Action,
    /// `None` when the model output parsed to nothing (scored wrong, never dropped).
    pub predicted: Option<Action>,
    /// Raw model output, kept when it did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<String>,
    /// Kind-level correctness.
    pub correct: bool,
    /// Whether the cheap proposal was accepted (None for policies without a gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    pub ledger: CostLedger,
}
