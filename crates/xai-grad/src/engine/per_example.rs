//! Per-example parameter gradients, batched where the layer structure allows it.
//!
//! For a dense layer `y = x W + b` and a loss that is a sum of per-example losses `Σ_i ℓ_i`, the
//! gradient of `ℓ_i` with respect to `W` is the outer product `x_iᵀ g_i`, where `g_i = ∂ℓ_i/∂y_i`
//! is row `i` of the gradient of the summed loss at the layer's output. So one batched forward and
//! backward pass with a tap at every dense layer gives every example's gradient (and the layer
//! inputs and output gradients that K-FAC, EK-FAC, TRAK-style projections and representer points
//! need) without a per-example loop. Graphs with parameters outside dense layers (convolutions,
//! norms, embeddings) fall back to one backward pass per example, which is exact but slower.
//!
//! Both paths assume that example `i`'s loss depends on row `i` of the inputs only (no
//! batch statistics): true of inference-mode models, which is what influence analysis studies.

use burn::backend::Dispatch;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{Device, Tensor};
use burn_capture::TensorId;
use burn_ir::{
    BaseOperationIr, FloatOperationIr, ModuleOperationIr, NumericOperationIr, OperationIr, TensorIr,
};

use xai_core::{Result, XaiError};

use super::interp::{ParamMode, RunSpec, Val};
use super::{CapturedGraph, DynTensor, Precision};

/// What one dense layer saw in a batched pass: its input rows and the gradient of the summed
/// per-example loss at its output (row `i` is example `i`'s own gradient there).
#[derive(Clone, Debug)]
pub struct LinearIo {
    /// The module path of the layer, e.g. `fc1`.
    pub module: String,
    /// Layer input, `[N, in]`.
    pub input: DynTensor,
    /// `∂(Σ_i ℓ_i)/∂y`, `[N, out]`.
    pub output_grad: DynTensor,
    /// Index of the weight (`[in, out]`) in [`CapturedGraph::params`].
    pub weight: usize,
    /// Index of the bias (`[out]`), if the layer has one.
    pub bias: Option<usize>,
}

struct DenseNode {
    node: usize,
    x: TensorIr,
    weight: usize,
    bias: Option<usize>,
}

impl CapturedGraph {
    /// The dense layers, if every parameter is the weight or bias of exactly one of them and each
    /// reads a rank-2 input; `None` otherwise. A dense layer is burn's `Linear` as captured:
    /// `matmul(x, W)` then `add(·, reshape(b))` (or the fused `linear` op).
    fn dense_only(&self) -> Option<Vec<DenseNode>> {
        let index = |id| self.params.iter().position(|p| p.id == id);
        let mut out: Vec<DenseNode> = Vec::new();
        let mut used = vec![0usize; self.params.len()];
        // Tensor id → parameter index, through reshapes of a parameter (the bias broadcast).
        let mut param_view: std::collections::HashMap<TensorId, usize> = Default::default();
        // Output id of a dense matmul → its position in `out`.
        let mut dense_out: std::collections::HashMap<TensorId, usize> = Default::default();
        for (i, n) in self.nodes.iter().enumerate() {
            match &n.op {
                OperationIr::Module(ModuleOperationIr::Linear(l)) => {
                    let weight = index(l.weight.id)?;
                    let bias = match &l.bias {
                        Some(b) => Some(index(b.id)?),
                        None => None,
                    };
                    if l.x.shape.num_dims() != 2 || index(l.x.id).is_some() {
                        return None;
                    }
                    used[weight] += 1;
                    if let Some(b) = bias {
                        used[b] += 1;
                    }
                    out.push(DenseNode {
                        node: i,
                        x: l.x.clone(),
                        weight,
                        bias,
                    });
                }
                OperationIr::Float(_, FloatOperationIr::Matmul(m)) if index(m.rhs.id).is_some() => {
                    let weight = index(m.rhs.id)?;
                    if m.lhs.shape.num_dims() != 2 || index(m.lhs.id).is_some() {
                        return None;
                    }
                    used[weight] += 1;
                    dense_out.insert(m.out.id, out.len());
                    out.push(DenseNode {
                        node: i,
                        x: m.lhs.clone(),
                        weight,
                        bias: None,
                    });
                }
                OperationIr::BaseFloat(BaseOperationIr::Reshape(r))
                    if index(r.input.id).is_some() =>
                {
                    param_view.insert(r.out.id, index(r.input.id)?);
                }
                OperationIr::NumericFloat(_, NumericOperationIr::Add(b)) => {
                    let as_param = |id| param_view.get(&id).copied().or_else(|| index(id));
                    let pair = match (
                        dense_out.get(&b.lhs.id),
                        as_param(b.rhs.id),
                        dense_out.get(&b.rhs.id),
                        as_param(b.lhs.id),
                    ) {
                        (Some(&d), Some(p), _, _) | (_, _, Some(&d), Some(p)) => Some((d, p)),
                        _ => None,
                    };
                    match pair {
                        Some((d, p)) if out[d].bias.is_none() => {
                            out[d].bias = Some(p);
                            used[p] += 1;
                        }
                        Some(_) => return None,
                        None if n.op.inputs().any(|t| as_param(t.id).is_some()) => return None,
                        None => {}
                    }
                }
                _ if n
                    .op
                    .inputs()
                    .any(|t| index(t.id).is_some() || param_view.contains_key(&t.id)) =>
                {
                    return None;
                }
                _ => {}
            }
        }
        used.iter().all(|&u| u == 1).then_some(out)
    }

