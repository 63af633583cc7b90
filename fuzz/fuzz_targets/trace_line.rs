//! Agent-trace lines and kind maps (`spec_actions_data::traces`).
//!
//! Properties: never panics; a line that imports has at least one decision point, every
//! example's context is a prefix-free copy of the conversation so far (no longer than the
//! conversation) and names its conversation; a kind map either reads or names a line inside
//! the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use spec_actions_data::error::DataError;
use spec_actions_data::traces::{KindMap, trace_conversation};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let map = match KindMap::from_toml(text, Path::new("fuzz.toml")) {
        Ok(map) => map,
        Err(DataError::InvalidLine { line, .. }) => {
            assert!(line <= text.lines().count() + 1, "line {line} past the text");
            KindMap::default()
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    };
    if let Ok(conv) = trace_conversation(text, 1, &map, "traces:fuzz") {
        assert!(!conv.examples.is_empty());
        for e in &conv.examples {
            assert_eq!(e.conversation, conv.id);
            let _ = e.gold.to_model_text();
        }
    }
});
