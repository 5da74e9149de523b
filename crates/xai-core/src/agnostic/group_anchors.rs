//! Anchors over feature groups: image superpixels and text tokens (Ribeiro, Singh & Guestrin,
//! AAAI 2018, the image and text settings).
//!
//! The instance is seen as `G` groups (superpixels from [`super::segmentation`] or
//! [`FeatureGroups::image_patches`]; token positions of a text), each *present* (its own values)
//! or *absent* (the reference's values: a blurred or mean image, a mask token). A perturbation
//! `z ∈ {0,1}^G` keeps each group with probability `1 − p_absent`, independently (the reference
//! implementation's image sampler with `p = 0.5`; its text sampler with UNK replacement). An
//! anchor is a set `A` of groups such that whenever they are present the model keeps its
//! prediction:
//!
//! ```text
//! precision(A) = P_z[f(compose(z)) = f(x) | z_g = 1 ∀g ∈ A] ≥ τ,   coverage(A) = P_z[z_g = 1 ∀g ∈ A]
//! ```
//!
//! and among the anchors of the smallest size the one with the largest coverage. The search is
//! the tabular one ([`super::anchors`]: beam search with KL-LUCB, an anchor only when the KL
//! lower bound of its precision reaches `τ`) on the presence vector, with one predicate
//! `z_g = 1` per group and a seeded sample of presence vectors as the distribution.
//!
//! ```
//! use xai_core::agnostic::{FeatureGroups, FnModel};
//! use xai_core::agnostic::group_anchors::{GroupAnchorsConfig, group_anchors};
//! // 4×4 image, 2×2 patches; class 1 exactly when the top-left patch is bright.
//! let model = FnModel::new(16, |r: &[f64], n| {
//!     (0..n).flat_map(|i| {
//!         let on = r[16 * i] + r[16 * i + 1] + r[16 * i + 4] + r[16 * i + 5] > 2.0;
//!         [f64::from(u8::from(!on)), f64::from(u8::from(on))]
//!     }).collect()
//! });
//! let groups = FeatureGroups::image_patches([1, 4, 4], 2).unwrap();
//! let image = vec![1.0; 16];
//! let a = group_anchors(&model, &image, &groups, &[0.0; 16], &GroupAnchorsConfig::default()).unwrap();
//! assert!(a.is_anchor);
//! assert_eq!(a.groups, vec![0]);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::anchors::{AnchorsConfig, Predicate, check_config, search};
use super::shapley::compose;
use super::{BlackBox, FeatureGroups, argmax};
use crate::error::{Result, XaiError};

/// Settings of [`group_anchors`] and [`text_anchors`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupAnchorsConfig {
    /// The search (`bins` is not used: a group is present or absent).
    pub anchors: AnchorsConfig,
    /// Probability that a group not in the rule is absent in a perturbation.
    pub p_absent: f64,
    /// Presence vectors drawn as the distribution (coverage is measured on them).
    pub draws: usize,
}

impl Default for GroupAnchorsConfig {
    fn default() -> Self {
        GroupAnchorsConfig {
            anchors: AnchorsConfig::default(),
            p_absent: 0.5,
            draws: 1000,
        }
    }
}

/// The anchor found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupAnchor {
    /// The anchored groups, in the order the rule was built.
    pub groups: Vec<usize>,
    /// Estimated precision.
    pub precision: f64,
    /// KL lower confidence bound of the precision.
    pub precision_low: f64,
    /// Share of the drawn presence vectors in which every anchored group is present.
    pub coverage: f64,
    /// Samples drawn for this rule.
    pub samples: usize,
    /// The instance's predicted class.
    pub prediction: usize,
    /// Whether the rule reaches the threshold (`false`: the most precise rule found).
    pub is_anchor: bool,
}

/// The model seen through presence vectors: row `z` (`G` values) becomes the instance with the
/// absent groups taken from the reference.
struct Presence<'a, M: ?Sized> {
    model: &'a M,
    x: &'a [f64],
    reference: &'a [f64],
    groups: &'a FeatureGroups,
}

impl<M: BlackBox + ?Sized> BlackBox for Presence<'_, M> {
    fn features(&self) -> usize {
        self.groups.count()
    }

    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        let (g, f) = (self.groups.count(), self.x.len());
        let mut full = vec![0.0; n * f];
        for (r, row) in full.chunks_mut(f).enumerate() {
            let z = &rows[r * g..(r + 1) * g];
            compose(row, self.x, self.reference, self.groups, |k| z[k] > 0.5);
        }
        self.model.predict(&full, n)
    }
}

