//! The recorded-outputs format: what a live run writes and a replay reads.
//!
//! A JSONL file, one [`RecordedExample`] per line (blank lines are skipped). Each row holds, for
//! one example, everything any policy could ask of any role:
//!
//! ```json
//! {"id": "bfcl:multi_turn_base_12#turn2.step1", "split": "dev",
//!  "source": "bfcl:multi_turn_base", "conversation": "multi_turn_base_12",
//!  "gold": {"kind": "file_read", "name": "cat", "arguments": {"file_name": "a.txt"}},
//!  "greedy":  {"action": {"kind": "file_read"}, "logprob": -0.21,
//!              "call": {"prefill_tokens": 812, "decode_tokens": 4, "prefill_ms": 35.2, "decode_ms": 61.0}},
//!  "one_pass": {"kind_logprobs": {"tool_call": -2.3, "retrieval": -4.1, "file_read": -0.2, "file_write": -6.0,
//!                                 "repair": -7.5, "verifier": -8.0, "ask_clarification": -5.2,
//!                                 "final_answer": -3.3, "BLOCKED": -9.9},
//!               "call": {"prefill_tokens": 860, "decode_tokens": 0, "prefill_ms": 37.0}},
//!  "samples": [{"action": null, "raw": "I think", "logprob": -3.0, "call": {"prefill_tokens": 812, "decode_tokens": 3}}],
//!  "strong":  {"action": {"kind": "file_read"}, "logprob": -0.05, "call": {"prefill_tokens": 812, "decode_tokens": 4}},
//!  "verifier": [{"action": {"kind": "file_read"}, "score": 0.93, "call": {"prefill_tokens": 850, "decode_tokens": 1}}],
//!  "reward":   [{"action": {"kind": "file_read"}, "score": 1.7, "call": {"prefill_tokens": 830, "decode_tokens": 0}}]}
//! ```
//!
//! Fields:
//! - `id`, `split`, `gold`: the example (ids are unique within a file); `source` and
//!   `conversation` are optional.
//! - `greedy`: the cheap proposer's greedy decode ([`RecordedOutput`]); `samples`: sampled
//!   decodes, in order; `one_pass`: the nine kinds' sequence log-probabilities from one prefill
//!   (policy G; every kind must be present; the replay normalises them over the nine).
//! - `strong`: the strong model's decode.
//! - `verifier`: `P(ACCEPT)` in `[0, 1]` per candidate action; `reward`: reward-model score per
//!   candidate action, each left out when empty; in Rust, one list per judge role in
//!   [`RecordedExample::judgements`] (a [`JudgeMap`], indexed by [`ModelRole`]). A replayed
//!   judge finds its answer by call-level match of the action.
//! - An output's `action` is `null` when the model's text did not parse; `raw` keeps the text.
//! - `classifier` (optional; absent in recordings made before it): the bag-of-words kind
//!   classifier's probability of each of the nine kinds (`kind_probs`, every kind required, each
//!   in `[0, 1]`) and its call, whose `prefill_tokens` count the non-zero features it read
//!   (policy K and the first tier of the cascades, see [`crate::policy`]).
//! - `call`: tokens prefilled and decoded, and measured `prefill_ms` / `decode_ms` (optional;
//!   absent in synthetic data). Prices are not stored: the replay prices calls with the
//!   [`spec_actions_core::CostModel`] it is given, so a recording can be re-priced.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spec_actions_core::io::{FileError, StagedWrites};
use spec_actions_core::{Action, ActionKind, CostModel, Example, JudgeMap, ModelCall, ModelRole, Split};

use crate::error::{Result, VerifyError};

/// One example's recorded model outputs (one JSONL row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedExample {
    pub id: String,
    pub split: Split,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub conversation: String,
    pub gold: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greedy: Option<RecordedOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_pass: Option<RecordedOnePass>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<RecordedOutput>,
    pub strong: RecordedOutput,
    /// Each judge's answers about candidate actions, keyed by judge role: the file's top-level
    /// `verifier` and `reward` lists (each left out when empty).
    #[serde(flatten)]
    pub judgements: JudgeMap<Vec<RecordedJudgement>>,
    /// The bag-of-words classifier's nine probabilities; `None` in recordings made without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<RecordedClassifier>,
}

/// The bag-of-words kind classifier's answer about one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedClassifier {
    /// Probability of each kind (they sum to 1 up to rounding).
    pub kind_probs: KindProbs,
    /// `prefill_tokens`: the non-zero features of the example's row; no decode.
    pub call: RecordedCall,
}