    /// True when the graph can be replayed on a batch size other than the captured one: every
    /// operation on data is per-sample (dense layers, element-wise maps, softmax over features,
    /// convolutions, pooling, inference BatchNorm, reshapes that keep the batch dimension), so
    /// no recorded shape pins the batch size. Influence methods replay one captured model on
    /// training sets, test points and mini-batches of any size.
    pub fn is_batch_flexible(&self) -> bool {
        const ROW_WISE: &[&str] = &[
            "matmul",
            "linear",
            "add",
            "sub",
            "mul",
            "div",
            "add_scalar",
            "sub_scalar",
            "mul_scalar",
            "div_scalar",
            "relu",
            "tanh",
            "sigmoid",
            "exp",
            "log",
            "log1p",
            "softmax",
            "log_softmax",
            "gelu",
            "neg",
            "abs",
            "sqrt",
            "powf_scalar",
            "clamp",
            "clamp_min",
            "clamp_max",
            "leaky_relu",
            "erf",
            "silu",
            "softplus",
            "hard_sigmoid",
            // Per-sample by construction: convolutions, pooling, BatchNorm in inference mode.
            "conv1d",
            "conv2d",
            "max_pool1d",
            "max_pool2d",
            "max_pool2d_with_indices",
            "avg_pool1d",
            "avg_pool2d",
            "adaptive_avg_pool1d",
            "adaptive_avg_pool2d",
            "batch_norm",
        ];
        let dd = self.data_dependent();
        self.nodes.iter().all(|n| {
            if !n.op.inputs().any(|t| dd.contains(&t.id)) || ROW_WISE.contains(&n.kind) {
                return true;
            }
            // A reshape that keeps the batch dimension follows the batch size on replay.
            match &n.op {
                OperationIr::BaseFloat(BaseOperationIr::Reshape(r)) => {
                    let (i, o) = (r.input.shape.to_vec(), r.out.shape.to_vec());
                    !i.is_empty() && !o.is_empty() && i[0] == o[0]
                }
                _ => false,
            }
        })
    }

    /// True when [`per_example_param_grads`](Self::per_example_param_grads) takes the batched
    /// path (every parameter belongs to a dense layer) and [`linear_io`](Self::linear_io) works.
    pub fn is_dense_only(&self) -> bool {
        self.dense_only().is_some()
    }

