//! The per-op (per-layer) rule hook: a reverse pass over the captured graph in which any unit's
//! backward can be replaced.
//!
//! Guided backprop, deconvnet, LRP and DeepLIFT are all "the gradient, except that some layers
//! pass something else backward". Burn has no backward hooks, so the engine runs that reverse
//! pass itself, one **unit** at a time, from the graph output to the input:
//!
//! * a unit is either the run of consecutive nodes owned by one module (a `Linear` is
//!   `matmul → reshape(bias) → add`; a `Conv2d` is one `conv2d` node) or a single unowned node
//!   (`relu#4`, `max_pool2d#5`, a residual `add#9`);
//! * a unit's default backward is its exact vector-Jacobian product: the unit is re-evaluated on
//!   leaves that hold its recorded inputs, on the autodiff device, and burn's reverse mode pulls
//!   the cotangent back ([`UnitCtx::pullback`]);
//! * a [`RuleSet`] may give any unit a [`BackwardRule`] instead. Rules see the unit's recorded
//!   inputs and output (and, for DeepLIFT, those of a reference pass), its parameters, the
//!   incoming cotangent, and can re-evaluate the unit with modified inputs and parameters
//!   (Zennit's `BasicHook` anatomy: input modifiers, parameter modifiers, gradient mapper,
//!   reducer).
//!
//! Invariant: with no rules the reverse pass equals the ordinary gradient (tested against burn's
//! autodiff on every test architecture). An op the interpreter cannot evaluate is an
//! [`XaiError::UnsupportedOp`] naming the node, never a silent zero.
//!
//! Cost: one forward pass, plus one small forward and backward per unit (two forwards when a
//! reference pass is needed): about 2–3× one gradient.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use burn::backend::ops::FloatTensorOps;
use burn::backend::{Dispatch, TensorMetadata};
use burn::tensor::Device;
use burn_capture::TensorId;
use burn_ir::{ModuleOperationIr, NumericOperationIr, OperationIr, TensorIr};

use xai_core::{Result, XaiError};

use super::host::{HostRules, ReluRule};
use super::interp::{Interp, RunSpec, T, Val};
use super::ops::OpClass;
use super::{CapturedGraph, DynTensor, Precision};

/// What a unit computes, for rule maps ("ε on dense layers, z⁺ on convolutions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// An affine map with a weight matrix (`Linear`, or a matmul by a parameter).
    Dense,
    /// A convolution (1d/2d/3d, transposed included).
    Conv,
    /// BatchNorm / LayerNorm.
    Norm,
    /// An embedding lookup (its input is integer ids: nothing flows back through it).
    Embedding,
    /// An elementwise nonlinearity (`relu`, `tanh`, `sigmoid`, `gelu`, …).
    Activation,
    /// A sum of two data tensors (a residual connection).
    Add,
    /// Max pooling.
    MaxPool,
    /// Average pooling (fixed or adaptive).
    AvgPool,
    /// Reshapes, permutations, slices, concatenation: data moves, values do not change.
    Shape,
    /// Anything else (scalar arithmetic, reductions, softmax, …).
    Other,
}

/// One unit of the reverse pass.
#[derive(Clone, Debug)]
pub struct Unit {
    /// The module path for a module's unit (`features.conv1`), else the node's name (`relu#4`).
    pub name: String,
    /// The owning module, if any.
    pub module: Option<String>,
    /// What it computes.
    pub kind: UnitKind,
    /// The op kind of each node, in order.
    pub ops: Vec<&'static str>,
    /// Position among the units that hold a weight (dense or conv), counted from the input:
    /// 0 is the first layer (where LRP's bounded-input rule goes).
    pub weighted_index: Option<usize>,
    pub(crate) nodes: Vec<usize>,
    pub(crate) data_inputs: Vec<TensorIr>,
    pub(crate) outputs: Vec<TensorIr>,
    pub(crate) params: Vec<usize>,
    /// Tensors the unit reads that are produced outside it and are not data inputs.
    pub(crate) constants: Vec<TensorId>,
}

