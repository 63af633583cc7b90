//! The whole report of one results file, as the pipeline and the `frontier` example write it:
//! `report.md` (verdict, targets, results table, frontier, kind- and call-level accuracy of
//! every named configuration ([`accuracy_levels`]), statistics with Holm-adjusted p-values,
//! sweeps, per-run diagnostics, methods), `frontier.svg`, `frontier.json`, and with a
//! run folder the per-run figures (learning curves, the verifier's reliability diagram, the
//! confusion matrices of strong-only and cheap-only).
//!
//! Run files are optional: a missing one gives `n/a` in the report, an unreadable one a note
//! naming the file and the error; neither stops the report.
//!
//! ```
//! use spec_actions_frontier::document::{DocumentOptions, write_report};
//! use spec_actions_frontier::reference::study_v2;
//!
//! let out = tempfile::tempdir().unwrap();
//! let md = write_report(&study_v2(), out.path(), &DocumentOptions::default()).unwrap();
//! assert!(md.contains("**Verdict:** No per-example records"));
//! assert!(out.path().join("frontier.svg").exists());
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use spec_actions_core::io::atomic_write_bytes;
use spec_actions_core::{ActionKind, ConfigResult, LanguageModelMap, ResultsFile};

use crate::diagnostics::{LearningCurve, RecordedDiagnostics};
use crate::error::FrontierError;
use crate::reference::study_v2;
use crate::report::{FrontierReport, ReportOptions};
use crate::verdict::{Verdict, family_of, format_p};
use crate::{chart, figures, plot};

/// What [`write_report`] adds to the frontier analysis.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentOptions {
    pub report: ReportOptions,
    /// Append the side-by-side with the first study's v2 numbers.
    pub with_study: bool,
    /// The run folder: targets, learning curves, verifier and confusion diagnostics.
    pub run: Option<PathBuf>,
}

/// A run-file value: read, missing, or unreadable (the error, for the report).
#[derive(Debug)]
pub enum RunValue<T> {
    Read(T),
    Missing(PathBuf),
    Unreadable(PathBuf, String),
}

impl<T> RunValue<T> {
    /// Read `path` with `read` when it exists.
    pub fn load(path: PathBuf, read: impl FnOnce(&Path) -> Result<T, FrontierError>) -> Self {
        if !path.exists() {
            return RunValue::Missing(path);
        }
        match read(&path) {
            Ok(v) => RunValue::Read(v),
            Err(e) => RunValue::Unreadable(path, e.to_string()),
        }
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            RunValue::Read(v) => Some(v),
            _ => None,
        }
    }

    /// `None` when read; else a line saying why not.
    pub fn note(&self) -> Option<String> {
        match self {
            RunValue::Read(_) => None,
            RunValue::Missing(p) => Some(format!("n/a: no {}", p.display())),
            RunValue::Unreadable(p, e) => Some(format!("n/a: could not read {}: {e}", p.display())),
        }
    }
}

/// What a run folder holds for the report.
#[derive(Debug)]
pub struct RunFiles {
    pub curves: LanguageModelMap<RunValue<LearningCurve>>,
    pub recorded: RunValue<RecordedDiagnostics>,
    /// The reward stage's held-out pairwise accuracy before and after training.
    pub reward_pairwise: RunValue<(f64, f64)>,
}

impl RunFiles {
    /// Read what exists of `run`.
    pub fn read(run: &Path) -> Self {
        RunFiles {
            curves: LanguageModelMap::from_fn(|role| {
                RunValue::load(run.join(role.as_str()).join("train").join("metrics.jsonl"), |p| {
                    LearningCurve::read(role.as_str(), p)
                })
            }),
            recorded: RunValue::load(
                run.join("eval").join("recorded-eval.jsonl"),
                RecordedDiagnostics::read,
            ),
            reward_pairwise: RunValue::load(run.join("reward").join("stage.json"), read_pairwise),
        }
    }
}

/// `metrics.heldout_pairwise_accuracy_start` / `_end` of the reward stage's `stage.json`.
fn read_pairwise(path: &Path) -> Result<(f64, f64), FrontierError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| spec_actions_core::io::FileError::new("read", path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|source| FrontierError::Json {
        path: path.to_path_buf(),
        line: source.line(),
        source,
    })?;
    let field = |name: &str| {
        value["metrics"][name]
            .as_f64()
            .ok_or_else(|| FrontierError::BadField {
                path: path.to_path_buf(),
                line: 1,
                field: format!("metrics.{name}"),
                reason: "absent or not a number".into(),
            })
    };
    Ok((
        field("heldout_pairwise_accuracy_start")?,
        field("heldout_pairwise_accuracy_end")?,
    ))
}

