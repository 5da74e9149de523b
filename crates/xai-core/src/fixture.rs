//! Loader for the shared reference fixtures (`shared/fixtures/*.json`).
//!
//! A fixture holds a small model with fixed weights, inputs, and values that Captum, Zennit,
//! PyTorch autograd (float64) or exact enumeration computed on it. This module parses the format
//! (see `shared/fixtures/README.md`) and builds the model as an ordinary burn module made of
//! burn-nn layers ([`FixtureModel`]), so every xai method runs on it exactly as on a user's model.
//!
//! An architecture-only file gives a linear or conv2d layer `weight_shape` (PyTorch layout)
//! instead of `weight` and `bias`; the model then has zero weights until a burnpack file is
//! loaded into it (`xai explain --weights`, written by `xai fixture export`).
//!
//! The model's forward takes a flat batch `[N, F]` (F = product of `input_shape`) and reshapes it
//! internally, so one rank-2 entry point serves tabular and image fixtures alike.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu, Sigmoid, Tanh};
use burn::tensor::{DType, Device, Tensor, TensorData};
use serde_json::Value;

use crate::error::{Result, XaiError};

/// A dense array parsed from nested JSON lists: its shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f64>,
}

impl NdArray {
    /// Parse a (possibly nested) JSON list of numbers; a bare number is a 0-d array.
    pub fn from_json(v: &Value, what: &str) -> Result<Self> {
        fn walk(
            v: &Value,
            depth: usize,
            shape: &mut Vec<usize>,
            out: &mut Vec<f64>,
            what: &str,
        ) -> Result<()> {
            match v {
                Value::Number(n) => {
                    if depth != shape.len() {
                        return Err(bad(what, "ragged array"));
                    }
                    out.push(n.as_f64().ok_or_else(|| bad(what, "non-numeric value"))?);
                    Ok(())
                }
                Value::Array(items) => {
                    if depth == shape.len() {
                        shape.push(items.len());
                    } else if shape[depth] != items.len() {
                        return Err(bad(what, "ragged array"));
                    }
                    for it in items {
                        walk(it, depth + 1, shape, out, what)?;
                    }
                    Ok(())
                }
                _ => Err(bad(what, "expected a number or a list")),
            }
        }
        let (mut shape, mut data) = (Vec::new(), Vec::new());
        walk(v, 0, &mut shape, &mut data, what)?;
        if data.len() != shape.iter().product::<usize>() {
            return Err(bad(what, "ragged array"));
        }
        Ok(NdArray { shape, data })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// As a tensor of rank `D` on `device`, in `dtype` (F32 or F64).
    pub fn to_tensor<const D: usize>(&self, device: &Device, dtype: DType) -> Result<Tensor<D>> {
        if self.shape.len() != D {
            return Err(XaiError::shape(
                "fixture array",
                format!("rank {D}"),
                &self.shape,
            ));
        }
        Ok(tensor_from_f64(
            &self.data,
            self.shape.clone(),
            device,
            dtype,
        ))
    }

    /// The values of a tensor, with its shape.
    pub fn from_tensor<const D: usize>(t: Tensor<D>) -> Result<Self> {
        let shape = t.dims().to_vec();
        Ok(NdArray {
            shape,
            data: crate::tensor_to_vec_f64(t)?,
        })
    }

    /// Nested JSON lists of the values: what [`NdArray::from_json`] reads back.
    pub fn to_json(&self) -> Value {
        fn nest(data: &[f64], shape: &[usize]) -> Value {
            match shape.split_first() {
                None => data.first().map_or(Value::Null, |&v| Value::from(v)),
                Some((&n, rest)) => {
                    let per = rest.iter().product::<usize>().max(1);
                    Value::Array(
                        (0..n)
                            .map(|i| nest(&data[i * per..(i + 1) * per], rest))
                            .collect(),
                    )
                }
            }
        }
        nest(&self.data, &self.shape)
    }

    /// Reshape to `[rows, rest]` (rows = first dimension).
    pub fn as_rows(&self) -> (usize, usize) {
        let rows = self.shape.first().copied().unwrap_or(1);
        (rows, self.data.len() / rows.max(1))
    }
}

/// A tensor from f64 values in the requested float dtype.
pub fn tensor_from_f64<const D: usize>(
    data: &[f64],
    shape: Vec<usize>,
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    let td = match dtype {
        DType::F64 => TensorData::new(data.to_vec(), shape),
        _ => TensorData::new(data.iter().map(|&v| v as f32).collect::<Vec<f32>>(), shape),
    };
    Tensor::from_data(td, (device, dtype))
}

fn bad(what: &str, msg: &str) -> XaiError {
    XaiError::Parse {
        file: what.to_string(),
        message: msg.to_string(),
    }
}

/// One layer of a fixture model, as the JSON describes it.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// `y = x Wᵀ + b`, PyTorch layout `[out][in]`.
    Linear {
        /// `[out, in]`.
        weight: NdArray,
        /// `[out]`.
        bias: NdArray,
    },
    /// 2-D convolution, weight `[out][in][kh][kw]`.
    Conv2d {
        /// `[out, in, kh, kw]`.
        weight: NdArray,
        /// `[out]`.
        bias: NdArray,
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
        /// Zero padding `[ph, pw]`.
        padding: [usize; 2],
    },
    /// Rectified linear unit.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// 2-D max pooling.
    MaxPool2d {
        /// Kernel `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
    },
    /// 2-D average pooling.
    AvgPool2d {
        /// Kernel `[kh, kw]`.
        kernel: [usize; 2],
        /// Stride `[sh, sw]`.
        stride: [usize; 2],
    },
    /// `[N, C, H, W] → [N, C·H·W]`.
    Flatten,
}

