//! Interpretable-by-design models and their explanations: ProtoPNet, concept bottleneck and
//! concept embedding models, mixtures of experts with readable routing, TCAV, deep kNN, and
//! synthetic benchmarks whose ground truth is known exactly.
//!
//! Every model is an ordinary burn module trained with burn's autodiff on any device (flex by
//! default, wgpu behind the `wgpu` feature); every data set is generated deterministically
//! from a seed. The benchmarks that train and judge these models live in `xai-bench`.

#![warn(missing_docs)]

pub mod backbone;
pub mod cbm;
pub mod data;
pub mod knn;
pub mod lm;
pub mod moe;
pub mod protopnet;
pub mod render;
pub mod stats;
pub mod tcav;
pub mod train;
pub mod transformer;
pub mod vit;
