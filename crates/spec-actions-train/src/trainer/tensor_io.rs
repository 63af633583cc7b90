//! Named 2-D f32 tensors to and from safetensors files: checkpoints' trainable tensors and
//! optimizer moments, and the reward head.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use spec_actions_core::io::{FileError, atomic_write};

use super::TrainError;

/// Named 2-D f32 tensors to a safetensors file, atomically.
pub fn write_tensors<B: Backend>(path: &Path, tensors: &[(String, Tensor<B, 2>)]) -> Result<(), TrainError> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let values = t
                .clone()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| bad(format!("{n}: {e:?}")))?;
            Ok((
                n.clone(),
                t.dims().to_vec(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ))
        })
        .collect::<Result<_, TrainError>>()?;
    let views = data
        .iter()
        .map(|(n, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = safetensors::serialize(views, None).map_err(|e| bad(e.to_string()))?;
    atomic_write(path, |w| {
        w.write_all(&bytes)
            .map_err(|e| TrainError::from(FileError::new("write", path, e)))
    })
}

/// Reads every 2-D f32 tensor of a safetensors file by name.
pub fn read_tensors<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<BTreeMap<String, Tensor<B, 2>>, TrainError> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = fs::read(path).map_err(|e| bad(e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let [r, c] = match view.shape() {
            [r, c] => [*r, *c],
            s => return Err(bad(format!("`{name}` has shape {s:?}, expected 2 dimensions"))),
        };
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("`{name}` is {:?}, expected F32", view.dtype())));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(name, Tensor::from_data(TensorData::new(values, [r, c]), device));
    }
    Ok(out)
}
