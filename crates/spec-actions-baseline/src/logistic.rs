//! Weighted multinomial logistic regression on sparse rows, fitted by L-BFGS.
//!
//! The objective is scikit-learn's for `LogisticRegression(C, class_weight=…)` with the lbfgs
//! solver, divided by the sum of the sample weights `S`:
//!
//! `F(W, b) = (1/S) Σ_i s_i (logsumexp(z_i) − z_i[y_i]) + ‖W‖² / (2 C S)`, with
//! `z_i = Wᵀ x_i + b` (the intercept `b` is not penalised).
//!
//! Parameters are laid out as one vector: `W` row by row (feature `j`'s `k` class weights are
//! contiguous at `j·k .. j·k + k`, so a sparse row touches contiguous memory), then `b` (`k`).

/// A training problem: sparse rows, their classes and sample weights.
pub struct Problem<'a> {
    /// Number of feature columns.
    pub dim: usize,
    /// Number of classes.
    pub classes: usize,
    pub rows: &'a [crate::tfidf::SparseRow],
    /// Class of each row, `< classes`.
    pub labels: &'a [usize],
    /// Weight of each row, `> 0`.
    pub weights: &'a [f64],
    /// Inverse regularisation strength (scikit-learn's `C`), `> 0`.
    pub c: f64,
}

impl Problem<'_> {
    /// Length of the parameter vector: `dim · classes + classes`.
    pub fn n_params(&self) -> usize {
        (self.dim + 1) * self.classes
    }

    /// The objective at `params`; writes its gradient into `grad` (same length).
    pub fn loss_and_grad(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let k = self.classes;
        let (w, b) = params.split_at(self.dim * k);
        let weight_sum: f64 = self.weights.iter().sum();
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        let mut z = vec![0.0; k];
        for ((row, &label), &s) in self.rows.iter().zip(self.labels).zip(self.weights) {
            z.copy_from_slice(b);
            for (&j, &x) in row.indices.iter().zip(&row.values) {
                let wj = &w[j as usize * k..j as usize * k + k];
                z.iter_mut().zip(wj).for_each(|(zc, wc)| *zc += wc * x);
            }
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            let lse = max + sum.ln();
            loss += s * (lse - z[label]);
            // z becomes s · (p − y), the gradient of the row's loss with respect to z.
            for (c, zc) in z.iter_mut().enumerate() {
                let p = (*zc - lse).exp();
                *zc = s * (p - if c == label { 1.0 } else { 0.0 });
            }
            let (gw, gb) = grad.split_at_mut(self.dim * k);
            gb.iter_mut().zip(&z).for_each(|(g, d)| *g += d);
            for (&j, &x) in row.indices.iter().zip(&row.values) {
                let gj = &mut gw[j as usize * k..j as usize * k + k];
                gj.iter_mut().zip(&z).for_each(|(g, d)| *g += d * x);
            }
        }
        let reg = 1.0 / (self.c * weight_sum);
        let mut penalty = 0.0;
        for (g, &wv) in grad[..self.dim * k].iter_mut().zip(w) {
            penalty += wv * wv;
            *g = *g / weight_sum + reg * wv;
        }
        for g in &mut grad[self.dim * k..] {
            *g /= weight_sum;
        }
        loss / weight_sum + 0.5 * reg * penalty
    }
}

/// Stopping rules of [`minimize`].
#[derive(Debug, Clone, Copy)]
pub struct LbfgsOptions {
    /// Most iterations.
    pub max_iter: usize,
    /// Stop when the largest gradient component is at most this (scikit-learn's `tol`).
    pub gtol: f64,
    /// Stop when the relative decrease of the objective in one step is at most this.
    pub ftol: f64,
    /// Number of correction pairs kept.
    pub memory: usize,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            max_iter: 1000,
            gtol: 1e-4,
            ftol: 64.0 * f64::EPSILON,
            memory: 10,
        }
    }
}

/// How a minimisation ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOutcome {
    pub iterations: usize,
    pub evaluations: usize,
    /// The objective at the returned point.
    pub value: f64,
    /// Largest gradient component there.
    pub grad_max: f64,
    /// Whether a tolerance was met (not the iteration cap or a failed line search).
    pub converged: bool,
}

/// The objective or its gradient became NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("objective not finite ({value}) after {iterations} iterations")]
pub struct NotFinite {
    pub value: f64,
    pub iterations: usize,
}

