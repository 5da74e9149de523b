//! Gradient-based counterfactuals (Wachter, Mittelstadt & Russell 2017, "Counterfactual
//! explanations without opening the black box").
//!
//! For an input `x` and a desired class `y*`, minimise
//! `λ · hinge(x') + d(x, x')`, with `hinge(x') = max(0, max_{j≠y*} f_j(x') − f_{y*}(x') + κ)` on
//! the logits and `d` either the scaled L1 distance `Σ_i |x'_i − x_i| / s_i` (Wachter's choice
//! with `s_i` the median absolute deviation: sparse changes) or the squared scaled L2 distance
//! `Σ_i ((x'_i − x_i) / s_i)²`. The search is proximal gradient descent: a gradient step on the
//! hinge (one batched backward pass through the captured graph for all rows), then the exact
//! proximal step of the distance (soft-thresholding for L1, so unchanged features stay exactly
//! unchanged), then the projection onto the constraints: immutable features are reset to `x`
//! and every feature is clamped to its `[lower, upper]` bounds, so every iterate is feasible.
//! `λ` is multiplied by `lambda_growth` whenever `patience` steps pass without a flip (Wachter's
//! outer loop on `λ`). Once a row's arg-max is `y*` (with margin `κ`) it is polished for
//! `polish_steps` more steps at that `λ` (steps from valid iterates feel only the distance), and
//! its closest valid iterate is returned; the polish steps shrink geometrically (×0.97) so the
//! iterates settle at the boundary instead of oscillating across it.
//!
//! Axioms / checks (tested): on a linear model with the L2 distance the counterfactual lies on
//! the closed-form minimal-distance direction `w_{y*} − w_j`; with L1 only the cheapest feature
//! moves; immutable features and bounds hold exactly; rows already in `y*` return `x`.
//!
//! Shapes: inputs `[N, ...]` (features are the flattened trailing dimensions), one desired class
//! per row; the counterfactuals have the inputs' shape.
//!
//! ```
//! use burn::tensor::{Device, Tensor, TensorData};
//! use burn::nn::{Linear, LinearConfig};
//! use xai_grad::methods::Explainable;
//! use xai_grad::methods::counterfactual::{wachter, WachterConfig};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(3, 2).init(&dev);
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -0.2, 0.1], [1, 3]), &dev);
//! let current = ex.forward(&x).unwrap().argmax(1).into_data().convert::<i64>().to_vec::<i64>().unwrap()[0];
//! let other = 1 - current as usize;
//! let cf = wachter(&ex, &x, &[other], &WachterConfig::default()).unwrap();
//! assert!(cf.found[0]);
//! assert_eq!(cf.classes[0], other);
//! ```

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Explainable;
use super::elastic_net::{Bounds, per_feature};
use xai_core::{Result, XaiError};

/// Step-size decay per polish step (after 100 steps: 5 % of the step size).
const POLISH_DECAY: f64 = 0.97;

/// The distance to the original input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CfDistance {
    /// `Σ |Δ_i| / s_i`: sparse changes (Wachter's choice with the MAD as scale).
    #[default]
    L1,
    /// `Σ (Δ_i / s_i)²`: small changes spread over the features.
    L2,
}

/// Settings of the search.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WachterConfig {
    /// The distance.
    pub distance: CfDistance,
    /// Per-feature scale `s_i` (e.g. the median absolute deviation on the training data);
    /// `None`: 1 for every feature.
    pub scale: Option<Vec<f64>>,
    /// Initial weight `λ` of the class loss against the distance.
    pub lambda: f64,
    /// Factor applied to `λ` after `patience` steps without a flip.
    pub lambda_growth: f64,
    /// Steps between increases of `λ`.
    pub patience: usize,
    /// Gradient step size.
    pub learning_rate: f64,
    /// Most steps per row.
    pub max_steps: usize,
    /// Steps after the first flip during which the search goes on at the same `λ` and keeps
    /// the closest valid iterate (it approaches the fixed-`λ` optimum: with L1, features that
    /// only helped on the way are shrunk back to exactly their original value).
    pub polish_steps: usize,
    /// The desired logit must beat every other logit by this margin `κ ≥ 0`.
    pub margin: f64,
    /// Flat feature indices that never change.
    pub immutable: Vec<usize>,
    /// Per-feature lower bounds (`None`: unbounded).
    pub lower: Option<Vec<f64>>,
    /// Per-feature upper bounds (`None`: unbounded).
    pub upper: Option<Vec<f64>>,
}

