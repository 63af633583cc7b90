//! `frontier.svg` is readable: no two text boxes overlap and every one lies inside the canvas,
//! on results files with many configurations (a pipeline-shaped synthetic file, and the
//! results of a real smoke run). Text boxes are estimated independently of the plot code:
//! width = characters × 0.6 × font-size, height = font-size, placed by the SVG's `x`, `y`,
//! `text-anchor` and `dy`.

use spec_actions_core::{
    Action, ActionKind, ConfigResult, CostLedger, CostModel, ExampleRecord, ModelRole, ResultsFile,
};
use spec_actions_frontier::{FrontierReport, ReportOptions, plot};

#[derive(Debug, Clone)]
struct TextBox {
    text: String,
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Every `<text>` element's estimated box.
fn text_boxes(svg: &str) -> Vec<TextBox> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        let tag_end = start + rest[start..].find('>').expect("unclosed <text");
        let tag = &rest[start..tag_end];
        let close = tag_end + rest[tag_end..].find("</text>").expect("no </text>");
        let text = unescape(rest[tag_end + 1..close].trim());
        rest = &rest[close..];
        assert!(attribute(tag, "transform").is_none(), "rotated text: {tag}");
        let num = |name: &str| -> f64 {
            attribute(tag, name)
                .unwrap_or_else(|| panic!("{name} missing in {tag}"))
                .parse()
                .unwrap()
        };
        let (x, y, size) = (num("x"), num("y"), num("font-size"));
        let width = text.chars().count() as f64 * 0.6 * size;
        let left = match attribute(tag, "text-anchor").as_deref() {
            Some("middle") => x - width / 2.0,
            Some("end") => x - width,
            _ => x,
        };
        // plotters: dy 0.76em → y is the top; 0.5ex → the middle; -0.5ex → the bottom.
        let top = match attribute(tag, "dy").as_deref() {
            Some("0.76em") => y,
            Some("0.5ex") => y - size / 2.0,
            Some("-0.5ex") => y - size,
            _ => y - 0.8 * size,
        };
        out.push(TextBox {
            text,
            left,
            top,
            right: left + width,
            bottom: top + size,
        });
    }
    out
}

fn canvas(svg: &str) -> (f64, f64) {
    let tag = &svg[..svg.find('>').unwrap()];
    (
        attribute(tag, "width").unwrap().parse().unwrap(),
        attribute(tag, "height").unwrap().parse().unwrap(),
    )
}

fn assert_readable(svg: &str) -> Vec<TextBox> {
    let (w, h) = canvas(svg);
    let boxes = text_boxes(svg);
    assert!(!boxes.is_empty());
    for b in &boxes {
        assert!(
            b.left >= 0.0 && b.top >= 0.0 && b.right <= w && b.bottom <= h,
            "{b:?} runs off the {w}×{h} canvas"
        );
    }
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
            assert!(!overlap, "{a:?} overlaps {b:?}");
        }
    }
    boxes
}

