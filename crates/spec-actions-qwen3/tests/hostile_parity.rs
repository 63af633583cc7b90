//! Hostile parity references and NaN models (issue 18, items 3, 4 and 5): the parity checks
//! fail on NaN and ±∞ on either side, naming the tensor; a reference tensor of the wrong shape
//! is an error naming the tensor and both shapes; F16/BF16 references are read; malformed
//! token fields (1-D ids, a short mask, an empty greedy output, negative or out-of-range ids)
//! are typed errors naming the file and the field, never panics.
//!
//! Every reference here is `tests/data/tiny/reference.safetensors` (transformers 5.23 + PEFT
//! 0.21, the crate's own fixture) rewritten into a temp dir with one field damaged; the NaN
//! models are copies of `tests/data/tiny` and `tests/data/tiny/lora` with one tensor set to NaN.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use half::{bf16, f16};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use spec_actions_qwen3::error::Qwen3Error;
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::check_lora_reference;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::model::parity::{ParityCheck, ReferenceFile, check_reference};

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny")
}

/// The tensors of a safetensors file: name → (dtype, shape, bytes).
#[derive(Clone)]
struct Tensors(BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>);

impl Tensors {
    fn read(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        Tensors(
            st.tensors()
                .into_iter()
                .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
                .collect(),
        )
    }

    fn reference() -> Self {
        Self::read(&tiny().join("reference.safetensors"))
    }

    fn write(&self, path: &Path) {
        let views: Vec<(String, TensorView<'_>)> = self
            .0
            .iter()
            .map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
    }

    fn f32s(&self, key: &str) -> Vec<f32> {
        let (dtype, _, bytes) = &self.0[key];
        assert_eq!(*dtype, Dtype::F32, "{key}");
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn set_f32(&mut self, key: &str, shape: Vec<usize>, values: &[f32]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0.insert(key.into(), (Dtype::F32, shape, bytes));
    }

    fn set_i64(&mut self, key: &str, shape: Vec<usize>, values: &[i64]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0.insert(key.into(), (Dtype::I64, shape, bytes));
    }

    fn i64s(&self, key: &str) -> Vec<i64> {
        let (dtype, _, bytes) = &self.0[key];
        assert_eq!(*dtype, Dtype::I64, "{key}");
        bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    /// One value of an F32 tensor replaced.
    fn poke_f32(&mut self, key: &str, index: usize, value: f32) {
        let shape = self.0[key].1.clone();
        let mut values = self.f32s(key);
        values[index] = value;
        self.set_f32(key, shape, &values);
    }

    /// Written into `dir` as `name` and opened.
    fn open(&self, dir: &Path, name: &str) -> ReferenceFile {
        let path = dir.join(name);
        self.write(&path);
        ReferenceFile::open(&path).expect("written reference reads")
    }
}

fn model() -> Qwen3<Flex> {
    load_qwen3::<Flex>(tiny(), &Default::default()).expect("fixture loads")
}

fn find<'a>(checks: &'a [ParityCheck], key: &str) -> &'a ParityCheck {
    checks
        .iter()
        .find(|c| c.key == key)
        .unwrap_or_else(|| panic!("{key} not checked: {checks:?}"))
}

/// Runs `f`, turning a panic into a test failure that says which case panicked.
fn no_panic<T>(case: &str, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("{case}: panicked"))
}

