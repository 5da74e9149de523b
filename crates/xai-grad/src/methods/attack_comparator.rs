//! Robustness across perturbation families (Captum's `AttackComparator`), and how far an
//! explanation moves under a perturbation that leaves the prediction alone.
//!
//! [`compare_attacks`] evaluates a classifier on the clean inputs and under each
//! [`Perturbation`] (FGSM, PGD, Gaussian or uniform noise with several seeded draws) and reports
//! per family: the accuracy averaged over draws, the *worst-case* accuracy (a row counts as
//! correct only if every draw leaves it correct; Captum's `worst` aggregate), and the share of
//! rows whose prediction changes under at least one draw (against the clean prediction, labels
//! aside).
//!
//! [`explanation_under_attack`] asks the converse question for an attribution method `A`
//! (Ghorbani et al., AAAI 2019, "Interpretation of neural networks is fragile"): among the
//! perturbed inputs `x'` whose predicted class is the clean one, how different is `A(x')` from
//! `A(x)`? Per row it reports the largest relative change `‖A(x') − A(x)‖₂ / ‖A(x)‖₂` over the
//! draws and the smallest top-k overlap `|top_k |A(x)| ∩ top_k |A(x')|| / k`. Both attributions
//! explain the clean predicted class. Rows flipped by every draw, and rows with `A(x) = 0`, have
//! no value (`None`) and are counted.
//!
//! Axioms the tests check: a perturbation of size 0 changes nothing (accuracy = clean accuracy,
//! change 0, overlap 1); on a linear model saliency does not move at all, gradient × input moves
//! by exactly `‖w ⊙ δ‖ / ‖w ⊙ x‖`, and FGSM flips a two-class row exactly when
//! `ε · ‖w_y − w_o‖₁` exceeds its margin.
//!
//! Shapes: inputs `[N, …]`, labels one per row; attributions the inputs' shape.
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::{Device, Tensor};
//! use xai_grad::methods::Explainable;
//! use xai_grad::methods::attack_comparator::{Perturbation, compare_attacks};
//! let dev = Device::flex();
//! let model: Linear = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 0).unwrap();
//! let ex = Explainable::new(model, |m: &Linear, x| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([4, 3], &dev);
//! let attacks = [Perturbation::Gaussian { std: 0.0, draws: 2, seed: 0 }];
//! let rows = compare_attacks(&ex, &x, &[0, 1, 0, 1], &attacks, None).unwrap();
//! assert_eq!(rows[0].accuracy, rows[1].accuracy); // no noise: the clean accuracy
//! ```

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::Serialize;

use xai_core::{Result, XaiError};

use super::Explainable;
use super::attacks::{PgdConfig, fgsm, pgd};

/// One perturbation family.
#[derive(Clone, Debug)]
pub enum Perturbation {
    /// FGSM of size `eps` (untargeted, away from the labels).
    Fgsm {
        /// Step size.
        eps: f64,
    },
    /// Projected gradient descent with its settings.
    Pgd(PgdConfig),
    /// Additive Gaussian noise of standard deviation `std`, `draws` draws from `seed`.
    Gaussian {
        /// Standard deviation.
        std: f64,
        /// Independent draws.
        draws: usize,
        /// Seed of the first draw.
        seed: u64,
    },
    /// Uniform noise in the L∞ ball of radius `eps`, `draws` draws from `seed`.
    Uniform {
        /// Radius.
        eps: f64,
        /// Independent draws.
        draws: usize,
        /// Seed of the first draw.
        seed: u64,
    },
}

