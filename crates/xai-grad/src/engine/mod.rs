//! The engine: capture a model's forward once, then interpret the graph under transformations.
//!
//! * [`CapturedGraph::capture`] records the forward of an unmodified burn module on burn's capture
//!   device (burn IR plus the recorded weights), naming every node by module path and op.
//! * [`CapturedGraph::eval`] replays it on any device (flex, wgpu, cuda, their autodiff variants),
//!   in f32 or f64.
//! * Taps ([`CapturedGraph::eval_tapped`]) read any intermediate node and add a zero leaf there,
//!   so one backward pass gives the gradient at that node and at the input.
//! * [`CapturedGraph::jvp`] pushes tangents forward (one rule per op).
//! * [`CapturedGraph::hvp_params`] / [`CapturedGraph::hvp_input`] give exact Hessian-vector
//!   products by reverse-over-forward: the tangent of a forward-mode pass, computed on an autodiff
//!   device, is differentiated by burn's reverse mode. [`CapturedGraph::gnvp_params`] gives exact
//!   Gauss-Newton products `Jᵀ H_L J v`.
//! * [`CapturedGraph::fd_hvp_params`] is the central finite-difference cross-check.

mod canonize;
mod dyn_tensor;
mod graph;
pub mod host;
mod interp;
pub mod ops;
mod per_example;
pub mod rules;
pub use rules::{BackwardRule, Branch, NoRules, RuleSet, Unit, UnitCtx, UnitKind, UnitParam};

pub use dyn_tensor::DynTensor;
pub use graph::{CapturedGraph, Node, ParamInfo};
pub use per_example::{LayerKind, LinearIo};

use burn::backend::ops::FloatTensorOps;
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::{Device, FloatDType, Gradients, Tensor};

use interp::{Interp, ParamMode, RunSpec, T};
use xai_core::{Result, XaiError};

/// Precision of an interpreted run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// 32-bit floats (the default; what models are trained in).
    #[default]
    F32,
    /// 64-bit floats, for oracles and reference checks (flex supports it; wgpu usually does not).
    F64,
}

impl Precision {
    pub(crate) fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        }
    }
}

/// The result of a tapped evaluation.
pub struct Tapped {
    /// Graph outputs.
    pub outputs: Vec<DynTensor>,
    /// The value at each tapped node (in the order requested).
    pub values: Vec<DynTensor>,
    /// Zero leaves added at each tapped node: their gradient after a backward pass is the
    /// gradient with respect to that node's output.
    pub probes: Vec<DynTensor>,
}

/// Parameter gradients with the parameters they belong to.
pub struct ParamGrads {
    /// One gradient per parameter, in [`CapturedGraph::params`] order (burn layout).
    pub grads: Vec<DynTensor>,
}

fn d(t: &DynTensor) -> T {
    t.0.clone()
}

/// The tangent of each output, zeros where no tangent reached it.
fn output_tangents(outputs: &[T], tangents: &[Option<T>]) -> Vec<DynTensor> {
    outputs
        .iter()
        .zip(tangents)
        .map(|(y, t)| {
            DynTensor(
                t.clone().unwrap_or_else(|| {
                    Dispatch::float_zeros(y.shape(), &y.device(), y.dtype().into())
                }),
            )
        })
        .collect()
}

fn to_device(t: &DynTensor, device: &Device) -> T {
    t.on_device(device).0
}

impl CapturedGraph {
    /// Run the graph under `spec` and return its outputs.
    fn outputs_of(
        &self,
        inputs: &[DynTensor],
        spec: &RunSpec<'_>,
        device: &Device,
        precision: Precision,
    ) -> Result<Vec<DynTensor>> {
        let out = self
            .interp(device, precision)
            .run(&self.place_inputs(inputs, device), spec)?;
        Ok(out.outputs.into_iter().map(DynTensor).collect())
    }

