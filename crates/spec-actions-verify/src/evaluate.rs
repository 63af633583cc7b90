//! Running a policy over a split: per-example records and decision logs, the summary the
//! results schema keeps ([`ConfigResult`]), and the files they are written to.

use std::path::Path;

use serde::{Deserialize, Serialize};
use spec_actions_core::io::{FileError, StagedWrites};
use spec_actions_core::{ConfigResult, Example, ExampleRecord, RANDOM_BASELINE, ResultsFile};

use crate::decision_log::{DecisionLog, Route};
use crate::error::{Result, VerifyError};
use crate::latency::LatencyModel;
use crate::policy::Policy;
use crate::recorded::write_jsonl_staged;
use crate::roles::PolicyRoles;

/// One policy run over a list of examples.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRun {
    pub policy: Policy,
    /// Name, accuracy, mean cost, accept and fallback rates, and every [`ExampleRecord`].
    pub config: ConfigResult,
    /// One log per record, same order.
    pub logs: Vec<DecisionLog>,
    pub summary: RunSummary,
}

/// Counts behind the rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub examples: usize,
    pub correct: usize,
    /// Predictions that did not parse (scored wrong, never dropped).
    pub unparseable: usize,
    /// Gated: cheap proposal accepted. H: strong agreed with the cheap proposal.
    pub accepted: usize,
    /// Gated: decided by the strong model after the gate.
    pub fell_back: usize,
    /// H: cheap actions executed speculatively.
    pub speculated: usize,
    /// Mean modelled time to result, when a latency model was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_latency_ms: Option<f64>,
}

/// Decide every example with `policy`. `latency`, when given, adds the modelled mean latency.
pub fn run_policy(
    policy: &Policy,
    examples: &[Example],
    roles: &mut PolicyRoles<'_>,
    latency: Option<&LatencyModel>,
) -> Result<PolicyRun> {
    let mut records = Vec::with_capacity(examples.len());
    let mut logs = Vec::with_capacity(examples.len());
    let mut summary = RunSummary {
        examples: examples.len(),
        correct: 0,
        unparseable: 0,
        accepted: 0,
        fell_back: 0,
        speculated: 0,
        mean_latency_ms: None,
    };
    let mut cost = 0.0;
    let mut latency_sum = 0.0;
    for example in examples {
        let d = policy.decide(example, roles)?;
        summary.correct += usize::from(d.record.correct);
        summary.unparseable += usize::from(d.record.predicted.is_none());
        match &d.log.route {
            Route::Accepted => summary.accepted += 1,
            Route::FellBack { .. } => summary.fell_back += 1,
            Route::Speculative(sp) => {
                summary.accepted += usize::from(sp.agreed);
                summary.speculated += usize::from(sp.executed);
            }
            Route::StrongOnly | Route::CheapOnly => {}
        }
        cost += d.record.ledger.nominal();
        if let Some(model) = latency {
            latency_sum += model.decision_ms(&d.record, &d.log);
        }
        records.push(d.record);
        logs.push(d.log);
    }
    let n = examples.len().max(1) as f64;
    summary.mean_latency_ms = latency.map(|_| latency_sum / n);
    let (accept_rate, fallback_rate) = match policy {
        Policy::StrongOnly | Policy::CheapOnly { .. } | Policy::Classifier => (None, None),
        Policy::Speculative { .. } => (Some(summary.accepted as f64 / n), None),
        _ => (
            Some(summary.accepted as f64 / n),
            Some(summary.fell_back as f64 / n),
        ),
    };
    let config = ConfigResult {
        name: policy.name(),
        description: policy.description(),
        accuracy: summary.correct as f64 / n,
        mean_cost: cost / n,
        accept_rate,
        fallback_rate,
        records,
    };
    Ok(PolicyRun {
        policy: *policy,
        config,
        logs,
        summary,
    })
}

/// A results file of `runs` (random baseline 1/9); write it with [`ResultsFile::write`].
pub fn results_file(title: impl Into<String>, runs: &[PolicyRun]) -> ResultsFile {
    let mut file = ResultsFile::new(title, RANDOM_BASELINE);
    file.configs = runs.iter().map(|r| r.config.clone()).collect();
    file
}

/// Write any serialisable value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T, what: &'static str) -> Result<()> {
    let mut staged = StagedWrites::new();
    write_json_staged(&mut staged, path, value, what)?;
    staged.commit()?;
    Ok(())
}

/// [`write_json`] into a set of files that appear together ([`StagedWrites::commit`]).
pub fn write_json_staged<T: Serialize>(
    staged: &mut StagedWrites,
    path: &Path,
    value: &T,
    what: &'static str,
) -> Result<()> {
    staged.write(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|source| serialize_error(path, what, source))?;
        std::io::Write::write_all(w, b"\n").map_err(|e| FileError::new("write", path, e))?;
        Ok::<(), VerifyError>(())
    })
}

/// A serializer's error while writing `path`: an I/O failure underneath (a full disk) is a
/// [`FileError`] naming the file, anything else [`VerifyError::Serialize`].
pub(crate) fn serialize_error(path: &Path, what: &'static str, source: serde_json::Error) -> VerifyError {
    if source.is_io() {
        let io: std::io::Error = source.into();
        return FileError::new("write", path, io).into();
    }
    VerifyError::Serialize { what, source }
}

/// One line of a decision-log file: the configuration, its record (with the ledger) and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedDecision {
    pub config: String,
    pub record: ExampleRecord,
    pub log: DecisionLog,
}

/// Write every decision of `runs` as JSONL, atomically.
pub fn write_decision_logs(path: &Path, runs: &[PolicyRun]) -> Result<()> {
    let mut staged = StagedWrites::new();
    write_decision_logs_staged(&mut staged, path, runs)?;
    staged.commit()?;
    Ok(())
}

/// [`write_decision_logs`] into a set of files that appear together ([`StagedWrites::commit`]).
pub fn write_decision_logs_staged(staged: &mut StagedWrites, path: &Path, runs: &[PolicyRun]) -> Result<()> {
    let rows: Vec<LoggedDecision> = runs
        .iter()
        .flat_map(|run| {
            run.config
                .records
                .iter()
                .zip(&run.logs)
                .map(|(record, log)| LoggedDecision {
                    config: run.config.name.clone(),
                    record: record.clone(),
                    log: log.clone(),
                })
        })
        .collect();
    write_jsonl_staged(staged, path, &rows, "decision log")
}

/// Read a decision-log file written by [`write_decision_logs`].
pub fn read_decision_logs(path: &Path) -> Result<Vec<LoggedDecision>> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError::new("read", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| VerifyError::Json {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })
        })
        .collect()
}