/// One row of the targets table.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub target: String,
    /// The measured value in words, `n/a` when it could not be measured.
    pub measured: String,
    /// `None`: not measurable.
    pub met: Option<bool>,
}

/// The study's targets (issue 12), each with its measured value.
pub fn targets(
    results: &ResultsFile,
    report: &FrontierReport,
    verdict: &Verdict,
    run: &RunFiles,
) -> Vec<Target> {
    let accuracy = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| results.configs.iter().find(|c| &c.name == n))
            .map(|c| c.accuracy)
    };
    let (a, b) = (
        accuracy(&results.strong_only_config),
        accuracy(&results.cheap_only_config),
    );
    let na = || "n/a".to_string();
    let mut out = vec![
        Target {
            target: "Cheap-only B: kind accuracy ≥ 0.50".into(),
            measured: b.map_or_else(na, |b| format!("{b:.3}")),
            met: b.map(|b| b >= 0.50),
        },
        Target {
            target: "Strong-only A: kind accuracy ≥ B + 0.12".into(),
            measured: match (a, b) {
                (Some(a), Some(b)) => format!("A {a:.3} − B {b:.3} = {:+.3}", a - b),
                _ => na(),
            },
            met: a.zip(b).map(|(a, b)| a - b >= 0.12 - 1e-12),
        },
    ];
    let auc = run.recorded.value().and_then(|d| d.verifier.auc_kind);
    out.push(Target {
        target: "Verifier: ROC-AUC of P(ACCEPT) against the cheap proposal's correctness ≥ 0.80 (eval)"
            .into(),
        measured: auc.map_or_else(na, |v| format!("{v:.3}")),
        met: auc.map(|v| v >= 0.80),
    });
    let pairwise = run.reward_pairwise.value().copied();
    out.push(Target {
        target: "Reward model: held-out pairwise accuracy ≥ 0.80 and rising during training".into(),
        measured: pairwise.map_or_else(na, |(s, e)| format!("{s:.3} → {e:.3}")),
        met: pairwise.map(|(s, e)| e >= 0.80 && e > s),
    });
    // Gated policies C–F (F-margin included) that win the Holm-corrected verdict at cost ≤ 0.5.
    let gated_letter = |name: &str| matches!(family_of(name).chars().next(), Some('C' | 'D' | 'E' | 'F'));
    let candidates: Vec<_> = verdict
        .family
        .iter()
        .filter(|t| gated_letter(&t.config) && t.mean_cost <= 0.5)
        .collect();
    let best = |pool: &[&crate::verdict::FamilyTest]| {
        pool.iter()
            .copied()
            .max_by(|x, y| x.accuracy_difference.total_cmp(&y.accuracy_difference))
            .cloned()
    };
    let winners: Vec<_> = candidates.iter().copied().filter(|t| t.wins).collect();
    let chosen = best(&winners);
    let describe = |t: &crate::verdict::FamilyTest| {
        format!(
            "{} at cost {:.3}: {:+.1} points, Holm-adjusted p = {}",
            t.config,
            t.mean_cost,
            100.0 * t.accuracy_difference,
            format_p(t.holm_p)
        )
    };
    out.push(Target {
        target: "A gated policy (C–F) significantly above B (Holm) at mean cost ≤ 0.5".into(),
        measured: match (&chosen, best(&candidates)) {
            (Some(w), _) => describe(w),
            (None, Some(c)) => format!("none; best {}", describe(&c)),
            (None, None) if verdict.tested => "none at cost ≤ 0.5".into(),
            (None, None) => na(),
        },
        met: verdict.tested.then_some(chosen.is_some()),
    });
    // APGR of the winner's sweep, else the best APGR among the C–F sweeps.
    let sweep_apgr = |policy: &str| {
        report
            .sweeps
            .iter()
            .find(|s| s.policy == policy)
            .and_then(|s| s.metrics.map(|m| m.apgr))
    };
    let apgr = match &chosen {
        Some(w) => {
            let policy = w.config.split_once('@').map_or(w.config.as_str(), |p| p.0);
            sweep_apgr(policy).map(|a| (policy.to_string(), a))
        }
        None => report
            .sweeps
            .iter()
            .filter(|s| gated_letter(&s.policy))
            .filter_map(|s| s.metrics.map(|m| (s.policy.clone(), m.apgr)))
            .max_by(|x, y| x.1.total_cmp(&y.1)),
    };
    out.push(Target {
        target: "APGR ≥ 0.6 over that policy's threshold sweep".into(),
        measured: apgr.as_ref().map_or_else(na, |(p, a)| {
            format!(
                "{p}: {a:.3}{}",
                if chosen.is_none() {
                    " (best sweep; no winner)"
                } else {
                    ""
                }
            )
        }),
        met: apgr.map(|(_, a)| a >= 0.6),
    });
    let call = run.recorded.value().map(|d| d.accuracy);
    out.push(Target {
        target: "Call-level accuracy reported beside kind accuracy (tool-call examples)".into(),
        measured: call.map_or_else(na, |[a, b]| {
            let f = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{v:.3}"));
            format!(
                "A call {} / kind {}; B call {} / kind {} ({} examples)",
                f(a.call_accuracy),
                f(a.kind_accuracy),
                f(b.call_accuracy),
                f(b.kind_accuracy),
                a.call_examples
            )
        }),
        met: call.map(|_| true),
    });
    out
}

