//! Dataset JSONL reader: text → `Example` rows (`spec_actions_core::jsonl::JsonlReader`).
//!
//! Properties: never panics; every bad row names a 1-based line that exists in the input;
//! line numbers only grow; a row that was read is written back as JSON that reads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec_actions_core::{Example, JsonlError, JsonlReader};

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    let mut last_line = 0;
    for row in JsonlReader::<Example, _>::from_reader(data, "fuzz.jsonl") {
        match row {
            Ok(example) => {
                let text = serde_json::to_string(&example).expect("an Example serializes");
                let back = JsonlReader::<Example, _>::from_reader(text.as_bytes(), "again.jsonl").next();
                assert!(
                    matches!(back, Some(Ok(_))),
                    "own output does not read back: {text}"
                );
            }
            Err(JsonlError::Row { line, .. }) => {
                assert!(line >= 1 && line <= lines, "line {line} of {lines}");
                assert!(line > last_line, "line {line} after {last_line}");
                last_line = line;
            }
            Err(_) => {}
        }
    }
});
