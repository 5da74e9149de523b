//! Do inputs that share an explanation share the prediction? Consistency and sufficiency of
//! Dasgupta, Frost & Moshkovitz ("Framework for Evaluating Faithfulness of Local Explanations",
//! ICML 2022), computed over a set of explained inputs and the model's predicted classes.
//!
//! - **Consistency**: each explanation is discretised to a label `e(φ)`; input `i` scores
//!   `#{j ≠ i : e(φ_j) = e(φ_i), ŷ_j = ŷ_i} / (#{j ≠ i : e(φ_j) = e(φ_i)} + 10⁻⁹)` — the share of
//!   the other inputs with the same explanation that also get the same class. Quantus 0.6's
//!   default discretiser (`top_n_sign`, n = 5) keeps the signs of the **first** five values of
//!   the flattened explanation, after taking absolute values: [`Discretiser::FirstSigns`]
//!   reproduces it; [`Discretiser::TopFeatures`] is the set of the `k` features with the largest
//!   `|φ|`, the discretisation the paper's "same explanation" has in mind.
//! - **Sufficiency**: input `j` shares input `i`'s explanation when their distance, over the
//!   largest distance between any two explanations of the set, is at most `threshold` (0.6 in
//!   Quantus); the distance is the standardised Euclidean one (`scipy`'s `seuclidean`, each
//!   feature divided by its variance over the set, counted twice as `cdist(A, A)` stacks it, with
//!   `ddof = 1`) between absolute attributions. Input `i` scores the share of those neighbours
//!   `j ≠ i` predicted as `ŷ_i`, 0 when it has none.
//!
//! Higher is better for both. Quantus evaluates them per batch of 64 inputs (its `batch_size`);
//! these functions take the whole set as one batch, so they agree with Quantus on sets of at
//! most 64 inputs. A feature whose absolute attribution is constant over the set has zero
//! variance, which makes every standardised distance undefined: the set is refused then (Quantus
//! silently finds no neighbours).
//!
//! Shapes: `attributions` `n × F` row-major, `predicted` `n`.
//!
//! ```
//! use xai_core::metrics::consistency::{Discretiser, consistency, sufficiency};
//! // Four inputs: the first two share an explanation and a class, the third shares the
//! // explanation but not the class, the fourth stands alone.
//! let phi = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
//! let predicted = [0, 0, 1, 1];
//! let c = consistency(&phi, 2, &predicted, Discretiser::FirstSigns(2)).unwrap();
//! assert!((c[0] - 0.5).abs() < 1e-6 && (c[2] - 0.0).abs() < 1e-6 && c[3] == 0.0);
//! let s = sufficiency(&[1.0, 0.1, 1.1, 0.0, 1.05, 0.2, 0.0, 2.0], 2, &predicted, 0.6).unwrap();
//! assert!((s[0] - 0.5).abs() < 1e-12);
//! ```

use crate::error::{Result, XaiError};

/// How an explanation becomes a discrete label for [`consistency`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discretiser {
    /// The signs of the first `n` values of `|φ|` (Quantus 0.6's `top_n_sign`).
    FirstSigns(usize),
    /// The set of the `k` features with the largest `|φ|` (ties broken by feature index).
    TopFeatures(usize),
}

impl Discretiser {
    fn label(&self, row: &[f64]) -> Vec<usize> {
        match *self {
            Discretiser::FirstSigns(n) => row
                .iter()
                .take(n)
                .map(|v| usize::from(v.abs() > 0.0))
                .collect(),
            Discretiser::TopFeatures(k) => {
                let mut idx: Vec<usize> = (0..row.len()).collect();
                idx.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()).then(a.cmp(&b)));
                let mut top: Vec<usize> = idx.into_iter().take(k).collect();
                top.sort_unstable();
                top
            }
        }
    }
}

fn check(attributions: &[f64], features: usize, predicted: &[usize]) -> Result<usize> {
    let n = predicted.len();
    if n < 2 {
        return Err(XaiError::EmptyBatch(
            "consistency and sufficiency compare inputs: give at least two".into(),
        ));
    }
    if features == 0 || attributions.len() != n * features {
        return Err(XaiError::shape(
            "attributions",
            format!("{n} × {features}"),
            &[attributions.len()],
        ));
    }
    if attributions.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("attributions".into()));
    }
    Ok(n)
}

/// Consistency of every input (see the module docs).
pub fn consistency(
    attributions: &[f64],
    features: usize,
    predicted: &[usize],
    discretiser: Discretiser,
) -> Result<Vec<f64>> {
    let n = check(attributions, features, predicted)?;
    let labels: Vec<Vec<usize>> = attributions
        .chunks(features)
        .map(|r| discretiser.label(r))
        .collect();
    Ok((0..n)
        .map(|i| {
            let same: Vec<usize> = (0..n)
                .filter(|&j| j != i && labels[j] == labels[i])
                .collect();
            let agree = same
                .iter()
                .filter(|&&j| predicted[j] == predicted[i])
                .count();
            agree as f64 / (same.len() as f64 + 1e-9)
        })
        .collect())
}

/// Sufficiency of every input at distance `threshold` (see the module docs).
pub fn sufficiency(
    attributions: &[f64],
    features: usize,
    predicted: &[usize],
    threshold: f64,
) -> Result<Vec<f64>> {
    let n = check(attributions, features, predicted)?;
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(XaiError::Config(format!(
            "sufficiency needs a distance threshold ≥ 0, got {threshold}"
        )));
    }
    let a: Vec<f64> = attributions.iter().map(|v| v.abs()).collect();
    // Per-feature variance of the set stacked on itself (2n rows, ddof = 1), as cdist(A, A).
    let var: Vec<f64> = (0..features)
        .map(|k| {
            let mean = (0..n).map(|i| a[i * features + k]).sum::<f64>() / n as f64;
            let ss: f64 = (0..n).map(|i| (a[i * features + k] - mean).powi(2)).sum();
            2.0 * ss / (2 * n - 1) as f64
        })
        .collect();
    if let Some(k) = var.iter().position(|&v| v == 0.0) {
        return Err(XaiError::Config(format!(
            "sufficiency: feature {k} has the same |attribution| on every input, so the \
             standardised distance is undefined"
        )));
    }
    let mut dist = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            dist[i * n + j] = (0..features)
                .map(|k| (a[i * features + k] - a[j * features + k]).powi(2) / var[k])
                .sum::<f64>()
                .sqrt();
        }
    }
    let max = dist.iter().cloned().fold(0.0, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    Ok((0..n)
        .map(|i| {
            let near: Vec<usize> = (0..n)
                .filter(|&j| j != i && dist[i * n + j] / scale <= threshold)
                .collect();
            if near.is_empty() {
                return 0.0;
            }
            near.iter()
                .filter(|&&j| predicted[j] == predicted[i])
                .count() as f64
                / near.len() as f64
        })
        .collect())
}
