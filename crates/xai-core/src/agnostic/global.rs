//! Global explanations: what a model does over a whole data set.
//!
//! - [`permutation_importance`] (Breiman 2001; Fisher et al. 2019): the drop of a metric when one
//!   feature's column is shuffled, repeated `R` times, with a Student-t confidence interval.
//! - [`leave_one_feature_out`]: the drop when the model is *retrained* without a feature, through
//!   a user closure (the only way to separate "the model uses it" from "the data needs it").
//! - [`partial_dependence`] (Friedman 2001) and ICE curves (Goldstein et al. 2015):
//!   `ICE_i(v) = f(x_i with x_j := v)`, `PD(v) = mean_i ICE_i(v)`.
//! - [`accumulated_local_effects`] (Apley & Zhu 2020): mean finite differences within quantile
//!   bins of the feature, accumulated and centred; unlike PD it does not evaluate the model on
//!   impossible feature combinations when features are correlated.
//! - [`mean_abs_importance`]: global importance as the mean |φ| of local attributions (SHAP's
//!   summary bar).
//!
//! Every curve and every shuffled copy of the data is evaluated in budget-sized batches.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::ablation::RowAttribution;
use super::{BlackBox, Evaluator, Rows, RunOptions, Scorer};
use crate::error::{Result, XaiError};
use crate::target::Target;

/// A metric of model outputs `[m, K]` (row-major) against the data set's labels; higher is
/// better (accuracy, negative loss, R²).
pub type Metric<'a> = &'a dyn Fn(&[f64], usize) -> f64;

/// Accuracy of arg-max predictions against integer labels.
pub fn accuracy(labels: &[usize]) -> impl Fn(&[f64], usize) -> f64 + '_ {
    move |out: &[f64], k: usize| {
        let hits = out
            .chunks(k)
            .zip(labels)
            .filter(|(row, y)| {
                let best = super::argmax(row);
                best == **y
            })
            .count();
        hits as f64 / labels.len().max(1) as f64
    }
}

/// One feature's importance with its uncertainty.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Importance {
    /// Feature index.
    pub feature: usize,
    /// Mean drop of the metric (baseline − shuffled).
    pub mean: f64,
    /// Standard deviation over repeats.
    pub std: f64,
    /// 95% confidence interval of the mean (Student t with R−1 degrees of freedom).
    pub ci95: (f64, f64),
    /// The drop of each repeat.
    pub repeats: Vec<f64>,
}

/// Permutation importance: the result per feature and the unshuffled metric.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PermutationImportance {
    /// The metric on the unshuffled data.
    pub baseline: f64,
    /// One entry per feature.
    pub features: Vec<Importance>,
    /// Seed of the shuffles.
    pub seed: u64,
}

/// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

fn summarise(feature: usize, repeats: Vec<f64>) -> Importance {
    let r = repeats.len() as f64;
    let mean = repeats.iter().sum::<f64>() / r;
    let std = if repeats.len() > 1 {
        (repeats.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (r - 1.0)).sqrt()
    } else {
        0.0
    };
    let half = if repeats.len() > 1 {
        t975(repeats.len() - 1) * std / r.sqrt()
    } else {
        0.0
    };
    Importance {
        feature,
        mean,
        std,
        ci95: (mean - half, mean + half),
        repeats,
    }
}

/// Permutation feature importance of `model` on `data` under `metric`, `repeats` shuffles per
/// feature.
pub fn permutation_importance<M: BlackBox + ?Sized>(
    model: &M,
    data: &Rows,
    metric: Metric,
    repeats: usize,
    seed: u64,
    run: &RunOptions,
) -> Result<PermutationImportance> {
    let (m, f) = (data.n, data.f);
    if model.features() != f {
        return Err(XaiError::shape(
            "data",
            format!("{} features", model.features()),
            &[m, f],
        ));
    }
    if repeats == 0 || m < 2 {
        return Err(XaiError::Config(
            "permutation importance needs repeats ≥ 1 and at least 2 rows".into(),
        ));
    }
    let eval = Evaluator::new(model, run, "permutation importance");
    let (base_out, k) = eval.outputs(m, |r, row| row.copy_from_slice(data.row(r)))?;
    let baseline = metric(&base_out, k);
    let mut rng = StdRng::seed_from_u64(seed);
    let perms: Vec<Vec<usize>> = (0..f * repeats)
        .map(|_| {
            let mut p: Vec<usize> = (0..m).collect();
            p.shuffle(&mut rng);
            p
        })
        .collect();
    // Row layout: (feature j, repeat r, row i) -> (j·R + r)·m + i.
    let (out, k) = eval.outputs(f * repeats * m, |idx, row| {
        let (jr, i) = (idx / m, idx % m);
        let j = jr / repeats;
        row.copy_from_slice(data.row(i));
        row[j] = data.row(perms[jr][i])[j];
    })?;
    let features = (0..f)
        .map(|j| {
            let drops = (0..repeats)
                .map(|r| {
                    let s = (j * repeats + r) * m * k;
                    baseline - metric(&out[s..s + m * k], k)
                })
                .collect();
            summarise(j, drops)
        })
        .collect();
    Ok(PermutationImportance {
        baseline,
        features,
        seed,
    })
}

/// Leave-one-feature-out importance: `retrain(j)` must retrain without feature `j` and return
/// the held-out metric; the importance is `baseline − retrain(j)` for each feature.
pub fn leave_one_feature_out(
    features: usize,
    baseline: f64,
    mut retrain: impl FnMut(usize) -> Result<f64>,
) -> Result<Vec<f64>> {
    (0..features).map(|j| Ok(baseline - retrain(j)?)).collect()
}

