//! Faithfulness: does removing what an explanation calls important change the model's output?
//!
//! - **Deletion / insertion curves** (pixel flipping, Bach et al. 2015; RISE, Petsiuk et al.
//!   2018). Features (or feature groups: superpixels, patches — "region perturbation") are
//!   ranked by attribution; step `s` replaces the top `s·k` of them by the reference (deletion)
//!   or starts from the reference and restores them (insertion). The curve is the explained
//!   output after each step; its area under the curve over the removed fraction `[0, 1]`
//!   (trapezoid rule) summarises it: a faithful map has a **low deletion AUC** and a **high
//!   insertion AUC**. Every step of every input is one row of one batched evaluation.
//!   Deletion of image patches ([`region_curves`] with `FeatureGroups::image_patches`) is
//!   Montavon et al.'s *selectivity* (checked against Quantus's `Selectivity`).
//! - **Monotonicity** (Arya et al. 2019): restoring features from the least to the most
//!   important never lowers the output (one verdict per input).
//! - **Faithfulness correlation** (Bhatt et al. 2020): over `runs` random subsets `S` of fixed
//!   size, the Pearson correlation between `Σ_{i∈S} φᵢ` and `f(x) − f(x with S replaced)`.
//! - **Infidelity** (Yeh et al. 2019; Captum's `infidelity`):
//!   `E_I[(Iᵀφ − (f(x) − f(x − I)))²]` over perturbations `I` (Gaussian noise, or subset removal
//!   `I = (x − x̄) ⊙ 1_S`); with `normalize` the attribution is first rescaled by the optimal
//!   `β = E[Iᵀφ Δ] / E[(Iᵀφ)²]`, as Captum's `normalize=True`.
//! - **Completeness error** `|Σφ − (f(x) − f(x̄))|` (Sundararajan et al.'s axiom).
//! - **ROAR** (remove and retrain, Hooker et al. 2019): the top fraction of features of every
//!   training and test input is replaced by a fill value, a user closure retrains and scores;
//!   a faithful ranking makes the score fall faster than a random one.
//!
//! Shapes: inputs and attributions are `n × F` rows (flattened), references one row per input.
//! The explained output is the class logit ([`Output::Raw`]) or its softmax probability.
//! Random subsets are drawn from a per-input stream of `seed`, so results do not depend on the
//! memory budget's chunking.
//!
//! ```
//! use xai_core::agnostic::{FnModel, References, Rows};
//! use xai_core::metrics::faithfulness::{CurveConfig, deletion};
//! // f(x) = 3 x₀ + x₁ − 0·x₂: the exact attribution (x ⊙ w) deletes best.
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| 3.0 * r[3 * i] + r[3 * i + 1]).collect());
//! let x = [1.0, 1.0, 1.0];
//! let inputs = Rows::new(&x, 3).unwrap();
//! let refs = References::PerInput(vec![0.0; 3]);
//! let good = Rows::new(&[3.0, 1.0, 0.0], 3).unwrap();
//! let bad = Rows::new(&[0.0, 1.0, 3.0], 3).unwrap();
//! let cfg = CurveConfig::default();
//! let g = deletion(&model, &inputs, &good, &refs, &[0], &cfg).unwrap();
//! let b = deletion(&model, &inputs, &bad, &refs, &[0], &cfg).unwrap();
//! assert_eq!(g.curves[0], vec![4.0, 1.0, 0.0, 0.0]);
//! assert!(g.mean_auc < b.mean_auc);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::agnostic::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions};
use crate::error::{Result, XaiError};
use crate::metrics::similarity::pearson;
use crate::metrics::{Output, class_values, input_seed};

/// How features are ranked for removal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// By signed value, largest first (Quantus's pixel flipping).
    #[default]
    Signed,
    /// By absolute value, largest first.
    Absolute,
}

/// Settings of [`deletion`] and [`insertion`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurveConfig {
    /// Features (or groups) removed per step.
    pub features_per_step: usize,
    /// Ranking of features.
    pub order: Order,
    /// Explained output.
    pub output: Output,
    /// Memory budget and progress.
    pub options: RunOptions,
}

