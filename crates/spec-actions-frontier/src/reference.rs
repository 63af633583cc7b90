//! The first study's v2 results (Python, Qwen3 1.7B / 4B / 8B, 9 action kinds), the reference
//! every report is checked against. Source: the study's `ABLATION_REPORT_v2.md` ("Full
//! Results" table and "Cost-Quality Frontier" listing). It published summaries only: no
//! per-example records.

use spec_actions_core::{ActionKind, ConfigResult, RANDOM_BASELINE, RESULTS_SCHEMA_VERSION, ResultsFile};

/// The study's v2 results as a [`ResultsFile`]: A–E, random baseline 1/9, majority baseline
/// 0.24 (`final_answer`).
pub fn study_v2() -> ResultsFile {
    let config =
        |name: &str, description: &str, accuracy: f64, mean_cost: f64, accept: Option<f64>| ConfigResult {
            name: name.to_string(),
            description: description.to_string(),
            accuracy,
            mean_cost,
            accept_rate: accept,
            fallback_rate: accept.map(|a| 1.0 - a),
            records: Vec::new(),
        };
    ResultsFile {
        schema_version: RESULTS_SCHEMA_VERSION,
        title: "Study v2: speculative tool actions".to_string(),
        random_baseline: RANDOM_BASELINE,
        majority_baseline: Some(0.24),
        majority_kind: Some(ActionKind::FinalAnswer),
        cheap_only_config: Some("B".to_string()),
        strong_only_config: Some("A".to_string()),
        configs: vec![
            config("A", "8B strong (frozen, zero-shot)", 0.400, 1.000, None),
            config("B", "1.7B cheap (LoRA fine-tuned)", 0.510, 0.150, None),
            config("C", "cheap + 8B verifier → 0% accept", 0.400, 1.250, Some(0.0)),
            config("D", "cheap + 4B RM → 21.5% accept", 0.510, 0.250, Some(0.215)),
            config("E", "multi-proposal (n=3) + RM", 0.420, 0.750, None),
        ],
    }
}
