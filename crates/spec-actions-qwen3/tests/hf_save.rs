//! A model saved as an HF folder loads back to the same weights and config, for the tied f32
//! fixture and the untied sharded bf16 one (whose bf16 values are exact in f32).

use std::path::PathBuf;

use burn::backend::Flex;
use spec_actions_qwen3::config::Qwen3Config;
use spec_actions_qwen3::loader::load_qwen3;

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

#[test]
fn saved_checkpoint_loads_back_identically() {
    for fixture in ["tiny", "tiny-untied-sharded-bf16"] {
        let device = Default::default();
        let model = load_qwen3::<Flex>(data(fixture), &device).expect("fixture loads");
        let dir = tempfile::tempdir().expect("temp dir");
        model.save_hf(dir.path()).expect("saves");
        let again = load_qwen3::<Flex>(dir.path(), &device).expect("saved folder loads");
        let config = Qwen3Config::from_file(dir.path().join("config.json")).expect("config parses");
        let mut expected = model.config.clone();
        expected.storage_dtype = Some("float32".into()); // saved in f32 whatever it was loaded from
        assert_eq!(config, expected, "{fixture}: config");
        let (a, b) = (model.hf_tensors(), again.hf_tensors());
        assert_eq!(a.len(), b.len(), "{fixture}: tensor count");
        for ((name, shape, x), (name2, shape2, y)) in a.iter().zip(&b) {
            assert_eq!((name, shape), (name2, shape2));
            assert!(
                x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{fixture}: {name} differs"
            );
        }
    }
}
