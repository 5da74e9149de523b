//! Global surrogates: distil a model into a shallow decision tree or a sparse linear model on
//! synthetic samples the model labels (Craven & Shavlik 1996; the seeds' "global surrogate").
//!
//! Samples are drawn around the data (a data row plus Gaussian noise of `noise × σ_j` per
//! feature, clamped to the data's range), labelled by the model's arg-max, and the surrogate is
//! fitted on them. Fidelity is the surrogate's agreement with the model on a fresh held-out
//! sample of the same size; [`tree_surrogate`] doubles the training sample until fidelity
//! reaches the threshold or the sample cap. The tree prints as if-then rules, and
//! [`DecisionTree::nearest_leaf_counterfactual`] gives the exact L1-nearest point that the tree
//! assigns to a desired class (the closest point of the nearest leaf box).
//!
//! The CART learner is written here (Gini impurity, thresholds at up to 64 quantile midpoints
//! per feature): the Rust tree crates either pull in a full ML framework or cannot export their
//! splits, and rules and leaf boxes are the point of a surrogate.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::linear::{FitMethod, LinearFit, fit};
use super::{BlackBox, Evaluator, Rows, RunOptions};
use crate::error::{Result, XaiError};

/// A node of a fitted tree.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Node {
    /// `x[feature] <= threshold` goes left, else right.
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Index of the left child.
        left: usize,
        /// Index of the right child.
        right: usize,
    },
    /// A leaf predicting `class`, with its training purity and size.
    Leaf {
        /// Predicted class.
        class: usize,
        /// Fraction of its training samples in `class`.
        purity: f64,
        /// Training samples that reached it.
        samples: usize,
    },
}

/// A classification tree (node 0 is the root).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DecisionTree {
    /// Nodes; children have larger indices than parents.
    pub nodes: Vec<Node>,
    /// Number of features.
    pub features: usize,
}

fn gini(counts: &[usize], total: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    1.0 - counts
        .iter()
        .map(|&c| (c as f64 / total as f64).powi(2))
        .sum::<f64>()
}

impl DecisionTree {
    /// Fit CART on rows `x` (`[n, f]`) with labels in `0..classes`.
    pub fn fit(
        x: &[f64],
        labels: &[usize],
        f: usize,
        classes: usize,
        max_depth: usize,
        min_leaf: usize,
    ) -> Result<Self> {
        let rows = Rows::new(x, f)?;
        if labels.len() != rows.n || labels.iter().any(|&l| l >= classes) {
            return Err(XaiError::shape(
                "tree labels",
                format!("{} labels < {classes}", rows.n),
                &[labels.len()],
            ));
        }
        let mut tree = DecisionTree {
            nodes: Vec::new(),
            features: f,
        };
        let idx: Vec<usize> = (0..rows.n).collect();
        tree.grow(&rows, labels, classes, idx, max_depth, min_leaf.max(1));
        Ok(tree)
    }

