//! The contrastive explanation method (Dhurandhar et al. 2018, "Explanations based on the
//! missing: towards contrastive explanations with pertinent negatives").
//!
//! For an input `x₀` classified `t₀`, CEM answers two questions with an elastic-net search
//! ([`super::elastic_net`]: FISTA with soft-thresholding, bisection on the class weight `c`):
//!
//! - **pertinent positive** (PP): the smallest part `p` of `x₀` that is still classified `t₀`
//!   with margin `κ` — each feature lies between its *absent* value `b` (the background: 0 for
//!   pixels, a baseline for tabular data) and its value in `x₀`. Minimises
//!   `c · max(max_{j≠t₀} f_j(p) − f_{t₀}(p), −κ) + β‖p − b‖₁ + ‖p − b‖₂² + γ‖p − AE(p)‖₂²`;
//! - **pertinent negative** (PN): the smallest addition `δ` whose presence changes the class
//!   (what must be *absent* for `t₀`). Minimises
//!   `c · max(f_{t₀}(x₀ + δ) − max_{j≠t₀} f_j(x₀ + δ), −κ) + β‖δ‖₁ + ‖δ‖₂² + γ‖x₀ + δ − AE(x₀ + δ)‖₂²`
//!   with `x₀ + δ` inside the feature bounds; with `absent_only` only features at their absent
//!   value may change (the paper's image setting: pixels that are off may be turned on).
//!
//! The optional autoencoder (outputs `[N, F]`, the flattened input) keeps the explanation close
//! to the data manifold. Each row keeps the valid iterate with the smallest elastic-net distance.
//!
//! Checks (tested): on a linear model the PN and PP equal the closed-form elastic-net optimum
//! (`δᵢ = sign(aᵢ) max(0, μ|aᵢ| − β) / 2`, clamped to the box, `μ` by bisection on the margin);
//! a PP keeps the class, lies between `b` and `x₀` and is sparse; a PN flips the class and
//! moves only features allowed to move.
//!
//! Shapes: inputs `[N, ...]` (features = the flattened trailing dimensions); explanations have
//! the inputs' shape.
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::{Device, Tensor, TensorData};
//! use xai_grad::methods::Explainable;
//! use xai_grad::methods::cem::{cem, CemConfig, Pertinent};
//!
//! let dev = Device::flex();
//! let model: Linear = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 1).unwrap();
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::from_data(TensorData::new(vec![0.9f32, -0.4, 0.7], [1, 3]), &dev);
//! let config = CemConfig { max_iterations: 200, ..CemConfig::default() };
//! let pn = cem(&ex, &x, Pertinent::Negative, &config, None).unwrap();
//! assert!(pn.found[0]);
//! assert_ne!(pn.classes[0], pn.original[0]); // x + δ is classified differently
//! ```

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Explainable;
use super::elastic_net::{Bounds, Goal, Problem, check_settings, per_feature};
use xai_core::{Result, XaiError};

/// Which explanation to search for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pertinent {
    /// The minimal present part that keeps the class.
    Positive,
    /// The minimal absent part whose presence changes the class.
    Negative,
}

/// Settings of the search (defaults: those of the paper and of alibi's CEM).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CemConfig {
    /// Margin `κ ≥ 0` by which the class must win (PP) or lose (PN).
    pub kappa: f64,
    /// Weight `β` of the L1 term.
    pub beta: f64,
    /// Weight `γ` of the autoencoder term (used when an autoencoder is given).
    pub gamma: f64,
    /// First class-loss weight `c`.
    pub c_init: f64,
    /// Bisection steps on `c`.
    pub c_steps: usize,
    /// FISTA iterations per value of `c`.
    pub max_iterations: usize,
    /// Initial step size (decays as `(1 − k/K)^½`).
    pub learning_rate: f64,
    /// Per-feature absent value `b` (`None`: 0 for every feature).
    pub background: Option<Vec<f64>>,
    /// Per-feature lower bounds of `x₀ + δ` (PN; `None`: unbounded).
    pub lower: Option<Vec<f64>>,
    /// Per-feature upper bounds of `x₀ + δ` (PN; `None`: unbounded).
    pub upper: Option<Vec<f64>>,
    /// Flat feature indices a PN never changes.
    pub immutable: Vec<usize>,
    /// PN: only features at their absent value may change.
    pub absent_only: bool,
}

