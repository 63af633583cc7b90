//! BFCL v4 importer: turns the Berkeley Function Calling Leaderboard's test cases into
//! [`Conversation`]s of decision-point [`Example`]s.
//!
//! Point it at a folder laid out as BFCL ships it (`BFCL_v4_<category>.json`,
//! `possible_answer/`, `multi_turn_func_doc/`; JSON Lines despite the suffix).
//!
//! # What becomes an example
//! - **Multi-turn** (`multi_turn_base`, `_long_context`, `_miss_param`, `_miss_func`): every
//!   decision point. The context is the conversation so far: the earlier user turns, the earlier
//!   ground-truth calls as assistant `tool_calls`, and the current user turn. The tools are the
//!   functions of the involved classes (from `multi_turn_func_doc`), minus `excluded_function`,
//!   and minus the `missed_function`s until the turn that adds them. The label is the next
//!   ground-truth call (kind from [`kind_of_function`], name, arguments parsed from BFCL's call
//!   string by [`parse_call`]); after a turn's last call it is `final_answer`. A turn with no
//!   ground-truth call is `ask_clarification` in `miss_param` (the request lacks a parameter),
//!   `BLOCKED` in `miss_func` (the needed function is not offered) and `final_answer` elsewhere.
//!   The empty question turn of `miss_func` that adds the held-back functions becomes BFCL's
//!   own follow-up message, [`ADDED_FUNCTIONS_PROMPT`].
//! - **BFCL ships no tool outputs.** Every executed call in a context is followed by a `tool`
//!   message whose content is [`OUTPUT_NOT_RECORDED`], and every past kind-only step (a final
//!   answer, a clarifying question, a refusal) by an assistant message such as
//!   `[final answer not recorded in BFCL]`, so a model can tell a missing output from an empty one.
//! - **Single-turn** (`simple_*`, `multiple`, `parallel*`, `live_simple`, `live_multiple`,
//!   `live_parallel*`): `tool_call` with the call; a parallel case gives one example per call,
//!   the earlier calls in the context. The gold keeps every value BFCL accepts per argument
//!   and the function's declared parameter types ([`Action::accepted_values`]), so it is
//!   scored as BFCL scores it; its concrete call (the target a proposer is trained on) takes
//!   the first accepted value of each argument: `""` (BFCL's "may be omitted") is skipped in
//!   favour of the next value, and an argument whose only value is `""` is omitted. A case
//!   with an argument whose accepted list is empty (`[]`: BFCL's checker rejects every call,
//!   its own ground truth included: `live_simple_106-63-0`), or whose concrete call BFCL's
//!   checker rejects (a required argument whose only accepted value is `""`, an argument the
//!   function does not declare), is not imported and is reported as `skipped`.
//! - **Irrelevance** (`irrelevance`, `live_irrelevance`): `final_answer`. No offered function
//!   fits, and BFCL scores these cases by the absence of a call: the right move is to answer
//!   the user in text (explain, or answer from knowledge). `BLOCKED` is kept for a step the
//!   user asked for that the agent cannot perform (`miss_func`, forbidden actions), which is a
//!   stronger claim than BFCL makes about these questions — many are plain questions a model
//!   can answer, e.g. arithmetic with only a weather tool on offer.
//! - **Agentic** (`web_search`, `memory`): BFCL records only the final answer, not the calls,
//!   so each question is one kind-only `retrieval` example (the first step must look something
//!   up; its arguments are free), with the `WebSearchAPI` or key-value `MemoryAPI` tools.
//! - **Not imported**, each line reported: `format_sensitivity` (an index of other categories'
//!   ids, not test cases) and `live_relevance` (no ground truth: any relevant call is right).
//!
//! A test case that cannot be imported (malformed JSON, a call string [`parse_call`] rejects,
//! a ground-truth function that is not on offer, …) is dropped whole and reported as an
//! [`ImportIssue`] with its file and line; nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value, json};
use spec_actions_core::type_converter::{java_source, js_source};
use spec_actions_core::{
    AcceptedCall, Action, ActionKind, ChatRole, Example, Language, Message, ParamType, Split, ToolCall,
};

use super::call_parser::parse_call;
use super::conversation::Conversation;
use super::error::DataError;
use super::kind_table::kind_of_function;

/// Content of the `tool` message that follows an executed call in a BFCL context.
pub const OUTPUT_NOT_RECORDED: &str = "[output not recorded in BFCL]";

/// BFCL's user message for the turn that adds held-back functions (`miss_func`), as in its
/// `DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC`.
pub const ADDED_FUNCTIONS_PROMPT: &str =
    "I have updated some more functions you can choose from. What about now?";

