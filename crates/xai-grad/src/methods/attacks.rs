//! Adversarial perturbations: FGSM (Goodfellow et al., ICLR 2015), PGD (Madry et al., ICLR
//! 2018) in L∞ and L2 with an optional random start, and the minimal perturbation size that
//! flips a prediction, by bisection (Captum's `robust` module offers the same three).
//!
//! All take the cross-entropy loss `ℓ(x) = −log softmax(f(x))_y` of labels `y` through the
//! captured graph:
//!
//! * FGSM: `x' = x + ε · sign(∇ₓℓ)` (targeted: `x − ε · sign(∇ₓℓ)` with `y` the target class);
//! * PGD: `steps` steps of size `step` along `sign(∇ₓℓ)` (L∞) or `∇ₓℓ / ‖∇ₓℓ‖₂` (L2), each
//!   followed by the projection onto the ε-ball around `x` and into `bounds`, from `x` or from a
//!   uniform random point of the ball drawn from a seed;
//! * minimal perturbation: for each row the smallest ε in `[0, max_eps]` at which an attack of
//!   size ε changes the prediction, to `tol`, by bisection (assuming the attack's success is
//!   monotone in ε, as it is for FGSM on a linear model; reported as found or not).
//!
//! Shapes: inputs `[N, …]`, labels one per row; results have the input's shape and device.
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::tensor::{Device, Tensor, TensorData};
//! use xai_grad::methods::Explainable;
//! use xai_grad::methods::attacks::fgsm;
//! let dev = Device::flex();
//! let layer = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 1).unwrap();
//! let ex = Explainable::new(layer, |m: &burn::nn::Linear, x| m.forward(x), dev.clone());
//! let x = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3], [1, 3]), &dev);
//! let adv = fgsm(&ex, &x, &[0], 0.05, false, None).unwrap();
//! let moved = xai_core::tensor_to_vec_f64(adv - x).unwrap();
//! assert!(moved.iter().all(|d| (d.abs() - 0.05).abs() < 1e-6)); // every feature moves by ε
//! ```

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use xai_core::{Result, XaiError};

use super::Explainable;
use crate::DynTensor;

/// The norm of the perturbation ball.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Largest absolute change per feature.
    Linf,
    /// Euclidean length of the change (per row).
    L2,
}

/// Settings of PGD.
#[derive(Clone, Debug)]
pub struct PgdConfig {
    /// Ball.
    pub norm: Norm,
    /// Radius of the ball.
    pub eps: f64,
    /// Step size.
    pub step: f64,
    /// Steps.
    pub steps: usize,
    /// Start from a uniform random point of the ball drawn from this seed (`None`: from `x`).
    pub random_start: Option<u64>,
    /// Valid input range, applied after every step.
    pub bounds: Option<(f64, f64)>,
    /// Move towards the labels (targeted attack) instead of away from them.
    pub targeted: bool,
}

impl Default for PgdConfig {
    fn default() -> Self {
        PgdConfig {
            norm: Norm::Linf,
            eps: 0.03,
            step: 0.01,
            steps: 10,
            random_start: None,
            bounds: None,
            targeted: false,
        }
    }
}

fn check<const D: usize>(x: &Tensor<D>, labels: &[usize], eps: f64) -> Result<usize> {
    crate::gradient::validate_inputs(x)?;
    let n = x.dims()[0];
    if labels.len() != n {
        return Err(XaiError::shape(
            "attack labels",
            format!("{n} labels"),
            &[labels.len()],
        ));
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(XaiError::Config(format!(
            "attack size ε = {eps} (finite, ≥ 0)"
        )));
    }
    Ok(n)
}

