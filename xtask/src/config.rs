//! The run config: one TOML file that says everything a pipeline run is made of — per role the
//! base model and how it trains, the data sources and their mixing weights, the context budget,
//! the eval and dev sizes, the cost model and the study's operating points.
//!
//! The built-in presets are the shipped files `configs/tiny.toml`, `configs/smoke.toml` and
//! `configs/qwen3.toml` (compiled in with `include_str!`); `cargo xtask all --config FILE`
//! reads any other, and `--set key=value` (dotted keys, TOML values) overrides single entries.
//! Every table refuses unknown keys; an unknown key or a bad value is an error naming the file,
//! the line and the key ([`ConfigError`]). [`Preset::from_config`](crate::pipeline::preset::Preset::from_config) turns a config into the
//! pipeline's [`Preset`](crate::pipeline::preset::Preset); the resolved config is written into
//! the run's `manifest.json`.
//!
//! Relative paths in a file resolve against the file's folder; a relative model `folder`
//! resolves against `models_dir` (itself relative to the file, or given with `--models`).

use spec_actions_core::{LanguageModelMap, ModelRole, RoleMap};
use spec_actions_data::builders::NegativeLevel;
use spec_actions_qwen3::model::LoraTarget;
use spec_actions_train::tasks::JudgeFormat;
use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spec_actions_data::toml_file::{TomlError, parse_toml};

/// A config problem: where (file, line, key) and what.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl From<TomlError> for ConfigError {
    fn from(e: TomlError) -> Self {
        ConfigError(e.to_string())
    }
}

/// The whole run config (the file's top level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Names the run (`runs/<name>` by default) and the models in the results.
    pub name: String,
    /// Seed of data, initialisation, shuffling and sampling (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Folder that relative model `folder`s are in (`--models` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_dir: Option<PathBuf>,
    pub data: DataConfig,
    pub roles: RolesConfig,
    pub eval: EvalConfig,
    #[serde(default)]
    pub cost: CostConfig,
    #[serde(default)]
    pub study: StudyConfig,
}

/// `[data]`: sources, budget and split sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Examples in the eval split.
    pub eval_size: usize,
    /// Share of the remaining examples for the dev split, in [0, 1).
    pub dev_fraction: Fraction,
    pub budget: BudgetConfig,
    /// The bundled BFCL v4 data (absent: not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfcl: Option<BfclConfig>,
    /// Synthetic coding-agent episodes (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticConfig>,
    /// The user's agent traces (`[[data.traces]]`, any number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TracesConfig>,
    /// Which mistakes the verifier and reward sets' hard negatives may be: `"call"` (any:
    /// wrong kind, repeated call, wrong tool, wrong arguments; the default) or `"kind"` (only
    /// a wrong kind or a repeated call — for judges that read the kind alone).
    #[serde(default)]
    pub negatives: NegativeLevel,
}

/// `[data.budget]`: a budget preset and optional overrides of its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// `full` (keep everything) or `tiny` (the CPU budget).
    pub preset: BudgetPreset,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prompt_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_content_chars: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_schemas: Option<ToolSchemasConfig>,
}

/// `[data.bfcl]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfclConfig {
    /// Mixing weight of the train split (see `spec_actions_data::pipeline::ExtraSources`).
    #[serde(default = "one")]
    pub weight: Weight,
    /// A BFCL v4 folder other than the bundled `assets/bfcl-v4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Category held out whole for the generalisation check (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout: Option<String>,
}

/// `[data.synthetic]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// At least this many examples (whole episodes).
    pub examples: usize,
    #[serde(default = "one")]
    pub weight: Weight,
}

/// `[[data.traces]]`: agent logs and their kind map (see `spec_actions_data::traces`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// Source name: examples get `source = "traces:<name>"`.
    pub name: String,
    /// JSON Lines of chat-completions conversations.
    pub path: PathBuf,
    /// The kind map (TOML).
    pub map: PathBuf,
    #[serde(default = "one")]
    pub weight: Weight,
    /// Skip unusable lines (listed in the datasets stage) instead of stopping.
    #[serde(default)]
    pub skip_bad_lines: bool,
}

fn one() -> Weight {
    Weight(1.0)
}

/// A budget preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPreset {
    Full,
    Tiny,
}

/// How tool schemas are written (see `spec_actions_data::budget::ToolSchemas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolSchemasConfig {
    Full,
    Compact,
    Signatures,
    ParameterNames,
}

/// Defines a checked `f64` newtype: the check runs while deserializing, so a bad value is
/// reported with its key and line.
macro_rules! checked_f64 {
    ($(#[$doc:meta])* $name:ident, $ok:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = f64::deserialize(d)?;
                let ok: fn(f64) -> bool = $ok;
                if ok(v) {
                    Ok($name(v))
                } else {
                    Err(serde::de::Error::custom(format!("{v} is not {}", $what)))
                }
            }
        }
    };
}

