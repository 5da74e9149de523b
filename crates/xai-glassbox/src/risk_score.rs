//! Risk scores: a few integer points per binary feature, added up and read off a table
//! (Ustun & Rudin, *Learning optimized risk scores*, JMLR 2019, RiskSLIM's problem).
//!
//! The model is `P(y = 1 | z) = σ(λ₀ + Σⱼ λⱼ zⱼ)` with integer points `λⱼ ∈ [lo, hi]` and an
//! integer intercept `λ₀`, chosen to minimise
//!
//! `mean logistic loss + C₀ · #{j : λⱼ ≠ 0}`.
//!
//! RiskSLIM solves this with lattice cutting planes; for the small problems a person can read
//! (a handful of features, points in a short range) this module solves it **exactly** by branch
//! and bound over the points, one feature at a time:
//!
//! * rows are compressed into distinct feature patterns with their counts of each label, so a
//!   node costs one pass over at most `2^d` patterns, not over the rows;
//! * the lower bound of a partial assignment adds `C₀ ·` (points already nonzero) to a
//!   relaxation of the loss in which every pattern takes the best score its interval allows
//!   (free points and intercept anywhere in their ranges, independently per pattern): the loss
//!   is monotone in the score for each label, so this is a valid bound;
//! * at a leaf the intercept is exact: the loss is convex in it, so a binary search over the
//!   integers finds the minimiser.
//!
//! The search is exhaustive up to `max_nodes`: the result says whether it is certified optimal.
//!
//! ```
//! use xai_glassbox::risk_score::{fit_risk_score, RiskScoreConfig};
//! // y = 1 mostly when z0 is set.
//! let x: Vec<Vec<bool>> = (0..40).map(|i| vec![i % 2 == 0, i % 5 == 0]).collect();
//! let y: Vec<bool> = (0..40).map(|i| (i % 2 == 0) != (i % 10 == 4)).collect();
//! let names = vec!["z0".to_string(), "z1".to_string()];
//! let s = fit_risk_score(&x, &y, &names, &RiskScoreConfig::default()).unwrap();
//! assert!(s.certified);
//! assert!(s.points[0] > 0);
//! println!("{s}");
//! ```

use std::collections::HashMap;
use std::fmt;

use xai_core::{Result, XaiError};

/// Settings of the search.
#[derive(Clone, Debug)]
pub struct RiskScoreConfig {
    /// Penalty per nonzero point (`C₀`).
    pub c0: f64,
    /// Range of each feature's points.
    pub points: (i32, i32),
    /// Range of the intercept.
    pub intercept: (i32, i32),
    /// Nodes evaluated before the search stops uncertified.
    pub max_nodes: usize,
}

impl Default for RiskScoreConfig {
    fn default() -> Self {
        RiskScoreConfig {
            c0: 0.01,
            points: (-5, 5),
            intercept: (-10, 10),
            max_nodes: 50_000_000,
        }
    }
}

/// A fitted risk score.
#[derive(Clone, Debug)]
pub struct RiskScore {
    /// Feature names.
    pub names: Vec<String>,
    /// Points per feature.
    pub points: Vec<i32>,
    /// Intercept.
    pub intercept: i32,
    /// Mean logistic loss on the training data.
    pub loss: f64,
    /// Loss + C₀ · nonzero points.
    pub objective: f64,
    /// Whether the search finished (no integer solution in the ranges is better).
    pub certified: bool,
    /// Nodes evaluated.
    pub nodes: usize,
}

impl RiskScore {
    /// The total score of one row (without the intercept).
    pub fn score(&self, row: &[bool]) -> i32 {
        self.points
            .iter()
            .zip(row)
            .filter(|&(_, &z)| z)
            .map(|(p, _)| p)
            .sum()
    }

    /// The predicted risk `P(y = 1)` at a total score.
    pub fn risk(&self, total: i32) -> f64 {
        1.0 / (1.0 + (-(self.intercept + total) as f64).exp())
    }

    /// Every total score a row can reach, with its risk.
    pub fn table(&self) -> Vec<(i32, f64)> {
        let lo: i32 = self.points.iter().filter(|&&p| p < 0).sum();
        let hi: i32 = self.points.iter().filter(|&&p| p > 0).sum();
        (lo..=hi).map(|t| (t, self.risk(t))).collect()
    }
}

impl fmt::Display for RiskScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.names.iter().map(String::len).max().unwrap_or(0);
        for (name, p) in self
            .names
            .iter()
            .zip(&self.points)
            .filter(|(_, p)| **p != 0)
        {
            writeln!(f, "{name:<width$}  {p:+} points")?;
        }
        writeln!(f, "{:<width$}  = SCORE", "")?;
        let (scores, risks): (Vec<String>, Vec<String>) = self
            .table()
            .iter()
            .map(|(t, r)| (format!("{t:>6}"), format!("{:>5.1}%", 100.0 * r)))
            .unzip();
        writeln!(f, "score {}", scores.join(""))?;
        write!(f, "risk  {}", risks.join(""))
    }
}

/// `log(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    if x > 30.0 { x } else { x.exp().ln_1p() }
}

struct Patterns {
    /// Distinct rows.
    z: Vec<Vec<bool>>,
    /// Rows with label 1 / label 0 per pattern.
    pos: Vec<f64>,
    neg: Vec<f64>,
    n: f64,
}

impl Patterns {
    /// Mean logistic loss with per-pattern scores `s` plus intercept `b`.
    fn loss(&self, s: &[f64], b: f64) -> f64 {
        let mut l = 0.0;
        for ((&sp, &p), &q) in s.iter().zip(&self.pos).zip(&self.neg) {
            let t = sp + b;
            l += p * softplus(-t) + q * softplus(t);
        }
        l / self.n
    }

