//! The results schema: what the policies write and the frontier reads. Versioned by
//! [`RESULTS_SCHEMA_VERSION`]; a reader refuses files from a newer version.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{Action, ActionKind};
use crate::cost::CostLedger;
use crate::io::{FileError, StagedWrites};

/// Version of [`ResultsFile`] written by this build.
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// A whole results file: every configuration evaluated on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    pub schema_version: u32,
    /// What was evaluated (e.g. `study v2`, `tiny run 2026-11-22 eval split`).
    #[serde(default)]
    pub title: String,
    /// Random-guess accuracy (study: 1/9).
    pub random_baseline: f64,
    /// Accuracy of always predicting the training split's most common kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majority_baseline: Option<f64>,
    /// The kind the majority baseline always predicts (study: `final_answer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub majority_kind: Option<ActionKind>,
    /// Name of the cheap-only configuration (the study's `B`): the low end point of threshold
    /// sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cheap_only_config: Option<String>,
    /// Name of the strong-only configuration (the study's `A`): the high end point of sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strong_only_config: Option<String>,
    pub configs: Vec<ConfigResult>,
}

/// One configuration (policy + models + thresholds) and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigResult {
    /// Short name: `A`, `B`, `F@0.8`… Configurations named `<policy>@<threshold>` with the same
    /// `<policy>` form one threshold sweep.
    pub name: String,
    pub description: String,
    pub accuracy: f64,
    /// Mean nominal cost per decision.
    pub mean_cost: f64,
    /// Share of decisions where the cheap proposal was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_rate: Option<f64>,
    /// Share of decisions that fell back to the strong model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_rate: Option<f64>,
    /// Per-example records (optional: the study's summary has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<ExampleRecord>,
}

/// What one configuration decided for one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleRecord {
    pub example_id: String,
    pub gold: Action,
    /// `None` when the model output parsed to nothing (scored wrong, never dropped).
    pub predicted: Option<Action>,
    /// Raw model output, kept when it did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<String>,
    /// Kind-level correctness.
    pub correct: bool,
    /// Whether the cheap proposal was accepted (None for policies without a gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    pub ledger: CostLedger,
}

