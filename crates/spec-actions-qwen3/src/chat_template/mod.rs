//! The chat template of a checkpoint, rendered as HF transformers renders it.
//!
//! The template is the `chat_template` string of `tokenizer_config.json` (or the folder's
//! `chat_template.jinja`), never a hand-typed imitation. It runs on minijinja configured like
//! HF's `ImmutableSandboxedEnvironment`:
//!
//! - `trim_blocks = true`, `lstrip_blocks = true`, trailing newline of the template dropped
//!   (Jinja's default `keep_trailing_newline = false`), `{% break %}`/`{% continue %}` enabled
//!   (HF loads `jinja2.ext.loopcontrols`);
//! - Python string/dict methods (`.startswith`, `.split`, `.strip('\n')`, `.items()`, …) through
//!   minijinja-contrib's pycompat callback;
//! - `raise_exception(msg)` fails the render with `msg`;
//! - `tojson` is HF's override, Python's `json.dumps(x, ensure_ascii=False)`: separators `", "`
//!   and `": "`, key order kept, no HTML escaping (minijinja's own `tojson` is compact and
//!   escapes `<>&'`, which would change every tool description). It accepts HF's arguments
//!   `ensure_ascii`, `indent`, `separators`, `sort_keys`;
//! - the context holds `messages`, `tools` (`none` when absent), `documents` (`none`),
//!   `add_generation_prompt`, the special tokens of `tokenizer_config.json` (`bos_token`,
//!   `eos_token`, `pad_token`, `unk_token`) and extra keyword arguments such as
//!   `enable_thinking` — HF's `{**special_tokens_map, **kwargs}`.
//!
//! Not supported: `strftime_now` (no Qwen template uses it), `continue_final_message`,
//! `{% generation %}` blocks.
//!
//! ```
//! use serde_json::json;
//! use spec_actions_qwen3::chat_template::{ChatTemplate, RenderOptions};
//! use spec_actions_qwen3::tokenizer::Qwen3Tokenizer;
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/qwen3-tokenizer");
//! let template = ChatTemplate::from_dir(dir)?;
//! let tokenizer = Qwen3Tokenizer::from_dir(dir)?;
//! let messages = [json!({"role": "user", "content": "Hi"})];
//! let options = RenderOptions { add_generation_prompt: true, enable_thinking: Some(false), ..Default::default() };
//! let rendered = template.render_and_encode(&tokenizer, &messages, None, &options)?;
//! assert!(rendered.text.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
//! # Ok::<(), spec_actions_qwen3::chat_template::ChatTemplateError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, ErrorKind, Value as JinjaValue};
use serde_json::Value;
use spec_actions_core::Message;

use crate::tokenizer::{Qwen3Tokenizer, TOKENIZER_CONFIG_FILE, TokenizerConfig, TokenizerError};

mod python_json;

pub use python_json::python_float_repr;
use python_json::python_tojson;

/// File name of a chat template saved next to the tokenizer (transformers ≥ 4.43).
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// Name under which a single-string template is registered (HF's name for it).
const DEFAULT_TEMPLATE: &str = "default";
/// HF picks this named template when tools are given and the config defines it.
const TOOL_USE_TEMPLATE: &str = "tool_use";

/// Everything that can go wrong loading or rendering a chat template.
#[derive(Debug, thiserror::Error)]
pub enum ChatTemplateError {
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no chat template: {config} has no `chat_template` field and {jinja} does not exist")]
    MissingTemplate { config: PathBuf, jinja: PathBuf },
    #[error("{origin}: field `chat_template`: {message}")]
    TemplateField { origin: String, message: String },
    #[error("{origin}: chat template `{name}` does not parse: {detail}")]
    Syntax {
        origin: String,
        name: String,
        detail: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("{origin}: rendering chat template `{name}` failed: {detail}")]
    Render {
        origin: String,
        name: String,
        detail: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("messages cannot be converted to JSON: {source}")]
    Messages {
        #[source]
        source: serde_json::Error,
    },
    #[error("the last message must be the assistant's answer, found {found}")]
    NoAnswer { found: String },
    #[error(
        "the prompt rendering is not a prefix of the full conversation: they differ at byte \
         {position} (prompt …{prompt_context:?}, conversation …{full_context:?})"
    )]
    PromptNotPrefix {
        position: usize,
        prompt_context: String,
        full_context: String,
    },
    #[error(
        "the prompt's token ids are not a prefix of the conversation's: they differ at token {position} \
         (prompt id {prompt_id:?}, conversation id {full_id:?})"
    )]
    PromptTokensNotPrefix {
        position: usize,
        prompt_id: Option<u32>,
        full_id: Option<u32>,
    },
}