/// Probabilities of the nine kinds, indexed as [`ActionKind::ALL`]; written as a JSON object
/// keyed by kind, every kind required.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<ActionKind, f64>", into = "BTreeMap<ActionKind, f64>")]
pub struct KindProbs(pub [f64; ActionKind::COUNT]);

impl TryFrom<BTreeMap<ActionKind, f64>> for KindProbs {
    type Error = String;
    fn try_from(map: BTreeMap<ActionKind, f64>) -> std::result::Result<Self, String> {
        Ok(KindProbs(per_kind_from_map(&map, "kind_probs")?))
    }
}

impl From<KindProbs> for BTreeMap<ActionKind, f64> {
    fn from(p: KindProbs) -> Self {
        per_kind_to_map(&p.0)
    }
}

/// The nine values of a JSON object keyed by kind (every kind required), indexed as
/// [`ActionKind::ALL`]; `field` names the object in the error.
fn per_kind_from_map(
    map: &BTreeMap<ActionKind, f64>,
    field: &str,
) -> std::result::Result<[f64; ActionKind::COUNT], String> {
    let mut out = [0.0; ActionKind::COUNT];
    for kind in ActionKind::ALL {
        out[kind.index()] = *map
            .get(&kind)
            .ok_or_else(|| format!("{field} lacks kind `{kind}`"))?;
    }
    Ok(out)
}

/// [`per_kind_from_map`]'s inverse.
fn per_kind_to_map(values: &[f64; ActionKind::COUNT]) -> BTreeMap<ActionKind, f64> {
    ActionKind::ALL
        .into_iter()
        .map(|k| (k, values[k.index()]))
        .collect()
}

impl KindProbs {
    /// The most probable kind and its probability (the first in [`ActionKind::ALL`] order on
    /// ties).
    pub fn top(&self) -> (ActionKind, f64) {
        let mut best = 0;
        for i in 1..ActionKind::COUNT {
            if self.0[i] > self.0[best] {
                best = i;
            }
        }
        (ActionKind::ALL[best], self.0[best])
    }
}

/// A decoded model output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedOutput {
    /// `null` when the text did not parse.
    pub action: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Sequence log-probability of the output.
    #[serde(default)]
    pub logprob: f64,
    pub call: RecordedCall,
}

/// The nine kinds scored in one prefill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedOnePass {
    pub kind_logprobs: KindLogprobs,
    pub call: RecordedCall,
}

/// A judge's answer about one candidate: `P(ACCEPT)` for the verifier, a score for the RM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedJudgement {
    pub action: Action,
    pub score: f64,
    pub call: RecordedCall,
}

/// Tokens and measured time of one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prefill_tokens: u64,
    #[serde(default)]
    pub decode_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_ms: Option<f64>,
}

impl RecordedCall {
    /// The call priced by `costs` in `role`; wall time is prefill + decode time when both were
    /// measured.
    pub fn priced(&self, costs: &CostModel, role: ModelRole) -> ModelCall {
        let mut call = costs.call(role, self.prefill_tokens, self.decode_tokens);
        call.model.clone_from(&self.model);
        call.wall_ms = match (self.prefill_ms, self.decode_ms) {
            (Some(p), Some(d)) => Some(p + d),
            (Some(p), None) if self.decode_tokens == 0 => Some(p),
            _ => None,
        };
        call
    }
}

/// Log-probabilities of the nine kinds, indexed as [`ActionKind::ALL`]; written as a JSON
/// object keyed by kind, every kind required.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<ActionKind, f64>", into = "BTreeMap<ActionKind, f64>")]
pub struct KindLogprobs(pub [f64; ActionKind::COUNT]);

impl TryFrom<BTreeMap<ActionKind, f64>> for KindLogprobs {
    type Error = String;
    fn try_from(map: BTreeMap<ActionKind, f64>) -> std::result::Result<Self, String> {
        Ok(KindLogprobs(per_kind_from_map(&map, "kind_logprobs")?))
    }
}

impl From<KindLogprobs> for BTreeMap<ActionKind, f64> {
    fn from(lp: KindLogprobs) -> Self {
        per_kind_to_map(&lp.0)
    }
}

