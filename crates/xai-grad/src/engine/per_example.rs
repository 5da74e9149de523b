//! Per-example parameter gradients, batched where the layer structure allows it.
//!
//! For a dense layer `y = x W + b` and a loss that is a sum of per-example losses `Σ_i ℓ_i`, the
//! gradient of `ℓ_i` with respect to `W` is the outer product `x_iᵀ g_i`, where `g_i = ∂ℓ_i/∂y_i`
//! is row `i` of the gradient of the summed loss at the layer's output. A 2-D convolution is a
//! dense layer applied at every output position `l` to the input patch `a_{i,l}` (the unfolded
//! input, `C_in·kh·kw` values), so its per-example weight gradient is `Σ_l a_{i,l}ᵀ g_{i,l}`, one
//! batched matmul over the patches. So one batched forward and backward pass with a tap at every
//! dense and conv layer gives every example's gradient (and the layer inputs and output gradients
//! that K-FAC, EK-FAC, TRAK-style projections and representer points need) without a
//! per-example loop. Graphs with other parameters (norms, embeddings, grouped or asymmetrically
//! padded convolutions) fall back to one backward pass per example, which is exact but slower.
//!
//! Both paths assume that example `i`'s loss depends on row `i` of the inputs only (no
//! batch statistics): true of inference-mode models, which is what influence analysis studies.

use burn::backend::Dispatch;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::module::unfold4d;
use burn::tensor::ops::UnfoldOptions;
use burn::tensor::{Device, Tensor};
use burn_capture::TensorId;
use burn_ir::{
    BaseOperationIr, FloatOperationIr, ModuleOperationIr, NumericOperationIr, OperationIr, TensorIr,
};

use xai_core::{Result, XaiError};

use super::interp::{ParamMode, RunSpec, Val};
use super::{CapturedGraph, DynTensor, Precision};

/// The kind of layer a [`LinearIo`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// `y = x W + b`, weight `[in, out]` (burn's `Linear`).
    Dense,
    /// `y = conv2d(x, W) + b`, weight `[out, C_in, kh, kw]` (burn's `Conv2d`, one group).
    Conv2d,
}

/// What one dense or conv layer saw in a batched pass: its inputs and the gradient of the summed
/// per-example loss at its output (row `i` is example `i`'s own gradient there).
///
/// A conv layer is described as a dense layer applied at `L` output positions: `input` holds the
/// unfolded input patches (`in = C_in·kh·kw`, channel-major like the weight) and `output_grad`
/// the output gradients at the same positions.
#[derive(Clone, Debug)]
pub struct LinearIo {
    /// The module path of the layer, e.g. `fc1`.
    pub module: String,
    /// Dense or conv.
    pub kind: LayerKind,
    /// Dense: layer input `[N, in]`. Conv2d: input patches `[N, L, in]`.
    pub input: DynTensor,
    /// `∂(Σ_i ℓ_i)/∂y`. Dense: `[N, out]`. Conv2d: `[N, L, out]`.
    pub output_grad: DynTensor,
    /// Index of the weight in [`CapturedGraph::params`].
    pub weight: usize,
    /// Index of the bias (`[out]`), if the layer has one.
    pub bias: Option<usize>,
}

impl LinearIo {
    /// Inputs and output gradients as position tokens, `[N, L, in]` and `[N, L, out]` (`L = 1`
    /// for a dense layer).
    pub fn tokens(&self) -> Result<(Tensor<3>, Tensor<3>)> {
        Ok(match self.kind {
            LayerKind::Dense => (
                self.input.clone().into_tensor::<2>()?.unsqueeze_dim(1),
                self.output_grad
                    .clone()
                    .into_tensor::<2>()?
                    .unsqueeze_dim(1),
            ),
            LayerKind::Conv2d => (
                self.input.clone().into_tensor()?,
                self.output_grad.clone().into_tensor()?,
            ),
        })
    }

    /// Per-example gradients of the weight as `[N, in, out]` (`Σ_l a_{i,l}ᵀ g_{i,l}`, whatever
    /// the weight's own layout) and of the bias as `[N, out]`.
    pub fn per_example_grads(&self) -> Result<(Tensor<3>, Tensor<2>)> {
        match self.kind {
            LayerKind::Dense => {
                let x: Tensor<2> = self.input.clone().into_tensor()?;
                let g: Tensor<2> = self.output_grad.clone().into_tensor()?;
                Ok((x.unsqueeze_dim::<3>(2) * g.clone().unsqueeze_dim::<3>(1), g))
            }
            LayerKind::Conv2d => {
                let (a, g) = self.tokens()?;
                let [n, _, out] = g.dims();
                let bias = g.clone().sum_dim(1).reshape([n, out]);
                Ok((a.swap_dims(1, 2).matmul(g), bias))
            }
        }
    }
}

