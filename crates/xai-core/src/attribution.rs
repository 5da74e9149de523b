//! The result every explainer returns.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Result, XaiError};

/// Attribution values plus everything needed to reproduce them.
///
/// `values` has the shape of the explained inputs (`shape`, batch first), stored row-major as
/// `f32` so the record serialises with serde and stays readable in JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attribution {
    /// The method's name, e.g. `"saliency"`.
    pub method: String,
    /// The method's settings, as the Config struct serialises.
    pub settings: serde_json::Value,
    /// Shape of `values`, batch dimension first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
    /// Per-sample completeness error Σ attribution − (f(x) − f(baseline)), where the method
    /// defines one.
    pub completeness_delta: Option<Vec<f32>>,
    /// The explained class per sample, where the target is a class.
    pub targets: Option<Vec<usize>>,
    /// The random seed, for stochastic methods.
    pub seed: Option<u64>,
}

impl Attribution {
    /// Build from a tensor of values, checking that none is NaN or infinite.
    pub fn from_tensor<const D: usize>(
        method: &str,
        settings: serde_json::Value,
        values: Tensor<D>,
    ) -> Result<Self> {
        let shape = values.dims().to_vec();
        let values = tensor_to_vec(values)?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(XaiError::NonFinite(format!("{method} attribution")));
        }
        Ok(Attribution {
            method: method.to_string(),
            settings,
            shape,
            values,
            completeness_delta: None,
            targets: None,
            seed: None,
        })
    }

    /// The values as a tensor on `device`.
    pub fn to_tensor<const D: usize>(&self, device: &Device) -> Result<Tensor<D>> {
        if self.shape.len() != D {
            return Err(XaiError::shape(
                "attribution rank",
                format!("rank {D}"),
                &self.shape,
            ));
        }
        Ok(Tensor::from_data(
            TensorData::new(self.values.clone(), self.shape.clone()),
            device,
        ))
    }

    /// Number of samples (the batch dimension).
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The values of sample `i`, flattened.
    pub fn sample(&self, i: usize) -> &[f32] {
        let per = self.values.len() / self.batch().max(1);
        &self.values[i * per..(i + 1) * per]
    }
}

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
