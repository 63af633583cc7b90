//! The study's verdict: does any gated policy beat cheap-only at a significant margin?
//!
//! Every gated policy (a configuration with an accept rate, other than cheap-only) is compared
//! with cheap-only on the same examples; the comparisons form one family of tests, corrected
//! with Holm's step-down procedure, so that sweeping many thresholds cannot manufacture a win.
//! A policy wins when its Holm-adjusted exact McNemar p-value is `≤ α`, its paired-bootstrap
//! interval of the accuracy difference excludes 0, and the difference is positive.
//!
//! Lossless policies are kept out of the family: policy H runs the cheap and the strong model
//! together and always commits the strong action, so its accuracy is strong-only's by
//! construction; testing it against cheap-only tests A against B again, not a gate, and would
//! only widen the correction for the gated policies. A configuration is lossless when its
//! family (the name before `[` or `@`) is `H` or its description says `lossless`.
//!
//! ```
//! use spec_actions_frontier::verdict::{family_of, is_lossless};
//! assert_eq!(family_of("C[1pass]@0.5000"), "C");
//! assert_eq!(family_of("F-margin@0.2"), "F-margin");
//! assert!(is_lossless("H", ""));
//! assert!(!is_lossless("C@0.5", "greedy cheap proposal + verifier"));
//! ```

use serde::{Deserialize, Serialize};
use spec_actions_core::ResultsFile;

use crate::report::FrontierReport;
use crate::stats::{holm_adjusted, holm_rejections};

/// The policy family of a configuration name: the text before the first `[` or `@`
/// (`C[1pass]@0.5000` → `C`, `F-margin@0.2` → `F-margin`, `B[1pass]` → `B`).
pub fn family_of(name: &str) -> &str {
    let end = name.find(['[', '@']).unwrap_or(name.len());
    &name[..end]
}

/// Whether a configuration is lossless by construction (policy H: the strong action is
/// always committed).
pub fn is_lossless(name: &str, description: &str) -> bool {
    family_of(name) == "H" || description.contains("lossless")
}

/// A p-value for the report: four decimals, or one significant digit in scientific notation
/// below 0.0001 (`0.0313`, `1.9e-6`).
pub fn format_p(p: f64) -> String {
    if p > 0.0 && p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// One gated policy tested against cheap-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyTest {
    pub config: String,
    pub mean_cost: f64,
    /// `accuracy(config) − accuracy(cheap-only)`.
    pub accuracy_difference: f64,
    /// Exact McNemar p-value, uncorrected.
    pub mcnemar_p: f64,
    /// Holm-adjusted over the family.
    pub holm_p: f64,
    /// The paired-bootstrap interval of the difference excludes 0.
    pub interval_excludes_zero: bool,
    /// Holm rejection at α, interval excluding 0, positive difference.
    pub wins: bool,
}

/// The verdict of one results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Cheap-only, when the file names it.
    pub cheap: Option<String>,
    pub alpha: f64,
    /// The gated policies tested, in the file's order.
    pub family: Vec<FamilyTest>,
    /// Configurations with an accept rate kept out of the family, with the reason.
    pub excluded: Vec<(String, String)>,
    /// Whether the report had per-example records (no test without).
    pub tested: bool,
}

impl Verdict {
    /// Test every gated policy of `results` against cheap-only, with `report`'s statistics.
    pub fn of(results: &ResultsFile, report: &FrontierReport) -> Self {
        let alpha = report
            .statistics
            .as_ref()
            .map_or(crate::ReportOptions::default().alpha, |s| s.options.alpha);
        let mut verdict = Verdict {
            cheap: results.cheap_only_config.clone(),
            alpha,
            family: Vec::new(),
            excluded: Vec::new(),
            tested: report.statistics.is_some(),
        };
        let Some(cheap) = results.cheap_only_config.as_deref() else {
            return verdict;
        };
        let mut gated = Vec::new();
        for c in results
            .configs
            .iter()
            .filter(|c| c.accept_rate.is_some() && c.name != cheap)
        {
            if is_lossless(&c.name, &c.description) {
                verdict.excluded.push((
                    c.name.clone(),
                    "lossless by construction (the strong action is always committed): its accuracy is strong-only's"
                        .into(),
                ));
            } else {
                gated.push((c.name.as_str(), c.mean_cost));
            }
        }
        let Some(stats) = &report.statistics else {
            return verdict;
        };
        let tests: Vec<(&str, f64, f64, f64, bool)> = gated
            .iter()
            .filter_map(|&(name, cost)| {
                stats.comparisons.iter().find_map(|c| {
                    // `+ 0.0` turns a negated zero into 0 (printed `+0.000`, not `-0.000`).
                    let diff = if c.a == name && c.b == cheap {
                        c.accuracy_difference
                    } else if c.b == name && c.a == cheap {
                        -c.accuracy_difference + 0.0
                    } else {
                        return None;
                    };
                    Some((
                        name,
                        cost,
                        diff,
                        c.mcnemar_p,
                        !c.difference_interval.contains(0.0),
                    ))
                })
            })
            .collect();
        let p: Vec<f64> = tests.iter().map(|t| t.3).collect();
        let adjusted = holm_adjusted(&p);
        let rejected = holm_rejections(&p, alpha);
        verdict.family = tests
            .iter()
            .zip(adjusted)
            .zip(rejected)
            .map(
                |((&(name, cost, diff, p, excludes), holm_p), rejected)| FamilyTest {
                    config: name.to_string(),
                    mean_cost: cost,
                    accuracy_difference: diff,
                    mcnemar_p: p,
                    holm_p,
                    interval_excludes_zero: excludes,
                    wins: rejected && excludes && diff > 0.0,
                },
            )
            .collect();
        verdict
    }

