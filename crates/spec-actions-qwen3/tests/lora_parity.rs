//! LoRA parity with PEFT 0.21 on the fixtures: the fixture adapter (`tests/data/*/lora`, r 4,
//! alpha 8, all seven projections) gives `lora_logits` and `merged_logits` within 1e-4, the
//! training loss within 1e-5 and every `grad.*` tensor within a relative error of 1e-3.
//! Also: a saved adapter reads back identically, with PEFT's key names and config fields.
//! The adapter checks live in `suite` (shared with `wgpu_parity.rs`).

mod suite;

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, LoraConfig, PeftAdapter};
use suite::data;

type B = Autodiff<Flex>;

#[test]
fn tiny_adapter_matches_peft() {
    suite::check_lora::<B>("tiny", &Default::default());
}

#[test]
fn untied_bf16_adapter_matches_peft() {
    suite::check_lora::<B>("tiny-untied-sharded-bf16", &Default::default());
}

#[test]
fn saved_adapter_round_trips_with_peft_names_and_fields() {
    let original = PeftAdapter::read(&data("tiny/lora")).expect("fixture adapter reads");
    let dir = tempfile::tempdir().expect("temp dir");
    original.write(dir.path()).expect("adapter writes");
    let again = PeftAdapter::read(dir.path()).expect("saved adapter reads");
    assert_eq!(again.config, original.config);
    assert_eq!(again.sites, original.sites);

    // Same tensor names as PEFT saved (base_model.model.model.layers.N.<block>.<proj>.lora_X.weight).
    let names = |path: PathBuf| {
        let bytes = std::fs::read(path).expect("weights read");
        let mut names: Vec<String> = safetensors::SafeTensors::deserialize(&bytes)
            .expect("valid")
            .names()
            .into_iter()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(dir.path().join(ADAPTER_WEIGHTS)),
        names(data("tiny/lora").join(ADAPTER_WEIGHTS))
    );
    // The fields PEFT's LoraConfig reads.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(ADAPTER_CONFIG)).expect("config read"))
            .expect("json");
    for (field, value) in [
        ("peft_type", "LORA"),
        ("task_type", "CAUSAL_LM"),
        ("bias", "none"),
    ] {
        assert_eq!(config[field], value, "{field}");
    }
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8.0);
    assert_eq!(config["target_modules"].as_array().map(Vec::len), Some(7));
}

#[test]
fn new_adapter_changes_nothing_and_freezes_the_base() {
    let device = Default::default();
    let base = load_qwen3::<B>(data("tiny"), &device).expect("fixture loads");
    let ids = burn::tensor::Tensor::<B, 2, burn::tensor::Int>::from_ints([[1, 2, 3, 4]], &device);
    let before = base.forward(ids.clone(), None).into_data();
    let model = base.with_new_lora(&LoraConfig::new(8, 16.0));
    // B = 0 at init (PEFT): the adapted model computes exactly the base model.
    let after = model.forward(ids, None).into_data();
    after.assert_approx_eq::<f32>(&before, burn::tensor::Tolerance::absolute(0.0));
    // Only lora_A / lora_B require gradients.
    for (_, proj) in model.projections() {
        assert!(
            !proj.base.weight.val().is_require_grad(),
            "base weight is trainable"
        );
        let lora = proj.lora.as_ref().expect("adapter attached");
        assert!(lora.lora_a.val().is_require_grad() && lora.lora_b.val().is_require_grad());
    }
    assert!(!model.embed_tokens.weight.val().is_require_grad());
}

#[test]
fn adapter_for_other_shapes_is_refused_with_every_tensor_named() {
    // The untied fixture's adapter (hidden 64, other kv width) on the tied model's shapes.
    let base = load_qwen3::<B>(data("tiny"), &Default::default()).expect("fixture loads");
    let other = data("tiny-untied-sharded-bf16/lora");
    // It has 3 layers (this model 2) and 1 kv head (this model 2): every misfit is listed.
    let text = match base.with_peft_adapter(&other) {
        Ok(_) => panic!("an adapter for other shapes was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("layers.2.self_attn.q_proj.lora_A.weight") && text.contains("the model has 2 layers"),
        "{text}"
    );
    assert!(text.contains("layers.0.self_attn.k_proj.lora_A.weight"), "{text}");
    assert!(text.contains("layers.1.self_attn.v_proj.lora_A.weight"), "{text}");
}
