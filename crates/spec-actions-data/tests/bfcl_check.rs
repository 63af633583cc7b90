//! BFCL-faithful call scoring on the bundled BFCL v4 data (`assets/bfcl-v4`, a copy of the
//! `bfcl-eval` package's data folder): the importer keeps every accepted value, every gold
//! passes BFCL's check of itself, every hard negative fails it, and `score_predictions` scores
//! a predictions file as BFCL's `ast_checker` would.

use std::collections::HashMap;
use std::fs;

use serde_json::{Value, json};
use spec_actions_core::{Action, Example};
use spec_actions_data::bfcl::{default_bfcl_dir, import_bfcl};
use spec_actions_data::bfcl_check::{
    PredictedCall, ScoreError, check_case, check_step, load_ground_truth, load_multi_turn_steps,
    score_predictions,
};
use spec_actions_data::builders::{NegativeLevel, NegativeType};
use spec_actions_data::role_sets::verdict_rows;

fn read_answers(category: &str) -> HashMap<String, Value> {
    let path = default_bfcl_dir().join(format!("possible_answer/BFCL_v4_{category}.json"));
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

fn imported() -> Vec<Example> {
    import_bfcl(&default_bfcl_dir())
        .unwrap()
        .conversations
        .into_iter()
        .flat_map(|c| c.examples)
        .collect()
}

/// Every single-turn gold carries exactly BFCL's `possible_answer` entry of its call (all the
/// accepted values, `""` included), read here straight from the file; its concrete call is
/// the first accepted value, and BFCL's check accepts it.
#[test]
fn importer_keeps_every_accepted_value() {
    let examples = imported();
    let mut answers: HashMap<String, HashMap<String, Value>> = HashMap::new();
    let mut several = 0;
    let mut checked = 0;
    for e in &examples {
        let Some(category) = e.source.strip_prefix("bfcl:") else {
            continue;
        };
        if e.gold.name.is_none() {
            assert!(e.gold.accepted_values.is_none(), "{}", e.id);
            continue;
        }
        if category.starts_with("multi_turn") {
            // A multi-turn step: its one gold value per argument, with the declared types;
            // the gold call passes BFCL's check of itself.
            let accepted = e
                .gold
                .accepted_values
                .as_ref()
                .unwrap_or_else(|| panic!("{}", e.id));
            let args = e.gold.arguments.as_object().unwrap();
            assert_eq!(accepted.arguments.len(), args.len(), "{}", e.id);
            for (k, v) in args {
                let alts = accepted.arguments[k].as_array().unwrap();
                // The gold value, and `""` where it is the documented default.
                assert!(
                    alts.len() == 1 || (alts.len() == 2 && alts[1] == json!("")),
                    "{}",
                    e.id
                );
                if !v.is_object() {
                    assert_eq!(&alts[0], v, "{}", e.id);
                }
            }
            let target = Action::call(
                e.gold.kind,
                e.gold.name.clone().unwrap(),
                e.gold.arguments.clone(),
            );
            assert!(target.matches_call(&e.gold), "{}: {target}", e.id);
            continue;
        }
        let answers = answers
            .entry(category.to_string())
            .or_insert_with(|| read_answers(category));
        let (case, step) = e.id.strip_prefix("bfcl:").unwrap().split_once("#s").unwrap();
        let call = &answers[case]["ground_truth"][step.parse::<usize>().unwrap()];
        let (name, params) = call.as_object().unwrap().iter().next().unwrap();
        assert_eq!(e.gold.name.as_deref(), Some(name.as_str()));
        let accepted = e
            .gold
            .accepted_values
            .as_ref()
            .unwrap_or_else(|| panic!("{}", e.id));
        assert_eq!(&Value::Object(accepted.arguments.clone()), params, "{}", e.id);
        if params
            .as_object()
            .unwrap()
            .values()
            .any(|alts| alts.as_array().unwrap().len() > 1)
        {
            several += 1;
        }
        // The trained target: one concrete call, which BFCL accepts.
        let target = Action::call(e.gold.kind, name, e.gold.arguments.clone());
        assert!(target.matches_call(&e.gold), "{}: {target}", e.id);
        checked += 1;
    }
    assert!(checked > 3000, "{checked} single-turn calls");
    assert!(
        several > checked / 3,
        "{several} of {checked} have several accepted values"
    );
}

/// live_simple_106-63-0: two arguments accept `[]` — no value, and not their absence either —
/// so BFCL rejects every call, its own ground truth included; it is skipped, not imported.
#[test]
fn unsatisfiable_ground_truth_is_skipped() {
    let import = import_bfcl(&default_bfcl_dir()).unwrap();
    let issue = import
        .issues
        .iter()
        .find(|i| {
            i.file == "possible_answer/BFCL_v4_live_simple.json" && i.reason.contains("no accepted value")
        })
        .expect("live_simple_106-63-0 reported");
    assert_eq!(issue.status, "skipped");
    let ids: Vec<&str> = import
        .conversations
        .iter()
        .flat_map(|c| &c.examples)
        .map(|e| e.id.as_str())
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("bfcl:live_simple_106-63-0#")));
    // score-bfcl keeps the case and, as BFCL, rejects its ground truth.
    let gold = load_ground_truth(&default_bfcl_dir(), "live_simple").unwrap();
    let case = gold.iter().find(|c| c.id == "live_simple_106-63-0").unwrap();
    let g = &case.calls[0];
    let first: serde_json::Map<String, Value> = g
        .accepted
        .arguments
        .iter()
        .filter_map(|(k, alts)| {
            alts.as_array()
                .and_then(|a| a.first())
                .map(|v| (k.clone(), v.clone()))
        })
        .collect();
    let call = PredictedCall {
        name: g.name.clone(),
        arguments: Value::Object(first),
    };
    let err = check_case("live_simple", &case.calls, &[call]).unwrap_err();
    assert_eq!(err.error_type, "simple_function_checker:missing_required");
}

