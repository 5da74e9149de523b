//! LiSSA (Agarwal, Bullins & Hazan 2017; used by Koh & Liang 2017): the Neumann series
//!
//! ```text
//! h₀ = v,   h_{t+1} = v + h_t − (H_{B_t} + δI) h_t / s,   (H + δI)⁻¹ v ≈ h_T / s
//! ```
//!
//! on a fresh mini-batch `B_t` per step, averaged over `repeats` runs. It converges only when
//! every mini-batch curvature satisfies `0 ⪯ H_B + δI ≺ s I`, and the scale `s` that guarantees
//! this depends on the batch size: a scale fitted to the full-data Hessian is far too small for
//! batch-1 products (the classic "LiSSA diverges" report).
//!
//! What this implementation adds:
//!
//! * **Automatic scale**: power iteration on the products of several random mini-batches of the
//!   configured size estimates their largest eigenvalue; `s = scale_factor × max`.
//! * **Divergence detection**: under the convergence condition `‖h_t‖ ≤ (t+1)‖v‖` holds at every
//!   step (each step adds `v` and applies an operator of norm ≤ 1). A violation, or a non-finite
//!   value, stops the run with an error that reports the step, the norm and the scale.
//! * **Residual check**: the estimate's relative residual `‖(H+δI)x − v‖/‖v‖` against one
//!   full-data product; above `max_residual` (default 1, the residual of the trivial answer
//!   `x = 0`) it is an error, because a LiSSA run can also end finite and wrong. The residual
//!   weighs high-curvature directions, where mini-batch noise lives, so a useful estimate can
//!   have a residual of 0.3–0.5 while its error in the norm that influence uses is a few percent.

use std::sync::Mutex;

use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use xai_core::{Result, XaiError};

use super::{Curvature, InverseHvp, check_width, curvature_product, norm, row, stack};
use crate::objective::{Objective, vector};

/// LiSSA settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LissaConfig {
    /// Examples per Hessian-vector product.
    pub batch_size: usize,
    /// Steps of the series.
    pub depth: usize,
    /// Independent runs averaged.
    pub repeats: usize,
    /// The scale `s`; `None` estimates it (see the module docs).
    pub scale: Option<f64>,
    /// `s = scale_factor × (largest mini-batch eigenvalue)` when estimated.
    pub scale_factor: f64,
    /// Mini-batches probed by the power iteration.
    pub power_batches: usize,
    /// Power iterations per probed batch.
    pub power_iters: usize,
    /// Damping δ.
    pub damping: f64,
    /// Largest accepted relative residual (`None` skips the check).
    pub max_residual: Option<f64>,
    /// Hessian or Gauss-Newton products.
    pub curvature: Curvature,
    /// Seed of the batch sampling.
    pub seed: u64,
}

impl Default for LissaConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            depth: 1000,
            repeats: 1,
            scale: None,
            scale_factor: 1.5,
            power_batches: 8,
            power_iters: 20,
            damping: 0.0,
            max_residual: Some(1.0),
            curvature: Curvature::Hessian,
            seed: 0,
        }
    }
}

/// What the last solve did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LissaStats {
    /// The scale used.
    pub scale: f64,
    /// Relative residual of each solved row (when checked).
    pub residuals: Vec<f64>,
}

/// LiSSA inverse-HVP.
pub struct LissaSolver {
    objective: Objective,
    theta: Tensor<1>,
    config: LissaConfig,
    scale: f64,
    stats: Mutex<LissaStats>,
}

impl LissaSolver {
    /// Validate the settings and fix the scale (estimating it when not given).
    pub fn new(objective: &Objective, theta: &Tensor<1>, config: LissaConfig) -> Result<Self> {
        let n = objective.num_train();
        if config.batch_size == 0
            || config.batch_size > n
            || config.depth == 0
            || config.repeats == 0
        {
            return Err(XaiError::Config(format!(
                "LiSSA needs 1 ≤ batch_size ≤ n ({n}), depth ≥ 1, repeats ≥ 1; got {}, {}, {}",
                config.batch_size, config.depth, config.repeats
            )));
        }
        let scale = match config.scale {
            Some(s) if s.is_finite() && s > 0.0 => s,
            Some(s) => {
                return Err(XaiError::Config(format!(
                    "LiSSA scale must be > 0, got {s}"
                )));
            }
            None => config.scale_factor * estimate_batch_lambda_max(objective, theta, &config)?,
        };
        Ok(Self {
            objective: objective.clone(),
            theta: theta.clone(),
            config,
            scale,
            stats: Mutex::new(LissaStats::default()),
        })
    }

