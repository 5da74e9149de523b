//! The forward pass: each ONNX node as burn tensor operations on rank-free primitives.
//!
//! Values are burn's `DispatchTensor`s (float, int or bool, any rank) or host data for what ONNX
//! computes about shapes (`Shape`, constant axes); host data never carries a gradient. Binary
//! operations broadcast as ONNX does (numpy rules): the lower-rank operand gets leading unit
//! dimensions, and a one-value constant operand becomes a scalar operation (`x / 1.4142`), which
//! is what burn records for a module written by hand.

use std::collections::HashMap;

use burn::backend::ops::{
    ActivationOps, BoolTensorOps, ConvOptions, ConvTransposeOptions, FloatTensorOps, IntTensorOps,
    ModuleOps,
};
use burn::backend::{Dispatch, DispatchDevice, DispatchTensor, Scalar, TensorMetadata};
use burn::module::Module;
use burn::tensor::{DType, Device, FloatDType, IntDType, Shape, TensorData};
use onnx_ir::node::gelu::GeluApproximate;
use onnx_ir::node::padding::{PaddingConfig1d, PaddingConfig2d};
use onnx_ir::node::reduce::ReduceAxes;
use onnx_ir::node::reshape::ReshapeInput;
use onnx_ir::node::squeeze::SqueezeInput;
use onnx_ir::node::unsqueeze::UnsqueezeConfig;
use onnx_ir::{Argument, Node};

use xai_core::{Result, XaiError};

use crate::graph::{OnnxModel, value_key};

type B = Dispatch;

/// A value flowing through the graph.
#[derive(Clone, Debug)]
pub enum Value {
    /// Float tensor.
    F(DispatchTensor),
    /// Integer tensor (token ids, masks, indices).
    I(DispatchTensor),
    /// Boolean tensor.
    Bool(DispatchTensor),
    /// Host data: constants and shape computations.
    Host(TensorData),
}

pub(crate) fn shape_of(t: &DispatchTensor) -> Vec<usize> {
    t.shape().to_vec()
}

pub(crate) fn reshape_float(t: DispatchTensor, shape: &[usize]) -> DispatchTensor {
    B::float_reshape(t, Shape::from(shape.to_vec()))
}

fn err(node: &Node, msg: impl std::fmt::Display) -> XaiError {
    XaiError::Config(format!("ONNX node {}: {msg}", node.name()))
}

/// Normalise a possibly negative axis.
fn axis(a: i64, rank: usize) -> usize {
    if a < 0 {
        (a + rank as i64).max(0) as usize
    } else {
        a as usize
    }
}

struct Ctx<'a> {
    model: &'a OnnxModel,
    env: HashMap<String, Value>,
    dev: DispatchDevice,
    float: FloatDType,
    int: IntDType,
}