impl Default for CurveConfig {
    fn default() -> Self {
        CurveConfig {
            features_per_step: 1,
            order: Order::Signed,
            output: Output::Raw,
            options: RunOptions::default(),
        }
    }
}

impl CurveConfig {
    /// `features_per_step`, which must be at least 1.
    fn step(&self) -> Result<usize> {
        match self.features_per_step {
            0 => Err(XaiError::Config(
                "features_per_step must be at least 1".into(),
            )),
            k => Ok(k),
        }
    }
}

/// Deletion or insertion curves of `n` inputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Curves {
    /// Fraction of features (groups) removed or inserted at each step, `0` to `1`.
    pub fractions: Vec<f64>,
    /// `curves[i][s]`: explained output of input `i` after step `s` (step 0 = untouched).
    pub curves: Vec<Vec<f64>>,
    /// Trapezoid area under each curve over `fractions`.
    pub auc: Vec<f64>,
    /// Mean of `auc`.
    pub mean_auc: f64,
}

/// Per-input references (one row per input); a background set is not a single reference.
pub(crate) fn reference_rows(references: &References, n: usize, f: usize) -> Result<&[f64]> {
    match references {
        References::PerInput(v) if v.len() == n * f => Ok(v),
        References::PerInput(v) => Err(XaiError::shape(
            "references",
            format!("{n}·{f} values"),
            &[v.len()],
        )),
        References::Background { .. } => Err(XaiError::Config(
            "faithfulness metrics replace features by one reference per input, not a background set"
                .into(),
        )),
    }
}

pub(crate) fn check_pair<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    classes: &[usize],
) -> Result<()> {
    if model.features() != inputs.f {
        return Err(XaiError::shape(
            "inputs",
            format!("{} features", model.features()),
            &[inputs.n, inputs.f],
        ));
    }
    if attributions.n != inputs.n || attributions.f != inputs.f {
        return Err(XaiError::shape(
            "attributions",
            format!("[{}, {}] like the inputs", inputs.n, inputs.f),
            &[attributions.n, attributions.f],
        ));
    }
    if classes.len() != inputs.n {
        return Err(XaiError::shape(
            "target classes",
            format!("{} entries", inputs.n),
            &[classes.len()],
        ));
    }
    Ok(())
}

/// Group ranks of each input: `rank[i][g]` = position of group `g` in input `i`'s removal order.
fn group_ranks(attributions: &Rows, groups: &FeatureGroups, order: Order) -> Vec<Vec<usize>> {
    (0..attributions.n)
        .map(|i| {
            let mut score = vec![0.0; groups.count()];
            for (j, v) in attributions.row(i).iter().enumerate() {
                score[groups.of(j)] += v;
            }
            if order == Order::Absolute {
                score.iter_mut().for_each(|s| *s = s.abs());
            }
            let mut idx: Vec<usize> = (0..score.len()).collect();
            idx.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
            let mut rank = vec![0; score.len()];
            for (r, &g) in idx.iter().enumerate() {
                rank[g] = r;
            }
            rank
        })
        .collect()
}

fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum()
}

/// What a deletion or insertion curve is made of; [`CurvePoints::at`] evaluates any of its
/// steps for any of its inputs.
struct CurvePoints<'a> {
    inputs: &'a Rows<'a>,
    refs: &'a [f64],
    classes: &'a [usize],
    groups: &'a FeatureGroups,
    /// Per input, the rank of each group (0 = removed or restored first).
    ranks: &'a [Vec<usize>],
    insert: bool,
    config: &'a CurveConfig,
}

