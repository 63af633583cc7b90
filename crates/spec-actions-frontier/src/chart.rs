//! A text chart of accuracy against cost, for terminals.

use crate::pareto::Frontier;

/// Draw every point of `frontier` on a `width` × `height` character grid: accuracy up, cost
/// right, each point labelled by its name (frontier points in `[ ]`), axes annotated with their
/// ranges, and a legend line naming the frontier.
pub fn text_chart(frontier: &Frontier, width: usize, height: usize) -> String {
    let width = width.max(20);
    let height = height.max(5);
    let points = &frontier.placements;
    if points.is_empty() {
        return String::from("(no points)\n");
    }
    let (cost_lo, cost_hi) = padded_range(points.iter().map(|p| p.point.cost));
    let (acc_lo, acc_hi) = padded_range(points.iter().map(|p| p.point.accuracy));
    let mut grid = vec![vec![' '; width]; height];
    for p in points {
        let col = scale(p.point.cost, cost_lo, cost_hi, width);
        let row = height - 1 - scale(p.point.accuracy, acc_lo, acc_hi, height);
        let label = if p.status.is_frontier() {
            format!("[{}]", p.point.name)
        } else {
            p.point.name.clone()
        };
        // Centre the label on its column; clip it at the right edge.
        let start = col.saturating_sub(label.chars().count() / 2);
        for (offset, ch) in label.chars().enumerate() {
            if let Some(cell) = grid[row].get_mut(start + offset) {
                *cell = ch;
            }
        }
    }
    let axis_width = 7;
    let mut out = String::new();
    for (r, line) in grid.iter().enumerate() {
        let tick = match r {
            0 => format!("{acc_hi:>6.3}"),
            r if r == height - 1 => format!("{acc_lo:>6.3}"),
            _ => " ".repeat(6),
        };
        out.push_str(&tick);
        out.push('│');
        out.push_str(line.iter().collect::<String>().trim_end());
        out.push('\n');
    }
    out.push_str(&" ".repeat(axis_width - 1));
    out.push('└');
    out.push_str(&"─".repeat(width));
    out.push('\n');
    let lo = format!("{cost_lo:.3}");
    let hi = format!("{cost_hi:.3}");
    let gap = (width + 1).saturating_sub(lo.len() + hi.len());
    out.push_str(&format!(
        "{}{lo}{}{hi}\n",
        " ".repeat(axis_width - 1),
        " ".repeat(gap)
    ));
    let names: Vec<&str> = frontier.frontier().map(|p| p.point.name.as_str()).collect();
    out.push_str(&format!(
        "accuracy ↑ against cost →   [ ] frontier: {}\n",
        names.join(", ")
    ));
    out
}

/// The range of `values` widened by 5% each side (or ±0.05 when all are equal).
fn padded_range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.05 };
    (lo - pad, hi + pad)
}

fn scale(value: f64, lo: f64, hi: f64, cells: usize) -> usize {
    let t = ((value - lo) / (hi - lo)).clamp(0.0, 1.0);
    ((t * (cells - 1) as f64).round() as usize).min(cells - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::Point;

    #[test]
    fn cheapest_best_point_sits_top_left() {
        let f = Frontier::new([Point::new("B", 0.15, 0.51), Point::new("C", 1.25, 0.40)]).unwrap();
        let chart = text_chart(&f, 40, 8);
        let lines: Vec<&str> = chart.lines().collect();
        assert!(lines[0].starts_with(" 0.51") && lines[0].contains('│'), "{chart}");
        assert!(lines[0].contains("[B]"), "{chart}");
        assert!(lines[7].trim_end().ends_with('C'), "{chart}");
        assert!(chart.contains("frontier: B"), "{chart}");
    }
}
