//! An SVG plot of accuracy against cost (plotters).
//!
//! - Every configuration is drawn by its policy family ([`family_of`]: the name before `[` or
//!   `@`), one colour and marker per family; frontier points filled, dominated ones hollow;
//!   the Pareto frontier drawn through its points; random / majority baselines dashed.
//! - With per-example records, bootstrap whiskers on both axes (the accuracy and the mean-cost
//!   percentile intervals).
//! - Only the frontier points and the named baselines (cheap-only, strong-only, the random and
//!   majority lines) are labelled, by greedy placement: candidate positions around the point at
//!   growing distances, the first that lies inside the plot area and overlaps no label already
//!   placed (and, if possible, no marker) wins; a far position gets a leader line. A label
//!   that finds no room is left out (the point keeps its hover title).
//! - The legend sits to the right of the plot area, never over a point.
//! - Every point carries an SVG `<title>` (`B (0.150, 0.510)`): hovering shows its name and
//!   coordinates in a browser.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use spec_actions_core::io;

use crate::error::FrontierError;
use crate::report::FrontierReport;
use crate::verdict::family_of;

/// Size of the whole picture in pixels (plot area and legend).
pub const PLOT_SIZE: (u32, u32) = (1100, 620);
/// Width of the legend column, right of the plot area.
const LEGEND_WIDTH: u32 = 290;
/// Label font (plotters size; the SVG font-size is this / 1.24).
const LABEL_FONT: u32 = 14;
/// Estimated width of one character, in ems of the SVG font size (sans-serif digits and
/// capitals are about 0.55–0.67 em; brackets and dots less).
const CHAR_EM: f64 = 0.62;

/// The plot as an SVG document.
pub fn svg(report: &FrontierReport) -> Result<String, FrontierError> {
    let mut buffer = String::new();
    let titles = draw(report, &mut buffer).map_err(|e| FrontierError::Plot(e.to_string()))?;
    // Hover titles, one transparent disc per point, appended last so that they sit on top.
    let mut hover = String::new();
    for (x, y, title) in titles {
        hover.push_str(&format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"7\" fill=\"#ffffff\" fill-opacity=\"0\" stroke=\"none\"><title>{}</title></circle>\n",
            xml_escape(&title)
        ));
    }
    match buffer.rfind("</svg>") {
        Some(end) => buffer.insert_str(end, &hover),
        None => return Err(FrontierError::Plot("plotters wrote no closing </svg>".into())),
    }
    Ok(buffer)
}