checked_f64!(
    /// A mixing weight: finite and ≥ 0.
    Weight,
    |v| v.is_finite() && v >= 0.0,
    "a finite weight ≥ 0"
);
checked_f64!(
    /// A share in [0, 1).
    Fraction,
    |v| (0.0..1.0).contains(&v),
    "in [0, 1)"
);
checked_f64!(
    /// A finite number > 0.
    Positive,
    |v| v.is_finite() && v > 0.0,
    "a finite number > 0"
);
checked_f64!(
    /// A finite number ≥ 0.
    NonNegative,
    |v| v.is_finite() && v >= 0.0,
    "a finite number ≥ 0"
);

/// `[roles.*]`: the four roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// How the verifier and the reward model read a proposal: `"prompted"` (LLM-as-judge:
    /// the verifier's own prompt and ACCEPT / REJECT tokens, a scalar reward head; the default)
    /// or `"kind_likelihood"` (the judge's log-probability of the proposed kind after the
    /// proposer's prompt). See `spec_actions_train::tasks::JudgeFormat`.
    #[serde(default)]
    pub judge_format: JudgeFormat,
    pub cheap: RoleConfig,
    pub verifier: RoleConfig,
    pub reward: RoleConfig,
    pub strong: RoleConfig,
}

impl RolesConfig {
    /// Each language-model role's table.
    pub fn by_role(&self) -> LanguageModelMap<&RoleConfig> {
        LanguageModelMap::from_fn(|role| match role {
            ModelRole::Cheap => &self.cheap,
            ModelRole::Verifier => &self.verifier,
            ModelRole::Reward => &self.reward,
            _ => &self.strong,
        })
    }
}

/// Where a role's base model comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseConfig {
    /// A Hugging Face checkpoint folder of any Qwen3 size: `base = { folder = "Qwen3-0.6B" }`.
    Folder(PathBuf),
    /// A random Qwen3-architecture model with the real vocabulary:
    /// `base = { random = { hidden = 64, layers = 2, heads = 4, kv_heads = 2, head_dim = 16 } }`.
    Random(RandomConfig),
    /// The trained model of an earlier role (trained in full): `base = { trained = "cheap" }`.
    Trained(ModelRole),
}

/// A random architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomConfig {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// MLP width (default 3 × hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<usize>,
    /// Embedding init scale (× 0.02); default `15 · √(64 / hidden)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_scale: Option<f64>,
}

/// Full training, or LoRA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinetuneConfig {
    /// Every weight: `finetune = "full"`.
    Full,
    /// `finetune = { lora = { r = 16, alpha = 32.0 } }`.
    Lora(LoraSpec),
}

/// LoRA settings (PEFT's names in brackets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSpec {
    /// Rank (`r`).
    pub r: NonZeroUsize,
    /// Scale numerator (`lora_alpha`).
    pub alpha: Positive,
    /// Wrapped projections (`target_modules`, PEFT's names); default all seven. An unknown
    /// name is a deserialization error naming it and the key's line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<LoraTarget>>,
    /// `lora_dropout`, in [0, 1).
    #[serde(default = "no_dropout")]
    pub dropout: Fraction,
    /// `use_rslora`.
    #[serde(default)]
    pub rslora: bool,
}

/// Either a count or `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Count {
    N(usize),
    All(AllWord),
}

/// The word `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllWord {
    All,
}

impl Count {
    /// The count (`usize::MAX` for `"all"`).
    pub fn get(self) -> usize {
        match self {
            Count::N(n) => n,
            Count::All(_) => usize::MAX,
        }
    }
}

/// `[roles.<role>]`: one role's base and training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub base: BaseConfig,
    pub finetune: FinetuneConfig,
    /// Added to the run seed for this role's initialisation and shuffling.
    #[serde(default)]
    pub seed_offset: u64,
    /// Proposers: weight of the answer's kind tokens in the SFT loss (1: plain SFT).
    #[serde(default = "one_nonzero")]
    pub kind_weight: NonZeroUsize,
    /// Optimizer steps.
    pub steps: NonZeroU64,
    /// Examples per micro-batch.
    pub batch: NonZeroUsize,
    /// Micro-batches per optimizer step (gradient accumulation).
    #[serde(default = "one_nonzero")]
    pub accumulation: NonZeroUsize,
    /// Peak learning rate.
    pub lr: Positive,
    /// Warm-up steps (default `max(steps / 10, 1)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<u64>,
    /// Default `max(steps / 4, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<u64>,
    /// Default `max(steps / 4, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<u64>,
    /// Global-norm clipping (0: none).
    #[serde(default = "default_clip")]
    pub max_grad_norm: NonNegative,
    /// Keep the token embedding fixed.
    #[serde(default)]
    pub freeze_embeddings: bool,
    /// Training examples drawn from the train split (a count or `"all"`).
    pub train_examples: Count,
    /// Dev examples for the held-out loss / accuracy during training.
    pub heldout_examples: usize,
}

