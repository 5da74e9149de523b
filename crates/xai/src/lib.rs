//! # xai
//!
//! Interpretability for burn models. This facade re-exports the workspace crates and holds the
//! logic behind the `xai` program (fixture checking, the demo).
#![warn(missing_docs)]

pub mod bench;
pub mod demo;
pub mod explain;
pub mod fixture_check;
pub mod influence_bench;
pub mod metrics_bench;
pub mod output;
pub mod registry;
pub mod sanity_bench;

pub use xai_core as core;
pub use xai_grad as grad;
pub use xai_influence as influence;
pub use xai_proto as proto;
