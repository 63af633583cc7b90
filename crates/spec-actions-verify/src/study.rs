//! The whole offline study of one recording: every fixed policy, every gate family calibrated
//! on the dev rows (to target fallback rates and cost budgets), all evaluated on the eval rows,
//! with sweeps, gate reports, the oracle router and latency. When every row carries the
//! bag-of-words classifier's probabilities, the study adds K (the classifier alone) and the
//! cascades K→A and K→F ([`cascade_families`]), calibrated and swept like the other gates. `cargo xtask eval` and the
//! `spec-actions-verify replay` command both run it.

use std::path::Path;

use serde::Serialize;
use spec_actions_core::io::StagedWrites;
use spec_actions_core::{ActionKind, CostModel, ResultsFile, Split};

use crate::{
    Calibration, CalibrationTarget, CascadeTier, Confidence, GateReport, GateTable, LatencyModel,
    OracleAnalysis, Policy, PolicyRun, ProposalSource, RecordedSet, ReplayRoles, Result, Sweep, VerifyError,
    results_file, run_policy, write_decision_logs_staged, write_json_staged,
};

/// What the study calibrates and how it models latency.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyOptions {
    /// Target dev fallback rates every gate is calibrated to.
    pub fallback_rates: Vec<f64>,
    /// Cost budgets (mean nominal units) every gate is calibrated to.
    pub budgets: Vec<f64>,
    /// Execution time (ms) of a file_read or retrieval, for policy H's latency.
    pub read_exec_ms: f64,
    /// The recording has no sampled proposals / one-pass scores: skip policies that need them.
    pub greedy_only: bool,
    /// Sampled proposals per example in the recording (policy E's n; study: 3).
    pub samples: usize,
    /// The policy families to study (`None`: every one). A and B always run (the anchors of
    /// every comparison). A name matches a family by its letters before any `[`: `C` is C and
    /// `C[G]`, `F-margin` is `F-margin[G,k=2]`, `K→A` the cascade K→A; see [`POLICY_FAMILIES`].
    pub policies: Option<Vec<String>>,
}

/// The family names [`StudyOptions::policies`] accepts.
pub const POLICY_FAMILIES: [&str; 11] = [
    "A",
    "B",
    "H",
    "K",
    "C",
    "D",
    "E",
    "F",
    "F-margin",
    "K→A",
    "K→F-margin",
];

/// Whether `policy` is studied under `names` (see [`StudyOptions::policies`]).
fn studied(names: Option<&[String]>, policy: &Policy) -> bool {
    let family = crate::calibrate::family(policy);
    let base = family.split('[').next().unwrap_or(&family);
    names.is_none_or(|names| names.iter().any(|n| n == base))
}

impl Default for StudyOptions {
    fn default() -> Self {
        StudyOptions {
            fallback_rates: vec![0.3],
            budgets: Vec::new(),
            read_exec_ms: 0.0,
            greedy_only: false,
            samples: 3,
            policies: None,
        }
    }
}

impl StudyOptions {
    /// Every option in its range, before any work: fallback rates in [0, 1], budgets and the
    /// read execution time finite and ≥ 0 (a NaN or a negative value would otherwise be
    /// dropped without a word: no threshold meets it).
    pub fn check(&self) -> Result<()> {
        for &rate in &self.fallback_rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(VerifyError::OutOfRange {
                    what: "target fallback rate",
                    value: rate,
                });
            }
        }
        let non_negative = |what, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(VerifyError::BadOption {
                    what,
                    value,
                    expected: "a finite number ≥ 0",
                })
            }
        };
        for &budget in &self.budgets {
            non_negative("cost budget", budget)?;
        }
        for name in self.policies.iter().flatten() {
            if !POLICY_FAMILIES.contains(&name.as_str()) {
                return Err(VerifyError::UnknownPolicy {
                    name: name.clone(),
                    known: POLICY_FAMILIES.join(", "),
                });
            }
        }
        non_negative("read execution time (ms)", self.read_exec_ms)
    }
}

/// Oracle, gate reports, calibrations and latency of a study (written as `analysis.json`).
#[derive(Debug, Serialize)]
pub struct Analysis {
    pub oracle: OracleAnalysis,
    pub gates: Vec<GateReport>,
    pub calibrations: Vec<Calibration>,
    pub latency_model: LatencyModel,
    pub mean_latency_ms: Vec<(String, Option<f64>)>,
}

/// Everything a study produced.
pub struct Study {
    pub runs: Vec<PolicyRun>,
    pub sweeps: Vec<Sweep>,
    pub analysis: Analysis,
}

