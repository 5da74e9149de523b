//! Feature interactions from exact second derivatives: the input Hessian of a target and
//! Integrated Hessians (Janizek, Sturmfels & Lee 2021), which no peer library offers.
//!
//! - [`input_hessian`]: `H_jk = ∂²f_c/∂x_j∂x_k` per input, `[N, F, F]`, from `F` exact
//!   Hessian-vector products (reverse-over-forward), all directions of all inputs in one
//!   expanded batch.
//! - [`integrated_hessians`]: with `Δ = x − x'` and the path `x' + γΔ`,
//!   `Γ_jk = Δ_j Δ_k ∫₀¹ γ(−ln γ) H_jk(x' + γΔ) dγ` for `j ≠ k`, plus on the diagonal the
//!   first-order term `Δ_j ∫₀¹ (−ln γ) ∂_j f(x' + γΔ) dγ` (the double path integral of the paper
//!   reduced to one variable, `γ = αβ`). Completeness: `Σ_jk Γ_jk = f(x) − f(x')`, because
//!   `∫(−ln γ) d/dγ[γ h(γ)] dγ = ∫ h` with `h` the IG integrand; the delta is reported.
//!   Quadrature: Gauss–Legendre on `γ` (the weight's log singularity is integrable; use more
//!   points for a smaller delta).
//!
//! Cost: `F` HVPs (≈ 1.5 gradients each) per path point per input, so these are for inputs with
//! up to a few hundred features (tabular data, embeddings, superpixel groups).

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Explainable;
use super::integrated_gradients::Quadrature;
use crate::engine::DynTensor;
use xai_core::{MemoryBudget, Result, Target, XaiError};

/// Pairwise values per input.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Interactions {
    /// `[N, F, F]`, row-major.
    pub values: Vec<f64>,
    /// Inputs.
    pub n: usize,
    /// Features per input.
    pub features: usize,
    /// `Σ_jk Γ_jk − (f(x) − f(x'))` per input (Integrated Hessians only).
    pub delta: Option<Vec<f64>>,
    /// The explained class per input.
    pub classes: Vec<usize>,
}

/// Hessians of the class-`classes[m]` logit at `points` (`[M, ...]`, F features each), as
/// `[M, F, F]`, in chunks of whole directions.
fn hessians<const D: usize>(
    ex: &Explainable<D>,
    points: &Tensor<D>,
    classes: &[usize],
    budget: MemoryBudget,
) -> Result<Vec<f64>> {
    let dims = points.dims();
    let m = dims[0];
    let f: usize = dims[1..].iter().product();
    let host = DynTensor::from_tensor(points.clone()).to_vec_f64()?;
    let row_bytes = ex.graph(points)?.bytes_per_sample() * 3; // value, tangent, adjoint
    let per_chunk = budget.rows(row_bytes * m).clamp(1, f);
    let mut out = vec![0.0; m * f * f];
    for start in (0..f).step_by(per_chunk) {
        let end = (start + per_chunk).min(f);
        let s = end - start;
        // Rows (direction j, point p): the point, and the unit direction e_j.
        let mut xs = Vec::with_capacity(s * m * f);
        let mut vs = vec![0.0; s * m * f];
        for (b, j) in (start..end).enumerate() {
            xs.extend_from_slice(&host);
            for p in 0..m {
                vs[(b * m + p) * f + j] = 1.0;
            }
        }
        let mut shape = dims;
        shape[0] = s * m;
        let opts = (&points.device(), points.dtype());
        let x = Tensor::<D>::from_data(TensorData::new(xs, shape), opts);
        let v = Tensor::<D>::from_data(TensorData::new(vs, shape), opts);
        let cls: Vec<usize> = (0..s).flat_map(|_| classes.iter().copied()).collect();
        let g = ex.graph(&x)?;
        let hv = g.hvp_input(
            &DynTensor::from_tensor(x),
            &DynTensor::from_tensor(v),
            &ex.device,
            ex.precision,
            |_, t| Target::Classes(cls.clone()).select(t.into_tensor::<2>()?),
        )?;
        let hv = hv.to_vec_f64()?;
        for b in 0..s {
            let j = start + b;
            for p in 0..m {
                for k in 0..f {
                    out[(p * f + k) * f + j] = hv[(b * m + p) * f + k];
                }
            }
        }
    }
    Ok(out)
}

