//! # xai-bench
//!
//! The benchmark harnesses behind `xai bench`, `xai sanity`, `xai influence bench`,
//! `xai proto bench` and `xai glassbox bench`. Each one generates or loads its data from a seed, runs xai's methods, and
//! returns every figure it measured as JSON; nothing is read back from an earlier run. The
//! peers' side of each comparison is a Python script in `scripts/` fed with the same model and
//! inputs.
//!
//! | module | what it measures |
//! |---|---|
//! | [`attribution`] | attribution throughput on a fixture, every registered method |
//! | [`metrics`] | faithfulness-metric throughput (the Quantus workload) |
//! | [`sanity`] | model-randomisation and data-randomisation sanity checks on a digits CNN |
//! | [`influence`] | influence functions judged by leave-one-out retraining and LDS on the digits |
//! | [`proto`] | ProtoPNet, concept bottlenecks, Clever Hans TCAV, mixtures of experts |
//! | [`glassbox`] | every glass-box learner on the shared tabular data: accuracy, AUC, size, objectives |
//!
//! The criterion micro-benchmarks of the hot paths are a separate workspace in `criterion/`.

#![warn(missing_docs)]

pub mod attribution;
pub mod glassbox;
pub mod influence;
pub mod lm;
pub mod metrics;
pub mod proto;
pub mod sanity;
pub mod vit;

/// The mean of `values` (0 for none): the summary the harnesses report per metric.
pub(crate) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}
