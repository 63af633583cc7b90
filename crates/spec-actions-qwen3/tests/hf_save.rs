//! A model saved as an HF folder loads back to the same weights and config, for the tied f32
//! fixture and the untied sharded bf16 one (whose bf16 values are exact in f32).

use std::path::PathBuf;

use burn::backend::Flex;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::loader::load_qwen3;

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

#[test]
fn saved_checkpoint_loads_back_identically() {
    for fixture in ["tiny", "tiny-untied-sharded-bf16"] {
        let device = Default::default();
        let model = load_qwen3::<Flex>(data(fixture), &device).expect("fixture loads");
        let dir = tempfile::tempdir().expect("temp dir");
        model.save_hf(dir.path()).expect("saves");
        let again = load_qwen3::<Flex>(dir.path(), &device).expect("saved folder loads");
        let config = Qwen3Config::from_file(dir.path().join("config.json")).expect("config parses");
        let mut expected = model.config.clone();
        expected.storage_dtype = Some("float32".into()); // saved in f32 whatever it was loaded from
        assert_eq!(config, expected, "{fixture}: config");
        let (a, b) = (model.hf_tensors(), again.hf_tensors());
        assert_eq!(a.len(), b.len(), "{fixture}: tensor count");
        for ((name, shape, x), (name2, shape2, y)) in a.iter().zip(&b) {
            assert_eq!((name, shape), (name2, shape2));
            assert!(
                x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{fixture}: {name} differs"
            );
        }
    }
}

/// Issue 18, items 9 and 12: a full disk after `model.safetensors` and before `config.json`
/// is a write error ("cannot write …/config.json", not "cannot read"), and the folder keeps the
/// previous checkpoint whole — or, saved for the first time, does not appear at all; the same
/// for a PEFT adapter folder.
#[test]
fn full_disk_between_the_two_files_is_a_write_error_and_keeps_the_old_folder() {
    use spec_actions_core::io::fault;
    let device = Default::default();
    let model = load_qwen3::<Flex>(data("tiny"), &device).expect("fixture loads");
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("model");

    // first save: nothing appears
    fault::fail_after(Some(1));
    let err = model.save_hf(&dir).expect_err("the disk fills after the weights");
    fault::fail_after(None);
    let message = err.to_string();
    assert!(message.starts_with("cannot write "), "{message}");
    assert!(
        message.contains(&*dir.join("config.json").to_string_lossy()),
        "{message}"
    );
    assert!(!dir.exists(), "no half folder");
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "no temp folder"
    );

    // over a complete folder: the old one stays whole
    model.save_hf(&dir).expect("saves");
    let before = std::fs::read(dir.join("model.safetensors")).unwrap();
    let mut other = model.config.clone();
    other.rms_norm_eps = 1e-5;
    let changed = other.init::<Flex>(&device);
    fault::fail_after(Some(1));
    let err = changed
        .save_hf(&dir)
        .expect_err("the disk fills after the weights");
    fault::fail_after(None);
    assert!(err.to_string().contains("config.json"), "{err}");
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), before);
    assert_eq!(
        Qwen3Config::from_file(dir.join("config.json"))
            .unwrap()
            .rms_norm_eps,
        model.config.rms_norm_eps
    );
    load_qwen3::<Flex>(&dir, &device).expect("the old folder still loads");

    // a PEFT adapter folder: the same
    let adapter = root.path().join("adapter");
    let lora = spec_actions_qwen3::lora::LoraConfig::default();
    let with_lora = model.with_new_lora(&lora);
    fault::fail_after(Some(1));
    let err = with_lora
        .peft_adapter(&lora)
        .write(&adapter)
        .expect_err("disk full");
    fault::fail_after(None);
    assert!(
        err.to_string()
            .contains(&*adapter.join("adapter_config.json").to_string_lossy()),
        "{err}"
    );
    assert!(!adapter.exists());
    with_lora.peft_adapter(&lora).write(&adapter).expect("writes");
    assert!(
        adapter.join("adapter_config.json").exists() && adapter.join("adapter_model.safetensors").exists()
    );
}

/// Issue #14, item 3: `eos_token_id` is written as transformers writes it, so that the saved
/// `config.json` says what the source said. The tiny fixture's config (written by transformers
/// 5.23) has `null` — saved as `[]` before, on which transformers' `generate()` fails with an
/// `IndexError`; Qwen3-0.6B's `config.json` has the one id `151645`; its
/// `generation_config.json` the list `[151645, 151643]`.
#[test]
fn saved_eos_token_id_is_the_sources_json_value() {
    let device = Default::default();
    let model = load_qwen3::<Flex>(data("tiny"), &device).expect("fixture loads");
    let source: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data("tiny").join("config.json")).unwrap()).unwrap();
    assert_eq!(
        source["eos_token_id"],
        serde_json::Value::Null,
        "the fixture's own value"
    );
    for (ids, expected) in [
        (vec![], source["eos_token_id"].clone()),
        (vec![151_645], serde_json::json!(151_645)),
        (vec![151_645, 151_643], serde_json::json!([151_645, 151_643])),
    ] {
        let mut model = model.clone();
        model.config.eos_token_ids = ids.clone();
        let dir = tempfile::tempdir().expect("temp dir");
        model.save_hf(dir.path()).expect("saves");
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(saved["eos_token_id"], expected, "{ids:?}");
        let again = Qwen3Config::from_file(dir.path().join("config.json")).expect("config parses");
        assert_eq!(again.eos_token_ids, ids, "reads back");
    }
}

/// Issue #14, item 4: the reward model saved as `Qwen3ForSequenceClassification` has exactly
/// the tensors (names and shapes) and the classification fields of config.json that
/// transformers 5.24 writes for that architecture (`tests/data/seq_cls_layout.json`, made by
/// `save_pretrained` of the tiny config with one label): `score.weight` `[1, hidden]`, no
/// `lm_head.weight`; the score row is the head given, and the causal-LM weights are unchanged.
#[test]
fn sequence_classification_folder_has_transformers_layout() {
    let device = Default::default();
    let model = load_qwen3::<Flex>(data("tiny"), &device).expect("fixture loads");
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data("seq_cls_layout.json")).unwrap()).unwrap();
    let head: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) / 100.0).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    model
        .save_hf_sequence_classification(dir.path(), &head, Some(0), &[])
        .expect("saves");
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut ours: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    ours.sort();
    let expected: Vec<(String, Vec<usize>)> = layout["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::from_value(v.clone()).unwrap()))
        .collect();
    assert_eq!(ours, expected, "tensor names and shapes");
    let score = file.tensor("score.weight").unwrap();
    let values: Vec<f32> = score
        .data()
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values, head);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    for (key, value) in layout["config"].as_object().unwrap() {
        assert_eq!(&config[key], value, "config.json `{key}`");
    }
    let err = model
        .save_hf_sequence_classification(&dir.path().join("x"), &head[..10], None, &[])
        .expect_err("a head of another width");
    assert!(err.to_string().contains("hidden size is 64"), "{err}");
}