/// The input Hessian of each input's target logit.
pub fn input_hessian<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    budget: MemoryBudget,
) -> Result<Interactions> {
    crate::gradient::validate_inputs(x)?;
    let classes = ex.classes(x, target)?;
    let n = x.dims()[0];
    let f = x.dims()[1..].iter().product();
    Ok(Interactions {
        values: hessians(ex, x, &classes, budget)?,
        n,
        features: f,
        delta: None,
        classes,
    })
}

/// Integrated Hessians between `baseline` and `x` with `n_steps` Gauss–Legendre points.
pub fn integrated_hessians<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    target: &Target,
    n_steps: usize,
    budget: MemoryBudget,
) -> Result<Interactions> {
    crate::gradient::validate_inputs(x)?;
    super::check_reference(x, baseline, "integrated Hessians baseline")?;
    if n_steps == 0 {
        return Err(XaiError::Config(
            "integrated Hessians need n_steps ≥ 1".into(),
        ));
    }
    let classes = ex.classes(x, target)?;
    let dims = x.dims();
    let n = dims[0];
    let f: usize = dims[1..].iter().product();
    let (gammas, weights) = Quadrature::GaussLegendre.nodes(n_steps)?; // on [0, 1]
    let xs = DynTensor::from_tensor(x.clone()).to_vec_f64()?;
    let bs = DynTensor::from_tensor(baseline.clone()).to_vec_f64()?;
    let delta_x: Vec<f64> = xs.iter().zip(&bs).map(|(a, b)| a - b).collect();
    // All path points of all inputs: [K·N, ...], step-major.
    let mut pts = Vec::with_capacity(n_steps * n * f);
    for &g in &gammas {
        pts.extend(bs.iter().zip(&delta_x).map(|(b, d)| b + g * d));
    }
    let mut shape = dims;
    shape[0] = n_steps * n;
    let points = Tensor::<D>::from_data(TensorData::new(pts, shape), (&x.device(), x.dtype()));
    let cls: Vec<usize> = (0..n_steps).flat_map(|_| classes.iter().copied()).collect();
    let h = hessians(ex, &points, &cls, budget)?;
    let grads = DynTensor::from_tensor(super::input_gradients(ex, &points, &cls)?).to_vec_f64()?;
    let mut values = vec![0.0; n * f * f];
    for (k, (&g, &w)) in gammas.iter().zip(&weights).enumerate() {
        let log = -g.ln();
        for i in 0..n {
            let p = k * n + i;
            let d = &delta_x[i * f..(i + 1) * f];
            for a in 0..f {
                for b in 0..f {
                    values[(i * f + a) * f + b] +=
                        w * g * log * d[a] * d[b] * h[(p * f + a) * f + b];
                }
                values[(i * f + a) * f + a] += w * log * d[a] * grads[p * f + a];
            }
        }
    }
    let fx = DynTensor::from_tensor(ex.forward(x)?).to_vec_f64()?;
    let fb = DynTensor::from_tensor(ex.forward(baseline)?).to_vec_f64()?;
    let c = fx.len() / n;
    let delta = (0..n)
        .map(|i| {
            values[i * f * f..(i + 1) * f * f].iter().sum::<f64>()
                - (fx[i * c + classes[i]] - fb[i * c + classes[i]])
        })
        .collect();
    Ok(Interactions {
        values,
        n,
        features: f,
        delta: Some(delta),
        classes,
    })
}
