//! `build_datasets`: BFCL import → synthetic episodes → context budget → splits → files and
//! card, every file written with `spec_actions_core::io::atomic_write`.
//!
//! Files in the output folder (JSON Lines, one row per line):
//!
//! | file | rows |
//! |---|---|
//! | `train.jsonl`, `dev.jsonl`, `eval.jsonl`, `heldout.jsonl` | [`Example`]s (`messages`, `tools`, `gold`, `id`, `source`, `conversation`, `split`) — what evaluation reads |
//! | `sft_train.jsonl`, `sft_dev.jsonl` | proposer SFT rows ([`sft_row`]) |
//! | `sft_pc_train.jsonl`, `sft_pc_dev.jsonl` | the same as TRL prompt-completion pairs (with a renderer, [`build_datasets_rendered`]) |
//! | `verifier_train.jsonl`, `verifier_dev.jsonl` | balanced ACCEPT / REJECT rows ([`verdict_rows`], with `config.seed`) |
//! | `reward_train.jsonl`, `reward_dev.jsonl` | preference pairs ([`preference_pairs`], with `config.seed`) |
//! | `card.json`, `card.md` | the dataset card ([`Card`]) |

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use spec_actions_core::io::{FileError, atomic_write};
use spec_actions_core::{Example, Split};

use super::bfcl::{BfclImport, CategoryCount, ImportIssue, import_bfcl};
use super::budget::{ContextBudget, TokenCounter, TokenMeter, apply_budget};
use super::builders::{NegativeLevel, sft_row};
use super::card::{BudgetStats, Card, CardConfig, PairStats, baselines, describe_splits};
use super::conversation::Conversation;
use super::error::DataError;
use super::prompt_completion::{PairLengths, RenderedPair, SftRenderer, prompt_completion_row};
use super::role_sets::{preference_pairs, verdict_rows};
use super::split::{SplitConfig, Splits, split_conversations};
use super::synthetic::{SyntheticConfig, generate_episodes};
use super::traces::{KindMap, import_traces};

/// Everything a build depends on.
#[derive(Debug, Clone)]
pub struct DatasetConfig {
    /// BFCL v4 folder; `None` builds from synthetic episodes only.
    pub bfcl_dir: Option<PathBuf>,
    pub synthetic_examples: usize,
    pub seed: u64,
    pub budget: ContextBudget,
    pub eval_size: usize,
    pub dev_fraction: f64,
    pub heldout_category: Option<String>,
    /// Which mistakes the verifier and reward sets' hard negatives may be.
    pub negatives: NegativeLevel,
}

impl DatasetConfig {
    /// The study's defaults: all of BFCL, 20 000 synthetic examples, eval 500, dev 10 %,
    /// `simple_java` held out (its Java-typed arguments appear nowhere else, and no other
    /// category shares its conversations).
    pub fn study(bfcl_dir: Option<PathBuf>, seed: u64, budget: ContextBudget) -> Self {
        DatasetConfig {
            bfcl_dir,
            synthetic_examples: 20_000,
            seed,
            budget,
            eval_size: 500,
            dev_fraction: 0.1,
            heldout_category: Some("simple_java".to_string()),
            negatives: NegativeLevel::Call,
        }
    }
}

/// A user's agent-trace file as a data source (see [`crate::traces`]).
#[derive(Debug, Clone)]
pub struct TraceSource {
    /// JSON Lines of chat-completions conversations.
    pub path: PathBuf,
    pub map: KindMap,
    /// The examples' `source`, e.g. `traces:support-agent` (must start with `traces:`).
    pub source: String,
    /// What to do with a line that cannot be used (listed in [`BuildReport::trace_skipped`]).
    pub bad_lines: BadLines,
}

/// Sources beyond BFCL and the synthetic episodes, and the mixing weights of the train split.
#[derive(Debug, Clone, Default)]
pub struct ExtraSources {
    pub traces: Vec<TraceSource>,
    /// Mixing weight per source family (`bfcl`, `synthetic`, or a trace source's full name
    /// such as `traces:support-agent`; absent: 1). A weight `w` keeps every train conversation
    /// of the family `⌊w⌋` times plus a seeded `w − ⌊w⌋` share of them once more (copies get
    /// ids ending in `~<copy>`); 0 leaves the family out of train. Dev, eval and heldout are
    /// never reweighted.
    pub weights: BTreeMap<String, f64>,
}

/// The mixing family of an example source: `bfcl`, `synthetic`, or the whole `traces:<name>`.
pub fn source_family(source: &str) -> &str {
    if source.starts_with("traces:") {
        source
    } else {
        source.split(':').next().unwrap_or(source)
    }
}