/// The targets as a markdown table.
pub fn targets_markdown(targets: &[Target]) -> String {
    let mut out = String::from("| Target | Measured | Met |\n|--------|----------|-----|\n");
    for t in targets {
        let met = match t.met {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "n/a",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {met} |",
            t.target,
            t.measured.replace('|', "\\|")
        );
    }
    out
}

/// How the statistics and the sweep metrics are computed, in words (what `stats.rs`,
/// `sweep.rs` and the verdict do).
pub fn methods_text(options: &ReportOptions) -> String {
    let b = &options.bootstrap;
    format!(
        "**Bootstrap.** {resamples} resamples of the eval examples, drawn with replacement at the \
same size n (indices uniform in 0..n from a ChaCha8 generator seeded with {seed}, `rand_chacha` \
`seed_from_u64`). The resamples are shared: every configuration is evaluated on the same \
resampled examples, so intervals and paired differences come from the same draws (paired \
bootstrap), and a run is reproducible from its seed. Intervals are {conf:.0}% percentile \
intervals (the {lo:.1}% and {hi:.1}% quantiles of the resampled statistic, linearly interpolated \
between order statistics as numpy's default): accuracy and mean nominal cost per configuration, \
and accuracy(a) − accuracy(b) per pair.\n\n\
**Paired tests.** Exact McNemar on the discordant examples: two-sided p = min(1, 2·P(X ≤ \
min(b, c))), X ~ Binomial(b + c, ½). A pair is significant when p < α = {alpha} and the paired \
bootstrap interval of the difference excludes 0.\n\n\
**Verdict.** Every gated policy (a configuration with an accept rate, other than cheap-only) \
against cheap-only forms one family, corrected by Holm's step-down procedure; printed p-values \
are Holm-adjusted, p̃₍ᵢ₎ = max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎). A policy beats \
cheap-only when p̃ ≤ α, the bootstrap interval excludes 0, and the difference is positive. \
Policy H is not in the family: it commits the strong action on every example, so it is lossless \
by construction (its accuracy is strong-only's) and a test against cheap-only would test A \
against B, not a gate.\n\n\
**Sweep metrics (RouteLLM).** Configurations named `policy@threshold` form one sweep per \
`policy` (the text before `@`). End points: the results file's cheap-only (cost share 0, PGR 0) \
and strong-only (cost share 1, PGR 1) configurations, always added as vertices; without them, or \
when strong-only is not both costlier and more accurate, a sweep gets no metrics. Cost share = \
(cost − cost_cheap) / (cost_strong − cost_cheap); PGR = (acc − acc_cheap) / (acc_strong − \
acc_cheap); neither is clipped per point (PGR may exceed 1 or fall below 0, a cost share may lie \
outside [0, 1]). The curve joins the vertices sorted by cost share, ties broken by PGR \
ascending (equal cost shares make a vertical step), linearly interpolated. APGR is the trapezoid \
area under PGR over cost share clipped to [0, 1] (segments outside are cut at the boundary); \
AUC = acc_cheap + APGR·(acc_strong − acc_cheap). CPT(x%) is the first cost share, walking from \
cheap to strong, at which the curve reaches PGR x (interpolated inside the crossing segment, \
clamped to [0, 1]; 1 if never).\n",
        resamples = b.resamples,
        seed = b.seed,
        conf = b.confidence * 100.0,
        lo = (1.0 - b.confidence) / 2.0 * 100.0,
        hi = (1.0 + b.confidence) / 2.0 * 100.0,
        alpha = options.alpha,
    )
}

