//! Sensitivity-n as Quantus 0.6 computes it (`SensitivityN`, after Ancona et al., "Towards
//! Better Understanding of Gradient-based Attribution Methods", ICLR 2018).
//!
//! Each input's features are removed `k` at a time in order of decreasing (signed) attribution,
//! cumulatively, replaced by the reference (Quantus's "black": the input's minimum), as in the
//! deletion curve ([`super::faithfulness::deletion`]). At step `s` two numbers are recorded per
//! input: the drop of the target output, `f(x) − f(x_{≤s removed})`, and the attribution summed
//! over the features removed **at that step**. The score at step `s` is the Pearson correlation
//! of the two **across the inputs**; steps run up to `⌊0.8·F / k⌋` (`n_max_percentage`).
//!
//! Ancona et al. define sensitivity-n per input, over random subsets of `n` features (the sum
//! of their attributions against the output drop when exactly they are removed). Quantus's
//! version, reproduced here because it is the reference users compare with, correlates a
//! step's attribution sum with the *cumulative* output drop, over a batch of inputs; read it as
//! "do inputs whose explanations put more mass early also lose more output early".
//!
//! A correlation over inputs needs at least two inputs; an undefined correlation (a constant
//! column) is 0.
//!
//! [`sensitivity_n_subsets`] is Ancona et al.'s own definition: for each input, `subsets` random
//! subsets `S` of exactly `n` features (seeded, drawn per input), the Pearson correlation over
//! the subsets of `Σ_{j∈S} φ_j` with `f(x) − f(x_S←reference)`. An attribution method satisfies
//! sensitivity-n when the correlation is 1 for every input; for a linear model and
//! `φ = w ⊙ (x − reference)` it does for every `n`.
//!
//! ```
//! use xai_core::Target;
//! use xai_core::agnostic::{FnModel, References, Rows, RunOptions};
//! use xai_core::metrics::sensitivity_n::sensitivity_n;
//! // f(x) = Σ w·x with w = (3, 2, 1): exact attributions φ = w·x (reference 0).
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| 3.0 * r[3 * i] + 2.0 * r[3 * i + 1] + r[3 * i + 2]).collect());
//! let x = [1.0, 1.0, 1.0, 2.0, 1.0, 0.5, 0.5, 2.0, 1.0];
//! let phi: Vec<f64> = x.chunks(3).flat_map(|r| vec![3.0 * r[0], 2.0 * r[1], r[2]]).collect();
//! let refs = References::PerInput(vec![0.0; 9]);
//! let quiet = RunOptions { progress: false, ..RunOptions::default() };
//! let s = sensitivity_n(&model, &Rows::new(&x, 3).unwrap(), &Rows::new(&phi, 3).unwrap(), &refs, &[0, 0, 0], 1, &quiet).unwrap();
//! // Step 0 removes each input's top feature: its attribution is exactly the output drop.
//! assert!((s[0] - 1.0).abs() < 1e-12);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::agnostic::{BlackBox, Evaluator, References, Rows, RunOptions};
use crate::error::{Result, XaiError};
use crate::metrics::Output;
use crate::metrics::faithfulness::{CurveConfig, Order, deletion_prefix};
use crate::metrics::similarity::pearson;

/// Share of the features the steps run over (Quantus's `n_max_percentage`).
const N_MAX: f64 = 0.8;

/// The correlation across inputs at each step (see the module docs), `⌊0.8·F / k⌋` values.
pub fn sensitivity_n<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    features_per_step: usize,
    options: &RunOptions,
) -> Result<Vec<f64>> {
    if inputs.n < 2 {
        return Err(XaiError::EmptyBatch(
            "sensitivity-n correlates across inputs: give at least two".into(),
        ));
    }
    if features_per_step == 0 || features_per_step > inputs.f {
        return Err(XaiError::Config(format!(
            "features per step must be in 1..={}, got {features_per_step}",
            inputs.f
        )));
    }
    let config = CurveConfig {
        features_per_step,
        order: Order::Signed,
        output: Output::Raw,
        options: options.clone(),
    };
    let steps = (N_MAX * inputs.f as f64 / features_per_step as f64).floor() as usize;
    let curves = deletion_prefix(
        model,
        inputs,
        attributions,
        references,
        classes,
        &config,
        steps,
    )?;
    // The removal order, as the deletion curve ranks: by attribution, ties by index.
    let orders: Vec<Vec<usize>> = (0..inputs.n)
        .map(|i| {
            let a = attributions.row(i);
            let mut idx: Vec<usize> = (0..inputs.f).collect();
            idx.sort_by(|&p, &q| a[q].total_cmp(&a[p]).then(p.cmp(&q)));
            idx
        })
        .collect();
    Ok((0..steps)
        .map(|s| {
            let drops: Vec<f64> = curves
                .curves
                .iter()
                .map(|c| c[0] - c[(s + 1).min(c.len() - 1)])
                .collect();
            let sums: Vec<f64> = (0..inputs.n)
                .map(|i| {
                    let a = attributions.row(i);
                    let end = ((s + 1) * features_per_step).min(inputs.f);
                    orders[i][s * features_per_step..end]
                        .iter()
                        .map(|&j| a[j])
                        .sum()
                })
                .collect();
            pearson(&drops, &sums)
        })
        .collect())
}

