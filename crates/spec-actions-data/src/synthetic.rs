//! Synthetic coding-agent episodes: the steps BFCL lacks (`repair`, `verifier`, refusals,
//! clarifying questions) in realistic multi-step work, with tool outputs in the context so that
//! every label follows from what the agent has seen.
//!
//! Scenarios ([`Scenario`]): fix a failing test, add a feature, investigate a bug, answer from
//! documentation, refactor, a request that must be refused, an ambiguous request, an operations
//! task. The labelling rules every episode obeys:
//! - read what a change needs before writing it (`file_read`); look up what the repository
//!   cannot tell (`retrieval`); use an API for everything else (`tool_call`);
//! - after the last write of a change, run the checks (`verifier`);
//! - after a failing check, fix the cause (`repair`), then check again;
//! - after a passing check or a complete answer, report (`final_answer`);
//! - a step forbidden by the rules in the system message, refused by a permission error, or
//!   needing a tool that is not offered is `BLOCKED`;
//! - a request that does not say what to change is `ask_clarification`.
//!
//! Episode `i` draws from its own ChaCha8 stream seeded from the master seed, so a data set is
//! a pure function of `(seed, size)`.

use rand::seq::IndexedRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use spec_actions_core::{Action, ActionKind, Example, Message, Split, ToolCall};

use super::conversation::Conversation;
use super::kind_table::kind_of_function;

/// How many synthetic examples to make, from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticConfig {
    pub seed: u64,
    /// Episodes are generated until at least this many examples exist.
    pub target_examples: usize,
}

/// The kinds of episode, with their sampling weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    FixFailingTest,
    AddFeature,
    InvestigateBug,
    AnswerFromDocs,
    Refactor,
    Refused,
    Ambiguous,
    Operations,
}

impl Scenario {
    pub const ALL: [(Scenario, u32); 8] = [
        (Scenario::FixFailingTest, 4),
        (Scenario::AddFeature, 3),
        (Scenario::InvestigateBug, 2),
        (Scenario::AnswerFromDocs, 3),
        (Scenario::Refactor, 2),
        (Scenario::Refused, 3),
        (Scenario::Ambiguous, 3),
        (Scenario::Operations, 3),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::FixFailingTest => "fix_failing_test",
            Scenario::AddFeature => "add_feature",
            Scenario::InvestigateBug => "investigate_bug",
            Scenario::AnswerFromDocs => "answer_from_docs",
            Scenario::Refactor => "refactor",
            Scenario::Refused => "refused_request",
            Scenario::Ambiguous => "ambiguous_request",
            Scenario::Operations => "operations",
        }
    }
}

/// The coding-agent tools every episode offers (chat-format schemas).
pub fn agent_tools() -> Vec<Value> {
    fn tool(name: &str, description: &str, params: &[(&str, &str, &str)], required: &[&str]) -> Value {
        let properties: serde_json::Map<String, Value> = params
            .iter()
            .map(|(n, t, d)| (n.to_string(), json!({"type": t, "description": d})))
            .collect();
        json!({"type": "function", "function": {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}})
    }
    vec![
        tool(
            "read_file",
            "Read a file of the repository.",
            &[("path", "string", "Path relative to the repository root.")],
            &["path"],
        ),
        tool(
            "list_dir",
            "List a folder of the repository.",
            &[("path", "string", "Folder path; '.' is the root.")],
            &["path"],
        ),
        tool(
            "search_code",
            "Search the repository for a regular expression.",
            &[
                ("pattern", "string", "Regular expression."),
                ("path", "string", "Folder to search; default '.'."),
            ],
            &["pattern"],
        ),
        tool(
            "write_file",
            "Create or overwrite a file.",
            &[
                ("path", "string", "Path of the file."),
                ("content", "string", "Full new content."),
            ],
            &["path", "content"],
        ),
        tool(
            "edit_file",
            "Replace one exact snippet of a file with another.",
            &[
                ("path", "string", "Path of the file."),
                ("old", "string", "Exact text to replace."),
                ("new", "string", "Replacement."),
            ],
            &["path", "old", "new"],
        ),
        tool(
            "run_tests",
            "Run tests, lints or type checks and return their log.",
            &[("target", "string", "Test file, test id, or 'all'.")],
            &["target"],
        ),
        tool(
            "search_docs",
            "Search the documentation of a library.",
            &[
                ("library", "string", "Library name."),
                ("query", "string", "What to look for."),
            ],
            &["library", "query"],
        ),
        tool(
            "web_search",
            "Search the web.",
            &[("query", "string", "Search terms.")],
            &["query"],
        ),
        tool(
            "fetch_url",
            "Fetch the text of a web page.",
            &[("url", "string", "Page URL.")],
            &["url"],
        ),
        tool(
            "query_logs",
            "Search the production logs of a service.",
            &[
                ("service", "string", "Service name."),
                ("pattern", "string", "Text to match."),
                ("since", "string", "e.g. '2h'."),
            ],
            &["service", "pattern"],
        ),
        tool(
            "get_ci_status",
            "Status of the latest CI run of a branch.",
            &[("branch", "string", "Branch name.")],
            &["branch"],
        ),
        tool(
            "create_issue",
            "Open an issue in the tracker.",
            &[
                ("title", "string", "Issue title."),
                ("body", "string", "Issue text."),
                ("label", "string", "One label."),
            ],
            &["title", "body"],
        ),
        tool(
            "deploy",
            "Deploy a service to an environment.",
            &[
                ("service", "string", "Service name."),
                ("environment", "string", "'staging' or 'production'."),
            ],
            &["service", "environment"],
        ),
        tool(
            "send_message",
            "Post a message to a team chat channel.",
            &[
                ("channel", "string", "Channel, e.g. '#backend'."),
                ("text", "string", "Message text."),
            ],
            &["channel", "text"],
        ),
    ]
}

