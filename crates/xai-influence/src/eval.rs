//! Evaluation by retraining: leave-one-out, the linear datamodeling score, mislabel detection.
//!
//! * **Retraining** ([`train`]): L-BFGS (two-loop recursion, Armijo backtracking) on the
//!   weighted objective `Σ wᵢ ℓᵢ / Σ wᵢ + (λ/2)‖θ_R‖²` to a gradient-norm tolerance. Weights
//!   0/1 drop examples, so leave-one-out and subset training reuse the model's own graph.
//!   Warm-starting from `θ̂` makes leave-one-out exact for convex models (the optimum is unique).
//! * **LOO** ([`loo_test_loss_change`]): the actual test-loss change when each chosen training
//!   example is removed and the model retrained (Koh & Liang's Fig. 2 protocol).
//! * **LDS** ([`lds`]; Park et al. 2023): `M` random subsets of a fraction `α`, each retrained;
//!   the mean over test points of the Spearman correlation between the measured test loss and the
//!   attribution's additive prediction `−Σ_{i∈S} scoreᵢ`.
//! * **Mislabel detection** ([`mislabel_found`]): the fraction of flipped labels among the
//!   training examples ranked highest by self-influence.

use burn::tensor::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use xai_core::{Result, XaiError};

use crate::objective::{Data, Objective, to_f64};
use crate::solvers::{InverseHvp, dot, norm, row};

/// Stopping rule of [`train`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainOptions {
    /// Stop when `‖∇J‖ ≤ grad_tol`.
    pub grad_tol: f64,
    /// Iteration cap.
    pub max_iter: usize,
    /// L-BFGS history length.
    pub history: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            grad_tol: 1e-9,
            max_iter: 2000,
            history: 20,
        }
    }
}

/// How a [`train`] run ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainReport {
    /// Iterations used.
    pub iterations: usize,
    /// Final objective value.
    pub value: f64,
    /// Final gradient norm.
    pub grad_norm: f64,
}

/// Minimise the weighted objective from `theta0` with L-BFGS.
pub fn train(
    objective: &Objective,
    theta0: &Tensor<1>,
    weights: Option<&[f64]>,
    opts: &TrainOptions,
) -> Result<(Tensor<1>, TrainReport)> {
    let mut theta = theta0.clone();
    let (mut f, mut g) = objective.value_grad(&theta, weights)?;
    let mut s_hist: Vec<Tensor<1>> = Vec::new();
    let mut y_hist: Vec<Tensor<1>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    for it in 0..opts.max_iter {
        let gn = norm(&g)?;
        if gn <= opts.grad_tol {
            return Ok((
                theta,
                TrainReport {
                    iterations: it,
                    value: f,
                    grad_norm: gn,
                },
            ));
        }
        // Two-loop recursion: d = −H_k g.
        let mut q = g.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho[i] * dot(&s_hist[i], &q)?;
            q = q - y_hist[i].clone() * alpha[i];
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y)? / dot(y, y)?,
            _ => 1.0 / gn.max(1.0),
        };
        let mut r = q * gamma;
        for i in 0..s_hist.len() {
            let b = rho[i] * dot(&y_hist[i], &r)?;
            r = r + s_hist[i].clone() * (alpha[i] - b);
        }
        let mut d = r.neg();
        let mut slope = dot(&g, &d)?;
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            d = g.clone().neg();
            slope = -gn * gn;
        }
        // Armijo backtracking.
        let mut step = 1.0;
        let (theta_new, f_new, g_new) = loop {
            let cand = theta.clone() + d.clone() * step;
            let (fc, gc) = objective.value_grad(&cand, weights)?;
            if fc <= f + 1e-4 * step * slope || step < 1e-12 {
                break (cand, fc, gc);
            }
            step *= 0.5;
        };
        let s = theta_new.clone() - theta.clone();
        let y = g_new.clone() - g.clone();
        let sy = dot(&s, &y)?;
        if sy > 1e-16 {
            if s_hist.len() == opts.history {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        let progress = f - f_new;
        theta = theta_new;
        f = f_new;
        g = g_new;
        if step < 1e-12 && progress <= 0.0 {
            break;
        }
    }
    let gn = norm(&g)?;
    Ok((
        theta,
        TrainReport {
            iterations: opts.max_iter,
            value: f,
            grad_norm: gn,
        },
    ))
}