/// `∇ₓ ℓ` of the cross-entropy of `labels`, and the loss per row.
pub fn loss_gradient<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    labels: &[usize],
) -> Result<(Tensor<D>, Vec<f64>)> {
    check(x, labels, 0.0)?;
    let g = ex.graph(x)?;
    let ad = ex.device.clone().autodiff();
    let xa = x
        .clone()
        .to_device(&ex.device.clone().inner())
        .autodiff()
        .require_grad();
    let out = g
        .eval(&[DynTensor::from_tensor(xa.clone())], &ad, ex.precision)?
        .remove(0)
        .into_tensor::<2>()?;
    let [n, c] = out.dims();
    if let Some(&bad) = labels.iter().find(|&&l| l >= c) {
        return Err(XaiError::TargetOutOfRange {
            index: bad,
            classes: c,
        });
    }
    let mut mask = vec![0.0f64; n * c];
    for (i, &l) in labels.iter().enumerate() {
        mask[i * c + l] = 1.0;
    }
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, c]), (&out.device(), out.dtype()));
    let per_row = (burn::tensor::activation::log_softmax(out, 1) * mask)
        .sum_dim(1)
        .neg();
    let losses = xai_core::tensor_to_vec_f64(per_row.clone().detach())?;
    let grads = per_row.sum().backward();
    let gx = xa
        .grad(&grads)
        .ok_or_else(|| XaiError::Numerical("the loss does not depend on the input".into()))?;
    Ok((gx.to_device(&x.device()).cast(x.dtype()), losses))
}

fn clamp<const D: usize>(t: Tensor<D>, bounds: Option<(f64, f64)>) -> Tensor<D> {
    match bounds {
        Some((lo, hi)) => t.clamp(lo, hi),
        None => t,
    }
}

/// FGSM: one step of size `eps` along the sign of the loss gradient.
pub fn fgsm<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    labels: &[usize],
    eps: f64,
    targeted: bool,
    bounds: Option<(f64, f64)>,
) -> Result<Tensor<D>> {
    check(x, labels, eps)?;
    let (g, _) = loss_gradient(ex, x, labels)?;
    let step = g.sign().mul_scalar(if targeted { -eps } else { eps });
    Ok(clamp(x.clone() + step, bounds))
}

/// Per-row L2 norms of `t` (`[N, …]`), as `[N, 1, …]`-broadcastable factors.
fn row_scale<const D: usize>(t: &Tensor<D>, f: impl Fn(f64) -> f64) -> Result<Tensor<D>> {
    let dims = t.dims();
    let n = dims[0];
    let per = dims.iter().skip(1).product::<usize>().max(1);
    let v = xai_core::tensor_to_vec_f64(t.clone())?;
    let mut out = Vec::with_capacity(v.len());
    for row in v.chunks(per) {
        let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt();
        out.extend(std::iter::repeat_n(f(norm), per));
    }
    debug_assert_eq!(out.len(), n * per);
    Ok(Tensor::<D>::from_data(
        TensorData::new(out, dims),
        (&t.device(), t.dtype()),
    ))
}

/// Project `delta` onto the ε-ball of `norm`.
fn project<const D: usize>(delta: Tensor<D>, norm: Norm, eps: f64) -> Result<Tensor<D>> {
    Ok(match norm {
        Norm::Linf => delta.clamp(-eps, eps),
        Norm::L2 => {
            let s = row_scale(&delta, |r| if r > eps { eps / r } else { 1.0 })?;
            delta * s
        }
    })
}

