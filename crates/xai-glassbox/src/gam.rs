//! Generalised additive models learned as Explainable Boosting Machines (Lou, Caruana et al.,
//! *Accurate intelligible models with pairwise interactions*, KDD 2013; InterpretML's EBM).
//!
//! The model is `logit P(y = 1 | x) = β₀ + Σⱼ fⱼ(xⱼ) + Σ_(j,k) f_jk(xⱼ, x_k)`: one shape function
//! per feature, piecewise constant on the feature's bins, plus a few pairwise terms, each of which
//! a person can plot and read. Learning follows EBM:
//!
//! * **binning**: each feature is cut at quantiles into at most `max_bins` bins (every distinct
//!   value gets its own bin when there are fewer);
//! * **cyclic gradient boosting**: round after round, each term in turn fits a small tree (at
//!   most three leaves over the ordered bins; for pairs, one cut on the first feature and one cut
//!   on the second in each half) to the logistic loss's gradient by Newton steps, shrunk by the
//!   learning rate, so no feature can take credit that belongs to another;
//! * **bagging with early stopping**: each of `bags` models trains on a seeded random 85 % of the
//!   rows and stops when the loss on the other 15 % has not improved for `patience` rounds; the
//!   shape functions are averaged over the bags;
//! * **FAST interaction detection**: after the main effects, every pair is scored by how much
//!   the best 2 × 2 piecewise-constant fit of the residual reduces the loss, and the best
//!   `interactions` pairs get terms of their own, boosted the same way;
//! * every term is centred (its mean over the training rows moves into β₀), so `fⱼ(xⱼ)` reads
//!   as "how much this value moves the log-odds away from the average".
//!
//! ```
//! use xai_glassbox::gam::{fit_gam, GamConfig};
//! // y depends on x0 only, through a step at 0.
//! let x: Vec<Vec<f64>> = (0..200).map(|i| vec![(i % 20) as f64 - 10.0, (i % 7) as f64]).collect();
//! let y: Vec<bool> = x.iter().map(|r| r[0] > 0.0).collect();
//! let names = vec!["x0".to_string(), "x1".to_string()];
//! let gam = fit_gam(&x, &y, &names, &GamConfig { bags: 2, interactions: 0, ..Default::default() }).unwrap();
//! let imp = gam.importances();
//! assert!(imp[0].1 > 10.0 * imp[1].1);
//! assert!(gam.predict_proba(&[5.0, 3.0]) > 0.9 && gam.predict_proba(&[-5.0, 3.0]) < 0.1);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use xai_core::{Result, XaiError};

/// Settings of the learner (EBM's defaults where they apply).
#[derive(Clone, Debug)]
pub struct GamConfig {
    /// Most bins per feature for main effects.
    pub max_bins: usize,
    /// Most bins per feature inside a pair term.
    pub max_pair_bins: usize,
    /// Shrinkage of each boosting step.
    pub learning_rate: f64,
    /// Most boosting rounds (each round visits every term once).
    pub max_rounds: usize,
    /// Rounds without improvement on the held-out rows before a bag stops.
    pub patience: usize,
    /// Bagged models averaged.
    pub bags: usize,
    /// Pairwise terms chosen by FAST (0: none).
    pub interactions: usize,
    /// Fewest training rows per leaf.
    pub min_leaf: usize,
    /// Seed of the bags' splits.
    pub seed: u64,
}

impl Default for GamConfig {
    fn default() -> Self {
        GamConfig {
            max_bins: 256,
            max_pair_bins: 32,
            learning_rate: 0.01,
            max_rounds: 5000,
            patience: 50,
            bags: 8,
            interactions: 10,
            min_leaf: 2,
            seed: 0,
        }
    }
}

/// Bin edges of one feature: value `v` falls in bin `#{e ∈ edges : e < v}`, so the bins are
/// `(-∞, e₀], (e₀, e₁], …, (e_last, ∞)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    /// Upper edges of all bins but the last.
    pub edges: Vec<f64>,
}

