//! A finished run folder (`cargo xtask all --run DIR`) as a [`Speculator`]: where its roles'
//! checkpoints are, which configurations it evaluated, and the operating point to serve.
//!
//! What is read:
//! - `models/<role>/model` (a role trained in full, an HF folder) or `models/<role>/adapter`
//!   (a PEFT adapter) on its base — the adapter's `base_model_name_or_path` when that folder
//!   exists, else `models/<role>/base`, else the trained cheap model (the shared tiny base);
//!   `models/reward/score_head.safetensors`; `models/classifier/classifier.json` if present;
//! - `eval/results.json` (every configuration's eval accuracy and cost) and
//!   `eval/analysis.json` (the dev calibrations: each calibrated policy with its threshold);
//! - `manifest.json`: the preset name (model names `<preset>:cheap`, … as the recording has
//!   them) and the decode settings (`max_new_tokens`, temperature, top-p, seed).
//!
//! An operating point is a configuration of the results file: its policy is the calibrated one
//! of the same name (thresholds from dev, as the replay has them), or a fixed policy
//! (A, B, B\[G\], H, K).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use spec_actions_baseline::KindClassifier;
use spec_actions_core::{ConfigResult, LanguageModelMap, ModelRole, ResultsFile};
use spec_actions_live::{DecodeSettings, LiveModels};
use spec_actions_qwen3::action_prompts::ActionPromptEncoder;
use spec_actions_qwen3::model::Qwen3;
use spec_actions_qwen3::{LoadOptions, load_qwen3_with};
use spec_actions_train::tasks::JudgeFormat;
use spec_actions_train::trainer::read_score_head;
use spec_actions_verify::{Calibration, Policy, ProposalSource};

use crate::error::{Result, ServeError};
use crate::speculator::{Speculator, priced_costs};

/// Where one role's weights are: an HF checkpoint folder and, optionally, a PEFT adapter
/// merged into it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSource {
    pub model: PathBuf,
    pub adapter: Option<PathBuf>,
}

/// Every file a [`Speculator`] is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPaths {
    /// Each language-model role's checkpoint.
    pub models: LanguageModelMap<RoleSource>,
    /// The reward model's head (`score.weight`, `[1, hidden]` as HF stores it, or the former
    /// `[hidden, 1]`, in a safetensors file); read for
    /// [`JudgeFormat::Prompted`] judges only.
    pub reward_head: PathBuf,
    /// How the verifier and reward model read a proposal (the run's `judge_format`).
    pub judge_format: JudgeFormat,
    /// A folder with `tokenizer.json` and `tokenizer_config.json` (chat template).
    pub tokenizer: PathBuf,
    /// The bag-of-words classifier's JSON file (policies K, K→A, K→F).
    pub classifier: Option<PathBuf>,
}

/// The Qwen3 tokenizer shipped in the repository (`assets/qwen3-tokenizer`).
pub fn bundled_tokenizer() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/qwen3-tokenizer")
}

fn load_role<B: Backend>(source: &RoleSource, load: &LoadOptions, device: &B::Device) -> Result<Qwen3<B>> {
    let base =
        load_qwen3_with::<B>(&source.model, load, device).map_err(|e| ServeError::run(&source.model, e))?;
    match &source.adapter {
        None => Ok(base),
        Some(adapter) => Ok(base
            .with_peft_adapter(adapter)
            .map_err(|e| ServeError::run(adapter, e))?
            .merge_lora()),
    }
}

