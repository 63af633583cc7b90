//! Loading HF checkpoint folders: `config.json` plus one `model.safetensors` or shards listed
//! in `model.safetensors.index.json`, stored in f32, bf16 or f16.
//!
//! Files are memory-mapped and each tensor is converted straight into its model parameter,
//! so peak memory stays near the model's own size. Every tensor is checked against the
//! config before anything is built: missing, unexpected, wrongly shaped and unreadable
//! tensors are all reported in one [`Qwen3Error::TensorMismatch`].

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::config::Qwen3Config;
use crate::error::{Qwen3Error, Result, TensorProblem};
use crate::load_options::LoadOptions;
use crate::model::tensor_names::LM_HEAD;
use crate::model::{CastWeights, Qwen3, WeightSource};

/// Name of the single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index of a sharded checkpoint.
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

/// The safetensors files of a checkpoint folder, memory-mapped.
pub struct CheckpointFiles {
    dir: PathBuf,
    maps: Vec<(PathBuf, Mmap)>,
    /// The shard index and its `weight_map` (tensor → shard file name), when sharded.
    index: Option<(PathBuf, Vec<(String, String)>)>,
}

impl CheckpointFiles {
    /// Finds and maps the weight files of `dir` (single file, or every shard of the index).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let index_path = dir.join(SHARD_INDEX);
        let single = dir.join(SINGLE_FILE);
        let mut index = None;
        let paths = if index_path.is_file() {
            let weight_map = weight_map(&index_path)?;
            let mut names: Vec<&str> = Vec::new();
            for (_, file) in &weight_map {
                if !names.contains(&file.as_str()) {
                    names.push(file);
                }
            }
            let paths = names.into_iter().map(|name| dir.join(name)).collect();
            index = Some((index_path, weight_map));
            paths
        } else if single.is_file() {
            vec![single]
        } else {
            return Err(Qwen3Error::NoWeights { dir });
        };
        let maps = paths
            .into_iter()
            .map(|path| {
                let io = |source| Qwen3Error::Io {
                    path: path.clone(),
                    source,
                };
                let file = File::open(&path).map_err(io)?;
                // SAFETY: the map is read-only; a checkpoint modified while it is being
                // loaded could yield wrong values, never memory unsafety in safe code here.
                let map = unsafe { Mmap::map(&file) }.map_err(io)?;
                Ok((path, map))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { dir, maps, index })
    }

