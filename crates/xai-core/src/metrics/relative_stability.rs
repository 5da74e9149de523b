//! Relative stability of explanations (Agarwal et al., "Rethinking Stability for Attribution-based
//! Explanations", 2022): how much the explanation moves relative to how much the input, the
//! output or an internal representation moves, over perturbations that keep the prediction.
//!
//! For an input `x`, a perturbation `x'` and explanations `e = φ(x)`, `e' = φ(x')` (same class):
//!
//! ```text
//! RIS = max_{x'} ‖(e − e') ⊘ e‖ / max(‖(x − x') ⊘ x‖, ε)
//! ROS = max_{x'} ‖(e − e') ⊘ e‖ / max(‖h(x) − h(x')‖, ε)          h = the logits
//! RRS = max_{x'} ‖(e − e') ⊘ e‖ / max(‖(L(x) − L(x')) ⊘ L(x)‖, ε)  L = an internal representation
//! ```
//!
//! `⊘` is element-wise division with every zero of the divisor replaced by `ε` (`eps_min`,
//! 1e-6), norms are L2 over the whole row, and only perturbations that leave the predicted class
//! unchanged count. Lower is more stable. Perturbations are `x' = x + u`, `u ~ U(low, high)` per
//! feature (Quantus 0.6's `batch_uniform_noise`: 0.02 to 0.2), seeded per input; or given
//! ([`relative_stability_over`]). Quantus marks an input NaN as soon as one perturbation changes
//! its prediction; here those perturbations are left out, and an input whose every perturbation
//! changed the prediction gets `None`.
//!
//! ```
//! use xai_core::metrics::relative_stability::{Stability, StabilityConfig, StabilityModel, relative_stability};
//! // A linear model f(x) = 2·x (one class): the gradient explanation never moves, RIS = 0.
//! let logits = |rows: &[f64], _n: usize| Ok(rows.iter().map(|v| 2.0 * v).collect());
//! let explain = |rows: &[f64], _c: &[usize]| Ok(vec![2.0; rows.len()]);
//! let model = StabilityModel { logits: &logits, representation: None };
//! let x = [1.0, 3.0];
//! let cfg = StabilityConfig { samples: 5, ..StabilityConfig::default() };
//! let ris = relative_stability(Stability::Input, &explain, &model, &x, 1, &[2.0, 2.0], &[0, 0], &cfg).unwrap();
//! assert_eq!(ris, vec![Some(0.0), Some(0.0)]);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};
use serde::{Deserialize, Serialize};

use crate::agnostic::argmax;
use crate::error::{Result, XaiError};
use crate::metrics::input_seed;
use crate::metrics::robustness::ExplainFn;

/// Which movement the explanation's change is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stability {
    /// Relative input stability (RIS).
    Input,
    /// Relative output stability (ROS), against the logits.
    Output,
    /// Relative representation stability (RRS), against [`StabilityModel::representation`].
    Representation,
}

/// `f(rows, n)`: a quantity of `n` rows (logits, a representation), row-major.
pub type RowsFn<'a> = dyn Fn(&[f64], usize) -> Result<Vec<f64>> + 'a;

/// Rows → model quantities: `logits(rows, n)` (`n × K`), and for [`Stability::Representation`]
/// `representation(rows, n)` (`n × R`, e.g. a layer's activations).
pub struct StabilityModel<'a> {
    /// The logits of `n` rows.
    pub logits: &'a RowsFn<'a>,
    /// An internal representation of `n` rows.
    pub representation: Option<&'a RowsFn<'a>>,
}

/// Settings of [`relative_stability`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StabilityConfig {
    /// Perturbations per input (Quantus: 200).
    pub samples: usize,
    /// Lower bound of the uniform noise added to every feature.
    pub low: f64,
    /// Upper bound of the noise.
    pub high: f64,
    /// `ε`: replaces zero divisors and zero denominators.
    pub eps_min: f64,
    /// Seed of the perturbations (per input).
    pub seed: u64,
}

impl Default for StabilityConfig {
    fn default() -> Self {
        StabilityConfig {
            samples: 200,
            low: 0.02,
            high: 0.2,
            eps_min: 1e-6,
            seed: 0,
        }
    }
}

