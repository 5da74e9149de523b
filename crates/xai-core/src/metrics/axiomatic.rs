//! Axioms an attribution should satisfy, checked on the model.
//!
//! - **Non-sensitivity** (Nguyen & Martínez, 2020): a feature whose removal (replacement by the
//!   reference) leaves the explained output unchanged should get no attribution, and a feature
//!   with no attribution should not move the output. The score counts the features that break
//!   this either way, `#{i : (|Δf_i| < ε) ⊕ (|φ_i| / max|φ| < ε)}`; 0 is ideal. One forward
//!   per feature, batched (this is feature ablation, [`crate::agnostic::feature_ablation`]).
//!   The completeness axiom lives in [`super::faithfulness::completeness_error`].
//!
//! - **Input invariance** (Kindermans et al., "The (Un)reliability of Saliency Methods", 2019;
//!   Quantus's `InputInvariance`): shift every input by a constant `c` and the model by the
//!   opposite, `f'(z) = f(z − c)` — the same function of the original input, what the paper does
//!   by moving the first layer's bias. An input-invariant method explains `f'` at `x + c` exactly
//!   as `f` at `x`: the score is whether every value agrees (`|φ − φ'| ≤ atol + rtol·|φ'|`, NumPy's
//!   `isclose` with Quantus's `atol = 1e-4`). Gradients pass, gradient × input fails. Quantus
//!   0.6 moves the bias of a first *convolution* only (a dense first layer is refused), and with
//!   zero padding that shift is not exact at the borders — on the shared image CNN it calls even
//!   the plain gradient non-invariant — so there is no Quantus reference for this one; the tests
//!   check the axiom instead.
//!
//! For non-sensitivity, Quantus 0.6 max-normalises over the whole batch it is given, so a row's count depends
//! on its neighbours; here each explanation is normalised by its own maximum (the reference
//! test calls Quantus one explanation at a time).
//!
//! ```
//! use xai_core::Target;
//! use xai_core::agnostic::{FnModel, References, Rows, RunOptions};
//! use xai_core::metrics::axiomatic::non_sensitivity;
//! // f(x) = 2 x₀ + x₁; feature 2 is a dummy.
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| 2.0 * r[3 * i] + r[3 * i + 1]).collect());
//! let x = [1.0, 1.0, 1.0];
//! let quiet = RunOptions { progress: false, ..RunOptions::default() };
//! let refs = References::PerInput(vec![0.0; 3]);
//! let rows = Rows::new(&x, 3).unwrap();
//! let exact = [2.0, 1.0, 0.0];
//! assert_eq!(non_sensitivity(&model, &rows, &exact, &refs, &Target::Class(0), 1e-5, &quiet).unwrap(), [0]);
//! let blames_the_dummy = [2.0, 0.0, 1.0];
//! assert_eq!(non_sensitivity(&model, &rows, &blames_the_dummy, &refs, &Target::Class(0), 1e-5, &quiet).unwrap(), [2]);
//! ```

use crate::Target;
use crate::agnostic::{BlackBox, FeatureAblation, References, Rows, RunOptions, feature_ablation};
use crate::error::{Result, XaiError};

/// Non-sensitivity violations per input (see the module docs).
pub fn non_sensitivity<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &[f64],
    references: &References,
    target: &Target,
    eps: f64,
    run: &RunOptions,
) -> Result<Vec<usize>> {
    if attributions.len() != inputs.n * inputs.f {
        return Err(XaiError::shape(
            "attributions",
            format!("{} × {}", inputs.n, inputs.f),
            &[attributions.len()],
        ));
    }
    if attributions.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("attributions".into()));
    }
    if !(eps > 0.0 && eps < 1.0) {
        return Err(XaiError::Config(format!(
            "non-sensitivity needs 0 < ε < 1, got {eps}"
        )));
    }
    let deltas = feature_ablation(
        model,
        inputs,
        target,
        references,
        &FeatureAblation {
            groups: None,
            run: run.clone(),
        },
    )?;
    Ok(attributions
        .chunks(inputs.f)
        .enumerate()
        .map(|(i, a)| {
            let max = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max } else { 1.0 };
            a.iter()
                .zip(deltas.row(i))
                .filter(|(phi, d)| (d.abs() < eps) ^ (phi.abs() / scale < eps))
                .count()
        })
        .collect())
}

/// Input invariance of every input (see the module docs): `explain` explains the model at
/// `inputs`; `explain_shifted` explains the shifted model `f'(z) = f(z − shift)` at
/// `inputs + shift` (build it by wrapping the forward pass). `attributions` are `explain`'s.
#[allow(clippy::too_many_arguments)]
pub fn input_invariance(
    explain_shifted: &crate::metrics::robustness::ExplainFn,
    inputs: &[f64],
    features: usize,
    attributions: &[f64],
    classes: &[usize],
    shift: f64,
    atol: f64,
    rtol: f64,
) -> Result<Vec<bool>> {
    let n = classes.len();
    if features == 0 || inputs.len() != n * features || attributions.len() != n * features {
        return Err(XaiError::shape(
            "inputs and attributions",
            format!("{n} rows of {features}"),
            &[inputs.len(), attributions.len()],
        ));
    }
    if !(shift.is_finite() && atol >= 0.0 && rtol >= 0.0) {
        return Err(XaiError::Config(format!(
            "input invariance needs a finite shift and tolerances ≥ 0 (shift {shift}, atol {atol}, rtol {rtol})"
        )));
    }
    let shifted: Vec<f64> = inputs.iter().map(|v| v + shift).collect();
    let other = explain_shifted(&shifted, classes)?;
    if other.len() != n * features {
        return Err(XaiError::shape(
            "shifted explanations",
            format!("{n} rows of {features}"),
            &[other.len()],
        ));
    }
    Ok((0..n)
        .map(|i| {
            (i * features..(i + 1) * features)
                .all(|j| (attributions[j] - other[j]).abs() <= atol + rtol * other[j].abs())
        })
        .collect())
}