/// Every REJECT row of the verifier set (the hard negatives, seed 0) is a call BFCL's check
/// rejects, and a dropped argument is one the gold's function requires.
#[test]
fn every_hard_negative_is_wrong_for_bfcl() {
    let examples = imported();
    let rows = verdict_rows(&examples, 0, NegativeLevel::Call);
    let mut wrong_args = 0;
    for row in rows.iter().filter(|r| !r.accept) {
        let gold = &row.example.gold;
        assert!(
            !row.action.matches_call(gold),
            "{}: {} accepted",
            row.example.id,
            row.action
        );
        if row.negative_type == Some(NegativeType::WrongArguments) {
            wrong_args += 1;
            let (neg, g) = (
                row.action.arguments.as_object().unwrap(),
                gold.arguments.as_object().unwrap(),
            );
            if let Some(dropped) = g.keys().find(|k| !neg.contains_key(*k)) {
                match &gold.accepted_values {
                    Some(a) => assert!(
                        a.required.contains(dropped) || !a.is_optional(dropped),
                        "{}: optional `{dropped}` dropped",
                        row.example.id
                    ),
                    None => {
                        let tool = row
                            .example
                            .tools
                            .iter()
                            .map(|t| &t["function"])
                            .find(|f| f["name"].as_str() == gold.name.as_deref())
                            .unwrap();
                        let required = tool["parameters"]["required"].as_array().unwrap();
                        assert!(
                            required.iter().any(|r| r == dropped),
                            "{}: `{dropped}` is not required",
                            row.example.id
                        );
                    }
                }
            }
        }
    }
    assert!(wrong_args > 500, "{wrong_args} wrong-argument negatives");
}

/// `ast_checker`'s dispatch on real cases: parallel calls in any order, the wrong count, and
/// `multiple` checking the one call.
#[test]
fn case_checker_follows_bfcls_dispatch() {
    let dir = default_bfcl_dir();
    let gold = load_ground_truth(&dir, "parallel").unwrap();
    let case = gold.iter().find(|c| c.calls.len() >= 2).unwrap();
    let concrete = |g: &spec_actions_data::bfcl_check::GoldCall| PredictedCall {
        name: g.name.clone(),
        arguments: Value::Object(
            g.accepted
                .arguments
                .iter()
                .filter_map(|(k, alts)| {
                    alts.as_array()
                        .and_then(|a| a.iter().find(|v| v.as_str() != Some("")))
                        .map(|v| (k.clone(), v.clone()))
                })
                .collect(),
        ),
    };
    let mut calls: Vec<PredictedCall> = case.calls.iter().map(concrete).collect();
    assert_eq!(check_case("parallel", &case.calls, &calls), Ok(()), "{}", case.id);
    calls.reverse();
    assert_eq!(
        check_case("parallel", &case.calls, &calls),
        Ok(()),
        "{} reversed",
        case.id
    );
    calls.pop();
    assert_eq!(
        check_case("parallel", &case.calls, &calls)
            .unwrap_err()
            .error_type,
        "parallel_function_checker_no_order:wrong_count"
    );
    let multiple = load_ground_truth(&dir, "multiple").unwrap();
    let m = &multiple[0];
    let call = concrete(&m.calls[0]);
    assert_eq!(
        check_case("multiple", &m.calls, std::slice::from_ref(&call)),
        Ok(())
    );
    assert!(check_case("multiple", &m.calls, &[call.clone(), call]).is_err());
    assert!(load_ground_truth(&dir, "simple_java").is_ok());
    assert!(load_ground_truth(&dir, "multi_turn_base").is_err());
}