impl Default for CemConfig {
    fn default() -> Self {
        CemConfig {
            kappa: 0.0,
            beta: 0.1,
            gamma: 0.0,
            c_init: 10.0,
            c_steps: 10,
            max_iterations: 1000,
            learning_rate: 1e-2,
            background: None,
            lower: None,
            upper: None,
            immutable: Vec::new(),
            absent_only: false,
        }
    }
}

/// Pertinent positives or negatives for a batch.
#[derive(Clone, Debug)]
pub struct CemResult<const D: usize> {
    /// PP: the pertinent positive `p`; PN: the contrastive input `x₀ + δ` (the inputs' shape).
    pub explanations: Tensor<D>,
    /// PP: `p − b`; PN: `δ` (the inputs' shape).
    pub delta: Tensor<D>,
    /// Whether row `r` met its goal (PP: still `t₀` by `κ`; PN: another class by `κ`).
    pub found: Vec<bool>,
    /// `t₀`, the class of each input.
    pub original: Vec<usize>,
    /// The arg-max class of each explanation.
    pub classes: Vec<usize>,
    /// The class-loss weight `c` at which the explanation was found.
    pub c: Vec<f64>,
    /// `β‖δ‖₁ + ‖δ‖₂²` per row.
    pub distance: Vec<f64>,
    /// Features with `δᵢ ≠ 0` per row.
    pub changed: Vec<usize>,
}

/// CEM pertinent positives or negatives for every row of `x`, optionally with an autoencoder
/// (`[N, ...] → [N, F]`) weighting the manifold term by `config.gamma`.
pub fn cem<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    kind: Pertinent,
    config: &CemConfig,
    autoencoder: Option<&Explainable<D>>,
) -> Result<CemResult<D>> {
    crate::gradient::validate_inputs(x)?;
    check_settings(
        config.kappa,
        config.beta,
        config.c_init,
        config.c_steps,
        config.max_iterations,
        config.learning_rate,
    )?;
    if !(config.gamma.is_finite() && config.gamma >= 0.0) {
        return Err(XaiError::Config(format!(
            "γ {} must be finite and ≥ 0",
            config.gamma
        )));
    }
    let dims = x.dims();
    let n = dims[0];
    let f: usize = dims[1..].iter().product();
    let background = per_feature(&config.background, "CEM background", f, 0.0)?;
    if background.iter().any(|b| !b.is_finite()) {
        return Err(XaiError::Config("the CEM background must be finite".into()));
    }
    let bounds = Bounds::new(&config.lower, &config.upper, &config.immutable, f)?;
    let x0 = xai_core::tensor_to_vec_f64(x.clone())?;
    let original = super::attacks::predicted_classes(ex, x)?;
    let (origin, (lo, hi)): (Vec<f64>, (Vec<f64>, Vec<f64>)) = match kind {
        Pertinent::Positive => (
            (0..n * f).map(|k| background[k % f]).collect(),
            (0..n * f)
                .map(|k| {
                    let (b, v) = (background[k % f], x0[k]);
                    (b.min(v), b.max(v))
                })
                .unzip(),
        ),
        Pertinent::Negative => {
            bounds.check_inside(&x0)?;
            let present = |k: usize| config.absent_only && x0[k] != background[k % f];
            (x0.clone(), bounds.search_box(&x0, present))
        }
    };
    let problem = Problem {
        model: ex,
        like: x,
        origin: origin.clone(),
        lower: lo,
        upper: hi,
        goal: match kind {
            Pertinent::Positive => Goal::Win,
            Pertinent::Negative => Goal::Lose,
        },
        classes: original.clone(),
        kappa: config.kappa,
        beta: config.beta,
        autoencoder: autoencoder.map(|ae| (ae, config.gamma)),
        prototype: None,
        c_init: config.c_init,
        c_steps: config.c_steps,
        max_iterations: config.max_iterations,
        learning_rate: config.learning_rate,
    };
    let sol = problem.solve()?;
    let delta: Vec<f64> = sol.points.iter().zip(&origin).map(|(p, o)| p - o).collect();
    let shaped =
        |v: Vec<f64>| Tensor::<D>::from_data(TensorData::new(v, dims), (&x.device(), x.dtype()));
    Ok(CemResult {
        explanations: shaped(sol.points),
        delta: shaped(delta),
        found: sol.found,
        original,
        classes: sol.predicted,
        c: sol.c,
        distance: sol.distance,
        changed: sol.changed,
    })
}