/// Per-render settings beyond messages and tools.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderOptions {
    /// Append the opening of an assistant turn (`<|im_start|>assistant\n`, plus an empty think
    /// block when thinking is off).
    pub add_generation_prompt: bool,
    /// Qwen3's `enable_thinking`; `None` leaves it undefined (the template then thinks).
    pub enable_thinking: Option<bool>,
    /// Further template variables (HF's `**kwargs` of `apply_chat_template`); they override
    /// the special-token variables of the same name.
    pub extra: serde_json::Map<String, Value>,
}

/// A rendered conversation and its token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChat {
    pub text: String,
    pub ids: Vec<u32>,
}

/// A conversation ending in an assistant answer, with where the answer starts — what SFT
/// label masking needs: `ids[..prompt_tokens]` is the prompt (label -100), `ids[prompt_tokens..]`
/// the answer including its closing `<|im_end|>\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptAndAnswer {
    /// The full conversation rendered with `add_generation_prompt = false`.
    pub text: String,
    /// Its token ids.
    pub ids: Vec<u32>,
    /// Byte length of the prompt (all but the last message, `add_generation_prompt = true`).
    pub prompt_bytes: usize,
    /// Token length of the prompt; `ids[..prompt_tokens]` are exactly the prompt's own ids.
    pub prompt_tokens: usize,
}

impl PromptAndAnswer {
    /// The answer's text.
    pub fn answer_text(&self) -> &str {
        &self.text[self.prompt_bytes..]
    }

    /// The answer's token ids.
    pub fn answer_ids(&self) -> &[u32] {
        &self.ids[self.prompt_tokens..]
    }
}

/// A compiled chat template plus the special-token variables HF passes to it.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Where the template came from, for error messages.
    origin: String,
    /// `bos_token`, `eos_token`, `pad_token`, `unk_token` (`none` when unset).
    special_tokens: BTreeMap<String, JinjaValue>,
}

