//! Attribution methods built on the engine, one per file.
//!
//! Every method works on an [`Explainable`]: a burn module plus its forward function, captured
//! once per input shape (inference mode: BatchNorm uses its running statistics, dropout is off)
//! and replayed on the chosen device. The model itself is never modified.

pub mod attacks;
pub mod attention_flow;
pub mod attention_rollout;
pub mod attnlrp;
pub mod counterfactual;
pub mod deeplift;
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
pub mod text;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use xai_core::{Result, Target, XaiError};

use crate::engine::host::{HostPlan, ReluRule, host_plan};
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

    /// The host-kernel plan for inputs of this shape and dtype, compiled on first use and
    /// cached with the graph; `None` when this device, precision or graph takes burn's path.
    pub fn host_plan_for(
        &self,
        shape: [usize; D],
        dtype: burn::tensor::DType,
    ) -> Result<Option<Arc<HostPlan>>> {
        self.host_plan_at(shape, dtype, None, ReluRule::Gradient)
    }

    /// [`host_plan_for`](Self::host_plan_for) starting after node `start_after` (see
    /// [`HostPlan::compile`]) with `rule` at every ReLU.
    pub fn host_plan_at(
        &self,
        shape: [usize; D],
        dtype: burn::tensor::DType,
        start_after: Option<usize>,
        rule: ReluRule,
    ) -> Result<Option<Arc<HostPlan>>> {
        let key = (shape.to_vec(), format!("{dtype:?}"), start_after, rule);
        let poisoned = || XaiError::Capture("host plan cache poisoned".into());
        if let Some(p) = self.plans.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(p.clone());
        }
        let g = self.graph_for(shape, dtype)?;
        let plan = host_plan(&g, start_after, &self.device, self.precision, dtype)
            .map(|p| Arc::new(p.with_relu_rule(rule)));
        self.plans
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, plan.clone());
        Ok(plan)
    }

    /// The model's outputs `[N, C]` (a replay of the captured graph).
    pub fn forward(&self, x: &Tensor<D>) -> Result<Tensor<2>> {
        if let Some(plan) = self.host_plan_for(x.dims(), x.dtype())? {
            let rows = xai_core::tensor_to_vec(x.clone())?;
            let out = plan.outputs(&rows)?;
            let n = x.dims()[0];
            let c = out.len() / n.max(1);
            return Ok(Tensor::<2>::from_data(
                TensorData::new(out, [n, c]),
                (&self.device, x.dtype()),
            ));
        }
        let g = self.graph(x)?;
        g.eval(
            &[DynTensor::from_tensor(x.clone())],
            &self.device,
            self.precision,
        )?
        .remove(0)
        .into_tensor::<2>()
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

    /// The class explained for each row of `x`: explicit classes as given, without running the
    /// model (every evaluator checks their range against the outputs), predicted ones from one
    /// forward pass.
    pub fn classes(&self, x: &Tensor<D>, target: &Target) -> Result<Vec<usize>> {
        crate::gradient::validate_inputs(x)?;
        let n = x.dims()[0];
        match target {
            Target::Classes(c) if c.len() == n => Ok(c.clone()),
            Target::Class(k) => Ok(vec![*k; n]),
            _ => Ok(self.seed(x, target)?.1),
        }
    }

    /// The output cotangent that selects each sample's target logit, and the classes.
    pub fn seed(&self, x: &Tensor<D>, target: &Target) -> Result<(DynTensor, Vec<usize>)> {
        crate::gradient::validate_inputs(x)?;
        let out = self.forward(x)?;
        let classes = target.classes(&out)?.ok_or_else(|| {
            XaiError::Config("this method needs class targets, not a custom target".into())
        })?;
        let [n, c] = out.dims();
        let mut v = vec![0.0f64; n * c];
        for (i, &k) in classes.iter().enumerate() {
            v[i * c + k] = 1.0;
        }
        let seed = Tensor::<2>::from_data(TensorData::new(v, [n, c]), (&self.device, out.dtype()));
        Ok((DynTensor::from_tensor(seed), classes))
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
        if let Some(plan) = self.ex.host_plan_for(self.shape, self.dtype)? {
            let x: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
            return Ok(plan.outputs(&x)?.into_iter().map(f64::from).collect());
        }
        let mut shape = self.shape;
        shape[0] = n;
        let x = Tensor::<D>::from_data(
            TensorData::new(rows.to_vec(), shape),
            (&self.ex.device, self.dtype),
        );
        // A graph without batch-pinned shapes replays on any batch: capture it once.
        let g = self.ex.graph_for(self.shape, self.dtype)?;
        let y = if g.is_batch_flexible() {
            g.eval(
                &[DynTensor::from_tensor(x)],
                &self.ex.device,
                self.ex.precision,
            )?
            .remove(0)
            .into_tensor::<2>()?
        } else {
            self.ex.forward(&x)?
        };
        xai_core::tensor_to_vec_f64(y)
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

/// `∂ f_{class_i}(x_i) / ∂x_i` for every row, through the captured graph (inference mode), in
/// one forward and one backward pass. The result lives on `x`'s device with `x`'s dtype.
pub fn input_gradients<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    classes: &[usize],
) -> Result<Tensor<D>> {
    crate::gradient::validate_inputs(x)?;
    let n = x.dims()[0];
    if classes.len() != n {
        return Err(XaiError::shape(
            "target classes",
            format!("{n} entries"),
            &[classes.len()],
        ));
    }
    let plan = ex.host_plan_for(x.dims(), x.dtype())?;
    let g = ex.graph(x)?;
    gradients_with(plan.as_deref(), &g, x, classes, &ex.device, ex.precision)
}

/// [`input_gradients`] through a given graph (e.g. a surrogate of the captured one), replayed
/// on `device` in `precision`; the result lives on `x`'s device with `x`'s dtype.
pub(crate) fn gradients_on<const D: usize>(
    g: &CapturedGraph,
    x: &Tensor<D>,
    classes: &[usize],
    device: &Device,
    precision: Precision,
) -> Result<Tensor<D>> {
    let plan = host_plan(g, None, device, precision, x.dtype());
    gradients_with(plan.as_ref(), g, x, classes, device, precision)
}

/// [`gradients_on`] with the host plan of `g` already at hand (`None`: burn's path).
fn gradients_with<const D: usize>(
    plan: Option<&HostPlan>,
    g: &CapturedGraph,
    x: &Tensor<D>,
    classes: &[usize],
    device: &Device,
    precision: Precision,
) -> Result<Tensor<D>> {
    if let Some(plan) = plan {
        let rows = xai_core::tensor_to_vec(x.clone())?;
        return Ok(shaped_like(plan.class_grads(&rows, classes)?, x));
    }
    let ad = device.clone().autodiff();
    let xa = x
        .clone()
        .to_device(&device.clone().inner())
        .autodiff()
        .require_grad();
    let out = g
        .eval(&[DynTensor::from_tensor(xa.clone())], &ad, precision)?
        .remove(0)
        .into_tensor::<2>()?;
    let s = Target::Classes(classes.to_vec()).select(out)?;
    let grads = s.sum().backward();
    let gx = xa
        .grad(&grads)
        .ok_or_else(|| XaiError::Numerical("the target does not depend on the input".into()))?;
    Ok(gx.to_device(&x.device()).cast(x.dtype()))
}
