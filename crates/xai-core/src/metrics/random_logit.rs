//! Random logit test (Sixt, Granz & Landgraf, "When Explanations Lie: Why Many Modified BP
//! Attributions Fail", ICML 2020): an explanation of class `y` should differ from an explanation
//! of another class `y' ≠ y` drawn at random. The score of input `i` is the similarity of the
//! two, `SSIM(φ_y(x_i), φ_{y'}(x_i))` on the flattened maps (scikit-image's structural
//! similarity in one dimension, window 7, data range of the two maps — Quantus 0.6's
//! `RandomLogit`; at least 7 features); lower is better (a class-insensitive method scores
//! near 1). SSIM multiplies a luminance and a structure term, so a map and its negative can
//! still score well above 0 where local means are large.
//!
//! The other classes are drawn per input from `seed` ([`random_logit`]), or given
//! ([`random_logit_against`]; the reference test replays the classes Quantus drew). Quantus's
//! default pre-processing max-normalises each batch of explanations separately, which changes
//! the SSIM of the pair; these functions compare the maps as given (run Quantus with
//! `normalise=False` to compare).
//!
//! ```
//! use xai_core::metrics::random_logit::random_logit_against;
//! // An explainer that ignores the class scores 1; one whose map moves with the class, less.
//! let x = [0.5, -1.0, 2.0, 0.3, 0.1, -0.7, 1.1, 0.9];
//! let same = |rows: &[f64], _c: &[usize]| Ok(rows.to_vec());
//! let phi = x.to_vec();
//! assert!((random_logit_against(&same, &x, 8, &phi, &[1]).unwrap()[0] - 1.0).abs() < 1e-12);
//! let moves = |rows: &[f64], c: &[usize]| {
//!     Ok(if c[0] == 0 { rows.to_vec() } else { rows.iter().rev().copied().collect() })
//! };
//! assert!(random_logit_against(&moves, &x, 8, &phi, &[1]).unwrap()[0] < 0.9);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Result, XaiError};
use crate::metrics::input_seed;
use crate::metrics::robustness::ExplainFn;
use crate::metrics::similarity::ssim_1d;

/// SSIM window (scikit-image's default).
const WINDOW: usize = 7;

/// Random logit scores of `inputs` (`n` rows of `features`) whose explanations for their
/// `targets` are `attributions`; the other class of input `i` is drawn uniformly among the
/// `classes − 1` others from `(seed, i)`.
pub fn random_logit(
    explain: &ExplainFn,
    inputs: &[f64],
    features: usize,
    attributions: &[f64],
    targets: &[usize],
    classes: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    if classes < 2 {
        return Err(XaiError::Config(
            "the random logit test needs a model with at least two classes".into(),
        ));
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= classes) {
        return Err(XaiError::TargetOutOfRange { index: t, classes });
    }
    let off: Vec<usize> = targets
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let k = StdRng::seed_from_u64(input_seed(seed, i)).random_range(0..classes - 1);
            if k >= t { k + 1 } else { k }
        })
        .collect();
    random_logit_against(explain, inputs, features, attributions, &off)
}

/// Random logit scores against the given other classes `off` (one per input).
pub fn random_logit_against(
    explain: &ExplainFn,
    inputs: &[f64],
    features: usize,
    attributions: &[f64],
    off: &[usize],
) -> Result<Vec<f64>> {
    let n = off.len();
    if features == 0 || inputs.len() != n * features || attributions.len() != n * features {
        return Err(XaiError::shape(
            "inputs and attributions",
            format!("{n} rows of {features}"),
            &[inputs.len(), attributions.len()],
        ));
    }
    let other = explain(inputs, off)?;
    if other.len() != n * features {
        return Err(XaiError::shape(
            "explanations of the other classes",
            format!("{n} rows of {features}"),
            &[other.len()],
        ));
    }
    (0..n)
        .map(|i| {
            let r = i * features..(i + 1) * features;
            ssim_1d(&attributions[r.clone()], &other[r], WINDOW)
        })
        .collect()
}
