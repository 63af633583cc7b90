//! Statistics over per-example records: bootstrap 95% intervals of accuracy and cost, and
//! paired comparisons of two configurations (exact McNemar test, paired-bootstrap interval of
//! the accuracy difference).
//!
//! Every configuration must have been run on the same examples (paired by `example_id`). One
//! set of bootstrap resamples is drawn, with a seeded ChaCha8 generator, and applied to every
//! configuration at once, so the per-configuration intervals and every paired difference come
//! from the same resamples and a run is reproducible from its seed.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use spec_actions_core::{ConfigResult, Interval};

use crate::error::FrontierError;

/// Per-example correctness and cost of several configurations, aligned on the same examples.
///
/// Stored example-major (`correct[example * configs + config]`), so a bootstrap draw reads one
/// contiguous row.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedRecords {
    /// Configuration names, in input order.
    pub configs: Vec<String>,
    /// Example ids, in the order of the first configuration's records.
    pub example_ids: Vec<String>,
    correct: Vec<u8>,
    cost: Vec<f64>,
}

impl PairedRecords {
    /// Align the records of every configuration that has any (others are skipped). `None` when
    /// no configuration has records. Errors when two configurations were not run on the same
    /// examples, when an example repeats, or when a ledger cost is not finite.
    pub fn from_configs(configs: &[ConfigResult]) -> Result<Option<Self>, FrontierError> {
        let with_records: Vec<&ConfigResult> = configs.iter().filter(|c| !c.records.is_empty()).collect();
        let Some(reference) = with_records.first() else {
            return Ok(None);
        };
        let example_ids: Vec<String> = reference.records.iter().map(|r| r.example_id.clone()).collect();
        let mut position = HashMap::with_capacity(example_ids.len());
        for (i, id) in example_ids.iter().enumerate() {
            if position.insert(id.as_str(), i).is_some() {
                return Err(FrontierError::DuplicateExample {
                    config: reference.name.clone(),
                    example_id: id.clone(),
                });
            }
        }
        let n = example_ids.len();
        let k = with_records.len();
        let mut correct = vec![0u8; n * k];
        let mut cost = vec![0f64; n * k];
        for (c, config) in with_records.iter().enumerate() {
            let mut seen = vec![false; n];
            for record in &config.records {
                let unpaired = || FrontierError::UnpairedRecords {
                    config: config.name.clone(),
                    reference: reference.name.clone(),
                    example_id: record.example_id.clone(),
                };
                let &i = position.get(record.example_id.as_str()).ok_or_else(unpaired)?;
                if std::mem::replace(&mut seen[i], true) {
                    return Err(FrontierError::DuplicateExample {
                        config: config.name.clone(),
                        example_id: record.example_id.clone(),
                    });
                }
                let value = record.ledger.nominal();
                if !value.is_finite() {
                    return Err(FrontierError::BadRecordCost {
                        config: config.name.clone(),
                        example_id: record.example_id.clone(),
                        value,
                    });
                }
                correct[i * k + c] = u8::from(record.correct);
                cost[i * k + c] = value;
            }
            if let Some(missing) = seen.iter().position(|s| !s) {
                return Err(FrontierError::UnpairedRecords {
                    config: config.name.clone(),
                    reference: reference.name.clone(),
                    example_id: example_ids[missing].clone(),
                });
            }
        }
        let configs = with_records.iter().map(|c| c.name.clone()).collect();
        Ok(Some(PairedRecords {
            configs,
            example_ids,
            correct,
            cost,
        }))
    }

    pub fn examples(&self) -> usize {
        self.example_ids.len()
    }

    /// Index of configuration `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.configs.iter().position(|c| c == name)
    }

    fn row(&self, example: usize) -> (&[u8], &[f64]) {
        let k = self.configs.len();
        (
            &self.correct[example * k..(example + 1) * k],
            &self.cost[example * k..(example + 1) * k],
        )
    }

    /// Whether configuration `config` got example `example` right.
    pub fn is_correct(&self, example: usize, config: usize) -> bool {
        self.correct[example * self.configs.len() + config] != 0
    }

    /// Accuracy of configuration `config` on all examples.
    pub fn accuracy(&self, config: usize) -> f64 {
        let n = self.examples();
        (0..n).filter(|&i| self.is_correct(i, config)).count() as f64 / n as f64
    }

    /// Mean nominal cost of configuration `config`.
    pub fn mean_cost(&self, config: usize) -> f64 {
        (0..self.examples()).map(|i| self.row(i).1[config]).sum::<f64>() / self.examples() as f64
    }

    /// Discordant counts of `a` against `b`: (a right and b wrong, a wrong and b right).
    pub fn discordant(&self, a: usize, b: usize) -> (u64, u64) {
        let mut only_a = 0;
        let mut only_b = 0;
        for i in 0..self.examples() {
            match (self.is_correct(i, a), self.is_correct(i, b)) {
                (true, false) => only_a += 1,
                (false, true) => only_b += 1,
                _ => {}
            }
        }
        (only_a, only_b)
    }
}