impl RecordedExample {
    /// The example this row records, without its messages (a replay needs only the id).
    pub fn example_stub(&self) -> Example {
        Example {
            id: self.id.clone(),
            source: self.source.clone(),
            conversation: self.conversation.clone(),
            split: self.split,
            messages: Vec::new(),
            tools: Vec::new(),
            gold: self.gold.clone(),
        }
    }

    /// Every field that must be in range, checked; `Err((field, reason))` names the first bad one.
    fn check(&self) -> std::result::Result<(), (String, String)> {
        let bad = |field: &str, reason: String| Err((field.to_string(), reason));
        if self.id.trim().is_empty() {
            return bad("id", "empty".into());
        }
        let mut outputs: Vec<(String, &RecordedOutput)> = Vec::new();
        if let Some(g) = &self.greedy {
            outputs.push(("greedy".into(), g));
        }
        outputs.extend(
            self.samples
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("samples[{i}]"), s)),
        );
        outputs.push(("strong".into(), &self.strong));
        for (field, out) in &outputs {
            if !out.logprob.is_finite() || out.logprob > 1e-6 {
                return bad(
                    &format!("{field}.logprob"),
                    format!("{} is not a finite log-probability ≤ 0", out.logprob),
                );
            }
            check_call(&out.call).or_else(|r| bad(&format!("{field}.call"), r))?;
        }
        if let Some(op) = &self.one_pass {
            if let Some((i, lp)) = op
                .kind_logprobs
                .0
                .iter()
                .enumerate()
                .find(|(_, lp)| !lp.is_finite())
            {
                return bad(
                    &format!("one_pass.kind_logprobs.{}", ActionKind::ALL[i]),
                    format!("{lp} is not finite"),
                );
            }
            check_call(&op.call).or_else(|r| bad("one_pass.call", r))?;
        }
        for (role, answers) in self.judgements.iter() {
            for (i, j) in answers.iter().enumerate() {
                let wrong = match role {
                    ModelRole::Verifier if !(0.0..=1.0).contains(&j.score) => {
                        Some(format!("P(ACCEPT) {} is outside [0, 1]", j.score))
                    }
                    _ if !j.score.is_finite() => Some(format!("{} is not finite", j.score)),
                    _ => None,
                };
                if let Some(reason) = wrong {
                    return bad(&format!("{role}[{i}].score"), reason);
                }
                check_call(&j.call).or_else(|r| bad(&format!("{role}[{i}].call"), r))?;
            }
        }
        if let Some(c) = &self.classifier {
            if let Some((i, p)) = c
                .kind_probs
                .0
                .iter()
                .enumerate()
                .find(|(_, p)| !(0.0..=1.0).contains(*p))
            {
                return bad(
                    &format!("classifier.kind_probs.{}", ActionKind::ALL[i]),
                    format!("{p} is not a probability in [0, 1]"),
                );
            }
            check_call(&c.call).or_else(|r| bad("classifier.call", r))?;
        }
        Ok(())
    }
}

fn check_call(call: &RecordedCall) -> std::result::Result<(), String> {
    for (name, ms) in [("prefill_ms", call.prefill_ms), ("decode_ms", call.decode_ms)] {
        if let Some(ms) = ms
            && !(ms.is_finite() && ms >= 0.0)
        {
            return Err(format!("{name} {ms} is not a finite time ≥ 0"));
        }
    }
    Ok(())
}

/// A validated set of recorded examples, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct RecordedSet {
    rows: Vec<RecordedExample>,
    index: HashMap<String, usize>,
    /// Every id, concatenated in row order (`id_ends[i]` ends row `i`'s): a replay walking the
    /// rows in order checks its hint against contiguous memory instead of one heap string per row.
    ids: String,
    id_ends: Vec<usize>,
    /// Where the rows come from (a path, or `<memory>`), for error messages.
    origin: PathBuf,
}

impl RecordedSet {
    /// Validate `rows` (ranges, unique ids). `origin` names them in errors (a path, or
    /// e.g. `<memory>`); lines are counted from 1 in row order.
    pub fn from_rows(rows: Vec<RecordedExample>, origin: &Path) -> Result<Self> {
        let lines: Vec<usize> = (1..=rows.len()).collect();
        Self::from_numbered_rows(rows, &lines, origin)
    }

