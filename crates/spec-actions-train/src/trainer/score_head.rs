//! The reward model's scalar head as a file: `score.weight` in HF's
//! `Qwen3ForSequenceClassification` layout, `[num_labels = 1, hidden]` (what transformers and
//! TRL's reward trainer load). The head is `[hidden, 1]` in memory (`hidden · head`, see
//! [`crate::objective::last_token_scores`]); files written before issue #14 stored it so, and
//! [`read_score_head`] still reads them.

use std::path::Path;

use burn::prelude::*;

use super::TrainError;
use super::model::SCORE_HEAD;
use super::tensor_io::{read_tensors, write_tensors};

/// Writes the `[hidden, 1]` head `head` to `path` as `score.weight` `[1, hidden]` (HF's layout),
/// atomically.
///
/// # Shapes
/// - `head`: `[hidden, 1]`
pub fn write_score_head<B: Backend>(path: &Path, head: Tensor<B, 2>) -> Result<(), TrainError> {
    let [_, one] = head.dims();
    if one != 1 {
        return Err(TrainError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("{SCORE_HEAD}: head shape {:?}, expected [hidden, 1]", head.dims()),
        });
    }
    write_tensors(path, &[(SCORE_HEAD.to_string(), head.transpose())])
}

/// Reads the head of a model of width `hidden` from `path` as `[hidden, 1]`: `score.weight`
/// stored `[1, hidden]` (HF's layout, [`write_score_head`]) or `[hidden, 1]` (this crate's files
/// before issue #14). A missing tensor or another shape is [`TrainError::Checkpoint`] naming
/// the file, the tensor and both shapes.
///
/// # Shapes
/// - returns `[hidden, 1]`
pub fn read_score_head<B: Backend>(
    path: &Path,
    hidden: usize,
    device: &B::Device,
) -> Result<Tensor<B, 2>, TrainError> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let head = read_tensors::<B>(path, device)?
        .remove(SCORE_HEAD)
        .ok_or_else(|| bad(format!("no `{SCORE_HEAD}` tensor")))?;
    match head.dims() {
        [1, h] if h == hidden => Ok(head.transpose()),
        [h, 1] if h == hidden => Ok(head),
        dims => Err(bad(format!(
            "`{SCORE_HEAD}` has shape {dims:?}, expected [1, {hidden}] (HF's layout) or [{hidden}, 1]"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;

    fn head(hidden: usize) -> Tensor<Flex, 2> {
        let values: Vec<f32> = (0..hidden).map(|i| i as f32 * 0.25 - 1.0).collect();
        Tensor::from_data(TensorData::new(values, [hidden, 1]), &Default::default())
    }

    fn values(t: Tensor<Flex, 2>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    /// The file holds `score.weight` as `[1, hidden]` (HF's `Qwen3ForSequenceClassification`
    /// layout, the values in order), and reads back as the same `[hidden, 1]` head.
    #[test]
    fn written_in_hf_layout_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("score_head.safetensors");
        write_score_head(&path, head(6)).unwrap();
        let stored = read_tensors::<Flex>(&path, &Default::default()).unwrap();
        let w = &stored[SCORE_HEAD];
        assert_eq!(w.dims(), [1, 6]);
        assert_eq!(values(w.clone()), values(head(6)));
        let back = read_score_head::<Flex>(&path, 6, &Default::default()).unwrap();
        assert_eq!(back.dims(), [6, 1]);
        assert_eq!(values(back), values(head(6)));
    }

    /// A file of the former layout (`[hidden, 1]`) still reads; any other shape or a missing
    /// tensor is an error naming the file and the shapes.
    #[test]
    fn former_layout_reads_and_other_shapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.safetensors");
        write_tensors(&old, &[(SCORE_HEAD.to_string(), head(6))]).unwrap();
        assert_eq!(
            values(read_score_head::<Flex>(&old, 6, &Default::default()).unwrap()),
            values(head(6))
        );
        let err = read_score_head::<Flex>(&old, 8, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("old.safetensors") && err.contains("[6, 1]") && err.contains("[1, 8]"),
            "{err}"
        );
        let other = dir.path().join("other.safetensors");
        write_tensors(&other, &[("lm_head.weight".to_string(), head(6))]).unwrap();
        let err = read_score_head::<Flex>(&other, 6, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `score.weight`"), "{err}");
    }
}
