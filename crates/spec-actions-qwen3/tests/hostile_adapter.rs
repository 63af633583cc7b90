//! Hostile PEFT adapter folders: every broken `adapter_config.json` / `adapter_model.safetensors`
//! is a typed error naming the file and the field or tensor. Built from the PEFT 0.21 adapter of
//! the `tests/data/tiny` fixture (r 4, all seven projections), damaged one way each.
//! (An adapter for another model's shapes is in tests/lora_parity.rs.)

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use safetensors::tensor::TensorView;
use serde_json::Value;
use spec_actions_qwen3::lora::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, LoraError, PeftAdapter};

/// A scratch copy of the fixture adapter folder, removed on drop.
struct Adapter(PathBuf);

impl Adapter {
    fn copy() -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hostile-adapter-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny/lora");
        for file in [ADAPTER_CONFIG, ADAPTER_WEIGHTS] {
            std::fs::copy(src.join(file), dir.join(file)).unwrap();
        }
        Adapter(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    fn read_err(&self) -> LoraError {
        match PeftAdapter::read(&self.0) {
            Ok(_) => panic!("{} read although it is broken", self.0.display()),
            Err(e) => e,
        }
    }

    fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        let path = self.path(ADAPTER_CONFIG);
        let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(value.as_object_mut().unwrap());
        std::fs::write(&path, value.to_string()).unwrap();
    }

    /// Rewrite the weights keeping only the tensors `keep` accepts.
    fn keep_tensors(&self, keep: impl Fn(&str) -> bool) {
        let path = self.path(ADAPTER_WEIGHTS);
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let views: Vec<(String, TensorView<'_>)> = st
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, view)| {
                (
                    name.to_string(),
                    TensorView::new(view.dtype(), view.shape().to_vec(), view.data()).unwrap(),
                )
            })
            .collect();
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tensor_problems(err: LoraError) -> (PathBuf, Vec<String>) {
    match err {
        LoraError::Tensors { path, problems } => (path, problems),
        other => panic!("expected LoraError::Tensors, got {other}"),
    }
}

#[test]
fn intact_copy_reads() {
    let adapter = Adapter::copy();
    PeftAdapter::read(&adapter.0).expect("an intact copy reads");
}

#[test]
fn missing_files_are_named() {
    for file in [ADAPTER_CONFIG, ADAPTER_WEIGHTS] {
        let adapter = Adapter::copy();
        std::fs::remove_file(adapter.path(file)).unwrap();
        match adapter.read_err() {
            LoraError::Io { path, .. } => assert_eq!(path, adapter.path(file)),
            other => panic!("{file}: {other}"),
        }
    }
}

#[test]
fn truncated_weights_are_named() {
    let adapter = Adapter::copy();
    let path = adapter.path(ADAPTER_WEIGHTS);
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 8, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        match adapter.read_err() {
            LoraError::Safetensors { path: p, .. } => assert_eq!(p, path, "cut at {keep}"),
            other => panic!("cut at {keep}: {other}"),
        }
    }
}

#[test]
fn rank_in_config_disagreeing_with_the_tensors_names_every_tensor() {
    let adapter = Adapter::copy();
    adapter.edit_config(|c| {
        c.insert("r".into(), 8.into());
    });
    let (path, problems) = tensor_problems(adapter.read_err());
    assert_eq!(path, adapter.path(ADAPTER_WEIGHTS));
    // 2 layers × 7 projections × (A, B), each named with its rank.
    assert_eq!(problems.len(), 28, "{problems:#?}");
    assert!(
        problems.iter().all(|p| p.contains("rank 4 but r = 8")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("layers.1.mlp.down_proj.lora_B.weight")),
        "{problems:#?}"
    );
}

#[test]
fn half_of_a_pair_missing_is_named() {
    let adapter = Adapter::copy();
    adapter.keep_tensors(|name| !name.contains("layers.0.self_attn.q_proj.lora_B"));
    let (_, problems) = tensor_problems(adapter.read_err());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("missing tensor")
            && problems[0].contains("layers.0.self_attn.q_proj.lora_B.weight"),
        "{problems:?}"
    );
}

#[test]
fn tensors_for_untargeted_modules_are_named() {
    let adapter = Adapter::copy();
    adapter.edit_config(|c| {
        c.insert("target_modules".into(), serde_json::json!(["q_proj", "v_proj"]));
    });
    let (_, problems) = tensor_problems(adapter.read_err());
    // k, o, gate, up, down × 2 layers × (A, B)
    assert_eq!(problems.len(), 20, "{problems:#?}");
    assert!(
        problems
            .iter()
            .all(|p| p.contains("which target_modules does not list")),
        "{problems:#?}"
    );
}

#[test]
fn config_values_we_cannot_honour_name_the_field() {
    let cases: [(&str, Value); 7] = [
        ("r", 0.into()),
        ("r", "4".into()),
        ("lora_alpha", Value::Null),
        ("lora_dropout", 1.5.into()),
        ("target_modules", serde_json::json!(["embed_tokens"])),
        ("use_dora", true.into()),
        ("peft_type", "IA3".into()),
    ];
    for (field, value) in cases {
        let adapter = Adapter::copy();
        adapter.edit_config(|c| {
            c.insert(field.into(), value.clone());
        });
        match adapter.read_err() {
            LoraError::Config { path, field: f, .. } => {
                assert_eq!(path, adapter.path(ADAPTER_CONFIG), "{field} = {value}");
                assert_eq!(f, field, "{field} = {value}");
            }
            other => panic!("{field} = {value}: {other}"),
        }
    }
    let adapter = Adapter::copy();
    std::fs::write(adapter.path(ADAPTER_CONFIG), "[1, 2]").unwrap();
    assert!(
        matches!(adapter.read_err(), LoraError::Config { path, .. } if path == adapter.path(ADAPTER_CONFIG))
    );
}
