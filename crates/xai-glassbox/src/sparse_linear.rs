//! Sparse linear classifiers: L1-regularised logistic regression (Tibshirani 1996; the lasso
//! for the logistic loss), a model read off its few nonzero coefficients.
//!
//! Objective, in the features' own units (no standardisation, so the coefficients read as
//! "log-odds per unit"): `mean logistic loss + λ · ‖w‖₁`, intercept unpenalised — scikit-learn's
//! `LogisticRegression(penalty="l1", C = 1 / (n·λ))` with a free intercept.
//!
//! Solved by cyclic coordinate descent on a majorisation: for coordinate `j` the logistic loss
//! is bounded above by a quadratic with curvature `Σᵢ xᵢⱼ² / (4n)` (the logistic curvature is at
//! most ¼), whose L1-penalised minimiser is a soft-thresholding step. Every step lowers the
//! objective; sweeps stop when no coefficient moves more than `tol`.
//!
//! ```
//! use xai_glassbox::sparse_linear::{fit_sparse_logistic, SparseLinearConfig};
//! let x: Vec<Vec<f64>> = (0..200).map(|i| vec![(i % 10) as f64 - 4.5, (i % 7) as f64]).collect();
//! let y: Vec<bool> = x.iter().map(|r| r[0] > 0.0).collect();
//! let names = vec!["signal".to_string(), "noise".to_string()];
//! let m = fit_sparse_logistic(&x, &y, &names, &SparseLinearConfig { lambda: 0.05, ..Default::default() }).unwrap();
//! assert!(m.coef[0] > 0.0 && m.coef[1] == 0.0);
//! ```

use std::fmt;

use xai_core::{Result, XaiError};

/// Settings of the solver.
#[derive(Clone, Debug)]
pub struct SparseLinearConfig {
    /// L1 penalty per unit of `‖w‖₁` (on the mean loss).
    pub lambda: f64,
    /// Stop when no coefficient moves more than this in a sweep.
    pub tol: f64,
    /// Most sweeps.
    pub max_sweeps: usize,
}

impl Default for SparseLinearConfig {
    fn default() -> Self {
        SparseLinearConfig {
            lambda: 0.01,
            tol: 1e-10,
            max_sweeps: 200_000,
        }
    }
}

/// A fitted sparse logistic model.
#[derive(Clone, Debug)]
pub struct SparseLinear {
    /// Feature names.
    pub names: Vec<String>,
    /// Intercept (log-odds).
    pub intercept: f64,
    /// Log-odds per unit of each feature (exact zeros for features left out).
    pub coef: Vec<f64>,
    /// Objective at the solution.
    pub objective: f64,
    /// Whether the sweeps converged within `max_sweeps`.
    pub converged: bool,
}

impl SparseLinear {
    /// The log-odds of `x`.
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }

    /// Each feature's contribution to the log-odds of `x` (`w_j x_j`).
    pub fn contributions(&self, x: &[f64]) -> Vec<f64> {
        self.coef.iter().zip(x).map(|(w, v)| w * v).collect()
    }
}

impl fmt::Display for SparseLinear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut order: Vec<usize> = (0..self.coef.len())
            .filter(|&j| self.coef[j] != 0.0)
            .collect();
        order.sort_by(|&a, &b| self.coef[b].abs().total_cmp(&self.coef[a].abs()));
        writeln!(f, "log-odds = {:+.4}", self.intercept)?;
        for j in order {
            writeln!(f, "         {:+.4} × {}", self.coef[j], self.names[j])?;
        }
        let zero = self.coef.iter().filter(|&&w| w == 0.0).count();
        write!(
            f,
            "({zero} of {} features have coefficient 0)",
            self.coef.len()
        )
    }
}

fn softplus(t: f64) -> f64 {
    if t > 30.0 { t } else { t.exp().ln_1p() }
}

/// Fit `mean logistic loss + λ‖w‖₁` on rows `x` and labels `y`.
pub fn fit_sparse_logistic(
    x: &[Vec<f64>],
    y: &[bool],
    names: &[String],
    cfg: &SparseLinearConfig,
) -> Result<SparseLinear> {
    let (n, d) = (x.len(), names.len());
    if n == 0 || y.len() != n {
        return Err(XaiError::Config(format!(
            "sparse linear: {n} rows and {} labels (need the same, at least one)",
            y.len()
        )));
    }
    if d == 0
        || x.iter()
            .any(|r| r.len() != d || r.iter().any(|v| !v.is_finite()))
    {
        return Err(XaiError::Config(format!(
            "sparse linear: every row needs {d} finite values (one per name)"
        )));
    }
    if !(cfg.lambda >= 0.0) || !(cfg.tol > 0.0) {
        return Err(XaiError::Config(
            "sparse linear: lambda ≥ 0 and tol > 0".into(),
        ));
    }
    let nf = n as f64;
    let yf: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    // quadratic majoriser curvature per coordinate (intercept: 1/4)
    let curv: Vec<f64> = (0..d)
        .map(|j| x.iter().map(|r| r[j] * r[j]).sum::<f64>() / (4.0 * nf))
        .collect();
    let (mut w, mut b) = (vec![0.0; d], 0.0);
    let mut margin = vec![0.0; n];
    let mut converged = false;
    for _ in 0..cfg.max_sweeps {
        let mut moved = 0.0f64;
        // intercept
        let g: f64 = margin
            .iter()
            .zip(&yf)
            .map(|(m, t)| sigmoid(*m) - t)
            .sum::<f64>()
            / nf;
        let step = -g / 0.25;
        b += step;
        margin.iter_mut().for_each(|m| *m += step);
        moved = moved.max(step.abs());
        for j in 0..d {
            if curv[j] == 0.0 {
                continue;
            }
            let g: f64 = x
                .iter()
                .zip(&margin)
                .zip(&yf)
                .map(|((r, m), t)| (sigmoid(*m) - t) * r[j])
                .sum::<f64>()
                / nf;
            let z = w[j] - g / curv[j];
            let t = cfg.lambda / curv[j];
            let new = z.signum() * (z.abs() - t).max(0.0);
            let delta = new - w[j];
            if delta != 0.0 {
                w[j] = new;
                for (m, r) in margin.iter_mut().zip(x) {
                    *m += delta * r[j];
                }
                moved = moved.max(delta.abs());
            }
        }
        if moved <= cfg.tol {
            converged = true;
            break;
        }
    }
    let loss: f64 = margin
        .iter()
        .zip(y)
        .map(|(&m, &l)| softplus(if l { -m } else { m }))
        .sum::<f64>()
        / nf;
    Ok(SparseLinear {
        names: names.to_vec(),
        intercept: b,
        objective: loss + cfg.lambda * w.iter().map(|v| v.abs()).sum::<f64>(),
        coef: w,
        converged,
    })
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}