/// Which `multi_turn_func_doc` file documents each BFCL class.
pub const CLASS_DOCS: &[(&str, &str)] = &[
    ("GorillaFileSystem", "gorilla_file_system.json"),
    ("MathAPI", "math_api.json"),
    ("MessageAPI", "message_api.json"),
    ("TwitterAPI", "posting_api.json"),
    ("TicketAPI", "ticket_api.json"),
    ("TradingBot", "trading_bot.json"),
    ("TravelAPI", "travel_booking.json"),
    ("VehicleControlAPI", "vehicle_control.json"),
    ("WebSearchAPI", "web_search.json"),
    // BFCL runs memory questions against three back-ends; we offer the key-value one.
    ("MemoryAPI", "memory_kv.json"),
];

/// How a BFCL category is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    MultiTurn,
    SingleTurn,
    Irrelevance,
    Agentic,
    /// Not imported; every line is reported.
    Skipped,
}

/// Classify a category name (the `<category>` of `BFCL_v4_<category>.json`).
pub fn category_kind(category: &str) -> CategoryKind {
    match category {
        c if c.starts_with("multi_turn") => CategoryKind::MultiTurn,
        "irrelevance" | "live_irrelevance" => CategoryKind::Irrelevance,
        "web_search" | "memory" => CategoryKind::Agentic,
        "format_sensitivity" | "live_relevance" => CategoryKind::Skipped,
        _ => CategoryKind::SingleTurn,
    }
}

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportIssue {
    /// Path relative to the BFCL folder.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// `failed` (could not be read) or `skipped` (a category we do not import, or a case whose
    /// ground truth BFCL's own checker rejects).
    pub status: &'static str,
    pub reason: String,
}

/// Import counts of one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub import_as: CategoryKind,
    /// Non-empty lines of the question file.
    pub lines: usize,
    pub conversations: usize,
    pub examples: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The result of importing a BFCL folder.
#[derive(Debug, Clone)]
pub struct BfclImport {
    pub conversations: Vec<Conversation>,
    /// One row per category, sorted by name.
    pub categories: Vec<CategoryCount>,
    /// Every line not imported, in file order.
    pub issues: Vec<ImportIssue>,
}

/// One offered function: its chat-format schema and its declared parameter order.
#[derive(Debug, Clone)]
struct FunctionDoc {
    name: String,
    tool: Value,
    params: Vec<String>,
    /// BFCL's own parameter types and required list ([`declared_params`]).
    declared: (BTreeMap<String, ParamType>, Vec<String>),
    /// The documented `default` of each parameter that has one.
    defaults: BTreeMap<String, Value>,
}

/// Import every category found in `dir`.
pub fn import_bfcl(dir: &Path) -> Result<BfclImport, DataError> {
    let listing = fs::read_dir(dir).map_err(|e| DataError::Invalid {
        path: dir.to_path_buf(),
        reason: format!("cannot list the BFCL folder: {e}"),
    })?;
    let mut categories: Vec<String> = listing
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix("BFCL_v4_")
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_string)
        })
        .collect();
    categories.sort();
    if categories.is_empty() {
        return Err(DataError::Invalid {
            path: dir.to_path_buf(),
            reason: "no BFCL_v4_<category>.json files".into(),
        });
    }
    let class_docs = load_class_docs(dir)?;
    let mut out = BfclImport {
        conversations: Vec::new(),
        categories: Vec::new(),
        issues: Vec::new(),
    };
    for category in categories {
        let count = import_category(dir, &category, &class_docs, &mut out)?;
        out.categories.push(count);
    }
    Ok(out)
}

/// Read `multi_turn_func_doc/*.json` for every class in [`CLASS_DOCS`] that is present.
fn load_class_docs(dir: &Path) -> Result<HashMap<String, Vec<FunctionDoc>>, DataError> {
    let mut docs = HashMap::new();
    for (class, file) in CLASS_DOCS {
        let path = dir.join("multi_turn_func_doc").join(file);
        if !path.exists() {
            continue;
        }
        let mut functions = Vec::new();
        for (line_no, line) in read_lines(&path)? {
            let doc: Value = serde_json::from_str(&line).map_err(|e| DataError::InvalidLine {
                path: path.clone(),
                line: line_no,
                reason: e.to_string(),
            })?;
            let function = function_doc(&doc).map_err(|reason| DataError::InvalidLine {
                path: path.clone(),
                line: line_no,
                reason,
            })?;
            functions.push(function);
        }
        docs.insert(class.to_string(), functions);
    }
    Ok(docs)
}

fn read_file(path: &Path) -> Result<String, DataError> {
    fs::read_to_string(path).map_err(|e| spec_actions_core::io::FileError::new("read", path, e).into())
}

