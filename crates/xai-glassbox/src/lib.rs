//! # xai-glassbox
//!
//! Models whose decisions can be read off, and the most common tabular model of all, the
//! boosted tree ensemble, explained exactly.
//!
//! * [`trees`]: XGBoost (JSON) and LightGBM (text) models loaded from the files those libraries
//!   save, predicting raw margins identical to the library's own (missing values, default
//!   directions and categorical splits included).
//! * [`treeshap`]: exact TreeSHAP — path-dependent, interaction values, interventional against a
//!   background set — batched over rows on all cores.
//! * [`rule_list`]: certifiably optimal rule lists by CORELS's branch and bound.
//! * [`risk_score`]: integer-point risk scores (RiskSLIM's problem), exact by branch and bound.
//! * [`gam`]: generalised additive models learned as Explainable Boosting Machines (cyclic
//!   boosting of shape functions, bagging, FAST pairwise interactions).
//! * [`cart`]: CART decision trees with depth / leaf limits and cost-complexity pruning.
//! * [`sparse_linear`]: L1-regularised logistic regression by coordinate descent.
//! * [`score`]: the AUC the learners are compared by.
//! * [`table`]: labelled CSV data for the learners.
#![warn(missing_docs)]
// NaN-aware checks are written `!(x >= 0.0)` on purpose: a NaN must fail them.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod cart;
pub mod gam;
mod par;
pub mod risk_score;
pub mod rule_list;
pub mod score;
pub mod sparse_linear;
pub mod table;
pub mod trees;
pub mod treeshap;
