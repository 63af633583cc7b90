//! The dataset card written beside the files: `card.json` (machine-readable) and `card.md`
//! (the same facts as tables). Everything in it is a pure function of the data, so the card is
//! byte-identical for the same seed (timings are printed by the command, not stored).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use spec_actions_core::{ActionKind, Example, MajorityBaseline, Split};

use super::bfcl::{CategoryCount, ImportIssue};
use super::budget::{ContextBudget, TokenMeter, percentiles};
use super::builders::NegativeType;
use super::prompt_completion::{PairLengths, TRL_DEFAULT_MAX_LENGTH};
use super::split::Splits;

pub const SPLITS: [Split; 4] = [Split::Train, Split::Dev, Split::Eval, Split::Heldout];
const PERCENTILES: [u32; 4] = [50, 90, 99, 100];

/// How the data was made.
#[derive(Debug, Clone, Serialize)]
pub struct CardConfig {
    pub seed: u64,
    pub budget: ContextBudget,
    pub synthetic_target_examples: usize,
    pub eval_size: usize,
    pub dev_fraction: f64,
    pub heldout_category: Option<String>,
    /// Which mistakes the role sets' hard negatives may be (`call` or `kind`).
    pub negatives: crate::builders::NegativeLevel,
}

/// Examples and conversations of a split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitSize {
    pub examples: usize,
    pub conversations: usize,
}

/// Accuracy of trivial predictors on a split (kind level).
#[derive(Debug, Clone, Serialize)]
pub struct Baselines {
    /// Always predict train's most frequent kind.
    pub majority_kind: String,
    pub majority_accuracy: f64,
    /// Uniform over the nine kinds: 1/9.
    pub random_uniform_accuracy: f64,
    /// Sample a kind from train's distribution: Σ p_train(k) · p_split(k).
    pub random_train_prior_accuracy: f64,
}

/// Prompt token lengths (proposer prompt, tools included; see `budget`).
#[derive(Debug, Clone, Serialize)]
pub struct TokenLengths {
    pub p50: usize,
    pub p90: usize,
    pub p99: usize,
    pub max: usize,
    pub mean: f64,
}

/// What the context budget did, per source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BudgetStats {
    pub examples_in: usize,
    pub examples_with_turns_cut: usize,
    pub messages_cut: usize,
    pub contents_shortened: usize,
    pub dropped_over_budget: usize,
}

/// Counts of the verifier and reward files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairStats {
    pub rows: usize,
    pub accept: usize,
    pub reject: usize,
    pub negative_types: BTreeMap<String, usize>,
}

/// The dataset card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub config: CardConfig,
    /// File name → rows.
    pub files: BTreeMap<String, usize>,
    pub sizes: BTreeMap<String, SplitSize>,
    /// split → kind → examples.
    pub kinds_per_split: BTreeMap<String, BTreeMap<String, usize>>,
    /// source → kind → examples (all splits).
    pub kinds_per_source: BTreeMap<String, BTreeMap<String, usize>>,
    /// split → source → examples.
    pub sources_per_split: BTreeMap<String, BTreeMap<String, usize>>,
    pub baselines: BTreeMap<String, Baselines>,
    pub prompt_tokens: BTreeMap<String, TokenLengths>,
    pub budget: BTreeMap<String, BudgetStats>,
    pub eval_pool_unused: usize,
    /// split (train, dev) → verifier file counts.
    pub verifier: BTreeMap<String, PairStats>,
    pub reward: BTreeMap<String, PairStats>,
    pub bfcl_categories: Vec<CategoryCount>,
    pub bfcl_import_issues: Vec<ImportIssue>,
    /// split (train, dev) → token lengths of the prompt-completion SFT rows vs TRL's default
    /// `max_length` (absent when the build had no chat template to render them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sft_prompt_completion: BTreeMap<String, PairLengths>,
}