/// Minimise `f` (value, gradient written into its second argument) from `x` (updated in place)
/// by L-BFGS: two-loop recursion, backtracking line search with the Armijo condition, and
/// correction pairs kept only when their curvature `sᵀy` is positive.
pub fn minimize(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x: &mut [f64],
    options: LbfgsOptions,
) -> Result<LbfgsOutcome, NotFinite> {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut value = f(x, &mut g);
    let mut evaluations = 1;
    let finite = |v: f64, g: &[f64]| v.is_finite() && g.iter().all(|x| x.is_finite());
    if !finite(value, &g) {
        return Err(NotFinite { value, iterations: 0 });
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut d = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut alpha = vec![0.0; options.memory.max(1)];
    let grad_max = |g: &[f64]| g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut converged = false;
    let mut iterations = 0;
    while iterations < options.max_iter {
        if grad_max(&g) <= options.gtol {
            converged = true;
            break;
        }
        // d = −H g by the two-loop recursion.
        d.copy_from_slice(&g);
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho_hist[i] * dot(&s_hist[i], &d);
            axpy(-alpha[i], &y_hist[i], &mut d);
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0,
        };
        d.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..s_hist.len() {
            let beta = rho_hist[i] * dot(&y_hist[i], &d);
            axpy(alpha[i] - beta, &s_hist[i], &mut d);
        }
        d.iter_mut().for_each(|v| *v = -*v);
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction: forget the history and follow the gradient.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
            slope = dot(&g, &d);
        }
        let mut step = if s_hist.is_empty() {
            (1.0 / dot(&g, &g).sqrt()).min(1.0)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..60 {
            x_new
                .iter_mut()
                .zip(x.iter())
                .zip(&d)
                .for_each(|((xn, xv), dv)| *xn = xv + step * dv);
            let v = f(&x_new, &mut g_new);
            evaluations += 1;
            if finite(v, &g_new) && v <= value + 1e-4 * step * slope {
                accepted = Some(v);
                break;
            }
            step *= 0.5;
        }
        iterations += 1;
        let Some(v_new) = accepted else {
            // No decrease along a descent direction: at the precision of f, a minimum.
            converged = true;
            break;
        };
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-10 * dot(&y, &y) {
            if s_hist.len() == options.memory.max(1) {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho_hist.push(1.0 / sy);
        }
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let decrease = (value - v_new) / value.abs().max(v_new.abs()).max(1.0);
        value = v_new;
        if !finite(value, &g) {
            return Err(NotFinite { value, iterations });
        }
        if decrease <= options.ftol {
            converged = true;
            break;
        }
    }
    Ok(LbfgsOutcome {
        iterations,
        evaluations,
        value,
        grad_max: grad_max(&g),
        converged: converged || grad_max(&g) <= options.gtol,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfidf::SparseRow;

    fn toy() -> (Vec<SparseRow>, Vec<usize>, Vec<f64>) {
        let rows = vec![
            SparseRow {
                indices: vec![0, 2],
                values: vec![0.6, 0.8],
            },
            SparseRow {
                indices: vec![1],
                values: vec![1.0],
            },
            SparseRow {
                indices: vec![0, 1, 3],
                values: vec![0.5, -0.5, 0.7],
            },
            SparseRow::default(),
        ];
        (rows, vec![0, 1, 2, 1], vec![1.0, 0.5, 2.0, 1.5])
    }

    /// The analytic gradient agrees with central finite differences of the objective, at a
    /// point with non-zero weights and biases.
    #[test]
    fn gradient_matches_finite_differences() {
        let (rows, labels, weights) = toy();
        let problem = Problem {
            dim: 4,
            classes: 3,
            rows: &rows,
            labels: &labels,
            weights: &weights,
            c: 0.7,
        };
        let params: Vec<f64> = (0..problem.n_params())
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        let mut grad = vec![0.0; params.len()];
        problem.loss_and_grad(&params, &mut grad);
        let mut scratch = vec![0.0; params.len()];
        let h = 1e-6;
        for i in 0..params.len() {
            let mut p = params.clone();
            p[i] += h;
            let up = problem.loss_and_grad(&p, &mut scratch);
            p[i] -= 2.0 * h;
            let down = problem.loss_and_grad(&p, &mut scratch);
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-7,
                "param {i}: analytic {} numeric {numeric}",
                grad[i]
            );
        }
    }

    /// At zero parameters every class has probability 1/k: the loss is ln k whatever the weights.
    #[test]
    fn loss_at_zero_is_ln_k() {
        let (rows, labels, weights) = toy();
        let problem = Problem {
            dim: 4,
            classes: 3,
            rows: &rows,
            labels: &labels,
            weights: &weights,
            c: 1.0,
        };
        let mut grad = vec![0.0; problem.n_params()];
        let loss = problem.loss_and_grad(&vec![0.0; problem.n_params()], &mut grad);
        approx::assert_abs_diff_eq!(loss, 3f64.ln(), epsilon = 1e-12);
    }

    /// L-BFGS finds the minimum of a badly scaled quadratic, `Σ a_i (x_i − i)²`.
    #[test]
    fn lbfgs_minimises_an_ill_conditioned_quadratic() {
        let scales = [1.0, 10.0, 100.0, 1000.0, 0.1];
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..x.len() {
                let r = x[i] - i as f64;
                v += scales[i] * r * r;
                g[i] = 2.0 * scales[i] * r;
            }
            v
        };
        let mut x = vec![0.0; 5];
        let options = LbfgsOptions {
            gtol: 1e-9,
            ftol: 0.0,
            ..LbfgsOptions::default()
        };
        let outcome = minimize(f, &mut x, options).unwrap();
        assert!(outcome.converged, "{outcome:?}");
        for (i, v) in x.iter().enumerate() {
            approx::assert_abs_diff_eq!(*v, i as f64, epsilon = 1e-6);
        }
    }

    #[test]
    fn a_non_finite_objective_is_an_error() {
        let mut x = vec![1.0];
        let err = minimize(
            |_, g| {
                g[0] = 1.0;
                f64::NAN
            },
            &mut x,
            LbfgsOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.iterations, 0);
    }
}
