//! Neuron attributions: which inputs drive one unit of an intermediate layer.
//!
//! The explained scalar is the activation `a_u(x)` of unit `u` (flat index into the layer's
//! per-sample values) at a tapped layer, instead of a logit.
//!
//! - [`neuron_gradient`]: `∂a_u/∂x` (Captum's `NeuronGradient`).
//! - [`neuron_integrated_gradients`]: `(x − x') ⊙ ∫₀¹ ∂a_u/∂x(x' + α(x − x')) dα`; complete:
//!   `Σ φ = a_u(x) − a_u(x')`, the delta against it is reported per input.
//! - [`neuron_conductance`] (Dhamdhere et al. 2019, Captum's `NeuronConductance`): how much of the
//!   *target logit's* change flows through unit `u`, split over the inputs:
//!   `cond_i = (x_i − x'_i) ∫₀¹ ∂F/∂a_u · ∂a_u/∂x_i dα` on the straight path. Summed over the
//!   inputs it is the unit's layer conductance; summed over every unit of a layer that cuts the
//!   network it is `F(x) − F(x')` (both tested). Two passes per path point: one for `∂F/∂a_u`,
//!   one for `∂a_u/∂x` scaled by it.
//!
//! The unit's value is read from the tapped node on an autodiff replay and seeded with a one-hot
//! row, so no logit and no target is involved.

use burn::tensor::{Tensor, TensorData};

use super::Explainable;
use super::integrated_gradients::{IgConfig, column, mul_rows, sum_steps};
use super::layer::tapped_grad;
use crate::engine::DynTensor;
use xai_core::{Result, Target, XaiError};

/// `∂a_u/∂x` for every row of `inputs`, and `a_u` per row.
fn unit_gradient<const D: usize>(
    ex: &Explainable<D>,
    inputs: &Tensor<D>,
    layer: &str,
    unit: usize,
) -> Result<(Tensor<D>, Vec<f64>)> {
    let g = ex.graph(inputs)?;
    let node = g.resolve_node(layer)?;
    let plain = ex.device.clone().inner();
    let ad = ex.device.clone().autodiff();
    let xa = inputs.clone().to_device(&plain).autodiff().require_grad();
    let t = g.eval_tapped(
        &[DynTensor::from_tensor(xa.clone())],
        &[node.as_str()],
        &ad,
        ex.precision,
    )?;
    let rows = t.values[0].clone().into_rows()?;
    let [n, per] = rows.dims();
    if unit >= per {
        return Err(XaiError::Config(format!(
            "unit {unit} out of range: layer `{node}` has {per} units per sample"
        )));
    }
    let mut mask = vec![0.0f64; n * per];
    for i in 0..n {
        mask[i * per + unit] = 1.0;
    }
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, per]), (&ad, rows.dtype()));
    let selected = rows * mask;
    let values = DynTensor::from_tensor(selected.clone().sum_dim(1)).to_vec_f64()?;
    let grads = selected.sum().backward();
    let gx = xa.grad(&grads).ok_or_else(|| {
        XaiError::Numerical(format!(
            "unit {unit} of `{node}` does not depend on the input"
        ))
    })?;
    Ok((gx.to_device(&inputs.device()).cast(inputs.dtype()), values))
}

/// Gradient of unit `unit` of `layer` with respect to the inputs.
pub fn neuron_gradient<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    layer: &str,
    unit: usize,
) -> Result<Tensor<D>> {
    crate::gradient::validate_inputs(x)?;
    Ok(unit_gradient(ex, x, layer, unit)?.0)
}

