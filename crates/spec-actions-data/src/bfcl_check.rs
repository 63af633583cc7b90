//! Scoring a user's function-call predictions against BFCL v4's single-turn ground truth the
//! way BFCL's AST checker does (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`, bfcl-eval
//! 2026.3.23): [`check_case`] is its `ast_checker` dispatch (`parallel*` without order,
//! `multiple`, simple), each call checked by [`AcceptedCall::check`] (its
//! `simple_function_checker`), and [`score_predictions`] scores a predictions file case by case
//! into BFCL's result rows (`{"id", "valid", "error"}`) and the category's accuracy.
//!
//! # Named differences from BFCL
//! - Function names are compared as written: BFCL's `convert_func_name` turns `.` into `_` in
//!   the expected name for models whose API forbids dots; predictions here carry real names.
//! - `simple_java` / `simple_javascript` are checked in their language (BFCL's `Language.JAVA`
//!   / `JAVASCRIPT`: arguments are source text read by its type converters,
//!   `spec_actions_core::type_converter`); where BFCL's checker raises on such a case (a type
//!   its tables lack, a `Set` / `Queue` / `Stack` value) the call is scored wrong here.
//! - A case with no prediction is scored wrong (`missing_prediction`); BFCL's runner requires a
//!   result for every case.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spec_actions_core::jsonl::{JsonlError, JsonlReader};
use spec_actions_core::{AcceptedCall, CallMismatch};

use super::bfcl::{CategoryKind, accepted_call, category_kind};
use super::error::DataError;

/// Why predictions could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("category `{category}` cannot be scored: {reason}")]
    Category { category: String, reason: String },
    #[error(transparent)]
    Data(#[from] DataError),
    /// A predictions line that is not JSON or not `{"id", "calls"}` (names file, line, field).
    #[error(transparent)]
    Jsonl(#[from] JsonlError),
    /// A predictions line that is well formed but wrong (unknown or repeated id).
    #[error("{path}:{line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// One predicted call: `{"name": …, "arguments": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictedCall {
    pub name: String,
    /// A JSON object (`null` or absent = no arguments).
    #[serde(default)]
    pub arguments: Value,
}

/// One line of a predictions file: a BFCL test id and the calls predicted for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    pub id: String,
    pub calls: Vec<PredictedCall>,
}

/// One ground-truth call: the function's name and BFCL's accepted values.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldCall {
    pub name: String,
    pub accepted: AcceptedCall,
}

/// One BFCL test case: its id and its ground-truth calls.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldCase {
    pub id: String,
    pub calls: Vec<GoldCall>,
}

/// BFCL's result row of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub valid: bool,
    /// BFCL's error messages (empty when valid).
    pub error: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// The accuracy of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryScore {
    pub category: String,
    /// Test cases in the ground truth.
    pub cases: usize,
    /// Cases with a prediction.
    pub predicted: usize,
    pub correct: usize,
    /// `correct / cases`.
    pub accuracy: f64,
}

/// Whether `category` is scored here (BFCL's AST-checked single-turn categories, Java and
/// JavaScript included); the reason when not.
pub fn scorable(category: &str) -> Result<(), String> {
    match category_kind(category) {
        CategoryKind::SingleTurn => Ok(()),
        CategoryKind::MultiTurn => {
            Err("BFCL scores multi-turn cases by executing the calls and comparing states, not by AST".into())
        }
        _ => Err("not an AST-checked single-turn category".into()),
    }
}

fn invalid_line(path: &Path, line: usize, reason: impl Into<String>) -> DataError {
    DataError::InvalidLine {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

fn json_lines(path: &Path) -> Result<Vec<(usize, Value)>, DataError> {
    let text =
        fs::read_to_string(path).map_err(|e| spec_actions_core::io::FileError::new("read", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i + 1, v))
                .map_err(|e| invalid_line(path, i + 1, format!("invalid JSON: {e}")))
        })
        .collect()
}

fn id_of(path: &Path, line: usize, v: &Value) -> Result<String, DataError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| invalid_line(path, line, "no string field `id`"))
}

/// The ground truth of `category` in a BFCL folder (`BFCL_v4_<category>.json` for the function
/// documents, `possible_answer/` for the accepted values), in file order.
pub fn load_ground_truth(dir: &Path, category: &str) -> Result<Vec<GoldCase>, ScoreError> {
    scorable(category).map_err(|reason| ScoreError::Category {
        category: category.to_string(),
        reason,
    })?;
    let qpath = dir.join(format!("BFCL_v4_{category}.json"));
    let apath = dir
        .join("possible_answer")
        .join(format!("BFCL_v4_{category}.json"));
    let mut answers: HashMap<String, (usize, Value)> = HashMap::new();
    for (line, v) in json_lines(&apath)? {
        answers.insert(id_of(&apath, line, &v)?, (line, v));
    }
    let mut cases = Vec::new();
    for (line, entry) in json_lines(&qpath)? {
        let id = id_of(&qpath, line, &entry)?;
        let (aline, answer) = answers
            .get(&id)
            .ok_or_else(|| invalid_line(&qpath, line, format!("no ground truth for `{id}`")))?;
        let truth = answer
            .get("ground_truth")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid_line(&apath, *aline, "no array field `ground_truth`"))?;
        let calls = truth
            .iter()
            .enumerate()
            .map(|(s, call)| {
                let (name, params) = call
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.iter().next())
                    .and_then(|(n, p)| p.as_object().map(|p| (n, p)))
                    .ok_or_else(|| {
                        invalid_line(
                            &apath,
                            *aline,
                            format!("ground-truth call {s} is not {{name: {{…}}}}"),
                        )
                    })?;
                let accepted = accepted_call(category, &entry, name, params)
                    .map_err(|e| invalid_line(&apath, *aline, format!("ground-truth call {s}: {e}")))?;
                Ok(GoldCall {
                    name: name.clone(),
                    accepted,
                })
            })
            .collect::<Result<Vec<_>, DataError>>()?;
        cases.push(GoldCase { id, calls });
    }
    Ok(cases)
}

