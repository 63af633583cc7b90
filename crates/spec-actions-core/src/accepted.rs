//! BFCL's accepted-value call check: a gold call as the Berkeley Function Calling Leaderboard
//! states it (per argument, every value it accepts; `""` among them = the argument may be left
//! out) and a port of the rules of BFCL's AST checker
//! (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`, `simple_function_checker` and its helpers,
//! `bfcl-eval` 2026.3.23) for its three languages: Python (every category but `simple_java` /
//! `simple_javascript`), Java and JavaScript ([`Language`]; a Java / JavaScript argument is
//! source text, read by BFCL's type converters, [`crate::type_converter`]).
//!
//! Values are JSON, as BFCL's checker sees them after `json.loads`: a JSON integer is a Python
//! `int`, a number with a fraction or exponent (`100.0`) a Python `float`, and values compare
//! with Python's `==` ([`py_eq`]: `1 == 1.0 == True`, dicts ignore key order).
//!
//! # Named differences from BFCL
//! - Parameter types BFCL's checker of the call's language does not know (a Java type in a
//!   Python category, a type missing from `JAVA_TYPE_CONVERSION` / `JS_TYPE_CONVERSION`, a
//!   Java `Set` / `Hashtable` / `Queue` / `Stack`): BFCL raises (`KeyError`,
//!   `NotImplementedError`). In a Python category such a value is checked as BFCL checks a
//!   Python one (a dict or list as such, any other value by Python `==` after
//!   [`standardize_string`]; an unknown list item type is not checked); in a Java /
//!   JavaScript category the call is scored wrong (`type_error:unsupported`).
//! - Where BFCL's checker would raise on malformed ground truth (an accepted value of a list
//!   parameter that is neither a list nor a string, a nested dict whose accepted values are not
//!   a list), the call is scored wrong here.
//! - The converters' own differences (non-ASCII digits, numbers JSON cannot hold) are named in
//!   [`crate::type_converter`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// The declared type of one parameter, spelled as BFCL's function documents spell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamType {
    /// BFCL's type name (`string`, `integer`, `float`, `boolean`, `array`, `tuple`, `dict`,
    /// `any`, or a Java / JavaScript type name).
    #[serde(rename = "type")]
    pub ty: String,
    /// For `array` / `tuple`: the item type (`items.type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
}

/// The language BFCL checks a call in (its `Language` enum): which type table and converters
/// apply to the arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Arguments are JSON values, typed by `PYTHON_TYPE_MAPPING`.
    #[default]
    Python,
    /// Arguments are Java source text (`simple_java`), read by `java_type_converter`.
    Java,
    /// Arguments are JavaScript source text (`simple_javascript`), read by `js_type_converter`.
    #[serde(rename = "javascript")]
    JavaScript,
}

impl Language {
    /// BFCL's choice for a category (`eval_runner.py`: `is_java` / `is_js`).
    pub fn of_category(category: &str) -> Language {
        if category.contains("javascript") {
            Language::JavaScript
        } else if category.contains("java") {
            Language::Java
        } else {
            Language::Python
        }
    }

    /// Whether this is [`Language::Python`] (the serialized default).
    pub fn is_python(&self) -> bool {
        *self == Language::Python
    }
}

/// One gold call as BFCL states it: the function's declared parameters and, per argument of
/// the gold, the list of every value BFCL accepts (`""` = may be omitted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedCall {
    /// Argument → array of accepted values, in BFCL's order (its `possible_answer` entry).
    pub arguments: Map<String, Value>,
    /// Every declared parameter of the function and its type.
    pub params: BTreeMap<String, ParamType>,
    /// The function's required parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// The language the arguments are checked in (absent = Python).
    #[serde(default, skip_serializing_if = "Language::is_python")]
    pub language: Language,
    /// Strings must also equal an accepted value exactly (Python `==`), not only after
    /// [`standardize_string`]: set for a multi-turn step, which BFCL scores by executing it
    /// (its file `Report.pdf` is not `report.pdf`, `'temp .'` is no folder). Absent = false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact_strings: bool,
}

/// Why BFCL scores a call wrong: its message and its `error_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallMismatch {
    pub error: String,
    pub error_type: String,
}

fn mismatch(error_type: &str, error: impl Into<String>) -> CallMismatch {
    CallMismatch {
        error: error.into(),
        error_type: error_type.to_string(),
    }
}

/// The Python type a JSON value has after `json.loads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyType {
    None,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
}

impl PyType {
    /// `type(value)` of a JSON value.
    pub fn of(value: &Value) -> PyType {
        match value {
            Value::Null => PyType::None,
            Value::Bool(_) => PyType::Bool,
            Value::Number(n) if n.is_f64() => PyType::Float,
            Value::Number(_) => PyType::Int,
            Value::String(_) => PyType::Str,
            Value::Array(_) => PyType::List,
            Value::Object(_) => PyType::Dict,
        }
    }

