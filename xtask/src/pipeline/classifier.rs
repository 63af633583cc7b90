//! Stage 2: the bag-of-words next-kind classifier (`spec-actions-baseline`), fitted on the
//! run's whole train split in seconds, saved as `<run>/models/classifier/classifier.json`. The
//! eval stage loads it and records its nine probabilities for every example (policy K and the
//! cascades K→A, K→F).

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use spec_actions_baseline::{KindClassifier, KindClassifierConfig};
use spec_actions_core::Example;

use super::train::split_examples;
use super::{BoxError, RunDir};

/// Where the classifier stage saves the fitted classifier.
pub fn classifier_path(run: &RunDir) -> PathBuf {
    run.root.join("models").join("classifier").join("classifier.json")
}

/// Kind accuracy of `classifier` on `examples` (`None` when there are none).
fn kind_accuracy(classifier: &KindClassifier, examples: &[Example]) -> Option<f64> {
    (!examples.is_empty()).then(|| {
        let right = examples
            .iter()
            .filter(|e| classifier.predict(e) == e.gold.kind)
            .count();
        right as f64 / examples.len() as f64
    })
}

/// The classifier stage: fit with the default configuration (scikit-learn's C = 4, balanced
/// classes) on all of `train.jsonl`; metrics: the fit report, the training seconds and the
/// dev kind accuracy (and the eval split's, reported only: nothing is chosen on it).
pub fn classifier_stage(run: &RunDir, seed: u64) -> Result<(), BoxError> {
    run.stage("classifier", |_dir| {
        let train = split_examples(run, "train", usize::MAX, seed)?;
        let started = Instant::now();
        let classifier = KindClassifierConfig::default().fit(&train)?;
        let train_seconds = started.elapsed().as_secs_f64();
        // an atomic write: it creates the folder
        let path = classifier_path(run);
        classifier.save(&path)?;
        let dev = split_examples(run, "dev", usize::MAX, seed)?;
        let eval = split_examples(run, "eval", usize::MAX, seed)?;
        let (dev_accuracy, eval_accuracy) = (
            kind_accuracy(&classifier, &dev),
            kind_accuracy(&classifier, &eval),
        );
        println!(
            "  classifier: {} train examples, {:.1} s, dev kind accuracy {}",
            train.len(),
            train_seconds,
            dev_accuracy.map_or("-".into(), |a| format!("{a:.3}"))
        );
        Ok(json!({
            "fit": classifier.fit_report(),
            "train_seconds": train_seconds,
            "dev_examples": dev.len(),
            "dev_kind_accuracy": dev_accuracy,
            "eval_examples": eval.len(),
            "eval_kind_accuracy": eval_accuracy,
            "model": path.display().to_string(),
        }))
    })?;
    Ok(())
}

/// The fitted classifier of a run, or an error telling to run the stage.
pub fn load_classifier(run: &RunDir) -> Result<KindClassifier, BoxError> {
    let path = classifier_path(run);
    if !path.exists() {
        return Err(format!(
            "no classifier at {}: run `cargo xtask train-all` first",
            path.display()
        )
        .into());
    }
    Ok(KindClassifier::load(&path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::train::datasets_stage;

    /// On a small synthetic dataset (no BFCL), the stage fits, saves a classifier that loads
    /// back and predicts as the fitted one, records its fit report and a dev kind accuracy well
    /// above the uniform guess (0.111) — the synthetic kinds have surface cues — and is
    /// skipped when run again.
    #[test]
    fn the_classifier_stage_fits_saves_and_reports() {
        let root = tempfile::tempdir().expect("temp dir");
        let preset = super::super::preset::synthetic_tiny("classifier-test", 900, 90);
        let run = RunDir::new(root.path(), &preset.name);
        datasets_stage(&run, &preset).expect("datasets");
        classifier_stage(&run, preset.seed).expect("classifier stage");
        let record = run.finished("classifier").expect("finished");
        let m = &record.metrics;
        let train = split_examples(&run, "train", usize::MAX, 0).unwrap();
        assert_eq!(m["fit"]["examples"].as_u64(), Some(train.len() as u64), "{m}");
        assert!(m["train_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{m}");
        let dev_accuracy = m["dev_kind_accuracy"].as_f64().expect("dev accuracy");
        assert!(dev_accuracy > 0.5, "dev kind accuracy {dev_accuracy}: {m}");
        let loaded = load_classifier(&run).expect("saved classifier loads");
        let dev = split_examples(&run, "dev", usize::MAX, 0).unwrap();
        assert_eq!(kind_accuracy(&loaded, &dev), Some(dev_accuracy));
        // a second run is skipped: the stage's record is unchanged
        classifier_stage(&run, preset.seed).expect("skipped");
        assert_eq!(run.finished("classifier").unwrap().seconds, record.seconds);
    }

    #[test]
    fn a_missing_classifier_is_an_error_naming_the_file() {
        let root = tempfile::tempdir().expect("temp dir");
        let run = RunDir::new(root.path(), "none");
        let err = load_classifier(&run).unwrap_err().to_string();
        assert!(err.contains("classifier.json"), "{err}");
    }
}
