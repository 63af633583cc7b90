//! A text chart of accuracy against cost, for terminals.

use crate::pareto::Frontier;

/// The marks that stand for points on the grid, in the order the points are given; points
/// past the last mark are drawn as [`MANY`].
const MARKS: &str = "123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The mark of a cell holding more than one point (or a point past the last of [`MARKS`]).
const MANY: char = '*';

/// Draw every point of `frontier` on a `width` × `height` character grid: accuracy up, cost
/// right, each point one mark (`1`–`9`, `a`–`z`, `A`–`Z`; `*` where points share a cell), axes
/// annotated with their ranges, and a legend below, one line a point: its mark, its name, cost,
/// accuracy, and whether it is on the frontier. Names live in the legend only, so no label can
/// overlap another however close the points lie.
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
    let mut marks = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let col = scale(p.point.cost, cost_lo, cost_hi, width);
        let row = height - 1 - scale(p.point.accuracy, acc_lo, acc_hi, height);
        let mark = MARKS.chars().nth(i).unwrap_or(MANY);
        let cell = &mut grid[row][col];
        *cell = if *cell == ' ' { mark } else { MANY };
        marks.push((mark, row, col));
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
    out.push_str("accuracy ↑ against cost →\n\n");
    let name_width = points
        .iter()
        .map(|p| p.point.name.chars().count())
        .max()
        .unwrap_or(0);
    for (p, &(mark, row, col)) in points.iter().zip(&marks) {
        let drawn = grid[row][col];
        let shown = if drawn == mark {
            format!("{mark}")
        } else {
            format!("{mark}→{drawn}")
        };
        out.push_str(&format!(
            "{shown:>3}  {:<name_width$}  cost {:.3}  accuracy {:.3}{}\n",
            p.point.name,
            p.point.cost,
            p.point.accuracy,
            if p.status.is_frontier() {
                "  [frontier]"
            } else {
                ""
            }
        ));
    }
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
        // B is mark 1 (top row, left edge), C mark 2 (bottom row, right edge)
        assert!(lines[0].starts_with(" 0.51") && lines[0].contains('│'), "{chart}");
        assert_eq!(lines[0].split('│').nth(1), Some("  1"), "{chart}");
        assert!(lines[7].trim_end().ends_with('2'), "{chart}");
        let b = chart
            .lines()
            .find(|l| l.trim_start().starts_with("1  B"))
            .expect("B's legend line");
        assert!(
            b.contains("cost 0.150") && b.contains("accuracy 0.510") && b.ends_with("[frontier]"),
            "{chart}"
        );
        let c = chart
            .lines()
            .find(|l| l.trim_start().starts_with("2  C"))
            .expect("C's legend line");
        assert!(!c.contains("[frontier]"), "{chart}");
    }

    /// Forty points crowded as a study's sweeps are (long names, near-equal costs): the grid
    /// holds marks only, each mark at most once, points sharing a cell drawn `*` and the legend
    /// saying so, and every name exactly once in the legend.
    #[test]
    fn crowded_points_never_overlap() {
        let points: Vec<Point> = (0..40)
            .map(|i| {
                let name = format!("K→F-margin[G,k=2]@0.{i:04}");
                Point::new(&name, 0.01 * f64::from(i % 7), 0.9 - 0.001 * f64::from(i % 5))
            })
            .collect();
        let f = Frontier::new(points.clone()).unwrap();
        let chart = text_chart(&f, 64, 16);
        let grid: Vec<&str> = chart
            .lines()
            .take(16)
            .map(|l| l.split('│').nth(1).unwrap())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for ch in grid.iter().flat_map(|l| l.chars()).filter(|&c| c != ' ') {
            assert!(MARKS.contains(ch) || ch == MANY, "{ch:?} in the grid:\n{chart}");
            assert!(ch == MANY || seen.insert(ch), "{ch} twice:\n{chart}");
        }
        assert!(
            grid.iter().any(|l| l.contains(MANY)),
            "the shared cells are drawn `*`:\n{chart}"
        );
        let mut marks = std::collections::HashSet::new();
        for p in &points {
            let lines: Vec<&str> = chart
                .lines()
                .filter(|l| l.contains(&format!(" {}  ", p.name)))
                .collect();
            assert_eq!(lines.len(), 1, "{}:\n{chart}", p.name);
            let shown = lines[0].split_whitespace().next().unwrap();
            let mark = shown.chars().next().unwrap();
            assert!(marks.insert(mark), "{mark} names two points:\n{chart}");
            match shown.strip_prefix(mark).unwrap() {
                "" => assert!(
                    seen.contains(&mark),
                    "{mark} in the legend, not in the grid:\n{chart}"
                ),
                "→*" => assert!(!seen.contains(&mark), "{mark} both drawn and hidden:\n{chart}"),
                other => panic!("{other:?} after the mark:\n{chart}"),
            }
        }
    }
}