/// Non-empty lines with 1-based numbers.
fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, DataError> {
    let text = read_file(path)?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect())
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn import_category(
    dir: &Path,
    category: &str,
    class_docs: &HashMap<String, Vec<FunctionDoc>>,
    out: &mut BfclImport,
) -> Result<CategoryCount, DataError> {
    let question_path = dir.join(format!("BFCL_v4_{category}.json"));
    let answer_path = dir
        .join("possible_answer")
        .join(format!("BFCL_v4_{category}.json"));
    let import_as = category_kind(category);
    let mut count = CategoryCount {
        category: category.to_string(),
        import_as,
        lines: 0,
        conversations: 0,
        examples: 0,
        failed: 0,
        skipped: 0,
    };
    let qfile = relative(dir, &question_path);
    if category == "format_sensitivity" {
        // One pretty-printed JSON object (ids of other categories), not JSON Lines.
        count.lines = 1;
        count.skipped = 1;
        out.issues.push(ImportIssue {
            file: qfile,
            line: 1,
            status: "skipped",
            reason:
                "format_sensitivity lists ids of other categories' cases, it has no test cases of its own"
                    .into(),
        });
        return Ok(count);
    }
    let lines = read_lines(&question_path)?;
    count.lines = lines.len();
    if import_as == CategoryKind::Skipped {
        for (line, _) in &lines {
            count.skipped += 1;
            out.issues.push(ImportIssue {
                file: qfile.clone(),
                line: *line,
                status: "skipped",
                reason: format!("{category} has no ground truth (any relevant call is accepted)"),
            });
        }
        return Ok(count);
    }
    // Ground truth by id (not needed for irrelevance).
    let needs_answers = matches!(import_as, CategoryKind::MultiTurn | CategoryKind::SingleTurn);
    let afile = relative(dir, &answer_path);
    let mut answers: HashMap<String, (usize, Value)> = HashMap::new();
    if needs_answers {
        if !answer_path.exists() {
            return Err(DataError::Invalid {
                path: answer_path,
                reason: "ground-truth file missing".into(),
            });
        }
        for (line, text) in read_lines(&answer_path)? {
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => match v.get("id").and_then(Value::as_str) {
                    Some(id) => {
                        answers.insert(id.to_string(), (line, v));
                    }
                    None => out.issues.push(ImportIssue {
                        file: afile.clone(),
                        line,
                        status: "failed",
                        reason: "no string field `id`".into(),
                    }),
                },
                Err(e) => out.issues.push(ImportIssue {
                    file: afile.clone(),
                    line,
                    status: "failed",
                    reason: format!("invalid JSON: {e}"),
                }),
            }
        }
    }
    for (line, text) in lines {
        let result = serde_json::from_str::<Value>(&text)
            .map_err(|e| (qfile.clone(), line, format!("invalid JSON: {e}"), "failed"))
            .and_then(|entry| {
                let id = entry
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| (qfile.clone(), line, "no string field `id`".to_string(), "failed"))?
                    .to_string();
                let answer = if needs_answers {
                    let (aline, answer) = answers.get(&id).ok_or_else(|| {
                        (
                            qfile.clone(),
                            line,
                            format!("no ground truth for `{id}` in {afile}"),
                            "failed",
                        )
                    })?;
                    Some((*aline, answer))
                } else {
                    None
                };
                let convert = match import_as {
                    CategoryKind::MultiTurn => multi_turn(category, &id, &entry, answer, class_docs),
                    CategoryKind::SingleTurn => single_turn(category, &id, &entry, answer),
                    CategoryKind::Irrelevance => irrelevance(category, &id, &entry),
                    CategoryKind::Agentic => agentic(category, &id, &entry, class_docs),
                    CategoryKind::Skipped => unreachable_skipped(),
                };
                // A ground-truth problem is reported at the ground-truth line.
                convert.map_err(|e| match (e, answer) {
                    (LineError::Answer(reason), Some((aline, _))) => (afile.clone(), aline, reason, "failed"),
                    (LineError::Unsatisfiable(reason), Some((aline, _))) => {
                        (afile.clone(), aline, reason, "skipped")
                    }
                    (LineError::Unsatisfiable(reason), None) => (qfile.clone(), line, reason, "skipped"),
                    (LineError::Answer(reason) | LineError::Question(reason), _) => {
                        (qfile.clone(), line, reason, "failed")
                    }
                })
            });
        match result {
            Ok(conversation) => {
                count.conversations += 1;
                count.examples += conversation.examples.len();
                out.conversations.push(conversation);
            }
            Err((file, line, reason, status)) => {
                if status == "skipped" {
                    count.skipped += 1;
                } else {
                    count.failed += 1;
                }
                out.issues.push(ImportIssue {
                    file,
                    line,
                    status,
                    reason,
                });
            }
        }
    }
    Ok(count)
}

