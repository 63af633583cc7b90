//! Mixed precision on burn's CPU backend (Flex runs every op of the model in bf16): a bf16 base
//! model with f32 LoRA adapters, against the f32 references of transformers 5.23 + PEFT 0.21
//! in `tests/data/*/reference.safetensors`.
//!
//! # Tolerances
//! bf16 keeps 8 significant bits, so one rounding has a relative error ≤ u = 2⁻⁸ ≈ 0.4%. A logit
//! passes through about ten roundings per layer (weights, projection outputs, residual sums,
//! norm outputs, RoPE, the MLP product) which add up; on these fixtures the bf16 logits differ
//! from the f32 reference by 0.5–0.7% of the largest |logit| (printed by the tests).
//! - logits (plain, left-padded, with the adapter, merged): max |Δ| ≤ 2% of the reference's max |logit|
//!   ([`BF16_LOGIT_REL`]), about 3× the measured error; the adapter's own effect on the logits
//!   is checked to be > 10× the error, so a dropped or mis-scaled adapter cannot pass;
//! - the f32 loss: a log-probability moves by at most 2·max|Δlogit|, so |Δloss| ≤ 2·(measured
//!   logit error);
//! - gradients of the f32 adapters, which flow back through bf16 activations: relative L2 error
//!   per tensor ≤ 5% ([`BF16_GRAD_REL_L2`]); measured ≤ 2.1%. (The f32 test's element-wise
//!   relative metric does not suit bf16: entries near zero carry the same absolute error.)
//! - unmerging a merged bf16 weight restores it up to the two roundings involved (bound below).

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use spec_actions_qwen3::lora::causal_lm_loss_full;
use spec_actions_qwen3::model::parity::ReferenceFile;
use spec_actions_qwen3::model::weight_product::is_in_row_product_layout;
use spec_actions_qwen3::{LoadOptions, Qwen3, load_qwen3, load_qwen3_with};

type B = Autodiff<Flex>;

/// Allowed max |Δ| of bf16 logits, as a fraction of the reference's max |logit| (see above).
const BF16_LOGIT_REL: f64 = 0.02;
/// Allowed relative L2 error `‖g − g_ref‖ / ‖g_ref‖` of each LoRA gradient (see above).
const BF16_GRAD_REL_L2: f64 = 0.05;

fn data(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

fn to_vec<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 values")
}

