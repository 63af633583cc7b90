//! Hostile checkpoint folders: every broken folder is a typed error naming the file and the
//! tensor, never a panic. Folders are built from the `tests/data/tiny*` fixtures (HF
//! transformers 5.23 checkpoints) and damaged one way each.
//!
//! tests/parity.rs covers the happy paths; tests/loader_errors.rs a data-truncated file, missing /
//! wrong-shape / unexpected tensors together, an untied config without `lm_head`, a missing
//! config field and unsupported settings. These are the other failure paths.

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::error::{Qwen3Error, TensorProblem};
use spec_actions_qwen3::loader::{SHARD_INDEX, SINGLE_FILE, load_qwen3};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A scratch folder under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    /// A copy of the fixture folder `name` (its top-level files).
    fn copy_of(name: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hostile-loader-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(fixture(name)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().unwrap() != "reference.safetensors" {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn load(&self) -> Qwen3Error {
        match load_qwen3::<Flex>(&self.0, &Default::default()) {
            Ok(_) => panic!("{} loaded although it is broken", self.0.display()),
            Err(e) => e,
        }
    }

    fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        let path = self.path("config.json");
        let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(value.as_object_mut().unwrap());
        std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    }

    /// Rewrite `file` with `replace` applied to its tensors (name, dtype, shape, bytes).
    fn edit_tensors(
        &self,
        file: &str,
        replace: impl Fn(&str, Dtype, Vec<usize>, Vec<u8>) -> (Dtype, Vec<usize>, Vec<u8>),
    ) {
        let path = self.path(file);
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .iter()
            .map(|(name, view)| {
                let (dtype, shape, data) =
                    replace(name, view.dtype(), view.shape().to_vec(), view.data().to_vec());
                (name.to_string(), dtype, shape, data)
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(name, dtype, shape, data)| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), data).unwrap(),
                )
            })
            .collect();
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mismatch(err: Qwen3Error) -> (PathBuf, Vec<TensorProblem>) {
    match err {
        Qwen3Error::TensorMismatch { dir, problems } => (dir, problems),
        other => panic!("expected TensorMismatch, got {other}"),
    }
}

#[test]
fn intact_copies_load() {
    // The damage below is the only reason the other tests fail.
    for name in ["tiny", "tiny-untied-sharded-bf16"] {
        let dir = Scratch::copy_of(name);
        load_qwen3::<Flex>(&dir.0, &Default::default()).expect("an intact copy loads");
    }
}

#[test]
fn missing_config_names_it() {
    let dir = Scratch::copy_of("tiny");
    std::fs::remove_file(dir.path("config.json")).unwrap();
    match dir.load() {
        Qwen3Error::Io { path, .. } => assert_eq!(path, dir.path("config.json")),
        other => panic!("{other}"),
    }
}

#[test]
fn missing_weights_name_the_folder() {
    let dir = Scratch::copy_of("tiny");
    std::fs::remove_file(dir.path(SINGLE_FILE)).unwrap();
    let err = dir.load();
    assert!(
        matches!(&err, Qwen3Error::NoWeights { dir: d } if d == &dir.0),
        "{err}"
    );
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn file_cut_inside_its_header_names_it() {
    let dir = Scratch::copy_of("tiny");
    let path = dir.path(SINGLE_FILE);
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 7, 8, 100] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        match dir.load() {
            Qwen3Error::Safetensors { path: p, .. } => assert_eq!(p, path, "cut at {keep}"),
            other => panic!("cut at {keep}: {other}"),
        }
    }
}

