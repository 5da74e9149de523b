//! Monte-Carlo permutation sampling of Shapley values (Castro et al. 2009; Štrumbelj &
//! Kononenko 2014), with antithetic permutations and a standard error per value.
//!
//! For a random order π of the `G` groups, the marginal contribution of group `k` is
//! `v(Pre_π(k) ∪ {k}) − v(Pre_π(k))`; its expectation over uniform orders is `φ_k`. Each order is
//! paired with its reverse (antithetic sampling, Mitchell et al. 2022), which cancels much of the
//! variance of additive parts; one sample is the mean over a pair. Every order's marginals sum to
//! `v(G) − v(∅)`, so efficiency holds exactly for any number of samples. With a background set
//! each order draws one background row (an unbiased estimate of the interventional value).
//!
//! The standard error of `φ_k` is `sd(pair samples)/√pairs`; it falls like `1/√pairs`.
//!
//! Cost: `N · 2P · (G+1)` rows for `P` pairs, budget-chunked.
//!
//! ```
//! use xai_core::agnostic::{FnModel, References, Rows, SamplingShapley, sampling_shapley};
//! use xai_core::Target;
//! // Additive models are exact with one antithetic pair.
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| r[3*i] - 2.0 * r[3*i+2]).collect());
//! let cfg = SamplingShapley { pairs: 1, ..Default::default() };
//! let res = sampling_shapley(&model, &Rows::new(&[1.0, 5.0, 1.0], 3).unwrap(), &Target::Class(0),
//!     &References::PerInput(vec![0.0; 3]), &cfg).unwrap();
//! assert_eq!(res.attribution.values, vec![1.0, 0.0, -2.0]);
//! ```

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::ablation::RowAttribution;
use super::shapley::compose;
use super::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions, Scorer};
use crate::error::{Result, XaiError};
use crate::target::Target;

/// Settings of [`sampling_shapley`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SamplingShapley {
    /// Number of antithetic pairs of permutations per input (2 permutations each).
    pub pairs: usize,
    /// Seed of the permutation sampler.
    pub seed: u64,
    /// Features that move together; `None`: every feature alone.
    pub groups: Option<FeatureGroups>,
    /// Budget and progress.
    pub run: RunOptions,
}

impl Default for SamplingShapley {
    fn default() -> Self {
        SamplingShapley {
            pairs: 64,
            seed: 0,
            groups: None,
            run: RunOptions::default(),
        }
    }
}

/// What [`sampling_shapley`] returns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SamplingShapleyResult {
    /// The estimated values, one per feature.
    pub attribution: RowAttribution,
    /// Standard error of each value, one per feature (`n · F`); `None` with a single pair.
    pub standard_error: Option<Vec<f64>>,
    /// The sampler's seed.
    pub seed: u64,
}

/// Permutation-sampling Shapley values of `inputs` for `target` against `references`.
pub fn sampling_shapley<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    references: &References,
    config: &SamplingShapley,
) -> Result<SamplingShapleyResult> {
    let (n, f) = (inputs.n, inputs.f);
    super::check_rows(model, inputs, references)?;
    if config.pairs == 0 {
        return Err(XaiError::Config(
            "permutation sampling needs pairs > 0".into(),
        ));
    }
    let groups = super::prepare(model, inputs, references, config.groups.as_ref())?;
    let g = groups.count();
    let perms_per_input = 2 * config.pairs;
    let mut rng = StdRng::seed_from_u64(config.seed);
    // For each input and permutation: the order and the reference row it uses. The position of
    // each group in the order makes the coalition test O(1).
    let m = references.per_input();
    let mut position = Vec::with_capacity(n * perms_per_input);
    let mut orders = Vec::with_capacity(n * perms_per_input);
    let mut reference = Vec::with_capacity(n * perms_per_input);
    for _ in 0..n {
        for _ in 0..config.pairs {
            let mut order: Vec<usize> = (0..g).collect();
            order.shuffle(&mut rng);
            let r = if m > 1 { rng.random_range(0..m) } else { 0 };
            let reversed: Vec<usize> = order.iter().rev().copied().collect();
            for o in [order, reversed] {
                let mut pos = vec![0usize; g];
                for (t, &k) in o.iter().enumerate() {
                    pos[k] = t;
                }
                position.push(pos);
                orders.push(o);
                reference.push(r);
            }
        }
    }
    let per_perm = g + 1;
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, &config.run, "permutation Shapley");
    // Row (i, p, t): the first t groups of order p present.
    let v = eval.scores(
        n * perms_per_input * per_perm,
        &scorer,
        |idx, row| {
            let (ip, t) = (idx / per_perm, idx % per_perm);
            let i = ip / perms_per_input;
            let pos = &position[ip];
            compose(
                row,
                inputs.row(i),
                references.row(i, reference[ip], f),
                &groups,
                |k| pos[k] < t,
            );
        },
        |idx| idx / (perms_per_input * per_perm),
    )?;
    let mut values = Vec::with_capacity(n * f);
    let mut errors = Vec::with_capacity(n * f);
    for i in 0..n {
        let mut sum = vec![0.0; g];
        let mut sum_sq = vec![0.0; g];
        for pair in 0..config.pairs {
            let mut sample = vec![0.0; g];
            for half in 0..2 {
                let ip = i * perms_per_input + 2 * pair + half;
                let base = ip * per_perm;
                for (t, &k) in orders[ip].iter().enumerate() {
                    sample[k] += 0.5 * (v[base + t + 1] - v[base + t]);
                }
            }
            for k in 0..g {
                sum[k] += sample[k];
                sum_sq[k] += sample[k] * sample[k];
            }
        }
        let p = config.pairs as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / p).collect();
        let se: Vec<f64> = (0..g)
            .map(|k| {
                let var = ((sum_sq[k] - p * mean[k] * mean[k]) / (p - 1.0).max(1.0)).max(0.0);
                (var / p).sqrt()
            })
            .collect();
        values.extend(groups.expand(&mean));
        errors.extend(groups.expand(&se));
    }
    Ok(SamplingShapleyResult {
        attribution: RowAttribution {
            method: "sampling_shapley".into(),
            values,
            n,
            features: f,
            targets: scorer.classes().map(|c| c.to_vec()),
        },
        standard_error: (config.pairs > 1).then_some(errors),
        seed: config.seed,
    })
}
