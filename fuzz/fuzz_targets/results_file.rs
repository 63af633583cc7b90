//! Results files as `spec_actions_core::ResultsFile::from_json_str` reads them (the input of
//! `xtask report`, the frontier example and every comparison): any JSON, any field types,
//! versions, shares, costs and records.
//!
//! Properties beyond "no panic / hang / OOM": an accepted file holds only what a report can
//! draw — every share (baselines, accuracy, accept and fallback rates) finite in [0, 1], every
//! mean cost finite and ≥ 0, an accuracy equal to its records' share of correct ones — and it
//! writes back as JSON that reads again to an equal file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec_actions_core::ResultsFile;

fn share(v: f64) -> bool {
    v.is_finite() && (0.0..=1.0).contains(&v)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ResultsFile::from_json_str(text, "fuzz.json") else {
        return;
    };
    assert!(share(file.random_baseline));
    assert!(file.majority_baseline.is_none_or(share));
    for c in &file.configs {
        assert!(share(c.accuracy), "{}: accuracy {}", c.name, c.accuracy);
        assert!(c.mean_cost.is_finite() && c.mean_cost >= 0.0, "{}: cost {}", c.name, c.mean_cost);
        assert!(c.accept_rate.is_none_or(share) && c.fallback_rate.is_none_or(share));
        if !c.records.is_empty() {
            let right = c.records.iter().filter(|r| r.correct).count() as f64;
            assert!((right / c.records.len() as f64 - c.accuracy).abs() <= 1e-9);
        }
    }
    let again = serde_json::to_string(&file).expect("an accepted file serializes");
    let reread = ResultsFile::from_json_str(&again, "fuzz-again.json").expect("and reads back");
    // JSON numbers round-trip (float_roundtrip), so the file comes back equal — unless it
    // holds a NaN somewhere unchecked (none may pass the checks above).
    assert_eq!(reread, file);
});
