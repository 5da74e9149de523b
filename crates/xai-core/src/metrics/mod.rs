//! Evaluation of explanations: when can a map be trusted?
//!
//! One file per family, all batched over inputs and perturbations through the agnostic
//! [`Evaluator`](crate::agnostic::Evaluator) (chunked against a memory budget) and seeded:
//!
//! - [`faithfulness`]: deletion/insertion curves and AUC (pixel flipping, region perturbation),
//!   faithfulness correlation, infidelity, completeness error, ROAR through a retraining closure.
//! - [`monotonicity_correlation`]: Nguyen & Martínez's monotonicity — Spearman correlation of
//!   feature-group attributions with the output change their perturbation causes.
//! - [`random_logit`]: Sixt et al.'s random logit test — does the explanation change with the
//!   class it explains?
//! - [`relative_stability`]: Agarwal et al.'s relative input, output and representation
//!   stability.
//! - [`road`]: ROAD — remove the most relevant pixels, impute them by noisy linear imputation,
//!   and watch the prediction (Rong et al. 2022).
//! - [`sensitivity_n`]: sensitivity-n as Quantus computes it (cumulative removal, correlation of
//!   a step's attribution sum with the output drop across inputs).
//! - [`robustness`]: max- and average-sensitivity, the local Lipschitz estimate.
//! - [`axiomatic`]: non-sensitivity (features that move the output get attribution, and only
//!   those).
//! - [`complexity`]: sparseness (Gini) and complexity (entropy).
//! - [`consistency`]: Dasgupta et al.'s consistency and sufficiency — do inputs with the same
//!   (or a nearby) explanation get the same prediction?
//! - [`localisation`]: against ground-truth masks — pointing game, attribution localisation,
//!   top-k intersection, relevance rank and mass accuracy, AUC.
//! - [`similarity`]: Pearson, Spearman, SSIM, HOG similarity of two maps.
//! - [`disagreement`]: Krishna et al.'s agreement metrics and pairwise matrices over explainers.
//! - [`randomization`]: the sanity checks of Adebayo et al. — cascading and independent model
//!   parameter randomisation of any burn module (a `ModuleMapper`), and map comparison.
//! - [`scaffolding`]: the Slack et al. attack that hides a feature from LIME and SHAP.
//!
//! Conventions: inputs and attributions are host rows `n × F` in `f64`
//! ([`Rows`](crate::agnostic::Rows)); models are [`BlackBox`](crate::agnostic::BlackBox)es;
//! an undefined correlation (a constant vector) is 0, never NaN; bad shapes and settings are
//! typed errors.

pub mod axiomatic;
pub mod complexity;
pub mod consistency;
pub mod continuity;
pub mod disagreement;
pub mod faithfulness;
pub mod irof;
pub mod localisation;
pub mod monotonicity_correlation;
pub mod random_logit;
pub mod randomization;
pub mod relative_stability;
pub mod road;
pub mod robustness;
pub mod scaffolding;
pub mod sensitivity_n;
pub mod similarity;

use serde::{Deserialize, Serialize};

/// The area under the ROC curve of `scores` for labels `y` (higher score = more likely
/// positive), by ranks with ties counted one half (Mann–Whitney); NaN when `y` holds one class.
///
/// ```
/// use xai_core::metrics::roc_auc;
/// assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
/// assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
/// ```
pub fn roc_auc(scores: &[f64], y: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            ranks[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let neg = y.len() as f64 - pos;
    let sum: f64 = ranks
        .iter()
        .zip(y)
        .filter(|(_, v)| **v)
        .map(|(r, _)| r)
        .sum();
    (sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

use crate::error::{Result, XaiError};

/// Which output a faithfulness metric follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// The model's output at the class (a logit for classifiers).
    #[default]
    Raw,
    /// The softmax probability of the class over the model's outputs.
    Probability,
}

/// The explained value of every output row: `out` is `[rows, k]` row-major and row `r`
/// explains class `class_of(r)`.
pub(crate) fn class_values(
    out: &[f64],
    k: usize,
    output: Output,
    class_of: impl Fn(usize) -> usize,
) -> Result<Vec<f64>> {
    out.chunks(k)
        .enumerate()
        .map(|(r, row)| {
            let c = class_of(r);
            if c >= k {
                return Err(XaiError::TargetOutOfRange {
                    index: c,
                    classes: k,
                });
            }
            Ok(match output {
                Output::Raw => row[c],
                Output::Probability => {
                    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
                    (row[c] - m).exp() / z
                }
            })
        })
        .collect()
}

/// The seed of input `i`'s random stream: results do not depend on how inputs are chunked.
pub(crate) fn input_seed(seed: u64, i: usize) -> u64 {
    seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