impl CurvePoints<'_> {
    /// The curve values at `steps` of the inputs `which`, one `Vec` per input, in one batched
    /// evaluation.
    fn at<M: BlackBox + ?Sized>(
        &self,
        model: &M,
        which: &[usize],
        steps: std::ops::RangeInclusive<usize>,
    ) -> Result<Vec<Vec<f64>>> {
        let (first, per) = (*steps.start(), steps.count());
        if per == 0 {
            return Ok(vec![Vec::new(); which.len()]);
        }
        let (f, k) = (self.inputs.f, self.config.features_per_step);
        let label = if self.insert { "insertion" } else { "deletion" };
        let mut values = Vec::with_capacity(which.len() * per);
        Evaluator::new(model, &self.config.options, label).run(
            which.len() * per,
            |r, row| {
                let (i, s) = (which[r / per], first + r % per);
                let (x, x0) = (self.inputs.row(i), &self.refs[i * f..(i + 1) * f]);
                for j in 0..f {
                    let removed = self.ranks[i][self.groups.of(j)] < s * k;
                    row[j] = if removed != self.insert { x0[j] } else { x[j] };
                }
            },
            |start, out, kk| {
                values.extend(class_values(out, kk, self.config.output, |r| {
                    self.classes[which[(start + r) / per]]
                })?);
                Ok(())
            },
        )?;
        Ok(values.chunks(per).map(<[f64]>::to_vec).collect())
    }
}

#[allow(clippy::too_many_arguments)]
fn curves<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    groups: Option<&FeatureGroups>,
    config: &CurveConfig,
    insert: bool,
    max_steps: Option<usize>,
) -> Result<Curves> {
    check_pair(model, inputs, attributions, classes)?;
    let (n, f) = (inputs.n, inputs.f);
    let refs = reference_rows(references, n, f)?;
    let groups = match groups {
        Some(g) if g.features() != f => {
            return Err(XaiError::shape(
                "feature groups",
                format!("{f} entries"),
                &[g.features()],
            ));
        }
        Some(g) => g.clone(),
        None => FeatureGroups::singletons(f),
    };
    let k = config.step()?;
    let g = groups.count();
    let steps = g.div_ceil(k).min(max_steps.unwrap_or(usize::MAX));
    let per = steps + 1;
    let ranks = group_ranks(attributions, &groups, config.order);
    let fractions: Vec<f64> = (0..per).map(|s| (s * k).min(g) as f64 / g as f64).collect();
    let all: Vec<usize> = (0..n).collect();
    let curve = CurvePoints {
        inputs,
        refs,
        classes,
        groups: &groups,
        ranks: &ranks,
        insert,
        config,
    };
    let curves = curve.at(model, &all, 0..=steps)?;
    let auc: Vec<f64> = curves.iter().map(|c| trapezoid(&fractions, c)).collect();
    let mean_auc = auc.iter().sum::<f64>() / n as f64;
    Ok(Curves {
        fractions,
        curves,
        auc,
        mean_auc,
    })
}

/// Deletion curves: remove the most important features first (see the module docs).
pub fn deletion<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    config: &CurveConfig,
) -> Result<Curves> {
    curves(
        model,
        inputs,
        attributions,
        references,
        classes,
        None,
        config,
        false,
        None,
    )
}

/// Insertion curves: start from the reference and restore the most important features first.
pub fn insertion<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    config: &CurveConfig,
) -> Result<Curves> {
    curves(
        model,
        inputs,
        attributions,
        references,
        classes,
        None,
        config,
        true,
        None,
    )
}