/// The gate families, each calibrated and swept.
pub fn gate_families(greedy_only: bool, samples: usize) -> Vec<Policy> {
    let greedy = ProposalSource::Greedy;
    let mut out = vec![
        Policy::Verified {
            source: greedy,
            threshold: 0.0,
        },
        Policy::RewardThreshold {
            source: greedy,
            threshold: 0.0,
        },
        Policy::Confidence {
            source: greedy,
            measure: Confidence::TopProb,
            threshold: 0.0,
        },
    ];
    if !greedy_only {
        let g2 = ProposalSource::OnePass { k: 2 };
        out.extend([
            Policy::Rerank {
                source: ProposalSource::Sampled { n: samples },
                threshold: 0.0,
            },
            Policy::Verified {
                source: ProposalSource::OnePass { k: 1 },
                threshold: 0.0,
            },
            Policy::Confidence {
                source: g2,
                measure: Confidence::Margin,
                threshold: 0.0,
            },
        ]);
    }
    out
}

/// The cascades, each calibrated and swept on the classifier's threshold: K→A, and K→F with
/// `second` (a calibrated F policy) as its second tier.
pub fn cascade_families(second: Option<Policy>) -> Vec<Policy> {
    let mut out = vec![Policy::Cascade {
        threshold: 0.0,
        then: CascadeTier::Strong,
    }];
    if let Some(Policy::Confidence {
        source,
        measure,
        threshold,
    }) = second
    {
        out.push(Policy::Cascade {
            threshold: 0.0,
            then: CascadeTier::Confidence {
                source,
                measure,
                threshold,
            },
        });
    }
    out
}

