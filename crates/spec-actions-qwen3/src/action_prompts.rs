//! The action prompts of `spec_actions_core::prompt`, rendered with a model's own chat template
//! and tokenized — one encoder used by training *and* evaluation, so the two cannot drift apart.
//!
//! Examples come from datasets and model outputs this project did not write, so every string of
//! their messages and tool schemas is untrusted: the encoder renders them
//! [shielded](crate::tokenizer::Qwen3Tokenizer::shield), and a message that spells
//! `<|im_end|>\n<|im_start|>system` is encoded as that text, never as a forged turn. Contents
//! without special-token spellings encode exactly as HF's `apply_chat_template(tokenize=True)`.
//!
//! **Length.** Data can hold a message of any size (a 10 MB tool output is a valid example),
//! and one such row would make attention allocate terabytes. With
//! [`ActionPromptEncoder::with_max_tokens`] every sequence the encoder returns has at most that
//! many tokens: a string longer than [`MAX_CHARS_PER_TOKEN`] characters per allowed token is
//! first shortened in the middle (start and end kept around a `[… N characters cut …]` marker,
//! as the data crate's context budget does), so a huge string is never tokenized whole; then a
//! sequence still over the limit keeps its last tokens (truncation from the left, TRL's
//! `keep_end`): the answer, the verdict position and the scored action — what each role is
//! trained and asked on — stay, the oldest context goes.

use serde_json::Value;
use spec_actions_core::prompt::{self, ACCEPT, REJECT};
use spec_actions_core::{Action, ActionKind, ChatRole, Example, Message};

use crate::chat_template::{
    ChatTemplate, ChatTemplateError, RenderOptions, messages_to_json, split_rendered,
};
use crate::tokenizer::Qwen3Tokenizer;

/// Strings longer than this many characters per allowed token are shortened before
/// tokenizing (see the module doc): no real text averages 16 characters a token, so a string
/// that long could not fit anyway.
pub const MAX_CHARS_PER_TOKEN: usize = 16;

/// Label of tokens without loss (HF's `ignore_index`).
pub const IGNORE: i64 = -100;

/// A tokenized SFT example: the whole conversation, with labels only on the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledTokens {
    pub ids: Vec<u32>,
    /// Aligned with `ids`: the token itself on answer positions, [`IGNORE`] elsewhere.
    pub labels: Vec<i64>,
}

/// The end-of-turn token of Qwen3's chat template (its tokenizer's EOS token).
const END_OF_TURN: &str = "<|im_end|>";
/// The end of an assistant turn as the template renders it.
const END_OF_TURN_NEWLINE: &str = "<|im_end|>\n";

/// An SFT example as a prompt-completion pair of texts, with their token counts
/// ([`ActionPromptEncoder::proposer_prompt_completion`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptCompletion {
    pub prompt: String,
    pub completion: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// Renders and tokenizes the proposer / verifier / reward prompts of examples.
#[derive(Debug, Clone)]
pub struct ActionPromptEncoder {
    pub tokenizer: Qwen3Tokenizer,
    pub template: ChatTemplate,
    /// Render options; thinking is off by default (actions are answered directly).
    pub options: RenderOptions,
    /// Most tokens of any sequence returned (see the module doc); `None`: no limit.
    pub max_tokens: Option<usize>,
}

impl ActionPromptEncoder {
    pub fn new(tokenizer: Qwen3Tokenizer, template: ChatTemplate) -> Self {
        let options = RenderOptions {
            enable_thinking: Some(false),
            ..Default::default()
        };
        ActionPromptEncoder {
            tokenizer,
            template,
            options,
            max_tokens: None,
        }
    }

