//! `spec_actions_qwen3::huge_pages`: a tensor moved into huge-page memory keeps its values,
//! takes part in every op (products, element-wise, copy-on-write, `into_data`), and a model's
//! weight matrices land there when it is built, cast and merged — while small tensors, views
//! and other backends' tensors stay where they were.

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};
use spec_actions_qwen3::Qwen3Config;
use spec_actions_qwen3::huge_pages::{HUGE_PAGE_BYTES, advised_huge_pages, in_huge_pages};

type B = Flex;

/// A `[rows, 256]` f32 tensor of `bytes` (rounded down to whole rows).
fn random(bytes: usize) -> Tensor<B, 2> {
    Tensor::random(
        [bytes / 4 / 256, 256],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    )
}

#[test]
fn a_moved_tensor_keeps_its_values_and_works_in_every_op() {
    let w = random(HUGE_PAGE_BYTES + 4096 * 3);
    let moved = in_huge_pages(w.clone());
    assert!(advised_huge_pages(&moved) || !cfg!(target_os = "linux"));
    assert!(!advised_huge_pages(&w), "the source stays in the heap");
    assert_eq!(moved.to_data(), w.to_data());
    // products through both of the row-vector product's layouts and through gemm
    let device = Default::default();
    let x = Tensor::<B, 2>::random([1, w.dims()[0]], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(
        x.clone().matmul(moved.clone()).to_data(),
        x.matmul(w.clone()).to_data()
    );
    let rows = Tensor::<B, 2>::random([5, 256], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(
        rows.clone().matmul(moved.clone().transpose()).to_data(),
        rows.matmul(w.clone().transpose()).to_data()
    );
    // element-wise, on a shared buffer (copy-on-write) and on a unique one (in place)
    let shared = moved.clone() * 2.0;
    assert_eq!(shared.to_data(), (w.clone() * 2.0).to_data());
    assert_eq!(moved.to_data(), w.to_data(), "the shared source is unchanged");
    assert_eq!(
        (moved.clone() + 1.0).exp().to_data(),
        (w.clone() + 1.0).exp().to_data()
    );
    // casts, and the bytes handed out whole
    let narrow = in_huge_pages(w.clone().cast(FloatDType::BF16));
    assert_eq!(narrow.to_data(), w.clone().cast(FloatDType::BF16).to_data());
    let values = w.to_data().into_vec::<f32>().expect("f32 values");
    assert_eq!(moved.into_data().into_vec::<f32>().expect("f32 values"), values);
}

#[test]
fn small_tensors_views_and_autodiff_tensors_stay_where_they_are() {
    let small = random(HUGE_PAGE_BYTES - 4096);
    assert!(!advised_huge_pages(&in_huge_pages(small)));
    // a transposed view is not contiguous: left as it is
    let view = in_huge_pages(random(2 * HUGE_PAGE_BYTES).transpose());
    assert!(!advised_huge_pages(&view));
    // an autodiff tensor (training) is not a Flex primitive: unchanged, gradients intact
    let device = Default::default();
    let tracked = Tensor::<Autodiff<B>, 2>::ones([HUGE_PAGE_BYTES / 4 / 256, 256], &device).require_grad();
    let same = in_huge_pages(tracked.clone());
    let grads = (same * 3.0).sum().backward();
    let grad = tracked.grad(&grads).expect("a gradient");
    assert_eq!(
        grad.to_data(),
        Tensor::<B, 2>::full(grad.dims(), 3.0, &device).to_data()
    );
}

#[test]
fn a_models_weight_matrices_live_in_huge_pages_after_build_cast_and_merge() {
    let mut c = Qwen3Config::qwen3_0_6b();
    // gate_proj 6 MiB in f32 and 3 MiB in bf16, the embedding 4 and 2 MiB, k_proj 512 and
    // 256 KiB: above and below the size that moves
    (
        c.vocab_size,
        c.hidden_size,
        c.intermediate_size,
        c.num_hidden_layers,
    ) = (2048, 512, 3072, 1);
    (c.num_attention_heads, c.num_key_value_heads, c.head_dim) = (8, 4, 64);
    let device = Default::default();
    let model = c.init::<B>(&device);
    let layer = &model.layers[0];
    let bytes = |t: &Tensor<B, 2>| t.shape().num_elements() * t.dtype().size();
    let check = |name: &str, t: &Tensor<B, 2>| {
        let expected = cfg!(target_os = "linux") && bytes(t) >= HUGE_PAGE_BYTES;
        assert_eq!(advised_huge_pages(t), expected, "{name}: {} bytes", bytes(t));
    };
    check("embedding", &model.embed_tokens.weight.val());
    check("gate_proj", &layer.mlp.gate_proj.base.weight.val());
    check("k_proj", &layer.self_attn.k_proj.base.weight.val());
    let model = model.cast_weights(FloatDType::BF16);
    let layer = &model.layers[0];
    check("bf16 embedding", &model.embed_tokens.weight.val());
    check("bf16 gate_proj", &layer.mlp.gate_proj.base.weight.val());
    check("bf16 k_proj", &layer.self_attn.k_proj.base.weight.val());
    assert!(advised_huge_pages(&layer.mlp.gate_proj.base.weight.val()) || !cfg!(target_os = "linux"));
    // merging an adapter replaces each base weight: the new one goes back into huge pages
    let model = model
        .with_new_lora(&spec_actions_qwen3::lora::LoraConfig::new(4, 8.0))
        .merge_lora();
    let layer = &model.layers[0];
    check("merged bf16 gate_proj", &layer.mlp.gate_proj.base.weight.val());
    check("merged bf16 k_proj", &layer.self_attn.k_proj.base.weight.val());
    let model = model.unmerge_lora();
    check(
        "unmerged bf16 gate_proj",
        &model.layers[0].mlp.gate_proj.base.weight.val(),
    );
}
