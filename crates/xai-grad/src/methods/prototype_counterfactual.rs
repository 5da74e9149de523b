//! Counterfactuals guided by class prototypes (Van Looveren & Klaise 2021, "Interpretable
//! counterfactual explanations guided by prototypes").
//!
//! The training inputs are grouped by the model's predicted class. For an input `x₀` classified
//! `t₀`, the prototype of class `i` is the mean encoding of the `K` training inputs of class `i`
//! nearest to `ENC(x₀)` (the encoder is optional: without one, `ENC` is the identity and the
//! prototype is the mean of the `K` nearest training inputs). The target class is the one given
//! for the row or, by default, the class `j ≠ t₀` whose prototype is nearest. The search
//! ([`super::elastic_net`]: FISTA, bisection on `c`) minimises over `δ`
//!
//! `c · L_pred + β‖δ‖₁ + ‖δ‖₂² + γ‖x₀ + δ − AE(x₀ + δ)‖₂² + θ‖ENC(x₀ + δ) − proto_j‖₂²`
//!
//! with `L_pred = max(f_{t₀}(x₀+δ) − max_{i≠t₀} f_i(x₀+δ), −κ)` (any other class), or
//! `max(max_{i≠j} f_i − f_j, −κ)` when a target class `j` is given. The prototype term pulls the
//! counterfactual toward a dense region of the target class, so it is found faster and looks like
//! the data; the result keeps the valid iterate with the smallest `β‖δ‖₁ + ‖δ‖₂²`.
//!
//! Checks (tested): prototypes equal a brute-force K-nearest mean; with `c = 0` the result is the
//! closed form `δ = soft(2θ(p − x₀), β) / (2 + 2θ)`; with the defaults the counterfactual reaches
//! the prototype's class and stays inside the bounds; immutable features never move.
//!
//! Shapes: inputs and training inputs `[N, ...]` of the same trailing shape; encoder outputs
//! `[N, E]`; counterfactuals have the inputs' shape.
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::{Device, Tensor, TensorData};
//! use xai_grad::methods::Explainable;
//! use xai_grad::methods::prototype_counterfactual::{prototype_counterfactual, ProtoConfig, Guides};
//!
//! let dev = Device::flex();
//! let model: Linear = xai_core::init::seeded(LinearConfig::new(2, 2).init(&dev), 3).unwrap();
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let grid: Vec<f32> = (0..64).flat_map(|i| [(i % 8) as f32 - 3.5, (i / 8) as f32 - 3.5]).collect();
//! let train = Tensor::<2>::from_data(TensorData::new(grid, [64, 2]), &dev);
//! let x = Tensor::<2>::from_data(TensorData::new(vec![0.3f32, -0.2], [1, 2]), &dev);
//! let config = ProtoConfig { max_iterations: 200, ..ProtoConfig::default() };
//! let guides = Guides { train: &train, encoder: None, autoencoder: None };
//! let cf = prototype_counterfactual(&ex, &x, &guides, None, &config).unwrap();
//! assert!(cf.found[0]);
//! assert_eq!(cf.classes[0], cf.target[0]);
//! ```

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Explainable;
use super::elastic_net::{Bounds, Goal, Problem, check_settings};
use xai_core::{Result, XaiError};

/// Settings of the search (defaults as alibi's `CounterfactualProto`, with `θ = 10`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProtoConfig {
    /// Margin `κ ≥ 0` of the class loss.
    pub kappa: f64,
    /// Weight `β` of the L1 term.
    pub beta: f64,
    /// Weight `θ` of the prototype term.
    pub theta: f64,
    /// Weight `γ` of the autoencoder term (used when an autoencoder is given).
    pub gamma: f64,
    /// Training inputs averaged into each prototype (the `K` nearest of the class).
    pub k: usize,
    /// First class-loss weight `c`.
    pub c_init: f64,
    /// Bisection steps on `c`.
    pub c_steps: usize,
    /// FISTA iterations per value of `c`.
    pub max_iterations: usize,
    /// Initial step size (decays as `(1 − k/K)^½`).
    pub learning_rate: f64,
    /// Per-feature lower bounds (`None`: unbounded).
    pub lower: Option<Vec<f64>>,
    /// Per-feature upper bounds (`None`: unbounded).
    pub upper: Option<Vec<f64>>,
    /// Flat feature indices that never change.
    pub immutable: Vec<usize>,
}