/// Integrated gradients of unit `unit` of `layer`, with the completeness delta per input.
pub fn neuron_integrated_gradients<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    layer: &str,
    unit: usize,
    config: &IgConfig,
) -> Result<(Tensor<D>, Vec<f64>)> {
    crate::gradient::validate_inputs(x)?;
    super::check_reference(x, baseline, "neuron IG baseline")?;
    let dims = x.dims();
    let n = dims[0];
    let (alphas, weights) = config.method.nodes(config.n_steps)?;
    let row_bytes = ex.graph(x)?.bytes_per_sample();
    let chunk = config.budget.rows(row_bytes * n).clamp(1, alphas.len());
    let diff = x.clone() - baseline.clone();
    let mut integral = Tensor::<D>::zeros(dims, (&x.device(), x.dtype()));
    for start in (0..alphas.len()).step_by(chunk) {
        let end = (start + chunk).min(alphas.len());
        let s = end - start;
        let a = column(&alphas[start..end], n, &x.device(), x.dtype());
        let w = column(&weights[start..end], n, &x.device(), x.dtype());
        let pts = baseline.clone().repeat_dim(0, s) + mul_rows(diff.clone().repeat_dim(0, s), &a);
        let (g, _) = unit_gradient(ex, &pts, layer, unit)?;
        integral = integral + sum_steps(mul_rows(g, &w), s, dims)?;
    }
    let attributions = diff * integral;
    let (_, at_x) = unit_gradient(ex, x, layer, unit)?;
    let (_, at_b) = unit_gradient(ex, baseline, layer, unit)?;
    let sums = DynTensor::from_tensor(attributions.clone())
        .into_rows()?
        .sum_dim(1);
    let sums = DynTensor::from_tensor(sums).to_vec_f64()?;
    let delta = (0..n).map(|i| sums[i] - (at_x[i] - at_b[i])).collect();
    Ok((attributions, delta))
}

/// Conductance of unit `unit` of `layer` for each sample's target, per input feature.
///
/// Returns the attributions (the inputs' shape) and, per input, their sum: the unit's total
/// conductance (compare with [`super::layer::layer_conductance`]).
pub fn neuron_conductance<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    target: &Target,
    layer: &str,
    unit: usize,
    config: &IgConfig,
) -> Result<(Tensor<D>, Vec<f64>)> {
    crate::gradient::validate_inputs(x)?;
    super::check_reference(x, baseline, "neuron conductance baseline")?;
    let classes = ex.classes(x, target)?;
    let dims = x.dims();
    let n = dims[0];
    let g = ex.graph(x)?;
    let node = g.resolve_node(layer)?;
    let layer_shape = g
        .eval_tapped(
            &[DynTensor::from_tensor(x.clone())],
            &[node.as_str()],
            &ex.device.clone().inner(),
            ex.precision,
        )?
        .values[0]
        .shape();
    let per: usize = layer_shape.iter().skip(1).product();
    if unit >= per {
        return Err(XaiError::Config(format!(
            "unit {unit} out of range: layer `{node}` has {per} units per sample"
        )));
    }
    let (alphas, weights) = config.method.nodes(config.n_steps)?;
    let row_bytes = g.bytes_per_sample();
    let chunk = config.budget.rows(row_bytes * n).clamp(1, alphas.len());
    let diff = x.clone() - baseline.clone();
    let mut integral = Tensor::<D>::zeros(dims, (&x.device(), x.dtype()));
    for start in (0..alphas.len()).step_by(chunk) {
        let end = (start + chunk).min(alphas.len());
        let s = end - start;
        let a = column(&alphas[start..end], n, &x.device(), x.dtype());
        let pts = baseline.clone().repeat_dim(0, s) + mul_rows(diff.clone().repeat_dim(0, s), &a);
        let cls: Vec<usize> = (0..s).flat_map(|_| classes.iter().copied()).collect();
        // ∂F/∂a_u at every point, times the quadrature weight: one scale per row.
        let (_, dfda, _) = tapped_grad(ex, &pts, &node, None, &layer_shape, &cls)?;
        let scale: Vec<f64> = (0..s * n)
            .map(|r| dfda[r * per + unit] * weights[start + r / n])
            .collect();
        let scale =
            Tensor::<1>::from_data(TensorData::new(scale, [s * n]), (&x.device(), x.dtype()));
        let (dadx, _) = unit_gradient(ex, &pts, layer, unit)?;
        integral = integral + sum_steps(mul_rows(dadx, &scale), s, dims)?;
    }
    let attributions = diff * integral;
    let sums = DynTensor::from_tensor(attributions.clone())
        .into_rows()?
        .sum_dim(1);
    let totals = DynTensor::from_tensor(sums).to_vec_f64()?;
    if totals.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("neuron conductance".into()));
    }
    Ok((attributions, totals))
}
