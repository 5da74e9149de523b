//! Loading: parse, check every node, turn float initializers into parameters.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use burn::backend::DispatchTensor;
use burn::module::{Devices, Module, ModuleMapper, ModuleVisitor};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use onnx_ir::{ArgType, Argument, Node, NodeType, OnnxGraphBuilder};

use xai_core::{Result, XaiError};

use crate::eval::{self, Value};
use crate::weights::Weights;

/// The ONNX operators [`OnnxModel`] runs (operator names as in the ONNX specification; `Gemm`
/// and `MatMul`+`Add` arrive as onnx-ir's fused `Linear`, `Conv` as `Conv1d`/`Conv2d`).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "PRelu",
    "Range",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "Selu",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Softplus",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
];

/// One graph input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Its name in the graph (`input_ids`, `image`).
    pub name: String,
    /// Element type: float inputs are attributable, integer ones (token ids, masks) pass through.
    pub dtype: DType,
    /// Dimensions after the batch; `None` where the file leaves a dimension symbolic.
    pub shape: Vec<Option<usize>>,
}

impl InputSpec {
    /// Whether the input holds floats.
    pub fn is_float(&self) -> bool {
        self.dtype.is_float()
    }

    /// Number of values per example (1 for a dimension the file leaves symbolic is not
    /// assumed: such inputs report 0).
    pub fn features(&self) -> usize {
        if self.shape.iter().any(Option::is_none) {
            return 0;
        }
        self.shape.iter().map(|d| d.unwrap_or(0)).product()
    }

    /// The concrete per-example shape, or an error naming the symbolic dimension.
    pub fn concrete_shape(&self) -> Result<Vec<usize>> {
        self.shape
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.ok_or_else(|| {
                    XaiError::Config(format!(
                        "input `{}`: dimension {} is symbolic in the ONNX file; give inputs of a \
                         fixed shape",
                        self.name,
                        i + 1
                    ))
                })
            })
            .collect()
    }
}

/// The parsed, checked graph: nodes in topological order and where every constant lives.
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) nodes: Vec<Node>,
    /// Constant values that are not parameters (shapes, axes, small scalars, integer tables).
    pub(crate) constants: HashMap<String, TensorData>,
    /// Argument name → parameter index.
    pub(crate) param_of: HashMap<String, usize>,
    /// Parameters stored transposed (`[in, out]`, burn's `Linear` layout) because every node that
    /// reads them is a `Gemm` with `transB = 1`.
    pub(crate) pre_transposed: HashSet<usize>,
    pub(crate) inputs: Vec<InputSpec>,
    pub(crate) outputs: Vec<String>,
    pub(crate) dtype: DType,
}

/// An ONNX model as a burn module: the graph interpreted at run time over burn parameters.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    pub(crate) program: Arc<Program>,
    /// The float initializers.
    pub weights: Weights,
}

fn onnx_error(path: &str, e: onnx_ir::Error) -> XaiError {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    XaiError::Parse {
        file: path.to_string(),
        message: format!("not an ONNX model xai can read: {line}"),
    }
}

/// A checking error of a loaded file, with the file named.
fn in_file(path: &str, e: XaiError) -> XaiError {
    match e {
        XaiError::Config(m) => XaiError::Config(format!("{path}: {m}")),
        other => other,
    }
}

/// The ONNX operator name of a node (`Conv2d` reports as `Conv`, `Linear` as `Gemm`).
fn onnx_name(t: &NodeType) -> String {
    let s = t.to_string();
    match s.as_str() {
        "Conv1d" | "Conv2d" | "Conv3d" => "Conv".into(),
        "Linear" => "Gemm".into(),
        "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => "ConvTranspose".into(),
        "MaxPool1d" | "MaxPool2d" | "MaxPool3d" => "MaxPool".into(),
        "AveragePool1d" | "AveragePool2d" | "AveragePool3d" => "AveragePool".into(),
        _ => s,
    }
}