impl Default for ProtoConfig {
    fn default() -> Self {
        ProtoConfig {
            kappa: 0.0,
            beta: 0.1,
            theta: 10.0,
            gamma: 0.0,
            k: 5,
            c_init: 10.0,
            c_steps: 10,
            max_iterations: 1000,
            learning_rate: 1e-2,
            lower: None,
            upper: None,
            immutable: Vec::new(),
        }
    }
}

/// What guides the search: the training inputs the prototypes come from, and the optional
/// encoder (`[N, ...] → [N, E]`) and autoencoder (`[N, ...] → [N, F]`).
pub struct Guides<'a, const D: usize> {
    /// Training inputs, grouped by the model's predicted class.
    pub train: &'a Tensor<D>,
    /// The space the prototypes live in (`None`: the input space).
    pub encoder: Option<&'a Explainable<D>>,
    /// Keeps the counterfactual near the data manifold (weight `γ`).
    pub autoencoder: Option<&'a Explainable<D>>,
}

/// Counterfactuals for a batch.
#[derive(Clone, Debug)]
pub struct ProtoResult<const D: usize> {
    /// `x₀ + δ` (the inputs' shape).
    pub counterfactuals: Tensor<D>,
    /// Whether row `r` reached a class other than `t₀` (or its given target) by `κ`.
    pub found: Vec<bool>,
    /// `t₀`, the class of each input.
    pub original: Vec<usize>,
    /// The class whose prototype guided each row.
    pub target: Vec<usize>,
    /// That prototype, in the encoder's space (`E` values per row).
    pub prototypes: Vec<Vec<f64>>,
    /// The arg-max class of each counterfactual.
    pub classes: Vec<usize>,
    /// The class-loss weight `c` at which the counterfactual was found.
    pub c: Vec<f64>,
    /// `β‖δ‖₁ + ‖δ‖₂²` per row.
    pub distance: Vec<f64>,
    /// Features with `δᵢ ≠ 0` per row.
    pub changed: Vec<usize>,
}