    /// The winners, in the file's order.
    pub fn wins(&self) -> impl Iterator<Item = &FamilyTest> {
        self.family.iter().filter(|t| t.wins)
    }

    /// The verdict in one sentence; p-values are Holm-adjusted.
    pub fn sentence(&self) -> String {
        let Some(cheap) = &self.cheap else {
            return "No cheap-only configuration in the results: no verdict.".into();
        };
        if !self.tested {
            return "No per-example records: no significance test, no verdict.".into();
        }
        let alpha = self.alpha;
        let n = match self.family.len() {
            1 => "1 gated policy".to_string(),
            n => format!("{n} gated policies"),
        };
        let wins: Vec<String> = self
            .wins()
            .map(|t| {
                format!(
                    "{} (+{:.1} points, McNemar p = {})",
                    t.config,
                    100.0 * t.accuracy_difference,
                    format_p(t.holm_p)
                )
            })
            .collect();
        let excluded = if self.excluded.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.excluded.iter().map(|e| e.0.as_str()).collect();
            format!(
                " {} kept out of the family: lossless by construction (strong action always committed).",
                names.join(", ")
            )
        };
        if wins.is_empty() {
            format!(
                "No gated policy beats cheap-only ({cheap}) at a significant margin (paired McNemar, Holm-corrected over {n}, and paired bootstrap; α = {alpha}).{excluded}"
            )
        } else {
            format!(
                "Gated policies that beat cheap-only ({cheap}) significantly (paired McNemar, Holm-corrected over {n}, and paired bootstrap; α = {alpha}; Holm-adjusted p): {}.{excluded}",
                wins.join(", ")
            )
        }
    }

    /// The family as a text table: config, cost, Δacc, raw p, Holm-adjusted p, decision.
    pub fn table_text(&self) -> Option<String> {
        if self.family.is_empty() {
            return None;
        }
        let cheap = self.cheap.as_deref().unwrap_or("cheap-only");
        let mut out = format!(
            "  gated policies against {cheap}, Holm-corrected over {} tests at α = {}:\n  {:<24} {:>7} {:>8} {:>10} {:>10}  decision\n",
            self.family.len(),
            self.alpha,
            "config",
            "cost",
            "Δacc",
            "McNemar p",
            "Holm p"
        );
        for t in &self.family {
            out.push_str(&format!(
                "  {:<24} {:>7.3} {:>+8.3} {:>10} {:>10}  {}\n",
                t.config,
                t.mean_cost,
                t.accuracy_difference,
                format_p(t.mcnemar_p),
                format_p(t.holm_p),
                if t.wins {
                    "beats cheap-only"
                } else if t.holm_p <= self.alpha && t.accuracy_difference < 0.0 {
                    "worse than cheap-only"
                } else {
                    "not significant"
                }
            ));
        }
        for (name, why) in &self.excluded {
            out.push_str(&format!("  {name}: not in the family — {why}\n"));
        }
        Some(out)
    }
}

/// Does any gated configuration beat cheap-only at a significant margin? One sentence
/// ([`Verdict::sentence`]).
pub fn verdict(results: &ResultsFile, report: &FrontierReport) -> String {
    Verdict::of(results, report).sentence()
}

#[cfg(test)]
mod tests {
    use spec_actions_core::{
        Action, ActionKind, ConfigResult, CostLedger, CostModel, ExampleRecord, ModelRole,
    };

    use super::*;
    use crate::ReportOptions;

    const N: usize = 200;