impl ChatTemplate {
    /// The template of a tokenizer folder: `chat_template` of `tokenizer_config.json`, else
    /// `chat_template.jinja`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, ChatTemplateError> {
        let dir = dir.as_ref();
        let config = TokenizerConfig::from_file(dir.join(TOKENIZER_CONFIG_FILE))?;
        if config.chat_template.is_some() {
            return Self::from_config(&config);
        }
        let jinja = dir.join(CHAT_TEMPLATE_FILE);
        if !jinja.exists() {
            return Err(ChatTemplateError::MissingTemplate {
                config: config.path,
                jinja,
            });
        }
        let source = std::fs::read_to_string(&jinja).map_err(|source| ChatTemplateError::Io {
            path: jinja.clone(),
            source,
        })?;
        Self::build(
            &[(DEFAULT_TEMPLATE.to_string(), source)],
            jinja.display().to_string(),
            Some(&config),
        )
    }

    /// The template of a parsed `tokenizer_config.json`: a string, or HF's list of
    /// `{"name": …, "template": …}`.
    pub fn from_config(config: &TokenizerConfig) -> Result<Self, ChatTemplateError> {
        let origin = config.path.display().to_string();
        let field_error = |message: String| ChatTemplateError::TemplateField {
            origin: origin.clone(),
            message,
        };
        let templates = match &config.chat_template {
            None => {
                return Err(ChatTemplateError::MissingTemplate {
                    config: config.path.clone(),
                    jinja: config.path.with_file_name(CHAT_TEMPLATE_FILE),
                });
            }
            Some(Value::String(source)) => vec![(DEFAULT_TEMPLATE.to_string(), source.clone())],
            Some(Value::Array(items)) => {
                let mut templates = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let name = item.get("name").and_then(Value::as_str);
                    let source = item.get("template").and_then(Value::as_str);
                    match (name, source) {
                        (Some(name), Some(source)) => templates.push((name.to_string(), source.to_string())),
                        _ => {
                            return Err(field_error(format!(
                                "item {i} lacks a string `name` or `template`"
                            )));
                        }
                    }
                }
                templates
            }
            Some(other) => return Err(field_error(format!("expected a string or a list, found {other}"))),
        };
        Self::build(&templates, origin, Some(config))
    }

    /// A template from its source text, with no special-token variables.
    pub fn from_source(source: &str) -> Result<Self, ChatTemplateError> {
        Self::build(
            &[(DEFAULT_TEMPLATE.to_string(), source.to_string())],
            "<template string>".into(),
            None,
        )
    }

    fn build(
        templates: &[(String, String)],
        origin: String,
        config: Option<&TokenizerConfig>,
    ) -> Result<Self, ChatTemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", python_tojson);
        env.add_function("raise_exception", raise_exception);
        for (name, source) in templates {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|source| ChatTemplateError::Syntax {
                    origin: origin.clone(),
                    name: name.clone(),
                    detail: format!("{source:#}"),
                    source,
                })?;
        }
        let token = |t: Option<&String>| t.map_or(JinjaValue::from(()), |s| JinjaValue::from(s.as_str()));
        let special_tokens = BTreeMap::from([
            (
                "bos_token".to_string(),
                token(config.and_then(|c| c.bos_token.as_ref())),
            ),
            (
                "eos_token".to_string(),
                token(config.and_then(|c| c.eos_token.as_ref())),
            ),
            (
                "pad_token".to_string(),
                token(config.and_then(|c| c.pad_token.as_ref())),
            ),
            (
                "unk_token".to_string(),
                token(config.and_then(|c| c.unk_token.as_ref())),
            ),
        ]);
        Ok(ChatTemplate {
            env,
            origin,
            special_tokens,
        })
    }

    /// Renders HF-format messages (`{"role", "content", "tool_calls"?, "reasoning_content"?}`)
    /// and tool schemas (`{"type": "function", "function": {…}}`).
    pub fn render(
        &self,
        messages: &[Value],
        tools: Option<&[Value]>,
        options: &RenderOptions,
    ) -> Result<String, ChatTemplateError> {
        let name = self.template_name(tools.is_some());
        let template = self
            .env
            .get_template(name)
            .map_err(|source| self.render_error(name, source))?;

        // HF: render(messages=…, tools=…, documents=None, add_generation_prompt=…,
        //            **special_tokens_map, **kwargs)
        let mut context: BTreeMap<String, JinjaValue> = self.special_tokens.clone();
        context.insert("messages".into(), JinjaValue::from_serialize(messages));
        context.insert(
            "tools".into(),
            tools.map_or(JinjaValue::from(()), JinjaValue::from_serialize),
        );
        context.insert("documents".into(), JinjaValue::from(()));
        context.insert(
            "add_generation_prompt".into(),
            JinjaValue::from(options.add_generation_prompt),
        );
        if let Some(enable_thinking) = options.enable_thinking {
            context.insert("enable_thinking".into(), JinjaValue::from(enable_thinking));
        }
        for (key, value) in &options.extra {
            context.insert(key.clone(), JinjaValue::from_serialize(value));
        }
        template
            .render(context)
            .map_err(|source| self.render_error(name, source))
    }

    /// [`render`](Self::render) for the workspace's [`Message`] type (serialised to the HF
    /// format first).
    pub fn render_messages(
        &self,
        messages: &[Message],
        tools: Option<&[Value]>,
        options: &RenderOptions,
    ) -> Result<String, ChatTemplateError> {
        self.render(&messages_to_json(messages)?, tools, options)
    }

    /// Renders and tokenizes, as `apply_chat_template(tokenize=True)` does (no special tokens
    /// added beyond what the template writes).
    pub fn render_and_encode(
        &self,
        tokenizer: &Qwen3Tokenizer,
        messages: &[Value],
        tools: Option<&[Value]>,
        options: &RenderOptions,
    ) -> Result<RenderedChat, ChatTemplateError> {
        let text = self.render(messages, tools, options)?;
        let ids = tokenizer.encode(&text)?;
        Ok(RenderedChat { text, ids })
    }

    /// Splits a conversation that ends in an assistant answer into prompt and answer.
    ///
    /// The prompt is every message but the last, rendered with `add_generation_prompt = true`
    /// (what the model sees at inference); the conversation is everything, rendered with
    /// `add_generation_prompt = false` (what training sees). Both the text and the token ids of
    /// the prompt must be a prefix of the conversation's — otherwise training and inference
    /// formats disagree, and this is an error rather than a silent mismatch. For Qwen3 this
    /// holds with `enable_thinking = false` (the generation prompt writes the empty think
    /// block that the template also writes into the last assistant turn) and with thinking on.
    /// `options.add_generation_prompt` is ignored.
    pub fn split_prompt_answer(
        &self,
        tokenizer: &Qwen3Tokenizer,
        messages: &[Value],
        tools: Option<&[Value]>,
        options: &RenderOptions,
    ) -> Result<PromptAndAnswer, ChatTemplateError> {
        let (last, context) = match messages.split_last() {
            Some(split) => split,
            None => {
                return Err(ChatTemplateError::NoAnswer {
                    found: "no messages".into(),
                });
            }
        };
        let role = last.get("role").and_then(Value::as_str);
        if role != Some("assistant") {
            let found = role.map_or("a message without a string role".to_string(), |r| {
                format!("role {r:?}")
            });
            return Err(ChatTemplateError::NoAnswer { found });
        }
        let prompt_options = RenderOptions {
            add_generation_prompt: true,
            ..options.clone()
        };
        let full_options = RenderOptions {
            add_generation_prompt: false,
            ..options.clone()
        };
        let prompt = self.render(context, tools, &prompt_options)?;
        let text = self.render(messages, tools, &full_options)?;
        split_rendered(prompt, text, |t| tokenizer.encode(t))
    }

    /// [`split_prompt_answer`](Self::split_prompt_answer) for the workspace's [`Message`] type.
    pub fn split_prompt_answer_messages(
        &self,
        tokenizer: &Qwen3Tokenizer,
        messages: &[Message],
        tools: Option<&[Value]>,
        options: &RenderOptions,
    ) -> Result<PromptAndAnswer, ChatTemplateError> {
        self.split_prompt_answer(tokenizer, &messages_to_json(messages)?, tools, options)
    }

    /// Where the template came from (file path or `<template string>`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// HF's choice among named templates: `tool_use` when tools are given and it exists,
    /// else `default`, else the only one.
    fn template_name(&self, has_tools: bool) -> &str {
        let names: Vec<&str> = self.env.templates().map(|(name, _)| name).collect();
        if has_tools && names.contains(&TOOL_USE_TEMPLATE) {
            TOOL_USE_TEMPLATE
        } else if names.contains(&DEFAULT_TEMPLATE) || names.len() != 1 {
            DEFAULT_TEMPLATE
        } else {
            names[0]
        }
    }

    fn render_error(&self, name: &str, source: minijinja::Error) -> ChatTemplateError {
        ChatTemplateError::Render {
            origin: self.origin.clone(),
            name: name.to_string(),
            detail: format!("{source:#}"),
            source,
        }
    }
}

