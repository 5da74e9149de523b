//! Anchors (Ribeiro, Singh & Guestrin, "Anchors: High-Precision Model-Agnostic Explanations",
//! AAAI 2018) for tabular models: a rule `A` — a conjunction of feature ranges the instance
//! satisfies — such that the model keeps its prediction on perturbations that satisfy `A`:
//!
//! ```text
//! precision(A) = P_{z ~ D(·|A)}[f(z) = f(x)] ≥ τ,   coverage(A) = P_{z ~ D}[z satisfies A]
//! ```
//!
//! and, among such rules, the one with the largest coverage.
//!
//! - **Predicates**: the quantile edges `q₁ < … < q_{bins−1}` of each feature in the background
//!   data; the candidates are every one-sided predicate the instance satisfies (`x₃ ≤ q₂` or
//!   `x₃ > q₁`), so a rule can hold a feature to a range of several bins, as the reference
//!   implementation's quartile discretiser does. The rule reports one interval per feature.
//! - **D(·|A)**: a background row drawn uniformly, with each anchored feature replaced by a
//!   uniformly drawn background value *inside the rule's interval for that feature* (so samples
//!   stay on the data, as the reference implementation's conditional sampler).
//! - **Search**: beam search over rule size (width `beam`); at each size the candidates (the
//!   current rules extended by one predicate, those that cannot beat the best coverage found
//!   dropped) are compared by **KL-LUCB** (Kaufmann & Kalyanakrishnan 2013): batches of samples
//!   go to the arms whose KL confidence bounds overlap until the best `beam` are separated to
//!   `ε` at confidence `1 − δ`. A candidate is an anchor when the KL lower bound of its
//!   precision is at least `τ`, sampled until the bounds decide (or the sample cap is reached);
//!   the search stops at the first size that has one and returns the anchor with the largest
//!   coverage. (The reference implementation accepts a lower bound of `τ − ε`, which lets rules
//!   whose precision is below `τ` through after a hundred samples; here a rule is an anchor only
//!   when its precision is at least `τ` with confidence `1 − δ`.)
//!   When no rule reaches `τ`, the most precise rule found is returned with `is_anchor: false`.
//!
//! All draws come from one `StdRng` seeded with `seed`.
//!
//! ```
//! use xai_core::agnostic::FnModel;
//! use xai_core::agnostic::anchors::{AnchorsConfig, anchors};
//! // Class 1 exactly when x₀ > 0 and x₁ > 0; x₂ does not matter.
//! let model = FnModel::new(3, |r: &[f64], n| {
//!     (0..n).flat_map(|i| {
//!         let on = r[3 * i] > 0.0 && r[3 * i + 1] > 0.0;
//!         [f64::from(u8::from(!on)), f64::from(u8::from(on))]
//!     }).collect()
//! });
//! let background: Vec<f64> = (0..600).map(|k| ((k * 7919 % 600) as f64 / 300.0) - 1.0).collect();
//! let a = anchors(&model, &[0.8, 0.9, -0.5], &background, &AnchorsConfig::default()).unwrap();
//! assert!(a.is_anchor);
//! let features: Vec<usize> = a.predicates.iter().map(|p| p.feature).collect();
//! assert!(features.contains(&0) && features.contains(&1) && !features.contains(&2));
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{BlackBox, argmax};
use crate::error::{Result, XaiError};

/// Settings of [`anchors`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorsConfig {
    /// Precision threshold `τ`.
    pub threshold: f64,
    /// Confidence parameter `δ` of the KL bounds.
    pub delta: f64,
    /// Tolerance `ε` of the bandit and of the threshold test.
    pub epsilon: f64,
    /// Beam width.
    pub beam: usize,
    /// Samples per pull of an arm.
    pub batch: usize,
    /// Most samples one candidate may take.
    pub max_samples: usize,
    /// Longest rule (0: every feature).
    pub max_size: usize,
    /// Quantile bins per feature.
    pub bins: usize,
    /// Seed of every draw.
    pub seed: u64,
}

