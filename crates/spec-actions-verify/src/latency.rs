//! Latency next to cost: a per-role model of how long a call takes, fitted from prefill and
//! decode timings measured on the backend, and the time-to-result of a decision under it.
//!
//! A call of role `r` with `p` tokens prefilled and `d` decoded takes
//! `p · prefill_ms_per_token[r] + d · decode_ms_per_token[r]`. A decision's latency is the time
//! until the chosen action's result is available: its calls in sequence, then executing the
//! action (`exec_ms` of its kind). Policy H runs cheap and strong together and, when the cheap
//! action is side-effect free and the strong one agrees, has its result when
//! `max(strong, cheap + exec)` has passed instead of `strong + exec`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spec_actions_core::{ActionKind, ExampleRecord, ModelCall, ModelRole, RoleMap};

use crate::decision_log::{DecisionLog, Route};
use crate::recorded::RecordedSet;

/// Per-token times of one role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleLatency {
    pub prefill_ms_per_token: f64,
    pub decode_ms_per_token: f64,
}

/// Latency model of the roles and of executing each kind of action.
///
/// Written with one key per role (`cheap`, `verifier`, `reward`, `strong`, `classifier`) beside
/// `exec_ms`; analyses written before the roles were one enum (`reward_model`, and no
/// `classifier`: zero) still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LatencyModelFile")]
pub struct LatencyModel {
    /// Per-token times of each role.
    #[serde(flatten)]
    pub roles: RoleMap<RoleLatency>,
    /// Time to execute an action of each kind, indexed as [`ActionKind::ALL`].
    pub exec_ms: [f64; ActionKind::COUNT],
}

/// A latency model as read: role keys in any layout so far.
#[derive(Deserialize)]
struct LatencyModelFile {
    #[serde(flatten)]
    roles: BTreeMap<ModelRole, RoleLatency>,
    exec_ms: [f64; ActionKind::COUNT],
}

impl TryFrom<LatencyModelFile> for LatencyModel {
    type Error = String;

    fn try_from(f: LatencyModelFile) -> Result<Self, String> {
        let default = |r: ModelRole| (r == ModelRole::Classifier).then(RoleLatency::default);
        let roles = RoleMap::from_partial(f.roles, default).map_err(|missing| {
            let names: Vec<&str> = missing.iter().map(|r| r.as_str()).collect();
            format!("latency model: no per-token times for {}", names.join(", "))
        })?;
        Ok(LatencyModel {
            roles,
            exec_ms: f.exec_ms,
        })
    }
}

impl LatencyModel {
    /// Fit per-token times from every measured call of `set` (total measured milliseconds over
    /// total tokens, per role and phase; a role or phase never measured gets 0), with the given
    /// action execution times.
    pub fn fit(set: &RecordedSet, exec_ms: [f64; ActionKind::COUNT]) -> Self {
        // per role, per phase: (ms, tokens)
        let mut sums: RoleMap<[(f64, u64); 2]> = RoleMap::default();
        for (role, call) in set.calls() {
            let s = &mut sums[role];
            if let Some(ms) = call.prefill_ms {
                s[0].0 += ms;
                s[0].1 += call.prefill_tokens;
            }
            if let Some(ms) = call.decode_ms {
                s[1].0 += ms;
                s[1].1 += call.decode_tokens;
            }
        }
        let rate = |(ms, tokens): (f64, u64)| if tokens == 0 { 0.0 } else { ms / tokens as f64 };
        LatencyModel {
            roles: sums.map(|_, s| RoleLatency {
                prefill_ms_per_token: rate(s[0]),
                decode_ms_per_token: rate(s[1]),
            }),
            exec_ms,
        }
    }

    /// Modelled duration of one call.
    pub fn call_ms(&self, call: &ModelCall) -> f64 {
        let r = &self.roles[call.role];
        call.prefill_tokens as f64 * r.prefill_ms_per_token
            + call.decode_tokens as f64 * r.decode_ms_per_token
    }

    /// Modelled time until the decided action's result is available.
    pub fn decision_ms(&self, record: &ExampleRecord, log: &DecisionLog) -> f64 {
        let exec = record
            .predicted
            .as_ref()
            .map_or(0.0, |a| self.exec_ms[a.kind.index()]);
        let sum_role = |role: ModelRole| -> f64 {
            record
                .ledger
                .calls
                .iter()
                .filter(|c| c.role == role)
                .map(|c| self.call_ms(c))
                .sum()
        };
        match &log.route {
            Route::Speculative(sp) => {
                let (cheap, strong) = (sum_role(ModelRole::Cheap), sum_role(ModelRole::Strong));
                if sp.executed && sp.agreed {
                    strong.max(cheap + exec)
                } else {
                    strong + exec
                }
            }
            _ => record.ledger.calls.iter().map(|c| self.call_ms(c)).sum::<f64>() + exec,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An analysis written before the roles were one enum (`reward_model`, no `classifier`)
    /// still reads, the classifier at zero; the current layout has one key per role and
    /// round-trips.
    #[test]
    fn a_latency_model_of_either_layout_reads() {
        let old = r#"{"cheap": {"prefill_ms_per_token": 0.5, "decode_ms_per_token": 2.0},
            "strong": {"prefill_ms_per_token": 1.0, "decode_ms_per_token": 8.0},
            "verifier": {"prefill_ms_per_token": 0.7, "decode_ms_per_token": 0.0},
            "reward_model": {"prefill_ms_per_token": 0.75, "decode_ms_per_token": 0.0},
            "exec_ms": [1, 2, 3, 4, 5, 6, 7, 8, 9]}"#;
        let model: LatencyModel = serde_json::from_str(old).unwrap();
        assert_eq!(model.roles[ModelRole::Reward].prefill_ms_per_token, 0.75);
        assert_eq!(model.roles[ModelRole::Classifier], RoleLatency::default());
        assert_eq!(model.exec_ms[8], 9.0);
        let json = serde_json::to_value(&model).unwrap();
        for role in ModelRole::ALL {
            assert!(json.get(role.as_str()).is_some(), "{role} missing from {json}");
        }
        assert_eq!(serde_json::from_value::<LatencyModel>(json).unwrap(), model);
        // A strong model's times missing is an error naming the role.
        let err = serde_json::from_str::<LatencyModel>(&old.replace("\"strong\"", "\"classifier\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("strong"), "{err}");
    }
}
