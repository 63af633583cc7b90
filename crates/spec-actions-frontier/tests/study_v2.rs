//! The study's v2 report, reproduced exactly. The expected text is copied verbatim from the
//! study's `ABLATION_REPORT_v2.md` ("Full Results" and "Cost-Quality Frontier").

use spec_actions_core::ResultsFile;
use spec_actions_frontier::reference::study_v2;
use spec_actions_frontier::{DominanceReason, FrontierReport, ReportOptions, Status};

const STUDY_TABLE: &str = "\
| Config | Accuracy | Cost | xRand | xMaj | Notes |
|--------|----------|------|-------|------|-------|
| A | 0.400 | 1.000 | 3.6× | 1.7× | 8B strong (frozen, zero-shot) |
| B | **0.510** | **0.150** | **4.6×** | **2.1×** | 1.7B cheap (LoRA fine-tuned) |
| C | 0.400 | 1.250 | 3.6× | 1.7× | cheap + 8B verifier → 0% accept |
| D | 0.510 | 0.250 | 4.6× | 2.1× | cheap + 4B RM → 21.5% accept |
| E | 0.420 | 0.750 | 3.8× | 1.8× | multi-proposal (n=3) + RM |
";

const STUDY_BASELINES: &str = "Random baseline: 11.1% | Majority baseline (final_answer): 24.0%";

const STUDY_FRONTIER: &str = "\
Config B: cost=0.150 acc=0.510 ★ PARETO OPTIMAL
Config D: cost=0.250 acc=0.510 (dominated by B — same acc, higher cost)
Config E: cost=0.750 acc=0.420 (dominated by B on both axes)
Config A: cost=1.000 acc=0.400 (dominated by B on both axes)
Config C: cost=1.250 acc=0.400 (dominated by B on both axes)
";

fn report() -> FrontierReport {
    FrontierReport::analyze(&study_v2(), ReportOptions::default()).unwrap()
}

#[test]
fn table_matches_the_study() {
    let report = report();
    assert_eq!(report.markdown_table(), STUDY_TABLE);
    assert_eq!(report.baselines_line(), STUDY_BASELINES);
}

#[test]
fn frontier_and_every_dominance_reason_match_the_study() {
    let report = report();
    assert_eq!(report.frontier_listing(), STUDY_FRONTIER);
    let frontier: Vec<&str> = report
        .frontier
        .frontier()
        .map(|p| p.point.name.as_str())
        .collect();
    assert_eq!(frontier, ["B"]);
    let reason = |name: &str| match &report.frontier.get(name).unwrap().status {
        Status::Dominated { by, reason } => (by.clone(), *reason),
        Status::Frontier => panic!("{name} is on the frontier"),
    };
    assert_eq!(
        reason("D"),
        ("B".to_string(), DominanceReason::SameAccuracyHigherCost)
    );
    for name in ["A", "C", "E"] {
        assert_eq!(
            reason(name),
            ("B".to_string(), DominanceReason::BothAxes),
            "{name}"
        );
    }
}

#[test]
fn ratios_to_one_decimal() {
    let report = report();
    let ratios: Vec<(String, String, String)> = report
        .configs
        .iter()
        .map(|r| {
            let one = spec_actions_frontier::report::one_decimal;
            (r.name.clone(), one(r.x_random), one(r.x_majority.unwrap()))
        })
        .collect();
    let expected = [
        ("A", "3.6", "1.7"),
        ("B", "4.6", "2.1"),
        ("C", "3.6", "1.7"),
        ("D", "4.6", "2.1"),
        ("E", "3.8", "1.8"),
    ];
    for ((name, x_rand, x_maj), (en, er, em)) in ratios.iter().zip(expected) {
        assert_eq!((name.as_str(), x_rand.as_str(), x_maj.as_str()), (en, er, em));
    }
}

#[test]
fn summaries_have_no_statistics_and_json_round_trips() {
    let report = report();
    assert!(report.statistics.is_none());
    assert!(report.statistics_text().is_none());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["frontier"]["placements"][0]["name"], "B");
    assert_eq!(json["frontier"]["placements"][0]["status"], "frontier");
    assert_eq!(json["configs"][3]["status"], "dominated");
    assert_eq!(json["configs"][3]["by"], "B");
    assert_eq!(json["configs"][3]["reason"], "same_accuracy_higher_cost");

    // Through a results file on disk: the same report.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("study.json");
    study_v2().write(&path).unwrap();
    let again =
        FrontierReport::analyze(&ResultsFile::read(&path).unwrap(), ReportOptions::default()).unwrap();
    assert_eq!(again, report);
}

#[test]
fn svg_has_every_point_labelled_and_the_frontier() {
    let report = report();
    let svg = spec_actions_frontier::plot::svg(&report).unwrap();
    for label in [
        "A (1.000, 0.400)",
        "B (0.150, 0.510)",
        "C (1.250, 0.400)",
        "D (0.250, 0.510)",
        "E (0.750, 0.420)",
    ] {
        assert!(svg.contains(label), "missing {label}");
    }
    assert!(svg.contains("Pareto frontier"));
    assert!(svg.contains("majority baseline 0.240"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/frontier.svg");
    spec_actions_frontier::plot::write_svg(&report, &path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), svg);
}