    /// Parses every file's header (validating that the data covers every declared tensor);
    /// with a shard index, checks that it lists exactly the tensors of each shard.
    fn parse(&self) -> Result<Vec<(&Path, SafeTensors<'_>)>> {
        let parsed = self
            .maps
            .iter()
            .map(|(path, map)| {
                SafeTensors::deserialize(map)
                    .map(|st| (path.as_path(), st))
                    .map_err(|e| Qwen3Error::Safetensors {
                        path: path.clone(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some((index_path, weight_map)) = &self.index {
            check_index(index_path, weight_map, &parsed)?;
        }
        Ok(parsed)
    }
}

/// The index is the checkpoint's table of contents: a tensor of a shard that the index does
/// not list (or lists in another shard), or an entry whose shard does not hold that tensor, is
/// an error naming the index and `weight_map.<tensor>` — not silently loaded, nor skipped.
fn check_index(
    index_path: &Path,
    weight_map: &[(String, String)],
    parsed: &[(&Path, SafeTensors<'_>)],
) -> Result<()> {
    let listed: HashMap<&str, &str> = weight_map.iter().map(|(t, f)| (t.as_str(), f.as_str())).collect();
    let problem = |tensor: &str, value: String, reason: String| Qwen3Error::Unsupported {
        path: index_path.to_path_buf(),
        field: format!("weight_map.{tensor}"),
        value,
        reason,
    };
    let mut held: HashMap<&str, Vec<String>> = HashMap::new();
    for (path, st) in parsed {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut names = st.names();
        names.sort();
        for name in names {
            match listed.get(name) {
                Some(&f) if f == file => {}
                Some(&f) => {
                    return Err(problem(
                        name,
                        format!("{f:?}"),
                        format!("the tensor is stored in {file}, not in {f}"),
                    ));
                }
                None => {
                    return Err(problem(
                        name,
                        "(absent)".into(),
                        format!("{file} holds this tensor but the index does not list it"),
                    ));
                }
            }
            held.entry(name).or_default().push(file.clone());
        }
    }
    for (tensor, file) in weight_map {
        if !held
            .get(tensor.as_str())
            .is_some_and(|files| files.contains(file))
        {
            return Err(problem(
                tensor,
                format!("{file:?}"),
                format!("{file} does not hold this tensor"),
            ));
        }
    }
    Ok(())
}

impl CheckpointFiles {}

/// The `weight_map` of an index (tensor → shard file name), in file order, each shard name
/// checked to be a plain file name inside the folder.
fn weight_map(index_path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(index_path).map_err(|source| Qwen3Error::Io {
        path: index_path.to_path_buf(),
        source,
    })?;
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|source| Qwen3Error::Json {
        path: index_path.to_path_buf(),
        source,
    })?;
    let Some(map) = index.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(Qwen3Error::MissingField {
            path: index_path.to_path_buf(),
            field: "weight_map".into(),
        });
    };
    let mut entries = Vec::with_capacity(map.len());
    for (tensor, file) in map {
        let Some(file) = file.as_str() else {
            return Err(Qwen3Error::Unsupported {
                path: index_path.to_path_buf(),
                field: format!("weight_map.{tensor}"),
                value: file.to_string(),
                reason: "expected a file name".into(),
            });
        };
        if let Err(reason) = check_shard_name(file) {
            return Err(Qwen3Error::Unsupported {
                path: index_path.to_path_buf(),
                field: format!("weight_map.{tensor}"),
                value: format!("{file:?}"),
                reason: reason.into(),
            });
        }
        entries.push((tensor.clone(), file.to_owned()));
    }
    Ok(entries)
}

/// A shard named by an index must be a plain file name: the index of a downloaded checkpoint
/// must not make the loader open (or memory-map) a file outside the checkpoint folder.
fn check_shard_name(file: &str) -> std::result::Result<(), &'static str> {
    if file.is_empty() {
        Err("empty shard file name")
    } else if file == "." || file == ".." {
        Err("a shard must be a file inside the checkpoint folder, not `.` or `..`")
    } else if file.contains(['/', '\\']) || Path::new(file).is_absolute() {
        Err("a shard must be a file name inside the checkpoint folder, without path separators")
    } else if file.contains('\0') {
        Err("a shard file name cannot contain a NUL byte")
    } else {
        Ok(())
    }
}

/// Loads the checkpoint folder `dir` (`config.json` + safetensors) onto `device`.
///
/// Weights are converted to f32 whatever their storage dtype (f32, bf16, f16); see
/// [`load_qwen3_with`](crate::load_qwen3_with) for another compute dtype. A tied checkpoint that nonetheless stores `lm_head.weight` has it
/// ignored, as transformers does.
pub fn load_qwen3<B: Backend>(dir: impl AsRef<Path>, device: &B::Device) -> Result<Qwen3<B>> {
    crate::load_options::load_qwen3_with(dir, &Default::default(), device)
}

/// Loads already-opened checkpoint files for `config`, each tensor converted from its storage
/// dtype to `dtype` as it is consumed (never a whole-model copy in another dtype).
pub fn load_with_config<B: Backend>(
    config: &Qwen3Config,
    files: &CheckpointFiles,
    options: &LoadOptions,
    device: &B::Device,
) -> Result<Qwen3<B>> {
    let parsed = files.parse()?;

    // 1. Inventory: every stored tensor, first occurrence wins.
    let mut stored: HashMap<String, (&Path, safetensors::tensor::TensorView<'_>)> = HashMap::new();
    for (path, st) in &parsed {
        for (name, view) in st.iter() {
            stored.entry(name.to_owned()).or_insert((*path, view));
        }
    }

    // 2. Compare with what the config needs; collect every problem.
    let expected: BTreeMap<String, Vec<usize>> = config.expected_tensors().into_iter().collect();
    let mut problems = Vec::new();
    for (name, shape) in &expected {
        match stored.get(name) {
            None => problems.push(TensorProblem::Missing {
                name: name.clone(),
                expected_shape: shape.clone(),
            }),
            Some((path, view)) => {
                if view.shape() != shape.as_slice() {
                    problems.push(TensorProblem::WrongShape {
                        name: name.clone(),
                        file: path.to_path_buf(),
                        expected: shape.clone(),
                        found: view.shape().to_vec(),
                    });
                }
                if !matches!(view.dtype(), Dtype::F32 | Dtype::BF16 | Dtype::F16) {
                    problems.push(TensorProblem::UnsupportedDtype {
                        name: name.clone(),
                        file: path.to_path_buf(),
                        dtype: format!("{:?}", view.dtype()),
                    });
                }
            }
        }
    }
    let mut unexpected: Vec<_> = stored
        .iter()
        .filter(|(name, _)| !expected.contains_key(*name))
        .filter(|(name, _)| !(config.tie_word_embeddings && name.as_str() == LM_HEAD))
        .map(|(name, (path, _))| TensorProblem::Unexpected {
            name: name.clone(),
            file: path.to_path_buf(),
        })
        .collect();
    unexpected.sort_by_key(ToString::to_string);
    problems.extend(unexpected);
    if !problems.is_empty() {
        return Err(Qwen3Error::TensorMismatch {
            dir: files.dir.clone(),
            problems,
        });
    }

    // 3. Build the model, converting each tensor as it is consumed.
    let mut source = StoredWeights {
        stored,
        device,
        failures: Vec::new(),
    };
    let model = config.init_with(&mut CastWeights {
        inner: &mut source,
        matrices: options.weight_dtype,
        vectors: options.compute_dtype,
    });
    if !source.failures.is_empty() {
        return Err(Qwen3Error::TensorMismatch {
            dir: files.dir.clone(),
            problems: source.failures,
        });
    }
    Ok(model)
}

/// [`WeightSource`] over validated safetensors views.
struct StoredWeights<'a, B: Backend> {
    stored: HashMap<String, (&'a Path, safetensors::tensor::TensorView<'a>)>,
    device: &'a B::Device,
    /// Lookups that failed although validation passed (kept so that nothing panics).
    failures: Vec<TensorProblem>,
}

impl<B: Backend> StoredWeights<'_, B> {
    fn take(&mut self, name: &str, shape: Vec<usize>) -> TensorData {
        match self.stored.get(name) {
            Some((_, view)) if view.shape() == shape.as_slice() => {
                if let Some(values) = to_f32(view.dtype(), view.data()) {
                    return TensorData::new(values, shape);
                }
            }
            _ => {}
        }
        self.failures.push(TensorProblem::Missing {
            name: name.to_owned(),
            expected_shape: shape.clone(),
        });
        TensorData::new(vec![0.0f32; shape.iter().product()], shape)
    }
}

impl<B: Backend> WeightSource<B> for StoredWeights<'_, B> {
    fn matrix(&mut self, name: &str, shape: [usize; 2]) -> Tensor<B, 2> {
        let data = self.take(name, shape.to_vec());
        Tensor::from_data(data, self.device)
    }

    fn projection(&mut self, name: &str, [out, inp]: [usize; 2]) -> Tensor<B, 2> {
        let data = self.take(name, vec![out, inp]);
        let values = data.into_vec::<f32>().unwrap_or_default();
        Tensor::from_data(
            TensorData::new(transpose(&values, out, inp), [inp, out]),
            self.device,
        )
    }

    fn vector(&mut self, name: &str, len: usize) -> Tensor<B, 1> {
        let data = self.take(name, vec![len]);
        Tensor::from_data(data, self.device)
    }
}

/// Little-endian f32/bf16/f16 bytes to f32 values (`None` for other dtypes).
pub(crate) fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::BF16 => Some(
            bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        Dtype::F16 => Some(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

/// Row-major `[rows, cols]` to row-major `[cols, rows]`, in cache-sized tiles.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0f32; values.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
        }
    }
    out
}
