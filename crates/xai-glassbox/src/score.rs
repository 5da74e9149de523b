//! How well a model's scores rank the positive class: the area under the ROC curve, by the
//! rank-sum (Mann–Whitney) formula with tied scores sharing their average rank.
//!
//! ```
//! use xai_glassbox::score::auc;
//! assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
//! assert_eq!(auc(&[0.5, 0.5], &[false, true]), 0.5);
//! ```

/// AUC of `scores` for labels `y` (higher score = more likely positive); NaN when `y` holds one
/// class only. The one implementation lives in `xai_core::metrics`.
pub use xai_core::metrics::roc_auc as auc;