fn one_nonzero() -> NonZeroUsize {
    NonZeroUsize::MIN
}

fn no_dropout() -> Fraction {
    Fraction(0.0)
}

fn default_clip() -> NonNegative {
    NonNegative(1.0)
}

/// `[eval]`: what is recorded and how the models decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Dev examples recorded for threshold calibration.
    pub dev_examples: usize,
    /// Eval examples recorded (≤ the eval split).
    pub eval_examples: usize,
    /// Held-out-category examples recorded.
    pub heldout_examples: usize,
    /// Sampled proposals per example (policy E).
    pub samples: usize,
    /// One-pass kinds judged per example.
    pub one_pass_k: usize,
    /// Examples recorded together (one batch of every role; the cheap model decodes
    /// `record_chunk × (1 + samples)` rows at once): larger chunks take fewer decode steps of
    /// the LM head, and hold more KV cache (see the memory plan in `pipeline/preset.rs`).
    #[serde(default = "default_record_chunk")]
    pub record_chunk: NonZeroUsize,
    pub max_new_tokens: usize,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    #[serde(default = "default_top_p")]
    pub top_p: f32,
    #[serde(default = "default_decode_seed")]
    pub decode_seed: u64,
}

/// The recorder's chunk when a config names none: what the `qwen3` preset's memory plan
/// assumes for real checkpoints on one GPU.
pub const DEFAULT_RECORD_CHUNK: NonZeroUsize = NonZeroUsize::new(24).unwrap();

fn default_record_chunk() -> NonZeroUsize {
    DEFAULT_RECORD_CHUNK
}

fn default_temperature() -> f32 {
    0.8
}
fn default_top_p() -> f32 {
    0.95
}
fn default_decode_seed() -> u64 {
    7
}

/// `[cost]`: the nominal prices of the calls (FLOPs always come from parameter counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    #[serde(default)]
    pub prices: Prices,
}

/// Nominal prices: the study's, proportional to parameter counts, or given per role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Prices {
    /// strong 1.00, cheap 0.15, verifier 0.10, reward 0.10, classifier 0.001: `prices = "study"`.
    #[default]
    Study,
    /// Each role's parameter count over the strong model's (strong = 1; classifier 0.001):
    /// `prices = "parameters"`.
    Parameters,
    /// `prices = { nominal = { cheap = 0.2, strong = 1.0, verifier = 0.1, reward = 0.1 } }`.
    Nominal(NominalPrices),
}

/// Per-role nominal prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NominalPrices {
    pub cheap: NonNegative,
    pub strong: NonNegative,
    pub verifier: NonNegative,
    pub reward: NonNegative,
    #[serde(default = "default_classifier_price")]
    pub classifier: NonNegative,
}

impl NominalPrices {
    /// The prices as a map by role.
    pub fn by_role(&self) -> RoleMap<f64> {
        RoleMap::from_fn(|role| match role {
            ModelRole::Cheap => self.cheap.0,
            ModelRole::Verifier => self.verifier.0,
            ModelRole::Reward => self.reward.0,
            ModelRole::Strong => self.strong.0,
            ModelRole::Classifier => self.classifier.0,
        })
    }
}

fn default_classifier_price() -> NonNegative {
    NonNegative(0.001)
}

/// `[study]`: the operating points every gated policy is calibrated to on dev, and which
/// policies run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// Target dev fallback rates.
    pub fallback_rates: Vec<Fraction>,
    /// Cost budgets (mean nominal units).
    pub budgets: Vec<NonNegative>,
    /// Skip the policies that need sampled proposals or one-pass scores.
    #[serde(default)]
    pub greedy_only: bool,
    /// Execution time (ms) of a file_read or retrieval, for policy H's latency.
    #[serde(default = "zero")]
    pub read_exec_ms: NonNegative,
    /// The policy families to study (absent: all): names from
    /// `spec_actions_verify::study::POLICY_FAMILIES` (`"C"`, `"F-margin"`, `"K→A"`, …); A and B
    /// always run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
}

fn zero() -> NonNegative {
    NonNegative(0.0)
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            fallback_rates: [0.1, 0.3, 0.5].map(Fraction).to_vec(),
            budgets: [0.3, 0.6].map(NonNegative).to_vec(),
            greedy_only: false,
            read_exec_ms: NonNegative(0.0),
            policies: None,
        }
    }
}

/// The shipped configs, compiled in: the built-in presets are these files.
pub const SHIPPED: [(&str, &str); 3] = [
    ("tiny", include_str!("../../configs/tiny.toml")),
    ("smoke", include_str!("../../configs/smoke.toml")),
    ("qwen3", include_str!("../../configs/qwen3.toml")),
];

