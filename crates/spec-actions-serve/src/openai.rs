//! The OpenAI chat-completions wire format: a request checked field by field into messages
//! and tools (every error names its field as a JSON path), and a decision written back as an
//! assistant message.
//!
//! Accepted: `model` (any string), `messages` (roles `system`, `developer` (as system),
//! `user`, `assistant` with `tool_calls`, `tool` with `tool_call_id` or `name`; content a
//! string, `null` or text parts), `tools` (`{"type": "function", "function": {"name",
//! "description", "parameters"}}`, parameters a JSON schema checked recursively),
//! `tool_choice` (`"auto"`, `"none"`, `"required"` or `{"type": "function", "function":
//! {"name"}}` naming a given tool), `stream: false`, and the sampling knobs `temperature`,
//! `top_p`, `seed`, `max_tokens`, `max_completion_tokens`, `stop`, `user`, `metadata`,
//! `parallel_tool_calls`, `n: 1` — which a policy's fixed decoding ignores. Anything else is
//! an unsupported parameter (400).

use serde_json::{Value, json};
use spec_actions_core::{Action, ChatRole, FunctionCall, Message, ToolCall};

use crate::error::{Result, ServeError};
use crate::speculator::{ServedDecision, route_label};

/// Parameters accepted and ignored (the policy decodes as it was calibrated).
const IGNORED: &[&str] = &[
    "model",
    "temperature",
    "top_p",
    "seed",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "user",
    "metadata",
    "parallel_tool_calls",
    "n",
    "stream",
    "messages",
    "tools",
    "tool_choice",
];

/// Deepest JSON schema nesting accepted in tool parameters.
const MAX_SCHEMA_DEPTH: usize = 32;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    /// Tool calls are answered as text.
    None,
    Required,
    Named(String),
}

/// A checked chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Value>,
    pub tool_choice: ToolChoice,
}

fn bad(param: impl Into<String>, message: impl Into<String>) -> ServeError {
    ServeError::bad(param, message)
}

/// Parses and checks a request body.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ServeError::BadRequest {
        param: "body".into(),
        message: format!("malformed JSON: {e}"),
        code: "invalid_json",
    })?;
    let Value::Object(obj) = value else {
        return Err(bad("body", "expected a JSON object"));
    };
    for key in obj.keys() {
        if !IGNORED.contains(&key.as_str()) {
            return Err(ServeError::BadRequest {
                param: key.clone(),
                message: format!("unsupported parameter `{key}`"),
                code: "unsupported_parameter",
            });
        }
    }
    match obj.get("stream") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            return Err(ServeError::BadRequest {
                param: "stream".into(),
                message: "streaming is not supported: send `stream: false`".into(),
                code: "unsupported_parameter",
            });
        }
        Some(_) => return Err(bad("stream", "expected a boolean")),
    }
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => {
            return Err(ServeError::BadRequest {
                param: "n".into(),
                message: "only one choice (`n: 1`) is supported".into(),
                code: "unsupported_parameter",
            });
        }
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = obj.get(key)
            && !v.is_null()
            && !v.as_f64().is_some_and(f64::is_finite)
        {
            return Err(bad(key, "expected a number"));
        }
    }
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("model", "expected a string")),
    };
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => {
            for (i, t) in tools.iter().enumerate() {
                check_tool(t, &format!("tools[{i}]"))?;
            }
            tools.clone()
        }
        Some(_) => return Err(bad("tools", "expected an array of tools")),
    };
    let tool_names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
        .collect();
    let tool_choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(bad(
                    "tool_choice",
                    format!("`{other}`: expected \"auto\", \"none\", \"required\" or an object"),
                ));
            }
        },
        Some(Value::Object(o)) => {
            if o.get("type").and_then(Value::as_str) != Some("function") {
                return Err(bad("tool_choice.type", "expected \"function\""));
            }
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice.function.name", "missing"))?;
            if !tool_names.contains(&name) {
                return Err(bad(
                    "tool_choice.function.name",
                    format!("`{name}` is not one of the request's tools"),
                ));
            }
            ToolChoice::Named(name.to_string())
        }
        Some(_) => return Err(bad("tool_choice", "expected a string or an object")),
    };
    if tool_choice == ToolChoice::Required && tools.is_empty() {
        return Err(bad("tool_choice", "\"required\" needs `tools`"));
    }
    let messages = match obj.get("messages") {
        None | Some(Value::Null) => {
            return Err(ServeError::BadRequest {
                param: "messages".into(),
                message: "missing required parameter `messages`".into(),
                code: "missing_required_parameter",
            });
        }
        Some(Value::Array(m)) if m.is_empty() => {
            return Err(bad("messages", "at least one message is required"));
        }
        Some(Value::Array(m)) => parse_messages(m)?,
        Some(_) => return Err(bad("messages", "expected an array of messages")),
    };
    Ok(ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
    })
}