/// Minimise the weighted objective by preconditioned steps `θ ← θ − t P ∇J(θ)` (a chord
/// Newton method when `P` is the inverse Hessian at a nearby point), halving `t` until the
/// objective decreases. Warm-started leave-one-out and subset retraining of a convex model
/// converge in a handful of steps this way, because removing examples barely moves the Hessian.
/// Falls back to L-BFGS if the tolerance is not reached in `max_iter.min(100)` steps.
pub fn train_preconditioned(
    objective: &Objective,
    theta0: &Tensor<1>,
    weights: Option<&[f64]>,
    preconditioner: &dyn InverseHvp,
    opts: &TrainOptions,
) -> Result<(Tensor<1>, TrainReport)> {
    let mut theta = theta0.clone();
    let (mut f, mut g) = objective.value_grad(&theta, weights)?;
    for it in 0..opts.max_iter.min(100) {
        let gn = norm(&g)?;
        if gn <= opts.grad_tol {
            return Ok((
                theta,
                TrainReport {
                    iterations: it,
                    value: f,
                    grad_norm: gn,
                },
            ));
        }
        let [p] = g.dims();
        let d = row(&preconditioner.solve(&g.clone().reshape([1, p]))?, 0);
        let mut step = 1.0;
        loop {
            let cand = theta.clone() - d.clone() * step;
            let (fc, gc) = objective.value_grad(&cand, weights)?;
            // Near the optimum the decrease drops below f64 resolution: accept within rounding.
            if fc <= f + 1e-13 * (1.0 + f.abs()) || step < 1e-6 {
                theta = cand;
                f = fc;
                g = gc;
                break;
            }
            step *= 0.5;
        }
    }
    train(objective, &theta, weights, opts)
}

fn progress(total: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {elapsed}") {
        pb.set_style(style);
    }
    pb.set_message(what.to_string());
    if std::env::var_os("XAI_QUIET").is_some() {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb
}