/// The four roles loaded from `paths` in `load`'s compute dtype (an adapter is merged into
/// its base), with model names `names` and `decode` settings.
pub fn load_models<B: Backend>(
    paths: &ModelPaths,
    load: &LoadOptions,
    names: LanguageModelMap<String>,
    decode: DecodeSettings,
    device: &B::Device,
) -> Result<LiveModels<B>> {
    let encoder =
        ActionPromptEncoder::from_dir(&paths.tokenizer).map_err(|e| ServeError::run(&paths.tokenizer, e))?;
    let models = LanguageModelMap::try_from_fn(|role| load_role::<B>(&paths.models[role], load, device))?;
    let head = match paths.judge_format {
        JudgeFormat::KindLikelihood => None,
        JudgeFormat::Prompted => {
            // HF's `[1, hidden]` layout, or the former `[hidden, 1]`; any other shape is an error
            // naming the file and both shapes.
            let head = read_score_head::<B>(
                &paths.reward_head,
                models[ModelRole::Reward].config.hidden_size,
                device,
            )
            .map_err(|e| ServeError::run(&paths.reward_head, e))?;
            Some(head)
        }
    };
    Ok(LiveModels {
        encoder,
        models,
        reward_head: head,
        judge_format: paths.judge_format,
        decode,
        names,
    })
}

/// A finished run folder: its results, calibrations and checkpoints.
#[derive(Debug, Clone)]
pub struct RunFolder {
    pub root: PathBuf,
    /// `eval/results.json`.
    pub results: ResultsFile,
    /// Every policy the run evaluated that can be served: the fixed ones and the dev
    /// calibrations.
    pub catalog: Vec<Policy>,
    /// The preset name (`tiny`): model names are `<preset>:<role>`.
    pub preset: String,
    pub decode: DecodeSettings,
}

/// The part of `analysis.json` read here.
#[derive(Deserialize)]
struct AnalysisView {
    calibrations: Vec<Calibration>,
}