/// Progress callbacks for long stages (the CLI draws bars with them).
pub trait Progress {
    /// A stage of `total` steps begins.
    fn start(&mut self, stage: &str, total: u64);
    fn advance(&mut self, steps: u64);
    fn finish(&mut self);
}

/// No progress display.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// What a build did: the card, and wall-clock time per stage.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub card: Card,
    pub timings: Vec<(&'static str, Duration)>,
    pub files: Vec<PathBuf>,
    /// Trace lines left out ([`BadLines::Skip`]), every one with its file and line.
    pub trace_skipped: Vec<SkippedLine>,
}

/// Build every file into `out` (see the module docs).
pub fn build_datasets(
    config: &DatasetConfig,
    counter: &dyn TokenCounter,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<BuildReport, DataError> {
    build_datasets_with(config, &ExtraSources::default(), counter, out, progress)
}

/// [`build_datasets`] with agent traces and mixing weights ([`ExtraSources`]).
pub fn build_datasets_with(
    config: &DatasetConfig,
    extra: &ExtraSources,
    counter: &dyn TokenCounter,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<BuildReport, DataError> {
    build_datasets_rendered(config, extra, counter, None, out, progress)
}

/// [`build_datasets_with`], plus, with a `renderer`, the SFT set in TRL's prompt-completion
/// format (`sft_pc_train.jsonl`, `sft_pc_dev.jsonl`, see [`crate::prompt_completion`]) and its
/// token lengths against TRL's default `max_length` in the card.
pub fn build_datasets_rendered(
    config: &DatasetConfig,
    extra: &ExtraSources,
    counter: &dyn TokenCounter,
    renderer: Option<&dyn SftRenderer>,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<BuildReport, DataError> {
    for (family, w) in &extra.weights {
        if !w.is_finite() || *w < 0.0 {
            return Err(DataError::Config(format!(
                "mixing weight of `{family}` is {w}; it must be a finite number ≥ 0"
            )));
        }
    }
    if !(0.0..1.0).contains(&config.dev_fraction) {
        return Err(DataError::Config(format!(
            "dev_fraction {} is not in [0, 1)",
            config.dev_fraction
        )));
    }
    if config.budget.max_prompt_tokens == Some(0) {
        return Err(DataError::Config(
            "max_prompt_tokens 0 leaves no room for any prompt".into(),
        ));
    }
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, Duration)>| {
        timings.push((name, clock.elapsed()));
        clock = Instant::now();
    };
    // 1. BFCL.
    let bfcl = match &config.bfcl_dir {
        Some(dir) => import_bfcl(dir)?,
        None => BfclImport {
            conversations: Vec::new(),
            categories: Vec::new(),
            issues: Vec::new(),
        },
    };
    if let Some(h) = &config.heldout_category
        && config.bfcl_dir.is_some()
        && !bfcl
            .categories
            .iter()
            .any(|c| &c.category == h && c.conversations > 0)
    {
        return Err(DataError::Config(format!(
            "held-out category `{h}` has no imported conversation"
        )));
    }
    let BfclImport {
        conversations: bfcl_conversations,
        categories,
        issues,
    } = bfcl;
    lap("bfcl import", &mut timings);
    // 2. Synthetic episodes.
    let synthetic = generate_episodes(SyntheticConfig {
        seed: config.seed,
        target_examples: config.synthetic_examples,
    });
    lap("synthetic episodes", &mut timings);
    // 2b. Agent traces.
    let mut traces = Vec::new();
    let mut trace_skipped = Vec::new();
    for t in &extra.traces {
        if !t.source.starts_with("traces:") {
            return Err(DataError::Config(format!(
                "trace source name `{}` must start with `traces:`",
                t.source
            )));
        }
        let import = import_traces(&t.path, &t.map, &t.source, t.bad_lines)?;
        traces.extend(import.conversations);
        trace_skipped.extend(import.skipped);
    }
    lap("trace import", &mut timings);
    // 3. Context budget.
    let mut meter = TokenMeter::new(counter);
    let mut budget_stats: BTreeMap<String, BudgetStats> = BTreeMap::new();
    let all: Vec<Conversation> = bfcl_conversations
        .into_iter()
        .chain(synthetic)
        .chain(traces)
        .collect();
    let total_examples: usize = all.iter().map(|c| c.examples.len()).sum();
    progress.start("context budget", total_examples as u64);
    let mut conversations = Vec::with_capacity(all.len());
    for mut conv in all {
        let stats = budget_stats.entry(conv.source.clone()).or_default();
        let n = conv.examples.len();
        conv.examples.retain_mut(|e| {
            let outcome = apply_budget(e, &config.budget, &mut meter);
            stats.examples_in += 1;
            stats.examples_with_turns_cut += usize::from(outcome.messages_cut > 0);
            stats.messages_cut += outcome.messages_cut;
            stats.contents_shortened += outcome.contents_shortened;
            stats.dropped_over_budget += usize::from(outcome.over_budget);
            !outcome.over_budget
        });
        progress.advance(n as u64);
        if !conv.examples.is_empty() {
            conversations.push(conv);
        }
    }
    progress.finish();
    lap("context budget + token count", &mut timings);
    // 4. Splits.
    let split_config = SplitConfig {
        seed: config.seed,
        eval_size: config.eval_size,
        dev_fraction: config.dev_fraction,
        heldout_category: config.heldout_category.clone(),
    };
    let mut splits = split_conversations(conversations, &split_config);
    splits.train = reweight(std::mem::take(&mut splits.train), &extra.weights, config.seed);
    // Empty splits would train and score nothing while looking like a finished stage.
    let dropped: usize = budget_stats.values().map(|s| s.dropped_over_budget).sum();
    let sizes = || {
        format!(
            "{total_examples} examples built, {dropped} dropped over the context budget \
             (max_prompt_tokens {}), {} in eval (eval_size {}), {} in dev",
            config
                .budget
                .max_prompt_tokens
                .map_or_else(|| "none".to_string(), |n| n.to_string()),
            splits.eval.len(),
            config.eval_size,
            splits.dev.len()
        )
    };
    if splits.train.is_empty() {
        return Err(DataError::Config(format!(
            "no training example left: {}; lower eval_size or raise max_prompt_tokens",
            sizes()
        )));
    }
    if config.eval_size > 0 && splits.eval.is_empty() {
        return Err(DataError::Config(format!("the eval split is empty: {}", sizes())));
    }
    lap("splits", &mut timings);
    // 5. Files.
    let mut files = BTreeMap::new();
    let mut written = Vec::new();
    let mut verifier = BTreeMap::new();
    let mut reward = BTreeMap::new();
    let mut pair_lengths = BTreeMap::new();
    let total_rows: usize =
        splits.train.len() * 5 + splits.dev.len() * 5 + splits.eval.len() + splits.heldout.len();
    progress.start("write files", total_rows as u64);
    for split in [Split::Train, Split::Dev, Split::Eval, Split::Heldout] {
        let examples = splits.get(split);
        let name = format!("{}.jsonl", split.as_str());
        let rows = write_jsonl(
            out,
            &name,
            examples
                .iter()
                .map(|e| serde_json::to_value(e).map_err(json_err(&name))),
            progress,
        )?;
        files.insert(name.clone(), rows);
        written.push(out.join(name));
    }
    for split in [Split::Train, Split::Dev] {
        let examples = splits.get(split);
        let s = split.as_str();
        let name = format!("sft_{s}.jsonl");
        files.insert(
            name.clone(),
            write_jsonl(out, &name, examples.iter().map(|e| Ok(sft_row(e))), progress)?,
        );
        written.push(out.join(&name));
        // The same rows as TRL prompt-completion pairs (loss on the completion = our answer).
        if let Some(renderer) = renderer {
            let name = format!("sft_pc_{s}.jsonl");
            let mut lengths = Vec::new();
            let mut not_rendered = 0;
            let mut rendered = Vec::with_capacity(examples.len());
            for (e, pair) in examples.iter().zip(render_all(renderer, examples)) {
                match pair {
                    Ok(pair) => {
                        lengths.push((pair.prompt_tokens, pair.completion_tokens));
                        rendered.push(Ok(prompt_completion_row(e, &pair)));
                    }
                    Err(_) => not_rendered += 1,
                }
            }
            files.insert(
                name.clone(),
                write_jsonl(out, &name, rendered.into_iter(), progress)?,
            );
            written.push(out.join(&name));
            pair_lengths.insert(s.to_string(), PairLengths::of(&lengths, not_rendered));
        }
        // The role sets, built once with the data seed: the trainers encode these same rows.
        let mut vstats = PairStats::default();
        let name = format!("verifier_{s}.jsonl");
        let rows = verdict_rows(examples, config.seed, config.negatives)
            .into_iter()
            .map(|row| {
                if let Some(t) = row.negative_type {
                    vstats.add(2, t);
                }
                Ok(row.to_json())
            });
        files.insert(name.clone(), write_jsonl(out, &name, rows, progress)?);
        written.push(out.join(&name));
        verifier.insert(s.to_string(), vstats);
        let mut rstats = PairStats::default();
        let name = format!("reward_{s}.jsonl");
        let rows = preference_pairs(examples, config.seed, config.negatives)
            .into_iter()
            .map(|pair| {
                rstats.add(1, pair.negative_type);
                Ok(pair.to_json())
            });
        files.insert(name.clone(), write_jsonl(out, &name, rows, progress)?);
        written.push(out.join(&name));
        reward.insert(s.to_string(), rstats);
    }
    progress.finish();
    lap("write files", &mut timings);
    // 6. Card.
    let mut card = make_card(
        config,
        &splits,
        &mut meter,
        files,
        budget_stats,
        verifier,
        reward,
        (categories, issues),
    );
    card.sft_prompt_completion = pair_lengths;
    let json = serde_json::to_string_pretty(&card).map_err(json_err("card.json"))?;
    write_text(&out.join("card.json"), &(json + "\n"))?;
    write_text(&out.join("card.md"), &card.to_markdown())?;
    written.push(out.join("card.json"));
    written.push(out.join("card.md"));
    lap("card", &mut timings);
    Ok(BuildReport {
        card,
        timings,
        files: written,
        trace_skipped,
    })
}

/// Applies the mixing weights to the train split (see [`ExtraSources::weights`]): whole
/// conversations are repeated or left out, in file order, the fractional share drawn with
/// `seed`.
pub fn reweight(train: Vec<Example>, weights: &BTreeMap<String, f64>, seed: u64) -> Vec<Example> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    if weights.values().all(|&w| w == 1.0) {
        return train;
    }
    // Conversations in first-appearance order.
    let mut order: Vec<String> = Vec::new();
    let mut by_conv: BTreeMap<String, Vec<Example>> = BTreeMap::new();
    for e in train {
        if !by_conv.contains_key(&e.conversation) {
            order.push(e.conversation.clone());
        }
        by_conv.entry(e.conversation.clone()).or_default().push(e);
    }
    // Copies per conversation, family by family.
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &order {
        let family = source_family(&by_conv[c][0].source).to_string();
        families.entry(family).or_default().push(c.clone());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x6d69_7869_6e67);
    for (family, convs) in &families {
        let w = weights.get(family).copied().unwrap_or(1.0);
        let whole = w.floor() as usize;
        let extra = ((w - w.floor()) * convs.len() as f64).round() as usize;
        let mut picked = convs.clone();
        picked.shuffle(&mut rng);
        let extra: BTreeSet<&String> = picked.iter().take(extra).collect();
        for c in convs {
            copies.insert(c.clone(), whole + usize::from(extra.contains(c)));
        }
    }
    let mut out = Vec::new();
    for c in order {
        let examples = &by_conv[&c];
        for k in 0..copies[&c] {
            out.extend(examples.iter().cloned().map(|mut e| {
                if k > 0 {
                    e.id = format!("{}~{k}", e.id);
                }
                e
            }));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn make_card(
    config: &DatasetConfig,
    splits: &Splits,
    meter: &mut TokenMeter,
    files: BTreeMap<String, usize>,
    budget: BTreeMap<String, BudgetStats>,
    verifier: BTreeMap<String, PairStats>,
    reward: BTreeMap<String, PairStats>,
    (bfcl_categories, bfcl_import_issues): (Vec<CategoryCount>, Vec<ImportIssue>),
) -> Card {
    let d = describe_splits(splits, meter);
    let (sizes, kinds_per_split, kinds_per_source, sources_per_split, prompt_tokens) =
        (d.sizes, d.kinds, d.per_source, d.sources, d.tokens);
    Card {
        config: CardConfig {
            seed: config.seed,
            budget: config.budget,
            synthetic_target_examples: config.synthetic_examples,
            eval_size: config.eval_size,
            dev_fraction: config.dev_fraction,
            heldout_category: config.heldout_category.clone(),
            negatives: config.negatives,
        },
        files,
        sizes,
        kinds_per_split,
        kinds_per_source,
        sources_per_split,
        baselines: baselines(splits),
        prompt_tokens,
        budget,
        eval_pool_unused: splits.eval_pool_unused,
        verifier,
        reward,
        bfcl_categories,
        bfcl_import_issues,
        sft_prompt_completion: BTreeMap::new(),
    }
}

fn json_err(what: &str) -> impl Fn(serde_json::Error) -> DataError + '_ {
    move |source| DataError::Json {
        what: what.to_string(),
        source,
    }
}

/// Write `rows` as JSON Lines to `dir/name`, atomically; returns the row count.
fn write_jsonl(
    dir: &Path,
    name: &str,
    rows: impl Iterator<Item = Result<Value, DataError>>,
    progress: &mut dyn Progress,
) -> Result<usize, DataError> {
    let path = dir.join(name);
    let mut count = 0;
    atomic_write(&path, |w| {
        for row in rows {
            let row = row?;
            serde_json::to_writer(&mut *w, &row).map_err(json_err(name))?;
            w.write_all(b"\n")
                .map_err(|e| FileError::new("write", &path, e))?;
            count += 1;
            progress.advance(1);
        }
        Ok::<(), DataError>(())
    })?;
    Ok(count)
}

fn write_text(path: &Path, text: &str) -> Result<(), DataError> {
    spec_actions_core::io::atomic_write_bytes(path, text.as_bytes())?;
    Ok(())
}

/// What reading a dataset does with a line that does not parse as an [`Example`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadLines {
    /// Stop with [`DataError::InvalidLine`] naming the file and the 1-based line (the default:
    /// a run never trains on a silently shortened dataset).
    #[default]
    Refuse,
    /// Skip it and list it in [`ReadExamples::skipped`] (`--skip-bad-lines`).
    Skip,
}

/// A dataset line [`BadLines::Skip`] left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedLine {
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
    }
}