/// Monotonicity (Arya et al., 2019): starting from the reference, restore the features from
/// the *least* to the most important (ranked by `config.order`) and check that the explained
/// output never decreases; one verdict per input. The insertion curve behind it is
/// [`insertion`] on the reversed ranking.
///
/// Quantus 0.6's `Monotonicity` writes the baseline value into an input already filled with
/// it, so its curve is constant and every explanation — a random one too — passes; this one
/// restores the input's own values (the test `monotonicity_catches_what_quantus_misses`
/// shows the difference).
pub fn monotonicity<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    config: &CurveConfig,
) -> Result<Vec<bool>> {
    check_pair(model, inputs, attributions, classes)?;
    let (n, f) = (inputs.n, inputs.f);
    let k = config.step()?;
    // Least important first = largest first of the negated ranking key.
    let reversed: Vec<f64> = attributions
        .data
        .iter()
        .map(|&a| match config.order {
            Order::Signed => -a,
            Order::Absolute => -a.abs(),
        })
        .collect();
    let reversed = Rows::new(&reversed, attributions.f)?;
    let groups = FeatureGroups::singletons(f);
    let ranks = group_ranks(&reversed, &groups, Order::Signed);
    let curve = CurvePoints {
        inputs,
        refs: reference_rows(references, n, f)?,
        classes,
        groups: &groups,
        ranks: &ranks,
        insert: true,
        config,
    };
    // The insertion curve in blocks of growing length: an input is settled at its first fall,
    // so only the inputs still monotone are evaluated further.
    let steps = f.div_ceil(k);
    let mut monotone = vec![true; n];
    let mut last = vec![f64::NEG_INFINITY; n];
    let mut open: Vec<usize> = (0..n).collect();
    let (mut first, mut block) = (0usize, 4usize);
    while first <= steps && !open.is_empty() {
        let end = (first + block - 1).min(steps);
        for (&i, values) in open.iter().zip(curve.at(model, &open, first..=end)?) {
            for v in values {
                if v.is_nan() || v < last[i] {
                    monotone[i] = false;
                    break;
                }
                last[i] = v;
            }
        }
        open.retain(|&i| monotone[i]);
        first = end + 1;
        block *= 2;
    }
    Ok(monotone)
}

/// Region perturbation: [`deletion`] (or insertion) of whole feature groups, ranked by the
/// sum of their attributions.
#[allow(clippy::too_many_arguments)]
pub fn region_curves<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    groups: &FeatureGroups,
    config: &CurveConfig,
    insert: bool,
) -> Result<Curves> {
    curves(
        model,
        inputs,
        attributions,
        references,
        classes,
        Some(groups),
        config,
        insert,
        None,
    )
}

/// The first `steps` steps of the [`deletion`] curves (`steps + 1` values per input): for
/// metrics that read only the start of the curve.
pub(crate) fn deletion_prefix<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    config: &CurveConfig,
    steps: usize,
) -> Result<Curves> {
    curves(
        model,
        inputs,
        attributions,
        references,
        classes,
        None,
        config,
        false,
        Some(steps),
    )
}

/// Settings of [`faithfulness_correlation`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CorrelationConfig {
    /// Features replaced per run (`|S|`).
    pub subset_size: usize,
    /// Random subsets per input.
    pub runs: usize,
    /// Seed of the subsets.
    pub seed: u64,
    /// Explained output.
    pub output: Output,
    /// Memory budget and progress.
    pub options: RunOptions,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            subset_size: 16,
            runs: 100,
            seed: 0,
            output: Output::Raw,
            options: RunOptions::default(),
        }
    }
}

/// Faithfulness correlation per input (see the module docs).
pub fn faithfulness_correlation<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    config: &CorrelationConfig,
) -> Result<Vec<f64>> {
    check_pair(model, inputs, attributions, classes)?;
    let (n, f, runs) = (inputs.n, inputs.f, config.runs);
    let refs = reference_rows(references, n, f)?;
    if config.subset_size == 0 || config.subset_size > f || runs < 2 {
        return Err(XaiError::Config(format!(
            "faithfulness correlation needs 1 ≤ subset_size ≤ {f} and at least 2 runs"
        )));
    }
    // subsets[i][r]: a sorted mask of the features replaced in run r of input i.
    let masks: Vec<Vec<Vec<bool>>> = (0..n)
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(input_seed(config.seed, i));
            (0..runs)
                .map(|_| {
                    let mut m = vec![false; f];
                    for j in sample(&mut rng, f, config.subset_size) {
                        m[j] = true;
                    }
                    m
                })
                .collect()
        })
        .collect();
    let per = runs + 1;
    let mut values = Vec::with_capacity(n * per);
    Evaluator::new(model, &config.options, "faithfulness correlation").run(
        n * per,
        |r, row| {
            let (i, s) = (r / per, r % per);
            let (x, x0) = (inputs.row(i), &refs[i * f..(i + 1) * f]);
            for j in 0..f {
                row[j] = if s > 0 && masks[i][s - 1][j] {
                    x0[j]
                } else {
                    x[j]
                };
            }
        },
        |start, out, kk| {
            values.extend(class_values(out, kk, config.output, |r| {
                classes[(start + r) / per]
            })?);
            Ok(())
        },
    )?;
    Ok((0..n)
        .map(|i| {
            let v = &values[i * per..(i + 1) * per];
            let a = attributions.row(i);
            let drops: Vec<f64> = v[1..].iter().map(|p| v[0] - p).collect();
            let sums: Vec<f64> = masks[i]
                .iter()
                .map(|m| (0..f).filter(|&j| m[j]).map(|j| a[j]).sum())
                .collect();
            pearson(&sums, &drops)
        })
        .collect())
}