impl RunFolder {
    /// Reads a finished run folder's results, calibrations and manifest.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let results_path = root.join("eval/results.json");
        let results = ResultsFile::read(&results_path).map_err(|e| ServeError::run(&results_path, e))?;
        let analysis_path = root.join("eval/analysis.json");
        let text = std::fs::read_to_string(&analysis_path).map_err(|e| ServeError::run(&analysis_path, e))?;
        let analysis: AnalysisView =
            serde_json::from_str(&text).map_err(|e| ServeError::run(&analysis_path, e))?;
        let greedy = ProposalSource::Greedy;
        let mut catalog = vec![
            Policy::StrongOnly,
            Policy::CheapOnly { source: greedy },
            Policy::CheapOnly {
                source: ProposalSource::OnePass { k: 1 },
            },
            Policy::Speculative { source: greedy },
            Policy::Classifier,
        ];
        catalog.extend(analysis.calibrations.iter().map(|c| c.policy));
        let (preset, decode) = read_manifest(&root.join("manifest.json"))?;
        Ok(RunFolder {
            root,
            results,
            catalog,
            preset,
            decode,
        })
    }

    /// Where the run's checkpoints are (see the module docs).
    pub fn model_paths(&self) -> Result<ModelPaths> {
        Self::model_paths_of(&self.root)
    }

    /// Where the checkpoints of the run folder `root` are (its results need not exist yet).
    pub fn model_paths_of(root: &Path) -> Result<ModelPaths> {
        let models = root.join("models");
        let role = |name: &str| -> Result<RoleSource> {
            let dir = models.join(name);
            let full = dir.join("model");
            if full.join("model.safetensors").exists() {
                return Ok(RoleSource {
                    model: full,
                    adapter: None,
                });
            }
            let adapter = dir.join("adapter");
            if !adapter.join("adapter_model.safetensors").exists() {
                return Err(ServeError::run(
                    &dir,
                    "neither model/model.safetensors nor adapter/adapter_model.safetensors: is the run finished?",
                ));
            }
            let named = std::fs::read_to_string(adapter.join("adapter_config.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v.get("base_model_name_or_path")?.as_str().map(PathBuf::from))
                .filter(|p| p.join("config.json").exists());
            let base = named
                .or_else(|| Some(dir.join("base")).filter(|p| p.join("config.json").exists()))
                .or_else(|| Some(models.join("cheap/model")).filter(|p| p.join("config.json").exists()))
                .ok_or_else(|| ServeError::run(&adapter, "the adapter's base checkpoint is not found"))?;
            Ok(RoleSource {
                model: base,
                adapter: Some(adapter),
            })
        };
        let sources = LanguageModelMap::try_from_fn(|r| role(r.as_str()))?;
        let cheap = &sources[ModelRole::Cheap].model;
        let tokenizer = if cheap.join("tokenizer.json").exists() {
            cheap.clone()
        } else {
            bundled_tokenizer()
        };
        let classifier = Some(models.join("classifier/classifier.json")).filter(|p| p.exists());
        Ok(ModelPaths {
            models: sources,
            reward_head: models.join("reward/score_head.safetensors"),
            judge_format: read_judge_format(&root.join("manifest.json"))?,
            tokenizer,
            classifier,
        })
    }

    /// The policy and results row an operating point picks.
    pub fn choose(&self, point: &OperatingPoint) -> Result<(Policy, ConfigResult)> {
        let servable: Vec<(&ConfigResult, Policy)> = self
            .results
            .configs
            .iter()
            .filter_map(|c| self.catalog.iter().find(|p| p.name() == c.name).map(|p| (c, *p)))
            .collect();
        let found = point.pick(&self.results, &servable);
        found
            .map(|(c, p)| (p, c.clone()))
            .ok_or_else(|| ServeError::Policy {
                rule: point.to_string(),
                message: format!(
                    "no configuration of {} matches; servable: {}",
                    self.root.display(),
                    servable
                        .iter()
                        .map(|(c, _)| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The run's [`Speculator`] at `point`, its models on `device` in `load`'s compute dtype;
    /// also the chosen results row.
    pub fn speculator<B: Backend>(
        &self,
        point: &OperatingPoint,
        load: &LoadOptions,
        device: &B::Device,
    ) -> Result<(Speculator<B>, ConfigResult)> {
        let (policy, row) = self.choose(point)?;
        let paths = self.model_paths()?;
        let names = LanguageModelMap::from_fn(|r| format!("{}:{r}", self.preset));
        let models = load_models::<B>(&paths, load, names, self.decode.clone(), device)?;
        let classifier = match &paths.classifier {
            Some(p) => Some((
                KindClassifier::load(p).map_err(|e| ServeError::run(p, e))?,
                format!("{}:classifier", self.preset),
            )),
            None => None,
        };
        let costs = priced_costs(&models);
        Ok((
            Speculator {
                models,
                classifier,
                costs,
                policy,
            },
            row,
        ))
    }
}

/// The judges' format of a run's `manifest.json`: its resolved config's
/// `roles.judge_format`, or the preset's debug text (`judge_format: KindLikelihood`) of a
/// manifest written without a config; [`JudgeFormat::Prompted`] when neither says.
pub fn read_judge_format(path: &Path) -> Result<JudgeFormat> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(JudgeFormat::Prompted);
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| ServeError::run(path, e))?;
    if let Some(format) = v.pointer("/config/resolved/roles/judge_format") {
        return serde_json::from_value(format.clone())
            .map_err(|e| ServeError::run(path, format!("config.resolved.roles.judge_format: {e}")));
    }
    let debug = v.get("configuration").and_then(Value::as_str).unwrap_or("");
    Ok(if debug.contains("judge_format: KindLikelihood") {
        JudgeFormat::KindLikelihood
    } else {
        JudgeFormat::Prompted
    })
}

/// The preset name and decode settings of a run's `manifest.json` (its `configuration` is the
/// preset's debug text: `decode: DecodeSettings { max_new_tokens: 48, temperature: 0.8, … }`).
/// A missing manifest gives the name `run` and the default settings.
pub fn read_manifest(path: &Path) -> Result<(String, DecodeSettings)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(("run".into(), DecodeSettings::default()));
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| ServeError::run(path, e))?;
    let preset = v
        .get("preset")
        .and_then(Value::as_str)
        .unwrap_or("run")
        .to_string();
    let mut decode = DecodeSettings::default();
    if let Some(config) = v.get("configuration").and_then(Value::as_str)
        && let Some(start) = config.find("DecodeSettings {")
    {
        let body = &config[start..];
        let body = &body[..body.find('}').unwrap_or(body.len())];
        let field = |name: &str| -> Option<&str> {
            let at = body.find(&format!("{name}: "))? + name.len() + 2;
            let rest = &body[at..];
            Some(rest[..rest.find([',', ' ', '}']).unwrap_or(rest.len())].trim())
        };
        let bad =
            |name: &str| ServeError::run(path, format!("configuration: decode `{name}` is not a number"));
        if let Some(x) = field("max_new_tokens") {
            decode.max_new_tokens = x.parse().map_err(|_| bad("max_new_tokens"))?;
        }
        if let Some(x) = field("temperature") {
            decode.temperature = x.parse().map_err(|_| bad("temperature"))?;
        }
        if let Some(x) = field("top_p") {
            decode.top_p = x.parse().map_err(|_| bad("top_p"))?;
        }
        if let Some(x) = field("seed") {
            decode.seed = x.parse().map_err(|_| bad("seed"))?;
        }
    }
    Ok((preset, decode))
}

/// How the served configuration is chosen from a run's results.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatingPoint {
    /// A configuration by name (`C@0.5220`, `K→A@0.6450`, `A`). A gated name whose threshold
    /// is not one the run calibrated (`C@0.58`) picks the same family's calibrated threshold
    /// nearest to it.
    Name(String),
    /// The cheapest configuration whose eval accuracy is within `points` percentage points
    /// of strong-only (`cheapest within 1 point of strong-only`); ties: more accurate.
    CheapestWithin { points: f64 },
    /// The most accurate configuration whose strong-model share is at most `rate` (gated:
    /// its fallback rate; A and H: 1; B, K: 0) — `fallback rate <= 30%`; ties: cheaper.
    MaxFallbackRate { rate: f64 },
    /// The most accurate configuration of mean cost at most `units` (`cost <= 0.3`); ties:
    /// cheaper.
    MaxCost { units: f64 },
    /// The default (`recommended`): the cheapest configuration within 1 point of strong-only
    /// among those that commit whole actions — a tool call with its name and arguments —
    /// which leaves out K, the cascades and one-pass proposals (kind-only actions an agent
    /// cannot execute).
    Recommended,
}

impl Default for OperatingPoint {
    /// [`OperatingPoint::Recommended`].
    fn default() -> Self {
        OperatingPoint::Recommended
    }
}

/// Whether `policy` commits whole actions (not kind-only ones): every policy but K, the
/// cascades and cheap proposals scored in one pass; H always commits the strong action.
pub fn commits_whole_actions(policy: &Policy) -> bool {
    match policy {
        Policy::StrongOnly | Policy::Speculative { .. } => true,
        Policy::Classifier | Policy::Cascade { .. } => false,
        Policy::CheapOnly { source }
        | Policy::Verified { source, .. }
        | Policy::RewardThreshold { source, .. }
        | Policy::Rerank { source, .. }
        | Policy::Confidence { source, .. } => !matches!(source, ProposalSource::OnePass { .. }),
    }
}

impl std::fmt::Display for OperatingPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperatingPoint::Name(n) => write!(f, "{n}"),
            OperatingPoint::CheapestWithin { points } => {
                write!(f, "cheapest within {points} point(s) of strong-only")
            }
            OperatingPoint::MaxFallbackRate { rate } => write!(f, "fallback rate <= {}%", rate * 100.0),
            OperatingPoint::MaxCost { units } => write!(f, "cost <= {units}"),
            OperatingPoint::Recommended => write!(
                f,
                "recommended: cheapest within 1 point of strong-only, whole actions"
            ),
        }
    }
}

