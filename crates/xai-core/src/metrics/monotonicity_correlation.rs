//! Monotonicity correlation (Nguyen & Martínez, "On Quantitative Aspects of Model
//! Interpretability", 2020; Quantus 0.6's `MonotonicityCorrelation`): features that matter more
//! should move the output more when they are perturbed.
//!
//! Per input, features are taken `k` at a time in order of increasing `|φ|`; each group alone is
//! replaced `samples` times (by default by values drawn from `U(0, 1)`, Quantus's "uniform"
//! baseline), and its output effect is the mean squared change of the target output, divided by
//! `f(x)²` (by 1 when `|f(x)| < ε`):
//!
//! ```text
//! v_g = mean_s (f(x with group g perturbed) − f(x))² / f(x)²,     a_g = Σ_{j ∈ g} |φ_j|
//! score = Spearman(a, v) over the groups
//! ```
//!
//! 1 is ideal. The perturbed copies of an input (`groups × samples`) go through the model in
//! chunks that fit the memory budget. The perturbation is any function of (input, group, sample, feature, value)
//! ([`Perturbation`]), so a test can replay another library's draws; [`uniform_replacement`]
//! draws the default from a seed, per input.
//!
//! ```
//! use xai_core::agnostic::{FnModel, Rows, RunOptions};
//! use xai_core::metrics::monotonicity_correlation::{monotonicity_correlation, uniform_replacement};
//! // f(x) = Σ w·x with w = (1, 2, 3, 4): |φ| = |w·x| ranks the features as their effect does.
//! let model = FnModel::new(4, |r: &[f64], n| (0..n).map(|i| (0..4).map(|j| (j + 1) as f64 * r[4 * i + j]).sum()).collect());
//! let x = [1.0, 1.0, 1.0, 1.0];
//! let phi = [1.0, 2.0, 3.0, 4.0];
//! let quiet = RunOptions { progress: false, ..RunOptions::default() };
//! let s = monotonicity_correlation(&model, &Rows::new(&x, 4).unwrap(), &Rows::new(&phi, 4).unwrap(), &[0], 1, 50, &uniform_replacement(7), 1e-5, &quiet).unwrap();
//! assert!((s[0] - 1.0).abs() < 1e-12);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::agnostic::{BlackBox, Rows, RunOptions};
use crate::error::{Result, XaiError};
use crate::metrics::input_seed;
use crate::metrics::similarity::spearman;

/// The value feature `j` of input `i` takes in sample `s` of group `g`, given its value `v`:
/// `perturb(i, g, s, j, v)`.
pub type Perturbation = dyn Fn(usize, usize, usize, usize, f64) -> f64 + Sync;

/// Replacement by `U(0, 1)` draws, seeded by `(seed, input, group, sample, feature)`.
pub fn uniform_replacement(seed: u64) -> impl Fn(usize, usize, usize, usize, f64) -> f64 + Sync {
    move |i, g, s, j, _v| {
        let key = input_seed(seed, i)
            ^ ((g as u64) << 40)
            ^ ((s as u64) << 20)
            ^ (j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        StdRng::seed_from_u64(key).random::<f64>()
    }
}

/// Monotonicity correlation of every input (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn monotonicity_correlation<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    classes: &[usize],
    features_per_step: usize,
    samples: usize,
    perturb: &Perturbation,
    eps: f64,
    options: &RunOptions,
) -> Result<Vec<f64>> {
    let (n, f) = (inputs.n, inputs.f);
    if attributions.n != n || attributions.f != f || classes.len() != n {
        return Err(XaiError::shape(
            "attributions and classes",
            format!("{n} rows of {f}, {n} classes"),
            &[attributions.n, attributions.f, classes.len()],
        ));
    }
    if features_per_step == 0 || features_per_step > f || samples == 0 {
        return Err(XaiError::Config(format!(
            "monotonicity correlation needs 1 ≤ features per step ≤ {f} and samples ≥ 1"
        )));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(XaiError::Config(format!("ε must be > 0, got {eps}")));
    }
    let outputs = model.predict(inputs.data, n)?;
    let k = outputs.len() / n;
    if let Some(&c) = classes.iter().find(|&&c| c >= k) {
        return Err(XaiError::TargetOutOfRange {
            index: c,
            classes: k,
        });
    }
    let groups = f.div_ceil(features_per_step);
    let mut scores = Vec::with_capacity(n);
    for i in 0..n {
        let x = inputs.row(i);
        let a: Vec<f64> = attributions.row(i).iter().map(|v| v.abs()).collect();
        let mut order: Vec<usize> = (0..f).collect();
        order.sort_by(|&p, &q| a[p].total_cmp(&a[q]).then(p.cmp(&q)));
        let y = outputs[i * k + classes[i]];
        let inv = if y.abs() >= eps { 1.0 / (y * y) } else { 1.0 };
        // Every perturbed copy of this input, group-major (copy c = g·samples + s), built and
        // predicted in chunks that fit the memory budget.
        let copy = |c: usize| {
            let (g, s) = (c / samples, c % samples);
            let mut row = x.to_vec();
            for &j in &order[g * features_per_step..((g + 1) * features_per_step).min(f)] {
                row[j] = perturb(i, g, s, j, x[j]);
            }
            row
        };
        let mut out = Vec::with_capacity(groups * samples * k);
        for chunk in options.budget.chunks(groups * samples, f * 8)? {
            let rows: Vec<f64> = chunk.clone().flat_map(copy).collect();
            out.extend(model.predict(&rows, chunk.len())?);
        }
        let (mut atts, mut vars) = (Vec::with_capacity(groups), Vec::with_capacity(groups));
        for g in 0..groups {
            let members = &order[g * features_per_step..((g + 1) * features_per_step).min(f)];
            atts.push(members.iter().map(|&j| a[j]).sum::<f64>());
            let mse = (0..samples)
                .map(|s| (out[(g * samples + s) * k + classes[i]] - y).powi(2))
                .sum::<f64>()
                / samples as f64;
            vars.push(mse * inv);
        }
        scores.push(spearman(&atts, &vars));
    }
    Ok(scores)
}
