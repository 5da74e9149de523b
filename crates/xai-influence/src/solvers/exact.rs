//! Exact inverse: build the dense curvature `H` (`p` exact HVPs), add `δI`, factorise.
//!
//! `(H + δI)⁻¹` comes from a Cholesky factorisation in f64 (nalgebra); a matrix that is not
//! positive definite is an error that names the fix (more damping, or the Gauss-Newton
//! curvature), never a silent garbage inverse. The inverse is kept on the objective's device, so
//! each solve is one matrix product. Memory `p²`: meant for models up to a few thousand
//! parameters, and as the oracle for every other solver.

use burn::tensor::Tensor;
use nalgebra::DMatrix;
use xai_core::{Result, XaiError};

use super::{Curvature, InverseHvp, check_width};
use crate::objective::{Objective, matrix, to_f64};

/// `(H + δI)⁻¹` held densely.
pub struct ExactSolver {
    inverse: Tensor<2>,
    damping: f64,
    p: usize,
}

impl ExactSolver {
    /// Build `H` at `theta`, factorise `H + δI`.
    pub fn new(
        objective: &Objective,
        theta: &Tensor<1>,
        damping: f64,
        curvature: Curvature,
    ) -> Result<Self> {
        let p = objective.num_params();
        let h = objective.dense_hessian(theta, curvature == Curvature::GaussNewton)?;
        let hv = to_f64(h)?;
        let mut m = DMatrix::from_row_slice(p, p, &hv);
        for i in 0..p {
            m[(i, i)] += damping;
        }
        let chol = m.cholesky().ok_or_else(|| {
            XaiError::Numerical(format!(
                "H + {damping}·I is not positive definite (non-convex model or too little \
                 damping): raise the damping or use the Gauss-Newton curvature"
            ))
        })?;
        let inv = chol.inverse();
        let rows: Vec<f64> = (0..p)
            .flat_map(|i| (0..p).map(move |j| (i, j)))
            .map(|(i, j)| inv[(i, j)])
            .collect();
        Ok(Self {
            inverse: matrix(&rows, p, p, objective.device(), objective.precision()),
            damping,
            p,
        })
    }

    /// The dense inverse `[p, p]`.
    pub fn inverse(&self) -> &Tensor<2> {
        &self.inverse
    }
}

impl InverseHvp for ExactSolver {
    fn name(&self) -> String {
        format!("exact(δ={})", self.damping)
    }
    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>> {
        check_width(v, self.p)?;
        // The inverse is symmetric: rows · H⁻¹ = (H⁻¹ rowsᵀ)ᵀ.
        Ok(v.clone().matmul(self.inverse.clone()))
    }
}