/// The examples of a dataset file and the lines skipped on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadExamples {
    pub examples: Vec<Example>,
    /// Empty under [`BadLines::Refuse`].
    pub skipped: Vec<SkippedLine>,
}

/// Read a split file written by [`build_datasets`] back into examples; a line that does not
/// parse stops the read with the file and the line ([`BadLines::Refuse`]).
pub fn read_examples(path: &Path) -> Result<Vec<Example>, DataError> {
    Ok(read_examples_with(path, BadLines::Refuse)?.examples)
}

/// [`read_examples`] with a choice for bad lines: a line that is not UTF-8, not JSON, or not
/// an [`Example`] is refused or skipped and counted. Blank lines are neither.
pub fn read_examples_with(path: &Path, bad_lines: BadLines) -> Result<ReadExamples, DataError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::new("read", path, e))?;
    let mut examples = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let parsed = match std::str::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => serde_json::from_str::<Example>(text).map_err(|e| line_error(&e)),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        match (parsed, bad_lines) {
            (Ok(example), _) => examples.push(example),
            (Err(reason), BadLines::Refuse) => {
                return Err(DataError::InvalidLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason,
                });
            }
            (Err(reason), BadLines::Skip) => skipped.push(SkippedLine {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            }),
        }
    }
    Ok(ReadExamples { examples, skipped })
}

