//! Integrated gradients (Sundararajan et al., 2017, "Axiomatic attribution for deep networks").
//!
//! `IG_i(x) = (x_i − b_i) · ∫₀¹ ∂f(b + α(x − b))/∂x_i dα`, approximated by a quadrature
//! `Σ_k w_k ∂f(b + α_k(x − b))/∂x` with Captum's rules:
//!
//! | method | nodes `α_k` | weights `w_k` |
//! |---|---|---|
//! | `riemann_left` | `k/n` | `1/n` |
//! | `riemann_right` | `(k+1)/n` | `1/n` |
//! | `riemann_middle` | `(k+½)/n` | `1/n` |
//! | `riemann_trapezoid` | `k/(n−1)` | `1/n`, halved at both ends (Captum's; they sum to `(n−1)/n`) |
//! | `gausslegendre` | Gauss–Legendre nodes mapped to `[0, 1]` | their weights / 2 |
//!
//! All `n · N` interpolated points are evaluated in as few forward/backward passes as the memory
//! budget allows (one, usually). Axioms: completeness `Σ_i IG_i = f(x) − f(b)` up to the
//! quadrature error, reported per sample as `completeness_delta`; sensitivity and implementation
//! invariance (tested on the paper's toy functions). The adaptive mode doubles `n` until
//! `max |delta| ≤ tolerance` (none of the peers has it).
//!
//! Shapes: inputs `[N, ...]`, baseline the same shape; attributions the inputs' shape.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn::nn::{Linear, LinearConfig};
//! use xai_core::Target;
//! use xai_grad::methods::{Explainable, integrated_gradients::{integrated_gradients, IgConfig}};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(4, 3).init(&dev);
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([2, 4], &dev);
//! let r = integrated_gradients(&ex, &x, &Tensor::zeros([2, 4], &dev), &Target::Class(0), &IgConfig::default()).unwrap();
//! assert!(r.delta.iter().all(|d| d.abs() < 1e-4)); // linear model: exact
//! ```

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use xai_core::{MemoryBudget, Result, Target, XaiError};

use crate::engine::DynTensor;

use super::Explainable;

/// The quadrature rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrature {
    /// Left Riemann sum.
    RiemannLeft,
    /// Right Riemann sum.
    RiemannRight,
    /// Midpoint rule.
    RiemannMiddle,
    /// Trapezoid rule.
    RiemannTrapezoid,
    /// Gauss–Legendre (Captum's default).
    #[default]
    GaussLegendre,
}

impl Quadrature {
    /// Parse Captum's names (`riemann_left`, …, `gausslegendre`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "riemann_left" => Quadrature::RiemannLeft,
            "riemann_right" => Quadrature::RiemannRight,
            "riemann_middle" => Quadrature::RiemannMiddle,
            "riemann_trapezoid" => Quadrature::RiemannTrapezoid,
            "gausslegendre" | "gauss_legendre" => Quadrature::GaussLegendre,
            other => {
                return Err(XaiError::Config(format!(
                    "unknown quadrature `{other}` (riemann_left|right|middle|trapezoid, gausslegendre)"
                )));
            }
        })
    }

    /// Nodes in `[0, 1]` and weights (summing to 1, except Captum's trapezoid), for `n` points.
    pub fn nodes(self, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        if n == 0 || (n == 1 && self == Quadrature::RiemannTrapezoid) {
            return Err(XaiError::Config(format!(
                "{self:?} needs more steps than {n}"
            )));
        }
        let nf = n as f64;
        Ok(match self {
            Quadrature::RiemannLeft => ((0..n).map(|k| k as f64 / nf).collect(), vec![1.0 / nf; n]),
            Quadrature::RiemannRight => {
                ((1..=n).map(|k| k as f64 / nf).collect(), vec![1.0 / nf; n])
            }
            Quadrature::RiemannMiddle => (
                (0..n).map(|k| (k as f64 + 0.5) / nf).collect(),
                vec![1.0 / nf; n],
            ),
            Quadrature::RiemannTrapezoid => {
                // Captum's weights: 1/n inside, 1/2n at the ends, on n equispaced nodes (they
                // sum to (n − 1)/n, not 1; we match Captum and the delta shows the difference).
                let mut w = vec![1.0 / nf; n];
                w[0] = 0.5 / nf;
                w[n - 1] = 0.5 / nf;
                ((0..n).map(|k| k as f64 / (nf - 1.0)).collect(), w)
            }
            Quadrature::GaussLegendre => {
                let (x, w) = gauss_legendre(n);
                (
                    x.iter().map(|x| 0.5 * (x + 1.0)).collect(),
                    w.iter().map(|w| 0.5 * w).collect(),
                )
            }
        })
    }
}

