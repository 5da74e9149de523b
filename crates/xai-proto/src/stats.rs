//! Small statistics shared by the benchmarks: normalised mutual information, Student's t-tests,
//! an exact rank test, Holm–Bonferroni adjustment, cosine similarity.
//!
//! - NMI uses the arithmetic-mean normalisation (scikit-learn's default):
//!   `NMI(U, V) = I(U; V) / ((H(U) + H(V)) / 2)`, in `[0, 1]`, 1 for identical partitions up to
//!   relabelling.
//! - [`ttest_ind`] is the two-sided Student t-test with pooled variance
//!   (`scipy.stats.ttest_ind` with its default `equal_var=True`).
//! - [`prediction_ttest`] tests whether one value `x` is a new draw from the distribution that
//!   produced the sample `null` (normal, unknown mean and variance):
//!   `t = (x − mean) / (sd √(1 + 1/M))` with `M − 1` degrees of freedom, two-sided.
//! - [`rank_p_value`] is the exact two-sided rank test under exchangeability:
//!   `#{k : |v_k − v̄| ≥ |x − v̄|} / (M + 1)` over `x` and the `M` null values (`v̄` their mean).
//! - [`holm`] is Holm's step-down adjustment: sorted p-values `p₍ᵢ₎` become
//!   `max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎)`, which keeps the family-wise error ≤ α.
//!
//! ```
//! use xai_proto::stats::nmi;
//! assert!((nmi(&[0, 0, 1, 1], &[5, 5, 7, 7]) - 1.0).abs() < 1e-12);
//! ```

use statrs::distribution::{ContinuousCDF, StudentsT};
use xai_core::{Result, XaiError};

fn entropy(counts: &[f64], n: f64) -> f64 {
    counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / n) * (c / n).ln())
        .sum()
}

/// Normalised mutual information between two labelings of the same items.
pub fn nmi(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut joint = vec![0f64; ka * kb];
    let (mut ca, mut cb) = (vec![0f64; ka], vec![0f64; kb]);
    for i in 0..n {
        joint[a[i] * kb + b[i]] += 1.0;
        ca[a[i]] += 1.0;
        cb[b[i]] += 1.0;
    }
    let nf = n as f64;
    let mut mi = 0.0;
    for i in 0..ka {
        for j in 0..kb {
            let c = joint[i * kb + j];
            if c > 0.0 {
                mi += c / nf * (c * nf / (ca[i] * cb[j])).ln();
            }
        }
    }
    let (ha, hb) = (entropy(&ca, nf), entropy(&cb, nf));
    if ha + hb <= 0.0 {
        // both labelings constant: identical partitions
        return 1.0;
    }
    (2.0 * mi / (ha + hb)).clamp(0.0, 1.0)
}

/// Two-sided p-value of Student's two-sample t-test with pooled variance.
pub fn ttest_ind(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() < 2 || b.len() < 2 {
        return Err(XaiError::EmptyBatch(
            "a t-test needs at least two values per sample".into(),
        ));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let ss = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let df = (a.len() + b.len() - 2) as f64;
    let pooled = (ss(a, ma) + ss(b, mb)) / df;
    let se = (pooled * (1.0 / a.len() as f64 + 1.0 / b.len() as f64)).sqrt();
    if se == 0.0 {
        // identical constant samples: no evidence of a difference; different constants: certain
        return Ok(if ma == mb { 1.0 } else { 0.0 });
    }
    let t = (ma - mb) / se;
    let dist = StudentsT::new(0.0, 1.0, df)
        .map_err(|e| XaiError::Numerical(format!("Student t distribution: {e}")))?;
    Ok((2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0))
}

/// Two-sided p-value of `x` as one new draw from the distribution of `null` (see module docs).
///
/// ```
/// use xai_proto::stats::prediction_ttest;
/// let null = [0.48, 0.52, 0.50, 0.47, 0.53, 0.49, 0.51, 0.50, 0.46, 0.54];
/// assert!(prediction_ttest(0.50, &null).unwrap() > 0.9);
/// assert!(prediction_ttest(0.95, &null).unwrap() < 1e-6);
/// ```
pub fn prediction_ttest(x: f64, null: &[f64]) -> Result<f64> {
    let m = null.len();
    if m < 2 {
        return Err(XaiError::EmptyBatch(
            "a prediction t-test needs at least two null values".into(),
        ));
    }
    let mean = null.iter().sum::<f64>() / m as f64;
    let var = null.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
    let se = (var * (1.0 + 1.0 / m as f64)).sqrt();
    if se == 0.0 {
        return Ok(if x == mean { 1.0 } else { 0.0 });
    }
    let dist = StudentsT::new(0.0, 1.0, (m - 1) as f64)
        .map_err(|e| XaiError::Numerical(format!("Student t distribution: {e}")))?;
    Ok((2.0 * (1.0 - dist.cdf(((x - mean) / se).abs()))).clamp(0.0, 1.0))
}

/// Exact two-sided rank p-value of `x` among `x` and `null` (see module docs); at least
/// `1 / (M + 1)`.
///
/// ```
/// use xai_proto::stats::rank_p_value;
/// assert_eq!(rank_p_value(10.0, &[0.0, 1.0, -1.0]), 0.25);
/// ```
pub fn rank_p_value(x: f64, null: &[f64]) -> f64 {
    let all = null.len() as f64 + 1.0;
    let centre = (null.iter().sum::<f64>() + x) / all;
    let d = (x - centre).abs();
    let at_least = 1 + null.iter().filter(|v| (*v - centre).abs() >= d).count();
    at_least as f64 / all
}

/// Holm–Bonferroni adjusted p-values, in the input order.
///
/// ```
/// use xai_proto::stats::holm;
/// let adj = holm(&[0.01, 0.04, 0.03]);
/// assert!((adj[0] - 0.03).abs() < 1e-12 && (adj[1] - 0.06).abs() < 1e-12);
/// assert!((adj[2] - 0.06).abs() < 1e-12);
/// ```
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmi_of_independent_labelings_is_zero() {
        let a = [0, 0, 1, 1];
        let b = [0, 1, 0, 1];
        assert!(nmi(&a, &b).abs() < 1e-12);
        // scikit-learn: normalized_mutual_info_score([0,0,1,1,2,2],[0,0,1,1,1,1]) = 0.7336804366512113
        let v = nmi(&[0, 0, 1, 1, 2, 2], &[0, 0, 1, 1, 1, 1]);
        assert!((v - 0.7336804366512113).abs() < 1e-12, "{v}");
    }

    #[test]
    fn ttest_matches_scipy() {
        // scipy.stats.ttest_ind([1,2,3,4,5],[2,4,6,8,10]).pvalue = 0.09434977284243762 (scipy 1.x)
        let p = ttest_ind(&[1., 2., 3., 4., 5.], &[2., 4., 6., 8., 10.]).unwrap();
        assert!((p - 0.09434977284243762).abs() < 1e-9, "{p}");
    }
}