/// A replacement backward for one unit.
pub trait BackwardRule: Send + Sync {
    /// A short name for reports (`epsilon(1e-6)`, `guided`).
    fn name(&self) -> String;
    /// The cotangents of the unit's data inputs, given the cotangent of its output.
    fn backward(&self, ctx: &UnitCtx<'_>, grad_out: &DynTensor) -> Result<Vec<DynTensor>>;
    /// The same rule as the host kernels run it at a ReLU, when it has a host version.
    fn host_relu(&self) -> Option<ReluRule> {
        None
    }
}

/// Chooses a rule per unit; `None` keeps the exact gradient.
pub trait RuleSet {
    /// The rule for `unit`, or `None` for its ordinary vector-Jacobian product.
    fn rule_for(&self, unit: &Unit) -> Option<Arc<dyn BackwardRule>>;
    /// The same pass as the host kernels run it, when it has a host version: the evaluator
    /// then answers on the host kernels wherever they cover the graph.
    fn host_rules(&self) -> Option<HostRules> {
        None
    }
    /// Whether the pass runs on the graph with every BatchNorm folded into the layer before it
    /// (Zennit's `MergeBatchNorm` canonizer).
    fn folds_batch_norm(&self) -> bool {
        false
    }
}

/// No rules: the reverse pass is the plain gradient.
pub struct NoRules;

impl RuleSet for NoRules {
    fn rule_for(&self, _unit: &Unit) -> Option<Arc<dyn BackwardRule>> {
        None
    }
    fn host_rules(&self) -> Option<HostRules> {
        Some(HostRules::Relu(ReluRule::Gradient))
    }
}

/// A parameter read by a unit.
#[derive(Clone, Debug)]
pub struct UnitParam {
    /// Last path segment: `weight`, `bias`, `gamma`, …
    pub name: String,
    /// Full module path, e.g. `fc1.weight`.
    pub path: String,
    /// Its value on the run device.
    pub value: DynTensor,
}

/// One re-evaluation of a unit: its data inputs and, optionally, replaced parameters (same order
/// as [`UnitCtx::params`]).
#[derive(Clone, Debug)]
pub struct Branch {
    /// Data inputs, in the unit's order.
    pub inputs: Vec<DynTensor>,
    /// Parameter values; `None` keeps the recorded ones.
    pub params: Option<Vec<DynTensor>>,
}

/// What a [`BackwardRule`] sees of its unit.
pub struct UnitCtx<'a> {
    g: &'a CapturedGraph,
    unit: &'a Unit,
    values: &'a HashMap<TensorId, Val>,
    reference: Option<&'a HashMap<TensorId, Val>>,
    device: &'a Device,
    precision: Precision,
}

fn float_of(values: &HashMap<TensorId, Val>, id: &TensorId) -> Result<DynTensor> {
    match values.get(id) {
        Some(Val::F(t)) => Ok(DynTensor(t.clone())),
        _ => Err(XaiError::Capture(format!(
            "no recorded float value for tensor {id:?}"
        ))),
    }
}

impl<'a> UnitCtx<'a> {
    /// The unit being transformed.
    pub fn unit(&self) -> &Unit {
        self.unit
    }

    /// Recorded data inputs (forward values).
    pub fn inputs(&self) -> Result<Vec<DynTensor>> {
        self.unit
            .data_inputs
            .iter()
            .map(|t| float_of(self.values, &t.id))
            .collect()
    }

    /// Recorded output (the unit's first output).
    pub fn output(&self) -> Result<DynTensor> {
        let o = self.first_output()?;
        float_of(self.values, &o.id)
    }

    /// Data inputs on the reference pass (DeepLIFT's baseline), if one was run.
    pub fn reference_inputs(&self) -> Result<Option<Vec<DynTensor>>> {
        self.reference
            .map(|r| {
                self.unit
                    .data_inputs
                    .iter()
                    .map(|t| float_of(r, &t.id))
                    .collect()
            })
            .transpose()
    }

    /// Output on the reference pass, if one was run.
    pub fn reference_output(&self) -> Result<Option<DynTensor>> {
        let o = self.first_output()?;
        self.reference.map(|r| float_of(r, &o.id)).transpose()
    }

    fn first_output(&self) -> Result<&TensorIr> {
        self.unit
            .outputs
            .first()
            .ok_or_else(|| XaiError::Capture(format!("unit `{}` has no output", self.unit.name)))
    }