fn unreachable_skipped() -> Result<Conversation, LineError> {
    Err(LineError::Question("category is not imported".into()))
}

/// Why one test case failed, and which of its two lines is at fault.
enum LineError {
    Question(String),
    Answer(String),
    /// A ground truth BFCL's own checker rejects (reported as `skipped`).
    Unsatisfiable(String),
}

fn q_err(reason: impl Into<String>) -> LineError {
    LineError::Question(reason.into())
}

fn a_err(reason: impl Into<String>) -> LineError {
    LineError::Answer(reason.into())
}

/// The messages of each question turn.
fn question_turns(entry: &Value) -> Result<Vec<Vec<Message>>, LineError> {
    let turns = entry
        .get("question")
        .and_then(Value::as_array)
        .ok_or_else(|| q_err("no array field `question`"))?;
    turns
        .iter()
        .enumerate()
        .map(|(t, turn)| {
            let msgs = turn
                .as_array()
                .ok_or_else(|| q_err(format!("question turn {t} is not an array")))?;
            msgs.iter()
                .enumerate()
                .map(|(m, msg)| {
                    let role = msg.get("role").and_then(Value::as_str).unwrap_or("");
                    let role = match role {
                        "user" => ChatRole::User,
                        "system" => ChatRole::System,
                        "assistant" => ChatRole::Assistant,
                        other => {
                            return Err(q_err(format!(
                                "question turn {t} message {m}: unknown role {other:?}"
                            )));
                        }
                    };
                    let content = msg.get("content").and_then(Value::as_str).ok_or_else(|| {
                        q_err(format!("question turn {t} message {m}: no string `content`"))
                    })?;
                    Ok(match role {
                        ChatRole::System => Message::system(content),
                        ChatRole::Assistant => Message::assistant(content),
                        _ => Message::user(content),
                    })
                })
                .collect()
        })
        .collect()
}

/// BFCL type names → JSON Schema type names (as BFCL's own OpenAI handler converts them);
/// language-specific types of the Java / JavaScript categories are passed as strings.
fn json_schema_type(bfcl: &str) -> &'static str {
    match bfcl {
        "dict" | "object" | "HashMap" | "Map" => "object",
        "float" | "number" | "double" => "number",
        "integer" | "int" | "long" => "integer",
        "boolean" | "bool" => "boolean",
        "array" | "list" | "tuple" | "ArrayList" | "Array" => "array",
        "string" | "String" | "str" => "string",
        "null" => "null",
        _ => "string",
    }
}

/// Recursively rewrite `type` fields of a BFCL parameter schema to JSON Schema types.
fn convert_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let nv = match (k.as_str(), v) {
                    ("type", Value::String(t)) => Value::String(json_schema_type(t).to_string()),
                    ("properties", Value::Object(props)) => Value::Object(
                        props
                            .iter()
                            .map(|(name, p)| (name.clone(), convert_schema(p)))
                            .collect(),
                    ),
                    ("items" | "additionalProperties", v) => convert_schema(v),
                    _ => v.clone(),
                };
                out.insert(k.clone(), nv);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// A BFCL function document → chat-format tool (`{"type":"function","function":{name,