/// A partial-dependence curve with its ICE curves.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PartialDependence {
    /// The feature.
    pub feature: usize,
    /// Grid values of the feature.
    pub grid: Vec<f64>,
    /// `PD(grid[g])`.
    pub average: Vec<f64>,
    /// `ice[i][g]`: row `i`'s curve.
    pub ice: Vec<Vec<f64>>,
}

/// Quantile grid of `points` values over a feature column (deduplicated).
pub fn quantile_grid(data: &Rows, feature: usize, points: usize) -> Vec<f64> {
    let mut col: Vec<f64> = (0..data.n).map(|i| data.row(i)[feature]).collect();
    col.sort_by(f64::total_cmp);
    let mut grid: Vec<f64> = (0..points.max(2))
        .map(|g| {
            let q = g as f64 / (points.max(2) - 1) as f64;
            let pos = q * (col.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            col[lo] + (col[hi] - col[lo]) * (pos - lo as f64)
        })
        .collect();
    grid.dedup();
    grid
}

/// PD and ICE curves of `target` for `feature` over `grid` (all `m · |grid|` rows batched).
pub fn partial_dependence<M: BlackBox + ?Sized>(
    model: &M,
    data: &Rows,
    target: &Target,
    feature: usize,
    grid: &[f64],
    run: &RunOptions,
) -> Result<PartialDependence> {
    let (m, f) = (data.n, data.f);
    if feature >= f || grid.is_empty() || model.features() != f {
        return Err(XaiError::Config(format!(
            "partial dependence: feature {feature} of {f}, {} grid points",
            grid.len()
        )));
    }
    let scorer = Scorer::resolve(model, data, target)?;
    let gl = grid.len();
    let v = Evaluator::new(model, run, "partial dependence").scores(
        m * gl,
        &scorer,
        |idx, row| {
            row.copy_from_slice(data.row(idx / gl));
            row[feature] = grid[idx % gl];
        },
        |idx| idx / gl,
    )?;
    let ice: Vec<Vec<f64>> = v.chunks(gl).map(|c| c.to_vec()).collect();
    let average = (0..gl)
        .map(|g| ice.iter().map(|c| c[g]).sum::<f64>() / m as f64)
        .collect();
    Ok(PartialDependence {
        feature,
        grid: grid.to_vec(),
        average,
        ice,
    })
}

/// An accumulated-local-effects curve.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccumulatedLocalEffects {
    /// The feature.
    pub feature: usize,
    /// Bin edges `z_0 < … < z_K`.
    pub edges: Vec<f64>,
    /// Centred ALE at each edge.
    pub effect: Vec<f64>,
    /// Rows per bin.
    pub counts: Vec<usize>,
}

/// ALE of `target` for `feature` with (up to) `bins` quantile bins.
pub fn accumulated_local_effects<M: BlackBox + ?Sized>(
    model: &M,
    data: &Rows,
    target: &Target,
    feature: usize,
    bins: usize,
    run: &RunOptions,
) -> Result<AccumulatedLocalEffects> {
    let (m, f) = (data.n, data.f);
    if feature >= f || bins == 0 || model.features() != f {
        return Err(XaiError::Config(format!(
            "ALE: feature {feature} of {f}, {bins} bins"
        )));
    }
    let edges = quantile_grid(data, feature, bins + 1);
    if edges.len() < 2 {
        return Err(XaiError::Config(format!(
            "ALE: feature {feature} is constant"
        )));
    }
    let nb = edges.len() - 1;
    // Bin of each row: k with z_{k} < x ≤ z_{k+1} (the first bin includes its lower edge).
    let bin_of: Vec<usize> = (0..m)
        .map(|i| {
            let x = data.row(i)[feature];
            edges[1..].iter().position(|&e| x <= e).unwrap_or(nb - 1)
        })
        .collect();
    let scorer = Scorer::resolve(model, data, target)?;
    let v = Evaluator::new(model, run, "ALE").scores(
        2 * m,
        &scorer,
        |idx, row| {
            let i = idx / 2;
            row.copy_from_slice(data.row(i));
            row[feature] = edges[bin_of[i] + idx % 2];
        },
        |idx| idx / 2,
    )?;
    let mut sum = vec![0.0; nb];
    let mut counts = vec![0usize; nb];
    for i in 0..m {
        sum[bin_of[i]] += v[2 * i + 1] - v[2 * i];
        counts[bin_of[i]] += 1;
    }
    let mut effect = vec![0.0; nb + 1];
    for k in 0..nb {
        let local = if counts[k] > 0 {
            sum[k] / counts[k] as f64
        } else {
            0.0
        };
        effect[k + 1] = effect[k] + local;
    }
    // Centre so that the mean effect over the data is zero (bin midpoints weighted by counts).
    let mean = (0..nb)
        .map(|k| counts[k] as f64 * 0.5 * (effect[k] + effect[k + 1]))
        .sum::<f64>()
        / m as f64;
    effect.iter_mut().for_each(|e| *e -= mean);
    Ok(AccumulatedLocalEffects {
        feature,
        edges,
        effect,
        counts,
    })
}

/// Global importance per feature as the mean |φ| over the explained inputs.
pub fn mean_abs_importance(attribution: &RowAttribution) -> Vec<f64> {
    let f = attribution.features;
    (0..f)
        .map(|j| {
            (0..attribution.n)
                .map(|i| attribution.values[i * f + j].abs())
                .sum::<f64>()
                / attribution.n.max(1) as f64
        })
        .collect()
}