impl LayerSpec {
    /// The layer as the fixture format describes it: what [`Fixture::parse`] reads back.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({ "type": self.kind() });
        let fields = match self {
            LayerSpec::Linear { weight, bias } => {
                serde_json::json!({ "weight": weight.to_json(), "bias": bias.to_json() })
            }
            LayerSpec::Conv2d {
                weight,
                bias,
                stride,
                padding,
            } => serde_json::json!({
                "weight": weight.to_json(), "bias": bias.to_json(),
                "stride": stride, "padding": padding,
            }),
            LayerSpec::MaxPool2d { kernel, stride } | LayerSpec::AvgPool2d { kernel, stride } => {
                serde_json::json!({ "kernel": kernel, "stride": stride })
            }
            LayerSpec::Relu | LayerSpec::Tanh | LayerSpec::Sigmoid | LayerSpec::Flatten => {
                serde_json::json!({})
            }
        };
        if let (Value::Object(out), Value::Object(more)) = (&mut v, fields) {
            out.extend(more);
        }
        v
    }

    /// A burn `Linear` (weight `[in, out]`) in the fixture's PyTorch layout `[out, in]`.
    pub fn from_linear(layer: &Linear) -> Result<Self> {
        let weight = NdArray::from_tensor(layer.weight.val().transpose())?;
        let bias = bias_or_zeros(&layer.bias, weight.shape[0])?;
        Ok(LayerSpec::Linear { weight, bias })
    }

    /// A burn `Conv2d` with one group and symmetric zero padding `padding`.
    pub fn from_conv2d(layer: &Conv2d, stride: [usize; 2], padding: [usize; 2]) -> Result<Self> {
        let weight = NdArray::from_tensor(layer.weight.val())?;
        let bias = bias_or_zeros(&layer.bias, weight.shape[0])?;
        Ok(LayerSpec::Conv2d {
            weight,
            bias,
            stride,
            padding,
        })
    }

    /// The layer's type name as in the fixture format.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Conv2d { .. } => "conv2d",
            LayerSpec::Relu => "relu",
            LayerSpec::Tanh => "tanh",
            LayerSpec::Sigmoid => "sigmoid",
            LayerSpec::MaxPool2d { .. } => "maxpool2d",
            LayerSpec::AvgPool2d { .. } => "avgpool2d",
            LayerSpec::Flatten => "flatten",
        }
    }
}