pub(crate) fn run(model: &OnnxModel, inputs: Vec<(String, Value)>) -> Result<Vec<Value>> {
    let device = model
        .devices()
        .into_iter()
        .next()
        .or_else(|| {
            inputs.iter().find_map(|(_, v)| match v {
                Value::F(t) | Value::I(t) | Value::Bool(t) => Some(Device::from(t.device())),
                Value::Host(_) => None,
            })
        })
        .unwrap_or_else(Device::flex);
    let p = &model.program;
    for spec in &p.inputs {
        if !inputs.iter().any(|(n, _)| n == &spec.name) {
            return Err(XaiError::Config(format!("missing input `{}`", spec.name)));
        }
    }
    let mut env = HashMap::new();
    for (name, v) in inputs {
        let Some(spec) = p.inputs.iter().find(|s| s.name == name) else {
            return Err(XaiError::Config(format!(
                "the model has no input `{name}` (inputs: {})",
                p.inputs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let shape = match &v {
            Value::F(t) | Value::I(t) | Value::Bool(t) => shape_of(t),
            Value::Host(d) => d.shape().to_vec(),
        };
        let ok_rank = shape.len() == spec.shape.len() + 1;
        let ok_dims = ok_rank
            && spec
                .shape
                .iter()
                .zip(&shape[1..])
                .all(|(want, got)| want.is_none_or(|w| w == *got));
        if !ok_dims {
            let want: Vec<String> = std::iter::once("N".to_string())
                .chain(
                    spec.shape
                        .iter()
                        .map(|d| d.map_or("?".into(), |d| d.to_string())),
                )
                .collect();
            return Err(XaiError::Config(format!(
                "input `{name}`: expected shape [{}], got {shape:?}",
                want.join(", ")
            )));
        }
        let kind_ok = matches!(
            (&v, spec.dtype.is_float()),
            (Value::F(_), true) | (Value::I(_), false) | (Value::Host(_), _)
        );
        if !kind_ok {
            return Err(XaiError::Config(format!(
                "input `{name}` must hold {:?} values",
                spec.dtype
            )));
        }
        env.insert(name, v);
    }
    let settings = device.settings();
    let mut cx = Ctx {
        model,
        env,
        dev: device.as_dispatch().clone(),
        float: FloatDType::from(p.dtype),
        int: settings.int_dtype,
    };
    for node in &p.nodes {
        cx.step(node)?;
    }
    p.outputs
        .iter()
        .map(|o| {
            cx.env
                .get(o)
                .cloned()
                .ok_or_else(|| XaiError::Config(format!("graph output `{o}` was never computed")))
        })
        .collect()
}

impl Ctx<'_> {
    fn get(&self, node: &Node, arg: &Argument) -> Result<Value> {
        let key = value_key(arg);
        if let Some(v) = self.env.get(&key) {
            return Ok(v.clone());
        }
        let p = &self.model.program;
        if let Some(&i) = p.param_of.get(&key) {
            return Ok(Value::F(self.model.weights.params[i].value()));
        }
        if let Some(d) = p.constants.get(&key) {
            return Ok(Value::Host(d.clone()));
        }
        Err(err(node, format!("input `{}` has no value", arg.name)))
    }

    fn input(&self, node: &Node, i: usize) -> Result<Value> {
        let arg = node
            .inputs()
            .get(i)
            .ok_or_else(|| err(node, format!("missing input {i}")))?;
        self.get(node, arg)
    }

    /// Input `i` as a float tensor.
    fn float_in(&self, node: &Node, i: usize) -> Result<DispatchTensor> {
        let v = self.input(node, i)?;
        self.float(node, v)
    }

    /// Optional input `i` as a float tensor (a layer's bias).
    fn opt_float_in(&self, node: &Node, i: usize) -> Result<Option<DispatchTensor>> {
        self.opt_input(node, i)?
            .map(|v| self.float(node, v))
            .transpose()
    }

    fn opt_input(&self, node: &Node, i: usize) -> Result<Option<Value>> {
        match node.inputs().get(i) {
            Some(a) if !a.is_optional() && (a.is_static() || !a.name.is_empty()) => {
                self.get(node, a).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn put(&mut self, node: &Node, v: Value) {
        if let Some(o) = node.outputs().first() {
            self.env.insert(value_key(o), v);
        }
    }

    /// A float tensor from any value (host data is placed on the run device).
    fn float(&self, node: &Node, v: Value) -> Result<DispatchTensor> {
        match v {
            Value::F(t) => Ok(t),
            Value::I(t) => Ok(B::int_into_float(t, self.float)),
            Value::Bool(t) => Ok(B::bool_into_float(t, self.float)),
            Value::Host(d) => {
                let shape = d.shape().to_vec();
                let d = d.convert_dtype(DType::from(self.float));
                let t = B::float_from_data(
                    TensorData::new(
                        d.try_to_vec::<f64>()
                            .or_else(|_| d.clone().convert::<f64>().try_to_vec::<f64>())
                            .map_err(|e| err(node, format!("{e:?}")))?,
                        [d.num_elements()],
                    )
                    .convert_dtype(DType::from(self.float)),
                    &self.dev,
                );
                Ok(B::float_reshape(
                    t,
                    Shape::from(if shape.is_empty() { vec![1] } else { shape }),
                ))
            }
        }
    }

    /// An integer tensor on the run device.
    fn int(&self, node: &Node, v: Value) -> Result<DispatchTensor> {
        match v {
            Value::I(t) => Ok(t),
            Value::F(t) => Ok(B::float_into_int(t, self.int)),
            Value::Bool(t) => Ok(B::bool_into_int(t, self.int)),
            Value::Host(d) => {
                let shape = if d.shape().is_empty() {
                    vec![1]
                } else {
                    d.shape().to_vec()
                };
                let values = host_i64(node, &d)?;
                let data = TensorData::new(values, shape).convert_dtype(DType::from(self.int));
                Ok(B::int_from_data(data, &self.dev))
            }
        }
    }

    fn step(&mut self, node: &Node) -> Result<()> {
        use Node as N;
        let v = match node {
            N::Constant(_) => return Ok(()),
            N::Identity(_) | N::Dropout(_) => self.input(node, 0)?,
            N::Add(_) => self.binary(node, Bin::Add)?,
            N::Sub(_) => self.binary(node, Bin::Sub)?,
            N::Mul(_) => self.binary(node, Bin::Mul)?,
            N::Div(_) => self.binary(node, Bin::Div)?,
            N::Pow(_) => {
                let x = self.input(node, 0)?;
                let e = self.input(node, 1)?;
                let Value::Host(e) = e else {
                    return Err(err(node, "only a constant exponent is supported"));
                };
                let e = host_f64(node, &e)?;
                if e.len() != 1 {
                    return Err(err(node, "only a scalar exponent is supported"));
                }
                let x = self.float(node, x)?;
                Value::F(B::float_powf_scalar(x, Scalar::from(e[0])))
            }
            N::Neg(_) => self.unary(node, B::float_neg)?,
            N::Abs(_) => self.unary(node, B::float_abs)?,
            N::Reciprocal(_) => self.unary(node, B::float_recip)?,
            N::Sqrt(_) => self.unary(node, B::float_sqrt)?,
            N::Exp(_) => self.unary(node, B::float_exp)?,
            N::Log(_) => self.unary(node, B::float_log)?,
            N::Erf(_) => self.unary(node, B::float_erf)?,
            N::Tanh(_) => self.unary(node, B::float_tanh)?,
            N::Relu(_) => self.unary(node, B::relu)?,
            N::Sigmoid(_) => self.unary(node, B::sigmoid)?,
            N::Gelu(n) => match n.config.approximate {
                GeluApproximate::Exact => self.unary(node, B::gelu)?,
                GeluApproximate::Tanh => self.unary(node, gelu_tanh)?,
            },
            N::LeakyRelu(n) => {
                let a = n.config.alpha;
                self.unary(node, |x| B::leaky_relu(x, Scalar::from(a)))?
            }
            N::HardSigmoid(n) => {
                let (a, b) = (n.config.alpha, n.config.beta);
                self.unary(node, |x| hard_sigmoid(x, a, b))?
            }
            N::HardSwish(_) => self.unary(node, |x| {
                let h = hard_sigmoid(x.clone(), 1.0 / 6.0, 0.5);
                B::float_mul(x, h)
            })?,
            N::Softplus(_) => self.unary(node, |x| {
                // log(1 + e^x), computed as max(x, 0) + log1p(e^{-|x|}) to stay finite.
                let pos = B::relu(x.clone());
                let e = B::float_exp(B::float_neg(B::float_abs(x)));
                B::float_add(pos, B::float_log1p(e))
            })?,
            N::Elu(n) => {
                let a = n.config.alpha;
                self.unary(node, move |x| elu(x, a, 1.0))?
            }
            N::Selu(n) => {
                let (a, g) = (n.config.alpha, n.config.gamma);
                self.unary(node, move |x| elu(x, a, g))?
            }
            N::Clip(n) => {
                let lo = clip_bound(&n.config.min);
                let hi = clip_bound(&n.config.max);
                let x = self.float_in(node, 0)?;
                Value::F(match (lo, hi) {
                    (Some(lo), Some(hi)) => B::float_clamp(x, Scalar::from(lo), Scalar::from(hi)),
                    (Some(lo), None) => B::float_clamp_min(x, Scalar::from(lo)),
                    (None, Some(hi)) => B::float_clamp_max(x, Scalar::from(hi)),
                    (None, None) => x,
                })
            }
            N::Softmax(n) => {
                let d = n.config.axis;
                self.unary(node, move |x| B::softmax(x, d))?
            }
            N::LogSoftmax(n) => {
                let d = n.config.axis;
                self.unary(node, move |x| B::log_softmax(x, d))?
            }
            N::Cast(n) => {
                let x = self.input(node, 0)?;
                let to = n.config.to;
                match x {
                    Value::Host(d) => Value::Host(d.convert_dtype(to)),
                    v if to.is_float() => Value::F(self.float(node, v)?),
                    v if matches!(to, DType::Bool(_)) => {
                        let f = self.float(node, v)?;
                        Value::Bool(B::float_not_equal_elem(
                            f,
                            Scalar::from(0.0),
                            self.model_bool(),
                        ))
                    }
                    v => Value::I(self.int(node, v)?),
                }
            }
            N::Shape(n) => {
                let x = self.input(node, 0)?;
                let shape: Vec<i64> = value_shape(&x).into_iter().map(|d| d as i64).collect();
                let rank = shape.len() as i64;
                let start = n.config.start.min(rank as usize);
                let end = n.config.end.min(rank as usize);
                let part = shape[start..end.max(start)].to_vec();
                let len = part.len();
                Value::Host(TensorData::new(part, [len]))
            }
            N::Reshape(n) => {
                let x = self.input(node, 0)?;
                let target = match &n.config.shape {
                    ReshapeInput::Static(s) => s.clone(),
                    ReshapeInput::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                    }
                };
                let shape = resolve_reshape(node, &value_shape(&x), &target)?;
                self.reshape(node, x, &shape)?
            }
            N::Flatten(n) => {
                let x = self.input(node, 0)?;
                let s = value_shape(&x);
                let a = n.config.axis.min(s.len());
                let shape = vec![s[..a].iter().product(), s[a..].iter().product()];
                self.reshape(node, x, &shape)?
            }
            N::Unsqueeze(n) => {
                let x = self.input(node, 0)?;
                let axes = match &n.config {
                    UnsqueezeConfig::Static(a) => a.clone(),
                    UnsqueezeConfig::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                    }
                };
                let s = value_shape(&x);
                let out_rank = s.len() + axes.len();
                let mut axes: Vec<usize> = axes.iter().map(|&a| axis(a, out_rank)).collect();
                axes.sort_unstable();
                let mut shape = s.clone();
                for a in axes {
                    shape.insert(a.min(shape.len()), 1);
                }
                self.reshape(node, x, &shape)?
            }
            N::Squeeze(n) => {
                let x = self.input(node, 0)?;
                let s = value_shape(&x);
                let axes: Vec<usize> = match &n.config.axes {
                    Some(SqueezeInput::Static(a)) => a.iter().map(|&a| axis(a, s.len())).collect(),
                    Some(SqueezeInput::Runtime(r)) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&a| axis(a, s.len()))
                            .collect()
                    }
                    None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
                };
                let shape: Vec<usize> = s
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect();
                self.reshape(node, x, &shape)?
            }
            N::Transpose(n) => {
                let x = self.input(node, 0)?;
                let r = value_shape(&x).len();
                let perm: Vec<usize> = if n.config.perm.is_empty() {
                    (0..r).rev().collect()
                } else {
                    n.config.perm.iter().map(|&p| axis(p, r)).collect()
                };
                match x {
                    Value::I(t) => Value::I(B::int_permute(t, &perm)),
                    v => Value::F(B::float_permute(self.float(node, v)?, &perm)),
                }
            }
            N::Expand(n) => {
                let x = self.input(node, 0)?;
                let target = match &n.config {
                    onnx_ir::node::expand::ExpandConfig::Static(s) => s.clone(),
                    onnx_ir::node::expand::ExpandConfig::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                    }
                };
                let s = value_shape(&x);
                let rank = s.len().max(target.len());
                let mut xs = vec![1; rank - s.len()];
                xs.extend(&s);
                let mut ts = vec![1i64; rank - target.len()];
                ts.extend(&target);
                let out: Vec<usize> = xs
                    .iter()
                    .zip(&ts)
                    .map(|(&a, &b)| a.max(b as usize))
                    .collect();
                let x = self.reshape(node, x, &xs)?;
                match x {
                    Value::I(t) => Value::I(B::int_expand(t, Shape::from(out))),
                    v => Value::F(B::float_expand(self.float(node, v)?, Shape::from(out))),
                }
            }
            N::Concat(n) => {
                let vals = (0..node.inputs().len())
                    .map(|i| self.input(node, i))
                    .collect::<Result<Vec<_>>>()?;
                if vals.iter().all(|v| matches!(v, Value::Host(_))) {
                    // Shape arithmetic: concatenate on the host.
                    let mut all = Vec::new();
                    for v in vals {
                        all.extend(self.host_ints(node, v)?);
                    }
                    let len = all.len();
                    Value::Host(TensorData::new(all, [len]))
                } else if vals.iter().any(|v| matches!(v, Value::F(_))) {
                    let r = value_shape(&vals[0]).len();
                    let d = axis(n.config.axis as i64, r);
                    let ts = vals
                        .into_iter()
                        .map(|v| self.float(node, v))
                        .collect::<Result<Vec<_>>>()?;
                    Value::F(B::float_cat(ts, d))
                } else {
                    let r = value_shape(&vals[0]).len();
                    let d = axis(n.config.axis as i64, r);
                    let ts = vals
                        .into_iter()
                        .map(|v| self.int(node, v))
                        .collect::<Result<Vec<_>>>()?;
                    Value::I(B::int_cat(ts, d))
                }
            }
            N::Gather(n) => self.gather(node, n.config.axis)?,
            N::Slice(n) => {
                use onnx_ir::node::slice::SliceInput;
                let x = self.input(node, 0)?;
                let shape = value_shape(&x);
                let rank = shape.len();
                let resolve = |cx: &Self, v: &SliceInput| -> Result<Vec<i64>> {
                    match v {
                        SliceInput::Static(v) => Ok(v.clone()),
                        SliceInput::Runtime(r) => {
                            let v = cx.input(node, r.input_index)?;
                            cx.host_ints(node, v)
                        }
                    }
                };
                let starts = resolve(self, &n.config.starts)?;
                let ends = resolve(self, &n.config.ends)?;
                let axes = match &n.config.axes {
                    Some(a) => resolve(self, a)?,
                    None => (0..starts.len() as i64).collect(),
                };
                let steps = match &n.config.steps {
                    Some(st) => resolve(self, st)?,
                    None => vec![1; starts.len()],
                };
                let mut ranges = vec![(0usize, 0usize, 1usize); rank];
                for (d, r) in ranges.iter_mut().enumerate() {
                    *r = (0, shape[d], 1);
                }
                for (i, &a) in axes.iter().enumerate() {
                    let d = axis(a, rank);
                    let dim = shape[d] as i64;
                    let step = steps.get(i).copied().unwrap_or(1);
                    if step <= 0 {
                        return Err(err(node, "only positive slice steps are supported"));
                    }
                    let clampi = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim) as usize;
                    let (b, e) = (clampi(starts[i]), clampi(ends[i]));
                    ranges[d] = (b, e.max(b), step as usize);
                }
                self.slice(node, x, &ranges)?
            }
            N::Split(n) => {
                use onnx_ir::node::split::SplitSizesInput;
                let x = self.input(node, 0)?;
                let shape = value_shape(&x);
                let d = n.config.axis.min(shape.len().saturating_sub(1));
                let outputs = node.outputs().len().max(1);
                let sizes: Vec<usize> = match (&n.config.split_sizes, n.config.split_size) {
                    (Some(SplitSizesInput::Static(s)), _) => s.clone(),
                    (Some(SplitSizesInput::Runtime(r)), _) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&v| v.max(0) as usize)
                            .collect()
                    }
                    (None, Some(size)) => {
                        let mut left = shape[d];
                        let mut v = Vec::new();
                        while left > 0 {
                            v.push(size.min(left));
                            left -= size.min(left);
                        }
                        v
                    }
                    (None, None) => {
                        let k = n.config.num_outputs.unwrap_or(outputs).max(1);
                        let size = shape[d].div_ceil(k);
                        (0..k)
                            .map(|i| size.min(shape[d].saturating_sub(i * size)))
                            .collect()
                    }
                };
                if sizes.iter().sum::<usize>() != shape[d] {
                    return Err(err(
                        node,
                        format!("split sizes {sizes:?} do not cover {}", shape[d]),
                    ));
                }
                let mut start = 0;
                for (i, &len) in sizes.iter().enumerate() {
                    let mut ranges: Vec<(usize, usize, usize)> =
                        shape.iter().map(|&s| (0, s, 1)).collect();
                    ranges[d] = (start, start + len, 1);
                    start += len;
                    let part = self.slice(node, x.clone(), &ranges)?;
                    if let Some(o) = node.outputs().get(i) {
                        self.env.insert(value_key(o), part);
                    }
                }
                return Ok(());
            }
            N::Pad(n) => {
                use onnx_ir::node::pad::{ConstantValueInput, PadInput, PadMode as OnnxPad};
                let PadInput::Static(pads) = &n.config.pads else {
                    return Err(err(node, "pads computed at run time are not supported"));
                };
                let ConstantValueInput::Static(value) = n.config.constant_value else {
                    return Err(err(
                        node,
                        "a pad value computed at run time is not supported",
                    ));
                };
                if n.config.mode != OnnxPad::Constant {
                    return Err(err(node, "only constant padding is supported"));
                }
                let pads = pads.clone();
                self.unary(node, move |x| {
                    B::float_pad(x, &pads, burn::tensor::ops::PadMode::Constant(value))
                })?
            }
            N::Tile(n) => {
                use onnx_ir::node::tile::TileInput;
                let repeats: Vec<usize> = match &n.config.repeats {
                    TileInput::Static(r) => r.clone(),
                    TileInput::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&v| v.max(0) as usize)
                            .collect()
                    }
                };
                self.unary(node, move |mut x| {
                    for (d, &r) in repeats.iter().enumerate() {
                        if r != 1 {
                            x = B::float_repeat_dim(x, d, r);
                        }
                    }
                    x
                })?
            }
            N::PRelu(_) => {
                // max(0, x) − slope · max(0, −x), the slope broadcast from the trailing axes.
                let x = self.float_in(node, 0)?;
                let slope = self.float_in(node, 1)?;
                let r = shape_of(&x).len();
                let neg = B::relu(B::float_neg(x.clone()));
                Value::F(B::float_sub(
                    B::relu(x),
                    B::float_mul(lift_float(slope, r), neg),
                ))
            }
            N::ConstantOfShape(n) => {
                use onnx_ir::node::constant_of_shape::ConstantOfShapeShape;
                let shape: Vec<usize> = match &n.config.shape {
                    ConstantOfShapeShape::Static(s) => {
                        s.iter().map(|&d| d.max(0) as usize).collect()
                    }
                    ConstantOfShapeShape::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&d| d.max(0) as usize)
                            .collect()
                    }
                };
                let (value, dtype) = match &n.config.value {
                    Some(v) => (
                        host_f64(node, v)?.first().copied().unwrap_or(0.0),
                        v.dtype(),
                    ),
                    None => (0.0, DType::F32),
                };
                let count: usize = shape.iter().product();
                Value::Host(TensorData::new(vec![value; count], shape).convert_dtype(dtype))
            }
            N::Range(n) => {
                use onnx_ir::node::range::RangeInput;
                let get = |cx: &Self, v: &RangeInput| -> Result<f64> {
                    match v {
                        RangeInput::Static(i) => Ok(*i as f64),
                        RangeInput::StaticFloat(f) => Ok(*f),
                        RangeInput::Runtime(r) => {
                            let v = cx.input(node, r.input_index)?;
                            match v {
                                Value::Host(d) => {
                                    Ok(host_f64(node, &d)?.first().copied().unwrap_or(0.0))
                                }
                                _ => Err(err(
                                    node,
                                    "range bounds computed from tensor values are not supported",
                                )),
                            }
                        }
                    }
                };
                let (start, limit, delta) = (
                    get(self, &n.config.start)?,
                    get(self, &n.config.limit)?,
                    get(self, &n.config.delta)?,
                );
                if delta == 0.0 {
                    return Err(err(node, "range step 0"));
                }
                let count = ((limit - start) / delta).ceil().max(0.0) as usize;
                let values: Vec<f64> = (0..count).map(|i| start + i as f64 * delta).collect();
                let integral = matches!(n.config.start, RangeInput::Static(_));
                let data = TensorData::new(values, [count]);
                Value::Host(if integral {
                    data.convert_dtype(DType::I64)
                } else {
                    data
                })
            }
            N::Where(_) => {
                let c = self.input(node, 0)?;
                let x = self.input(node, 1)?;
                let y = self.input(node, 2)?;
                let c = match c {
                    Value::Bool(t) => t,
                    other => {
                        let f = self.float(node, other)?;
                        B::float_not_equal_elem(f, Scalar::from(0.0), self.model_bool())
                    }
                };
                let (x, y) = (self.float(node, x)?, self.float(node, y)?);
                let rank = shape_of(&x)
                    .len()
                    .max(shape_of(&y).len())
                    .max(shape_of(&c).len());
                let x = lift_float(x, rank);
                let y = lift_float(y, rank);
                let c = lift_bool(c, rank);
                let out = broadcast(&[shape_of(&x), shape_of(&y), shape_of(&c)]);
                let x = B::float_expand(x, Shape::from(out.clone()));
                let c = B::bool_expand(c, Shape::from(out));
                // where(c, x, y) = y with x written where c holds.
                Value::F(B::float_mask_where(y_expand(y, &shape_of(&x)), c, x))
            }
            N::MatMul(_) => {
                let a = self.input(node, 0)?;
                let b = self.input(node, 1)?;
                let (a, b) = (self.float(node, a)?, self.float(node, b)?);
                let r = shape_of(&a).len().max(shape_of(&b).len());
                Value::F(B::float_matmul(lift_float(a, r), lift_float(b, r)))
            }
            N::Gemm(n) => {
                // Y = α·op(A)·op(B) + β·C, op a transpose when the flag is set (Gemm that
                // onnx-ir does not fuse into `Linear`: α or β not 1, transA, or no transB).
                let c = &n.config;
                let a = self.input(node, 0)?;
                let mut a = self.float(node, a)?;
                let b = self.input(node, 1)?;
                let mut b = self.float(node, b)?;
                if c.trans_a != 0 {
                    a = B::float_swap_dims(a, 0, 1);
                }
                if c.trans_b != 0 {
                    b = B::float_swap_dims(b, 0, 1);
                }
                let mut y = B::float_matmul(a, b);
                if c.alpha != 1.0 {
                    y = B::float_mul_scalar(y, Scalar::from(c.alpha as f64));
                }
                if let Some(bias) = self.opt_input(node, 2)? {
                    let mut bias = self.float(node, bias)?;
                    if c.beta != 1.0 {
                        bias = B::float_mul_scalar(bias, Scalar::from(c.beta as f64));
                    }
                    y = B::float_add(y, lift_float(bias, 2));
                }
                Value::F(y)
            }
            N::Linear(n) => {
                let x = self.float_in(node, 0)?;
                let w_arg = &node.inputs()[1];
                let w = self.input(node, 1)?;
                let mut w = self.float(node, w)?;
                let stored_transposed = self
                    .model
                    .program
                    .param_of
                    .get(&value_key(w_arg))
                    .is_some_and(|i| self.model.program.pre_transposed.contains(i));
                if n.config.transpose_weight && !stored_transposed {
                    w = B::float_swap_dims(w, 0, 1);
                }
                let b = self.opt_float_in(node, 2)?;
                Value::F(B::linear(x, w, b))
            }
            N::Conv2d(n) => {
                let x = self.input(node, 0)?;
                let mut x = self.float(node, x)?;
                let w = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                let c = &n.config;
                let (t, l, bo, r) = match c.padding {
                    PaddingConfig2d::Valid => (0, 0, 0, 0),
                    PaddingConfig2d::Explicit(t, l, b, r) => (t, l, b, r),
                };
                let pad = if t == bo && l == r {
                    [t, l]
                } else {
                    x = B::float_pad(
                        x,
                        &[(0, 0), (0, 0), (t, bo), (l, r)],
                        burn::tensor::ops::PadMode::Constant(0.0),
                    );
                    [0, 0]
                };
                let opts = ConvOptions::new(c.stride, pad, c.dilation, c.groups);
                Value::F(B::conv2d(x, w, b, opts))
            }
            N::ConvTranspose2d(n) => {
                let x = self.float_in(node, 0)?;
                let w = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                let c = &n.config;
                let opts = ConvTransposeOptions::new(
                    c.stride,
                    c.padding,
                    c.padding_out,
                    c.dilation,
                    c.groups,
                );
                Value::F(B::conv_transpose2d(x, w, b, opts))
            }
            N::Resize(n) => {
                let options = resize_mode(&n.config).map_err(|why| err(node, why))?;
                let x = self.float_in(node, 0)?;
                let s = shape_of(&x);
                if s.len() != 4 {
                    return Err(err(node, "only 2-D resizing of [N, C, H, W] is supported"));
                }
                use onnx_ir::node::resize::{ResizeScales, ResizeSizes};
                let size: [usize; 2] = match (&n.config.sizes, &n.config.scales) {
                    (Some(ResizeSizes::Static(v)), _) if v.len() >= 2 => {
                        [v[v.len() - 2], v[v.len() - 1]]
                    }
                    (Some(ResizeSizes::Runtime(r)), _) => {
                        let v = self.input(node, r.input_index)?;
                        let v = self.host_ints(node, v)?;
                        if v.len() < 2 {
                            return Err(err(node, "sizes need the height and the width"));
                        }
                        [v[v.len() - 2] as usize, v[v.len() - 1] as usize]
                    }
                    (_, Some(scales)) => {
                        let f = match scales {
                            ResizeScales::Static(f) => f.iter().map(|&v| v as f64).collect(),
                            ResizeScales::Runtime(r) => match self.input(node, r.input_index)? {
                                Value::Host(d) => host_f64(node, &d)?,
                                _ => return Err(err(node, "scales computed from tensor values")),
                            },
                        };
                        if f.len() < 2 {
                            return Err(err(node, "scales need the height and the width"));
                        }
                        let k = f.len();
                        [
                            (s[2] as f64 * f[k - 2]).floor() as usize,
                            (s[3] as f64 * f[k - 1]).floor() as usize,
                        ]
                    }
                    _ => return Err(err(node, "neither sizes nor scales given")),
                };
                Value::F(B::interpolate(x, size, options))
            }
            N::Conv1d(n) => {
                let x = self.float_in(node, 0)?;
                let w = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                let c = &n.config;
                let pad = match c.padding {
                    PaddingConfig1d::Valid => 0,
                    PaddingConfig1d::Explicit(l, r) if l == r => l,
                    PaddingConfig1d::Explicit(..) => {
                        return Err(err(node, "asymmetric padding is not supported"));
                    }
                };
                let opts = ConvOptions::new([c.stride], [pad], [c.dilation], c.groups);
                Value::F(B::conv1d(x, w, b, opts))
            }
            N::MaxPool2d(n) => {
                let c = n.config.clone();
                let (t, l, _, _) = c.padding.as_tuple();
                self.unary(node, move |x| {
                    B::max_pool2d(x, c.kernel_size, c.strides, [t, l], c.dilation, c.ceil_mode)
                })?
            }
            N::AveragePool2d(n) => {
                let c = n.config.clone();
                let (t, l, _, _) = c.padding.as_tuple();
                self.unary(node, move |x| {
                    B::avg_pool2d(
                        x,
                        c.kernel_size,
                        c.strides,
                        [t, l],
                        c.count_include_pad,
                        c.ceil_mode,
                    )
                })?
            }
            N::GlobalAveragePool(_) => {
                let x = self.float_in(node, 0)?;
                let s = shape_of(&x);
                Value::F(match s.len() {
                    4 => B::adaptive_avg_pool2d(x, [1, 1]),
                    3 => B::adaptive_avg_pool1d(x, 1),
                    _ => {
                        let mut y = x;
                        for d in 2..s.len() {
                            y = B::float_mean_dim(y, d);
                        }
                        y
                    }
                })
            }
            N::BatchNormalization(n) => {
                let eps = match &n.config {
                    onnx_ir::node::batch_norm::BatchNormConfig::Static(c) => c.epsilon,
                    onnx_ir::node::batch_norm::BatchNormConfig::Runtime(c) => c.epsilon,
                };
                let mut t = Vec::new();
                for i in 0..5 {
                    let v = self.input(node, i)?;
                    t.push(self.float(node, v)?);
                }
                let [x, g, b, m, v]: [DispatchTensor; 5] = t
                    .try_into()
                    .map_err(|_| err(node, "five inputs expected"))?;
                let flat = |t: DispatchTensor| {
                    let n = shape_of(&t).iter().product::<usize>();
                    B::float_reshape(t, Shape::from(vec![n]))
                };
                Value::F(B::batch_norm(x, flat(g), flat(b), flat(m), flat(v), eps))
            }
            N::LayerNormalization(n) => {
                let x = self.float_in(node, 0)?;
                let g = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                Value::F(B::layer_norm(x, g, b, n.config.epsilon))
            }
            N::ReduceMean(n) => {
                self.reduce(node, &n.config.axes, n.config.keepdims, Reduce::Mean)?
            }
            N::ReduceSum(n) => self.reduce(node, &n.config.axes, n.config.keepdims, Reduce::Sum)?,
            N::ReduceMax(n) => self.reduce(node, &n.config.axes, n.config.keepdims, Reduce::Max)?,
            other => {
                return Err(err(
                    node,
                    format!("operator {} is not supported", other.node_type()),
                ));
            }
        };
        self.put(node, v);
        Ok(())
    }

    fn model_bool(&self) -> burn::tensor::BoolDType {
        Device::from(self.dev.clone()).settings().bool_dtype
    }

    fn unary(
        &self,
        node: &Node,
        f: impl FnOnce(DispatchTensor) -> DispatchTensor,
    ) -> Result<Value> {
        let x = self.input(node, 0)?;
        Ok(Value::F(f(self.float(node, x)?)))
    }

    fn host_ints(&self, node: &Node, v: Value) -> Result<Vec<i64>> {
        match v {
            Value::Host(d) => host_i64(node, &d),
            _ => Err(err(
                node,
                "a shape or axis argument computed from tensor values is not supported",
            )),
        }
    }

    /// `x[b0..e0:s0, b1..e1:s1, …]`, on the host for shape arithmetic.
    fn slice(&self, node: &Node, x: Value, ranges: &[(usize, usize, usize)]) -> Result<Value> {
        let slices: Vec<burn::tensor::Slice> = ranges
            .iter()
            .map(|&(b, e, s)| burn::tensor::Slice::new(b as isize, Some(e as isize), s as isize))
            .collect();
        Ok(match x {
            Value::Host(d) if d.shape().len() == 1 => {
                let v = host_f64(node, &d)?;
                let (b, e, s) = ranges[0];
                let part: Vec<f64> = (b..e).step_by(s).map(|i| v[i]).collect();
                let len = part.len();
                Value::Host(TensorData::new(part, [len]).convert_dtype(d.dtype()))
            }
            Value::I(t) => Value::I(B::int_slice(t, &slices)),
            v => Value::F(B::float_slice(self.float(node, v)?, &slices)),
        })
    }

    fn reshape(&self, node: &Node, x: Value, shape: &[usize]) -> Result<Value> {
        Ok(match x {
            Value::Host(d) => {
                let values = host_f64(node, &d)?;
                Value::Host(TensorData::new(values, shape.to_vec()).convert_dtype(d.dtype()))
            }
            Value::I(t) => Value::I(B::int_reshape(t, Shape::from(shape.to_vec()))),
            Value::Bool(t) => Value::Bool(B::bool_reshape(t, Shape::from(shape.to_vec()))),
            Value::F(t) => Value::F(B::float_reshape(t, Shape::from(shape.to_vec()))),
        })
    }

    fn binary(&self, node: &Node, op: Bin) -> Result<Value> {
        let a = self.input(node, 0)?;
        let b = self.input(node, 1)?;
        // Shape arithmetic stays on the host.
        if let (Value::Host(x), Value::Host(y)) = (&a, &b) {
            let (xs, ys) = (host_f64(node, x)?, host_f64(node, y)?);
            if xs.len() == ys.len() || xs.len() == 1 || ys.len() == 1 {
                let n = xs.len().max(ys.len());
                let at = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                let out: Vec<f64> = (0..n).map(|i| op.host(at(&xs, i), at(&ys, i))).collect();
                let shape = if xs.len() >= ys.len() {
                    x.shape().to_vec()
                } else {
                    y.shape().to_vec()
                };
                let shape = if shape.is_empty() && n == 1 {
                    vec![]
                } else {
                    shape
                };
                return Ok(Value::Host(
                    TensorData::new(out, shape).convert_dtype(x.dtype()),
                ));
            }
        }
        let int_result = matches!(
            (&a, &b),
            (Value::I(_), Value::I(_))
                | (Value::I(_), Value::Host(_))
                | (Value::Host(_), Value::I(_))
        ) && !matches!((&a, &b), (Value::Host(d), _) | (_, Value::Host(d)) if d.dtype().is_float());
        if int_result {
            return Err(err(node, "arithmetic on integer tensors is not supported"));
        }
        // A one-value constant becomes a scalar operation.
        if let Value::Host(d) = &b
            && d.num_elements() == 1
        {
            let s = host_f64(node, d)?[0];
            let x = self.float(node, a)?;
            return Ok(Value::F(op.scalar_right(x, s)));
        }
        if let Value::Host(d) = &a
            && d.num_elements() == 1
        {
            let s = host_f64(node, d)?[0];
            let y = self.float(node, b)?;
            return Ok(Value::F(op.scalar_left(s, y)));
        }
        let (x, y) = (self.float(node, a)?, self.float(node, b)?);
        let r = shape_of(&x).len().max(shape_of(&y).len());
        Ok(Value::F(op.tensors(lift_float(x, r), lift_float(y, r))))
    }

    fn reduce(&self, node: &Node, axes: &ReduceAxes, keep: bool, kind: Reduce) -> Result<Value> {
        let x = self.float_in(node, 0)?;
        let s = shape_of(&x);
        let axes: Vec<usize> = match axes {
            // ONNX's empty axis list reduces every dimension.
            ReduceAxes::Static(a) if a.is_empty() => (0..s.len()).collect(),
            ReduceAxes::Static(a) => a
                .iter()
                .map(|&a| a.min(s.len().saturating_sub(1)))
                .collect(),
            ReduceAxes::Runtime(r) => {
                let v = self.input(node, r.input_index)?;
                self.host_ints(node, v)?
                    .iter()
                    .map(|&a| axis(a, s.len()))
                    .collect()
            }
        };
        let mut y = x;
        for &d in &axes {
            y = match kind {
                Reduce::Mean => B::float_mean_dim(y, d),
                Reduce::Sum => B::float_sum_dim(y, d),
                Reduce::Max => B::float_max_dim(y, d),
            };
        }
        if !keep {
            let out: Vec<usize> = s
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect();
            y = B::float_reshape(y, Shape::from(out));
        }
        Ok(Value::F(y))
    }

    fn gather(&self, node: &Node, ax: usize) -> Result<Value> {
        let data = self.input(node, 0)?;
        let idx = self.input(node, 1)?;
        let is_param = self
            .model
            .program
            .param_of
            .contains_key(&value_key(&node.inputs()[0]));
        // Shape arithmetic: gather on the host.
        if let (Value::Host(d), Value::Host(i)) = (&data, &idx) {
            let values = host_f64(node, d)?;
            let picks = host_i64(node, i)?;
            let n = values.len() as i64;
            let out: Vec<f64> = picks
                .iter()
                .map(|&p| values[(if p < 0 { p + n } else { p }).clamp(0, n - 1) as usize])
                .collect();
            let shape = i.shape().to_vec();
            return Ok(Value::Host(
                TensorData::new(out, shape).convert_dtype(d.dtype()),
            ));
        }
        let ds = value_shape(&data);
        let is_shape = value_shape(&idx);
        let idx_t = self.int(node, idx)?;
        if is_param && ax == 0 && ds.len() == 2 {
            // A lookup table read by token ids: burn's embedding (what `nn::Embedding` records).
            let flat: usize = is_shape.iter().product::<usize>().max(1);
            let rows = if is_shape.len() == 2 {
                is_shape.clone()
            } else {
                vec![1, flat]
            };
            let idx2 = B::int_reshape(idx_t, Shape::from(rows));
            let w = self.float(node, data)?;
            let e = B::embedding(w, idx2);
            let mut out = is_shape.clone();
            out.push(ds[1]);
            return Ok(Value::F(B::float_reshape(e, Shape::from(out))));
        }
        let flat: usize = is_shape.iter().product::<usize>().max(1);
        let idx1 = B::int_reshape(idx_t, Shape::from(vec![flat]));
        let mut out = ds[..ax].to_vec();
        out.extend(&is_shape);
        out.extend(&ds[ax + 1..]);
        Ok(match data {
            Value::I(t) => Value::I(B::int_reshape(B::int_select(t, ax, idx1), Shape::from(out))),
            v => {
                let t = self.float(node, v)?;
                Value::F(B::float_reshape(
                    B::float_select(t, ax, idx1),
                    Shape::from(out),
                ))
            }
        })
    }
}

