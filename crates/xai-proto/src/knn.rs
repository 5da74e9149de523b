//! Deep k-nearest neighbours (Papernot & McDaniel 2018): per-layer nearest training neighbours
//! in representation space, conformal credibility, and a kNN classifier whose neighbours are the
//! explanation.
//!
//! - Representations of every training input are stored per layer, mean-centred and
//!   L2-normalised (cosine geometry, as the reference implementation's LSH index uses); the
//!   search is exact (brute force).
//! - Nonconformity of input `x` for label `j`: `α(x, j) = Σ_layers #{k neighbours with label ≠ j}`.
//! - Calibration on held-out inputs with their true labels gives the scores `A`;
//!   `p_j(x) = |{α ∈ A : α ≥ α(x, j)}| / |A|`.
//! - Prediction `argmax_j p_j`, **credibility** `max_j p_j`, **confidence** `1 −` the second
//!   largest `p_j`. Low credibility flags inputs unlike the training data.
//!
//! ```
//! use xai_proto::knn::DeepKnn;
//! let train = vec![vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![-1.0, 0.0], vec![-0.9, -0.1]]];
//! let mut knn = DeepKnn::fit(train, vec![0, 0, 1, 1], 2, 1).unwrap();
//! knn.calibrate(&[vec![vec![1.0, 0.05]], vec![vec![-1.0, 0.05]]], &[0, 1]).unwrap();
//! let p = knn.predict(&[vec![0.95, 0.0]]).unwrap();
//! assert_eq!(p.class, 0);
//! ```

use serde::Serialize;
use xai_core::{Result, XaiError};

/// A fitted deep kNN.
#[derive(Clone, Debug)]
pub struct DeepKnn {
    /// Per layer: the normalised training representations and the layer's mean.
    layers: Vec<(Vec<Vec<f64>>, Vec<f64>)>,
    labels: Vec<usize>,
    classes: usize,
    k: usize,
    calibration: Vec<f64>,
}

/// A prediction with its neighbours.
#[derive(Clone, Debug, Serialize)]
pub struct KnnPrediction {
    /// Predicted class.
    pub class: usize,
    /// Conformal p-value of each class.
    pub p_values: Vec<f64>,
    /// Largest p-value.
    pub credibility: f64,
    /// One minus the second largest p-value.
    pub confidence: f64,
    /// The k nearest training indices per layer, nearest first.
    pub neighbours: Vec<Vec<usize>>,
}

fn normalise(v: &[f64], mean: &[f64]) -> Vec<f64> {
    let c: Vec<f64> = v.iter().zip(mean).map(|(a, m)| a - m).collect();
    let n = c.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n > 0.0 {
        c.iter().map(|x| x / n).collect()
    } else {
        c
    }
}

impl DeepKnn {
    /// Store `layers[l][i]` (layer `l`'s representation of training input `i`) with `labels`.
    pub fn fit(
        layers: Vec<Vec<Vec<f64>>>,
        labels: Vec<usize>,
        classes: usize,
        k: usize,
    ) -> Result<DeepKnn> {
        if layers.is_empty() || labels.is_empty() || k == 0 || k > labels.len() {
            return Err(XaiError::Config(format!(
                "deep kNN needs ≥ 1 layer, ≥ 1 training input and 1 ≤ k ≤ {}",
                labels.len()
            )));
        }
        if labels.iter().any(|&y| y >= classes) {
            return Err(XaiError::Config(format!("a label is ≥ {classes} classes")));
        }
        let mut stored = Vec::new();
        for reps in layers {
            if reps.len() != labels.len() {
                return Err(XaiError::shape(
                    "layer representations",
                    format!("{} rows", labels.len()),
                    &[reps.len()],
                ));
            }
            let d = reps[0].len();
            let mut mean = vec![0.0; d];
            for r in &reps {
                for (m, v) in mean.iter_mut().zip(r) {
                    *m += v / labels.len() as f64;
                }
            }
            let normed = reps.iter().map(|r| normalise(r, &mean)).collect();
            stored.push((normed, mean));
        }
        Ok(DeepKnn {
            layers: stored,
            labels,
            classes,
            k,
            calibration: Vec::new(),
        })
    }

