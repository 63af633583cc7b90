//! Python's `json.dumps` over minijinja values — what HF's `tojson` filter writes
//! (`json.dumps(x, ensure_ascii=False)` by default: separators `", "` and `": "`, key order
//! kept, no HTML escaping, Python's float `repr`), with HF's arguments `ensure_ascii`,
//! `indent`, `separators` and `sort_keys`.

use std::collections::BTreeMap;

use minijinja::value::{Rest, ValueKind};
use minijinja::{ErrorKind, Value as JinjaValue};

/// HF's `tojson` filter: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, with its arguments positional or by keyword.
pub(super) fn python_tojson(
    value: &JinjaValue,
    args: Rest<JinjaValue>,
) -> Result<JinjaValue, minijinja::Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    let mut given: BTreeMap<&str, JinjaValue> = BTreeMap::new();
    let mut positional = 0;
    for arg in args.iter() {
        if arg.is_kwargs() {
            for key in arg.try_iter()? {
                let name = key.as_str().unwrap_or_default().to_string();
                let Some(slot) = NAMES.iter().find(|n| **n == name) else {
                    return Err(invalid(format!(
                        "tojson() got an unexpected keyword argument '{name}'"
                    )));
                };
                given.insert(slot, arg.get_item(&key)?);
            }
        } else {
            let Some(slot) = NAMES.get(positional) else {
                return Err(invalid("tojson() takes at most 4 arguments".to_string()));
            };
            given.insert(slot, arg.clone());
            positional += 1;
        }
    }
    let flag = |name: &str| given.get(name).is_some_and(JinjaValue::is_true);
    let indent = match given.get("indent") {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or_default().to_string()),
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(usize::try_from(n).unwrap_or(0))),
            None => {
                return Err(invalid(format!(
                    "tojson(): indent must be an int or a string, found {v}"
                )));
            }
        },
    };
    let (item_separator, key_separator) = match given.get("separators") {
        Some(v) if !v.is_none() && !v.is_undefined() => {
            let parts: Vec<JinjaValue> = v.try_iter()?.collect();
            match parts.as_slice() {
                [item, key] if item.as_str().is_some() && key.as_str().is_some() => (
                    item.as_str().unwrap_or_default().to_string(),
                    key.as_str().unwrap_or_default().to_string(),
                ),
                _ => {
                    return Err(invalid(
                        "tojson(): separators must be a pair of strings".to_string(),
                    ));
                }
            }
        }
        // json.dumps: (', ', ': ') without indent, (',', ': ') with it.
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let dumper = PythonJsonDumper {
        ensure_ascii: flag("ensure_ascii"),
        sort_keys: flag("sort_keys"),
        indent,
        item_separator,
        key_separator,
    };
    let mut out = String::new();
    dumper.write(&mut out, value, 0)?;
    Ok(JinjaValue::from_safe_string(out))
}

fn invalid(message: String) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, message)
}

/// Python's `json.dumps` over minijinja values.
struct PythonJsonDumper {
    ensure_ascii: bool,
    sort_keys: bool,
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
}

impl PythonJsonDumper {
    fn write(&self, out: &mut String, value: &JinjaValue, depth: usize) -> Result<(), minijinja::Error> {
        match value.kind() {
            ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
            ValueKind::Number => {
                let x = f64::try_from(value.clone())?;
                out.push_str(&python_float_repr(x));
            }
            ValueKind::String => self.write_string(out, value.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<JinjaValue> = value.try_iter()?.collect();
                self.write_container(out, ('[', ']'), depth, &items, |out, item| {
                    self.write(out, item, depth + 1)
                })?;
            }
            ValueKind::Map => {
                let mut entries = Vec::new();
                for key in value.try_iter()? {
                    let item = value.get_item(&key)?;
                    entries.push((python_json_key(&key)?, item));
                }
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                self.write_container(out, ('{', '}'), depth, &entries, |out, (key, item)| {
                    self.write_string(out, key);
                    out.push_str(&self.key_separator);
                    self.write(out, item, depth + 1)
                })?;
            }
            _ => {
                return Err(invalid(format!(
                    "Object of type {} is not JSON serializable",
                    value.kind()
                )));
            }
        }
        Ok(())
    }

    fn write_container<T>(
        &self,
        out: &mut String,
        (open, close): (char, char),
        depth: usize,
        items: &[T],
        mut write_item: impl FnMut(&mut String, &T) -> Result<(), minijinja::Error>,
    ) -> Result<(), minijinja::Error> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        let newline = |out: &mut String, level: usize| {
            if let Some(indent) = &self.indent {
                out.push('\n');
                for _ in 0..level {
                    out.push_str(indent);
                }
            }
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.item_separator);
            }
            newline(out, depth + 1);
            write_item(out, item)?;
        }
        newline(out, depth);
        out.push(close);
        Ok(())
    }

    /// Python's string escaping: `"` `\` and control characters; non-ASCII kept unless
    /// `ensure_ascii` (then `\uXXXX`, surrogate pairs above U+FFFF).
    fn write_string(&self, out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if self.ensure_ascii && !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// Python's conversion of a dict key for JSON: strings as they are, numbers, booleans and
/// None spelled as JSON.
fn python_json_key(key: &JinjaValue) -> Result<String, minijinja::Error> {
    Ok(match key.kind() {
        ValueKind::String => key.as_str().unwrap_or_default().to_string(),
        ValueKind::None => "null".to_string(),
        ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).to_string(),
        ValueKind::Number if key.is_integer() => key.to_string(),
        ValueKind::Number => python_float_repr(f64::try_from(key.clone())?),
        other => {
            return Err(invalid(format!(
                "keys must be str, int, float, bool or None, not {other}"
            )));
        }
    })
}

/// Python's `repr(float)` as `json.dumps` writes it: the shortest round-trip digits, fixed
/// notation for decimal exponents in [-4, 16), else `d.ddde+XX`; `NaN`, `Infinity`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e-5", "1e16", "0e0".
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            let (int_part, frac_part) = if digits.len() > int_len {
                (digits[..int_len].to_string(), digits[int_len..].to_string())
            } else {
                (format!("{digits:0<int_len$}"), "0".to_string())
            };
            format!("{sign}{int_part}.{frac_part}")
        } else {
            let zeros = "0".repeat((-exponent - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // Values from CPython 3.11 `repr(float(...))` (checked with /work/venv/bin/python).
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (123.456, "123.456"),
            (-2.5e100, "-2.5e+100"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (x, expected) in cases {
            assert_eq!(python_float_repr(x), expected, "repr({x:e})");
        }
    }
}
