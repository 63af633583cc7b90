//! Training checks shared by `trainer.rs` (burn's Flex) and `wgpu_training.rs` (burn's wgpu),
//! generic over the backend: the label-positions-only loss and its gradients against PEFT's
//! (`train_loss`, `grad.*` of the tiny fixture, made by transformers 5.23 + PEFT 0.21), and the
//! token task the training runs learn.

#![allow(dead_code)] // each test file uses part of the suite

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use spec_actions_qwen3::action_prompts::{IGNORE, LabeledTokens};
use spec_actions_qwen3::loader::load_qwen3;
use spec_actions_qwen3::lora::AdapterSite;
use spec_actions_qwen3::model::parity::ReferenceFile;
use spec_actions_train::tasks::SftObjective;
use spec_actions_train::trainer::{Objective, TrainModel, TrainerConfig};

pub fn fixture(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec-actions-qwen3/tests/data")
        .join(dir)
}

/// The tiny fixture with its PEFT adapter (`tiny/lora`): deterministic, no random init.
pub fn peft_model<B: AutodiffBackend>(device: &B::Device) -> TrainModel<B> {
    let base = load_qwen3::<B>(fixture("tiny"), device).expect("fixture loads");
    TrainModel {
        qwen: base
            .with_peft_adapter(&fixture("tiny/lora"))
            .expect("adapter loads"),
        score_head: None,
    }
}

fn to_vec<const D: usize, Bk: Backend>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().expect("f32")
}

/// The SFT objective's loss on the reference batch is PEFT's `train_loss` within 1e-5, and the
/// gradient of every one of the 28 LoRA tensors is PEFT's within a relative 1e-3.
pub fn label_position_loss_and_gradients_match_peft<B: AutodiffBackend>(device: &B::Device) {
    let reference = ReferenceFile::open(fixture("tiny/reference.safetensors")).expect("reference");
    let ids = reference.get("input_ids").expect("ids");
    let labels = reference.get("train_labels").expect("labels");
    let seq = ids.shape[1];
    let rows: Vec<LabeledTokens> = ids
        .values
        .chunks(seq)
        .zip(labels.values.chunks(seq))
        .map(|(i, l)| LabeledTokens {
            ids: i.iter().map(|&v| v as u32).collect(),
            labels: l.iter().map(|&v| v as i64).collect(),
        })
        .collect();
    let batch: Vec<&LabeledTokens> = rows.iter().collect();
    let model = peft_model::<B>(device);
    let objective = SftObjective { pad_id: 0 };
    let count = objective.count(&batch);
    let loss = objective
        .loss(&model, &batch, device)
        .sum
        .div_scalar(count as f64);
    let value = to_vec(loss.clone())[0] as f64;
    let expected = reference.get("train_loss").expect("loss").values[0];
    assert!(
        (value - expected).abs() <= 1e-5,
        "loss {value} vs PEFT {expected}"
    );

    let grads = loss.backward();
    let mut checked = 0;
    for (site, proj) in model.qwen.projections() {
        let lora = proj.lora.as_ref().expect("adapter");
        for (which, param) in [('A', &lora.lora_a), ('B', &lora.lora_b)] {
            let key = format!(
                "grad.{}",
                site.peft_key(which)
                    .replace(&format!("lora_{which}."), &format!("lora_{which}.default."))
            );
            let r = reference.get(&key).expect("gradient in reference");
            let ours = to_vec(param.val().grad(&grads).expect("gradient"));
            let scale = r.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in ours.iter().zip(&r.values) {
                let rel = (f64::from(*a) - b).abs() / b.abs().max(1e-3 * scale);
                assert!(rel <= 1e-3, "{key}: {a} vs {b}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 28);
    let _ = AdapterSite {
        layer: 0,
        module: "q_proj",
    };
}

/// Token rows of a learnable task over the fixture's 1024-token vocabulary: a class token
/// (one of four) opens the prompt, noise follows, and the answer names the class.
pub fn class_task(n: usize, seed: u64) -> Vec<LabeledTokens> {
    (0..n as u64)
        .map(|i| {
            let class = 10 + (i % 4) as u32;
            let noise = |k: u64| ((seed * 7919 + i * 104_729 + k * 15_485_863) % 900 + 20) as u32;
            let ids: Vec<u32> = vec![class, noise(1), noise(2), noise(3), 5, 200 + class, 300 + class];
            let labels = ids
                .iter()
                .enumerate()
                .map(|(j, &t)| if j >= 5 { i64::from(t) } else { IGNORE })
                .collect();
            LabeledTokens { ids, labels }
        })
        .collect()
}

pub fn config(steps: u64) -> TrainerConfig {
    TrainerConfig {
        total_steps: steps,
        batch_size: 4,
        grad_accum: 2,
        lr: 1e-2,
        warmup_steps: 2,
        checkpoint_every: 2,
        eval_every: 100,
        progress: false,
        ..TrainerConfig::default()
    }
}