/// Gauss–Legendre nodes and weights on `[−1, 1]`, ascending (Newton on the Legendre
/// recurrence; exact to ~1e-15 for the step counts used here). Written here because no
/// well-kept crate offers it without pulling in a numerics framework.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let nf = n as f64;
    for i in 0..n.div_ceil(2) {
        // Tricomi's initial guess for the i-th largest root.
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, z);
            for k in 2..=n {
                let kf = k as f64;
                let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
                p0 = p1;
                p1 = p2;
            }
            let p = if n == 1 { z } else { p1 };
            let pm1 = if n == 1 { 1.0 } else { p0 };
            dp = nf * (z * p - pm1) / (z * z - 1.0);
            let dz = p / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        x[i] = -z;
        x[n - 1 - i] = z;
        let wi = 2.0 / ((1.0 - z * z) * dp * dp);
        w[i] = wi;
        w[n - 1 - i] = wi;
    }
    (x, w)
}

/// Settings of integrated gradients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgConfig {
    /// Number of quadrature points (the initial number in adaptive mode).
    pub n_steps: usize,
    /// The quadrature rule.
    pub method: Quadrature,
    /// Adaptive mode: double `n_steps` until `max |delta| ≤ tolerance` (or `max_steps`).
    pub tolerance: Option<f64>,
    /// Upper bound on the steps of the adaptive mode.
    pub max_steps: usize,
    /// Memory budget for one forward/backward chunk.
    pub budget: MemoryBudget,
    /// Run the model's affine input layer (see [`CapturedGraph::affine_prefix`]) twice instead
    /// of once per step, and its backward once per input. Exact (the layer is affine along the
    /// path); off only to measure what it saves.
    ///
    /// [`CapturedGraph::affine_prefix`]: crate::CapturedGraph::affine_prefix
    pub affine_shortcut: bool,
}

impl Default for IgConfig {
    fn default() -> Self {
        IgConfig {
            n_steps: 50,
            method: Quadrature::GaussLegendre,
            tolerance: None,
            max_steps: 1024,
            budget: MemoryBudget::default(),
            affine_shortcut: true,
        }
    }
}

/// Attributions with their completeness deltas and the steps actually used.
pub struct IgResult<const D: usize> {
    /// Attributions, the inputs' shape.
    pub attributions: Tensor<D>,
    /// Per sample: `Σ attribution − (f(x) − f(b))`.
    pub delta: Vec<f64>,
    /// Quadrature points used (differs from `n_steps` in adaptive mode).
    pub steps: usize,
    /// The explained class of each sample.
    pub classes: Vec<usize>,
}

/// Integrated gradients of each sample's target logit.
pub fn integrated_gradients<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    target: &Target,
    config: &IgConfig,
) -> Result<IgResult<D>> {
    super::check_reference(x, baseline, "IG baseline")?;
    let classes = ex.classes(x, target)?;
    let fx = xai_core::tensor_to_vec_f64(ex.forward(x)?)?;
    let fb = xai_core::tensor_to_vec_f64(ex.forward(baseline)?)?;
    let n = classes.len();
    let c = fx.len() / n;
    let gap: Vec<f64> = (0..n)
        .map(|i| fx[i * c + classes[i]] - fb[i * c + classes[i]])
        .collect();
    let mut steps = config.n_steps;
    loop {
        let attributions = ig_fixed(ex, x, baseline, &classes, config, steps)?;
        let delta = row_sums(&attributions)?
            .iter()
            .zip(&gap)
            .map(|(s, g)| s - g)
            .collect::<Vec<_>>();
        if delta.iter().any(|d| !d.is_finite()) {
            return Err(XaiError::NonFinite("integrated gradients".into()));
        }
        let worst = delta.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        match config.tolerance {
            Some(tol) if worst > tol && steps * 2 <= config.max_steps => steps *= 2,
            _ => {
                return Ok(IgResult {
                    attributions,
                    delta,
                    steps,
                    classes,
                });
            }
        }
    }
}