    /// Cheap-only is right on examples `i % 10 < 3`; a gated policy is right there too, plus on
    /// `extra` more examples (so McNemar sees `extra` discordant pairs, all in its favour).
    fn config(name: &str, extra: usize, gated: bool) -> ConfigResult {
        let model = CostModel::default();
        let records: Vec<ExampleRecord> = (0..N)
            .map(|i| {
                let ok = i % 10 < 3 || (i % 10 == 5 && i / 10 < extra);
                let mut ledger = CostLedger::new();
                ledger.record(model.call(ModelRole::Cheap, 100, 2));
                ExampleRecord {
                    example_id: format!("ex{i}"),
                    gold: Action::kind(ActionKind::Repair),
                    predicted: Some(Action::kind(if ok {
                        ActionKind::Repair
                    } else {
                        ActionKind::Blocked
                    })),
                    raw_output: None,
                    correct: ok,
                    accepted: gated.then_some(true),
                    ledger,
                }
            })
            .collect();
        let hits = records.iter().filter(|r| r.correct).count();
        ConfigResult {
            name: name.into(),
            description: name.into(),
            accuracy: hits as f64 / N as f64,
            mean_cost: 0.15,
            accept_rate: gated.then_some(1.0),
            fallback_rate: gated.then_some(0.0),
            records,
        }
    }

    fn results_of(configs: Vec<ConfigResult>) -> ResultsFile {
        let mut results = ResultsFile::new("verdict test", 1.0 / 9.0);
        results.cheap_only_config = Some("B".into());
        results.configs = configs;
        results
    }

    fn verdict_of(configs: Vec<ConfigResult>) -> String {
        let results = results_of(configs);
        let report = FrontierReport::analyze(&results, ReportOptions::default()).expect("analysis");
        verdict(&results, &report)
    }

    /// Six extra wins and no losses give McNemar p = 2/2⁶ = 0.031: a win when it is the only
    /// gated policy, but not among five such policies (Holm's first threshold is 0.05/5 = 0.01),
    /// while fifteen extra wins (p = 2/2¹⁵) survive the correction.
    #[test]
    fn verdict_is_holm_corrected_over_the_gated_policies() {
        let alone = verdict_of(vec![config("B", 0, false), config("G", 6, true)]);
        assert!(alone.contains("G (+3.0 points, McNemar p = 0.0313)"), "{alone}");

        let mut many = vec![config("B", 0, false), config("STRONG", 15, true)];
        many.extend((0..4).map(|k| config(&format!("G{k}"), 6, true)));
        let verdict = verdict_of(many);
        assert!(verdict.contains("STRONG (+7.5 points"), "{verdict}");
        assert!(
            !verdict.contains("G0") && verdict.contains("over 5 gated policies"),
            "{verdict}"
        );

        let none = verdict_of(vec![config("B", 0, false), config("G", 2, true)]);
        assert!(none.starts_with("No gated policy beats cheap-only (B)"), "{none}");
    }

    /// The printed p-values are Holm-adjusted: STRONG's raw p = 2/2¹⁵ is multiplied by the
    /// family size 5 (it has the smallest p), the G's 6-win p = 2/2⁶ = 1/32 by 4, 3, 2, 1 with the
    /// running maximum → 4/32 = 0.125 for all four.
    #[test]
    fn verdict_prints_holm_adjusted_p_values() {
        let mut many = vec![config("B", 0, false), config("STRONG", 15, true)];
        many.extend((0..4).map(|k| config(&format!("G{k}"), 6, true)));
        let results = results_of(many);
        let report = FrontierReport::analyze(&results, ReportOptions::default()).unwrap();
        let v = Verdict::of(&results, &report);
        assert_eq!(v.family.len(), 5);
        let strong = &v.family[0];
        assert!((strong.mcnemar_p - 2.0 / 32768.0).abs() < 1e-15);
        assert!((strong.holm_p - 5.0 * 2.0 / 32768.0).abs() < 1e-15);
        for g in &v.family[1..] {
            assert!((g.mcnemar_p - 1.0 / 32.0).abs() < 1e-12);
            assert!((g.holm_p - 4.0 / 32.0).abs() < 1e-12, "{g:?}");
            assert!(!g.wins);
        }
        let sentence = v.sentence();
        assert!(
            sentence.contains("STRONG (+7.5 points, McNemar p = 0.0003)"),
            "{sentence}"
        );
        let table = v.table_text().unwrap();
        assert!(table.contains("0.1250"), "{table}");
    }

    /// Policy H commits the strong action: kept out of the family, and said why.
    #[test]
    fn lossless_policy_h_is_not_in_the_family() {
        let mut h = config("H", 15, true);
        h.description =
            "greedy cheap proposal and strong model together, strong action committed (lossless)".into();
        let results = results_of(vec![config("B", 0, false), config("G", 6, true), h]);
        let report = FrontierReport::analyze(&results, ReportOptions::default()).unwrap();
        let v = Verdict::of(&results, &report);
        assert_eq!(
            v.family.iter().map(|t| t.config.as_str()).collect::<Vec<_>>(),
            ["G"]
        );
        assert_eq!(v.excluded.len(), 1);
        let sentence = v.sentence();
        // G alone: unadjusted p = 1/32 wins; H would have made it 2/32 in a family of two.
        assert!(
            sentence.contains("G (+3.0 points, McNemar p = 0.0313)"),
            "{sentence}"
        );
        assert!(sentence.contains("H kept out of the family"), "{sentence}");
        assert!(!sentence.contains("H (+"), "{sentence}");
    }
}
