//! # xai-grad
//!
//! The capture-and-interpret autodiff engine on burn 0.22 ([`engine`]) and gradient-based
//! attributions built on it.
#![warn(missing_docs)]

pub mod engine;
pub mod gradient;
pub mod methods;

pub use engine::{
    CapturedGraph, DynTensor, LayerKind, LinearIo, Precision, cross_entropy_logit_hvp,
};