/// Relative stability of every input under seeded uniform perturbations (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn relative_stability(
    kind: Stability,
    explain: &ExplainFn,
    model: &StabilityModel,
    inputs: &[f64],
    features: usize,
    attributions: &[f64],
    classes: &[usize],
    config: &StabilityConfig,
) -> Result<Vec<Option<f64>>> {
    if config.samples == 0 {
        return Err(XaiError::Config(
            "relative stability needs at least one perturbation".into(),
        ));
    }
    let noise = Uniform::new(config.low, config.high).map_err(|_| {
        XaiError::Config(format!(
            "perturbation bounds {}..{} must be finite with low < high",
            config.low, config.high
        ))
    })?;
    let n = classes.len();
    let mut rngs: Vec<StdRng> = (0..n)
        .map(|i| StdRng::seed_from_u64(input_seed(config.seed, i)))
        .collect();
    let perturbed: Vec<Vec<f64>> = (0..config.samples)
        .map(|_| {
            (0..n)
                .flat_map(|i| {
                    let row = &inputs[i * features..(i + 1) * features];
                    row.iter()
                        .map(|v| v + noise.sample(&mut rngs[i]))
                        .collect::<Vec<f64>>()
                })
                .collect()
        })
        .collect();
    relative_stability_over(
        kind,
        explain,
        model,
        inputs,
        features,
        attributions,
        classes,
        &perturbed,
        config.eps_min,
    )
}

/// Relative stability over the given perturbed copies: `perturbed[s]` holds every input's
/// `s`-th perturbation (`n × F`).
#[allow(clippy::too_many_arguments)]
pub fn relative_stability_over(
    kind: Stability,
    explain: &ExplainFn,
    model: &StabilityModel,
    inputs: &[f64],
    features: usize,
    attributions: &[f64],
    classes: &[usize],
    perturbed: &[Vec<f64>],
    eps_min: f64,
) -> Result<Vec<Option<f64>>> {
    let n = classes.len();
    if n == 0 || features == 0 || inputs.len() != n * features || attributions.len() != n * features
    {
        return Err(XaiError::shape(
            "inputs and attributions",
            format!("{n} rows of {features}"),
            &[inputs.len(), attributions.len()],
        ));
    }
    if let Some(p) = perturbed.iter().find(|p| p.len() != n * features) {
        return Err(XaiError::shape(
            "perturbed inputs",
            format!("{n} rows of {features}"),
            &[p.len()],
        ));
    }
    if !(eps_min.is_finite() && eps_min > 0.0) {
        return Err(XaiError::Config(format!(
            "eps_min must be > 0, got {eps_min}"
        )));
    }
    if kind == Stability::Representation && model.representation.is_none() {
        return Err(XaiError::Config(
            "relative representation stability needs the model's representation".into(),
        ));
    }
    // ‖(a − b) ⊘ a‖ with zeros of a replaced by ε.
    let relative = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&p, &q)| ((p - q) / if p == 0.0 { eps_min } else { p }).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let rows = |v: &[f64], i: usize, w: usize| v[i * w..(i + 1) * w].to_vec();
    let logits = (model.logits)(inputs, n)?;
    let k = logits.len() / n;
    let predicted: Vec<usize> = (0..n)
        .map(|i| argmax(&logits[i * k..(i + 1) * k]))
        .collect();
    let rep = match (kind, model.representation) {
        (Stability::Representation, Some(f)) => Some(f(inputs, n)?),
        _ => None,
    };
    let mut best: Vec<Option<f64>> = vec![None; n];
    for xs in perturbed {
        let e_xs = explain(xs, classes)?;
        if e_xs.len() != n * features {
            return Err(XaiError::shape(
                "explanations",
                format!("{n} rows of {features}"),
                &[e_xs.len()],
            ));
        }
        let h_xs = (model.logits)(xs, n)?;
        let rep_xs = match (kind, model.representation) {
            (Stability::Representation, Some(f)) => Some(f(xs, n)?),
            _ => None,
        };
        for i in 0..n {
            if argmax(&h_xs[i * k..(i + 1) * k]) != predicted[i] {
                continue;
            }
            let num = relative(
                &attributions[i * features..(i + 1) * features],
                &e_xs[i * features..(i + 1) * features],
            );
            let den = match kind {
                Stability::Input => relative(&rows(inputs, i, features), &rows(xs, i, features)),
                Stability::Output => rows(&logits, i, k)
                    .iter()
                    .zip(&h_xs[i * k..(i + 1) * k])
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
                    .sqrt(),
                Stability::Representation => {
                    let (r, rs) = (
                        rep.as_deref().unwrap_or(&[]),
                        rep_xs.as_deref().unwrap_or(&[]),
                    );
                    let w = r.len() / n;
                    relative(&r[i * w..(i + 1) * w], &rs[i * w..(i + 1) * w])
                }
            };
            let score = num / if den == 0.0 { eps_min } else { den };
            best[i] = Some(best[i].map_or(score, |b: f64| b.max(score)));
        }
    }
    Ok(best)
}
