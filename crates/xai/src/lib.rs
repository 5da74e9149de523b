//! # xai
//!
//! Interpretability for burn models. This facade re-exports the workspace crates and holds what
//! the `xai` program (crate `xai-cli`) does for a user: the method registry, `explain`, the demo
//! report, fixture checks and atomic report output. Benchmark harnesses live in `xai-bench`.
#![warn(missing_docs)]

pub mod demo;
pub mod explain;
pub mod fixture_check;
pub mod glassbox_check;
pub mod glassbox_report;
pub mod onnx_check;
pub mod output;
pub mod plots;
pub mod registry;
pub mod sharded_explain;

pub use xai_core as core;
pub use xai_glassbox as glassbox;
pub use xai_grad as grad;
pub use xai_influence as influence;
pub use xai_onnx as onnx;
pub use xai_proto as proto;
