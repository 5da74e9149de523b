//! Layer attributions: how much each unit of an intermediate layer contributes to a target.
//!
//! All three address the layer by node name or module path (as Grad-CAM does) and return values
//! of the layer's shape `[N, ...]`.
//!
//! - [`layer_gradient_x_activation`]: `a ⊙ ∂F/∂a` at the input (Captum's
//!   `LayerGradientXActivation`); one forward and backward pass.
//! - [`layer_integrated_gradients`] (Captum's `LayerIntegratedGradients` on the layer output):
//!   IG in the layer's activation space, `φ = (a − a') ⊙ ∫₀¹ ∂F/∂a(a' + α(a − a')) dα` with
//!   `a = layer(x)`, `a' = layer(x')`. The layer's value is moved along the path by an offset
//!   injected at the node (engine taps with offsets), so the rest of the network sees the
//!   interpolated activation. Completeness: `Σ φ = F(x) − F(layer := a')`, which is
//!   `F(x) − F(x')` when every path from input to output passes through the layer; the delta
//!   against the former is reported.
//! - [`layer_conductance`] (Dhamdhere et al. 2019): the input path `x' + α(x − x')` and
//!   `cond_j = Σ_k ∂F/∂a_j(α_k) · (a_j(α_{k+1}) − a_j(α_k))`, the flow of IG through unit `j`
//!   (Captum's discretisation, `n_steps + 1` points); `Σ_j cond_j ≈ F(x) − F(x')` for a layer
//!   that cuts the network.
//!
//! Every path point of every input is one row of an expanded batch, chunked by the memory budget.
//!
//! ```ignore
//! let lig = layer_integrated_gradients(&ex, &x, &baseline, &Target::Predicted, "conv2", &IgConfig::default())?;
//! println!("{:?} delta {:?}", lig.shape, lig.delta);
//! ```

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Explainable;
use super::integrated_gradients::{IgConfig, column, mul_rows};
use crate::engine::DynTensor;
use xai_core::{Result, Target, XaiError};

/// Values at a layer with their shape and the tapped node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerAttribution {
    /// Row-major values, shape `shape`.
    pub values: Vec<f64>,
    /// The layer's shape, batch first.
    pub shape: Vec<usize>,
    /// The tapped node.
    pub node: String,
    /// Completeness error per input, where defined.
    pub delta: Option<Vec<f64>>,
}

/// Rows repeated `k` times, step-major: `[k·N, ...]`.
fn repeat_rows<const D: usize>(x: &Tensor<D>, k: usize) -> Tensor<D> {
    x.clone().repeat_dim(0, k)
}

/// Layer value at `x` and the target per row, on the plain device.
fn layer_value<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    node: &str,
) -> Result<(Vec<f64>, Vec<usize>, Vec<f64>)> {
    let g = ex.graph(x)?;
    let t = g.eval_tapped(
        &[DynTensor::from_tensor(x.clone())],
        &[node],
        &ex.device.clone().inner(),
        ex.precision,
    )?;
    let out = t.outputs[0].to_vec_f64()?;
    Ok((t.values[0].to_vec_f64()?, t.values[0].shape(), out))
}

/// Gradient of the targets w.r.t. the tapped node for `inputs` `[k·N, ...]`, with optional
/// offsets added at the node; returns (layer values incl. offsets, gradients, outputs).
pub(crate) fn tapped_grad<const D: usize>(
    ex: &Explainable<D>,
    inputs: &Tensor<D>,
    node: &str,
    offsets: Option<Vec<f64>>,
    layer_shape: &[usize],
    classes: &[usize],
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let g = ex.graph(inputs)?;
    let pass = TappedPass {
        node,
        layer_shape,
        device: &ex.device,
        precision: ex.precision,
        dtype: inputs.dtype(),
    };
    pass.run(&g, DynTensor::from_tensor(inputs.clone()), offsets, classes)
}

/// One autodiff replay with a tap (and optional offsets) at `node`, for any kind of input
/// (float features or integer token ids).
pub(crate) struct TappedPass<'a> {
    pub node: &'a str,
    /// The layer's shape for one batch of inputs (its first entry is replaced by the rows).
    pub layer_shape: &'a [usize],
    /// Where the replay runs (its autodiff twin is used).
    pub device: &'a burn::tensor::Device,
    pub precision: crate::engine::Precision,
    /// The dtype the offsets are built in.
    pub dtype: burn::tensor::DType,
}