    /// The scale `s` in use.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Statistics of the last [`InverseHvp::solve`].
    pub fn stats(&self) -> LissaStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn product(&self, rows: Option<&[usize]>, v: &Tensor<1>) -> Result<Tensor<1>> {
        curvature_product(
            &self.objective,
            &self.theta,
            rows,
            v,
            self.config.damping,
            self.config.curvature,
        )
    }

    /// One vector: the averaged series, with the divergence and residual checks.
    pub fn solve_one(&self, v: &Tensor<1>, rng: &mut StdRng) -> Result<(Tensor<1>, Option<f64>)> {
        let n = self.objective.num_train();
        let v_norm = norm(v)?;
        let mut sum = v.clone() * 0.0;
        for rep in 0..self.config.repeats {
            let mut h = v.clone();
            for t in 0..self.config.depth {
                let batch = sample(rng, n, self.config.batch_size).into_vec();
                let hh = self.product(Some(&batch), &h)?;
                h = v.clone() + h.clone() - hh / self.scale;
                // ‖h_t‖ ≤ (t+1)‖v‖ while the series contracts; check every 10 steps and at the end.
                if t % 10 == 9 || t + 1 == self.config.depth {
                    let hn = norm(&h)?;
                    if !hn.is_finite() || hn > (t as f64 + 2.0) * v_norm * (1.0 + 1e-6) {
                        return Err(XaiError::Numerical(format!(
                            "LiSSA diverged at step {} of run {} (‖h‖ = {hn:.3e} > {:.3e} = \
                             (t+1)‖v‖): the scale {:.4e} does not bound the curvature of \
                             {}-example batches; raise the scale or the batch size, or add damping",
                            t + 1,
                            rep + 1,
                            (t as f64 + 2.0) * v_norm,
                            self.scale,
                            self.config.batch_size
                        )));
                    }
                }
            }
            sum = sum + h / self.scale;
        }
        let x = sum / self.config.repeats as f64;
        let residual = match self.config.max_residual {
            None => None,
            Some(limit) => {
                let r =
                    norm(&(self.product(None, &x)? - v.clone()))? / v_norm.max(f64::MIN_POSITIVE);
                if !(r <= limit) {
                    return Err(XaiError::Numerical(format!(
                        "LiSSA ended with relative residual {r:.3e} > {limit}: the estimate is \
                         wrong (scale {:.4e}, batch {}, depth {}); use a larger batch or depth, \
                         or CG",
                        self.scale, self.config.batch_size, self.config.depth
                    )));
                }
                Some(r)
            }
        };
        Ok((x, residual))
    }
}

impl InverseHvp for LissaSolver {
    fn name(&self) -> String {
        format!(
            "lissa(batch {}, depth {}, r {}, s {:.3e})",
            self.config.batch_size, self.config.depth, self.config.repeats, self.scale
        )
    }
    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>> {
        check_width(v, self.objective.num_params())?;
        let [k, _] = v.dims();
        let mut rng = StdRng::seed_from_u64(self.config.seed);
        let mut residuals = Vec::new();
        let mut rows = Vec::with_capacity(k);
        for i in 0..k {
            let (x, r) = self.solve_one(&row(v, i), &mut rng)?;
            rows.push(x);
            residuals.extend(r);
        }
        if let Ok(mut s) = self.stats.lock() {
            *s = LissaStats {
                scale: self.scale,
                residuals,
            };
        }
        Ok(stack(rows))
    }
}

/// The largest eigenvalue (in magnitude) of `H_B + δI` over `power_batches` random batches.
pub fn estimate_batch_lambda_max(
    objective: &Objective,
    theta: &Tensor<1>,
    config: &LissaConfig,
) -> Result<f64> {
    let n = objective.num_train();
    let p = objective.num_params();
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed_5ca1e);
    let mut best: f64 = 0.0;
    for _ in 0..config.power_batches.max(1) {
        let batch = sample(&mut rng, n, config.batch_size.min(n)).into_vec();
        let start: Vec<f64> = (0..p).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut x = vector(&start, objective.device(), objective.precision());
        let x_norm = norm(&x)?;
        x = x / x_norm;
        let mut lambda = 0.0;
        for _ in 0..config.power_iters.max(1) {
            let hx = curvature_product(
                objective,
                theta,
                Some(&batch),
                &x,
                config.damping,
                config.curvature,
            )?;
            lambda = norm(&hx)?;
            if !(lambda > 0.0) {
                break;
            }
            x = hx / lambda;
        }
        best = best.max(lambda);
    }
    if !(best.is_finite() && best > 0.0) {
        return Err(XaiError::Numerical(
            "could not estimate the mini-batch curvature for the LiSSA scale".into(),
        ));
    }
    Ok(best)
}