impl Bins {
    fn fit(values: &[f64], max_bins: usize) -> Bins {
        let mut v: Vec<f64> = values.to_vec();
        v.sort_by(f64::total_cmp);
        v.dedup();
        let edges = if v.len() <= max_bins {
            v.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
        } else {
            let mut all: Vec<f64> = values.to_vec();
            all.sort_by(f64::total_cmp);
            let mut e: Vec<f64> = (1..max_bins)
                .map(|k| all[k * all.len() / max_bins])
                .collect();
            e.dedup();
            e
        };
        Bins { edges }
    }

    /// The bin of `x`.
    pub fn bin(&self, x: f64) -> usize {
        self.edges.partition_point(|&e| e < x)
    }

    /// Number of bins.
    pub fn len(&self) -> usize {
        self.edges.len() + 1
    }

    /// Whether there is a single bin.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }
}

/// One additive term: a main effect (one feature) or a pair.
#[derive(Clone, Debug)]
pub struct Term {
    /// The feature(s).
    pub features: Vec<usize>,
    /// The bins of each feature in this term.
    pub bins: Vec<Bins>,
    /// Scores per bin (pairs: row-major over the first feature's bins).
    pub scores: Vec<f64>,
    /// Mean absolute contribution over the training rows (InterpretML's importance).
    pub importance: f64,
}

impl Term {
    fn index(&self, x: &[f64]) -> usize {
        match self.bins.as_slice() {
            [b] => b.bin(x[self.features[0]]),
            [a, b] => a.bin(x[self.features[0]]) * b.len() + b.bin(x[self.features[1]]),
            _ => 0,
        }
    }

    /// This term's contribution to the log-odds of `x`.
    pub fn score(&self, x: &[f64]) -> f64 {
        self.scores[self.index(x)]
    }
}

/// A fitted additive model.
#[derive(Clone, Debug)]
pub struct Gam {
    /// Feature names.
    pub names: Vec<String>,
    /// β₀.
    pub intercept: f64,
    /// Main effects then pairs.
    pub terms: Vec<Term>,
}

impl Gam {
    /// The log-odds of `x`.
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.intercept + self.terms.iter().map(|t| t.score(x)).sum::<f64>()
    }

    /// `P(y = 1 | x)`.
    pub fn predict_proba(&self, x: &[f64]) -> f64 {
        1.0 / (1.0 + (-self.logit(x)).exp())
    }

    /// Each term's contribution to the log-odds of `x` (they sum to `logit(x) − β₀`): the
    /// model's exact explanation of one prediction.
    pub fn contributions(&self, x: &[f64]) -> Vec<f64> {
        self.terms.iter().map(|t| t.score(x)).collect()
    }

    /// Term names (`age`, `age × income`).
    pub fn term_names(&self) -> Vec<String> {
        self.terms
            .iter()
            .map(|t| {
                t.features
                    .iter()
                    .map(|&f| self.names[f].as_str())
                    .collect::<Vec<_>>()
                    .join(" × ")
            })
            .collect()
    }

    /// Importance of each term: the mean absolute contribution over the training rows it was
    /// centred on (InterpretML's definition), as `(name, importance)`.
    pub fn importances(&self) -> Vec<(String, f64)> {
        self.term_names()
            .into_iter()
            .zip(&self.terms)
            .map(|(n, t)| (n, t.importance))
            .collect()
    }
}

