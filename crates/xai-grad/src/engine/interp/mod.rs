//! The interpreter: replays captured IR on any device, optionally carrying forward-mode tangents.
//!
//! Values are rank-free burn primitives (`DispatchTensor`) so one match over the IR serves every
//! shape. The rules themselves — each op's evaluation and tangent (JVP) rule — are entries of the
//! op table (`engine/ops/`); this module holds the run loop and the kit the rules are written
//! with (`unary`, `binary`, `linear_map`, `affine`, …). Tangent rules are built from ordinary
//! differentiable burn ops on the primal values, so running the interpreter on an autodiff
//! device and calling `backward` on a tangent gives exact second derivatives
//! (reverse-over-forward). A graph with an op without a rule is an [`XaiError::UnsupportedOp`]
//! naming the op and its node, before anything runs.

use std::collections::HashMap;

use burn::backend::ops::{BoolTensorOps, FloatTensorOps, IntTensorOps};
use burn::backend::{Dispatch, DispatchDevice, DispatchTensor, Scalar, TensorMetadata};
use burn::tensor::{DType, Device, FloatDType, Shape};
use burn_capture::TensorId;
use burn_ir::{ScalarIr, TensorIr};

use xai_core::{Result, XaiError};

use super::graph::CapturedGraph;

mod base;
mod float;
mod module;
mod numeric;

pub(crate) use module::max_pool2d;

pub(crate) type B = Dispatch;
pub(crate) type T = DispatchTensor;

/// A value of any kind held by the interpreter.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    F(T),
    I(T),
    Bo(T),
}

/// What to do with the parameters (recorded constants owned by modules) during a run.
#[derive(Clone, Debug, Default)]
pub(crate) enum ParamMode {
    /// Plain constants on the run device.
    #[default]
    Constant,
    /// Leaves that require a gradient (the run device must be an autodiff device).
    Leaves,
}

/// Options of one interpreted run.
#[derive(Default)]
pub(crate) struct RunSpec<'a> {
    pub params: ParamMode,
    /// Replacement values for parameters, by parameter index (for perturbations and overrides).
    pub param_values: Option<&'a [T]>,
    /// Tangents of the graph inputs (forward mode), by input index.
    pub input_tangents: Vec<Option<T>>,
    /// Tangents of the parameters, by parameter index.
    pub param_tangents: Option<&'a [T]>,
    /// Nodes whose output gets a zero probe leaf added (taps).
    pub probes: &'a [usize],
    /// Start values of the probe leaves, in the order of `probes` (default zeros): the node's
    /// value becomes `v + offset`, which is how layer methods move a layer along a path.
    pub probe_offsets: Option<&'a [T]>,
    /// Nodes whose output value is recorded (read taps).
    pub record: &'a [usize],
    /// Keep every value of the run (for the rule-driven reverse pass).
    pub keep_values: bool,
    /// Nodes not to run (the affine input prefix when the run starts at a later node).
    pub skip: &'a [usize],
    /// The output value of one skipped node, given instead of computed.
    pub inject: Option<(usize, T)>,
}

/// The result of one run.
pub(crate) struct RunOut {
    pub outputs: Vec<T>,
    pub output_tangents: Vec<Option<T>>,
    pub params: Vec<T>,
    pub probes: Vec<T>,
    pub recorded: Vec<T>,
    /// Every value of the run, when [`RunSpec::keep_values`] asked for them.
    pub values: HashMap<TensorId, Val>,
}

pub(crate) fn sc(v: f64) -> Scalar {
    Scalar::Float(v)
}

pub(crate) fn scalar_f64(s: &ScalarIr) -> f64 {
    match *s {
        ScalarIr::Float(x) => x,
        ScalarIr::Int(x) => x as f64,
        ScalarIr::UInt(x) => x as f64,
        ScalarIr::Bool(x) => f64::from(u8::from(x)),
    }
}