    /// BFCL's `PYTHON_TYPE_MAPPING` (`ast_checker.py`); `None` for a type it does not list.
    pub fn of_bfcl_type(name: &str) -> Option<PyType> {
        Some(match name {
            "string" | "any" => PyType::Str,
            "integer" => PyType::Int,
            "float" => PyType::Float,
            "boolean" => PyType::Bool,
            "array" | "tuple" => PyType::List,
            "dict" => PyType::Dict,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            PyType::None => "NoneType",
            PyType::Bool => "bool",
            PyType::Int => "int",
            PyType::Float => "float",
            PyType::Str => "str",
            PyType::List => "list",
            PyType::Dict => "dict",
        }
    }
}

/// The Python type BFCL's Java / JavaScript tables map a declared type to (`JAVA_TYPE_CONVERSION`
/// and `JS_TYPE_CONVERSION` agree where they share a name); `None` for `Set` or a type neither
/// lists.
fn converted_type(name: &str) -> Option<PyType> {
    Some(match name {
        "byte" | "short" | "integer" | "long" | "Bigint" => PyType::Int,
        "float" | "double" => PyType::Float,
        "boolean" | "Boolean" => PyType::Bool,
        "char" | "String" | "any" => PyType::Str,
        "Array" | "ArrayList" | "Queue" | "Stack" | "array" => PyType::List,
        "HashMap" | "Hashtable" | "dict" => PyType::Dict,
        _ => return None,
    })
}

/// Python's `==` on JSON values: numbers (and booleans, `True == 1`) by value, lists element by
/// element, dicts by key set and values.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Bool(_) | Value::Number(_), Value::Bool(_) | Value::Number(_)) => num(a) == num(b),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Python's `==` of a value and an accepted value, where an accepted dict of accepted-value
/// lists (BFCL's nested form) matches a dict whose every value equals one of its key's values.
fn exact_eq(value: &Value, accepted: &Value) -> bool {
    match (value, accepted) {
        (Value::Object(v), Value::Object(a)) if a.values().all(Value::is_array) && !a.is_empty() => {
            v.iter().all(|(k, x)| {
                a.get(k)
                    .and_then(Value::as_array)
                    .is_some_and(|alts| alts.iter().any(|y| py_eq(x, y)))
            })
        }
        _ => py_eq(value, accepted),
    }
}

/// Python's `value in list`.
fn py_in(value: &Value, list: &[Value]) -> bool {
    list.iter().any(|v| py_eq(value, v))
}

fn is_empty_str(v: &Value) -> bool {
    v.as_str() == Some("")
}

/// BFCL's `standardize_string` (`ast_checker.py`): drop spaces and the punctuation `,./-_*^`,
/// lower-case, and turn single quotes into double quotes.
pub fn standardize_string(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .collect::<String>()
        .to_lowercase()
        .replace('\'', "\"")
}

fn standardize_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(standardize_string(s)),
        other => other.clone(),
    }
}

/// Python's `repr` of a JSON value, for error messages (close enough: JSON spelling).
fn repr(v: &Value) -> String {
    v.to_string()
}

/// The elements a Python `for x in answer` loop sees: a list's items, a string's characters;
/// `None` where Python would raise.
fn py_iter(answer: &Value) -> Option<Vec<Value>> {
    match answer {
        Value::Array(items) => Some(items.clone()),
        Value::String(s) => Some(s.chars().map(|c| Value::String(c.to_string())).collect()),
        _ => None,
    }
}

/// BFCL's `get_possible_answer_type`: the type of the first accepted value that is not `""`.
fn possible_answer_type(possible: &[Value]) -> Option<PyType> {
    possible.iter().find(|v| !is_empty_str(v)).map(PyType::of)
}

/// BFCL's `type_checker` (`ast_checker.py`): `Ok(is_variable)` when the value's type is
/// acceptable. `is_variable` is true when the accepted values are not of the declared type
/// (BFCL then compares values exactly, as "variables").
fn type_checker(
    param: &str,
    value: &Value,
    possible: &[Value],
    expected_desc: &str,
    expected: PyType,
    nested: Option<PyType>,
) -> Result<bool, CallMismatch> {
    let pa_type = possible_answer_type(possible);
    let is_variable = pa_type.is_some_and(|t| t != expected);
    let got = PyType::of(value);
    if got == expected {
        let Some(nested) = nested else {
            return Ok(is_variable);
        };
        let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
        for answer in possible {
            let mut flag = true;
            if let Value::Array(answer_items) = answer {
                for item in items {
                    let nested_name = nested.name();
                    if type_checker(param, item, answer_items, nested_name, nested, None).is_err() {
                        flag = false;
                        break;
                    }
                }
            }
            if flag {
                return Ok(is_variable);
            }
        }
        return Err(mismatch(
            "type_error:nested",
            format!(
                "Nested type checking failed for parameter '{param}'. Expected outer type {expected_desc} with inner type {}. Parameter value: {}.",
                nested.name(),
                repr(value)
            ),
        ));
    }
    if pa_type.is_some_and(|t| t == got) {
        return Ok(true);
    }
    Err(mismatch(
        "type_error:simple",
        format!(
            "Incorrect type for parameter '{param}'. Expected type {expected_desc}, got {}. Parameter value: {}.",
            got.name(),
            repr(value)
        ),
    ))
}

/// BFCL's `string_checker`: the standardised value is one of the standardised accepted strings.
fn string_checker(param: &str, value: &str, possible: &[Value]) -> Result<(), CallMismatch> {
    let got = standardize_string(value);
    let ok = possible
        .iter()
        .filter_map(Value::as_str)
        .any(|p| standardize_string(p) == got);
    if ok {
        Ok(())
    } else {
        Err(mismatch(
            "value_error:string",
            format!(
                "Invalid value for parameter '{param}': {value:?}. Expected one of {}. Case insensitive.",
                Value::Array(possible.to_vec())
            ),
        ))
    }
}