    /// This encoder with every sequence bounded to `max_tokens` tokens (at least 1), e.g. the
    /// model's `max_position_embeddings`.
    pub fn with_max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = Some(max_tokens.max(1));
        self
    }

    /// `ids` cut to [`ActionPromptEncoder::max_tokens`], keeping the end.
    fn keep_end<T>(&self, mut ids: Vec<T>) -> Vec<T> {
        if let Some(max) = self.max_tokens
            && ids.len() > max
        {
            ids.drain(..ids.len() - max);
        }
        ids
    }

    /// Tokenizer + template of one folder (`tokenizer.json`, `tokenizer_config.json`).
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<Self, ChatTemplateError> {
        let dir = dir.as_ref();
        Ok(Self::new(
            Qwen3Tokenizer::from_dir(dir)?,
            ChatTemplate::from_dir(dir)?,
        ))
    }

    /// The example's tool schemas, shielded; `None` when it has none.
    fn tools(&self, example: &Example) -> Option<Vec<Value>> {
        (!example.tools.is_empty())
            .then(|| example.tools.iter().map(|tool| self.shield_value(tool)).collect())
    }

    /// `messages` in the HF format with every string (keys included) shielded.
    /// `messages` rendered by the chat template with these tools and options, with or without
    /// the generation prompt.
    fn render(
        &self,
        messages: &[Message],
        tools: Option<&[Value]>,
        add_generation_prompt: bool,
    ) -> Result<String, ChatTemplateError> {
        let options = RenderOptions {
            add_generation_prompt,
            ..self.options.clone()
        };
        self.template
            .render(&self.shielded_messages(messages)?, tools, &options)
    }

    fn shielded_messages(&self, messages: &[Message]) -> Result<Vec<Value>, ChatTemplateError> {
        Ok(messages_to_json(messages)?
            .iter()
            .map(|m| self.shield_value(m))
            .collect())
    }

    fn shield_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.tokenizer.shield(&self.shorten(s)).into_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.shield_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        (
                            self.tokenizer.shield(&self.shorten(k)).into_owned(),
                            self.shield_value(v),
                        )
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `text` shortened in the middle when it has more than [`MAX_CHARS_PER_TOKEN`] characters
    /// per allowed token; borrowed when it fits or there is no limit.
    fn shorten<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let Some(max_chars) = self.max_tokens.map(|t| t.saturating_mul(MAX_CHARS_PER_TOKEN)) else {
            return std::borrow::Cow::Borrowed(text);
        };
        // bytes bound characters from above: most strings need no count
        if text.len() <= max_chars {
            return std::borrow::Cow::Borrowed(text);
        }
        let n = text.chars().count();
        if n <= max_chars {
            return std::borrow::Cow::Borrowed(text);
        }
        let head = max_chars * 3 / 5;
        let tail = max_chars - head;
        let start: String = text.chars().take(head).collect();
        let end: String = text.chars().skip(n - tail).collect();
        std::borrow::Cow::Owned(format!("{start}[… {} characters cut …]{end}", n - head - tail))
    }

    /// Renders untrusted `messages` (and the example's tools) and encodes them shielded.
    fn encode_untrusted(
        &self,
        messages: &[Message],
        example: &Example,
        options: &RenderOptions,
    ) -> Result<Vec<u32>, ChatTemplateError> {
        let text = self.template.render(
            &self.shielded_messages(messages)?,
            self.tools(example).as_deref(),
            options,
        )?;
        Ok(self.keep_end(self.tokenizer.encode_shielded(&text)?))
    }

    /// What the proposer sees at evaluation: its prompt with the generation prompt appended.
    pub fn proposer_prompt(&self, example: &Example) -> Result<Vec<u32>, ChatTemplateError> {
        let options = RenderOptions {
            add_generation_prompt: true,
            ..self.options.clone()
        };
        self.encode_untrusted(&prompt::proposer_messages(example), example, &options)
    }

    /// The proposer's SFT example: the evaluation prompt followed by the gold answer
    /// ([`Action::to_model_text`] and the closing `<|im_end|>`), labels on the answer only.
    pub fn proposer_sft(&self, example: &Example) -> Result<LabeledTokens, ChatTemplateError> {
        self.sft(&prompt::proposer_training_messages(example), example)
    }

    /// The proposer's SFT example as TRL's (non-conversational) prompt-completion pair: the
    /// prompt is the chat template rendered up to the assistant turn (generation prompt
    /// included), the completion the rest of the rendered conversation up to its closing
    /// `<|im_end|>` — the tokens [`Self::proposer_sft`] puts the loss on but the template's
    /// newline after `<|im_end|>`, which decoding never reaches (it stops at `<|im_end|>`). TRL
    /// tokenizes `prompt` and `prompt + completion`, puts its loss on the difference, and
    /// appends the EOS token (`<|im_end|>`) to a completion that does not end with it — so the
    /// completion ends with it.
    /// Whole, before [`Self::with_max_tokens`] cuts anything. Text in messages that spells a
    /// special token is plain text to this encoder (shielded) but would be that special token to
    /// a tokenizer reading the exported string.
    pub fn proposer_prompt_completion(
        &self,
        example: &Example,
    ) -> Result<PromptCompletion, ChatTemplateError> {
        let messages = prompt::proposer_training_messages(example);
        let Some((_, context)) = messages.split_last() else {
            return Err(ChatTemplateError::NoAnswer {
                found: "no messages".into(),
            });
        };
        let tools = self.tools(example);
        let render = |messages: &[Message], add_generation_prompt: bool| {
            self.render(messages, tools.as_deref(), add_generation_prompt)
        };
        let split = split_rendered(render(context, true)?, render(&messages, false)?, |t| {
            self.tokenizer.encode_shielded(t)
        })?;
        let (prompt, completion) = split.text.split_at(split.prompt_bytes);
        // TRL appends the EOS token to a completion that does not end with it: end at
        // `<|im_end|>`, leaving out the template's newline after it (one token).
        let (completion, newline_tokens) = match completion.strip_suffix(END_OF_TURN_NEWLINE) {
            Some(kept) => (format!("{kept}{END_OF_TURN}"), 1),
            None => (completion.to_string(), 0),
        };
        Ok(PromptCompletion {
            prompt: self.tokenizer.unshield(prompt).into_owned(),
            completion: self.tokenizer.unshield(&completion).into_owned(),
            prompt_tokens: split.prompt_tokens,
            completion_tokens: split.ids.len() - split.prompt_tokens - newline_tokens,
        })
    }

    /// The verifier's SFT example for `proposed` with the right answer `ACCEPT`/`REJECT`.
    pub fn verifier_sft(
        &self,
        example: &Example,
        proposed: &Action,
        accept: bool,
    ) -> Result<LabeledTokens, ChatTemplateError> {
        let mut messages = prompt::verifier_messages(example, proposed);
        messages.push(Message::assistant(if accept { ACCEPT } else { REJECT }));
        self.sft(&messages, example)
    }

    /// The verifier's prompt (generation prompt appended): the next token decides.
    pub fn verifier_prompt(
        &self,
        example: &Example,
        proposed: &Action,
    ) -> Result<Vec<u32>, ChatTemplateError> {
        let options = RenderOptions {
            add_generation_prompt: true,
            ..self.options.clone()
        };
        self.encode_untrusted(&prompt::verifier_messages(example, proposed), example, &options)
    }

    /// First token of `ACCEPT` and of `REJECT`: P(ACCEPT) is the softmax over these two logits.
    pub fn verdict_token_ids(&self) -> Result<[u32; 2], ChatTemplateError> {
        let first = |word: &str| -> Result<u32, ChatTemplateError> {
            Ok(self.tokenizer.encode(word)?.first().copied().unwrap_or_default())
        };
        Ok([first(ACCEPT)?, first(REJECT)?])
    }

    /// The reward model's input: context and action as the assistant's answer, whole.
    pub fn reward_input(&self, example: &Example, action: &Action) -> Result<Vec<u32>, ChatTemplateError> {
        self.encode_untrusted(&prompt::reward_messages(example, action), example, &self.options)
    }

    /// Token ids of each kind as the proposer's answer starts with it — the candidates of
    /// one-pass scoring, scored after [`ActionPromptEncoder::proposer_prompt`]. No kind's ids
    /// are a prefix of another's, so the nine log-probabilities rank the kinds.
    pub fn kind_candidates(&self) -> Result<Vec<(ActionKind, Vec<u32>)>, ChatTemplateError> {
        ActionKind::ALL
            .iter()
            .map(|&kind| Ok((kind, self.tokenizer.encode(kind.as_str())?)))
            .collect()
    }

    /// [`ChatTemplate::split_prompt_answer`] on the shielded path: the prompt (every message
    /// but the last, with the generation prompt) must be a prefix of the whole conversation in
    /// text and in token ids; labels go on the rest.
    fn sft(&self, messages: &[Message], example: &Example) -> Result<LabeledTokens, ChatTemplateError> {
        let Some((last, context)) = messages.split_last() else {
            return Err(ChatTemplateError::NoAnswer {
                found: "no messages".into(),
            });
        };
        if last.role != ChatRole::Assistant {
            return Err(ChatTemplateError::NoAnswer {
                found: format!("role {:?}", last.role),
            });
        }
        let tools = self.tools(example);
        let render = |messages: &[Message], add_generation_prompt: bool| {
            self.render(messages, tools.as_deref(), add_generation_prompt)
        };
        let split = split_rendered(render(context, true)?, render(messages, false)?, |t| {
            self.tokenizer.encode_shielded(t)
        })?;
        let (ids, prompt_tokens) = (split.ids, split.prompt_tokens);
        let labels = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| if i < prompt_tokens { IGNORE } else { i64::from(id) })
            .collect();
        Ok(LabeledTokens {
            ids: self.keep_end(ids),
            labels: self.keep_end(labels),
        })
    }
}
