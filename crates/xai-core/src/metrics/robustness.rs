//! Robustness: does the explanation stay put when the input barely moves?
//!
//! All three re-explain `m` perturbed copies of every input; the copies of all inputs go through
//! the explainer in budget-sized batches (one call explains many rows), each for the same class
//! as its input.
//!
//! - **Max-sensitivity** and **average sensitivity** (Yeh et al. 2019; Captum's
//!   `sensitivity_max`, Quantus's `MaxSensitivity`/`AvgSensitivity`): perturbations
//!   `x' = x + u`, `u ~ U(−r, r)^F`; sensitivity `‖φ(x') − φ(x)‖₂ / ‖φ(x)‖₂` (un-normalised when
//!   `φ(x) = 0`), maximum and mean over the `m` perturbations.
//! - **Local Lipschitz estimate** (Alvarez-Melis & Jaakkola 2018): perturbations
//!   `x' = x + N(0, σ²)`, `L = max ‖φ(x') − φ(x)‖₂ / ‖x' − x‖₂`.
//!
//! Lower is more robust. The explainer is any closure `explain(rows, classes) -> n·F values`,
//! so these work for every method (gradient, IG, LIME, …) and any model.
//!
//! ```
//! use xai_core::metrics::robustness::{RobustnessConfig, sensitivity};
//! // The gradient of f(x) = Σ x² is 2x: sensitivity is ‖2u‖ / ‖2x‖ ≤ r√F / ‖x‖.
//! let explain = |rows: &[f64], _c: &[usize]| Ok(rows.iter().map(|v| 2.0 * v).collect());
//! let x = [1.0, -2.0, 2.0];
//! let cfg = RobustnessConfig { radius: 0.1, samples: 20, ..RobustnessConfig::default() };
//! let s = sensitivity(&explain, &x, 3, &[0], &cfg).unwrap();
//! assert!(s[0].max <= 0.1 * 3f64.sqrt() / 3.0 + 1e-12);
//! assert!(s[0].mean <= s[0].max);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::agnostic::{Rows, RunOptions};
use crate::error::{Result, XaiError};
use crate::metrics::input_seed;

/// Re-explains rows: `explain(rows, classes)` returns one attribution row per input row.
pub type ExplainFn<'a> = dyn Fn(&[f64], &[usize]) -> Result<Vec<f64>> + 'a;

/// Settings of the robustness metrics.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RobustnessConfig {
    /// Half-width `r` of the uniform perturbation (sensitivity) or standard deviation `σ` of the
    /// Gaussian one (Lipschitz).
    pub radius: f64,
    /// Perturbations per input.
    pub samples: usize,
    /// Seed of the perturbations.
    pub seed: u64,
    /// Memory budget: each call to the explainer gets as many rows as fit.
    pub options: RunOptions,
    /// Bytes one row costs while it is explained (default: 3 × 64 `f32` per feature, a
    /// forward plus a backward).
    pub bytes_per_row: Option<usize>,
}

impl Default for RobustnessConfig {
    fn default() -> Self {
        RobustnessConfig {
            radius: 0.02,
            samples: 10,
            seed: 0,
            options: RunOptions::default(),
            bytes_per_row: None,
        }
    }
}

/// Sensitivity of one input's explanation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    /// Maximum over perturbations.
    pub max: f64,
    /// Mean over perturbations.
    pub mean: f64,
}

/// Explanations of the inputs and of `m` perturbed copies of each, and the perturbations.
struct Reexplained {
    original: Vec<f64>,
    perturbed: Vec<f64>,
    noise: Vec<f64>,
}