/// PGD from `x` (or a random point of the ball), projected after every step.
pub fn pgd<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    labels: &[usize],
    cfg: &PgdConfig,
) -> Result<Tensor<D>> {
    check(x, labels, cfg.eps)?;
    if !cfg.step.is_finite() || cfg.step <= 0.0 || cfg.steps == 0 {
        return Err(XaiError::Config(format!(
            "PGD step {} (> 0) and steps {} (≥ 1)",
            cfg.step, cfg.steps
        )));
    }
    let dims = x.dims();
    let count = dims.iter().product::<usize>();
    let mut delta = match cfg.random_start {
        None => x.zeros_like(),
        Some(seed) => {
            let mut rng = StdRng::seed_from_u64(seed);
            let v: Vec<f64> = match cfg.norm {
                Norm::Linf => {
                    let u = Uniform::new_inclusive(-cfg.eps, cfg.eps)
                        .map_err(|e| XaiError::Config(e.to_string()))?;
                    (0..count).map(|_| u.sample(&mut rng)).collect()
                }
                // a Gaussian direction scaled to a radius uniform in volume
                Norm::L2 => {
                    let per = dims.iter().skip(1).product::<usize>().max(1);
                    let normal =
                        Normal::new(0.0, 1.0).map_err(|e| XaiError::Config(e.to_string()))?;
                    let mut v = Vec::with_capacity(count);
                    for _ in 0..dims[0] {
                        let d: Vec<f64> = (0..per).map(|_| normal.sample(&mut rng)).collect();
                        let len = d.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
                        let r = cfg.eps * rand::Rng::random::<f64>(&mut rng).powf(1.0 / per as f64);
                        v.extend(d.iter().map(|a| a / len * r));
                    }
                    v
                }
            };
            Tensor::<D>::from_data(TensorData::new(v, dims), (&x.device(), x.dtype()))
        }
    };
    let sign = if cfg.targeted { -1.0 } else { 1.0 };
    for _ in 0..cfg.steps {
        let adv = clamp(x.clone() + delta.clone(), cfg.bounds);
        let (g, _) = loss_gradient(ex, &adv, labels)?;
        let step = match cfg.norm {
            Norm::Linf => g.sign().mul_scalar(sign * cfg.step),
            Norm::L2 => {
                let s = row_scale(&g, |r| if r > 0.0 { sign * cfg.step / r } else { 0.0 })?;
                g * s
            }
        };
        delta = project(delta + step, cfg.norm, cfg.eps)?;
        // keep x + δ inside the bounds, so δ stays what was applied
        delta = clamp(x.clone() + delta, cfg.bounds) - x.clone();
    }
    Ok(clamp(x.clone() + delta, cfg.bounds))
}

/// For each row, the smallest ε in `[0, max_eps]` at which `attack(ε)` changes the predicted
/// class, to `tol`; `None` where even `max_eps` does not.
pub fn min_perturbation<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    max_eps: f64,
    tol: f64,
    attack: impl Fn(f64) -> Result<Tensor<D>>,
) -> Result<Vec<Option<f64>>> {
    if !max_eps.is_finite() || max_eps <= 0.0 || !tol.is_finite() || tol <= 0.0 {
        return Err(XaiError::Config(format!(
            "minimal perturbation: max ε {max_eps} and tolerance {tol} (both > 0)"
        )));
    }
    let predict = |t: &Tensor<D>| predicted_classes(ex, t);
    let clean = predict(x)?;
    let n = clean.len();
    let flipped = |eps: f64| -> Result<Vec<bool>> {
        Ok(predict(&attack(eps)?)?
            .iter()
            .zip(&clean)
            .map(|(a, b)| a != b)
            .collect())
    };
    let at_max = flipped(max_eps)?;
    let (mut lo, mut hi) = (vec![0.0; n], vec![max_eps; n]);
    while hi
        .iter()
        .zip(&lo)
        .zip(&at_max)
        .any(|((h, l), &m)| m && h - l > tol)
    {
        let mid: Vec<f64> = lo.iter().zip(&hi).map(|(l, h)| (l + h) / 2.0).collect();
        // one attack per bisection level: rows share ε only when their intervals agree, so
        // evaluate each distinct midpoint once
        let mut levels: Vec<f64> = mid.clone();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        for eps in levels {
            let f = flipped(eps)?;
            for i in 0..n {
                if at_max[i] && mid[i] == eps && hi[i] - lo[i] > tol {
                    if f[i] {
                        hi[i] = eps;
                    } else {
                        lo[i] = eps;
                    }
                }
            }
        }
    }
    Ok((0..n).map(|i| at_max[i].then_some(hi[i])).collect())
}

/// The arg-max class of every row of `ex`'s outputs at `x` (ties: the last maximum); a
/// non-finite output is an error, not a class.
pub(crate) fn predicted_classes<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
) -> Result<Vec<usize>> {
    let out = ex.forward(x)?;
    let [_, c] = out.dims();
    let v = xai_core::tensor_to_vec_f64(out)?;
    if let Some(bad) = v.iter().find(|o| !o.is_finite()) {
        return Err(XaiError::Numerical(format!(
            "model output {bad} under perturbation"
        )));
    }
    Ok(v.chunks(c.max(1))
        .map(|r| (0..c).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0))
        .collect())
}
