//! The Qwen3 tokenizer: HF's `tokenizer.json` run by the `tokenizers` crate, plus the
//! special-token facts of `tokenizer_config.json` (eos, pad, the chat template).
//!
//! Encoding never inserts special tokens of its own (`add_special_tokens = false`), which is
//! what HF's `apply_chat_template(tokenize=True)` does: the chat template already writes every
//! `<|im_start|>` / `<|im_end|>`. Special tokens that appear *inside* text (for example a user
//! message containing `<|im_end|>`) are matched as special tokens, exactly as HF does with
//! `split_special_tokens = false` (Qwen3's setting) — parity over escaping.
//!
//! Text from outside (dataset messages, tool outputs) must not be able to forge a turn that
//! way, so prompts built from it use the *shielded* path: [`Qwen3Tokenizer::shield`] marks every
//! special-token spelling of the untrusted strings before rendering, and
//! [`Qwen3Tokenizer::encode_shielded`] turns the template's own markers into special tokens and
//! the marked spellings into ordinary text tokens (HF `split_special_tokens = true` for those
//! strings only). Text without special-token spellings encodes exactly as [`Qwen3Tokenizer::encode`]
//! does, and decoding gives back the original text.
//!
//! ```
//! use spec_actions_qwen3::tokenizer::Qwen3Tokenizer;
//!
//! let tokenizer = Qwen3Tokenizer::from_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/qwen3-tokenizer"))?;
//! let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n")?;
//! assert_eq!(ids[0], tokenizer.special().im_start);
//! assert_eq!(tokenizer.decode(&ids, false)?, "<|im_start|>user\nHi<|im_end|>\n");
//! # Ok::<(), spec_actions_qwen3::tokenizer::TokenizerError>(())
//! ```

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::config::Qwen3Config;
use crate::error::Qwen3Error;

/// File name of the tokenizer model inside a checkpoint / tokenizer folder.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// File name of the tokenizer configuration (special tokens, chat template).
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// Everything that can go wrong loading or running the tokenizer. Every variant names the file
/// or the token involved.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid tokenizer file: {source}")]
    TokenizerFile {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    ConfigJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: field `{field}`: {message}")]
    ConfigField {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: token {token:?} (needed as {role}) is not in the vocabulary of {vocab_file}")]
    MissingToken {
        path: PathBuf,
        vocab_file: PathBuf,
        token: String,
        role: String,
    },
    #[error("encoding failed: {source}")]
    Encode {
        #[source]
        source: tokenizers::Error,
    },
    #[error("decoding failed: {source}")]
    Decode {
        #[source]
        source: tokenizers::Error,
    },
}

/// The special-token facts of `tokenizer_config.json` that matter outside the tokenizer itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerConfig {
    /// Where it was read from (for error messages).
    pub path: PathBuf,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub unk_token: Option<String>,
    /// The raw `chat_template` field: a string, or a list of `{name, template}` objects.
    pub chat_template: Option<Value>,
}

impl TokenizerConfig {
    /// Reads `tokenizer_config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|source| TokenizerError::Io {
            path: path.clone(),
            source,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|source| TokenizerError::ConfigJson {
            path: path.clone(),
            source,
        })?;
        let Value::Object(map) = &json else {
            return Err(TokenizerError::ConfigField {
                path,
                field: "<root>".into(),
                message: "expected a JSON object".into(),
            });
        };
        let token = |field: &str| token_content(&path, field, map.get(field));
        Ok(TokenizerConfig {
            bos_token: token("bos_token")?,
            eos_token: token("eos_token")?,
            pad_token: token("pad_token")?,
            unk_token: token("unk_token")?,
            chat_template: map.get("chat_template").filter(|v| !v.is_null()).cloned(),
            path,
        })
    }
}

/// A special token in `tokenizer_config.json` is `null`, a string, or an AddedToken object
/// `{"content": "...", ...}`.
fn token_content(path: &Path, field: &str, value: Option<&Value>) -> Result<Option<String>, TokenizerError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(TokenizerError::ConfigField {
                path: path.to_path_buf(),
                field: field.into(),
                message: "object without a string `content`".into(),
            }),
        },
        Some(other) => Err(TokenizerError::ConfigField {
            path: path.to_path_buf(),
            field: field.into(),
            message: format!("expected null, a string or an object, found {other}"),
        }),
    }
}

/// Ids of the tokens generation, padding and the chat format rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<|im_start|>`.
    pub im_start: u32,
    /// `<|im_end|>`: ends every chat turn; Qwen3's `eos_token`.
    pub im_end: u32,
    /// `<|endoftext|>`: end of document; Qwen3's `pad_token`.
    pub end_of_text: u32,
    /// The `eos_token` of `tokenizer_config.json`.
    pub eos: u32,
    /// The `pad_token` of `tokenizer_config.json` (the eos token when there is none).
    pub pad: u32,
    /// `<think>`, when the vocabulary has it (Qwen3 does, Qwen2.5 does not).
    pub think: Option<u32>,
    /// `</think>`, when the vocabulary has it.
    pub think_end: Option<u32>,
}

