//! Writing a model as an HF checkpoint folder (`config.json` + `model.safetensors`, f32), the
//! inverse of [`crate::loader`]: what this crate saves, transformers and this crate load.

use std::path::Path;

use burn::prelude::*;
use safetensors::Dtype;
use serde_json::json;

use crate::config::Qwen3Config;
use crate::error::{Qwen3Error, Result};
use crate::loader::SINGLE_FILE;
use crate::model::Qwen3;
use crate::model::tensor_names::{HfWeightMut, LM_HEAD, SCORE_HEAD};

impl Qwen3Config {
    /// `config.json` in the transformers 4.x layout (read by transformers 4.51+ and 5.x, and by
    /// [`Qwen3Config::from_json_str`]).
    pub fn to_hf_json(&self) -> serde_json::Value {
        json!({
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": false,
            "attention_dropout": 0.0,
            "use_sliding_window": false,
            "sliding_window": null,
            "torch_dtype": "float32",
            "eos_token_id": eos_token_id_json(&self.eos_token_ids),
        })
    }
}

/// `eos_token_id` as transformers writes it: `null` without one, the id alone for one, a list
/// for several. An empty list is not "no end token" to transformers: `generate()` indexes its
/// first element and fails with an `IndexError` (issue #14, item 3).
pub fn eos_token_id_json(ids: &[u32]) -> serde_json::Value {
    match ids {
        [] => serde_json::Value::Null,
        [id] => json!(id),
        ids => json!(ids),
    }
}

impl<B: Backend> Qwen3<B> {
    /// Every weight under its HF name, in HF layout (`[out, in]` projections), as f32 values.
    /// Adapters are not included: merge them first to bake them in.
    pub fn hf_tensors(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> (Vec<usize>, Vec<f32>) {
            let dims = t.dims().to_vec();
            (
                dims,
                t.into_data().convert::<f32>().to_vec::<f32>().unwrap_or_default(),
            )
        }
        // `hf_weights_mut` walks the name table; the clone only shares the tensors.
        let mut model = self.clone();
        model
            .hf_weights_mut()
            .into_iter()
            .map(|(name, weight)| {
                let (shape, data) = match weight {
                    HfWeightMut::Matrix(p) => values(p.val()),
                    // back in HF's `[out, in]` layout
                    HfWeightMut::Projection(p) => values(p.val().transpose()),
                    HfWeightMut::Vector(p) => values(p.val()),
                };
                (name, shape, data)
            })
            .collect()
    }

    /// Writes `dir/config.json` and `dir/model.safetensors` (f32) as one folder: both are
    /// written into a temp folder beside `dir`, which then replaces `dir`
    /// ([`spec_actions_core::io::atomic_write_dir`]). A full disk or a kill part-way leaves the
    /// previous folder (or none), never weights without their config. A failed write is
    /// [`Qwen3Error::Write`], naming the file.
    pub fn save_hf(&self, dir: &Path) -> Result<()> {
        self.save_hf_with_files(dir, &[])
    }

    /// [`Self::save_hf`] with `extra_files` (name, bytes) written into the same folder in the
    /// same atomic step: the tokenizer files of the checkpoint a merged model came from, so
    /// that the folder is a whole HF checkpoint.
    pub fn save_hf_with_files(&self, dir: &Path, extra_files: &[(String, Vec<u8>)]) -> Result<()> {
        write_hf_folder(dir, &self.hf_tensors(), &self.config.to_hf_json(), extra_files)
    }

    /// Writes this model with a scalar head as HF's `Qwen3ForSequenceClassification` with one
    /// label (a reward model, as transformers and TRL's reward trainer load it): every weight of
    /// [`Self::hf_tensors`] but `lm_head.weight`, plus `score.weight` `[1, hidden]` =
    /// `score_weight`; `config.json` names the architecture, `num_labels` 1 and
    /// `pad_token_id` (transformers pools each row at its last token that is not padding).
    /// Atomic as [`Self::save_hf`]; a head of another width is [`Qwen3Error::InvalidInput`].
    pub fn save_hf_sequence_classification(
        &self,
        dir: &Path,
        score_weight: &[f32],
        pad_token_id: Option<u32>,
        extra_files: &[(String, Vec<u8>)],
    ) -> Result<()> {
        let hidden = self.config.hidden_size;
        if score_weight.len() != hidden {
            return Err(Qwen3Error::InvalidInput(format!(
                "score head has {} values, the model's hidden size is {hidden}",
                score_weight.len()
            )));
        }
        let mut tensors: Vec<_> = self
            .hf_tensors()
            .into_iter()
            .filter(|(name, _, _)| name != LM_HEAD)
            .collect();
        tensors.push((SCORE_HEAD.into(), vec![1, hidden], score_weight.to_vec()));
        let mut config = self.config.to_hf_json();
        config["architectures"] = json!(["Qwen3ForSequenceClassification"]);
        config["num_labels"] = json!(1);
        config["id2label"] = json!({"0": "LABEL_0"});
        config["label2id"] = json!({"LABEL_0": 0});
        config["pad_token_id"] = json!(pad_token_id);
        write_hf_folder(dir, &tensors, &config, extra_files)
    }
}

/// `dir/model.safetensors` (f32 `tensors`), `dir/config.json` and `extra_files`, as one folder
/// ([`spec_actions_core::io::atomic_write_dir`]).
fn write_hf_folder(
    dir: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    config: &serde_json::Value,
    extra_files: &[(String, Vec<u8>)],
) -> Result<()> {
    let path = dir.join(SINGLE_FILE);
    let bad = |message: String| Qwen3Error::Safetensors {
        path: path.clone(),
        message,
    };
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = Some([("format".to_string(), "pt".to_string())].into_iter().collect());
    let file = safetensors::serialize(views, metadata).map_err(|e| bad(e.to_string()))?;
    let config = serde_json::to_vec_pretty(config).unwrap_or_default();
    spec_actions_core::io::atomic_write_dir(dir, |tmp| {
        spec_actions_core::io::atomic_write_bytes(&tmp.join(SINGLE_FILE), &file)?;
        spec_actions_core::io::atomic_write_bytes(&tmp.join("config.json"), &config)?;
        for (name, bytes) in extra_files {
            spec_actions_core::io::atomic_write_bytes(&tmp.join(name), bytes)?;
        }
        Ok(())
    })
    .map_err(|e: spec_actions_core::io::FileError| Qwen3Error::Write {
        path: named_in(dir, &e.path),
        source: e.source,
    })
}

/// The path a user knows for `written`: a file inside the temp folder of
/// [`spec_actions_core::io::atomic_write_dir`] (`.<name>.<pid>.<n>.tmpdir/<file>`) is named as
/// `dir/<file>`; any other path is kept.
pub(crate) fn named_in(dir: &Path, written: &Path) -> std::path::PathBuf {
    let in_temp = written
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n.to_string_lossy().ends_with(".tmpdir"));
    match written.file_name() {
        Some(name) if in_temp => dir.join(name),
        _ => written.to_path_buf(),
    }
}
