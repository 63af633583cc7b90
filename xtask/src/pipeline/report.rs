//! `report`: the frontier report of a run's results (markdown, text chart, SVG, JSON, paired
//! tests), the verdict in one sentence, and a side-by-side with the study's v2 numbers.

use std::fmt::Write as _;
use std::path::Path;

use spec_actions_core::ResultsFile;
use spec_actions_core::io::atomic_write_bytes;
use spec_actions_frontier::study::study_v2;
use spec_actions_frontier::{FrontierReport, ReportOptions, chart, plot};

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
    let wins: Vec<String> = stats
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
            (gated.contains(&other) && c.significant && diff > 0.0).then(|| {
                format!(
                    "{other} (+{:.1} points, McNemar p = {:.3})",
                    100.0 * diff,
                    c.mcnemar_p
                )
            })
        })
        .collect();
    if wins.is_empty() {
        format!(
            "No gated policy beats cheap-only ({cheap}) at a significant margin (paired McNemar and bootstrap, α = {}).",
            stats.options.alpha
        )
    } else {
        format!(
            "Gated policies that beat cheap-only ({cheap}) significantly: {}.",
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