/// BFCL's `list_checker`: the list with its string items standardised equals one accepted list
/// with its string items standardised (order matters). An accepted `""` iterates as an empty
/// list, so `[]` is accepted where the argument may be omitted.
fn list_checker(param: &str, value: &[Value], possible: &[Value]) -> Result<(), CallMismatch> {
    let got = Value::Array(value.iter().map(standardize_value).collect());
    let ok = possible.iter().any(|answer| {
        py_iter(answer)
            .is_some_and(|items| py_eq(&got, &Value::Array(items.iter().map(standardize_value).collect())))
    });
    if ok {
        Ok(())
    } else {
        Err(mismatch(
            "value_error:list/tuple",
            format!(
                "Invalid value for parameter '{param}': {}. Expected one of {}.",
                Value::Array(value.to_vec()),
                Value::Array(possible.to_vec())
            ),
        ))
    }
}

/// BFCL's `dict_checker`: the dict matches one accepted dict, whose values are themselves lists
/// of accepted values (strings standardised, others by Python `==`); a key of the accepted dict
/// may be missing only when `""` is among its values.
fn dict_checker(param: &str, value: &Value, possible: &[Value]) -> Result<(), CallMismatch> {
    let mut result = mismatch("dict_checker:unclear", "");
    let Some(model) = value.as_object() else {
        return Err(mismatch(
            "dict_checker:unclear",
            format!("Parameter '{param}': {} is not a dict.", repr(value)),
        ));
    };
    for answer in possible {
        if is_empty_str(answer) {
            continue;
        }
        let Some(answer) = answer.as_object() else {
            result = mismatch(
                "dict_checker:unclear",
                format!("Accepted value {} of '{param}' is not a dict.", repr(answer)),
            );
            continue;
        };
        result = mismatch("dict_checker:unclear", "");
        let mut flag = true;
        for (key, v) in model {
            let Some(accepted) = answer.get(key) else {
                result = mismatch(
                    "value_error:dict_key",
                    format!("Unexpected dict key parameter: '{key}'."),
                );
                flag = false;
                break;
            };
            let std_value = standardize_value(v);
            let accepted: Vec<Value> = py_iter(accepted)
                .unwrap_or_default()
                .iter()
                .map(standardize_value)
                .collect();
            if !py_in(&std_value, &accepted) {
                result = mismatch(
                    "value_error:dict_value",
                    format!(
                        "Invalid value for parameter '{key}': {}. Expected one of {}.",
                        repr(v),
                        Value::Array(accepted)
                    ),
                );
                flag = false;
                break;
            }
        }
        for (key, accepted) in answer {
            // `"" not in value`: on a string Python tests for a substring, which "" always is.
            let may_omit = match accepted {
                Value::Array(items) => items.iter().any(is_empty_str),
                Value::String(_) => true,
                _ => false,
            };
            if !model.contains_key(key) && !may_omit {
                result = mismatch(
                    "value_error:dict_key",
                    format!("Missing dict key parameter: '{key}'."),
                );
                flag = false;
                break;
            }
        }
        if flag {
            return Ok(());
        }
    }
    Err(result)
}

/// BFCL's `list_dict_checker`: a list of dicts matches one accepted list of the same length,
/// dict by dict in order ([`dict_checker`]).
fn list_dict_checker(param: &str, value: &[Value], possible: &[Value]) -> Result<(), CallMismatch> {
    let mut result = mismatch("list_dict_checker:unclear", "");
    for answer in possible {
        let Some(answer_items) = py_iter(answer) else {
            continue;
        };
        if value.len() != answer_items.len() {
            result = mismatch(
                "value_error:list_dict_count",
                "Wrong number of dictionaries in the list.",
            );
            continue;
        }
        let mut flag = true;
        for (v, a) in value.iter().zip(&answer_items) {
            if let Err(e) = dict_checker(param, v, std::slice::from_ref(a)) {
                result = e;
                flag = false;
                break;
            }
        }
        if flag {
            return Ok(());
        }
    }
    Err(result)
}

