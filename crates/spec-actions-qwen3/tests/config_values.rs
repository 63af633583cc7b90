//! config.json values that parse but would make the model produce NaN or panic (issue 18, item 6)
//! are refused by [`Qwen3Config`] with an error naming config.json and the field. Built from
//! `tests/data/tiny/config.json` (an HF transformers 5.23 config), one field changed each time.

use std::path::{Path, PathBuf};

use serde_json::Value;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::error::Qwen3Error;

fn tiny_config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny/config.json")
}

fn tiny_config_json() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(tiny_config_path()).expect("fixture config reads");
    match serde_json::from_str(&text).expect("fixture config parses") {
        Value::Object(map) => map,
        other => panic!("fixture config is not an object: {other}"),
    }
}

/// The field an error names, with its path; `None` for errors that name no field.
fn named_field(err: &Qwen3Error) -> Option<(&Path, &str)> {
    match err {
        Qwen3Error::Unsupported { path, field, .. } | Qwen3Error::MissingField { path, field } => {
            Some((path.as_path(), field.as_str()))
        }
        _ => None,
    }
}

fn parse_with(field: &str, value: Value) -> Result<Qwen3Config, Qwen3Error> {
    let mut config = tiny_config_json();
    config.insert(field.into(), value);
    // A 4.x-style rope_theta is read only without rope_parameters.
    if field == "rope_theta" {
        config.remove("rope_parameters");
    }
    Qwen3Config::from_json_str(&Value::Object(config).to_string(), "run/model/config.json")
}

#[test]
fn the_fixture_config_is_accepted() {
    let config = Qwen3Config::from_file(tiny_config_path()).expect("fixture config is valid");
    assert_eq!(config.rms_norm_eps, 1e-6);
    assert_eq!(config.vocab_size, 1024);
    // The values the refusals below border on are accepted.
    for (field, value) in [
        ("rms_norm_eps", Value::from(1e-12)),
        ("rope_theta", Value::from(10_000.0)),
        ("num_key_value_heads", Value::from(4)),
        ("num_key_value_heads", Value::from(1)),
    ] {
        parse_with(field, value.clone()).unwrap_or_else(|e| panic!("{field} = {value}: {e}"));
    }
}

#[test]
fn values_that_give_nan_or_panic_are_refused_naming_config_json_and_the_field() {
    let cases: [(&str, Value, &str); 12] = [
        ("rms_norm_eps", (-1).into(), "rms_norm_eps"),
        ("rms_norm_eps", 0.into(), "rms_norm_eps"),
        ("rms_norm_eps", (-1e-6).into(), "rms_norm_eps"),
        ("rope_theta", 0.into(), "rope_theta"),
        ("rope_theta", (-10_000.0).into(), "rope_theta"),
        ("num_attention_heads", 0.into(), "num_attention_heads"),
        ("num_key_value_heads", 0.into(), "num_key_value_heads"),
        ("num_key_value_heads", 3.into(), "num_key_value_heads"),
        ("head_dim", 0.into(), "head_dim"),
        ("vocab_size", 0.into(), "vocab_size"),
        ("hidden_size", 0.into(), "hidden_size"),
        ("intermediate_size", 0.into(), "intermediate_size"),
    ];
    for (field, value, named) in cases {
        let outcome = std::panic::catch_unwind(|| parse_with(field, value.clone()));
        let result = outcome.unwrap_or_else(|_| panic!("{field} = {value}: panicked"));
        let err = match result {
            Ok(config) => panic!("{field} = {value} accepted: {config:?}"),
            Err(e) => e,
        };
        assert_eq!(
            named_field(&err),
            Some((Path::new("run/model/config.json"), named)),
            "{field} = {value}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("config.json") && message.contains(named),
            "{field} = {value}: {message}"
        );
    }
}

/// JSON has no NaN or infinity, but a config built in code (or a preset edited) is validated the
/// same way: non-finite epsilons and thetas are refused.
#[test]
fn non_finite_eps_and_theta_are_refused_by_validate() {
    let base = Qwen3Config::from_file(tiny_config_path()).expect("fixture config is valid");
    let path = Path::new("models/cheap/config.json");
    base.validate(path).expect("the fixture validates");
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let eps = Qwen3Config {
            rms_norm_eps: value,
            ..base.clone()
        };
        let err = eps.validate(path).expect_err("non-finite rms_norm_eps accepted");
        assert_eq!(named_field(&err), Some((path, "rms_norm_eps")), "{value}: {err}");
        let theta = Qwen3Config {
            rope_theta: value,
            ..base.clone()
        };
        let err = theta.validate(path).expect_err("non-finite rope_theta accepted");
        assert_eq!(named_field(&err), Some((path, "rope_theta")), "{value}: {err}");
    }
}