impl Default for AnchorsConfig {
    fn default() -> Self {
        AnchorsConfig {
            threshold: 0.95,
            delta: 0.1,
            epsilon: 0.15,
            beam: 2,
            batch: 100,
            max_samples: 10_000,
            max_size: 0,
            bins: 4,
            seed: 0,
        }
    }
}

/// `low < x[feature] ≤ high` (infinite bounds are open).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    /// The feature.
    pub feature: usize,
    /// Exclusive lower bound (`-∞`: none).
    pub low: f64,
    /// Inclusive upper bound (`+∞`: none).
    pub high: f64,
}

impl Predicate {
    /// Whether `v` satisfies the predicate.
    pub fn holds(&self, v: f64) -> bool {
        v > self.low && v <= self.high
    }
}

/// The rule found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The conjunction, in the order it was built.
    pub predicates: Vec<Predicate>,
    /// Estimated precision on `D(·|A)`.
    pub precision: f64,
    /// KL lower confidence bound of the precision.
    pub precision_low: f64,
    /// Share of the background rows that satisfy the rule.
    pub coverage: f64,
    /// Samples drawn for this rule.
    pub samples: usize,
    /// The instance's predicted class.
    pub prediction: usize,
    /// Whether the rule reaches the threshold (`false`: the most precise rule found).
    pub is_anchor: bool,
}

/// KL divergence of Bernoulli(p) from Bernoulli(q).
fn kl(p: f64, q: f64) -> f64 {
    let q = q.clamp(1e-12, 1.0 - 1e-12);
    let term = |a: f64, b: f64| if a > 0.0 { a * (a / b).ln() } else { 0.0 };
    term(p, q) + term(1.0 - p, 1.0 - q)
}

/// The largest (upper) or smallest (lower) `q` with `n · KL(p̂, q) ≤ level`, by bisection.
fn kl_bound(mean: f64, n: usize, level: f64, upper: bool) -> f64 {
    let (mut lo, mut hi) = if upper { (mean, 1.0) } else { (0.0, mean) };
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        let inside = n as f64 * kl(mean, mid) <= level;
        match (upper, inside) {
            (true, true) | (false, false) => lo = mid,
            _ => hi = mid,
        }
    }
    if upper { hi } else { lo }
}

/// One candidate rule and its samples.
#[derive(Clone)]
struct Arm {
    predicates: Vec<usize>,
    hits: usize,
    n: usize,
}

impl Arm {
    fn mean(&self) -> f64 {
        self.hits as f64 / self.n.max(1) as f64
    }
}

struct Search<'a, M: ?Sized> {
    model: &'a M,
    background: &'a [f64],
    f: usize,
    rows: usize,
    x: &'a [f64],
    predicates: Vec<Predicate>,
    /// Per feature, the background values sorted.
    columns: Vec<Vec<f64>>,
    prediction: usize,
    rng: StdRng,
}

impl<M: BlackBox + ?Sized> Search<'_, M> {
    /// The rule's interval on each feature it constrains (the intersection of its predicates).
    fn intervals(&self, rule: &[usize]) -> Vec<Predicate> {
        let mut out: Vec<Predicate> = Vec::new();
        for &p in rule {
            let q = self.predicates[p];
            match out.iter_mut().find(|o| o.feature == q.feature) {
                Some(o) => {
                    o.low = o.low.max(q.low);
                    o.high = o.high.min(q.high);
                }
                None => out.push(q),
            }
        }
        out
    }

    /// Draw `count` samples of `D(·|arm)` and count those the model gives the instance's class.
    fn pull(&mut self, arm: &mut Arm, count: usize) -> Result<()> {
        let slices = column_slices(&self.columns, &self.intervals(&arm.predicates));
        let x = self.x;
        let z = draw(
            self.background,
            self.f,
            &self.columns,
            &slices,
            |j| x[j],
            count,
            &mut self.rng,
        );
        arm.hits += agreeing(self.model, &z, count, self.prediction)?;
        arm.n += count;
        Ok(())
    }

    fn coverage(&self, rule: &[usize]) -> f64 {
        let f = self.f;
        let intervals = self.intervals(rule);
        let covered = (0..self.rows)
            .filter(|&r| {
                intervals
                    .iter()
                    .all(|q| q.holds(self.background[r * f + q.feature]))
            })
            .count();
        covered as f64 / self.rows as f64
    }
}

