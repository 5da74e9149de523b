//! Reference inputs for path and difference methods (integrated gradients, DeepLIFT, occlusion).

use burn::tensor::Tensor;

use crate::error::{Result, XaiError};

/// The reference an attribution is measured against.
#[derive(Clone, Debug)]
pub enum Baseline<const D: usize> {
    /// All zeros.
    Zeros,
    /// Every element set to one value.
    Constant(f32),
    /// One baseline per sample, same shape as the inputs (or a single row broadcast to all).
    Tensor(Tensor<D>),
    /// A distribution of baselines `[M, ...]` (one sample dimension first), for expected
    /// gradients, GradientSHAP and DeepLIFT-SHAP.
    Distribution(Tensor<D>),
}

impl<const D: usize> Baseline<D> {
    /// A baseline of the same shape as `inputs` (for [`Baseline::Distribution`], its mean).
    pub fn materialize(&self, inputs: &Tensor<D>) -> Result<Tensor<D>> {
        let dims = inputs.dims();
        let dev = inputs.device();
        match self {
            Baseline::Zeros => Ok(Tensor::zeros(dims, &dev)),
            Baseline::Constant(v) => Ok(Tensor::full(dims, *v, &dev)),
            Baseline::Tensor(t) => {
                let td = t.dims();
                if td == dims {
                    Ok(t.clone().to_device(&dev))
                } else if td[0] == 1 && td[1..] == dims[1..] {
                    Ok(t.clone().to_device(&dev).expand(dims))
                } else {
                    Err(XaiError::shape(
                        "baseline",
                        format!("{dims:?} or [1, ...]"),
                        &td,
                    ))
                }
            }
            Baseline::Distribution(t) => {
                let td = t.dims();
                if td[1..] != dims[1..] {
                    return Err(XaiError::shape(
                        "baseline distribution",
                        format!("[M, {:?}]", &dims[1..]),
                        &td,
                    ));
                }
                Ok(t.clone().to_device(&dev).mean_dim(0).expand(dims))
            }
        }
    }
}