fn reexplain(
    explain: &ExplainFn,
    inputs: &[f64],
    features: usize,
    classes: &[usize],
    config: &RobustnessConfig,
    gaussian: bool,
) -> Result<Reexplained> {
    let rows = Rows::new(inputs, features)?;
    let (n, f, m) = (rows.n, features, config.samples);
    if classes.len() != n {
        return Err(XaiError::shape(
            "target classes",
            format!("{n} entries"),
            &[classes.len()],
        ));
    }
    if m == 0 || !(config.radius > 0.0 && config.radius.is_finite()) {
        return Err(XaiError::Config(format!(
            "robustness needs samples ≥ 1 and a positive finite radius, got {m} and {}",
            config.radius
        )));
    }
    let mut noise = Vec::with_capacity(n * m * f);
    for i in 0..n {
        let mut rng = StdRng::seed_from_u64(input_seed(config.seed, i));
        if gaussian {
            let d = Normal::new(0.0, config.radius).expect("radius checked positive");
            noise.extend((0..m * f).map(|_| d.sample(&mut rng)));
        } else {
            let d = Uniform::new_inclusive(-config.radius, config.radius)
                .map_err(|e| XaiError::Config(format!("uniform perturbation: {e}")))?;
            noise.extend((0..m * f).map(|_| d.sample(&mut rng)));
        }
    }
    let call = |data: &[f64], cls: &[usize]| -> Result<Vec<f64>> {
        let out = explain(data, cls)?;
        if out.len() != data.len() {
            return Err(XaiError::shape(
                "explanations",
                format!("{} values (one per input value)", data.len()),
                &[out.len()],
            ));
        }
        if out.iter().any(|v| !v.is_finite()) {
            return Err(XaiError::NonFinite(
                "explanations of perturbed inputs".into(),
            ));
        }
        Ok(out)
    };
    let bytes = config.bytes_per_row.unwrap_or(f * 4 * 64 * 3);
    let mut original = Vec::with_capacity(n * f);
    for range in config.options.budget.chunks(n, bytes)? {
        original.extend(call(
            &inputs[range.start * f..range.end * f],
            &classes[range.clone()],
        )?);
    }
    let mut perturbed = Vec::with_capacity(n * m * f);
    for range in config.options.budget.chunks(n * m, bytes)? {
        let mut data = Vec::with_capacity(range.len() * f);
        let mut cls = Vec::with_capacity(range.len());
        for r in range.clone() {
            let i = r / m;
            let x = rows.row(i);
            data.extend((0..f).map(|j| x[j] + noise[r * f + j]));
            cls.push(classes[i]);
        }
        perturbed.extend(call(&data, &cls)?);
    }
    Ok(Reexplained {
        original,
        perturbed,
        noise,
    })
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Max- and average sensitivity per input (see the module docs).
pub fn sensitivity(
    explain: &ExplainFn,
    inputs: &[f64],
    features: usize,
    classes: &[usize],
    config: &RobustnessConfig,
) -> Result<Vec<Sensitivity>> {
    let r = reexplain(explain, inputs, features, classes, config, false)?;
    let (f, m) = (features, config.samples);
    Ok((0..classes.len())
        .map(|i| {
            let phi = &r.original[i * f..(i + 1) * f];
            let norm = phi.iter().map(|v| v * v).sum::<f64>().sqrt();
            let norm = if norm > 0.0 { norm } else { 1.0 };
            let s: Vec<f64> = (0..m)
                .map(|s| dist(&r.perturbed[(i * m + s) * f..(i * m + s + 1) * f], phi) / norm)
                .collect();
            Sensitivity {
                max: s.iter().copied().fold(0.0, f64::max),
                mean: s.iter().sum::<f64>() / m as f64,
            }
        })
        .collect())
}

/// Local Lipschitz estimate per input (see the module docs).
pub fn local_lipschitz(
    explain: &ExplainFn,
    inputs: &[f64],
    features: usize,
    classes: &[usize],
    config: &RobustnessConfig,
) -> Result<Vec<f64>> {
    let r = reexplain(explain, inputs, features, classes, config, true)?;
    let (f, m) = (features, config.samples);
    Ok((0..classes.len())
        .map(|i| {
            let phi = &r.original[i * f..(i + 1) * f];
            (0..m)
                .map(|s| {
                    let k = i * m + s;
                    let dx = r.noise[k * f..(k + 1) * f]
                        .iter()
                        .map(|v| v * v)
                        .sum::<f64>()
                        .sqrt();
                    dist(&r.perturbed[k * f..(k + 1) * f], phi) / dx.max(f64::MIN_POSITIVE)
                })
                .fold(0.0, f64::max)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_explanation_has_the_lipschitz_constant_of_its_map() {
        // φ(x) = A x with A = diag(3, 1): L ≤ 3 and close to it for many samples.
        let explain = |rows: &[f64], _: &[usize]| {
            Ok(rows
                .chunks(2)
                .flat_map(|r| [3.0 * r[0], r[1]])
                .collect::<Vec<_>>())
        };
        let cfg = RobustnessConfig {
            radius: 0.5,
            samples: 200,
            ..RobustnessConfig::default()
        };
        let l = local_lipschitz(&explain, &[1.0, 1.0, -2.0, 0.5], 2, &[0, 0], &cfg).unwrap();
        assert!(l.iter().all(|v| *v <= 3.0 + 1e-12 && *v > 2.8), "{l:?}");
    }

    #[test]
    fn a_constant_explanation_is_perfectly_robust_and_chunking_is_invisible() {
        let explain = |rows: &[f64], _: &[usize]| Ok(vec![1.0; rows.len()]);
        let x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let s = sensitivity(&explain, &x, 3, &[0, 1], &RobustnessConfig::default()).unwrap();
        assert!(s.iter().all(|s| s.max == 0.0));
        let grad = |rows: &[f64], _: &[usize]| Ok(rows.iter().map(|v| v.sin()).collect());
        let tiny = RobustnessConfig {
            bytes_per_row: Some(usize::MAX),
            ..RobustnessConfig::default()
        };
        assert_eq!(
            sensitivity(&grad, &x, 3, &[0, 1], &RobustnessConfig::default()).unwrap(),
            sensitivity(&grad, &x, 3, &[0, 1], &tiny).unwrap()
        );
    }

    #[test]
    fn bad_settings_and_bad_explainers_are_errors() {
        let short = |rows: &[f64], _: &[usize]| Ok(vec![0.0; rows.len() - 1]);
        let nan = |rows: &[f64], _: &[usize]| Ok(vec![f64::NAN; rows.len()]);
        let cfg = RobustnessConfig::default();
        assert!(sensitivity(&short, &[1.0, 2.0], 2, &[0], &cfg).is_err());
        assert!(sensitivity(&nan, &[1.0, 2.0], 2, &[0], &cfg).is_err());
        let zero = RobustnessConfig {
            samples: 0,
            ..cfg.clone()
        };
        assert!(local_lipschitz(&nan, &[1.0, 2.0], 2, &[0], &zero).is_err());
        assert!(sensitivity(&nan, &[1.0, 2.0], 2, &[0, 1], &cfg).is_err());
    }
}