/// One entry of `expected`: the reference values plus the method's settings.
#[derive(Clone, Debug)]
pub struct Expected {
    /// Reference values (same shape as the inputs for attribution methods).
    pub values: NdArray,
    /// Everything else in the entry (`n_steps`, `layer_index`, `window`, …).
    pub settings: serde_json::Map<String, Value>,
}

/// The `second_order` block: Hessian-vector products and an input Hessian.
#[derive(Clone, Debug)]
pub struct SecondOrder {
    /// Inputs of the loss, `[M, F]`.
    pub inputs: NdArray,
    /// Labels of the loss.
    pub labels: Vec<usize>,
    /// Directions, each one tensor per parameter (parameter order: weight then bias per layer).
    pub directions: Vec<Vec<NdArray>>,
    /// `H v` for each direction, same layout.
    pub hvp: Vec<Vec<NdArray>>,
    /// Hessian of the first target logit w.r.t. the first input, `[F, F]`.
    pub input_hessian: Option<NdArray>,
}

/// A layer's bias, or `out` zeros for a layer without one (the format always has a bias).
fn bias_or_zeros(bias: &Option<burn::module::Param<Tensor<1>>>, out: usize) -> Result<NdArray> {
    match bias {
        Some(b) => NdArray::from_tensor(b.val()),
        None => Ok(NdArray {
            shape: vec![out],
            data: vec![0.0; out],
        }),
    }
}

/// A fixture document holding a model, its inputs and one target per input (zero baselines, no
/// references): what [`Fixture::parse`] and the peer scripts read, so a model trained here can
/// be run by PyTorch side by side.
pub fn fixture_json(
    name: &str,
    layers: &[LayerSpec],
    inputs: &NdArray,
    targets: &[usize],
) -> Value {
    let zeros = NdArray {
        shape: inputs.shape.clone(),
        data: vec![0.0; inputs.data.len()],
    };
    serde_json::json!({
        "name": name,
        "generator": concat!("xai ", env!("CARGO_PKG_VERSION")),
        "input_shape": inputs.shape.get(1..).unwrap_or_default(),
        "model": layers.iter().map(LayerSpec::to_json).collect::<Vec<_>>(),
        "inputs": inputs.to_json(),
        "baselines": zeros.to_json(),
        "targets": targets,
        "expected": {},
    })
}

/// A parsed fixture file.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The fixture's name.
    pub name: String,
    /// Shape of one input, without the batch dimension.
    pub input_shape: Vec<usize>,
    /// The layers in order.
    pub layers: Vec<LayerSpec>,
    /// Inputs `[N, ...input_shape]`.
    pub inputs: NdArray,
    /// Baselines, same shape as inputs (when present).
    pub baselines: Option<NdArray>,
    /// One class per input (when present).
    pub targets: Option<Vec<usize>>,
    /// The model's logits on `inputs` (when present).
    pub logits: Option<NdArray>,
    /// Reference values by method key.
    pub expected: BTreeMap<String, Expected>,
    /// Second-order references (when present).
    pub second_order: Option<SecondOrder>,
    /// The whole JSON document, for blocks specific to one fixture (influence).
    pub raw: Value,
}

fn pair(v: Option<&Value>, what: &str) -> Result<[usize; 2]> {
    let a = v
        .and_then(Value::as_array)
        .ok_or_else(|| bad(what, "missing [a, b]"))?;
    if a.len() != 2 {
        return Err(bad(what, "expected two numbers"));
    }
    let g = |i: usize| {
        a[i].as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| bad(what, "not an integer"))
    };
    Ok([g(0)?, g(1)?])
}

fn indices(v: &Value, what: &str) -> Result<Vec<usize>> {
    v.as_array()
        .ok_or_else(|| bad(what, "expected a list of integers"))?
        .iter()
        .map(|x| {
            x.as_u64()
                .map(|u| u as usize)
                .ok_or_else(|| bad(what, "not a non-negative integer"))
        })
        .collect()
}