/// A JSON error of one JSONL row, placed by its column: the row is one line of the file, whose
/// number the caller gives, so serde's "at line 1 column N" would contradict it.
fn line_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let located = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&located).unwrap_or(&text);
    format!("column {}: {message}", e.column())
}

/// The data seed a build used, read back from its `dir/card.json` (`config.seed`): the seed
/// the role sets ([`verdict_rows`], [`preference_pairs`]) are built with, by the writer and by
/// the trainers.
pub fn read_card_seed(dir: &Path) -> Result<u64, DataError> {
    read_role_set_options(dir).map(|(seed, _)| seed)
}

/// The data seed and the negative level (`config.negatives`; `call` on cards written before
/// the field existed) of the dataset card in `dir`: what [`verdict_rows`] and
/// [`preference_pairs`] were built with.
pub fn read_role_set_options(dir: &Path) -> Result<(u64, NegativeLevel), DataError> {
    let path = dir.join("card.json");
    let bytes = std::fs::read(&path).map_err(|e| FileError::new("read", &path, e))?;
    let card: Value = serde_json::from_slice(&bytes).map_err(|e| DataError::Invalid {
        path: path.clone(),
        reason: format!("not JSON: {e}"),
    })?;
    let seed = card
        .pointer("/config/seed")
        .and_then(Value::as_u64)
        .ok_or_else(|| DataError::Invalid {
            path: path.clone(),
            reason: "field `config.seed` is missing or not an unsigned integer".to_string(),
        })?;
    let level = match card.pointer("/config/negatives") {
        None => NegativeLevel::Call,
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| DataError::Invalid {
            path,
            reason: format!("field `config.negatives`: {e} (expected \"call\" or \"kind\")"),
        })?,
    };
    Ok((seed, level))
}

/// Every example rendered by `renderer`, in order, split over the available cores (rendering
/// the chat template and counting its tokens is the slow part of writing the SFT files).
fn render_all(renderer: &dyn SftRenderer, examples: &[Example]) -> Vec<Result<RenderedPair, String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = examples.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = examples
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(|e| renderer.render(e)).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}