#[derive(Clone, Copy)]
enum Reduce {
    Mean,
    Sum,
    Max,
}

#[derive(Clone, Copy)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
}

impl Bin {
    fn host(self, a: f64, b: f64) -> f64 {
        match self {
            Bin::Add => a + b,
            Bin::Sub => a - b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
        }
    }
    fn tensors(self, a: DispatchTensor, b: DispatchTensor) -> DispatchTensor {
        match self {
            Bin::Add => B::float_add(a, b),
            Bin::Sub => B::float_sub(a, b),
            Bin::Mul => B::float_mul(a, b),
            Bin::Div => B::float_div(a, b),
        }
    }
    fn scalar_right(self, a: DispatchTensor, s: f64) -> DispatchTensor {
        let s = Scalar::from(s);
        match self {
            Bin::Add => B::float_add_scalar(a, s),
            Bin::Sub => B::float_sub_scalar(a, s),
            Bin::Mul => B::float_mul_scalar(a, s),
            Bin::Div => B::float_div_scalar(a, s),
        }
    }
    fn scalar_left(self, s: f64, b: DispatchTensor) -> DispatchTensor {
        match self {
            Bin::Add => B::float_add_scalar(b, Scalar::from(s)),
            Bin::Mul => B::float_mul_scalar(b, Scalar::from(s)),
            // s − b = −b + s
            Bin::Sub => B::float_add_scalar(B::float_neg(b), Scalar::from(s)),
            // s / b = s · (1 / b)
            Bin::Div => B::float_mul_scalar(B::float_recip(b), Scalar::from(s)),
        }
    }
}