fn parse_messages(list: &[Value]) -> Result<Vec<Message>> {
    let mut out = Vec::with_capacity(list.len());
    // tool_call_id → function name, from earlier assistant calls
    let mut call_ids: Vec<(String, String)> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let obj = m
            .as_object()
            .ok_or_else(|| bad(&at, "expected a message object"))?;
        let role = match obj.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => ChatRole::System,
            Some("user") => ChatRole::User,
            Some("assistant") => ChatRole::Assistant,
            Some("tool") => ChatRole::Tool,
            Some(other) => {
                return Err(bad(
                    format!("{at}.role"),
                    format!("unknown role `{other}` (system, developer, user, assistant, tool)"),
                ));
            }
            None => return Err(bad(format!("{at}.role"), "missing or not a string")),
        };
        let content = content_text(obj.get("content"), &format!("{at}.content"))?;
        let mut tool_calls = Vec::new();
        match obj.get("tool_calls") {
            None | Some(Value::Null) => {}
            Some(Value::Array(calls)) if role == ChatRole::Assistant => {
                for (j, c) in calls.iter().enumerate() {
                    let cat = format!("{at}.tool_calls[{j}]");
                    let f = c
                        .get("function")
                        .ok_or_else(|| bad(format!("{cat}.function"), "missing"))?;
                    let name = f
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("{cat}.function.name"), "missing or not a string"))?;
                    let arguments = match f.get("arguments") {
                        None | Some(Value::Null) => Value::Null,
                        Some(Value::String(s)) if s.trim().is_empty() => Value::Null,
                        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|e| {
                            bad(
                                format!("{cat}.function.arguments"),
                                format!("not a JSON object: {e}"),
                            )
                        })?,
                        Some(v @ Value::Object(_)) => v.clone(),
                        Some(_) => {
                            return Err(bad(format!("{cat}.function.arguments"), "expected a JSON string"));
                        }
                    };
                    if !arguments.is_object() && !arguments.is_null() {
                        return Err(bad(format!("{cat}.function.arguments"), "expected a JSON object"));
                    }
                    if let Some(id) = c.get("id").and_then(Value::as_str) {
                        call_ids.push((id.to_string(), name.to_string()));
                    }
                    tool_calls.push(ToolCall {
                        call_type: "function".into(),
                        function: FunctionCall {
                            name: name.to_string(),
                            arguments,
                        },
                    });
                }
            }
            Some(Value::Array(_)) => {
                return Err(bad(
                    format!("{at}.tool_calls"),
                    "only assistant messages carry tool calls",
                ));
            }
            Some(_) => return Err(bad(format!("{at}.tool_calls"), "expected an array")),
        }
        let name = match role {
            ChatRole::Tool => {
                let by_id = obj
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .and_then(|id| call_ids.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()));
                by_id.or_else(|| obj.get("name").and_then(Value::as_str).map(str::to_string))
            }
            _ => None,
        };
        out.push(Message {
            role,
            content,
            tool_calls,
            name,
        });
    }
    Ok(out)
}

/// A message's content as text: a string, `null` (empty), or text parts joined.
fn content_text(content: Option<&Value>, at: &str) -> Result<String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (k, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = p
                            .get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad(format!("{at}[{k}].text"), "missing or not a string"))?;
                        text.push_str(t);
                    }
                    Some(other) => {
                        return Err(ServeError::BadRequest {
                            param: format!("{at}[{k}].type"),
                            message: format!("content part `{other}` is not supported (text only)"),
                            code: "unsupported_parameter",
                        });
                    }
                    None => return Err(bad(format!("{at}[{k}].type"), "missing")),
                }
            }
            Ok(text)
        }
        Some(_) => Err(bad(at, "expected a string, null or an array of text parts")),
    }
}

