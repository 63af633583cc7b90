//! TF-IDF vectoriser over lists of terms, with scikit-learn's `TfidfVectorizer` conventions:
//! smooth idf `ln((1 + n) / (1 + df)) + 1`, optional sublinear tf `1 + ln(tf)`, rows scaled to
//! unit l2 norm, and a vocabulary of the terms seen in at least `min_df` training documents,
//! sorted (a term's column is its rank).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One sparse row: `values[i]` is the value at column `indices[i]`; indices strictly increase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseRow {
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
}

impl SparseRow {
    /// The value at column `column` (0 when absent).
    pub fn get(&self, column: usize) -> f64 {
        self.indices
            .binary_search(&(column as u32))
            .map(|i| self.values[i])
            .unwrap_or(0.0)
    }

    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
}

/// A fitted TF-IDF vectoriser: the vocabulary and its idf weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "TfIdfFile", into = "TfIdfFile")]
pub struct TfIdf {
    vocabulary: Vec<String>,
    idf: Vec<f64>,
    sublinear_tf: bool,
    index: HashMap<String, u32>,
}

/// The stored form of a [`TfIdf`] (the term index is rebuilt on load).
#[derive(Serialize, Deserialize)]
struct TfIdfFile {
    vocabulary: Vec<String>,
    idf: Vec<f64>,
    sublinear_tf: bool,
}

impl From<TfIdfFile> for TfIdf {
    fn from(f: TfIdfFile) -> Self {
        let index = index_of(&f.vocabulary);
        TfIdf {
            vocabulary: f.vocabulary,
            idf: f.idf,
            sublinear_tf: f.sublinear_tf,
            index,
        }
    }
}

impl From<TfIdf> for TfIdfFile {
    fn from(t: TfIdf) -> Self {
        TfIdfFile {
            vocabulary: t.vocabulary,
            idf: t.idf,
            sublinear_tf: t.sublinear_tf,
        }
    }
}

fn index_of(vocabulary: &[String]) -> HashMap<String, u32> {
    vocabulary
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

impl TfIdf {
    /// Fit on `docs` (each a list of terms, repeats counted) and return the vectoriser with the
    /// rows of the training documents, in order. `min_df` is an absolute document count (1 keeps
    /// every term); a document none of whose terms is kept gives an empty row.
    ///
    /// ```
    /// use spec_actions_baseline::tfidf::TfIdf;
    /// let (tfidf, rows) = TfIdf::fit_transform([vec!["a", "b"], vec!["a"]], 1, true);
    /// assert_eq!(tfidf.vocabulary(), ["a", "b"]);
    /// // "a" is in both documents: idf = ln(3/3) + 1 = 1; the second row is "a" alone.
    /// assert_eq!(rows[1].get(0), 1.0);
    /// ```
    pub fn fit_transform<D, T>(docs: D, min_df: usize, sublinear_tf: bool) -> (TfIdf, Vec<SparseRow>)
    where
        D: IntoIterator,
        D::Item: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        // Intern every term once; documents are kept as (provisional id, count) lists.
        let mut interned: HashMap<String, u32> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut df: Vec<u32> = Vec::new();
        let mut counted: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut local: HashMap<u32, u32> = HashMap::new();
        for doc in docs {
            local.clear();
            for term in doc {
                let term = term.as_ref();
                let id = match interned.get(term) {
                    Some(&id) => id,
                    None => {
                        let id = names.len() as u32;
                        interned.insert(term.to_string(), id);
                        names.push(term.to_string());
                        df.push(0);
                        id
                    }
                };
                *local.entry(id).or_insert(0) += 1;
            }
            for &id in local.keys() {
                df[id as usize] += 1;
            }
            counted.push(local.iter().map(|(&id, &n)| (id, n)).collect());
        }
        drop(interned);
        let n_docs = counted.len();
        let min_df = min_df.max(1) as u32;
        let mut kept: Vec<u32> = (0..names.len() as u32)
            .filter(|&id| df[id as usize] >= min_df)
            .collect();
        kept.sort_unstable_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut column = vec![u32::MAX; names.len()];
        for (col, &id) in kept.iter().enumerate() {
            column[id as usize] = col as u32;
        }
        let idf: Vec<f64> = kept
            .iter()
            .map(|&id| smooth_idf(n_docs, df[id as usize] as usize))
            .collect();
        let vocabulary: Vec<String> = kept
            .iter()
            .map(|&id| std::mem::take(&mut names[id as usize]))
            .collect();
        let tfidf = TfIdf {
            index: index_of(&vocabulary),
            vocabulary,
            idf,
            sublinear_tf,
        };
        let rows = counted
            .into_iter()
            .map(|doc| {
                let entries = doc
                    .into_iter()
                    .filter_map(|(id, n)| {
                        let col = column[id as usize];
                        (col != u32::MAX).then_some((col, n))
                    })
                    .collect();
                tfidf.row(entries)
            })
            .collect();
        (tfidf, rows)
    }

    /// The row of a new document; terms outside the vocabulary are ignored.
    pub fn transform<T: AsRef<str>>(&self, doc: impl IntoIterator<Item = T>) -> SparseRow {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for term in doc {
            if let Some(&col) = self.index.get(term.as_ref()) {
                *counts.entry(col).or_insert(0) += 1;
            }
        }
        self.row(counts.into_iter().collect())
    }

    /// tf · idf of `(column, count)` entries, sorted by column and l2-normalised.
    fn row(&self, mut entries: Vec<(u32, u32)>) -> SparseRow {
        entries.sort_unstable_by_key(|&(col, _)| col);
        let mut values: Vec<f64> = entries
            .iter()
            .map(|&(col, n)| {
                let tf = if self.sublinear_tf {
                    1.0 + f64::from(n).ln()
                } else {
                    f64::from(n)
                };
                tf * self.idf[col as usize]
            })
            .collect();
        let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            values.iter_mut().for_each(|v| *v /= norm);
        }
        SparseRow {
            indices: entries.into_iter().map(|(col, _)| col).collect(),
            values,
        }
    }

    /// The kept terms; a term's column is its position.
    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    /// The idf weight of each column.
    pub fn idf(&self) -> &[f64] {
        &self.idf
    }

    /// The column of `term`, if kept.
    pub fn column(&self, term: &str) -> Option<usize> {
        self.index.get(term).map(|&c| c as usize)
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.vocabulary.len()
    }

    /// Whether no term was kept.
    pub fn is_empty(&self) -> bool {
        self.vocabulary.is_empty()
    }

    /// Whether term frequencies are damped to `1 + ln(tf)`.
    pub fn sublinear_tf(&self) -> bool {
        self.sublinear_tf
    }

    /// Whether the stored form is consistent: one finite positive idf per term, no term twice.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.idf.len() != self.vocabulary.len() {
            return Err(format!(
                "{} idf weights for {} terms",
                self.idf.len(),
                self.vocabulary.len()
            ));
        }
        if self.index.len() != self.vocabulary.len() {
            return Err("a term appears twice in the vocabulary".to_string());
        }
        if let Some(i) = self.idf.iter().position(|v| !v.is_finite() || *v <= 0.0) {
            return Err(format!(
                "idf[{i}] = {} is not a finite positive number",
                self.idf[i]
            ));
        }
        Ok(())
    }
}

/// scikit-learn's smooth idf: `ln((1 + n) / (1 + df)) + 1`.
pub fn smooth_idf(n_docs: usize, df: usize) -> f64 {
    ((1.0 + n_docs as f64) / (1.0 + df as f64)).ln() + 1.0
}
