//! BFCL's Java and JavaScript value converters: how BFCL's AST checker turns the *source text*
//! a model writes for a Java / JavaScript argument (`"42L"`, `"new int[]{1, 2}"`,
//! `"{'key': 'value'}"`) into a Python value before it compares it with the accepted values.
//! A port of `bfcl_eval/eval_checker/ast_eval/type_convertor/java_type_converter.py` and
//! `js_type_converter.py` (bfcl-eval 2026.3.23), regular expressions and all; each function
//! names the Python function it mirrors. A text none of a type's patterns recognise stays a
//! string, as in BFCL (its "default to string").
//!
//! Also the inverse the importer needs: [`java_source`] / [`js_source`] write a gold value as
//! the text these converters read back.
//!
//! # Named differences from BFCL
//! - Python's `\d` and `int()` accept any Unicode decimal digit; here digits are ASCII
//!   (`[0-9]`), so a number written in other scripts stays a string.
//! - A number Python reads but JSON cannot hold (an integer beyond 64 bits, `inf`, `nan`)
//!   stays a string here.
//! - Where BFCL raises (`Set`, `Hashtable`, `Queue`, `Stack`, a type not in its tables) the
//!   converter returns [`ConvertError`] and the caller scores the call wrong.

use regex::Regex;
use serde_json::{Map, Number, Value};
use std::sync::LazyLock;

/// A conversion BFCL's converter does not perform (it raises).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// `ValueError(f"Unsupported type: {expected_type}")`.
    #[error("unsupported type `{0}`")]
    Unsupported(String),
    /// `NotImplementedError` (`Set`, `Hashtable`, `Queue`, `Stack`).
    #[error("`{0}` conversion is not implemented in BFCL")]
    NotImplemented(String),
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

// Python's `$` (no MULTILINE) also matches just before a final newline: `\n?\z`.
static JAVA_INT: LazyLock<Regex> = LazyLock::new(|| re(r"^-?[0-9]+\n?\z"));
static JAVA_FLOAT: LazyLock<Regex> = LazyLock::new(|| re(r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?[fF]\n?\z"));
static JAVA_DOUBLE: LazyLock<Regex> = LazyLock::new(|| re(r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\n?\z"));
static JAVA_LONG: LazyLock<Regex> = LazyLock::new(|| re(r"^-?[0-9]+[lL]\n?\z"));
static ARRAYLIST_ASLIST: LazyLock<Regex> =
    LazyLock::new(|| re(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)"));
static ARRAYLIST_ADD: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?s)new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}"));
static ADD_CALL: LazyLock<Regex> = LazyLock::new(|| re(r"add\((.+?)\)"));
static ARRAYLIST_EMPTY: LazyLock<Regex> = LazyLock::new(|| re(r"new\s+ArrayList<\w*>\(\)"));
static JAVA_ARRAY: LazyLock<Regex> = LazyLock::new(|| re(r"new\s+\w+\[\]\s*\{(.*?)\}"));
static HASHMAP: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?s)new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}"));
static PUT_CALL: LazyLock<Regex> = LazyLock::new(|| re(r#"put\("(.*?)",\s*(.*?)\)"#));
static HASHMAP_EMPTY: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)new\s+HashMap<.*?>\s*\(\)"));
static JS_FLOAT: LazyLock<Regex> = LazyLock::new(|| re(r"^-?[0-9]+(\.[0-9]+)?\n?\z"));
static JS_BIGINT: LazyLock<Regex> = LazyLock::new(|| re(r"^-?[0-9]+n\n?\z"));
static JS_ARRAY_2D: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\))")
});
static JS_INNER_ARRAY: LazyLock<Regex> = LazyLock::new(|| re(r"\[(.*?)\]"));
static JS_ARRAY: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:\[(.*?)\]|\bnew\s+Array\((.*?)\))"));
static JS_DICT: LazyLock<Regex> = LazyLock::new(|| re(r"^\{(.*?)\}"));

/// `value[1:-1]` on a Python string (characters, empty when shorter than 2).
fn py_inner(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 2 {
        String::new()
    } else {
        chars[1..chars.len() - 1].iter().collect()
    }
}

/// Digits with single underscores between them (Python's numeric literal grammar).
fn py_digits(s: &str) -> Option<String> {
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    s.chars()
        .all(|c| c.is_ascii_digit() || c == '_')
        .then(|| s.replace('_', ""))
}

