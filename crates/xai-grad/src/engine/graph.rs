//! Capture: record a model's forward pass as burn IR, once, with its weights and stable names.

use std::collections::{HashMap, HashSet};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_capture::{CaptureBackend, TensorId};
use burn_ir::{OperationIr, TensorIr};

use xai_core::{Result, XaiError};

use super::ops::{OpClass, op_info};

/// A parameter of the captured model: a recorded constant that a module owns.
#[derive(Clone, Debug)]
pub struct ParamInfo {
    /// Module path, e.g. `fc1.weight`.
    pub path: String,
    /// Shape (burn layout: a Linear weight is `[in, out]`).
    pub shape: Vec<usize>,
    pub(crate) id: TensorId,
}

/// One recorded operation and its stable name.
#[derive(Clone, Debug)]
pub struct Node {
    /// Stable name: `<module path>.<op>` when the op reads a parameter (`conv1.conv2d`), else
    /// `<op>#<index>` (`relu#3`).
    pub name: String,
    /// The IR operation's kind, e.g. `linear`, `relu`, `reshape` ([`super::ops`]).
    pub kind: &'static str,
    /// What the rule engine does with it.
    pub class: OpClass,
    /// Each output row depends on the same input row only.
    pub row_wise: bool,
    /// The module that owns the op (it reads that module's parameters), if any.
    pub module: Option<String>,
    pub(crate) op: OperationIr,
}

/// The first line of a panic's message.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    text.lines().next().unwrap_or_default().trim().to_string()
}

impl Node {
    /// The node's (first) output tensor; an op without outputs is an error naming the node.
    pub(crate) fn output(&self) -> Result<TensorIr> {
        self.op
            .outputs()
            .next()
            .cloned()
            .ok_or_else(|| XaiError::UnknownNode(self.name.clone()))
    }

    /// The recorded shape of the node's (first) output, as captured (batch included); empty
    /// for an op without outputs.
    pub fn output_shape(&self) -> Vec<usize> {
        self.op
            .outputs()
            .next()
            .map(|t| t.shape.to_vec())
            .unwrap_or_default()
    }
}

/// A model's forward pass captured once as burn IR, to be replayed and transformed.
#[derive(Clone, Debug)]
pub struct CapturedGraph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) constants: HashMap<TensorId, TensorData>,
    pub(crate) params: Vec<ParamInfo>,
    pub(crate) inputs: Vec<TensorIr>,
    pub(crate) outputs: Vec<TensorIr>,
    /// When set, every ReLU is replayed as `softplus(β·x)/β` (see
    /// [`with_relu_softplus`](Self::with_relu_softplus)).
    pub(crate) relu_softplus: Option<f64>,
}

fn capture_id<const D: usize>(t: &Tensor<D>) -> Result<TensorId> {
    t.clone()
        .try_into_primitive::<CaptureBackend>()
        .map(|p| p.id())
        .map_err(|e| XaiError::Capture(format!("tensor is not on the capture device: {e:?}")))
}

fn capture_id_int<const D: usize>(t: &Tensor<D, Int>) -> Result<TensorId> {
    t.clone()
        .try_into_primitive::<CaptureBackend>()
        .map(|p| p.id())
        .map_err(|e| XaiError::Capture(format!("tensor is not on the capture device: {e:?}")))
}

struct ParamCollector {
    stack: Vec<String>,
    found: Vec<(String, TensorId, Vec<usize>)>,
}

impl ModuleVisitor for ParamCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if let Ok(id) = capture_id(&t) {
            self.found
                .push((self.stack.join("."), id, t.dims().to_vec()));
        }
    }
}

impl CapturedGraph {
    /// Capture `forward(model, x)` for float inputs shaped like `example` (the batch size of the
    /// example is not baked in for the shape-agnostic ops, but reshapes record concrete shapes, so
    /// replay with the same shape; [`CapturedGraph::input_shape`] tells it).
    pub fn capture<M, const DI: usize, const DO: usize>(
        model: &M,
        example: Tensor<DI>,
        forward: impl FnOnce(&M, Tensor<DI>) -> Tensor<DO>,
    ) -> Result<Self>
    where
        M: Module + Clone,
    {
        Self::capture_inner(model, |m, cap| {
            let x = example.to_device(cap);
            let xid = capture_id(&x)?;
            let y = forward(m, x);
            Ok((vec![xid], vec![capture_id(&y)?]))
        })
    }

