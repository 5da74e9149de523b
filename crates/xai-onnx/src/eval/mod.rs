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

mod layers;
mod layout;

pub(crate) use layers::resize_mode;

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
            N::Cast(_)
            | N::Shape(_)
            | N::Reshape(_)
            | N::Flatten(_)
            | N::Unsqueeze(_)
            | N::Squeeze(_)
            | N::Transpose(_)
            | N::Expand(_)
            | N::Concat(_)
            | N::Gather(_)
            | N::Slice(_)
            | N::Pad(_)
            | N::Tile(_)
            | N::PRelu(_)
            | N::ConstantOfShape(_)
            | N::Range(_)
            | N::Where(_) => self.layout(node)?,
            N::MatMul(_)
            | N::Gemm(_)
            | N::Linear(_)
            | N::Conv2d(_)
            | N::ConvTranspose2d(_)
            | N::Resize(_)
            | N::Conv1d(_)
            | N::MaxPool2d(_)
            | N::AveragePool2d(_)
            | N::GlobalAveragePool(_)
            | N::BatchNormalization(_)
            | N::LayerNormalization(_) => self.layer(node)?,
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
