//! The next-kind classifier: configuration, fitting, prediction, and its JSON file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use spec_actions_core::io::{FileError, atomic_write_bytes};
use spec_actions_core::{ActionKind, Example};

use crate::features::example_terms;
use crate::logistic::{LbfgsOptions, Problem, minimize};
use crate::tfidf::TfIdf;

/// `format` field of a saved classifier.
pub const MODEL_FORMAT: &str = "spec-actions-baseline/kind-classifier";
/// `version` field of a saved classifier; [`KindClassifier::load`] refuses any other.
pub const MODEL_VERSION: u32 = 1;

/// How to build and fit a [`KindClassifier`]. The defaults are the reference setting
/// (scikit-learn `C = 4`, terms in at least 2 training examples, sublinear tf, last three
/// messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindClassifierConfig {
    /// Inverse L2 regularisation strength, as scikit-learn's `C` (`> 0`).
    pub c: f64,
    /// A term is kept when it occurs in at least this many training examples (`≥ 1`).
    pub min_df: usize,
    /// Damp term counts to `1 + ln(tf)`.
    pub sublinear_tf: bool,
    /// How many of the last messages give words (`≥ 1`).
    pub last_messages: usize,
    /// Weigh each example by `n / (k · n_c)` (n examples, k = 9 kinds, n_c of its kind).
    pub balanced: bool,
    /// Most L-BFGS iterations (`≥ 1`).
    pub max_iter: usize,
    /// Stop when the largest gradient component of the (weight-averaged) objective is at most
    /// this, as scikit-learn's `tol` (`> 0`).
    pub tol: f64,
}

impl Default for KindClassifierConfig {
    fn default() -> Self {
        KindClassifierConfig {
            c: 4.0,
            min_df: 2,
            sublinear_tf: true,
            last_messages: 3,
            balanced: true,
            max_iter: 1000,
            tol: 1e-4,
        }
    }
}

/// Why a classifier could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// No training example.
    #[error("empty training set: a kind classifier needs examples of all nine kinds")]
    EmptyTrainingSet,
    /// A kind has no training example, so it could never be predicted (and its balanced weight
    /// would be infinite).
    #[error("no training example of kind `{kind}` ({examples} examples in all)")]
    MissingKind { kind: ActionKind, examples: usize },
    /// A configuration field is out of range.
    #[error("config field `{field}`: {message}")]
    InvalidConfig { field: &'static str, message: String },
    /// No term occurs in `min_df` examples.
    #[error("empty vocabulary: no term occurs in at least {min_df} of {examples} examples")]
    EmptyVocabulary { min_df: usize, examples: usize },
    /// The optimiser met a NaN or an infinity.
    #[error("training diverged: objective {value} after {iterations} iterations")]
    Diverged { value: f64, iterations: usize },
}

/// Why a saved classifier could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// Opening, reading or writing failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file is not JSON of the expected shape.
    #[error("{path}: field `{field}`: {message}")]
    Parse {
        path: PathBuf,
        field: String,
        message: String,
    },
    /// The file parses but is not a consistent classifier (wrong format or version, lengths that
    /// disagree, a non-finite weight).
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
    /// The classifier could not be serialised.
    #[error("{path}: cannot serialise: {message}")]
    Serialize { path: PathBuf, message: String },
}

/// What fitting did, kept with the classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Training examples.
    pub examples: usize,
    /// Training examples of each kind, by [`ActionKind::index`].
    pub per_kind: [usize; ActionKind::COUNT],
    /// Columns of the TF-IDF vocabulary.
    pub vocabulary: usize,
    /// Mean number of non-zero features of a training row.
    pub mean_nnz: f64,
    /// L-BFGS iterations.
    pub iterations: usize,
    /// Whether a tolerance was met before `max_iter`.
    pub converged: bool,
    /// The final value of the objective.
    pub objective: f64,
    /// Largest gradient component at the end.
    pub grad_max: f64,
    /// Wall-clock seconds of the whole fit (features and optimisation).
    pub seconds: f64,
}

/// A fitted bag-of-words next-kind classifier. Probabilities are ordered by
/// [`ActionKind::index`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindClassifier {
    format: String,
    version: u32,
    config: KindClassifierConfig,
    /// The kinds, in column order (checked on load against [`ActionKind::ALL`]).
    kinds: Vec<ActionKind>,
    tfidf: TfIdf,
    /// `vocabulary × 9`, row by row (term `j`'s nine weights at `9j .. 9j + 9`).
    weights: Vec<f32>,
    bias: Vec<f32>,
    fit: FitReport,
}

