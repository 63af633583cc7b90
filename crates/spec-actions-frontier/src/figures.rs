//! SVG figures of a run's [`diagnostics`](crate::diagnostics) (plotters): a role's learning
//! curve, the verifier's reliability diagram, and a 9×9 confusion heat map.
//!
//! ```
//! use spec_actions_frontier::diagnostics::{LearningCurve, StepPoint};
//! let curve = LearningCurve {
//!     role: "cheap".into(),
//!     steps: (0..5)
//!         .map(|s| StepPoint { step: s, loss: 2.0 - 0.3 * s as f64, eval_loss: (s % 2 == 0).then_some(2.1 - 0.3 * s as f64) })
//!         .collect(),
//! };
//! let svg = spec_actions_frontier::figures::learning_curve_svg(&curve).unwrap();
//! assert!(svg.contains("held-out loss"));
//! ```

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use spec_actions_core::ActionKind;

use crate::diagnostics::{Confusion, LearningCurve, Reliability};
use crate::error::FrontierError;

fn plot_error(e: impl std::fmt::Display) -> FrontierError {
    FrontierError::Plot(e.to_string())
}

/// Padded `(lo, hi)` of `values` (`(0, 1)` when empty).
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad, hi + pad)
}

/// Training loss and held-out loss against the optimizer step.
pub fn learning_curve_svg(curve: &LearningCurve) -> Result<String, FrontierError> {
    let mut buffer = String::new();
    {
        let root = SVGBackend::with_string(&mut buffer, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let eval = curve.eval_points();
        let last = curve.steps.last().map_or(1, |s| s.step.max(1));
        let (y_lo, y_hi) = range(curve.steps.iter().map(|s| s.loss).chain(eval.iter().map(|e| e.1)));
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Learning curve: {}", curve.role), ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..last as f64, y_lo..y_hi)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("optimizer step")
            .y_desc("loss")
            .light_line_style(RGBColor(245, 245, 245))
            .draw()
            .map_err(plot_error)?;
        let blue = ShapeStyle::from(&BLUE).stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                curve.steps.iter().map(|s| (s.step as f64, s.loss)),
                blue,
            ))
            .map_err(plot_error)?
            .label("training loss (per step)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], blue));
        let red = ShapeStyle::from(&RED).stroke_width(2);
        chart
            .draw_series(LineSeries::new(eval.iter().map(|&(s, l)| (s as f64, l)), red))
            .map_err(plot_error)?
            .label("held-out loss")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], red));
        chart
            .draw_series(
                eval.iter()
                    .map(|&(s, l)| Circle::new((s as f64, l), 4, RED.filled())),
            )
            .map_err(plot_error)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(buffer)
}

/// Observed frequency of correct proposals against the mean P(ACCEPT) of each bin (equal-width
/// bins, empty ones skipped), with the dashed diagonal of perfect calibration; each bin's count
/// is written beside its point.
pub fn reliability_svg(reliability: &Reliability, title: &str) -> Result<String, FrontierError> {
    let mut buffer = String::new();
    {
        let root = SVGBackend::with_string(&mut buffer, (620, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("mean P(ACCEPT) in bin   (dashed: perfect calibration; n: proposals in bin)")
            .y_desc("observed fraction correct")
            .light_line_style(RGBColor(245, 245, 245))
            .draw()
            .map_err(plot_error)?;
        let grey = ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 6, 4, grey))
            .map_err(plot_error)?;
        let points: Vec<(f64, f64, usize)> = reliability
            .bins
            .iter()
            .filter_map(|b| Some((b.mean_predicted?, b.observed?, b.count)))
            .collect();
        let blue = ShapeStyle::from(&BLUE).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), blue))
            .map_err(plot_error)?;
        let font = ("sans-serif", 13).into_font();
        chart
            .draw_series(points.iter().map(|&(x, y, n)| {
                // Beside the point, on the side with room: below near the top, left near the
                // right edge.
                let text = format!("n={n}");
                let dx = if x > 0.8 { -8 - 8 * text.len() as i32 } else { 6 };
                let dy = if y > 0.9 { 6 } else { -18 };
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 5, BLUE.filled())
                    + Text::new(text, (dx, dy), font.clone())
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(buffer)
}

/// Short column labels of the nine kinds (rows carry the full names).
fn short_kind(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::ToolCall => "tool",
        ActionKind::Retrieval => "retr",
        ActionKind::FileRead => "read",
        ActionKind::FileWrite => "write",
        ActionKind::Repair => "repair",
        ActionKind::Verify => "verif",
        ActionKind::AskClarification => "ask",
        ActionKind::FinalAnswer => "final",
        ActionKind::Blocked => "BLOCK",
    }
}