impl Default for WachterConfig {
    fn default() -> Self {
        WachterConfig {
            distance: CfDistance::L1,
            scale: None,
            lambda: 1.0,
            lambda_growth: 2.0,
            patience: 50,
            learning_rate: 0.02,
            max_steps: 5000,
            polish_steps: 100,
            margin: 0.0,
            immutable: Vec::new(),
            lower: None,
            upper: None,
        }
    }
}

/// Counterfactuals for a batch of inputs.
#[derive(Clone, Debug)]
pub struct WachterResult<const D: usize> {
    /// The counterfactuals (the last iterate where none was found), the inputs' shape.
    pub counterfactuals: Tensor<D>,
    /// Whether row `r` reached its desired class.
    pub found: Vec<bool>,
    /// The arg-max class of each counterfactual.
    pub classes: Vec<usize>,
    /// Steps run per row, polish included (0: the input was already in the desired class).
    pub steps: Vec<usize>,
    /// The distance `d(x, x')` per row, in the configured metric.
    pub distance: Vec<f64>,
    /// Number of features that changed per row.
    pub changed: Vec<usize>,
    /// `λ` when each row stopped.
    pub lambda: Vec<f64>,
}

/// Wachter counterfactuals: for every row of `x`, a nearby input classified as `desired[row]`.
pub fn wachter<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    desired: &[usize],
    config: &WachterConfig,
) -> Result<WachterResult<D>> {
    crate::gradient::validate_inputs(x)?;
    let dims = x.dims();
    let n = dims[0];
    let f: usize = dims[1..].iter().product();
    if desired.len() != n {
        return Err(XaiError::shape(
            "desired classes",
            format!("{n} entries"),
            &[desired.len()],
        ));
    }
    let spec = Constraints::new(config, f)?;
    let x0 = xai_core::tensor_to_vec_f64(x.clone())?;
    spec.bounds.check_inside(&x0)?;
    let (mut out, _) = seeded_pass(ex, x, &x0, None)?;
    let c = out.len() / n;
    if let Some(&bad) = desired.iter().find(|&&d| d >= c) {
        return Err(XaiError::Config(format!(
            "desired class {bad} out of range: the model has {c} outputs"
        )));
    }
    let mut cur = x0.clone();
    let mut valid: Vec<bool> = (0..n)
        .map(|r| reached(&out[r * c..(r + 1) * c], desired[r], config.margin))
        .collect();
    // A row is done when it started valid or its polish phase is over.
    let mut done = valid.clone();
    let mut flipped_at: Vec<Option<usize>> = vec![None; n];
    let mut best: Vec<Option<(f64, Vec<f64>)>> = vec![None; n];
    let mut steps = vec![0usize; n];
    let mut lambda = vec![config.lambda; n];
    let mut eta = vec![config.learning_rate; n];
    for step in 1..=config.max_steps {
        if done.iter().all(|&d| d) {
            break;
        }
        // Seed λ(e_j − e_{y*}) on the logits of every row whose hinge is positive (not valid at
        // the current iterate); a valid row in its polish phase only feels the distance.
        let mut seed = vec![0.0f64; n * c];
        for r in (0..n).filter(|&r| !done[r] && !valid[r]) {
            let (j, _) = runner_up(&out[r * c..(r + 1) * c], desired[r]);
            seed[r * c + j] = lambda[r];
            seed[r * c + desired[r]] = -lambda[r];
        }
        let grad = seeded_pass(ex, x, &cur, Some(seed))?.1.unwrap_or_default();
        for r in (0..n).filter(|&r| !done[r]) {
            let eta_r = eta[r];
            for i in (0..f).filter(|&i| !spec.bounds.fixed[i]) {
                let k = r * f + i;
                let v = cur[k] - eta_r * grad[k];
                let moved = x0[k] + spec.prox(i, v - x0[k], eta_r, config.distance);
                cur[k] = moved.clamp(spec.bounds.lower[i], spec.bounds.upper[i]);
            }
            steps[r] = step;
            if flipped_at[r].is_some() {
                // Polish: smaller and smaller steps, so the iterates stop oscillating across
                // the decision boundary and settle at the fixed-λ optimum.
                eta[r] *= POLISH_DECAY;
            } else if step % config.patience.max(1) == 0 {
                lambda[r] *= config.lambda_growth;
            }
        }
        out = seeded_pass(ex, x, &cur, None)?.0;
        for r in 0..n {
            if done[r] {
                continue;
            }
            valid[r] = reached(&out[r * c..(r + 1) * c], desired[r], config.margin);
            let row = &cur[r * f..(r + 1) * f];
            if valid[r] {
                flipped_at[r].get_or_insert(step);
                let d = spec.distance(row, &x0[r * f..(r + 1) * f], config.distance);
                if best[r].as_ref().is_none_or(|(bd, _)| d < *bd) {
                    best[r] = Some((d, row.to_vec()));
                }
            }
            if flipped_at[r].is_some_and(|first| step - first >= config.polish_steps) {
                done[r] = true;
            }
        }
    }
    // Each row: its closest valid iterate, else the last one.
    for (r, b) in best.iter().enumerate() {
        if let Some((_, row)) = b {
            cur[r * f..(r + 1) * f].copy_from_slice(row);
        }
    }
    let out = seeded_pass(ex, x, &cur, None)?.0;
    if out.iter().any(|v| !v.is_finite()) || cur.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("counterfactual search".into()));
    }
    let classes: Vec<usize> = (0..n).map(|r| argmax(&out[r * c..(r + 1) * c])).collect();
    let found = (0..n)
        .map(|r| reached(&out[r * c..(r + 1) * c], desired[r], config.margin))
        .collect();
    let distance = (0..n)
        .map(|r| {
            spec.distance(
                &cur[r * f..(r + 1) * f],
                &x0[r * f..(r + 1) * f],
                config.distance,
            )
        })
        .collect();
    let changed = (0..n)
        .map(|r| (0..f).filter(|&i| cur[r * f + i] != x0[r * f + i]).count())
        .collect();
    let counterfactuals =
        Tensor::<D>::from_data(TensorData::new(cur, dims), (&x.device(), x.dtype()));
    Ok(WachterResult {
        counterfactuals,
        found,
        classes,
        steps,
        distance,
        changed,
        lambda,
    })
}