/// burn's interpolation matching an ONNX Resize configuration (what PyTorch exports for
/// `nn.Upsample` / `F.interpolate`), or why there is none.
pub(crate) fn resize_mode(
    c: &onnx_ir::node::resize::ResizeConfig,
) -> std::result::Result<burn::backend::ops::InterpolateOptions, String> {
    use burn::backend::ops::{InterpolateMode, InterpolateOptions};
    use onnx_ir::node::resize::{CoordinateTransformMode as T, NearestMode, ResizeMode};
    let (mode, align_corners) = match (&c.mode, &c.coordinate_transformation_mode) {
        // PyTorch's `nearest`: source index floor(dst · in / out).
        (ResizeMode::Nearest, T::Asymmetric) if c.nearest_mode == NearestMode::Floor => {
            (InterpolateMode::Nearest, false)
        }
        (ResizeMode::Linear, T::HalfPixel | T::PytorchHalfPixel) => {
            (InterpolateMode::Bilinear, false)
        }
        (ResizeMode::Linear, T::AlignCorners) => (InterpolateMode::Bilinear, true),
        (mode, coords) => {
            return Err(format!(
                "Resize {mode:?} with {coords:?} coordinates (nearest/asymmetric/floor and \
                 linear with half_pixel or align_corners are)"
            ));
        }
    };
    if c.antialias != 0 {
        return Err("antialiased Resize".into());
    }
    let mut o = InterpolateOptions::new(mode);
    o.align_corners = align_corners;
    Ok(o)
}

