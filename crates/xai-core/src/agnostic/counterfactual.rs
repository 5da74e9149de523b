//! Diverse counterfactual explanations for any model, gradient-free (after DiCE, Mothilal et al.
//! 2020, with its genetic search and post-hoc sparsity).
//!
//! Given an input `x` and a desired class `y*`, find `k` points `c_1 … c_k` with
//! `argmax f(c_i) = y*` that are close to `x` (proximity: mean range-normalised L1 distance),
//! change few features (sparsity), and differ from each other (diversity: mean pairwise distance).
//! Constraints are hard, never penalties: immutable features are copied from `x`, every value
//! stays in its `[min, max]`, a monotone feature only moves in its allowed direction, and a
//! categorical feature only takes its listed values. They hold for every candidate ever evaluated.
//!
//! Search: a population of candidates is evaluated as one batch per generation (budget-chunked);
//! the fittest survive, are recombined with each other and mutated, and the loss is
//! `hinge(margin to y*) + λ_p·distance + λ_s·changed/F`. Then `k` valid candidates are picked
//! greedily for loss plus diversity, and each is made sparser by reverting changed features to
//! `x` (one batch per round) as long as it stays valid.
//!
//! Reported per set: validity (fraction of the `k` that reach `y*`), proximity, sparsity,
//! diversity, and the seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{BlackBox, Evaluator, Rows, RunOptions};
use crate::error::{Result, XaiError};

/// Allowed direction of change of a feature.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Monotone {
    /// Either direction.
    #[default]
    Any,
    /// Only upwards (e.g. age, years of education).
    Increase,
    /// Only downwards.
    Decrease,
}

/// Constraints of one feature.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FeatureSpec {
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
    /// Never changed.
    pub immutable: bool,
    /// Allowed direction of change.
    pub monotone: Monotone,
    /// For a categorical feature, its allowed values (`None`: continuous).
    pub categories: Option<Vec<f64>>,
}

impl FeatureSpec {
    /// A continuous, mutable feature in `[min, max]`.
    pub fn range(min: f64, max: f64) -> Self {
        FeatureSpec {
            min,
            max,
            immutable: false,
            monotone: Monotone::Any,
            categories: None,
        }
    }

    /// The interval feature `j` may take, starting from value `x`.
    fn interval(&self, x: f64) -> (f64, f64) {
        match self.monotone {
            Monotone::Any => (self.min, self.max),
            Monotone::Increase => (x.max(self.min), self.max),
            Monotone::Decrease => (self.min, x.min(self.max)),
        }
    }

    /// Project `v` onto what this feature allows, starting from `x`.
    fn project(&self, x: f64, v: f64) -> f64 {
        if self.immutable {
            return x;
        }
        let (lo, hi) = self.interval(x);
        match &self.categories {
            Some(cats) => {
                // The allowed category nearest to v (within the monotone interval), else x.
                cats.iter()
                    .copied()
                    .filter(|c| *c >= lo && *c <= hi)
                    .min_by(|a, b| (a - v).abs().total_cmp(&(b - v).abs()))
                    .unwrap_or(x)
            }
            None => v.clamp(lo, hi),
        }
    }

    fn sample(&self, x: f64, rng: &mut StdRng) -> f64 {
        if self.immutable {
            return x;
        }
        let (lo, hi) = self.interval(x);
        match &self.categories {
            Some(cats) => {
                let allowed: Vec<f64> = cats
                    .iter()
                    .copied()
                    .filter(|c| *c >= lo && *c <= hi)
                    .collect();
                if allowed.is_empty() {
                    x
                } else {
                    allowed[rng.random_range(0..allowed.len())]
                }
            }
            None if hi > lo => rng.random_range(lo..=hi),
            None => lo,
        }
    }
}

/// Settings of [`counterfactuals`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CounterfactualConfig {
    /// Number of counterfactuals wanted.
    pub total: usize,
    /// Candidates per generation.
    pub population: usize,
    /// Generations of the genetic search.
    pub generations: usize,
    /// Weight of the distance in the loss.
    pub proximity_weight: f64,
    /// Weight of the fraction of changed features in the loss.
    pub sparsity_weight: f64,
    /// Weight of diversity when picking the final set.
    pub diversity_weight: f64,
    /// Seed of the search.
    pub seed: u64,
    /// Budget and progress.
    pub run: RunOptions,
}

impl Default for CounterfactualConfig {
    fn default() -> Self {
        CounterfactualConfig {
            total: 4,
            population: 200,
            generations: 30,
            proximity_weight: 0.5,
            sparsity_weight: 0.5,
            diversity_weight: 1.0,
            seed: 0,
            run: RunOptions::default(),
        }
    }
}