/// Why a node cannot run, or `None` when it can.
fn unsupported_reason(node: &Node) -> Option<String> {
    match node {
        Node::Add(_)
        | Node::Sub(_)
        | Node::Mul(_)
        | Node::Div(_)
        | Node::Neg(_)
        | Node::Abs(_)
        | Node::Pow(_)
        | Node::Reciprocal(_)
        | Node::Sqrt(_)
        | Node::Exp(_)
        | Node::Log(_)
        | Node::Erf(_)
        | Node::Tanh(_)
        | Node::Relu(_)
        | Node::Sigmoid(_)
        | Node::Softmax(_)
        | Node::LogSoftmax(_)
        | Node::LeakyRelu(_)
        | Node::HardSigmoid(_)
        | Node::HardSwish(_)
        | Node::Elu(_)
        | Node::Selu(_)
        | Node::Gelu(_)
        | Node::Softplus(_)
        | Node::Clip(_)
        | Node::Cast(_)
        | Node::Concat(_)
        | Node::Flatten(_)
        | Node::Gather(_)
        | Node::Reshape(_)
        | Node::Shape(_)
        | Node::Squeeze(_)
        | Node::Unsqueeze(_)
        | Node::Transpose(_)
        | Node::Expand(_)
        | Node::Where(_)
        | Node::MatMul(_)
        | Node::Linear(_)
        | Node::Gemm(_)
        | Node::Slice(_)
        | Node::Split(_)
        | Node::Tile(_)
        | Node::PRelu(_)
        | Node::ConstantOfShape(_)
        | Node::Range(_)
        | Node::BatchNormalization(_)
        | Node::GlobalAveragePool(_)
        | Node::Dropout(_)
        | Node::Identity(_)
        | Node::Constant(_)
        | Node::ReduceMean(_)
        | Node::ReduceSum(_)
        | Node::ReduceMax(_) => None,
        Node::ConvTranspose2d(n) => match n.config.output_shape {
            Some(_) => Some("an explicit output_shape (export with pads)".into()),
            None => same_padding(&n.config.auto_pad),
        },
        Node::Resize(n) => crate::eval::resize_mode(&n.config).err(),
        Node::Pad(n) => {
            use onnx_ir::node::pad::{ConstantValueInput, PadInput, PadMode};
            if n.config.mode != PadMode::Constant {
                Some("reflect and edge padding".into())
            } else if !matches!(n.config.pads, PadInput::Static(_))
                || !matches!(n.config.constant_value, ConstantValueInput::Static(_))
            {
                Some("pads computed at run time".into())
            } else {
                None
            }
        }
        Node::LayerNormalization(n) => {
            let rank = n.inputs[0].ty.rank() as i64;
            let axis = n.config.axis;
            (axis != -1 && axis != rank - 1)
                .then(|| format!("normalisation over axis {axis} (only the last axis is)"))
        }
        Node::Conv2d(n) => same_padding(&n.config.auto_pad),
        Node::Conv1d(n) => same_padding(&n.config.auto_pad),
        Node::MaxPool2d(n) => same_padding(&n.config.auto_pad).or_else(|| {
            n.config
                .padding
                .is_asymmetric()
                .then(|| "asymmetric padding".to_string())
        }),
        Node::AveragePool2d(n) => same_padding(&n.config.auto_pad).or_else(|| {
            n.config
                .padding
                .is_asymmetric()
                .then(|| "asymmetric padding".to_string())
        }),
        _ => Some(String::new()),
    }
}

/// `auto_pad` SAME is not run (its padding depends on the input size); explicit pads are.
fn same_padding(auto_pad: &onnx_ir::node::padding::AutoPad) -> Option<String> {
    use onnx_ir::node::padding::AutoPad;
    match auto_pad {
        AutoPad::NotSet | AutoPad::Valid => None,
        _ => Some("auto_pad SAME (export with explicit pads)".into()),
    }
}

fn is_constant(arg: &Argument) -> bool {
    arg.is_static() || arg.is_constant()
}

/// Where a value lives in the forward's environment: onnx-ir clears the names of constants it
/// embeds (`Static`), so those are keyed by their data id.
pub(crate) fn value_key(arg: &Argument) -> String {
    match arg.value_source {
        onnx_ir::ValueSource::Static(id) => format!("\u{0}static{id}"),
        _ => arg.name.clone(),
    }
}

/// What the file itself says, read before onnx-ir rewrites it: operators outside
/// [`SUPPORTED_OPS`] with the exporter's node names, and the initializers' names with their
/// shapes and little-endian bytes (onnx-ir renames nodes and drops initializer names; the
/// names are recovered by matching values).
struct FileFacts {
    unsupported: Vec<String>,
    initializers: Vec<(String, Vec<usize>, Vec<u8>)>,
}

