//! Trust scores (Jiang, Kim, Guan & Gupta, *To trust or not to trust a classifier*, NeurIPS
//! 2018): how much to believe one prediction, from the training data alone.
//!
//! For each class `c`, the training points of `c` are thinned to a high-density set `H_c`: the
//! fraction `α` of them whose distance to their `k`-th nearest neighbour of the same class is
//! largest is dropped. The trust score of a prediction `ŷ` at `x` is
//!
//! `T(x) = d(x, H_c̃) / d(x, H_ŷ)`, with `c̃ = argmin_{c ≠ ŷ} d(x, H_c)`,
//!
//! the distance to the closest other class over the distance to the predicted class (Euclidean,
//! to the nearest point of each set). `T > 1`: the prediction agrees with the nearest dense
//! region of the data; `T < 1`: another class is closer — a prediction to doubt. The score uses
//! the features it is given (inputs, or a model's embedding of them).
//!
//! ```
//! use xai_core::agnostic::trust_score::{TrustScore, TrustScoreConfig};
//! let train = vec![vec![0.0, 0.0], vec![0.1, 0.0], vec![5.0, 5.0], vec![5.1, 5.0]];
//! let labels = vec![0, 0, 1, 1];
//! let ts = TrustScore::fit(&train, &labels, &TrustScoreConfig { alpha: 0.0, k: 1 }).unwrap();
//! let s = ts.score(&[vec![0.2, 0.1], vec![0.2, 0.1]], &[0, 1]).unwrap();
//! assert!(s[0] > 10.0 && s[1] < 0.1); // right about class 0, wrong about class 1
//! ```

use crate::error::{Result, XaiError};

/// Settings of the high-density filter.
#[derive(Clone, Debug)]
pub struct TrustScoreConfig {
    /// Fraction of each class's training points dropped as low-density (`0 ≤ α < 1`).
    pub alpha: f64,
    /// Neighbour whose distance measures density.
    pub k: usize,
}

impl Default for TrustScoreConfig {
    fn default() -> Self {
        TrustScoreConfig { alpha: 0.1, k: 10 }
    }
}

/// The high-density sets of the training data, per class.
#[derive(Clone, Debug)]
pub struct TrustScore {
    /// `H_c`: the kept training points of each class.
    pub sets: Vec<Vec<Vec<f64>>>,
    features: usize,
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl TrustScore {
    /// Build the high-density set of every class from training rows and labels `0..C`.
    pub fn fit(train: &[Vec<f64>], labels: &[usize], cfg: &TrustScoreConfig) -> Result<TrustScore> {
        let f = train.first().map_or(0, Vec::len);
        if train.is_empty() || labels.len() != train.len() || f == 0 {
            return Err(XaiError::Config(format!(
                "trust score: {} training rows and {} labels (the same, at least one)",
                train.len(),
                labels.len()
            )));
        }
        if train
            .iter()
            .any(|r| r.len() != f || r.iter().any(|v| !v.is_finite()))
        {
            return Err(XaiError::Config(format!(
                "trust score: every training row needs {f} finite values"
            )));
        }
        if !(0.0..1.0).contains(&cfg.alpha) || cfg.k == 0 {
            return Err(XaiError::Config(format!(
                "trust score: α = {} (0 ≤ α < 1), k = {} (≥ 1)",
                cfg.alpha, cfg.k
            )));
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        let mut sets = Vec::with_capacity(classes);
        for c in 0..classes {
            let pts: Vec<&Vec<f64>> = train
                .iter()
                .zip(labels)
                .filter(|&(_, &l)| l == c)
                .map(|(r, _)| r)
                .collect();
            if pts.is_empty() {
                return Err(XaiError::Config(format!(
                    "trust score: class {c} has no training rows"
                )));
            }
            // distance to the k-th nearest other point of the class (the farthest when fewer)
            let radius: Vec<f64> = pts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut d: Vec<f64> = pts
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, q)| dist2(p, q))
                        .collect();
                    d.sort_by(f64::total_cmp);
                    d.get(cfg.k.min(d.len()).saturating_sub(1))
                        .copied()
                        .unwrap_or(0.0)
                })
                .collect();
            let keep = pts.len() - (cfg.alpha * pts.len() as f64).floor() as usize;
            let mut order: Vec<usize> = (0..pts.len()).collect();
            order.sort_by(|&a, &b| radius[a].total_cmp(&radius[b]).then(a.cmp(&b)));
            sets.push(
                order[..keep.max(1)]
                    .iter()
                    .map(|&i| pts[i].clone())
                    .collect(),
            );
        }
        if sets.len() < 2 {
            return Err(XaiError::Config(
                "trust score: the labels have one class only".into(),
            ));
        }
        Ok(TrustScore { sets, features: f })
    }

    /// Distance from `x` to the nearest point of class `c`'s set.
    pub fn distance(&self, x: &[f64], c: usize) -> f64 {
        self.sets[c]
            .iter()
            .map(|p| dist2(x, p))
            .fold(f64::INFINITY, f64::min)
            .sqrt()
    }

    /// Trust scores of predictions `predicted` at rows `x`.
    pub fn score(&self, x: &[Vec<f64>], predicted: &[usize]) -> Result<Vec<f64>> {
        if x.len() != predicted.len() {
            return Err(XaiError::shape(
                "trust score predictions",
                format!("{} entries", x.len()),
                &[predicted.len()],
            ));
        }
        x.iter()
            .zip(predicted)
            .map(|(row, &c)| {
                if row.len() != self.features || row.iter().any(|v| !v.is_finite()) {
                    return Err(XaiError::Config(format!(
                        "trust score: rows need {} finite values",
                        self.features
                    )));
                }
                if c >= self.sets.len() {
                    return Err(XaiError::TargetOutOfRange {
                        index: c,
                        classes: self.sets.len(),
                    });
                }
                let own = self.distance(row, c);
                let other = (0..self.sets.len())
                    .filter(|&k| k != c)
                    .map(|k| self.distance(row, k))
                    .fold(f64::INFINITY, f64::min);
                Ok(other / own.max(1e-300))
            })
            .collect()
    }
}
