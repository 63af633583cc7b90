//! # spec-actions-frontier
//!
//! Which configuration wins on cost and accuracy, and how sure we are. Reads a
//! [`ResultsFile`](spec_actions_core::ResultsFile) (what the policies write) and produces:
//!
//! - the Pareto frontier over (cost ↓, accuracy ↑), each other point's dominance reason in the
//!   study's words (`dominated by B — same acc, higher cost`), a ranking by Pareto layers, and
//!   xRand / xMaj ([`pareto`]);
//! - with per-example records: bootstrap 95% intervals of accuracy and cost, paired comparisons
//!   (exact McNemar and a paired-bootstrap interval of the accuracy difference), and flags for
//!   frontier points that are not significantly apart ([`stats`]), reproducible from a seed;
//!   [`holm_rejections`] corrects a family of such tests (e.g. every gated policy against
//!   cheap-only, as the pipeline's verdict does) for multiple comparisons;
//! - for a policy swept over thresholds: AUC, APGR and CPT(50/80/95%), the RouteLLM metrics
//!   ([`sweep`]);
//! - outputs: the study's markdown table and frontier listing, a JSON summary ([`report`]), a
//!   text chart ([`chart`]) and an SVG plot ([`plot`]);
//! - the study's verdict: gated policies against cheap-only as one Holm-corrected family, with
//!   Holm-adjusted p-values ([`holm_adjusted`]), the lossless policy H kept out ([`verdict`](mod@verdict));
//! - a run's diagnostics from the files the pipeline writes: learning curves, the verifier's
//!   reliability diagram and ROC-AUC, 9×9 confusion matrices, call-level accuracy
//!   ([`diagnostics`], drawn by [`figures`]);
//! - the whole report (`report.md` with a targets table, the figures, `frontier.json`), as the
//!   pipeline and the `frontier` example write it ([`document`]).
//!
//! It runs no model: `spec-actions-verify` produces the results it reads.
//!
//! ```
//! use spec_actions_frontier::{FrontierReport, ReportOptions, reference::study_v2};
//!
//! let report = FrontierReport::analyze(&study_v2(), ReportOptions::default()).unwrap();
//! let frontier: Vec<&str> = report.frontier.frontier().map(|p| p.point.name.as_str()).collect();
//! assert_eq!(frontier, ["B"]);
//! assert!(report.frontier_listing().contains("Config D: cost=0.250 acc=0.510 (dominated by B — same acc, higher cost)"));
//! assert!(report.markdown_table().contains("| B | **0.510** | **0.150** | **4.6×** | **2.1×** | 1.7B cheap (LoRA fine-tuned) |"));
//! let svg = spec_actions_frontier::plot::svg(&report).unwrap();
//! assert!(svg.starts_with("<svg"));
//! ```

pub mod chart;
pub mod diagnostics;
pub mod document;
pub mod error;
pub mod figures;
pub mod pareto;
pub mod plot;
pub mod reference;
pub mod report;
pub mod stats;
pub mod sweep;
pub mod verdict;

pub use document::{DocumentOptions, write_report};
pub use error::FrontierError;
pub use pareto::{DominanceReason, Frontier, Placement, Point, Status, dominates};
pub use report::{ConfigRow, FrontierReport, ReportOptions, Statistics};
pub use stats::{
    Bootstrap, BootstrapOptions, PairedComparison, PairedRecords, holm_adjusted, holm_rejections,
    mcnemar_exact,
};
pub use sweep::{Anchor, SweepMetrics};
pub use verdict::{Verdict, verdict};