    /// The ε of the unit's layer normalisation, if its first node is one.
    pub fn layer_norm_epsilon(&self) -> Option<f64> {
        let node = self.g.nodes.get(*self.unit.nodes.first()?)?;
        match &node.op {
            OperationIr::Module(ModuleOperationIr::LayerNorm(d)) => {
                Some(super::interp::scalar_f64(&d.epsilon))
            }
            _ => None,
        }
    }

    /// The parameters the unit reads, in graph order.
    pub fn params(&self) -> Result<Vec<UnitParam>> {
        self.unit
            .params
            .iter()
            .map(|&pi| {
                let info = &self.g.params[pi];
                Ok(UnitParam {
                    name: info.path.rsplit('.').next().unwrap_or("").to_string(),
                    path: info.path.clone(),
                    value: float_of(self.values, &info.id)?,
                })
            })
            .collect()
    }

    /// Re-evaluate the unit for each branch, let `cotangents` see the branch outputs and return
    /// one output cotangent per branch (treated as constants), and pull them back: returns, per
    /// branch, the cotangent of each data input. One backward pass serves all branches.
    pub fn pullback(
        &self,
        branches: &[Branch],
        cotangents: impl FnOnce(&[DynTensor]) -> Result<Vec<DynTensor>>,
    ) -> Result<Vec<Vec<DynTensor>>> {
        let mut leaves = Vec::with_capacity(branches.len());
        let mut outs = Vec::with_capacity(branches.len());
        for b in branches {
            let xs: Vec<T> = b
                .inputs
                .iter()
                .map(|x| {
                    // Values computed from integer inputs (an attention mask cast to floats)
                    // were recorded off the autodiff device: lift every leaf onto it.
                    let x = x.detach().on_device(self.device);
                    Dispatch::float_set_require_grad(x.0, true)
                })
                .collect();
            let y = self.eval_unit(&xs, b.params.as_deref())?;
            leaves.push(xs);
            outs.push(DynTensor(y));
        }
        let detached: Vec<DynTensor> = outs.iter().map(DynTensor::detach).collect();
        let cots = cotangents(&detached)?;
        if cots.len() != outs.len() {
            return Err(XaiError::Config(format!(
                "rule for `{}` gave {} cotangents for {} branches",
                self.unit.name,
                cots.len(),
                outs.len()
            )));
        }
        let mut loss: Option<T> = None;
        for (y, c) in outs.iter().zip(&cots) {
            let term = Dispatch::float_sum(Dispatch::float_mul(y.0.clone(), c.detach().0));
            loss = Some(match loss {
                Some(l) => Dispatch::float_add(l, term),
                None => term,
            });
        }
        let loss = loss.ok_or_else(|| XaiError::Config("pullback needs a branch".into()))?;
        let grads = burn::tensor::Tensor::<1>::from_dispatch(loss).backward();
        Ok(leaves
            .iter()
            .map(|xs| {
                xs.iter()
                    .map(|x| {
                        let leaf = DynTensor(x.clone());
                        leaf.grad(&grads)
                            .map(|g| DynTensor(g.0))
                            .unwrap_or_else(|| leaf.zeros_like())
                    })
                    .collect()
            })
            .collect())
    }

    /// The unit's exact vector-Jacobian product at its recorded inputs.
    pub fn vjp(&self, grad_out: &DynTensor) -> Result<Vec<DynTensor>> {
        let g = grad_out.clone();
        let mut r = self.pullback(
            &[Branch {
                inputs: self.inputs()?,
                params: None,
            }],
            |_| Ok(vec![g]),
        )?;
        Ok(r.remove(0))
    }

    /// The vector-Jacobian product at other inputs (e.g. the reference inputs).
    pub fn vjp_at(&self, inputs: &[DynTensor], grad_out: &DynTensor) -> Result<Vec<DynTensor>> {
        let g = grad_out.clone();
        let mut r = self.pullback(
            &[Branch {
                inputs: inputs.to_vec(),
                params: None,
            }],
            |_| Ok(vec![g]),
        )?;
        Ok(r.remove(0))
    }