fn elu(x: DispatchTensor, alpha: f64, scale: f64) -> DispatchTensor {
    // scale · (max(x, 0) + min(α (eˣ − 1), 0))
    let pos = B::relu(x.clone());
    let neg = B::float_clamp_max(
        B::float_mul_scalar(
            B::float_sub_scalar(B::float_exp(x), Scalar::from(1.0)),
            Scalar::from(alpha),
        ),
        Scalar::from(0.0),
    );
    B::float_mul_scalar(B::float_add(pos, neg), Scalar::from(scale))
}

/// clamp(α x + β, 0, 1), from ops the engine differentiates (burn's fused `hard_sigmoid` is not
/// one of them).
fn hard_sigmoid(x: DispatchTensor, alpha: f64, beta: f64) -> DispatchTensor {
    let y = B::float_add_scalar(
        B::float_mul_scalar(x, Scalar::from(alpha)),
        Scalar::from(beta),
    );
    B::float_clamp(y, Scalar::from(0.0), Scalar::from(1.0))
}

fn gelu_tanh(x: DispatchTensor) -> DispatchTensor {
    // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let x3 = B::float_powf_scalar(x.clone(), Scalar::from(3.0));
    let inner = B::float_mul_scalar(
        B::float_add(x.clone(), B::float_mul_scalar(x3, Scalar::from(0.044715))),
        Scalar::from(c),
    );
    let t = B::float_add_scalar(B::float_tanh(inner), Scalar::from(1.0));
    B::float_mul_scalar(B::float_mul(x, t), Scalar::from(0.5))
}