/// Checks one tool: `{"type": "function", "function": {"name", "description"?, "parameters"?}}`.
fn check_tool(tool: &Value, at: &str) -> Result<()> {
    let obj = tool
        .as_object()
        .ok_or_else(|| bad(at, "expected a tool object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("function") {
        return Err(bad(format!("{at}.type"), "expected \"function\""));
    }
    let f = obj
        .get("function")
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("{at}.function"), "missing or not an object"))?;
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{at}.function.name"), "missing or not a string"))?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(bad(
            format!("{at}.function.name"),
            format!("`{name}`: 1–64 letters, digits, `_`, `-` or `.`"),
        ));
    }
    if let Some(d) = f.get("description")
        && !d.is_string()
        && !d.is_null()
    {
        return Err(bad(format!("{at}.function.description"), "expected a string"));
    }
    match f.get("parameters") {
        None | Some(Value::Null) => Ok(()),
        Some(p) => {
            let pat = format!("{at}.function.parameters");
            if !p.is_object() {
                return Err(bad(pat, "expected a JSON schema object"));
            }
            check_schema(p, &pat, 0)
        }
    }
}

const TYPES: &[&str] = &[
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Checks a JSON schema (the subset function calling uses), recursively.
fn check_schema(schema: &Value, at: &str, depth: usize) -> Result<()> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(bad(at, format!("nested deeper than {MAX_SCHEMA_DEPTH} levels")));
    }
    let obj = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(o) => o,
        _ => return Err(bad(at, "a schema is an object (or a boolean)")),
    };
    if let Some(t) = obj.get("type") {
        let ok = |v: &Value| v.as_str().is_some_and(|s| TYPES.contains(&s));
        let fine = match t {
            Value::String(_) => ok(t),
            Value::Array(ts) => !ts.is_empty() && ts.iter().all(ok),
            _ => false,
        };
        if !fine {
            return Err(bad(
                format!("{at}.type"),
                format!("`{t}`: expected one of {TYPES:?} or an array of them"),
            ));
        }
    }
    if let Some(props) = obj.get("properties") {
        let props = props
            .as_object()
            .ok_or_else(|| bad(format!("{at}.properties"), "expected an object of schemas"))?;
        for (k, s) in props {
            check_schema(s, &format!("{at}.properties.{k}"), depth + 1)?;
        }
    }
    if let Some(req) = obj.get("required") {
        let list = req
            .as_array()
            .ok_or_else(|| bad(format!("{at}.required"), "expected an array of property names"))?;
        for (i, r) in list.iter().enumerate() {
            let name = r
                .as_str()
                .ok_or_else(|| bad(format!("{at}.required[{i}]"), "expected a string"))?;
            let declared = obj
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key(name));
            if !declared {
                return Err(bad(
                    format!("{at}.required[{i}]"),
                    format!("`{name}` is not a declared property"),
                ));
            }
        }
    }
    if let Some(items) = obj.get("items") {
        match items {
            Value::Array(list) => {
                for (i, s) in list.iter().enumerate() {
                    check_schema(s, &format!("{at}.items[{i}]"), depth + 1)?;
                }
            }
            s => check_schema(s, &format!("{at}.items"), depth + 1)?,
        }
    }
    if let Some(e) = obj.get("enum")
        && !e.is_array()
    {
        return Err(bad(format!("{at}.enum"), "expected an array"));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = obj.get(key) {
            let list = list
                .as_array()
                .ok_or_else(|| bad(format!("{at}.{key}"), "expected an array of schemas"))?;
            for (i, s) in list.iter().enumerate() {
                check_schema(s, &format!("{at}.{key}[{i}]"), depth + 1)?;
            }
        }
    }
    if let Some(ap) = obj.get("additionalProperties")
        && !ap.is_boolean()
    {
        check_schema(ap, &format!("{at}.additionalProperties"), depth + 1)?;
    }
    Ok(())
}

