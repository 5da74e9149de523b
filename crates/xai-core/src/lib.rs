//! # xai-core
//!
//! What every xai crate shares: [`Target`] (what is explained), typed errors ([`XaiError`]), the
//! memory-budget batcher ([`MemoryBudget`]), device selection, seeded initialisation ([`init`]),
//! the model-agnostic methods ([`agnostic`]), the evaluation metrics ([`metrics`]) and the loader
//! of the shared reference fixtures ([`fixture`]), and map/reduce over data-set shards for cluster
//! schedulers ([`shard`]).
#![warn(missing_docs)]

pub mod agnostic;
pub mod batch;
pub mod device;
pub mod error;
pub mod fixture;
pub mod init;
pub mod metrics;
pub mod shard;
pub mod target;
pub mod tensors;

pub use batch::MemoryBudget;
pub use device::{available_devices, parse_device};
pub use error::{Result, XaiError};
pub use target::{Target, one_hot};
pub use tensors::{check_finite, tensor_to_vec, tensor_to_vec_f64};