fn clip_bound(b: &Option<onnx_ir::node::clip::ClipInput>) -> Option<f64> {
    match b {
        Some(onnx_ir::node::clip::ClipInput::Static(v)) => Some(*v),
        _ => None,
    }
}

fn y_expand(y: DispatchTensor, shape: &[usize]) -> DispatchTensor {
    B::float_expand(y, Shape::from(shape.to_vec()))
}

/// Prepend unit dimensions up to `rank` (numpy broadcasting aligns trailing dimensions).
fn lift_float(t: DispatchTensor, rank: usize) -> DispatchTensor {
    let s = shape_of(&t);
    if s.len() >= rank {
        return t;
    }
    let mut shape = vec![1; rank - s.len()];
    shape.extend(s);
    B::float_reshape(t, Shape::from(shape))
}

fn lift_bool(t: DispatchTensor, rank: usize) -> DispatchTensor {
    let s = shape_of(&t);
    if s.len() >= rank {
        return t;
    }
    let mut shape = vec![1; rank - s.len()];
    shape.extend(s);
    B::bool_reshape(t, Shape::from(shape))
}

fn broadcast(shapes: &[Vec<usize>]) -> Vec<usize> {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    (0..rank)
        .map(|i| shapes.iter().map(|s| s[i]).max().unwrap_or(1))
        .collect()
}

fn value_shape(v: &Value) -> Vec<usize> {
    match v {
        Value::F(t) | Value::I(t) | Value::Bool(t) => shape_of(t),
        Value::Host(d) => d.shape().to_vec(),
    }
}

fn host_f64(node: &Node, d: &TensorData) -> Result<Vec<f64>> {
    d.clone()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .map_err(|e| err(node, format!("constant values: {e:?}")))
}

fn host_i64(node: &Node, d: &TensorData) -> Result<Vec<i64>> {
    Ok(host_f64(node, d)?.into_iter().map(|v| v as i64).collect())
}

/// ONNX reshape targets: `0` copies the input dimension, `-1` takes what is left.
fn resolve_reshape(node: &Node, input: &[usize], target: &[i64]) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out: Vec<usize> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            0 => out.push(
                *input
                    .get(i)
                    .ok_or_else(|| err(node, "reshape copies a missing dimension"))?,
            ),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            t if t > 0 => out.push(t as usize),
            _ => return Err(err(node, format!("invalid reshape target {target:?}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(err(node, format!("cannot reshape {input:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(err(node, format!("cannot reshape {input:?} to {target:?}")));
    }
    Ok(out)
}
