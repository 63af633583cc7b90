//! Raw model output → `Action` (`spec_actions_core::parse_action`).
//!
//! Properties: never panics; an error keeps the raw text exactly (it is scored wrong, so it
//! must be reported as written); an action re-parses from its own JSON form to the same kind
//! and name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec_actions_core::parse_action;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    match parse_action(raw) {
        Err(e) => assert_eq!(e.raw(), raw, "the error must keep the raw output"),
        Ok(action) => {
            let json = serde_json::to_string(&action).expect("an Action serializes");
            let again = parse_action(&json).expect("an action's own JSON parses");
            assert_eq!(again.kind, action.kind, "{json}");
            assert_eq!(again.name, action.name, "{json}");
        }
    }
});
