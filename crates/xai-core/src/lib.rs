//! # xai-core
//!
//! The vocabulary every xai crate shares: [`Target`] (what is explained), [`Baseline`] (the
//! reference), [`Attribution`] (the result, serde-serialisable), the [`Explainer`] trait, typed
//! errors ([`XaiError`]), the memory-budget batcher ([`MemoryBudget`]), device selection, and the
//! loader of the shared reference fixtures ([`fixture`]).
#![warn(missing_docs)]

pub mod agnostic;
pub mod attribution;
pub mod baseline;
pub mod batch;
pub mod device;
pub mod error;
pub mod explainer;
pub mod fixture;
pub mod init;
pub mod metrics;
pub mod target;

pub use attribution::{Attribution, check_finite, tensor_to_vec, tensor_to_vec_f64};
pub use baseline::Baseline;
pub use batch::MemoryBudget;
pub use device::{available_devices, parse_device};
pub use error::{Result, XaiError};
pub use explainer::Explainer;
pub use target::{Target, one_hot};