/// The bytes of an initializer kept in an external-data file beside the model (`None` when the
/// file or range is missing: onnx-ir then reports it while loading).
fn external_bytes(t: &onnx_ir::TensorProto, dir: &Path) -> Option<Vec<u8>> {
    let get = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.clone())
    };
    let data = std::fs::read(dir.join(get("location")?)).ok()?;
    let offset: usize = get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let length: usize = match get("length").and_then(|v| v.parse().ok()) {
        Some(l) => l,
        None => data.len().checked_sub(offset)?,
    };
    data.get(offset..offset.checked_add(length)?)
        .map(<[u8]>::to_vec)
}

fn file_facts(bytes: &[u8], dir: Option<&Path>) -> Option<FileFacts> {
    use onnx_ir::Message;
    let model = onnx_ir::ModelProto::parse_from_bytes(bytes).ok()?;
    let graph = model.graph.as_ref()?;
    let mut unsupported = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        let standard = n.domain.is_empty() || n.domain == "ai.onnx";
        if !standard || !SUPPORTED_OPS.contains(&n.op_type.as_str()) {
            let name = if n.name.is_empty() {
                format!("#{i}")
            } else {
                n.name.clone()
            };
            let op = if standard {
                n.op_type.clone()
            } else {
                format!("{}::{}", n.domain, n.op_type)
            };
            unsupported.push(format!("{op} (node {name})"));
        }
    }
    let initializers = graph
        .initializer
        .iter()
        .map(|t| {
            let shape = t.dims.iter().map(|&d| d.max(0) as usize).collect();
            let bytes = if !t.raw_data.is_empty() {
                t.raw_data.to_vec()
            } else if !t.external_data.is_empty() {
                dir.and_then(|d| external_bytes(t, d)).unwrap_or_default()
            } else if !t.float_data.is_empty() {
                t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect()
            };
            (t.name.clone(), shape, bytes)
        })
        .collect();
    Some(FileFacts {
        unsupported,
        initializers,
    })
}

impl OnnxModel {
    /// Parse and check `path`; float initializers become parameters on `device` in `dtype`.
    pub fn load(path: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if !path.is_file() {
            return Err(XaiError::Config(format!("{shown}: no such file")));
        }
        let bytes = std::fs::read(path).map_err(XaiError::io(path))?;
        let facts = file_facts(&bytes, path.parent());
        if let Some(f) = &facts
            && !f.unsupported.is_empty()
        {
            return Err(XaiError::Config(format!(
                "{shown}: unsupported ONNX ops: {}",
                f.unsupported.join(", ")
            )));
        }
        // onnx-ir panics on some malformed files; a panic is a bad file, not a crash.
        let parsed = std::panic::catch_unwind(|| OnnxGraphBuilder::new().parse_file(path))
            .map_err(|_| XaiError::Parse {
                file: shown.clone(),
                message: "not a valid ONNX model".into(),
            })?
            .map_err(|e| onnx_error(&shown, e))?;
        Self::from_graph(parsed, facts, device, dtype).map_err(|e| in_file(&shown, e))
    }

    /// Parse and check an ONNX model held in memory.
    pub fn from_bytes(bytes: &[u8], device: &Device, dtype: DType) -> Result<Self> {
        let facts = file_facts(bytes, None);
        if let Some(f) = &facts
            && !f.unsupported.is_empty()
        {
            return Err(XaiError::Config(format!(
                "unsupported ONNX ops: {}",
                f.unsupported.join(", ")
            )));
        }
        let parsed = std::panic::catch_unwind(|| OnnxGraphBuilder::new().parse_bytes(bytes))
            .map_err(|_| XaiError::Parse {
                file: "<bytes>".into(),
                message: "not a valid ONNX model".into(),
            })?
            .map_err(|e| onnx_error("<bytes>", e))?;
        Self::from_graph(parsed, facts, device, dtype)
    }