/// description, parameters}}`; BFCL's `response` block is not part of a tool schema and is
/// dropped) and the declared parameter order.
fn function_doc(doc: &Value) -> Result<FunctionDoc, String> {
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .ok_or("function document has no string `name`")?;
    let description = doc.get("description").and_then(Value::as_str).unwrap_or("");
    let parameters = doc
        .get("parameters")
        .map(convert_schema)
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    let params = parameters
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let tool = json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}});
    Ok(FunctionDoc {
        name: name.to_string(),
        tool,
        params,
        declared: declared_params(doc),
        defaults: doc
            .pointer("/parameters/properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter_map(|(k, p)| p.get("default").map(|d| (k.clone(), d.clone())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The split group of a multi-turn id: `multi_turn_<variant>_<n>` → `bfcl:multi_turn#<n>`.
fn multi_turn_group(id: &str) -> String {
    match id.rsplit_once('_') {
        Some((_, n)) if n.chars().all(|c| c.is_ascii_digit()) => format!("bfcl:multi_turn#{n}"),
        _ => format!("bfcl:{id}"),
    }
}

/// Placeholder for a past kind-only step in a context.
fn unrecorded_reply(kind: ActionKind) -> Message {
    let what = match kind {
        ActionKind::AskClarification => "clarifying question",
        ActionKind::Blocked => "reply that the step cannot be done",
        _ => "final answer",
    };
    Message::assistant(format!("[{what} not recorded in BFCL]"))
}

struct ExampleSink {
    source: String,
    conversation: String,
    examples: Vec<Example>,
    id_prefix: String,
}

impl ExampleSink {
    /// A sink for one BFCL case: every example's id starts with `prefix`, which is also the
    /// conversation id (the split unit).
    fn new(source: String, prefix: String) -> Self {
        ExampleSink {
            source,
            conversation: prefix.clone(),
            examples: Vec::new(),
            id_prefix: prefix,
        }
    }

    fn push(&mut self, tag: String, messages: &[Message], tools: &[Value], gold: Action) {
        self.examples.push(Example {
            id: format!("{}#{tag}", self.id_prefix),
            source: self.source.clone(),
            conversation: self.conversation.clone(),
            split: Split::Train,
            messages: messages.to_vec(),
            tools: tools.to_vec(),
            gold,
        });
    }
}

fn multi_turn(
    category: &str,
    id: &str,
    entry: &Value,
    answer: Option<(usize, &Value)>,
    class_docs: &HashMap<String, Vec<FunctionDoc>>,
) -> Result<Conversation, LineError> {
    let turns = question_turns(entry)?;
    let truth = answer
        .and_then(|(_, a)| a.get("ground_truth"))
        .and_then(Value::as_array)
        .ok_or_else(|| a_err("no array field `ground_truth`"))?;
    if truth.len() != turns.len() {
        return Err(a_err(format!(
            "{} ground-truth turns for {} question turns",
            truth.len(),
            turns.len()
        )));
    }
    // 1. The functions of the involved classes, in class order.
    let mut functions: Vec<&FunctionDoc> = Vec::new();
    for class in string_list(entry.get("involved_classes")) {
        let docs = class_docs
            .get(&class)
            .ok_or_else(|| q_err(format!("no function document for class `{class}`")))?;
        functions.extend(docs.iter());
    }
    let excluded: BTreeSet<String> = string_list(entry.get("excluded_function")).into_iter().collect();
    // 2. Held-back functions: name → the turn that adds it.
    let mut added_at: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(missed) = entry.get("missed_function").and_then(Value::as_object) {
        for (turn, names) in missed {
            let t: usize = turn
                .parse()
                .map_err(|_| q_err(format!("missed_function key {turn:?} is not a turn index")))?;
            for name in string_list(Some(names)) {
                added_at.insert(name, t);
            }
        }
    }
    let source = format!("bfcl:{category}");
    let mut sink = ExampleSink::new(source.clone(), format!("bfcl:{id}"));
    let mut messages: Vec<Message> = Vec::new();
    for (t, (turn, calls)) in turns.iter().zip(truth).enumerate() {
        // 3. Tools on offer in this turn.
        let offered: Vec<&FunctionDoc> = functions
            .iter()
            .copied()
            .filter(|f| !excluded.contains(&f.name) && added_at.get(&f.name).is_none_or(|&at| at <= t))
            .collect();
        let tools: Vec<Value> = offered.iter().map(|f| f.tool.clone()).collect();
        // 4. The user turn (BFCL's follow-up when the turn only adds functions).
        if turn.is_empty() {
            messages.push(Message::user(ADDED_FUNCTIONS_PROMPT));
        } else {
            messages.extend(turn.iter().cloned());
        }
        let calls = calls
            .as_array()
            .ok_or_else(|| a_err(format!("ground-truth turn {t} is not an array")))?;
        if calls.is_empty() {
            let kind = match category {
                "multi_turn_miss_param" => ActionKind::AskClarification,
                "multi_turn_miss_func" => ActionKind::Blocked,
                _ => ActionKind::FinalAnswer,
            };
            sink.push(format!("t{t}.s0"), &messages, &tools, Action::kind(kind));
            messages.push(unrecorded_reply(kind));
            continue;
        }
        // 5. One example per call, then the final answer.
        for (s, call) in calls.iter().enumerate() {
            let text = call
                .as_str()
                .ok_or_else(|| a_err(format!("turn {t} call {s} is not a string")))?;
            let parsed = parse_call(text).map_err(|e| a_err(format!("turn {t} call {s} `{text}`: {e}")))?;
            let doc = offered.iter().find(|f| f.name == parsed.name).ok_or_else(|| {
                a_err(format!(
                    "turn {t} call {s} `{text}`: function `{}` is not offered in this turn",
                    parsed.name
                ))
            })?;
            let arguments = parsed
                .arguments(&doc.params)
                .map_err(|e| a_err(format!("turn {t} call {s}: {e}")))?;
            let gold = Action::call(kind_of_function(&parsed.name), &parsed.name, arguments.clone())
                .with_accepted_values(step_accepted(doc, &arguments));
            sink.push(format!("t{t}.s{s}"), &messages, &tools, gold);
            messages.push(Message::assistant_calls(
                "",
                vec![ToolCall::new(&parsed.name, arguments)],
            ));
            messages.push(Message::tool(&parsed.name, OUTPUT_NOT_RECORDED));
        }
        sink.push(
            format!("t{t}.s{}", calls.len()),
            &messages,
            &tools,
            Action::kind(ActionKind::FinalAnswer),
        );
        messages.push(unrecorded_reply(ActionKind::FinalAnswer));
    }
    Ok(Conversation {
        id: sink.conversation.clone(),
        source,
        group: multi_turn_group(id),
        examples: sink.examples,
    })
}

/// The accepted values of a multi-turn step: its one gold value per argument, with the
/// function's declared types, so the step is scored with BFCL's type rules
/// ([`AcceptedCall::check`]: an `integer` argument written `100.0` is wrong, an int for a
/// `float` is right, a bool is not a number). A dict argument's value is a dict of
/// one-value lists, as BFCL's `dict_checker` reads accepted dicts. Strings compare exactly
/// ([`AcceptedCall::exact_strings`]: the call is executed), and an optional argument whose
/// gold value is its documented default may be left out. What BFCL's multi-turn
/// checker decides differently (it executes the calls) is named in `bfcl_check`'s docs.
fn step_accepted(doc: &FunctionDoc, arguments: &Value) -> AcceptedCall {
    let accepted = |v: &Value| match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| (k.clone(), Value::Array(vec![x.clone()])))
                .collect(),
        ),
        other => other.clone(),
    };
    let (params, required) = doc.declared.clone();
    // An optional parameter given its documented default may be left out: the function then
    // runs with that default, the same call.
    let is_default = |k: &str, v: &Value| {
        !required.iter().any(|r| r == k)
            && doc
                .defaults
                .get(k)
                .is_some_and(|d| spec_actions_core::accepted::py_eq(d, v))
    };
    AcceptedCall {
        arguments: arguments
            .as_object()
            .map(|args| {
                args.iter()
                    .map(|(k, v)| {
                        let mut alts = vec![accepted(v)];
                        if is_default(k, v) {
                            alts.push(Value::String(String::new()));
                        }
                        (k.clone(), Value::Array(alts))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        params,
        required,
        language: Language::Python,
        exact_strings: true,
    }
}

/// The tools of a single-turn case (`function` field); a Java / JavaScript case's as BFCL
/// offers them ([`language_specific_doc`]).
fn case_tools(category: &str, entry: &Value) -> Result<Vec<Value>, LineError> {
    let functions = entry
        .get("function")
        .and_then(Value::as_array)
        .ok_or_else(|| q_err("no array field `function`"))?;
    let language = Language::of_category(category);
    functions
        .iter()
        .map(|f| {
            function_doc(&language_specific_doc(f, language))
                .map(|d| d.tool)
                .map_err(q_err)
        })
        .collect()
}

/// Python's `json.dumps(value)` (separators `", "` / `": "`, non-ASCII escaped as `\\uXXXX`).
fn python_json_dumps(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for unit in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json_dumps).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_json_dumps(&Value::String(k.clone())),
                    python_json_dumps(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// BFCL's `_func_doc_language_specific_pre_processing` (`bfcl_eval/utils.py`) for Java and
/// JavaScript: a note of the language on the description, and every parameter of type
/// `string` with its real type said in its description (the model writes source text; item
/// types and a dict's entry schema move into the description too). Python documents are kept
/// as they are (BFCL's Python note is not added, so the Python categories' prompts stay as
/// they were).
fn language_specific_doc(doc: &Value, language: Language) -> Value {
    let (lang, hint) = match language {
        Language::Python => return doc.clone(),
        Language::Java => (
            "Java",
            " Note that the provided function is in Java 8 SDK syntax.",
        ),
        Language::JavaScript => (
            "JavaScript",
            " Note that the provided function is in JavaScript syntax.",
        ),
    };
    let mut doc = doc.clone();
    if let Some(d) = doc.get_mut("description") {
        *d = Value::String(format!("{}{hint}", d.as_str().unwrap_or("")));
    }
    let props = doc
        .get_mut("parameters")
        .and_then(|p| p.get_mut("properties"))
        .and_then(Value::as_object_mut);
    for value in props.into_iter().flat_map(|p| p.values_mut()) {
        let Some(value) = value.as_object_mut() else {
            continue;
        };
        let ty = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut description = value
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if ty == "any" {
            description +=
                &format!(" This parameter can be of any type of {lang} object in string representation.");
        } else {
            description += &format!(" This is {lang} {ty} type parameter in string representation.");
        }
        let list = match language {
            Language::Java => ty == "ArrayList" || ty == "Array",
            _ => ty == "array",
        };
        if list {
            let item = value
                .get("items")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            description +=
                &format!(" The list elements are of type {item}; they are not in string representation.");
            value.remove("items");
        }
        if language == Language::JavaScript
            && ty == "dict"
            && let Some(p) = value.remove("properties")
        {
            description += &format!(
                " The dictionary entries have the following schema; they are not in string representation. {}",
                python_json_dumps(&p)
            );
        }
        value.insert("description".into(), Value::String(description));
        value.insert("type".into(), Value::String("string".into()));
    }
    doc
}

/// The first acceptable value of a BFCL alternatives list (see the module docs); `None` when
/// the argument may be omitted and has no other value.
fn pick_value(alternatives: &Value) -> Option<Value> {
    let list = alternatives.as_array()?;
    list.iter().find(|v| v.as_str() != Some("")).map(pick_nested)
}

/// Nested dicts in BFCL ground truth, on their own or as the items of a list of dicts, are
/// themselves dicts of alternatives lists (BFCL's `dict_checker` / `list_dict_checker`).
fn pick_nested(value: &Value) -> Value {
    match value {
        Value::Object(map) if !map.is_empty() && map.values().all(Value::is_array) => Value::Object(
            map.iter()
                .filter_map(|(k, alts)| pick_value(alts).map(|v| (k.clone(), v)))
                .collect(),
        ),
        Value::Array(items) if items.iter().any(Value::is_object) => {
            Value::Array(items.iter().map(pick_nested).collect())
        }
        other => other.clone(),
    }
}

/// BFCL's own function document of `name` among a single-turn case's `function` list.
fn raw_function<'a>(entry: &'a Value, name: &str) -> Option<&'a Value> {
    entry
        .get("function")?
        .as_array()?
        .iter()
        .find(|f| f.get("name").and_then(Value::as_str) == Some(name))
}

/// The declared parameters (BFCL's own type names) and required list of a BFCL function
/// document.
pub fn declared_params(function: &Value) -> (BTreeMap<String, ParamType>, Vec<String>) {
    let parameters = function.get("parameters");
    let params = parameters
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| {
                    let ty = p.get("type").and_then(Value::as_str).unwrap_or("").to_string();
                    let items = p
                        .get("items")
                        .and_then(|i| i.get("type"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    (name.clone(), ParamType { ty, items })
                })
                .collect()
        })
        .unwrap_or_default();
    (params, string_list(parameters.and_then(|p| p.get("required"))))
}

/// One ground-truth call of a single-turn case (`{name: {param: [accepted…]}}`) with the
/// declared parameters of its function (looked up by name in the case's `function` list):
/// BFCL's whole statement of what is right.
///
/// `category` chooses the language BFCL checks the call in ([`Language::of_category`]).
pub fn accepted_call(
    category: &str,
    entry: &Value,
    name: &str,
    params: &Map<String, Value>,
) -> Result<AcceptedCall, String> {
    let function = raw_function(entry, name).ok_or_else(|| format!("function `{name}` is not offered"))?;
    if let Some((param, _)) = params.iter().find(|(_, alts)| !alts.is_array()) {
        return Err(format!("accepted values of `{param}` are not a list"));
    }
    let (declared, required) = declared_params(function);
    Ok(AcceptedCall {
        arguments: params.clone(),
        params: declared,
        required,
        language: Language::of_category(category),
        exact_strings: false,
    })
}

/// A Java / JavaScript gold value as the source text a model writes for it and BFCL's type
/// converter reads back (`true` → `"true"`, `42` as a `long` → `"42L"`, a list as
/// `new String[]{…}` / `[…]`, a dict as `new HashMap<…>() {{ put(…); }}` / `{…}`); a Python
/// call's value as it is. A value no converter reads back is left as it is (the check of the
/// concrete call then rejects the case).
fn source_text(accepted: &AcceptedCall, param: &str, value: Value) -> Value {
    let Some(decl) = accepted.params.get(param) else {
        return value;
    };
    let text = match accepted.language {
        Language::Python => None,
        Language::Java => java_source(&value, &decl.ty, decl.items.as_deref()),
        Language::JavaScript => js_source(&value, &decl.ty, decl.items.as_deref()),
    };
    text.map(Value::String).unwrap_or(value)
}

/// An argument whose accepted list is empty (`[]`): BFCL's checker rejects both a value (none
/// is in `[]`) and its absence (`""` is not in `[]`), so no call is right, the ground truth's
/// own included (`live_simple_106-63-0`).
fn unsatisfiable(accepted: &AcceptedCall) -> Option<String> {
    accepted
        .arguments
        .iter()
        .find(|(_, alts)| alts.as_array().is_some_and(Vec::is_empty))
        .map(|(param, _)| {
            format!("`{param}` has no accepted value ([]): BFCL's checker rejects every call, this ground truth included")
        })
}

fn single_turn(
    category: &str,
    id: &str,
    entry: &Value,
    answer: Option<(usize, &Value)>,
) -> Result<Conversation, LineError> {
    let context: Vec<Message> = question_turns(entry)?.into_iter().flatten().collect();
    if context.is_empty() {
        return Err(q_err("empty question"));
    }
    let tools = case_tools(category, entry)?;
    let truth = answer
        .and_then(|(_, a)| a.get("ground_truth"))
        .and_then(Value::as_array)
        .ok_or_else(|| a_err("no array field `ground_truth`"))?;
    if truth.is_empty() {
        return Err(a_err("empty ground truth"));
    }
    let source = format!("bfcl:{category}");
    let prefix = format!("bfcl:{id}");
    let mut sink = ExampleSink::new(source.clone(), prefix.clone());
    let mut messages = context;
    for (s, call) in truth.iter().enumerate() {
        let (name, params) = call
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
            .ok_or_else(|| a_err(format!("ground-truth call {s} is not a one-key object")))?;
        let params = params
            .as_object()
            .ok_or_else(|| a_err(format!("ground-truth call {s}: arguments not an object")))?;
        let accepted = accepted_call(category, entry, name, params)
            .map_err(|e| a_err(format!("ground-truth call {s}: {e}")))?;
        if let Some(reason) = unsatisfiable(&accepted) {
            return Err(LineError::Unsatisfiable(format!(
                "ground-truth call {s}: {reason}"
            )));
        }
        let arguments: Map<String, Value> = params
            .iter()
            .filter_map(|(k, alts)| pick_value(alts).map(|v| (k.clone(), v)))
            .map(|(k, v)| {
                let v = source_text(&accepted, &k, v);
                (k, v)
            })
            .collect();
        let arguments = Value::Object(arguments);
        // The trained target must be a call BFCL accepts: not so where the ground truth leaves
        // a required argument only `""`, or lists an argument the function does not declare.
        if let Err(e) = accepted.check(name, name, &arguments) {
            return Err(LineError::Unsatisfiable(format!(
                "ground-truth call {s}: BFCL's checker rejects the call of its first accepted values ({}): {}",
                e.error_type, e.error
            )));
        }
        sink.push(
            format!("s{s}"),
            &messages,
            &tools,
            Action::call(ActionKind::ToolCall, name, arguments.clone()).with_accepted_values(accepted),
        );
        messages.push(Message::assistant_calls("", vec![ToolCall::new(name, arguments)]));
        messages.push(Message::tool(name, OUTPUT_NOT_RECORDED));
    }
    Ok(Conversation {
        id: prefix.clone(),
        source,
        group: prefix,
        examples: sink.examples,
    })
}

fn irrelevance(category: &str, id: &str, entry: &Value) -> Result<Conversation, LineError> {
    let context: Vec<Message> = question_turns(entry)?.into_iter().flatten().collect();
    if context.is_empty() {
        return Err(q_err("empty question"));
    }
    let tools = case_tools(category, entry)?;
    one_example(
        category,
        id,
        &context,
        &tools,
        Action::kind(ActionKind::FinalAnswer),
    )
}

fn agentic(
    category: &str,
    id: &str,
    entry: &Value,
    class_docs: &HashMap<String, Vec<FunctionDoc>>,
) -> Result<Conversation, LineError> {
    let context: Vec<Message> = question_turns(entry)?.into_iter().flatten().collect();
    if context.is_empty() {
        return Err(q_err("empty question"));
    }
    let mut tools = Vec::new();
    for class in string_list(entry.get("involved_classes")) {
        let docs = class_docs
            .get(&class)
            .ok_or_else(|| q_err(format!("no function document for class `{class}`")))?;
        tools.extend(docs.iter().map(|d| d.tool.clone()));
    }
    one_example(
        category,
        id,
        &context,
        &tools,
        Action::kind(ActionKind::Retrieval),
    )
}

fn one_example(
    category: &str,
    id: &str,
    context: &[Message],
    tools: &[Value],
    gold: Action,
) -> Result<Conversation, LineError> {
    let source = format!("bfcl:{category}");
    let prefix = format!("bfcl:{id}");
    let mut sink = ExampleSink::new(source.clone(), prefix.clone());
    sink.push("s0".into(), context, tools, gold);
    Ok(Conversation {
        id: prefix.clone(),
        source,
        group: prefix,
        examples: sink.examples,
    })
}

/// The BFCL folder shipped with the repository (`assets/bfcl-v4`).
pub fn default_bfcl_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/bfcl-v4")
}
