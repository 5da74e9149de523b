//! RegimeMix: tabular regression whose linear rule depends on a hidden regime
//! (research/proto.md, benchmark D; the setting of interpretable mixtures of experts).
//!
//! - `x ~ U[−1, 1]^d` with `d = 6`.
//! - The regime is the quadrant of `(x₀, x₁)` (4 regimes, balanced by construction):
//!   0 `x₀ ≥ 0, x₁ ≥ 0`; 1 `x₀ < 0, x₁ ≥ 0`; 2 `x₀ < 0, x₁ < 0`; 3 `x₀ ≥ 0, x₁ < 0`.
//! - `y = w_r · x + b_r + ε`, `ε ~ N(0, noise²)`, with a fixed weight vector per regime
//!   ([`RegimeMix::weights`], drawn once from the seed, unit norm); a single linear model cannot
//!   fit all regimes, a router that recovers the quadrant plus one linear expert each can.
//!
//! ```
//! use xai_proto::data::regime_mix::RegimeMix;
//! let d = RegimeMix::generate(100, 0.05, 0);
//! assert_eq!(d.x.len(), 100 * d.features);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Number of regimes.
pub const REGIMES: usize = 4;
/// Number of features.
pub const FEATURES: usize = 6;

/// A generated RegimeMix set.
#[derive(Clone, Debug)]
pub struct RegimeMix {
    /// Features `[n, d]`, row-major.
    pub x: Vec<f32>,
    /// Targets `[n]`.
    pub y: Vec<f32>,
    /// Hidden regime of each row.
    pub regime: Vec<usize>,
    /// Features per row.
    pub features: usize,
    /// True weights `[regimes][d]` of each regime's rule.
    pub weights: Vec<Vec<f64>>,
    /// True intercept of each regime.
    pub bias: Vec<f64>,
}

/// The regime of a row.
pub fn regime_of(x0: f32, x1: f32) -> usize {
    match (x0 >= 0.0, x1 >= 0.0) {
        (true, true) => 0,
        (false, true) => 1,
        (false, false) => 2,
        (true, false) => 3,
    }
}

/// The fixed rules: drawn from a stream that depends only on the number of regimes, so train
/// and test sets drawn with different seeds share them.
pub fn rules() -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(0x5245_4749_4d45);
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let mut weights = Vec::new();
    let mut bias = Vec::new();
    for _ in 0..REGIMES {
        let w: Vec<f64> = (0..FEATURES).map(|_| normal.sample(&mut rng)).collect();
        let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        weights.push(w.iter().map(|v| 2.0 * v / norm).collect());
        bias.push(rng.random_range(-1.0..1.0));
    }
    (weights, bias)
}

impl RegimeMix {
    /// `n` rows with noise standard deviation `noise`, from `seed`.
    pub fn generate(n: usize, noise: f64, seed: u64) -> RegimeMix {
        let (weights, bias) = rules();
        let mut rng = StdRng::seed_from_u64(seed);
        let eps = Normal::new(0.0, noise.max(0.0)).expect("finite noise");
        let mut x = Vec::with_capacity(n * FEATURES);
        let mut y = Vec::with_capacity(n);
        let mut regime = Vec::with_capacity(n);
        for _ in 0..n {
            let row: Vec<f32> = (0..FEATURES)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect();
            let r = regime_of(row[0], row[1]);
            let v: f64 = weights[r]
                .iter()
                .zip(&row)
                .map(|(w, &v)| w * v as f64)
                .sum::<f64>()
                + bias[r]
                + eps.sample(&mut rng);
            x.extend_from_slice(&row);
            y.push(v as f32);
            regime.push(r);
        }
        RegimeMix {
            x,
            y,
            regime,
            features: FEATURES,
            weights,
            bias,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regimes_are_balanced_and_rules_shared_across_seeds() {
        let a = RegimeMix::generate(4000, 0.0, 1);
        let b = RegimeMix::generate(10, 0.0, 2);
        assert_eq!(a.weights, b.weights);
        let mut counts = [0usize; REGIMES];
        for &r in &a.regime {
            counts[r] += 1;
        }
        assert!(
            counts.iter().all(|&c| (c as f64 - 1000.0).abs() < 120.0),
            "{counts:?}"
        );
        // noiseless targets follow the regime's rule exactly
        let i = 7;
        let r = a.regime[i];
        let v: f64 = (0..FEATURES)
            .map(|j| a.weights[r][j] * a.x[i * FEATURES + j] as f64)
            .sum::<f64>()
            + a.bias[r];
        assert!((v - a.y[i] as f64).abs() < 1e-5);
    }
}