/// One counterfactual.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Counterfactual {
    /// The counterfactual input.
    pub row: Vec<f64>,
    /// The model's predicted class on it.
    pub predicted: usize,
    /// Whether it reaches the desired class.
    pub valid: bool,
    /// Features that differ from the input.
    pub changed: Vec<usize>,
    /// Range-normalised L1 distance to the input (mean over features).
    pub distance: f64,
}

/// A diverse set of counterfactuals and its quality.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CounterfactualSet {
    /// The counterfactuals, best first (fewer than `total` when fewer valid ones were found).
    pub counterfactuals: Vec<Counterfactual>,
    /// Fraction of the returned counterfactuals that are valid.
    pub validity: f64,
    /// Mean distance to the input (lower is closer).
    pub proximity: f64,
    /// Mean number of changed features.
    pub sparsity: f64,
    /// Mean pairwise distance between counterfactuals.
    pub diversity: f64,
    /// Model evaluations spent.
    pub evaluations: usize,
    /// The search's seed.
    pub seed: u64,
}

fn distance(a: &[f64], b: &[f64], scale: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .zip(scale)
        .map(|((x, y), s)| (x - y).abs() / s)
        .sum::<f64>()
        / a.len() as f64
}

struct Scored {
    row: Vec<f64>,
    predicted: usize,
    margin: f64,
}