fn presence_draws(g: usize, count: usize, p_absent: f64, rng: &mut StdRng) -> Vec<f64> {
    (0..count * g)
        .map(|_| f64::from(u8::from(!rng.random_bool(p_absent))))
        .collect()
}

/// The anchor of instance `x` (`F` values) over `groups`; absent groups take `reference`'s
/// values (see the module docs).
pub fn group_anchors<M: BlackBox + ?Sized>(
    model: &M,
    x: &[f64],
    groups: &FeatureGroups,
    reference: &[f64],
    config: &GroupAnchorsConfig,
) -> Result<GroupAnchor> {
    let f = model.features();
    if x.len() != f || reference.len() != f || groups.features() != f || f == 0 {
        return Err(XaiError::shape(
            "group anchors instance, reference and groups",
            format!("{f} values each"),
            &[x.len(), reference.len(), groups.features()],
        ));
    }
    if let Some(v) = x.iter().chain(reference).find(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite(format!("anchors input value {v}")));
    }
    check_config(&config.anchors)?;
    if !(config.p_absent > 0.0 && config.p_absent < 1.0) || config.draws == 0 {
        return Err(XaiError::Config(format!(
            "group anchors need p_absent in (0, 1) and draws ≥ 1 (got {} and {})",
            config.p_absent, config.draws
        )));
    }
    let out = model.predict(x, 1)?;
    if out.is_empty() {
        return Err(XaiError::shape("anchors model output", "1 row", &[0]));
    }
    let prediction = argmax(&out);
    let g = groups.count();
    let mut rng = StdRng::seed_from_u64(config.anchors.seed ^ 0xA5C4_0125);
    let mut background = presence_draws(g, config.draws, config.p_absent, &mut rng);
    // One draw of each group present, so every predicate holds for some background row.
    background.extend(std::iter::repeat_n(1.0, g));
    let predicates = (0..g)
        .map(|feature| Predicate {
            feature,
            low: 0.5,
            high: f64::INFINITY,
        })
        .collect();
    let presence = Presence {
        model,
        x,
        reference,
        groups,
    };
    let a = search(
        &presence,
        &vec![1.0; g],
        &background,
        predicates,
        prediction,
        &config.anchors,
    )?;
    Ok(GroupAnchor {
        groups: a.predicates.iter().map(|p| p.feature).collect(),
        precision: a.precision,
        precision_low: a.precision_low,
        coverage: a.coverage,
        samples: a.samples,
        prediction,
        is_anchor: a.is_anchor,
    })
}

/// Anchors of a text (`tokens`, one id per position, as `f64`): each position is a group, an
/// absent position becomes `mask_token` (an UNK or pad id).
pub fn text_anchors<M: BlackBox + ?Sized>(
    model: &M,
    tokens: &[f64],
    mask_token: f64,
    config: &GroupAnchorsConfig,
) -> Result<GroupAnchor> {
    if tokens.is_empty() {
        return Err(XaiError::EmptyBatch("text with no tokens".into()));
    }
    let groups = FeatureGroups::singletons(tokens.len());
    group_anchors(
        model,
        tokens,
        &groups,
        &vec![mask_token; tokens.len()],
        config,
    )
}

/// Precision of `anchor` on `samples` fresh perturbations (every anchored group present, each
/// other group absent with probability `p_absent`, drawn from `seed`): a held-out check.
#[allow(clippy::too_many_arguments)]
pub fn group_held_out_precision<M: BlackBox + ?Sized>(
    model: &M,
    x: &[f64],
    groups: &FeatureGroups,
    reference: &[f64],
    anchor: &GroupAnchor,
    p_absent: f64,
    samples: usize,
    seed: u64,
) -> Result<f64> {
    let (f, g) = (x.len(), groups.count());
    if reference.len() != f || groups.features() != f || samples == 0 {
        return Err(XaiError::shape(
            "held-out group anchors check",
            format!("{f} reference values, groups over {f} features, samples > 0"),
            &[reference.len(), groups.features(), samples],
        ));
    }
    if let Some(&bad) = anchor.groups.iter().find(|&&k| k >= g) {
        return Err(XaiError::Config(format!(
            "anchor group {bad} out of range ({g} groups)"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut z = presence_draws(g, samples, p_absent, &mut rng);
    for row in z.chunks_mut(g) {
        for &k in &anchor.groups {
            row[k] = 1.0;
        }
    }
    let presence = Presence {
        model,
        x,
        reference,
        groups,
    };
    let out = presence.predict(&z, samples)?;
    let k = out.len() / samples;
    Ok(out
        .chunks(k.max(1))
        .filter(|row| argmax(row) == anchor.prediction)
        .count() as f64
        / samples as f64)
}
