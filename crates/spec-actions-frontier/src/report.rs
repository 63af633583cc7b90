//! The whole analysis of one results file, and its text outputs: the study's markdown table,
//! the frontier listing, the statistics section and a JSON summary.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use spec_actions_core::metrics::times_baseline;
use spec_actions_core::{ActionKind, Interval, ResultsFile, io};

use crate::error::FrontierError;
use crate::pareto::{Frontier, Point, Status};
use crate::stats::{Bootstrap, BootstrapOptions, PairedComparison, PairedRecords, all_pairs};
use crate::sweep::{Anchor, SweepMetrics};

/// Options of [`FrontierReport::analyze`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    pub bootstrap: BootstrapOptions,
    /// Significance level of the paired comparisons (0.05).
    pub alpha: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            bootstrap: BootstrapOptions::default(),
            alpha: 0.05,
        }
    }
}

/// One configuration's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRow {
    pub name: String,
    pub description: String,
    pub accuracy: f64,
    pub cost: f64,
    /// `accuracy / random baseline`.
    pub x_random: f64,
    /// `accuracy / majority baseline`, when the file has one.
    pub x_majority: Option<f64>,
    pub accept_rate: Option<f64>,
    pub fallback_rate: Option<f64>,
    #[serde(flatten)]
    pub status: Status,
    /// Pareto layer (1 = frontier).
    pub rank: usize,
    /// Bootstrap interval of the accuracy (with records only).
    pub accuracy_interval: Option<Interval>,
    /// Bootstrap interval of the mean cost (with records only).
    pub cost_interval: Option<Interval>,
    /// For a dominated configuration with records: its comparison with the point dominating it.
    pub against_dominator: Option<PairedComparison>,
}

/// What per-example records add: intervals, comparisons, warnings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub examples: usize,
    pub options: ReportOptions,
    /// Every pair of configurations with records.
    pub comparisons: Vec<PairedComparison>,
    /// Neighbouring frontier points whose accuracies are not significantly apart.
    pub flags: Vec<String>,
}

/// The analysis of one results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierReport {
    pub title: String,
    pub random_baseline: f64,
    pub majority_baseline: Option<f64>,
    pub majority_kind: Option<ActionKind>,
    /// In the file's order.
    pub configs: Vec<ConfigRow>,
    /// Every point placed, cheapest first.
    pub frontier: Frontier,
    /// With per-example records only.
    pub statistics: Option<Statistics>,
    /// Threshold sweeps: configurations named `<policy>@<threshold>`, grouped by policy.
    #[serde(default)]
    pub sweeps: Vec<SweepSummary>,
    /// The results file's cheap-only configuration (the sweeps' cheap end point).
    #[serde(default)]
    pub cheap_only: Option<String>,
    /// The results file's strong-only configuration.
    #[serde(default)]
    pub strong_only: Option<String>,
}