/// Python's `int(text)`: surrounding whitespace, a sign, digits (underscores between them).
pub fn py_int(text: &str) -> Option<Value> {
    let t = text.trim();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits = py_digits(rest)?;
    let n: i128 = digits.parse().ok()?;
    let n = if neg { -n } else { n };
    if let Ok(i) = i64::try_from(n) {
        Some(Value::Number(i.into()))
    } else {
        u64::try_from(n).ok().map(|u| Value::Number(u.into()))
    }
}

/// Python's `float(text)` for finite values: surrounding whitespace, a sign, digits with an
/// optional fraction and exponent (`1.`, `.5`, `1e5`, underscores between digits).
pub fn py_float(text: &str) -> Option<Value> {
    let t = text.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let part_ok = |p: &str| p.is_empty() || py_digits(p).is_some();
    if !part_ok(int_part)
        || !frac_part.is_none_or(part_ok)
        || (int_part.is_empty() && frac_part.unwrap_or("").is_empty())
    {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        py_digits(e)?;
    }
    let f: f64 = t.replace('_', "").parse().ok()?;
    Number::from_f64(f).filter(|_| f.is_finite()).map(Value::Number)
}

fn float_of(text: &str) -> Value {
    py_float(text).unwrap_or_else(|| Value::String(text.to_string()))
}

