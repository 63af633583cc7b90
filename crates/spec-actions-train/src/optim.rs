//! AdamW with PyTorch's semantics, a warm-up + cosine learning-rate schedule, and global
//! gradient-norm clipping, over *named* parameters.
//!
//! Keyed by name (PEFT's tensor names) rather than by burn's `ParamId`, so an optimizer state
//! saved in a checkpoint resumes onto a model rebuilt from files — exactly, step for step.
//!
//! The update and the moments are always f32 (the LoRA parameters are f32 even when the base
//! model computes in bf16): a parameter or gradient of another dtype is upcast for the update
//! and the new value returned in the parameter's own dtype.

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

/// AdamW hyper-parameters. Defaults are PyTorch's `torch.optim.AdamW` ones except the weight
/// decay, 0.01 as in PyTorch's AdamW default (burn's own defaults differ: set them explicitly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// First and second moments of one parameter (f32).
#[derive(Debug, Clone)]
pub struct Moments<B: Backend> {
    pub m: Tensor<B, 2>,
    pub v: Tensor<B, 2>,
}

/// AdamW state: the step count and the moments of every parameter, by name.
#[derive(Debug, Clone)]
pub struct AdamW<B: Backend> {
    pub config: AdamWConfig,
    /// Number of updates applied so far (PyTorch's `state['step']`).
    pub step: u64,
    pub moments: BTreeMap<String, Moments<B>>,
}

impl<B: Backend> AdamW<B> {
    pub fn new(config: AdamWConfig) -> Self {
        AdamW {
            config,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Begins update number `self.step + 1`; call [`AdamW::update`] for every parameter after it.
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// The updated value of parameter `name` given its gradient, as `torch.optim.AdamW` computes:
    /// `p ← p·(1 − lr·wd)`, `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
    /// `p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
    ///
    /// # Shapes
    /// - `param`, `grad`: `[rows, cols]`; returns the same, in `param`'s dtype.
    pub fn update(&mut self, name: &str, param: Tensor<B, 2>, grad: Tensor<B, 2>, lr: f64) -> Tensor<B, 2> {
        let dtype = param.dtype();
        let (param, grad) = (param.cast(FloatDType::F32), grad.cast(FloatDType::F32));
        let c = &self.config;
        let t = self.step.max(1) as i32;
        let moments = self.moments.remove(name).unwrap_or_else(|| Moments {
            m: grad.zeros_like(),
            v: grad.zeros_like(),
        });
        let m = moments.m.mul_scalar(c.beta1) + grad.clone().mul_scalar(1.0 - c.beta1);
        let v = moments.v.mul_scalar(c.beta2) + grad.clone().mul(grad).mul_scalar(1.0 - c.beta2);
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        let denom = v.clone().sqrt().div_scalar(bias2.sqrt()).add_scalar(c.eps);
        let decayed = param.mul_scalar(1.0 - lr * c.weight_decay);
        let updated = decayed - m.clone().div(denom).mul_scalar(lr / bias1);
        self.moments.insert(name.to_string(), Moments { m, v });
        updated.cast(dtype)
    }
}

/// Linear warm-up from 0 to `peak` over `warmup_steps`, then cosine decay to 0 at
/// `total_steps` (transformers' `get_cosine_schedule_with_warmup`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl LrSchedule {
    /// Learning rate of optimizer step `step` (0-based: the first update uses `lr(0)`).
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        self.peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// The factor that scales gradients of total norm `norm` down to `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`: `min(1, max_norm / (norm + 1e-6))`).
pub fn clip_coefficient(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn schedule_matches_transformers_formula() {
        let s = LrSchedule {
            peak: 1e-3,
            warmup_steps: 10,
            total_steps: 110,
        };
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 5e-4).abs() < 1e-12);
        assert!((s.lr(10) - 1e-3).abs() < 1e-12);
        // halfway through the decay: cos(π/2) = 0 → half the peak
        assert!((s.lr(60) - 5e-4).abs() < 1e-12);
        assert!(s.lr(110).abs() < 1e-12);
    }

    #[test]
    fn adamw_first_steps_match_hand_computation() {
        // One scalar parameter p = 1, gradient g = 0.5, lr 0.1, wd 0.01, PyTorch defaults.
        // Step 1: p = 1·(1−0.001) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25
        //         p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899 (to 1e-7).
        // Step 2 (same g): p = 0.899·0.999 = 0.898101; m = 0.095, v = 0.00049975;
        //         m̂ = 0.095/0.19 = 0.5, v̂ = 0.00049975/0.001999 = 0.25 → p = 0.798101.
        let device = Default::default();
        let mut opt = AdamW::<Flex>::new(AdamWConfig::default());
        let mut p = Tensor::<Flex, 2>::from_floats([[1.0]], &device);
        let g = Tensor::<Flex, 2>::from_floats([[0.5]], &device);
        opt.begin_step();
        p = opt.update("p", p, g.clone(), 0.1);
        let v1 = p.clone().into_scalar();
        assert!((v1 - 0.899).abs() < 1e-6, "{v1}");
        opt.begin_step();
        p = opt.update("p", p, g, 0.1);
        let v2 = p.into_scalar();
        assert!((v2 - 0.798101).abs() < 1e-6, "{v2}");
    }

    #[test]
    fn update_and_moments_are_f32_and_keep_the_parameter_dtype() {
        use burn::tensor::DType;
        let device = Default::default();
        let mut opt = AdamW::<Flex>::new(AdamWConfig::default());
        let g = Tensor::<Flex, 2>::from_floats([[0.5]], &device);
        // A bf16 gradient of an f32 parameter: same step as the f32 case above (0.5 is exact in bf16).
        let p = Tensor::<Flex, 2>::from_floats([[1.0]], &device);
        opt.begin_step();
        let p = opt.update("p", p, g.clone().cast(FloatDType::BF16), 0.1);
        assert_eq!(p.dtype(), DType::F32);
        assert!((p.into_scalar() - 0.899).abs() < 1e-6);
        let moments = &opt.moments["p"];
        assert_eq!((moments.m.dtype(), moments.v.dtype()), (DType::F32, DType::F32));
        // A bf16 parameter comes back bf16, updated in f32 then rounded once: 0.899 → 0.8984375.
        let q = Tensor::<Flex, 2>::from_floats([[1.0]], &device).cast(FloatDType::BF16);
        let q = opt.update("q", q, g, 0.1);
        assert_eq!(q.dtype(), DType::BF16);
        let value = q.into_data().convert::<f32>().to_vec::<f32>().expect("f32")[0];
        assert_eq!(value, burn::tensor::bf16::from_f32(0.899).to_f32());
        assert_eq!(opt.moments["q"].m.dtype(), DType::F32);
    }

    #[test]
    fn clipping_only_scales_down() {
        assert_eq!(clip_coefficient(0.5, 1.0), 1.0);
        assert!((clip_coefficient(4.0, 1.0) - 0.25).abs() < 1e-6);
    }
}
