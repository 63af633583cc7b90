//! A parser for BFCL's Python-style call strings, e.g.
//! `mv(source='final_report.pdf', destination='temp')`, `sort('final_report.pdf')` or
//! `edit_ticket(ticket_id=0, updates={'status':'Urgent', 'priority':5})`.
//!
//! It reads the subset of Python expression syntax BFCL's ground truth uses — and nothing is
//! guessed: a dotted callee name, then positional and keyword arguments whose values are
//! string literals (single, double or triple quotes; `\n`, `\t`, `\\`, `\'`, `\"`, `\xNN`,
//! `\uNNNN`, `\UNNNNNNNN` and octal escapes; `r` prefix; implicit concatenation), integers and
//! floats (sign, exponent, `_` separators), `True` / `False` / `None`, lists, tuples, sets
//! (as JSON arrays) and dicts (string, number or boolean keys). Anything else is a
//! [`CallParseError`] with the byte offset, so the importer can report the file and line.

use serde_json::{Map, Number, Value};

/// A parsed call: the callee and its arguments in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct PyCall {
    /// Dotted name, e.g. `sort` or `math.sqrt`.
    pub name: String,
    /// Positional arguments, in order.
    pub positional: Vec<Value>,
    /// Keyword arguments, in source order.
    pub keyword: Vec<(String, Value)>,
}

impl PyCall {
    /// The arguments as one JSON object: positional argument `i` takes the name
    /// `param_order[i]` (the function's declared parameter order), keywords keep theirs.
    ///
    /// Errors when there are more positional arguments than declared parameters or when a
    /// parameter is given twice.
    pub fn arguments(&self, param_order: &[String]) -> Result<Value, String> {
        let mut map = Map::new();
        for (i, value) in self.positional.iter().enumerate() {
            let Some(param) = param_order.get(i) else {
                return Err(format!(
                    "{}: positional argument {} has no declared parameter (the function declares {})",
                    self.name,
                    i + 1,
                    param_order.len()
                ));
            };
            map.insert(param.clone(), value.clone());
        }
        for (key, value) in &self.keyword {
            if map.insert(key.clone(), value.clone()).is_some() {
                return Err(format!("{}: argument `{key}` given twice", self.name));
            }
        }
        Ok(Value::Object(map))
    }
}

/// Why a call string could not be parsed; `offset` is a byte offset into the string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct CallParseError {
    pub offset: usize,
    pub reason: String,
}

