//! Complexity of an explanation: how concentrated its mass is.
//!
//! - **Sparseness** (Chalasani et al., 2020): the Gini index of `|φ|` sorted ascending,
//!   `G = Σᵢ (2i − F − 1) |φ|₍ᵢ₎ / (F Σ|φ|)`, in `[0, 1)`; 0 when every feature has the same
//!   mass, `(F−1)/F` when one feature has all of it. Higher = sparser = easier to read.
//! - **Complexity** (Bhatt et al., 2020): the entropy (nats) of the fractional contributions
//!   `pᵢ = |φᵢ| / Σ|φ|`, `H = −Σ pᵢ ln pᵢ` (with `0 ln 0 = 0`), in `[0, ln F]`. Lower = simpler.
//! - **Effective complexity** (Nguyen & Martínez, 2020): how many features carry more than a
//!   fraction `ε` of the largest mass, `#{i : |φᵢ| / max|φ| > ε}` (Quantus's defaults: absolute
//!   values, max-normalised, `ε = 10⁻⁵`). Lower = simpler.
//!
//! Both are invariant to scaling `φ`, so Quantus's default max-normalisation does not change
//! them (Quantus adds `1e-7` to every `|φᵢ|` before the Gini index and `1e-12` inside the log; the
//! reference test records the difference). An all-zero attribution has no distribution of mass:
//! it is an error, not a NaN.
//!
//! ```
//! use xai_core::metrics::complexity::{complexity, sparseness};
//! let one_hot = [0.0, 0.0, 5.0, 0.0];
//! assert!((sparseness(&one_hot).unwrap() - 0.75).abs() < 1e-12);
//! assert!(complexity(&one_hot).unwrap().abs() < 1e-12);
//! let flat = [1.0, -1.0, 1.0, -1.0];
//! assert!(sparseness(&flat).unwrap().abs() < 1e-12);
//! assert!((complexity(&flat).unwrap() - 4f64.ln()).abs() < 1e-12);
//! ```

use crate::error::{Result, XaiError};

fn masses(attribution: &[f64]) -> Result<(Vec<f64>, f64)> {
    if attribution.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("attribution".into()));
    }
    let m: Vec<f64> = attribution.iter().map(|v| v.abs()).collect();
    let total: f64 = m.iter().sum();
    if total <= 0.0 {
        return Err(XaiError::Numerical(
            "an all-zero attribution has no sparseness or complexity".into(),
        ));
    }
    Ok((m, total))
}

/// The Gini index of `|φ|` (see the module docs).
pub fn sparseness(attribution: &[f64]) -> Result<f64> {
    let (mut m, total) = masses(attribution)?;
    m.sort_by(f64::total_cmp);
    let f = m.len() as f64;
    let weighted: f64 = m
        .iter()
        .enumerate()
        .map(|(i, v)| (2.0 * (i + 1) as f64 - f - 1.0) * v)
        .sum();
    Ok(weighted / (f * total))
}

/// The entropy (nats) of `|φ| / Σ|φ|` (see the module docs).
pub fn complexity(attribution: &[f64]) -> Result<f64> {
    let (m, total) = masses(attribution)?;
    Ok(-m
        .iter()
        .map(|v| v / total)
        .filter(|p| *p > 0.0)
        .map(|p| p * p.ln())
        .sum::<f64>())
}

/// The number of features whose `|φᵢ| / max|φ|` exceeds `eps` (see the module docs).
pub fn effective_complexity(attribution: &[f64], eps: f64) -> Result<usize> {
    if !(0.0..1.0).contains(&eps) {
        return Err(XaiError::Config(format!(
            "effective complexity needs 0 ≤ ε < 1, got {eps}"
        )));
    }
    let (m, _) = masses(attribution)?;
    let max = m.iter().copied().fold(0.0, f64::max);
    Ok(m.iter().filter(|v| *v / max > eps).count())
}

/// [`sparseness`] and [`complexity`] of every row of `n × F` attributions.
pub fn per_row(attributions: &[f64], features: usize) -> Result<Vec<(f64, f64)>> {
    if features == 0 || !attributions.len().is_multiple_of(features) || attributions.is_empty() {
        return Err(XaiError::shape(
            "attributions",
            format!("a non-empty multiple of {features} values"),
            &[attributions.len()],
        ));
    }
    attributions
        .chunks(features)
        .map(|row| Ok((sparseness(row)?, complexity(row)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_matches_the_pairwise_definition() {
        // G = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 F Σ x).
        let x = [0.3, -2.0, 0.0, 1.5, 0.7, -0.1];
        let m: Vec<f64> = x.iter().map(|v: &f64| v.abs()).collect();
        let f = m.len() as f64;
        let pair: f64 = m
            .iter()
            .flat_map(|a| m.iter().map(move |b| (a - b).abs()))
            .sum();
        let g = pair / (2.0 * f * m.iter().sum::<f64>());
        assert!((sparseness(&x).unwrap() - g).abs() < 1e-12);
    }

    #[test]
    fn zero_and_non_finite_are_errors() {
        assert!(sparseness(&[0.0, 0.0]).is_err());
        assert!(complexity(&[f64::NAN, 1.0]).is_err());
        assert!(per_row(&[1.0, 2.0, 3.0], 2).is_err());
    }
}
