//! Weighted linear fits for local surrogates (LIME) and sparse global surrogates: weighted least
//! squares with an optional ridge, weighted LASSO by coordinate descent, greedy forward
//! selection to `K` features, and the weighted R² that reports a surrogate's fidelity.
//!
//! Written here rather than taken from a crate: the Rust regression crates (linfa, smartcore)
//! bring a whole ML framework for three small solvers; the dense algebra itself is nalgebra's.
//! Every fit centres `X` and `y` with the sample weights, so the intercept is never penalised.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Result, XaiError};

/// A fitted linear model `ŷ = intercept + Σ coef_j x_j`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LinearFit {
    /// Intercept.
    pub intercept: f64,
    /// One coefficient per column (0 for columns left out).
    pub coef: Vec<f64>,
    /// Weighted R² on the fitted data.
    pub r2: f64,
}

/// How to fit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum FitMethod {
    /// Weighted least squares with ridge penalty `alpha·‖β‖²` (`alpha = 0`: plain WLS).
    Ridge {
        /// Penalty.
        alpha: f64,
    },
    /// Weighted LASSO, `½ Σ w (y − ŷ)² / Σw + alpha·‖β‖₁`, by coordinate descent.
    Lasso {
        /// Penalty.
        alpha: f64,
    },
    /// Greedy forward selection of `k` columns, each step adding the column that most raises
    /// the weighted R² of a WLS fit; then WLS on the chosen columns.
    Forward {
        /// Number of columns to keep.
        k: usize,
    },
}

struct Centred {
    x: DMatrix<f64>,
    y: DVector<f64>,
    w: DVector<f64>,
    x_mean: Vec<f64>,
    y_mean: f64,
}

fn centre(x: &[f64], y: &[f64], w: &[f64], p: usize) -> Result<Centred> {
    let n = y.len();
    if n == 0 || x.len() != n * p || w.len() != n {
        return Err(XaiError::shape(
            "regression data",
            format!("x {n}·{p}, w {n}"),
            &[x.len(), w.len()],
        ));
    }
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) || x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite(
            "regression data or negative weights".into(),
        ));
    }
    let wsum: f64 = w.iter().sum();
    if wsum <= 0.0 {
        return Err(XaiError::Numerical("all sample weights are zero".into()));
    }
    let x_mean: Vec<f64> = (0..p)
        .map(|j| (0..n).map(|i| w[i] * x[i * p + j]).sum::<f64>() / wsum)
        .collect();
    let y_mean = (0..n).map(|i| w[i] * y[i]).sum::<f64>() / wsum;
    Ok(Centred {
        x: DMatrix::from_fn(n, p, |i, j| x[i * p + j] - x_mean[j]),
        y: DVector::from_fn(n, |i, _| y[i] - y_mean),
        w: DVector::from_fn(n, |i, _| w[i] / wsum),
        x_mean,
        y_mean,
    })
}

fn weighted_r2(c: &Centred, beta: &DVector<f64>) -> f64 {
    let resid = &c.y - &c.x * beta;
    let sse: f64 = resid.iter().zip(c.w.iter()).map(|(r, w)| w * r * r).sum();
    let sst: f64 = c.y.iter().zip(c.w.iter()).map(|(r, w)| w * r * r).sum();
    if sst <= f64::EPSILON * f64::EPSILON {
        1.0
    } else {
        1.0 - sse / sst
    }
}

fn ridge_on(c: &Centred, cols: &[usize], alpha: f64) -> Result<DVector<f64>> {
    let q = cols.len();
    let xs = DMatrix::from_fn(c.x.nrows(), q, |i, j| c.x[(i, cols[j])]);
    let mut xtw = xs.transpose();
    for i in 0..c.x.nrows() {
        xtw.column_mut(i).scale_mut(c.w[i]);
    }
    let mut a = &xtw * &xs;
    for j in 0..q {
        a[(j, j)] += alpha;
    }
    let b = &xtw * &c.y;
    match a.clone().cholesky() {
        Some(ch) => Ok(ch.solve(&b)),
        None => Ok(a
            .pseudo_inverse(1e-12)
            .map_err(|e| XaiError::Numerical(e.to_string()))?
            * b),
    }
}

fn finish(c: &Centred, beta_full: DVector<f64>) -> LinearFit {
    let r2 = weighted_r2(c, &beta_full);
    let coef: Vec<f64> = beta_full.iter().copied().collect();
    let intercept = c.y_mean - coef.iter().zip(&c.x_mean).map(|(b, m)| b * m).sum::<f64>();
    LinearFit {
        intercept,
        coef,
        r2,
    }
}

