//! TCAV: testing with concept activation vectors (Kim et al., ICML 2018), on any burn model
//! through the engine's layer taps (no change to the model).
//!
//! - **CAV**: an L2-regularised logistic regression (α = 0.01, full-batch gradient descent)
//!   separates the flattened layer activations of concept examples from those of counter-examples
//!   (the larger set truncated to the smaller, 67/33 train/held-out split, seeded); the CAV is its
//!   unit weight vector, pointing to the concept. Held-out accuracy is reported.
//! - **Directional derivative** of class `k` at input `x`: `S = ∇ₐ f_k(a(x)) · v`, with the
//!   logit's gradient at the layer.
//! - **TCAV score**: the fraction of the class's inputs with `S > 0`.
//! - **Runs**: one CAV per random counter-set (`R` sets), each fitted on its own seeded
//!   subsample of the concept examples (as many as the counter-set holds), so the runs see the
//!   concept's sampling noise; the concept's statistic is its mean score over the runs.
//! - **Significance against many random concepts** (Kim et al.'s random-vs-random null): `M`
//!   random concepts (≥ 10), each a set drawn like the concept but from data without it, go
//!   through exactly the same runs against the same counter-sets; their mean scores are the
//!   null distribution. The p-value is the two-sided t-test of one new value against that
//!   sample (prediction form: `t = (s_c − μ̂) / (σ̂ √(1 + 1/M))`, `M − 1` degrees of freedom);
//!   `p_rank` is the exact rank test under exchangeability (`#{|s_k − s̄| ≥ |s_c − s̄|} / (M + 1)`
//!   over the concept and the `M` random concepts). Both treat one concept as *one* draw:
//!   testing its runs against random-vs-random runs as if they were independent (a t-test of
//!   `R` scores against `R` null scores) ignores that every run shares the same concept set, and
//!   calls sets of random images significant far more often than `α` (the benchmark
//!   `xai proto bench tcav-calibration` measures the false-positive rate).
//! - **Several concepts or layers**: [`holm`] adjusts their p-values together
//!   (Holm–Bonferroni, family-wise error ≤ α).
//!
//! Shapes: activations and gradients `[N, …]` flattened to `[N, d]`.
//!
//! ```
//! use xai_proto::tcav::train_cav;
//! let pos: Vec<Vec<f64>> = (0..20).map(|i| vec![1.0 + 0.01 * i as f64, 0.0]).collect();
//! let neg: Vec<Vec<f64>> = (0..20).map(|i| vec![-1.0 - 0.01 * i as f64, 0.0]).collect();
//! let cav = train_cav(&pos, &neg, 0).unwrap();
//! assert!(cav.direction[0] > 0.99 && cav.accuracy == 1.0);
//! ```

use burn::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::stats::{holm, prediction_ttest, rank_p_value};
use xai_core::{Result, Target, XaiError};
use xai_grad::methods::Explainable;
use xai_grad::methods::layer::{layer_activation, layer_activation_and_gradient};

/// A concept activation vector.
#[derive(Clone, Debug, Serialize)]
pub struct Cav {
    /// Unit vector pointing from the counter-examples to the concept.
    pub direction: Vec<f64>,
    /// Held-out accuracy of the linear classifier.
    pub accuracy: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fit a CAV separating `concept` rows from `negative` rows.
pub fn train_cav(concept: &[Vec<f64>], negative: &[Vec<f64>], seed: u64) -> Result<Cav> {
    let n = concept.len().min(negative.len());
    if n < 3 {
        return Err(XaiError::EmptyBatch(
            "a CAV needs at least 3 examples per side".into(),
        ));
    }
    let d = concept[0].len();
    if concept.iter().chain(negative).any(|r| r.len() != d) {
        return Err(XaiError::shape(
            "CAV activations",
            format!("rows of {d}"),
            &[],
        ));
    }
    let mut rows: Vec<(&[f64], f64)> = concept[..n]
        .iter()
        .map(|r| (r.as_slice(), 1.0))
        .chain(negative[..n].iter().map(|r| (r.as_slice(), 0.0)))
        .collect();
    rows.shuffle(&mut StdRng::seed_from_u64(seed));
    let split = (rows.len() * 2).div_ceil(3);
    let (train, held) = rows.split_at(split);
    // Lipschitz constant of the mean logistic loss gradient: ¼·max‖x‖² + α (with the bias as a
    // unit feature)
    let alpha = 0.01;
    let lip = 0.25
        * train
            .iter()
            .map(|(r, _)| r.iter().map(|v| v * v).sum::<f64>() + 1.0)
            .fold(0.0, f64::max)
        + alpha;
    let step = 1.0 / lip;
    let (mut w, mut b) = (vec![0.0; d], 0.0);
    for _ in 0..500 {
        let mut gw = vec![0.0; d];
        let mut gb = 0.0;
        for (r, y) in train {
            let z: f64 = r.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            let e = sigmoid(z) - y;
            for (g, v) in gw.iter_mut().zip(r.iter()) {
                *g += e * v;
            }
            gb += e;
        }
        let m = train.len() as f64;
        for (wi, g) in w.iter_mut().zip(&gw) {
            *wi -= step * (g / m + alpha * *wi);
        }
        b -= step * gb / m;
    }
    let correct = held
        .iter()
        .filter(|(r, y)| {
            let z: f64 = r.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            (z > 0.0) == (*y > 0.5)
        })
        .count();
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return Err(XaiError::Numerical(
            "the CAV classifier has a zero or non-finite weight vector".into(),
        ));
    }
    Ok(Cav {
        direction: w.iter().map(|v| v / norm).collect(),
        accuracy: correct as f64 / held.len().max(1) as f64,
    })
}