/// Prototype-guided counterfactuals for every row of `x`; `desired` gives a target class per
/// row (`None`: the nearest other class's prototype decides).
pub fn prototype_counterfactual<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    guides: &Guides<D>,
    desired: Option<&[usize]>,
    config: &ProtoConfig,
) -> Result<ProtoResult<D>> {
    crate::gradient::validate_inputs(x)?;
    crate::gradient::validate_inputs(guides.train)?;
    check_settings(
        config.kappa,
        config.beta,
        config.c_init,
        config.c_steps,
        config.max_iterations,
        config.learning_rate,
    )?;
    let fine = |v: f64| v.is_finite() && v >= 0.0;
    if !(fine(config.theta) && fine(config.gamma)) || config.k == 0 {
        return Err(XaiError::Config(format!(
            "θ {} and γ {} must be finite and ≥ 0, K {} ≥ 1",
            config.theta, config.gamma, config.k
        )));
    }
    let dims = x.dims();
    if guides.train.dims()[1..] != dims[1..] {
        return Err(XaiError::shape(
            "training inputs",
            format!("[M, {:?}]", &dims[1..]),
            &guides.train.dims(),
        ));
    }
    let n = dims[0];
    let f: usize = dims[1..].iter().product();
    let original = super::attacks::predicted_classes(ex, x)?;
    let classes_out = ex.output_count(x)?;
    if let Some(d) = desired {
        if d.len() != n {
            return Err(XaiError::shape(
                "desired classes",
                format!("{n} entries"),
                &[d.len()],
            ));
        }
        if let Some(&bad) = d.iter().find(|&&c| c >= classes_out) {
            return Err(XaiError::TargetOutOfRange {
                index: bad,
                classes: classes_out,
            });
        }
    }
    let train_classes = super::attacks::predicted_classes(ex, guides.train)?;
    let encode = |t: &Tensor<D>| -> Result<Vec<f64>> {
        match guides.encoder {
            Some(enc) => xai_core::tensor_to_vec_f64(enc.forward(t)?),
            None => xai_core::tensor_to_vec_f64(t.clone()),
        }
    };
    let train_codes = encode(guides.train)?;
    let codes = encode(x)?;
    let e = codes.len() / n;
    if train_codes.len() != train_classes.len() * e || train_codes.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::Numerical(
            "the encoder gave non-finite or ragged codes".into(),
        ));
    }
    let mut target = Vec::with_capacity(n);
    let mut prototypes = Vec::with_capacity(n);
    for r in 0..n {
        let code = &codes[r * e..(r + 1) * e];
        let candidates: Vec<usize> = match desired {
            Some(d) => vec![d[r]],
            None => (0..classes_out).filter(|&c| c != original[r]).collect(),
        };
        let best = candidates
            .iter()
            .filter_map(|&class| {
                let proto = prototype(code, &train_codes, &train_classes, class, config.k)?;
                Some((squared_distance(code, &proto), class, proto))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, class, proto)) = best else {
            return Err(XaiError::Config(format!(
                "no training input is classified as {} (row {r}): no prototype to guide",
                match desired {
                    Some(d) => format!("class {}", d[r]),
                    None => format!("a class other than {}", original[r]),
                }
            )));
        };
        target.push(class);
        prototypes.push(proto);
    }
    let bounds = Bounds::new(&config.lower, &config.upper, &config.immutable, f)?;
    let x0 = xai_core::tensor_to_vec_f64(x.clone())?;
    bounds.check_inside(&x0)?;
    let (lo, hi) = bounds.search_box(&x0, |_| false);
    let (goal, goal_classes) = match desired {
        Some(d) => (Goal::Win, d.to_vec()),
        None => (Goal::Lose, original.clone()),
    };
    let problem = Problem {
        model: ex,
        like: x,
        origin: x0.clone(),
        lower: lo,
        upper: hi,
        goal,
        classes: goal_classes,
        kappa: config.kappa,
        beta: config.beta,
        autoencoder: guides.autoencoder.map(|ae| (ae, config.gamma)),
        prototype: Some((guides.encoder, prototypes.concat(), config.theta)),
        c_init: config.c_init,
        c_steps: config.c_steps,
        max_iterations: config.max_iterations,
        learning_rate: config.learning_rate,
    };
    let sol = problem.solve()?;
    Ok(ProtoResult {
        counterfactuals: Tensor::<D>::from_data(
            TensorData::new(sol.points, dims),
            (&x.device(), x.dtype()),
        ),
        found: sol.found,
        original,
        target,
        prototypes,
        classes: sol.predicted,
        c: sol.c,
        distance: sol.distance,
        changed: sol.changed,
    })
}

/// The mean of the `k` codes of `class` nearest to `code` (fewer if the class has fewer);
/// `None` if no training input has that class.
pub fn prototype(
    code: &[f64],
    train_codes: &[f64],
    train_classes: &[usize],
    class: usize,
    k: usize,
) -> Option<Vec<f64>> {
    let e = code.len();
    let mut near: Vec<(f64, usize)> = train_classes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == class)
        .map(|(m, _)| (squared_distance(code, &train_codes[m * e..(m + 1) * e]), m))
        .collect();
    if near.is_empty() {
        return None;
    }
    near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    near.truncate(k);
    let mut mean = vec![0.0; e];
    for &(_, m) in &near {
        for (acc, v) in mean.iter_mut().zip(&train_codes[m * e..(m + 1) * e]) {
            *acc += v / near.len() as f64;
        }
    }
    Some(mean)
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum()
}