fn int_of(text: &str) -> Value {
    py_int(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// The types of BFCL's `JAVA_TYPE_CONVERSION` (`bfcl_eval/constants/type_mappings.py`).
pub const JAVA_TYPES: &[&str] = &[
    "byte",
    "short",
    "integer",
    "float",
    "double",
    "long",
    "boolean",
    "char",
    "Array",
    "ArrayList",
    "Set",
    "HashMap",
    "Hashtable",
    "Queue",
    "Stack",
    "String",
    "any",
];

/// The types of BFCL's `JS_TYPE_CONVERSION`.
pub const JS_TYPES: &[&str] = &[
    "String", "integer", "float", "Bigint", "Boolean", "dict", "array", "any",
];

/// `java_type_converter(value, expected_type, nested_type)`.
pub fn java_type_converter(value: &str, ty: &str, nested: Option<&str>) -> Result<Value, ConvertError> {
    let s = |v: &str| Value::String(v.to_string());
    Ok(match ty {
        "byte" | "short" | "integer" => {
            if JAVA_INT.is_match(value) {
                int_of(value)
            } else {
                s(value)
            }
        }
        "float" => {
            if JAVA_FLOAT.is_match(value) {
                float_of(&strip_suffix_before_newline(value, ['f', 'F']))
            } else {
                s(value)
            }
        }
        "double" => {
            if JAVA_DOUBLE.is_match(value) {
                float_of(value)
            } else {
                s(value)
            }
        }
        "long" => {
            if JAVA_LONG.is_match(value) {
                int_of(&strip_suffix_before_newline(value, ['l', 'L']))
            } else {
                s(value)
            }
        }
        "boolean" => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => s(value),
        },
        // BFCL's pattern `^\'.$\'` can never match, so a char is always the text as written.
        "char" | "String" | "any" => s(value),
        "ArrayList" => parse_arraylist(value, nested)?,
        "Array" => parse_array(value, nested)?,
        "HashMap" => parse_hashmap(value),
        "Set" | "Hashtable" | "Queue" | "Stack" => return Err(ConvertError::NotImplemented(ty.to_string())),
        other => return Err(ConvertError::Unsupported(other.to_string())),
    })
}

/// `re.sub(r"[xX]$", "", value)`: the suffix letter removed (before a final newline too).
fn strip_suffix_before_newline(value: &str, letters: [char; 2]) -> String {
    let (body, nl) = match value.strip_suffix('\n') {
        Some(b) if b.ends_with(letters) => (b, "\n"),
        _ => (value, ""),
    };
    format!("{}{nl}", body.strip_suffix(letters).unwrap_or(body))
}

/// An element of a Java collection: quotes removed for `char` / `String` items, otherwise
/// converted as its item type, or by [`parse_java_value`] when none is given.
fn java_element(text: &str, nested: Option<&str>) -> Result<Value, ConvertError> {
    match nested {
        Some("char" | "String") => Ok(Value::String(py_inner(text))),
        Some(n) if !n.is_empty() => java_type_converter(text, n, None),
        _ => Ok(parse_java_value(text)),
    }
}

/// `parse_arraylist`: `new ArrayList<>(Arrays.asList(a, b))`, `new ArrayList<>() {{ add(a); }}`
/// or `new ArrayList<>()`.
fn parse_arraylist(input: &str, nested: Option<&str>) -> Result<Value, ConvertError> {
    if let Some(c) = ARRAYLIST_ASLIST.captures(input) {
        let items = c[1]
            .split(',')
            .map(|e| java_element(e.trim(), nested))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    if let Some(c) = ARRAYLIST_ADD.captures(input) {
        let items = ADD_CALL
            .captures_iter(&c[1])
            .map(|m| java_element(m[1].trim(), nested))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    if ARRAYLIST_EMPTY.is_match(input) {
        return Ok(Value::Array(Vec::new()));
    }
    Ok(Value::String(input.to_string()))
}

/// `parse_array`: `new T[]{a, b}`; items converted as their type (quotes kept) or by
/// [`parse_java_value`].
fn parse_array(input: &str, nested: Option<&str>) -> Result<Value, ConvertError> {
    let Some(c) = JAVA_ARRAY.captures(input) else {
        return Ok(Value::String(input.to_string()));
    };
    let items = c[1]
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| match nested {
            Some(n) if !n.is_empty() => java_type_converter(x, n, None),
            _ => Ok(parse_java_value(x)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(items))
}

/// `parse_hashmap`: `new HashMap<K, V>() {{ put("k", v); }}` (values by [`parse_java_value`]).
fn parse_hashmap(input: &str) -> Value {
    if let Some(c) = HASHMAP.captures(input) {
        let mut map = Map::new();
        if !c[1].trim().is_empty() {
            for m in PUT_CALL.captures_iter(&c[1]) {
                map.insert(m[1].to_string(), parse_java_value(m[2].trim()));
            }
        }
        return Value::Object(map);
    }
    if HASHMAP_EMPTY.is_match(input) {
        return Value::Object(Map::new());
    }
    Value::String(input.to_string())
}

/// `parse_java_value`: a Java literal without a declared type.
pub fn parse_java_value(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if text.starts_with('"') && text.ends_with('"') {
        return Value::String(py_inner(text));
    }
    if JAVA_LONG.is_match(text) && !text.ends_with('\n') {
        let mut t = text.to_string();
        t.pop();
        return int_of(&t);
    }
    if JAVA_FLOAT.is_match(text) {
        return float_of(&strip_suffix_before_newline(text, ['f', 'F']));
    }
    py_int(text)
        .or_else(|| py_float(text))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// `js_type_converter(value, expected_type, nested_type)`.
pub fn js_type_converter(value: &str, ty: &str, nested: Option<&str>) -> Result<Value, ConvertError> {
    let s = |v: &str| Value::String(v.to_string());
    Ok(match ty {
        "String" => {
            if (value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\''))
            {
                Value::String(py_inner(value))
            } else {
                s(value)
            }
        }
        "integer" => {
            if JAVA_INT.is_match(value) {
                int_of(value)
            } else {
                s(value)
            }
        }
        "float" => {
            if JS_FLOAT.is_match(value) {
                float_of(value)
            } else {
                s(value)
            }
        }
        "Bigint" => {
            if JS_BIGINT.is_match(value) && !value.ends_with('\n') {
                int_of(&value[..value.len() - 1])
            } else if JS_BIGINT.is_match(value) {
                // `int(value[:-1])` on "12n\n" is int("12n"), which raises.
                return Err(ConvertError::Unsupported(format!("Bigint text {value:?}")));
            } else {
                s(value)
            }
        }
        "Boolean" => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => s(value),
        },
        "dict" => parse_js_dict(value.trim()),
        "array" => parse_js_array(value.trim(), nested),
        "any" => s(value),
        other => return Err(ConvertError::Unsupported(other.to_string())),
    })
}

/// `parse_js_collection(code, "array", nested_type)`: a 2-D array (`[[…], […]]`, items by
/// [`parse_js_value`]), or `[a, b]` / `new Array(a, b)` (items converted as their type, or by
/// [`parse_js_value`]); anything else, or a conversion that raises, stays the text.
fn parse_js_array(code: &str, nested: Option<&str>) -> Value {
    if let Some(m) = JS_ARRAY_2D.find(code) {
        let elements = JS_INNER_ARRAY
            .captures_iter(m.as_str())
            .enumerate()
            .map(|(idx, c)| {
                let inner = c[1].trim();
                let inner = if idx == 0 {
                    inner.strip_prefix('[').unwrap_or(inner)
                } else {
                    inner
                };
                Value::Array(inner.split(',').map(|e| parse_js_value(e.trim())).collect())
            })
            .collect();
        return Value::Array(elements);
    }
    let Some(c) = JS_ARRAY.captures(code) else {
        return Value::String(code.to_string());
    };
    let body = c
        .get(1)
        .or_else(|| c.get(2))
        .map(|m| m.as_str().trim())
        .unwrap_or("");
    let elements: Vec<&str> = if body.is_empty() {
        Vec::new()
    } else {
        body.split(',').collect()
    };
    match nested {
        Some(n) if !n.is_empty() => {
            let converted: Result<Vec<Value>, ConvertError> = elements
                .iter()
                .map(|e| {
                    let e = e.trim();
                    let quoted = e.starts_with('\'') || e.starts_with('"');
                    js_type_converter(e, n, quoted.then_some("String"))
                })
                .collect();
            // A bare `except:` in BFCL: a conversion that raises leaves the text.
            converted
                .map(Value::Array)
                .unwrap_or_else(|_| Value::String(code.to_string()))
        }
        _ => Value::Array(elements.iter().map(|e| parse_js_value(e.trim())).collect()),
    }
}

/// `parse_js_collection(code, "dict")`: `{}` or `{k: v, …}` (the first `{…}` of a line),
/// values by kind: `[…]` an array, `{…}` a dict, else [`parse_js_value`] of the text without
/// its quotes.
fn parse_js_dict(code: &str) -> Value {
    if code == "{}" {
        return Value::Object(Map::new());
    }
    let Some(c) = JS_DICT.captures(code) else {
        return Value::String(code.to_string());
    };
    let quote = |c: char| c == '\'' || c == '"';
    let mut map = Map::new();
    for (key, value) in js_dict_pairs(&c[1]) {
        let key = key.trim().trim_matches(quote).to_string();
        let value = value.trim();
        let v = if value.starts_with('[') && value.ends_with(']') {
            parse_js_array(value, None)
        } else if value.starts_with('{') && value.ends_with('}') {
            parse_js_dict(value)
        } else {
            parse_js_value(value.trim_matches(quote))
        };
        map.insert(key, v);
    }
    Value::Object(map)
}

/// `re.findall(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", content)`, by hand (the `regex`
/// crate has no look-ahead): at each start, the key runs to the next `:`, the value is the
/// shortest run of non-newline characters after the spaces that ends at the end of the text
/// (or before a final newline) or at a `,` whose rest up to the next `,` holds a `:` with
/// something before it.
fn js_dict_pairs(content: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = content.chars().collect();
    let n = chars.len();
    // The look-ahead `(?=[^,]+:)` at `p`: a `:` before the next `,`, not at `p` itself.
    let lookahead = |p: usize| {
        let mut i = p;
        while i < n && chars[i] != ',' {
            if chars[i] == ':' && i > p {
                return true;
            }
            i += 1;
        }
        false
    };
    let mut out = Vec::new();
    let mut pos = 0;
    'search: while pos < n {
        let start = pos;
        let Some(colon) = (start..n).find(|&i| chars[i] == ':') else {
            break;
        };
        if colon == start {
            pos += 1;
            continue;
        }
        let mut v = colon + 1;
        while v < n && chars[v].is_whitespace() {
            v += 1;
        }
        let mut e = v;
        loop {
            if e < n && chars[e] == ',' {
                let mut w = e + 1;
                while w < n && chars[w].is_whitespace() {
                    w += 1;
                }
                let end = if lookahead(w) {
                    Some(w)
                } else if w > e + 1 && lookahead(w - 1) {
                    Some(w - 1)
                } else {
                    None
                };
                if let Some(end) = end {
                    out.push((chars[start..colon].iter().collect(), chars[v..e].iter().collect()));
                    pos = end.max(start + 1);
                    continue 'search;
                }
            }
            if e == n || (e + 1 == n && chars[e] == '\n') {
                out.push((chars[start..colon].iter().collect(), chars[v..e].iter().collect()));
                pos = e.max(start + 1);
                continue 'search;
            }
            if chars[e] == '\n' {
                break;
            }
            e += 1;
        }
        pos += 1;
    }
    out
}

/// `parse_js_value`: a JavaScript literal without a declared type.
pub fn parse_js_value(text: &str) -> Value {
    let t = text.trim();
    match t {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if (t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')) {
        return Value::String(py_inner(t));
    }
    py_int(t)
        .or_else(|| py_float(t))
        .unwrap_or_else(|| Value::String(t.to_string()))
}

/// Python's `str(value)` of a JSON value (`True`, `1.0`, `['a', 1]`), for a gold value of a
/// type BFCL reads as plain text (`String`, `any`, `char`).
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_float_repr(f: f64) -> String {
    let s = format!("{f:?}");
    // Rust writes `1e21` / `1e-7`, Python `1e+21` / `1e-07`.
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Python's `repr` of a JSON value.
fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => py_float_repr(n.as_f64().unwrap_or_default()),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A gold value written as the Java source text [`java_type_converter`] reads back as that
/// value (`42` as a `long` → `"42L"`, a `String[]` → `new String[]{a, b}`: BFCL's converter
/// keeps an `Array` item's quotes, so items are written bare; an `ArrayList<any>` item is
/// text as written too, so a non-string item cannot be written: BFCL accepts no call there). A string gold of a typed
/// parameter is a variable name and is written as it is. `None` for a type BFCL cannot convert.
pub fn java_source(value: &Value, ty: &str, items: Option<&str>) -> Option<String> {
    if let Value::String(s) = value {
        return Some(s.clone());
    }
    Some(match (ty, value) {
        ("long", Value::Number(n)) if !n.is_f64() => format!("{n}L"),
        ("float", Value::Number(n)) => format!("{}f", py_float_repr(n.as_f64()?)),
        ("double", Value::Number(n)) => py_float_repr(n.as_f64()?),
        ("Array", Value::Array(xs)) => {
            let item_ty = items.unwrap_or("any");
            let parts = xs
                .iter()
                .map(|x| match item_ty {
                    "String" | "char" | "any" => Some(py_str(x)),
                    t => java_source(x, t, None),
                })
                .collect::<Option<Vec<_>>>()?;
            format!("new {}[]{{{}}}", java_array_type(item_ty), parts.join(", "))
        }
        ("ArrayList", Value::Array(xs)) => {
            let item_ty = items.unwrap_or("any");
            let parts = xs
                .iter()
                .map(|x| match (item_ty, x) {
                    ("String", _) => Some(format!("\"{}\"", py_str(x))),
                    ("char", _) => Some(format!("'{}'", py_str(x))),
                    // Converted as `any`: the text as written, so written bare.
                    ("any", _) => Some(py_str(x)),
                    (t, _) => java_source(x, t, None),
                })
                .collect::<Option<Vec<_>>>()?;
            format!("new ArrayList<>(Arrays.asList({}))", parts.join(", "))
        }
        ("HashMap", Value::Object(map)) => {
            if map.is_empty() {
                "new HashMap<>()".to_string()
            } else {
                let puts: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("put(\"{k}\", {});", java_literal(v)))
                    .collect();
                format!("new HashMap<String, Object>() {{{{ {} }}}}", puts.join(" "))
            }
        }
        (t, _) if JAVA_TYPES.contains(&t) && !matches!(t, "Set" | "Hashtable" | "Queue" | "Stack") => {
            java_literal(value)
        }
        _ => return None,
    })
}

fn java_array_type(item: &str) -> &str {
    match item {
        "integer" => "int",
        "any" => "Object",
        other => other,
    }
}

/// A JSON value as a Java literal [`parse_java_value`] reads back (strings quoted).
fn java_literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => py_float_repr(n.as_f64().unwrap_or_default()),
        other => py_str(other),
    }
}

/// A gold value written as the JavaScript source text [`js_type_converter`] reads back as
/// that value (`[1, 2]`, `{"k": "v"}`; a `String` quoted only when it is itself wrapped in
/// quotes). A string gold of a typed parameter is a variable name and is written as it is.
/// `None` for a type BFCL cannot convert.
pub fn js_source(value: &Value, ty: &str, items: Option<&str>) -> Option<String> {
    if let Value::String(s) = value {
        let wrapped = (s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\''));
        return Some(if ty == "String" && wrapped {
            format!("\"{s}\"")
        } else {
            s.clone()
        });
    }
    if !JS_TYPES.contains(&ty) {
        return None;
    }
    Some(match (ty, value) {
        ("array", Value::Array(xs)) => {
            let parts: Vec<String> = xs
                .iter()
                .map(|x| match (items, x) {
                    (Some("String") | None, Value::String(s)) => format!("\"{s}\""),
                    _ => js_literal(x),
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        _ => js_literal(value),
    })
}

/// A JSON value as a JavaScript literal.
fn js_literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            // Plain decimal (BFCL's float pattern has no exponent).
            if f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Array(xs) => format!("[{}]", xs.iter().map(js_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("\"{k}\": {}", js_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
// BFCL's own test values include 3.14 (not π).
#[allow(clippy::approx_constant)]
mod tests {
    //! BFCL's own converter tests (`test_java_type_converter`, `test_js_type_converter`,
    //! `test_js_type_converter_nested_array`, `test_js_type_converter_dictionary_with_arrays`
    //! at the end of the two Python files), copied case by case.
    use super::*;
    use serde_json::json;

    fn java(v: &str, t: &str) -> Value {
        java_type_converter(v, t, None).unwrap()
    }

    fn js(v: &str, t: &str, n: Option<&str>) -> Value {
        js_type_converter(v, t, n).unwrap()
    }

    #[test]
    fn bfcls_java_converter_tests() {
        assert_eq!(java("true", "boolean"), json!(true));
        assert_eq!(java("false", "boolean"), json!(false));
        assert_eq!(java("123", "integer"), json!(123));
        assert_eq!(java("-123", "integer"), json!(-123));
        assert_eq!(java("3.14f", "float"), json!(3.14));
        assert_eq!(java("-3.14f", "float"), json!(-3.14));
        assert_eq!(java("3.14", "double"), json!(3.14));
        assert_eq!(java("123L", "long"), json!(123));
        assert_eq!(java("-123L", "long"), json!(-123));
        assert_eq!(java("a", "char"), json!("a"));
        assert_eq!(java("abc", "String"), json!("abc"));
        assert_eq!(java("new int[]{1, 2, 3}", "Array"), json!([1, 2, 3]));
        assert_eq!(
            java(r#"new ArrayList<>(Arrays.asList("a", "b"))"#, "ArrayList"),
            json!(["a", "b"])
        );
        assert_eq!(
            java(
                r#"new HashMap<String, String>() {{ put("key", "value"); }}"#,
                "HashMap"
            ),
            json!({"key": "value"})
        );
        assert_eq!(java("3f", "float"), json!(3.0));
        assert_eq!(java("3e3F", "float"), json!(3e3));
        assert_eq!(java("3e-3F", "float"), json!(3e-3));
        assert_eq!(java("3.14e2", "double"), json!(3.14e2));
        assert_eq!(java("127", "byte"), json!(127));
        assert_eq!(java("-32768", "short"), json!(-32768));
        assert_eq!(
            java("9223372036854775807L", "long"),
            json!(9223372036854775807_i64)
        );
        assert_eq!(
            java("-9223372036854775808L", "long"),
            json!(-9223372036854775808_i64)
        );
        assert_eq!(java("123", "any"), json!("123"));
        // Empty collections.
        assert_eq!(java("new int[]{}", "Array"), json!([]));
        assert_eq!(java("new ArrayList<>()", "ArrayList"), json!([]));
        assert_eq!(java("new HashMap<>()", "HashMap"), json!({}));
        // Mixed items.
        assert_eq!(
            java(r#"new Object[]{1, "abc", true}"#, "Array"),
            json!([1, "abc", true])
        );
        assert_eq!(
            java(r#"new ArrayList<>(Arrays.asList(1, "abc", true))"#, "ArrayList"),
            json!([1, "abc", true])
        );
        assert_eq!(
            java(
                r#"new HashMap<String, Object>() {{ put("key1", 1); put("key2", "value"); put("key3", true); }}"#,
                "HashMap"
            ),
            json!({"key1": 1, "key2": "value", "key3": true})
        );
        // Invalid values default to the string (BFCL's tests expect no raise).
        assert_eq!(java("true", "integer"), json!("true"));
        assert_eq!(java("3.14", "float"), json!("3.14"));
        assert_eq!(java("3.14f", "double"), json!("3.14f"));
        assert_eq!(java("abc", "long"), json!("abc"));
        assert_eq!(java("invalid", "boolean"), json!("invalid"));
        assert_eq!(
            java_type_converter("abc", "Set", None),
            Err(ConvertError::NotImplemented("Set".into()))
        );
        assert!(java_type_converter("abc", "Stack", None).is_err());
        // Extra array and hashmap spellings.
        for a in ["new int[] {}", "new int[] { }"] {
            assert_eq!(java(a, "Array"), json!([]));
        }
        for a in ["new int[]{1,2,3}", "new int[] {1, 2, 3}", "new int[] { 1, 2, 3 }"] {
            assert_eq!(java(a, "Array"), json!([1, 2, 3]));
        }
        for h in [
            "new HashMap<>() {}",
            "new HashMap<>() {{}}",
            "new HashMap<>() {{ }}",
        ] {
            assert_eq!(java(h, "HashMap"), json!({}), "{h}");
        }
        for h in [
            r#"new HashMap<String, String>() {{put("key", "value");}}"#,
            r#"new HashMap<String, String>() { { put("key", "value"); } }"#,
        ] {
            assert_eq!(java(h, "HashMap"), json!({"key": "value"}), "{h}");
        }
        assert_eq!(
            java(
                r#"new HashMap<String, Object>() {{ put("key1", "value 1"); put("key2", "value 2"); }}"#,
                "HashMap"
            ),
            json!({"key1": "value 1", "key2": "value 2"})
        );
        // The nested-type helpers.
        let arr = |s: &str, n: &str| java_type_converter(s, "Array", Some(n)).unwrap();
        let list = |s: &str, n: Option<&str>| java_type_converter(s, "ArrayList", n).unwrap();
        assert_eq!(arr("new long[]{1L, 2L, 3L}", "long"), json!([1, 2, 3]));
        assert_eq!(arr("new long[]{1L, 2, 3L}", "long"), json!([1, "2", 3]));
        assert_eq!(arr("new long[]{1L, 2.0, 3L}", "long"), json!([1, "2.0", 3]));
        assert_eq!(
            list("new ArrayList<Integer>(Arrays.asList(1, 2, 3))", Some("integer")),
            json!([1, 2, 3])
        );
        assert_eq!(
            list(
                "new ArrayList<Float>() {{ add(1.0f); add(2.0f); add(3.0f); }}",
                Some("float")
            ),
            json!([1.0, 2.0, 3.0])
        );
        assert_eq!(
            list(
                "new ArrayList<Double>() {{ add(1.0); add(2.0); add(3.0); }}",
                Some("double")
            ),
            json!([1.0, 2.0, 3.0])
        );
        assert_eq!(
            list(
                "new ArrayList<Boolean>(Arrays.asList(true, false, true))",
                Some("boolean")
            ),
            json!([true, false, true])
        );
        assert_eq!(
            list(
                "new ArrayList<Character>() {{ add('a'); add('b'); add('c'); }}",
                Some("char")
            ),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            list(
                r#"new ArrayList<String>() {{ add("aasdasd"); add("basdasd"); add("casdasd"); }}"#,
                None
            ),
            json!(["aasdasd", "basdasd", "casdasd"])
        );
        // A String item of an Array keeps its quotes (BFCL converts it as `String`: as written).
        assert_eq!(
            arr(r#"new String[]{"a", "b"}"#, "String"),
            json!(["\"a\"", "\"b\""])
        );
    }

    #[test]
    fn bfcls_js_converter_tests() {
        assert_eq!(js("true", "Boolean", None), json!(true));
        assert_eq!(js("123", "integer", None), json!(123));
        assert_eq!(js("3.14", "float", None), json!(3.14));
        assert_eq!(js("123n", "Bigint", None), json!(123));
        assert_eq!(js("abc", "String", None), json!("abc"));
        assert_eq!(js("[1, 2, 3]", "array", None), json!([1, 2, 3]));
        assert_eq!(js("new Array(1, 2, 3)", "array", None), json!([1, 2, 3]));
        assert_eq!(js("{'key': 'value'}", "dict", None), json!({"key": "value"}));
        assert_eq!(js("{'key': 123}", "dict", None), json!({"key": 123}));
        assert_eq!(js("{'key': true}", "dict", None), json!({"key": true}));
        assert_eq!(js("[]", "array", None), json!([]));
        assert_eq!(js("{}", "dict", None), json!({}));
        assert_eq!(js("[1, 'two', true]", "array", None), json!([1, "two", true]));
        assert_eq!(
            js("{'key1': 123, 'key2': 'value', 'key3': false}", "dict", None),
            json!({"key1": 123, "key2": "value", "key3": false})
        );
        assert_eq!(js("-123", "integer", None), json!(-123));
        assert_eq!(js("-3.14", "float", None), json!(-3.14));
        assert!(js_type_converter("123", "InvalidType", None).is_err());
        // Invalid values default to the string.
        assert_eq!(js("123.45", "integer", None), json!("123.45"));
        assert_eq!(js("3.14abc", "float", None), json!("3.14abc"));
        assert_eq!(js("123", "Bigint", None), json!("123"));
        assert_eq!(js("not_a_boolean", "Boolean", None), json!("not_a_boolean"));
        // Nested arrays.
        assert_eq!(js("[1, 2, 3]", "array", Some("integer")), json!([1, 2, 3]));
        assert_eq!(
            js("new Array(4, 5, 6)", "array", Some("integer")),
            json!([4, 5, 6])
        );
        assert_eq!(
            js("[1.1, 2.2, 3.3]", "array", Some("float")),
            json!([1.1, 2.2, 3.3])
        );
        assert_eq!(
            js("new Array(4n, 5n, 6n)", "array", Some("Bigint")),
            json!([4, 5, 6])
        );
        assert_eq!(
            js("[true, false, true]", "array", Some("Boolean")),
            json!([true, false, true])
        );
        assert_eq!(
            js(r#"["hello", "world", "!"]"#, "array", Some("String")),
            json!(["hello", "world", "!"])
        );
        assert_eq!(
            js(r#"new Array("foo", "bar", "baz")"#, "array", Some("String")),
            json!(["foo", "bar", "baz"])
        );
        assert_eq!(js(r#"[1, "two", true]"#, "array", None), json!([1, "two", true]));
        assert_eq!(
            js(r#"new Array(3.14, "pi", false)"#, "array", None),
            json!([3.14, "pi", false])
        );
        assert_eq!(
            js(" [ [ 1, 2 ], [ 3,   4], [5, 6]]", "array", Some("array")),
            json!([[1, 2], [3, 4], [5, 6]])
        );
        assert_eq!(
            js("new Array([1, 2], [3, 4], [5, 6])", "array", Some("array")),
            json!([[1, 2], [3, 4], [5, 6]])
        );
        // A dictionary with arrays and bare variable names.
        let d = js(
            r#"{"initialState": initialStateObject, "reducers": reducersMap, "middlewares": ["loggerMiddleware"], "enhancers": ["applyMiddleware", "myMiddleWare"]}"#,
            "dict",
            None,
        );
        assert_eq!(d["initialState"], json!("initialStateObject"));
        assert_eq!(d["reducers"], json!("reducersMap"));
        assert_eq!(d["middlewares"], json!(["loggerMiddleware"]));
        assert_eq!(d["enhancers"], json!(["applyMiddleware", "myMiddleWare"]));
    }

    /// Python's `int()` / `float()` grammar.
    #[test]
    fn python_number_parsing() {
        assert_eq!(py_int(" +1_000 "), Some(json!(1000)));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_float("1."), Some(json!(1.0)));
        assert_eq!(py_float("-.5e1"), Some(json!(-5.0)));
        assert_eq!(py_float("."), None);
        assert_eq!(py_float("inf"), None);
        assert_eq!(py_float("1e"), None);
    }

    /// Every gold written by [`java_source`] / [`js_source`] converts back to that gold.
    #[test]
    fn sources_convert_back() {
        let cases = [
            (json!(42), "long", None),
            (json!(0.5), "double", None),
            (json!(2.0), "float", None),
            (json!(true), "boolean", None),
            (json!([101, 202]), "ArrayList", Some("long")),
            (json!(["a b", "c"]), "ArrayList", Some("String")),
            (json!([2, 7]), "Array", Some("integer")),
            (json!(["-v", "x:y"]), "Array", Some("String")),
            (json!({"limit": 50, "f": "public"}), "HashMap", None),
            (json!(["userID", "johndoe"]), "ArrayList", Some("any")),
        ];
        for (v, t, i) in cases {
            let text = java_source(&v, t, i).unwrap();
            assert_eq!(java_type_converter(&text, t, i).unwrap(), v, "{text}");
        }
        let cases = [
            (json!(4.0), "float", None),
            (json!(3), "integer", None),
            (json!(true), "Boolean", None),
            (json!(["a", "b"]), "array", Some("String")),
            (json!([60, 30]), "array", Some("float")),
            (json!({"k": "v", "n": 3}), "dict", None),
            (json!({"k": ["x"]}), "dict", None),
            (json!("'quoted'"), "String", None),
        ];
        for (v, t, i) in cases {
            let text = js_source(&v, t, i).unwrap();
            let back = js_type_converter(&text, t, i).unwrap();
            assert!(crate::accepted::py_eq(&back, &v), "{text} -> {back}");
        }
    }
}
