//! Disagreement between explainers (Krishna et al., 2022, "The Disagreement Problem in
//! Explainable Machine Learning").
//!
//! For two attributions `a`, `b` of the same input and `k` features, with `top_k(·)` the `k`
//! features of largest `|φ|` in rank order (ties broken by feature index):
//!
//! - feature agreement `|top_k(a) ∩ top_k(b)| / k`;
//! - rank agreement: the fraction of the `k` ranks holding the same feature in both;
//! - sign agreement: common top-k features whose signs also agree, over `k`;
//! - signed rank agreement: same feature at the same rank with the same sign, over `k`;
//! - rank correlation: Spearman correlation of `|a|` and `|b|` over all features;
//! - pairwise rank agreement: over all pairs of features of `top_k(a) ∪ top_k(b)`, the fraction
//!   whose relative order (by `|φ|`) is the same in both.
//!
//! All are in `[0, 1]` except the rank correlation (`[−1, 1]`); 1 = complete agreement.
//! [`disagreement_matrix`] averages each metric over inputs for every pair of a set of
//! explainers.
//!
//! ```
//! use xai_core::metrics::disagreement::agreement;
//! let a = [0.9, -0.5, 0.1, 0.0];
//! let b = [0.8, 0.4, 0.0, 0.2];
//! let m = agreement(&a, &b, 2).unwrap();
//! assert_eq!(m.feature, 1.0); // both top-2 sets are {0, 1}
//! assert_eq!(m.rank, 1.0);
//! assert_eq!(m.sign, 0.5); // feature 1 has opposite signs
//! assert_eq!(m.signed_rank, 0.5);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Result, XaiError};
use crate::metrics::similarity::spearman;

/// Every agreement metric for one pair of attributions of one input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Feature agreement at `k`.
    pub feature: f64,
    /// Rank agreement at `k`.
    pub rank: f64,
    /// Sign agreement at `k`.
    pub sign: f64,
    /// Signed rank agreement at `k`.
    pub signed_rank: f64,
    /// Spearman correlation of `|a|` and `|b|` over all features.
    pub rank_correlation: f64,
    /// Pairwise rank agreement over the union of the two top-k sets.
    pub pairwise_rank: f64,
}

fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[j].abs().total_cmp(&v[i].abs()).then(i.cmp(&j)));
    idx.truncate(k);
    idx
}

/// The agreement of `a` and `b` (same length) at `k` (see the module docs).
pub fn agreement(a: &[f64], b: &[f64], k: usize) -> Result<Agreement> {
    if a.len() != b.len() || a.is_empty() {
        return Err(XaiError::shape(
            "attributions compared",
            "two non-empty rows of equal length",
            &[a.len(), b.len()],
        ));
    }
    if k == 0 || k > a.len() {
        return Err(XaiError::Config(format!(
            "top-k agreement needs 1 ≤ k ≤ {} features, got k = {k}",
            a.len()
        )));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("attributions compared".into()));
    }
    let (ta, tb) = (top_k(a, k), top_k(b, k));
    let kf = k as f64;
    let common: Vec<usize> = ta.iter().copied().filter(|f| tb.contains(f)).collect();
    let same_sign = |f: usize| a[f].signum() == b[f].signum();
    let feature = common.len() as f64 / kf;
    let sign = common.iter().filter(|&&f| same_sign(f)).count() as f64 / kf;
    let rank = ta.iter().zip(&tb).filter(|(x, y)| x == y).count() as f64 / kf;
    let signed_rank = ta
        .iter()
        .zip(&tb)
        .filter(|(x, y)| x == y && same_sign(**x))
        .count() as f64
        / kf;
    let mut union = ta.clone();
    union.extend(tb.iter().filter(|f| !ta.contains(f)));
    let (mut agree, mut pairs) = (0usize, 0usize);
    for (i, &f) in union.iter().enumerate() {
        for &g in &union[i + 1..] {
            pairs += 1;
            let oa = a[f].abs().total_cmp(&a[g].abs());
            let ob = b[f].abs().total_cmp(&b[g].abs());
            agree += usize::from(oa == ob);
        }
    }
    let abs_a: Vec<f64> = a.iter().map(|v| v.abs()).collect();
    let abs_b: Vec<f64> = b.iter().map(|v| v.abs()).collect();
    Ok(Agreement {
        feature,
        rank,
        sign,
        signed_rank,
        rank_correlation: spearman(&abs_a, &abs_b),
        pairwise_rank: if pairs == 0 {
            1.0
        } else {
            agree as f64 / pairs as f64
        },
    })
}