/// The 9×9 heat map of `confusion`: gold kind down, predicted kind across, each cell's count
/// written in it and shaded by its share of the row.
pub fn confusion_svg(confusion: &Confusion, title: &str) -> Result<String, FrontierError> {
    const CELL: i32 = 58;
    const LEFT: i32 = 150;
    const TOP: i32 = 80;
    let n = ActionKind::COUNT as i32;
    let size = ((LEFT + n * CELL + 110) as u32, (TOP + n * CELL + 60) as u32);
    let mut buffer = String::new();
    {
        let root = SVGBackend::with_string(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let text = |s: &str, at: (i32, i32), px: u32, pos: Pos| {
            Text::new(
                s.to_string(),
                at,
                ("sans-serif", px).into_font().color(&BLACK).pos(pos),
            )
        };
        let left_top = Pos::new(HPos::Left, VPos::Top);
        let center = Pos::new(HPos::Center, VPos::Center);
        root.draw(&text(title, (12, 10), 20, left_top))
            .map_err(plot_error)?;
        root.draw(&text(
            "predicted kind →   (cell: count; shade: share of the gold row)",
            (LEFT, 40),
            14,
            left_top,
        ))
        .map_err(plot_error)?;
        root.draw(&text("gold kind ↓", (12, 40), 14, left_top))
            .map_err(plot_error)?;
        for (j, kind) in ActionKind::ALL.iter().enumerate() {
            let x = LEFT + j as i32 * CELL + CELL / 2;
            root.draw(&text(short_kind(*kind), (x, TOP - 12), 14, center))
                .map_err(plot_error)?;
        }
        root.draw(&text("unparsed", (LEFT + n * CELL + 50, TOP - 12), 14, center))
            .map_err(plot_error)?;
        for (i, gold) in ActionKind::ALL.iter().enumerate() {
            let y = TOP + i as i32 * CELL;
            root.draw(&text(
                gold.as_str(),
                (LEFT - 8, y + CELL / 2),
                14,
                Pos::new(HPos::Right, VPos::Center),
            ))
            .map_err(plot_error)?;
            let support = confusion.support(i).max(1) as f64;
            for j in 0..ActionKind::COUNT {
                let count = confusion.counts[i][j];
                let share = count as f64 / support;
                let shade = (255.0 * (1.0 - 0.85 * share)).round() as u8;
                let fill = if i == j {
                    RGBColor(shade, 255 - (255 - shade) / 3, shade)
                } else {
                    RGBColor(255, shade, shade)
                };
                let x = LEFT + j as i32 * CELL;
                root.draw(&Rectangle::new([(x, y), (x + CELL, y + CELL)], fill.filled()))
                    .map_err(plot_error)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))
                .map_err(plot_error)?;
                if count > 0 {
                    root.draw(&text(
                        &count.to_string(),
                        (x + CELL / 2, y + CELL / 2),
                        15,
                        center,
                    ))
                    .map_err(plot_error)?;
                }
            }
            let unparsed = confusion.unparsed[i];
            if unparsed > 0 {
                root.draw(&text(
                    &unparsed.to_string(),
                    (LEFT + n * CELL + 50, y + CELL / 2),
                    15,
                    center,
                ))
                .map_err(plot_error)?;
            }
        }
        root.present().map_err(plot_error)?;
    }
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use spec_actions_core::Action;

    use super::*;

    #[test]
    fn confusion_cells_carry_their_counts() {
        let gold = [
            Action::kind(ActionKind::Repair),
            Action::kind(ActionKind::Repair),
            Action::kind(ActionKind::FinalAnswer),
        ];
        let predicted = [
            Some(Action::kind(ActionKind::Repair)),
            Some(Action::kind(ActionKind::Blocked)),
            None,
        ];
        let c = Confusion::new("B", gold.iter().zip(predicted.iter().map(Option::as_ref)));
        let svg = confusion_svg(&c, "B").unwrap();
        // two cells with 1 (repair→repair, repair→BLOCKED) and one unparsed count of 1
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect();
        assert_eq!(texts.iter().filter(|t| **t == "1").count(), 3, "{texts:?}");
        assert!(svg.contains("ask_clarification"));
    }
}