impl Fixture {
    /// Read and parse a fixture file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse a fixture from JSON text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let raw: Value = serde_json::from_str(text).map_err(|e| bad(origin, &e.to_string()))?;
        let name = raw
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(origin)
            .to_string();
        let input_shape = match raw.get("input_shape") {
            Some(v) => indices(v, "input_shape")?,
            None => Vec::new(),
        };
        let mut layers = Vec::new();
        if let Some(Value::Array(ls)) = raw.get("model") {
            for (i, l) in ls.iter().enumerate() {
                let what = format!("{origin}: model[{i}]");
                let ty = l
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&what, "layer without a type"))?;
                // An architecture-only layer gives `weight_shape` instead of `weight` and
                // `bias` (zeros, to be replaced by weights loaded from a burnpack file).
                let shape_only = match l.get("weight_shape") {
                    Some(v) => Some(indices(v, &what)?),
                    None => None,
                };
                let arr = |k: &str| -> Result<NdArray> {
                    if let Some(ws) = &shape_only
                        && l.get(k).is_none()
                    {
                        let shape = if k == "weight" {
                            ws.clone()
                        } else {
                            vec![ws[0]]
                        };
                        if shape.is_empty() || shape.contains(&0) {
                            return Err(bad(&what, "`weight_shape` needs positive sizes"));
                        }
                        let len = shape.iter().product();
                        return Ok(NdArray {
                            shape,
                            data: vec![0.0; len],
                        });
                    }
                    l.get(k)
                        .ok_or_else(|| bad(&what, &format!("missing `{k}`")))
                        .and_then(|v| NdArray::from_json(v, &what))
                };
                layers.push(match ty {
                    "linear" => LayerSpec::Linear {
                        weight: arr("weight")?,
                        bias: arr("bias")?,
                    },
                    "conv2d" => LayerSpec::Conv2d {
                        weight: arr("weight")?,
                        bias: arr("bias")?,
                        stride: pair(l.get("stride"), &what)?,
                        padding: pair(l.get("padding"), &what)?,
                    },
                    "relu" => LayerSpec::Relu,
                    "tanh" => LayerSpec::Tanh,
                    "sigmoid" => LayerSpec::Sigmoid,
                    "maxpool2d" => LayerSpec::MaxPool2d {
                        kernel: pair(l.get("kernel"), &what)?,
                        stride: pair(l.get("stride"), &what)?,
                    },
                    "avgpool2d" => LayerSpec::AvgPool2d {
                        kernel: pair(l.get("kernel"), &what)?,
                        stride: pair(l.get("stride"), &what)?,
                    },
                    "flatten" => LayerSpec::Flatten,
                    other => return Err(bad(&what, &format!("unknown layer type `{other}`"))),
                });
            }
        }
        let opt_arr = |k: &str| {
            raw.get(k)
                .map(|v| NdArray::from_json(v, &format!("{origin}: {k}")))
                .transpose()
        };
        let inputs = opt_arr("inputs")?.unwrap_or(NdArray {
            shape: vec![0],
            data: vec![],
        });
        let baselines = opt_arr("baselines")?;
        let logits = opt_arr("logits")?;
        let targets = raw
            .get("targets")
            .map(|v| indices(v, "targets"))
            .transpose()?;
        let mut expected = BTreeMap::new();
        if let Some(Value::Object(map)) = raw.get("expected") {
            for (k, v) in map {
                let Some(obj) = v.as_object() else { continue };
                let Some(values) = obj.get("values") else {
                    continue;
                };
                let values = NdArray::from_json(values, &format!("{origin}: expected.{k}"))?;
                let mut settings = obj.clone();
                settings.remove("values");
                expected.insert(k.clone(), Expected { values, settings });
            }
        }
        let second_order = match raw.get("second_order") {
            Some(so) => Some(Self::parse_second_order(so, &layers, origin)?),
            None => None,
        };
        Ok(Fixture {
            name,
            input_shape,
            layers,
            inputs,
            baselines,
            targets,
            logits,
            expected,
            second_order,
            raw,
        })
    }

    fn parse_second_order(so: &Value, layers: &[LayerSpec], origin: &str) -> Result<SecondOrder> {
        let what = format!("{origin}: second_order");
        let arr = |k: &str| {
            so.get(k)
                .ok_or_else(|| bad(&what, &format!("missing `{k}`")))
                .and_then(|v| NdArray::from_json(v, &what))
        };
        let param_shapes: Vec<Vec<usize>> = layers
            .iter()
            .flat_map(|l| match l {
                LayerSpec::Linear { weight, bias } | LayerSpec::Conv2d { weight, bias, .. } => {
                    vec![weight.shape.clone(), bias.shape.clone()]
                }
                _ => vec![],
            })
            .collect();
        // `directions` is either one direction (a list of per-parameter tensors) or a list of them.
        let per_param_list = |v: &Value| -> Result<Vec<Vec<NdArray>>> {
            let items = v.as_array().ok_or_else(|| bad(&what, "expected a list"))?;
            let single: Option<Vec<NdArray>> = (items.len() == param_shapes.len())
                .then(|| {
                    items
                        .iter()
                        .map(|t| NdArray::from_json(t, &what))
                        .collect::<Result<Vec<_>>>()
                        .ok()
                })
                .flatten()
                .filter(|ts| ts.iter().zip(&param_shapes).all(|(t, s)| &t.shape == s));
            match single {
                Some(one) => Ok(vec![one]),
                None => items
                    .iter()
                    .map(|d| {
                        d.as_array()
                            .ok_or_else(|| bad(&what, "expected a list of per-parameter tensors"))?
                            .iter()
                            .map(|t| NdArray::from_json(t, &what))
                            .collect()
                    })
                    .collect(),
            }
        };
        let directions = per_param_list(
            so.get("directions")
                .ok_or_else(|| bad(&what, "missing directions"))?,
        )?;
        let hvp = per_param_list(so.get("hvp").ok_or_else(|| bad(&what, "missing hvp"))?)?;
        if directions.len() != hvp.len() {
            return Err(bad(&what, "directions and hvp differ in count"));
        }
        Ok(SecondOrder {
            inputs: arr("inputs")?,
            labels: indices(
                so.get("labels")
                    .ok_or_else(|| bad(&what, "missing labels"))?,
                &what,
            )?,
            directions,
            hvp,
            input_hessian: so
                .get("input_hessian_of_first_target_logit")
                .map(|v| NdArray::from_json(v, &what))
                .transpose()?,
        })
    }

    /// Number of input features, the product of `input_shape`.
    pub fn features(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The module path of the model's last conv2d layer (`layers.<i>`, as [`FixtureModel`]
    /// names its layers), where Grad-CAM reads; `None` for a model without one.
    pub fn last_conv_layer(&self) -> Option<String> {
        self.layers
            .iter()
            .rposition(|l| matches!(l, LayerSpec::Conv2d { .. }))
            .map(|i| format!("layers.{i}"))
    }

    /// Inputs as a flat batch `[N, F]`.
    pub fn inputs_flat(&self, device: &Device, dtype: DType) -> Tensor<2> {
        let (n, f) = self.inputs.as_rows();
        tensor_from_f64(&self.inputs.data, vec![n, f], device, dtype)
    }

    /// Baselines as a flat batch `[N, F]` (zeros when absent).
    pub fn baselines_flat(&self, device: &Device, dtype: DType) -> Tensor<2> {
        let (n, f) = self.inputs.as_rows();
        match &self.baselines {
            Some(b) => tensor_from_f64(&b.data, vec![n, f], device, dtype),
            None => tensor_from_f64(&vec![0.0; n * f], vec![n, f], device, dtype),
        }
    }

    /// Follow `input_shape` through the layers and check that every layer fits what reaches
    /// it (channels, features, kernel sizes, strides, bias lengths, activation sizes), so a
    /// model that does not fit is one error naming the layer before anything runs.
    pub fn check_shapes(&self) -> Result<()> {
        /// Activations larger than this (elements per input) are refused, not allocated.
        const MAX_ELEMENTS: usize = 1 << 28;
        let err = |i: usize, l: &LayerSpec, msg: String| {
            XaiError::Config(format!("{}: layer {i} ({}): {msg}", self.name, l.kind()))
        };
        if self.input_shape.is_empty() || self.input_shape.contains(&0) {
            return Err(XaiError::Config(format!(
                "{}: input_shape {:?} needs positive sizes",
                self.name, self.input_shape
            )));
        }
        let window = |n: usize, k: usize, s: usize, p: usize| -> Option<usize> {
            let full = n.checked_add(p.checked_mul(2)?)?;
            (k > 0 && s > 0 && full >= k).then(|| (full - k) / s + 1)
        };
        let mut shape = self.input_shape.clone();
        for (i, l) in self.layers.iter().enumerate() {
            shape = match (l, shape.as_slice()) {
                (LayerSpec::Linear { weight, bias }, &[f]) => {
                    let (out, inp) = match weight.shape.as_slice() {
                        &[o, i] => (o, i),
                        s => return Err(err(i, l, format!("weight {s:?} is not [out, in]"))),
                    };
                    if inp != f {
                        return Err(err(i, l, format!("takes {inp} features, gets {f}")));
                    }
                    if bias.data.len() != out {
                        return Err(err(
                            i,
                            l,
                            format!("bias has {} values, needs {out}", bias.data.len()),
                        ));
                    }
                    vec![out]
                }
                (
                    LayerSpec::Conv2d {
                        weight,
                        bias,
                        stride,
                        padding,
                    },
                    &[c, h, w],
                ) => {
                    let [co, ci, kh, kw] = match weight.shape.as_slice() {
                        &[a, b, c, d] => [a, b, c, d],
                        s => {
                            return Err(err(
                                i,
                                l,
                                format!("weight {s:?} is not [out, in, kh, kw]"),
                            ));
                        }
                    };
                    if ci != c {
                        return Err(err(i, l, format!("takes {ci} channels, gets {c}")));
                    }
                    if bias.data.len() != co {
                        return Err(err(
                            i,
                            l,
                            format!("bias has {} values, needs {co}", bias.data.len()),
                        ));
                    }
                    match (
                        window(h, kh, stride[0], padding[0]),
                        window(w, kw, stride[1], padding[1]),
                    ) {
                        (Some(oh), Some(ow)) => vec![co, oh, ow],
                        _ => {
                            return Err(err(
                                i,
                                l,
                                format!(
                                    "kernel {kh}×{kw}, stride {stride:?}, padding {padding:?} do not fit a {h}×{w} input"
                                ),
                            ));
                        }
                    }
                }
                (
                    LayerSpec::MaxPool2d { kernel, stride }
                    | LayerSpec::AvgPool2d { kernel, stride },
                    &[c, h, w],
                ) => match (
                    window(h, kernel[0], stride[0], 0),
                    window(w, kernel[1], stride[1], 0),
                ) {
                    (Some(oh), Some(ow)) => vec![c, oh, ow],
                    _ => {
                        return Err(err(
                            i,
                            l,
                            format!(
                                "kernel {kernel:?}, stride {stride:?} do not fit a {h}×{w} input"
                            ),
                        ));
                    }
                },
                (LayerSpec::Flatten, &[c, h, w]) => vec![c * h * w],
                (LayerSpec::Relu | LayerSpec::Tanh | LayerSpec::Sigmoid, s) => s.to_vec(),
                (_, s) => {
                    return Err(err(
                        i,
                        l,
                        format!("cannot take an activation of shape {s:?}"),
                    ));
                }
            };
            if shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .is_none_or(|n| n > MAX_ELEMENTS)
            {
                return Err(err(i, l, format!("its output {shape:?} is too large")));
            }
        }
        Ok(())
    }

    /// Whether the file gives only the architecture: a layer with `weight_shape` and no
    /// `weight` (its parameters are zeros until weights are loaded).
    pub fn architecture_only(&self) -> bool {
        self.raw
            .get("model")
            .and_then(Value::as_array)
            .is_some_and(|ls| {
                ls.iter()
                    .any(|l| l.get("weight_shape").is_some() && l.get("weight").is_none())
            })
    }

    /// Build the model on `device` with parameters in `dtype`.
    pub fn model(&self, device: &Device, dtype: DType) -> Result<FixtureModel> {
        self.check_shapes()?;
        let mut layers = Vec::with_capacity(self.layers.len());
        for spec in &self.layers {
            layers.push(match spec {
                LayerSpec::Linear { weight, bias } => {
                    let [out, inp] = dims2(&weight.shape, "linear weight")?;
                    let mut l = LinearConfig::new(inp, out).init(device);
                    // PyTorch stores [out, in]; burn stores [in, out].
                    let w: Tensor<2> = tensor_from_f64(&weight.data, vec![out, inp], device, dtype);
                    l.weight = Param::from_tensor(w.transpose());
                    l.bias = Some(Param::from_tensor(tensor_from_f64(
                        &bias.data,
                        vec![out],
                        device,
                        dtype,
                    )));
                    FixtureLayer::Linear(l)
                }
                LayerSpec::Conv2d {
                    weight,
                    bias,
                    stride,
                    padding,
                } => {
                    if weight.shape.len() != 4 {
                        return Err(XaiError::shape(
                            "conv2d weight",
                            "[out, in, kh, kw]",
                            &weight.shape,
                        ));
                    }
                    let s = &weight.shape;
                    let mut c = Conv2dConfig::new([s[1], s[0]], [s[2], s[3]])
                        .with_stride(*stride)
                        .with_padding(PaddingConfig2d::Explicit(
                            padding[0], padding[1], padding[0], padding[1],
                        ))
                        .init(device);
                    c.weight =
                        Param::from_tensor(tensor_from_f64(&weight.data, s.clone(), device, dtype));
                    c.bias = Some(Param::from_tensor(tensor_from_f64(
                        &bias.data,
                        vec![s[0]],
                        device,
                        dtype,
                    )));
                    FixtureLayer::Conv2d(c)
                }
                LayerSpec::Relu => FixtureLayer::Relu(Relu::new()),
                LayerSpec::Tanh => FixtureLayer::Tanh(Tanh::new()),
                LayerSpec::Sigmoid => FixtureLayer::Sigmoid(Sigmoid::new()),
                LayerSpec::MaxPool2d { kernel, stride } => FixtureLayer::MaxPool2d(
                    MaxPool2dConfig::new(*kernel).with_strides(*stride).init(),
                ),
                LayerSpec::AvgPool2d { kernel, stride } => FixtureLayer::AvgPool2d(
                    AvgPool2dConfig::new(*kernel).with_strides(*stride).init(),
                ),
                LayerSpec::Flatten => FixtureLayer::Flatten(Flatten),
            });
        }
        Ok(FixtureModel {
            layers,
            input_shape: self.input_shape.clone(),
        })
    }
}

