//! The interpreter: replays captured IR on any device, optionally carrying forward-mode tangents.
//!
//! Values are rank-free burn primitives (`DispatchTensor`) so one match over the IR serves every
//! shape. Every float op has an evaluation rule and a tangent (JVP) rule. Tangent rules are built
//! from ordinary differentiable burn ops on the primal values, so running the interpreter on an
//! autodiff device and calling `backward` on a tangent gives exact second derivatives
//! (reverse-over-forward). An op without a rule is an [`XaiError::UnsupportedOp`].

use std::collections::HashMap;

use burn::backend::ops::{
    ActivationOps, BoolTensorOps, ConvOptions, FloatTensorOps, IntTensorOps, ModuleOps,
};
use burn::backend::{Dispatch, DispatchDevice, DispatchTensor, Scalar, TensorMetadata};
use burn::tensor::{DType, Device, FloatDType, Shape};
use burn_capture::TensorId;
use burn_ir::{
    ActivationOperationIr, BaseOperationIr, BoolOperationIr, FloatOperationIr, IntOperationIr,
    ModuleOperationIr, NumericOperationIr, OperationIr, ScalarIr, TensorIr,
};

use xai_core::{Result, XaiError};

use super::graph::CapturedGraph;

type B = Dispatch;
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

fn sc(v: f64) -> Scalar {
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

fn to_scalar(s: &ScalarIr) -> Scalar {
    match *s {
        ScalarIr::Float(x) => Scalar::Float(x),
        ScalarIr::Int(x) => Scalar::Int(x),
        ScalarIr::UInt(x) => Scalar::UInt(x),
        ScalarIr::Bool(x) => Scalar::Bool(x),
    }
}

fn shape_of(t: &TensorIr) -> Shape {
    t.shape.clone()
}

/// The shape a recorded reshape takes on a replay with another batch size: when the reshape kept
/// the leading (batch) dimension (`flatten(1, …)`, `[N, C, H, W] → [N, C·H·W]`), the new batch
/// size replaces it; otherwise the recorded shape, which must then fit exactly.
fn batch_reshape(actual: &Shape, input: &TensorIr, out: &TensorIr) -> Result<Shape> {
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

pub(crate) struct Interp<'g> {
    g: &'g CapturedGraph,
    dev: DispatchDevice,
    dtype: FloatDType,
    vals: HashMap<TensorId, Val>,
    tans: HashMap<TensorId, T>,
    jvp: bool,
    bool_dtype: burn::tensor::BoolDType,
    int_dtype: burn::tensor::IntDType,
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

    fn f(&self, t: &TensorIr) -> Result<T> {
        match self.vals.get(&t.id) {
            Some(Val::F(x)) => Ok(x.clone()),
            Some(_) => Err(XaiError::Capture(format!(
                "tensor {:?} is not a float tensor",
                t.id
            ))),
            None => Err(XaiError::Capture(format!(
                "tensor {:?} used before it was computed",
                t.id
            ))),
        }
    }
    fn i(&self, t: &TensorIr) -> Result<T> {
        match self.vals.get(&t.id) {
            Some(Val::I(x)) => Ok(x.clone()),
            _ => Err(XaiError::Capture(format!(
                "tensor {:?} is not an int tensor",
                t.id
            ))),
        }
    }
    fn b(&self, t: &TensorIr) -> Result<T> {
        match self.vals.get(&t.id) {
            Some(Val::Bo(x)) => Ok(x.clone()),
            _ => Err(XaiError::Capture(format!(
                "tensor {:?} is not a bool tensor",
                t.id
            ))),
        }
    }
    fn tan(&self, t: &TensorIr) -> Option<T> {
        self.tans.get(&t.id).cloned()
    }
    fn zeros_like(&self, t: &T) -> T {
        B::float_zeros(t.shape(), &self.dev, t.dtype().into())
    }
    fn tan_or_zero(&self, t: &TensorIr) -> Result<T> {
        match self.tan(t) {
            Some(x) => Ok(x),
            None => Ok(B::float_zeros(shape_of(t), &self.dev, self.dtype)),
        }
    }
    fn put(&mut self, t: &TensorIr, v: T) {
        self.vals.insert(t.id, Val::F(v));
    }
    fn put_tan(&mut self, t: &TensorIr, v: Option<T>) {
        if let Some(v) = v {
            self.tans.insert(t.id, v);
        }
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
        self.step(&g.nodes[i].op).map_err(|e| match e {
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
                    let out = node
                        .op
                        .outputs()
                        .next()
                        .cloned()
                        .ok_or_else(|| XaiError::UnknownNode(node.name.clone()))?;
                    self.put(&out, B::float_cast(v.clone(), self.dtype));
                }
                continue;
            }
            self.step(&node.op).map_err(|e| match e {
                XaiError::UnsupportedOp { op, transform, .. } => XaiError::UnsupportedOp {
                    op,
                    transform,
                    node: self.node_name(i),
                },
                other => other,
            })?;
            let tapped = spec.probes.contains(&i);
            let rec = spec.record.contains(&i);
            if tapped || rec {
                let out = node
                    .op
                    .outputs()
                    .next()
                    .cloned()
                    .ok_or_else(|| XaiError::UnknownNode(node.name.clone()))?;
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

    fn unsupported(op: &OperationIr, transform: &str) -> XaiError {
        XaiError::UnsupportedOp {
            op: super::ops::op_info(op).name.to_string(),
            transform: transform.into(),
            node: String::new(),
        }
    }

    /// Evaluate one op (and its tangent when running in forward mode).
    fn step(&mut self, op: &OperationIr) -> Result<()> {
        match op {
            OperationIr::BaseFloat(b) => self.base_float(op, b),
            OperationIr::BaseInt(b) => self.base_other(op, b, false),
            OperationIr::BaseBool(b) => self.base_other(op, b, true),
            OperationIr::NumericFloat(_, n) => self.numeric_float(op, n),
            OperationIr::NumericInt(_, n) => self.numeric_int(op, n),
            OperationIr::Float(_, f) => self.float_op(op, f),
            OperationIr::Module(m) => self.module_op(op, m),
            OperationIr::Activation(a) => self.activation(op, a),
            OperationIr::Int(IntOperationIr::IntoFloat(d)) => {
                let x = self.i(&d.input)?;
                self.put(&d.out, B::int_into_float(x, self.dtype));
                Ok(())
            }
            OperationIr::Bool(bo) => match bo {
                BoolOperationIr::IntoFloat(d) => {
                    let x = self.b(&d.input)?;
                    self.put(&d.out, B::bool_into_float(x, self.dtype));
                    Ok(())
                }
                BoolOperationIr::IntoInt(d) => {
                    let x = self.b(&d.input)?;
                    let v = B::bool_into_int(x, self.int_dtype);
                    self.vals.insert(d.out.id, Val::I(v));
                    Ok(())
                }
                BoolOperationIr::Not(d) => {
                    let x = self.b(&d.input)?;
                    self.vals.insert(d.out.id, Val::Bo(B::bool_not(x)));
                    Ok(())
                }
                BoolOperationIr::And(d) => {
                    let v = B::bool_and(self.b(&d.lhs)?, self.b(&d.rhs)?);
                    self.vals.insert(d.out.id, Val::Bo(v));
                    Ok(())
                }
                BoolOperationIr::Or(d) => {
                    let v = B::bool_or(self.b(&d.lhs)?, self.b(&d.rhs)?);
                    self.vals.insert(d.out.id, Val::Bo(v));
                    Ok(())
                }
                _ => Err(Self::unsupported(op, "eval")),
            },
            OperationIr::Init(_) | OperationIr::Drop(_) => Ok(()),
            _ => Err(Self::unsupported(op, "eval")),
        }
    }

    fn base_float(&mut self, op: &OperationIr, b: &BaseOperationIr) -> Result<()> {
        use BaseOperationIr as O;
        // Structural ops apply the same linear map to the tangent.
        macro_rules! linear_unary {
            ($d:expr, $input:expr, |$x:ident| $e:expr) => {{
                let $x = self.f($input)?;
                let y = $e;
                let t = if self.jvp {
                    self.tan($input).map(|$x| $e)
                } else {
                    None
                };
                self.put(&$d.out, y);
                self.put_tan(&$d.out, t);
                Ok(())
            }};
        }
        match b {
            O::Reshape(d) => {
                let target = batch_reshape(&self.f(&d.input)?.shape(), &d.input, &d.out)?;
                linear_unary!(d, &d.input, |x| B::float_reshape(x, target.clone()))
            }
            O::SwapDims(d) => linear_unary!(d, &d.input, |x| B::float_swap_dims(x, d.dim1, d.dim2)),
            O::Permute(d) => linear_unary!(d, &d.input, |x| B::float_permute(x, &d.axes)),
            O::Flip(d) => linear_unary!(d, &d.input, |x| B::float_flip(x, &d.axes)),
            O::Expand(d) => linear_unary!(d, &d.input, |x| B::float_expand(x, shape_of(&d.out))),
            O::Unfold(d) => {
                linear_unary!(d, &d.input, |x| B::float_unfold(x, d.dim, d.size, d.step))
            }
            O::Slice(d) => linear_unary!(d, &d.tensor, |x| B::float_slice(x, &d.ranges)),
            O::RepeatDim(d) => {
                linear_unary!(d, &d.tensor, |x| B::float_repeat_dim(x, d.dim, d.times))
            }
            O::Select(d) => {
                let idx = self.i(&d.indices)?;
                linear_unary!(d, &d.tensor, |x| B::float_select(x, d.dim, idx.clone()))
            }
            O::Gather(d) => {
                let idx = self.i(&d.indices)?;
                linear_unary!(d, &d.tensor, |x| B::float_gather(d.dim, x, idx.clone()))
            }
            O::Cast(d) => {
                // Casts between float types keep the run's precision (an f64 replay stays f64).
                linear_unary!(d, &d.input, |x| B::float_cast(x, self.dtype))
            }
            O::Cat(d) => {
                let xs = d
                    .tensors
                    .iter()
                    .map(|t| self.f(t))
                    .collect::<Result<Vec<_>>>()?;
                let y = B::float_cat(xs, d.dim);
                let t = if self.jvp && d.tensors.iter().any(|t| self.tans.contains_key(&t.id)) {
                    let ts = d
                        .tensors
                        .iter()
                        .map(|t| self.tan_or_zero(t))
                        .collect::<Result<Vec<_>>>()?;
                    Some(B::float_cat(ts, d.dim))
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            O::SliceAssign(d) => {
                let x = self.f(&d.tensor)?;
                let v = self.f(&d.value)?;
                let y = B::float_slice_assign(x, &d.ranges, v);
                let t = if self.jvp
                    && (self.tans.contains_key(&d.tensor.id) || self.tans.contains_key(&d.value.id))
                {
                    Some(B::float_slice_assign(
                        self.tan_or_zero(&d.tensor)?,
                        &d.ranges,
                        self.tan_or_zero(&d.value)?,
                    ))
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            O::MaskWhere(d) => {
                let m = self.b(&d.mask)?;
                let y = B::float_mask_where(self.f(&d.tensor)?, m.clone(), self.f(&d.value)?);
                let t = if self.jvp
                    && (self.tans.contains_key(&d.tensor.id) || self.tans.contains_key(&d.value.id))
                {
                    Some(B::float_mask_where(
                        self.tan_or_zero(&d.tensor)?,
                        m,
                        self.tan_or_zero(&d.value)?,
                    ))
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            O::MaskFill(d) => {
                let m = self.b(&d.mask)?;
                let y = B::float_mask_fill(self.f(&d.tensor)?, m.clone(), to_scalar(&d.value));
                let t = if self.jvp {
                    self.tan(&d.tensor)
                        .map(|t| B::float_mask_fill(t, m, sc(0.0)))
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            O::Zeros(d) => {
                self.put(
                    &d.out,
                    B::float_zeros(shape_of(&d.out), &self.dev, self.dtype),
                );
                Ok(())
            }
            O::Ones(d) => {
                self.put(
                    &d.out,
                    B::float_ones(shape_of(&d.out), &self.dev, self.dtype),
                );
                Ok(())
            }
            O::Empty(d) => {
                self.put(
                    &d.out,
                    B::float_zeros(shape_of(&d.out), &self.dev, self.dtype),
                );
                Ok(())
            }
            O::Equal(d) => self.cmp(
                &d.out,
                B::float_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            ),
            O::NotEqual(d) => self.cmp(
                &d.out,
                B::float_not_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            ),
            O::EqualElem(d) => self.cmp(
                &d.out,
                B::float_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            ),
            O::NotEqualElem(d) => self.cmp(
                &d.out,
                B::float_not_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            ),
            _ => Err(Self::unsupported(op, "eval")),
        }
    }

    fn cmp(&mut self, out: &TensorIr, v: T) -> Result<()> {
        self.vals.insert(out.id, Val::Bo(v));
        Ok(())
    }

    /// Int and bool tensors: structural ops only (token ids, masks).
    fn base_other(&mut self, op: &OperationIr, b: &BaseOperationIr, is_bool: bool) -> Result<()> {
        use BaseOperationIr as O;
        let get = |s: &Self, t: &TensorIr| if is_bool { s.b(t) } else { s.i(t) };
        let wrap = |v: T| if is_bool { Val::Bo(v) } else { Val::I(v) };
        let (out, v) = match b {
            O::Reshape(d) => (
                &d.out,
                if is_bool {
                    B::bool_reshape(get(self, &d.input)?, shape_of(&d.out))
                } else {
                    B::int_reshape(get(self, &d.input)?, shape_of(&d.out))
                },
            ),
            O::SwapDims(d) => (
                &d.out,
                if is_bool {
                    B::bool_swap_dims(get(self, &d.input)?, d.dim1, d.dim2)
                } else {
                    B::int_swap_dims(get(self, &d.input)?, d.dim1, d.dim2)
                },
            ),
            O::Permute(d) => (
                &d.out,
                if is_bool {
                    B::bool_permute(get(self, &d.input)?, &d.axes)
                } else {
                    B::int_permute(get(self, &d.input)?, &d.axes)
                },
            ),
            O::Expand(d) => (
                &d.out,
                if is_bool {
                    B::bool_expand(get(self, &d.input)?, shape_of(&d.out))
                } else {
                    B::int_expand(get(self, &d.input)?, shape_of(&d.out))
                },
            ),
            O::Slice(d) => (
                &d.out,
                if is_bool {
                    B::bool_slice(get(self, &d.tensor)?, &d.ranges)
                } else {
                    B::int_slice(get(self, &d.tensor)?, &d.ranges)
                },
            ),
            O::Cat(d) => {
                let xs = d
                    .tensors
                    .iter()
                    .map(|t| get(self, t))
                    .collect::<Result<Vec<_>>>()?;
                (
                    &d.out,
                    if is_bool {
                        B::bool_cat(xs, d.dim)
                    } else {
                        B::int_cat(xs, d.dim)
                    },
                )
            }
            O::Zeros(d) if !is_bool => (
                &d.out,
                B::int_zeros(shape_of(&d.out), &self.dev, self.int_dtype),
            ),
            O::Ones(d) if !is_bool => (
                &d.out,
                B::int_ones(shape_of(&d.out), &self.dev, self.int_dtype),
            ),
            O::Cast(d) if !is_bool => (&d.out, B::int_cast(get(self, &d.input)?, self.int_dtype)),
            O::EqualElem(d) if !is_bool => {
                let v = B::int_equal_elem(get(self, &d.lhs)?, to_scalar(&d.rhs), self.bool_dtype);
                self.vals.insert(d.out.id, Val::Bo(v));
                return Ok(());
            }
            _ => return Err(Self::unsupported(op, "eval")),
        };
        self.vals.insert(out.id, wrap(v));
        Ok(())
    }

    fn numeric_int(&mut self, op: &OperationIr, n: &NumericOperationIr) -> Result<()> {
        use NumericOperationIr as N;
        let (out, v) = match n {
            N::Add(d) => (&d.out, Val::I(B::int_add(self.i(&d.lhs)?, self.i(&d.rhs)?))),
            N::AddScalar(d) => (
                &d.out,
                Val::I(B::int_add_scalar(self.i(&d.lhs)?, to_scalar(&d.rhs))),
            ),
            N::Sub(d) => (&d.out, Val::I(B::int_sub(self.i(&d.lhs)?, self.i(&d.rhs)?))),
            N::MulScalar(d) => (
                &d.out,
                Val::I(B::int_mul_scalar(self.i(&d.lhs)?, to_scalar(&d.rhs))),
            ),
            N::Full(d) => (
                &d.out,
                Val::I(B::int_full(
                    shape_of(&d.out),
                    to_scalar(&d.value),
                    &self.dev,
                    self.int_dtype,
                )),
            ),
            N::GreaterElem(d) => (
                &d.out,
                Val::Bo(B::int_greater_elem(
                    self.i(&d.lhs)?,
                    to_scalar(&d.rhs),
                    self.bool_dtype,
                )),
            ),
            N::LowerElem(d) => (
                &d.out,
                Val::Bo(B::int_lower_elem(
                    self.i(&d.lhs)?,
                    to_scalar(&d.rhs),
                    self.bool_dtype,
                )),
            ),
            _ => return Err(Self::unsupported(op, "eval")),
        };
        self.vals.insert(out.id, v);
        Ok(())
    }

    fn numeric_float(&mut self, op: &OperationIr, n: &NumericOperationIr) -> Result<()> {
        use NumericOperationIr as N;
        let jvp = self.jvp;
        let bd = self.bool_dtype;
        match n {
            N::Add(d) | N::Sub(d) => {
                let sub = matches!(n, N::Sub(_));
                let (a, b) = (self.f(&d.lhs)?, self.f(&d.rhs)?);
                let y = if sub {
                    B::float_sub(a, b)
                } else {
                    B::float_add(a, b)
                };
                let t = if jvp {
                    let out_shape = y.shape();
                    let ta = self
                        .tan(&d.lhs)
                        .map(|t| B::float_expand(t, out_shape.clone()));
                    let tb = self.tan(&d.rhs).map(|t| {
                        let t = B::float_expand(t, out_shape.clone());
                        if sub { B::float_neg(t) } else { t }
                    });
                    match (ta, tb) {
                        (Some(a), Some(b)) => Some(B::float_add(a, b)),
                        (a, b) => a.or(b),
                    }
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
            }
            N::Mul(d) => {
                let (a, b) = (self.f(&d.lhs)?, self.f(&d.rhs)?);
                let y = B::float_mul(a.clone(), b.clone());
                let t = if jvp {
                    let out_shape = y.shape();
                    let ta = self
                        .tan(&d.lhs)
                        .map(|t| B::float_expand(B::float_mul(t, b.clone()), out_shape.clone()));
                    let tb = self
                        .tan(&d.rhs)
                        .map(|t| B::float_expand(B::float_mul(a.clone(), t), out_shape.clone()));
                    match (ta, tb) {
                        (Some(a), Some(b)) => Some(B::float_add(a, b)),
                        (a, b) => a.or(b),
                    }
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
            }
            N::Div(d) => {
                let (a, b) = (self.f(&d.lhs)?, self.f(&d.rhs)?);
                let y = B::float_div(a.clone(), b.clone());
                let t = if jvp {
                    let out_shape = y.shape();
                    let ta = self
                        .tan(&d.lhs)
                        .map(|t| B::float_expand(B::float_div(t, b.clone()), out_shape.clone()));
                    // d(a/b) = -a db / b²
                    let tb = self.tan(&d.rhs).map(|t| {
                        let q = B::float_div(y.clone(), b.clone());
                        B::float_expand(B::float_neg(B::float_mul(q, t)), out_shape.clone())
                    });
                    match (ta, tb) {
                        (Some(a), Some(b)) => Some(B::float_add(a, b)),
                        (a, b) => a.or(b),
                    }
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
            }
            N::AddScalar(d) => self.unary(
                &d.lhs,
                &d.out,
                |x| B::float_add_scalar(x, to_scalar(&d.rhs)),
                |t, _, _| t,
            )?,
            N::SubScalar(d) => self.unary(
                &d.lhs,
                &d.out,
                |x| B::float_sub_scalar(x, to_scalar(&d.rhs)),
                |t, _, _| t,
            )?,
            N::MulScalar(d) => {
                let s = to_scalar(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_mul_scalar(x, s),
                    |t, _, _| B::float_mul_scalar(t, s),
                )?
            }
            N::DivScalar(d) => {
                let s = to_scalar(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_div_scalar(x, s),
                    |t, _, _| B::float_div_scalar(t, s),
                )?
            }
            N::Neg(d) => self.unary(&d.input, &d.out, B::float_neg, |t, _, _| B::float_neg(t))?,
            N::Abs(d) => self.unary(&d.input, &d.out, B::float_abs, |t, x, _| {
                B::float_mul(t, B::float_sign(x))
            })?,
            N::Sign(d) => self.unary(&d.input, &d.out, B::float_sign, |t, _, _| {
                B::float_mul_scalar(t, sc(0.0))
            })?,
            N::Sum(d) => self.unary(&d.input, &d.out, B::float_sum, |t, _, _| B::float_sum(t))?,
            N::Mean(d) => {
                self.unary(&d.input, &d.out, B::float_mean, |t, _, _| B::float_mean(t))?
            }
            N::SumDim(d) => self.unary(
                &d.input,
                &d.out,
                |x| B::float_sum_dim(x, d.axis),
                |t, _, _| B::float_sum_dim(t, d.axis),
            )?,
            N::MeanDim(d) => self.unary(
                &d.input,
                &d.out,
                |x| B::float_mean_dim(x, d.axis),
                |t, _, _| B::float_mean_dim(t, d.axis),
            )?,
            N::SumDims(d) => self.unary(
                &d.input,
                &d.out,
                |x| B::float_sum_dims(x, &d.axes),
                |t, _, _| B::float_sum_dims(t, &d.axes),
            )?,
            N::MaxDim(d) | N::MinDim(d) => {
                let max = matches!(n, N::MaxDim(_));
                let x = self.f(&d.input)?;
                let idt = self.int_dtype;
                let (y, idx) = if max {
                    B::float_max_dim_with_indices(x, d.axis, idt)
                } else {
                    B::float_min_dim_with_indices(x, d.axis, idt)
                };
                let t = if jvp {
                    self.tan(&d.input).map(|t| B::float_gather(d.axis, t, idx))
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
            }
            N::Max(d) | N::Min(d) => {
                let max = matches!(n, N::Max(_));
                let x = self.f(&d.input)?;
                let count = x.shape().num_elements();
                let flat = B::float_reshape(x, Shape::new([count]));
                let idt = self.int_dtype;
                let (y, idx) = if max {
                    B::float_max_dim_with_indices(flat, 0, idt)
                } else {
                    B::float_min_dim_with_indices(flat, 0, idt)
                };
                let t = if jvp {
                    self.tan(&d.input).map(|t| {
                        B::float_reshape(
                            B::float_gather(0, B::float_reshape(t, Shape::new([count])), idx),
                            shape_of(&d.out),
                        )
                    })
                } else {
                    None
                };
                self.put(&d.out, B::float_reshape(y, shape_of(&d.out)));
                self.put_tan(&d.out, t);
            }
            N::Clamp(d) => {
                let (lo, hi) = (scalar_f64(&d.min), scalar_f64(&d.max));
                self.unary(
                    &d.tensor,
                    &d.out,
                    |x| B::float_clamp(x, sc(lo), sc(hi)),
                    |t, x, _| {
                        let outside = B::bool_or(
                            B::float_lower_elem(x.clone(), sc(lo), bd),
                            B::float_greater_elem(x, sc(hi), bd),
                        );
                        B::float_mask_fill(t, outside, sc(0.0))
                    },
                )?
            }
            N::ClampMin(d) => {
                let lo = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_clamp_min(x, sc(lo)),
                    |t, x, _| B::float_mask_fill(t, B::float_lower_elem(x, sc(lo), bd), sc(0.0)),
                )?
            }
            N::ClampMax(d) => {
                let hi = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_clamp_max(x, sc(hi)),
                    |t, x, _| B::float_mask_fill(t, B::float_greater_elem(x, sc(hi), bd), sc(0.0)),
                )?
            }
            N::PowiScalar(d) => {
                let p = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_powf_scalar(x, sc(p)),
                    |t, x, _| {
                        B::float_mul(
                            t,
                            B::float_mul_scalar(B::float_powf_scalar(x, sc(p - 1.0)), sc(p)),
                        )
                    },
                )?
            }
            N::Full(d) => self.put(
                &d.out,
                B::float_full(shape_of(&d.out), to_scalar(&d.value), &self.dev, self.dtype),
            ),
            N::Pad(d) => {
                let burn_ir::PadModeIr::Constant(v) = d.mode else {
                    return Err(Self::unsupported(op, "eval"));
                };
                let mode = burn::tensor::ops::PadMode::Constant(scalar_f64(&v) as f32);
                let zero = burn::tensor::ops::PadMode::Constant(0.0);
                self.unary(
                    &d.input,
                    &d.out,
                    |x| B::float_pad(x, &d.padding, mode),
                    |t, _, _| B::float_pad(t, &d.padding, zero),
                )?
            }
            N::Greater(d) => self.cmp(
                &d.out,
                B::float_greater(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::GreaterEqual(d) => self.cmp(
                &d.out,
                B::float_greater_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::Lower(d) => self.cmp(
                &d.out,
                B::float_lower(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::LowerEqual(d) => self.cmp(
                &d.out,
                B::float_lower_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::GreaterElem(d) => self.cmp(
                &d.out,
                B::float_greater_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::GreaterEqualElem(d) => self.cmp(
                &d.out,
                B::float_greater_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::LowerElem(d) => self.cmp(
                &d.out,
                B::float_lower_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::LowerEqualElem(d) => self.cmp(
                &d.out,
                B::float_lower_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::ArgMax(d) | N::ArgMin(d) => {
                let x = self.f(&d.input)?;
                let v = if matches!(n, N::ArgMax(_)) {
                    B::float_argmax(x, d.axis, self.int_dtype)
                } else {
                    B::float_argmin(x, d.axis, self.int_dtype)
                };
                self.vals.insert(d.out.id, Val::I(v));
            }
            _ => return Err(Self::unsupported(op, "eval")),
        }
        Ok(())
    }

    /// An elementwise or reducing op `y = f(x)` with tangent rule `dy = rule(dx, x, y)`.
    fn unary(
        &mut self,
        input: &TensorIr,
        out: &TensorIr,
        f: impl FnOnce(T) -> T,
        rule: impl FnOnce(T, T, T) -> T,
    ) -> Result<()> {
        let x = self.f(input)?;
        let y = f(x.clone());
        let t = if self.jvp {
            self.tan(input).map(|t| rule(t, x, y.clone()))
        } else {
            None
        };
        self.put(out, y);
        self.put_tan(out, t);
        Ok(())
    }

    fn float_op(&mut self, op: &OperationIr, f: &FloatOperationIr) -> Result<()> {
        use FloatOperationIr as F;
        let mul = B::float_mul;
        match f {
            F::Exp(d) => self.unary(&d.input, &d.out, B::float_exp, |t, _, y| mul(t, y)),
            F::Log(d) => self.unary(&d.input, &d.out, B::float_log, |t, x, _| B::float_div(t, x)),
            F::Log1p(d) => self.unary(&d.input, &d.out, B::float_log1p, |t, x, _| {
                B::float_div(t, B::float_add_scalar(x, sc(1.0)))
            }),
            F::Sqrt(d) => self.unary(&d.input, &d.out, B::float_sqrt, |t, _, y| {
                B::float_div(B::float_mul_scalar(t, sc(0.5)), y)
            }),
            F::Tanh(d) => self.unary(&d.input, &d.out, B::float_tanh, |t, _, y| {
                // 1 − y²
                let d = B::float_add_scalar(B::float_neg(mul(y.clone(), y)), sc(1.0));
                mul(t, d)
            }),
            F::Sin(d) => self.unary(&d.input, &d.out, B::float_sin, |t, x, _| {
                mul(t, B::float_cos(x))
            }),
            F::Cos(d) => self.unary(&d.input, &d.out, B::float_cos, |t, x, _| {
                B::float_neg(mul(t, B::float_sin(x)))
            }),
            F::Recip(d) => self.unary(&d.input, &d.out, B::float_recip, |t, _, y| {
                B::float_neg(mul(t, mul(y.clone(), y)))
            }),
            F::Erf(d) => self.unary(&d.input, &d.out, B::float_erf, |t, x, _| {
                // 2/√π · exp(−x²)
                let g = B::float_mul_scalar(
                    B::float_exp(B::float_neg(mul(x.clone(), x))),
                    sc(std::f64::consts::FRAC_2_SQRT_PI),
                );
                mul(t, g)
            }),
            F::PowfScalar(d) => {
                let p = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_powf_scalar(x, sc(p)),
                    |t, x, _| {
                        mul(
                            t,
                            B::float_mul_scalar(B::float_powf_scalar(x, sc(p - 1.0)), sc(p)),
                        )
                    },
                )
            }
            F::Matmul(d) => {
                let (a, b) = (self.f(&d.lhs)?, self.f(&d.rhs)?);
                let y = B::float_matmul(a.clone(), b.clone());
                let t = if self.jvp {
                    let ta = self.tan(&d.lhs).map(|t| B::float_matmul(t, b.clone()));
                    let tb = self.tan(&d.rhs).map(|t| B::float_matmul(a.clone(), t));
                    match (ta, tb) {
                        (Some(a), Some(b)) => Some(B::float_add(a, b)),
                        (a, b) => a.or(b),
                    }
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            F::IntoInt(d) => {
                let v = B::float_into_int(self.f(&d.input)?, self.int_dtype);
                self.vals.insert(d.out.id, Val::I(v));
                Ok(())
            }
            F::IsNan(d) => {
                let v = B::float_is_nan(self.f(&d.input)?, self.bool_dtype);
                self.cmp(&d.out, v)
            }
            _ => Err(Self::unsupported(op, "eval")),
        }
    }

    fn activation(&mut self, op: &OperationIr, a: &ActivationOperationIr) -> Result<()> {
        use ActivationOperationIr as A;
        let mul = B::float_mul;
        let bd = self.bool_dtype;
        match a {
            A::Relu(d) => match self.g.relu_softplus {
                // Stable softplus: (relu(z) + ln(1 + e^{−|z|})) / β with z = βx.
                Some(beta) => self.unary(
                    &d.input,
                    &d.out,
                    |x| {
                        let z = B::float_mul_scalar(x, sc(beta));
                        let tail =
                            B::float_log1p(B::float_exp(B::float_neg(B::float_abs(z.clone()))));
                        B::float_div_scalar(B::float_add(B::relu(z), tail), sc(beta))
                    },
                    |t, x, _| mul(t, B::sigmoid(B::float_mul_scalar(x, sc(beta)))),
                ),
                None => self.unary(&d.input, &d.out, B::relu, |t, x, _| {
                    B::float_mask_fill(t, B::float_lower_equal_elem(x, sc(0.0), bd), sc(0.0))
                }),
            },
            A::LeakyRelu(d) => {
                let s = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::leaky_relu(x, sc(s)),
                    |t, x, _| {
                        let neg = B::float_lower_equal_elem(x, sc(0.0), bd);
                        let scaled = B::float_mul_scalar(t.clone(), sc(s));
                        B::float_mask_where(t, neg, scaled)
                    },
                )
            }
            A::Gelu(d) => self.unary(&d.input, &d.out, B::gelu, |t, x, _| {
                // gelu'(x) = Φ(x) + x φ(x)
                let cdf = B::float_mul_scalar(
                    B::float_add_scalar(
                        B::float_erf(B::float_mul_scalar(
                            x.clone(),
                            sc(std::f64::consts::FRAC_1_SQRT_2),
                        )),
                        sc(1.0),
                    ),
                    sc(0.5),
                );
                let pdf = B::float_mul_scalar(
                    B::float_exp(B::float_mul_scalar(mul(x.clone(), x.clone()), sc(-0.5))),
                    sc(0.3989422804014327),
                );
                mul(t, B::float_add(cdf, mul(x, pdf)))
            }),
            A::Sigmoid(d) => self.unary(&d.input, &d.out, B::sigmoid, |t, _, y| {
                let d = mul(y.clone(), B::float_add_scalar(B::float_neg(y), sc(1.0)));
                mul(t, d)
            }),
            A::LogSigmoid(d) => self.unary(&d.input, &d.out, B::log_sigmoid, |t, x, _| {
                // 1 − σ(x) = σ(−x)
                mul(t, B::sigmoid(B::float_neg(x)))
            }),
            A::Softmax(d) => {
                let ax = d.axis;
                self.unary(
                    &d.input,
                    &d.out,
                    |x| B::softmax(x, ax),
                    |t, _, y| {
                        let dot = B::float_sum_dim(mul(y.clone(), t.clone()), ax);
                        mul(y, B::float_sub(t, dot))
                    },
                )
            }
            A::LogSoftmax(d) => {
                let ax = d.axis;
                self.unary(
                    &d.input,
                    &d.out,
                    |x| B::log_softmax(x, ax),
                    |t, _, y| {
                        let p = B::float_exp(y);
                        B::float_sub(t.clone(), B::float_sum_dim(mul(p, t), ax))
                    },
                )
            }
            _ => Err(Self::unsupported(op, "eval")),
        }
    }

    fn module_op(&mut self, op: &OperationIr, m: &ModuleOperationIr) -> Result<()> {
        use ModuleOperationIr as M;
        let jvp = self.jvp;
        let opt_f = |s: &Self, t: &Option<TensorIr>| t.as_ref().map(|t| s.f(t)).transpose();
        let any_tan = |s: &Self, ts: &[Option<&TensorIr>]| {
            ts.iter().flatten().any(|t| s.tans.contains_key(&t.id))
        };
        match m {
            M::Linear(d) => {
                let (x, w, b) = (self.f(&d.x)?, self.f(&d.weight)?, opt_f(self, &d.bias)?);
                let y = B::linear(x.clone(), w.clone(), b);
                let t = if jvp && any_tan(self, &[Some(&d.x), Some(&d.weight), d.bias.as_ref()]) {
                    let mut acc = self.tan(&d.x).map(|dx| B::linear(dx, w.clone(), None));
                    if self.tan(&d.weight).is_some()
                        || d.bias
                            .as_ref()
                            .is_some_and(|b| self.tans.contains_key(&b.id))
                    {
                        let dw = self.tan_or_zero(&d.weight)?;
                        let db = d.bias.as_ref().map(|b| self.tan_or_zero(b)).transpose()?;
                        let p = B::linear(x, dw, db);
                        acc = Some(match acc {
                            Some(a) => B::float_add(a, p),
                            None => p,
                        });
                    }
                    acc
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::Conv2d(d) => {
                let opts: ConvOptions<2> = d.options.clone().into();
                let (x, w, b) = (self.f(&d.x)?, self.f(&d.weight)?, opt_f(self, &d.bias)?);
                let y = B::conv2d(x.clone(), w.clone(), b, opts.clone());
                let t = if jvp && any_tan(self, &[Some(&d.x), Some(&d.weight), d.bias.as_ref()]) {
                    let mut acc = self
                        .tan(&d.x)
                        .map(|dx| B::conv2d(dx, w.clone(), None, opts.clone()));
                    if self.tan(&d.weight).is_some()
                        || d.bias
                            .as_ref()
                            .is_some_and(|b| self.tans.contains_key(&b.id))
                    {
                        let dw = self.tan_or_zero(&d.weight)?;
                        let db = d.bias.as_ref().map(|b| self.tan_or_zero(b)).transpose()?;
                        let p = B::conv2d(x, dw, db, opts);
                        acc = Some(match acc {
                            Some(a) => B::float_add(a, p),
                            None => p,
                        });
                    }
                    acc
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::Conv1d(d) => {
                let opts: ConvOptions<1> = d.options.clone().into();
                let (x, w, b) = (self.f(&d.x)?, self.f(&d.weight)?, opt_f(self, &d.bias)?);
                let y = B::conv1d(x.clone(), w.clone(), b, opts.clone());
                let t = if jvp && any_tan(self, &[Some(&d.x), Some(&d.weight), d.bias.as_ref()]) {
                    let mut acc = self
                        .tan(&d.x)
                        .map(|dx| B::conv1d(dx, w.clone(), None, opts.clone()));
                    if self.tan(&d.weight).is_some()
                        || d.bias
                            .as_ref()
                            .is_some_and(|b| self.tans.contains_key(&b.id))
                    {
                        let dw = self.tan_or_zero(&d.weight)?;
                        let db = d.bias.as_ref().map(|b| self.tan_or_zero(b)).transpose()?;
                        let p = B::conv1d(x, dw, db, opts);
                        acc = Some(match acc {
                            Some(a) => B::float_add(a, p),
                            None => p,
                        });
                    }
                    acc
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::BatchNorm(d) => {
                let eps = scalar_f64(&d.epsilon);
                let (x, g, b, mean, var) = (
                    self.f(&d.x)?,
                    self.f(&d.gamma)?,
                    self.f(&d.beta)?,
                    self.f(&d.mean)?,
                    self.f(&d.variance)?,
                );
                let y = B::batch_norm(x.clone(), g.clone(), b, mean.clone(), var.clone(), eps);
                let t = if jvp && any_tan(self, &[Some(&d.x), Some(&d.gamma), Some(&d.beta)]) {
                    // Eval mode is affine in x and in (γ, β): y = x̂γ + β.
                    let zero_c = self.zeros_like(&mean);
                    let mut acc = self.tan(&d.x).map(|dx| {
                        B::batch_norm(
                            dx,
                            g.clone(),
                            zero_c.clone(),
                            zero_c.clone(),
                            var.clone(),
                            eps,
                        )
                    });
                    if self.tans.contains_key(&d.gamma.id) || self.tans.contains_key(&d.beta.id) {
                        let p = B::batch_norm(
                            x,
                            self.tan_or_zero(&d.gamma)?,
                            self.tan_or_zero(&d.beta)?,
                            mean,
                            var,
                            eps,
                        );
                        acc = Some(match acc {
                            Some(a) => B::float_add(a, p),
                            None => p,
                        });
                    }
                    acc
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::LayerNorm(d) => {
                let eps = scalar_f64(&d.epsilon);
                let x = self.f(&d.input)?;
                let g = self.f(&d.gamma)?;
                let b = opt_f(self, &d.beta)?;
                let y = B::layer_norm(x.clone(), g.clone(), b, eps);
                let t = if jvp && any_tan(self, &[Some(&d.input), Some(&d.gamma), d.beta.as_ref()])
                {
                    let rank = x.shape().num_dims();
                    let last = rank - 1;
                    // burn broadcasts only between equal ranks: lift [C] to [1, …, 1, C].
                    let lift = |t: T| {
                        let c = t.shape().num_elements();
                        let mut dims = vec![1usize; rank];
                        dims[last] = c;
                        B::float_reshape(t, Shape::from(dims))
                    };
                    let g = lift(g.clone());
                    let mu = B::float_mean_dim(x.clone(), last);
                    let xc = B::float_sub(x, mu);
                    let var = B::float_mean_dim(B::float_mul(xc.clone(), xc.clone()), last);
                    let inv = B::float_recip(B::float_sqrt(B::float_add_scalar(var, sc(eps))));
                    let xhat = B::float_mul(xc, inv.clone());
                    let mut acc = self.tan(&d.input).map(|dx| {
                        // dx̂ = (dx − mean(dx) − x̂·mean(dx ⊙ x̂)) / σ
                        let m1 = B::float_mean_dim(dx.clone(), last);
                        let m2 = B::float_mean_dim(B::float_mul(dx.clone(), xhat.clone()), last);
                        let dxhat = B::float_mul(
                            B::float_sub(B::float_sub(dx, m1), B::float_mul(xhat.clone(), m2)),
                            inv.clone(),
                        );
                        B::float_mul(dxhat, g.clone())
                    });
                    if let Some(dg) = self.tan(&d.gamma) {
                        let p = B::float_mul(xhat.clone(), lift(dg));
                        acc = Some(match acc {
                            Some(a) => B::float_add(a, p),
                            None => p,
                        });
                    }
                    if let Some(db) = d.beta.as_ref().and_then(|b| self.tan(b)) {
                        let p = B::float_expand(lift(db), shape_of(&d.out));
                        acc = Some(match acc {
                            Some(a) => B::float_add(a, p),
                            None => p,
                        });
                    }
                    acc
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::Embedding(d) => {
                let (w, idx) = (self.f(&d.weights)?, self.i(&d.indices)?);
                let y = B::embedding(w, idx.clone());
                let t = if jvp {
                    self.tan(&d.weights).map(|dw| B::embedding(dw, idx))
                } else {
                    None
                };
                self.put(&d.out, y);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::AvgPool2d(d) => self.unary(
                &d.x,
                &d.out,
                |x| {
                    B::avg_pool2d(
                        x,
                        d.kernel_size,
                        d.stride,
                        d.padding,
                        d.count_include_pad,
                        d.ceil_mode,
                    )
                },
                |t, _, _| {
                    B::avg_pool2d(
                        t,
                        d.kernel_size,
                        d.stride,
                        d.padding,
                        d.count_include_pad,
                        d.ceil_mode,
                    )
                },
            ),
            M::AvgPool1d(d) => self.unary(
                &d.x,
                &d.out,
                |x| {
                    B::avg_pool1d(
                        x,
                        d.kernel_size,
                        d.stride,
                        d.padding,
                        d.count_include_pad,
                        d.ceil_mode,
                    )
                },
                |t, _, _| {
                    B::avg_pool1d(
                        t,
                        d.kernel_size,
                        d.stride,
                        d.padding,
                        d.count_include_pad,
                        d.ceil_mode,
                    )
                },
            ),
            M::AdaptiveAvgPool2d(d) => self.unary(
                &d.x,
                &d.out,
                |x| B::adaptive_avg_pool2d(x, d.output_size),
                |t, _, _| B::adaptive_avg_pool2d(t, d.output_size),
            ),
            M::AdaptiveAvgPool1d(d) => self.unary(
                &d.x,
                &d.out,
                |x| B::adaptive_avg_pool1d(x, d.output_size),
                |t, _, _| B::adaptive_avg_pool1d(t, d.output_size),
            ),
            M::MaxPool2d(d) => {
                let x = self.f(&d.x)?;
                let r = B::max_pool2d_with_indices(
                    x,
                    d.kernel_size,
                    d.stride,
                    d.padding,
                    d.dilation,
                    d.ceil_mode,
                    self.int_dtype,
                );
                let t = if jvp {
                    self.tan(&d.x)
                        .map(|t| gather_pooled(t, r.indices.clone(), &shape_of(&d.out)))
                } else {
                    None
                };
                self.put(&d.out, r.output);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::MaxPool2dWithIndices(d) => {
                let x = self.f(&d.x)?;
                let r = B::max_pool2d_with_indices(
                    x,
                    d.kernel_size,
                    d.stride,
                    d.padding,
                    d.dilation,
                    d.ceil_mode,
                    self.int_dtype,
                );
                let t = if jvp {
                    self.tan(&d.x)
                        .map(|t| gather_pooled(t, r.indices.clone(), &shape_of(&d.out)))
                } else {
                    None
                };
                self.put(&d.out, r.output);
                self.put_tan(&d.out, t);
                self.vals.insert(d.out_indices.id, Val::I(r.indices));
                Ok(())
            }
            M::MaxPool1d(d) => {
                let x = self.f(&d.x)?;
                let r = B::max_pool1d_with_indices(
                    x,
                    d.kernel_size,
                    d.stride,
                    d.padding,
                    d.dilation,
                    d.ceil_mode,
                    self.int_dtype,
                );
                let t = if jvp {
                    self.tan(&d.x)
                        .map(|t| gather_pooled(t, r.indices.clone(), &shape_of(&d.out)))
                } else {
                    None
                };
                self.put(&d.out, r.output);
                self.put_tan(&d.out, t);
                Ok(())
            }
            M::Interpolate(d) => {
                let opts: burn::backend::ops::InterpolateOptions = d.options.clone().into();
                let lin = !matches!(opts.mode, burn::backend::ops::InterpolateMode::Nearest);
                if jvp && !lin && self.tans.contains_key(&d.x.id) {
                    // nearest is also linear in x
                }
                self.unary(
                    &d.x,
                    &d.out,
                    |x| B::interpolate(x, d.output_size, opts.clone()),
                    |t, _, _| B::interpolate(t, d.output_size, opts.clone()),
                )
            }
            _ => Err(Self::unsupported(op, "eval")),
        }
    }
}

/// Gather the tangent at the arg-max positions of a max-pool: `t` is `[N, C, …spatial]`, the
/// indices are flat positions within each channel's spatial block.
fn gather_pooled(t: T, indices: T, out: &Shape) -> T {
    let s = t.shape();
    let (n, c) = (s[0], s[1]);
    let spatial: usize = s.iter().skip(2).product();
    let o: usize = out.iter().skip(2).product();
    let flat = B::float_reshape(t, Shape::new([n, c, spatial]));
    let idx = B::int_reshape(indices, Shape::new([n, c, o]));
    B::float_reshape(B::float_gather(2, flat, idx), out.clone())
}