/// Ancona et al.'s sensitivity-n (see the module docs): per input, the correlation over
/// `subsets` random subsets of `n` features between their attribution sum and the output drop
/// when exactly they take the reference's values (the mean over a background set's rows). The
/// subsets of input `i` are drawn from `seed + i`, so results do not depend on chunking.
#[allow(clippy::too_many_arguments)]
pub fn sensitivity_n_subsets<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    n: usize,
    subsets: usize,
    seed: u64,
    options: &RunOptions,
) -> Result<Vec<f64>> {
    let (rows, f) = (inputs.n, inputs.f);
    if attributions.n != rows || attributions.f != f || classes.len() != rows {
        return Err(XaiError::shape(
            "attributions and classes",
            format!("{rows} rows of {f} and {rows} classes"),
            &[attributions.n, attributions.f, classes.len()],
        ));
    }
    if n == 0 || n >= f {
        return Err(XaiError::Config(format!(
            "sensitivity-n: subset size must be in 1..{f}, got {n}"
        )));
    }
    if subsets < 2 {
        return Err(XaiError::Config(format!(
            "sensitivity-n: a correlation needs at least 2 subsets, got {subsets}"
        )));
    }
    let m = references.per_input();
    let (fits, got) = match references {
        References::PerInput(v) => (v.len() == rows * f, v.len()),
        References::Background { rows: b, m } => (*m > 0 && b.len() == m * f, b.len()),
    };
    if !fits {
        return Err(XaiError::shape(
            "references",
            format!("{rows}·{f} values (one row per input) or m·{f} (a background set)"),
            &[got],
        ));
    }
    // Subset k of input i: the first n of a seeded partial shuffle.
    let draw = |i: usize| -> Vec<Vec<usize>> {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i as u64));
        (0..subsets)
            .map(|_| {
                let mut idx: Vec<usize> = (0..f).collect();
                for a in 0..n {
                    let b = rand::Rng::random_range(&mut rng, a..f);
                    idx.swap(a, b);
                }
                idx.truncate(n);
                idx
            })
            .collect()
    };
    let drawn: Vec<Vec<Vec<usize>>> = (0..rows).map(draw).collect();
    // Rows per input: the input itself, then for each subset one row per reference.
    let per = 1 + subsets * m;
    let fill = |r: usize, row: &mut [f64]| {
        let (i, k) = (r / per, r % per);
        row.copy_from_slice(inputs.row(i));
        if k > 0 {
            let (s, b) = ((k - 1) / m, (k - 1) % m);
            let reference = references.row(i, b, f);
            for &j in &drawn[i][s] {
                row[j] = reference[j];
            }
        }
    };
    let (out, c) = Evaluator::new(model, options, "sensitivity-n").outputs(rows * per, fill)?;
    if let Some(&bad) = classes.iter().find(|&&k| k >= c) {
        return Err(XaiError::TargetOutOfRange {
            index: bad,
            classes: c,
        });
    }
    Ok((0..rows)
        .map(|i| {
            let at = |r: usize| out[(i * per + r) * c + classes[i]];
            let a = attributions.row(i);
            let (sums, drops): (Vec<f64>, Vec<f64>) = (0..subsets)
                .map(|s| {
                    let removed = (0..m).map(|b| at(1 + s * m + b)).sum::<f64>() / m as f64;
                    let sum = drawn[i][s].iter().map(|&j| a[j]).sum::<f64>();
                    (sum, at(0) - removed)
                })
                .unzip();
            pearson(&sums, &drops)
        })
        .collect())
}