impl Perturbation {
    /// A short name for reports: `fgsm(0.031)`, `pgd_linf(0.031, 10×0.008)`, `gaussian(0.1)×8`.
    pub fn name(&self) -> String {
        match self {
            Perturbation::Fgsm { eps } => format!("fgsm({eps:.3})"),
            Perturbation::Pgd(c) => format!(
                "pgd_{}({:.3}, {}×{:.3})",
                match c.norm {
                    super::attacks::Norm::Linf => "linf",
                    super::attacks::Norm::L2 => "l2",
                },
                c.eps,
                c.steps,
                c.step
            ),
            Perturbation::Gaussian { std, draws, .. } => format!("gaussian({std:.3})×{draws}"),
            Perturbation::Uniform { eps, draws, .. } => format!("uniform({eps:.3})×{draws}"),
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(XaiError::Config(what));
        match *self {
            Perturbation::Gaussian { std, draws, .. }
                if !(std.is_finite() && std >= 0.0) || draws == 0 =>
            {
                bad(format!(
                    "Gaussian noise: std {std} (finite, ≥ 0) and draws {draws} (≥ 1)"
                ))
            }
            Perturbation::Uniform { eps, draws, .. }
                if !(eps.is_finite() && eps >= 0.0) || draws == 0 =>
            {
                bad(format!(
                    "uniform noise: ε {eps} (finite, ≥ 0) and draws {draws} (≥ 1)"
                ))
            }
            _ => Ok(()),
        }
    }

    /// The perturbed inputs, one tensor per draw, clamped into `bounds`.
    pub fn apply<const D: usize>(
        &self,
        ex: &Explainable<D>,
        x: &Tensor<D>,
        labels: &[usize],
        bounds: Option<(f64, f64)>,
    ) -> Result<Vec<Tensor<D>>> {
        self.check()?;
        let clamp = |t: Tensor<D>| match bounds {
            Some((lo, hi)) => t.clamp(lo, hi),
            None => t,
        };
        let noise = |draws: usize, seed: u64, sample: &dyn Fn(&mut StdRng) -> f64| {
            (0..draws as u64)
                .map(|k| {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(k));
                    let count = x.dims().iter().product::<usize>();
                    let v: Vec<f64> = (0..count).map(|_| sample(&mut rng)).collect();
                    let delta = Tensor::<D>::from_data(
                        TensorData::new(v, x.dims()),
                        (&x.device(), x.dtype()),
                    );
                    clamp(x.clone() + delta)
                })
                .collect::<Vec<_>>()
        };
        Ok(match self {
            Perturbation::Fgsm { eps } => vec![fgsm(ex, x, labels, *eps, false, bounds)?],
            Perturbation::Pgd(cfg) => {
                let cfg = PgdConfig {
                    bounds: bounds.or(cfg.bounds),
                    ..cfg.clone()
                };
                vec![pgd(ex, x, labels, &cfg)?]
            }
            Perturbation::Gaussian { std, draws, seed } => {
                let normal = Normal::new(0.0, *std).map_err(|e| XaiError::Config(e.to_string()))?;
                noise(*draws, *seed, &|r| normal.sample(r))
            }
            Perturbation::Uniform { eps, draws, seed } => {
                let u = Uniform::new_inclusive(-eps, *eps)
                    .map_err(|e| XaiError::Config(e.to_string()))?;
                noise(*draws, *seed, &|r| u.sample(r))
            }
        })
    }
}

/// The classifier under one perturbation family.
#[derive(Clone, Debug, Serialize)]
pub struct AttackSummary {
    /// The family (`clean` for the unperturbed inputs).
    pub name: String,
    /// Share of rows predicted as labelled, averaged over the draws.
    pub accuracy: f64,
    /// Share of rows predicted as labelled under every draw.
    pub worst_accuracy: f64,
    /// Share of rows whose predicted class differs from the clean one under at least one draw.
    pub flip_rate: f64,
    /// Draws evaluated.
    pub draws: usize,
}

fn check_labels<const D: usize>(x: &Tensor<D>, labels: &[usize]) -> Result<()> {
    crate::gradient::validate_inputs(x)?;
    let n = x.dims()[0];
    if labels.len() != n {
        return Err(XaiError::shape(
            "labels",
            format!("{n} labels"),
            &[labels.len()],
        ));
    }
    Ok(())
}

/// The clean row first, then one summary per family in the given order.
pub fn compare_attacks<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    labels: &[usize],
    attacks: &[Perturbation],
    bounds: Option<(f64, f64)>,
) -> Result<Vec<AttackSummary>> {
    check_labels(x, labels)?;
    for a in attacks {
        a.check()?;
    }
    let n = labels.len() as f64;
    let clean = super::attacks::predicted_classes(ex, x)?;
    let share = |hits: usize| hits as f64 / n;
    let correct = |p: &[usize]| p.iter().zip(labels).filter(|(a, b)| a == b).count();
    let mut rows = vec![AttackSummary {
        name: "clean".into(),
        accuracy: share(correct(&clean)),
        worst_accuracy: share(correct(&clean)),
        flip_rate: 0.0,
        draws: 1,
    }];
    for attack in attacks {
        let draws = attack.apply(ex, x, labels, bounds)?;
        let mut always_correct = vec![true; labels.len()];
        let mut ever_flipped = vec![false; labels.len()];
        let mut hits = 0usize;
        for xd in &draws {
            let p = super::attacks::predicted_classes(ex, xd)?;
            hits += correct(&p);
            for i in 0..labels.len() {
                always_correct[i] &= p[i] == labels[i];
                ever_flipped[i] |= p[i] != clean[i];
            }
        }
        let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
        rows.push(AttackSummary {
            name: attack.name(),
            accuracy: hits as f64 / (n * draws.len() as f64),
            worst_accuracy: share(count(&always_correct)),
            flip_rate: share(count(&ever_flipped)),
            draws: draws.len(),
        });
    }
    Ok(rows)
}