/// The repository's `configs/` folder (the shipped files' folder, for their relative paths).
pub fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

/// A config with the folder its relative paths resolve against.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    pub config: RunConfig,
    /// The file's text (for the line of a key in later checks).
    pub text: String,
    /// Where it came from (a file, or `configs/<name>.toml` for a preset).
    pub path: PathBuf,
    /// Folder of the file.
    pub dir: PathBuf,
}

impl LoadedConfig {
    /// A built-in preset (a shipped file).
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        let (_, text) = SHIPPED.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            ConfigError(format!(
                "unknown preset {name:?} ({})",
                SHIPPED.map(|(n, _)| n).join(", ")
            ))
        })?;
        let path = configs_dir().join(format!("{name}.toml"));
        Self::parse(text, &path)
    }

    /// Reads a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` names it in errors and gives the folder of relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: RunConfig = parse_toml(text, path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(LoadedConfig {
            config,
            text: text.to_string(),
            path: path.to_path_buf(),
            dir,
        })
    }

    /// Applies `key=value` overrides (dotted keys; array entries by index, e.g.
    /// `data.traces.0.weight=2`). The value is read as a TOML value, or as a string when it
    /// is not one (`--set name=my-run`). The result is checked like the file.
    pub fn with_overrides(self, sets: &[String]) -> Result<Self, ConfigError> {
        if sets.is_empty() {
            return Ok(self);
        }
        let mut value = toml::Value::try_from(&self.config)
            .map_err(|e| ConfigError(format!("{}: {e}", self.path.display())))?;
        for set in sets {
            let (key, raw) = set
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("--set {set:?}: expected key=value")))?;
            let key = key.trim();
            let parsed = format!("v = {}", raw.trim())
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
            set_path(&mut value, key, parsed)
                .map_err(|e| ConfigError(format!("--set {set}: key `{key}`: {e}")))?;
        }
        let config: RunConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            ConfigError(format!(
                "{} with --set {}: key `{key}`: {}",
                self.path.display(),
                sets.join(" --set "),
                e.into_inner().message().trim()
            ))
        })?;
        Ok(LoadedConfig { config, ..self })
    }

    /// An error about dotted `key` (`roles.verifier.base`), with the line where the file
    /// sets it when it does.
    pub fn error_at(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        let line = self.key_line(key).map(|l| format!(":{l}")).unwrap_or_default();
        ConfigError(format!("{}{line}: key `{key}`: {message}", self.path.display()))
    }

    /// The 1-based line of dotted `key`: the line `last = …` in table `[rest]`, or the
    /// table's header.
    fn key_line(&self, key: &str) -> Option<usize> {
        let (table, last) = key.rsplit_once('.').unwrap_or(("", key));
        let mut in_table = table.is_empty();
        let mut header = None;
        for (i, line) in self.text.lines().enumerate() {
            let t = line.trim();
            if t.starts_with('[') {
                let name = t.trim_matches(|c| c == '[' || c == ']').trim();
                in_table = name == table;
                if in_table {
                    header = Some(i + 1);
                } else if name == key {
                    return Some(i + 1);
                }
            } else if in_table && t.split(['=', ' ']).next() == Some(last) {
                return Some(i + 1);
            }
        }
        header
    }

    /// Resolves a path written in the file (relative to the file's folder).
    pub fn path_of(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

/// Sets `value` at dotted `key` inside `root`, creating tables on the way.
fn set_path(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("empty key segment".into());
    }
    let mut at = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        at = match at {
            toml::Value::Table(t) => {
                if last {
                    t.insert(part.to_string(), value);
                    return Ok(());
                }
                t.entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
            }
            toml::Value::Array(a) => {
                let idx: usize = part
                    .parse()
                    .map_err(|_| format!("`{part}` is not an index of a list"))?;
                let len = a.len();
                let slot = a
                    .get_mut(idx)
                    .ok_or_else(|| format!("index {idx} is past the list's {len} entries"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => {
                return Err(format!("`{}` is a value, not a table", parts[..i].join(".")));
            }
        };
    }
    Ok(())
}

/// The kinds of source in `[data]` and their mixing weights, keyed as
/// `spec_actions_data::pipeline::ExtraSources::weights` wants them.
pub fn mixing_weights(data: &DataConfig) -> BTreeMap<String, f64> {
    let mut w = BTreeMap::new();
    if let Some(b) = &data.bfcl {
        w.insert("bfcl".to_string(), b.weight.0);
    }
    if let Some(s) = &data.synthetic {
        w.insert("synthetic".to_string(), s.weight.0);
    }
    for t in &data.traces {
        w.insert(format!("traces:{}", t.name), t.weight.0);
    }
    w
}
