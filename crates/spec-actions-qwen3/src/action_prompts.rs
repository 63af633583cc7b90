//! The action prompts of `spec_actions_core::prompt`, rendered with a model's own chat template
//! and tokenized — one encoder used by training *and* evaluation, so the two cannot drift apart.

use serde_json::Value;
use spec_actions_core::prompt::{self, ACCEPT, REJECT};
use spec_actions_core::{Action, ActionKind, Example};

use crate::chat_template::{ChatTemplate, ChatTemplateError, RenderOptions};
use crate::tokenizer::Qwen3Tokenizer;

/// Label of tokens without loss (HF's `ignore_index`).
pub const IGNORE: i64 = -100;

/// A tokenized SFT example: the whole conversation, with labels only on the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledTokens {
    pub ids: Vec<u32>,
    /// Aligned with `ids`: the token itself on answer positions, [`IGNORE`] elsewhere.
    pub labels: Vec<i64>,
}

/// Renders and tokenizes the proposer / verifier / reward prompts of examples.
#[derive(Debug, Clone)]
pub struct ActionPromptEncoder {
    pub tokenizer: Qwen3Tokenizer,
    pub template: ChatTemplate,
    /// Render options; thinking is off by default (actions are answered directly).
    pub options: RenderOptions,
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
        }
    }

    /// Tokenizer + template of one folder (`tokenizer.json`, `tokenizer_config.json`).
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<Self, ChatTemplateError> {
        let dir = dir.as_ref();
        Ok(Self::new(
            Qwen3Tokenizer::from_dir(dir)?,
            ChatTemplate::from_dir(dir)?,
        ))
    }

    fn tools(example: &Example) -> Option<&[Value]> {
        (!example.tools.is_empty()).then_some(example.tools.as_slice())
    }

    /// What the proposer sees at evaluation: its prompt with the generation prompt appended.
    pub fn proposer_prompt(&self, example: &Example) -> Result<Vec<u32>, ChatTemplateError> {
        let options = RenderOptions {
            add_generation_prompt: true,
            ..self.options.clone()
        };
        let text = self.template.render_messages(
            &prompt::proposer_messages(example),
            Self::tools(example),
            &options,
        )?;
        Ok(self.tokenizer.encode(&text)?)
    }

    /// The proposer's SFT example: the evaluation prompt followed by the gold answer
    /// ([`Action::to_model_text`] and the closing `<|im_end|>`), labels on the answer only.
    pub fn proposer_sft(&self, example: &Example) -> Result<LabeledTokens, ChatTemplateError> {
        self.sft(&prompt::proposer_training_messages(example), example)
    }

    /// The verifier's SFT example for `proposed` with the right answer `ACCEPT`/`REJECT`.
    pub fn verifier_sft(
        &self,
        example: &Example,
        proposed: &Action,
        accept: bool,
    ) -> Result<LabeledTokens, ChatTemplateError> {
        let mut messages = prompt::verifier_messages(example, proposed);
        messages.push(spec_actions_core::Message::assistant(if accept {
            ACCEPT
        } else {
            REJECT
        }));
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
        let messages = prompt::verifier_messages(example, proposed);
        let text = self
            .template
            .render_messages(&messages, Self::tools(example), &options)?;
        Ok(self.tokenizer.encode(&text)?)
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
        let messages = prompt::reward_messages(example, action);
        let text = self
            .template
            .render_messages(&messages, Self::tools(example), &self.options)?;
        Ok(self.tokenizer.encode(&text)?)
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

    fn sft(
        &self,
        messages: &[spec_actions_core::Message],
        example: &Example,
    ) -> Result<LabeledTokens, ChatTemplateError> {
        let split = self.template.split_prompt_answer_messages(
            &self.tokenizer,
            messages,
            Self::tools(example),
            &self.options,
        )?;
        let labels = split
            .ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                if i < split.prompt_tokens {
                    IGNORE
                } else {
                    i64::from(id)
                }
            })
            .collect();
        Ok(LabeledTokens {
            ids: split.ids,
            labels,
        })
    }
}
