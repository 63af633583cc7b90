//! The v3 pipeline: `train-all` (datasets → bag-of-words classifier → cheap proposer →
//! verifier → reward model → strong model), `eval` (record every model's outputs on dev /
//! eval / heldout, then replay every policy) and `report` (the frontier report and the
//! side-by-side with the study's v2 numbers).
//!
//! A run folder holds one sub-folder per stage; a stage is done when its `stage.json` exists
//! and was written by the same preset, so an interrupted `train-all` continues from the
//! finished stages; `--force STAGE` redoes one. `manifest.json` records the git revision, the
//! preset, seeds, data hashes, stage timings and final metrics.

pub mod classifier;
pub mod dry_run;
pub mod eval;
pub mod preset;
pub mod report;
pub mod train;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use spec_actions_core::io::atomic_write_bytes;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A finished stage's record (`<run>/<stage>/stage.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub preset: String,
    pub seconds: f64,
    pub metrics: Value,
}

/// The run folder and its stages.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
    pub preset: String,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>, preset: &str) -> Self {
        RunDir {
            root: root.into(),
            preset: preset.to_string(),
        }
    }

    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.root.join(stage)
    }

    /// The stage's record when it finished under this preset.
    pub fn finished(&self, stage: &str) -> Option<StageRecord> {
        let text = std::fs::read(self.stage_dir(stage).join("stage.json")).ok()?;
        let record: StageRecord = serde_json::from_slice(&text).ok()?;
        (record.preset == self.preset).then_some(record)
    }

    /// Forgets a stage's completion (its outputs are rebuilt when it runs).
    pub fn reset(&self, stage: &str) -> Result<(), BoxError> {
        let marker = self.stage_dir(stage).join("stage.json");
        if marker.exists() {
            std::fs::remove_file(&marker).map_err(|e| format!("removing {}: {e}", marker.display()))?;
        }
        Ok(())
    }

    /// Runs `body` unless the stage already finished; records its time and metrics.
    pub fn stage(
        &self,
        stage: &str,
        body: impl FnOnce(&Path) -> Result<Value, BoxError>,
    ) -> Result<StageRecord, BoxError> {
        if let Some(done) = self.finished(stage) {
            println!(
                "[{stage}] done already ({:.0} s) — skipped; use --force {stage} to redo it",
                done.seconds
            );
            return Ok(done);
        }
        let dir = self.stage_dir(stage);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        println!("[{stage}] running");
        let started = Instant::now();
        let metrics = body(&dir)?;
        let record = StageRecord {
            stage: stage.into(),
            preset: self.preset.clone(),
            seconds: started.elapsed().as_secs_f64(),
            metrics,
        };
        atomic_write_bytes(&dir.join("stage.json"), &serde_json::to_vec_pretty(&record)?)?;
        println!("[{stage}] finished in {:.1} s", record.seconds);
        Ok(record)
    }

    /// Rewrites `manifest.json` from the finished stages; `config` is the run config as it
    /// ran (file, overrides, resolved values).
    pub fn write_manifest(
        &self,
        preset_debug: &str,
        config: &Value,
        seed: u64,
        stages: &[&str],
    ) -> Result<(), BoxError> {
        let data_dir = self.stage_dir("datasets");
        let mut data_hashes = serde_json::Map::new();
        for split in ["train", "dev", "eval", "heldout"] {
            let path = data_dir.join(format!("{split}.jsonl"));
            if let Ok(bytes) = std::fs::read(&path) {
                data_hashes.insert(split.into(), format!("{:x}", Sha256::digest(&bytes)).into());
            }
        }
        let stage_records: Vec<Value> = stages
            .iter()
            .filter_map(|s| self.finished(s))
            .map(|r| serde_json::json!({"stage": r.stage, "seconds": r.seconds, "metrics": r.metrics}))
            .collect();
        let manifest = serde_json::json!({
            "git_revision": git_revision(),
            // stage timings compare only on one machine
            "machine": spec_actions_core::machine::Machine::detect().to_string(),
            "preset": self.preset,
            "seed": seed,
            "config": config,
            "configuration": preset_debug,
            "data_sha256": data_hashes,
            "stages": stage_records,
        });
        atomic_write_bytes(
            &self.root.join("manifest.json"),
            &serde_json::to_vec_pretty(&manifest)?,
        )?;
        Ok(())
    }
}

fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// An indicatif bar with rate and ETA.
pub fn bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>18} [{elapsed_precise}<{eta_precise}] {bar:30} {pos}/{len} ({per_sec})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

/// burn's backend RNG is process-global: tests that initialise models (`B::seed` + `init`)
/// take this lock, so that a test comparing two seeded runs is not disturbed by another one
/// drawing from the RNG in parallel.
///
/// Those tests run stages as the `xtask` binary does, so the first one also applies the heap
/// settings its `main` applies ([`spec_actions_qwen3::allocator::keep_freed_memory_in_heap`]):
/// the test process then allocates as the pipeline does, and a stage's freed buffers are not
/// unmapped and zeroed again op after op (on a 2-core AMD EPYC family 25 model 17, the
/// full-disk test of `train.rs` ran 195 s without them, 131 s with them in glibc's
/// environment form, one run each).
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static HEAP: std::sync::Once = std::sync::Once::new();
    HEAP.call_once(|| {
        spec_actions_qwen3::allocator::keep_freed_memory_in_heap();
    });
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `train-all` relies on to continue after an interruption: a stage whose body did not
    /// finish leaves no record and runs again; a finished stage is skipped (its body is not
    /// called) and keeps its record; `--force` (reset) makes it run again; a record written
    /// under another preset does not count.
    #[test]
    fn interrupted_stages_rerun_and_finished_stages_are_skipped() {
        let root = tempfile::tempdir().expect("temp dir");
        let run = RunDir::new(root.path(), "tiny");
        // 1. interrupted: the body fails half-way
        let interrupted = run.stage("cheap", |_| Err("interrupted at step 24".into()));
        assert!(interrupted.is_err());
        assert!(run.finished("cheap").is_none());
        // 2. re-run: the body runs and the stage is recorded
        let mut calls = 0;
        let done = run
            .stage("cheap", |dir| {
                calls += 1;
                assert!(dir.ends_with("cheap"));
                Ok(serde_json::json!({"loss": 1.5}))
            })
            .expect("stage runs");
        assert_eq!((calls, done.metrics["loss"].as_f64()), (1, Some(1.5)));
        // 3. once finished it is skipped, with its record
        let skipped = run
            .stage("cheap", |_| panic!("a finished stage must not run again"))
            .expect("skipped");
        assert_eq!(skipped.metrics, done.metrics);
        // 4. --force: reset, then it runs again
        run.reset("cheap").expect("reset");
        let mut reran = false;
        run.stage("cheap", |_| {
            reran = true;
            Ok(Value::Null)
        })
        .expect("runs again");
        assert!(reran);
        // 5. another preset's record is not this preset's finished stage
        assert!(RunDir::new(root.path(), "smoke").finished("cheap").is_none());
    }
}