    fn eval_unit(&self, inputs: &[T], params: Option<&[DynTensor]>) -> Result<T> {
        let u = self.unit;
        if inputs.len() != u.data_inputs.len() {
            return Err(XaiError::Config(format!(
                "unit `{}` takes {} data inputs, got {}",
                u.name,
                u.data_inputs.len(),
                inputs.len()
            )));
        }
        let mut it = Interp::new(self.g, self.device, self.precision.dtype());
        for id in &u.constants {
            if let Some(v) = self.values.get(id) {
                it.seed(*id, v.clone());
            }
        }
        if let Some(ps) = params {
            if ps.len() != u.params.len() {
                return Err(XaiError::Config(format!(
                    "unit `{}` has {} parameters, got {}",
                    u.name,
                    u.params.len(),
                    ps.len()
                )));
            }
            for (&pi, p) in u.params.iter().zip(ps) {
                it.seed(self.g.params[pi].id, Val::F(p.0.clone()));
            }
        }
        for (t, x) in u.data_inputs.iter().zip(inputs) {
            it.seed(t.id, Val::F(x.clone()));
        }
        for &i in &u.nodes {
            it.exec(i)?;
        }
        let o = self.first_output()?;
        match it.value(&o.id) {
            Some(Val::F(t)) => Ok(t.clone()),
            _ => Err(XaiError::Capture(format!(
                "unit `{}` did not produce a float output",
                u.name
            ))),
        }
    }
}

impl CapturedGraph {
    /// Tensors computed from `sources` (the sources included), not counting what flows through
    /// the nodes `cut` selects.
    pub(crate) fn descendants(
        &self,
        sources: &[TensorId],
        cut: impl Fn(&super::graph::Node) -> bool,
    ) -> HashSet<TensorId> {
        let mut dd: HashSet<TensorId> = sources.iter().copied().collect();
        for n in &self.nodes {
            if !cut(n) && n.op.inputs().any(|t| dd.contains(&t.id)) {
                for o in n.op.outputs() {
                    dd.insert(o.id);
                }
            }
        }
        dd
    }

    /// Float tensors that depend on a graph input.
    pub(crate) fn data_dependent(&self) -> HashSet<TensorId> {
        let inputs: Vec<TensorId> = self.inputs.iter().map(|t| t.id).collect();
        self.descendants(&inputs, |_| false)
    }