/// Kind- and call-level accuracy of one configuration, from its per-example records.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyLevels {
    /// The configuration's name.
    pub config: String,
    /// Why it is listed: `strong-only`, `cheap-only`, `classifier`, or `best of <family>`.
    pub role: String,
    /// Mean nominal cost per decision.
    pub mean_cost: f64,
    /// Examples with a record.
    pub examples: usize,
    /// The predicted kind matches gold.
    pub kind_accuracy: f64,
    /// Kind, function name and arguments match gold (`Action::matches_call`).
    pub call_accuracy: f64,
    /// Examples whose gold action is a named call (tool call, file read, …).
    pub call_examples: usize,
    /// Call-level accuracy on those (`None` without any).
    pub call_accuracy_on_calls: Option<f64>,
}

impl AccuracyLevels {
    /// `None` without records.
    fn of(c: &ConfigResult, role: String) -> Option<Self> {
        if c.records.is_empty() {
            return None;
        }
        let n = c.records.len();
        let kind = |r: &spec_actions_core::ExampleRecord| {
            r.predicted
                .as_ref()
                .is_some_and(|p| p.score_against(&r.gold).kind_correct)
        };
        let call = |r: &spec_actions_core::ExampleRecord| {
            r.predicted
                .as_ref()
                .is_some_and(|p| p.score_against(&r.gold).call_correct)
        };
        let calls: Vec<_> = c.records.iter().filter(|r| r.gold.name.is_some()).collect();
        Some(AccuracyLevels {
            config: c.name.clone(),
            role,
            mean_cost: c.mean_cost,
            examples: n,
            kind_accuracy: c.records.iter().filter(|r| kind(r)).count() as f64 / n as f64,
            call_accuracy: c.records.iter().filter(|r| call(r)).count() as f64 / n as f64,
            call_examples: calls.len(),
            call_accuracy_on_calls: (!calls.is_empty())
                .then(|| calls.iter().filter(|r| call(r)).count() as f64 / calls.len() as f64),
        })
    }
}

/// The named configurations of `results` at both levels: strong-only (A), cheap-only (B), the
/// classifier alone (K) when present, then the best configuration (highest kind accuracy, the
/// cheaper on ties) of every other policy family ([`family_of`]), in order of first
/// appearance. Configurations without per-example records are left out.
pub fn accuracy_levels(results: &ResultsFile) -> Vec<AccuracyLevels> {
    let mut out: Vec<AccuracyLevels> = Vec::new();
    let named = [
        (results.strong_only_config.clone(), "strong-only"),
        (results.cheap_only_config.clone(), "cheap-only"),
        (Some("K".to_string()), "classifier"),
    ];
    for (name, role) in named {
        if let Some(c) = name.and_then(|n| results.configs.iter().find(|c| c.name == n))
            && let Some(levels) = AccuracyLevels::of(c, role.into())
        {
            out.push(levels);
        }
    }
    let mut families: Vec<&str> = Vec::new();
    for c in &results.configs {
        let f = family_of(&c.name);
        if !families.contains(&f) {
            families.push(f);
        }
    }
    for family in families {
        let best = results
            .configs
            .iter()
            .filter(|c| family_of(&c.name) == family && !c.records.is_empty())
            .filter(|c| !out.iter().any(|l| l.config == c.name))
            .max_by(|a, b| {
                a.accuracy
                    .total_cmp(&b.accuracy)
                    .then(b.mean_cost.total_cmp(&a.mean_cost))
            });
        // a family whose only member is already listed (A, B, K) adds nothing
        if let Some(levels) = best.and_then(|c| AccuracyLevels::of(c, format!("best of {family}"))) {
            out.push(levels);
        }
    }
    out
}

