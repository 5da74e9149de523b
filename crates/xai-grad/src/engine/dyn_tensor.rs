//! A float tensor of any rank, as the engine's interpreter holds it.

use burn::backend::ops::{BoolTensorOps, FloatTensorOps};
use burn::backend::{Dispatch, DispatchTensor, Scalar, TensorMetadata};
use burn::tensor::{Device, Gradients, Tensor};

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

    /// Wrap an integer tensor (token ids), as input to a graph captured with
    /// [`CapturedGraph::capture_tokens`](crate::CapturedGraph::capture_tokens).
    pub fn from_int_tensor<const D: usize>(t: Tensor<D, burn::tensor::Int>) -> Self {
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

    /// The inverse of [`into_rows`](Self::into_rows): reshape `[N, rest]` rows to `shape`.
    pub fn from_rows(rows: Tensor<2>, shape: &[usize]) -> Result<DynTensor> {
        let [n, rest] = rows.dims();
        if shape.first() != Some(&n) || shape.iter().skip(1).product::<usize>() != rest {
            return Err(XaiError::shape("rows", format!("{shape:?}"), &[n, rest]));
        }
        let t = by_rank!(shape.len(), R => {
            let mut dims = [0usize; R];
            dims.copy_from_slice(shape);
            DynTensor::from_tensor(rows.reshape(dims))
        }, return Err(XaiError::shape("rows target", "rank 1..=6", shape)));
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
        let data = by_rank!(r, R => Tensor::<R>::from_dispatch(self.0.clone()).try_into_data()
                .map_err(|e| XaiError::Numerical(format!("reading a tensor failed: {e:?}")))?,
            return Err(XaiError::shape("graph value", "rank 1..=6", &self.shape())));
        data.convert::<f64>()
            .try_to_vec::<f64>()
            .map_err(|e| XaiError::Numerical(format!("{e:?}")))
    }
}

/// Elementwise arithmetic for backward rules (shapes must match; no broadcasting).
///
/// These are thin wrappers over burn's backend ops so that a rule can be written once for tensors
/// of any rank (a dense layer's `[N, F]` and a convolution's `[N, C, H, W]`).
impl DynTensor {
    fn lift(t: DispatchTensor) -> Self {
        DynTensor(t)
    }
    /// `self + other`.
    pub fn add(&self, other: &DynTensor) -> DynTensor {
        Self::lift(Dispatch::float_add(self.0.clone(), other.0.clone()))
    }
    /// `self − other`.
    pub fn sub(&self, other: &DynTensor) -> DynTensor {
        Self::lift(Dispatch::float_sub(self.0.clone(), other.0.clone()))
    }
    /// `self ⊙ other`.
    pub fn mul(&self, other: &DynTensor) -> DynTensor {
        Self::lift(Dispatch::float_mul(self.0.clone(), other.0.clone()))
    }
    /// `self ⊘ other`.
    pub fn div(&self, other: &DynTensor) -> DynTensor {
        Self::lift(Dispatch::float_div(self.0.clone(), other.0.clone()))
    }
    /// `self · c`.
    pub fn mul_scalar(&self, c: f64) -> DynTensor {
        Self::lift(Dispatch::float_mul_scalar(self.0.clone(), Scalar::Float(c)))
    }
    /// `self + c`.
    pub fn add_scalar(&self, c: f64) -> DynTensor {
        Self::lift(Dispatch::float_add_scalar(self.0.clone(), Scalar::Float(c)))
    }
    /// `max(self, lo)`.
    pub fn clamp_min(&self, lo: f64) -> DynTensor {
        Self::lift(Dispatch::float_clamp_min(self.0.clone(), Scalar::Float(lo)))
    }
    /// `min(self, hi)`.
    pub fn clamp_max(&self, hi: f64) -> DynTensor {
        Self::lift(Dispatch::float_clamp_max(self.0.clone(), Scalar::Float(hi)))
    }
    /// `|self|`.
    pub fn abs(&self) -> DynTensor {
        Self::lift(Dispatch::float_abs(self.0.clone()))
    }
    /// `sign(self)` (0 at 0).
    pub fn sign(&self) -> DynTensor {
        Self::lift(Dispatch::float_sign(self.0.clone()))
    }
    /// `√self`.
    pub fn sqrt(&self) -> DynTensor {
        Self::lift(Dispatch::float_sqrt(self.0.clone()))
    }
    /// The mean over the last axis, kept as an axis of size 1 (broadcasts back).
    pub fn mean_last(&self) -> DynTensor {
        let last = self.rank().saturating_sub(1);
        Self::lift(Dispatch::float_mean_dim(self.0.clone(), last))
    }
    /// `self²`.
    pub fn square(&self) -> DynTensor {
        self.mul(self)
    }
    /// Zeros of the same shape, dtype and device.
    pub fn zeros_like(&self) -> DynTensor {
        Self::lift(Dispatch::float_zeros(
            self.0.shape(),
            &self.0.device(),
            self.0.dtype().into(),
        ))
    }
    /// Ones of the same shape, dtype and device.
    pub fn ones_like(&self) -> DynTensor {
        Self::lift(Dispatch::float_ones(
            self.0.shape(),
            &self.0.device(),
            self.0.dtype().into(),
        ))
    }
    /// A constant of the same shape, dtype and device.
    pub fn full_like(&self, c: f64) -> DynTensor {
        self.zeros_like().add_scalar(c)
    }
    /// 1 where `self > c`, else 0 (same dtype).
    pub fn greater_mask(&self, c: f64) -> DynTensor {
        let dev = Device::from(self.0.device());
        let bd = dev.settings().bool_dtype;
        let m = Dispatch::float_greater_elem(self.0.clone(), Scalar::Float(c), bd);
        Self::lift(Dispatch::bool_into_float(m, self.0.dtype().into()))
    }
    /// 1 where `self < c`, else 0 (same dtype).
    pub fn lower_mask(&self, c: f64) -> DynTensor {
        let dev = Device::from(self.0.device());
        let bd = dev.settings().bool_dtype;
        let m = Dispatch::float_lower_elem(self.0.clone(), Scalar::Float(c), bd);
        Self::lift(Dispatch::bool_into_float(m, self.0.dtype().into()))
    }
    /// `where(|gate| < eps, if_small, self)`: pick `if_small` where `gate` is (numerically) zero.
    pub fn where_small(&self, gate: &DynTensor, eps: f64, if_small: &DynTensor) -> DynTensor {
        let small = gate.abs().lower_mask(eps);
        // small·a + (1 − small)·b, exact because the mask is 0/1.
        if_small
            .mul(&small)
            .add(&self.mul(&small.mul_scalar(-1.0).add_scalar(1.0)))
    }
    /// Zennit's stabiliser: `x + ε·(sign(x) + [x = 0])`, so the result is never 0.
    pub fn stabilize(&self, eps: f64) -> DynTensor {
        // [x = 0] as 1 − |sign(x)|: exact in every float dtype (a threshold such as
        // f64::MIN_POSITIVE rounds to 0 in f32 and would leave zeros unstabilised).
        let sign = self.sign();
        let zero = sign.abs().mul_scalar(-1.0).add_scalar(1.0);
        self.add(&sign.add(&zero).mul_scalar(eps))
    }
    /// Cut from the autodiff graph.
    pub fn detach(&self) -> DynTensor {
        Self::lift(Dispatch::float_detach(self.0.clone()))
    }
    /// Sum of all elements as `f64` (reads the tensor back).
    pub fn sum_f64(&self) -> Result<f64> {
        Ok(self.to_vec_f64()?.iter().sum())
    }
}