pub(crate) fn to_scalar(s: &ScalarIr) -> Scalar {
    match *s {
        ScalarIr::Float(x) => Scalar::Float(x),
        ScalarIr::Int(x) => Scalar::Int(x),
        ScalarIr::UInt(x) => Scalar::UInt(x),
        ScalarIr::Bool(x) => Scalar::Bool(x),
    }
}

pub(crate) fn shape_of(t: &TensorIr) -> Shape {
    t.shape.clone()
}

/// The shape a recorded reshape takes on a replay with another batch size: when the reshape kept
/// the leading (batch) dimension (`flatten(1, …)`, `[N, C, H, W] → [N, C·H·W]`), the new batch
/// size replaces it; otherwise the recorded shape, which must then fit exactly.
pub(crate) fn batch_reshape(actual: &Shape, input: &TensorIr, out: &TensorIr) -> Result<Shape> {
    let (rec_in, rec_out) = (input.shape.to_vec(), out.shape.to_vec());
    let got = actual.to_vec();
    if got == rec_in {
        return Ok(out.shape.clone());
    }
    let keeps_batch = !rec_in.is_empty()
        && !rec_out.is_empty()
        && rec_in[0] == rec_out[0]
        && got.len() == rec_in.len()
        && got[1..] == rec_in[1..];
    if keeps_batch {
        let mut s = rec_out;
        s[0] = got[0];
        return Ok(Shape::from(s));
    }
    Err(XaiError::shape(
        "reshape on replay (only reshapes that keep the batch dimension follow a new batch size)",
        format!("{rec_in:?}"),
        &got,
    ))
}

/// The interpreter's state during a run; the op table's rules (`engine/ops/`) read and write it
/// through the kit of helpers in this module.
pub(crate) struct Interp<'g> {
    pub(crate) g: &'g CapturedGraph,
    pub(crate) dev: DispatchDevice,
    pub(crate) dtype: FloatDType,
    pub(crate) vals: HashMap<TensorId, Val>,
    pub(crate) tans: HashMap<TensorId, T>,
    pub(crate) jvp: bool,
    pub(crate) bool_dtype: burn::tensor::BoolDType,
    pub(crate) int_dtype: burn::tensor::IntDType,
}

/// Convert recorded data to a primitive on `dev`: floats in the run's float dtype, ints and
/// bools in the device's own storage types (wgpu has neither `i64` nor `u8` bools).
pub(crate) fn upload(
    data: &burn::tensor::TensorData,
    dev: &DispatchDevice,
    dtype: FloatDType,
) -> Val {
    let dt = data.dtype();
    let settings = Device::from(dev.clone()).settings();
    if dt.is_float() {
        let d = data.clone().convert_dtype(DType::from(dtype));
        Val::F(B::float_from_data(d, dev))
    } else if dt.is_int() || dt.is_uint() {
        let d = data.clone().convert_dtype(DType::from(settings.int_dtype));
        Val::I(B::int_from_data(d, dev))
    } else {
        let d = data.clone().convert_dtype(DType::from(settings.bool_dtype));
        Val::Bo(B::bool_from_data(d, dev))
    }
}

impl<'g> Interp<'g> {
    pub(crate) fn new(g: &'g CapturedGraph, device: &Device, dtype: FloatDType) -> Self {
        Interp {
            g,
            dev: device.as_dispatch().clone(),
            dtype,
            vals: HashMap::new(),
            tans: HashMap::new(),
            jvp: false,
            bool_dtype: device.settings().bool_dtype,
            int_dtype: device.settings().int_dtype,
        }
    }

