//! A tokenizer whose ids do not all fit the model's embedding is refused before anything indexes
//! past it (issue 18, item 1: the qwen3 tokenizer with a 1,024-token checkpoint crashed in the
//! embedding gather with `index 151644 out of bounds`). Uses the repository's Qwen3 tokenizer
//! (`assets/qwen3-tokenizer`), the `tests/data/tiny` config (vocab_size 1024) and word-level
//! tokenizers written here.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::error::Qwen3Error;
use spec_actions_qwen3::tokenizer::Qwen3Tokenizer;

fn tiny_config() -> (Qwen3Config, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny/config.json");
    (Qwen3Config::from_file(&path).expect("fixture config"), path)
}

fn qwen3_tokenizer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/qwen3-tokenizer")
}

/// A word-level tokenizer folder whose vocabulary is exactly `vocab` (the three chat tokens
/// among them, marked special), in a temp dir.
fn word_level(vocab: &[(&str, u32)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let vocab_map: serde_json::Map<String, Value> = vocab
        .iter()
        .map(|(t, id)| ((*t).to_string(), json!(id)))
        .collect();
    let added: Vec<Value> = vocab
        .iter()
        .filter(|(t, _)| t.starts_with("<|"))
        .map(|(t, id)| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab_map, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        json!({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}).to_string(),
    )
    .unwrap();
    dir
}

fn expect_mismatch(result: Result<(), Qwen3Error>, tokenizer: &Path, config: &Path, max: u32, vocab: usize) {
    match result {
        Err(
            ref err @ Qwen3Error::TokenizerVocabMismatch {
                tokenizer: ref t,
                max_token_id,
                config: ref c,
                vocab_size,
            },
        ) => {
            assert_eq!(t, tokenizer, "{err}");
            assert_eq!(c, config, "{err}");
            assert_eq!((max_token_id, vocab_size), (max, vocab), "{err}");
            let message = err.to_string();
            for part in [
                tokenizer.display().to_string(),
                config.display().to_string(),
                max.to_string(),
                vocab.to_string(),
            ] {
                assert!(message.contains(&part), "{part} not in: {message}");
            }
        }
        other => panic!("expected TokenizerVocabMismatch, got {other:?}"),
    }
}

#[test]
fn qwen3_tokenizer_is_refused_for_a_1024_token_model_and_accepted_for_qwen3_sizes() {
    let tokenizer = Qwen3Tokenizer::from_dir(qwen3_tokenizer_dir()).expect("repository tokenizer");
    // The reference: the largest id written in tokenizer.json itself, model vocabulary and
    // added tokens together.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(qwen3_tokenizer_dir().join("tokenizer.json")).unwrap())
            .unwrap();
    let model_max = json["model"]["vocab"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .max();
    let added_max = json["added_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .max();
    let expected = model_max.max(added_max).unwrap() as u32;
    assert_eq!(tokenizer.max_token_id(), Some(expected));
    assert!(
        expected >= tokenizer.special().im_start,
        "special tokens are counted"
    );

    let (tiny, tiny_path) = tiny_config();
    expect_mismatch(
        tokenizer.check_fits(&tiny, &tiny_path),
        &qwen3_tokenizer_dir().join("tokenizer.json"),
        &tiny_path,
        expected,
        1024,
    );
    for config in [Qwen3Config::qwen3_0_6b(), Qwen3Config::qwen3_8b()] {
        tokenizer
            .check_fits(&config, Path::new("config.json"))
            .unwrap_or_else(|e| panic!("vocab_size {}: {e}", config.vocab_size));
    }
}

#[test]
fn the_bound_is_strict_and_special_tokens_count() {
    let (tiny, tiny_path) = tiny_config();
    // Largest id 1023 = vocab_size - 1, a special token: fits.
    let fits = word_level(&[
        ("[UNK]", 0),
        ("hello", 1),
        ("<|endoftext|>", 1021),
        ("<|im_start|>", 1022),
        ("<|im_end|>", 1023),
    ]);
    let tokenizer = Qwen3Tokenizer::from_dir(fits.path()).expect("word-level tokenizer");
    assert_eq!(tokenizer.max_token_id(), Some(1023));
    tokenizer
        .check_fits(&tiny, &tiny_path)
        .expect("ids 0..=1023 fit 1024 rows");

    // Only the special token <|im_end|> is past the last row: refused, naming 1024.
    let special_past = word_level(&[
        ("[UNK]", 0),
        ("hello", 1),
        ("<|endoftext|>", 1021),
        ("<|im_start|>", 1022),
        ("<|im_end|>", 1024),
    ]);
    let tokenizer = Qwen3Tokenizer::from_dir(special_past.path()).expect("word-level tokenizer");
    expect_mismatch(
        tokenizer.check_fits(&tiny, &tiny_path),
        &special_past.path().join("tokenizer.json"),
        &tiny_path,
        1024,
        1024,
    );

    // An ordinary word far past the end.
    let word_past = word_level(&[
        ("[UNK]", 0),
        ("hello", 5000),
        ("<|endoftext|>", 1),
        ("<|im_start|>", 2),
        ("<|im_end|>", 3),
    ]);
    let tokenizer = Qwen3Tokenizer::from_dir(word_past.path()).expect("word-level tokenizer");
    expect_mismatch(
        tokenizer.check_fits(&tiny, &tiny_path),
        &word_past.path().join("tokenizer.json"),
        &tiny_path,
        5000,
        1024,
    );
}

#[test]
fn check_token_ids_fit_compares_against_vocab_size() {
    let (tiny, tiny_path) = tiny_config();
    let tok = Path::new("tok/tokenizer.json");
    tiny.check_token_ids_fit(&tiny_path, tok, 0).expect("id 0 fits");
    tiny.check_token_ids_fit(&tiny_path, tok, 1023)
        .expect("id 1023 fits");
    expect_mismatch(
        tiny.check_token_ids_fit(&tiny_path, tok, 1024),
        tok,
        &tiny_path,
        1024,
        1024,
    );
    expect_mismatch(
        tiny.check_token_ids_fit(&tiny_path, tok, u32::MAX),
        tok,
        &tiny_path,
        u32::MAX,
        1024,
    );
}

#[test]
fn check_fits_checkpoint_reads_only_the_config() {
    let tokenizer = Qwen3Tokenizer::from_dir(qwen3_tokenizer_dir()).expect("repository tokenizer");
    let max = tokenizer.max_token_id().expect("non-empty vocabulary");
    // A folder holding only a config.json (no weights): the check needs nothing else.
    let dir = tempfile::tempdir().unwrap();
    let (_, tiny_path) = tiny_config();
    std::fs::copy(&tiny_path, dir.path().join("config.json")).unwrap();
    expect_mismatch(
        tokenizer.check_fits_checkpoint(dir.path()),
        &qwen3_tokenizer_dir().join("tokenizer.json"),
        &dir.path().join("config.json"),
        max,
        1024,
    );
    // The same folder with Qwen3's vocabulary size fits.
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&tiny_path).unwrap()).unwrap();
    config["vocab_size"] = json!(151_936);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    tokenizer
        .check_fits_checkpoint(dir.path())
        .expect("151,936 rows hold every id");
    // No config.json: the read error names the file.
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    match tokenizer.check_fits_checkpoint(dir.path()) {
        Err(Qwen3Error::Io { path, .. }) => assert_eq!(path, dir.path().join("config.json")),
        other => panic!("expected Io naming config.json, got {other:?}"),
    }
}