    /// Capture a model whose input is integer token ids (it starts with an `Embedding`).
    pub fn capture_tokens<M, const DI: usize, const DO: usize>(
        model: &M,
        example: Tensor<DI, Int>,
        forward: impl FnOnce(&M, Tensor<DI, Int>) -> Tensor<DO>,
    ) -> Result<Self>
    where
        M: Module + Clone,
    {
        Self::capture_inner(model, |m, cap| {
            let x = example.to_device(cap);
            let xid = capture_id_int(&x)?;
            let y = forward(m, x);
            Ok((vec![xid], vec![capture_id(&y)?]))
        })
    }

    fn capture_inner<M: Module + Clone>(
        model: &M,
        body: impl FnOnce(&M, &Device) -> Result<(Vec<TensorId>, Vec<TensorId>)>,
    ) -> Result<Self> {
        // Lazily initialised parameters share their cell between clones: materialise them on
        // their own device first, so moving the clone to the capture device cannot move the
        // caller's model there too (no explainer leaves the user's model modified).
        //
        // burn-nn's running statistics (BatchNorm) live in a cell shared by every clone, and
        // moving a clone moves them: snapshot every float value now and write them back after
        // the capture, so the caller's model is exactly as it was.
        struct Snapshot(Vec<burn::tensor::TensorData>);
        impl ModuleVisitor for Snapshot {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push(param.val().into_data());
            }
        }
        struct Restore(std::vec::IntoIter<burn::tensor::TensorData>, Device);
        impl ModuleMapper for Restore {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                match self.0.next() {
                    Some(data) => {
                        param.map(|_| Tensor::from_data(data.clone(), (&self.1, data.dtype())))
                    }
                    None => param,
                }
            }
        }
        let mut snap = Snapshot(Vec::new());
        model.visit(&mut snap);
        let home = model
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(Device::flex);
        // A forward that panics (a burn shape assertion on a wrong input, say) becomes an error,
        // and the model is restored either way.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::capture_on_scope(model, body)
        }))
        .unwrap_or_else(|payload| {
            Err(XaiError::Capture(format!(
                "the model's forward failed on this input: {}",
                panic_message(payload.as_ref())
            )))
        });
        let _ = model.clone().map(&mut Restore(snap.0.into_iter(), home));
        result
    }

    fn capture_on_scope<M: Module + Clone>(
        model: &M,
        body: impl FnOnce(&M, &Device) -> Result<(Vec<TensorId>, Vec<TensorId>)>,
    ) -> Result<Self> {
        let cap = Device::capture();
        let mut inner_err = None;
        let mut collected = Vec::new();
        let captured = cap
            .capture_scope(|scope| {
                let m = model.clone().to_device(&cap);
                let mut pc = ParamCollector {
                    stack: Vec::new(),
                    found: Vec::new(),
                };
                m.visit(&mut pc);
                collected = pc.found;
                match body(&m, &cap) {
                    Ok((i, o)) => scope.complete(i, o),
                    Err(e) => {
                        inner_err = Some(e);
                        scope.complete([], [])
                    }
                }
            })
            .map_err(|e| XaiError::Capture(format!("{e:?}")));
        if let Some(e) = inner_err {
            return Err(e);
        }
        let captured = captured?;
        Self::from_ir(captured.graph, captured.values, collected)
    }

    fn from_ir(
        graph: burn_ir::GraphIr,
        values: std::collections::BTreeMap<TensorId, TensorData>,
        collected: Vec<(String, TensorId, Vec<usize>)>,
    ) -> Result<Self> {
        let mut tensor_irs: HashMap<TensorId, TensorIr> = HashMap::new();
        for op in &graph.operations {
            for t in op.nodes() {
                tensor_irs.entry(t.id).or_insert_with(|| t.clone());
            }
        }
        let find = |id: &TensorId| -> Result<TensorIr> {
            tensor_irs.get(id).cloned().ok_or_else(|| {
                XaiError::Capture(format!(
                    "boundary tensor {id:?} is not used by any operation"
                ))
            })
        };
        let inputs = graph.inputs.iter().map(find).collect::<Result<Vec<_>>>()?;
        let outputs = graph.outputs.iter().map(find).collect::<Result<Vec<_>>>()?;
        let param_ids: HashMap<TensorId, String> = collected
            .iter()
            .map(|(p, id, _)| (*id, p.clone()))
            .collect();
        let mut params = Vec::new();
        let mut seen = HashSet::new();
        for (path, id, shape) in collected {
            // Buffers (burn-nn's `running_mean` / `running_var`) are constants, not parameters.
            let buffer = path
                .rsplit('.')
                .next()
                .is_some_and(|leaf| leaf.starts_with("running_"));
            if !buffer && values.contains_key(&id) && seen.insert(id) {
                params.push(ParamInfo { path, shape, id });
            }
        }
        // A tensor computed only from one module's parameters (a reshaped bias) belongs to that
        // module too, so the op that consumes it (the bias add) is named after the module.
        let mut owner_of: HashMap<TensorId, String> = param_ids
            .iter()
            .map(|(id, p)| {
                (
                    *id,
                    p.rsplit_once('.')
                        .map(|(m, _)| m.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let runtime: HashSet<TensorId> = graph.inputs.iter().copied().collect();
        let mut data_dependent: HashSet<TensorId> = runtime.clone();
        let mut nodes = Vec::new();
        for op in graph.operations {
            if matches!(op, OperationIr::Init(_) | OperationIr::Drop(_)) {
                continue;
            }
            let info = op_info(&op);
            let kind = info.name;
            let owner = op.inputs().find_map(|t| owner_of.get(&t.id).cloned());
            let depends_on_data = op.inputs().any(|t| data_dependent.contains(&t.id));
            for out in op.outputs() {
                if depends_on_data {
                    data_dependent.insert(out.id);
                } else if let Some(o) = &owner {
                    owner_of.insert(out.id, o.clone());
                }
            }
            let index = nodes.len();
            let module = owner.filter(|m| !m.is_empty());
            let name = match &module {
                Some(m) => format!("{m}.{kind}"),
                None => format!("{kind}#{index}"),
            };
            nodes.push(Node {
                name,
                kind,
                class: info.class,
                row_wise: info.row_wise,
                module,
                op,
            });
        }
        // Names must be unique; a module used twice gets `#k` suffixes after its first use.
        let mut count: HashMap<String, usize> = HashMap::new();
        for n in &mut nodes {
            let c = count.entry(n.name.clone()).or_insert(0);
            if *c > 0 {
                n.name = format!("{}#{}", n.name, c);
            }
            *c += 1;
        }
        Ok(CapturedGraph {
            nodes,
            constants: values.into_iter().collect(),
            params,
            inputs,
            outputs,
            relu_softplus: None,
        })
    }

    /// A copy of this graph whose ReLUs are replayed as the smooth surrogate
    /// `softplus_β(x) = ln(1 + e^{βx}) / β` (tangent `σ(βx)`), which tends to ReLU as `β → ∞`.
    /// Piecewise-linear networks have a zero input Hessian almost everywhere; the surrogate gives
    /// the second derivatives that attacks on explanations (Dombrowski et al. 2019) and
    /// curvature analyses need. `β` must be positive and finite.
    pub fn with_relu_softplus(&self, beta: f64) -> xai_core::Result<CapturedGraph> {
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(xai_core::XaiError::Config(format!(
                "the softplus surrogate needs a positive finite beta, got {beta}"
            )));
        }
        let mut g = self.clone();
        g.relu_softplus = Some(beta);
        Ok(g)
    }

    /// The chain of nodes from the (single) graph input that is affine in it and contains a
    /// weighted layer: reshapes, then a convolution, a `linear` op or a matmul by a constant,
    /// then additions of constants (biases). Every value inside the chain has exactly one
    /// reader. Returns the node indices in order (the last one's output is an affine function of
    /// the input), or `None` when the input does not start with such a layer.
    ///
    /// Integrated gradients uses it: on the straight path `x' + α(x − x')` the output of the
    /// prefix moves on a straight line too, so the prefix runs twice instead of once per step.
    pub fn affine_prefix(&self) -> Option<Vec<usize>> {
        use burn_ir::{BaseOperationIr, FloatOperationIr, ModuleOperationIr, NumericOperationIr};
        if self.inputs.len() != 1 || !self.inputs[0].dtype.is_float() {
            return None;
        }
        let mut readers: HashMap<TensorId, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for t in n.op.inputs() {
                readers.entry(t.id).or_default().push(i);
            }
        }
        let outputs: std::collections::HashSet<TensorId> =
            self.outputs.iter().map(|t| t.id).collect();
        let dd = self.data_dependent();
        let mut cur = self.inputs[0].id;
        let mut chain = Vec::new();
        let mut weighted = false;
        loop {
            let only = match readers.get(&cur).map(Vec::as_slice) {
                Some([one]) if !outputs.contains(&cur) => *one,
                _ => break,
            };
            let constant = |t: &burn_ir::TensorIr| !dd.contains(&t.id);
            let (ok, weights) = match &self.nodes[only].op {
                OperationIr::BaseFloat(BaseOperationIr::Reshape(r)) => (r.input.id == cur, false),
                OperationIr::Module(ModuleOperationIr::Conv2d(c)) => (
                    c.x.id == cur && constant(&c.weight) && c.bias.as_ref().is_none_or(constant),
                    true,
                ),
                OperationIr::Module(ModuleOperationIr::Conv1d(c)) => (
                    c.x.id == cur && constant(&c.weight) && c.bias.as_ref().is_none_or(constant),
                    true,
                ),
                OperationIr::Module(ModuleOperationIr::Linear(l)) => (
                    l.x.id == cur && constant(&l.weight) && l.bias.as_ref().is_none_or(constant),
                    true,
                ),
                OperationIr::Float(_, FloatOperationIr::Matmul(m)) => {
                    (m.lhs.id == cur && constant(&m.rhs), true)
                }
                OperationIr::NumericFloat(_, NumericOperationIr::Add(a)) => (
                    weighted
                        && ((a.lhs.id == cur && constant(&a.rhs))
                            || (a.rhs.id == cur && constant(&a.lhs))),
                    false,
                ),
                _ => (false, false),
            };
            if !ok {
                break;
            }
            weighted |= weights;
            chain.push(only);
            match self.nodes[only].op.outputs().next() {
                Some(t) => cur = t.id,
                None => break,
            }
        }
        // End at the last node of the chain that is not a bare reshape after the layer.
        while let Some(&last) = chain.last() {
            let is_reshape = matches!(
                self.nodes[last].op,
                OperationIr::BaseFloat(BaseOperationIr::Reshape(_))
            );
            if is_reshape && weighted {
                chain.pop();
            } else {
                break;
            }
        }
        let has_layer = chain.iter().any(|&i| {
            matches!(
                self.nodes[i].op,
                OperationIr::Module(_) | OperationIr::Float(_, FloatOperationIr::Matmul(_))
            )
        });
        (has_layer && weighted).then_some(chain)
    }

    /// The recorded nodes in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The model parameters found in the graph, in module order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// Shape of the `i`-th graph input.
    pub fn input_shape(&self, i: usize) -> Option<Vec<usize>> {
        self.inputs.get(i).map(|t| t.shape.to_vec())
    }

    /// Shape of the `i`-th graph output.
    pub fn output_shape(&self, i: usize) -> Option<Vec<usize>> {
        self.outputs.get(i).map(|t| t.shape.to_vec())
    }

    /// Index of the node with this name, or its index given as `#k` / a plain number.
    pub fn node_index(&self, name: &str) -> Result<usize> {
        if let Some(i) = self.nodes.iter().position(|n| n.name == name) {
            return Ok(i);
        }
        name.trim_start_matches('#')
            .parse::<usize>()
            .ok()
            .filter(|&i| i < self.nodes.len())
            .ok_or_else(|| XaiError::UnknownNode(name.to_string()))
    }

    /// The last node owned by module `path` or a submodule of it (e.g. `features.conv2` →
    /// `features.conv2.conv2d`): the module's output, where taps for Grad-CAM and layer methods
    /// go.
    pub fn module_output(&self, path: &str) -> Result<String> {
        let prefix = format!("{path}.");
        self.nodes
            .iter()
            .rev()
            .find(|n| {
                n.module
                    .as_deref()
                    .is_some_and(|m| m == path || m.starts_with(&prefix))
            })
            .map(|n| n.name.clone())
            .ok_or_else(|| XaiError::UnknownNode(path.to_string()))
    }

    /// A node given by its name (or `#index`), else by a module path ([`module_output`](Self::module_output)
    /// (Self::module_output)): how every layer method addresses its layer.
    pub fn resolve_node(&self, name_or_module: &str) -> Result<String> {
        match self.node_index(name_or_module) {
            Ok(i) => Ok(self.nodes[i].name.clone()),
            Err(_) => self.module_output(name_or_module),
        }
    }

    /// A readable listing: one line per node with its name and output shape.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let shape = n.output_shape();
            s.push_str(&format!("{i:>3}  {:<28} {:?}\n", n.name, shape));
        }
        s
    }
}