impl TappedPass<'_> {
    /// (layer values incl. offsets, gradients of the targets at the node, outputs).
    pub fn run(
        &self,
        g: &crate::engine::CapturedGraph,
        inputs: DynTensor,
        offsets: Option<Vec<f64>>,
        classes: &[usize],
    ) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let ad = self.device.clone().autodiff();
        let rows = inputs.shape()[0];
        let mut shape = self.layer_shape.to_vec();
        shape[0] = rows;
        let off = match offsets {
            Some(v) => {
                let per: usize = shape.iter().skip(1).product();
                let t: Tensor<2> = Tensor::from_data(
                    burn::tensor::TensorData::new(v, [rows, per]),
                    (&ad.clone().inner(), self.dtype),
                );
                Some(vec![DynTensor::from_rows(t, &shape)?])
            }
            None => None,
        };
        let node = self.node;
        let t = g.eval_tapped_with(&[inputs], &[node], off.as_deref(), &ad, self.precision)?;
        let out = t.outputs[0].clone().into_tensor::<2>()?;
        let outputs = DynTensor::from_tensor(out.clone()).to_vec_f64()?;
        let s = Target::Classes(classes.to_vec()).select(out)?;
        let grads = s.sum().backward();
        let grad = t.probes[0].grad(&grads).ok_or_else(|| {
            XaiError::Numerical(format!("the target does not depend on `{node}`"))
        })?;
        Ok((t.values[0].to_vec_f64()?, grad.to_vec_f64()?, outputs))
    }
}

/// The layer-IG sum `(a − a') ⊙ Σ_k w_k ∂F/∂a(a' + α_k(a − a'))`, evaluated `chunk` path points
/// at a time: `grad_at(s, offsets, classes)` returns the gradients at the node for the inputs
/// repeated `s` times (step-major) with `offsets` added at the node.
pub(crate) fn layer_ig_sum(
    a: &[f64],
    a0: &[f64],
    classes: &[usize],
    config: &IgConfig,
    chunk: usize,
    mut grad_at: impl FnMut(usize, Vec<f64>, &[usize]) -> Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let diff: Vec<f64> = a.iter().zip(a0).map(|(p, q)| p - q).collect();
    let (alphas, weights) = config.method.nodes(config.n_steps)?;
    let mut integral = vec![0.0; a.len()];
    for start in (0..alphas.len()).step_by(chunk.max(1)) {
        let end = (start + chunk.max(1)).min(alphas.len());
        let s = end - start;
        // Offsets move the layer from a to a' + α(a − a'): offset = (α − 1)(a − a').
        let mut offsets = Vec::with_capacity(s * a.len());
        for &alpha in &alphas[start..end] {
            offsets.extend(diff.iter().map(|d| (alpha - 1.0) * d));
        }
        let cls: Vec<usize> = (0..s).flat_map(|_| classes.iter().copied()).collect();
        let g = grad_at(s, offsets, &cls)?;
        for (k, &w) in weights[start..end].iter().enumerate() {
            for (acc, gv) in integral.iter_mut().zip(&g[k * a.len()..(k + 1) * a.len()]) {
                *acc += w * gv;
            }
        }
    }
    Ok(integral.iter().zip(&diff).map(|(i, d)| i * d).collect())
}

/// Activations `a` and gradients `∂F/∂a` at `layer` (both of the layer's shape), for TCAV's
/// directional derivatives and any concept method that needs both.
pub fn layer_activation_and_gradient<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    layer: &str,
) -> Result<(LayerAttribution, LayerAttribution)> {
    let classes = ex.classes(x, target)?;
    let node = ex.graph(x)?.resolve_node(layer)?;
    let (_, shape, _) = layer_value(ex, x, &node)?;
    let (a, g, _) = tapped_grad(ex, x, &node, None, &shape, &classes)?;
    let wrap = |values| LayerAttribution {
        values,
        shape: shape.clone(),
        node: node.clone(),
        delta: None,
    };
    Ok((wrap(a), wrap(g)))
}

/// Activations at `layer` (no gradient work).
pub fn layer_activation<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    layer: &str,
) -> Result<LayerAttribution> {
    let node = ex.graph(x)?.resolve_node(layer)?;
    let (values, shape, _) = layer_value(ex, x, &node)?;
    Ok(LayerAttribution {
        values,
        shape,
        node,
        delta: None,
    })
}

/// `a ⊙ ∂F/∂a` at `layer`.
pub fn layer_gradient_x_activation<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    layer: &str,
) -> Result<LayerAttribution> {
    let (a, g) = layer_activation_and_gradient(ex, x, target, layer)?;
    Ok(LayerAttribution {
        values: a.values.iter().zip(&g.values).map(|(a, g)| a * g).collect(),
        ..a
    })
}

