//! What a decision costs: a [`CostModel`] prices each model call, a [`CostLedger`] records
//! every call one decision made.
//!
//! Two units: *nominal* units per call, as the study counted (strong 1.00, cheap proposal 0.15,
//! verifier or reward-model pass 0.10), and *FLOP* units from parameter counts and tokens
//! (≈ 2·params FLOPs per token prefilled or decoded).
//!
//! The bag-of-words kind classifier (`spec-actions-baseline`, policy K) is priced like a model
//! whose "tokens" are the non-zero features of its input row and whose "parameters" are the
//! nine class weights each non-zero touches ([`RoleParams::classifier`] = 9): about 72
//! non-zeros × 9 classes × 2 ≈ 1.3 kFLOPs a call, against 2 · 8.2e9 · ~600 tokens ≈ 1e13 for a
//! strong call — ten orders of magnitude less. Its nominal price,
//! [`CostModel::classifier_call`] = 0.001 strong-call units, is far above that FLOP ratio on
//! purpose: it stands for the fixed cost of any call (tokenising the conversation, building
//! the features, the process overhead), which no FLOP count sees, and it keeps the
//! classifier's cost visible (non-zero) on the frontier.

use serde::{Deserialize, Serialize};

/// The part a model plays in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    /// The cheap proposer (Qwen3-1.7B + LoRA in the study).
    Cheap,
    /// The strong model used as fallback (Qwen3-8B).
    Strong,
    /// An ACCEPT/REJECT judge.
    Verifier,
    /// A scalar reward model.
    RewardModel,
    /// The bag-of-words next-kind classifier (policy K and the first tier of the cascades).
    Classifier,
}

/// Prices of model calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostModel {
    /// Nominal units of one strong call (study: 1.00).
    pub strong_call: f64,
    /// Nominal units of one cheap proposal (study: 0.15).
    pub cheap_call: f64,
    /// Nominal units of one verifier pass (study: 0.10).
    pub verifier_call: f64,
    /// Nominal units of one reward-model pass (study: 0.10).
    pub reward_model_call: f64,
    /// Nominal units of one bag-of-words classifier call (0.001: see the module doc).
    #[serde(default = "default_classifier_call")]
    pub classifier_call: f64,
    /// Parameter counts per role, for FLOP units (defaults: Qwen3-1.7B, 8B, 4B, 4B).
    pub params: RoleParams,
}

/// Parameter counts of the model in each role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleParams {
    pub cheap: f64,
    pub strong: f64,
    pub verifier: f64,
    pub reward_model: f64,
    /// The classifier's weights touched per non-zero feature (nine, one per kind): its calls
    /// count non-zero features as their prefill tokens, so `2 · 9 · nnz` FLOPs.
    #[serde(default = "default_classifier_params")]
    pub classifier: f64,
}

fn default_classifier_call() -> f64 {
    0.001
}

fn default_classifier_params() -> f64 {
    crate::ActionKind::COUNT as f64
}

impl Default for CostModel {
    /// The study's nominal prices and the Qwen3 sizes it used.
    fn default() -> Self {
        CostModel {
            strong_call: 1.00,
            cheap_call: 0.15,
            verifier_call: 0.10,
            reward_model_call: 0.10,
            classifier_call: default_classifier_call(),
            params: RoleParams {
                cheap: 1.7e9,
                strong: 8.2e9,
                verifier: 4.0e9,
                reward_model: 4.0e9,
                classifier: default_classifier_params(),
            },
        }
    }
}

impl CostModel {
    /// Nominal units of one call in `role`.
    pub fn nominal(&self, role: ModelRole) -> f64 {
        match role {
            ModelRole::Cheap => self.cheap_call,
            ModelRole::Strong => self.strong_call,
            ModelRole::Verifier => self.verifier_call,
            ModelRole::RewardModel => self.reward_model_call,
            ModelRole::Classifier => self.classifier_call,
        }
    }

    /// Parameters of the model in `role`.
    pub fn params(&self, role: ModelRole) -> f64 {
        match role {
            ModelRole::Cheap => self.params.cheap,
            ModelRole::Strong => self.params.strong,
            ModelRole::Verifier => self.params.verifier,
            ModelRole::RewardModel => self.params.reward_model,
            ModelRole::Classifier => self.params.classifier,
        }
    }

    /// Forward FLOPs of processing `tokens` tokens (prefilled or decoded): 2 · params · tokens.
    pub fn flops(&self, role: ModelRole, tokens: u64) -> f64 {
        2.0 * self.params(role) * tokens as f64
    }

    /// A priced record of one call.
    pub fn call(&self, role: ModelRole, prefill_tokens: u64, decode_tokens: u64) -> ModelCall {
        ModelCall {
            role,
            model: None,
            prefill_tokens,
            decode_tokens,
            nominal: self.nominal(role),
            flops: self.flops(role, prefill_tokens + decode_tokens),
            wall_ms: None,
        }
    }
}

/// One model call made while deciding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCall {
    pub role: ModelRole,
    /// Which model (path or preset name), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    /// Nominal units charged. A rejected proposal still costs what it cost.
    pub nominal: f64,
    /// FLOPs spent.
    pub flops: f64,
    /// Measured wall time, when the call was live (replays have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<f64>,
}

/// Every model call of one decision, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostLedger {
    pub calls: Vec<ModelCall>,
}

impl CostLedger {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn record(&mut self, call: ModelCall) {
        self.calls.push(call);
    }
    /// Sum of nominal units.
    pub fn nominal(&self) -> f64 {
        self.calls.iter().map(|c| c.nominal).sum()
    }
    /// Sum of FLOPs.
    pub fn flops(&self) -> f64 {
        self.calls.iter().map(|c| c.flops).sum()
    }
    /// Sum of measured wall time (calls without a measurement count 0).
    pub fn wall_ms(&self) -> f64 {
        self.calls.iter().filter_map(|c| c.wall_ms).sum()
    }
    /// Number of calls in `role`.
    pub fn count(&self, role: ModelRole) -> usize {
        self.calls.iter().filter(|c| c.role == role).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classifier call with 72 non-zero features: 2 · 9 · 72 = 1296 FLOPs and the stated
    /// nominal price; a strong call of 600 tokens is ten orders of magnitude more FLOPs.
    #[test]
    fn a_classifier_call_is_priced_by_its_non_zeros() {
        let costs = CostModel::default();
        let call = costs.call(ModelRole::Classifier, 72, 0);
        assert_eq!(call.flops, 1296.0);
        assert_eq!(call.nominal, 0.001);
        let strong = costs.call(ModelRole::Strong, 600, 0);
        assert!(strong.flops / call.flops > 1e9);
    }

    /// A cost model written before the classifier existed still reads, with its defaults.
    #[test]
    fn a_cost_model_without_the_classifier_fields_reads_with_defaults() {
        let old = r#"{"strong_call": 1.0, "cheap_call": 0.2, "verifier_call": 0.1, "reward_model_call": 0.1,
            "params": {"cheap": 1.0, "strong": 2.0, "verifier": 3.0, "reward_model": 4.0}}"#;
        let costs: CostModel = serde_json::from_str(old).unwrap();
        assert_eq!(costs.cheap_call, 0.2);
        assert_eq!(costs.classifier_call, 0.001);
        assert_eq!(costs.params.classifier, 9.0);
    }
}
