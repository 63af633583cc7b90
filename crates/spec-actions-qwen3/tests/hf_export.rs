//! Issue #14, item 6: a PEFT adapter merged into its base as an HF folder, and a logits file
//! of a checkpoint (+ adapter), checked against the tiny fixture's reference, which HF
//! transformers 5.23 + PEFT 0.21 wrote (`merged_logits`: PEFT's `merge_and_unload()`;
//! `logits` / `lora_logits`: the base and the adapter applied).

use std::path::PathBuf;

use burn::backend::Flex;
use spec_actions_qwen3::hf_export::{ExportError, logits_of, merge_to_hf, write_logits_file};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::model::parity::ReferenceFile;

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

fn reference() -> ReferenceFile {
    ReferenceFile::open(data("tiny").join("reference.safetensors")).expect("reference reads")
}

fn rows(reference: &ReferenceFile) -> Vec<Vec<u32>> {
    let ids = reference.input_ids(1024).expect("ids");
    ids.values
        .chunks(ids.cols)
        .map(|r| r.iter().map(|&t| t as u32).collect())
        .collect()
}

fn max_abs(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).abs())
        .fold(0.0, f64::max)
}

/// The merged folder loads as a plain checkpoint (no adapter) whose logits are PEFT's
/// `merge_and_unload()` logits, and keeps the base's tokenizer files byte for byte.
#[test]
fn merged_folder_reproduces_pefts_merged_logits() {
    let device = Default::default();
    let reference = reference();
    let base = tempfile::tempdir().unwrap();
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(data("tiny").join(name), base.path().join(name)).unwrap();
    }
    let template = br#"{"chat_template": "{{ messages }}", "eos_token": "<|im_end|>"}"#;
    std::fs::write(base.path().join("tokenizer_config.json"), template).unwrap();
    let out = tempfile::tempdir().unwrap();
    let out = out.path().join("merged");
    merge_to_hf::<Flex>(base.path(), Some(&data("tiny").join("lora")), &out, &device).expect("merges");

    let merged = load_qwen3::<Flex>(&out, &device).expect("merged folder loads");
    assert!(
        merged.projections().iter().all(|(_, p)| !p.has_lora()),
        "no adapter left"
    );
    let (logits, dims) = logits_of(&merged, &rows(&reference)).expect("runs");
    let expected = reference
        .get_shaped("merged_logits", &dims)
        .expect("merged_logits");
    let diff = max_abs(&logits, &expected.values);
    assert!(diff <= 1e-4, "merged logits differ from PEFT's by {diff:.3e}");
    // and they are not the base's: the adapter changed something
    let base_logits = reference.get_shaped("logits", &dims).expect("logits");
    assert!(
        max_abs(&logits, &base_logits.values) > 1e-3,
        "the adapter was merged"
    );
    assert_eq!(
        std::fs::read(out.join("tokenizer_config.json")).unwrap(),
        template
    );
}

/// The logits file holds `input_ids` and `logits` in the reference format: read back by the
/// parity reader, they are the reference's base logits, and with the adapter its `lora_logits`.
#[test]
fn logits_file_matches_transformers_and_peft_logits() {
    let device = Default::default();
    let reference = reference();
    let ids = rows(&reference);
    let dir = tempfile::tempdir().unwrap();
    let base = load_qwen3::<Flex>(data("tiny"), &device).expect("fixture loads");
    let with_adapter = base
        .clone()
        .with_peft_adapter(&data("tiny").join("lora"))
        .expect("adapter");
    for (model, key) in [(base, "logits"), (with_adapter, "lora_logits")] {
        let path = dir.path().join(format!("{key}.safetensors"));
        let dims = write_logits_file(&model, &ids, &path).expect("writes");
        let ours = ReferenceFile::open(&path).expect("our file reads as a reference");
        assert_eq!(
            ours.input_ids(1024).expect("ids").values,
            reference.input_ids(1024).expect("ids").values
        );
        let written = ours.get_shaped("logits", &dims).expect("logits");
        let expected = reference.get_shaped(key, &dims).expect("reference");
        let as_f32: Vec<f32> = written.values.iter().map(|&v| v as f32).collect();
        let diff = max_abs(&as_f32, &expected.values);
        assert!(diff <= 1e-4, "{key}: {diff:.3e}");
    }
}

/// Rows that cannot run are typed errors naming the row and position, and write nothing.
#[test]
fn bad_token_rows_are_errors_naming_the_row() {
    let device = Default::default();
    let model = load_qwen3::<Flex>(data("tiny"), &device).expect("fixture loads");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logits.safetensors");
    for (rows, needle) in [
        (vec![], "no tokens"),
        (vec![vec![1, 2, 3], vec![4, 5]], "row 1 has 2 tokens"),
        (vec![vec![1, 2, 1024]], "row 0, position 2: id 1024"),
    ] {
        let err = write_logits_file(&model, &rows, &path).expect_err("bad rows");
        assert!(matches!(err, ExportError::Tokens(_)), "{err:?}");
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!path.exists());
    }
}