impl AcceptedCall {
    /// Whether `""` is among the accepted values of `param` (BFCL: the argument may be left out).
    pub fn is_optional(&self, param: &str) -> bool {
        self.arguments
            .get(param)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(is_empty_str))
    }

    /// BFCL's `simple_function_checker` (`ast_checker.py`, in [`AcceptedCall::language`]) for a call of
    /// `name` (the gold function) by a prediction of `predicted_name` with `arguments`
    /// (a JSON object; `null` = no arguments). `Ok` when BFCL scores the call correct.
    pub fn check(&self, name: &str, predicted_name: &str, arguments: &Value) -> Result<(), CallMismatch> {
        if name != predicted_name {
            return Err(mismatch(
                "simple_function_checker:wrong_func_name",
                format!("Function name '{name}' not found in model output."),
            ));
        }
        let empty = Map::new();
        let model = match arguments {
            Value::Null => &empty,
            Value::Object(map) => map,
            other => {
                return Err(mismatch(
                    "simple_function_checker:unclear",
                    format!("Arguments {} are not a dict.", repr(other)),
                ));
            }
        };
        for param in &self.required {
            if !model.contains_key(param) {
                return Err(mismatch(
                    "simple_function_checker:missing_required",
                    format!("Missing required parameter: '{param}'."),
                ));
            }
        }
        for (param, value) in model {
            let (Some(decl), Some(possible)) = (self.params.get(param), self.arguments.get(param)) else {
                return Err(mismatch(
                    "simple_function_checker:unexpected_param",
                    format!("Unexpected parameter: '{param}'."),
                ));
            };
            let possible: &[Value] = possible.as_array().map(Vec::as_slice).unwrap_or_default();
            self.check_param(param, decl, value, possible)?;
            if self.exact_strings && !possible.iter().any(|p| exact_eq(value, p)) {
                return Err(mismatch(
                    "value_error:exact",
                    format!(
                        "Invalid value for parameter '{param}': {}. Expected exactly one of {}.",
                        repr(value),
                        Value::Array(possible.to_vec())
                    ),
                ));
            }
        }
        for (param, possible) in &self.arguments {
            let may_omit = possible.as_array().is_some_and(|a| a.iter().any(is_empty_str));
            if !model.contains_key(param) && !may_omit {
                return Err(mismatch(
                    "simple_function_checker:missing_optional",
                    format!("Optional parameter '{param}' not provided and not marked as optional."),
                ));
            }
        }
        Ok(())
    }

    /// The per-parameter body of BFCL's `simple_function_checker` loop.
    fn check_param(
        &self,
        param: &str,
        decl: &ParamType,
        value: &Value,
        possible: &[Value],
    ) -> Result<(), CallMismatch> {
        match self.language {
            Language::Python => self.check_python_param(param, decl, value, possible),
            Language::Java | Language::JavaScript => self.check_converted_param(param, decl, value, possible),
        }
    }

    /// The Java / JavaScript branch of `simple_function_checker`'s loop: the value must be a
    /// string (source text); it is converted by the language's type converter
    /// (`java_type_converter` / `js_type_converter`, with the item type for `Array`,
    /// `ArrayList`, `array`), then checked by the common rules with the type the language's
    /// table (`JAVA_TYPE_CONVERSION` / `JS_TYPE_CONVERSION`) maps the declared type to.
    fn check_converted_param(
        &self,
        param: &str,
        decl: &ParamType,
        value: &Value,
        possible: &[Value],
    ) -> Result<(), CallMismatch> {
        use crate::type_converter::{JAVA_TYPES, JS_TYPES, java_type_converter, js_type_converter};
        let (table, tag): (&[&str], &str) = match self.language {
            Language::Java => (JAVA_TYPES, "java"),
            _ => (JS_TYPES, "js"),
        };
        let unsupported = |what: String| {
            mismatch(
                "type_error:unsupported",
                format!("Parameter '{param}': {what} (BFCL's checker raises)."),
            )
        };
        let expected = converted_type(&decl.ty).filter(|_| table.contains(&decl.ty.as_str()));
        let Some(expected) = expected else {
            return Err(unsupported(format!("type `{}` has no {tag} conversion", decl.ty)));
        };
        let Value::String(text) = value else {
            return Err(mismatch(
                &format!("type_error:{tag}"),
                format!(
                    "Incorrect type for parameter '{param}'. Expected type String, got {}. Parameter value: {}.",
                    PyType::of(value).name(),
                    repr(value)
                ),
            ));
        };
        let nested_ty = if matches!(decl.ty.as_str(), "Array" | "ArrayList" | "array") {
            let Some(item) = decl.items.as_deref() else {
                return Err(unsupported("no item type".into()));
            };
            let Some(nested) = converted_type(item).filter(|_| table.contains(&item)) else {
                return Err(unsupported(format!("item type `{item}` has no {tag} conversion")));
            };
            Some((item, nested))
        } else {
            None
        };
        let converted = match self.language {
            Language::Java => java_type_converter(text, &decl.ty, nested_ty.map(|(i, _)| i)),
            _ => js_type_converter(text, &decl.ty, nested_ty.map(|(i, _)| i)),
        }
        .map_err(|e| unsupported(e.to_string()))?;
        self.check_typed(
            param,
            &decl.ty,
            &converted,
            possible,
            expected,
            nested_ty.map(|(_, n)| n),
        )
    }

    /// The Python branch of `simple_function_checker`'s loop.
    fn check_python_param(
        &self,
        param: &str,
        decl: &ParamType,
        value: &Value,
        possible: &[Value],
    ) -> Result<(), CallMismatch> {
        let Some(expected) = PyType::of_bfcl_type(&decl.ty) else {
            // Named difference (module docs): a Java / JavaScript type. Dicts and lists are
            // compared as BFCL compares Python ones, other values by Python `==` after
            // standardising strings.
            return match value {
                Value::Object(_) => dict_checker(param, value, possible),
                Value::Array(items) => list_checker(param, items, possible),
                _ => {
                    let std = standardize_value(value);
                    if possible.iter().any(|p| py_eq(&std, &standardize_value(p))) {
                        Ok(())
                    } else {
                        Err(mismatch(
                            "value_error:others",
                            format!(
                                "Invalid value for parameter '{param}': {}. Expected one of {}.",
                                repr(value),
                                Value::Array(possible.to_vec())
                            ),
                        ))
                    }
                }
            };
        };
        // An item type BFCL's Python checker does not know (Java / JavaScript) is not checked.
        let nested = if expected == PyType::List {
            decl.items.as_deref().and_then(PyType::of_bfcl_type)
        } else {
            None
        };
        // "Allow python auto conversion from int to float".
        let converted;
        let value = if decl.ty == "float" && PyType::of(value) == PyType::Int {
            converted = value
                .as_f64()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| value.clone());
            &converted
        } else {
            value
        };
        self.check_typed(param, &decl.ty, value, possible, expected, nested)
    }

    /// The rest of `simple_function_checker`'s loop, common to the languages: `type_checker`,
    /// then (unless the value is a "variable") `dict_checker`, `list_dict_checker`,
    /// `string_checker` or `list_checker` by type, else `value in possible_answer`.
    fn check_typed(
        &self,
        param: &str,
        declared: &str,
        value: &Value,
        possible: &[Value],
        expected: PyType,
        nested: Option<PyType>,
    ) -> Result<(), CallMismatch> {
        let is_variable = type_checker(param, value, possible, declared, expected, nested)?;
        if !is_variable {
            match (expected, value) {
                (PyType::Dict, _) => return dict_checker(param, value, possible),
                (PyType::List, Value::Array(items)) if nested == Some(PyType::Dict) => {
                    return list_dict_checker(param, items, possible);
                }
                (PyType::Str, Value::String(s)) => return string_checker(param, s, possible),
                (PyType::List, Value::Array(items)) => return list_checker(param, items, possible),
                _ => {}
            }
        }
        if py_in(value, possible) {
            Ok(())
        } else {
            Err(mismatch(
                "value_error:others",
                format!(
                    "Invalid value for parameter '{param}': {}. Expected one of {}.",
                    repr(value),
                    Value::Array(possible.to_vec())
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Cases of BFCL's accepted-value semantics, each decided by hand from the function of
    //! `bfcl_eval/eval_checker/ast_eval/ast_checker.py` (bfcl-eval 2026.3.23) named on it.
    //! Ground truths are BFCL v4's own where an id is given (`assets/bfcl-v4`).
    use super::*;
    use serde_json::json;

    fn call(arguments: Value, params: &[(&str, &str, Option<&str>)], required: &[&str]) -> AcceptedCall {
        AcceptedCall {
            arguments: arguments.as_object().unwrap().clone(),
            params: params
                .iter()
                .map(|(n, t, i)| {
                    (
                        n.to_string(),
                        ParamType {
                            ty: t.to_string(),
                            items: i.map(str::to_string),
                        },
                    )
                })
                .collect(),
            required: required.iter().map(|r| r.to_string()).collect(),
            language: Language::Python,
            exact_strings: false,
        }
    }

    fn kind(acc: &AcceptedCall, args: Value) -> Result<(), String> {
        acc.check("f", "f", &args).map_err(|e| e.error_type)
    }

    /// simple_python_0: `unit` accepts "units" or "" (`simple_function_checker`'s final loop:
    /// a gold parameter left out is fine only when `""` is among its values).
    #[test]
    fn optional_argument_may_be_left_out_and_required_may_not() {
        let acc = call(
            json!({"base": [10], "height": [5], "unit": ["units", ""]}),
            &[
                ("base", "integer", None),
                ("height", "integer", None),
                ("unit", "string", None),
            ],
            &["base", "height"],
        );
        assert_eq!(kind(&acc, json!({"base": 10, "height": 5})), Ok(()));
        assert_eq!(
            kind(&acc, json!({"base": 10, "height": 5, "unit": "units"})),
            Ok(())
        );
        assert_eq!(
            kind(&acc, json!({"base": 10})),
            Err("simple_function_checker:missing_required".into())
        );
        // Not required by the schema, but no "" among its accepted values.
        let acc2 = call(
            json!({"a": [1], "b": [2]}),
            &[("a", "integer", None), ("b", "integer", None)],
            &["a"],
        );
        assert_eq!(
            kind(&acc2, json!({"a": 1})),
            Err("simple_function_checker:missing_optional".into())
        );
        // A parameter the gold does not list, even a declared one, is unexpected.
        assert_eq!(
            kind(&acc2, json!({"a": 1, "b": 2, "c": 3})),
            Err("simple_function_checker:unexpected_param".into())
        );
        assert_eq!(
            acc.check(
                "calculate_triangle_area",
                "area",
                &json!({"base": 10, "height": 5})
            )
            .map_err(|e| e.error_type),
            Err("simple_function_checker:wrong_func_name".into())
        );
    }

    /// simple_python_2: `z` accepts "" or 0 — every accepted value counts, not the first.
    #[test]
    fn every_accepted_value_counts() {
        let acc = call(
            json!({"x": [4], "y": [5], "z": ["", 0]}),
            &[
                ("x", "integer", None),
                ("y", "integer", None),
                ("z", "integer", None),
            ],
            &["x", "y"],
        );
        assert_eq!(kind(&acc, json!({"x": 4, "y": 5, "z": 0})), Ok(()));
        assert_eq!(kind(&acc, json!({"x": 4, "y": 5})), Ok(()));
        assert_eq!(
            kind(&acc, json!({"x": 4, "y": 5, "z": 1})),
            Err("value_error:others".into())
        );
        let cities = call(
            json!({"city": ["San Francisco, CA", "SF", "San Francisco"]}),
            &[("city", "string", None)],
            &["city"],
        );
        for ok in ["SF", "san francisco", "San Francisco CA", "san-francisco,ca"] {
            assert_eq!(kind(&cities, json!({"city": ok})), Ok(()), "{ok}");
        }
        assert_eq!(
            kind(&cities, json!({"city": "San Francisco!"})),
            Err("value_error:string".into())
        );
    }

    /// `standardize_string`: spaces and `,./-_*^` dropped, lower case, `'` → `"`; nothing else
    /// (`!`, `:`, `(` stay).
    #[test]
    fn string_standardisation_is_bfcls() {
        assert_eq!(standardize_string("April 1, 2024"), "april12024");
        assert_eq!(standardize_string("A_b-C/d.e*f^g"), "abcdefg");
        assert_eq!(standardize_string("it's"), "it\"s");
        assert_eq!(standardize_string("Hi! (x:1)"), "hi!(x:1)");
    }

    /// `simple_function_checker` converts an int to float for a `float` parameter, but
    /// `type_checker` rejects a float (`100.0`) for an `integer` one and a bool for either.
    #[test]
    fn int_and_float_follow_pythons_types() {
        let acc = call(
            json!({"n": [100], "x": [5.0]}),
            &[("n", "integer", None), ("x", "float", None)],
            &["n", "x"],
        );
        assert_eq!(kind(&acc, json!({"n": 100, "x": 5})), Ok(()));
        assert_eq!(kind(&acc, json!({"n": 100, "x": 5.0})), Ok(()));
        assert_eq!(
            kind(&acc, json!({"n": 100.0, "x": 5.0})),
            Err("type_error:simple".into())
        );
        assert_eq!(
            kind(&acc, json!({"n": true, "x": 5.0})),
            Err("type_error:simple".into())
        );
        assert_eq!(
            kind(&acc, json!({"n": "100", "x": 5.0})),
            Err("type_error:simple".into())
        );
        // A "variable": accepted values of another type than declared are compared exactly,
        // and a value of their type passes the type check (`type_checker`'s `is_variable`).
        let var = call(json!({"n": ["count"]}), &[("n", "integer", None)], &["n"]);
        assert_eq!(kind(&var, json!({"n": "count"})), Ok(()));
        assert_eq!(
            kind(&var, json!({"n": "Count"})),
            Err("value_error:others".into())
        );
    }

    /// `list_checker`: order matters, string items standardised; `type_checker`'s nested check
    /// rejects items of the wrong type (no int → float conversion inside lists).
    #[test]
    fn lists_keep_their_order_and_item_types() {
        let acc = call(
            json!({"cities": [["New York", "Los Angeles"], ["NYC", "LA"]], "w": [[1.0, 2.5]]}),
            &[("cities", "array", Some("string")), ("w", "array", Some("float"))],
            &["cities", "w"],
        );
        assert_eq!(
            kind(&acc, json!({"cities": ["new york", "LA"], "w": [1.0, 2.5]})),
            Err("value_error:list/tuple".into())
        );
        assert_eq!(
            kind(&acc, json!({"cities": ["nyc", "L.A."], "w": [1.0, 2.5]})),
            Ok(())
        );
        assert_eq!(
            kind(
                &acc,
                json!({"cities": ["Los Angeles", "New York"], "w": [1.0, 2.5]})
            ),
            Err("value_error:list/tuple".into())
        );
        assert_eq!(
            kind(&acc, json!({"cities": ["NYC", "LA"], "w": [1, 2.5]})),
            Err("type_error:nested".into())
        );
        // An optional list: "" iterates as an empty list, so `[]` is accepted.
        let opt = call(
            json!({"tags": ["", ["a"]]}),
            &[("tags", "array", Some("string"))],
            &[],
        );
        assert_eq!(kind(&opt, json!({"tags": []})), Ok(()));
        assert_eq!(kind(&opt, json!({"tags": ["A"]})), Ok(()));
    }

    /// `dict_checker`: each key's value among that key's accepted values (strings
    /// standardised), unknown keys rejected, keys with `""` optional; `list_dict_checker`
    /// matches dicts in order.
    #[test]
    fn nested_dicts_and_lists_of_dicts() {
        let acc = call(
            json!({"filters": [{"color": ["red", "Red"], "size": ["", "M"]}]}),
            &[("filters", "dict", None)],
            &["filters"],
        );
        assert_eq!(kind(&acc, json!({"filters": {"color": "RED"}})), Ok(()));
        assert_eq!(
            kind(&acc, json!({"filters": {"color": "red", "size": "m"}})),
            Ok(())
        );
        assert_eq!(
            kind(&acc, json!({"filters": {"size": "M"}})),
            Err("value_error:dict_key".into())
        );
        assert_eq!(
            kind(&acc, json!({"filters": {"color": "red", "shape": "x"}})),
            Err("value_error:dict_key".into())
        );
        assert_eq!(
            kind(&acc, json!({"filters": {"color": "blue"}})),
            Err("value_error:dict_value".into())
        );
        let list = call(
            json!({"items": [[{"n": ["a"], "q": [1]}, {"n": ["b"], "q": [2]}]]}),
            &[("items", "array", Some("dict"))],
            &["items"],
        );
        assert_eq!(
            kind(
                &list,
                json!({"items": [{"n": "A", "q": 1}, {"n": "b", "q": 2.0}]})
            ),
            Ok(())
        );
        assert_eq!(
            kind(&list, json!({"items": [{"n": "b", "q": 2}, {"n": "a", "q": 1}]})),
            Err("value_error:dict_value".into())
        );
        assert_eq!(
            kind(&list, json!({"items": [{"n": "a", "q": 1}]})),
            Err("value_error:list_dict_count".into())
        );
    }

    /// Python's `==`, which `value in possible_answer` uses.
    #[test]
    fn python_equality() {
        assert!(py_eq(&json!(1), &json!(1.0)));
        assert!(py_eq(&json!(true), &json!(1)));
        assert!(py_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!py_eq(&json!("1"), &json!(1)));
        assert!(!py_eq(&json!([1, 2]), &json!([2, 1])));
        assert_eq!(PyType::of(&json!(100.0)), PyType::Float);
        assert_eq!(PyType::of(&json!(100)), PyType::Int);
    }

    /// BFCL v4's own Java / JavaScript cases (`assets/bfcl-v4`, ids on each; the function's
    /// parameter types and the ground truth copied), every verdict and `error_type` the one
    /// `simple_function_checker` of bfcl-eval 2026.3.23 gives with `Language.JAVA` /
    /// `JAVASCRIPT` (run once by hand; `scripts/check_bfcl_agreement.py` compares all of them).
    #[test]
    fn java_and_javascript_cases_score_as_bfcl() {
        fn lang_call(
            language: Language,
            arguments: Value,
            params: &[(&str, &str, Option<&str>)],
            required: &[&str],
        ) -> AcceptedCall {
            AcceptedCall {
                language,
                ..call(arguments, params, required)
            }
        }
        let java22 = lang_call(
            Language::Java,
            json!({"ids": [[101, 202, 303]], "newStatus": [2]}),
            &[("ids", "ArrayList", Some("long")), ("newStatus", "integer", None)],
            &["ids", "newStatus"],
        );
        let list = "new ArrayList<>(Arrays.asList(101L, 202L, 303L))";
        assert_eq!(kind(&java22, json!({"ids": list, "newStatus": "2"})), Ok(()));
        assert_eq!(
            kind(
                &java22,
                json!({"ids": "new ArrayList<>(Arrays.asList(101, 202, 303))", "newStatus": "2"})
            ),
            Err("type_error:nested".into())
        );
        assert_eq!(
            kind(&java22, json!({"ids": list, "newStatus": 2})),
            Err("type_error:java".into())
        );
        assert_eq!(
            kind(&java22, json!({"ids": list, "newStatus": "2.0"})),
            Err("type_error:simple".into())
        );
        assert_eq!(
            kind(
                &java22,
                json!({"ids": "new ArrayList<>(Arrays.asList(303L, 202L, 101L))", "newStatus": "2"})
            ),
            Err("value_error:list/tuple".into())
        );
        // simple_java_1: an `any`, a `boolean` and a `HashMap`.
        let java1 = lang_call(
            Language::Java,
            json!({"object": ["Customers"], "useShortName": [true], "params": [{"limit": [50], "schemaFilter": ["public"]}]}),
            &[
                ("object", "any", None),
                ("useShortName", "boolean", None),
                ("params", "HashMap", None),
            ],
            &["object", "useShortName", "params"],
        );
        let map = r#"new HashMap<String, Object>() {{ put("limit", 50); put("schemaFilter", "public"); }}"#;
        assert_eq!(
            kind(
                &java1,
                json!({"object": "Customers", "useShortName": "true", "params": map})
            ),
            Ok(())
        );
        assert_eq!(
            kind(
                &java1,
                json!({"object": "customers", "useShortName": "True", "params": map})
            ),
            Err("type_error:simple".into())
        );
        assert_eq!(
            kind(
                &java1,
                json!({"object": "CUSTOMERS", "useShortName": "true", "params": r#"new HashMap<String, Object>() {{ put("limit", "50"); put("schemaFilter", "public"); }}"#})
            ),
            Err("value_error:dict_value".into())
        );
        assert_eq!(
            kind(
                &java1,
                json!({"object": "CUSTOMERS", "useShortName": "true", "params": r#"new HashMap<>() {{ put("limit", 50); put("schemaFilter", "PUBLIC"); }}"#})
            ),
            Ok(())
        );
        // simple_java_35: a `String[]`'s items are read as written, quotes included.
        let java35 = lang_call(
            Language::Java,
            json!({"op": ["BitOperation.AND"], "destination": ["user:online:both"], "keys": [["user:online:today", "user:online:yesterday"]]}),
            &[
                ("op", "any", None),
                ("destination", "Array", Some("String")),
                ("keys", "Array", Some("String")),
            ],
            &["op", "destination", "keys"],
        );
        let base = json!({"op": "BitOperation.AND", "destination": "user:online:both"});
        let with_keys = |k: &str| {
            let mut v = base.clone();
            v["keys"] = json!(k);
            v
        };
        assert_eq!(
            kind(
                &java35,
                with_keys("new String[]{user:online:today, user:online:yesterday}")
            ),
            Ok(())
        );
        assert_eq!(
            kind(
                &java35,
                with_keys(r#"new String[]{"user:online:today", "user:online:yesterday"}"#)
            ),
            Err("value_error:list/tuple".into())
        );
        // simple_javascript_3: an `array` of `float`.
        let js3 = lang_call(
            Language::JavaScript,
            json!({"action": ["submit"], "formId": ["loginForm"], "coordinates": [[60, 30]]}),
            &[
                ("action", "String", None),
                ("formId", "String", None),
                ("coordinates", "array", Some("float")),
            ],
            &["action", "formId", "coordinates"],
        );
        let js = |a: &str, c: Value| json!({"action": a, "formId": "loginForm", "coordinates": c});
        assert_eq!(kind(&js3, js("submit", json!("[60, 30]"))), Ok(()));
        assert_eq!(kind(&js3, js("'submit'", json!("[60.0, 30.0]"))), Ok(()));
        assert_eq!(
            kind(&js3, js("submit", json!("[30, 60]"))),
            Err("value_error:list/tuple".into())
        );
        assert_eq!(
            kind(&js3, js("submit", json!([60, 30]))),
            Err("type_error:js".into())
        );
        // simple_javascript_12: `dict`s and a `Boolean`.
        let js12 = lang_call(
            Language::JavaScript,
            json!({"apiEndpoint": ["https://api.example.com/data"], "requestConfig": [{"method": ["GET"]}], "expectedResponse": [{"key": ["value"]}], "handleErrors": [true]}),
            &[
                ("apiEndpoint", "String", None),
                ("requestConfig", "dict", None),
                ("expectedResponse", "dict", None),
                ("handleErrors", "Boolean", None),
            ],
            &["apiEndpoint", "requestConfig", "expectedResponse"],
        );
        let js = |config: &str, response: &str, errors: &str| json!({"apiEndpoint": "https://api.example.com/data", "requestConfig": config, "expectedResponse": response, "handleErrors": errors});
        assert_eq!(
            kind(&js12, js(r#"{"method": "GET"}"#, "{'key': 'value'}", "true")),
            Ok(())
        );
        assert_eq!(
            kind(&js12, js(r#"{"method": "POST"}"#, r#"{"key": "value"}"#, "true")),
            Err("value_error:dict_value".into())
        );
        assert_eq!(
            kind(&js12, js("{method: get}", r#"{"key": "value"}"#, "yes")),
            Err("type_error:simple".into())
        );
        // A type BFCL's tables lack, and one it does not implement: BFCL raises, scored wrong.
        let odd = lang_call(Language::Java, json!({"s": ["x"]}), &[("s", "Set", None)], &["s"]);
        assert_eq!(
            kind(&odd, json!({"s": "x"})),
            Err("type_error:unsupported".into())
        );
        let stack = lang_call(
            Language::Java,
            json!({"s": [[1]]}),
            &[("s", "Stack", None)],
            &["s"],
        );
        assert_eq!(
            kind(&stack, json!({"s": "new Stack<>()"})),
            Err("type_error:unsupported".into())
        );
    }

    /// BFCL's choice of language from the category name.
    #[test]
    fn language_of_a_category() {
        assert_eq!(Language::of_category("simple_java"), Language::Java);
        assert_eq!(Language::of_category("simple_javascript"), Language::JavaScript);
        assert_eq!(Language::of_category("live_simple"), Language::Python);
        // Serialized only when not Python: older files read as Python.
        let acc: AcceptedCall = serde_json::from_value(json!({"arguments": {}, "params": {}})).unwrap();
        assert_eq!(acc.language, Language::Python);
        let text = serde_json::to_string(&AcceptedCall {
            language: Language::JavaScript,
            ..acc
        })
        .unwrap();
        assert!(text.contains("\"language\":\"javascript\""), "{text}");
    }

    /// `exact_strings` (a multi-turn step, executed by BFCL): BFCL's AST rules, and strings
    /// equal as written — `standardize_string`'s case and punctuation leniency is off.
    #[test]
    fn exact_strings_compare_as_written() {
        let acc = AcceptedCall {
            exact_strings: true,
            ..call(
                json!({"folder": ["Documents"], "n": [3.0], "opts": [{"mode": ["a"]}]}),
                &[
                    ("folder", "string", None),
                    ("n", "float", None),
                    ("opts", "dict", None),
                ],
                &["folder"],
            )
        };
        let args = |f: &str, m: &str| json!({"folder": f, "n": 3, "opts": {"mode": m}});
        assert_eq!(kind(&acc, args("Documents", "a")), Ok(()));
        assert_eq!(
            kind(&acc, args("documents", "a")),
            Err("value_error:exact".into())
        );
        assert_eq!(
            kind(&acc, args("Documents ", "a")),
            Err("value_error:exact".into())
        );
        assert_eq!(
            kind(&acc, args("Documents", "A")),
            Err("value_error:exact".into())
        );
        let lenient = AcceptedCall {
            exact_strings: false,
            ..acc
        };
        assert_eq!(kind(&lenient, args("documents", "A")), Ok(()));
    }
}
