//! KernelSHAP (Lundberg & Lee 2017): Shapley values as the solution of a weighted linear
//! regression over coalitions.
//!
//! With `G` players (feature groups) and coalition indicator `z ∈ {0,1}^G`, KernelSHAP solves
//! `min_φ Σ_z π(z) [v(z) − v(∅) − zᵀφ]²` subject to `Σ φ = v(G) − v(∅)` (efficiency), with the
//! Shapley kernel `π(z) = (G−1) / (C(G,|z|) · |z| · (G−|z|))`. With every coalition it returns
//! the exact Shapley values; with fewer it converges to them as the budget grows.
//!
//! Coalitions are chosen as in the `shap` package: whole coalition sizes are enumerated from the
//! outside in (sizes 1 and G−1 first, where the kernel puts most weight) while the budget covers
//! them, the rest are sampled from the remaining kernel mass, each with its complement
//! (*paired sampling*), duplicates merged. The efficiency constraint is exact: the last player is
//! eliminated, `φ_G = Δ − Σ_{k<G} φ_k`, so `Σ φ = f(x) − f(b)` holds to rounding whatever the
//! budget. The design is shared by all inputs, so the normal equations are factored once and
//! solved for every input together.
//!
//! Cost: `N · (S + 2) · M` rows for `S` coalitions and `M` background rows, budget-chunked.
//!
//! ```
//! use xai_core::agnostic::{FnModel, KernelShap, References, Rows, kernel_shap};
//! use xai_core::Target;
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| r[3*i] + 2.0 * r[3*i+1] * r[3*i+2]).collect());
//! let res = kernel_shap(&model, &Rows::new(&[1.0, 1.0, 1.0], 3).unwrap(), &Target::Class(0),
//!     &References::PerInput(vec![0.0; 3]), &KernelShap::default()).unwrap();
//! assert!(res.exact); // 3 players: the default budget enumerates all 6 coalitions
//! for (got, want) in res.attribution.values.iter().zip([1.0, 1.0, 1.0]) {
//!     assert!((got - want).abs() < 1e-9);
//! }
//! ```

use std::collections::HashMap;

use nalgebra::{DMatrix, DVector};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::ablation::RowAttribution;
use super::shapley::compose;
use super::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions, Scorer};
use crate::error::{Result, XaiError};
use crate::target::Target;

/// Settings of [`kernel_shap`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KernelShap {
    /// Number of coalitions to evaluate (besides the empty and the full one). Capped at
    /// `2^G − 2`, where the result is exact.
    pub samples: usize,
    /// Sample each coalition together with its complement.
    pub paired: bool,
    /// Seed of the coalition sampler.
    pub seed: u64,
    /// Features that move together; `None`: every feature alone.
    pub groups: Option<FeatureGroups>,
    /// Budget and progress.
    pub run: RunOptions,
}

impl Default for KernelShap {
    fn default() -> Self {
        KernelShap {
            samples: 2048,
            paired: true,
            seed: 0,
            groups: None,
            run: RunOptions::default(),
        }
    }
}

/// What [`kernel_shap`] returns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KernelShapResult {
    /// One value per feature (features of a group share the group's value).
    pub attribution: RowAttribution,
    /// `f(x) − f(b)` per input, which the values sum to.
    pub delta: Vec<f64>,
    /// Distinct coalitions evaluated (besides empty and full).
    pub coalitions: usize,
    /// Whether every coalition was enumerated (then the values are the exact Shapley values).
    pub exact: bool,
    /// The sampler's seed.
    pub seed: u64,
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, j| acc * (n - j) as f64 / (j + 1) as f64)
}