/// Flattened activations `[N][d]` of `x` at `layer`.
pub fn activations<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    layer: &str,
) -> Result<Vec<Vec<f64>>> {
    let a = layer_activation(ex, x, layer)?;
    let n = a.shape[0].max(1);
    let d = a.values.len() / n;
    Ok(a.values.chunks(d).map(|c| c.to_vec()).collect())
}

/// TCAV score of a CAV: the fraction of `gradients` rows with a positive directional derivative.
pub fn tcav_score(gradients: &[Vec<f64>], cav: &Cav) -> f64 {
    let positive = gradients
        .iter()
        .filter(|g| {
            g.iter()
                .zip(&cav.direction)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                > 0.0
        })
        .count();
    positive as f64 / gradients.len().max(1) as f64
}

/// The result of a TCAV test of one concept for one class at one layer.
#[derive(Clone, Debug, Serialize)]
pub struct TcavResult {
    /// The tapped node.
    pub layer: String,
    /// Explained class.
    pub class: usize,
    /// TCAV score of each run (one per random counter-set).
    pub scores: Vec<f64>,
    /// Mean score of each random concept over the same runs (the null distribution).
    pub null_scores: Vec<f64>,
    /// Mean of `scores`.
    pub mean_score: f64,
    /// Two-sided t-test p-value of `mean_score` as one new draw from the null distribution.
    pub p_value: f64,
    /// Exact rank p-value of `mean_score` among the concept and the random concepts.
    pub p_rank: f64,
    /// Holm–Bonferroni-adjusted `p_value` when several tests were adjusted together
    /// ([`holm_adjust`]); `None` for a single test.
    pub p_adjusted: Option<f64>,
    /// `p < 0.05` (the adjusted p-value when there is one).
    pub significant: bool,
    /// Held-out accuracy of each concept CAV.
    pub cav_accuracy: Vec<f64>,
}

/// What a TCAV test compares (tensors `[N, …]` in the model's input layout).
pub struct TcavSets<'a, const D: usize> {
    /// Inputs of the explained class.
    pub class_inputs: &'a Tensor<D>,
    /// Examples of the concept.
    pub concept: &'a Tensor<D>,
    /// Random counter-sets (≥ 3): each run's CAV separates the concept from one of them.
    pub counter_sets: &'a [Tensor<D>],
    /// Random concepts (≥ 10), drawn like `concept` from data without the concept: the null.
    pub random_concepts: &'a [Tensor<D>],
}

/// Test `sets.concept` for `class` at `layer` (see the module docs).
pub fn tcav<const D: usize>(
    ex: &Explainable<D>,
    layer: &str,
    class: usize,
    sets: &TcavSets<'_, D>,
    seed: u64,
) -> Result<TcavResult> {
    if sets.counter_sets.len() < 3 {
        return Err(XaiError::Config(
            "TCAV needs at least 3 random counter-sets".into(),
        ));
    }
    if sets.random_concepts.len() < 10 {
        return Err(XaiError::Config(format!(
            "TCAV needs at least 10 random concepts for its null distribution, got {}",
            sets.random_concepts.len()
        )));
    }
    let n = sets.class_inputs.dims()[0];
    let (_, g) = layer_activation_and_gradient(
        ex,
        sets.class_inputs,
        &Target::Classes(vec![class; n]),
        layer,
    )?;
    let d = g.values.len() / n.max(1);
    let grads: Vec<Vec<f64>> = g.values.chunks(d).map(|c| c.to_vec()).collect();
    let counter: Vec<Vec<Vec<f64>>> = sets
        .counter_sets
        .iter()
        .map(|r| activations(ex, r, layer))
        .collect::<Result<_>>()?;
    // Every set goes through the same runs: run i subsamples the set with seed (seed, i) and
    // separates it from counter-set i.
    let runs = |set: &[Vec<f64>]| -> Result<(Vec<f64>, Vec<f64>)> {
        let mut scores = Vec::with_capacity(counter.len());
        let mut accuracy = Vec::with_capacity(counter.len());
        for (i, neg) in counter.iter().enumerate() {
            let mut rng =
                StdRng::seed_from_u64(seed ^ (0x7CA7 + i as u64).wrapping_mul(0x9E37_79B9));
            let take = neg.len().min(set.len());
            let pick: Vec<Vec<f64>> = rand::seq::index::sample(&mut rng, set.len(), take)
                .into_iter()
                .map(|j| set[j].clone())
                .collect();
            let cav = train_cav(&pick, neg, seed.wrapping_add(i as u64))?;
            scores.push(tcav_score(&grads, &cav));
            accuracy.push(cav.accuracy);
        }
        Ok((scores, accuracy))
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (scores, cav_accuracy) = runs(&activations(ex, sets.concept, layer)?)?;
    let null_scores: Vec<f64> = sets
        .random_concepts
        .iter()
        .map(|r| Ok(mean(&runs(&activations(ex, r, layer)?)?.0)))
        .collect::<Result<_>>()?;
    let mean_score = mean(&scores);
    let p_value = prediction_ttest(mean_score, &null_scores)?;
    Ok(TcavResult {
        layer: g.node,
        class,
        p_rank: rank_p_value(mean_score, &null_scores),
        scores,
        null_scores,
        mean_score,
        p_value,
        p_adjusted: None,
        significant: p_value < 0.05,
        cav_accuracy,
    })
}

/// Adjust several TCAV results together (Holm–Bonferroni on their `p_value`s) and set each
/// `significant` from its adjusted p-value.
pub fn holm_adjust(results: &mut [TcavResult]) {
    let adjusted = holm(&results.iter().map(|r| r.p_value).collect::<Vec<_>>());
    for (r, p) in results.iter_mut().zip(adjusted) {
        r.p_adjusted = Some(p);
        r.significant = p < 0.05;
    }
}