#[test]
fn nan_or_inf_in_the_reference_fails_that_check_only() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    // Row 1 of padded_attention_mask is 0 at tokens 0..4: index 13 * 1024 of padded_logits is a
    // pad position, excluded from max|Δ| but still not allowed to be NaN.
    let cases: [(&str, usize, f32); 6] = [
        ("logits", 0, f32::NAN),
        ("logits", 26 * 1024 - 1, f32::INFINITY),
        ("padded_logits", 5, f32::NEG_INFINITY),
        ("padded_logits", 13 * 1024, f32::NAN),
        ("hidden_state.1", 100, f32::NAN),
        ("hidden_state.2", 0, f32::INFINITY),
    ];
    for (n, (key, index, value)) in cases.into_iter().enumerate() {
        let mut tensors = Tensors::reference();
        tensors.poke_f32(key, index, value);
        let reference = tensors.open(dir.path(), &format!("ref{n}.safetensors"));
        let checks = no_panic(key, || check_reference(&model, &reference, 1e-4)).expect("checks run");
        let check = find(&checks, key);
        assert!(!check.passed(), "{key}[{index}] = {value} passed: {check:?}");
        assert_eq!(
            (check.non_finite_ours, check.non_finite_reference),
            (0, 1),
            "{check:?}"
        );
        let line = check.to_string();
        assert!(
            line.starts_with(key) && line.contains("FAIL") && line.contains("non-finite"),
            "{line}"
        );
        // Every other check still passes: only the damaged tensor is blamed.
        for other in checks.iter().filter(|c| c.key != key) {
            assert!(other.passed(), "{key}[{index}] = {value} also failed {other:?}");
        }
    }
}

#[test]
fn a_checkpoint_with_nan_weights_fails_every_affected_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(tiny().join("config.json"), dir.path().join("config.json")).unwrap();
    let mut weights = Tensors::read(&tiny().join("model.safetensors"));
    // The final norm: every logit (and HF's last hidden state, taken after it) becomes NaN.
    weights.set_f32("model.norm.weight", vec![64], &[f32::NAN; 64]);
    weights.write(&dir.path().join("model.safetensors"));
    let model = load_qwen3::<Flex>(dir.path(), &Default::default()).expect("NaN checkpoint loads");
    let reference = ReferenceFile::open(tiny().join("reference.safetensors")).unwrap();
    let checks =
        no_panic("NaN checkpoint", || check_reference(&model, &reference, 1e-4)).expect("checks run");
    for key in ["logits", "padded_logits", "hidden_state.2"] {
        let check = find(&checks, key);
        assert!(!check.passed(), "{check:?}");
        assert!(check.max_abs_diff.is_nan(), "{check:?}");
        assert_eq!(check.non_finite_reference, 0, "{check:?}");
        assert!(check.non_finite_ours > 0, "{check:?}");
    }
    assert_eq!(find(&checks, "logits").non_finite_ours, 2 * 13 * 1024);
    // Before the final norm nothing is NaN.
    for key in ["hidden_state.0", "hidden_state.1"] {
        assert!(find(&checks, key).passed(), "{:?}", find(&checks, key));
    }
}

/// A copy of the fixture adapter with `tensor` set to `value` everywhere.
fn poisoned_adapter(dir: &Path, tensor: &str, value: f32) -> PathBuf {
    let adapter = dir.join("lora");
    std::fs::create_dir_all(&adapter).unwrap();
    std::fs::copy(
        tiny().join("lora/adapter_config.json"),
        adapter.join("adapter_config.json"),
    )
    .unwrap();
    let mut weights = Tensors::read(&tiny().join("lora/adapter_model.safetensors"));
    let shape = weights.0[tensor].1.clone();
    let n = shape.iter().product();
    weights.set_f32(tensor, shape, &vec![value; n]);
    weights.write(&adapter.join("adapter_model.safetensors"));
    adapter
}

fn lora_checks(adapter: &Path, reference: &ReferenceFile) -> Result<Vec<ParityCheck>, Qwen3Error> {
    let base = load_qwen3::<Autodiff<Flex>>(tiny(), &Default::default()).expect("fixture loads");
    no_panic("lora", || {
        check_lora_reference(base, adapter, reference, 1e-4, 1e-5, 1e-3)
    })
}

#[test]
fn nan_adapter_fails_lora_merged_loss_and_names_the_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = poisoned_adapter(
        dir.path(),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
        f32::NAN,
    );
    let reference = ReferenceFile::open(tiny().join("reference.safetensors")).unwrap();
    let checks = lora_checks(&adapter, &reference).expect("checks run");
    for key in ["lora_logits", "merged_logits", "train_loss"] {
        let check = find(&checks, key);
        assert!(!check.passed() && check.non_finite_ours > 0, "{check:?}");
    }
    let all = checks
        .iter()
        .find(|c| c.key.starts_with("grad.*"))
        .expect("aggregate gradient check");
    assert!(!all.passed() && all.non_finite_ours > 0, "{all:?}");
    // The gradient of the poisoned layer's lora_A is named on its own.
    let named = "grad.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight";
    let check = find(&checks, named);
    assert!(!check.passed() && check.non_finite_ours > 0, "{check:?}");
}