/// Sorted background columns, one per feature.
fn sorted_columns(background: &[f64], f: usize) -> Vec<Vec<f64>> {
    let rows = background.len() / f;
    (0..f)
        .map(|j| {
            let mut col: Vec<f64> = (0..rows).map(|r| background[r * f + j]).collect();
            col.sort_by(f64::total_cmp);
            col
        })
        .collect()
}

/// For each interval, its feature and the slice `start..end` of that feature's sorted column
/// inside it.
fn column_slices(columns: &[Vec<f64>], intervals: &[Predicate]) -> Vec<(usize, usize, usize)> {
    intervals
        .iter()
        .map(|q| {
            let col = &columns[q.feature];
            let start = col.partition_point(|&v| v <= q.low);
            let end = col.partition_point(|&v| v <= q.high);
            (q.feature, start, end)
        })
        .collect()
}

/// `count` draws of `D(·|A)`: uniform background rows with each constrained feature replaced by
/// a uniform draw from its column slice (`fallback(j)` where the slice is empty).
fn draw(
    background: &[f64],
    f: usize,
    columns: &[Vec<f64>],
    slices: &[(usize, usize, usize)],
    fallback: impl Fn(usize) -> f64,
    count: usize,
    rng: &mut StdRng,
) -> Vec<f64> {
    let rows = background.len() / f;
    let mut z = Vec::with_capacity(count * f);
    for _ in 0..count {
        let r = rng.random_range(0..rows);
        let at = z.len();
        z.extend_from_slice(&background[r * f..(r + 1) * f]);
        for &(j, start, end) in slices {
            z[at + j] = if start < end {
                columns[j][rng.random_range(start..end)]
            } else {
                fallback(j)
            };
        }
    }
    z
}

/// How many of the `count` rows `z` the model gives class `prediction`.
fn agreeing<M: BlackBox + ?Sized>(
    model: &M,
    z: &[f64],
    count: usize,
    prediction: usize,
) -> Result<usize> {
    let out = model.predict(z, count)?;
    let k = out.len() / count.max(1);
    if k == 0 || out.len() != count * k {
        return Err(XaiError::shape(
            "anchors model output",
            format!("{count} rows"),
            &[out.len()],
        ));
    }
    Ok(out
        .chunks(k)
        .filter(|row| argmax(row) == prediction)
        .count())
}

/// The anchor of instance `x` (one row of `F` values) under `model`, with `background` (`n × F`
/// rows) as the data distribution (see the module docs).
pub fn anchors<M: BlackBox + ?Sized>(
    model: &M,
    x: &[f64],
    background: &[f64],
    config: &AnchorsConfig,
) -> Result<Anchor> {
    let f = model.features();
    if x.len() != f || f == 0 {
        return Err(XaiError::shape(
            "anchors instance",
            format!("{f} values"),
            &[x.len()],
        ));
    }
    if background.is_empty() || !background.len().is_multiple_of(f) {
        return Err(XaiError::shape(
            "anchors background",
            format!("rows of {f} values"),
            &[background.len()],
        ));
    }
    if let Some(v) = x.iter().chain(background).find(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite(format!("anchors input value {v}")));
    }
    check_config(config)?;
    let rows = background.len() / f;
    let out = model.predict(x, 1)?;
    if out.is_empty() {
        return Err(XaiError::shape("anchors model output", "1 row", &[0]));
    }
    let prediction = argmax(&out);
    // Every one-sided predicate at a quantile edge that the instance satisfies.
    let columns = sorted_columns(background, f);
    let mut predicates = Vec::new();
    for (j, col) in columns.iter().enumerate() {
        let mut edges: Vec<f64> = (1..config.bins)
            .map(|b| col[(b * rows / config.bins).min(rows - 1)])
            .collect();
        edges.dedup();
        for e in edges {
            let (low, high) = if x[j] <= e {
                (f64::NEG_INFINITY, e)
            } else {
                (e, f64::INFINITY)
            };
            predicates.push(Predicate {
                feature: j,
                low,
                high,
            });
        }
    }
    search(model, x, background, predicates, prediction, config)
}

