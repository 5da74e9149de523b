//! Explanation manipulation (Dombrowski et al. 2019, "Explanations can be manipulated and
//! geometry is to blame"): move an input imperceptibly so that its gradient map becomes an
//! arbitrary target map while the model's output stays put — a demonstration that a saliency
//! map alone certifies nothing.
//!
//! With `h(x) = ∇ₓ f_c(x)` the map and `g(x)` the logits, minimise
//!
//! `L(x') = ‖h(x') − hₜ‖² + γ ‖g(x') − g(x)‖²`
//!
//! by Adam on `x'` (clamped to the data range). `∇L` needs the input Hessian:
//! `½∇‖h − hₜ‖² = ∇²f_c (h − hₜ)`. A ReLU network's Hessian is zero almost everywhere, so the
//! optimisation runs on the network with every ReLU replaced by `softplus_β`
//! ([`CapturedGraph::with_relu_softplus`](crate::engine::CapturedGraph::with_relu_softplus)); each step is one gradient pass and one exact
//! Hessian-vector product by the engine's reverse-over-forward, both folded into one backward
//! (`select = ⟨∇f_c, v⟩ + γ/2 ‖g − g₀‖²`). The target is rescaled per sample to the norm of the
//! input's own map. The result is judged on the **original** ReLU network: the Pearson
//! correlation of its gradient map with the target before and after, and the largest change of
//! any softmax probability.
//!
//! Shapes: `x`, `target_map` `[N, ...]`; classes one per sample.
//!
//! ```no_run
//! # use xai_grad::methods::{Explainable, manipulation::{manipulate, ManipulationConfig}};
//! # fn demo(ex: &Explainable<4>, x: &burn::tensor::Tensor<4>, t: &burn::tensor::Tensor<4>) {
//! let r = manipulate(ex, x, t, &[3], &ManipulationConfig::default()).unwrap();
//! println!("similarity {:.2} → {:.2}, Δp ≤ {:.3}", r.similarity_before[0], r.similarity_after[0], r.max_probability_change);
//! # }
//! ```

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use xai_core::metrics::similarity::pearson;
use xai_core::{Result, XaiError, tensor_to_vec_f64};

use super::{Explainable, gradients_on, input_gradients};
use crate::engine::DynTensor;

/// Settings of [`manipulate`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManipulationConfig {
    /// Adam steps.
    pub steps: usize,
    /// Adam learning rate (in input units).
    pub learning_rate: f64,
    /// Weight `γ` of the output-preservation term.
    pub gamma: f64,
    /// Softplus sharpness `β` of the ReLU surrogate.
    pub beta: f64,
    /// The data range every input value is clamped to.
    pub clamp: Option<(f64, f64)>,
}

impl Default for ManipulationConfig {
    fn default() -> Self {
        ManipulationConfig {
            steps: 300,
            learning_rate: 1e-3,
            gamma: 1e4,
            beta: 10.0,
            clamp: None,
        }
    }
}

/// What [`manipulate`] returns.
pub struct ManipulationResult<const D: usize> {
    /// The manipulated inputs.
    pub adversarial: Tensor<D>,
    /// Pearson correlation of the ReLU network's gradient map with the target, at the input.
    pub similarity_before: Vec<f64>,
    /// The same at the manipulated input.
    pub similarity_after: Vec<f64>,
    /// Largest absolute change of any softmax probability over all samples.
    pub max_probability_change: f64,
    /// Largest absolute change of any input value.
    pub max_input_change: f64,
    /// The objective `L` per step (sum over samples, on the surrogate).
    pub loss: Vec<f64>,
}

fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    tensor_to_vec_f64(t)
}

fn softmax_rows(v: &[f64], c: usize) -> Vec<f64> {
    v.chunks(c)
        .flat_map(|r| {
            let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = r.iter().map(|x| (x - m).exp()).sum();
            r.iter().map(move |x| (x - m).exp() / z).collect::<Vec<_>>()
        })
        .collect()
}

