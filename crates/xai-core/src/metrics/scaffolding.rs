//! The scaffolding attack of Slack et al. (2020), "Fooling LIME and SHAP": perturbation-based
//! explainers query the model far from the data, so a model can behave one way on real inputs and
//! another way on the perturbations, and the explanation describes only the second.
//!
//! [`Scaffold`] routes each row through an out-of-distribution detector: rows that look real go to
//! the **biased** model (the one actually used on people), rows that look like perturbations go
//! to an **innocuous** one. LIME's Gaussian samples and KernelSHAP's coalitions (an input mixed
//! with a background row) are mostly off the data manifold, so their explanations attribute the
//! decision to the innocuous model's feature while every real prediction uses the sensitive one.
//!
//! The detector here is a one-class nearest-neighbour rule ([`OodDetector`]): a row is real when
//! its distance to the nearest real training row is within the `q`-quantile of the real rows'
//! leave-one-out nearest-neighbour distances. (Slack et al. train a random forest on real vs
//! perturbed rows; the nearest-neighbour rule needs no knowledge of the explainer's sampler, so
//! the same scaffold fools both LIME and SHAP.) [`top_k_rate`] measures how often a feature
//! appears among an explanation's top-k — the attack's success is that rate falling for the
//! sensitive feature. Used by the tests as a fragility check: it is an attack, shipped so users
//! can see why a perturbation explanation alone is no audit.
//!
//! ```
//! use xai_core::agnostic::{FnModel, Rows};
//! use xai_core::metrics::scaffolding::{OodDetector, Scaffold};
//! let real: Vec<f64> = (0..40).flat_map(|i| [i as f64 * 0.1, i as f64 * 0.1]).collect();
//! let det = OodDetector::fit(&Rows::new(&real, 2).unwrap(), 1.0).unwrap();
//! assert!(det.is_real(&[1.0, 1.0]));
//! assert!(!det.is_real(&[3.0, -3.0])); // off the diagonal the data lives on
//! let biased = FnModel::new(2, |r: &[f64], n| (0..n).map(|i| r[2 * i]).collect());
//! let innocuous = FnModel::new(2, |_: &[f64], n| vec![0.0; n]);
//! let s = Scaffold::new(&biased, &innocuous, det);
//! use xai_core::agnostic::BlackBox;
//! assert_eq!(s.predict(&[1.0, 1.0, 3.0, -3.0], 2).unwrap(), vec![1.0, 0.0]);
//! ```

use crate::agnostic::{BlackBox, Rows};
use crate::error::{Result, XaiError};

/// A one-class nearest-neighbour detector of off-manifold rows.
#[derive(Clone, Debug)]
pub struct OodDetector {
    real: Vec<f64>,
    features: usize,
    /// Rows farther than this from every real row are out of distribution.
    pub threshold: f64,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

impl OodDetector {
    /// Fit on real rows: the threshold is the `quantile` (in `(0, 1]`) of their leave-one-out
    /// nearest-neighbour distances.
    pub fn fit(real: &Rows, quantile: f64) -> Result<Self> {
        if real.n < 2 || !(quantile > 0.0 && quantile <= 1.0) {
            return Err(XaiError::Config(format!(
                "the detector needs at least 2 real rows and a quantile in (0, 1], got {} and {quantile}",
                real.n
            )));
        }
        let mut d: Vec<f64> = (0..real.n)
            .map(|i| {
                (0..real.n)
                    .filter(|&j| j != i)
                    .map(|j| sq_dist(real.row(i), real.row(j)))
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            })
            .collect();
        d.sort_by(f64::total_cmp);
        let idx = ((quantile * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1;
        Ok(OodDetector {
            real: real.data.to_vec(),
            features: real.f,
            threshold: d[idx],
        })
    }

    /// Distance from `row` to the nearest real row.
    pub fn distance(&self, row: &[f64]) -> f64 {
        self.real
            .chunks(self.features)
            .map(|r| sq_dist(r, row))
            .fold(f64::INFINITY, f64::min)
            .sqrt()
    }

    /// Whether `row` looks like real data.
    pub fn is_real(&self, row: &[f64]) -> bool {
        self.distance(row) <= self.threshold
    }
}

/// A model that answers with `biased` on real-looking rows and `innocuous` on the rest.
pub struct Scaffold<'m, B: ?Sized, I: ?Sized> {
    biased: &'m B,
    innocuous: &'m I,
    detector: OodDetector,
}

impl<'m, B: BlackBox + ?Sized, I: BlackBox + ?Sized> Scaffold<'m, B, I> {
    /// Build the scaffold (both models must take the detector's features).
    pub fn new(biased: &'m B, innocuous: &'m I, detector: OodDetector) -> Self {
        Scaffold {
            biased,
            innocuous,
            detector,
        }
    }

    /// The fraction of `rows` that the biased model answers (the ones that look real).
    pub fn real_fraction(&self, rows: &Rows) -> f64 {
        (0..rows.n)
            .filter(|&i| self.detector.is_real(rows.row(i)))
            .count() as f64
            / rows.n.max(1) as f64
    }
}

impl<B: BlackBox + ?Sized, I: BlackBox + ?Sized> BlackBox for Scaffold<'_, B, I> {
    fn features(&self) -> usize {
        self.detector.features
    }

    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        let f = self.detector.features;
        if self.biased.features() != f || self.innocuous.features() != f || rows.len() != n * f {
            return Err(XaiError::shape(
                "scaffolded rows",
                format!("{n}·{f} values, both models on {f} features"),
                &[rows.len()],
            ));
        }
        let b = self.biased.predict(rows, n)?;
        let i = self.innocuous.predict(rows, n)?;
        if b.len() != i.len() || n == 0 || !b.len().is_multiple_of(n) {
            return Err(XaiError::shape(
                "scaffolded outputs",
                "the same number of outputs from both models",
                &[b.len(), i.len()],
            ));
        }
        let k = b.len() / n;
        let mut out = Vec::with_capacity(b.len());
        for r in 0..n {
            let src = if self.detector.is_real(&rows[r * f..(r + 1) * f]) {
                &b
            } else {
                &i
            };
            out.extend_from_slice(&src[r * k..(r + 1) * k]);
        }
        Ok(out)
    }
}

/// The fraction of rows of `n × F` attributions in which `feature` is among the `k` largest
/// `|φ|` (ties broken by feature index).
pub fn top_k_rate(attributions: &[f64], features: usize, feature: usize, k: usize) -> Result<f64> {
    if features == 0 || feature >= features || attributions.is_empty() {
        return Err(XaiError::Config(format!(
            "feature {feature} out of range for {features} features (or no attributions)"
        )));
    }
    let rows = attributions.chunks(features);
    let n = rows.len() as f64;
    let hits = rows
        .filter(|row| {
            let mine = row[feature].abs();
            let above = row
                .iter()
                .enumerate()
                .filter(|(j, v)| v.abs() > mine || (v.abs() == mine && *j < feature))
                .count();
            above < k
        })
        .count();
    Ok(hits as f64 / n)
}