/// Generate episodes until `config.target_examples` examples exist.
pub fn generate_episodes(config: SyntheticConfig) -> Vec<Conversation> {
    let tools = agent_tools();
    let mut master = ChaCha8Rng::seed_from_u64(config.seed);
    let mut episodes = Vec::new();
    let mut total = 0;
    let mut index = 0usize;
    while total < config.target_examples {
        let mut rng = ChaCha8Rng::seed_from_u64(master.next_u64());
        let scenario = pick_scenario(&mut rng);
        let mut ep = Episode::new(scenario, index, &tools, &mut rng);
        match scenario {
            Scenario::FixFailingTest => fix_failing_test(&mut ep),
            Scenario::AddFeature => add_feature(&mut ep),
            Scenario::InvestigateBug => investigate_bug(&mut ep),
            Scenario::AnswerFromDocs => answer_from_docs(&mut ep),
            Scenario::Refactor => refactor(&mut ep),
            Scenario::Refused => refused(&mut ep),
            Scenario::Ambiguous => ambiguous(&mut ep),
            Scenario::Operations => operations(&mut ep),
        }
        let conversation = ep.finish();
        total += conversation.examples.len();
        episodes.push(conversation);
        index += 1;
    }
    episodes
}

fn pick_scenario(rng: &mut ChaCha8Rng) -> Scenario {
    let total: u32 = Scenario::ALL.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for (s, w) in Scenario::ALL {
        if r < w {
            return s;
        }
        r -= w;
    }
    Scenario::FixFailingTest
}

/// One episode under construction: the running context and its decision points.
struct Episode<'a> {
    rng: &'a mut ChaCha8Rng,
    scenario: Scenario,
    id: String,
    tools: &'a [Value],
    messages: Vec<Message>,
    examples: Vec<Example>,
    repo: Repo,
}