/// How to resample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapOptions {
    /// Number of resamples (10,000 by default).
    pub resamples: usize,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
    /// Two-sided confidence level of the intervals (0.95).
    pub confidence: f64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            resamples: 10_000,
            seed: 0,
            confidence: 0.95,
        }
    }
}

impl BootstrapOptions {
    fn validate(&self) -> Result<(), FrontierError> {
        if self.resamples == 0 {
            return Err(FrontierError::BadOption {
                name: "resamples",
                message: "must be at least 1".into(),
            });
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(FrontierError::BadOption {
                name: "confidence",
                message: format!("{} is not in (0, 1)", self.confidence),
            });
        }
        Ok(())
    }
}

/// Accuracy and mean cost of every configuration on every resample.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    pub options: BootstrapOptions,
    /// `accuracy[config][resample]`.
    pub accuracy: Vec<Vec<f64>>,
    /// `cost[config][resample]`.
    pub cost: Vec<Vec<f64>>,
}

impl Bootstrap {
    /// Draw `options.resamples` resamples of the examples (with replacement, same size) and
    /// evaluate every configuration on each.
    pub fn run(records: &PairedRecords, options: BootstrapOptions) -> Result<Self, FrontierError> {
        options.validate()?;
        let n = records.examples();
        let k = records.configs.len();
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut accuracy = vec![Vec::with_capacity(options.resamples); k];
        let mut cost = vec![Vec::with_capacity(options.resamples); k];
        let mut correct_sum = vec![0u32; k];
        let mut cost_sum = vec![0f64; k];
        for _ in 0..options.resamples {
            correct_sum.fill(0);
            cost_sum.fill(0.0);
            for _ in 0..n {
                let (correct_row, cost_row) = records.row(rng.random_range(0..n));
                for (sum, &c) in correct_sum.iter_mut().zip(correct_row) {
                    *sum += u32::from(c);
                }
                for (sum, &c) in cost_sum.iter_mut().zip(cost_row) {
                    *sum += c;
                }
            }
            for c in 0..k {
                accuracy[c].push(f64::from(correct_sum[c]) / n as f64);
                cost[c].push(cost_sum[c] / n as f64);
            }
        }
        Ok(Bootstrap {
            options,
            accuracy,
            cost,
        })
    }

    /// Percentile interval of configuration `config`'s accuracy.
    pub fn accuracy_interval(&self, config: usize) -> Interval {
        percentile_interval(&self.accuracy[config], self.options.confidence)
    }

    /// Percentile interval of configuration `config`'s mean cost.
    pub fn cost_interval(&self, config: usize) -> Interval {
        percentile_interval(&self.cost[config], self.options.confidence)
    }

    /// Paired-bootstrap percentile interval of `accuracy(a) - accuracy(b)`.
    pub fn difference_interval(&self, a: usize, b: usize) -> Interval {
        let diffs: Vec<f64> = self.accuracy[a]
            .iter()
            .zip(&self.accuracy[b])
            .map(|(x, y)| x - y)
            .collect();
        percentile_interval(&diffs, self.options.confidence)
    }
}

/// The `(1-confidence)/2` and `(1+confidence)/2` quantiles of `values`, linearly interpolated
/// between order statistics (numpy's default `linear` method).
pub fn percentile_interval(values: &[f64], confidence: f64) -> Interval {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    Interval {
        lo: quantile(&sorted, alpha),
        hi: quantile(&sorted, 1.0 - alpha),
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        len => {
            let position = q * (len - 1) as f64;
            let below = position.floor() as usize;
            let above = (below + 1).min(len - 1);
            let weight = position - below as f64;
            sorted[below] + (sorted[above] - sorted[below]) * weight
        }
    }
}

