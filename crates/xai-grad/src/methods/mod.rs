//! Attribution methods built on the engine, one per file.
//!
//! Every method works on an [`Explainable`]: a burn module plus its forward function, captured
//! once per input shape (inference mode: BatchNorm uses its running statistics, dropout is off)
//! and replayed on the chosen device. The model itself is never modified.

pub mod attack_comparator;
pub mod attacks;
pub mod attention_flow;
pub mod attention_rollout;
pub mod attnlrp;
pub mod cem;
pub mod counterfactual;
pub mod deeplift;
pub(crate) mod elastic_net;
pub mod evaluate;
pub mod generation;
pub mod grad_cam;
pub mod guided_backprop;
pub mod integrated_gradients;
pub mod interactions;
pub mod layer;
pub mod lrp;
pub mod manipulation;
pub mod neuron;
pub mod noise_tunnel;
pub mod prototype_counterfactual;
pub mod text;

pub(crate) use evaluate::gradients_on;
pub use evaluate::{LayerReduce, RulePass, input_gradients};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use xai_core::{Result, Target, XaiError};

use crate::engine::host::{HostPlan, ReluRule};
use crate::engine::{CapturedGraph, DynTensor, Precision};

type CaptureFn<const D: usize> = dyn Fn(Tensor<D>) -> Result<CapturedGraph> + Send + Sync;
/// Captured graphs by input shape and dtype name.
type GraphCache = Mutex<HashMap<(Vec<usize>, String), Arc<CapturedGraph>>>;
/// Host plans (or `None`: burn's path) by input shape, dtype name, start node and ReLU rule.
type PlanCache = Mutex<HashMap<PlanKey, Option<Arc<HostPlan>>>>;
type PlanKey = (Vec<usize>, String, Option<usize>, ReluRule);

/// A model prepared for explanation: captured lazily for each input shape it is asked about.
pub struct Explainable<const D: usize> {
    capture: Box<CaptureFn<D>>,
    cache: GraphCache,
    plans: PlanCache,
    /// Where the replays run.
    pub device: Device,
    /// The precision of the replays.
    pub precision: Precision,
}

impl<const D: usize> Explainable<D> {
    /// Wrap `model` and its forward (`[N, ...]` → `[N, C]`). Replays run on `device` in f32.
    pub fn new<M>(model: M, forward: fn(&M, Tensor<D>) -> Tensor<2>, device: Device) -> Self
    where
        M: Module + Clone + Send + Sync + 'static,
    {
        Explainable {
            capture: Box::new(move |example| CapturedGraph::capture(&model, example, forward)),
            cache: Mutex::new(HashMap::new()),
            plans: Mutex::new(HashMap::new()),
            device,
            precision: Precision::F32,
        }
    }

    /// Use another precision (f64 for reference checks on flex).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The graph for inputs of exactly this shape (batch first) and dtype as `like`.
    pub fn graph(&self, like: &Tensor<D>) -> Result<Arc<CapturedGraph>> {
        self.graph_for(like.dims(), like.dtype())
    }

    /// The graph for inputs of this shape and dtype (captured on first use, then cached).
    pub fn graph_for(
        &self,
        shape: [usize; D],
        dtype: burn::tensor::DType,
    ) -> Result<Arc<CapturedGraph>> {
        let key = (shape.to_vec(), format!("{dtype:?}"));
        if let Some(g) = self
            .cache
            .lock()
            .map_err(|_| XaiError::Capture("capture cache poisoned".into()))?
            .get(&key)
        {
            return Ok(g.clone());
        }
        let example = Tensor::<D>::zeros(shape, (&Device::flex(), dtype));
        let g = Arc::new((self.capture)(example)?);
        self.cache
            .lock()
            .map_err(|_| XaiError::Capture("capture cache poisoned".into()))?
            .insert(key, g.clone());
        Ok(g)
    }

    /// The model as a [`BlackBox`](xai_core::agnostic::BlackBox) on flattened rows of
    /// `row_shape` (the input shape without the batch), for the perturbation methods and the
    /// metrics. Rows run on the host kernels over all cores when the plan covers the graph
    /// (compiled once for a batch of one), else on the captured graph on burn.
    pub fn black_box(
        &self,
        row_shape: &[usize],
        dtype: burn::tensor::DType,
    ) -> Result<ForwardModel<'_, D>> {
        let mut shape = [1usize; D];
        if row_shape.len() + 1 != D || row_shape.contains(&0) {
            return Err(XaiError::shape(
                "black-box row shape",
                format!("{} non-zero dimensions", D - 1),
                row_shape,
            ));
        }
        shape[1..].copy_from_slice(row_shape);
        Ok(ForwardModel {
            ex: self,
            shape,
            features: row_shape.iter().product(),
            dtype,
        })
    }

    /// The class explained for each row of `x`, checked against the model's outputs: explicit
    /// classes without running the model, predicted ones from one forward pass.
    pub fn classes(&self, x: &Tensor<D>, target: &Target) -> Result<Vec<usize>> {
        crate::gradient::validate_inputs(x)?;
        let n = x.dims()[0];
        let explicit = match target {
            Target::Classes(c) if c.len() == n => c.clone(),
            Target::Class(k) => vec![*k; n],
            _ => {
                return target.classes(&self.forward(x)?)?.ok_or_else(|| {
                    XaiError::Config("this method needs class targets, not a custom target".into())
                });
            }
        };
        self.check_classes(x, &explicit)?;
        Ok(explicit)
    }

    /// The output cotangent that selects each sample's target logit, and the classes.
    pub fn seed(&self, x: &Tensor<D>, target: &Target) -> Result<(DynTensor, Vec<usize>)> {
        let classes = self.classes(x, target)?;
        Ok((self.one_hot(x, &classes)?, classes))
    }
}

/// An [`Explainable`] seen through its outputs only (see [`Explainable::black_box`]).
pub struct ForwardModel<'a, const D: usize> {
    ex: &'a Explainable<D>,
    /// The input shape with a batch of one.
    shape: [usize; D],
    features: usize,
    dtype: burn::tensor::DType,
}

impl<const D: usize> xai_core::agnostic::BlackBox for ForwardModel<'_, D> {
    fn features(&self) -> usize {
        self.features
    }

    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        if rows.len() != n * self.features {
            return Err(XaiError::shape(
                "black-box rows",
                format!("{n} rows of {}", self.features),
                &[rows.len()],
            ));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        self.ex.forward_rows(rows, n, self.shape, self.dtype)
    }
}

/// Host values (one per element of `x`, row-major) as a tensor of `x`'s shape, device and dtype:
/// how every host-kernel result comes back.
pub(crate) fn shaped_like<const D: usize>(values: Vec<f32>, x: &Tensor<D>) -> Tensor<D> {
    Tensor::<D>::from_data(TensorData::new(values, x.dims()), (&x.device(), x.dtype()))
}

/// A reference (baseline) for `x`: same shape, finite. `what` names it in the error.
pub(crate) fn check_reference<const D: usize>(
    x: &Tensor<D>,
    reference: &Tensor<D>,
    what: &str,
) -> Result<()> {
    if x.dims() != reference.dims() {
        return Err(XaiError::shape(
            what,
            format!("{:?}", x.dims()),
            &reference.dims(),
        ));
    }
    crate::gradient::validate_inputs(reference)
}
