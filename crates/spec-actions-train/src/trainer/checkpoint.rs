//! [`CheckpointStore`]: the `checkpoints/` folder of a run — complete checkpoints written
//! atomically, `LATEST` naming the newest, the one before it kept, and resume from them.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use spec_actions_core::io::{FileError, atomic_write_bytes};
use spec_actions_qwen3::lora::LoraConfig;

use super::tensor_io::{read_tensors, write_tensors};
use super::{TrainError, TrainModel, TrainerConfig};
use crate::optim::{AdamW, Moments};

/// Where a run stood when a checkpoint was taken; saved as `trainer_state.json`, whose
/// presence marks the checkpoint complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: u64,
    /// The optimizer's own step counter (bias correction).
    pub optimizer_step: u64,
    pub config: TrainerConfig,
    /// Mean training loss of every step so far.
    pub losses: Vec<f64>,
    /// `(step, held-out loss)` of every evaluation so far.
    pub eval_losses: Vec<(u64, f64)>,
}

/// The `checkpoints/` folder of a run folder: `step-NNNNNNN/` folders (the trainable tensors,
/// the optimizer moments, the trainer state and, for adapters, a PEFT folder) and `LATEST`.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    root: PathBuf,
}

impl CheckpointStore {
    /// The store of `run_dir` (`run_dir/checkpoints`; created on the first save).
    pub fn new(run_dir: &Path) -> Self {
        CheckpointStore {
            root: run_dir.join("checkpoints"),
        }
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Option<PathBuf> {
        let latest = fs::read_to_string(self.root.join("LATEST")).ok()?;
        let dir = self.root.join(latest.trim());
        dir.join("trainer_state.json").is_file().then_some(dir)
    }

    /// Writes `step-NNNNNNN/` completely under a temporary name, renames it into place, then
    /// points `LATEST` at it; older checkpoints but the previous one are removed.
    ///
    /// On failure (disk full, folder not writable) the temporary folder is removed, `LATEST`
    /// and the checkpoint it names are untouched, and the error is
    /// [`TrainError::CheckpointWrite`].
    pub fn save<B: AutodiffBackend>(
        &self,
        state: &TrainerState,
        model: &TrainModel<B>,
        optimizer: &AdamW<B::InnerBackend>,
        lora: &LoraConfig,
    ) -> Result<PathBuf, TrainError> {
        let name = format!("step-{:07}", state.step);
        let tmp_dir = self.root.join(format!(".{name}.tmp"));
        self.write(&name, &tmp_dir, state, model, optimizer, lora)
            .map_err(|source| {
                if tmp_dir.is_dir() {
                    let _ = fs::remove_dir_all(&tmp_dir);
                }
                TrainError::CheckpointWrite {
                    step: state.step,
                    checkpoint: self.root.join(&name),
                    last_checkpoint: self.latest(),
                    source: Box::new(source),
                }
            })
    }

    fn write<B: AutodiffBackend>(
        &self,
        name: &str,
        tmp_dir: &Path,
        state: &TrainerState,
        model: &TrainModel<B>,
        optimizer: &AdamW<B::InnerBackend>,
        lora: &LoraConfig,
    ) -> Result<PathBuf, TrainError> {
        let root = &self.root;
        let final_dir = root.join(name);
        if tmp_dir.is_dir() {
            let _ = fs::remove_dir_all(tmp_dir);
        }
        fs::create_dir_all(tmp_dir).map_err(|e| FileError::new("create folder", tmp_dir, e))?;

        // 1. trainable tensors and optimizer moments, by name
        let trainable: Vec<(String, Tensor<B::InnerBackend, 2>)> = model
            .trainable()
            .into_iter()
            .map(|(n, t)| (n, t.inner()))
            .collect();
        write_tensors(&tmp_dir.join("trainable.safetensors"), &trainable)?;
        let mut moments = Vec::new();
        for (n, m) in &optimizer.moments {
            moments.push((format!("m.{n}"), m.m.clone()));
            moments.push((format!("v.{n}"), m.v.clone()));
        }
        write_tensors(&tmp_dir.join("optimizer.safetensors"), &moments)?;
        // 2. a PEFT adapter folder users can load as it is (a model trained in full has its
        //    every weight in `trainable.safetensors` instead)
        if !model.trains_all_weights() {
            model.qwen.peft_adapter(lora).write(&tmp_dir.join("adapter"))?;
        }
        // 3. trainer state last: its presence marks a complete checkpoint
        let text = serde_json::to_vec_pretty(state).map_err(|e| TrainError::Setup(e.to_string()))?;
        atomic_write_bytes(&tmp_dir.join("trainer_state.json"), &text)?;

        // 4. into place; a folder of the same name (this step saved again, e.g. interrupted right
        //    after resuming from it) is moved aside first and restored if the rename fails.
        let aside = root.join(format!(".{name}.old"));
        let replaced = final_dir.is_dir();
        if replaced {
            let _ = fs::remove_dir_all(&aside);
            fs::rename(&final_dir, &aside).map_err(|e| FileError::new("rename", &final_dir, e))?;
        }
        if let Err(e) = fs::rename(tmp_dir, &final_dir) {
            if replaced {
                let _ = fs::rename(&aside, &final_dir);
            }
            return Err(FileError::new("rename into", &final_dir, e).into());
        }
        if replaced {
            let _ = fs::remove_dir_all(&aside);
        }
        let previous = fs::read_to_string(root.join("LATEST")).ok();
        atomic_write_bytes(&root.join("LATEST"), name.as_bytes())?;
        // keep the new checkpoint and the one before it
        if let Ok(entries) = fs::read_dir(root) {
            for entry in entries.flatten() {
                let n = entry.file_name().to_string_lossy().into_owned();
                let keep =
                    n == name || Some(n.as_str()) == previous.as_deref().map(str::trim) || n == "LATEST";
                if !keep && n.starts_with("step-") {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(final_dir)
    }

    /// Restores `model` and `optimizer` from the checkpoint folder `dir`, which must have been
    /// trained with `config`'s seed and batch size (else the data order would differ).
    pub fn load<B: AutodiffBackend>(
        &self,
        dir: &Path,
        config: &TrainerConfig,
        model: &mut TrainModel<B>,
        optimizer: &mut AdamW<B::InnerBackend>,
        device: &B::Device,
    ) -> Result<TrainerState, TrainError> {
        let bad = |reason: String| TrainError::Checkpoint {
            path: dir.to_path_buf(),
            reason,
        };
        let state_path = dir.join("trainer_state.json");
        let text = fs::read(&state_path).map_err(|e| bad(format!("trainer_state.json: {e}")))?;
        let state: TrainerState =
            serde_json::from_slice(&text).map_err(|e| bad(format!("trainer_state.json: {e}")))?;
        if state.config.seed != config.seed || state.config.batch_size != config.batch_size {
            return Err(bad(format!(
                "it was trained with seed {} and batch size {}, this run asks for {} and {}; use another run folder",
                state.config.seed, state.config.batch_size, config.seed, config.batch_size
            )));
        }
        let values = read_tensors::<B::InnerBackend>(&dir.join("trainable.safetensors"), device)?;
        let values = values
            .into_iter()
            .map(|(n, t)| (n, Tensor::from_inner(t)))
            .collect();
        model.set_trainable(values).map_err(bad)?;
        let moments = read_tensors::<B::InnerBackend>(&dir.join("optimizer.safetensors"), device)?;
        optimizer.step = state.optimizer_step;
        optimizer.moments.clear();
        for (name, m) in &moments {
            if let Some(param) = name.strip_prefix("m.") {
                let v = moments
                    .get(&format!("v.{param}"))
                    .ok_or_else(|| bad(format!("no second moment for `{param}`")))?;
                optimizer.moments.insert(
                    param.to_string(),
                    Moments {
                        m: m.clone(),
                        v: v.clone(),
                    },
                );
            }
        }
        Ok(state)
    }
}