fn max_abs(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn max_diff(ours: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len(), "lengths differ");
    ours.iter()
        .zip(reference)
        .map(|(&a, &b)| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
}

fn input_ids<Bk: Backend>(reference: &ReferenceFile) -> Tensor<Bk, 2, Int> {
    let ids = reference.get("input_ids").expect("input_ids");
    let values: Vec<i64> = ids.values.iter().map(|&v| v as i64).collect();
    Tensor::from_data(
        TensorData::new(values, [ids.shape[0], ids.shape[1]]),
        &Default::default(),
    )
}

/// dtype of every base tensor (embeddings, projections, norms, LM head).
fn base_dtypes<Bk: Backend>(model: &Qwen3<Bk>) -> Vec<DType> {
    let mut out = vec![
        model.embed_tokens.weight.val().dtype(),
        model.norm.weight.val().dtype(),
    ];
    if let Some(head) = &model.lm_head {
        out.push(head.base.weight.val().dtype());
    }
    for layer in &model.layers {
        for norm in [
            &layer.input_layernorm,
            &layer.post_attention_layernorm,
            &layer.self_attn.q_norm,
            &layer.self_attn.k_norm,
        ] {
            out.push(norm.weight.val().dtype());
        }
    }
    for (_, proj) in model.projections() {
        out.push(proj.base.weight.val().dtype());
    }
    out
}

/// (a) bf16 compute gives transformers' f32 logits within the bf16 bound, and really ran in bf16.
fn bf16_logits_match(dir: &str) {
    let reference = ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference");
    let model = load_qwen3_with::<B>(data(dir), &LoadOptions::bf16(), &Default::default()).expect("loads");
    assert_eq!(model.compute_dtype(), FloatDType::BF16);
    assert!(base_dtypes(&model).iter().all(|d| *d == DType::BF16));

    let logits = model.forward(input_ids(&reference), None);
    assert_eq!(
        logits.dtype(),
        DType::BF16,
        "the forward pass did not run in bf16"
    );
    let expected = &reference.get("logits").expect("logits").values;
    let diff = max_diff(&to_vec(logits), expected);
    let bound = BF16_LOGIT_REL * max_abs(expected);
    println!(
        "{dir}: bf16 logits max|Δ| {diff:.3e}, bound {bound:.3e} (max|logit| {:.3e})",
        max_abs(expected)
    );
    assert!(diff <= bound, "bf16 logits off by {diff:.3e} > {bound:.3e}");

    // Left-padded rows (the padding bias in bf16), compared at real tokens.
    let padded_diff = padded_logits_diff(&model, &reference);
    println!("{dir}: bf16 padded_logits max|Δ| {padded_diff:.3e}");
    assert!(
        padded_diff <= bound,
        "padded logits off by {padded_diff:.3e} > {bound:.3e}"
    );

    // The f32 model on the same input is the f32 reference to 1e-4: the error above is bf16's.
    let f32_model = load_qwen3::<B>(data(dir), &Default::default()).expect("loads");
    let f32_diff = max_diff(&to_vec(f32_model.forward(input_ids(&reference), None)), expected);
    assert!(f32_diff <= 1e-4, "f32 logits off by {f32_diff:.3e}");
}

/// The largest |Δ| between `model`'s logits of the reference's left-padded rows and
/// transformers' `padded_logits`, at real tokens.
fn padded_logits_diff<Bk: Backend>(model: &Qwen3<Bk>, reference: &ReferenceFile) -> f64 {
    let mask_ref = reference.get("padded_attention_mask").expect("mask");
    let seq = mask_ref.shape[1];
    let mask: Vec<Vec<bool>> = mask_ref
        .values
        .chunks(seq)
        .map(|r| r.iter().map(|&v| v != 0.0).collect())
        .collect();
    let padded = to_vec(model.forward(input_ids(reference), Some(&mask)));
    let padded_ref = &reference.get("padded_logits").expect("padded_logits").values;
    let vocab = padded.len() / mask_ref.values.len();
    let flat_mask = mask.concat();
    padded
        .iter()
        .zip(padded_ref)
        .enumerate()
        .filter(|(i, _)| flat_mask[i / vocab])
        .map(|(_, (&a, &b))| (f64::from(a) - b).abs())
        .fold(0.0, f64::max)
}

/// (a′) bf16 weights with f32 compute (`LoadOptions::bf16_weights`, how `--dtype bf16` serves on
/// a CPU): the matrices are bf16, the norm gains f32, the forward pass and its logits f32; the
/// logits and padded logits are transformers' f32 ones within the same bf16 bound.
fn bf16_weights_logits_match<Bk: Backend>(dir: &str) -> Qwen3<Bk> {
    let reference = ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference");
    let options = LoadOptions::bf16_weights();
    let model = load_qwen3_with::<Bk>(data(dir), &options, &Default::default()).expect("loads");
    assert_eq!(
        (model.weight_dtype(), model.compute_dtype()),
        (FloatDType::BF16, FloatDType::F32)
    );
    let mut matrices = vec![model.embed_tokens.weight.val().dtype()];
    matrices.extend(model.lm_head.iter().map(|head| head.base.weight.val().dtype()));
    matrices.extend(
        model
            .projections()
            .into_iter()
            .map(|(_, p)| p.base.weight.val().dtype()),
    );
    assert!(matrices.iter().all(|d| *d == DType::BF16), "{matrices:?}");
    let norms = base_dtypes(&model)
        .into_iter()
        .filter(|d| *d == DType::F32)
        .count();
    assert_eq!(norms, 1 + 4 * model.layers.len(), "every norm gain stays f32");

    let logits = model.forward(input_ids(&reference), None);
    assert_eq!(logits.dtype(), DType::F32, "the forward pass did not run in f32");
    let expected = &reference.get("logits").expect("logits").values;
    let diff = max_diff(&to_vec(logits), expected);
    let bound = BF16_LOGIT_REL * max_abs(expected);
    println!("{dir}: bf16-weight logits max|Δ| {diff:.3e}, bound {bound:.3e}");
    assert!(
        diff <= bound,
        "bf16-weight logits off by {diff:.3e} > {bound:.3e}"
    );
    let padded_diff = padded_logits_diff(&model, &reference);
    assert!(
        padded_diff <= bound,
        "bf16-weight padded logits off by {padded_diff:.3e} > {bound:.3e}"
    );
    model
}

/// On Flex (inference) the products are computed in f32 from the bf16 values and the
/// projections held as HF holds them, for a decode step's dot products
/// (`model::weight_product`); the logits meet the same bound.
fn bf16_weights_logits_match_on_flex(dir: &str) {
    let model = bf16_weights_logits_match::<Flex>(dir);
    let heads = model.lm_head.iter().map(|head| head.base.weight.val());
    let projections = model.projections().into_iter().map(|(_, p)| p.base.weight.val());
    assert!(heads.chain(projections).all(|w| is_in_row_product_layout(&w)));
    assert!(!is_in_row_product_layout(&model.embed_tokens.weight.val()));
}

#[test]
fn bf16_weights_with_f32_compute_match_transformers_tied() {
    bf16_weights_logits_match::<B>("tiny");
    bf16_weights_logits_match_on_flex("tiny");
}

#[test]
fn bf16_weights_with_f32_compute_match_transformers_untied_bf16_checkpoint() {
    bf16_weights_logits_match::<B>("tiny-untied-sharded-bf16");
    bf16_weights_logits_match_on_flex("tiny-untied-sharded-bf16");
}

#[test]
fn bf16_logits_match_transformers_tied() {
    bf16_logits_match("tiny");
}

#[test]
fn bf16_logits_match_transformers_untied_bf16_checkpoint() {
    bf16_logits_match("tiny-untied-sharded-bf16");
}

/// (b) The PEFT adapter on a bf16 base: every A/B and every gradient is f32; `lora_logits`,
/// the loss, the gradients and `merged_logits` are PEFT's within bf16 bounds; merging keeps
/// the base bf16 and unmerging restores it up to the merge's rounding.
fn bf16_adapter_matches(dir: &str) {
    let reference = ReferenceFile::open(data(dir).join("reference.safetensors")).expect("reference");
    let base = load_qwen3_with::<B>(data(dir), &LoadOptions::bf16(), &Default::default()).expect("loads");
    let model = base.with_peft_adapter(&data(dir).join("lora")).expect("adapter");
    for (site, proj) in model.projections() {
        let lora = proj.lora.as_ref().expect("adapter attached");
        assert_eq!(lora.lora_a.val().dtype(), DType::F32, "{site:?} A");
        assert_eq!(lora.lora_b.val().dtype(), DType::F32, "{site:?} B");
        assert_eq!(proj.base.weight.val().dtype(), DType::BF16, "{site:?} base");
    }

    // 1. logits with the adapter
    let lora_ref = &reference.get("lora_logits").expect("lora_logits").values;
    let bound = BF16_LOGIT_REL * max_abs(lora_ref);
    let logits = model.forward(input_ids(&reference), None);
    assert_eq!(logits.dtype(), DType::BF16);
    let logit_diff = max_diff(&to_vec(logits.clone()), lora_ref);
    println!("{dir}: bf16 lora_logits max|Δ| {logit_diff:.3e}, bound {bound:.3e}");
    assert!(
        logit_diff <= bound,
        "lora_logits off by {logit_diff:.3e} > {bound:.3e}"
    );
    // The adapter's own effect is resolved at this precision (else the check above is vacuous).
    let base_ref = &reference.get("logits").expect("logits").values;
    let effect = lora_ref
        .iter()
        .zip(base_ref)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("{dir}: adapter effect on logits max|Δ| {effect:.3e}");
    assert!(
        effect > 10.0 * logit_diff,
        "adapter effect {effect:.3e} not resolved"
    );

    // 2. the loss, in f32: a log-probability moves by at most 2·max|Δlogit|, so the mean loss
    //    is within twice the logit error just measured
    let seq = reference.get("input_ids").expect("ids").shape[1];
    let labels: Vec<Vec<i64>> = reference
        .get("train_labels")
        .expect("labels")
        .values
        .chunks(seq)
        .map(|r| r.iter().map(|&v| v as i64).collect())
        .collect();
    let loss = causal_lm_loss_full(logits, &labels);
    assert_eq!(loss.dtype(), DType::F32);
    let loss_ref = reference.get("train_loss").expect("train_loss").values[0];
    let loss_diff = (f64::from(to_vec(loss.clone())[0]) - loss_ref).abs();
    println!("{dir}: bf16 loss {loss_ref:.5} ± {loss_diff:.3e}");
    assert!(loss_diff <= 2.0 * logit_diff, "loss off by {loss_diff:.3e}");

    // 3. gradients: f32, and PEFT's within BF16_GRAD_REL_L2 (relative L2 error per tensor)
    let grads = loss.backward();
    let mut worst = 0.0f64;
    let mut compared = 0;
    for (site, proj) in model.projections() {
        let lora = proj.lora.as_ref().expect("adapter");
        for (which, param) in [('A', &lora.lora_a), ('B', &lora.lora_b)] {
            let grad = param.val().grad(&grads).expect("gradient");
            assert_eq!(grad.dtype(), DType::F32, "{site:?} {which} gradient");
            let ours = grad.into_data().convert::<f32>().into_vec::<f32>().expect("f32");
            let key = site.peft_key(which).replace(".weight", ".default.weight");
            let r = &reference
                .get(&format!("grad.{key}"))
                .expect("reference gradient")
                .values;
            assert_eq!(ours.len(), r.len(), "{key}");
            let err: f64 = ours
                .iter()
                .zip(r)
                .map(|(&a, &b)| (f64::from(a) - b).powi(2))
                .sum();
            let norm: f64 = r.iter().map(|b| b * b).sum();
            worst = worst.max((err / norm).sqrt());
            compared += 1;
        }
    }
    println!("{dir}: {compared} gradients, worst relative L2 error {worst:.3e}");
    assert!(
        compared > 0 && worst <= BF16_GRAD_REL_L2,
        "gradients off by {worst:.3e}"
    );

    // 4. merge: the base stays bf16 and gives PEFT's merged logits
    let weights_before: Vec<Vec<f32>> = model
        .projections()
        .iter()
        .map(|(_, p)| to_vec(p.base.weight.val()))
        .collect();
    let merged = model.merge_lora();
    assert!(base_dtypes(&merged).iter().all(|d| *d == DType::BF16));
    let merged_ref = &reference.get("merged_logits").expect("merged_logits").values;
    let merged_diff = max_diff(&to_vec(merged.forward(input_ids(&reference), None)), merged_ref);
    println!("{dir}: bf16 merged_logits max|Δ| {merged_diff:.3e}");
    assert!(
        merged_diff <= bound,
        "merged_logits off by {merged_diff:.3e} > {bound:.3e}"
    );

    // 5. unmerge: m = round(w + Δ) and w' = round(m − Δ), each rounding off by ≤ u·|value|
    //    (u = 2⁻⁸), so |w' − w| ≤ u·(|w| + (1 + u)·|w + Δ|) elementwise
    let unmerged = merged.unmerge_lora();
    for ((site, proj), before) in unmerged.projections().into_iter().zip(&weights_before) {
        let after = to_vec(proj.base.weight.val());
        let delta = to_vec(proj.lora.as_ref().expect("adapter").delta_weight());
        assert_eq!(proj.base.weight.val().dtype(), DType::BF16);
        for ((&w, &w2), &d) in before.iter().zip(&after).zip(&delta) {
            let u = 2f32.powi(-8);
            let slack = u * (w.abs() + (1.0 + u) * (w + d).abs()) * 1.001;
            assert!((w2 - w).abs() <= slack, "{site:?}: unmerged {w2} vs {w} (Δ {d})");
        }
    }
}

#[test]
fn bf16_base_with_f32_adapter_matches_peft_tied() {
    bf16_adapter_matches("tiny");
}

#[test]
fn bf16_base_with_f32_adapter_matches_peft_untied() {
    bf16_adapter_matches("tiny-untied-sharded-bf16");
}

/// `cast_base` after adapters are attached casts only the base: adapters stay f32 and
/// trainable, the base stays frozen; casting to the model's own dtype changes nothing.
#[test]
fn cast_base_leaves_adapters_and_trainability_alone() {
    let model = load_qwen3::<B>(data("tiny"), &Default::default())
        .expect("loads")
        .with_new_lora(&spec_actions_qwen3::lora::LoraConfig::new(4, 8.0));
    let lora_before: Vec<Vec<f32>> = model
        .projections()
        .iter()
        .map(|(_, p)| to_vec(p.lora.as_ref().expect("adapter").lora_a.val()))
        .collect();
    let same = model.clone().cast_base(FloatDType::F32);
    assert_eq!(
        to_vec(same.embed_tokens.weight.val()),
        to_vec(model.embed_tokens.weight.val())
    );

    let bf16 = model.cast_base(FloatDType::BF16);
    assert!(base_dtypes(&bf16).iter().all(|d| *d == DType::BF16));
    assert!(!bf16.embed_tokens.weight.val().is_require_grad());
    for ((site, proj), before) in bf16.projections().into_iter().zip(&lora_before) {
        assert!(
            !proj.base.weight.val().is_require_grad(),
            "{site:?} base trainable"
        );
        let lora = proj.lora.as_ref().expect("adapter kept");
        assert_eq!(lora.lora_a.val().dtype(), DType::F32, "{site:?}");
        assert!(lora.lora_a.val().is_require_grad() && lora.lora_b.val().is_require_grad());
        assert_eq!(&to_vec(lora.lora_a.val()), before, "{site:?} adapter changed");
    }
}

/// Generation and one-pass scoring run on a bf16 model (the KV cache and the score bias take
/// the compute dtype) and agree with the f32 model: the same greedy tokens, and candidate
/// log-probabilities within twice the bf16 logit error bound (a log-probability moves by at
/// most twice the largest logit change).
#[test]
fn bf16_generation_and_scoring_agree_with_f32() {
    let dir = data("tiny");
    let device = Default::default();
    let f32_model: Qwen3<Flex> = load_qwen3(&dir, &device).unwrap();
    let bf16_model: Qwen3<Flex> = load_qwen3_with(&dir, &LoadOptions::bf16(), &device).unwrap();
    assert_eq!(bf16_model.compute_dtype(), FloatDType::BF16);
    let bf16_weights: Qwen3<Flex> = load_qwen3_with(&dir, &LoadOptions::bf16_weights(), &device).unwrap();
    agree_with_f32(&bf16_model, &f32_model);
    // bf16 weights with f32 compute (the KV cache, RoPE and the decode step's casts in f32)
    agree_with_f32(&bf16_weights, &f32_model);
}

fn agree_with_f32(bf16_model: &Qwen3<Flex>, f32_model: &Qwen3<Flex>) {
    use spec_actions_qwen3::{GenerationConfig, generate, score_continuations};
    let device = Default::default();

    let prompts = vec![vec![3, 14, 15, 92, 65], vec![27, 18]];
    let config = GenerationConfig::greedy(4);
    let ours = generate(bf16_model, &prompts, &config).unwrap();
    let want = generate(f32_model, &prompts, &config).unwrap();
    for (a, b) in ours.iter().zip(&want) {
        assert_eq!(a.tokens.len(), 4);
        for (x, y) in a.token_logprobs.iter().zip(&b.token_logprobs) {
            assert!(x.is_finite() && (x - y).abs() < 1.0, "{x} vs {y}");
        }
    }

    let candidates = vec![vec![7], vec![8, 9, 10], vec![100, 200]];
    let ours = score_continuations(bf16_model, &prompts[0], &candidates).unwrap();
    let want = score_continuations(f32_model, &prompts[0], &candidates).unwrap();
    // bound: 2 × BF16_LOGIT_REL × the largest |logit| of the f32 model on this prompt
    let ids = Tensor::<Flex, 2, Int>::from_data(TensorData::new(vec![3i64, 14, 15, 92, 65], [1, 5]), &device);
    let largest = f32_model
        .forward(ids, None)
        .into_data()
        .into_vec::<f32>()
        .expect("f32 logits")
        .into_iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    let bound = 2.0 * BF16_LOGIT_REL as f32 * largest;
    for (a, b) in ours.iter().zip(&want) {
        for (x, y) in a.token_logprobs.iter().zip(&b.token_logprobs) {
            assert!((x - y).abs() <= bound, "{x} vs {y} (bound {bound})");
        }
    }
}