fn dims2(shape: &[usize], what: &str) -> Result<[usize; 2]> {
    match shape {
        [a, b] => Ok([*a, *b]),
        _ => Err(XaiError::shape(what, "[out, in]", shape)),
    }
}

/// `[N, C, H, W] → [N, C·H·W]` as a module, so a fixture model is a plain list of layers.
#[derive(Module, Debug, Default)]
pub struct Flatten;

/// One burn-nn layer of a fixture model.
#[derive(Module, Debug)]
#[allow(missing_docs)]
pub enum FixtureLayer {
    Linear(Linear),
    Conv2d(Conv2d),
    Relu(Relu),
    Tanh(Tanh),
    Sigmoid(Sigmoid),
    MaxPool2d(MaxPool2d),
    AvgPool2d(AvgPool2d),
    Flatten(Flatten),
}

/// A fixture's model: burn-nn layers applied in order.
#[derive(Module, Debug)]
pub struct FixtureModel {
    /// The layers in order.
    pub layers: Vec<FixtureLayer>,
    /// Shape of one input (used to unflatten image inputs).
    #[module(skip)]
    pub input_shape: Vec<usize>,
}

/// An activation of either rank the fixture layers produce.
enum Act {
    Flat(Tensor<2>),
    Image(Tensor<4>),
}

