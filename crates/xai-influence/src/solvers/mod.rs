//! Inverse Hessian-vector products `(H + δI)⁻¹ v`, the expensive half of every influence function.
//!
//! | solver | cost to build | cost per vector | exact? |
//! |---|---|---|---|
//! | [`Solver::Exact`] | `p` HVPs + a `p³` Cholesky (f64) | one `p²` product | yes (small models) |
//! | [`Solver::Cg`] | none | ≤ `max_iter` full-data HVPs | to tolerance, PD curvature |
//! | [`Solver::Lissa`] | power iterations for the scale | `depth × repeats` mini-batch HVPs | stochastic |
//! | [`Solver::Arnoldi`] | `dim` full-data HVPs | two `p × k` products | top-`k` eigenspace |
//! | [`Solver::Kfac`] / [`Solver::Ekfac`] | one batched pass (+ eigendecompositions) | per-layer products | Kronecker approximation of the Fisher |
//! | [`Solver::Identity`] | none | none | `H ≈ I` (grad-dot) |
//!
//! Every solver works on burn tensors on the objective's device; eigendecompositions and the
//! Cholesky factorisation run in f64 on the host (nalgebra), because they are small and need the
//! precision. All of them take rows: `v` is `[k, p]` and the result is `[k, p]`.

mod arnoldi;
mod cg;
mod exact;
mod kfac;
pub mod lissa;

pub use arnoldi::ArnoldiSolver;
pub use cg::CgSolver;
pub use exact::ExactSolver;
pub use kfac::{Eigenbasis, FactorSums, Fisher, KfacSolver};
pub use lissa::{LissaSolver, LissaStats};

use burn::tensor::Tensor;
use xai_core::{Result, XaiError};

use crate::objective::{Objective, to_f64};

/// Applies an approximation of `(H + δI)⁻¹` to rows.
pub trait InverseHvp: Send + Sync {
    /// A short label for reports (`cg(100)`, `ekfac`).
    fn name(&self) -> String;
    /// `(H + δI)⁻¹ vᵢ` for every row `vᵢ` of `v` (`[k, p]` → `[k, p]`).
    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>>;
}

/// Which curvature matrix stands in for the Hessian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Curvature {
    /// The exact Hessian of the training objective.
    #[default]
    Hessian,
    /// The Gauss-Newton matrix `Jᵀ H_ℓ J` (= the Fisher for these losses): positive
    /// semi-definite, so safe for non-convex models.
    GaussNewton,
}

/// The solver settings; [`Solver::build`] prepares one against an objective.
#[derive(Clone, Debug, PartialEq)]
pub enum Solver {
    /// Dense curvature and a Cholesky factorisation (`p ≲ 5,000`).
    Exact {
        /// Damping δ added to the diagonal.
        damping: f64,
        /// Hessian or Gauss-Newton.
        curvature: Curvature,
    },
    /// Conjugate gradients on full-data products.
    Cg {
        /// Damping δ.
        damping: f64,
        /// Iteration cap.
        max_iter: usize,
        /// Stop when `‖r‖ ≤ tol ‖v‖`.
        tol: f64,
        /// Hessian or Gauss-Newton.
        curvature: Curvature,
    },
    /// LiSSA (Agarwal et al. 2017): the Neumann series on mini-batch products.
    Lissa(lissa::LissaConfig),
    /// Arnoldi (Schioppa et al. 2022): the top eigenpairs of `H`, inverted on their span.
    Arnoldi {
        /// Krylov dimension (number of full-data HVPs).
        dim: usize,
        /// Eigenpairs kept (largest magnitude).
        top_k: usize,
        /// Damping δ.
        damping: f64,
        /// Seed of the start vector.
        seed: u64,
    },
    /// K-FAC: per dense or conv layer, `F ≈ A ⊗ S` (input and output-gradient covariances).
    Kfac {
        /// Damping δ (added to every eigenvalue, with the L2 strength).
        damping: f64,
        /// Labels sampled from the model (seeded) or the exact expectation over labels.
        fisher: Fisher,
    },
    /// EK-FAC (George et al. 2018): K-FAC's eigenbasis with eigenvalues refitted per entry.
    Ekfac {
        /// Damping δ.
        damping: f64,
        /// Labels sampled from the model (seeded) or the exact expectation over labels.
        fisher: Fisher,
    },
    /// `H ≈ I`: influence becomes the gradient dot product.
    Identity,
}