impl Gam {
    /// An SVG plot of term `t`: a main effect as a step function of its feature (log-odds
    /// contribution against the value, one step per bin), a pair as a heat map over the two
    /// features' bins (red raises the log-odds, blue lowers it).
    pub fn shape_svg(&self, t: usize, x: &[Vec<f64>]) -> Result<String> {
        use plotters::prelude::*;
        let term = self
            .terms
            .get(t)
            .ok_or_else(|| XaiError::Config(format!("term {t} of {}", self.terms.len())))?;
        let title = self.term_names()[t].clone();
        let err = |e: &dyn std::fmt::Display| XaiError::Config(format!("plotting {title}: {e}"));
        // Plot range of a feature: its training values, else its bin edges.
        let range = |f: usize, bins: &Bins| {
            let (lo, hi) = x
                .iter()
                .map(|r| r[f])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            let (lo, hi) = if lo.is_finite() {
                (lo, hi)
            } else {
                (
                    bins.edges.first().copied().unwrap_or(0.0) - 1.0,
                    bins.edges.last().copied().unwrap_or(0.0) + 1.0,
                )
            };
            if hi > lo {
                (lo, hi)
            } else {
                (lo - 0.5, hi + 0.5)
            }
        };
        // Bin b spans [bounds[b], bounds[b + 1]].
        let bounds = |bins: &Bins, (lo, hi): (f64, f64)| {
            let mut v = vec![lo];
            v.extend(bins.edges.iter().map(|&e| e.clamp(lo, hi)));
            v.push(hi);
            v
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (560, 360)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(&e))?;
            match *term.features.as_slice() {
                [f] => {
                    let r = range(f, &term.bins[0]);
                    let b = bounds(&term.bins[0], r);
                    let (smin, smax) = term
                        .scores
                        .iter()
                        .fold((0.0f64, 0.0f64), |(a, c), &s| (a.min(s), c.max(s)));
                    let pad = ((smax - smin) * 0.1).max(1e-3);
                    let mut chart = ChartBuilder::on(&root)
                        .caption(&title, ("sans-serif", 18))
                        .margin(12)
                        .x_label_area_size(35)
                        .y_label_area_size(55)
                        .build_cartesian_2d(r.0..r.1, (smin - pad)..(smax + pad))
                        .map_err(|e| err(&e))?;
                    chart
                        .configure_mesh()
                        .x_desc(self.names[f].as_str())
                        .y_desc("contribution to the log-odds")
                        .draw()
                        .map_err(|e| err(&e))?;
                    let steps = term
                        .scores
                        .iter()
                        .enumerate()
                        .flat_map(|(k, &s)| [(b[k], s), (b[k + 1], s)]);
                    chart
                        .draw_series(LineSeries::new(
                            steps,
                            RGBColor(60, 110, 200).stroke_width(2),
                        ))
                        .map_err(|e| err(&e))?;
                }
                [fa, fb] => {
                    let (ra, rb) = (range(fa, &term.bins[0]), range(fb, &term.bins[1]));
                    let (ba, bb) = (bounds(&term.bins[0], ra), bounds(&term.bins[1], rb));
                    let scale = term.scores.iter().fold(1e-12f64, |m, s| m.max(s.abs()));
                    let mut chart = ChartBuilder::on(&root)
                        .caption(&title, ("sans-serif", 18))
                        .margin(12)
                        .x_label_area_size(35)
                        .y_label_area_size(55)
                        .build_cartesian_2d(ra.0..ra.1, rb.0..rb.1)
                        .map_err(|e| err(&e))?;
                    chart
                        .configure_mesh()
                        .x_desc(self.names[fa].as_str())
                        .y_desc(self.names[fb].as_str())
                        .draw()
                        .map_err(|e| err(&e))?;
                    let nb = term.bins[1].len();
                    let cells = term.scores.iter().enumerate().map(|(k, &s)| {
                        let (i, j) = (k / nb, k % nb);
                        let a = (s.abs() / scale).min(1.0);
                        let c = if s >= 0.0 {
                            RGBColor(220, 50, 40)
                        } else {
                            RGBColor(60, 110, 200)
                        };
                        Rectangle::new([(ba[i], bb[j]), (ba[i + 1], bb[j + 1])], c.mix(a).filled())
                    });
                    chart.draw_series(cells).map_err(|e| err(&e))?;
                }
                _ => return Err(err(&"a term has one or two features")),
            }
            root.present().map_err(|e| err(&e))?;
        }
        Ok(svg)
    }
}

/// The per-row state of one boosting run.
struct Boost<'a> {
    /// Bin index of each row per term.
    idx: Vec<Vec<usize>>,
    y: &'a [f64],
    train: Vec<usize>,
    valid: Vec<usize>,
    logit: Vec<f64>,
    cfg: &'a GamConfig,
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