    /// The units of the reverse pass, in execution order.
    pub fn units(&self) -> Vec<Unit> {
        let dd = self.data_dependent();
        let param_index: HashMap<TensorId, usize> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        // Group: consecutive nodes of one module; a module's second application starts a new
        // group once it reads a parameter it has already read (fc(fc(x)) is two layers).
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut seen_params: HashSet<TensorId> = HashSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let reads: Vec<TensorId> =
                n.op.inputs()
                    .filter(|t| param_index.contains_key(&t.id))
                    .map(|t| t.id)
                    .collect();
            let same_module = match (groups.last(), &n.module) {
                (Some(g), Some(m)) => self.nodes[g[0]].module.as_ref() == Some(m),
                _ => false,
            };
            let repeats = reads.iter().any(|id| seen_params.contains(id));
            if same_module && !repeats {
                if let Some(g) = groups.last_mut() {
                    g.push(i);
                }
            } else {
                seen_params.clear();
                groups.push(vec![i]);
            }
            seen_params.extend(reads);
        }
        // Consumers outside each group decide its outputs.
        let mut consumers: HashMap<TensorId, Vec<usize>> = HashMap::new();
        for (gi, g) in groups.iter().enumerate() {
            for &i in g {
                for t in self.nodes[i].op.inputs() {
                    consumers.entry(t.id).or_default().push(gi);
                }
            }
        }
        let graph_outputs: HashSet<TensorId> = self.outputs.iter().map(|t| t.id).collect();
        let mut units = Vec::with_capacity(groups.len());
        let mut weighted = 0usize;
        for (gi, g) in groups.into_iter().enumerate() {
            let produced: HashSet<TensorId> = g
                .iter()
                .flat_map(|&i| self.nodes[i].op.outputs().map(|t| t.id).collect::<Vec<_>>())
                .collect();
            let mut data_inputs: Vec<TensorIr> = Vec::new();
            let mut constants = Vec::new();
            let mut params = Vec::new();
            for &i in &g {
                for t in self.nodes[i].op.inputs() {
                    if produced.contains(&t.id) {
                        continue;
                    }
                    if dd.contains(&t.id) && t.dtype.is_float() {
                        if !data_inputs.iter().any(|d| d.id == t.id) {
                            data_inputs.push(t.clone());
                        }
                    } else {
                        if let Some(&pi) = param_index.get(&t.id)
                            && !params.contains(&pi)
                        {
                            params.push(pi);
                        }
                        constants.push(t.id);
                    }
                }
            }
            let mut outputs = Vec::new();
            for &i in &g {
                for t in self.nodes[i].op.outputs() {
                    let used_outside = consumers
                        .get(&t.id)
                        .is_some_and(|c| c.iter().any(|&o| o != gi));
                    if (used_outside || graph_outputs.contains(&t.id))
                        && t.dtype.is_float()
                        && dd.contains(&t.id)
                    {
                        outputs.push(t.clone());
                    }
                }
            }
            let ops: Vec<&'static str> = g.iter().map(|&i| self.nodes[i].kind).collect();
            let kind = classify(self, &g, data_inputs.len(), &param_index);
            let weighted_index = if matches!(kind, UnitKind::Dense | UnitKind::Conv) {
                weighted += 1;
                Some(weighted - 1)
            } else {
                None
            };
            let module = self.nodes[g[0]].module.clone();
            units.push(Unit {
                name: module
                    .clone()
                    .unwrap_or_else(|| self.nodes[g[0]].name.clone()),
                module,
                kind,
                ops,
                weighted_index,
                nodes: g,
                data_inputs,
                outputs,
                params,
                constants,
            });
        }
        units
    }

    /// The reverse pass with rules: the cotangent of every graph input (zeros where none
    /// arrives), for the cotangent `grad_output` of the first graph output.
    ///
    /// `reference` runs a second forward pass on reference inputs (same shapes) whose values
    /// rules can read (DeepLIFT). Both passes run on `device`'s autodiff twin.
    pub fn backward_with_rules(
        &self,
        inputs: &[DynTensor],
        reference: Option<&[DynTensor]>,
        grad_output: &DynTensor,
        rules: &dyn RuleSet,
        device: &Device,
        precision: Precision,
    ) -> Result<Vec<DynTensor>> {
        let (cot, ad) =
            self.reverse_with_rules(inputs, reference, grad_output, rules, device, precision)?;
        Ok(self
            .inputs
            .iter()
            .zip(inputs)
            .map(|(ir, x)| match cot.get(&ir.id) {
                Some(g) => DynTensor(g.clone()),
                None => x.on_device(&ad).zeros_like(),
            })
            .map(|g| g.on_device(&device.clone().inner()))
            .collect())
    }

    /// The reverse pass with rules, read at the outputs of the named nodes instead of the graph
    /// inputs (zeros where no cotangent arrives): attributions at an intermediate layer, such as
    /// a token-embedding lookup whose integer input carries no gradient.
    pub fn backward_with_rules_at(
        &self,
        inputs: &[DynTensor],
        grad_output: &DynTensor,
        rules: &dyn RuleSet,
        device: &Device,
        precision: Precision,
        nodes: &[&str],
    ) -> Result<Vec<DynTensor>> {
        let outs = nodes
            .iter()
            .map(|n| self.node_index(n).and_then(|i| self.nodes[i].output()))
            .collect::<Result<Vec<_>>>()?;
        let (cot, ad) =
            self.reverse_with_rules(inputs, None, grad_output, rules, device, precision)?;
        let dtype = precision.dtype();
        Ok(outs
            .iter()
            .map(|o| match cot.get(&o.id) {
                Some(g) => DynTensor(g.clone()),
                None => DynTensor(Dispatch::float_zeros(
                    o.shape.clone(),
                    ad.as_dispatch(),
                    dtype,
                )),
            })
            .map(|g| g.on_device(&device.clone().inner()))
            .collect())
    }

    /// Every cotangent the reverse pass computes, by tensor, and the autodiff device it ran on.
    fn reverse_with_rules(
        &self,
        inputs: &[DynTensor],
        reference: Option<&[DynTensor]>,
        grad_output: &DynTensor,
        rules: &dyn RuleSet,
        device: &Device,
        precision: Precision,
    ) -> Result<(HashMap<TensorId, T>, Device)> {
        let out_ir = self
            .outputs
            .first()
            .ok_or_else(|| XaiError::Capture("graph has no output".into()))?;
        if grad_output.shape() != out_ir.shape.to_vec() {
            return Err(XaiError::shape(
                "output cotangent",
                format!("{:?}", out_ir.shape.to_vec()),
                &grad_output.shape(),
            ));
        }
        let ad = device.clone().autodiff();
        let spec = RunSpec {
            keep_values: true,
            ..Default::default()
        };
        let place = |xs: &[DynTensor]| -> Vec<T> {
            xs.iter()
                .zip(&self.inputs)
                .map(|(x, ir)| {
                    if ir.dtype.is_float() {
                        x.on_device(&ad).0
                    } else {
                        x.0.clone()
                    }
                })
                .collect()
        };
        let values = Interp::new(self, &ad, precision.dtype())
            .run(&place(inputs), &spec)?
            .values;
        let ref_values = match reference {
            Some(r) => {
                for (k, (a, b)) in inputs.iter().zip(r).enumerate() {
                    if a.shape() != b.shape() {
                        return Err(XaiError::shape(
                            format!("reference input {k}"),
                            format!("{:?}", a.shape()),
                            &b.shape(),
                        ));
                    }
                }
                Some(
                    Interp::new(self, &ad, precision.dtype())
                        .run(&place(r), &spec)?
                        .values,
                )
            }
            None => None,
        };
        let mut cot: HashMap<TensorId, T> = HashMap::new();
        cot.insert(
            out_ir.id,
            Dispatch::float_cast(grad_output.on_device(&ad).0, precision.dtype()),
        );
        for unit in self.units().iter().rev() {
            let Some(first) = unit.outputs.first() else {
                continue;
            };
            if unit.data_inputs.is_empty() || !unit.outputs.iter().any(|o| cot.contains_key(&o.id))
            {
                continue;
            }
            let ctx = UnitCtx {
                g: self,
                unit,
                values: &values,
                reference: ref_values.as_ref(),
                device: &ad,
                precision,
            };
            let grads = match rules.rule_for(unit) {
                Some(rule) => {
                    if unit.outputs.len() != 1 {
                        return Err(XaiError::UnsupportedOp {
                            op: unit.ops.join("+"),
                            transform: format!(
                                "rule `{}` (the unit has several outputs)",
                                rule.name()
                            ),
                            node: unit.name.clone(),
                        });
                    }
                    let g = DynTensor(cot[&first.id].clone());
                    rule.backward(&ctx, &g)?
                }
                None => multi_output_vjp(&ctx, unit, &cot)?,
            };
            if grads.len() != unit.data_inputs.len() {
                return Err(XaiError::Config(format!(
                    "backward of `{}` gave {} cotangents for {} inputs",
                    unit.name,
                    grads.len(),
                    unit.data_inputs.len()
                )));
            }
            for (t, gr) in unit.data_inputs.iter().zip(grads) {
                let gr = Dispatch::float_detach(gr.0);
                let acc = match cot.remove(&t.id) {
                    Some(prev) => Dispatch::float_add(prev, gr),
                    None => gr,
                };
                cot.insert(t.id, acc);
            }
        }
        Ok((cot, ad))
    }
}