impl KindClassifierConfig {
    /// Check the fields' ranges.
    pub fn validate(&self) -> Result<(), FitError> {
        let bad = |field, message: &str| {
            Err(FitError::InvalidConfig {
                field,
                message: message.to_string(),
            })
        };
        if !(self.c.is_finite() && self.c > 0.0) {
            return bad("c", &format!("{} is not a finite positive number", self.c));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return bad("tol", &format!("{} is not a finite positive number", self.tol));
        }
        if self.min_df == 0 {
            return bad("min_df", "must be at least 1");
        }
        if self.last_messages == 0 {
            return bad("last_messages", "must be at least 1");
        }
        if self.max_iter == 0 {
            return bad("max_iter", "must be at least 1");
        }
        Ok(())
    }

    /// Fit a classifier on `train` (every kind must occur). Deterministic: the same examples in
    /// the same order give the same classifier.
    pub fn fit(&self, train: &[Example]) -> Result<KindClassifier, FitError> {
        let started = Instant::now();
        self.validate()?;
        if train.is_empty() {
            return Err(FitError::EmptyTrainingSet);
        }
        let mut per_kind = [0usize; ActionKind::COUNT];
        for e in train {
            per_kind[e.gold.kind.index()] += 1;
        }
        if let Some(i) = per_kind.iter().position(|&n| n == 0) {
            return Err(FitError::MissingKind {
                kind: ActionKind::ALL[i],
                examples: train.len(),
            });
        }
        let (tfidf, rows) = TfIdf::fit_transform(
            train.iter().map(|e| example_terms(e, self.last_messages)),
            self.min_df,
            self.sublinear_tf,
        );
        if tfidf.is_empty() {
            return Err(FitError::EmptyVocabulary {
                min_df: self.min_df,
                examples: train.len(),
            });
        }
        let labels: Vec<usize> = train.iter().map(|e| e.gold.kind.index()).collect();
        let n = train.len() as f64;
        let k = ActionKind::COUNT as f64;
        let weights: Vec<f64> = labels
            .iter()
            .map(|&c| {
                if self.balanced {
                    n / (k * per_kind[c] as f64)
                } else {
                    1.0
                }
            })
            .collect();
        let problem = Problem {
            dim: tfidf.len(),
            classes: ActionKind::COUNT,
            rows: &rows,
            labels: &labels,
            weights: &weights,
            c: self.c,
        };
        let mut params = vec![0.0; problem.n_params()];
        let options = LbfgsOptions {
            max_iter: self.max_iter,
            gtol: self.tol,
            ..LbfgsOptions::default()
        };
        let outcome = minimize(|x, g| problem.loss_and_grad(x, g), &mut params, options).map_err(|e| {
            FitError::Diverged {
                value: e.value,
                iterations: e.iterations,
            }
        })?;
        let split = tfidf.len() * ActionKind::COUNT;
        let fit = FitReport {
            examples: train.len(),
            per_kind,
            vocabulary: tfidf.len(),
            mean_nnz: rows.iter().map(|r| r.nnz()).sum::<usize>() as f64 / rows.len() as f64,
            iterations: outcome.iterations,
            converged: outcome.converged,
            objective: outcome.value,
            grad_max: outcome.grad_max,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok(KindClassifier {
            format: MODEL_FORMAT.to_string(),
            version: MODEL_VERSION,
            config: self.clone(),
            kinds: ActionKind::ALL.to_vec(),
            tfidf,
            weights: params[..split].iter().map(|&v| v as f32).collect(),
            bias: params[split..].iter().map(|&v| v as f32).collect(),
            fit,
        })
    }
}

impl KindClassifier {
    /// The probability of each kind as the next action of `example`, by [`ActionKind::index`];
    /// finite, non-negative, summing to 1 (up to `f32` rounding).
    pub fn predict_proba(&self, example: &Example) -> [f32; ActionKind::COUNT] {
        self.predict_proba_counted(example).0
    }

