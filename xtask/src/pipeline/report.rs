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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18, item 12: `xtask report` into a folder it cannot write said "Permission
    /// denied" without the file (or named a temp file). Now the error names the report file.
    /// (`report` points into /proc, which nobody can write, root included.)
    #[test]
    fn an_unwritable_report_folder_names_the_file() {
        let root = tempfile::tempdir().expect("temp dir");
        let run = RunDir::new(root.path(), "tiny");
        let eval = run.stage_dir("eval");
        std::fs::create_dir_all(&eval).expect("eval folder");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../crates/spec-actions-frontier/tests/data/smoke-results.json"
            ),
            eval.join("results.json"),
        )
        .expect("results");
        std::os::unix::fs::symlink("/proc/self", run.stage_dir("report")).expect("symlink");
        let message = report_stage(&run).expect_err("/proc is not writable").to_string();
        let file = run.stage_dir("report").join("frontier.svg");
        assert!(
            message.starts_with(&format!("write {}: ", file.display())),
            "{message}"
        );
    }
}