/// Why a results file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error(transparent)]
    File(#[from] FileError),
    /// Not JSON, or a field has the wrong shape.
    #[error("{path}:{line}:{column}: field `{field}`: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    /// `schema_version` is absent or not a positive integer.
    #[error("{path}: field `schema_version`: {message}")]
    BadVersion { path: PathBuf, message: String },
    /// Written by a newer build than this one.
    #[error(
        "{path}: results schema version {found} is newer than this build reads (up to {supported}); \
         upgrade spec-actions to read it"
    )]
    TooNew {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    /// A value out of its range, or an accuracy its own records contradict.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: cannot serialize results: {source}")]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ResultsFile {
    /// An empty results file of the current schema version.
    pub fn new(title: impl Into<String>, random_baseline: f64) -> Self {
        ResultsFile {
            schema_version: RESULTS_SCHEMA_VERSION,
            title: title.into(),
            random_baseline,
            majority_baseline: None,
            majority_kind: None,
            cheap_only_config: None,
            strong_only_config: None,
            configs: Vec::new(),
        }
    }

    /// Read a results file (pretty or compact JSON), checking its schema version first.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ResultsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| FileError::new("read", path, e))?;
        Self::from_json_str(&text, path)
    }

    /// Parse results JSON; `path` names the source in errors.
    ///
    /// The version is checked before the fields, so a file from a newer build gets a clear
    /// "upgrade" message instead of a confusing field error.
    pub fn from_json_str(text: &str, path: impl Into<PathBuf>) -> Result<Self, ResultsError> {
        let path = path.into();
        let json_error = |e: serde_json::Error, field: String| ResultsError::Json {
            path: path.clone(),
            line: e.line(),
            column: e.column(),
            field,
            message: e.to_string(),
        };
        let value: Value = serde_json::from_str(text).map_err(|e| json_error(e, ".".to_string()))?;
        let version = match value.get("schema_version") {
            None => {
                return Err(ResultsError::BadVersion {
                    path,
                    message: "missing (not a results file?)".into(),
                });
            }
            Some(v) => v
                .as_u64()
                .filter(|&v| v >= 1)
                .ok_or_else(|| ResultsError::BadVersion {
                    path: path.clone(),
                    message: format!("expected a positive integer, found {v}"),
                })?,
        };
        if version > u64::from(RESULTS_SCHEMA_VERSION) {
            return Err(ResultsError::TooNew {
                path,
                found: version,
                supported: RESULTS_SCHEMA_VERSION,
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let file: ResultsFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            json_error(e.into_inner(), field)
        })?;
        file.check()
            .map_err(|(field, message)| ResultsError::Invalid { path, field, message })?;
        Ok(file)
    }

    /// The values a report would draw or test: rates and baselines in [0, 1], costs finite and
    /// not negative, and an accuracy equal to the share of correct records when there are
    /// records. Returns the first bad field and why.
    fn check(&self) -> Result<(), (String, String)> {
        let share = |field: String, v: f64| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err((field, format!("{v} is not a share in [0, 1]")))
            }
        };
        share("random_baseline".into(), self.random_baseline)?;
        if let Some(m) = self.majority_baseline {
            share("majority_baseline".into(), m)?;
        }
        for (i, c) in self.configs.iter().enumerate() {
            let field = |name: &str| format!("configs[{i}].{name} ({})", c.name);
            share(field("accuracy"), c.accuracy)?;
            if !(c.mean_cost.is_finite() && c.mean_cost >= 0.0) {
                return Err((
                    field("mean_cost"),
                    format!("{} is not a cost (finite, ≥ 0)", c.mean_cost),
                ));
            }
            for (name, rate) in [("accept_rate", c.accept_rate), ("fallback_rate", c.fallback_rate)] {
                if let Some(r) = rate {
                    share(field(name), r)?;
                }
            }
            if !c.records.is_empty() {
                let right = c.records.iter().filter(|r| r.correct).count();
                let from_records = right as f64 / c.records.len() as f64;
                if (from_records - c.accuracy).abs() > 1e-9 {
                    return Err((
                        field("accuracy"),
                        format!(
                            "{} contradicts its {} records ({right} correct: {from_records})",
                            c.accuracy,
                            c.records.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Write as pretty JSON, atomically.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ResultsError> {
        let mut staged = StagedWrites::new();
        self.write_staged(&mut staged, path)?;
        staged.commit()?;
        Ok(())
    }

    /// [`ResultsFile::write`] as part of a set of files that appear together: the file is
    /// written into `staged` and replaces `path` at [`StagedWrites::commit`].
    pub fn write_staged(
        &self,
        staged: &mut StagedWrites,
        path: impl AsRef<Path>,
    ) -> Result<(), ResultsError> {
        let path = path.as_ref();
        let text = serde_json::to_string_pretty(self).map_err(|source| ResultsError::Serialize {
            path: path.to_path_buf(),
            source,
        })?;
        staged.write(path, |w| {
            use std::io::Write;
            w.write_all(text.as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| FileError::new("write", path, e))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::{CostModel, ModelRole};

    fn sample() -> ResultsFile {
        let mut ledger = CostLedger::new();
        ledger.record(CostModel::default().call(ModelRole::Cheap, 120, 3));
        let mut file = ResultsFile::new("unit test", 1.0 / 9.0);
        file.majority_baseline = Some(0.24);
        file.majority_kind = Some(ActionKind::FinalAnswer);
        file.configs.push(ConfigResult {
            name: "B".into(),
            description: "cheap only".into(),
            accuracy: 1.0,
            mean_cost: 0.15,
            accept_rate: None,
            fallback_rate: None,
            records: vec![ExampleRecord {
                example_id: "e1".into(),
                gold: Action::kind(ActionKind::Repair),
                predicted: Some(Action::kind(ActionKind::Repair)),
                raw_output: None,
                correct: true,
                accepted: None,
                ledger,
            }],
        });
        file
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        let file = sample();
        file.write(&path).unwrap();
        assert_eq!(ResultsFile::read(&path).unwrap(), file);
    }

    /// A results file written before the roles were one enum names the reward model's calls
    /// `reward_model`: it still reads, as the reward role, and is written back as `reward`.
    #[test]
    fn a_results_file_with_the_old_reward_role_name_reads() {
        let mut file = sample();
        let ledger = &mut file.configs[0].records[0].ledger;
        ledger.record(CostModel::default().call(ModelRole::Reward, 130, 0));
        let mut value = serde_json::to_value(&file).unwrap();
        let call = &mut value["configs"][0]["records"][0]["ledger"]["calls"][1];
        assert_eq!(call["role"], "reward");
        call["role"] = "reward_model".into();
        let read = ResultsFile::from_json_str(&value.to_string(), "old.json").unwrap();
        assert_eq!(read, file);
        assert_eq!(read.configs[0].records[0].ledger.count(ModelRole::Reward), 1);
    }

    /// Issue 18, item 7: values a report would draw are checked on reading.
    #[test]
    fn out_of_range_values_and_contradicted_accuracy_are_refused_naming_the_field() {
        let refused = |edit: &dyn Fn(&mut Value), field: &str, why: &str| {
            let mut value = serde_json::to_value(sample()).unwrap();
            edit(&mut value);
            let err = ResultsFile::from_json_str(&value.to_string(), "r.json")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("r.json") && err.contains(field) && err.contains(why),
                "{err}"
            );
        };
        refused(
            &|v| v["configs"][0]["accuracy"] = 1.5.into(),
            "configs[0].accuracy (B)",
            "not a share",
        );
        refused(
            &|v| v["configs"][0]["accuracy"] = (-0.2).into(),
            "configs[0].accuracy (B)",
            "not a share",
        );
        refused(
            &|v| v["configs"][0]["mean_cost"] = (-1.0).into(),
            "configs[0].mean_cost (B)",
            "not a cost",
        );
        refused(
            &|v| v["configs"][0]["accept_rate"] = 2.0.into(),
            "configs[0].accept_rate (B)",
            "not a share",
        );
        refused(
            &|v| v["random_baseline"] = 7.0.into(),
            "random_baseline",
            "not a share",
        );
        // one record, correct: an accuracy of 0.5 contradicts it
        refused(
            &|v| v["configs"][0]["accuracy"] = 0.5.into(),
            "configs[0].accuracy (B)",
            "contradicts its 1 records",
        );
        // a summary without records may state any share
        let mut value = serde_json::to_value(sample()).unwrap();
        value["configs"][0]["records"] = Value::Array(Vec::new());
        value["configs"][0]["accuracy"] = 0.5.into();
        assert!(ResultsFile::from_json_str(&value.to_string(), "r.json").is_ok());
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_message() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value["schema_version"] = Value::from(RESULTS_SCHEMA_VERSION + 1);
        value["configs"] = Value::from("a shape this build does not know");
        let err = ResultsFile::from_json_str(&value.to_string(), "r.json").unwrap_err();
        assert!(
            matches!(err, ResultsError::TooNew { found, .. } if found == u64::from(RESULTS_SCHEMA_VERSION) + 1)
        );
        assert!(err.to_string().contains("upgrade spec-actions"), "{err}");
    }

    #[test]
    fn missing_version_and_bad_fields_are_named() {
        let err = ResultsFile::from_json_str("{\"configs\": []}", "r.json").unwrap_err();
        assert!(matches!(err, ResultsError::BadVersion { .. }), "{err}");

        let text = "{\n  \"schema_version\": 1,\n  \"random_baseline\": 0.1,\n  \"configs\": [\n    \
                    {\"name\": \"A\", \"description\": \"\", \"accuracy\": \"high\", \"mean_cost\": 1}\n  ]\n}";
        let err = ResultsFile::from_json_str(text, "r.json").unwrap_err();
        match &err {
            ResultsError::Json { line, field, .. } => {
                assert_eq!(*line, 5);
                assert_eq!(field, "configs[0].accuracy");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("r.json:5:"), "{err}");
    }
}
