//! What a decision costs: a [`CostModel`] prices each model call, a [`CostLedger`] records
//! every call one decision made.
//!
//! Two units: *nominal* units per call, as the study counted (strong 1.00, cheap proposal 0.15,
//! verifier or reward-model pass 0.10), and *FLOP* units from parameter counts and tokens
//! (≈ 2·params FLOPs per token prefilled or decoded).
//!
//! The bag-of-words kind classifier (`spec-actions-baseline`, policy K) is priced like a model
//! whose "tokens" are the non-zero features of its input row and whose "parameters" are the
//! nine class weights each non-zero touches (`CostModel::params[Classifier]` = 9): about 72
//! non-zeros × 9 classes × 2 ≈ 1.3 kFLOPs a call, against 2 · 8.2e9 · ~600 tokens ≈ 1e13 for a
//! strong call — ten orders of magnitude less. Its nominal price,
//! `CostModel::nominal[Classifier]` = 0.001 strong-call units, is far above that FLOP ratio on
//! purpose: it stands for the fixed cost of any call (tokenising the conversation, building
//! the features, the process overhead), which no FLOP count sees, and it keeps the
//! classifier's cost visible (non-zero) on the frontier.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::role::ModelRole;
use crate::role::RoleMap;

/// Prices of model calls: nominal units and parameter counts, one entry per role.
///
/// Written as `{"nominal": {"cheap": …, …}, "params": {"cheap": …, …}}`; the former layout
/// (`strong_call`, `cheap_call`, `verifier_call`, `reward_model_call`, `classifier_call` and
/// `params` keyed `reward_model`) still reads, and a missing classifier entry takes its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CostModelFile")]
pub struct CostModel {
    /// Nominal units of one call in each role (study: strong 1.00, cheap 0.15, verifier and
    /// reward model 0.10; classifier 0.001, see the module doc).
    pub nominal: RoleMap<f64>,
    /// Parameter counts per role, for FLOP units (defaults: Qwen3-1.7B, 4B, 4B, 8B). The
    /// classifier's is the weights touched per non-zero feature (nine, one per kind): its calls
    /// count non-zero features as their prefill tokens, so `2 · 9 · nnz` FLOPs.
    pub params: RoleMap<f64>,
}

/// A cost model as read: the current layout or the former one (one field per role).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CostModelFile {
    #[serde(default)]
    nominal: Option<BTreeMap<ModelRole, f64>>,
    #[serde(default)]
    strong_call: Option<f64>,
    #[serde(default)]
    cheap_call: Option<f64>,
    #[serde(default)]
    verifier_call: Option<f64>,
    #[serde(default)]
    reward_model_call: Option<f64>,
    #[serde(default)]
    classifier_call: Option<f64>,
    params: BTreeMap<ModelRole, f64>,
}

impl TryFrom<CostModelFile> for CostModel {
    type Error = String;

    fn try_from(f: CostModelFile) -> Result<Self, String> {
        let defaults = CostModel::default();
        let mut nominal = f.nominal.unwrap_or_default();
        let old = [
            (ModelRole::Strong, f.strong_call),
            (ModelRole::Cheap, f.cheap_call),
            (ModelRole::Verifier, f.verifier_call),
            (ModelRole::Reward, f.reward_model_call),
            (ModelRole::Classifier, f.classifier_call),
        ];
        for (role, price) in old {
            if let Some(price) = price {
                nominal.insert(role, price);
            }
        }
        let complete = |given: BTreeMap<ModelRole, f64>, what: &str, default: &RoleMap<f64>| {
            let classifier = default[ModelRole::Classifier];
            RoleMap::from_partial(given, |r| (r == ModelRole::Classifier).then_some(classifier)).map_err(
                |missing| {
                    let names: Vec<&str> = missing.iter().map(|r| r.as_str()).collect();
                    format!("cost model: no {what} for {}", names.join(", "))
                },
            )
        };
        Ok(CostModel {
            nominal: complete(nominal, "nominal price", &defaults.nominal)?,
            params: complete(f.params, "parameter count", &defaults.params)?,
        })
    }
}

impl Default for CostModel {
    /// The study's nominal prices and the Qwen3 sizes it used.
    fn default() -> Self {
        let nominal = |role| match role {
            ModelRole::Strong => 1.00,
            ModelRole::Cheap => 0.15,
            ModelRole::Verifier | ModelRole::Reward => 0.10,
            ModelRole::Classifier => 0.001,
        };
        let params = |role| match role {
            ModelRole::Cheap => 1.7e9,
            ModelRole::Strong => 8.2e9,
            ModelRole::Verifier | ModelRole::Reward => 4.0e9,
            ModelRole::Classifier => crate::ActionKind::COUNT as f64,
        };
        CostModel {
            nominal: RoleMap::from_fn(nominal),
            params: RoleMap::from_fn(params),
        }
    }
}

impl CostModel {
    /// Nominal units of one call in `role`.
    pub fn nominal(&self, role: ModelRole) -> f64 {
        self.nominal[role]
    }

    /// Parameters of the model in `role`.
    pub fn params(&self, role: ModelRole) -> f64 {
        self.params[role]
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
        assert_eq!(costs.nominal[ModelRole::Cheap], 0.2);
        assert_eq!(costs.nominal[ModelRole::Classifier], 0.001);
        assert_eq!(costs.params[ModelRole::Classifier], 9.0);
    }

    /// The current layout round-trips, keyed by role names; one without a role's price is an
    /// error naming the role.
    #[test]
    fn a_cost_model_round_trips_keyed_by_role_names() {
        let costs = CostModel::default();
        let json = serde_json::to_value(&costs).unwrap();
        assert_eq!(json["nominal"]["reward"], 0.1);
        assert_eq!(json["params"]["strong"], 8.2e9);
        assert_eq!(serde_json::from_value::<CostModel>(json.clone()).unwrap(), costs);
        let mut partial = json;
        partial["nominal"].as_object_mut().unwrap().remove("verifier");
        let err = serde_json::from_value::<CostModel>(partial)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nominal price for verifier"), "{err}");
    }
}