impl Solver {
    /// Exact Hessian with damping δ.
    pub fn exact(damping: f64) -> Self {
        Solver::Exact {
            damping,
            curvature: Curvature::Hessian,
        }
    }

    /// Conjugate gradients on the Hessian, to relative residual 1e-10 or `max_iter` steps.
    pub fn cg(damping: f64, max_iter: usize) -> Self {
        Solver::Cg {
            damping,
            max_iter,
            tol: 1e-10,
            curvature: Curvature::Hessian,
        }
    }

    /// LiSSA with an automatic scale and divergence checks (see [`lissa::LissaConfig`]).
    pub fn lissa(config: lissa::LissaConfig) -> Self {
        Solver::Lissa(config)
    }

    /// Prepare the solver for `objective` at parameters `theta`.
    pub fn build(&self, objective: &Objective, theta: &Tensor<1>) -> Result<Box<dyn InverseHvp>> {
        let check = |d: f64| {
            if d.is_finite() && d >= 0.0 {
                Ok(())
            } else {
                Err(XaiError::Config(format!("damping must be ≥ 0, got {d}")))
            }
        };
        Ok(match self {
            Solver::Exact { damping, curvature } => {
                check(*damping)?;
                Box::new(ExactSolver::new(objective, theta, *damping, *curvature)?)
            }
            Solver::Cg {
                damping,
                max_iter,
                tol,
                curvature,
            } => {
                check(*damping)?;
                Box::new(CgSolver::new(
                    objective, theta, *damping, *max_iter, *tol, *curvature,
                )?)
            }
            Solver::Lissa(c) => Box::new(LissaSolver::new(objective, theta, c.clone())?),
            Solver::Arnoldi {
                dim,
                top_k,
                damping,
                seed,
            } => {
                check(*damping)?;
                Box::new(ArnoldiSolver::new(
                    objective, theta, *dim, *top_k, *damping, *seed,
                )?)
            }
            Solver::Kfac { damping, fisher } => {
                check(*damping)?;
                Box::new(KfacSolver::new(objective, theta, *damping, false, *fisher)?)
            }
            Solver::Ekfac { damping, fisher } => {
                check(*damping)?;
                Box::new(KfacSolver::new(objective, theta, *damping, true, *fisher)?)
            }
            Solver::Identity => Box::new(IdentitySolver),
        })
    }
}

struct IdentitySolver;

impl InverseHvp for IdentitySolver {
    fn name(&self) -> String {
        "identity".into()
    }
    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>> {
        Ok(v.clone())
    }
}

/// Apply the curvature of `objective` at `theta` (+ δ v).
pub(crate) fn curvature_product(
    objective: &Objective,
    theta: &Tensor<1>,
    rows: Option<&[usize]>,
    v: &Tensor<1>,
    damping: f64,
    curvature: Curvature,
) -> Result<Tensor<1>> {
    let hv = match curvature {
        Curvature::Hessian => objective.hvp(theta, rows, v)?,
        Curvature::GaussNewton => objective.gnvp(theta, rows, v)?,
    };
    Ok(if damping > 0.0 {
        hv + v.clone() * damping
    } else {
        hv
    })
}

/// Euclidean norm as f64.
pub(crate) fn norm(v: &Tensor<1>) -> Result<f64> {
    Ok(to_f64(v.clone().powf_scalar(2.0).sum())?[0].sqrt())
}

/// Dot product as f64.
pub(crate) fn dot(a: &Tensor<1>, b: &Tensor<1>) -> Result<f64> {
    Ok(to_f64((a.clone() * b.clone()).sum())?[0])
}

/// Row `i` of `m` as a vector.
pub fn row(m: &Tensor<2>, i: usize) -> Tensor<1> {
    let [_, p] = m.dims();
    m.clone().slice(i..i + 1).reshape([p])
}

/// Stack vectors as rows.
pub(crate) fn stack(rows: Vec<Tensor<1>>) -> Tensor<2> {
    let rows: Vec<Tensor<2>> = rows
        .into_iter()
        .map(|r| {
            let [p] = r.dims();
            r.reshape([1, p])
        })
        .collect();
    Tensor::cat(rows, 0)
}

/// Check a right-hand side's width.
pub(crate) fn check_width(v: &Tensor<2>, p: usize) -> Result<()> {
    let [_, w] = v.dims();
    if w != p {
        return Err(XaiError::shape(
            "vectors to solve",
            format!("[k, {p}]"),
            &v.dims(),
        ));
    }
    Ok(())
}