/// Every configuration of `results` with per-example records at both levels, in the results
/// file's order, listed by its policy family ([`family_of`]).
pub fn accuracy_levels_of_every_config(results: &ResultsFile) -> Vec<AccuracyLevels> {
    results
        .configs
        .iter()
        .filter_map(|c| AccuracyLevels::of(c, family_of(&c.name).to_string()))
        .collect()
}

/// [`accuracy_levels`] as a markdown table.
pub fn accuracy_levels_markdown(levels: &[AccuracyLevels]) -> String {
    let mut md = String::from(
        "| config | listed as | mean cost | kind acc. | call acc. | named-call examples | call acc. on them |
|---|---|---|---|---|---|---|
",
    );
    for l in levels {
        let _ = writeln!(
            md,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {} | {} |",
            l.config,
            l.role,
            l.mean_cost,
            l.kind_accuracy,
            l.call_accuracy,
            l.call_examples,
            opt(l.call_accuracy_on_calls)
        );
    }
    md
}

fn opt(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// The per-run section (learning curves, verifier, confusion matrices, call-level accuracy);
/// writes the figures into `out`.
fn run_section(run: &RunFiles, out: &Path, md: &mut String) -> Result<(), FrontierError> {
    let _ = writeln!(md, "## Models\n\n### Learning curves\n");
    for (role, curve) in run.curves.iter() {
        match curve.value() {
            Some(c) => {
                let file = format!("learning-{role}.svg");
                atomic_write_bytes(&out.join(&file), figures::learning_curve_svg(c)?.as_bytes())?;
                let _ = writeln!(md, "- **{role}**: {} — ![{role}]({file})", c.summary());
            }
            None => {
                let _ = writeln!(md, "- **{role}**: {}", curve.note().unwrap_or_default());
            }
        }
    }
    let _ = writeln!(md);
    let Some(d) = run.recorded.value() else {
        let _ = writeln!(
            md,
            "### Verifier, confusion matrices\n\n{}\n",
            run.recorded.note().unwrap_or_default()
        );
        return Ok(());
    };
    let v = &d.verifier;
    let title = format!(
        "Verifier reliability (eval, {} proposals; ROC-AUC {})",
        v.scored,
        opt(v.auc_kind)
    );
    atomic_write_bytes(
        &out.join("verifier-reliability.svg"),
        figures::reliability_svg(&v.reliability, &title)?.as_bytes(),
    )?;
    let _ = writeln!(
        md,
        "### Verifier\n\nP(ACCEPT) of the cheap greedy proposal against its correctness, on {} eval examples \
({} scored; {} without a parsed proposal or a matching judgement).\n\n\
- ROC-AUC (correct = kind match with gold): **{}**\n\
- ROC-AUC (correct = call-level match, `Action::matches_call`): {}\n\
- Expected calibration error (10 bins): {}\n\n\
![reliability](verifier-reliability.svg)\n\n\
| P(ACCEPT) bin | n | mean P(ACCEPT) | observed correct |\n|---|---|---|---|",
        d.examples,
        v.scored,
        v.unscored,
        opt(v.auc_kind),
        opt(v.auc_call),
        opt(v.reliability.ece)
    );
    for b in &v.reliability.bins {
        let _ = writeln!(
            md,
            "| [{:.1}, {:.1}{} | {} | {} | {} |",
            b.lo,
            b.hi,
            if b.hi >= 1.0 { "]" } else { ")" },
            b.count,
            opt(b.mean_predicted),
            opt(b.observed)
        );
    }
    let _ = writeln!(
        md,
        "\n### Confusion matrices (gold kind × predicted kind, eval)\n"
    );
    let names = ["A (strong-only)", "B (cheap-only)"];
    for (c, name) in d.confusion.iter().zip(names) {
        let file = format!("confusion-{}.svg", c.config);
        atomic_write_bytes(&out.join(&file), figures::confusion_svg(c, name)?.as_bytes())?;
        let _ = writeln!(md, "![{name}]({file})\n");
    }
    let _ = writeln!(
        md,
        "| gold kind | n | recall A | recall B | unparsed A | unparsed B |\n|---|---|---|---|---|---|"
    );
    for (k, kind) in ActionKind::ALL.iter().enumerate() {
        let [a, b] = &d.confusion;
        let _ = writeln!(
            md,
            "| {kind} | {} | {} | {} | {} | {} |",
            a.support(k),
            opt(a.recall(k)),
            opt(b.recall(k)),
            a.unparsed[k],
            b.unparsed[k]
        );
    }
    let _ = writeln!(
        md,
        "\n### Call-level accuracy\n\nKind: the action kind matches gold. Call: kind, function name and arguments match \
(`Action::matches_call`: BFCL's AST check against every value BFCL accepts where the gold is a BFCL \
single-turn call, JSON equality with key order ignored otherwise).\n\n\
| config | tool-call examples | kind acc. | call acc. | all examples | kind acc. (all) | call acc. (all) |\n\
|---|---|---|---|---|---|---|"
    );
    for (acc, name) in d.accuracy.iter().zip(names) {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            acc.call_examples,
            opt(acc.kind_accuracy),
            opt(acc.call_accuracy),
            acc.examples,
            opt(acc.kind_accuracy_all),
            opt(acc.call_accuracy_all)
        );
    }
    let _ = writeln!(md);
    Ok(())
}

