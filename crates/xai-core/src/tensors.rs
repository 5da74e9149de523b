//! Reading tensors back to the host, and the finiteness check every method applies.

use burn::tensor::Tensor;

use crate::error::{Result, XaiError};

/// Read a tensor of any float dtype into a `Vec<f32>`.
pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| XaiError::Numerical(format!("reading tensor: {e:?}")))
}

/// Read a tensor of any float dtype into a `Vec<f64>`.
pub fn tensor_to_vec_f64<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    t.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .map_err(|e| XaiError::Numerical(format!("reading tensor: {e:?}")))
}

/// Fail with [`XaiError::NonFinite`] if `t` holds a NaN or an infinity.
pub fn check_finite<const D: usize>(t: &Tensor<D>, what: &str) -> Result<()> {
    let ok = t.clone().is_finite().all().into_scalar();
    if ok {
        Ok(())
    } else {
        Err(XaiError::NonFinite(what.to_string()))
    }
}