impl FixtureModel {
    /// Logits `[N, C]` for a flat batch `[N, F]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_until(x, self.layers.len()).0
    }

    /// Run the first `upto` layers; returns the activation flattened to `[N, ·]` and, for an image
    /// activation, its `[C, H, W]`.
    pub fn forward_until(&self, x: Tensor<2>, upto: usize) -> (Tensor<2>, Option<[usize; 3]>) {
        let n = x.dims()[0];
        let mut act = if self.input_shape.len() == 3 {
            let s = &self.input_shape;
            Act::Image(x.reshape([n, s[0], s[1], s[2]]))
        } else {
            Act::Flat(x)
        };
        for layer in &self.layers[..upto] {
            act = match (layer, act) {
                (FixtureLayer::Linear(l), Act::Flat(t)) => Act::Flat(l.forward(t)),
                (FixtureLayer::Conv2d(c), Act::Image(t)) => Act::Image(c.forward(t)),
                (FixtureLayer::Relu(r), Act::Flat(t)) => Act::Flat(r.forward(t)),
                (FixtureLayer::Relu(r), Act::Image(t)) => Act::Image(r.forward(t)),
                (FixtureLayer::Tanh(r), Act::Flat(t)) => Act::Flat(r.forward(t)),
                (FixtureLayer::Tanh(r), Act::Image(t)) => Act::Image(r.forward(t)),
                (FixtureLayer::Sigmoid(r), Act::Flat(t)) => Act::Flat(r.forward(t)),
                (FixtureLayer::Sigmoid(r), Act::Image(t)) => Act::Image(r.forward(t)),
                (FixtureLayer::MaxPool2d(p), Act::Image(t)) => Act::Image(p.forward(t)),
                (FixtureLayer::AvgPool2d(p), Act::Image(t)) => Act::Image(p.forward(t)),
                (FixtureLayer::Flatten(_), Act::Image(t)) => Act::Flat(t.flatten(1, 3)),
                (FixtureLayer::Flatten(_), flat @ Act::Flat(_)) => flat,
                // A fixture that applies an image layer to a flat tensor is malformed; validated
                // by `FixtureModel::validate` before any forward runs.
                (_, Act::Flat(t)) => Act::Flat(t),
                (_, Act::Image(t)) => Act::Flat(t.flatten(1, 3)),
            };
        }
        match act {
            Act::Flat(t) => (t, None),
            Act::Image(t) => {
                let [n, c, h, w] = t.dims();
                (t.reshape([n, c * h * w]), Some([c, h, w]))
            }
        }
    }

    /// Check that every layer meets an activation of the rank it needs.
    pub fn validate(&self) -> Result<()> {
        let mut image = self.input_shape.len() == 3;
        for (i, l) in self.layers.iter().enumerate() {
            let needs_image = matches!(
                l,
                FixtureLayer::Conv2d(_) | FixtureLayer::MaxPool2d(_) | FixtureLayer::AvgPool2d(_)
            );
            let needs_flat = matches!(l, FixtureLayer::Linear(_));
            if (needs_image && !image) || (needs_flat && image) {
                return Err(XaiError::Config(format!(
                    "fixture layer {i} cannot take a {} activation",
                    if image { "4-D" } else { "2-D" }
                )));
            }
            if matches!(l, FixtureLayer::Flatten(_)) {
                image = false;
            }
        }
        Ok(())
    }

    /// The model's parameters in fixture order (weight then bias per layer), PyTorch layout.
    pub fn parameters_torch_layout(&self) -> Vec<Tensor<4>> {
        let mut out = Vec::new();
        for l in &self.layers {
            match l {
                FixtureLayer::Linear(lin) => {
                    let w = lin.weight.val().transpose();
                    let [a, b] = w.dims();
                    out.push(w.reshape([a, b, 1, 1]));
                    if let Some(bias) = &lin.bias {
                        let [c] = bias.val().dims();
                        out.push(bias.val().reshape([c, 1, 1, 1]));
                    }
                }
                FixtureLayer::Conv2d(c) => {
                    out.push(c.weight.val());
                    if let Some(bias) = &c.bias {
                        let [k] = bias.val().dims();
                        out.push(bias.val().reshape([k, 1, 1, 1]));
                    }
                }
                _ => {}
            }
        }
        out
    }
}
