//! Feature ablation: the output drop when a feature (or a group of features) is replaced by its
//! reference value.
//!
//! For input x, reference b and group g, `φ_g = f(x) − f(x with x_g := b_g)`; every feature of a
//! group receives the group's value (Captum's `FeatureAblation` with a feature mask). With a
//! background set, `f(x with x_g := b_g)` is averaged over the background rows.
//!
//! Cost: `N · G · M` model rows (inputs × groups × reference rows), evaluated in budget-sized
//! chunks. No axiom beyond *dummy* (a feature the model ignores gets exactly 0) holds in general:
//! ablation ignores interactions, so `Σ φ ≠ f(x) − f(b)` unless the model is additive.
//!
//! ```
//! use xai_core::agnostic::{FnModel, FeatureAblation, References, Rows, feature_ablation};
//! use xai_core::Target;
//! // f(x) = 2·x0 + 3·x1·x2 on one input (1, 1, 1) against a zero reference.
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| 2.0 * r[3*i] + 3.0 * r[3*i+1] * r[3*i+2]).collect());
//! let x = [1.0, 1.0, 1.0];
//! let phi = feature_ablation(&model, &Rows::new(&x, 3).unwrap(), &Target::Class(0),
//!     &References::PerInput(vec![0.0; 3]), &FeatureAblation::default()).unwrap();
//! assert_eq!(phi.values, vec![2.0, 3.0, 3.0]);
//! ```

use serde::{Deserialize, Serialize};

use super::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions, Scorer};
use crate::error::Result;
use crate::target::Target;

/// Settings of [`feature_ablation`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FeatureAblation {
    /// Features ablated together; `None` ablates every feature alone.
    pub groups: Option<FeatureGroups>,
    /// Budget and progress.
    pub run: RunOptions,
}

/// Per-feature values of a perturbation method on host rows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RowAttribution {
    /// The method's name.
    pub method: String,
    /// `n · F` values, row-major, one per input feature.
    pub values: Vec<f64>,
    /// Number of explained inputs.
    pub n: usize,
    /// Features per input.
    pub features: usize,
    /// The explained class per input, when the target is a class.
    pub targets: Option<Vec<usize>>,
}

impl RowAttribution {
    /// The values of input `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.features..(i + 1) * self.features]
    }
}

/// Feature ablation of `inputs` for `target` against `references`.
pub fn feature_ablation<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    references: &References,
    config: &FeatureAblation,
) -> Result<RowAttribution> {
    let (n, f) = (inputs.n, inputs.f);
    let groups = super::prepare(model, inputs, references, config.groups.as_ref())?;
    let g = groups.count();
    let m = references.per_input();
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, &config.run, "feature ablation");
    let full = eval.scores(
        n,
        &scorer,
        |r, row| row.copy_from_slice(inputs.row(r)),
        |r| r,
    )?;
    // Row layout: input i, group k, reference r  ->  (i·G + k)·M + r.
    let ablated = eval.scores(
        n * g * m,
        &scorer,
        |idx, row| {
            let (i, k, r) = (idx / (g * m), (idx / m) % g, idx % m);
            let x = inputs.row(i);
            let b = references.row(i, r, f);
            for j in 0..f {
                row[j] = if groups.of(j) == k { b[j] } else { x[j] };
            }
        },
        |idx| idx / (g * m),
    )?;
    let mut values = Vec::with_capacity(n * f);
    for (i, &fi) in full.iter().enumerate() {
        let per_group: Vec<f64> = (0..g)
            .map(|k| {
                let base = (i * g + k) * m;
                fi - ablated[base..base + m].iter().sum::<f64>() / m as f64
            })
            .collect();
        values.extend(groups.expand(&per_group));
    }
    Ok(RowAttribution {
        method: "feature_ablation".into(),
        values,
        n,
        features: f,
        targets: scorer.classes().map(|c| c.to_vec()),
    })
}