/// The coalitions and their regression weights, as `shap` chooses them.
pub(crate) fn choose_coalitions(
    g: usize,
    budget: usize,
    paired: bool,
    rng: &mut StdRng,
) -> (Vec<Vec<bool>>, Vec<f64>, bool) {
    let mut masks: Vec<Vec<bool>> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    if g < 2 {
        return (masks, weights, true);
    }
    let total = 2f64.powi(g as i32) - 2.0;
    let budget = (budget as f64).min(total) as usize;
    // Kernel mass per coalition size k (sizes k and g−k are paired).
    let size_mass: Vec<f64> = (1..g)
        .map(|k| (g - 1) as f64 / (k * (g - k)) as f64)
        .collect();
    let mass_sum: f64 = size_mass.iter().sum();
    let half = (g - 1).div_ceil(2);
    let mut remaining_budget = budget as f64;
    let mut remaining_mass = 1.0;
    let mut enumerated = vec![false; g];
    for k in 1..=half.min(g - 1) {
        let mirror = g - k;
        let both = mirror != k;
        let count = binomial(g, k) * if both { 2.0 } else { 1.0 };
        let mass = size_mass[k - 1] / mass_sum * if both { 2.0 } else { 1.0 };
        if remaining_budget * mass / remaining_mass + 1e-8 >= count {
            for size in if both { vec![k, mirror] } else { vec![k] } {
                let per = size_mass[size - 1] / mass_sum / binomial(g, size);
                for_each_subset(g, size, |m| {
                    masks.push(m.to_vec());
                    weights.push(per);
                });
                enumerated[size] = true;
            }
            remaining_budget -= count;
            remaining_mass -= mass;
        } else {
            break;
        }
    }
    let exact = (1..g).all(|k| enumerated[k]);
    let draws = remaining_budget.round() as usize;
    if !exact && draws > 0 && remaining_mass > 1e-12 {
        let open: Vec<usize> = (1..g).filter(|&k| !enumerated[k]).collect();
        let open_mass: Vec<f64> = open.iter().map(|&k| size_mass[k - 1]).collect();
        let open_total: f64 = open_mass.iter().sum();
        let mut counts: HashMap<Vec<bool>, f64> = HashMap::new();
        let mut order: Vec<Vec<bool>> = Vec::new();
        let mut drawn = 0usize;
        let add =
            |m: Vec<bool>, counts: &mut HashMap<Vec<bool>, f64>, order: &mut Vec<Vec<bool>>| {
                if let Some(c) = counts.get_mut(&m) {
                    *c += 1.0;
                } else {
                    counts.insert(m.clone(), 1.0);
                    order.push(m);
                }
            };
        // Distinct-coalition cap: stop when the draws are spent or every open coalition is in.
        let open_count: f64 = open.iter().map(|&k| binomial(g, k)).sum();
        let mut attempts = 0usize;
        while drawn < draws && (order.len() as f64) < open_count && attempts < 50 * draws.max(1) {
            attempts += 1;
            let mut u = rng.random::<f64>() * open_total;
            let mut size = open[open.len() - 1];
            for (i, &k) in open.iter().enumerate() {
                if u < open_mass[i] {
                    size = k;
                    break;
                }
                u -= open_mass[i];
            }
            let mut m = vec![false; g];
            for j in sample(rng, g, size).into_iter() {
                m[j] = true;
            }
            let complement: Vec<bool> = m.iter().map(|b| !b).collect();
            add(m, &mut counts, &mut order);
            drawn += 1;
            if paired && drawn < draws {
                add(complement, &mut counts, &mut order);
                drawn += 1;
            }
        }
        let per_draw = remaining_mass / drawn.max(1) as f64;
        for m in order {
            let c = counts[&m];
            masks.push(m);
            weights.push(c * per_draw);
        }
    }
    (masks, weights, exact)
}

fn for_each_subset(g: usize, size: usize, mut f: impl FnMut(&[bool])) {
    let mut idx: Vec<usize> = (0..size).collect();
    let mut mask = vec![false; g];
    loop {
        mask.iter_mut().for_each(|b| *b = false);
        for &i in &idx {
            mask[i] = true;
        }
        f(&mask);
        // Next combination in lexicographic order.
        let mut i = size;
        loop {
            if i == 0 {
                return;
            }
            i -= 1;
            if idx[i] < g - size + i {
                idx[i] += 1;
                for j in i + 1..size {
                    idx[j] = idx[j - 1] + 1;
                }
                break;
            }
            if i == 0 {
                return;
            }
        }
    }
}