/// Counterfactuals of the single input `x` that the model assigns to `desired`.
pub fn counterfactuals<M: BlackBox + ?Sized>(
    model: &M,
    x: &[f64],
    desired: usize,
    specs: &[FeatureSpec],
    config: &CounterfactualConfig,
) -> Result<CounterfactualSet> {
    let f = model.features();
    Rows::new(x, f)?;
    if x.len() != f || specs.len() != f {
        return Err(XaiError::shape(
            "counterfactual input and specs",
            format!("{f} features"),
            &[x.len(), specs.len()],
        ));
    }
    for (j, s) in specs.iter().enumerate() {
        if !s.min.is_finite() || !s.max.is_finite() || s.min > s.max {
            return Err(XaiError::Config(format!(
                "feature {j}: invalid range [{}, {}]",
                s.min, s.max
            )));
        }
        if !s.immutable && (x[j] < s.min || x[j] > s.max) {
            return Err(XaiError::Config(format!(
                "feature {j}: input value {} outside its range [{}, {}]",
                x[j], s.min, s.max
            )));
        }
    }
    if config.total == 0 || config.population < 2 || config.generations == 0 {
        return Err(XaiError::Config(
            "counterfactuals need total ≥ 1, population ≥ 2, generations ≥ 1".into(),
        ));
    }
    let scale: Vec<f64> = specs.iter().map(|s| (s.max - s.min).max(1e-12)).collect();
    let mutable: Vec<usize> = (0..f).filter(|&j| !specs[j].immutable).collect();
    if mutable.is_empty() {
        return Err(XaiError::Config(
            "every feature is immutable: no counterfactual can exist".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let eval = Evaluator::new(model, &config.run, "counterfactuals");
    let mut evaluations = 0usize;
    let score = |rows: Vec<Vec<f64>>, evaluations: &mut usize| -> Result<Vec<Scored>> {
        let (out, k) = eval.outputs(rows.len(), |r, row| row.copy_from_slice(&rows[r]))?;
        *evaluations += rows.len();
        if desired >= k {
            return Err(XaiError::TargetOutOfRange {
                index: desired,
                classes: k,
            });
        }
        Ok(rows
            .into_iter()
            .zip(out.chunks(k))
            .map(|(row, o)| {
                let predicted = super::argmax(o);
                let best_other = o
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != desired)
                    .map(|(_, v)| *v)
                    .fold(f64::NEG_INFINITY, f64::max);
                Scored {
                    row,
                    predicted,
                    margin: o[desired] - best_other,
                }
            })
            .collect())
    };
    let loss = |s: &Scored| {
        let changed = s.row.iter().zip(x).filter(|(a, b)| a != b).count() as f64 / f as f64;
        (-s.margin).max(0.0)
            + config.proximity_weight * distance(&s.row, x, &scale)
            + config.sparsity_weight * changed
    };
    // Initial population: change a random subset of 1..=|mutable| features of x.
    let random_candidate = |rng: &mut StdRng| {
        let mut c = x.to_vec();
        let changes = rng.random_range(1..=mutable.len());
        for j in rand::seq::index::sample(rng, mutable.len(), changes) {
            let j = mutable[j];
            c[j] = specs[j].sample(x[j], rng);
        }
        c
    };
    let initial: Vec<Vec<f64>> = (0..config.population)
        .map(|_| random_candidate(&mut rng))
        .collect();
    let mut population = score(initial, &mut evaluations)?;
    let mut archive: Vec<Scored> = Vec::new();
    for _ in 1..config.generations {
        population.sort_by(|a, b| loss(a).total_cmp(&loss(b)));
        let elite = (config.population / 4).max(2).min(population.len());
        let mut children = Vec::with_capacity(config.population - elite);
        while children.len() + elite < config.population {
            let (a, b) = (rng.random_range(0..elite), rng.random_range(0..elite));
            let mut c: Vec<f64> = (0..f)
                .map(|j| {
                    if rng.random::<bool>() {
                        population[a].row[j]
                    } else {
                        population[b].row[j]
                    }
                })
                .collect();
            // Mutation: resample one feature, or pull one back to x (sparser), or a fresh point.
            match rng.random_range(0..10) {
                0 => c = random_candidate(&mut rng),
                1..=3 => {
                    let j = mutable[rng.random_range(0..mutable.len())];
                    c[j] = x[j];
                }
                _ => {
                    let j = mutable[rng.random_range(0..mutable.len())];
                    c[j] = specs[j].sample(x[j], &mut rng);
                }
            }
            for j in 0..f {
                c[j] = specs[j].project(x[j], c[j]);
            }
            children.push(c);
        }
        let survivors: Vec<Scored> = population.drain(..elite).collect();
        archive.extend(population.drain(..).filter(|s| s.predicted == desired));
        population = survivors;
        population.extend(score(children, &mut evaluations)?);
    }
    archive.extend(population.into_iter().filter(|s| s.predicted == desired));
    archive.sort_by(|a, b| loss(a).total_cmp(&loss(b)));
    archive.dedup_by(|a, b| a.row == b.row);

    // Greedy diverse selection among valid candidates.
    let mut chosen: Vec<Scored> = Vec::new();
    while chosen.len() < config.total && !archive.is_empty() {
        let pick = (0..archive.len())
            .map(|i| {
                let spread = chosen
                    .iter()
                    .map(|c| distance(&c.row, &archive[i].row, &scale))
                    .fold(f64::INFINITY, f64::min);
                let spread = if chosen.is_empty() { 0.0 } else { spread };
                (i, -loss(&archive[i]) + config.diversity_weight * spread)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(i, _)| i);
        chosen.push(archive.swap_remove(pick));
    }

    // Post-hoc sparsity: revert changed features (smallest change first) while still valid.
    for _ in 0..f {
        let mut trials = Vec::new();
        let mut owners = Vec::new();
        for (ci, c) in chosen.iter().enumerate() {
            let changed: Vec<usize> = (0..f).filter(|&j| c.row[j] != x[j]).collect();
            if let Some(&j) = changed.iter().min_by(|&&a, &&b| {
                ((c.row[a] - x[a]).abs() / scale[a])
                    .total_cmp(&((c.row[b] - x[b]).abs() / scale[b]))
            }) {
                let mut t = c.row.clone();
                t[j] = x[j];
                trials.push(t);
                owners.push(ci);
            }
        }
        if trials.is_empty() {
            break;
        }
        let mut any = false;
        for (s, ci) in score(trials, &mut evaluations)?.into_iter().zip(owners) {
            if s.predicted == desired {
                chosen[ci] = s;
                any = true;
            }
        }
        if !any {
            break;
        }
    }

    let counterfactuals: Vec<Counterfactual> = chosen
        .into_iter()
        .map(|s| Counterfactual {
            changed: (0..f).filter(|&j| s.row[j] != x[j]).collect(),
            distance: distance(&s.row, x, &scale),
            valid: s.predicted == desired,
            predicted: s.predicted,
            row: s.row,
        })
        .collect();
    let k = counterfactuals.len().max(1) as f64;
    let mut pair_sum = 0.0;
    let mut pairs = 0.0;
    for a in 0..counterfactuals.len() {
        for b in a + 1..counterfactuals.len() {
            pair_sum += distance(&counterfactuals[a].row, &counterfactuals[b].row, &scale);
            pairs += 1.0;
        }
    }
    Ok(CounterfactualSet {
        validity: counterfactuals.iter().filter(|c| c.valid).count() as f64 / k,
        proximity: counterfactuals.iter().map(|c| c.distance).sum::<f64>() / k,
        sparsity: counterfactuals
            .iter()
            .map(|c| c.changed.len() as f64)
            .sum::<f64>()
            / k,
        diversity: if pairs > 0.0 { pair_sum / pairs } else { 0.0 },
        counterfactuals,
        evaluations,
        seed: config.seed,
    })
}