fn row_sums<const D: usize>(t: &Tensor<D>) -> Result<Vec<f64>> {
    let n = t.dims()[0];
    let v = xai_core::tensor_to_vec_f64(t.clone())?;
    let per = v.len() / n.max(1);
    Ok((0..n)
        .map(|i| v[i * per..(i + 1) * per].iter().sum())
        .collect())
}

/// One fixed-step evaluation: all points, chunked over steps against the budget.
///
/// Without the shortcut the path runs from the baseline to the input and the sum is
/// `Σ_k w_k ∂F/∂x`. With an affine input prefix `z = A(x)` it starts at `z` instead:
/// `z_k = A(x') + α_k (A(x) − A(x'))` is exactly the prefix's output at the path point, the sum is
/// `Σ_k w_k ∂F/∂z`, and one vector-Jacobian product of the prefix maps it back to the input
/// (linear, so summing first is exact).
fn ig_fixed<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baseline: &Tensor<D>,
    classes: &[usize],
    config: &IgConfig,
    steps: usize,
) -> Result<Tensor<D>> {
    let (alphas, weights) = config.method.nodes(steps)?;
    let baseline = baseline.clone().cast(x.dtype());
    let diff = x.clone() - baseline.clone();
    let prefix = if config.affine_shortcut {
        ex.graph(x)?.affine_prefix()
    } else {
        None
    };
    let last = prefix.as_ref().and_then(|p| p.last().copied());
    let (start, delta) = match last {
        Some(node) => {
            let zb = ex.value_at(&baseline, node)?;
            let zx = ex.value_at(x, node)?;
            (zb.clone(), zx - zb)
        }
        None => (
            DynTensor::from_tensor(baseline).into_rows()?,
            DynTensor::from_tensor(diff.clone()).into_rows()?,
        ),
    };
    let sum = ex.path_sum(
        x,
        prefix.as_deref(),
        start,
        delta,
        &alphas,
        &weights,
        classes,
        config.budget,
    )?;
    let integral = match last {
        Some(node) => ex.vjp_at(x, node, sum)?,
        None => sum.reshape(x.dims()),
    };
    Ok(diff * integral)
}

/// A `[rows]` column of per-step values, each repeated for the `n` samples of its step.
pub(crate) fn column(
    v: &[f64],
    n: usize,
    dev: &burn::tensor::Device,
    dtype: burn::tensor::DType,
) -> Tensor<1> {
    let data: Vec<f64> = v.iter().flat_map(|&a| std::iter::repeat_n(a, n)).collect();
    let len = data.len();
    Tensor::<1>::from_data(TensorData::new(data, [len]), (dev, dtype))
}

/// Multiply each row of `t` (`[R, ...]`) by `col[r]`.
pub(crate) fn mul_rows<const D: usize>(t: Tensor<D>, col: &Tensor<1>) -> Tensor<D> {
    let mut shape = [1usize; D];
    shape[0] = col.dims()[0];
    t * col.clone().reshape(shape)
}

/// Sum `[s·N, ...]` over its `s` step blocks.
pub(crate) fn sum_steps<const D: usize>(
    t: Tensor<D>,
    s: usize,
    dims: [usize; D],
) -> Result<Tensor<D>> {
    let n = dims[0];
    let rest: usize = dims[1..].iter().product();
    let flat: Tensor<2> = t.reshape([s, n * rest]);
    Ok(flat.sum_dim(0).reshape(dims))
}

impl crate::engine::CapturedGraph {
    /// Bytes one sample keeps alive in a forward + backward pass (every node output, f32, ×2 for
    /// values and gradients): the unit the memory budget is counted in.
    pub fn bytes_per_sample(&self) -> usize {
        let batch = self
            .input_shape(0)
            .and_then(|s| s.first().copied())
            .unwrap_or(1)
            .max(1);
        let elems: usize = self
            .nodes
            .iter()
            .flat_map(|n| {
                n.op.outputs()
                    .map(|t| t.shape.num_elements())
                    .collect::<Vec<_>>()
            })
            .sum();
        (elems / batch).max(1) * 4 * 2
    }
}
