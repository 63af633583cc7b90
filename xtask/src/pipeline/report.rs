//! `report`: the frontier report of a run's results, composed from the frontier crate
//! ([`spec_actions_frontier::write_report`]): markdown with the verdict and the targets, the
//! SVG figures (frontier, learning curves, verifier reliability, confusion matrices), JSON,
//! paired tests, and a side-by-side with the study's v2 numbers.

use spec_actions_core::ResultsFile;
use spec_actions_frontier::{DocumentOptions, write_report};

use super::{BoxError, RunDir};

/// The report stage: `<run>/report/` from `<run>/eval/results.json` and the run's files (and
/// `<run>/report/heldout/` from the held-out results).
pub fn report_stage(run: &RunDir) -> Result<(), BoxError> {
    let eval = run.stage_dir("eval");
    let results = eval.join("results.json");
    if !results.exists() {
        return Err(format!("no {}: run `cargo xtask eval` first", results.display()).into());
    }
    let out = run.stage_dir("report");
    let options = DocumentOptions {
        with_study: true,
        run: Some(run.root.clone()),
        ..DocumentOptions::default()
    };
    let md = write_report(&ResultsFile::read(&results)?, &out, &options)?;
    println!("{md}");
    let heldout = eval.join("heldout").join("results.json");
    if heldout.exists() {
        write_report(
            &ResultsFile::read(&heldout)?,
            &out.join("heldout"),
            &DocumentOptions::default(),
        )?;
    }
    println!("report written to {}", out.display());
    Ok(())
}