    /// A forward-mode run on the autodiff twin of `device` with the parameters as leaves (at
    /// `params`, or as recorded) carrying tangent `v`: the base of every Hessian- and
    /// Gauss-Newton-vector product.
    fn tangent_run(
        &self,
        inputs: &[DynTensor],
        params: Option<&[DynTensor]>,
        v: &[DynTensor],
        device: &Device,
        precision: Precision,
    ) -> Result<interp::RunOut> {
        self.check_param_list(v, "direction")?;
        let ad = device.clone().autodiff();
        let pv = self.param_overrides(params, &ad)?;
        let vt: Vec<T> = v.iter().map(|t| to_device(t, &ad)).collect();
        let spec = RunSpec {
            params: ParamMode::Leaves,
            param_values: pv.as_deref(),
            param_tangents: Some(&vt),
            ..Default::default()
        };
        let out = self
            .interp(&ad, precision)
            .run(&self.place_inputs(inputs, &ad), &spec)?;
        Ok(out)
    }

    fn interp(&self, device: &Device, p: Precision) -> Interp<'_> {
        Interp::new(self, device, p.dtype())
    }

    fn place_inputs(&self, inputs: &[DynTensor], device: &Device) -> Vec<T> {
        inputs
            .iter()
            .zip(&self.inputs)
            .map(|(x, ir)| {
                if ir.dtype.is_float() {
                    to_device(x, device)
                } else {
                    // Int/bool inputs keep their kind; moving them is the caller's job.
                    d(x)
                }
            })
            .collect()
    }

    /// Replay the graph on `device` and return its outputs.
    pub fn eval(
        &self,
        inputs: &[DynTensor],
        device: &Device,
        precision: Precision,
    ) -> Result<Vec<DynTensor>> {
        self.outputs_of(inputs, &RunSpec::default(), device, precision)
    }

    /// Replay with the graph's parameters replaced by `params` (same order and shapes as
    /// [`CapturedGraph::params`]); the model itself is never modified.
    pub fn eval_with_params(
        &self,
        inputs: &[DynTensor],
        params: &[DynTensor],
        device: &Device,
        precision: Precision,
    ) -> Result<Vec<DynTensor>> {
        self.check_param_list(params, "parameter values")?;
        let pv: Vec<T> = params.iter().map(|p| to_device(p, device)).collect();
        let spec = RunSpec {
            param_values: Some(&pv),
            ..Default::default()
        };
        self.outputs_of(inputs, &spec, device, precision)
    }

    /// Replay from node `start` of [`affine_prefix`](Self::affine_prefix) on: the prefix is not
    /// run and `value` (on `device`, any batch size the graph accepts) is taken as its output.
    /// `inputs` only give the batch shape (their values are not read).
    pub fn eval_from(
        &self,
        inputs: &[DynTensor],
        prefix: &[usize],
        value: &DynTensor,
        device: &Device,
        precision: Precision,
    ) -> Result<Vec<DynTensor>> {
        let start = *prefix
            .last()
            .ok_or_else(|| XaiError::Config("an empty prefix to start after".into()))?;
        let spec = RunSpec {
            skip: prefix,
            inject: Some((start, value.0.clone())),
            ..Default::default()
        };
        self.outputs_of(inputs, &spec, device, precision)
    }

    /// Replay with taps at `nodes` (names or indices): returns the values there and zero probe
    /// leaves whose gradients are the gradients at those nodes. Use an autodiff `device`.
    pub fn eval_tapped(
        &self,
        inputs: &[DynTensor],
        nodes: &[&str],
        device: &Device,
        precision: Precision,
    ) -> Result<Tapped> {
        self.eval_tapped_with(inputs, nodes, None, device, precision)
    }

    /// [`eval_tapped`](Self::eval_tapped) with the value at each tapped node shifted by
    /// `offsets[k]` (same shape as the node's value): downstream nodes see `v + offset`, the
    /// recorded value is `v + offset`, and the probe's gradient is still the gradient at the
    /// node. Layer integrated gradients moves a layer's activation along a path this way.
    pub fn eval_tapped_with(
        &self,
        inputs: &[DynTensor],
        nodes: &[&str],
        offsets: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
    ) -> Result<Tapped> {
        let idx = nodes
            .iter()
            .map(|n| self.node_index(n))
            .collect::<Result<Vec<_>>>()?;
        let mut sorted = idx.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(XaiError::Config(format!(
                "a node is tapped twice: {nodes:?}"
            )));
        }
        let sorted_offsets: Option<Vec<_>> = match offsets {
            Some(o) if o.len() != idx.len() => {
                return Err(XaiError::Config(format!(
                    "{} offsets for {} tapped nodes",
                    o.len(),
                    idx.len()
                )));
            }
            Some(o) => Some(
                sorted
                    .iter()
                    .map(|s| {
                        o[idx.iter().position(|i| i == s).unwrap_or(0)]
                            .on_device(device)
                            .0
                    })
                    .collect(),
            ),
            None => None,
        };
        if sorted_offsets.is_some() && !device.is_autodiff() {
            return Err(XaiError::Config(
                "probe offsets need an autodiff device".into(),
            ));
        }
        let spec = RunSpec {
            probes: if device.is_autodiff() { &sorted } else { &[] },
            probe_offsets: sorted_offsets.as_deref(),
            record: &sorted,
            ..Default::default()
        };
        let out = self
            .interp(device, precision)
            .run(&self.place_inputs(inputs, device), &spec)?;
        // Back to the caller's order.
        let pos = |i: &usize| sorted.iter().position(|s| s == i).unwrap_or(0);
        Ok(Tapped {
            outputs: out.outputs.into_iter().map(DynTensor).collect(),
            values: idx
                .iter()
                .map(|i| DynTensor(out.recorded[pos(i)].clone()))
                .collect(),
            probes: if out.probes.is_empty() {
                vec![]
            } else {
                idx.iter()
                    .map(|i| DynTensor(out.probes[pos(i)].clone()))
                    .collect()
            },
        })
    }

    /// Gradient of `objective(outputs)` (a scalar) with respect to every parameter.
    pub fn param_grads(
        &self,
        inputs: &[DynTensor],
        device: &Device,
        precision: Precision,
        objective: impl FnOnce(&[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<ParamGrads> {
        self.param_grads_at(inputs, None, device, precision, objective)
    }

    /// [`param_grads`](Self::param_grads) at parameter values `params` (same order and shapes
    /// as [`CapturedGraph::params`]; `None` = the recorded ones). Training loops and influence
    /// solvers move the parameters this way without touching the model.
    pub fn param_grads_at(
        &self,
        inputs: &[DynTensor],
        params: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
        objective: impl FnOnce(&[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<ParamGrads> {
        let ad = device.clone().autodiff();
        let pv = self.param_overrides(params, &ad)?;
        let spec = RunSpec {
            params: ParamMode::Leaves,
            param_values: pv.as_deref(),
            ..Default::default()
        };
        let out = self
            .interp(&ad, precision)
            .run(&self.place_inputs(inputs, &ad), &spec)?;
        let outputs: Vec<DynTensor> = out.outputs.into_iter().map(DynTensor).collect();
        let grads = objective(&outputs)?.sum().backward();
        self.collect_param_grads(&out.params, &grads)
    }

    fn param_overrides(
        &self,
        params: Option<&[DynTensor]>,
        device: &Device,
    ) -> Result<Option<Vec<T>>> {
        params
            .map(|p| {
                self.check_param_list(p, "parameter values")?;
                Ok(p.iter().map(|t| to_device(t, device)).collect())
            })
            .transpose()
    }

    fn collect_param_grads(&self, params: &[T], grads: &Gradients) -> Result<ParamGrads> {
        let grads = params
            .iter()
            .zip(&self.params)
            .map(|(p, info)| {
                let leaf = DynTensor(p.clone());
                Ok(match leaf.grad(grads) {
                    Some(g) => g,
                    // A parameter the objective does not depend on has a zero gradient.
                    None => DynTensor(Dispatch::float_zeros(
                        p.shape(),
                        &p.device(),
                        p.dtype().into(),
                    ))
                    .with_shape_check(&info.shape)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ParamGrads { grads })
    }

    fn check_param_list(&self, v: &[DynTensor], what: &str) -> Result<()> {
        if v.len() != self.params.len() {
            return Err(XaiError::Config(format!(
                "{what}: expected {} tensors, got {}",
                self.params.len(),
                v.len()
            )));
        }
        for (t, p) in v.iter().zip(&self.params) {
            if t.shape() != p.shape {
                return Err(XaiError::shape(
                    format!("{what} for `{}`", p.path),
                    format!("{:?}", p.shape),
                    &t.shape(),
                ));
            }
        }
        Ok(())
    }

    /// Forward-mode JVP: outputs and their tangents, for tangents of the inputs (None = zero) and
    /// optionally of the parameters.
    pub fn jvp(
        &self,
        inputs: &[DynTensor],
        input_tangents: &[Option<DynTensor>],
        param_tangents: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
    ) -> Result<(Vec<DynTensor>, Vec<DynTensor>)> {
        if let Some(pt) = param_tangents {
            self.check_param_list(pt, "parameter tangents")?;
        }
        for (k, (t, x)) in input_tangents.iter().zip(inputs).enumerate() {
            if let Some(t) = t
                && t.shape() != x.shape()
            {
                return Err(XaiError::shape(
                    format!("tangent of input {k}"),
                    format!("{:?}", x.shape()),
                    &t.shape(),
                ));
            }
        }
        let pt: Option<Vec<T>> =
            param_tangents.map(|v| v.iter().map(|t| to_device(t, device)).collect());
        let spec = RunSpec {
            input_tangents: input_tangents
                .iter()
                .map(|t| t.as_ref().map(|t| to_device(t, device)))
                .collect(),
            param_tangents: pt.as_deref(),
            ..Default::default()
        };
        let out = self
            .interp(device, precision)
            .run(&self.place_inputs(inputs, device), &spec)?;
        let tangents = output_tangents(&out.outputs, &out.output_tangents);
        Ok((out.outputs.into_iter().map(DynTensor).collect(), tangents))
    }

    /// Exact Hessian-vector product `H v` of the scalar `objective(outputs)` with respect to the
    /// parameters (reverse-over-forward). `v` has one tensor per parameter.
    pub fn hvp_params(
        &self,
        inputs: &[DynTensor],
        v: &[DynTensor],
        device: &Device,
        precision: Precision,
        objective: impl Fn(&[DynTensor], &[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<Vec<DynTensor>> {
        self.hvp_params_at(inputs, None, v, device, precision, objective)
    }

    /// [`hvp_params`](Self::hvp_params) at parameter values `params` (`None` = recorded).
    pub fn hvp_params_at(
        &self,
        inputs: &[DynTensor],
        params: Option<&[DynTensor]>,
        v: &[DynTensor],
        device: &Device,
        precision: Precision,
        objective: impl Fn(&[DynTensor], &[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<Vec<DynTensor>> {
        let out = self.tangent_run(inputs, params, v, device, precision)?;
        let outputs: Vec<DynTensor> = out.outputs.iter().cloned().map(DynTensor).collect();
        let tangents = output_tangents(&out.outputs, &out.output_tangents);
        // objective_tangent(outputs, tangents) = ⟨∇objective, v⟩; its gradient is H v.
        let dir = objective(&outputs, &tangents)?.sum();
        let grads = dir.backward();
        Ok(self.collect_param_grads(&out.params, &grads)?.grads)
    }

    /// The mixed second derivative `∇_x ⟨∇_θ objective, v⟩` (one tensor shaped like the first
    /// input): how the directional derivative of the objective along parameter direction `v`
    /// changes with the input. Influence functions use it for `I_pert,loss`.
    pub fn param_direction_input_grad(
        &self,
        input: &DynTensor,
        params: Option<&[DynTensor]>,
        v: &[DynTensor],
        device: &Device,
        precision: Precision,
        objective: impl Fn(&[DynTensor], &[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<DynTensor> {
        self.check_param_list(v, "direction")?;
        let ad = device.clone().autodiff();
        let pv = self.param_overrides(params, &ad)?;
        let vt: Vec<T> = v.iter().map(|t| to_device(t, &ad)).collect();
        let x = DynTensor(Dispatch::float_set_require_grad(
            to_device(input, &ad),
            true,
        ));
        let spec = RunSpec {
            param_values: pv.as_deref(),
            param_tangents: Some(&vt),
            ..Default::default()
        };
        let out = self
            .interp(&ad, precision)
            .run(std::slice::from_ref(&x.0), &spec)?;
        let outputs: Vec<DynTensor> = out.outputs.iter().cloned().map(DynTensor).collect();
        let tangents = output_tangents(&out.outputs, &out.output_tangents);
        let grads = objective(&outputs, &tangents)?.sum().backward();
        Ok(x.grad(&grads).unwrap_or_else(|| x.zeros_like()))
    }

    /// Exact input Hessian-vector products: for each sample, `∇²_x s(x) v` where `s` is the scalar
    /// per sample chosen by `select` from the first output. Samples are independent, so one pass
    /// serves the whole batch (and a batch of basis directions gives a full Hessian). On a
    /// piecewise-linear (ReLU) network the result is exactly zero between kinks.
    pub fn hvp_input(
        &self,
        input: &DynTensor,
        v: &DynTensor,
        device: &Device,
        precision: Precision,
        select: impl Fn(DynTensor, DynTensor) -> Result<Tensor<1>>,
    ) -> Result<DynTensor> {
        if v.shape() != input.shape() {
            return Err(XaiError::shape(
                "direction",
                format!("{:?}", input.shape()),
                &v.shape(),
            ));
        }
        let ad = device.clone().autodiff();
        let x = DynTensor(Dispatch::float_set_require_grad(
            to_device(input, &ad),
            true,
        ));
        let spec = RunSpec {
            input_tangents: vec![Some(to_device(v, &ad))],
            ..Default::default()
        };
        let out = self
            .interp(&ad, precision)
            .run(std::slice::from_ref(&x.0), &spec)?;
        let y = DynTensor(out.outputs[0].clone());
        let t = DynTensor(
            out.output_tangents[0]
                .clone()
                .ok_or_else(|| XaiError::Numerical("no tangent reached the output".into()))?,
        );
        let s = select(y, t)?.sum();
        if !s.is_tracked() {
            // Nothing differentiable links the selected tangent to the input: on a piecewise-linear
            // (ReLU) network the tangent J(x)·v is constant between kinks, so the input Hessian
            // is exactly zero there. (burn would panic on `backward` of an untracked tensor.)
            return Ok(DynTensor(to_device(&input.zeros_like(), device)));
        }
        let grads = s.backward();
        x.grad(&grads)
            .ok_or_else(|| XaiError::Numerical("the output does not depend on the input".into()))
    }

    /// Exact Gauss-Newton product `Jᵀ H_L J v` with respect to the parameters, where `J` is the
    /// Jacobian of the first output (the logits) and `loss_hvp(logits, u)` returns `H_L u` for the
    /// loss's Hessian with respect to the logits (see [`cross_entropy_logit_hvp`]).
    pub fn gnvp_params(
        &self,
        inputs: &[DynTensor],
        v: &[DynTensor],
        device: &Device,
        precision: Precision,
        loss_hvp: impl Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
    ) -> Result<Vec<DynTensor>> {
        self.gnvp_params_at(inputs, None, v, device, precision, loss_hvp)
    }

    /// [`gnvp_params`](Self::gnvp_params) at parameter values `params` (`None` = recorded).
    pub fn gnvp_params_at(
        &self,
        inputs: &[DynTensor],
        params: Option<&[DynTensor]>,
        v: &[DynTensor],
        device: &Device,
        precision: Precision,
        loss_hvp: impl Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
    ) -> Result<Vec<DynTensor>> {
        let out = self.tangent_run(inputs, params, v, device, precision)?;
        let z = DynTensor(out.outputs[0].clone()).into_rows()?;
        let u = DynTensor(
            out.output_tangents[0]
                .clone()
                .ok_or_else(|| XaiError::Numerical("no tangent reached the output".into()))?,
        )
        .into_rows()?;
        let w = loss_hvp(z.clone().detach(), u.detach()).detach();
        let grads = (z * w).sum().backward();
        Ok(self.collect_param_grads(&out.params, &grads)?.grads)
    }

    /// Central finite-difference HVP `(∇(θ+εv) − ∇(θ−εv)) / 2ε`: a cross-check, not the default.
    pub fn fd_hvp_params(
        &self,
        inputs: &[DynTensor],
        v: &[DynTensor],
        eps: f64,
        device: &Device,
        precision: Precision,
        objective: impl Fn(&[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<Vec<DynTensor>> {
        self.check_param_list(v, "direction")?;
        let base = self.param_values(device, precision);
        let shifted = |sign: f64| -> Result<Vec<DynTensor>> {
            let ad = device.clone().autodiff();
            let pv: Vec<T> = base
                .iter()
                .zip(v)
                .map(|(p, d)| {
                    Dispatch::float_add(
                        to_device(p, &ad),
                        Dispatch::float_mul_scalar(
                            Dispatch::float_cast(to_device(d, &ad), precision.dtype()),
                            burn::backend::Scalar::Float(sign * eps),
                        ),
                    )
                })
                .map(|t| Dispatch::float_cast(t, precision.dtype()))
                .collect();
            let spec = RunSpec {
                params: ParamMode::Leaves,
                param_values: Some(&pv),
                ..Default::default()
            };
            let out = self
                .interp(&ad, precision)
                .run(&self.place_inputs(inputs, &ad), &spec)?;
            let outputs: Vec<DynTensor> = out.outputs.into_iter().map(DynTensor).collect();
            let grads = objective(&outputs)?.sum().backward();
            Ok(self.collect_param_grads(&out.params, &grads)?.grads)
        };
        let (gp, gm) = (shifted(1.0)?, shifted(-1.0)?);
        Ok(gp
            .into_iter()
            .zip(gm)
            .map(|(a, b)| {
                DynTensor(Dispatch::float_div_scalar(
                    Dispatch::float_sub(a.0, b.0),
                    burn::backend::Scalar::Float(2.0 * eps),
                ))
            })
            .collect())
    }

    /// The recorded parameter values, in [`CapturedGraph::params`] order, on `device`.
    pub fn param_values(&self, device: &Device, precision: Precision) -> Vec<DynTensor> {
        self.params
            .iter()
            .filter_map(|p| self.constants.get(&p.id))
            .map(
                |data| match interp::upload(data, device.as_dispatch(), precision.dtype()) {
                    interp::Val::F(t) | interp::Val::I(t) | interp::Val::Bo(t) => DynTensor(t),
                },
            )
            .collect()
    }
}

impl DynTensor {
    fn with_shape_check(self, expected: &[usize]) -> Result<Self> {
        if self.shape() == expected {
            Ok(self)
        } else {
            Err(XaiError::shape(
                "parameter gradient",
                format!("{expected:?}"),
                &self.shape(),
            ))
        }
    }
}

/// `H_L u` for the mean softmax cross-entropy over a batch of `N` logit rows:
/// `(diag(p) − p pᵀ) u / N` per row. Labels do not enter the Hessian.
pub fn cross_entropy_logit_hvp(logits: Tensor<2>, u: Tensor<2>) -> Tensor<2> {
    let n = logits.dims()[0] as f64;
    let p = burn::tensor::activation::softmax(logits, 1);
    let pu = (p.clone() * u.clone()).sum_dim(1);
    (p.clone() * u - p * pu) / n
}
