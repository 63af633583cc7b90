//! PEFT `adapter_config.json` → `LoraConfig` (`LoraConfig::from_adapter_config_str`).
//!
//! Properties: never panics; an accepted config has a positive rank, a dropout in [0, 1) and
//! only Qwen3 projections as targets; and what we write for it (`to_adapter_config_json`)
//! reads back as the same config.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use spec_actions_qwen3::lora::{LoraConfig, QWEN3_PROJECTIONS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/adapter_config.json");
    let Ok(config) = LoraConfig::from_adapter_config_str(text, path) else {
        return;
    };
    assert!(config.r > 0);
    assert!((0.0..1.0).contains(&config.lora_dropout));
    assert!(
        config
            .target_modules
            .iter()
            .all(|m| QWEN3_PROJECTIONS.contains(&m.as_str()))
    );
    let written = config.to_adapter_config_json().to_string();
    let back =
        LoraConfig::from_adapter_config_str(&written, path).expect("our own adapter_config.json reads back");
    assert_eq!(back, config, "{written}");
});