    fn grow(
        &mut self,
        rows: &Rows,
        labels: &[usize],
        classes: usize,
        idx: Vec<usize>,
        depth: usize,
        min_leaf: usize,
    ) -> usize {
        let mut counts = vec![0usize; classes];
        for &i in &idx {
            counts[labels[i]] += 1;
        }
        let (class, &top) = counts
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .unwrap_or((0, &0));
        let me = self.nodes.len();
        self.nodes.push(Node::Leaf {
            class,
            purity: top as f64 / idx.len().max(1) as f64,
            samples: idx.len(),
        });
        if depth == 0 || top == idx.len() || idx.len() < 2 * min_leaf {
            return me;
        }
        let parent = gini(&counts, idx.len());
        let mut best: Option<(f64, usize, f64)> = None;
        for j in 0..rows.f {
            let mut order = idx.clone();
            order.sort_by(|&a, &b| rows.row(a)[j].total_cmp(&rows.row(b)[j]));
            let mut left = vec![0usize; classes];
            let step = (order.len() / 64).max(1);
            for (k, &i) in order.iter().enumerate().take(order.len() - 1) {
                left[labels[i]] += 1;
                let (lo, hi) = (rows.row(i)[j], rows.row(order[k + 1])[j]);
                let n_left = k + 1;
                if lo == hi
                    || n_left < min_leaf
                    || order.len() - n_left < min_leaf
                    || (step > 1 && !(k + 1).is_multiple_of(step))
                {
                    continue;
                }
                let right: Vec<usize> = counts.iter().zip(&left).map(|(c, l)| c - l).collect();
                let n_right = order.len() - n_left;
                let impurity = (n_left as f64 * gini(&left, n_left)
                    + n_right as f64 * gini(&right, n_right))
                    / order.len() as f64;
                if impurity < parent - 1e-12 && best.is_none_or(|(b, _, _)| impurity < b) {
                    best = Some((impurity, j, 0.5 * (lo + hi)));
                }
            }
        }
        let Some((_, feature, threshold)) = best else {
            return me;
        };
        let (l, r): (Vec<usize>, Vec<usize>) = idx
            .into_iter()
            .partition(|&i| rows.row(i)[feature] <= threshold);
        let left = self.grow(rows, labels, classes, l, depth - 1, min_leaf);
        let right = self.grow(rows, labels, classes, r, depth - 1, min_leaf);
        self.nodes[me] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        me
    }