/// Per-feature scale, bounds and immutability, validated.
struct Constraints {
    scale: Vec<f64>,
    bounds: Bounds,
}

impl Constraints {
    fn new(config: &WachterConfig, f: usize) -> Result<Self> {
        let scale = per_feature(&config.scale, "counterfactual scale", f, 1.0)?;
        if scale.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            return Err(XaiError::Config(
                "every counterfactual scale must be positive and finite".into(),
            ));
        }
        let bounds = Bounds::new(&config.lower, &config.upper, &config.immutable, f)?;
        let bad = |v: f64| !(v.is_finite() && v > 0.0);
        if bad(config.learning_rate) || bad(config.lambda) || bad(config.lambda_growth) {
            return Err(XaiError::Config(
                "learning rate, λ and its growth must be positive and finite".into(),
            ));
        }
        if !(config.margin.is_finite() && config.margin >= 0.0) {
            return Err(XaiError::Config("the margin κ must be ≥ 0".into()));
        }
        Ok(Constraints { scale, bounds })
    }

    /// The proximal step of `η · d` on the change `delta` of feature `i`.
    fn prox(&self, i: usize, delta: f64, eta: f64, distance: CfDistance) -> f64 {
        match distance {
            CfDistance::L1 => {
                let t = eta / self.scale[i];
                delta.signum() * (delta.abs() - t).max(0.0)
            }
            CfDistance::L2 => delta / (1.0 + 2.0 * eta / (self.scale[i] * self.scale[i])),
        }
    }

    fn distance(&self, a: &[f64], b: &[f64], distance: CfDistance) -> f64 {
        a.iter()
            .zip(b)
            .zip(&self.scale)
            .map(|((p, q), s)| match distance {
                CfDistance::L1 => (p - q).abs() / s,
                CfDistance::L2 => ((p - q) / s).powi(2),
            })
            .sum()
    }
}

fn argmax(row: &[f64]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}

/// The largest logit other than `desired`.
fn runner_up(row: &[f64], desired: usize) -> (usize, f64) {
    row.iter().enumerate().filter(|(i, _)| *i != desired).fold(
        (usize::MAX, f64::NEG_INFINITY),
        |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        },
    )
}

/// The desired logit beats every other by more than `margin` (strictly: a tie is no flip).
fn reached(row: &[f64], desired: usize, margin: f64) -> bool {
    let (j, fj) = runner_up(row, desired);
    j == usize::MAX || row[desired] - fj > margin
}

/// Outputs at `values` (`like`'s shape), and with a `seed` `[N, C]` also `∂(Σ seed ⊙ f)/∂x`.
fn seeded_pass<const D: usize>(
    ex: &Explainable<D>,
    like: &Tensor<D>,
    values: &[f64],
    seed: Option<Vec<f64>>,
) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
    match seed {
        None => Ok((ex.outputs_at(like, values)?, None)),
        Some(seed) => {
            let (out, g) = ex.outputs_and_vjp(like, values, |_| seed)?;
            Ok((out, Some(g)))
        }
    }
}