/// Run the attack (see the module docs).
pub fn manipulate<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target_map: &Tensor<D>,
    classes: &[usize],
    config: &ManipulationConfig,
) -> Result<ManipulationResult<D>> {
    super::check_reference(x, target_map, "target map")?;
    let dims = x.dims();
    let n = dims[0];
    if classes.len() != n {
        return Err(XaiError::shape(
            "target classes",
            format!("{n} entries"),
            &[classes.len()],
        ));
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if config.steps == 0
        || !positive(config.learning_rate)
        || !(positive(config.gamma) || config.gamma == 0.0)
    {
        return Err(XaiError::Config(
            "manipulation needs steps ≥ 1, a positive learning rate and γ ≥ 0".into(),
        ));
    }
    let f = x.shape().num_elements() / n.max(1);
    let graph = ex.graph(x)?;
    let smooth = graph.with_relu_softplus(config.beta)?;
    let device = ex.device.clone();
    let precision = ex.precision;
    let to_tensor = |v: &[f64]| -> Tensor<D> {
        Tensor::from_data(TensorData::new(v.to_vec(), dims), (&device, x.dtype()))
    };
    let x0 = host(x.clone())?;
    let logits0 = host(ex.forward(x)?)?;
    let c = logits0.len() / n;
    // The target, rescaled per sample to the norm of the sample's own (surrogate) map.
    let h0 = host(gradients_on(
        &smooth,
        &to_tensor(&x0),
        classes,
        &device,
        precision,
    )?)?;
    let mut target = host(target_map.clone())?;
    for i in 0..n {
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let (nh, nt) = (
            norm(&h0[i * f..(i + 1) * f]),
            norm(&target[i * f..(i + 1) * f]),
        );
        if nt > 0.0 {
            target[i * f..(i + 1) * f]
                .iter_mut()
                .for_each(|v| *v *= nh / nt);
        }
    }
    let g0 = Tensor::<2>::from_data(
        TensorData::new(logits0.clone(), [n, c]),
        (&device.clone().autodiff(), x.dtype()),
    );
    let mut onehot = vec![0.0; n * c];
    for (i, &k) in classes.iter().enumerate() {
        onehot[i * c + k] = 1.0;
    }
    let onehot = Tensor::<2>::from_data(
        TensorData::new(onehot, [n, c]),
        (&device.clone().autodiff(), x.dtype()),
    );
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let mut m = vec![0.0; n * f];
    let mut s = vec![0.0; n * f];
    let mut xa = x0.clone();
    let mut loss = Vec::with_capacity(config.steps);
    for step in 1..=config.steps {
        let xt = to_tensor(&xa);
        let h = host(gradients_on(&smooth, &xt, classes, &device, precision)?)?;
        let v: Vec<f64> = h.iter().zip(&target).map(|(a, b)| a - b).collect();
        let logits = host(
            smooth
                .eval(&[DynTensor::from_tensor(xt.clone())], &device, precision)?
                .remove(0)
                .into_tensor::<2>()?,
        )?;
        let out_term: f64 = logits
            .iter()
            .zip(&logits0)
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        loss.push(v.iter().map(|a| a * a).sum::<f64>() + config.gamma * out_term);
        let gamma = config.gamma;
        let (g0c, ohc) = (g0.clone(), onehot.clone());
        let half_grad = smooth.hvp_input(
            &DynTensor::from_tensor(xt),
            &DynTensor::from_tensor(to_tensor(&v)),
            &device,
            precision,
            move |y, t| {
                let (y, t) = (y.into_tensor::<2>()?, t.into_tensor::<2>()?);
                let directional = (t * ohc.clone()).sum_dim(1);
                let keep = (y - g0c.clone())
                    .powi_scalar(2)
                    .sum_dim(1)
                    .mul_scalar(gamma / 2.0);
                Ok((directional + keep).reshape([n]))
            },
        )?;
        let grad = tensor_to_vec_f64(half_grad.into_tensor::<D>()?)?;
        for j in 0..n * f {
            let gj = 2.0 * grad[j];
            m[j] = b1 * m[j] + (1.0 - b1) * gj;
            s[j] = b2 * s[j] + (1.0 - b2) * gj * gj;
            let mh = m[j] / (1.0 - b1.powi(step as i32));
            let sh = s[j] / (1.0 - b2.powi(step as i32));
            xa[j] -= config.learning_rate * mh / (sh.sqrt() + eps);
            if let Some((lo, hi)) = config.clamp {
                xa[j] = xa[j].clamp(lo, hi);
            }
        }
        if xa.iter().any(|v| !v.is_finite()) {
            return Err(XaiError::NonFinite(format!(
                "manipulated input at step {step} (lower the learning rate)"
            )));
        }
    }
    // Judge on the original ReLU network.
    let adversarial = to_tensor(&xa);
    let map = |t: &Tensor<D>| -> Result<Vec<f64>> { host(input_gradients(ex, t, classes)?) };
    let (before, after) = (map(x)?, map(&adversarial)?);
    let sim = |a: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| pearson(&a[i * f..(i + 1) * f], &target[i * f..(i + 1) * f]))
            .collect()
    };
    let p0 = softmax_rows(&logits0, c);
    let p1 = softmax_rows(&host(ex.forward(&adversarial)?)?, c);
    Ok(ManipulationResult {
        similarity_before: sim(&before),
        similarity_after: sim(&after),
        max_probability_change: p0
            .iter()
            .zip(&p1)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max),
        max_input_change: x0
            .iter()
            .zip(&xa)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max),
        adversarial,
        loss,
    })
}