/// One policy swept over thresholds, with the RouteLLM metrics between the file's cheap-only
/// and strong-only configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub policy: String,
    /// The sweep's configurations, in the file's order.
    pub configs: Vec<String>,
    /// `None` when the end points are unknown or the strong one is not better; see `note`.
    pub metrics: Option<SweepMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FrontierReport {
    /// Place every configuration, and when they carry per-example records, add bootstrap
    /// intervals, paired comparisons and flags.
    pub fn analyze(file: &ResultsFile, options: ReportOptions) -> Result<Self, FrontierError> {
        if file.configs.is_empty() {
            return Err(FrontierError::Empty);
        }
        check_baseline("random_baseline", Some(file.random_baseline))?;
        check_baseline("majority_baseline", file.majority_baseline)?;
        if !(options.alpha > 0.0 && options.alpha < 1.0) {
            return Err(FrontierError::BadOption {
                name: "alpha",
                message: format!("{} is not in (0, 1)", options.alpha),
            });
        }
        let frontier = Frontier::new(
            file.configs
                .iter()
                .map(|c| Point::new(&c.name, c.mean_cost, c.accuracy)),
        )?;

        let records = PairedRecords::from_configs(&file.configs)?;
        let bootstrap = records
            .as_ref()
            .map(|r| Bootstrap::run(r, options.bootstrap))
            .transpose()?;

        let configs = file
            .configs
            .iter()
            .map(|c| {
                let placement = frontier.get(&c.name).expect("every config was placed");
                let index = records.as_ref().and_then(|r| r.index(&c.name));
                let (accuracy_interval, cost_interval, against_dominator) =
                    match (&records, &bootstrap, index) {
                        (Some(r), Some(b), Some(i)) => {
                            let against = match &placement.status {
                                Status::Dominated { by, .. } => r
                                    .index(by)
                                    .map(|j| PairedComparison::new(r, b, j, i, options.alpha)),
                                Status::Frontier => None,
                            };
                            (Some(b.accuracy_interval(i)), Some(b.cost_interval(i)), against)
                        }
                        _ => (None, None, None),
                    };
                ConfigRow {
                    name: c.name.clone(),
                    description: c.description.clone(),
                    accuracy: c.accuracy,
                    cost: c.mean_cost,
                    x_random: times_baseline(c.accuracy, file.random_baseline),
                    x_majority: file.majority_baseline.map(|m| times_baseline(c.accuracy, m)),
                    accept_rate: c.accept_rate,
                    fallback_rate: c.fallback_rate,
                    status: placement.status.clone(),
                    rank: placement.rank,
                    accuracy_interval,
                    cost_interval,
                    against_dominator,
                }
            })
            .collect();

        let statistics = match (&records, &bootstrap) {
            (Some(r), Some(b)) => {
                let comparisons = all_pairs(r, b, options.alpha);
                let frontier_with_records: Vec<usize> = frontier
                    .frontier()
                    .filter_map(|p| r.index(&p.point.name))
                    .collect();
                let flags = frontier_with_records
                    .windows(2)
                    .map(|w| PairedComparison::new(r, b, w[0], w[1], options.alpha))
                    .filter(|c| !c.significant)
                    .map(|c| {
                        format!(
                            "frontier points {} and {} are not significantly apart in accuracy: {}",
                            c.a,
                            c.b,
                            c.describe()
                        )
                    })
                    .collect();
                Some(Statistics {
                    examples: r.examples(),
                    options,
                    comparisons,
                    flags,
                })
            }
            _ => None,
        };

        let sweeps = sweeps(file);
        Ok(FrontierReport {
            sweeps,
            cheap_only: file.cheap_only_config.clone(),
            strong_only: file.strong_only_config.clone(),
            title: file.title.clone(),
            random_baseline: file.random_baseline,
            majority_baseline: file.majority_baseline,
            majority_kind: file.majority_kind,
            configs,
            frontier,
            statistics,
        })
    }

    /// The study's table: `| Config | Accuracy | Cost | xRand | xMaj | Notes |`, frontier rows in
    /// bold, ratios to one decimal with `×`.
    pub fn markdown_table(&self) -> String {
        let header = ["Config", "Accuracy", "Cost", "xRand", "xMaj", "Notes"];
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let rule: Vec<String> = header.iter().map(|h| "-".repeat(h.chars().count() + 2)).collect();
        let _ = writeln!(out, "|{}|", rule.join("|"));
        for row in &self.configs {
            let bold = |s: String| {
                if row.status.is_frontier() {
                    format!("**{s}**")
                } else {
                    s
                }
            };
            let cells = [
                row.name.clone(),
                bold(format!("{:.3}", row.accuracy)),
                bold(format!("{:.3}", row.cost)),
                bold(format!("{}×", one_decimal(row.x_random))),
                row.x_majority
                    .map_or("—".to_string(), |x| bold(format!("{}×", one_decimal(x)))),
                row.description.replace('|', "\\|"),
            ];
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    /// `Random baseline: 11.1% | Majority baseline (final_answer): 24.0%`.
    pub fn baselines_line(&self) -> String {
        let mut line = format!("Random baseline: {}%", one_decimal(self.random_baseline * 100.0));
        if let Some(m) = self.majority_baseline {
            let kind = self.majority_kind.map_or(String::new(), |k| format!(" ({k})"));
            let _ = write!(line, " | Majority baseline{kind}: {}%", one_decimal(m * 100.0));
        }
        line
    }

    /// The study's frontier listing (see [`Frontier::listing`]).
    pub fn frontier_listing(&self) -> String {
        self.frontier.listing()
    }

    /// Intervals, comparisons and flags, when the file has per-example records.
    pub fn statistics_text(&self) -> Option<String> {
        let stats = self.statistics.as_ref()?;
        let b = &stats.options.bootstrap;
        let mut out = format!(
            "{} examples; {:.0}% bootstrap intervals from {} resamples (seed {}); exact McNemar at α = {}\n",
            stats.examples,
            b.confidence * 100.0,
            b.resamples,
            b.seed,
            stats.options.alpha
        );
        for row in &self.configs {
            if let (Some(a), Some(c)) = (row.accuracy_interval, row.cost_interval) {
                let _ = writeln!(
                    out,
                    "  {}: acc {:.3} [{:.3}, {:.3}]  cost {:.3} [{:.3}, {:.3}]",
                    row.name, row.accuracy, a.lo, a.hi, row.cost, c.lo, c.hi
                );
            }
        }
        for row in &self.configs {
            if let Some(c) = &row.against_dominator {
                let _ = writeln!(out, "  {} is dominated by {}: {}", row.name, c.a, c.describe());
            }
        }
        if stats.flags.is_empty() {
            out.push_str("  frontier points are significantly apart\n");
        }
        for flag in &stats.flags {
            let _ = writeln!(out, "  ⚠ {flag}");
        }
        Some(out)
    }

    /// One line per threshold sweep: `F (5 thresholds): AUC 0.612, APGR 0.730, CPT(50%) 0.120, …`.
    pub fn sweeps_text(&self) -> Option<String> {
        if self.sweeps.is_empty() {
            return None;
        }
        let mut out = String::new();
        for sweep in &self.sweeps {
            let _ = write!(out, "{} ({} thresholds): ", sweep.policy, sweep.configs.len());
            match (&sweep.metrics, &sweep.note) {
                (Some(m), _) => {
                    let _ = writeln!(
                        out,
                        "AUC {:.3}, APGR {:.3}, CPT(50%) {:.3}, CPT(80%) {:.3}, CPT(95%) {:.3} (cost shares)",
                        m.auc, m.apgr, m.cpt50, m.cpt80, m.cpt95
                    );
                }
                (None, note) => {
                    let _ = writeln!(
                        out,
                        "no metrics: {}",
                        note.as_deref().unwrap_or("unknown end points")
                    );
                }
            }
        }
        Some(out)
    }

    /// The whole analysis as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Write [`Self::to_json`] to `path`, atomically.
    pub fn write_json(&self, path: &Path) -> Result<(), FrontierError> {
        io::atomic_write_bytes(path, self.to_json().as_bytes())?;
        Ok(())
    }
}

/// One decimal, rounding halves up (`1.75 → 1.8`, as the study printed), robust to float noise
/// such as `0.42 / 0.24 = 1.7499999…`.
pub fn one_decimal(x: f64) -> String {
    format!("{:.1}", ((x * 10.0) + 1e-9).round() / 10.0)
}

/// Group `<policy>@<threshold>` configurations and measure each group between the file's
/// cheap-only and strong-only configurations.
fn sweeps(file: &ResultsFile) -> Vec<SweepSummary> {
    let mut groups: Vec<(String, Vec<&spec_actions_core::ConfigResult>)> = Vec::new();
    for config in &file.configs {
        let Some((policy, _threshold)) = config.name.split_once('@') else {
            continue;
        };
        match groups.iter_mut().find(|(p, _)| p == policy) {
            Some((_, members)) => members.push(config),
            None => groups.push((policy.to_string(), vec![config])),
        }
    }
    let anchor = |name: &Option<String>, field: &str| -> Result<Anchor, String> {
        let name = name
            .as_ref()
            .ok_or_else(|| format!("the results file names no {field}"))?;
        file.configs
            .iter()
            .find(|c| &c.name == name)
            .map(|c| Anchor {
                cost: c.mean_cost,
                accuracy: c.accuracy,
            })
            .ok_or_else(|| format!("{field} {name:?} is not among the configurations"))
    };
    groups
        .into_iter()
        .map(|(policy, members)| {
            let points: Vec<(f64, f64)> = members.iter().map(|c| (c.mean_cost, c.accuracy)).collect();
            let metrics = anchor(&file.cheap_only_config, "cheap_only_config")
                .and_then(|cheap| Ok((cheap, anchor(&file.strong_only_config, "strong_only_config")?)))
                .and_then(|(cheap, strong)| {
                    SweepMetrics::new(&points, cheap, strong).map_err(|e| e.to_string())
                });
            let (metrics, note) = match metrics {
                Ok(m) => (Some(m), None),
                Err(note) => (None, Some(note)),
            };
            SweepSummary {
                policy,
                configs: members.iter().map(|c| c.name.clone()).collect(),
                metrics,
                note,
            }
        })
        .collect()
}

fn check_baseline(field: &'static str, value: Option<f64>) -> Result<(), FrontierError> {
    match value {
        Some(v) if !(v > 0.0 && v <= 1.0) => Err(FrontierError::BadBaseline { field, value: v }),
        _ => Ok(()),
    }
}