/// Solve the efficiency-constrained weighted regression for every input at once.
/// `y[i][c]` is `v_i(z_c) − v_i(∅)`, `delta[i]` is `v_i(G) − v_i(∅)`.
pub(crate) fn constrained_wls(
    masks: &[Vec<bool>],
    weights: &[f64],
    y: &[Vec<f64>],
    delta: &[f64],
    g: usize,
) -> Result<Vec<Vec<f64>>> {
    if g == 1 {
        return Ok(delta.iter().map(|&d| vec![d]).collect());
    }
    let p = g - 1;
    let c = masks.len();
    // x'_{c,j} = z_j − z_last, y'_c = y_c − z_last·Δ.
    let x = DMatrix::from_fn(c, p, |r, j| {
        f64::from(u8::from(masks[r][j])) - f64::from(u8::from(masks[r][p]))
    });
    let mut xtw = x.transpose();
    for (r, &w) in weights.iter().enumerate() {
        xtw.column_mut(r).scale_mut(w);
    }
    let normal = &xtw * &x;
    let solver = normal.clone().cholesky();
    let pinv = if solver.is_none() {
        Some(
            normal
                .pseudo_inverse(1e-12)
                .map_err(|e| XaiError::Numerical(format!("KernelSHAP normal equations: {e}")))?,
        )
    } else {
        None
    };
    let mut out = Vec::with_capacity(y.len());
    for (yi, &d) in y.iter().zip(delta) {
        let yp = DVector::from_fn(c, |r, _| yi[r] - f64::from(u8::from(masks[r][p])) * d);
        let rhs = &xtw * yp;
        let beta = match (&solver, &pinv) {
            (Some(ch), _) => ch.solve(&rhs),
            (None, Some(pi)) => pi * rhs,
            _ => unreachable!("one solver exists"),
        };
        let mut phi: Vec<f64> = beta.iter().copied().collect();
        phi.push(d - phi.iter().sum::<f64>());
        out.push(phi);
    }
    Ok(out)
}

/// KernelSHAP values of `inputs` for `target` against `references`.
pub fn kernel_shap<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    references: &References,
    config: &KernelShap,
) -> Result<KernelShapResult> {
    let (n, f) = (inputs.n, inputs.f);
    let groups = super::prepare(model, inputs, references, config.groups.as_ref())?;
    if config.samples == 0 {
        return Err(XaiError::Config("KernelSHAP needs samples > 0".into()));
    }
    let g = groups.count();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let (masks, weights, exact) = choose_coalitions(g, config.samples, config.paired, &mut rng);
    // Coalition index 0 is empty, 1 is full, 2.. the chosen ones.
    let nc = masks.len() + 2;
    let m = references.per_input();
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, &config.run, "KernelSHAP");
    let v = eval.scores(
        n * nc * m,
        &scorer,
        |idx, row| {
            let (i, c, r) = (idx / (nc * m), (idx / m) % nc, idx % m);
            let b = references.row(i, r, f);
            match c {
                0 => row.copy_from_slice(b),
                1 => row.copy_from_slice(inputs.row(i)),
                _ => compose(row, inputs.row(i), b, &groups, |k| masks[c - 2][k]),
            }
        },
        |idx| idx / (nc * m),
    )?;
    let value = |i: usize, c: usize| {
        let base = (i * nc + c) * m;
        v[base..base + m].iter().sum::<f64>() / m as f64
    };
    let delta: Vec<f64> = (0..n).map(|i| value(i, 1) - value(i, 0)).collect();
    let y: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..masks.len())
                .map(|c| value(i, c + 2) - value(i, 0))
                .collect()
        })
        .collect();
    let phi = constrained_wls(&masks, &weights, &y, &delta, g)?;
    let values = phi.iter().flat_map(|p| groups.expand(p)).collect();
    Ok(KernelShapResult {
        attribution: RowAttribution {
            method: "kernel_shap".into(),
            values,
            n,
            features: f,
            targets: scorer.classes().map(|c| c.to_vec()),
        },
        delta,
        coalitions: masks.len(),
        exact,
        seed: config.seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_all_distinct_and_of_the_right_size() {
        let mut seen = std::collections::HashSet::new();
        for_each_subset(6, 3, |m| {
            assert_eq!(m.iter().filter(|b| **b).count(), 3);
            assert!(seen.insert(m.to_vec()));
        });
        assert_eq!(seen.len(), 20);
    }

    #[test]
    fn a_large_budget_enumerates_everything_with_kernel_weights() {
        let mut rng = StdRng::seed_from_u64(1);
        let (masks, weights, exact) = choose_coalitions(5, 10_000, true, &mut rng);
        assert!(exact);
        assert_eq!(masks.len(), 30);
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_small_budget_samples_and_keeps_total_weight() {
        let mut rng = StdRng::seed_from_u64(1);
        let (masks, weights, exact) = choose_coalitions(12, 200, true, &mut rng);
        assert!(!exact);
        assert!(masks.len() <= 200);
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}