/// How [`infidelity`] perturbs an input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Perturbation {
    /// `I ~ N(0, std²)` per feature; the perturbed input is `x − I`.
    Gaussian {
        /// Standard deviation of the noise.
        std: f64,
    },
    /// `I = (x − x̄) ⊙ 1_S` for a random subset `S` of `size` features: `x − I` replaces `S`
    /// by the reference.
    SubsetRemoval {
        /// Features removed per perturbation.
        size: usize,
    },
}

/// Settings of [`infidelity`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InfidelityConfig {
    /// The perturbation distribution.
    pub perturbation: Perturbation,
    /// Perturbations per input.
    pub samples: usize,
    /// Rescale the attribution by the optimal `β` first (Captum's `normalize=True`).
    pub normalize: bool,
    /// Seed of the perturbations.
    pub seed: u64,
    /// Explained output.
    pub output: Output,
    /// Memory budget and progress.
    pub options: RunOptions,
}

impl Default for InfidelityConfig {
    fn default() -> Self {
        InfidelityConfig {
            perturbation: Perturbation::Gaussian { std: 0.1 },
            samples: 64,
            normalize: false,
            seed: 0,
            output: Output::Raw,
            options: RunOptions::default(),
        }
    }
}

/// Infidelity per input (see the module docs); lower is more faithful.
pub fn infidelity<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    config: &InfidelityConfig,
) -> Result<Vec<f64>> {
    check_pair(model, inputs, attributions, classes)?;
    let (n, f, m) = (inputs.n, inputs.f, config.samples);
    if m == 0 {
        return Err(XaiError::Config(
            "infidelity needs at least one sample".into(),
        ));
    }
    let refs = match config.perturbation {
        Perturbation::SubsetRemoval { size } if size == 0 || size > f => {
            return Err(XaiError::Config(format!(
                "subset removal needs 1 ≤ size ≤ {f}"
            )));
        }
        Perturbation::SubsetRemoval { .. } => Some(reference_rows(references, n, f)?),
        Perturbation::Gaussian { std } if !(std > 0.0 && std.is_finite()) => {
            return Err(XaiError::Config(format!(
                "Gaussian perturbation needs a positive finite std, got {std}"
            )));
        }
        Perturbation::Gaussian { .. } => None,
    };
    // perturbations[i][s]: the vector I (F values).
    let perturbations: Vec<Vec<Vec<f64>>> = (0..n)
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(input_seed(config.seed, i));
            let x = inputs.row(i);
            (0..m)
                .map(|_| match (config.perturbation, refs) {
                    (Perturbation::Gaussian { std }, _) => {
                        let normal = Normal::new(0.0, std).expect("std checked positive");
                        (0..f).map(|_| normal.sample(&mut rng)).collect()
                    }
                    (Perturbation::SubsetRemoval { size }, Some(refs)) => {
                        let mut v = vec![0.0; f];
                        for j in sample(&mut rng, f, size) {
                            v[j] = x[j] - refs[i * f + j];
                        }
                        v
                    }
                    (Perturbation::SubsetRemoval { .. }, None) => vec![0.0; f],
                })
                .collect()
        })
        .collect();
    let per = m + 1;
    let mut values = Vec::with_capacity(n * per);
    Evaluator::new(model, &config.options, "infidelity").run(
        n * per,
        |r, row| {
            let (i, s) = (r / per, r % per);
            let x = inputs.row(i);
            for j in 0..f {
                row[j] = if s == 0 {
                    x[j]
                } else {
                    x[j] - perturbations[i][s - 1][j]
                };
            }
        },
        |start, out, kk| {
            values.extend(class_values(out, kk, config.output, |r| {
                classes[(start + r) / per]
            })?);
            Ok(())
        },
    )?;
    Ok((0..n)
        .map(|i| {
            let v = &values[i * per..(i + 1) * per];
            let a = attributions.row(i);
            let dots: Vec<f64> = perturbations[i]
                .iter()
                .map(|p| p.iter().zip(a).map(|(u, w)| u * w).sum())
                .collect();
            let drops: Vec<f64> = v[1..].iter().map(|p| v[0] - p).collect();
            let beta = if config.normalize {
                let num: f64 = dots.iter().zip(&drops).map(|(d, y)| d * y).sum();
                let den: f64 = dots.iter().map(|d| d * d).sum();
                if den > 0.0 { num / den } else { 1.0 }
            } else {
                1.0
            };
            dots.iter()
                .zip(&drops)
                .map(|(d, y)| (beta * d - y).powi(2))
                .sum::<f64>()
                / m as f64
        })
        .collect())
}