/// The settings are in range (see [`AnchorsConfig`]).
pub(crate) fn check_config(config: &AnchorsConfig) -> Result<()> {
    let ok = (0.0..1.0).contains(&config.threshold)
        && config.delta > 0.0
        && config.delta < 1.0
        && config.epsilon > 0.0
        && config.beam > 0
        && config.batch > 0
        && config.max_samples >= config.batch
        && config.bins >= 2;
    if !ok {
        return Err(XaiError::Config(format!(
            "anchors settings out of range: {config:?} (threshold in [0, 1), delta in (0, 1), \
             positive epsilon, beam and batch, max_samples ≥ batch, at least 2 bins)"
        )));
    }
    Ok(())
}

/// The beam search with KL-LUCB over rules made of `predicates` (each satisfied by `x`), for
/// the class `prediction` of `x`, on `background` (`n × F` rows) as the data distribution.
pub(crate) fn search<M: BlackBox + ?Sized>(
    model: &M,
    x: &[f64],
    background: &[f64],
    predicates: Vec<Predicate>,
    prediction: usize,
    config: &AnchorsConfig,
) -> Result<Anchor> {
    let f = x.len();
    let rows = background.len() / f;
    let columns = sorted_columns(background, f);
    let p_count = predicates.len();
    let mut search = Search {
        model,
        background,
        f,
        rows,
        x,
        predicates,
        columns,
        prediction,
        rng: StdRng::seed_from_u64(config.seed),
    };
    let max_size = if config.max_size == 0 {
        p_count
    } else {
        config.max_size.min(p_count)
    };
    let mut current: Vec<Vec<usize>> = vec![Vec::new()];
    let mut best: Option<Anchor> = None;
    let mut most_precise: Option<Anchor> = None;
    let level = |k: usize, t: usize| {
        let base = (k as f64 * (t as f64).powf(1.1) / config.delta)
            .ln()
            .max(1e-9);
        base + base.ln().max(0.0)
    };
    for _size in 1..=max_size {
        let best_cov = best.as_ref().map_or(-1.0, |b| b.coverage);
        let mut arms: Vec<Arm> = Vec::new();
        for rule in &current {
            for p in 0..p_count {
                if rule.contains(&p) {
                    continue;
                }
                let mut ps = rule.clone();
                ps.push(p);
                ps.sort_unstable();
                if arms.iter().any(|a| a.predicates == ps) || search.coverage(&ps) <= best_cov {
                    continue;
                }
                arms.push(Arm {
                    predicates: ps,
                    hits: 0,
                    n: 0,
                });
            }
        }
        if arms.is_empty() {
            break;
        }
        // KL-LUCB: the best `beam` arms by precision.
        let k = arms.len();
        let top = config.beam.min(k);
        for arm in arms.iter_mut() {
            search.pull(arm, config.batch)?;
        }
        let mut t = 1;
        if top < k {
            loop {
                let mut order: Vec<usize> = (0..k).collect();
                order.sort_by(|&a, &b| arms[b].mean().total_cmp(&arms[a].mean()));
                let beta = level(k, t);
                let lb = |a: &Arm| kl_bound(a.mean(), a.n, beta, false);
                let ub = |a: &Arm| kl_bound(a.mean(), a.n, beta, true);
                let weakest_in = *order[..top]
                    .iter()
                    .min_by(|&&a, &&b| lb(&arms[a]).total_cmp(&lb(&arms[b])))
                    .expect("top ≥ 1");
                let strongest_out = *order[top..]
                    .iter()
                    .max_by(|&&a, &&b| ub(&arms[a]).total_cmp(&ub(&arms[b])))
                    .expect("top < k");
                let gap = ub(&arms[strongest_out]) - lb(&arms[weakest_in]);
                let spent = arms[weakest_in].n >= config.max_samples
                    && arms[strongest_out].n >= config.max_samples;
                if gap < config.epsilon || spent {
                    current = order[..top]
                        .iter()
                        .map(|&i| arms[i].predicates.clone())
                        .collect();
                    break;
                }
                for i in [weakest_in, strongest_out] {
                    if arms[i].n < config.max_samples {
                        search.pull(&mut arms[i], config.batch)?;
                    }
                }
                t += 1;
            }
        } else {
            current = arms.iter().map(|a| a.predicates.clone()).collect();
        }
        // Decide each chosen rule against the threshold.
        for rule in current.clone() {
            let Some(i) = arms.iter().position(|a| a.predicates == rule) else {
                continue;
            };
            let mut arm = arms[i].clone();
            loop {
                let beta = level(1, t);
                let (m, lo, hi) = (
                    arm.mean(),
                    kl_bound(arm.mean(), arm.n, beta, false),
                    kl_bound(arm.mean(), arm.n, beta, true),
                );
                // Decided once the bounds leave the threshold on one side.
                let undecided = lo < config.threshold && hi >= config.threshold && m > 0.0;
                if !undecided || arm.n >= config.max_samples {
                    break;
                }
                search.pull(&mut arm, config.batch)?;
                t += 1;
            }
            let beta = level(1, t);
            let lo = kl_bound(arm.mean(), arm.n, beta, false);
            let found = Anchor {
                predicates: search.intervals(&arm.predicates),
                precision: arm.mean(),
                precision_low: lo,
                coverage: search.coverage(&arm.predicates),
                samples: arm.n,
                prediction,
                is_anchor: lo >= config.threshold,
            };
            if found.is_anchor && best.as_ref().is_none_or(|b| found.coverage > b.coverage) {
                best = Some(found.clone());
            }
            if most_precise
                .as_ref()
                .is_none_or(|b| found.precision > b.precision)
            {
                most_precise = Some(found);
            }
        }
        if best.is_some() {
            break;
        }
    }
    best.or(most_precise)
        .ok_or_else(|| XaiError::Numerical("anchors: no candidate rule could be evaluated".into()))
}