/// Analyse `results` and write the report into `out` (created if absent): `report.md`,
/// `frontier.svg`, `frontier.json`, and with [`DocumentOptions::run`] the per-run figures.
/// Returns the markdown.
pub fn write_report(
    results: &ResultsFile,
    out: &Path,
    options: &DocumentOptions,
) -> Result<String, FrontierError> {
    std::fs::create_dir_all(out).map_err(|e| spec_actions_core::io::FileError::new("create", out, e))?;
    let report = FrontierReport::analyze(results, options.report)?;
    let verdict = Verdict::of(results, &report);
    let run = options.run.as_deref().map(RunFiles::read);
    let mut md = String::new();
    let title = if report.title.is_empty() {
        "spec-actions results"
    } else {
        &report.title
    };
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(md, "**Verdict:** {}\n", verdict.sentence());
    if let Some(run) = &run {
        let _ = writeln!(
            md,
            "## Targets\n\n{}",
            targets_markdown(&targets(results, &report, &verdict, run))
        );
    }
    let _ = writeln!(
        md,
        "## Results\n\n{}\n{}\n",
        report.markdown_table(),
        report.baselines_line()
    );
    let _ = writeln!(
        md,
        "## Cost-Quality Frontier\n\n![frontier](frontier.svg)\n\n```\n{}```\n",
        report.frontier_listing()
    );
    let _ = writeln!(md, "```\n{}```\n", chart::text_chart(&report.frontier, 64, 16));
    let levels = accuracy_levels(results);
    if !levels.is_empty() {
        let _ = writeln!(
            md,
            "## Kind- and call-level accuracy

Kind: the predicted action kind matches gold. Call: kind, function name and arguments match (`Action::matches_call`). The classifier (K) proposes kinds only, so every named call it commits is wrong at the call level: the gap between a configuration's call accuracy and K's is what its language models earn. Listed: strong-only, cheap-only, K, and the best (kind accuracy) of every other family.

{}
<details><summary>Every configuration at both levels</summary>

{}
</details>
",
            accuracy_levels_markdown(&levels),
            accuracy_levels_markdown(&accuracy_levels_of_every_config(results))
        );
    }
    if let Some(stats) = report.statistics_text() {
        let family = verdict.table_text().unwrap_or_default();
        let _ = writeln!(
            md,
            "## Statistics (bootstrap 95% intervals, paired tests)\n\n```\n{stats}{family}```\n"
        );
    }
    if let Some(sweeps) = report.sweeps_text() {
        let _ = writeln!(md, "## Threshold sweeps (RouteLLM metrics)\n\n```\n{sweeps}```\n");
    }
    if let Some(run) = &run {
        run_section(run, out, &mut md)?;
    }
    let _ = writeln!(md, "## Methods\n\n{}", methods_text(&options.report));
    if options.with_study {
        let v2 = FrontierReport::analyze(&study_v2(), options.report)?;
        let _ = writeln!(
            md,
            "## Side by side: the study's v2 results\n\n{}\n{}\n",
            v2.markdown_table(),
            v2.baselines_line()
        );
        let _ = writeln!(md, "```\n{}```\n", v2.frontier_listing());
    }
    plot::write_svg(&report, &out.join("frontier.svg"))?;
    report.write_json(&out.join("frontier.json"))?;
    atomic_write_bytes(&out.join("report.md"), md.as_bytes())?;
    Ok(md)
}