/// Parse one call string such as `cd(folder='document')`.
pub fn parse_call(text: &str) -> Result<PyCall, CallParseError> {
    let mut p = Parser {
        s: text.as_bytes(),
        src: text,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let name = p.dotted_name()?;
    p.skip_ws();
    p.expect(b'(')?;
    let mut positional = Vec::new();
    let mut keyword: Vec<(String, Value)> = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b')') {
            break;
        }
        // `name=` starts a keyword argument (but not `name==`).
        let save = p.pos;
        let mut is_keyword = false;
        if p.peek().is_some_and(is_ident_start) {
            let ident = p.identifier();
            p.skip_ws();
            if p.peek() == Some(b'=') && p.s.get(p.pos + 1) != Some(&b'=') {
                p.pos += 1;
                let value = p.value()?;
                keyword.push((ident, value));
                is_keyword = true;
            } else {
                p.pos = save;
            }
        }
        if !is_keyword {
            if !keyword.is_empty() {
                return Err(p.error("positional argument follows keyword argument"));
            }
            positional.push(p.value()?);
        }
        p.skip_ws();
        if p.eat(b',') {
            continue;
        }
        p.expect(b')')?;
        break;
    }
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.error("unexpected text after the call"));
    }
    Ok(PyCall {
        name,
        positional,
        keyword,
    })
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Deepest nesting of lists, tuples, sets and dicts accepted (BFCL's answers nest 3 deep);
/// deeper input is an error instead of a stack overflow.
const MAX_NESTING: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    /// Containers open around the current position.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: impl Into<String>) -> CallParseError {
        CallParseError {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), CallParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = self
                .peek()
                .map(|b| format!("{:?}", b as char))
                .unwrap_or_else(|| "end of text".into());
            Err(self.error(format!("expected {:?}, found {found}", c as char)))
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        self.src[start..self.pos].to_string()
    }

    fn dotted_name(&mut self) -> Result<String, CallParseError> {
        if !self.peek().is_some_and(is_ident_start) {
            return Err(self.error("expected a function name"));
        }
        let mut name = self.identifier();
        while self.peek() == Some(b'.') && self.s.get(self.pos + 1).is_some_and(|&c| is_ident_start(c)) {
            self.pos += 1;
            name.push('.');
            name.push_str(&self.identifier());
        }
        Ok(name)
    }

    /// One literal value.
    fn value(&mut self) -> Result<Value, CallParseError> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err(self.error("expected a value, found end of text"));
        };
        match c {
            b'\'' | b'"' => self.strings(),
            b'[' | b'(' | b'{' => {
                if self.depth == MAX_NESTING {
                    return Err(self.error(format!("values nested deeper than {MAX_NESTING} levels")));
                }
                self.depth += 1;
                let value = match c {
                    b'[' => {
                        self.pos += 1;
                        self.sequence(b']').map(Value::Array)
                    }
                    b'(' => {
                        self.pos += 1;
                        self.sequence(b')').map(Value::Array)
                    }
                    _ => self.dict_or_set(),
                };
                self.depth -= 1;
                value
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' => self.number(),
            c if is_ident_start(c) => {
                // A string prefix (r'..', u'..', b'..') or a constant.
                let start = self.pos;
                let ident = self.identifier();
                if self.peek().is_some_and(|q| q == b'\'' || q == b'"')
                    && matches!(ident.to_ascii_lowercase().as_str(), "r" | "u")
                {
                    self.pos = start;
                    return self.strings();
                }
                match ident.as_str() {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::Null),
                    "inf" | "nan" => {
                        self.pos = start;
                        Err(self.error(format!("non-finite number `{ident}` has no JSON form")))
                    }
                    _ => {
                        self.pos = start;
                        Err(self.error(format!("unsupported expression starting with `{ident}`")))
                    }
                }
            }
            other => Err(self.error(format!("unexpected character {:?}", other as char))),
        }
    }

    /// Comma-separated values up to `close` (trailing comma allowed).
    fn sequence(&mut self, close: u8) -> Result<Vec<Value>, CallParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value()?);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn dict_or_set(&mut self) -> Result<Value, CallParseError> {
        self.expect(b'{')?;
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(Value::Object(Map::new()));
        }
        let first = self.value()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            // A set literal: `{1, 2}`.
            let mut items = vec![first];
            if self.eat(b',') {
                items.extend(self.sequence(b'}')?);
            } else {
                self.expect(b'}')?;
            }
            return Ok(Value::Array(items));
        }
        let mut map = Map::new();
        let mut key = first;
        loop {
            let key_text = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                _ => return Err(self.error("dict key must be a string, number or boolean")),
            };
            self.skip_ws();
            self.expect(b':')?;
            let value = self.value()?;
            map.insert(key_text, value);
            self.skip_ws();
            if !self.eat(b',') {
                self.expect(b'}')?;
                return Ok(Value::Object(map));
            }
            self.skip_ws();
            if self.eat(b'}') {
                return Ok(Value::Object(map));
            }
            key = self.value()?;
        }
    }

    fn number(&mut self) -> Result<Value, CallParseError> {
        let start = self.pos;
        let negative = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        self.skip_ws();
        let digits_start = self.pos;
        let mut is_float = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'_' => self.pos += 1,
                b'.' => {
                    is_float = true;
                    self.pos += 1;
                }
                b'e' | b'E' => {
                    is_float = true;
                    self.pos += 1;
                    if matches!(self.peek(), Some(b'+' | b'-')) {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let body: String = self.src[digits_start..self.pos]
            .chars()
            .filter(|&c| c != '_')
            .collect();
        if body.is_empty() || body == "." {
            self.pos = start;
            return Err(self.error("expected a number"));
        }
        let text = if negative { format!("-{body}") } else { body };
        let bad = |p: &Self| CallParseError {
            offset: start,
            reason: format!("malformed number `{}`", &p.src[start..p.pos]),
        };
        if is_float {
            let x: f64 = text.parse().map_err(|_| bad(self))?;
            Number::from_f64(x).map(Value::Number).ok_or_else(|| bad(self))
        } else if let Ok(i) = text.parse::<i64>() {
            Ok(Value::Number(i.into()))
        } else if let Ok(u) = text.parse::<u64>() {
            Ok(Value::Number(u.into()))
        } else {
            Err(bad(self))
        }
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn strings(&mut self) -> Result<Value, CallParseError> {
        let mut out = self.string()?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let next_is_string = match self.peek() {
                Some(b'\'' | b'"') => true,
                Some(b'r' | b'R' | b'u' | b'U') => matches!(self.s.get(self.pos + 1), Some(b'\'' | b'"')),
                _ => false,
            };
            if next_is_string {
                out.push_str(&self.string()?);
            } else {
                self.pos = save;
                return Ok(Value::String(out));
            }
        }
    }

    /// One string literal with optional `r`/`u` prefix.
    fn string(&mut self) -> Result<String, CallParseError> {
        let mut raw = false;
        while let Some(c) = self.peek() {
            match c {
                b'r' | b'R' => raw = true,
                b'u' | b'U' => {}
                _ => break,
            }
            self.pos += 1;
        }
        let quote = self.peek().ok_or_else(|| self.error("expected a string"))?;
        let start = self.pos;
        let triple = self.s.get(self.pos..self.pos + 3) == Some(&[quote, quote, quote][..]);
        self.pos += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return Err(self.error("unterminated string literal"));
            };
            if c == quote {
                if !triple {
                    self.pos += 1;
                    return Ok(out);
                }
                if self.s.get(self.pos..self.pos + 3) == Some(&[quote, quote, quote][..]) {
                    self.pos += 3;
                    return Ok(out);
                }
            }
            if c == b'\n' && !triple {
                return Err(self.error("newline inside a single-quoted string"));
            }
            if c == b'\\' {
                if raw {
                    // Raw strings keep the backslash; it still protects the next quote.
                    out.push('\\');
                    self.pos += 1;
                    if let Some(next) = self.next_char() {
                        out.push(next);
                    }
                    continue;
                }
                self.pos += 1;
                self.escape(&mut out)?;
                continue;
            }
            if let Some(ch) = self.next_char() {
                out.push(ch);
            }
        }
    }

    /// The next UTF-8 character (advancing past it).
    fn next_char(&mut self) -> Option<char> {
        let ch = self.src.get(self.pos..)?.chars().next()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    /// One escape sequence after a backslash, appended to `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), CallParseError> {
        let Some(c) = self.peek() else {
            return Err(self.error("backslash at end of text"));
        };
        self.pos += 1;
        match c {
            b'\n' => {}
            b'\\' => out.push('\\'),
            b'\'' => out.push('\''),
            b'"' => out.push('"'),
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'a' => out.push('\u{7}'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'v' => out.push('\u{b}'),
            b'0'..=b'7' => {
                let start = self.pos - 1;
                while self.pos < start + 3 && matches!(self.peek(), Some(b'0'..=b'7')) {
                    self.pos += 1;
                }
                let code = u32::from_str_radix(&self.src[start..self.pos], 8)
                    .map_err(|_| self.error("bad octal escape"))?;
                out.push(char::from_u32(code).ok_or_else(|| self.error("bad octal escape"))?);
            }
            b'x' | b'u' | b'U' => {
                let len = match c {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = self
                    .src
                    .get(self.pos..self.pos + len)
                    .ok_or_else(|| self.error("short hex escape"))?;
                let code = u32::from_str_radix(hex, 16)
                    .map_err(|_| self.error(format!("bad hex escape `{hex}`")))?;
                out.push(
                    char::from_u32(code)
                        .ok_or_else(|| self.error(format!("escape `{hex}` is not a character")))?,
                );
                self.pos += len;
            }
            _ => {
                // Python keeps unknown escapes verbatim.
                out.push('\\');
                self.pos -= 1;
                if let Some(ch) = self.next_char() {
                    out.push(ch);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(text: &str) -> Value {
        let call = parse_call(text).unwrap();
        let params: Vec<String> = (0..call.positional.len()).map(|i| format!("p{i}")).collect();
        call.arguments(&params).unwrap()
    }

    // The following strings are copied from assets/bfcl-v4/possible_answer/BFCL_v4_multi_turn_*.json.

    #[test]
    fn escaped_single_quote_inside_single_quotes() {
        let c = parse_call(r"post_tweet(content='Off to Rome! Can\'t wait to explore the ancient wonders and dive into Italian cuisine!')").unwrap();
        assert_eq!(c.name, "post_tweet");
        assert_eq!(
            c.keyword,
            vec![(
                "content".into(),
                json!(
                    "Off to Rome! Can't wait to explore the ancient wonders and dive into Italian cuisine!"
                )
            )]
        );
    }

    #[test]
    fn newline_escape_and_pipes() {
        let a = args(
            r"echo(content='Student | Math | Computer Science\nAlice | 5 | 9\nBob | 10 | 7',file_name='DataSet1.csv')",
        );
        assert_eq!(
            a,
            json!({"content": "Student | Math | Computer Science\nAlice | 5 | 9\nBob | 10 | 7", "file_name": "DataSet1.csv"})
        );
    }

    #[test]
    fn escaped_double_quotes_inside_single_quotes() {
        let a = args(r#"post_tweet(content='{\"experiment\": \"Apollo Test\", \"result\": \"Success\"}')"#);
        assert_eq!(
            a,
            json!({"content": "{\"experiment\": \"Apollo Test\", \"result\": \"Success\"}"})
        );
    }

    #[test]
    fn nested_dict_argument() {
        let a = args("edit_ticket(ticket_id=0, updates={'status':'Urgent', 'priority':5})");
        assert_eq!(
            a,
            json!({"ticket_id": 0, "updates": {"status": "Urgent", "priority": 5}})
        );
    }

    #[test]
    fn positional_argument_takes_declared_name() {
        let call = parse_call("sort('final_report.pdf')").unwrap();
        assert_eq!(
            call.arguments(&["file_name".to_string()]).unwrap(),
            json!({"file_name": "final_report.pdf"})
        );
        assert!(
            call.arguments(&[]).is_err(),
            "no declared parameter for the positional argument"
        );
    }

    #[test]
    fn booleans_lists_floats() {
        let a = args("ls(a=True)");
        assert_eq!(a, json!({"a": true}));
        let a = args("mean(numbers=[1.5, 2, -3.25e2, 1_000], flag=False, other=None)");
        assert_eq!(
            a,
            json!({"numbers": [1.5, 2, -325.0, 1000], "flag": false, "other": null})
        );
    }

    #[test]
    fn synthetic_hard_cases() {
        assert_eq!(
            args(
                r#"f("a\\b", 'x' 'y', r'\d+', t=(1, 2,), s={3}, d={1: [True, {'k': -0.5}]}, u='\u00e9\x41')"#
            ),
            json!({"p0": "a\\b", "p1": "xy", "p2": "\\d+", "t": [1, 2], "s": [3], "d": {"1": [true, {"k": -0.5}]}, "u": "éA"})
        );
        assert_eq!(args("m.sub.f( x = - 4 , )"), json!({"x": -4}));
        assert_eq!(args("f('''multi\nline''')"), json!({"p0": "multi\nline"}));
        assert_eq!(args("f('ünïcödé ✓')"), json!({"p0": "ünïcödé ✓"}));
    }

    #[test]
    fn errors_have_offsets() {
        let e = parse_call("cd(folder='document')x").unwrap_err();
        assert_eq!(e.offset, 21);
        let e = parse_call("cd(folder='doc").unwrap_err();
        assert!(e.reason.contains("unterminated"), "{e}");
        assert_eq!(e.offset, 10);
        assert!(parse_call("cd(folder=os.getcwd())").is_err());
        assert!(
            parse_call("cd(a=1, 2)")
                .unwrap_err()
                .reason
                .contains("positional argument follows")
        );
        assert!(parse_call("cd(folder='a'").is_err());
        assert!(parse_call("(1)").is_err());
        assert!(parse_call("f(x=inf)").is_err());
        let dup = parse_call("f(1, p0=2)").unwrap();
        assert!(dup.arguments(&["p0".into()]).unwrap_err().contains("twice"));
    }
}