    /// The `k` nearest training indices of `rep` at layer `l`.
    pub fn neighbours(&self, l: usize, rep: &[f64]) -> Result<Vec<usize>> {
        let (train, mean) = self
            .layers
            .get(l)
            .ok_or_else(|| XaiError::Config(format!("no layer {l}")))?;
        if rep.len() != mean.len() {
            return Err(XaiError::shape(
                "representation",
                format!("{}", mean.len()),
                &[rep.len()],
            ));
        }
        let q = normalise(rep, mean);
        let mut sims: Vec<(f64, usize)> = train
            .iter()
            .enumerate()
            .map(|(i, t)| (t.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>(), i))
            .collect();
        sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(sims.into_iter().take(self.k).map(|(_, i)| i).collect())
    }

    /// Neighbours per layer and the nonconformity of every class.
    fn alphas(&self, reps: &[Vec<f64>]) -> Result<(Vec<Vec<usize>>, Vec<f64>)> {
        if reps.len() != self.layers.len() {
            return Err(XaiError::shape(
                "layers",
                format!("{}", self.layers.len()),
                &[reps.len()],
            ));
        }
        let neighbours: Vec<Vec<usize>> = reps
            .iter()
            .enumerate()
            .map(|(l, r)| self.neighbours(l, r))
            .collect::<Result<_>>()?;
        let alphas = (0..self.classes)
            .map(|j| {
                neighbours
                    .iter()
                    .flatten()
                    .filter(|&&i| self.labels[i] != j)
                    .count() as f64
            })
            .collect();
        Ok((neighbours, alphas))
    }

    /// Calibrate on held-out inputs: `reps[i]` holds input `i`'s representation per layer.
    pub fn calibrate(&mut self, reps: &[Vec<Vec<f64>>], labels: &[usize]) -> Result<()> {
        if reps.is_empty() || reps.len() != labels.len() {
            return Err(XaiError::EmptyBatch(
                "deep kNN calibration needs labelled inputs".into(),
            ));
        }
        let mut cal = Vec::with_capacity(reps.len());
        for (r, &y) in reps.iter().zip(labels) {
            let (_, a) = self.alphas(r)?;
            cal.push(*a.get(y).ok_or(XaiError::TargetOutOfRange {
                index: y,
                classes: self.classes,
            })?);
        }
        self.calibration = cal;
        Ok(())
    }

    /// Predict one input from its per-layer representations.
    pub fn predict(&self, reps: &[Vec<f64>]) -> Result<KnnPrediction> {
        if self.calibration.is_empty() {
            return Err(XaiError::Config(
                "deep kNN is not calibrated (call calibrate first)".into(),
            ));
        }
        let (neighbours, alphas) = self.alphas(reps)?;
        let m = self.calibration.len() as f64;
        let p_values: Vec<f64> = alphas
            .iter()
            .map(|&a| self.calibration.iter().filter(|&&c| c >= a).count() as f64 / m)
            .collect();
        let mut order: Vec<usize> = (0..self.classes).collect();
        order.sort_by(|&a, &b| p_values[b].total_cmp(&p_values[a]).then(a.cmp(&b)));
        Ok(KnnPrediction {
            class: order[0],
            credibility: p_values[order[0]],
            confidence: 1.0 - order.get(1).map_or(0.0, |&j| p_values[j]),
            p_values,
            neighbours,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credibility_is_low_far_from_the_training_data() {
        // two clusters on a circle; an input pointing elsewhere gets mixed neighbours
        let mut reps = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let t = (i % 20) as f64 * 0.01;
            if i < 20 {
                reps.push(vec![1.0, t]);
                labels.push(0);
            } else {
                reps.push(vec![-1.0, t]);
                labels.push(1);
            }
        }
        let mut knn = DeepKnn::fit(vec![reps.clone()], labels.clone(), 2, 5).unwrap();
        knn.calibrate(
            &reps.iter().map(|r| vec![r.clone()]).collect::<Vec<_>>(),
            &labels,
        )
        .unwrap();
        let inside = knn.predict(&[vec![1.0, 0.05]]).unwrap();
        let between = knn.predict(&[vec![0.0, 1.0]]).unwrap();
        assert_eq!(inside.class, 0);
        assert!(
            inside.credibility > between.credibility,
            "{inside:?} {between:?}"
        );
    }
}