/// The default backward of a unit with one or more outputs: Σ_o ⟨y_o, c_o⟩ pulled back.
fn multi_output_vjp(
    ctx: &UnitCtx<'_>,
    unit: &Unit,
    cot: &HashMap<TensorId, T>,
) -> Result<Vec<DynTensor>> {
    if unit.outputs.len() == 1 {
        return ctx.vjp(&DynTensor(cot[&unit.outputs[0].id].clone()));
    }
    // Several outputs (rare: a module whose intermediate is used outside it): evaluate the unit
    // and pull back every output at once.
    let xs: Vec<T> = ctx
        .inputs()?
        .into_iter()
        .map(|x| Dispatch::float_set_require_grad(x.detach().on_device(ctx.device).0, true))
        .collect();
    let mut it = Interp::new(ctx.g, ctx.device, ctx.precision.dtype());
    for id in &unit.constants {
        if let Some(v) = ctx.values.get(id) {
            it.seed(*id, v.clone());
        }
    }
    for (t, x) in unit.data_inputs.iter().zip(&xs) {
        it.seed(t.id, Val::F(x.clone()));
    }
    for &i in &unit.nodes {
        it.exec(i)?;
    }
    let mut loss: Option<T> = None;
    for o in &unit.outputs {
        let (Some(Val::F(y)), Some(c)) = (it.value(&o.id), cot.get(&o.id)) else {
            continue;
        };
        let term = Dispatch::float_sum(Dispatch::float_mul(y.clone(), c.clone()));
        loss = Some(match loss {
            Some(l) => Dispatch::float_add(l, term),
            None => term,
        });
    }
    let Some(loss) = loss else {
        return Ok(xs
            .iter()
            .map(|x| DynTensor(x.clone()).zeros_like())
            .collect());
    };
    let grads = burn::tensor::Tensor::<1>::from_dispatch(loss).backward();
    Ok(xs
        .iter()
        .map(|x| {
            let leaf = DynTensor(x.clone());
            leaf.grad(&grads).unwrap_or_else(|| leaf.zeros_like())
        })
        .collect())
}