/// A tiny predictions file: simple_python_0 right with the optional `unit` left out,
/// simple_python_1 right, simple_python_2 with `z` = 1 (BFCL accepts "" or 0), the rest
/// missing. A bad line is an error naming the file and line.
#[test]
fn score_predictions_on_a_tiny_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("predictions.jsonl");
    let rows = [
        json!({"id": "simple_python_0", "calls": [{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}]}),
        json!({"id": "simple_python_1", "calls": [{"name": "math.factorial", "arguments": {"number": 5}}]}),
        json!({"id": "simple_python_2", "calls": [{"name": "math.hypot", "arguments": {"x": 4, "y": 5, "z": 1}}]}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    fs::write(&path, &text).unwrap();
    let (results, score) = score_predictions(&default_bfcl_dir(), "simple_python", &path).unwrap();
    assert_eq!(score.cases, 400);
    assert_eq!((score.predicted, score.correct), (3, 2));
    assert!((score.accuracy - 2.0 / 400.0).abs() < 1e-12);
    let by_id: HashMap<&str, _> = results.iter().map(|r| (r.id.as_str(), r)).collect();
    assert!(by_id["simple_python_0"].valid && by_id["simple_python_1"].valid);
    assert!(!by_id["simple_python_2"].valid);
    assert_eq!(
        by_id["simple_python_2"].error_type.as_deref(),
        Some("value_error:others")
    );
    assert_eq!(
        by_id["simple_python_3"].error_type.as_deref(),
        Some("missing_prediction")
    );
    // BFCL's row shape.
    let row = serde_json::to_value(by_id["simple_python_2"]).unwrap();
    assert!(row["id"].is_string() && row["valid"].is_boolean() && row["error"].is_array());

    fs::write(
        &path,
        format!("{text}{{\"id\": \"simple_python_3\", \"calls\": 7}}\n"),
    )
    .unwrap();
    let err = score_predictions(&default_bfcl_dir(), "simple_python", &path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("predictions.jsonl:4"), "{msg}");
    assert!(msg.contains("calls"), "{msg}");

    fs::write(&path, format!("{text}{}\n", rows[0])).unwrap();
    let err = score_predictions(&default_bfcl_dir(), "simple_python", &path).unwrap_err();
    assert!(matches!(err, ScoreError::Line { line: 4, .. }), "{err}");
    fs::write(&path, "{\"id\": \"nope\", \"calls\": []}\n").unwrap();
    let err = score_predictions(&default_bfcl_dir(), "simple_python", &path).unwrap_err();
    assert!(
        err.to_string().contains("predictions.jsonl:1") && err.to_string().contains("nope"),
        "{err}"
    );
}

/// Multi-turn steps are scored with BFCL's type rules on their one gold value per argument
/// (`ast_checker.py`'s `type_checker`, hand-applied): an integer argument written as a float
/// (`100.0`) is wrong, a whole float argument written as an int is right (Python's int → float
/// conversion), a bool is not a number; the gold itself, and a bare call of it (no kind line),
/// is right; predictions are rows of `score_predictions` with the step ids.
#[test]
fn multi_turn_steps_follow_bfcls_type_rules() {
    let dir = default_bfcl_dir();
    let steps = load_multi_turn_steps(&dir, "multi_turn_base").unwrap();
    assert!(steps.len() > 500, "{} steps", steps.len());
    let (mut ints, mut floats) = (0, 0);
    for (id, gold) in &steps {
        let name = gold.name.clone().unwrap();
        let args = gold.arguments.as_object().unwrap();
        let call = |arguments: Value| PredictedCall {
            name: name.clone(),
            arguments,
        };
        assert_eq!(check_step(gold, &[call(gold.arguments.clone())]), Ok(()), "{id}");
        let accepted = gold.accepted_values.as_ref().unwrap();
        for (k, v) in args {
            let ty = accepted.params[k].ty.as_str();
            let mut changed = args.clone();
            if ty == "integer" && v.is_i64() {
                changed.insert(k.clone(), json!(v.as_i64().unwrap() as f64));
                let err = check_step(gold, &[call(Value::Object(changed.clone()))]).unwrap_err();
                assert_eq!(err.error_type, "type_error:simple", "{id} {k}");
                changed.insert(k.clone(), json!(true));
                assert!(
                    check_step(gold, &[call(Value::Object(changed))]).is_err(),
                    "{id} {k}"
                );
                ints += 1;
            } else if ty == "float" && v.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15) {
                changed.insert(k.clone(), json!(v.as_f64().unwrap() as i64));
                assert_eq!(
                    check_step(gold, &[call(Value::Object(changed))]),
                    Ok(()),
                    "{id} {k}"
                );
                floats += 1;
            }
        }
    }
    assert!(
        ints > 10 && floats > 10,
        "{ints} integer and {floats} float arguments"
    );
    // Through a predictions file: step ids, BFCL's row shape.
    let (id, gold) = &steps[0];
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("steps.jsonl");
    let row = json!({"id": id, "calls": [{"name": gold.name, "arguments": gold.arguments}]});
    fs::write(&path, format!("{row}\n")).unwrap();
    let (rows, score) = score_predictions(&dir, "multi_turn_base", &path).unwrap();
    assert_eq!(rows.len(), steps.len());
    assert!(rows.iter().find(|r| &r.id == id).unwrap().valid);
    assert_eq!((score.correct, score.predicted), (1, 1));
}