    fn from_graph(
        graph: onnx_ir::OnnxGraph,
        facts: Option<FileFacts>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        if !dtype.is_float() {
            return Err(XaiError::Config(format!("{dtype:?} is not a float type")));
        }
        let mut problems = Vec::new();
        for node in &graph.nodes {
            if let Some(why) = unsupported_reason(node) {
                let op = onnx_name(&node.node_type());
                problems.push(if why.is_empty() {
                    format!("{op} (node {})", node.name())
                } else {
                    format!("{op} (node {}: {why})", node.name())
                });
            }
        }
        if !problems.is_empty() {
            return Err(XaiError::Config(format!(
                "unsupported ONNX ops: {}",
                problems.join(", ")
            )));
        }
        // Gemm weights read only by `transB = 1` linears are stored in burn's `[in, out]`
        // layout, so the captured graph is the one a burn `Linear` records.
        let mut transposed_uses: HashMap<String, (usize, usize)> = HashMap::new();
        for node in &graph.nodes {
            for (i, arg) in node.inputs().iter().enumerate() {
                if is_constant(arg) {
                    let e = transposed_uses.entry(value_key(arg)).or_default();
                    e.1 += 1;
                    if let Node::Linear(l) = node
                        && i == 1
                        && l.config.transpose_weight
                    {
                        e.0 += 1;
                    }
                }
            }
        }
        let mut weights = Weights::new();
        let mut constants = HashMap::new();
        let mut param_of = HashMap::new();
        let mut pre_transposed = HashSet::new();
        let mut unnamed = facts.map(|f| f.initializers).unwrap_or_default();
        // Constants are classified where they are read (a `Constant` node's output is read by
        // name through the value store).
        for node in &graph.nodes {
            if matches!(node, Node::Constant(_)) {
                continue;
            }
            for arg in node.inputs() {
                let key = value_key(arg);
                if !is_constant(arg) || param_of.contains_key(&key) || constants.contains_key(&key)
                {
                    continue;
                }
                let Some(data) = arg.value() else {
                    return Err(XaiError::Config(format!(
                        "node {}: the constant `{}` has no value (a missing external-data \
                         file?)",
                        node.name(),
                        if arg.name.is_empty() {
                            "<embedded>"
                        } else {
                            &arg.name
                        }
                    )));
                };
                // Float tensors with more than one value are weights; scalars, shapes, axes
                // and integer tables stay constants.
                if data.dtype().is_float() && data.num_elements() > 1 && !data.shape().is_empty() {
                    // The exporter's name: the first initializer not yet claimed with the same
                    // shape and bytes.
                    let found = unnamed.iter().position(|(_, shape, bytes)| {
                        shape.as_slice() == data.shape().as_slice()
                            && bytes.as_slice() == data.as_bytes()
                    });
                    let name = match found {
                        Some(k) => unnamed.remove(k).0,
                        None if !arg.name.is_empty() => arg.name.clone(),
                        None => format!("initializer{}", weights.names().len()),
                    };
                    let uses = transposed_uses.get(&key).copied();
                    let data = if uses.is_some_and(|(t, all)| t == all && t > 0)
                        && data.shape().len() == 2
                    {
                        transpose(&data)?
                    } else {
                        data
                    };
                    let idx = weights.push(&name, data, device, dtype)?;
                    if uses.is_some_and(|(t, all)| t == all && t > 0) {
                        pre_transposed.insert(idx);
                    }
                    param_of.insert(key, idx);
                } else {
                    constants.insert(key, data);
                }
            }
        }
        // Exporters name the transposed copy of a MatMul weight after the value (`val_13`); when
        // the fused layer's bias says which module it is (`blocks.0.q.bias`), the weight takes
        // that module's name too, so the layer's ops are named `blocks.0.q.<op>`.
        for node in &graph.nodes {
            if let Node::Linear(l) = node
                && let (Some(w), Some(b)) = (l.inputs.get(1), l.inputs.get(2))
                && let (Some(&wi), Some(&bi)) =
                    (param_of.get(&value_key(w)), param_of.get(&value_key(b)))
                && !weights.names[wi].contains('.')
                && let Some(module) = weights.names[bi].strip_suffix(".bias")
            {
                let name = format!("{module}.weight");
                if !weights.names.contains(&name) {
                    weights.names[wi] = name;
                }
            }
        }
        let inputs = graph
            .inputs
            .iter()
            .filter(|a| !is_constant(a))
            .map(|a| {
                let (dtype, shape) = match &a.ty {
                    ArgType::Tensor(t) => (
                        t.dtype,
                        t.static_shape
                            .clone()
                            .map(|s| s.into_iter().skip(1).collect())
                            .unwrap_or_else(|| vec![None; t.rank.saturating_sub(1)]),
                    ),
                    other => (other.elem_type(), Vec::new()),
                };
                InputSpec {
                    name: a.name.clone(),
                    dtype,
                    shape,
                }
            })
            .collect::<Vec<_>>();
        if inputs.is_empty() {
            return Err(XaiError::Config("the ONNX graph has no inputs".into()));
        }
        let outputs = graph.outputs.iter().map(|a| a.name.clone()).collect();
        Ok(OnnxModel {
            program: Arc::new(Program {
                nodes: graph.nodes,
                constants,
                param_of,
                pre_transposed,
                inputs,
                outputs,
                dtype,
            }),
            weights,
        })
    }