/// How an explanation moved under a perturbation that kept the prediction.
#[derive(Clone, Debug, Serialize)]
pub struct ExplanationShift {
    /// The perturbation family.
    pub name: String,
    /// Per row, the largest `‖A(x') − A(x)‖₂ / ‖A(x)‖₂` over the draws that kept the prediction.
    pub relative_change: Vec<Option<f64>>,
    /// Per row, the smallest top-k overlap over those draws.
    pub top_k_overlap: Vec<Option<f64>>,
    /// `k` of the overlap.
    pub k: usize,
    /// Rows whose prediction changed under every draw (no value).
    pub flipped: usize,
    /// Rows whose clean attribution is zero (no relative change).
    pub degenerate: usize,
    /// Mean of the defined relative changes.
    pub mean_relative_change: Option<f64>,
    /// Mean of the defined overlaps.
    pub mean_top_k_overlap: Option<f64>,
}

/// Indices of the `k` largest `|v|`, ties broken by index.
fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b)));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// The shift of `explain` (attributions of the given classes) under `attack`; see the module
/// docs. `k` must be between 1 and the features per row.
pub fn explanation_under_attack<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    labels: &[usize],
    attack: &Perturbation,
    bounds: Option<(f64, f64)>,
    k: usize,
    explain: impl Fn(&Tensor<D>, &[usize]) -> Result<Tensor<D>>,
) -> Result<ExplanationShift> {
    check_labels(x, labels)?;
    attack.check()?;
    let n = labels.len();
    let per = x.dims()[1..].iter().product::<usize>();
    if k == 0 || k > per {
        return Err(XaiError::Config(format!(
            "top-k overlap: k = {k} (1 to {per})"
        )));
    }
    let clean = super::attacks::predicted_classes(ex, x)?;
    let rows = |t: Tensor<D>| -> Result<Vec<Vec<f64>>> {
        let v = xai_core::tensor_to_vec_f64(t)?;
        if v.iter().any(|a| !a.is_finite()) {
            return Err(XaiError::Numerical("attribution is not finite".into()));
        }
        Ok(v.chunks(per.max(1)).map(<[f64]>::to_vec).collect())
    };
    let base = rows(explain(x, &clean)?)?;
    let norms: Vec<f64> = base
        .iter()
        .map(|r| r.iter().map(|a| a * a).sum::<f64>().sqrt())
        .collect();
    let tops: Vec<Vec<usize>> = base.iter().map(|r| top_k(r, k)).collect();
    let mut change: Vec<Option<f64>> = vec![None; n];
    let mut overlap: Vec<Option<f64>> = vec![None; n];
    let mut kept_any = vec![false; n];
    for xd in attack.apply(ex, x, labels, bounds)? {
        let p = super::attacks::predicted_classes(ex, &xd)?;
        let moved = rows(explain(&xd, &clean)?)?;
        for i in (0..n).filter(|&i| p[i] == clean[i]) {
            kept_any[i] = true;
            let inter = top_k(&moved[i], k)
                .iter()
                .filter(|j| tops[i].binary_search(j).is_ok())
                .count();
            let o = inter as f64 / k as f64;
            overlap[i] = Some(overlap[i].map_or(o, |m: f64| m.min(o)));
            if norms[i] > 0.0 {
                let d = moved[i]
                    .iter()
                    .zip(&base[i])
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                let r = d / norms[i];
                change[i] = Some(change[i].map_or(r, |m: f64| m.max(r)));
            }
        }
    }
    let mean = |v: &[Option<f64>]| {
        let d: Vec<f64> = v.iter().flatten().copied().collect();
        (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
    };
    Ok(ExplanationShift {
        name: attack.name(),
        mean_relative_change: mean(&change),
        mean_top_k_overlap: mean(&overlap),
        flipped: kept_any.iter().filter(|&&k| !k).count(),
        degenerate: (0..n).filter(|&i| kept_any[i] && norms[i] == 0.0).count(),
        relative_change: change,
        top_k_overlap: overlap,
        k,
    })
}