#[test]
fn nan_or_inf_in_reference_loss_or_one_gradient_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = tiny().join("lora");
    let grad = "grad.base_model.model.model.layers.1.mlp.down_proj.lora_B.default.weight";
    for (n, (key, value)) in [
        ("train_loss", f32::NAN),
        ("train_loss", f32::INFINITY),
        (grad, f32::NAN),
        ("lora_logits", f32::NEG_INFINITY),
        ("merged_logits", f32::NAN),
    ]
    .into_iter()
    .enumerate()
    {
        let mut tensors = Tensors::reference();
        tensors.poke_f32(key, 0, value);
        let reference = tensors.open(dir.path(), &format!("ref{n}.safetensors"));
        let checks = lora_checks(&adapter, &reference).expect("checks run");
        let check = find(&checks, key);
        assert!(!check.passed(), "{key} = {value} passed: {check:?}");
        assert_eq!(check.non_finite_reference, 1, "{check:?}");
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.passed())
            .map(|c| c.key.as_str())
            .collect();
        let expected: Vec<&str> = if key == grad {
            vec![failed[0], grad]
        } else {
            vec![key]
        };
        assert_eq!(failed, expected, "{key} = {value}");
        if key == grad {
            assert!(failed[0].starts_with("grad.*"), "{failed:?}");
        }
    }
}

/// A tensor written with another shape: (key, written shape, values, the model's shape).
type ShapeCase = (&'static str, Vec<usize>, Vec<f32>, Vec<usize>);

fn expect_shape_error(
    result: Result<Vec<ParityCheck>, Qwen3Error>,
    file: &Path,
    key: &str,
    expected: &[usize],
    found: &[usize],
) {
    match result {
        Err(
            ref err @ Qwen3Error::ReferenceShape {
                ref path,
                ref tensor,
                expected: ref e,
                found: ref f,
            },
        ) => {
            assert_eq!((path.as_path(), tensor.as_str()), (file, key), "{err}");
            assert_eq!((e.as_slice(), f.as_slice()), (expected, found), "{err}");
            let message = err.to_string();
            for part in [
                file.display().to_string(),
                key.to_string(),
                format!("{expected:?}"),
                format!("{found:?}"),
            ] {
                assert!(message.contains(&part), "{part} not in {message}");
            }
        }
        other => panic!("{key}: expected ReferenceShape, got {other:?}"),
    }
}

#[test]
fn a_reference_of_the_wrong_shape_is_an_error_naming_the_tensor_and_both_shapes() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let full = Tensors::reference();
    let logits = full.f32s("logits");
    let hidden = full.f32s("hidden_state.1");
    // (tensor, new shape, values): shorter (zip would have compared a prefix), longer, and the
    // same number of values in another shape.
    let cases: Vec<ShapeCase> = vec![
        (
            "logits",
            vec![2, 13, 512],
            logits[..2 * 13 * 512].to_vec(),
            vec![2, 13, 1024],
        ),
        (
            "logits",
            vec![1, 13, 1024],
            logits[..13 * 1024].to_vec(),
            vec![2, 13, 1024],
        ),
        ("logits", vec![26, 1024], logits.clone(), vec![2, 13, 1024]),
        (
            "logits",
            vec![2, 13, 1025],
            [logits.clone(), vec![0.0; 26]].concat(),
            vec![2, 13, 1024],
        ),
        (
            "padded_logits",
            vec![2, 13, 1000],
            logits[..2 * 13 * 1000].to_vec(),
            vec![2, 13, 1024],
        ),
        (
            "hidden_state.1",
            vec![2, 13, 32],
            hidden[..2 * 13 * 32].to_vec(),
            vec![2, 13, 64],
        ),
    ];
    for (n, (key, shape, values, expected)) in cases.into_iter().enumerate() {
        let mut tensors = full.clone();
        tensors.set_f32(key, shape.clone(), &values);
        let reference = tensors.open(dir.path(), &format!("ref{n}.safetensors"));
        let result = no_panic(key, || check_reference(&model, &reference, 1e-4));
        expect_shape_error(result, &reference.path, key, &expected, &shape);
    }
    // A short mask.
    let mut tensors = full.clone();
    let mask = full.i64s("padded_attention_mask");
    tensors.set_i64(
        "padded_attention_mask",
        vec![2, 12],
        &[&mask[..12], &mask[13..25]].concat(),
    );
    let reference = tensors.open(dir.path(), "short_mask.safetensors");
    let result = no_panic("short mask", || check_reference(&model, &reference, 1e-4));
    expect_shape_error(
        result,
        &reference.path,
        "padded_attention_mask",
        &[2, 13],
        &[2, 12],
    );
}