/// Completeness error per input, `|Σφ − (f(x) − f(x̄))|` on the raw output.
pub fn completeness_error<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    options: &RunOptions,
) -> Result<Vec<f64>> {
    check_pair(model, inputs, attributions, classes)?;
    let (n, f) = (inputs.n, inputs.f);
    let refs = reference_rows(references, n, f)?;
    let mut values = Vec::with_capacity(2 * n);
    Evaluator::new(model, options, "completeness").run(
        2 * n,
        |r, row| {
            let i = r / 2;
            row.copy_from_slice(if r % 2 == 0 {
                inputs.row(i)
            } else {
                &refs[i * f..(i + 1) * f]
            });
        },
        |start, out, kk| {
            values.extend(class_values(out, kk, Output::Raw, |r| {
                classes[(start + r) / 2]
            })?);
            Ok(())
        },
    )?;
    Ok((0..n)
        .map(|i| {
            let total: f64 = attributions.row(i).iter().sum();
            (total - (values[2 * i] - values[2 * i + 1])).abs()
        })
        .collect())
}

/// One point of a ROAR curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoarPoint {
    /// Fraction of features removed from every input.
    pub fraction: f64,
    /// The retrained model's score (e.g. test accuracy) returned by the closure.
    pub score: f64,
}

/// Remove and retrain: for each fraction, replace the top `fraction` of every training and test
/// input's features (by its own attribution, largest signed value first) with `fill` (one
/// value per feature, e.g. the training mean) and call `retrain(train, test)`, which retrains
/// from scratch on the degraded training rows and returns a score on the degraded test rows.
pub fn remove_and_retrain(
    train: &Rows,
    train_attributions: &Rows,
    test: &Rows,
    test_attributions: &Rows,
    fill: &[f64],
    fractions: &[f64],
    mut retrain: impl FnMut(&[f64], &[f64]) -> Result<f64>,
) -> Result<Vec<RoarPoint>> {
    let f = train.f;
    for (what, rows, attr) in [
        ("training attributions", train, train_attributions),
        ("test attributions", test, test_attributions),
    ] {
        if rows.f != f || attr.f != f || attr.n != rows.n {
            return Err(XaiError::shape(
                what,
                format!("[{}, {f}]", rows.n),
                &[attr.n, attr.f],
            ));
        }
    }
    if fill.len() != f {
        return Err(XaiError::shape(
            "fill values",
            format!("{f}"),
            &[fill.len()],
        ));
    }
    if let Some(bad) = fractions.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(XaiError::Config(format!(
            "ROAR fractions must lie in [0, 1], got {bad}"
        )));
    }
    let degrade = |rows: &Rows, attr: &Rows, fraction: f64| -> Vec<f64> {
        let groups = FeatureGroups::singletons(f);
        let ranks = group_ranks(attr, &groups, Order::Signed);
        let cut = (fraction * f as f64).round() as usize;
        let mut out = rows.data.to_vec();
        for i in 0..rows.n {
            for j in 0..f {
                if ranks[i][j] < cut {
                    out[i * f + j] = fill[j];
                }
            }
        }
        out
    };
    fractions
        .iter()
        .map(|&fraction| {
            let score = retrain(
                &degrade(train, train_attributions, fraction),
                &degrade(test, test_attributions, fraction),
            )?;
            Ok(RoarPoint { fraction, score })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agnostic::FnModel;

    fn linear(w: Vec<f64>) -> impl BlackBox {
        let f = w.len();
        FnModel::new(f, move |r: &[f64], n| {
            (0..n)
                .map(|i| {
                    r[i * f..(i + 1) * f]
                        .iter()
                        .zip(&w)
                        .map(|(x, w)| x * w)
                        .sum()
                })
                .collect()
        })
    }

    #[test]
    fn exact_linear_attributions_have_zero_infidelity_and_completeness_error() {
        let w = vec![0.5, -2.0, 1.0, 3.0];
        let model = linear(w.clone());
        let x = [1.0, 2.0, -1.0, 0.5, 0.3, 0.1, 0.2, -0.7];
        let inputs = Rows::new(&x, 4).unwrap();
        // φ = w ⊙ (x − 0): exact for a linear model.
        let phi: Vec<f64> = x.iter().enumerate().map(|(j, v)| v * w[j % 4]).collect();
        let attr = Rows::new(&phi, 4).unwrap();
        let refs = References::PerInput(vec![0.0; 8]);
        let c = completeness_error(
            &model,
            &inputs,
            &attr,
            &refs,
            &[0, 0],
            &RunOptions::default(),
        )
        .unwrap();
        assert!(c.iter().all(|e| *e < 1e-12));
        // For Gaussian perturbations Iᵀw = f(x) − f(x − I), so the gradient w has zero infidelity.
        let grad: Vec<f64> = (0..8).map(|j| w[j % 4]).collect();
        let g = Rows::new(&grad, 4).unwrap();
        let inf = infidelity(
            &model,
            &inputs,
            &g,
            &refs,
            &[0, 0],
            &InfidelityConfig::default(),
        )
        .unwrap();
        assert!(inf.iter().all(|e| *e < 1e-20), "{inf:?}");
        // Subset removal: the removed part's Iᵀφ equals the output drop for φ = w ⊙ x.
        let cfg = InfidelityConfig {
            perturbation: Perturbation::SubsetRemoval { size: 2 },
            ..InfidelityConfig::default()
        };
        let inf = infidelity(&model, &inputs, &g, &refs, &[0, 0], &cfg).unwrap();
        assert!(inf.iter().all(|e| *e < 1e-20));
    }

    #[test]
    fn chunking_does_not_change_any_metric() {
        let model = linear(vec![1.0, -1.0, 2.0, 0.5, 0.0, 1.5]);
        let x: Vec<f64> = (0..18).map(|i| (i as f64 * 0.7).sin()).collect();
        let a: Vec<f64> = (0..18).map(|i| (i as f64 * 1.3).cos()).collect();
        let (inputs, attr) = (Rows::new(&x, 6).unwrap(), Rows::new(&a, 6).unwrap());
        let refs = References::PerInput(vec![0.0; 18]);
        let tiny = RunOptions {
            budget: crate::MemoryBudget { bytes: 1 },
            progress: false,
        };
        let big = CorrelationConfig {
            subset_size: 2,
            runs: 10,
            ..CorrelationConfig::default()
        };
        let small = CorrelationConfig {
            options: tiny.clone(),
            ..big.clone()
        };
        let cls = [0, 0, 0];
        assert_eq!(
            faithfulness_correlation(&model, &inputs, &attr, &refs, &cls, &big).unwrap(),
            faithfulness_correlation(&model, &inputs, &attr, &refs, &cls, &small).unwrap()
        );
        let d1 = deletion(&model, &inputs, &attr, &refs, &cls, &CurveConfig::default()).unwrap();
        let d2 = deletion(
            &model,
            &inputs,
            &attr,
            &refs,
            &cls,
            &CurveConfig {
                options: tiny,
                ..CurveConfig::default()
            },
        )
        .unwrap();
        assert_eq!(d1.curves, d2.curves);
        // Deletion ends at the reference and insertion starts there.
        let ins = insertion(&model, &inputs, &attr, &refs, &cls, &CurveConfig::default()).unwrap();
        for i in 0..3 {
            assert_eq!(d1.curves[i].last(), Some(&0.0));
            assert_eq!(ins.curves[i][0], 0.0);
        }
    }

    #[test]
    fn regions_and_steps_cover_every_feature_once() {
        let model = linear(vec![1.0; 5]);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let inputs = Rows::new(&x, 5).unwrap();
        let attr = Rows::new(&x, 5).unwrap();
        let refs = References::PerInput(vec![0.0; 5]);
        let cfg = CurveConfig {
            features_per_step: 2,
            ..CurveConfig::default()
        };
        let d = deletion(&model, &inputs, &attr, &refs, &[0], &cfg).unwrap();
        assert_eq!(d.curves[0], vec![15.0, 6.0, 1.0, 0.0]);
        assert_eq!(d.fractions, vec![0.0, 0.4, 0.8, 1.0]);
        let groups = FeatureGroups::from_mask(vec![0, 0, 1, 1, 1]).unwrap();
        let r = region_curves(
            &model,
            &inputs,
            &attr,
            &refs,
            &[0],
            &groups,
            &CurveConfig::default(),
            false,
        )
        .unwrap();
        assert_eq!(r.curves[0], vec![15.0, 3.0, 0.0]);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let model = linear(vec![1.0, 1.0]);
        let x = [1.0, 2.0];
        let inputs = Rows::new(&x, 2).unwrap();
        let refs = References::PerInput(vec![0.0; 2]);
        let wrong = Rows::new(&[1.0, 2.0, 3.0], 3).unwrap();
        let cfg = CurveConfig::default();
        assert!(deletion(&model, &inputs, &wrong, &refs, &[0], &cfg).is_err());
        assert!(deletion(&model, &inputs, &inputs, &refs, &[0, 1], &cfg).is_err());
        assert!(deletion(&model, &inputs, &inputs, &refs, &[3], &cfg).is_err());
        let bg = References::Background {
            rows: vec![0.0; 2],
            m: 1,
        };
        assert!(deletion(&model, &inputs, &inputs, &bg, &[0], &cfg).is_err());
    }

    #[test]
    fn roar_removes_the_requested_fraction() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let rows = Rows::new(&x, 4).unwrap();
        let pts = remove_and_retrain(
            &rows,
            &rows,
            &rows,
            &rows,
            &[0.0; 4],
            &[0.0, 0.5, 1.0],
            |train, _test| Ok(train.iter().filter(|v| **v != 0.0).count() as f64),
        )
        .unwrap();
        let scores: Vec<f64> = pts.iter().map(|p| p.score).collect();
        assert_eq!(scores, vec![4.0, 2.0, 0.0]);
        assert!(
            remove_and_retrain(&rows, &rows, &rows, &rows, &[0.0; 4], &[1.5], |_, _| Ok(
                0.0
            ))
            .is_err()
        );
    }
}