/// Write [`svg`] to `path`, atomically.
pub fn write_svg(report: &FrontierReport, path: &Path) -> Result<(), FrontierError> {
    io::atomic_write_bytes(path, svg(report)?.as_bytes())?;
    Ok(())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A pixel rectangle: left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelBox {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

impl LabelBox {
    fn overlaps(&self, other: &LabelBox) -> bool {
        self.left < other.right
            && other.left < self.right
            && self.top < other.bottom
            && other.top < self.bottom
    }

    fn inside(&self, area: &LabelBox) -> bool {
        self.left >= area.left
            && self.right <= area.right
            && self.top >= area.top
            && self.bottom <= area.bottom
    }
}

/// Estimated pixel size of `text` drawn at plotters font size `font`.
fn text_size(text: &str, font: u32) -> (i32, i32) {
    let px = f64::from(font) / 1.24;
    (
        (text.chars().count() as f64 * px * CHAR_EM).ceil() as i32 + 2,
        (px * 1.2).ceil() as i32,
    )
}

/// Where to put a label of `size` for the point at `pixel`: the first candidate around the
/// point (8 directions, growing distances) inside `area` that overlaps no box of `placed`
/// and, on a first pass, none of `obstacles` (markers); then the free position of a 6-pixel
/// grid over `area` nearest the point. Returns the box and whether it is far from the point
/// (it then wants a leader line); `None` when nothing fits.
pub fn place_label(
    pixel: (i32, i32),
    size: (i32, i32),
    area: &LabelBox,
    placed: &[LabelBox],
    obstacles: &[LabelBox],
) -> Option<(LabelBox, bool)> {
    let (x, y) = pixel;
    let (w, h) = size;
    let at = |left: i32, top: i32| LabelBox {
        left,
        top,
        right: left + w,
        bottom: top + h,
    };
    let free = |b: &LabelBox, avoid_markers: bool| {
        b.inside(area)
            && placed.iter().all(|p| !p.overlaps(b))
            && (!avoid_markers || obstacles.iter().all(|o| !o.overlaps(b)))
    };
    for avoid_markers in [true, false] {
        for r in [8, 16, 28, 44] {
            let d = (r as f64 * 0.7) as i32;
            let candidates = [
                at(x + d, y - d - h),     // above right
                at(x + d, y + d),         // below right
                at(x - d - w, y - d - h), // above left
                at(x - d - w, y + d),     // below left
                at(x + r, y - h / 2),     // right
                at(x - r - w, y - h / 2), // left
                at(x - w / 2, y - r - h), // above
                at(x - w / 2, y + r),     // below
            ];
            if let Some(b) = candidates.into_iter().find(|b| free(b, avoid_markers)) {
                return Some((b, false));
            }
        }
    }
    // Grid search, nearest first.
    let mut best: Option<(i64, LabelBox)> = None;
    let mut top = area.top;
    while top + h <= area.bottom {
        let mut left = area.left;
        while left + w <= area.right {
            let b = at(left, top);
            let (cx, cy) = (left + w / 2, top + h / 2);
            let d = i64::from(cx - x).pow(2) + i64::from(cy - y).pow(2);
            if best.is_none_or(|(bd, _)| d < bd) && free(&b, true) {
                best = Some((d, b));
            }
            left += 6;
        }
        top += 6;
    }
    best.map(|(_, b)| (b, true))
}

/// One family's look.
#[derive(Clone, Copy)]
struct Look {
    color: RGBColor,
    marker: usize,
}

const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 128, 0),
];

/// What the pipeline's policy letters mean, for the legend.
fn family_meaning(family: &str) -> Option<&'static str> {
    Some(match family {
        "A" => "strong-only",
        "B" => "cheap-only",
        "C" => "verifier gate",
        "D" => "reward-model gate",
        "E" => "rerank by reward model",
        "F" => "confidence gate (top prob.)",
        "F-margin" => "confidence gate (margin)",
        "H" => "speculative, lossless",
        "K" => "bag-of-words classifier only",
        "K→A" => "classifier gate, else strong",
        "K→F" => "classifier, else F (top prob.)",
        "K→F-margin" => "classifier, else F-margin",
        _ => return None,
    })
}

/// A filled polygon, or its closed outline.
fn draw_polygon(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    points: Vec<(i32, i32)>,
    filled: bool,
    style: ShapeStyle,
) -> Result<(), Box<dyn std::error::Error>> {
    if filled {
        area.draw(&Polygon::new(points, style))?;
    } else {
        let mut closed = points.clone();
        closed.push(points[0]);
        area.draw(&PathElement::new(closed, style))?;
    }
    Ok(())
}

fn draw_marker(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    at: (i32, i32),
    look: Look,
    filled: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let (x, y) = at;
    let style = if filled {
        look.color.filled()
    } else {
        look.color.stroke_width(2)
    };
    let r = 5;
    match look.marker % 4 {
        0 => area.draw(&Circle::new(at, r, style))?,
        1 => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], style))?,
        2 => {
            let triangle = vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)];
            draw_polygon(area, triangle, filled, style)?
        }
        _ => {
            let diamond = vec![(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)];
            draw_polygon(area, diamond, filled, style)?
        }
    }
    Ok(())
}

/// A point's pixel and its hover title.
type HoverTitle = (i32, i32, String);