    /// [`predict_proba`](Self::predict_proba) and the number of non-zero features of
    /// `example`'s row (what one prediction costs: nine multiply-adds per non-zero).
    pub fn predict_proba_counted(&self, example: &Example) -> ([f32; ActionKind::COUNT], usize) {
        let (z, non_zeros) = self.logits_counted(example);
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut out = [0.0f32; ActionKind::COUNT];
        out.iter_mut().zip(&exp).for_each(|(o, e)| *o = (e / sum) as f32);
        (out, non_zeros)
    }

    /// The most probable kind (the first in [`ActionKind::ALL`] order on a tie).
    pub fn predict(&self, example: &Example) -> ActionKind {
        let p = self.predict_proba(example);
        let mut best = 0;
        for (i, &v) in p.iter().enumerate() {
            if v > p[best] {
                best = i;
            }
        }
        ActionKind::ALL[best]
    }

    /// The raw scores `Wᵀx + b` of `example`, by [`ActionKind::index`].
    pub fn logits(&self, example: &Example) -> [f64; ActionKind::COUNT] {
        self.logits_counted(example).0
    }

    /// The logits and the row's number of non-zero features.
    fn logits_counted(&self, example: &Example) -> ([f64; ActionKind::COUNT], usize) {
        const K: usize = ActionKind::COUNT;
        let row = self
            .tfidf
            .transform(example_terms(example, self.config.last_messages));
        let mut z = [0.0f64; K];
        z.iter_mut().zip(&self.bias).for_each(|(z, b)| *z = f64::from(*b));
        for (&j, &x) in row.indices.iter().zip(&row.values) {
            let w = &self.weights[j as usize * K..j as usize * K + K];
            z.iter_mut().zip(w).for_each(|(z, w)| *z += f64::from(*w) * x);
        }
        (z, row.indices.len())
    }

    /// The configuration it was fitted with.
    pub fn config(&self) -> &KindClassifierConfig {
        &self.config
    }

    /// What fitting did.
    pub fn fit_report(&self) -> &FitReport {
        &self.fit
    }

    /// The TF-IDF vectoriser (vocabulary and idf weights).
    pub fn tfidf(&self) -> &TfIdf {
        &self.tfidf
    }

    /// Write the classifier to `path` as JSON, atomically (temp file, fsync, rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelFileError> {
        let path = path.as_ref();
        let bytes = serde_json::to_vec(self).map_err(|e| ModelFileError::Serialize {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        atomic_write_bytes(path, &bytes)?;
        Ok(())
    }

    /// Read a classifier written by [`KindClassifier::save`], checking that it is consistent.
    pub fn load(path: impl AsRef<Path>) -> Result<KindClassifier, ModelFileError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| FileError::new("read", path, e))?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let model: KindClassifier =
            serde_path_to_error::deserialize(&mut de).map_err(|e| ModelFileError::Parse {
                path: path.to_path_buf(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| ModelFileError::Parse {
            path: path.to_path_buf(),
            field: ".".to_string(),
            message: e.to_string(),
        })?;
        model
            .check()
            .map_err(|(field, message)| ModelFileError::Invalid {
                path: path.to_path_buf(),
                field,
                message,
            })?;
        Ok(model)
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.format != MODEL_FORMAT {
            return Err(("format", format!("`{}`, expected `{MODEL_FORMAT}`", self.format)));
        }
        if self.version != MODEL_VERSION {
            return Err(("version", format!("{}, expected {MODEL_VERSION}", self.version)));
        }
        if self.kinds != ActionKind::ALL {
            return Err(("kinds", "not the nine kinds in the study's order".to_string()));
        }
        self.tfidf.check().map_err(|m| ("tfidf", m))?;
        self.config.validate().map_err(|e| ("config", e.to_string()))?;
        let want = self.tfidf.len() * ActionKind::COUNT;
        if self.weights.len() != want {
            return Err((
                "weights",
                format!(
                    "{} values, expected {want} ({} terms × 9 kinds)",
                    self.weights.len(),
                    self.tfidf.len()
                ),
            ));
        }
        if self.bias.len() != ActionKind::COUNT {
            return Err(("bias", format!("{} values, expected 9", self.bias.len())));
        }
        if let Some(i) = self.weights.iter().position(|v| !v.is_finite()) {
            return Err(("weights", format!("value {i} is not finite")));
        }
        if let Some(i) = self.bias.iter().position(|v| !v.is_finite()) {
            return Err(("bias", format!("value {i} is not finite")));
        }
        Ok(())
    }
}