    /// The best integer intercept in `[lo, hi]` for scores `s` (the loss is convex in it).
    fn best_intercept(&self, s: &[f64], lo: i32, hi: i32) -> (i32, f64) {
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let m = a + (b - a) / 2;
            if self.loss(s, m as f64 + 1.0) < self.loss(s, m as f64) {
                a = m + 1;
            } else {
                b = m;
            }
        }
        (a, self.loss(s, a as f64))
    }
}

struct Search<'a> {
    p: &'a Patterns,
    cfg: &'a RiskScoreConfig,
    d: usize,
    /// Points so far, and the score each pattern has from them.
    points: Vec<i32>,
    best: (f64, Vec<i32>, i32, f64),
    nodes: usize,
}

impl Search<'_> {
    /// Lower bound of the loss when features `j..` are free: each pattern takes the score in
    /// its interval that is best for its labels, independently.
    fn relaxed_loss(&self, s: &[f64], j: usize) -> f64 {
        let (lo, hi) = (self.cfg.points.0 as f64, self.cfg.points.1 as f64);
        let (b_lo, b_hi) = (self.cfg.intercept.0 as f64, self.cfg.intercept.1 as f64);
        let mut l = 0.0;
        for (k, z) in self.p.z.iter().enumerate() {
            let free = z[j..].iter().filter(|&&v| v).count() as f64;
            let (s_lo, s_hi) = (s[k] + b_lo + free * lo, s[k] + b_hi + free * hi);
            let (p, q) = (self.p.pos[k], self.p.neg[k]);
            // the pattern's loss is convex in its score: minimise it on [s_lo, s_hi]
            let t = if p > 0.0 && q > 0.0 {
                (p / q).ln().clamp(s_lo, s_hi)
            } else if p > 0.0 {
                s_hi
            } else {
                s_lo
            };
            l += p * softplus(-t) + q * softplus(t);
        }
        l / self.p.n
    }

    fn recurse(&mut self, j: usize, s: &mut [f64], nonzero: usize) {
        if self.nodes >= self.cfg.max_nodes {
            return;
        }
        self.nodes += 1;
        let penalty = self.cfg.c0 * nonzero as f64;
        if j == self.d {
            let (b, loss) = self
                .p
                .best_intercept(s, self.cfg.intercept.0, self.cfg.intercept.1);
            if loss + penalty < self.best.0 {
                self.best = (loss + penalty, self.points.clone(), b, loss);
            }
            return;
        }
        if penalty + self.relaxed_loss(s, j) >= self.best.0 {
            return;
        }
        // Zero first (sparse solutions early), then growing magnitudes.
        let (lo, hi) = self.cfg.points;
        let mut values: Vec<i32> = (lo..=hi).collect();
        values.sort_by_key(|v| (v.abs(), *v < 0));
        for v in values {
            self.points[j] = v;
            for (k, z) in self.p.z.iter().enumerate() {
                if z[j] {
                    s[k] += v as f64;
                }
            }
            self.recurse(j + 1, s, nonzero + usize::from(v != 0));
            for (k, z) in self.p.z.iter().enumerate() {
                if z[j] {
                    s[k] -= v as f64;
                }
            }
        }
        self.points[j] = 0;
    }
}

/// Fit a risk score on binary features `x` and labels `y`.
pub fn fit_risk_score(
    x: &[Vec<bool>],
    y: &[bool],
    names: &[String],
    cfg: &RiskScoreConfig,
) -> Result<RiskScore> {
    if x.is_empty() || x.len() != y.len() {
        return Err(XaiError::Config(format!(
            "risk score: {} rows and {} labels (need the same, at least one)",
            x.len(),
            y.len()
        )));
    }
    let d = names.len();
    if d == 0 || x.iter().any(|r| r.len() != d) {
        return Err(XaiError::Config(format!(
            "risk score: every row needs {d} features (one per name, at least one)"
        )));
    }
    if !(cfg.c0 >= 0.0) || cfg.points.0 > cfg.points.1 || cfg.intercept.0 > cfg.intercept.1 {
        return Err(XaiError::Config(format!(
            "risk score: C0 = {} (≥ 0), points {:?} and intercept {:?} (lo ≤ hi)",
            cfg.c0, cfg.points, cfg.intercept
        )));
    }
    let mut counts: HashMap<&[bool], (f64, f64)> = HashMap::new();
    for (r, &label) in x.iter().zip(y) {
        let c = counts.entry(r.as_slice()).or_default();
        if label { c.0 += 1.0 } else { c.1 += 1.0 }
    }
    let mut entries: Vec<(&[bool], (f64, f64))> = counts.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0)); // deterministic order
    let patterns = Patterns {
        z: entries.iter().map(|(z, _)| z.to_vec()).collect(),
        pos: entries.iter().map(|(_, c)| c.0).collect(),
        neg: entries.iter().map(|(_, c)| c.1).collect(),
        n: x.len() as f64,
    };
    let zeros = vec![0.0; patterns.z.len()];
    let (b0, l0) = patterns.best_intercept(&zeros, cfg.intercept.0, cfg.intercept.1);
    let mut search = Search {
        p: &patterns,
        cfg,
        d,
        points: vec![0; d],
        best: (l0, vec![0; d], b0, l0),
        nodes: 0,
    };
    let mut s = zeros;
    search.recurse(0, &mut s, 0);
    let certified = search.nodes < cfg.max_nodes;
    let (objective, points, intercept, loss) = search.best;
    Ok(RiskScore {
        names: names.to_vec(),
        points,
        intercept,
        loss,
        objective,
        certified,
        nodes: search.nodes,
    })
}