/// The Qwen3 tokenizer of one folder (`tokenizer.json` + `tokenizer_config.json`).
#[derive(Debug, Clone)]
pub struct Qwen3Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The `tokenizer.json` it was read from (for error messages).
    path: PathBuf,
    config: TokenizerConfig,
    special: SpecialTokens,
    /// Texts and ids of the added tokens flagged special in `tokenizer.json`, longest first.
    special_texts: Vec<(String, u32)>,
    /// `inner` with special-token matching off (built on first use of the shielded path).
    literal: Arc<OnceLock<tokenizers::Tokenizer>>,
}

/// Opens a shielded special-token spelling ([`Qwen3Tokenizer::shield`]); a Unicode
/// noncharacter, which no tokenizer vocabulary or chat template produces.
const SHIELD: char = '\u{10FFFF}';
/// `SHIELD` + `SHIELD_BASE + i` stands for special token `i`; `SHIELD SHIELD` for a literal `SHIELD`.
const SHIELD_BASE: u32 = 0xF0000;

impl Qwen3Tokenizer {
    /// Loads `dir/tokenizer.json` and `dir/tokenizer_config.json`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let dir = dir.as_ref();
        Self::from_files(dir.join(TOKENIZER_FILE), dir.join(TOKENIZER_CONFIG_FILE))
    }

    /// Loads the two files from explicit paths.
    pub fn from_files(
        tokenizer_json: impl AsRef<Path>,
        tokenizer_config_json: impl AsRef<Path>,
    ) -> Result<Self, TokenizerError> {
        let tokenizer_path = tokenizer_json.as_ref().to_path_buf();
        if let Err(source) = std::fs::metadata(&tokenizer_path) {
            return Err(TokenizerError::Io {
                path: tokenizer_path,
                source,
            });
        }
        let inner = tokenizers::Tokenizer::from_file(&tokenizer_path).map_err(|source| {
            TokenizerError::TokenizerFile {
                path: tokenizer_path.clone(),
                source,
            }
        })?;
        let config = TokenizerConfig::from_file(tokenizer_config_json)?;

        let lookup = |token: &str, role: &str| {
            inner
                .token_to_id(token)
                .ok_or_else(|| TokenizerError::MissingToken {
                    path: config.path.clone(),
                    vocab_file: tokenizer_path.clone(),
                    token: token.into(),
                    role: role.into(),
                })
        };
        let im_start = lookup("<|im_start|>", "the turn start")?;
        let im_end = lookup("<|im_end|>", "the turn end")?;
        let end_of_text = lookup("<|endoftext|>", "the end of text")?;
        let eos = match &config.eos_token {
            Some(token) => lookup(token, "eos_token")?,
            None => im_end,
        };
        let pad = match &config.pad_token {
            Some(token) => lookup(token, "pad_token")?,
            None => eos,
        };
        let special = SpecialTokens {
            im_start,
            im_end,
            end_of_text,
            eos,
            pad,
            think: inner.token_to_id("<think>"),
            think_end: inner.token_to_id("</think>"),
        };
        let mut special_texts: Vec<(String, u32)> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special && !token.content.is_empty())
            .map(|(id, token)| (token.content, id))
            .collect();
        special_texts.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Qwen3Tokenizer {
            inner,
            path: tokenizer_path,
            config,
            special,
            special_texts,
            literal: Arc::new(OnceLock::new()),
        })
    }

    /// Token ids of `text`, with no special tokens added (HF `add_special_tokens=False`, as
    /// `apply_chat_template(tokenize=True)` uses). Special tokens written in the text are
    /// matched as special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|source| TokenizerError::Encode { source })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The added tokens flagged special in `tokenizer.json` (`<|im_start|>`, `<|im_end|>`,
    /// `<|endoftext|>`, …; not `<think>` or `<tool_call>`), longest first, with their ids.
    pub fn special_token_texts(&self) -> &[(String, u32)] {
        &self.special_texts
    }

    /// Token ids of `text` with every special-token spelling split into ordinary tokens (HF
    /// `split_special_tokens = True`): `<|im_end|>` in the text is `<|`, `im`, `_end`, `|>`.
    pub fn encode_literal(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let literal = self.literal.get_or_init(|| {
            let mut literal = self.inner.clone();
            literal.set_encode_special_tokens(true);
            literal
        });
        let encoding = literal
            .encode_fast(text, false)
            .map_err(|source| TokenizerError::Encode { source })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Marks the special-token spellings of untrusted `text` (a message's content, a tool
    /// schema) so that, once rendered into a prompt, [`encode_shielded`](Self::encode_shielded)
    /// encodes them as text. Borrowed when there is nothing to mark.
    pub fn shield<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains(SHIELD) && !self.special_texts.iter().any(|(t, _)| text.contains(t.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 8);
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            if c == SHIELD {
                out.push(SHIELD);
                out.push(SHIELD);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            for (i, (t, _)) in self.special_texts.iter().enumerate() {
                if rest.starts_with(t.as_str()) {
                    out.push(SHIELD);
                    out.push(shield_code(i));
                    rest = &rest[t.len()..];
                    continue 'scan;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        Cow::Owned(out)
    }

    /// The original text of a shielded string (or of a rendering that contains some).
    pub fn unshield<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !text.contains(SHIELD) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != SHIELD {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some(SHIELD) => out.push(SHIELD),
                Some(code) => match self.shielded_token(code) {
                    Some(t) => out.push_str(t),
                    None => {
                        out.push(SHIELD);
                        out.push(code);
                    }
                },
                None => out.push(SHIELD),
            }
        }
        Cow::Owned(out)
    }

    /// Token ids of a chat rendering whose untrusted strings went through
    /// [`shield`](Self::shield): special-token spellings left in `rendered` are the template's
    /// own and become special tokens; shielded ones are encoded as ordinary text. Equal to
    /// [`encode`](Self::encode) of the original rendering when no untrusted string spelled a
    /// special token.
    pub fn encode_shielded(&self, rendered: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        let mut segment_start = 0;
        let mut position = 0;
        while position < rendered.len() {
            let rest = &rendered[position..];
            let marker = self
                .special_texts
                .iter()
                .find(|(t, _)| rest.starts_with(t.as_str()));
            match marker {
                Some((t, id)) => {
                    ids.extend(self.encode_literal(&self.unshield(&rendered[segment_start..position]))?);
                    ids.push(*id);
                    position += t.len();
                    segment_start = position;
                }
                None => position += rest.chars().next().map_or(1, char::len_utf8),
            }
        }
        ids.extend(self.encode_literal(&self.unshield(&rendered[segment_start..]))?);
        Ok(ids)
    }

    fn shielded_token(&self, code: char) -> Option<&str> {
        let i = (code as u32).checked_sub(SHIELD_BASE)? as usize;
        self.special_texts.get(i).map(|(t, _)| t.as_str())
    }

    /// Text of `ids`; with `skip_special_tokens`, tokens flagged special in `tokenizer.json`
    /// (`<|im_end|>`, `<|endoftext|>`, … but not `<think>`) are dropped, as HF does.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|source| TokenizerError::Decode { source })
    }

    /// Id of one token string, if it is in the vocabulary (added tokens included).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token string of one id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The ids of the special tokens.
    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// Ids that end generation: the eos token, `<|im_end|>` and `<|endoftext|>` (Qwen3's
    /// `generation_config.json` lists 151645 and 151643), without duplicates.
    pub fn stop_ids(&self) -> Vec<u32> {
        let mut ids = vec![self.special.eos];
        for id in [self.special.im_end, self.special.end_of_text] {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// Size of the vocabulary including added tokens (151,669 for Qwen3; the model's
    /// embedding has 151,936 rows, the rest are never produced by the tokenizer).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The largest token id this tokenizer can produce, added and special tokens included
    /// (151,668 for Qwen3); `None` for an empty vocabulary.
    pub fn max_token_id(&self) -> Option<u32> {
        let vocab = self.inner.get_vocab(true).into_values();
        let added = self.inner.get_added_tokens_decoder().into_keys();
        vocab.chain(added).max()
    }

    /// Refuses a model whose embedding has no row for some id of this tokenizer: every id,
    /// special tokens included, must be below `config.vocab_size`. `config_path` names the
    /// model's config.json in the error ([`Qwen3Error::TokenizerVocabMismatch`], which also
    /// names this tokenizer's file and both numbers). Call it before training or generating
    /// with a tokenizer and a checkpoint that come from different places.
    pub fn check_fits(&self, config: &Qwen3Config, config_path: &Path) -> Result<(), Qwen3Error> {
        match self.max_token_id() {
            Some(max) => config.check_token_ids_fit(config_path, &self.path, max),
            None => Ok(()),
        }
    }

    /// [`Self::check_fits`] against the `config.json` of the checkpoint folder `dir`, reading
    /// only that file (no weights): call it before loading a checkpoint with this tokenizer.
    pub fn check_fits_checkpoint(&self, dir: impl AsRef<Path>) -> Result<(), Qwen3Error> {
        let config_path = dir.as_ref().join("config.json");
        let config = Qwen3Config::from_file(&config_path)?;
        self.check_fits(&config, &config_path)
    }

    /// The `tokenizer.json` this tokenizer was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parsed `tokenizer_config.json`.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// The underlying `tokenizers::Tokenizer`.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// The character standing for special token `i` after a [`SHIELD`].
fn shield_code(i: usize) -> char {
    // Plane 15 (private use) has 65 534 code points; no vocabulary has that many special tokens.
    char::from_u32(SHIELD_BASE + i as u32).unwrap_or(SHIELD)
}