#[test]
fn lora_references_of_the_wrong_shape_are_errors_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = tiny().join("lora");
    let full = Tensors::reference();
    let grad = "grad.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight";
    let g = full.f32s(grad);
    let lora = full.f32s("lora_logits");
    let cases: Vec<ShapeCase> = vec![
        // Transposed: same number of values, another shape.
        (grad, vec![64, 4], g.clone(), vec![4, 64]),
        (grad, vec![4, 32], g[..128].to_vec(), vec![4, 64]),
        (
            "lora_logits",
            vec![2, 13, 100],
            lora[..2 * 13 * 100].to_vec(),
            vec![2, 13, 1024],
        ),
        (
            "merged_logits",
            vec![2, 13, 1024, 1],
            lora.clone(),
            vec![2, 13, 1024],
        ),
        ("train_loss", vec![2], vec![1.0, 2.0], vec![1]),
    ];
    for (n, (key, shape, values, expected)) in cases.into_iter().enumerate() {
        let mut tensors = full.clone();
        tensors.set_f32(key, shape.clone(), &values);
        let reference = tensors.open(dir.path(), &format!("ref{n}.safetensors"));
        expect_shape_error(
            lora_checks(&adapter, &reference),
            &reference.path,
            key,
            &expected,
            &shape,
        );
    }
}

#[test]
fn f16_and_bf16_references_are_read_as_f32() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let full = Tensors::reference();
    let logits = full.f32s("logits");
    let exact = check_reference(&model, &full.open(dir.path(), "f32.safetensors"), 1e-4).unwrap();
    let exact_diff = find(&exact, "logits").max_abs_diff;
    type Convert = fn(f32) -> (Vec<u8>, f64);
    let conversions: [(Dtype, Convert); 2] = [
        (Dtype::F16, |v| {
            let h = f16::from_f32(v);
            (h.to_le_bytes().to_vec(), h.to_f64())
        }),
        (Dtype::BF16, |v| {
            let h = bf16::from_f32(v);
            (h.to_le_bytes().to_vec(), h.to_f64())
        }),
    ];
    for (dtype, convert) in conversions {
        let mut tensors = full.clone();
        let (bytes, rounded): (Vec<Vec<u8>>, Vec<f64>) = logits.iter().map(|&v| convert(v)).unzip();
        tensors
            .0
            .insert("logits".into(), (dtype, vec![2, 13, 1024], bytes.concat()));
        let reference = tensors.open(dir.path(), &format!("{dtype:?}.safetensors"));
        assert_eq!(reference.get("logits").unwrap().values, rounded, "{dtype:?}");
        // The half-precision rounding bounds how far the comparison may move.
        let rounding = logits
            .iter()
            .zip(&rounded)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(
            rounding > 0.0,
            "{dtype:?} rounding changed nothing; the test would not see it"
        );
        let checks = check_reference(&model, &reference, exact_diff + rounding + 1e-9).expect("checks run");
        let check = find(&checks, "logits");
        assert!(check.passed(), "{dtype:?}: {check:?} (rounding {rounding:.3e})");
        assert!(
            check.max_abs_diff >= rounding - exact_diff,
            "{dtype:?}: {check:?}"
        );
    }
    // A dtype that is not read is named, with its dtype, instead of reported missing.
    let mut tensors = full.clone();
    tensors.0.insert(
        "logits".into(),
        (Dtype::U8, vec![2, 13, 1024], vec![0; 2 * 13 * 1024]),
    );
    let reference = tensors.open(dir.path(), "u8.safetensors");
    match check_reference(&model, &reference, 1e-4) {
        Err(Qwen3Error::InvalidReference { path, field, reason }) => {
            assert_eq!((path, field.as_str()), (reference.path.clone(), "logits"));
            assert!(reason.contains("U8"), "{reason}");
        }
        other => panic!("expected InvalidReference for a U8 tensor, got {other:?}"),
    }
}