/// Exact (binomial) McNemar test: two-sided p-value for `only_a` against `only_b` discordant
/// pairs, `min(1, 2·P(X ≤ min(only_a, only_b)))` with `X ~ Binomial(only_a + only_b, 1/2)`, as
/// statsmodels' `mcnemar(table, exact=True)`. No discordant pairs gives 1.
pub fn mcnemar_exact(only_a: u64, only_b: u64) -> f64 {
    let n = only_a + only_b;
    let k = only_a.min(only_b);
    if n == 0 {
        return 1.0;
    }
    // ln C(n, i) - n ln 2 for i = 0..=k, summed in log space; the terms grow with i for
    // i ≤ n/2, so the last one is the largest.
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_terms = Vec::with_capacity(k as usize + 1);
    let mut ln_choose = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        ln_terms.push(ln_choose - ln_half_n);
    }
    let largest = ln_terms[ln_terms.len() - 1];
    let tail = largest.exp() * ln_terms.iter().map(|t| (t - largest).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// Two configurations compared on the same examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    pub a: String,
    pub b: String,
    /// `accuracy(a) - accuracy(b)` on all examples.
    pub accuracy_difference: f64,
    /// Paired-bootstrap percentile interval of the difference.
    pub difference_interval: Interval,
    /// Examples `a` got right and `b` wrong.
    pub only_a_correct: u64,
    /// Examples `b` got right and `a` wrong.
    pub only_b_correct: u64,
    /// Exact McNemar p-value.
    pub mcnemar_p: f64,
    /// `mcnemar_p < alpha` and the interval excludes 0 (both tests agree).
    pub significant: bool,
}

impl PairedComparison {
    /// Compare configurations `a` and `b` of `records`, with intervals from `bootstrap`.
    pub fn new(records: &PairedRecords, bootstrap: &Bootstrap, a: usize, b: usize, alpha: f64) -> Self {
        let (only_a, only_b) = records.discordant(a, b);
        let n = records.examples() as f64;
        let difference_interval = bootstrap.difference_interval(a, b);
        let mcnemar_p = mcnemar_exact(only_a, only_b);
        PairedComparison {
            a: records.configs[a].clone(),
            b: records.configs[b].clone(),
            accuracy_difference: (only_a as f64 - only_b as f64) / n,
            difference_interval,
            only_a_correct: only_a,
            only_b_correct: only_b,
            mcnemar_p,
            significant: mcnemar_p < alpha && !difference_interval.contains(0.0),
        }
    }

    /// `B vs D: Δacc = +0.000 [-0.020, +0.020], McNemar p = 1.000 (not significant)`.
    pub fn describe(&self) -> String {
        format!(
            "{} vs {}: Δacc = {:+.3} [{:+.3}, {:+.3}], McNemar p = {:.3} ({})",
            self.a,
            self.b,
            self.accuracy_difference,
            self.difference_interval.lo,
            self.difference_interval.hi,
            self.mcnemar_p,
            if self.significant {
                "significant"
            } else {
                "not significant"
            }
        )
    }
}

/// Every pair `(i, j)`, `i < j`, of configurations compared.
pub fn all_pairs(records: &PairedRecords, bootstrap: &Bootstrap, alpha: f64) -> Vec<PairedComparison> {
    let k = records.configs.len();
    (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .map(|(a, b)| PairedComparison::new(records, bootstrap, a, b, alpha))
        .collect()
}

/// Holm's step-down procedure: which of a family of hypotheses are rejected at family-wise
/// error rate `alpha`. The p-values are taken in increasing order; the `i`-th smallest
/// (0-based) is rejected while `p ≤ alpha / (m − i)`, and the first that is not stops the
/// procedure. Uniformly more powerful than Bonferroni, with the same guarantee.
///
/// ```
/// use spec_actions_frontier::holm_rejections;
/// // m = 3: 0.01 ≤ 0.05/3, 0.02 ≤ 0.05/2, 0.04 ≤ 0.05/1 → all three rejected
/// assert_eq!(holm_rejections(&[0.04, 0.01, 0.02], 0.05), vec![true, true, true]);
/// // 0.03 > 0.05/2 stops the procedure: only the smallest is rejected
/// assert_eq!(holm_rejections(&[0.03, 0.001, 0.04], 0.05), vec![false, true, false]);
/// ```
pub fn holm_rejections(p_values: &[f64], alpha: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut rejected = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p_values[i] <= alpha / (m - rank) as f64 {
            rejected[i] = true;
        } else {
            break;
        }
    }
    rejected
}