/// Actual test-loss change `ℓ(test; θ̂₋ᵢ) − ℓ(test; θ̂)` for each training index in `remove`,
/// retraining warm-started from `theta_hat`. Returns `[T][k]`.
pub fn loo_test_loss_change(
    objective: &Objective,
    theta_hat: &Tensor<1>,
    test: &Data,
    remove: &[usize],
    preconditioner: Option<&dyn InverseHvp>,
    opts: &TrainOptions,
) -> Result<Vec<Vec<f64>>> {
    let n = objective.num_train();
    let base = objective.losses(theta_hat, test)?;
    let mut out = vec![Vec::with_capacity(remove.len()); test.len()];
    let pb = progress(remove.len(), "leave-one-out retraining");
    for &i in remove {
        if i >= n {
            return Err(XaiError::Config(format!(
                "training index {i} out of range ({n})"
            )));
        }
        let mut w = vec![1.0; n];
        w[i] = 0.0;
        let (theta, _) = match preconditioner {
            Some(p) => train_preconditioned(objective, theta_hat, Some(&w), p, opts)?,
            None => train(objective, theta_hat, Some(&w), opts)?,
        };
        let l = objective.losses(&theta, test)?;
        for (t, row) in out.iter_mut().enumerate() {
            row.push(l[t] - base[t]);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// Settings of [`lds`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LdsOptions {
    /// Number of random subsets.
    pub subsets: usize,
    /// Fraction of the training set in each subset.
    pub fraction: f64,
    /// Seed of the subsets.
    pub seed: u64,
}

impl Default for LdsOptions {
    fn default() -> Self {
        Self {
            subsets: 100,
            fraction: 0.5,
            seed: 0,
        }
    }
}

/// Subset masks `[M][n]` and the retrained test losses `[M][T]`.
pub type SubsetRuns = (Vec<Vec<bool>>, Vec<Vec<f64>>);

/// Retrain on `subsets` random subsets (from `theta_init`; with a preconditioner for convex
/// models) and record every test loss. Shared by every attributor's LDS.
pub fn subset_losses(
    objective: &Objective,
    theta_init: &Tensor<1>,
    test: &Data,
    lds: &LdsOptions,
    preconditioner: Option<&dyn InverseHvp>,
    opts: &TrainOptions,
) -> Result<SubsetRuns> {
    let n = objective.num_train();
    let k = ((n as f64) * lds.fraction).round() as usize;
    if k == 0 || k > n || lds.subsets < 3 {
        return Err(XaiError::Config(format!(
            "LDS needs a fraction in (0, 1] of {n} examples and ≥ 3 subsets"
        )));
    }
    let mut rng = StdRng::seed_from_u64(lds.seed);
    let mut masks = Vec::with_capacity(lds.subsets);
    let mut losses = Vec::with_capacity(lds.subsets);
    let pb = progress(lds.subsets, "LDS subset retraining");
    for _ in 0..lds.subsets {
        let chosen = sample(&mut rng, n, k).into_vec();
        let mut mask = vec![false; n];
        chosen.iter().for_each(|&i| mask[i] = true);
        let w: Vec<f64> = mask.iter().map(|&m| f64::from(u8::from(m))).collect();
        let (theta, _) = match preconditioner {
            Some(p) => train_preconditioned(objective, theta_init, Some(&w), p, opts)?,
            None => train(objective, theta_init, Some(&w), opts)?,
        };
        losses.push(objective.losses(&theta, test)?);
        masks.push(mask);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok((masks, losses))
}

/// The linear datamodeling score of `scores` (`[T][n]`, higher = more helpful) against
/// retrained subsets from [`subset_losses`].
pub fn lds(scores: &[Vec<f64>], masks: &[Vec<bool>], losses: &[Vec<f64>]) -> Result<f64> {
    let t = scores.len();
    if t == 0 || masks.len() != losses.len() {
        return Err(XaiError::Config(
            "LDS needs scores and matching subsets".into(),
        ));
    }
    let mut total = 0.0;
    for (ti, s) in scores.iter().enumerate() {
        let predicted: Vec<f64> = masks
            .iter()
            .map(|m| {
                -m.iter()
                    .zip(s)
                    .filter(|(in_s, _)| **in_s)
                    .map(|(_, v)| v)
                    .sum::<f64>()
            })
            .collect();
        let actual: Vec<f64> = losses.iter().map(|l| l[ti]).collect();
        total += spearman(&predicted, &actual);
    }
    Ok(total / t as f64)
}

/// Fraction of the flipped examples found among the top `fraction` of `self_scores`.
pub fn mislabel_found(self_scores: &[f64], flipped: &[usize], fraction: f64) -> f64 {
    let k = ((self_scores.len() as f64) * fraction).round() as usize;
    let top = crate::influence::rank(self_scores, k, true);
    let found = top.iter().filter(|r| flipped.contains(&r.index)).count();
    found as f64 / flipped.len().max(1) as f64
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Average ranks (ties share their mean rank).
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Per-test-point Pearson correlations between two `[T][n]` score tables.
pub fn pearson_rows(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| pearson(x, y)).collect()
}

/// Relative error `‖a − b‖ / ‖b‖` of two vectors.
pub fn rel_err(a: &Tensor<1>, b: &Tensor<1>) -> Result<f64> {
    Ok(norm(&(a.clone() - b.clone()))? / norm(b)?.max(f64::MIN_POSITIVE))
}

/// Values of a `[T, n]` tensor as rows.
pub fn rows_of(m: Tensor<2>) -> Result<Vec<Vec<f64>>> {
    let [t, n] = m.dims();
    let v = to_f64(m)?;
    Ok((0..t).map(|i| v[i * n..(i + 1) * n].to_vec()).collect())
}