fn log_loss(logit: &[f64], y: &[f64], rows: &[usize]) -> f64 {
    rows.iter()
        .map(|&i| {
            let t = logit[i];
            // log(1 + e^{-t}) for y = 1, log(1 + e^{t}) for y = 0
            let m = if y[i] > 0.5 { -t } else { t };
            if m > 30.0 { m } else { m.exp().ln_1p() }
        })
        .sum::<f64>()
        / rows.len().max(1) as f64
}

/// Best split of ordered bins `[lo, hi)` by Newton gain; `None` when no split has both sides
/// with at least `min_leaf` rows.
fn best_split(
    g: &[f64],
    h: &[f64],
    c: &[usize],
    lo: usize,
    hi: usize,
    min_leaf: usize,
) -> Option<(usize, f64)> {
    let (gt, ht, ct): (f64, f64, usize) = (
        g[lo..hi].iter().sum(),
        h[lo..hi].iter().sum(),
        c[lo..hi].iter().sum(),
    );
    let parent = gt * gt / ht.max(1e-12);
    let (mut gl, mut hl, mut cl) = (0.0, 0.0, 0usize);
    let mut best: Option<(usize, f64)> = None;
    for s in lo + 1..hi {
        gl += g[s - 1];
        hl += h[s - 1];
        cl += c[s - 1];
        if cl < min_leaf || ct - cl < min_leaf {
            continue;
        }
        let gain = gl * gl / hl.max(1e-12) + (gt - gl).powi(2) / (ht - hl).max(1e-12) - parent;
        if best.is_none_or(|(_, b)| gain > b) {
            best = Some((s, gain));
        }
    }
    best
}