/// Fit `y ≈ X β + β₀` with sample weights `w`; `x` is row-major `[n, p]`.
pub fn fit(x: &[f64], y: &[f64], w: &[f64], p: usize, method: &FitMethod) -> Result<LinearFit> {
    let c = centre(x, y, w, p)?;
    match *method {
        FitMethod::Ridge { alpha } => {
            let cols: Vec<usize> = (0..p).collect();
            let beta = ridge_on(&c, &cols, alpha.max(0.0))?;
            Ok(finish(&c, beta))
        }
        FitMethod::Lasso { alpha } => Ok(finish(&c, lasso(&c, alpha.max(0.0)))),
        FitMethod::Forward { k } => {
            let mut chosen: Vec<usize> = Vec::new();
            for _ in 0..k.min(p) {
                let mut best: Option<(f64, usize)> = None;
                for j in (0..p).filter(|j| !chosen.contains(j)) {
                    let mut cols = chosen.clone();
                    cols.push(j);
                    let beta = ridge_on(&c, &cols, 0.0)?;
                    let mut full = DVector::zeros(p);
                    for (t, &col) in cols.iter().enumerate() {
                        full[col] = beta[t];
                    }
                    let r2 = weighted_r2(&c, &full);
                    if best.is_none_or(|(b, _)| r2 > b) {
                        best = Some((r2, j));
                    }
                }
                if let Some((_, j)) = best {
                    chosen.push(j);
                }
            }
            let beta = ridge_on(&c, &chosen, 0.0)?;
            let mut full = DVector::zeros(p);
            for (t, &col) in chosen.iter().enumerate() {
                full[col] = beta[t];
            }
            Ok(finish(&c, full))
        }
    }
}

/// Coordinate descent for `½ Σ w r² + alpha ‖β‖₁` on centred data with normalised weights.
fn lasso(c: &Centred, alpha: f64) -> DVector<f64> {
    let (n, p) = (c.x.nrows(), c.x.ncols());
    let mut beta = DVector::zeros(p);
    let mut resid = c.y.clone();
    let col_sq: Vec<f64> = (0..p)
        .map(|j| (0..n).map(|i| c.w[i] * c.x[(i, j)].powi(2)).sum())
        .collect();
    for _sweep in 0..10_000 {
        let mut max_change = 0.0f64;
        for j in 0..p {
            if col_sq[j] <= 0.0 {
                continue;
            }
            let rho: f64 =
                (0..n).map(|i| c.w[i] * c.x[(i, j)] * resid[i]).sum::<f64>() + col_sq[j] * beta[j];
            let new = soft_threshold(rho, alpha) / col_sq[j];
            let change = new - beta[j];
            if change != 0.0 {
                for i in 0..n {
                    resid[i] -= change * c.x[(i, j)];
                }
                beta[j] = new;
                max_change = max_change.max(change.abs());
            }
        }
        if max_change < 1e-12 {
            break;
        }
    }
    beta
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        // y = 1 + 2 x0 − 3 x2 on a deterministic design, x1 and x3 irrelevant.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let r = [
                ((i * 7) % 11) as f64 / 11.0,
                ((i * 5) % 13) as f64 / 13.0,
                ((i * 3) % 17) as f64 / 17.0,
                ((i * 11) % 19) as f64 / 19.0,
            ];
            y.push(1.0 + 2.0 * r[0] - 3.0 * r[2]);
            x.extend(r);
        }
        let w = (0..40).map(|i| 0.5 + (i % 3) as f64).collect();
        (x, y, w)
    }

    #[test]
    fn wls_recovers_an_exact_linear_model() {
        let (x, y, w) = data();
        let m = fit(&x, &y, &w, 4, &FitMethod::Ridge { alpha: 0.0 }).unwrap();
        for (c, t) in m.coef.iter().zip([2.0, 0.0, -3.0, 0.0]) {
            assert!((c - t).abs() < 1e-9, "{:?}", m.coef);
        }
        assert!((m.intercept - 1.0).abs() < 1e-9);
        assert!((m.r2 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn lasso_and_forward_selection_find_the_support() {
        let (x, y, w) = data();
        let l = fit(&x, &y, &w, 4, &FitMethod::Lasso { alpha: 1e-3 }).unwrap();
        assert!(
            l.coef[1].abs() < 1e-6 && l.coef[3].abs() < 1e-6,
            "{:?}",
            l.coef
        );
        assert!(l.coef[0] > 1.5 && l.coef[2] < -2.5);
        let f = fit(&x, &y, &w, 4, &FitMethod::Forward { k: 2 }).unwrap();
        assert_eq!(f.coef.iter().filter(|c| **c != 0.0).count(), 2);
        assert!((f.coef[0] - 2.0).abs() < 1e-9 && (f.coef[2] + 3.0).abs() < 1e-9);
    }
}