/// The mean [`Agreement`] over `n` inputs of two `n × F` attributions.
pub fn mean_agreement(a: &[f64], b: &[f64], features: usize, k: usize) -> Result<Agreement> {
    if features == 0 || a.len() != b.len() || a.is_empty() || !a.len().is_multiple_of(features) {
        return Err(XaiError::shape(
            "attributions compared",
            format!("two equal non-empty multiples of {features} values"),
            &[a.len(), b.len()],
        ));
    }
    let n = (a.len() / features) as f64;
    let mut m = Agreement::default();
    for (ra, rb) in a.chunks(features).zip(b.chunks(features)) {
        let g = agreement(ra, rb, k)?;
        m.feature += g.feature / n;
        m.rank += g.rank / n;
        m.sign += g.sign / n;
        m.signed_rank += g.signed_rank / n;
        m.rank_correlation += g.rank_correlation / n;
        m.pairwise_rank += g.pairwise_rank / n;
    }
    Ok(m)
}

/// Pairwise mean agreement of several explainers' attributions of the same `n` inputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DisagreementMatrix {
    /// Explainer names, in matrix order.
    pub names: Vec<String>,
    /// `k` of the top-k metrics.
    pub k: usize,
    /// `matrix[i][j]`: mean agreement of explainers `i` and `j` (symmetric, 1 on the diagonal).
    pub matrix: Vec<Vec<Agreement>>,
}

/// Compare every pair of `explanations` (name, `n × F` row-major values) at `k`.
pub fn disagreement_matrix(
    explanations: &[(&str, &[f64])],
    features: usize,
    k: usize,
) -> Result<DisagreementMatrix> {
    let m = explanations.len();
    let mut matrix = vec![vec![Agreement::default(); m]; m];
    for i in 0..m {
        for j in i..m {
            let g = mean_agreement(explanations[i].1, explanations[j].1, features, k)?;
            matrix[i][j] = g;
            matrix[j][i] = g;
        }
    }
    Ok(DisagreementMatrix {
        names: explanations.iter().map(|(n, _)| n.to_string()).collect(),
        k,
        matrix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_attributions_agree_completely() {
        let a = [0.3, -0.2, 0.9, 0.0, -0.7];
        let g = agreement(&a, &a, 3).unwrap();
        assert_eq!(
            g,
            Agreement {
                feature: 1.0,
                rank: 1.0,
                sign: 1.0,
                signed_rank: 1.0,
                rank_correlation: 1.0,
                pairwise_rank: 1.0
            }
        );
    }

    #[test]
    fn reversed_ranking_keeps_features_but_loses_ranks() {
        let a = [3.0, 2.0, 1.0, 0.0];
        let b = [1.0, 2.0, 3.0, 0.0];
        let g = agreement(&a, &b, 3).unwrap();
        assert_eq!(g.feature, 1.0);
        assert!((g.rank - 1.0 / 3.0).abs() < 1e-12); // only the middle rank matches
        assert_eq!(g.pairwise_rank, 0.0); // every pair of {0, 1, 2} is swapped
    }

    #[test]
    fn the_matrix_is_symmetric_with_a_unit_diagonal() {
        let x = [1.0, 0.5, -0.2, 0.1, 0.0, 0.3];
        let y = [0.2, 0.1, 0.9, -0.4, 0.3, 0.0];
        let mtx = disagreement_matrix(&[("x", &x), ("y", &y)], 3, 2).unwrap();
        assert_eq!(mtx.matrix[0][1], mtx.matrix[1][0]);
        assert_eq!(mtx.matrix[0][0].feature, 1.0);
        assert!(agreement(&x, &y, 0).is_err());
        assert!(agreement(&x, &y[..3], 1).is_err());
    }
}
