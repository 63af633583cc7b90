//! Scoring a user's function-call predictions against BFCL v4's single-turn ground truth the
//! way BFCL's AST checker does (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`, bfcl-eval
//! 2026.3.23): [`check_case`] is its `ast_checker` dispatch (`parallel*` without order,
//! `multiple`, simple), each call checked by [`AcceptedCall::check`] (its
//! `simple_function_checker`), and [`score_predictions`] scores a predictions file case by case
//! into BFCL's result rows (`{"id", "valid", "error"}`) and the category's accuracy.
//!
//! Multi-turn categories are scored step by step: a row's id is a step's
//! (`multi_turn_base_0#t1.s0`, [`load_multi_turn_steps`]) and its one call is judged by
//! [`check_step`] — `Action::score_against` on the importer's gold, whose accepted values are
//! the step's one gold value per argument with the function's declared types (BFCL's type
//! rules), strings compared exactly, and an optional argument at its documented default
//! allowed to be left out.
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
//!
//! # Named differences from BFCL's multi-turn checker
//! BFCL's `multi_turn_checker` (`eval_checker/multi_turn_eval/multi_turn_checker.py`) executes
//! each turn's calls on its API classes and, at the end of the turn, compares the classes'
//! state and checks that every ground-truth output is among the outputs of all turns so far;
//! a step here is judged alone, before it runs. `scripts/check_bfcl_agreement.py --multi-turn`
//! replaces each gold step in its turn by a perturbation and runs BFCL's checker on the turns
//! so far: 29 637 of 30 456 agree (bfcl-eval 2026.3.23, every imported step of the four
//! categories), and every one of the 819 others is a call BFCL passes and we score wrong, in
//! two classes:
//! - **Same executed result** (575): a different call whose execution leaves the same state
//!   and whose gold output is already among the outputs — `mean` of the numbers in another
//!   order, `ls(a=False)` where no file is hidden, `tail(f)` (10 lines) of a file shorter than
//!   the gold's `lines=20`, a read-only call whose output an earlier call already produced (a
//!   wrong file name, an extra argument or an unknown function then fail harmlessly). Whether
//!   a call is equivalent depends on the scenario's state, known only by executing it; the
//!   next-step judge scores the step the gold takes.
//! - **Type rules** (244): an integer argument written as a float (`lines=20.0`,
//!   `tweet_id=0.0`) runs the same in Python, so BFCL passes the turn; here BFCL's own AST
//!   type rules apply to the step (as its single-turn checker does), by design.
//! - Not exercised by the one-step perturbations, and scored wrong here for the same reason: a
//!   turn whose calls differ in order or number but end in the same state and outputs.
//! - One case (`multi_turn_miss_func_49`) is not imported (its ground truth calls `tail` in
//!   turn 1, a function the case holds back until turn 3), so it has no steps.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spec_actions_core::jsonl::{JsonlError, JsonlReader};
use spec_actions_core::{AcceptedCall, Action, CallMismatch};

use super::bfcl::{CategoryKind, accepted_call, category_kind, import_bfcl};
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
/// JavaScript included, and the multi-turn categories step by step); the reason when not.
pub fn scorable(category: &str) -> Result<(), String> {
    match category_kind(category) {
        CategoryKind::SingleTurn => Ok(()),
        CategoryKind::MultiTurn => Ok(()),
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

/// The gold steps of a multi-turn `category`, as the importer makes them
/// ([`crate::bfcl::import_bfcl`]): every ground-truth call of every turn, id
/// `<BFCL id>#t<turn>.s<step>`, with its one accepted value per argument and the function's
/// declared types.
pub fn load_multi_turn_steps(dir: &Path, category: &str) -> Result<Vec<(String, Action)>, ScoreError> {
    if category_kind(category) != CategoryKind::MultiTurn {
        return Err(ScoreError::Category {
            category: category.to_string(),
            reason: "not a multi-turn category".into(),
        });
    }
    let import = import_bfcl(dir)?;
    let source = format!("bfcl:{category}");
    Ok(import
        .conversations
        .into_iter()
        .filter(|c| c.source == source)
        .flat_map(|c| c.examples)
        .filter(|e| e.gold.name.is_some())
        .map(|e| (e.id.strip_prefix("bfcl:").unwrap_or(&e.id).to_string(), e.gold))
        .collect())
}

/// Score one predicted step against a multi-turn gold step: exactly one call, judged as a
/// prediction with no kind line by [`Action::score_against`] (BFCL's type rules on the
/// step's one accepted value per argument).
pub fn check_step(gold: &Action, predicted: &[PredictedCall]) -> Result<(), CallMismatch> {
    let [call] = predicted else {
        return Err(CallMismatch {
            error: "Wrong number of functions.".into(),
            error_type: "multi_turn_step:wrong_count".into(),
        });
    };
    let action = Action::call(gold.kind, &call.name, call.arguments.clone()).with_kind_unnamed();
    if action.score_against(gold).call_correct {
        return Ok(());
    }
    let name = gold.name.as_deref().unwrap_or_default();
    Err(match &gold.accepted_values {
        Some(accepted) => accepted
            .check(name, &call.name, &call.arguments)
            .err()
            .unwrap_or_else(|| CallMismatch {
                error: "call differs".into(),
                error_type: "multi_turn_step:mismatch".into(),
            }),
        None => CallMismatch {
            error: format!("Expected {gold}."),
            error_type: "multi_turn_step:mismatch".into(),
        },
    })
}

/// The ground truth of `category` in a BFCL folder (`BFCL_v4_<category>.json` for the function
/// documents, `possible_answer/` for the accepted values), in file order.
pub fn load_ground_truth(dir: &Path, category: &str) -> Result<Vec<GoldCase>, ScoreError> {
    scorable(category).map_err(|reason| ScoreError::Category {
        category: category.to_string(),
        reason,
    })?;
    if category_kind(category) == CategoryKind::MultiTurn {
        return Err(ScoreError::Category {
            category: category.to_string(),
            reason: "a multi-turn category is scored step by step (load_multi_turn_steps)".into(),
        });
    }
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
    type Check<'a> = Box<dyn Fn(&[PredictedCall]) -> Result<(), CallMismatch> + 'a>;
    let (cases, steps) = if category_kind(category) == CategoryKind::MultiTurn {
        (Vec::new(), load_multi_turn_steps(dir, category)?)
    } else {
        (load_ground_truth(dir, category)?, Vec::new())
    };
    let gold: Vec<(&str, Check)> = cases
        .iter()
        .map(|c| {
            let check: Check = Box::new(move |p: &[PredictedCall]| check_case(category, &c.calls, p));
            (c.id.as_str(), check)
        })
        .chain(steps.iter().map(|(id, g)| {
            let check: Check = Box::new(move |p: &[PredictedCall]| check_step(g, p));
            (id.as_str(), check)
        }))
        .collect();
    let index: HashMap<&str, usize> = gold.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
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
        .map(|((id, check), calls)| {
            let outcome = match calls {
                Some(calls) => check(calls),
                None => Err(CallMismatch {
                    error: "no prediction for this case".into(),
                    error_type: "missing_prediction".into(),
                }),
            };
            match outcome {
                Ok(()) => CaseResult {
                    id: id.to_string(),
                    valid: true,
                    error: Vec::new(),
                    error_type: None,
                },
                Err(e) => CaseResult {
                    id: id.to_string(),
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