    fn from_numbered_rows(rows: Vec<RecordedExample>, lines: &[usize], origin: &Path) -> Result<Self> {
        let mut index = HashMap::with_capacity(rows.len());
        let mut ids = String::new();
        let mut id_ends = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            ids.push_str(&row.id);
            id_ends.push(ids.len());
            row.check()
                .map_err(|(field, reason)| VerifyError::InvalidRecord {
                    path: origin.to_path_buf(),
                    line: lines[i],
                    example_id: row.id.clone(),
                    field,
                    reason,
                })?;
            if let Some(first) = index.insert(row.id.clone(), i) {
                return Err(VerifyError::DuplicateId {
                    path: origin.to_path_buf(),
                    line: lines[i],
                    first_line: lines[first],
                    example_id: row.id.clone(),
                });
            }
        }
        Ok(RecordedSet {
            rows,
            index,
            ids,
            id_ends,
            origin: origin.to_path_buf(),
        })
    }

    /// Read and validate a JSONL file.
    pub fn read_jsonl(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::new("read", path, e))?;
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row = serde_json::from_str(line).map_err(|source| VerifyError::Json {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
            rows.push(row);
            lines.push(i + 1);
        }
        Self::from_numbered_rows(rows, &lines, path)
    }

    /// Write as JSONL, atomically.
    pub fn write_jsonl(&self, path: &Path) -> Result<()> {
        write_jsonl(path, &self.rows, "recorded example")
    }

    /// Where the rows come from: the file read, or the origin given to
    /// [`RecordedSet::from_rows`].
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    pub fn rows(&self) -> &[RecordedExample] {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row of example `id`.
    pub fn get(&self, id: &str) -> Option<&RecordedExample> {
        self.position(id).map(|i| &self.rows[i])
    }

    /// Index of example `id` among [`RecordedSet::rows`]; rows `hint` and `hint + 1` (the
    /// previous example's row and the next, for examples replayed in file order) are checked
    /// before the hash index.
    pub fn position_near(&self, id: &str, hint: usize) -> Option<usize> {
        [hint, hint + 1]
            .into_iter()
            .find(|&i| self.id_at(i) == Some(id))
            .or_else(|| self.position(id))
    }

    /// Id of row `i`, from the contiguous id buffer.
    fn id_at(&self, i: usize) -> Option<&str> {
        let end = *self.id_ends.get(i)?;
        let start = if i == 0 { 0 } else { self.id_ends[i - 1] };
        self.ids.get(start..end)
    }

    /// Index of example `id` among [`RecordedSet::rows`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Example stubs of every row in `split`, in file order.
    pub fn examples(&self, split: Split) -> Vec<Example> {
        self.rows
            .iter()
            .filter(|r| r.split == split)
            .map(RecordedExample::example_stub)
            .collect()
    }

    /// Every recorded call with its role (for fitting a latency model).
    pub fn calls(&self) -> impl Iterator<Item = (ModelRole, &RecordedCall)> {
        self.rows.iter().flat_map(|r| {
            let cheap = r
                .greedy
                .iter()
                .chain(&r.samples)
                .map(|o| (ModelRole::Cheap, &o.call));
            let one_pass = r.one_pass.iter().map(|o| (ModelRole::Cheap, &o.call));
            let strong = std::iter::once((ModelRole::Strong, &r.strong.call));
            let judges = r
                .judgements
                .iter()
                .flat_map(|(role, answers)| answers.iter().map(move |j| (role, &j.call)));
            let classifier = r.classifier.iter().map(|c| (ModelRole::Classifier, &c.call));
            cheap
                .chain(one_pass)
                .chain(strong)
                .chain(judges)
                .chain(classifier)
        })
    }
}

/// Write `rows` as JSONL to `path`, atomically.
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, rows: &[T], what: &'static str) -> Result<()> {
    let mut staged = StagedWrites::new();
    write_jsonl_staged(&mut staged, path, rows, what)?;
    staged.commit()?;
    Ok(())
}

/// [`write_jsonl`] into a set of files that appear together ([`StagedWrites::commit`]).
pub(crate) fn write_jsonl_staged<T: Serialize>(
    staged: &mut StagedWrites,
    path: &Path,
    rows: &[T],
    what: &'static str,
) -> Result<()> {
    staged.write(path, |w| {
        for row in rows {
            serde_json::to_writer(&mut *w, row)
                .map_err(|source| crate::evaluate::serialize_error(path, what, source))?;
            w.write_all(b"\n").map_err(|e| FileError::new("write", path, e))?;
        }
        Ok::<(), VerifyError>(())
    })
}

/// Where in-memory rows come from, for error messages.
pub fn memory_origin() -> PathBuf {
    PathBuf::from("<memory>")
}
