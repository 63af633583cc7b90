//! An SVG plot of accuracy against cost (plotters): every point labelled, the frontier drawn
//! through its points, dominated points hollow, baselines as horizontal lines.

use std::path::Path;

use plotters::prelude::*;
use spec_actions_core::io;

use crate::error::FrontierError;
use crate::report::FrontierReport;

/// Size of the plot in pixels.
pub const PLOT_SIZE: (u32, u32) = (900, 560);

/// The plot as an SVG document.
pub fn svg(report: &FrontierReport) -> Result<String, FrontierError> {
    let mut buffer = String::new();
    draw(report, &mut buffer).map_err(|e| FrontierError::Plot(e.to_string()))?;
    Ok(buffer)
}

/// Write [`svg`] to `path`, atomically.
pub fn write_svg(report: &FrontierReport, path: &Path) -> Result<(), FrontierError> {
    io::atomic_write_bytes(path, svg(report)?.as_bytes())?;
    Ok(())
}

fn draw(report: &FrontierReport, buffer: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let points = &report.frontier.placements;
    let baselines: Vec<(&str, f64)> = [
        ("random", Some(report.random_baseline)),
        ("majority", report.majority_baseline),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|v| (name, v)))
    .collect();

    // 1. Axis ranges: every point and baseline, with a margin; cost from 0.
    let max_cost = points.iter().map(|p| p.point.cost).fold(0.0, f64::max);
    let x_max = if max_cost > 0.0 { max_cost * 1.15 } else { 1.0 };
    let x_min = points.iter().map(|p| p.point.cost).fold(0.0, f64::min);
    let accuracies = points
        .iter()
        .map(|p| p.point.accuracy)
        .chain(baselines.iter().map(|b| b.1));
    let (y_lo, y_hi) = accuracies.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), a| {
        (lo.min(a), hi.max(a))
    });
    let y_pad = ((y_hi - y_lo) * 0.1).max(0.02);
    let (y_min, y_max) = ((y_lo - y_pad).max(0.0), (y_hi + y_pad).min(1.0).max(y_lo + y_pad));

    // 2. Canvas, caption, mesh.
    let root = SVGBackend::with_string(buffer, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = if report.title.is_empty() {
        "Cost / accuracy frontier".to_string()
    } else {
        report.title.clone()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc("mean cost per decision (nominal units)")
        .y_desc("accuracy")
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(220, 220, 220))
        .draw()?;

    // 3. Baselines, dashed.
    let baseline_colors = [RGBColor(120, 120, 120), RGBColor(200, 120, 0)];
    for ((name, value), color) in baselines.iter().zip(baseline_colors) {
        let style = ShapeStyle::from(&color).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                [(x_min, *value), (x_max, *value)],
                6,
                4,
                style,
            ))?
            .label(format!("{name} baseline {value:.3}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    }

    // 4. The frontier through its points, cheapest first.
    let frontier: Vec<(f64, f64)> = report
        .frontier
        .frontier()
        .map(|p| (p.point.cost, p.point.accuracy))
        .collect();
    let red = ShapeStyle::from(&RED).stroke_width(2);
    chart
        .draw_series(LineSeries::new(frontier.iter().copied(), red))?
        .label("Pareto frontier")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], red));

    // 5. Points (frontier filled, dominated hollow), each labelled where its label overlaps no
    //    earlier one.
    let mut taken: Vec<LabelBox> = Vec::new();
    for p in points {
        let at = (p.point.cost, p.point.accuracy);
        let (color, filled) = if p.status.is_frontier() {
            (RED, true)
        } else {
            (BLUE, false)
        };
        let style = if filled {
            color.filled()
        } else {
            color.stroke_width(2)
        };
        let label = format!("{} ({:.3}, {:.3})", p.point.name, p.point.cost, p.point.accuracy);
        let pixel = chart.backend_coord(&at);
        let offset = label_offset(pixel, &label, &mut taken);
        chart.draw_series(std::iter::once(
            EmptyElement::at(at)
                + Circle::new((0, 0), 6, style)
                + Text::new(label, offset, ("sans-serif", LABEL_FONT_PX).into_font()),
        ))?;
    }

    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

const LABEL_FONT_PX: u32 = 14;
/// Rough width of one label character at [`LABEL_FONT_PX`] (sans-serif digits and capitals).
const LABEL_CHAR_PX: i32 = 8;

/// A label's pixel rectangle: left, top, right, bottom.
type LabelBox = (i32, i32, i32, i32);

/// The first candidate offset (right-above, right-below, left-above, left-below, further
/// above, further below) at which `label` overlaps no box in `taken`; records the chosen box.
fn label_offset(pixel: (i32, i32), label: &str, taken: &mut Vec<LabelBox>) -> (i32, i32) {
    let width = LABEL_CHAR_PX * label.chars().count() as i32;
    let height = LABEL_FONT_PX as i32 + 2;
    let candidates = [
        (9, -20),
        (9, 6),
        (-9 - width, -20),
        (-9 - width, 6),
        (9, -38),
        (9, 24),
    ];
    let boxed = |(dx, dy): (i32, i32)| {
        (
            pixel.0 + dx,
            pixel.1 + dy,
            pixel.0 + dx + width,
            pixel.1 + dy + height,
        )
    };
    let overlaps = |a: LabelBox, b: LabelBox| a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3;
    let chosen = candidates
        .into_iter()
        .find(|&offset| taken.iter().all(|&t| !overlaps(boxed(offset), t)))
        .unwrap_or(candidates[0]);
    taken.push(boxed(chosen));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_labels_do_not_overlap() {
        let mut taken = Vec::new();
        let first = label_offset((100, 100), "B (0.150, 0.510)", &mut taken);
        let second = label_offset((130, 100), "D (0.250, 0.510)", &mut taken);
        assert_eq!(first, (9, -20));
        assert_ne!(second, (9, -20));
        let (a, b) = (taken[0], taken[1]);
        assert!(!(a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3), "{a:?} {b:?}");
    }
}