/// Per input: `Σ values − (f_c(x) − f_c(reference))`, with `per` values per input and the
/// outputs of `x` and of the reference run row-major.
pub(crate) fn completeness_delta(
    values: &[f64],
    per: usize,
    out_x: &[f64],
    out_ref: &[f64],
    classes: &[usize],
) -> Vec<f64> {
    let k = out_x.len() / classes.len();
    classes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            values[i * per..(i + 1) * per].iter().sum::<f64>()
                - (out_x[i * k + c] - out_ref[i * k + c])
        })
        .collect()
}

/// Steps per chunk so that `steps × N` rows fit the budget.
fn steps_per_chunk<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    config: &IgConfig,
    total: usize,
) -> Result<usize> {
    let n = x.dims()[0];
    let row_bytes = ex.graph(x)?.bytes_per_sample();
    Ok(config.budget.rows(row_bytes * n).clamp(1, total.max(1)))
}

/// Layer integrated gradients at `layer` between `baseline` and `x`.
pub fn layer_integrated_gradients<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    target: &Target,
    layer: &str,
    config: &IgConfig,
) -> Result<LayerAttribution> {
    super::check_reference(x, baseline, "layer IG baseline")?;
    let classes = ex.classes(x, target)?;
    let n = x.dims()[0];
    let node = ex.graph(x)?.resolve_node(layer)?;
    let (a, shape, out_x) = layer_value(ex, x, &node)?;
    let (a0, _, _) = layer_value(ex, baseline, &node)?;
    let per = a.len() / n;
    let chunk = steps_per_chunk(ex, x, config, config.n_steps)?;
    let values = layer_ig_sum(&a, &a0, &classes, config, chunk, |s, offsets, cls| {
        let rows = repeat_rows(x, s);
        Ok(tapped_grad(ex, &rows, &node, Some(offsets), &shape, cls)?.1)
    })?;
    // F(layer := a') for the completeness delta.
    let offsets: Vec<f64> = a.iter().zip(&a0).map(|(p, q)| q - p).collect();
    let (_, _, out_0) = tapped_grad(ex, x, &node, Some(offsets), &shape, &classes)?;
    let delta = completeness_delta(&values, per, &out_x, &out_0, &classes);
    Ok(LayerAttribution {
        values,
        shape,
        node,
        delta: Some(delta),
    })
}

/// Conductance of every unit of `layer` along the straight input path from `baseline` to `x`,
/// with `n_steps` Riemann intervals (`config.method` is not used: conductance is defined by its
/// differences of layer values).
pub fn layer_conductance<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    target: &Target,
    layer: &str,
    config: &IgConfig,
) -> Result<LayerAttribution> {
    super::check_reference(x, baseline, "conductance baseline")?;
    if config.n_steps == 0 {
        return Err(XaiError::Config("conductance needs n_steps ≥ 1".into()));
    }
    let classes = ex.classes(x, target)?;
    let n = x.dims()[0];
    let node = ex.graph(x)?.resolve_node(layer)?;
    let (a, shape, out_x) = layer_value(ex, x, &node)?;
    let per = a.len() / n;
    let points = config.n_steps + 1;
    let chunk = steps_per_chunk(ex, x, config, points)?;
    let diff = x.clone() - baseline.clone();
    let mut layer_vals: Vec<Vec<f64>> = Vec::with_capacity(points);
    let mut grads: Vec<Vec<f64>> = Vec::with_capacity(points);
    let mut first_out = Vec::new();
    for start in (0..points).step_by(chunk) {
        let end = (start + chunk).min(points);
        let s = end - start;
        let alpha: Vec<f64> = (start..end)
            .map(|k| k as f64 / config.n_steps as f64)
            .collect();
        let col = column(&alpha, n, &x.device(), x.dtype());
        let pts = repeat_rows(baseline, s) + mul_rows(repeat_rows(&diff, s), &col);
        let cls: Vec<usize> = (0..s).flat_map(|_| classes.iter().copied()).collect();
        let (v, g, out) = tapped_grad(ex, &pts, &node, None, &shape, &cls)?;
        if start == 0 {
            first_out = out;
        }
        for k in 0..s {
            layer_vals.push(v[k * a.len()..(k + 1) * a.len()].to_vec());
            grads.push(g[k * a.len()..(k + 1) * a.len()].to_vec());
        }
    }
    let mut values = vec![0.0; a.len()];
    for k in 0..config.n_steps {
        for (j, v) in values.iter_mut().enumerate() {
            *v += grads[k][j] * (layer_vals[k + 1][j] - layer_vals[k][j]);
        }
    }
    let delta = completeness_delta(&values, per, &out_x, &first_out, &classes);
    Ok(LayerAttribution {
        values,
        shape,
        node,
        delta: Some(delta),
    })
}
