//! Conjugate gradients on `(H + δI) x = v` with exact full-data Hessian-vector products.
//!
//! Hestenes–Stiefel CG, started at `x = 0`, stopped when `‖r‖ ≤ tol ‖v‖` or after `max_iter`
//! products. A direction of non-positive curvature (`dᵀ(H + δI)d ≤ 0`) means the matrix is not
//! positive definite: CG then stops with an error naming the fix instead of returning a
//! meaningless iterate. If the cap is reached, the iterate is returned only when its relative
//! residual is below `max(100·tol, 1e-2)`; otherwise it is an error (a solve that did not
//! converge is not an influence estimate).

use burn::tensor::Tensor;
use xai_core::{Result, XaiError};

use super::{Curvature, InverseHvp, check_width, curvature_product, dot, norm, row, stack};
use crate::objective::Objective;

/// Conjugate-gradient inverse-HVP.
pub struct CgSolver {
    objective: Objective,
    theta: Tensor<1>,
    damping: f64,
    max_iter: usize,
    tol: f64,
    curvature: Curvature,
}

impl CgSolver {
    /// A CG solver at `theta`.
    pub fn new(
        objective: &Objective,
        theta: &Tensor<1>,
        damping: f64,
        max_iter: usize,
        tol: f64,
        curvature: Curvature,
    ) -> Result<Self> {
        if max_iter == 0 || !(tol > 0.0) {
            return Err(XaiError::Config(format!(
                "CG needs max_iter ≥ 1 and tol > 0 (got {max_iter}, {tol})"
            )));
        }
        Ok(Self {
            objective: objective.clone(),
            theta: theta.clone(),
            damping,
            max_iter,
            tol,
            curvature,
        })
    }

    /// Solve one system; returns the solution, the iterations used and the relative residual.
    pub fn solve_one(&self, v: &Tensor<1>) -> Result<(Tensor<1>, usize, f64)> {
        let b_norm = norm(v)?;
        if b_norm == 0.0 {
            return Ok((v.clone(), 0, 0.0));
        }
        let mut x = v.clone() * 0.0;
        let mut r = v.clone();
        let mut d = r.clone();
        let mut rr = dot(&r, &r)?;
        for it in 1..=self.max_iter {
            let hd = curvature_product(
                &self.objective,
                &self.theta,
                None,
                &d,
                self.damping,
                self.curvature,
            )?;
            let dhd = dot(&d, &hd)?;
            if !(dhd > 0.0) {
                return Err(XaiError::Numerical(format!(
                    "CG met non-positive curvature dᵀ(H+δI)d = {dhd:.3e} at step {it}: the \
                     curvature is not positive definite; raise the damping or use Gauss-Newton"
                )));
            }
            let alpha = rr / dhd;
            x = x + d.clone() * alpha;
            r = r - hd * alpha;
            let rr_new = dot(&r, &r)?;
            let rel = rr_new.sqrt() / b_norm;
            if rel <= self.tol {
                return Ok((x, it, rel));
            }
            d = r.clone() + d * (rr_new / rr);
            rr = rr_new;
        }
        let rel = rr.sqrt() / b_norm;
        if rel > (100.0 * self.tol).max(1e-2) {
            return Err(XaiError::Numerical(format!(
                "CG did not converge in {} iterations (relative residual {rel:.2e}); raise \
                 max_iter or the damping",
                self.max_iter
            )));
        }
        Ok((x, self.max_iter, rel))
    }
}

impl InverseHvp for CgSolver {
    fn name(&self) -> String {
        format!("cg({})", self.max_iter)
    }
    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>> {
        check_width(v, self.objective.num_params())?;
        let [k, _] = v.dims();
        let rows = (0..k)
            .map(|i| Ok(self.solve_one(&row(v, i))?.0))
            .collect::<Result<Vec<_>>>()?;
        Ok(stack(rows))
    }
}