    /// The leaf index reached by `x`.
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut n = 0;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = self.nodes[n]
        {
            n = if x[feature] <= threshold { left } else { right };
        }
        n
    }

    /// The predicted class of `x`.
    pub fn predict(&self, x: &[f64]) -> usize {
        match self.nodes[self.leaf(x)] {
            Node::Leaf { class, .. } => class,
            Node::Split { .. } => unreachable!("leaf() stops at a leaf"),
        }
    }

    /// Every leaf as its box: per feature `(low, high]` bounds, and its node.
    pub fn leaf_boxes(&self) -> Vec<(usize, Vec<(f64, f64)>)> {
        let mut out = Vec::new();
        let mut stack = vec![(
            0usize,
            vec![(f64::NEG_INFINITY, f64::INFINITY); self.features],
        )];
        while let Some((n, bounds)) = stack.pop() {
            match self.nodes[n] {
                Node::Leaf { .. } => out.push((n, bounds)),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let mut l = bounds.clone();
                    l[feature].1 = l[feature].1.min(threshold);
                    let mut r = bounds;
                    r[feature].0 = r[feature].0.max(threshold);
                    stack.push((right, r));
                    stack.push((left, l));
                }
            }
        }
        out
    }

    /// The tree as nested if-then rules, one line per node.
    pub fn rules(&self, names: &[String]) -> String {
        let mut s = String::new();
        self.rules_at(0, 0, names, &mut s);
        s
    }

    fn rules_at(&self, n: usize, indent: usize, names: &[String], s: &mut String) {
        let pad = "  ".repeat(indent);
        match &self.nodes[n] {
            Node::Leaf {
                class,
                purity,
                samples,
            } => {
                s.push_str(&format!(
                    "{pad}→ class {class} ({:.0}% of {samples})\n",
                    100.0 * purity
                ));
            }
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                let name = names
                    .get(*feature)
                    .cloned()
                    .unwrap_or_else(|| format!("x{feature}"));
                s.push_str(&format!("{pad}if {name} <= {threshold:.4}:\n"));
                self.rules_at(*left, indent + 1, names, s);
                s.push_str(&format!("{pad}else:  # {name} > {threshold:.4}\n"));
                self.rules_at(*right, indent + 1, names, s);
            }
        }
    }

    /// The L1-nearest point to `x` that the tree assigns to `desired` (the closest point of the
    /// nearest leaf box of that class; strict lower bounds are met by `margin`), with its
    /// distance. `None` if no leaf predicts `desired`.
    pub fn nearest_leaf_counterfactual(
        &self,
        x: &[f64],
        desired: usize,
        margin: f64,
    ) -> Option<(Vec<f64>, f64)> {
        self.leaf_boxes()
            .into_iter()
            .filter(|(n, _)| matches!(self.nodes[*n], Node::Leaf { class, .. } if class == desired))
            .map(|(_, bounds)| {
                let c: Vec<f64> = x
                    .iter()
                    .zip(&bounds)
                    .map(|(&v, &(lo, hi))| {
                        if v <= lo {
                            lo + margin
                        } else if v > hi {
                            hi
                        } else {
                            v
                        }
                    })
                    .collect();
                let d = c.iter().zip(x).map(|(a, b)| (a - b).abs()).sum::<f64>();
                (c, d)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// Settings of the surrogate fits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SurrogateConfig {
    /// Initial synthetic training samples.
    pub samples: usize,
    /// Cap on the training sample while growing it.
    pub max_samples: usize,
    /// Stop growing once held-out fidelity reaches this.
    pub fidelity_threshold: f64,
    /// Noise around data rows, in feature standard deviations.
    pub noise: f64,
    /// Tree depth.
    pub max_depth: usize,
    /// Minimum samples per leaf.
    pub min_leaf: usize,
    /// Seed.
    pub seed: u64,
    /// Budget and progress.
    pub run: RunOptions,
}

impl Default for SurrogateConfig {
    fn default() -> Self {
        SurrogateConfig {
            samples: 1000,
            max_samples: 64_000,
            fidelity_threshold: 0.95,
            noise: 0.3,
            max_depth: 4,
            min_leaf: 5,
            seed: 0,
            run: RunOptions::default(),
        }
    }
}

/// A tree surrogate and how faithful it is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TreeSurrogate {
    /// The tree.
    pub tree: DecisionTree,
    /// Agreement with the model on a held-out synthetic sample.
    pub fidelity: f64,
    /// Training samples used in the end.
    pub samples: usize,
    /// The seed.
    pub seed: u64,
}

struct Sampler {
    data: Vec<f64>,
    f: usize,
    std: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Sampler {
    fn new(data: &Rows) -> Self {
        let (n, f) = (data.n, data.f);
        let col = |j: usize| (0..n).map(move |i| data.row(i)[j]);
        let mean: Vec<f64> = (0..f).map(|j| col(j).sum::<f64>() / n as f64).collect();
        Sampler {
            data: data.data.to_vec(),
            f,
            std: (0..f)
                .map(|j| (col(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt())
                .collect(),
            lo: (0..f)
                .map(|j| col(j).fold(f64::INFINITY, f64::min))
                .collect(),
            hi: (0..f)
                .map(|j| col(j).fold(f64::NEG_INFINITY, f64::max))
                .collect(),
        }
    }

    fn draw(&self, m: usize, noise: f64, rng: &mut StdRng) -> Vec<f64> {
        let n = self.data.len() / self.f;
        let mut out = Vec::with_capacity(m * self.f);
        for _ in 0..m {
            let i = rng.random_range(0..n);
            for j in 0..self.f {
                let e: f64 = StandardNormal.sample(rng);
                out.push(
                    (self.data[i * self.f + j] + noise * self.std[j] * e)
                        .clamp(self.lo[j], self.hi[j]),
                );
            }
        }
        out
    }
}

fn label<M: BlackBox + ?Sized>(
    model: &M,
    rows: &[f64],
    f: usize,
    run: &RunOptions,
) -> Result<(Vec<usize>, Vec<f64>, usize)> {
    let m = rows.len() / f;
    let (out, k) = Evaluator::new(model, run, "surrogate labels")
        .outputs(m, |r, row| row.copy_from_slice(&rows[r * f..(r + 1) * f]))?;
    let labels = out.chunks(k).map(super::argmax).collect();
    Ok((labels, out, k))
}

/// Distil `model` into a decision tree on samples around `data`.
pub fn tree_surrogate<M: BlackBox + ?Sized>(
    model: &M,
    data: &Rows,
    config: &SurrogateConfig,
) -> Result<TreeSurrogate> {
    let f = data.f;
    if model.features() != f || config.samples < 2 {
        return Err(XaiError::Config(format!(
            "tree surrogate: {f} features, {} samples",
            config.samples
        )));
    }
    let sampler = Sampler::new(data);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut m = config.samples;
    loop {
        let train = sampler.draw(m, config.noise, &mut rng);
        let (y, _, k) = label(model, &train, f, &config.run)?;
        let tree = DecisionTree::fit(&train, &y, f, k, config.max_depth, config.min_leaf)?;
        let test = sampler.draw(m, config.noise, &mut rng);
        let (yt, _, _) = label(model, &test, f, &config.run)?;
        let agree = yt
            .iter()
            .enumerate()
            .filter(|(i, y)| tree.predict(&test[i * f..(i + 1) * f]) == **y)
            .count();
        let fidelity = agree as f64 / m as f64;
        if fidelity >= config.fidelity_threshold || m * 2 > config.max_samples {
            return Ok(TreeSurrogate {
                tree,
                fidelity,
                samples: m,
                seed: config.seed,
            });
        }
        m *= 2;
    }
}

/// Distil the output `class` of `model` into a sparse linear model (LASSO with `alpha`, or
/// forward selection via `method`) on samples around `data`; the fit's R² on held-out samples
/// is its fidelity.
pub fn linear_surrogate<M: BlackBox + ?Sized>(
    model: &M,
    data: &Rows,
    class: usize,
    method: &FitMethod,
    config: &SurrogateConfig,
) -> Result<(LinearFit, f64)> {
    let f = data.f;
    let sampler = Sampler::new(data);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let score = |rows: &[f64]| -> Result<Vec<f64>> {
        let (_, out, k) = label(model, rows, f, &config.run)?;
        if class >= k {
            return Err(XaiError::TargetOutOfRange {
                index: class,
                classes: k,
            });
        }
        Ok(out.chunks(k).map(|o| o[class]).collect())
    };
    let train = sampler.draw(config.samples, config.noise, &mut rng);
    let y = score(&train)?;
    let w = vec![1.0; y.len()];
    let lin = fit(&train, &y, &w, f, method)?;
    let test = sampler.draw(config.samples, config.noise, &mut rng);
    let yt = score(&test)?;
    let pred: Vec<f64> = test
        .chunks(f)
        .map(|r| lin.intercept + r.iter().zip(&lin.coef).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let mean = yt.iter().sum::<f64>() / yt.len() as f64;
    let sse: f64 = yt.iter().zip(&pred).map(|(a, b)| (a - b).powi(2)).sum();
    let sst: f64 = yt.iter().map(|a| (a - mean).powi(2)).sum();
    Ok((lin, if sst > 0.0 { 1.0 - sse / sst } else { 1.0 }))
}

/// LinearSHAP (Lundberg & Lee 2017) for a linear model `y_c = Σ_j w[c·F + j] x_j + b_c` with
/// independent features: `φ_j = w_cj (x_j − E[x_j])`, exact, no model evaluations.
pub fn linear_shap(
    weights: &[f64],
    inputs: &Rows,
    classes: &[usize],
    background_mean: &[f64],
) -> Result<Vec<f64>> {
    let f = inputs.f;
    if background_mean.len() != f
        || weights.is_empty()
        || !weights.len().is_multiple_of(f)
        || classes.len() != inputs.n
    {
        return Err(XaiError::shape(
            "LinearSHAP weights, classes, mean",
            format!("[K·{f}], {} classes, {f} means", inputs.n),
            &[weights.len(), classes.len(), background_mean.len()],
        ));
    }
    let k = weights.len() / f;
    if let Some(&bad) = classes.iter().find(|&&c| c >= k) {
        return Err(XaiError::TargetOutOfRange {
            index: bad,
            classes: k,
        });
    }
    Ok((0..inputs.n)
        .flat_map(|i| {
            (0..f)
                .map(move |j| weights[classes[i] * f + j] * (inputs.row(i)[j] - background_mean[j]))
        })
        .collect())
}
