//! Interpretable-by-design models and their explanations: ProtoPNet, concept bottleneck and
//! concept embedding models, mixtures of experts with readable routing, TCAV, deep kNN, and
//! synthetic benchmarks whose ground truth is known exactly.
//!
//! Every model is an ordinary burn module trained with burn's autodiff on any device (flex by
//! default, wgpu behind the `wgpu` feature); every benchmark is generated deterministically
//! from a seed and reports its figures as serde values.

#![warn(missing_docs)]

pub mod backbone;
pub mod bench;
pub mod cbm;
pub mod data;
pub mod knn;
pub mod moe;
pub mod protopnet;
pub mod render;
pub mod stats;
pub mod tcav;
pub mod train;