fn kind_counts(examples: &[Example]) -> [usize; ActionKind::COUNT] {
    let mut c = [0; ActionKind::COUNT];
    for e in examples {
        c[e.gold.kind.index()] += 1;
    }
    c
}

fn kind_map(counts: &[usize; ActionKind::COUNT]) -> BTreeMap<String, usize> {
    ActionKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), counts[k.index()]))
        .collect()
}

/// Kind-level accuracy of the trivial predictors on each split.
pub fn baselines(splits: &Splits) -> BTreeMap<String, Baselines> {
    let train = kind_counts(&splits.train);
    let train_total: usize = train.iter().sum();
    // The study's majority baseline (core's one definition; ties to the earlier kind). An empty
    // train split predicts the first kind.
    let majority =
        MajorityBaseline::fit(splits.train.iter().map(|e| e.gold.kind)).unwrap_or(MajorityBaseline {
            kind: ActionKind::ALL[0],
            train_share: 0.0,
        });
    SPLITS
        .iter()
        .map(|&s| {
            let c = kind_counts(splits.get(s));
            let n: usize = c.iter().sum();
            let frac = |x: usize, d: usize| if d == 0 { 0.0 } else { x as f64 / d as f64 };
            let prior: f64 = ActionKind::ALL
                .iter()
                .map(|k| frac(train[k.index()], train_total) * frac(c[k.index()], n))
                .sum();
            (
                s.as_str().to_string(),
                Baselines {
                    majority_kind: majority.kind.as_str().to_string(),
                    majority_accuracy: round4(
                        majority
                            .accuracy_on(splits.get(s).iter().map(|e| e.gold.kind))
                            .value(),
                    ),
                    random_uniform_accuracy: round4(1.0 / ActionKind::COUNT as f64),
                    random_train_prior_accuracy: round4(prior),
                },
            )
        })
        .collect()
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The per-split tables of the card.
pub struct SplitDescription {
    pub sizes: BTreeMap<String, SplitSize>,
    pub kinds: BTreeMap<String, BTreeMap<String, usize>>,
    pub per_source: BTreeMap<String, BTreeMap<String, usize>>,
    pub sources: BTreeMap<String, BTreeMap<String, usize>>,
    pub tokens: BTreeMap<String, TokenLengths>,
}

/// Per-split sizes, kind and source distributions and prompt-length percentiles.
pub fn describe_splits(splits: &Splits, meter: &mut TokenMeter) -> SplitDescription {
    let mut sizes = BTreeMap::new();
    let mut kinds = BTreeMap::new();
    let mut per_source: BTreeMap<String, [usize; ActionKind::COUNT]> = BTreeMap::new();
    let mut sources = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for s in SPLITS {
        let examples = splits.get(s);
        let conversations: std::collections::BTreeSet<&str> =
            examples.iter().map(|e| e.conversation.as_str()).collect();
        sizes.insert(
            s.as_str().to_string(),
            SplitSize {
                examples: examples.len(),
                conversations: conversations.len(),
            },
        );
        kinds.insert(s.as_str().to_string(), kind_map(&kind_counts(examples)));
        let mut src: BTreeMap<String, usize> = BTreeMap::new();
        for e in examples {
            *src.entry(e.source.clone()).or_default() += 1;
            per_source
                .entry(e.source.clone())
                .or_insert([0; ActionKind::COUNT])[e.gold.kind.index()] += 1;
        }
        sources.insert(s.as_str().to_string(), src);
        let lengths: Vec<usize> = examples.iter().map(|e| meter.proposer_prompt_tokens(e)).collect();
        let p = percentiles(&lengths, &PERCENTILES);
        let mean = if lengths.is_empty() {
            0.0
        } else {
            lengths.iter().sum::<usize>() as f64 / lengths.len() as f64
        };
        tokens.insert(
            s.as_str().to_string(),
            TokenLengths {
                p50: p[0],
                p90: p[1],
                p99: p[2],
                max: p[3],
                mean: (mean * 10.0).round() / 10.0,
            },
        );
    }
    let per_source = per_source.into_iter().map(|(k, v)| (k, kind_map(&v))).collect();
    SplitDescription {
        sizes,
        kinds,
        per_source,
        sources,
        tokens,
    }
}

impl PairStats {
    /// Count one example's rows: one positive (ACCEPT / chosen) and one hard negative (REJECT /
    /// rejected) in `rows` rows (2 verifier rows, or 1 reward pair).
    pub fn add(&mut self, rows: usize, negative: NegativeType) {
        self.rows += rows;
        self.accept += 1;
        self.reject += 1;
        *self
            .negative_types
            .entry(negative.as_str().to_string())
            .or_default() += 1;
    }
}

impl Card {
    /// `card.md`: the card as tables.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let c = &self.config;
        let _ = writeln!(md, "# spec-actions v3 datasets\n");
        let _ = writeln!(
            md,
            "Seed {}, context budget `{}` (max prompt tokens: {}, tool schemas: {:?}, max content chars: {}), \
             synthetic target {} examples, eval size {}, dev fraction {}, held-out BFCL category: {}, \
             hard negatives: {} level.\n",
            c.seed,
            c.budget.name,
            c.budget
                .max_prompt_tokens
                .map_or("none".into(), |n| n.to_string()),
            c.budget.tool_schemas,
            c.budget
                .max_content_chars
                .map_or("none".into(), |n| n.to_string()),
            c.synthetic_target_examples,
            c.eval_size,
            c.dev_fraction,
            c.heldout_category.as_deref().unwrap_or("none"),
            c.negatives.as_str(),
        );
        let _ = writeln!(
            md,
            "Token counts use the Qwen3 tokenizer over an approximation of the chat template (see \
             `spec_actions_data::budget`). Splits are by conversation group; see \
             `spec_actions_data::split`.\n"
        );
        let _ = writeln!(md, "## Files\n\n| file | rows |\n|---|---:|");
        for (f, n) in &self.files {
            let _ = writeln!(md, "| {f} | {n} |");
        }
        if !self.sft_prompt_completion.is_empty() {
            let _ = writeln!(
                md,
                "\n## SFT as TRL prompt-completion pairs\n\n`sft_pc_*.jsonl`: `prompt` = the chat template \
                 rendered up to the assistant turn, `completion` = the answer up to `<|im_end|>` — TRL's \
                 `SFTTrainer` puts the loss on the completion, the tokens our trainer trains on but the \
                 newline after `<|im_end|>` (on the \
                 `messages` rows of `sft_*.jsonl` TRL trains on every token). Token lengths (prompt + \
                 completion) against TRL's default `max_length` of {TRL_DEFAULT_MAX_LENGTH}: TRL cuts the \
                 end of a longer row, which is the answer — set `max_length` to at least the max.\n\n\
                 | split | rows | p50 | p90 | p99 | max | completion max | over {TRL_DEFAULT_MAX_LENGTH} |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            );
            for (split, l) in &self.sft_prompt_completion {
                let _ = writeln!(
                    md,
                    "| {split} | {} | {} | {} | {} | {} | {} | {} ({:.1} %) |",
                    l.rows,
                    l.total_p50,
                    l.total_p90,
                    l.total_p99,
                    l.total_max,
                    l.completion_max,
                    l.over_trl_max_length,
                    100.0 * l.over_share()
                );
            }
        }
        let _ = writeln!(
            md,
            "\n## Splits\n\n| split | examples | conversations | majority kind | majority acc. | uniform random acc. | train-prior random acc. | prompt tokens p50 / p90 / p99 / max |\n|---|---:|---:|---|---:|---:|---:|---|"
        );
        for s in SPLITS {
            let k = s.as_str();
            let (size, b, t) = (&self.sizes[k], &self.baselines[k], &self.prompt_tokens[k]);
            let _ = writeln!(
                md,
                "| {k} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {} / {} / {} / {} |",
                size.examples,
                size.conversations,
                b.majority_kind,
                b.majority_accuracy,
                b.random_uniform_accuracy,
                b.random_train_prior_accuracy,
                t.p50,
                t.p90,
                t.p99,
                t.max
            );
        }
        let kinds: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
        let header = |first: &str| {
            format!(
                "| {first} | {} | total |\n|---|{}---:|",
                kinds.join(" | "),
                "---:|".repeat(kinds.len())
            )
        };
        let row = |name: &str, m: &BTreeMap<String, usize>| {
            let cells: Vec<String> = kinds
                .iter()
                .map(|k| m.get(*k).copied().unwrap_or(0).to_string())
                .collect();
            format!(
                "| {name} | {} | {} |",
                cells.join(" | "),
                m.values().sum::<usize>()
            )
        };
        let _ = writeln!(md, "\n## Kinds per split\n\n{}", header("split"));
        for s in SPLITS {
            let _ = writeln!(md, "{}", row(s.as_str(), &self.kinds_per_split[s.as_str()]));
        }
        let _ = writeln!(md, "\n## Kinds per source (all splits)\n\n{}", header("source"));
        for (src, m) in &self.kinds_per_source {
            let _ = writeln!(md, "{}", row(src, m));
        }
        let _ = writeln!(
            md,
            "\n## Sources per split\n\n| source | train | dev | eval | heldout |\n|---|---:|---:|---:|---:|"
        );
        for src in self.kinds_per_source.keys() {
            let cells: Vec<String> = SPLITS
                .iter()
                .map(|s| {
                    self.sources_per_split[s.as_str()]
                        .get(src)
                        .copied()
                        .unwrap_or(0)
                        .to_string()
                })
                .collect();
            let _ = writeln!(md, "| {src} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            md,
            "\nEval-pool examples not drawn into eval (discarded, their conversations are in eval): {}.",
            self.eval_pool_unused
        );
        let _ = writeln!(
            md,
            "\n## Verifier and reward sets\n\n| file | rows | ACCEPT | REJECT | negatives by type |\n|---|---:|---:|---:|---|"
        );
        for (name, stats) in self
            .verifier
            .iter()
            .map(|(s, p)| (format!("verifier_{s}"), p))
            .chain(self.reward.iter().map(|(s, p)| (format!("reward_{s}"), p)))
        {
            let types: Vec<String> = stats
                .negative_types
                .iter()
                .map(|(t, n)| format!("{t}: {n}"))
                .collect();
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} |",
                stats.rows,
                stats.accept,
                stats.reject,
                types.join(", ")
            );
        }
        let _ = writeln!(
            md,
            "\n## Context budget\n\n| source | examples in | turns cut | messages cut | contents shortened | dropped (over budget) |\n|---|---:|---:|---:|---:|---:|"
        );
        for (src, b) in &self.budget {
            let _ = writeln!(
                md,
                "| {src} | {} | {} | {} | {} | {} |",
                b.examples_in,
                b.examples_with_turns_cut,
                b.messages_cut,
                b.contents_shortened,
                b.dropped_over_budget
            );
        }
        let _ = writeln!(
            md,
            "\n## BFCL import\n\n| category | imported as | lines | conversations | examples | failed | skipped |\n|---|---|---:|---:|---:|---:|---:|"
        );
        for cat in &self.bfcl_categories {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cat.category,
                serde_json::to_value(cat.import_as)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                cat.lines,
                cat.conversations,
                cat.examples,
                cat.failed,
                cat.skipped
            );
        }
        let _ = writeln!(
            md,
            "\n### Lines not imported ({})\n",
            self.bfcl_import_issues.len()
        );
        if self.bfcl_import_issues.is_empty() {
            let _ = writeln!(md, "None.");
        } else {
            let _ = writeln!(md, "| file | line | status | reason |\n|---|---:|---|---|");
            for i in &self.bfcl_import_issues {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    i.file,
                    i.line,
                    i.status,
                    i.reason.replace('|', "\\|").replace('\n', " ")
                );
            }
        }
        md
    }
}