#[test]
fn truncated_shard_names_it() {
    let dir = Scratch::copy_of("tiny-untied-sharded-bf16");
    let shard = dir.path("model-00002-of-00002.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 4096]).unwrap();
    let err = dir.load();
    assert!(
        matches!(&err, Qwen3Error::Safetensors { path, .. } if path == &shard),
        "{err}"
    );
    assert!(
        err.to_string().contains("model-00002-of-00002.safetensors"),
        "{err}"
    );
}

#[test]
fn corrupt_header_length_is_an_error() {
    let dir = Scratch::copy_of("tiny");
    let path = dir.path(SINGLE_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    for header_len in [u64::MAX, u64::MAX / 2, 99_999_999, 0, 3] {
        bytes[..8].copy_from_slice(&header_len.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = dir.load();
        assert!(
            matches!(&err, Qwen3Error::Safetensors { path: p, .. } if p == &path),
            "{header_len}: {err}"
        );
    }
}

#[test]
fn index_pointing_to_a_missing_shard_names_the_shard() {
    let dir = Scratch::copy_of("tiny-untied-sharded-bf16");
    std::fs::remove_file(dir.path("model-00002-of-00002.safetensors")).unwrap();
    match dir.load() {
        Qwen3Error::Io { path, .. } => assert_eq!(path, dir.path("model-00002-of-00002.safetensors")),
        other => panic!("{other}"),
    }
}

#[test]
fn malformed_index_names_the_index_and_field() {
    let dir = Scratch::copy_of("tiny-untied-sharded-bf16");
    let index = dir.path(SHARD_INDEX);
    std::fs::write(&index, r#"{"metadata": {}}"#).unwrap();
    match dir.load() {
        Qwen3Error::MissingField { path, field } => {
            assert_eq!(path, index);
            assert_eq!(field, "weight_map");
        }
        other => panic!("{other}"),
    }
    std::fs::write(&index, r#"{"weight_map": {"model.norm.weight": 3}}"#).unwrap();
    match dir.load() {
        Qwen3Error::Unsupported { path, field, .. } => {
            assert_eq!(path, index);
            assert_eq!(field, "weight_map.model.norm.weight");
        }
        other => panic!("{other}"),
    }
    std::fs::write(&index, "{\"weight_map\": ").unwrap();
    assert!(matches!(dir.load(), Qwen3Error::Json { path, .. } if path == index));
}

#[test]
fn index_listing_only_one_shard_reports_the_missing_tensors() {
    let dir = Scratch::copy_of("tiny-untied-sharded-bf16");
    let index = dir.path(SHARD_INDEX);
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    let map = value["weight_map"].as_object_mut().unwrap();
    map.retain(|_, file| file == "model-00001-of-00002.safetensors");
    std::fs::write(&index, value.to_string()).unwrap();
    let (_, problems) = mismatch(dir.load());
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, TensorProblem::Missing { .. })),
        "{problems:?}"
    );
}

#[test]
fn tensor_of_the_wrong_dtype_is_named_with_its_file() {
    let dir = Scratch::copy_of("tiny");
    let target = "model.layers.1.mlp.up_proj.weight";
    dir.edit_tensors(SINGLE_FILE, |name, dtype, shape, data| {
        if name == target {
            (Dtype::I32, shape, data)
        } else {
            (dtype, shape, data)
        }
    });
    let (d, problems) = mismatch(dir.load());
    assert_eq!(d, dir.0);
    assert_eq!(
        problems,
        vec![TensorProblem::UnsupportedDtype {
            name: target.into(),
            file: dir.path(SINGLE_FILE),
            dtype: "I32".into()
        }]
    );
}

#[test]
fn tensor_of_the_wrong_shape_is_named_with_its_file() {
    let dir = Scratch::copy_of("tiny");
    let target = "model.layers.0.self_attn.k_proj.weight";
    dir.edit_tensors(SINGLE_FILE, |name, dtype, shape, data| {
        if name == target {
            // Same bytes, rows and columns swapped: [32, 64] stored as [64, 32].
            (dtype, vec![shape[1], shape[0]], data)
        } else {
            (dtype, shape, data)
        }
    });
    let (_, problems) = mismatch(dir.load());
    assert_eq!(
        problems,
        vec![TensorProblem::WrongShape {
            name: target.into(),
            file: dir.path(SINGLE_FILE),
            expected: vec![32, 64],
            found: vec![64, 32],
        }]
    );
    let shown = Qwen3Error::TensorMismatch {
        dir: dir.0.clone(),
        problems,
    }
    .to_string();
    assert!(
        shown.contains(target) && shown.contains("model.safetensors"),
        "{shown}"
    );
}

#[test]
fn config_that_disagrees_with_the_weights_lists_every_problem() {
    // More layers than stored: the missing layer's tensors are listed.
    let dir = Scratch::copy_of("tiny");
    dir.edit_config(|c| {
        c.insert("num_hidden_layers".into(), 3.into());
        c.insert("layer_types".into(), Value::Null);
    });
    let (_, problems) = mismatch(dir.load());
    assert_eq!(problems.len(), 11, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| matches!(p, TensorProblem::Missing { name, .. } if name.starts_with("model.layers.2.")))
    );

    // Fewer layers: the extra tensors are unexpected, named with their file.
    let dir = Scratch::copy_of("tiny");
    dir.edit_config(|c| {
        c.insert("num_hidden_layers".into(), 1.into());
        c.insert("layer_types".into(), Value::Null);
    });
    let (_, problems) = mismatch(dir.load());
    assert_eq!(problems.len(), 11, "{problems:?}");
    assert!(problems.iter().all(
        |p| matches!(p, TensorProblem::Unexpected { name, file } if name.starts_with("model.layers.1.") && *file == dir.path(SINGLE_FILE))
    ));

    // Other head layout: q/k/v/o and the norms have the wrong shapes.
    let dir = Scratch::copy_of("tiny");
    dir.edit_config(|c| {
        c.insert("num_key_value_heads".into(), 4.into());
    });
    let (_, problems) = mismatch(dir.load());
    let wrong: Vec<&str> = problems
        .iter()
        .map(|p| match p {
            TensorProblem::WrongShape { name, .. } => name.as_str(),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(
        wrong,
        [
            "model.layers.0.self_attn.k_proj.weight",
            "model.layers.0.self_attn.v_proj.weight",
            "model.layers.1.self_attn.k_proj.weight",
            "model.layers.1.self_attn.v_proj.weight",
        ]
    );
}

#[test]
fn config_values_that_describe_no_model_name_the_field() {
    let dir = Scratch::copy_of("tiny");
    // (Missing fields and unsupported settings are in loader_errors.rs; these are values
    // that parse as JSON but cannot describe a model.)
    let cases: [(&str, Value); 5] = [
        ("num_attention_heads", (-4).into()),
        ("num_key_value_heads", 3.into()),
        ("head_dim", 15.into()),
        ("vocab_size", 0.into()),
        ("tie_word_embeddings", "yes".into()),
    ];
    for (field, value) in cases {
        let original = std::fs::read_to_string(dir.path("config.json")).unwrap();
        dir.edit_config(|c| {
            c.insert(field.into(), value.clone());
        });
        let err = dir.load();
        let named = match &err {
            Qwen3Error::MissingField { path, field: f } | Qwen3Error::Unsupported { path, field: f, .. } => {
                path == &dir.path("config.json") && f == field
            }
            _ => false,
        };
        assert!(named, "{field} = {value}: {err}");
        std::fs::write(dir.path("config.json"), original).unwrap();
    }
}

/// A 200-byte config.json must not be able to make the loader allocate without bound or
/// overflow: sizes no checkpoint can hold are refused before anything is built.
#[test]
fn absurd_config_sizes_are_refused_before_allocating() {
    let dir = Scratch::copy_of("tiny");
    for (field, value) in [
        ("num_attention_heads", Value::from(1u64 << 62)),
        ("head_dim", Value::from(1u64 << 62)),
        ("num_hidden_layers", Value::from(1u64 << 40)),
    ] {
        let original = std::fs::read_to_string(dir.path("config.json")).unwrap();
        dir.edit_config(|c| {
            c.insert(field.into(), value.clone());
            c.insert("num_key_value_heads".into(), 1.into());
            c.insert("layer_types".into(), Value::Null);
        });
        let outcome = std::panic::catch_unwind(|| Qwen3Config::from_file(dir.path("config.json")));
        let err = outcome.unwrap_or_else(|_| panic!("{field}: panicked")).err();
        assert!(
            err.is_some(),
            "{field} = {value} accepted; loading it would allocate without bound"
        );
        std::fs::write(dir.path("config.json"), original).unwrap();
    }
}

/// An index is outside data: its shard names must not lead the loader out of the checkpoint
/// folder (absolute paths, `..`, path separators), whether or not the file exists there.
#[test]
fn index_naming_a_shard_outside_the_folder_is_refused() {
    let dir = Scratch::copy_of("tiny-untied-sharded-bf16");
    let index = dir.path(SHARD_INDEX);
    let original = std::fs::read_to_string(&index).unwrap();
    // A real file outside the folder, so that only the name check can refuse it.
    let outside = dir.0.with_extension("outside.safetensors");
    std::fs::copy(dir.path("model-00002-of-00002.safetensors"), &outside).unwrap();
    let outside_name = outside.file_name().unwrap().to_str().unwrap().to_string();
    let hostile = [
        outside.to_str().unwrap().to_string(),
        format!("../{outside_name}"),
        "..".to_string(),
        "sub/model-00002-of-00002.safetensors".to_string(),
        "sub\\model-00002-of-00002.safetensors".to_string(),
        String::new(),
    ];
    for name in hostile {
        let mut value: Value = serde_json::from_str(&original).unwrap();
        let map = value["weight_map"].as_object_mut().unwrap();
        let tensor = map
            .iter()
            .find(|(_, f)| f.as_str() == Some("model-00002-of-00002.safetensors"))
            .map(|(t, _)| t.clone())
            .unwrap();
        map.insert(tensor.clone(), Value::from(name.clone()));
        std::fs::write(&index, value.to_string()).unwrap();
        match dir.load() {
            Qwen3Error::Unsupported {
                path, field, value, ..
            } => {
                assert_eq!(path, index, "{name:?}");
                assert_eq!(field, format!("weight_map.{tensor}"), "{name:?}");
                assert_eq!(value, format!("{name:?}"), "{name:?}");
            }
            other => panic!("{name:?}: {other}"),
        }
    }
    std::fs::remove_file(&outside).unwrap();
    std::fs::write(&index, original).unwrap();
    assert!(load_qwen3::<Flex>(&dir.0, &Default::default()).is_ok());
}

/// `eos_token_id` (a number or a list) must be token ids: a value beyond u32, a negative or a
/// fractional one, or another type is refused naming the field, never truncated or dropped.
#[test]
fn eos_token_ids_out_of_range_name_the_field() {
    let dir = Scratch::copy_of("tiny");
    let config = dir.path("config.json");
    let original = std::fs::read_to_string(&config).unwrap();
    let accepted: [(Value, Vec<u32>); 4] = [
        (Value::Null, vec![]),
        (7.into(), vec![7]),
        (serde_json::json!([1, u32::MAX]), vec![1, u32::MAX]),
        (serde_json::json!([]), vec![]),
    ];
    for (value, ids) in accepted {
        dir.edit_config(|c| {
            c.insert("eos_token_id".into(), value.clone());
        });
        let parsed = Qwen3Config::from_file(&config).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(parsed.eos_token_ids, ids, "{value}");
        std::fs::write(&config, &original).unwrap();
    }
    let refused: [(Value, &str); 6] = [
        ((u64::from(u32::MAX) + 1).into(), "eos_token_id"),
        ((-1).into(), "eos_token_id"),
        (2.5.into(), "eos_token_id"),
        ("151645".into(), "eos_token_id"),
        (serde_json::json!([2, 4_294_967_296u64]), "eos_token_id[1]"),
        (serde_json::json!([null]), "eos_token_id[0]"),
    ];
    for (value, field) in refused {
        dir.edit_config(|c| {
            c.insert("eos_token_id".into(), value.clone());
        });
        match Qwen3Config::from_file(&config) {
            Err(Qwen3Error::Unsupported { path, field: f, .. }) => {
                assert_eq!(path, config);
                assert_eq!(f, field, "{value}");
            }
            other => panic!("{value}: {other:?}"),
        }
        std::fs::write(&config, &original).unwrap();
    }
}

/// Issue 18, item 12: an index that leaves out a tensor its shard holds loaded anyway (every
/// tensor of each shard was read); so did one that names the wrong shard. Both are now errors
/// naming the index and `weight_map.<tensor>`; an entry whose shard lacks the tensor too.
#[test]
fn an_index_that_disagrees_with_its_shards_names_the_entry() {
    const FIRST: &str = "model-00001-of-00002.safetensors";
    const SECOND: &str = "model-00002-of-00002.safetensors";
    type Edit = Box<dyn Fn(&mut serde_json::Map<String, Value>) -> String>;
    let edits: Vec<(Edit, &str)> = vec![
        (
            Box::new(|map| {
                let tensor = map.keys().next().unwrap().clone();
                map.remove(&tensor);
                tensor
            }),
            "does not list it",
        ),
        (
            Box::new(|map| {
                let (tensor, _) = map.iter().find(|(_, f)| *f == FIRST).unwrap();
                let tensor = tensor.clone();
                map.insert(tensor.clone(), Value::from(SECOND));
                tensor
            }),
            "is stored in",
        ),
        (
            Box::new(|map| {
                map.insert("model.layers.9.mlp.up_proj.weight".into(), Value::from(FIRST));
                "model.layers.9.mlp.up_proj.weight".into()
            }),
            "does not hold this tensor",
        ),
    ];
    for (edit, reason) in edits {
        let dir = Scratch::copy_of("tiny-untied-sharded-bf16");
        let index = dir.path(SHARD_INDEX);
        let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
        let tensor = edit(value["weight_map"].as_object_mut().unwrap());
        std::fs::write(&index, value.to_string()).unwrap();
        match dir.load() {
            Qwen3Error::Unsupported {
                path,
                field,
                reason: why,
                ..
            } => {
                assert_eq!(path, index);
                assert_eq!(field, format!("weight_map.{tensor}"));
                assert!(why.contains(reason), "{why}");
            }
            other => panic!("{reason}: {other}"),
        }
    }
}

/// Issue 18, item 12: an adapter tensor stored as I32 was reported twice, once for its dtype
/// and once as a false "missing tensor". Now once, for its dtype (and a wrong rank once too).
#[test]
fn an_unreadable_adapter_tensor_is_reported_once() {
    use spec_actions_qwen3::lora::{LoraError, PeftAdapter};
    let dir = Scratch::copy_of("tiny/lora");
    let bytes = std::fs::read(dir.path("adapter_model.safetensors")).unwrap();
    let target = SafeTensors::deserialize(&bytes).unwrap().names()[0].to_string();
    dir.edit_tensors("adapter_model.safetensors", |name, dtype, shape, data| {
        if name == target {
            (Dtype::I32, shape, data)
        } else {
            (dtype, shape, data)
        }
    });
    match PeftAdapter::read(&dir.0) {
        Err(LoraError::Tensors { problems, .. }) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains(&target) && problems[0].contains("I32"),
                "{problems:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