/// The first number in `s` (digits, `.`, `-`).
fn number_in(s: &str) -> Option<f64> {
    let start = s.find(|c: char| c.is_ascii_digit() || c == '.')?;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl FromStr for OperatingPoint {
    type Err = ServeError;

    /// `NAME`, `cheapest within X point[s] of strong-only`, `fallback rate <= X%` (or
    /// `≤`, or a fraction `0.3`), `cost <= X`.
    fn from_str(s: &str) -> Result<Self> {
        let rule = s.trim();
        let lower = rule.to_lowercase();
        let bad = |message: &str| ServeError::Policy {
            rule: rule.to_string(),
            message: message.to_string(),
        };
        if rule.is_empty() {
            return Err(bad("empty rule"));
        }
        if lower == "recommended" {
            return Ok(OperatingPoint::Recommended);
        }
        if lower.starts_with("cheapest") {
            let points =
                number_in(&lower).ok_or_else(|| bad("`cheapest within X points of strong-only`: X?"))?;
            return Ok(OperatingPoint::CheapestWithin { points });
        }
        if lower.starts_with("fallback") {
            let x = number_in(&lower).ok_or_else(|| bad("`fallback rate <= X%`: X?"))?;
            let rate = if lower.contains('%') || x > 1.0 {
                x / 100.0
            } else {
                x
            };
            if !(0.0..=1.0).contains(&rate) {
                return Err(bad("a fallback rate is between 0% and 100%"));
            }
            return Ok(OperatingPoint::MaxFallbackRate { rate });
        }
        if lower.starts_with("cost") {
            let units = number_in(&lower).ok_or_else(|| bad("`cost <= X`: X?"))?;
            return Ok(OperatingPoint::MaxCost { units });
        }
        if rule.contains(' ') {
            return Err(bad(
                "not a configuration name nor a rule (`cheapest within 1 point of strong-only`, `fallback rate <= 30%`, `cost <= 0.3`)",
            ));
        }
        Ok(OperatingPoint::Name(rule.to_string()))
    }
}

/// Strong-model share of a configuration: its fallback rate when gated, else 1 for policies
/// that always call the strong model and 0 for those that never do.
fn strong_share(c: &ConfigResult, p: &Policy) -> f64 {
    match c.fallback_rate {
        Some(r) => r,
        None => match p {
            Policy::StrongOnly | Policy::Speculative { .. } => 1.0,
            _ => 0.0,
        },
    }
}

impl OperatingPoint {
    /// The configuration this point picks among `servable` (results rows with their policy).
    pub fn pick<'a>(
        &self,
        results: &ResultsFile,
        servable: &[(&'a ConfigResult, Policy)],
    ) -> Option<(&'a ConfigResult, Policy)> {
        let most_accurate = |ok: &dyn Fn(&ConfigResult, &Policy) -> bool| {
            servable
                .iter()
                .filter(|(c, p)| ok(c, p))
                .max_by(|(a, _), (b, _)| {
                    a.accuracy
                        .total_cmp(&b.accuracy)
                        .then(b.mean_cost.total_cmp(&a.mean_cost))
                })
                .copied()
        };
        match self {
            OperatingPoint::Name(name) => {
                if let Some(hit) = servable.iter().find(|(c, _)| &c.name == name) {
                    return Some(*hit);
                }
                let (family, at) = name.split_once('@')?;
                let tau: f64 = at.parse().ok()?;
                servable
                    .iter()
                    .filter(|(c, _)| c.name.split_once('@').is_some_and(|(f, _)| f == family))
                    .min_by(|(_, a), (_, b)| {
                        let d = |p: &Policy| (p.threshold().unwrap_or(f64::INFINITY) - tau).abs();
                        d(a).total_cmp(&d(b))
                    })
                    .copied()
            }
            OperatingPoint::CheapestWithin { .. } | OperatingPoint::Recommended => {
                let (points, whole) = match self {
                    OperatingPoint::CheapestWithin { points } => (*points, false),
                    _ => (1.0, true),
                };
                let strong = results.strong_only_config.as_deref().unwrap_or("A");
                let reference = servable.iter().find(|(c, _)| c.name == strong)?.0.accuracy;
                let floor = reference - points / 100.0 - 1e-12;
                servable
                    .iter()
                    .filter(|(c, p)| c.accuracy >= floor && (!whole || commits_whole_actions(p)))
                    .min_by(|(a, _), (b, _)| {
                        a.mean_cost
                            .total_cmp(&b.mean_cost)
                            .then(b.accuracy.total_cmp(&a.accuracy))
                    })
                    .copied()
            }
            OperatingPoint::MaxFallbackRate { rate } => {
                most_accurate(&|c, p| strong_share(c, p) <= rate + 1e-12)
            }
            OperatingPoint::MaxCost { units } => most_accurate(&|c, _| c.mean_cost <= units + 1e-12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec_actions_verify::Confidence;

    fn row(name: &str, accuracy: f64, mean_cost: f64, fallback: Option<f64>) -> ConfigResult {
        ConfigResult {
            name: name.into(),
            description: String::new(),
            accuracy,
            mean_cost,
            accept_rate: fallback.map(|f| 1.0 - f),
            fallback_rate: fallback,
            records: Vec::new(),
        }
    }

    /// A results file shaped like the tiny study's (values from its eval table, rounded).
    fn study() -> (ResultsFile, Vec<Policy>) {
        let c = |t: f64| Policy::Verified {
            source: ProposalSource::Greedy,
            threshold: t,
        };
        let f = |t: f64| Policy::Confidence {
            source: ProposalSource::OnePass { k: 2 },
            measure: Confidence::Margin,
            threshold: t,
        };
        let policies = vec![
            Policy::StrongOnly,
            Policy::CheapOnly {
                source: ProposalSource::Greedy,
            },
            Policy::Speculative {
                source: ProposalSource::Greedy,
            },
            c(0.4858),
            c(0.5220),
            c(0.5721),
            f(0.1463),
            f(0.2402),
            c(0.6),
        ];
        let mut results = ResultsFile::new("t", 1.0 / 9.0);
        results.strong_only_config = Some("A".into());
        results.configs = vec![
            row("A", 0.818, 1.0, None),
            row("B", 0.56, 0.15, None),
            row("H", 0.818, 1.15, None),
            row("C@0.4858", 0.582, 0.334, Some(0.084)),
            row("C@0.5220", 0.686, 0.578, Some(0.328)),
            row("C@0.5721", 0.752, 0.82, Some(0.57)),
            row("F-margin[G,k=2]@0.1463", 0.76, 0.55, Some(0.4)),
            row("F-margin[G,k=2]@0.2402", 0.808, 0.804, Some(0.654)),
            row("C@0.6000", 0.812, 0.9, Some(0.7)),
        ];
        (results, policies)
    }

    fn pick(rule: &str) -> String {
        let (results, policies) = study();
        let servable: Vec<(&ConfigResult, Policy)> = results
            .configs
            .iter()
            .map(|c| (c, *policies.iter().find(|p| p.name() == c.name).unwrap()))
            .collect();
        let point: OperatingPoint = rule.parse().unwrap();
        point
            .pick(&results, &servable)
            .map(|(c, _)| c.name.clone())
            .unwrap_or_default()
    }

    #[test]
    fn names_and_rules_pick_the_configurations_a_reader_would() {
        assert_eq!(pick("C@0.5220"), "C@0.5220");
        // not a calibrated threshold: the family's nearest
        assert_eq!(pick("C@0.58"), "C@0.5721");
        assert_eq!(pick("F-margin[G,k=2]@0.15"), "F-margin[G,k=2]@0.1463");
        assert_eq!(pick("Z@0.5"), "");
        // within 1 point of A (0.818): A (1.00), H (1.15), F-margin@0.2402 (0.808 ≥ 0.808): cheapest
        assert_eq!(
            pick("cheapest within 1 point of strong-only"),
            "F-margin[G,k=2]@0.2402"
        );
        // within 0 points: A or H at 0.818; A is cheaper
        assert_eq!(pick("cheapest within 0 points of strong-only"), "A");
        // strong share ≤ 30%: B (0), C@0.4858 (0.084) → most accurate is C@0.4858 (0.582)
        assert_eq!(pick("fallback rate <= 30%"), "C@0.4858");
        assert_eq!(pick("fallback rate ≤ 0.4"), "F-margin[G,k=2]@0.1463");
        assert_eq!(pick("cost <= 0.6"), "F-margin[G,k=2]@0.1463");
        assert_eq!(pick("cost <= 0.1"), "");
        // the default leaves out kind-only policies (one-pass F-margin): C@0.6000 (0.812, 0.9)
        assert_eq!(pick("recommended"), "C@0.6000");
        assert_eq!(OperatingPoint::default(), OperatingPoint::Recommended);
    }

    #[test]
    fn bad_rules_are_errors_naming_the_rule() {
        for bad in ["", "cheapest of all", "fallback rate <= 130%", "the best one"] {
            let e = bad.parse::<OperatingPoint>().unwrap_err();
            assert!(matches!(e, ServeError::Policy { .. }), "{bad}: {e}");
        }
        assert_eq!(
            "fallback rate <= 30%".parse::<OperatingPoint>().unwrap(),
            OperatingPoint::MaxFallbackRate { rate: 0.3 }
        );
    }

    #[test]
    fn the_manifest_gives_the_preset_and_decode_settings() {
        let dir = std::env::temp_dir().join(format!("serve-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest.json");
        let config = "Preset { name: \"tiny\", decode: DecodeSettings { max_new_tokens: 48, temperature: 0.8, top_p: 0.95, seed: 7 } }";
        std::fs::write(
            &path,
            serde_json::json!({"preset": "tiny", "configuration": config}).to_string(),
        )
        .unwrap();
        let (preset, decode) = read_manifest(&path).unwrap();
        assert_eq!(preset, "tiny");
        assert_eq!(
            decode,
            DecodeSettings {
                max_new_tokens: 48,
                temperature: 0.8,
                top_p: 0.95,
                seed: 7
            }
        );
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(read_manifest(&path), Err(ServeError::Run { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_manifest_gives_the_judges_format() {
        let dir = std::env::temp_dir().join(format!("serve-judges-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("manifest.json");
        let cases = [
            (
                serde_json::json!({"config": {"resolved": {"roles": {"judge_format": "kind_likelihood"}}}}),
                JudgeFormat::KindLikelihood,
            ),
            (
                serde_json::json!({"config": {"resolved": {"roles": {"judge_format": "prompted"}}}}),
                JudgeFormat::Prompted,
            ),
            (
                serde_json::json!({"configuration": "Preset { judge_format: KindLikelihood, dev_examples: 500 }"}),
                JudgeFormat::KindLikelihood,
            ),
            (serde_json::json!({"preset": "old"}), JudgeFormat::Prompted),
        ];
        for (manifest, want) in cases {
            std::fs::write(&path, manifest.to_string()).unwrap();
            assert_eq!(read_judge_format(&path).unwrap(), want, "{manifest}");
        }
        std::fs::write(
            &path,
            r#"{"config": {"resolved": {"roles": {"judge_format": "vibes"}}}}"#,
        )
        .unwrap();
        let err = read_judge_format(&path).unwrap_err().to_string();
        assert!(err.contains("judge_format"), "{err}");
        assert_eq!(
            read_judge_format(&dir.join("absent.json")).unwrap(),
            JudgeFormat::Prompted
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