/// Serialises workspace messages into HF's message dictionaries.
pub fn messages_to_json(messages: &[Message]) -> Result<Vec<Value>, ChatTemplateError> {
    messages
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|source| ChatTemplateError::Messages { source })
}

/// Index of the first element where `a` and `b` differ (the shorter length when one is a
/// prefix of the other).
pub fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Up to 40 bytes of `text` either side of `position`, cut at char boundaries.
pub fn context_around(text: &str, position: usize) -> String {
    let mut start = position.saturating_sub(40).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (position + 40).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    text[start..end].to_string()
}

/// HF's `raise_exception(message)` global: fails the render with the template's message.
fn raise_exception(message: String) -> Result<JinjaValue, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("raise_exception: {message}"),
    ))
}

/// Steps shared by every prompt/answer split, whatever renders and encodes: the rendered prompt
/// must be a prefix of the rendered conversation, in text and then in the token ids of
/// `encode` (a BPE merge across the boundary would break the second).
pub(crate) fn split_rendered(
    prompt: String,
    text: String,
    encode: impl Fn(&str) -> Result<Vec<u32>, TokenizerError>,
) -> Result<PromptAndAnswer, ChatTemplateError> {
    // 1. The text of the prompt is a prefix of the conversation.
    if !text.starts_with(&prompt) {
        let position = first_difference(prompt.as_bytes(), text.as_bytes());
        return Err(ChatTemplateError::PromptNotPrefix {
            position,
            prompt_context: context_around(&prompt, position),
            full_context: context_around(&text, position),
        });
    }
    // 2. So are its token ids.
    let prompt_ids = encode(&prompt)?;
    let ids = encode(&text)?;
    if !ids.starts_with(&prompt_ids) {
        let position = first_difference(&prompt_ids, &ids);
        return Err(ChatTemplateError::PromptTokensNotPrefix {
            position,
            prompt_id: prompt_ids.get(position).copied(),
            full_id: ids.get(position).copied(),
        });
    }
    Ok(PromptAndAnswer {
        prompt_bytes: prompt.len(),
        prompt_tokens: prompt_ids.len(),
        text,
        ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tojson_matches_json_dumps() {
        // Expected strings from CPython 3.11 json.dumps(x, ensure_ascii=False, …) with the
        // given arguments, as HF's tojson calls it.
        let template = ChatTemplate::from_source(concat!(
            "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ x | tojson(sort_keys=true) }}|",
            "{{ x | tojson(separators=(',', ':')) }}|{{ x | tojson(ensure_ascii=true) }}"
        ))
        .unwrap();
        let x = serde_json::json!({"b": [1, 2.5, null, true], "a": "<é\"\n😀>", "e": {}, "f": []});
        let options = RenderOptions {
            extra: [("x".to_string(), x)].into_iter().collect(),
            ..Default::default()
        };
        let out = template.render(&[], None, &options).unwrap();
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(
            parts[0],
            r#"{"b": [1, 2.5, null, true], "a": "<é\"\n😀>", "e": {}, "f": []}"#
        );
        assert_eq!(
            parts[1],
            "{\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"a\": \"<é\\\"\\n😀>\",\n  \"e\": {},\n  \"f\": []\n}"
        );
        assert_eq!(
            parts[2],
            r#"{"a": "<é\"\n😀>", "b": [1, 2.5, null, true], "e": {}, "f": []}"#
        );
        assert_eq!(
            parts[3],
            r#"{"b":[1,2.5,null,true],"a":"<é\"\n😀>","e":{},"f":[]}"#
        );
        assert_eq!(
            parts[4],
            r#"{"b": [1, 2.5, null, true], "a": "<\u00e9\"\n\ud83d\ude00>", "e": {}, "f": []}"#
        );
    }

    #[test]
    fn raise_exception_fails_the_render_with_its_message() {
        let template = ChatTemplate::from_source("{{ raise_exception('only user and assistant') }}").unwrap();
        let err = template.render(&[], None, &RenderOptions::default()).unwrap_err();
        assert!(matches!(err, ChatTemplateError::Render { .. }));
        assert!(err.to_string().contains("only user and assistant"), "{err}");
    }

    #[test]
    fn loop_controls_and_namespace_work() {
        let template = ChatTemplate::from_source(
            "{% set ns = namespace(n=0) %}{% for m in messages %}{% if m.role == 'tool' %}{% continue %}{% endif %}\
             {% set ns.n = ns.n + 1 %}{% if loop.index > 2 %}{% break %}{% endif %}{% endfor %}{{ ns.n }}",
        )
        .unwrap();
        let messages: Vec<Value> = ["user", "tool", "assistant", "user", "user"]
            .iter()
            .map(|role| serde_json::json!({"role": role, "content": ""}))
            .collect();
        // user: n=1; tool: skipped; assistant: n=2, loop.index 3 > 2 → break. Jinja2 3.1.6
        // with HF's environment renders "2".
        assert_eq!(
            template
                .render(&messages, None, &RenderOptions::default())
                .unwrap(),
            "2"
        );
    }
}