/// Draws the plot; returns each point's pixel and hover title.
fn draw(report: &FrontierReport, buffer: &mut String) -> Result<Vec<HoverTitle>, Box<dyn std::error::Error>> {
    let points = &report.frontier.placements;
    let row = |name: &str| report.configs.iter().find(|c| c.name == name);
    let baselines: Vec<(&str, f64)> = [
        ("random", Some(report.random_baseline)),
        ("majority", report.majority_baseline),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|v| (name, v)))
    .collect();

    // 1. Axis ranges: every point, whisker and baseline; cost from 0.
    let cost_ends = points.iter().flat_map(|p| {
        let i = row(&p.point.name).and_then(|r| r.cost_interval);
        [
            p.point.cost,
            i.map_or(p.point.cost, |i| i.lo),
            i.map_or(p.point.cost, |i| i.hi),
        ]
    });
    let (x_min, max_cost) = cost_ends.fold((0.0f64, 0.0f64), |(lo, hi), c| (lo.min(c), hi.max(c)));
    let x_max = if max_cost > 0.0 { max_cost * 1.08 } else { 1.0 };
    let accuracies = points
        .iter()
        .flat_map(|p| {
            let i = row(&p.point.name).and_then(|r| r.accuracy_interval);
            [
                p.point.accuracy,
                i.map_or(p.point.accuracy, |i| i.lo),
                i.map_or(p.point.accuracy, |i| i.hi),
            ]
        })
        .chain(baselines.iter().map(|b| b.1));
    let (y_lo, y_hi) = accuracies.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), a| {
        (lo.min(a), hi.max(a))
    });
    let y_pad = ((y_hi - y_lo) * 0.12).max(0.02);
    let (y_min, y_max) = ((y_lo - y_pad).max(0.0), (y_hi + y_pad).min(1.0).max(y_lo + y_pad));

    // 2. Canvas: title, the plot area on the left, the legend column on the right.
    let root = SVGBackend::with_string(buffer, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let left_top = Pos::new(HPos::Left, VPos::Top);
    let font = |size: u32| ("sans-serif", size).into_font().color(&BLACK).pos(left_top);
    let mut title = if report.title.is_empty() {
        "Cost / accuracy frontier".to_string()
    } else {
        report.title.clone()
    };
    let title_room = PLOT_SIZE.0 as i32 - 32;
    while text_size(&title, 20).0 > title_room && title.chars().count() > 1 {
        title.pop();
        title.pop();
        title.push('…');
    }
    root.draw(&Text::new(title, (16, 6), font(20)))?;
    root.draw(&Text::new("accuracy ↑", (16, 30), font(15)))?;
    let (plot_side, legend_side) = root.split_horizontally(PLOT_SIZE.0 - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot_side)
        .margin_top(56)
        .margin_left(16)
        .margin_right(24)
        .margin_bottom(12)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc("mean cost per decision (nominal units)")
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let area = LabelBox {
        left: xr.start + 2,
        top: yr.start + 2,
        right: xr.end - 2,
        bottom: yr.end - 2,
    };

    // 3. Families, in order of first appearance.
    let mut families: Vec<(String, Look)> = Vec::new();
    for c in &report.configs {
        let f = family_of(&c.name);
        if !families.iter().any(|(g, _)| g == f) {
            let k = families.len();
            families.push((
                f.to_string(),
                Look {
                    color: PALETTE[k % PALETTE.len()],
                    marker: k + k / PALETTE.len(),
                },
            ));
        }
    }
    let look_of = |name: &str| {
        families.iter().find(|(g, _)| g == family_of(name)).map_or(
            Look {
                color: PALETTE[0],
                marker: 0,
            },
            |f| f.1,
        )
    };

    // 4. Baselines, dashed; frontier line.
    let baseline_colors = [RGBColor(120, 120, 120), RGBColor(200, 120, 0)];
    for ((_, value), color) in baselines.iter().zip(baseline_colors) {
        chart.draw_series(DashedLineSeries::new(
            [(x_min, *value), (x_max, *value)],
            6,
            4,
            ShapeStyle::from(&color).stroke_width(1),
        ))?;
    }
    let frontier: Vec<(f64, f64)> = report
        .frontier
        .frontier()
        .map(|p| (p.point.cost, p.point.accuracy))
        .collect();
    let frontier_style = ShapeStyle::from(&BLACK.mix(0.55)).stroke_width(2);
    chart.draw_series(LineSeries::new(frontier.iter().copied(), frontier_style))?;

    // 5. Whiskers, then markers.
    for p in points {
        let Some(r) = row(&p.point.name) else {
            continue;
        };
        let style = ShapeStyle::from(&look_of(&p.point.name).color.mix(0.45)).stroke_width(1);
        if let Some(i) = r.accuracy_interval {
            chart.draw_series(LineSeries::new(
                [(p.point.cost, i.lo), (p.point.cost, i.hi)],
                style,
            ))?;
        }
        if let Some(i) = r.cost_interval {
            chart.draw_series(LineSeries::new(
                [(i.lo, p.point.accuracy), (i.hi, p.point.accuracy)],
                style,
            ))?;
        }
    }
    let mut hover = Vec::new();
    let mut markers = Vec::new();
    for p in points {
        let pixel = chart.backend_coord(&(p.point.cost, p.point.accuracy));
        draw_marker(&root, pixel, look_of(&p.point.name), p.status.is_frontier())?;
        markers.push(LabelBox {
            left: pixel.0 - 7,
            top: pixel.1 - 7,
            right: pixel.0 + 7,
            bottom: pixel.1 + 7,
        });
        hover.push((
            pixel.0,
            pixel.1,
            format!("{} ({:.3}, {:.3})", p.point.name, p.point.cost, p.point.accuracy),
        ));
    }

    // 6. Labels: baselines first (at the right end of their line), then frontier points
    //    cheapest first, then cheap-only and strong-only if not on the frontier.
    let mut placed: Vec<LabelBox> = Vec::new();
    for (name, value) in &baselines {
        let text = format!("{name} {value:.3}");
        let size = text_size(&text, 13);
        let (x, y) = chart.backend_coord(&(x_max, *value));
        let candidates = [(x - size.0 - 6, y - size.1 - 2), (x - size.0 - 6, y + 3)];
        let found = candidates.into_iter().find_map(|(l, t)| {
            let b = LabelBox {
                left: l,
                top: t,
                right: l + size.0,
                bottom: t + size.1,
            };
            (b.inside(&area)
                && placed.iter().all(|p| !p.overlaps(&b))
                && markers.iter().all(|m| !m.overlaps(&b)))
            .then_some(b)
        });
        if let Some(b) = found {
            root.draw(&Text::new(
                text,
                (b.left, b.top),
                font(13).color(&RGBColor(90, 90, 90)),
            ))?;
            placed.push(b);
        }
    }
    let mut to_label: Vec<&str> = report
        .frontier
        .frontier()
        .map(|p| p.point.name.as_str())
        .collect();
    for named in [&report.cheap_only, &report.strong_only].into_iter().flatten() {
        if !to_label.contains(&named.as_str()) && points.iter().any(|p| &p.point.name == named) {
            to_label.push(named.as_str());
        }
    }
    for name in to_label {
        let Some(p) = points.iter().find(|p| p.point.name == name) else {
            continue;
        };
        let role = if report.cheap_only.as_deref() == Some(name) {
            " cheap-only"
        } else if report.strong_only.as_deref() == Some(name) {
            " strong-only"
        } else {
            ""
        };
        let text = format!(
            "{} ({:.3}, {:.3}){role}",
            p.point.name, p.point.cost, p.point.accuracy
        );
        let size = text_size(&text, LABEL_FONT);
        let pixel = chart.backend_coord(&(p.point.cost, p.point.accuracy));
        let Some((b, far)) = place_label(pixel, size, &area, &placed, &markers) else {
            continue;
        };
        if far {
            let to = (
                pixel.0.clamp(b.left, b.right),
                if pixel.1 < b.top { b.top } else { b.bottom },
            );
            root.draw(&PathElement::new(
                vec![pixel, to],
                RGBColor(150, 150, 150).stroke_width(1),
            ))?;
        }
        root.draw(&Text::new(text, (b.left, b.top), font(LABEL_FONT)))?;
        placed.push(b);
    }

    // 7. Legend, in its own column.
    let (lx, ly) = (legend_side.get_base_pixel().0 + 8, 64);
    let room = LEGEND_WIDTH as i32 - 16;
    let mut y = ly;
    let line = |text: &str, x: i32, y: i32, size: u32| -> Result<(), Box<dyn std::error::Error>> {
        let mut t = text.to_string();
        while text_size(&t, size).0 > room - (x - lx) && t.chars().count() > 1 {
            t.pop();
            t.pop();
            t.push('…');
        }
        root.draw(&Text::new(t, (x, y), font(size)))?;
        Ok(())
    };
    line("Policy families", lx, y, 15)?;
    y += 24;
    for (family, look) in &families {
        draw_marker(&root, (lx + 8, y + 7), *look, true)?;
        let meaning = family_meaning(family).map(str::to_string).unwrap_or_else(|| {
            report
                .configs
                .iter()
                .find(|c| family_of(&c.name) == family)
                .map_or(String::new(), |c| c.description.clone())
        });
        let text = if meaning.is_empty() {
            family.clone()
        } else {
            format!("{family}: {meaning}")
        };
        line(&text, lx + 22, y, 13)?;
        y += 20;
    }
    y += 6;
    line("filled: on the frontier", lx, y, 13)?;
    y += 18;
    line("hollow: dominated", lx, y, 13)?;
    y += 24;
    root.draw(&PathElement::new(
        vec![(lx, y + 7), (lx + 18, y + 7)],
        frontier_style,
    ))?;
    line("Pareto frontier", lx + 22, y, 13)?;
    y += 20;
    for ((name, value), color) in baselines.iter().zip(baseline_colors) {
        root.draw(&PathElement::new(
            vec![(lx, y + 7), (lx + 18, y + 7)],
            ShapeStyle::from(&color).stroke_width(1),
        ))?;
        line(&format!("{name} baseline {value:.3}"), lx + 22, y, 13)?;
        y += 20;
    }
    if report.configs.iter().any(|c| c.accuracy_interval.is_some()) {
        y += 6;
        line("whiskers: 95% bootstrap intervals", lx, y, 13)?;
        y += 18;
        line("of accuracy (↕) and cost (↔)", lx, y, 13)?;
    }
    root.present()?;
    Ok(hover)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: LabelBox = LabelBox {
        left: 0,
        top: 0,
        right: 400,
        bottom: 300,
    };

    #[test]
    fn close_labels_do_not_overlap() {
        let mut placed = Vec::new();
        for x in [100, 110, 120, 130] {
            let (b, _) = place_label((x, 100), (120, 16), &AREA, &placed, &[]).unwrap();
            assert!(b.inside(&AREA));
            assert!(
                placed.iter().all(|p: &LabelBox| !p.overlaps(&b)),
                "{b:?} {placed:?}"
            );
            placed.push(b);
        }
    }

    #[test]
    fn labels_stay_inside_the_area_at_its_edges() {
        // A point at the left edge cannot take a left-side label; one at the top right corner
        // goes below left.
        let (b, _) = place_label((0, 150), (120, 16), &AREA, &[], &[]).unwrap();
        assert!(b.left >= 0 && b.inside(&AREA), "{b:?}");
        let (b, _) = place_label((400, 0), (120, 16), &AREA, &[], &[]).unwrap();
        assert!(b.inside(&AREA) && b.right <= 400 && b.top >= 0, "{b:?}");
        // Nothing fits: a label wider than the area.
        assert!(place_label((10, 10), (500, 16), &AREA, &[], &[]).is_none());
    }

    #[test]
    fn crowded_points_get_far_labels_with_leaders() {
        // The ring around the point is taken: the grid search finds the nearest free spot.
        let ring: Vec<LabelBox> = vec![LabelBox {
            left: 100,
            top: 60,
            right: 300,
            bottom: 240,
        }];
        let (b, far) = place_label((200, 150), (60, 16), &AREA, &ring, &[]).unwrap();
        assert!(far);
        assert!(!b.overlaps(&ring[0]) && b.inside(&AREA));
    }
}