    fn node_name(&self, i: usize) -> String {
        self.g
            .nodes
            .get(i)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| format!("#{i}"))
    }

    pub(crate) fn f(&self, t: &TensorIr) -> Result<T> {
        self.typed(t, "float", |v| matches!(v, Val::F(_)))
    }
    pub(crate) fn i(&self, t: &TensorIr) -> Result<T> {
        self.typed(t, "int", |v| matches!(v, Val::I(_)))
    }
    pub(crate) fn b(&self, t: &TensorIr) -> Result<T> {
        self.typed(t, "bool", |v| matches!(v, Val::Bo(_)))
    }
    /// The value of `t`, which must be of the kind `is_kind` accepts.
    fn typed(&self, t: &TensorIr, kind: &str, is_kind: fn(&Val) -> bool) -> Result<T> {
        match self.vals.get(&t.id) {
            Some(v @ (Val::F(x) | Val::I(x) | Val::Bo(x))) if is_kind(v) => Ok(x.clone()),
            Some(_) => Err(XaiError::Capture(format!(
                "tensor {:?} is not a {kind} tensor",
                t.id
            ))),
            None => Err(XaiError::Capture(format!(
                "tensor {:?} used before it was computed",
                t.id
            ))),
        }
    }
    pub(crate) fn tan(&self, t: &TensorIr) -> Option<T> {
        self.tans.get(&t.id).cloned()
    }
    pub(crate) fn zeros_like(&self, t: &T) -> T {
        B::float_zeros(t.shape(), &self.dev, t.dtype().into())
    }
    /// The tangent of `t` when the run carries tangents.
    pub(crate) fn tangent(&self, t: &TensorIr) -> Option<T> {
        if self.jvp { self.tan(t) } else { None }
    }
    pub(crate) fn tan_or_zero(&self, t: &TensorIr) -> Result<T> {
        match self.tan(t) {
            Some(x) => Ok(x),
            None => Ok(B::float_zeros(shape_of(t), &self.dev, self.dtype)),
        }
    }
    pub(crate) fn put(&mut self, t: &TensorIr, v: T) {
        self.vals.insert(t.id, Val::F(v));
    }
    fn put_tan(&mut self, t: &TensorIr, v: Option<T>) {
        if let Some(v) = v {
            self.tans.insert(t.id, v);
        }
    }

    /// Store an op's output value and its tangent (if any).
    pub(crate) fn emit(&mut self, out: &TensorIr, y: T, t: Option<T>) -> Result<()> {
        self.put(out, y);
        self.put_tan(out, t);
        Ok(())
    }

    /// Set a value before running single nodes with [`Interp::exec`].
    pub(crate) fn seed(&mut self, id: TensorId, v: Val) {
        self.vals.insert(id, v);
    }

    /// A value computed (or seeded) so far.
    pub(crate) fn value(&self, id: &TensorId) -> Option<&Val> {
        self.vals.get(id)
    }

    /// Run node `i` of the graph on the values seeded or computed so far.
    pub(crate) fn exec(&mut self, i: usize) -> Result<()> {
        let g = self.g;
        // An unsupported op is reported with the node it sits at in the model.
        crate::engine::ops::eval(self, &g.nodes[i].op).map_err(|e| match e {
            XaiError::UnsupportedOp { op, transform, .. } => XaiError::UnsupportedOp {
                op,
                transform,
                node: self.node_name(i),
            },
            other => other,
        })
    }

    /// Run the whole graph.
    pub(crate) fn run(mut self, inputs: &[T], spec: &RunSpec<'_>) -> Result<RunOut> {
        let g = self.g;
        if inputs.len() != g.inputs.len() {
            return Err(XaiError::Config(format!(
                "graph takes {} inputs, got {}",
                g.inputs.len(),
                inputs.len()
            )));
        }
        // Every op the run will evaluate has a rule, or nothing is computed.
        for (i, node) in g.nodes.iter().enumerate() {
            if !spec.skip.contains(&i) && !crate::engine::ops::evaluates(&node.op) {
                return Err(XaiError::UnsupportedOp {
                    op: node.kind.to_string(),
                    transform: "eval".into(),
                    node: self.node_name(i),
                });
            }
        }
        self.jvp = spec.input_tangents.iter().any(Option::is_some) || spec.param_tangents.is_some();
        for (k, (ir, x)) in g.inputs.iter().zip(inputs).enumerate() {
            let got = x.shape().to_vec();
            let rec = ir.shape.to_vec();
            let batch_only = got.len() == rec.len()
                && got.len() >= 2
                && got[1..] == rec[1..]
                && g.is_batch_flexible();
            if got != rec && !batch_only {
                return Err(XaiError::shape(
                    format!("graph input {k}"),
                    format!("{:?}", ir.shape.to_vec()),
                    &got,
                ));
            }
            let v = if ir.dtype.is_float() {
                Val::F(B::float_cast(x.clone(), self.dtype))
            } else if ir.dtype.is_bool() {
                Val::Bo(x.clone())
            } else {
                Val::I(x.clone())
            };
            self.vals.insert(ir.id, v);
            if let Some(Some(t)) = spec.input_tangents.get(k) {
                self.tans
                    .insert(ir.id, B::float_cast(t.clone(), self.dtype));
            }
        }
        let input_ids: std::collections::HashSet<TensorId> =
            g.inputs.iter().map(|t| t.id).collect();
        let param_index: HashMap<TensorId, usize> = g
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        let mut params = vec![None; g.params.len()];
        for (id, data) in &g.constants {
            if input_ids.contains(id) {
                continue;
            }
            let mut v = upload(data, &self.dev, self.dtype);
            if let Some(&pi) = param_index.get(id) {
                if let (Some(over), Val::F(_)) = (spec.param_values, &v) {
                    let o = over
                        .get(pi)
                        .ok_or_else(|| XaiError::Config("too few parameter values".into()))?;
                    v = Val::F(B::float_cast(
                        B::float_to_device(o.clone(), &self.dev),
                        self.dtype,
                    ));
                }
                if let Val::F(t) = &v {
                    let t = match spec.params {
                        ParamMode::Leaves => B::float_set_require_grad(t.clone(), true),
                        ParamMode::Constant => t.clone(),
                    };
                    params[pi] = Some(t.clone());
                    v = Val::F(t);
                }
                if let Some(tans) = spec.param_tangents
                    && let Some(tg) = tans.get(pi)
                {
                    self.tans.insert(
                        *id,
                        B::float_cast(B::float_to_device(tg.clone(), &self.dev), self.dtype),
                    );
                }
            }
            self.vals.insert(*id, v);
        }
        let mut probes = Vec::new();
        let mut recorded = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            if spec.skip.contains(&i) {
                if let Some((at, v)) = &spec.inject
                    && *at == i
                {
                    self.put(&node.output()?, B::float_cast(v.clone(), self.dtype));
                }
                continue;
            }
            self.exec(i)?;
            let tapped = spec.probes.contains(&i);
            let rec = spec.record.contains(&i);
            if tapped || rec {
                let out = node.output()?;
                let v = self.f(&out)?;
                if tapped {
                    let start = match spec.probe_offsets {
                        Some(off) => {
                            let k = probes.len();
                            let o = off.get(k).ok_or_else(|| {
                                XaiError::Config(format!("no probe offset for tap {k}"))
                            })?;
                            B::float_cast(B::float_to_device(o.clone(), &self.dev), self.dtype)
                        }
                        None => self.zeros_like(&v),
                    };
                    let probe = B::float_set_require_grad(start, true);
                    probes.push(probe.clone());
                    self.put(&out, B::float_add(v.clone(), probe));
                }
                if rec {
                    recorded.push(self.f(&out)?);
                }
            }
        }
        let outputs = g
            .outputs
            .iter()
            .map(|t| self.f(t))
            .collect::<Result<Vec<_>>>()?;
        let output_tangents = g
            .outputs
            .iter()
            .map(|t| {
                if self.jvp {
                    Some(self.tan_or_zero(t))
                } else {
                    None
                }
                .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RunOut {
            outputs,
            output_tangents,
            params: params.into_iter().flatten().collect(),
            probes,
            recorded,
            values: if spec.keep_values {
                std::mem::take(&mut self.vals)
            } else {
                HashMap::new()
            },
        })
    }
}