    /// One batched pass that returns each dense layer's inputs and output gradients, and the
    /// per-example losses. `per_example_loss(outputs)` returns `[N]`. Errors when a parameter
    /// lives outside a dense layer (see [`is_dense_only`](Self::is_dense_only)).
    pub fn linear_io(
        &self,
        inputs: &[DynTensor],
        params: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
        per_example_loss: impl FnOnce(&[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<(Vec<LinearIo>, Tensor<1>)> {
        let dense = self.dense_only().ok_or_else(|| {
            XaiError::Config(
                "linear_io needs every parameter to be a dense layer's weight or bias".into(),
            )
        })?;
        let ad = device.clone().autodiff();
        let pv = self.param_overrides(params, &ad)?;
        let probes: Vec<usize> = dense.iter().map(|d| d.node).collect();
        let spec = RunSpec {
            params: ParamMode::Constant,
            param_values: pv.as_deref(),
            probes: &probes,
            keep_values: true,
            ..Default::default()
        };
        let out = self
            .interp(&ad, precision)
            .run(&self.place_inputs(inputs, &ad), &spec)?;
        let outputs: Vec<DynTensor> = out.outputs.iter().cloned().map(DynTensor).collect();
        let losses = per_example_loss(&outputs)?;
        let grads = losses.clone().sum().backward();
        let mut io = Vec::with_capacity(dense.len());
        for (k, d) in dense.iter().enumerate() {
            let x = match out.values.get(&d.x.id) {
                Some(Val::F(t)) => DynTensor(Dispatch::float_detach(t.clone())),
                _ => return Err(XaiError::UnknownNode(format!("input of node {}", d.node))),
            };
            let probe = DynTensor(out.probes[k].clone());
            let g = match probe.grad(&grads) {
                Some(g) => g,
                // The loss does not reach this layer: zero gradient.
                None => probe.zeros_like(),
            };
            io.push(LinearIo {
                module: self.nodes[d.node]
                    .module
                    .clone()
                    .unwrap_or_else(|| self.nodes[d.node].name.clone()),
                input: x,
                output_grad: g,
                weight: d.weight,
                bias: d.bias,
            });
        }
        Ok((io, losses.detach()))
    }

    /// Per-example parameter gradients `∇_θ ℓ_i`: one tensor per parameter, shaped
    /// `[N, ...param shape]`. `per_example_loss(outputs, rows)` returns the losses of the rows
    /// `rows` of the batch (the outputs hold exactly those rows), shaped `[rows.len()]`.
    /// Batched for dense-only graphs, one pass per example otherwise.
    pub fn per_example_param_grads(
        &self,
        input: &DynTensor,
        params: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
        per_example_loss: impl Fn(&[DynTensor], std::ops::Range<usize>) -> Result<Tensor<1>>,
    ) -> Result<Vec<DynTensor>> {
        let n = input.shape().first().copied().unwrap_or(0);
        if self.is_dense_only() {
            let (io, _) = self.linear_io(
                std::slice::from_ref(input),
                params,
                device,
                precision,
                |o| per_example_loss(o, 0..n),
            )?;
            let mut grads: Vec<Option<DynTensor>> = vec![None; self.params.len()];
            for l in io {
                let x: Tensor<2> = l.input.into_tensor()?;
                let g: Tensor<2> = l.output_grad.into_tensor()?;
                let w = x.unsqueeze_dim::<3>(2) * g.clone().unsqueeze_dim::<3>(1);
                grads[l.weight] = Some(DynTensor::from_tensor(w));
                if let Some(b) = l.bias {
                    grads[b] = Some(DynTensor::from_tensor(g));
                }
            }
            return grads
                .into_iter()
                .map(|g| g.ok_or_else(|| XaiError::Numerical("a parameter got no gradient".into())))
                .collect();
        }
        // Generic path: one backward per example.
        let rows = input.clone().into_rows()?;
        let shape = input.shape();
        let mut per_param: Vec<Vec<Tensor<2>>> = vec![Vec::with_capacity(n); self.params.len()];
        for i in 0..n {
            let mut s = shape.clone();
            s[0] = 1;
            let xi = DynTensor::from_rows(rows.clone().slice(i..i + 1), &s)?;
            let pg = self.param_grads_at(&[xi], params, device, precision, |o| {
                per_example_loss(o, i..i + 1)
            })?;
            for (k, g) in pg.grads.into_iter().enumerate() {
                let numel: usize = g.shape().iter().product();
                per_param[k].push(g.into_rows()?.reshape([1, numel]));
            }
        }
        per_param
            .into_iter()
            .zip(&self.params)
            .map(|(rows, info)| {
                let mut s = vec![n];
                s.extend(&info.shape);
                DynTensor::from_rows(Tensor::cat(rows, 0), &s)
            })
            .collect()
    }
}