fn wrong_count(checker: &str) -> CallMismatch {
    CallMismatch {
        error: "Wrong number of functions.".into(),
        error_type: format!("{checker}:wrong_count"),
    }
}

/// BFCL's `ast_checker` for one case of `category`: `parallel*` →
/// `parallel_function_checker_no_order` (each gold call, in order, takes the first unmatched
/// prediction that passes), `*multiple*` → `multiple_function_checker` (same count, the first
/// call checked), otherwise the simple checker (exactly one call).
pub fn check_case(
    category: &str,
    gold: &[GoldCall],
    predicted: &[PredictedCall],
) -> Result<(), CallMismatch> {
    let check = |g: &GoldCall, p: &PredictedCall| g.accepted.check(&g.name, &p.name, &p.arguments);
    if category.contains("parallel") {
        if predicted.len() != gold.len() {
            return Err(wrong_count("parallel_function_checker_no_order"));
        }
        let mut matched = vec![false; predicted.len()];
        for (i, g) in gold.iter().enumerate() {
            let mut errors = Vec::new();
            let hit = predicted
                .iter()
                .enumerate()
                .filter(|(j, _)| !matched[*j])
                .find_map(|(j, p)| match check(g, p) {
                    Ok(()) => Some(j),
                    Err(e) => {
                        errors.push(format!("Model Result Index {j}: {}", e.error));
                        None
                    }
                });
            match hit {
                Some(j) => matched[j] = true,
                None => {
                    let considered: Vec<usize> = (0..predicted.len()).filter(|j| !matched[*j]).collect();
                    errors.insert(
                        0,
                        format!(
                            "Could not find a matching function among index {considered:?} of model output for index {i} of possible answers."
                        ),
                    );
                    return Err(CallMismatch {
                        error: errors.join(" | "),
                        error_type: "parallel_function_checker_no_order:cannot_find_match".into(),
                    });
                }
            }
        }
        Ok(())
    } else if category.contains("multiple") {
        if predicted.len() != gold.len() || gold.is_empty() {
            return Err(wrong_count("multiple_function_checker"));
        }
        check(&gold[0], &predicted[0])
    } else {
        if predicted.len() != 1 || gold.is_empty() {
            return Err(wrong_count("simple_function_checker"));
        }
        check(&gold[0], &predicted[0])
    }
}

/// Score the predictions file `predictions` (JSON Lines of [`PredictionRow`]) against the
/// ground truth of `category` in the BFCL folder `dir`: one [`CaseResult`] per ground-truth case,
/// in BFCL's file order, and the category's accuracy. A line that does not parse, an id that is
/// not a case of the category, or an id given twice is an error naming the file and line.
pub fn score_predictions(
    dir: &Path,
    category: &str,
    predictions: &Path,
) -> Result<(Vec<CaseResult>, CategoryScore), ScoreError> {
    let gold = load_ground_truth(dir, category)?;
    let index: HashMap<&str, usize> = gold.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let mut predicted: Vec<Option<Vec<PredictedCall>>> = vec![None; gold.len()];
    let mut reader = JsonlReader::<PredictionRow>::open(predictions)?;
    while let Some(row) = reader.next() {
        let row = row?;
        let line = reader.line();
        let line_err = |reason: String| ScoreError::Line {
            path: predictions.to_path_buf(),
            line,
            reason,
        };
        let i = *index
            .get(row.id.as_str())
            .ok_or_else(|| line_err(format!("`{}` is not a test case of {category}", row.id)))?;
        if predicted[i].is_some() {
            return Err(line_err(format!("a second prediction for `{}`", row.id)));
        }
        predicted[i] = Some(row.calls);
    }
    let results: Vec<CaseResult> = gold
        .iter()
        .zip(&predicted)
        .map(|(case, calls)| {
            let outcome = match calls {
                Some(calls) => check_case(category, &case.calls, calls),
                None => Err(CallMismatch {
                    error: "no prediction for this case".into(),
                    error_type: "missing_prediction".into(),
                }),
            };
            match outcome {
                Ok(()) => CaseResult {
                    id: case.id.clone(),
                    valid: true,
                    error: Vec::new(),
                    error_type: None,
                },
                Err(e) => CaseResult {
                    id: case.id.clone(),
                    valid: false,
                    error: vec![e.error],
                    error_type: Some(e.error_type),
                },
            }
        })
        .collect();
    let correct = results.iter().filter(|r| r.valid).count();
    let score = CategoryScore {
        category: category.to_string(),
        cases: gold.len(),
        predicted: predicted.iter().filter(|p| p.is_some()).count(),
        correct,
        accuracy: if gold.is_empty() {
            0.0
        } else {
            correct as f64 / gold.len() as f64
        },
    };
    Ok((results, score))
}
