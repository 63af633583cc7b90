//! Bad checkpoints and configs give typed errors that name the problem, never a panic.
//! Each case copies the `tiny` fixture to a temporary folder and damages one thing.

use std::fs;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::error::{Qwen3Error, TensorProblem};
use spec_actions_qwen3::loader::load_qwen3;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A scratch copy of a fixture's config and weights.
fn scratch_copy(name: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qwen3-loader-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn load(dir: &Path) -> Result<(), Qwen3Error> {
    load_qwen3::<Flex>(dir, &Default::default()).map(|_| ())
}

/// Rewrites a safetensors file through `edit` on its (name → (dtype, shape, bytes)) entries.
fn rewrite(path: &Path, edit: impl FnOnce(&mut Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>)) {
    let bytes = fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut entries: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut entries);
    let views: Vec<_> = entries
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn truncated_file_is_a_safetensors_error_naming_the_file() {
    let dir = scratch_copy("tiny", "truncated");
    let file = dir.join("model.safetensors");
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 1000]).unwrap();
    match load(&dir) {
        Err(Qwen3Error::Safetensors { path, .. }) => assert_eq!(path, file),
        other => panic!("expected a Safetensors error, got {other:?}"),
    }
}

#[test]
fn missing_wrong_shape_and_unexpected_tensors_are_listed_together() {
    let dir = scratch_copy("tiny", "mismatch");
    rewrite(&dir.join("model.safetensors"), |entries| {
        entries.retain(|e| e.0 != "model.layers.1.mlp.up_proj.weight");
        let norm = entries.iter_mut().find(|e| e.0 == "model.norm.weight").unwrap();
        norm.2 = vec![32];
        norm.3.truncate(32 * 4);
        entries.push((
            "model.layers.7.extra.weight".into(),
            safetensors::Dtype::F32,
            vec![2],
            vec![0; 8],
        ));
    });
    let err = load(&dir).unwrap_err();
    let text = err.to_string();
    let Qwen3Error::TensorMismatch { problems, .. } = err else {
        panic!("expected TensorMismatch, got {err:?}")
    };
    assert_eq!(problems.len(), 3, "{text}");
    assert!(problems.contains(&TensorProblem::Missing {
        name: "model.layers.1.mlp.up_proj.weight".into(),
        expected_shape: vec![192, 64],
    }));
    assert!(problems.iter().any(
        |p| matches!(p, TensorProblem::WrongShape { name, expected, found, .. }
        if name == "model.norm.weight" && expected == &vec![64] && found == &vec![32])
    ));
    assert!(problems.iter().any(
        |p| matches!(p, TensorProblem::Unexpected { name, .. } if name == "model.layers.7.extra.weight")
    ));
    for needle in [
        "model.layers.1.mlp.up_proj.weight",
        "model.norm.weight",
        "model.layers.7.extra.weight",
    ] {
        assert!(text.contains(needle), "message does not name {needle}: {text}");
    }
}

#[test]
fn untied_checkpoint_without_lm_head_is_missing_it() {
    let dir = scratch_copy("tiny", "untied");
    let config = fs::read_to_string(dir.join("config.json")).unwrap();
    fs::write(
        dir.join("config.json"),
        config.replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"),
    )
    .unwrap();
    match load(&dir) {
        Err(Qwen3Error::TensorMismatch { problems, .. }) => assert_eq!(
            problems,
            vec![TensorProblem::Missing {
                name: "lm_head.weight".into(),
                expected_shape: vec![1024, 64]
            }]
        ),
        other => panic!("expected TensorMismatch, got {other:?}"),
    }
}

#[test]
fn config_missing_field_is_named() {
    let dir = scratch_copy("tiny", "nofield");
    let config = fs::read_to_string(dir.join("config.json")).unwrap();
    fs::write(
        dir.join("config.json"),
        config.replace("\"intermediate_size\": 192,", ""),
    )
    .unwrap();
    match load(&dir) {
        Err(Qwen3Error::MissingField { field, path }) => {
            assert_eq!(field, "intermediate_size");
            assert_eq!(path, dir.join("config.json"));
        }
        other => panic!("expected MissingField, got {other:?}"),
    }
}

#[test]
fn unsupported_settings_are_rejected() {
    let base = fs::read_to_string(fixture("tiny").join("config.json")).unwrap();
    let cases = [
        (
            "\"use_sliding_window\": false",
            "\"use_sliding_window\": true",
            "use_sliding_window",
        ),
        (
            "\"rope_type\": \"default\"",
            "\"rope_type\": \"yarn\"",
            "rope_parameters.rope_type",
        ),
        (
            "\"hidden_act\": \"silu\"",
            "\"hidden_act\": \"gelu\"",
            "hidden_act",
        ),
        (
            "\"attention_bias\": false",
            "\"attention_bias\": true",
            "attention_bias",
        ),
    ];
    for (from, to, expected_field) in cases {
        assert!(base.contains(from), "fixture config lacks {from}");
        match Qwen3Config::from_json_str(&base.replace(from, to), "config.json") {
            Err(Qwen3Error::Unsupported { field, .. }) => assert_eq!(field, expected_field),
            other => panic!("{to}: expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn transformers_4x_layout_reads_the_same_config() {
    let v5 = Qwen3Config::from_file(fixture("tiny").join("config.json")).unwrap();
    let v4_text = r#"{
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 16, "hidden_act": "silu",
        "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 192,
        "max_position_embeddings": 4096, "max_window_layers": 28, "model_type": "qwen3",
        "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000.0,
        "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "float32",
        "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false,
        "vocab_size": 1024
    }"#;
    let v4 = Qwen3Config::from_json_str(v4_text, "config.json").unwrap();
    assert_eq!(v4.eos_token_ids, vec![151645]);
    assert_eq!(
        Qwen3Config {
            eos_token_ids: vec![],
            ..v4
        },
        v5
    );
    let scaled = v4_text.replace(
        "\"rope_scaling\": null",
        "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}",
    );
    assert!(matches!(
        Qwen3Config::from_json_str(&scaled, "config.json"),
        Err(Qwen3Error::Unsupported { field, .. }) if field == "rope_scaling.rope_type"
    ));
}

#[test]
fn presets_have_the_published_shapes() {
    let sizes: Vec<_> = [
        Qwen3Config::qwen3_0_6b(),
        Qwen3Config::qwen3_1_7b(),
        Qwen3Config::qwen3_4b(),
        Qwen3Config::qwen3_8b(),
    ]
    .iter()
    .map(|c| {
        (
            c.hidden_size,
            c.intermediate_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.tie_word_embeddings,
        )
    })
    .collect();
    assert_eq!(
        sizes,
        vec![
            (1024, 3072, 28, 16, true),
            (2048, 6144, 28, 16, true),
            (2560, 9728, 36, 32, true),
            (4096, 12288, 36, 32, false)
        ]
    );
}
