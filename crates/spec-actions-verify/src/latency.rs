//! Latency next to cost: a per-role model of how long a call takes, fitted from prefill and
//! decode timings measured on the backend, and the time-to-result of a decision under it.
//!
//! A call of role `r` with `p` tokens prefilled and `d` decoded takes
//! `p · prefill_ms_per_token[r] + d · decode_ms_per_token[r]`. A decision's latency is the time
//! until the chosen action's result is available: its calls in sequence, then executing the
//! action (`exec_ms` of its kind). Policy H runs cheap and strong together and, when the cheap
//! action is side-effect free and the strong one agrees, has its result when
//! `max(strong, cheap + exec)` has passed instead of `strong + exec`.

use serde::{Deserialize, Serialize};
use spec_actions_core::{ActionKind, ExampleRecord, ModelCall, ModelRole};

use crate::decision_log::{DecisionLog, Route};
use crate::recorded::RecordedSet;

/// Per-token times of one role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleLatency {
    pub prefill_ms_per_token: f64,
    pub decode_ms_per_token: f64,
}

/// Latency model of the four roles and of executing each kind of action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyModel {
    pub cheap: RoleLatency,
    pub strong: RoleLatency,
    pub verifier: RoleLatency,
    pub reward_model: RoleLatency,
    /// The bag-of-words classifier (absent in analyses written before it: zero).
    #[serde(default)]
    pub classifier: RoleLatency,
    /// Time to execute an action of each kind, indexed as [`ActionKind::ALL`].
    pub exec_ms: [f64; ActionKind::COUNT],
}

impl LatencyModel {
    /// Fit per-token times from every measured call of `set` (total measured milliseconds over
    /// total tokens, per role and phase; a role or phase never measured gets 0), with the given
    /// action execution times.
    pub fn fit(set: &RecordedSet, exec_ms: [f64; ActionKind::COUNT]) -> Self {
        // [role][phase] → (ms, tokens)
        let mut sums = [[(0.0f64, 0u64); 2]; 5];
        let slot = |role: ModelRole| match role {
            ModelRole::Cheap => 0,
            ModelRole::Strong => 1,
            ModelRole::Verifier => 2,
            ModelRole::RewardModel => 3,
            ModelRole::Classifier => 4,
        };
        for (role, call) in set.calls() {
            let s = &mut sums[slot(role)];
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
        let role = |i: usize| RoleLatency {
            prefill_ms_per_token: rate(sums[i][0]),
            decode_ms_per_token: rate(sums[i][1]),
        };
        LatencyModel {
            cheap: role(0),
            strong: role(1),
            verifier: role(2),
            reward_model: role(3),
            classifier: role(4),
            exec_ms,
        }
    }

    fn role(&self, role: ModelRole) -> &RoleLatency {
        match role {
            ModelRole::Cheap => &self.cheap,
            ModelRole::Strong => &self.strong,
            ModelRole::Verifier => &self.verifier,
            ModelRole::RewardModel => &self.reward_model,
            ModelRole::Classifier => &self.classifier,
        }
    }

    /// Modelled duration of one call.
    pub fn call_ms(&self, call: &ModelCall) -> f64 {
        let r = self.role(call.role);
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