/// Holm's step-down adjusted p-values, in input order: with the p-values sorted increasingly,
/// `p_(1) ≤ … ≤ p_(m)`, the adjusted value of the `i`-th smallest (1-based) is
/// `max_{j ≤ i} min(1, (m − j + 1) · p_(j))`, monotone in rank. A hypothesis is rejected by
/// [`holm_rejections`] at level `alpha` exactly when its adjusted p-value is `≤ alpha`. Ties keep
/// their input order. NaN p-values sort last and stay NaN.
///
/// ```
/// use spec_actions_frontier::holm_adjusted;
/// // sorted 0.01, 0.02, 0.04 → 3·0.01, max(0.03, 2·0.02), max(0.04, 1·0.04)
/// let adjusted = holm_adjusted(&[0.04, 0.01, 0.02]);
/// assert!((adjusted[1] - 0.03).abs() < 1e-12);
/// assert!((adjusted[2] - 0.04).abs() < 1e-12);
/// assert!((adjusted[0] - 0.04).abs() < 1e-12);
/// ```
pub fn holm_adjusted(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![f64::NAN; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(scaled);
        adjusted[i] = if p_values[i].is_nan() { f64::NAN } else { running };
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn holm_adjusted_by_hand() {
        // m = 4: sorted 0.012 (×4 = 0.048), 0.016 (×3 = 0.048), 0.03 (×2 = 0.06), 0.2 (×1 = 0.2)
        let p = [0.012, 0.2, 0.016, 0.03];
        let adjusted = holm_adjusted(&p);
        for (got, want) in adjusted.iter().zip([0.048, 0.2, 0.048, 0.06]) {
            assert_abs_diff_eq!(*got, want, epsilon = 1e-12);
        }
        // monotonicity: 0.01·3 = 0.03, 0.011·2 = 0.022 → raised to 0.03; 0.5·1 = 0.5
        let adjusted = holm_adjusted(&[0.5, 0.011, 0.01]);
        for (got, want) in adjusted.iter().zip([0.5, 0.03, 0.03]) {
            assert_abs_diff_eq!(*got, want, epsilon = 1e-12);
        }
        // capped at 1: 0.4·3 = 1.2 → 1, and later ranks cannot fall below it
        let adjusted = holm_adjusted(&[0.4, 0.6, 0.9]);
        assert_eq!(adjusted, vec![1.0, 1.0, 1.0]);
        assert!(holm_adjusted(&[]).is_empty());
        // one test: unadjusted
        assert_eq!(holm_adjusted(&[0.031]), vec![0.031]);
        // agrees with the step-down rejections at every level
        let p = [0.001, 0.011, 0.02, 0.04, 0.3, 0.0125];
        let adjusted = holm_adjusted(&p);
        for alpha in [0.01, 0.05, 0.07, 0.1, 0.5] {
            let from_adjusted: Vec<bool> = adjusted.iter().map(|&a| a <= alpha).collect();
            assert_eq!(from_adjusted, holm_rejections(&p, alpha), "alpha {alpha}");
        }
    }

    #[test]
    fn holm_by_hand() {
        // m = 4, α = 0.05: thresholds 0.0125, 0.0167, 0.025, 0.05 in rank order
        let p = [0.012, 0.2, 0.016, 0.03];
        assert_eq!(holm_rejections(&p, 0.05), vec![true, false, true, false]);
        // a p-value over its threshold stops the procedure even if later ones would pass
        assert_eq!(holm_rejections(&[0.03, 0.04], 0.05), vec![false, false]);
        assert_eq!(holm_rejections(&[], 0.05), Vec::<bool>::new());
        // never rejects more than the uncorrected test, never fewer than Bonferroni
        let p = [0.001, 0.011, 0.02, 0.04, 0.3];
        let holm = holm_rejections(&p, 0.05);
        for (i, &r) in holm.iter().enumerate() {
            assert!(!r || p[i] < 0.05);
            assert!(r || p[i] > 0.05 / p.len() as f64);
        }
    }

    #[test]
    fn mcnemar_by_hand() {
        // n = 6, k = 1: 2·(C(6,0)+C(6,1))/2^6 = 14/64
        assert_abs_diff_eq!(mcnemar_exact(1, 5), 14.0 / 64.0, epsilon = 1e-15);
        assert_abs_diff_eq!(mcnemar_exact(5, 1), 14.0 / 64.0, epsilon = 1e-15);
        // n = 10, k = 0: 2/1024
        assert_abs_diff_eq!(mcnemar_exact(0, 10), 2.0 / 1024.0, epsilon = 1e-15);
        // balanced: capped at 1
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // References computed exactly with Python's `math.comb` and `fractions.Fraction`:
        // 2·Σ_{i≤60} C(160,i) / 2^160 = 0.001953728034064342
        assert_abs_diff_eq!(mcnemar_exact(60, 100), 0.001_953_728_034_064_342, epsilon = 1e-15);
        // log10(2·Σ_{i≤4000} C(10000,i) / 2^10000) = -88.7593430297893 (no underflow)
        assert_abs_diff_eq!(
            mcnemar_exact(4000, 6000).log10(),
            -88.759_343_029_789_3,
            epsilon = 1e-8
        );
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.quantile([1, 2, 3, 4], [0.025, 0.975]) = [1.075, 3.925]
        let i = percentile_interval(&[4.0, 1.0, 3.0, 2.0], 0.95);
        assert_abs_diff_eq!(i.lo, 1.075, epsilon = 1e-12);
        assert_abs_diff_eq!(i.hi, 3.925, epsilon = 1e-12);
    }
}