/// The importer writes a Java / JavaScript gold as the source text BFCL's converters read:
/// simple_java_22's call is exactly the one bfcl-eval 2026.3.23's `simple_function_checker`
/// (`Language.JAVA`) was run on and accepted, and its tools say `string` as BFCL's own
/// `_func_doc_language_specific_pre_processing` does. simple_java_36 (an `ArrayList<any>` of
/// ints and bools: BFCL reads every item as text, so no call passes) is skipped, reported.
#[test]
fn java_golds_are_source_text_bfcl_accepts() {
    let import = import_bfcl(&default_bfcl_dir()).unwrap();
    let examples: Vec<&Example> = import.conversations.iter().flat_map(|c| &c.examples).collect();
    let java22 = examples
        .iter()
        .find(|e| e.id == "bfcl:simple_java_22#s0")
        .unwrap();
    assert_eq!(
        java22.gold.arguments,
        json!({"ids": "new ArrayList<>(Arrays.asList(101L, 202L, 303L))", "newStatus": "2"})
    );
    let params = &java22.tools[0]["function"]["parameters"]["properties"];
    assert_eq!(params["ids"]["type"], json!("string"));
    assert!(
        params["ids"]["description"]
            .as_str()
            .unwrap()
            .ends_with("This is Java ArrayList type parameter in string representation. The list elements are of type long; they are not in string representation."),
        "{}",
        params["ids"]
    );
    let js3 = examples
        .iter()
        .find(|e| e.id == "bfcl:simple_javascript_3#s0")
        .unwrap();
    let call = PredictedCall {
        name: js3.gold.name.clone().unwrap(),
        arguments: js3.gold.arguments.clone(),
    };
    let gold = load_ground_truth(&default_bfcl_dir(), "simple_javascript").unwrap();
    let case = gold.iter().find(|c| c.id == "simple_javascript_3").unwrap();
    assert_eq!(check_case("simple_javascript", &case.calls, &[call]), Ok(()));
    assert!(!examples.iter().any(|e| e.id.starts_with("bfcl:simple_java_36#")));
    assert!(
        import
            .issues
            .iter()
            .any(|i| i.file == "possible_answer/BFCL_v4_simple_java.json" && i.status == "skipped"),
        "simple_java_36 reported"
    );
}