    /// The graph inputs, in graph order.
    pub fn inputs(&self) -> &[InputSpec] {
        &self.program.inputs
    }

    /// The graph output names, in graph order.
    pub fn outputs(&self) -> &[String] {
        &self.program.outputs
    }

    /// Node names and ONNX operator names, in execution order.
    pub fn nodes(&self) -> Vec<(String, String)> {
        self.program
            .nodes
            .iter()
            .map(|n| (n.name().to_string(), onnx_name(&n.node_type())))
            .collect()
    }

    /// The integer input that indexes an embedding table (a `Gather` on an initializer), with
    /// the table's number of rows (the vocabulary size), if the model has one.
    pub fn token_input(&self) -> Option<(usize, usize)> {
        self.program.nodes.iter().find_map(|n| {
            let Node::Gather(g) = n else { return None };
            let (table, ids) = (g.inputs.first()?, g.inputs.get(1)?);
            let &p = self.program.param_of.get(&value_key(table))?;
            let input = self
                .program
                .inputs
                .iter()
                .position(|i| i.name == ids.name)?;
            let rows = self.weights.params[p].value();
            Some((input, crate::eval::shape_of(&rows)[0]))
        })
    }

    /// The weight initializers of the convolutions, in execution order (`c3.weight`): their
    /// module path (`c3`) names the layer for Grad-CAM and the layer methods.
    pub fn conv_weights(&self) -> Vec<String> {
        self.program
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Conv1d(_) | Node::Conv2d(_)))
            .filter_map(|n| n.inputs().get(1))
            .filter_map(|a| self.program.param_of.get(&value_key(a)))
            .map(|&i| self.weights.names()[i].clone())
            .collect()
    }

    /// The float precision of the parameters and of float inputs.
    pub fn dtype(&self) -> DType {
        self.program.dtype
    }

    /// The one float input of a single-input model (the form `forward_flat` serves).
    pub fn float_input(&self) -> Result<&InputSpec> {
        match self.program.inputs.as_slice() {
            [one] if one.is_float() => Ok(one),
            [one] => Err(XaiError::Config(format!(
                "input `{}` holds {:?}, not floats",
                one.name, one.dtype
            ))),
            many => Err(XaiError::Config(format!(
                "the model has {} inputs ({}); name the one to attribute",
                many.len(),
                many.iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Run the graph on named inputs (batch first); returns every graph output.
    pub fn try_forward(&self, inputs: Vec<(String, Value)>) -> Result<Vec<Value>> {
        eval::run(self, inputs)
    }

    /// Single float input given flat (`[N, features]`) → first output as `[N, C]`.
    pub fn try_forward_flat(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let spec = self.float_input()?;
        let shape = spec.concrete_shape()?;
        let [n, f] = x.dims();
        if f != shape.iter().product::<usize>() {
            return Err(XaiError::shape(
                format!("input `{}`", spec.name),
                format!(
                    "[N, {}] (flattened {shape:?})",
                    shape.iter().product::<usize>()
                ),
                &[n, f],
            ));
        }
        let mut full = vec![n];
        full.extend(&shape);
        let x = eval::reshape_float(x.into_dispatch(), &full);
        let out = eval::run(self, vec![(spec.name.clone(), Value::F(x))])?;
        first_as_matrix(out)
    }

    /// `try_forward_flat` for the explainers, which capture a plain function: the input shape is
    /// checked by the caller (a mismatch panics inside the capture, which reports it as an error).
    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        match self.try_forward_flat(x) {
            Ok(y) => y,
            Err(e) => panic!("{e}"),
        }
    }

    /// Models whose inputs are all integers (token ids, attention masks), packed along dimension
    /// 1 in graph order: `packed[:, k]` is input `k`, each `[N, T]`. The packing lets the token
    /// explainers, which take one integer tensor, drive a model with several integer inputs.
    pub fn try_forward_packed_ids(&self, packed: Tensor<3, Int>) -> Result<Tensor<2>> {
        let [n, k, t] = packed.dims();
        if k != self.program.inputs.len() {
            return Err(XaiError::shape(
                "packed integer inputs",
                format!("[N, {}, T]", self.program.inputs.len()),
                &[n, k, t],
            ));
        }
        let mut named = Vec::new();
        for (i, spec) in self.program.inputs.iter().enumerate() {
            if spec.is_float() {
                return Err(XaiError::Config(format!(
                    "input `{}` holds floats; packed inputs must all be integers",
                    spec.name
                )));
            }
            let one = packed.clone().narrow(1, i, 1).reshape([n, t]);
            named.push((spec.name.clone(), Value::I(one.into_dispatch())));
        }
        first_as_matrix(eval::run(self, named)?)
    }

    /// `try_forward_packed_ids` for the token explainers (see [`OnnxModel::forward_flat`]).
    pub fn forward_packed_ids(&self, packed: Tensor<3, Int>) -> Tensor<2> {
        match self.try_forward_packed_ids(packed) {
            Ok(y) => y,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Several integer inputs (each `[N, T]` row-major, in graph order) packed as the `[N, K, T]`
/// id tensor [`OnnxModel::try_forward_packed_ids`] takes.
pub fn pack_ids(inputs: &[&[f64]], n: usize, t: usize, device: &Device) -> Result<Tensor<3, Int>> {
    let k = inputs.len();
    if let Some(bad) = inputs.iter().find(|v| v.len() != n * t) {
        return Err(XaiError::shape(
            "packed integer input",
            format!("[{n}, {t}]"),
            &[bad.len()],
        ));
    }
    let mut v = vec![0i64; n * k * t];
    for (j, src) in inputs.iter().enumerate() {
        for r in 0..n {
            for c in 0..t {
                v[(r * k + j) * t + c] = src[r * t + c] as i64;
            }
        }
    }
    Ok(Tensor::from_data(TensorData::new(v, [n, k, t]), device))
}

/// The first output, flattened after the batch dimension.
fn first_as_matrix(out: Vec<Value>) -> Result<Tensor<2>> {
    let Some(Value::F(y)) = out.into_iter().next() else {
        return Err(XaiError::Config(
            "the model's first output is not a float tensor".into(),
        ));
    };
    let shape = eval::shape_of(&y);
    let n = shape.first().copied().unwrap_or(1);
    let c = shape.iter().skip(1).product::<usize>();
    let y: DispatchTensor = eval::reshape_float(y, &[n, c]);
    Ok(Tensor::from_dispatch(y))
}

/// `[a, b]` → `[b, a]` on the host.
fn transpose(data: &TensorData) -> Result<TensorData> {
    let (a, b) = (data.shape()[0], data.shape()[1]);
    let values = data
        .clone()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .map_err(|e| XaiError::Config(format!("initializer values: {e:?}")))?;
    let mut t = vec![0.0; a * b];
    for i in 0..a {
        for j in 0..b {
            t[j * a + i] = values[i * b + j];
        }
    }
    Ok(TensorData::new(t, [b, a]).convert_dtype(data.dtype()))
}

impl Module for OnnxModel {
    fn collect_devices(&self, devices: Devices) -> Devices {
        self.weights.collect_devices(devices)
    }
    fn fork(self, device: &Device) -> Self {
        OnnxModel {
            program: self.program,
            weights: self.weights.fork(device),
        }
    }
    fn to_device(self, device: &Device) -> Self {
        OnnxModel {
            program: self.program,
            weights: self.weights.to_device(device),
        }
    }
    fn train(self) -> Self {
        OnnxModel {
            program: self.program,
            weights: self.weights.train(),
        }
    }
    fn valid(&self) -> Self {
        OnnxModel {
            program: self.program.clone(),
            weights: self.weights.valid(),
        }
    }
    fn materialize(self) -> Self {
        OnnxModel {
            program: self.program,
            weights: self.weights.materialize(),
        }
    }
    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.weights.visit(visitor)
    }
    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        OnnxModel {
            program: self.program,
            weights: self.weights.map(mapper),
        }
    }
}
