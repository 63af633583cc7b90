//! BFCL call strings → `PyCall` (`spec_actions_data::call_parser::parse_call`).
//!
//! Properties: never panics or overflows the stack (nested brackets); an error's byte offset
//! lies inside the text; a parsed call yields its argument object without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec_actions_data::call_parser::parse_call;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_call(text) {
        Err(e) => assert!(e.offset <= text.len(), "offset {} past {}", e.offset, text.len()),
        Ok(call) => {
            let names: Vec<String> = (0..call.positional.len()).map(|i| format!("p{i}")).collect();
            let _ = call.arguments(&names);
            let _ = call.arguments(&[]);
        }
    }
});