impl Boost<'_> {
    /// Gradient, hessian and count per cell of term `t` over the training rows.
    fn sums(&self, t: usize, cells: usize) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
        let (mut g, mut h, mut c) = (vec![0.0; cells], vec![0.0; cells], vec![0usize; cells]);
        for &i in &self.train {
            let p = sigmoid(self.logit[i]);
            let b = self.idx[t][i];
            g[b] += self.y[i] - p;
            h[b] += p * (1.0 - p);
            c[b] += 1;
        }
        (g, h, c)
    }

    /// One boosting step on a main-effect term with `cells` ordered bins: a tree of at most
    /// three leaves, Newton leaf values shrunk by the learning rate. Returns the update per bin.
    fn step_main(&self, t: usize, cells: usize) -> Vec<f64> {
        let (g, h, c) = self.sums(t, cells);
        let mut leaves = vec![(0, cells)];
        if let Some((s, _)) = best_split(&g, &h, &c, 0, cells, self.cfg.min_leaf) {
            leaves = vec![(0, s), (s, cells)];
            let left = best_split(&g, &h, &c, 0, s, self.cfg.min_leaf);
            let right = best_split(&g, &h, &c, s, cells, self.cfg.min_leaf);
            match (left, right) {
                (Some((a, ga)), Some((_, gb))) if ga >= gb => {
                    leaves = vec![(0, a), (a, s), (s, cells)]
                }
                (_, Some((b, _))) => leaves = vec![(0, s), (s, b), (b, cells)],
                (Some((a, _)), None) => leaves = vec![(0, a), (a, s), (s, cells)],
                _ => {}
            }
        }
        let mut update = vec![0.0; cells];
        for (lo, hi) in leaves {
            let (gs, hs): (f64, f64) = (g[lo..hi].iter().sum(), h[lo..hi].iter().sum());
            let v = self.cfg.learning_rate * gs / hs.max(1e-12);
            update[lo..hi].iter_mut().for_each(|u| *u = v);
        }
        update
    }

    /// One boosting step on a pair term (`na × nb` cells): the best cut on the first feature,
    /// then the best cut on the second within each half (four leaves).
    fn step_pair(&self, t: usize, na: usize, nb: usize) -> Vec<f64> {
        let (g, h, c) = self.sums(t, na * nb);
        let fold = |rows: std::ops::Range<usize>| {
            let (mut gb, mut hb, mut cb) = (vec![0.0; nb], vec![0.0; nb], vec![0usize; nb]);
            for a in rows {
                for b in 0..nb {
                    gb[b] += g[a * nb + b];
                    hb[b] += h[a * nb + b];
                    cb[b] += c[a * nb + b];
                }
            }
            (gb, hb, cb)
        };
        let (mut ga, mut ha, mut ca) = (vec![0.0; na], vec![0.0; na], vec![0usize; na]);
        for a in 0..na {
            ga[a] = g[a * nb..(a + 1) * nb].iter().sum();
            ha[a] = h[a * nb..(a + 1) * nb].iter().sum();
            ca[a] = c[a * nb..(a + 1) * nb].iter().sum();
        }
        let cut_a = best_split(&ga, &ha, &ca, 0, na, self.cfg.min_leaf).map_or(na, |(s, _)| s);
        let mut update = vec![0.0; na * nb];
        for (lo, hi) in [(0, cut_a), (cut_a, na)] {
            if lo == hi {
                continue;
            }
            let (gb, hb, cb) = fold(lo..hi);
            let cut_b = best_split(&gb, &hb, &cb, 0, nb, self.cfg.min_leaf).map_or(nb, |(s, _)| s);
            for (blo, bhi) in [(0, cut_b), (cut_b, nb)] {
                if blo == bhi {
                    continue;
                }
                let gs: f64 = gb[blo..bhi].iter().sum();
                let hs: f64 = hb[blo..bhi].iter().sum();
                let v = self.cfg.learning_rate * gs / hs.max(1e-12);
                for a in lo..hi {
                    update[a * nb + blo..a * nb + bhi]
                        .iter_mut()
                        .for_each(|u| *u = v);
                }
            }
        }
        update
    }

    /// Cyclic boosting of `terms` (cells per term, and pair shapes) from the current logits,
    /// with early stopping on the held-out rows. Returns the best round's scores per term.
    fn run(
        &mut self,
        shapes: &[(usize, Option<(usize, usize)>)],
        term_ids: &[usize],
    ) -> Vec<Vec<f64>> {
        let mut scores: Vec<Vec<f64>> = shapes.iter().map(|&(n, _)| vec![0.0; n]).collect();
        let mut best = (log_loss(&self.logit, self.y, &self.valid), scores.clone());
        let mut since = 0;
        for _ in 0..self.cfg.max_rounds {
            for (k, &(cells, pair)) in shapes.iter().enumerate() {
                let t = term_ids[k];
                let update = match pair {
                    Some((na, nb)) => self.step_pair(t, na, nb),
                    None => self.step_main(t, cells),
                };
                for (s, u) in scores[k].iter_mut().zip(&update) {
                    *s += u;
                }
                for i in 0..self.logit.len() {
                    self.logit[i] += update[self.idx[t][i]];
                }
            }
            let loss = log_loss(&self.logit, self.y, &self.valid);
            if loss < best.0 - 1e-12 {
                best = (loss, scores.clone());
                since = 0;
            } else {
                since += 1;
                if since >= self.cfg.patience {
                    break;
                }
            }
        }
        // leave the logits at the best round's scores
        for (k, (now, kept)) in scores.iter().zip(&best.1).enumerate() {
            let t = term_ids[k];
            for i in 0..self.logit.len() {
                let b = self.idx[t][i];
                self.logit[i] += kept[b] - now[b];
            }
        }
        best.1
    }
}