/// The OpenAI error body of `e`.
pub fn error_body(e: &ServeError) -> Value {
    let (kind, param, code) = match e {
        ServeError::BadRequest { param, code, .. } => ("invalid_request_error", Some(param.clone()), *code),
        ServeError::TooLarge { .. } => ("invalid_request_error", Some("body".into()), "request_too_large"),
        ServeError::Overloaded { .. } => ("server_busy", None, "queue_full"),
        ServeError::ShuttingDown => ("server_busy", None, "shutting_down"),
        _ => ("server_error", None, "model_error"),
    };
    json!({"error": {"message": e.to_string(), "type": kind, "param": param, "code": code}})
}

/// The call id of a served tool call (stable for a decision).
fn call_id(example_id: &str) -> String {
    format!("call_{}", example_id.trim_start_matches("serve:"))
}

/// The chat-completion answer of `d`: `tool_calls` for an action naming a function (unless
/// `tool_choice` is `none`), its model text otherwise; `model` names the model whose output
/// was committed; `usage` counts every call's tokens; `spec` carries the decision.
pub fn completion_body(d: &ServedDecision, choice: &ToolChoice, created: u64) -> Value {
    let id = &d.logged.record.example_id;
    let (message, finish) = match &d.action {
        Some(Action {
            name: Some(name),
            arguments,
            ..
        }) if *choice != ToolChoice::None => {
            let args = if arguments.is_null() {
                "{}".to_string()
            } else {
                arguments.to_string()
            };
            (
                json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": call_id(id), "type": "function",
                    "function": {"name": name, "arguments": args}}]}),
                "tool_calls",
            )
        }
        Some(a) => (json!({"role": "assistant", "content": a.to_model_text()}), "stop"),
        None => (
            json!({"role": "assistant", "content": d.raw.clone().unwrap_or_default()}),
            "stop",
        ),
    };
    let l = &d.ledger;
    json!({
        "id": format!("chatcmpl-{}", id.trim_start_matches("serve:")),
        "object": "chat.completion",
        "created": created,
        "model": d.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": l.prefill_tokens,
            "completion_tokens": l.decode_tokens,
            "total_tokens": l.prefill_tokens + l.decode_tokens,
        },
        "spec": {
            "config": d.config,
            "route": route_label(&d.route),
            "gate_score": d.gate_score,
            "cost": l.nominal,
            "strong_only_cost": l.strong_only_nominal,
            "calls": l.calls,
            "wall_ms": l.wall_ms,
            "models": l.models,
            "kind": d.action.as_ref().map(|a| a.kind),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_the_conversation_it_describes() {
        let body = json!({
            "model": "any",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
                {"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c7", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "c7", "content": "18 C"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                    "days": {"type": ["integer", "null"]}, "opts": {"type": "object",
                    "properties": {"units": {"enum": ["c", "f"]}}}}, "required": ["city"]}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "stream": false, "temperature": 0.1
        });
        let r = parse_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.model.as_deref(), Some("any"));
        assert_eq!(r.messages.len(), 4);
        assert_eq!(r.messages[0].role, ChatRole::System);
        assert_eq!(r.messages[0].content, "be brief");
        assert_eq!(r.messages[2].tool_calls[0].function.name, "get_weather");
        assert_eq!(
            r.messages[2].tool_calls[0].function.arguments,
            json!({"city": "Paris"})
        );
        // the tool message is named after the call it answers
        assert_eq!(r.messages[3].name.as_deref(), Some("get_weather"));
        assert_eq!(r.tool_choice, ToolChoice::Named("get_weather".into()));
        assert_eq!(r.tools.len(), 1);
    }

    #[test]
    fn schema_errors_name_the_nested_field() {
        let with = |params: Value| {
            let body = json!({"messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": params}}]});
            match parse_request(body.to_string().as_bytes()) {
                Err(ServeError::BadRequest { param, .. }) => param,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            with(
                json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "text"}]}}})
            ),
            "tools[0].function.parameters.properties.a.anyOf[1].type"
        );
        assert_eq!(
            with(json!({"type": "object", "properties": {"a": {"type": "array", "items": "string"}}})),
            "tools[0].function.parameters.properties.a.items"
        );
        assert_eq!(
            with(json!({"type": "object", "properties": []})),
            "tools[0].function.parameters.properties"
        );
        // nested deeper than the limit
        let mut deep = json!({"type": "string"});
        for _ in 0..40 {
            deep = json!({"type": "array", "items": deep});
        }
        assert!(with(deep).starts_with("tools[0].function.parameters.items"));
    }
}