/// Where a conv layer's patches come from.
#[derive(Clone, Debug)]
struct ConvGeometry {
    kernel: [usize; 2],
    unfold: UnfoldOptions,
}

/// Record `layer` and count its use of its weight and bias.
fn claim(used: &mut [usize], out: &mut Vec<LayerNode>, layer: LayerNode) {
    used[layer.weight] += 1;
    if let Some(b) = layer.bias {
        used[b] += 1;
    }
    out.push(layer);
}

struct LayerNode {
    node: usize,
    x: TensorIr,
    weight: usize,
    bias: Option<usize>,
    conv: Option<ConvGeometry>,
}

impl CapturedGraph {
    /// The dense and conv layers, if every parameter is the weight or bias of exactly one of them
    /// (dense layers reading a rank-2 input; convs with one group and symmetric padding); `None`
    /// otherwise. A dense layer is burn's `Linear` as captured: `matmul(x, W)` then
    /// `add(·, reshape(b))` (or the fused `linear` op); a conv is one `conv2d` node.
    fn layers(&self) -> Option<Vec<LayerNode>> {
        let index = |id| self.params.iter().position(|p| p.id == id);
        // `Some(None)` for no bias, `None` when the bias is not a parameter.
        let optional_index = |b: &Option<TensorIr>| match b {
            Some(b) => index(b.id).map(Some),
            None => Some(None),
        };
        let mut out: Vec<LayerNode> = Vec::new();
        let mut used = vec![0usize; self.params.len()];
        // Tensor id → parameter index, through reshapes of a parameter (the bias broadcast).
        let mut param_view: std::collections::HashMap<TensorId, usize> = Default::default();
        // Output id of a dense matmul → its position in `out`.
        let mut dense_out: std::collections::HashMap<TensorId, usize> = Default::default();
        for (i, n) in self.nodes.iter().enumerate() {
            match &n.op {
                OperationIr::Module(ModuleOperationIr::Linear(l)) => {
                    if l.x.shape.num_dims() != 2 || index(l.x.id).is_some() {
                        return None;
                    }
                    claim(
                        &mut used,
                        &mut out,
                        LayerNode {
                            node: i,
                            x: l.x.clone(),
                            weight: index(l.weight.id)?,
                            bias: optional_index(&l.bias)?,
                            conv: None,
                        },
                    );
                }
                OperationIr::Module(ModuleOperationIr::Conv2d(c)) => {
                    let o = &c.options;
                    let w = c.weight.shape.to_vec();
                    if o.groups != 1
                        || o.padding.iter().any(|(a, b)| a != b)
                        || w.len() != 4
                        || index(c.x.id).is_some()
                    {
                        return None;
                    }
                    claim(
                        &mut used,
                        &mut out,
                        LayerNode {
                            node: i,
                            x: c.x.clone(),
                            weight: index(c.weight.id)?,
                            bias: optional_index(&c.bias)?,
                            conv: Some(ConvGeometry {
                                kernel: [w[2], w[3]],
                                unfold: UnfoldOptions::new(
                                    o.stride,
                                    [o.padding[0].0, o.padding[1].0],
                                    o.dilation,
                                ),
                            }),
                        },
                    );
                }
                OperationIr::Float(_, FloatOperationIr::Matmul(m)) if index(m.rhs.id).is_some() => {
                    if m.lhs.shape.num_dims() != 2 || index(m.lhs.id).is_some() {
                        return None;
                    }
                    dense_out.insert(m.out.id, out.len());
                    claim(
                        &mut used,
                        &mut out,
                        LayerNode {
                            node: i,
                            x: m.lhs.clone(),
                            weight: index(m.rhs.id)?,
                            bias: None,
                            conv: None,
                        },
                    );
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
        let dd = self.data_dependent();
        self.nodes.iter().all(|n| {
            if !n.op.inputs().any(|t| dd.contains(&t.id)) || n.row_wise {
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

    /// True when every parameter belongs to a dense layer.
    pub fn is_dense_only(&self) -> bool {
        self.layers()
            .is_some_and(|l| l.iter().all(|d| d.conv.is_none()))
    }

    /// True when [`per_example_param_grads`](Self::per_example_param_grads) takes the batched
    /// path (every parameter belongs to a dense or conv2d layer) and
    /// [`linear_io`](Self::linear_io) works.
    pub fn is_layerwise(&self) -> bool {
        self.layers().is_some()
    }

    /// One batched pass that returns each dense and conv layer's inputs and output gradients (in
    /// graph order), and the per-example losses. `per_example_loss(outputs)` returns `[N]`.
    /// Errors when a parameter lives elsewhere (see [`is_layerwise`](Self::is_layerwise)).
    pub fn linear_io(
        &self,
        inputs: &[DynTensor],
        params: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
        per_example_loss: impl FnOnce(&[DynTensor]) -> Result<Tensor<1>>,
    ) -> Result<(Vec<LinearIo>, Tensor<1>)> {
        let dense = self.layers().ok_or_else(|| {
            XaiError::Config(
                "linear_io needs every parameter to be the weight or bias of a dense or conv2d \
                 layer (one group, symmetric padding)"
                    .into(),
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
            let (kind, input, output_grad) = match &d.conv {
                None => (LayerKind::Dense, x, g),
                Some(geo) => {
                    // Patches [N, C·kh·kw, L] → [N, L, C·kh·kw]; grads [N, O, H', W'] → [N, L, O].
                    let patches = unfold4d(x.into_tensor::<4>()?, geo.kernel, geo.unfold.clone())
                        .swap_dims(1, 2);
                    let g: Tensor<4> = g.into_tensor()?;
                    let [n, o, h, w] = g.dims();
                    let g = g.reshape([n, o, h * w]).swap_dims(1, 2);
                    if patches.dims()[1] != h * w {
                        return Err(XaiError::Numerical(format!(
                            "conv node {}: {} patches for {} output positions",
                            d.node,
                            patches.dims()[1],
                            h * w
                        )));
                    }
                    (
                        LayerKind::Conv2d,
                        DynTensor::from_tensor(patches),
                        DynTensor::from_tensor(g),
                    )
                }
            };
            io.push(LinearIo {
                module: self.nodes[d.node]
                    .module
                    .clone()
                    .unwrap_or_else(|| self.nodes[d.node].name.clone()),
                kind,
                input,
                output_grad,
                weight: d.weight,
                bias: d.bias,
            });
        }
        Ok((io, losses.detach()))
    }

    /// Per-example parameter gradients `∇_θ ℓ_i`: one tensor per parameter, shaped
    /// `[N, ...param shape]`. `per_example_loss(outputs, rows)` returns the losses of the rows
    /// `rows` of the batch (the outputs hold exactly those rows), shaped `[rows.len()]`.
    /// Batched for graphs whose parameters all sit in dense and conv layers
    /// ([`is_layerwise`](Self::is_layerwise)), one pass per example otherwise.
    pub fn per_example_param_grads(
        &self,
        input: &DynTensor,
        params: Option<&[DynTensor]>,
        device: &Device,
        precision: Precision,
        per_example_loss: impl Fn(&[DynTensor], std::ops::Range<usize>) -> Result<Tensor<1>>,
    ) -> Result<Vec<DynTensor>> {
        let n = input.shape().first().copied().unwrap_or(0);
        if self.is_layerwise() {
            let (io, _) = self.linear_io(
                std::slice::from_ref(input),
                params,
                device,
                precision,
                |o| per_example_loss(o, 0..n),
            )?;
            let mut grads: Vec<Option<DynTensor>> = vec![None; self.params.len()];
            for l in io {
                let (w, b) = l.per_example_grads()?;
                let w = match l.kind {
                    LayerKind::Dense => DynTensor::from_tensor(w),
                    LayerKind::Conv2d => {
                        // [N, in, out] → the weight's layout [N, out, C, kh, kw].
                        let [n, i, o] = w.dims();
                        let mut shape = vec![n];
                        shape.extend(&self.params[l.weight].shape);
                        DynTensor::from_rows(w.swap_dims(1, 2).reshape([n, o * i]), &shape)?
                    }
                };
                grads[l.weight] = Some(w);
                if let Some(bias) = l.bias {
                    grads[bias] = Some(DynTensor::from_tensor(b));
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