/// FAST: the loss reduction of the best 2 × 2 piecewise-constant fit of the gradient on a pair
/// (one cut per feature), from the Newton gains of the four cells.
fn fast_gain(g: &[f64], h: &[f64], na: usize, nb: usize) -> f64 {
    let total_g: f64 = g.iter().sum();
    let total_h: f64 = h.iter().sum();
    let base = total_g * total_g / total_h.max(1e-12);
    // prefix sums over the grid for O(1) quadrant sums
    let mut pg = vec![0.0; (na + 1) * (nb + 1)];
    let mut ph = vec![0.0; (na + 1) * (nb + 1)];
    for a in 0..na {
        for b in 0..nb {
            let at = (a + 1) * (nb + 1) + b + 1;
            pg[at] = g[a * nb + b] + pg[a * (nb + 1) + b + 1] + pg[(a + 1) * (nb + 1) + b]
                - pg[a * (nb + 1) + b];
            ph[at] = h[a * nb + b] + ph[a * (nb + 1) + b + 1] + ph[(a + 1) * (nb + 1) + b]
                - ph[a * (nb + 1) + b];
        }
    }
    let rect = |p: &[f64], a0: usize, a1: usize, b0: usize, b1: usize| {
        p[a1 * (nb + 1) + b1] - p[a0 * (nb + 1) + b1] - p[a1 * (nb + 1) + b0]
            + p[a0 * (nb + 1) + b0]
    };
    let mut best = 0.0f64;
    for ca in 1..na {
        for cb in 1..nb {
            let mut gain = -base;
            for (a0, a1) in [(0, ca), (ca, na)] {
                for (b0, b1) in [(0, cb), (cb, nb)] {
                    let (gs, hs) = (rect(&pg, a0, a1, b0, b1), rect(&ph, a0, a1, b0, b1));
                    gain += gs * gs / hs.max(1e-12);
                }
            }
            best = best.max(gain);
        }
    }
    best
}

