//! `report`: the frontier report of a run's results (markdown, text chart, SVG, JSON, paired
//! tests), the verdict in one sentence, and a side-by-side with the study's v2 numbers.

use std::fmt::Write as _;
use std::path::Path;

use spec_actions_core::ResultsFile;
use spec_actions_core::io::atomic_write_bytes;
use spec_actions_frontier::study::study_v2;
use spec_actions_frontier::{FrontierReport, ReportOptions, chart, holm_rejections, plot};

use super::{BoxError, RunDir};

/// Does any gated configuration beat cheap-only at a significant margin? One sentence.
pub fn verdict(results: &ResultsFile, report: &FrontierReport) -> String {
    let Some(cheap) = results.cheap_only_config.as_deref() else {
        return "No cheap-only configuration in the results: no verdict.".into();
    };
    let gated: Vec<&str> = results
        .configs
        .iter()
        .filter(|c| c.accept_rate.is_some() && c.name != cheap)
        .map(|c| c.name.as_str())
        .collect();
    let Some(stats) = &report.statistics else {
        return "No per-example records: no significance test, no verdict.".into();
    };
    // Every gated policy against cheap-only: one family of tests, Holm-corrected, so that
    // sweeping many thresholds cannot manufacture a win.
    let family: Vec<(&str, f64, f64, bool)> = stats
        .comparisons
        .iter()
        .filter_map(|c| {
            let (other, diff) = if c.b == cheap {
                (c.a.as_str(), c.accuracy_difference)
            } else if c.a == cheap {
                (c.b.as_str(), -c.accuracy_difference)
            } else {
                return None;
            };
            let interval_excludes_zero = !c.difference_interval.contains(0.0);
            gated
                .contains(&other)
                .then_some((other, diff, c.mcnemar_p, interval_excludes_zero))
        })
        .collect();
    let alpha = stats.options.alpha;
    let p_values: Vec<f64> = family.iter().map(|f| f.2).collect();
    let wins: Vec<String> = family
        .iter()
        .zip(holm_rejections(&p_values, alpha))
        .filter(|((_, diff, _, excludes_zero), rejected)| *rejected && *excludes_zero && *diff > 0.0)
        .map(|((other, diff, p, _), _)| format!("{other} (+{:.1} points, McNemar p = {p:.4})", 100.0 * diff))
        .collect();
    let n = match family.len() {
        1 => "1 gated policy".to_string(),
        n => format!("{n} gated policies"),
    };
    if wins.is_empty() {
        format!(
            "No gated policy beats cheap-only ({cheap}) at a significant margin (paired McNemar, Holm-corrected over {n}, and paired bootstrap; α = {alpha})."
        )
    } else {
        format!(
            "Gated policies that beat cheap-only ({cheap}) significantly (paired McNemar, Holm-corrected over {n}, and paired bootstrap; α = {alpha}): {}.",
            wins.join(", ")
        )
    }
}

/// The whole report of one results file, written into `out` (report.md, frontier.svg,
/// frontier.json); returns the markdown.
pub fn write_report(results_path: &Path, out: &Path, with_study: bool) -> Result<String, BoxError> {
    let results = ResultsFile::read(results_path)?;
    let report = FrontierReport::analyze(&results, ReportOptions::default())?;
    let mut md = String::new();
    writeln!(
        md,
        "# {}\n",
        if report.title.is_empty() {
            "spec-actions results"
        } else {
            &report.title
        }
    )?;
    writeln!(md, "**Verdict:** {}\n", verdict(&results, &report))?;
    writeln!(
        md,
        "## Results\n\n{}\n{}\n",
        report.markdown_table(),
        report.baselines_line()
    )?;
    writeln!(
        md,
        "## Cost-Quality Frontier\n\n```\n{}```\n",
        report.frontier_listing()
    )?;
    writeln!(md, "```\n{}```\n", chart::text_chart(&report.frontier, 64, 16))?;
    if let Some(stats) = report.statistics_text() {
        writeln!(
            md,
            "## Statistics (bootstrap 95% intervals, paired tests)\n\n```\n{stats}```\n"
        )?;
    }
    if let Some(sweeps) = report.sweeps_text() {
        writeln!(md, "## Threshold sweeps (RouteLLM metrics)\n\n```\n{sweeps}```\n")?;
    }
    if with_study {
        let v2 = FrontierReport::analyze(&study_v2(), ReportOptions::default())?;
        writeln!(
            md,
            "## Side by side: the study's v2 results\n\n{}\n{}\n",
            v2.markdown_table(),
            v2.baselines_line()
        )?;
        writeln!(md, "```\n{}```\n", v2.frontier_listing())?;
    }
    plot::write_svg(&report, &out.join("frontier.svg"))?;
    report.write_json(&out.join("frontier.json"))?;
    atomic_write_bytes(&out.join("report.md"), md.as_bytes())?;
    Ok(md)
}

/// The report stage: `<run>/report/` from `<run>/eval/results.json` (and the held-out results).
pub fn report_stage(run: &RunDir) -> Result<(), BoxError> {
    let eval = run.stage_dir("eval");
    let results = eval.join("results.json");
    if !results.exists() {
        return Err(format!("no {}: run `cargo xtask eval` first", results.display()).into());
    }
    let out = run.stage_dir("report");
    std::fs::create_dir_all(&out)?;
    let md = write_report(&results, &out, true)?;
    println!("{md}");
    let heldout = eval.join("heldout").join("results.json");
    if heldout.exists() {
        let dir = out.join("heldout");
        std::fs::create_dir_all(&dir)?;
        write_report(&heldout, &dir, false)?;
    }
    println!("report written to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use spec_actions_core::{
        Action, ActionKind, ConfigResult, CostLedger, CostModel, ExampleRecord, ModelRole,
    };

    use super::*;

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

    fn verdict_of(configs: Vec<ConfigResult>) -> String {
        let mut results = ResultsFile::new("verdict test", 1.0 / 9.0);
        results.cheap_only_config = Some("B".into());
        results.configs = configs;
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
}
