//! The table of HF tensor names (`model::tensor_names`) against files the reference libraries
//! wrote: the `tiny` and `tiny-untied-sharded-bf16` fixtures (transformers' `save_pretrained`)
//! and `tiny/lora` (PEFT 0.21's `save_pretrained`). Names and shapes are read from the
//! safetensors headers themselves, not from this crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::{AdapterSite, LoraConfig, LoraError, QWEN3_PROJECTIONS};
use spec_actions_qwen3::model::tensor_names::{
    DecoderNorm, EMBED_TOKENS, FINAL_NORM, LM_HEAD, LoraTarget, UnknownLoraTarget,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Every tensor name and shape in the safetensors files of `dir` (all shards), read from the
/// files' JSON headers.
fn header_tensors(dir: &Path) -> BTreeMap<String, Vec<usize>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".safetensors") || name == "reference.safetensors" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
        for (key, info) in header.as_object().unwrap() {
            if key == "__metadata__" {
                continue;
            }
            let shape = info["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            out.insert(key.clone(), shape);
        }
    }
    out
}

#[test]
fn the_table_names_every_tensor_of_a_transformers_checkpoint_with_its_shape() {
    for name in ["tiny", "tiny-untied-sharded-bf16"] {
        let dir = fixture(name);
        let config = Qwen3Config::from_file(dir.join("config.json")).unwrap();
        let file = header_tensors(&dir);
        // the whole table, as the loader expects it
        let table: BTreeMap<String, Vec<usize>> = config.expected_tensors().into_iter().collect();
        assert_eq!(table, file, "{name}");
        // and each entry of it, by its accessor
        let mut named = BTreeMap::new();
        named.insert(
            EMBED_TOKENS.to_string(),
            vec![config.vocab_size, config.hidden_size],
        );
        named.insert(FINAL_NORM.to_string(), vec![config.hidden_size]);
        if !config.tie_word_embeddings {
            named.insert(LM_HEAD.to_string(), vec![config.vocab_size, config.hidden_size]);
        }
        for layer in 0..config.num_hidden_layers {
            for t in LoraTarget::ALL {
                named.insert(t.hf_name(layer), t.hf_shape(&config).to_vec());
            }
            for n in DecoderNorm::ALL {
                named.insert(n.hf_name(layer), vec![n.len(&config)]);
            }
        }
        assert_eq!(named, file, "{name}");
    }
}

#[test]
fn a_saved_model_names_its_tensors_as_transformers_does() {
    for name in ["tiny", "tiny-untied-sharded-bf16"] {
        let dir = fixture(name);
        let model = load_qwen3::<Flex>(&dir, &Default::default()).unwrap();
        let saved: BTreeMap<String, Vec<usize>> = model
            .hf_tensors()
            .into_iter()
            .map(|(name, shape, values)| {
                assert_eq!(values.len(), shape.iter().product::<usize>(), "{name}");
                (name, shape)
            })
            .collect();
        assert_eq!(saved, header_tensors(&dir), "{name}");
    }
}

#[test]
fn peft_keys_are_the_keys_peft_wrote() {
    let dir = fixture("tiny/lora");
    let config = Qwen3Config::from_file(fixture("tiny/config.json")).unwrap();
    let adapter = LoraConfig::from_adapter_config(&dir.join("adapter_config.json")).unwrap();
    let keys = header_tensors(&dir);
    // every key PEFT wrote parses into a site and is spelled back the same
    for key in keys.keys() {
        let (site, which) = AdapterSite::parse_key(key).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(&site.peft_key(which), key);
    }
    // and PEFT wrote exactly an A and a B for every targeted projection of every layer
    let mut expected = BTreeMap::new();
    for layer in 0..config.num_hidden_layers {
        for t in LoraTarget::ALL
            .into_iter()
            .filter(|t| adapter.targets(t.module()))
        {
            let [d_out, d_in] = t.hf_shape(&config);
            let site = AdapterSite::new(layer, t);
            assert_eq!(site.target(), Some(t));
            expected.insert(site.peft_key('A'), vec![adapter.r, d_in]);
            expected.insert(site.peft_key('B'), vec![d_out, adapter.r]);
        }
    }
    assert_eq!(expected, keys);
    // the fixture targets all seven projections: PEFT's list is the table's
    let mut peft: Vec<&str> = adapter.target_modules.iter().map(String::as_str).collect();
    let mut ours = QWEN3_PROJECTIONS.to_vec();
    peft.sort_unstable();
    ours.sort_unstable();
    assert_eq!(peft, ours);
    let modules: Vec<&str> = LoraTarget::ALL.iter().map(|t| t.module()).collect();
    assert_eq!(modules, QWEN3_PROJECTIONS);
}

#[test]
fn an_unknown_lora_target_is_a_typed_error_naming_it() {
    assert_eq!(
        LoraTarget::from_module("embed_tokens"),
        Err(UnknownLoraTarget {
            name: "embed_tokens".into()
        })
    );
    assert_eq!(LoraTarget::from_module("up_proj"), Ok(LoraTarget::UpProj));
    // as user input in a config: serde names the bad variant
    let ok: Vec<LoraTarget> = serde_json::from_str(r#"["q_proj", "down_proj"]"#).unwrap();
    assert_eq!(ok, [LoraTarget::QProj, LoraTarget::DownProj]);
    let err = serde_json::from_str::<Vec<LoraTarget>>(r#"["q_proj", "qproj"]"#).unwrap_err();
    assert!(err.to_string().contains("qproj"), "{err}");
    // in PEFT's adapter_config.json: the field and the name
    let text = r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "lm_head"]}"#;
    match LoraConfig::from_adapter_config_str(text, Path::new("adapter_config.json")) {
        Err(LoraError::Config { field, reason, .. }) => {
            assert_eq!(field, "target_modules");
            assert!(reason.contains("\"lm_head\""), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