/// How a damaged field must be reported.
enum Expect {
    /// `InvalidReference` naming the field.
    Invalid(&'static str),
    /// `ReferenceShape` naming the tensor.
    Shape(&'static str),
    /// `MissingField` naming the field.
    Missing(&'static str),
}

fn expect_named(case: &str, result: Result<Vec<ParityCheck>, Qwen3Error>, file: &Path, expect: &Expect) {
    let err = match result {
        Ok(checks) => panic!("{case}: accepted: {checks:?}"),
        Err(e) => e,
    };
    let (path, field) = match (&err, expect) {
        (Qwen3Error::InvalidReference { path, field, .. }, Expect::Invalid(f))
        | (
            Qwen3Error::ReferenceShape {
                path, tensor: field, ..
            },
            Expect::Shape(f),
        )
        | (Qwen3Error::MissingField { path, field }, Expect::Missing(f)) => {
            assert_eq!(field, f, "{case}: {err}");
            (path, field)
        }
        _ => panic!("{case}: wrong error kind: {err:?}"),
    };
    assert_eq!(path, file, "{case}: {err}");
    let message = err.to_string();
    assert!(
        message.contains(&file.display().to_string()) && message.contains(field.as_str()),
        "{case}: {message}"
    );
}

type Damage = fn(&mut Tensors);

/// The hostile token fields of issue 18 item 3, each on an otherwise intact reference.
fn token_field_cases() -> Vec<(&'static str, Damage, Expect)> {
    vec![
        (
            "1-D input_ids",
            |t| {
                let ids = t.i64s("input_ids");
                t.set_i64("input_ids", vec![26], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "3-D input_ids",
            |t| {
                let ids = t.i64s("input_ids");
                t.set_i64("input_ids", vec![1, 2, 13], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "empty input_ids",
            |t| t.set_i64("input_ids", vec![0, 13], &[]),
            Expect::Invalid("input_ids"),
        ),
        (
            "negative input id",
            |t| {
                let mut ids = t.i64s("input_ids");
                ids[3] = -1;
                t.set_i64("input_ids", vec![2, 13], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "input id = vocab_size",
            |t| {
                let mut ids = t.i64s("input_ids");
                ids[25] = 1024;
                t.set_i64("input_ids", vec![2, 13], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "input id beyond u32",
            |t| {
                let mut ids = t.i64s("input_ids");
                ids[0] = 1 << 40;
                t.set_i64("input_ids", vec![2, 13], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "fractional input id",
            |t| {
                let mut ids: Vec<f32> = t.i64s("input_ids").iter().map(|&v| v as f32).collect();
                ids[1] = 3.5;
                t.set_f32("input_ids", vec![2, 13], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "missing input_ids",
            |t| {
                t.0.remove("input_ids");
            },
            Expect::Missing("input_ids"),
        ),
        (
            "mask value 2",
            |t| {
                let mut mask = t.i64s("padded_attention_mask");
                mask[0] = 2;
                t.set_i64("padded_attention_mask", vec![2, 13], &mask);
            },
            Expect::Invalid("padded_attention_mask"),
        ),
        (
            "1-D mask",
            |t| {
                let mask = t.i64s("padded_attention_mask");
                t.set_i64("padded_attention_mask", vec![26], &mask);
            },
            Expect::Shape("padded_attention_mask"),
        ),
        (
            "empty greedy output",
            |t| t.set_i64("greedy_output", vec![1, 0], &[]),
            Expect::Invalid("greedy_output"),
        ),
        (
            "greedy output shorter than its prompt",
            |t| {
                let out = t.i64s("greedy_output");
                t.set_i64("greedy_output", vec![1, 5], &out[..5]);
            },
            Expect::Invalid("greedy_output"),
        ),
        (
            "greedy output equal to its prompt",
            |t| {
                let prompt = t.i64s("greedy_prompt");
                t.set_i64("greedy_output", vec![1, 7], &prompt);
            },
            Expect::Invalid("greedy_output"),
        ),
        (
            "1-D greedy output",
            |t| {
                let out = t.i64s("greedy_output");
                t.set_i64("greedy_output", vec![17], &out);
            },
            Expect::Invalid("greedy_output"),
        ),
        (
            "greedy output with two rows for one prompt",
            |t| {
                let out = t.i64s("greedy_output");
                t.set_i64("greedy_output", vec![2, 17], &[out.clone(), out].concat());
            },
            Expect::Shape("greedy_output"),
        ),
        (
            "negative greedy prompt id",
            |t| {
                let mut p = t.i64s("greedy_prompt");
                p[2] = -5;
                t.set_i64("greedy_prompt", vec![1, 7], &p);
            },
            Expect::Invalid("greedy_prompt"),
        ),
        (
            "out-of-range greedy output id",
            |t| {
                let mut out = t.i64s("greedy_output");
                out[16] = 99_999;
                t.set_i64("greedy_output", vec![1, 17], &out);
            },
            Expect::Invalid("greedy_output"),
        ),
        (
            "hidden state beyond the model's",
            |t| {
                let state = t.0["hidden_state.2"].clone();
                t.0.insert("hidden_state.3".into(), state);
            },
            Expect::Invalid("hidden_state.3"),
        ),
        (
            "hidden state not numbered",
            |t| {
                let state = t.0["hidden_state.2"].clone();
                t.0.insert("hidden_state.last".into(), state);
            },
            Expect::Invalid("hidden_state.last"),
        ),
        (
            "greedy output without its prompt",
            |t| {
                t.0.remove("greedy_prompt");
            },
            Expect::Missing("greedy_prompt"),
        ),
    ]
}

#[test]
fn hostile_token_fields_are_errors_naming_file_and_field() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    for (n, (case, damage, expect)) in token_field_cases().into_iter().enumerate() {
        let mut tensors = Tensors::reference();
        damage(&mut tensors);
        let reference = tensors.open(dir.path(), &format!("ref{n}.safetensors"));
        let result = no_panic(case, || check_reference(&model, &reference, 1e-4));
        expect_named(case, result, &reference.path, &expect);
    }
}

#[test]
fn hostile_ids_and_labels_are_errors_in_the_lora_check_too() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = tiny().join("lora");
    let cases: Vec<(&str, Damage, Expect)> = vec![
        (
            "1-D input_ids",
            |t| {
                let ids = t.i64s("input_ids");
                t.set_i64("input_ids", vec![26], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "negative input id",
            |t| {
                let mut ids = t.i64s("input_ids");
                ids[3] = -7;
                t.set_i64("input_ids", vec![2, 13], &ids);
            },
            Expect::Invalid("input_ids"),
        ),
        (
            "label = vocab_size",
            |t| {
                let mut labels = t.i64s("train_labels");
                labels[20] = 1024;
                t.set_i64("train_labels", vec![2, 13], &labels);
            },
            Expect::Invalid("train_labels"),
        ),
        (
            "label -1",
            |t| {
                let mut labels = t.i64s("train_labels");
                labels[20] = -1;
                t.set_i64("train_labels", vec![2, 13], &labels);
            },
            Expect::Invalid("train_labels"),
        ),
        (
            "every label ignored",
            |t| t.set_i64("train_labels", vec![2, 13], &[-100; 26]),
            Expect::Invalid("train_labels"),
        ),
        (
            "short labels",
            |t| {
                let labels = t.i64s("train_labels");
                t.set_i64("train_labels", vec![2, 12], &labels[..24]);
            },
            Expect::Shape("train_labels"),
        ),
    ];
    for (n, (case, damage, expect)) in cases.into_iter().enumerate() {
        let mut tensors = Tensors::reference();
        damage(&mut tensors);
        let reference = tensors.open(dir.path(), &format!("ref{n}.safetensors"));
        expect_named(case, lora_checks(&adapter, &reference), &reference.path, &expect);
    }
}
