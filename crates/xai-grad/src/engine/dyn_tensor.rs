//! A float tensor of any rank, as the engine's interpreter holds it.

use burn::backend::{DispatchTensor, TensorMetadata};
use burn::tensor::{Gradients, Tensor};

use xai_core::{Result, XaiError};

/// A float tensor whose rank is known only at run time (a node of a captured graph).
///
/// Convert with [`DynTensor::into_tensor`] once the rank is known; [`DynTensor::grad`] reads its
/// gradient when it is an autodiff leaf (a parameter, an input or a tap probe).
#[derive(Clone, Debug)]
pub struct DynTensor(pub(crate) DispatchTensor);

macro_rules! by_rank {
    ($rank:expr, $r:ident => $body:expr, $err:expr) => {
        match $rank {
            1 => {
                const $r: usize = 1;
                $body
            }
            2 => {
                const $r: usize = 2;
                $body
            }
            3 => {
                const $r: usize = 3;
                $body
            }
            4 => {
                const $r: usize = 4;
                $body
            }
            5 => {
                const $r: usize = 5;
                $body
            }
            6 => {
                const $r: usize = 6;
                $body
            }
            _ => $err,
        }
    };
}

impl DynTensor {
    /// Wrap a tensor of static rank.
    pub fn from_tensor<const D: usize>(t: Tensor<D>) -> Self {
        DynTensor(t.into_dispatch())
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.0.shape().to_vec()
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.0.shape().num_dims()
    }

    /// Convert to a tensor of rank `D`, failing with a shape error if the rank differs.
    pub fn into_tensor<const D: usize>(self) -> Result<Tensor<D>> {
        if self.rank() != D {
            return Err(XaiError::shape(
                "graph value",
                format!("rank {D}"),
                &self.shape(),
            ));
        }
        Ok(Tensor::from_dispatch(self.0))
    }

    /// Flatten to `[N, rest]` (rank ≥ 1), for methods that work per sample.
    pub fn into_rows(self) -> Result<Tensor<2>> {
        let s = self.shape();
        let n = s.first().copied().unwrap_or(1);
        let rest: usize = s.iter().skip(1).product();
        let t = by_rank!(s.len(), R => Tensor::<R>::from_dispatch(self.0).reshape([n, rest]),
            return Err(XaiError::shape("graph value", "rank 1..=6", &s)));
        Ok(t)
    }

    /// The gradient of this leaf in `grads`, if it has one.
    pub fn grad(&self, grads: &Gradients) -> Option<DynTensor> {
        let r = self.rank();
        by_rank!(r, R => Tensor::<R>::from_dispatch(self.0.clone()).grad(grads).map(DynTensor::from_tensor), None)
    }

    /// This tensor on `device`; on an autodiff device it joins the autodiff context (a plain
    /// `to_device` onto the same backend would not).
    pub fn on_device(&self, device: &burn::tensor::Device) -> DynTensor {
        let r = self.rank();
        let plain = device.clone().inner();
        by_rank!(r, R => {
            let t = Tensor::<R>::from_dispatch(self.0.clone()).to_device(&plain);
            DynTensor::from_tensor(if device.is_autodiff() { t.autodiff() } else { t })
        }, self.clone())
    }

    /// All values as `f64`, row-major.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        let r = self.rank();
        let data = by_rank!(r, R => Tensor::<R>::from_dispatch(self.0.clone()).into_data(),
            return Err(XaiError::shape("graph value", "rank 1..=6", &self.shape())));
        data.convert::<f64>()
            .try_to_vec::<f64>()
            .map_err(|e| XaiError::Numerical(format!("{e:?}")))
    }
}