/// Fit an EBM-style GAM on rows `x` (finite values) and binary labels `y`.
pub fn fit_gam(x: &[Vec<f64>], y: &[bool], names: &[String], cfg: &GamConfig) -> Result<Gam> {
    let n = x.len();
    let d = names.len();
    if n < 10 || y.len() != n {
        return Err(XaiError::Config(format!(
            "GAM: {n} rows and {} labels (need the same, at least 10)",
            y.len()
        )));
    }
    if d == 0
        || x.iter()
            .any(|r| r.len() != d || r.iter().any(|v| !v.is_finite()))
    {
        return Err(XaiError::Config(format!(
            "GAM: every row needs {d} finite values (one per name, at least one)"
        )));
    }
    if cfg.bags == 0 || cfg.max_bins < 2 || cfg.max_pair_bins < 2 || !(cfg.learning_rate > 0.0) {
        return Err(XaiError::Config(
            "GAM: bags ≥ 1, max_bins and max_pair_bins ≥ 2, learning_rate > 0".into(),
        ));
    }
    if y.iter().all(|&v| v) || y.iter().all(|&v| !v) {
        return Err(XaiError::Config(
            "GAM: the labels have one class only".into(),
        ));
    }
    let yf: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    let column = |j: usize| x.iter().map(|r| r[j]).collect::<Vec<f64>>();
    let main_bins: Vec<Bins> = (0..d)
        .map(|j| Bins::fit(&column(j), cfg.max_bins))
        .collect();
    let pair_bins: Vec<Bins> = (0..d)
        .map(|j| Bins::fit(&column(j), cfg.max_pair_bins))
        .collect();
    let mut idx: Vec<Vec<usize>> = (0..d)
        .map(|j| x.iter().map(|r| main_bins[j].bin(r[j])).collect())
        .collect();
    let prior = {
        let p = yf.iter().sum::<f64>() / n as f64;
        (p / (1.0 - p)).ln()
    };

    // Main effects, bag by bag; then FAST on the bagged mains' residuals; then pairs.
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let splits: Vec<(Vec<usize>, Vec<usize>)> = (0..cfg.bags)
        .map(|_| {
            let mut rows: Vec<usize> = (0..n).collect();
            rows.shuffle(&mut rng);
            let cut = (n * 85 / 100).max(1);
            let (a, b) = rows.split_at(cut);
            (a.to_vec(), b.to_vec())
        })
        .collect();
    let main_shapes: Vec<(usize, Option<(usize, usize)>)> =
        main_bins.iter().map(|b| (b.len(), None)).collect();
    let main_ids: Vec<usize> = (0..d).collect();
    let mut mains = vec![vec![0.0; 0]; d];
    let mut bag_logits = Vec::with_capacity(cfg.bags);
    for (train, valid) in &splits {
        let mut boost = Boost {
            idx: idx.clone(),
            y: &yf,
            train: train.clone(),
            valid: valid.clone(),
            logit: vec![prior; n],
            cfg,
        };
        let s = boost.run(&main_shapes, &main_ids);
        for (m, s) in mains.iter_mut().zip(s) {
            if m.is_empty() {
                *m = vec![0.0; s.len()];
            }
            m.iter_mut()
                .zip(&s)
                .for_each(|(a, b)| *a += b / cfg.bags as f64);
        }
        bag_logits.push(boost.logit);
    }
    // Residual statistics for FAST from the averaged main effects.
    let logit: Vec<f64> = (0..n)
        .map(|i| prior + (0..d).map(|j| mains[j][idx[j][i]]).sum::<f64>())
        .collect();
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    if cfg.interactions > 0 {
        for a in 0..d {
            for b in a + 1..d {
                let (na, nb) = (pair_bins[a].len(), pair_bins[b].len());
                if na < 2 || nb < 2 {
                    continue;
                }
                let (mut g, mut h) = (vec![0.0; na * nb], vec![0.0; na * nb]);
                for i in 0..n {
                    let cell = pair_bins[a].bin(x[i][a]) * nb + pair_bins[b].bin(x[i][b]);
                    let p = sigmoid(logit[i]);
                    g[cell] += yf[i] - p;
                    h[cell] += p * (1.0 - p);
                }
                pairs.push((fast_gain(&g, &h, na, nb), a, b));
            }
        }
        pairs.sort_by(|p, q| q.0.total_cmp(&p.0).then((p.1, p.2).cmp(&(q.1, q.2))));
        pairs.truncate(cfg.interactions);
    }
    let mut pair_scores: Vec<Vec<f64>> = pairs
        .iter()
        .map(|&(_, a, b)| vec![0.0; pair_bins[a].len() * pair_bins[b].len()])
        .collect();
    if !pairs.is_empty() {
        let pair_ids: Vec<usize> = (d..d + pairs.len()).collect();
        for &(_, a, b) in &pairs {
            let nb = pair_bins[b].len();
            idx.push(
                x.iter()
                    .map(|r| pair_bins[a].bin(r[a]) * nb + pair_bins[b].bin(r[b]))
                    .collect(),
            );
        }
        let shapes: Vec<(usize, Option<(usize, usize)>)> = pairs
            .iter()
            .map(|&(_, a, b)| {
                let (na, nb) = (pair_bins[a].len(), pair_bins[b].len());
                (na * nb, Some((na, nb)))
            })
            .collect();
        for ((train, valid), logit) in splits.iter().zip(bag_logits) {
            let mut boost = Boost {
                idx: idx.clone(),
                y: &yf,
                train: train.clone(),
                valid: valid.clone(),
                logit,
                cfg,
            };
            let s = boost.run(&shapes, &pair_ids);
            for (m, s) in pair_scores.iter_mut().zip(s) {
                m.iter_mut()
                    .zip(&s)
                    .for_each(|(a, b)| *a += b / cfg.bags as f64);
            }
        }
    }
    // Centre every term on the training rows; its mean moves into the intercept.
    let mut intercept = prior;
    let mut terms = Vec::with_capacity(d + pairs.len());
    for (j, scores) in mains.into_iter().enumerate() {
        terms.push(Term {
            features: vec![j],
            bins: vec![main_bins[j].clone()],
            scores,
            importance: 0.0,
        });
    }
    for ((_, a, b), scores) in pairs.iter().zip(pair_scores) {
        terms.push(Term {
            features: vec![*a, *b],
            bins: vec![pair_bins[*a].clone(), pair_bins[*b].clone()],
            scores,
            importance: 0.0,
        });
    }
    for t in &mut terms {
        let mean = x.iter().map(|r| t.score(r)).sum::<f64>() / n as f64;
        t.scores.iter_mut().for_each(|s| *s -= mean);
        intercept += mean;
        t.importance = x.iter().map(|r| t.score(r).abs()).sum::<f64>() / n as f64;
    }
    Ok(Gam {
        names: names.to_vec(),
        intercept,
        terms,
    })
}
