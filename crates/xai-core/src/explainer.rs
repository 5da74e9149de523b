//! The one entry point every attribution method shares.

use burn::tensor::Tensor;

use crate::attribution::Attribution;
use crate::error::Result;
use crate::target::Target;

/// An attribution method bound to a model and a configuration.
///
/// Each method is a struct holding the model (or its captured graph) and its `Config`; `explain`
/// takes a batch of inputs `[N, ...]` and a [`Target`] and returns values of the inputs' shape.
pub trait Explainer<const D: usize> {
    /// The method's name as it appears in results and fixtures.
    fn name(&self) -> &'static str;
    /// Attribute the target of each input.
    fn explain(&self, inputs: Tensor<D>, target: &Target) -> Result<Attribution>;
}