/// Precision of `anchor` on `samples` fresh draws of `D(·|A)` from `background` (the same
/// conditional sampler as [`anchors`], from `seed`): a held-out check of a rule.
pub fn held_out_precision<M: BlackBox + ?Sized>(
    model: &M,
    anchor: &Anchor,
    background: &[f64],
    samples: usize,
    seed: u64,
) -> Result<f64> {
    let f = model.features();
    if f == 0 || background.is_empty() || !background.len().is_multiple_of(f) || samples == 0 {
        return Err(XaiError::shape(
            "held-out anchors check",
            format!("background rows of {f} values and samples > 0"),
            &[background.len(), samples],
        ));
    }
    let columns = sorted_columns(background, f);
    let slices = column_slices(&columns, &anchor.predicates);
    if slices.iter().any(|&(_, start, end)| start >= end) {
        return Err(XaiError::Config(
            "a predicate of the anchor holds for no background row".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let z = draw(background, f, &columns, &slices, |_| 0.0, samples, &mut rng);
    Ok(agreeing(model, &z, samples, anchor.prediction)? as f64 / samples as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_bounds_bracket_the_mean_and_shrink_with_samples() {
        let (lo10, hi10) = (kl_bound(0.7, 10, 2.0, false), kl_bound(0.7, 10, 2.0, true));
        let (lo1k, hi1k) = (
            kl_bound(0.7, 1000, 2.0, false),
            kl_bound(0.7, 1000, 2.0, true),
        );
        assert!(lo10 < lo1k && lo1k < 0.7 && 0.7 < hi1k && hi1k < hi10);
        // At the bound, n · KL equals the level.
        assert!((1000.0 * kl(0.7, hi1k) - 2.0).abs() < 1e-6);
        assert_eq!(kl_bound(1.0, 50, 2.0, true), 1.0);
    }
}