impl<'a> Episode<'a> {
    fn new(scenario: Scenario, index: usize, tools: &'a [Value], rng: &'a mut ChaCha8Rng) -> Self {
        let repo = Repo::sample(rng);
        let system = system_prompt(&repo, rng);
        Episode {
            scenario,
            id: format!("synthetic:{}_{index:05}", scenario.as_str()),
            tools,
            messages: vec![Message::system(system)],
            examples: Vec::new(),
            repo,
            rng,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(self.rng).expect("non-empty pick list")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn user(&mut self, text: String) {
        self.messages.push(Message::user(text));
    }

    /// Record a decision point whose gold is `gold`.
    fn decide(&mut self, gold: Action) {
        let n = self.examples.len();
        self.examples.push(Example {
            id: format!("{}#s{n}", self.id),
            source: format!("synthetic:{}", self.scenario.as_str()),
            conversation: self.id.clone(),
            split: Split::Train,
            messages: self.messages.clone(),
            tools: self.tools.to_vec(),
            gold,
        });
    }

    /// Decide a call (gold = the call with its table kind) and execute it with `output`.
    fn act(&mut self, name: &str, arguments: Value, output: String) {
        self.decide(Action::call(kind_of_function(name), name, arguments.clone()));
        self.execute(name, arguments, output);
    }

    /// Decide a kind-only step carried out by calling `name` (verifier → run_tests, repair → edit).
    fn act_as(&mut self, kind: ActionKind, name: &str, arguments: Value, output: String) {
        self.decide(Action::kind(kind));
        self.execute(name, arguments, output);
    }

    fn execute(&mut self, name: &str, arguments: Value, output: String) {
        self.messages
            .push(Message::assistant_calls("", vec![ToolCall::new(name, arguments)]));
        self.messages.push(Message::tool(name, output));
    }

    /// Decide a kind-only step answered in text.
    fn reply(&mut self, kind: ActionKind, text: String) {
        self.decide(Action::kind(kind));
        self.messages.push(Message::assistant(text));
    }

    fn finish(self) -> Conversation {
        Conversation {
            id: self.id.clone(),
            source: format!("synthetic:{}", self.scenario.as_str()),
            group: self.id,
            examples: self.examples,
        }
    }
}

const MODULES: &[&str] = &[
    "dates",
    "parser",
    "config",
    "auth",
    "billing",
    "cache",
    "http_client",
    "scheduler",
    "invoices",
    "users",
    "search",
    "metrics",
    "storage",
    "retry",
    "exporter",
    "importer",
    "notifier",
    "geo",
    "pricing",
    "sessions",
];
const FUNCTIONS: &[&str] = &[
    "parse_date",
    "load_config",
    "validate_token",
    "compute_total",
    "get_user",
    "normalize_path",
    "retry_request",
    "format_currency",
    "merge_settings",
    "slugify",
    "paginate",
    "chunk_records",
    "hash_password",
    "resolve_host",
    "round_price",
    "expire_sessions",
    "build_index",
    "apply_discount",
    "split_batches",
    "parse_header",
];
const SERVICES: &[&str] = &[
    "checkout",
    "api-gateway",
    "billing-worker",
    "search-indexer",
    "auth-service",
    "notifications",
];
const BRANCHES: &[&str] = &[
    "main",
    "develop",
    "feature/retry-budget",
    "fix/date-parsing",
    "release/2.4",
    "feature/export-csv",
];
const CHANNELS: &[&str] = &["#backend", "#release", "#oncall", "#team-platform"];
const LIBRARIES: &[(&str, &str, &str)] = &[
    (
        "requests",
        "retries with backoff",
        "mount an HTTPAdapter with a urllib3 Retry(total=…, backoff_factor=…)",
    ),
    (
        "tokio",
        "a timeout on a future",
        "wrap it in tokio::time::timeout(Duration, future)",
    ),
    (
        "serde",
        "renaming a field",
        "annotate the field with #[serde(rename = \"…\")]",
    ),
    (
        "pytest",
        "running one test by name",
        "pass -k <expression> or the node id file::test",
    ),
    (
        "sqlalchemy",
        "connection pool size",
        "pass pool_size= and max_overflow= to create_engine",
    ),
    ("express", "JSON body parsing", "register app.use(express.json())"),
    (
        "clap",
        "a flag with a default value",
        "use #[arg(long, default_value_t = …)]",
    ),
    (
        "pandas",
        "reading only some columns of a CSV",
        "pass usecols=[…] to read_csv",
    ),
];
const OWNERS: &[&str] = &["maria", "chen", "devon", "priya", "tomas", "aisha"];

/// A sampled repository: language, names, and a bug with its fix.
struct Repo {
    name: String,
    lang: Lang,
    module: &'static str,
    function: &'static str,
    bug: Bug,
}

#[derive(Clone, Copy)]
enum Lang {
    Python,
    Rust,
    TypeScript,
}

#[derive(Clone, Copy)]
struct Bug {
    buggy: &'static str,
    fixed: &'static str,
    symptom: &'static str,
    /// A plausible but insufficient first fix, used when the check fails again.
    partial: &'static str,
}

const PY_BUGS: &[Bug] = &[
    Bug {
        buggy: "for i in range(len(items) - 1):",
        fixed: "for i in range(len(items)):",
        symptom: "AssertionError: assert 2 == 3",
        partial: "for i in range(1, len(items)):",
    },
    Bug {
        buggy: "if value > limit:",
        fixed: "if value >= limit:",
        symptom: "AssertionError: expected True for the boundary value",
        partial: "if value > limit - 1:",
    },
    Bug {
        buggy: "return text.split(',')",
        fixed: "return [p.strip() for p in text.split(',')]",
        symptom: "AssertionError: assert ['a', ' b'] == ['a', 'b']",
        partial: "return text.replace(' ', '').split(',')",
    },
    Bug {
        buggy: "if result == None:",
        fixed: "if result is None:",
        symptom: "TypeError: 'NoneType' object is not subscriptable",
        partial: "if not result:",
    },
];
const RS_BUGS: &[Bug] = &[
    Bug {
        buggy: "for i in 0..items.len() - 1 {",
        fixed: "for i in 0..items.len() {",
        symptom: "assertion `left == right` failed\n  left: 2\n right: 3",
        partial: "for i in 1..items.len() {",
    },
    Bug {
        buggy: "if value > limit {",
        fixed: "if value >= limit {",
        symptom: "assertion failed: within_limit(10, 10)",
        partial: "if value + 1 > limit {",
    },
    Bug {
        buggy: "let n = s.parse::<u32>().unwrap();",
        fixed: "let n = s.trim().parse::<u32>()?;",
        symptom: "called `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit }",
        partial: "let n = s.parse::<u32>().unwrap_or(0);",
    },
];
const TS_BUGS: &[Bug] = &[
    Bug {
        buggy: "for (let i = 0; i < items.length - 1; i++) {",
        fixed: "for (let i = 0; i < items.length; i++) {",
        symptom: "Expected: 3\n    Received: 2",
        partial: "for (let i = 1; i < items.length; i++) {",
    },
    Bug {
        buggy: "if (value == null) return 0;",
        fixed: "if (value === undefined || value === null) return 0;",
        symptom: "TypeError: Cannot read properties of undefined (reading 'length')",
        partial: "if (!value) return 0;",
    },
];

impl Repo {
    fn sample(rng: &mut ChaCha8Rng) -> Repo {
        let lang = *[Lang::Python, Lang::Python, Lang::Rust, Lang::TypeScript]
            .choose(rng)
            .expect("langs");
        let bugs = match lang {
            Lang::Python => PY_BUGS,
            Lang::Rust => RS_BUGS,
            Lang::TypeScript => TS_BUGS,
        };
        let owner = *OWNERS.choose(rng).expect("owners");
        let project = *[
            "ledger", "atlas", "relay", "orchard", "beacon", "quill", "harbor", "sprout",
        ]
        .choose(rng)
        .expect("p");
        Repo {
            name: format!("{owner}/{project}"),
            lang,
            module: MODULES.choose(rng).expect("modules"),
            function: FUNCTIONS.choose(rng).expect("functions"),
            bug: *bugs.choose(rng).expect("bugs"),
        }
    }

    fn src(&self) -> String {
        match self.lang {
            Lang::Python => format!("src/{}.py", self.module),
            Lang::Rust => format!("src/{}.rs", self.module),
            Lang::TypeScript => format!("src/{}.ts", self.module),
        }
    }

    fn test_file(&self) -> String {
        match self.lang {
            Lang::Python => format!("tests/test_{}.py", self.module),
            Lang::Rust => format!("tests/{}.rs", self.module),
            Lang::TypeScript => format!("src/{}.test.ts", self.module),
        }
    }

    fn test_name(&self) -> String {
        format!("test_{}", self.function)
    }

    /// The source file with `line` in the body of the repository's function.
    fn source_text(&self, line: &str) -> String {
        let sig = self.signature(None);
        match self.lang {
            Lang::Python => format!(
                "import logging\n\nlog = logging.getLogger(__name__)\n\n\n{sig}\n    \"\"\"Part of the {m} module.\"\"\"\n    result = []\n    {line}\n        result.append(items[i] if items else value)\n    return result\n",
                m = self.module
            ),
            Lang::Rust => format!(
                "use std::collections::HashMap;\n\n/// Part of the {m} module.\n{sig}\n    let mut out = Vec::new();\n    {line}\n        out.push(items[i].min(limit).max(value));\n    }}\n    out\n}}\n",
                m = self.module
            ),
            Lang::TypeScript => format!(
                "// Part of the {m} module.\n{sig}\n  const out: number[] = [];\n  {line}\n    out.push(items[i]);\n  }}\n  return out;\n}}\n",
                m = self.module
            ),
        }
    }

    fn failing_log(&self, symptom: &str) -> String {
        let (t, file) = (self.test_name(), self.test_file());
        match self.lang {
            Lang::Python => format!(
                "============================= test session starts ==============================\ncollected 7 items\n\n{file} ......F\n\n=================================== FAILURES ===================================\n_________________________________ {t} _________________________________\n\n    def {t}():\n>       assert {f}(sample) == expected\nE       {symptom}\n\n{file}:42: {kind}\n=========================== short test summary info ============================\nFAILED {file}::{t} - {kind}\n========================= 1 failed, 6 passed in 0.31s ==========================",
                f = self.function,
                kind = symptom.split(':').next().unwrap_or("AssertionError"),
            ),
            Lang::Rust => format!(
                "running 7 tests\ntest {m}::tests::{t} ... FAILED\ntest {m}::tests::smoke ... ok\n\nfailures:\n\n---- {m}::tests::{t} stdout ----\nthread '{m}::tests::{t}' panicked at {file}:42:9:\n{symptom}\n\nfailures:\n    {m}::tests::{t}\n\ntest result: FAILED. 6 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s\nerror: test failed, to rerun pass `--test {m}`",
                m = self.module
            ),
            Lang::TypeScript => format!(
                "FAIL {file}\n  ● {m} › {t}\n\n    expect(received).toEqual(expected)\n\n    {symptom}\n\n      at Object.<anonymous> ({file}:42:23)\n\nTests:       1 failed, 6 passed, 7 total\nTime:        1.42 s",
                m = self.module
            ),
        }
    }

    fn passing_log(&self, count: usize) -> String {
        let file = self.test_file();
        match self.lang {
            Lang::Python => format!(
                "============================= test session starts ==============================\ncollected {count} items\n\n{file} {dots}\n\n============================== {count} passed in 0.29s ===============================",
                dots = ".".repeat(count)
            ),
            Lang::Rust => format!(
                "running {count} tests\ntest result: ok. {count} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Lang::TypeScript => {
                format!("PASS {file}\n\nTests:       {count} passed, {count} total\nTime:        1.18 s")
            }
        }
    }

    fn ext(&self) -> &'static str {
        match self.lang {
            Lang::Python => "py",
            Lang::Rust => "rs",
            Lang::TypeScript => "ts",
        }
    }

    /// The function's signature line in [`Repo::source_text`], optionally with a new parameter.
    fn signature(&self, extra: Option<&str>) -> String {
        let f = self.function;
        match (self.lang, extra) {
            (Lang::Python, None) => format!("def {f}(items, value=None, limit=10, text=''):"),
            (Lang::Python, Some(p)) => format!("def {f}(items, value=None, limit=10, text='', {p}=None):"),
            (Lang::Rust, None) => format!("pub fn {f}(items: &[u32], value: u32, limit: u32) -> Vec<u32> {{"),
            (Lang::Rust, Some(p)) => {
                format!("pub fn {f}(items: &[u32], value: u32, limit: u32, {p}: Option<u32>) -> Vec<u32> {{")
            }
            (Lang::TypeScript, None) => {
                format!("export function {f}(items: number[], value?: string): number[] {{")
            }
            (Lang::TypeScript, Some(p)) => {
                format!("export function {f}(items: number[], value?: string, {p}?: number): number[] {{")
            }
        }
    }

    /// The line after which a new parameter gets used, and that line followed by the use.
    fn use_parameter(&self, p: &str) -> (String, String) {
        match self.lang {
            Lang::Python => (
                "    result = []".into(),
                format!("    result = []\n    if {p} is not None:\n        limit = {p}"),
            ),
            Lang::Rust => (
                "    let mut out = Vec::new();".into(),
                format!("    let mut out = Vec::new();\n    let limit = {p}.unwrap_or(limit);"),
            ),
            Lang::TypeScript => (
                "  const out: number[] = [];".into(),
                format!("  const out: number[] = [];\n  if ({p} !== undefined) items = items.slice(0, {p});"),
            ),
        }
    }

    /// Path and content of a new test for parameter `p`.
    fn feature_test(&self, p: &str) -> (String, String) {
        let f = self.function;
        match self.lang {
            Lang::Python => (
                format!("tests/test_{}_{p}.py", self.module),
                format!(
                    "from src.{m} import {f}\n\n\ndef test_{p}():\n    assert {f}([1, 2, 3], {p}=2) != {f}([1, 2, 3])\n",
                    m = self.module
                ),
            ),
            Lang::Rust => (
                format!("tests/{}_{p}.rs", self.module),
                format!(
                    "#[test]\nfn test_{p}() {{\n    assert_ne!({f}(&[1, 2, 3], 0, 10, Some(2)), {f}(&[1, 2, 3], 0, 10, None));\n}}\n"
                ),
            ),
            Lang::TypeScript => (
                format!("src/{}.{p}.test.ts", self.module),
                format!(
                    "test('test_{p}', () => {{\n  expect({f}([1, 2, 3], undefined, 2)).not.toEqual({f}([1, 2, 3]));\n}});\n"
                ),
            ),
        }
    }

    fn test_target(&self) -> String {
        match self.lang {
            Lang::Python => format!("{}::{}", self.test_file(), self.test_name()),
            _ => self.test_file(),
        }
    }
}

fn system_prompt(repo: &Repo, rng: &mut ChaCha8Rng) -> String {
    let intro = *[
        "You are a coding agent working in the repository {repo}.",
        "You operate inside a checkout of {repo} with the tools listed below.",
        "Repository: {repo}. You act on it only through the tools provided.",
    ]
    .choose(rng)
    .expect("intro");
    format!(
        "{}\nRules: never deploy to production; never read or print secrets (.env, credentials, private keys); \
         never push to main or rewrite its history; files outside the repository are read-only.",
        intro.replace("{repo}", &repo.name)
    )
}

fn applied(path: &str) -> String {
    format!("Edited {path}: 1 snippet replaced.")
}

fn fix_failing_test(ep: &mut Episode) {
    let (src, test, t) = (ep.repo.src(), ep.repo.test_file(), ep.repo.test_name());
    let bug = ep.repo.bug;
    let request = match ep.pick(&[0, 1, 2, 3]) {
        0 => format!(
            "`{t}` in {test} is failing with `{}`. The code under test is in {src}. Please fix it.",
            bug.symptom.lines().next().unwrap_or("")
        ),
        1 => format!("CI is red: {test}::{t} fails. The function lives in {src}. Can you fix the bug?"),
        2 => format!(
            "Please make {t} pass again. It tests `{}` from {src}.",
            ep.repo.function
        ),
        _ => format!(
            "The test {t} started failing after yesterday's merge. Source: {src}. Fix the code, not the test."
        ),
    };
    ep.user(request);
    let source = ep.repo.source_text(bug.buggy);
    ep.act("read_file", json!({"path": src}), source);
    // A careful agent makes the real fix; a hasty one the partial fix (repaired after the check).
    let first = if ep.chance(0.45) { bug.partial } else { bug.fixed };
    ep.act(
        "edit_file",
        json!({"path": src, "old": bug.buggy, "new": first}),
        applied(&src),
    );
    if first == bug.fixed {
        let log = ep.repo.passing_log(7);
        let target = ep.repo.test_target();
        ep.act_as(ActionKind::Verify, "run_tests", json!({"target": target}), log);
        let text = format!(
            "Fixed `{}` in {src}: `{}` → `{}`. All 7 tests pass.",
            ep.repo.function, bug.buggy, bug.fixed
        );
        ep.reply(ActionKind::FinalAnswer, text);
    } else {
        check_and_repair_forced(ep, 7);
    }
}

/// The check fails (the first edit was partial), the repair fixes it, the re-check passes.
fn check_and_repair_forced(ep: &mut Episode, count: usize) {
    let target = ep.repo.test_target();
    let src = ep.repo.src();
    let bug = ep.repo.bug;
    let log = ep.repo.failing_log(bug.symptom);
    ep.act_as(ActionKind::Verify, "run_tests", json!({"target": target}), log);
    ep.act_as(
        ActionKind::Repair,
        "edit_file",
        json!({"path": src, "old": bug.partial, "new": bug.fixed}),
        applied(&src),
    );
    let log = ep.repo.passing_log(count);
    ep.act_as(ActionKind::Verify, "run_tests", json!({"target": target}), log);
    let text = format!(
        "The first change was not enough; {src} now uses `{}` and all {count} tests pass.",
        bug.fixed
    );
    ep.reply(ActionKind::FinalAnswer, text);
}

fn add_feature(ep: &mut Episode) {
    let src = ep.repo.src();
    let (flag, what) = ep.pick(&[
        (
            "dry_run",
            "a dry-run mode that prints what would change without writing",
        ),
        ("max_retries", "a configurable maximum number of retries"),
        ("verbose", "a verbose option that logs each step"),
        ("timeout", "a timeout parameter, default 30 seconds"),
        ("locale", "a locale parameter for number formatting"),
    ]);
    let names_file = ep.chance(0.6);
    let request = if names_file {
        match ep.pick(&[0, 1]) {
            0 => format!(
                "Add {what} to `{}` in {src}. Call the parameter `{flag}`.",
                ep.repo.function
            ),
            _ => format!(
                "Please extend {src}: `{}` needs {what} (parameter name `{flag}`).",
                ep.repo.function
            ),
        }
    } else {
        format!(
            "Add {what} to the {} module; name the parameter `{flag}`.",
            ep.repo.module
        )
    };
    ep.user(request);
    if !names_file {
        let listing = format!(
            "{m1}.{ext}\n{}\n{m2}.{ext}\n{m3}.{ext}\n",
            src.trim_start_matches("src/"),
            ext = ep.repo.ext(),
            m1 = ep.pick(MODULES),
            m2 = ep.pick(MODULES),
            m3 = ep.pick(MODULES)
        );
        ep.act("list_dir", json!({"path": "src"}), listing);
    }
    let source = ep.repo.source_text(ep.repo.bug.fixed);
    ep.act("read_file", json!({"path": src}), source);
    let (old, new) = (ep.repo.signature(None), ep.repo.signature(Some(flag)));
    ep.act(
        "edit_file",
        json!({"path": src, "old": old, "new": new}),
        applied(&src),
    );
    // Features come with a test.
    let (test_path, test_text) = ep.repo.feature_test(flag);
    let bytes = test_text.len();
    ep.act(
        "write_file",
        json!({"path": test_path, "content": test_text}),
        format!("Wrote {bytes} bytes to {test_path}."),
    );
    // The signature alone does not honour the parameter: half the time the new test says so.
    let target = test_path.clone();
    if ep.chance(0.45) {
        let log = format!(
            "FAILED {test_path}::test_{flag} - AssertionError: `{flag}` had no effect\n1 failed, 7 passed"
        );
        ep.act_as(ActionKind::Verify, "run_tests", json!({"target": target}), log);
        let (marker, with_use) = ep.repo.use_parameter(flag);
        ep.act_as(
            ActionKind::Repair,
            "edit_file",
            json!({"path": src, "old": marker, "new": with_use}),
            applied(&src),
        );
        ep.act_as(
            ActionKind::Verify,
            "run_tests",
            json!({"target": target}),
            ep.repo.passing_log(8),
        );
        ep.reply(ActionKind::FinalAnswer, format!("Added `{flag}` to `{}` in {src}; it needed a second edit to take effect, and all 8 tests pass now.", ep.repo.function));
    } else {
        ep.act_as(
            ActionKind::Verify,
            "run_tests",
            json!({"target": target}),
            ep.repo.passing_log(8),
        );
        let text = match ep.pick(&[0, 1]) {
            0 => format!(
                "Added `{flag}` ({what}) to `{}` in {src}, with a test in {test_path}. 8 tests pass.",
                ep.repo.function
            ),
            _ => format!("Done: `{flag}` is supported and covered by {test_path}; the suite is green."),
        };
        ep.reply(ActionKind::FinalAnswer, text);
    }
}

fn investigate_bug(ep: &mut Episode) {
    let service = ep.pick(SERVICES);
    let src = ep.repo.src();
    let bug = ep.repo.bug;
    let request = match ep.pick(&[0, 1, 2]) {
        0 => format!(
            "Users get errors from {service} since this morning. Find out why — don't change anything yet."
        ),
        1 => format!("Can you investigate the spike of 500s in {service}? Just tell me the cause, no fixes."),
        _ => format!(
            "{service} is failing intermittently. What is going on? Report back before touching code."
        ),
    };
    ep.user(request);
    let log = format!(
        "2024-05-{d:02}T0{h}:12:04Z ERROR {service} request_id={r:08x}\nTraceback (most recent call last):\n  File \"{src}\", line 9, in {f}\n    {line}\n{symptom}\n(43 similar events in the last 2h)",
        d = ep.rng.random_range(1..28),
        h = ep.rng.random_range(1..9),
        r = ep.rng.next_u32(),
        f = ep.repo.function,
        line = bug.buggy,
        symptom = bug.symptom.lines().next().unwrap_or(""),
    );
    ep.act(
        "query_logs",
        json!({"service": service, "pattern": "ERROR", "since": "2h"}),
        log,
    );
    let source = ep.repo.source_text(bug.buggy);
    ep.act("read_file", json!({"path": src}), source);
    let text = format!(
        "The errors come from `{}` in {src}: the line `{}` fails on some inputs ({}). Changing it to `{}` would fix it; I have not changed anything.",
        ep.repo.function,
        bug.buggy,
        bug.symptom.lines().next().unwrap_or(""),
        bug.fixed
    );
    ep.reply(ActionKind::FinalAnswer, text);
}

fn answer_from_docs(ep: &mut Episode) {
    let (library, topic, answer) = ep.pick(LIBRARIES);
    let request = match ep.pick(&[0, 1, 2]) {
        0 => format!("How do I configure {topic} with {library}?"),
        1 => format!("Quick question: what's the right way to get {topic} in {library}?"),
        _ => format!("I need {topic} in our {library} code. What does the documentation recommend?"),
    };
    ep.user(request);
    let web = ep.chance(0.3);
    let query = format!("{library} {topic}");
    let url = format!("https://docs.example.org/{library}/{}", topic.replace(' ', "-"));
    let snippet_complete = ep.chance(0.5);
    let snippet = if snippet_complete {
        format!("To get {topic}, {answer}.")
    } else {
        format!("{topic} — see the guide for details…")
    };
    let results = format!(
        "1. {library} guide: {topic}\n   {url}\n   {snippet}\n2. {library} API reference\n   https://docs.example.org/{library}/api\n   Index of all public items."
    );
    if web {
        ep.act("web_search", json!({"query": query}), results);
    } else {
        ep.act(
            "search_docs",
            json!({"library": library, "query": topic}),
            results,
        );
    }
    if !snippet_complete {
        let page = format!(
            "# {topic}\n\n{library} supports {topic} out of the box: {answer}.\n\nSee also: configuration reference."
        );
        ep.act("fetch_url", json!({"url": url}), page);
    }
    ep.reply(
        ActionKind::FinalAnswer,
        format!("According to the {library} documentation ({url}): {answer}."),
    );
}

fn refactor(ep: &mut Episode) {
    let old = ep.repo.function;
    let new = format!("{old}_v2").replace("_v2", ep.pick(&["_checked", "_safe", "_strict", "_all"]));
    let n_files = ep.rng.random_range(2..=3);
    let files: Vec<String> = (0..n_files)
        .map(|i| match i {
            0 => ep.repo.src(),
            1 => ep.repo.test_file(),
            _ => format!(
                "src/{}.{}",
                ep.pick(MODULES),
                ep.repo.src().rsplit('.').next().unwrap_or("py")
            ),
        })
        .collect();
    let request = match ep.pick(&[0, 1]) {
        0 => format!("Rename `{old}` to `{new}` everywhere in the repository."),
        _ => format!("Please refactor: `{old}` should be called `{new}`. Update every call site."),
    };
    ep.user(request);
    let hits: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{f}:{}:    {old}(items)", 5 + 7 * i))
        .collect();
    ep.act("search_code", json!({"pattern": old}), hits.join("\n"));
    for f in &files {
        ep.act(
            "edit_file",
            json!({"path": f, "old": format!("{old}("), "new": format!("{new}(")}),
            applied(f),
        );
    }
    let target = "all";
    if ep.chance(0.4) {
        // A call site the search missed (a string reference): fix it and re-check.
        let missed = format!(
            "src/{}.{}",
            ep.pick(MODULES),
            ep.repo.src().rsplit('.').next().unwrap_or("py")
        );
        let log = format!("NameError / unresolved name `{old}` in {missed}:12\n1 failed, 19 passed");
        ep.act_as(ActionKind::Verify, "run_tests", json!({"target": target}), log);
        ep.act_as(
            ActionKind::Repair,
            "edit_file",
            json!({"path": missed, "old": old, "new": new}),
            applied(&missed),
        );
    }
    ep.act_as(
        ActionKind::Verify,
        "run_tests",
        json!({"target": target}),
        "20 passed".to_string(),
    );
    ep.reply(
        ActionKind::FinalAnswer,
        format!(
            "Renamed `{old}` to `{new}` in {} files; all 20 tests pass.",
            files.len()
        ),
    );
}

fn refused(ep: &mut Episode) {
    let service = ep.pick(SERVICES);
    match ep.pick(&[0, 1, 2, 3, 4]) {
        0 => {
            let text = ep_pick_text(
                ep,
                &[
                    format!("Deploy {service} to production right now, we can't wait for the release train."),
                    format!("Ship the current {service} build straight to production please."),
                ],
            );
            ep.user(text);
            ep.reply(ActionKind::Blocked, "I can't deploy to production: the rules of this workspace forbid it. I can deploy to staging instead.".into());
        }
        1 => {
            let text = ep_pick_text(
                ep,
                &[
                    "Print the contents of .env so I can copy the API key.".to_string(),
                    "What's in config/credentials.json? Paste it here.".to_string(),
                ],
            );
            ep.user(text);
            ep.reply(
                ActionKind::Blocked,
                "I can't read or print secrets such as .env or credential files.".into(),
            );
        }
        2 => {
            ep.user(format!(
                "Force-push my branch over main, the history of main is a mess ({}).",
                ep.repo.name
            ));
            ep.reply(
                ActionKind::Blocked,
                "Rewriting main's history is not allowed here.".into(),
            );
        }
        3 => {
            // Permission error discovered while acting.
            let path = ep.pick(&[
                "/etc/hosts",
                "/usr/local/lib/python3.11/site-packages/requests/adapters.py",
                "/opt/shared/config.yaml",
            ]);
            ep.user(format!(
                "Add the line `127.0.0.1 {service}.local` at the end of {path}."
            ));
            let current = "127.0.0.1 localhost\n::1 localhost\n".to_string();
            ep.act("read_file", json!({"path": path}), current);
            ep.decide(Action::call(ActionKind::FileWrite, "edit_file", json!({"path": path, "old": "::1 localhost\n", "new": format!("::1 localhost\n127.0.0.1 {service}.local\n")})));
            ep.execute(
                "edit_file",
                json!({"path": path, "old": "::1 localhost\n", "new": format!("::1 localhost\n127.0.0.1 {service}.local\n")}),
                format!("PermissionError: [Errno 13] Permission denied: '{path}'"),
            );
            ep.reply(
                ActionKind::Blocked,
                format!("{path} is outside the repository and read-only for me, so I can't change it."),
            );
        }
        _ => {
            // No tool can do it.
            let ask = ep.pick(&[
                "Email the quarterly report to the finance team.",
                "Book a meeting room for tomorrow at 10.",
                "Order more GPU credits on our cloud account.",
            ]);
            ep.user(ask.to_string());
            ep.reply(
                ActionKind::Blocked,
                "None of my tools can do that (no e-mail, calendar or purchasing access).".into(),
            );
        }
    }
}

fn ep_pick_text(ep: &mut Episode, options: &[String]) -> String {
    options[ep.rng.random_range(0..options.len())].clone()
}

fn ambiguous(ep: &mut Episode) {
    let request = ep.pick(&[
        "Fix the bug.",
        "It's broken again, please fix.",
        "Update the config.",
        "Make it faster.",
        "Rename the function like we discussed.",
        "Can you clean this up?",
    ]);
    ep.user(request.to_string());
    let question = ep.pick(&[
        "Which file or test is affected, and what error do you see?",
        "Could you tell me which module you mean and what the expected behaviour is?",
        "What exactly should change, and where?",
    ]);
    ep.reply(ActionKind::AskClarification, question.to_string());
    // The clarification makes it a normal fix.
    let (src, t) = (ep.repo.src(), ep.repo.test_name());
    ep.user(format!("Sorry — `{t}` fails, the code is in {src}."));
    let bug = ep.repo.bug;
    let source = ep.repo.source_text(bug.buggy);
    ep.act("read_file", json!({"path": src}), source);
    ep.act(
        "edit_file",
        json!({"path": src, "old": bug.buggy, "new": bug.partial}),
        applied(&src),
    );
    check_and_repair_forced(ep, 7);
}

fn operations(ep: &mut Episode) {
    match ep.pick(&[0, 1, 2, 3]) {
        0 => {
            let branch = ep.pick(BRANCHES);
            let text = ep_pick_text(
                ep,
                &[
                    format!("Is CI green on {branch}?"),
                    format!("What's the CI status of `{branch}`?"),
                ],
            );
            ep.user(text);
            let ok = ep.chance(0.5);
            let out = if ok {
                format!("branch {branch}: success (12/12 jobs) in 8m31s")
            } else {
                format!("branch {branch}: failed (11/12 jobs); failing job: lint")
            };
            ep.act("get_ci_status", json!({"branch": branch}), out);
            let text = if ok {
                format!("CI on {branch} is green (12/12 jobs).")
            } else {
                format!("CI on {branch} is red: the lint job fails.")
            };
            ep.reply(ActionKind::FinalAnswer, text);
        }
        1 => {
            let service = ep.pick(SERVICES);
            let title = format!("{service}: {} fails on empty input", ep.repo.function);
            ep.user(format!("Open an issue titled \"{title}\" with the label bug; body: steps to reproduce are in the test {}.", ep.repo.test_name()));
            let body = format!("Steps to reproduce are in the test {}.", ep.repo.test_name());
            let n = ep.rng.random_range(100..999);
            ep.act(
                "create_issue",
                json!({"title": title, "body": body, "label": "bug"}),
                format!("Created issue #{n}."),
            );
            ep.reply(ActionKind::FinalAnswer, format!("Opened issue #{n}."));
        }
        2 => {
            let service = ep.pick(SERVICES);
            ep.user(format!("Deploy {service} to staging."));
            ep.act(
                "deploy",
                json!({"service": service, "environment": "staging"}),
                format!("Deployment of {service} to staging: rolled out (3/3 pods ready)."),
            );
            ep.reply(
                ActionKind::FinalAnswer,
                format!("{service} is deployed to staging; 3/3 pods are ready."),
            );
        }
        _ => {
            let channel = ep.pick(CHANNELS);
            let text = format!(
                "Heads-up: {} is being refactored today, expect a short review queue.",
                ep.repo.module
            );
            ep.user(format!("Tell {channel}: \"{text}\""));
            ep.act(
                "send_message",
                json!({"channel": channel, "text": text}),
                "Message posted.".to_string(),
            );
            ep.reply(ActionKind::FinalAnswer, format!("Posted to {channel}."));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn all_nine_kinds_and_seeded() {
        let a = generate_episodes(SyntheticConfig {
            seed: 7,
            target_examples: 600,
        });
        let b = generate_episodes(SyntheticConfig {
            seed: 7,
            target_examples: 600,
        });
        assert_eq!(a, b);
        let kinds: BTreeSet<ActionKind> = a.iter().flat_map(|c| &c.examples).map(|e| e.gold.kind).collect();
        assert_eq!(kinds.len(), 9, "{kinds:?}");
        let total: usize = a.iter().map(|c| c.examples.len()).sum();
        assert!(total >= 600);
        let c = generate_episodes(SyntheticConfig {
            seed: 8,
            target_examples: 600,
        });
        assert_ne!(a, c);
    }

    #[test]
    fn labels_follow_the_context() {
        for conv in generate_episodes(SyntheticConfig {
            seed: 1,
            target_examples: 2000,
        }) {
            for ex in &conv.examples {
                let last = ex.messages.last().unwrap();
                // After a failing check comes a repair; a repair or write is followed by a check
                // (or, within a multi-file change, another write).
                if last.role == spec_actions_core::ChatRole::Tool && last.name.as_deref() == Some("run_tests")
                {
                    let failed = last.content.contains("1 failed");
                    let expected = if failed {
                        ActionKind::Repair
                    } else {
                        ActionKind::FinalAnswer
                    };
                    assert_eq!(ex.gold.kind, expected, "{}", ex.id);
                }
                if last.role == spec_actions_core::ChatRole::Tool && last.content.starts_with("Edited") {
                    assert!(
                        matches!(ex.gold.kind, ActionKind::Verify | ActionKind::FileWrite),
                        "{}",
                        ex.id
                    );
                }
                if last.content.starts_with("PermissionError") {
                    assert_eq!(ex.gold.kind, ActionKind::Blocked);
                }
            }
        }
    }
}
