//! Exact Shapley values by enumerating every coalition (Shapley 1953; Štrumbelj & Kononenko 2014).
//!
//! With players the `G` feature groups, the value of a coalition `S` is the model's output with
//! the groups in `S` taken from the input and the rest from the reference,
//! `v(S) = f(x_S, b_{−S})`, averaged over a background set for the *interventional* variant
//! (Janzing et al. 2020). Then
//! `φ_k = Σ_{S ⊆ G∖{k}} |S|!(G−|S|−1)!/G! · [v(S ∪ {k}) − v(S)]`.
//!
//! Axioms (exact here, up to rounding): efficiency `Σ φ = v(G) − v(∅) = f(x) − f(b)`, symmetry,
//! dummy (a group the model ignores gets 0), linearity. All `2^G · M` rows per input are
//! evaluated in budget-sized chunks; `G ≤ 24` is enforced (2^24 rows per input is already
//! sixteen million forward rows).
//!
//! ```
//! use xai_core::agnostic::{FnModel, References, Rows, exact_shapley, RunOptions};
//! use xai_core::Target;
//! // f = x0·x1: the interaction is split evenly.
//! let model = FnModel::new(2, |r: &[f64], n| (0..n).map(|i| r[2*i] * r[2*i+1]).collect());
//! let phi = exact_shapley(&model, &Rows::new(&[2.0, 3.0], 2).unwrap(), &Target::Class(0),
//!     &References::PerInput(vec![0.0, 0.0]), None, &RunOptions::default()).unwrap();
//! assert_eq!(phi.values, vec![3.0, 3.0]);
//! ```

use super::ablation::RowAttribution;
use super::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions, Scorer};
use crate::error::{Result, XaiError};
use crate::target::Target;

/// Largest number of groups exact enumeration accepts.
pub const MAX_EXACT_GROUPS: usize = 24;

/// Shapley weight of a coalition of size `c` among `g` players: `c!(g−c−1)!/g!`.
pub fn shapley_weight(g: usize, c: usize) -> f64 {
    // 1 / (g · binom(g−1, c)), computed without factorial overflow.
    let mut binom = 1.0f64;
    for j in 0..c {
        binom = binom * (g - 1 - j) as f64 / (j + 1) as f64;
    }
    1.0 / (g as f64 * binom)
}

/// Shapley values from the value of every coalition: `values[s]` is `v(S)` for the bitmask `s`
/// of `g` players (`values.len() == 2^g`).
pub fn shapley_from_values(values: &[f64], g: usize) -> Vec<f64> {
    debug_assert_eq!(values.len(), 1 << g);
    let weights: Vec<f64> = (0..g).map(|c| shapley_weight(g, c)).collect();
    let mut phi = vec![0.0; g];
    for s in 0..values.len() {
        let size = (s as u64).count_ones() as usize;
        for (k, p) in phi.iter_mut().enumerate() {
            if s & (1 << k) == 0 {
                *p += weights[size] * (values[s | (1 << k)] - values[s]);
            }
        }
    }
    phi
}

/// Fill `row` with the coalition `mask` of groups from `x`, the rest from `b`.
pub(crate) fn compose(
    row: &mut [f64],
    x: &[f64],
    b: &[f64],
    groups: &FeatureGroups,
    mask: impl Fn(usize) -> bool,
) {
    for j in 0..row.len() {
        row[j] = if mask(groups.of(j)) { x[j] } else { b[j] };
    }
}

/// Exact Shapley values of `inputs` for `target` (one value per feature; features of a group
/// share their group's value).
pub fn exact_shapley<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    references: &References,
    groups: Option<&FeatureGroups>,
    run: &RunOptions,
) -> Result<RowAttribution> {
    let (n, f) = (inputs.n, inputs.f);
    let groups = super::prepare(model, inputs, references, groups)?;
    let g = groups.count();
    if g > MAX_EXACT_GROUPS {
        return Err(XaiError::Config(format!(
            "exact Shapley over {g} groups needs 2^{g} evaluations per input; use KernelSHAP or \
             permutation sampling, or group features (at most {MAX_EXACT_GROUPS})"
        )));
    }
    let coalitions = 1usize << g;
    let m = references.per_input();
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, run, "exact Shapley");
    let v = eval.scores(
        n * coalitions * m,
        &scorer,
        |idx, row| {
            let (i, s, r) = (idx / (coalitions * m), (idx / m) % coalitions, idx % m);
            compose(row, inputs.row(i), references.row(i, r, f), &groups, |k| {
                s & (1 << k) != 0
            });
        },
        |idx| idx / (coalitions * m),
    )?;
    let mut values = Vec::with_capacity(n * f);
    for i in 0..n {
        let vi: Vec<f64> = (0..coalitions)
            .map(|s| {
                let base = (i * coalitions + s) * m;
                v[base..base + m].iter().sum::<f64>() / m as f64
            })
            .collect();
        values.extend(groups.expand(&shapley_from_values(&vi, g)));
    }
    Ok(RowAttribution {
        method: "shapley_exact".into(),
        values,
        n,
        features: f,
        targets: scorer.classes().map(|c| c.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_over_coalitions_without_the_player() {
        for g in 1..12 {
            let total: f64 = (0..g)
                .map(|c| {
                    let mut binom = 1.0;
                    for j in 0..c {
                        binom = binom * (g - 1 - j) as f64 / (j + 1) as f64;
                    }
                    binom * shapley_weight(g, c)
                })
                .sum();
            assert!((total - 1.0).abs() < 1e-12, "g={g}: {total}");
        }
    }
}
