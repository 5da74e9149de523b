//! Localisation: does an attribution sit where the evidence is? Each metric compares an
//! attribution row with a ground-truth mask of the same length (the pixels of a watermark, the
//! glyph of a class, the planted feature), one score per row, as Quantus 0.6 defines them:
//!
//! - [`pointing_game`] (Zhang et al., 2018): 1 when a largest attribution falls in the mask;
//!   the weighted variant scores a hit `1 − |mask| / F` (small masks are harder to hit).
//! - [`attribution_localisation`] (Kohlbrenner et al., 2020): the share of the attribution mass
//!   inside the mask, `Σ_{mask} a / (Σ a + 10⁻⁹)`; meant for non-negative attributions.
//! - [`top_k_intersection`] (Theiner et al., 2021): the fraction of the `k` largest attributions
//!   inside the mask; with concept influence, divided by `|mask| / F`.
//! - [`relevance_rank_accuracy`] (Arras et al., 2022): of the `|mask|` largest attributions, the
//!   fraction inside the mask.
//! - [`relevance_mass_accuracy`] (Arras et al., 2022): `Σ_{mask} a / Σ a`.
//! - [`localisation_auc`] (Fawcett, 2006): the ROC AUC of the attribution as a score for mask
//!   membership (ties count one half).
//!
//! Shapes: attributions `n × F` row-major, masks `n × F`. Ranks break ties by feature index
//! (Quantus's unstable sort leaves their order unspecified). A row whose mask is empty (or, for
//! the AUC, full) has no defined score: it is an error naming the row, never a NaN; so is a mass
//! ratio over a zero total or an attribution localisation above 1 (negative attributions
//! outside the mask: take |a| first, as Quantus does by default).
//!
//! ```
//! use xai_core::metrics::localisation::{pointing_game, relevance_rank_accuracy};
//! let a = [0.1, 0.9, 0.3, 0.2];
//! let mask = [false, true, true, false];
//! assert_eq!(pointing_game(&a, &mask, 4, false).unwrap(), vec![1.0]);
//! // The two largest are features 1 and 2: both in the mask.
//! assert_eq!(relevance_rank_accuracy(&a, &mask, 4).unwrap(), vec![1.0]);
//! ```

use crate::error::{Result, XaiError};

fn rows<'a>(
    attributions: &'a [f64],
    masks: &'a [bool],
    features: usize,
) -> Result<impl Iterator<Item = (usize, &'a [f64], &'a [bool])>> {
    if features == 0
        || !attributions.len().is_multiple_of(features)
        || attributions.len() != masks.len()
    {
        return Err(XaiError::shape(
            "attributions and masks",
            format!("n × {features} each"),
            &[attributions.len(), masks.len()],
        ));
    }
    if attributions.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("attributions".into()));
    }
    Ok(attributions
        .chunks(features)
        .zip(masks.chunks(features))
        .enumerate()
        .map(|(i, (a, m))| (i, a, m)))
}

fn inside(m: &[bool], i: usize) -> Result<usize> {
    match m.iter().filter(|&&b| b).count() {
        0 => Err(XaiError::Config(format!(
            "mask of row {i} is empty: nothing to localise"
        ))),
        k => Ok(k),
    }
}

/// The attribution inside the mask and in total.
fn mass(a: &[f64], m: &[bool]) -> (f64, f64) {
    let within = a.iter().zip(m).filter(|(_, b)| **b).map(|(v, _)| v).sum();
    (within, a.iter().sum())
}

/// How many of the `k` largest attributions fall inside the mask.
fn top_hits(a: &[f64], m: &[bool], k: usize) -> usize {
    ranked(a).iter().take(k).filter(|&&j| m[j]).count()
}

/// Feature indices by decreasing attribution (ties by index).
fn ranked(a: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..a.len()).collect();
    idx.sort_by(|&x, &y| a[y].total_cmp(&a[x]));
    idx
}

/// Pointing game per row (weighted: a hit scores `1 − |mask| / F`).
pub fn pointing_game(
    attributions: &[f64],
    masks: &[bool],
    features: usize,
    weighted: bool,
) -> Result<Vec<f64>> {
    rows(attributions, masks, features)?
        .map(|(i, a, m)| {
            let k = inside(m, i)?;
            let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let hit = a.iter().zip(m).any(|(&v, &b)| b && v == max);
            Ok(match (hit, weighted) {
                (false, _) => 0.0,
                (true, false) => 1.0,
                (true, true) => 1.0 - k as f64 / features as f64,
            })
        })
        .collect()
}

/// Share of the attribution mass inside the mask, `Σ_{mask} a / (Σ a + 10⁻⁹)`.
pub fn attribution_localisation(
    attributions: &[f64],
    masks: &[bool],
    features: usize,
) -> Result<Vec<f64>> {
    rows(attributions, masks, features)?
        .map(|(i, a, m)| {
            inside(m, i)?;
            let (within, total) = mass(a, m);
            let r = within / (total + 1e-9);
            if r > 1.0 {
                return Err(XaiError::Config(format!(
                    "row {i}: more attribution inside the mask than in total (negative \
                     attributions outside it); use |a|"
                )));
            }
            Ok(r)
        })
        .collect()
}

/// Fraction of the `k` largest attributions inside the mask (concept influence: divided by
/// `|mask| / F`).
pub fn top_k_intersection(
    attributions: &[f64],
    masks: &[bool],
    features: usize,
    k: usize,
    concept_influence: bool,
) -> Result<Vec<f64>> {
    if k == 0 || k > features {
        return Err(XaiError::Config(format!(
            "top-k intersection needs 1 ≤ k ≤ {features}, got {k}"
        )));
    }
    rows(attributions, masks, features)?
        .map(|(i, a, m)| {
            let size = inside(m, i)?;
            let t = top_hits(a, m, k) as f64 / k as f64;
            Ok(if concept_influence {
                t * features as f64 / size as f64
            } else {
                t
            })
        })
        .collect()
}

/// Of the `|mask|` largest attributions, the fraction inside the mask.
pub fn relevance_rank_accuracy(
    attributions: &[f64],
    masks: &[bool],
    features: usize,
) -> Result<Vec<f64>> {
    rows(attributions, masks, features)?
        .map(|(i, a, m)| {
            let size = inside(m, i)?;
            Ok(top_hits(a, m, size) as f64 / size as f64)
        })
        .collect()
}

/// `Σ_{mask} a / Σ a`.
pub fn relevance_mass_accuracy(
    attributions: &[f64],
    masks: &[bool],
    features: usize,
) -> Result<Vec<f64>> {
    rows(attributions, masks, features)?
        .map(|(i, a, m)| {
            inside(m, i)?;
            let (within, total) = mass(a, m);
            if total == 0.0 {
                return Err(XaiError::Config(format!(
                    "row {i}: the attributions sum to 0, the mass ratio is undefined"
                )));
            }
            Ok(within / total)
        })
        .collect()
}

/// ROC AUC of the attribution as a score for mask membership.
pub fn localisation_auc(attributions: &[f64], masks: &[bool], features: usize) -> Result<Vec<f64>> {
    rows(attributions, masks, features)?
        .map(|(i, a, m)| {
            let size = inside(m, i)?;
            if size == features {
                return Err(XaiError::Config(format!(
                    "mask of row {i} covers every feature: the AUC is undefined"
                )));
            }
            Ok(super::roc_auc(a, m))
        })
        .collect()
}