/// A pipeline-shaped results file: A, B, B[1pass], H, and sweeps of C, C[1pass], D, E[n3], F and
/// F-margin over many thresholds, all close together in cost and accuracy, with records.
fn pipeline_like(n: usize) -> ResultsFile {
    let model = CostModel::default();
    let mut file = ResultsFile::new(
        "spec-actions v3, a long title that goes on and on to test that the caption is cut to the canvas width before it runs off the right edge",
        1.0 / 9.0,
    );
    file.majority_baseline = Some(0.14);
    file.majority_kind = Some(ActionKind::FinalAnswer);
    file.cheap_only_config = Some("B".into());
    file.strong_only_config = Some("A".into());
    let mut push = |name: String, skill: f64, fallback: f64, gated: bool| {
        let records: Vec<ExampleRecord> = (0..n)
            .map(|i| {
                let mut ledger = CostLedger::new();
                ledger.record(model.call(ModelRole::Cheap, 200, 3));
                let fell_back = ((i * 7919) % 1000) as f64 / 1000.0 < fallback;
                if gated {
                    ledger.record(model.call(ModelRole::Verifier, 200, 1));
                }
                if fell_back {
                    ledger.record(model.call(ModelRole::Strong, 200, 3));
                }
                let correct = ((i * 104_729 + name.len() * 31) % 1000) as f64 / 1000.0 < skill;
                ExampleRecord {
                    example_id: format!("ex{i}"),
                    gold: Action::kind(ActionKind::Repair),
                    predicted: Some(Action::kind(if correct {
                        ActionKind::Repair
                    } else {
                        ActionKind::Blocked
                    })),
                    raw_output: None,
                    correct,
                    accepted: gated.then_some(!fell_back),
                    ledger,
                }
            })
            .collect();
        let accuracy = records.iter().filter(|r| r.correct).count() as f64 / n as f64;
        let mean_cost = records.iter().map(|r| r.ledger.nominal()).sum::<f64>() / n as f64;
        file.configs.push(ConfigResult {
            name: name.clone(),
            description: format!("{name} synthetic"),
            accuracy,
            mean_cost,
            accept_rate: gated.then_some(1.0 - fallback),
            fallback_rate: gated.then_some(fallback),
            records,
        });
    };
    push("A".into(), 0.62, 1.0, false);
    push("B".into(), 0.50, 0.0, false);
    push("B[1pass]".into(), 0.49, 0.0, false);
    push("H".into(), 0.62, 1.0, true);
    for family in ["C", "C[1pass]", "D", "E[n3]", "F", "F-margin[g2]"] {
        for (k, t) in [0.1, 0.3, 0.5, 0.7, 0.9].iter().enumerate() {
            push(format!("{family}@{t:.4}"), 0.5 + 0.025 * k as f64, *t, true);
        }
    }
    file
}

#[test]
fn frontier_svg_text_boxes_do_not_overlap_on_a_crowded_file() {
    let file = pipeline_like(200);
    assert!(file.configs.len() >= 30);
    let report = FrontierReport::analyze(&file, ReportOptions::default()).unwrap();
    let svg = plot::svg(&report).unwrap();
    let boxes = assert_readable(&svg);
    // The frontier points and both named baselines are labelled; the legend names families.
    for p in report.frontier.frontier() {
        let label = format!("{} ({:.3}, {:.3})", p.point.name, p.point.cost, p.point.accuracy);
        assert!(
            boxes.iter().any(|b| b.text.starts_with(&label)),
            "frontier point {label} has no label"
        );
    }
    assert!(
        boxes
            .iter()
            .any(|b| b.text.ends_with("cheap-only") && b.text.starts_with("B ("))
    );
    assert!(boxes.iter().any(|b| b.text.starts_with("A (")));
    assert!(boxes.iter().any(|b| b.text.starts_with("random 0.111")));
    assert!(boxes.iter().any(|b| b.text.starts_with("F-margin: ")));
    // Dominated, unnamed points carry no drawn label, only a hover title.
    let dominated = report
        .frontier
        .placements
        .iter()
        .find(|p| !p.status.is_frontier() && p.point.name.starts_with('D'))
        .expect("a dominated D point");
    assert!(
        !boxes
            .iter()
            .any(|b| b.text.starts_with(&format!("{} (", dominated.point.name)))
    );
    assert!(svg.contains(&format!("<title>{} (", dominated.point.name)));
    // Whiskers on both axes: the legend says so.
    assert!(svg.contains("whiskers: 95% bootstrap intervals"));
}

/// The eval results of a smoke run of the pipeline (`cargo xtask all --preset smoke --run
/// /tmp/report-smoke`, 14 configurations × 30 examples), with the records' `raw_output` dropped
/// to keep the file small. Copied from `/tmp/report-smoke/eval/results.json` (see
/// tests/data/README.md).
#[test]
fn frontier_svg_is_readable_on_a_real_smoke_run() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/smoke-results.json");
    let file = ResultsFile::read(std::path::Path::new(path)).unwrap();
    assert!(file.configs.len() >= 10, "{}", file.configs.len());
    let report = FrontierReport::analyze(&file, ReportOptions::default()).unwrap();
    assert_readable(&plot::svg(&report).unwrap());
}