fn classify(
    g: &CapturedGraph,
    nodes: &[usize],
    n_data: usize,
    params: &HashMap<TensorId, usize>,
) -> UnitKind {
    use ModuleOperationIr as M;
    let node = |i: &usize| &g.nodes[*i];
    let any_module = |f: fn(&ModuleOperationIr) -> bool| {
        nodes
            .iter()
            .any(|i| matches!(&node(i).op, OperationIr::Module(m) if f(m)))
    };
    let any_class = |class: OpClass| nodes.iter().any(|i| node(i).class == class);
    let has_param_matmul = any_module(|m| matches!(m, M::Linear(_)))
        || nodes.iter().any(|i| match &node(i).op {
            OperationIr::Float(_, burn_ir::FloatOperationIr::Matmul(m)) => {
                params.contains_key(&m.lhs.id) || params.contains_key(&m.rhs.id)
            }
            _ => false,
        });
    if any_module(|m| {
        matches!(
            m,
            M::Conv1d(_)
                | M::Conv2d(_)
                | M::Conv3d(_)
                | M::ConvTranspose1d(_)
                | M::ConvTranspose2d(_)
                | M::ConvTranspose3d(_)
                | M::DeformableConv2d(_)
        )
    }) {
        UnitKind::Conv
    } else if has_param_matmul {
        UnitKind::Dense
    } else if any_class(OpClass::Normalisation) {
        UnitKind::Norm
    } else if any_module(|m| matches!(m, M::Embedding(_))) {
        UnitKind::Embedding
    } else if nodes.len() == 1 && any_class(OpClass::Activation) {
        UnitKind::Activation
    } else if nodes.len() == 1
        && n_data == 2
        && matches!(
            g.nodes[nodes[0]].op,
            OperationIr::NumericFloat(_, NumericOperationIr::Add(_))
        )
    {
        UnitKind::Add
    } else if any_module(|m| {
        matches!(
            m,
            M::MaxPool1d(_)
                | M::MaxPool2d(_)
                | M::MaxPool1dWithIndices(_)
                | M::MaxPool2dWithIndices(_)
        )
    }) {
        UnitKind::MaxPool
    } else if any_module(|m| {
        matches!(
            m,
            M::AvgPool1d(_)
                | M::AvgPool2d(_)
                | M::AdaptiveAvgPool1d(_)
                | M::AdaptiveAvgPool2d(_)
                | M::AdaptiveAvgPool3d(_)
        )
    }) {
        UnitKind::AvgPool
    } else if nodes.iter().all(|i| node(i).class == OpClass::Shape) {
        UnitKind::Shape
    } else {
        UnitKind::Other
    }
}

impl DynTensor {
    /// Cast to the dtype of `like` (rules mixing recorded values and fresh constants).
    pub fn cast_like(&self, like: &DynTensor) -> DynTensor {
        DynTensor(Dispatch::float_cast(self.0.clone(), like.0.dtype().into()))
    }
}