/// K→F's second tier: the confidence family's calibration (F-margin on one-pass top-2, or F on
/// the greedy proposal for a greedy-only recording) whose target fallback rate is closest to
/// 0.3, the study's default.
fn second_tier(calibrations: &[Calibration], greedy_only: bool) -> Option<Policy> {
    let wanted = if greedy_only {
        (ProposalSource::Greedy, Confidence::TopProb)
    } else {
        (ProposalSource::OnePass { k: 2 }, Confidence::Margin)
    };
    calibrations
        .iter()
        .filter_map(|c| match (c.policy, c.target) {
            (Policy::Confidence { source, measure, .. }, CalibrationTarget::FallbackRate(rate))
                if (source, measure) == wanted =>
            {
                Some((c.policy, (rate - 0.3).abs()))
            }
            _ => None,
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(p, _)| p)
}

/// Runs the study on `set` (dev rows calibrate, eval rows evaluate), priced by `costs`.
pub fn run_study(set: &RecordedSet, costs: &CostModel, options: &StudyOptions) -> Result<Study> {
    options.check()?;
    let mut replay = ReplayRoles::new(set, costs);
    let (dev, eval) = (set.examples(Split::Dev), set.examples(Split::Eval));
    for (split, examples) in [("dev", &dev), ("eval", &eval)] {
        if examples.is_empty() {
            return Err(VerifyError::MissingSplit {
                path: set.origin().to_path_buf(),
                split,
                rows: set.len(),
            });
        }
    }
    let mut exec = [0.0; ActionKind::COUNT];
    exec[ActionKind::FileRead.index()] = options.read_exec_ms;
    exec[ActionKind::Retrieval.index()] = options.read_exec_ms;
    let latency = LatencyModel::fit(set, exec);

    // 1. Fixed policies: A and B first (the oracle and the frontier's end points use them).
    let mut policies = vec![
        Policy::StrongOnly,
        Policy::CheapOnly {
            source: ProposalSource::Greedy,
        },
    ];
    let names = options.policies.as_deref();
    if !options.greedy_only {
        policies.push(Policy::CheapOnly {
            source: ProposalSource::OnePass { k: 1 },
        });
    }
    policies.push(Policy::Speculative {
        source: ProposalSource::Greedy,
    });
    let classified = !set.is_empty() && set.rows().iter().all(|r| r.classifier.is_some());
    if classified {
        policies.push(Policy::Classifier);
    }
    // A and B always; the other fixed policies as asked.
    let anchors = policies.len().min(2);
    let mut k = 0;
    policies.retain(|p| {
        k += 1;
        k <= anchors || studied(names, p)
    });
    // 2. Gated policies, calibrated on dev; sweeps on dev and eval.
    let (mut calibrations, mut gates, mut sweeps): (Vec<Calibration>, Vec<GateReport>, Vec<Sweep>) =
        Default::default();
    let greedy_only = options.greedy_only || options.samples == 0;
    let mut families = gate_families(greedy_only, options.samples);
    families.retain(|f| studied(names, f));
    if classified && families.is_empty() {
        families.extend(cascade_families(None).into_iter().filter(|f| studied(names, f)));
    }
    let mut i = 0;
    while i < families.len() {
        let family = families[i];
        i += 1;
        let dev_table = GateTable::probe(&family, &dev, &mut replay.roles())?;
        for &rate in &options.fallback_rates {
            calibrations.push(dev_table.calibrate_fallback_rate(rate)?);
        }
        for &budget in &options.budgets {
            // A budget below the cheapest operating point has no calibration: skip it.
            if let Ok(c) = dev_table.calibrate_budget(budget) {
                calibrations.push(c);
            }
        }
        let eval_table = GateTable::probe(&family, &eval, &mut replay.roles())?;
        gates.push(GateReport::new(&eval_table));
        sweeps.push(dev_table.sweep());
        sweeps.push(eval_table.sweep());
        // After the LLM gates: the cascades, K→F using F's calibrated threshold.
        if classified && i == families.len() && !matches!(family, Policy::Cascade { .. }) {
            families.extend(
                cascade_families(second_tier(&calibrations, greedy_only))
                    .into_iter()
                    .filter(|f| studied(names, f)),
            );
        }
    }
    // Calibrations that land on the same configuration (same printed threshold) run once.
    for c in &calibrations {
        if !policies.iter().any(|p| p.name() == c.policy.name()) {
            policies.push(c.policy);
        }
    }
    // 3. Evaluate on eval.
    let runs: Vec<PolicyRun> = policies
        .iter()
        .map(|p| run_policy(p, &eval, &mut replay.roles(), Some(&latency)))
        .collect::<Result<_>>()?;
    let oracle = OracleAnalysis::from_runs(&runs[1], &runs[0])?;
    let mean_latency_ms = runs
        .iter()
        .map(|r| (r.config.name.clone(), r.summary.mean_latency_ms))
        .collect();
    let analysis = Analysis {
        oracle,
        gates,
        calibrations,
        latency_model: latency,
        mean_latency_ms,
    };
    Ok(Study {
        runs,
        sweeps,
        analysis,
    })
}

impl Study {
    /// The results file, naming A and B as the strong-only and cheap-only end points.
    pub fn results(&self, title: impl Into<String>) -> ResultsFile {
        let mut file = results_file(title, &self.runs);
        file.strong_only_config = self.runs.first().map(|r| r.config.name.clone());
        file.cheap_only_config = self.runs.get(1).map(|r| r.config.name.clone());
        file
    }

    /// A plain-text table of every configuration and the oracle line.
    pub fn summary_table(&self) -> String {
        let mut out = format!(
            "{:<28} {:>9} {:>9} {:>9} {:>12}\n",
            "config", "accuracy", "cost", "accept", "latency ms"
        );
        for run in &self.runs {
            let c = &run.config;
            let accept = c.accept_rate.map_or("-".to_string(), |a| format!("{a:.3}"));
            let lat = run
                .summary
                .mean_latency_ms
                .map_or("-".to_string(), |l| format!("{l:.1}"));
            out.push_str(&format!(
                "{:<28} {:>9.4} {:>9.4} {:>9} {:>12}\n",
                c.name, c.accuracy, c.mean_cost, accept, lat
            ));
        }
        let o = &self.analysis.oracle;
        out.push_str(&format!(
            "oracle router: accuracy {:.4} at cost {:.4}\n",
            o.oracle_accuracy, o.oracle_cost
        ));
        out
    }

    /// Writes `results.json` (the given file), `decisions.jsonl`, `sweeps.json` and
    /// `analysis.json` as one set ([`StagedWrites`]): all four are written and fsynced before
    /// any replaces its old version, so a full disk leaves the previous four (or none) and
    /// never a new `results.json` beside another run's decisions. Errors name the file.
    pub fn write(&self, results: &ResultsFile, out_dir: &Path) -> Result<()> {
        let mut staged = StagedWrites::new();
        results.write_staged(&mut staged, out_dir.join("results.json"))?;
        write_decision_logs_staged(&mut staged, &out_dir.join("decisions.jsonl"), &self.runs)?;
        write_json_staged(&mut staged, &out_dir.join("sweeps.json"), &self.sweeps, "sweeps")?;
        write_json_staged(
            &mut staged,
            &out_dir.join("analysis.json"),
            &self.analysis,
            "analysis",
        )?;
        staged.commit()?;
        Ok(())
    }
}
