//! Arnoldi influence (Schioppa, Zablotskaia, Vilar & Sokolov, AAAI 2022).
//!
//! `dim` steps of the Arnoldi iteration with exact full-data HVPs (with full
//! re-orthogonalisation) build an orthonormal Krylov basis `Q` and the projected matrix
//! `T = Qᵀ H Q`; the eigenpairs of `T` (f64) give Ritz pairs `(λⱼ, uⱼ = Q yⱼ)` of `H`. Keeping the
//! `top_k` largest in magnitude,
//!
//! ```text
//! (H + δI)⁻¹ v ≈ Σⱼ uⱼ (uⱼᵀ v) / (λⱼ + δ)
//! ```
//!
//! which ignores `v`'s component outside the kept eigenspace (the low-curvature directions that
//! dominate a true inverse: Arnoldi is a low-rank approximation, cheap per query once built).

use burn::tensor::Tensor;
use nalgebra::{DMatrix, SymmetricEigen};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xai_core::{Result, XaiError};

use super::{Curvature, InverseHvp, check_width, curvature_product, dot, norm, stack};
use crate::objective::{Objective, matrix, to_f64, vector};

/// Top-k eigenspace inverse.
pub struct ArnoldiSolver {
    /// Ritz vectors as rows `[k, p]`.
    basis: Tensor<2>,
    /// `1 / (λⱼ + δ)`, `[k]`.
    inv_eigs: Tensor<1>,
    eigenvalues: Vec<f64>,
    p: usize,
}

impl ArnoldiSolver {
    /// Run `dim` Arnoldi steps at `theta` and keep the `top_k` Ritz pairs.
    pub fn new(
        objective: &Objective,
        theta: &Tensor<1>,
        dim: usize,
        top_k: usize,
        damping: f64,
        seed: u64,
    ) -> Result<Self> {
        let p = objective.num_params();
        let dim = dim.min(p);
        if dim == 0 || top_k == 0 || top_k > dim {
            return Err(XaiError::Config(format!(
                "Arnoldi needs 1 ≤ top_k ≤ dim (got top_k {top_k}, dim {dim})"
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let start: Vec<f64> = (0..p).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut q = vector(&start, objective.device(), objective.precision());
        q = q.clone() / norm(&q)?;
        let mut basis = vec![q];
        let mut t = DMatrix::<f64>::zeros(dim, dim);
        for j in 0..dim {
            let mut w =
                curvature_product(objective, theta, None, &basis[j], 0.0, Curvature::Hessian)?;
            // Full re-orthogonalisation (twice is enough, Kahan–Parlett) keeps Q orthonormal in f32.
            for _ in 0..2 {
                for (i, qi) in basis.iter().enumerate() {
                    let h = dot(qi, &w)?;
                    t[(i, j)] += h;
                    w = w - qi.clone() * h;
                }
            }
            let beta = norm(&w)?;
            if j + 1 == dim || beta < 1e-10 {
                let k = j + 1;
                return Self::finish(
                    objective,
                    basis,
                    t.view((0, 0), (k, k)).into_owned(),
                    top_k.min(k),
                    damping,
                    p,
                );
            }
            t[(j + 1, j)] = beta;
            basis.push(w / beta);
        }
        Err(XaiError::Numerical("Arnoldi iteration ended early".into()))
    }

    fn finish(
        objective: &Objective,
        basis: Vec<Tensor<1>>,
        t: DMatrix<f64>,
        top_k: usize,
        damping: f64,
        p: usize,
    ) -> Result<Self> {
        let k = t.nrows();
        let sym = (&t + t.transpose()) * 0.5;
        let eig = SymmetricEigen::new(sym);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| {
            eig.eigenvalues[b]
                .abs()
                .total_cmp(&eig.eigenvalues[a].abs())
        });
        order.truncate(top_k);
        let mut y = Vec::with_capacity(top_k * k);
        let mut eigenvalues = Vec::with_capacity(top_k);
        for &c in &order {
            eigenvalues.push(eig.eigenvalues[c]);
            y.extend((0..k).map(|r| eig.eigenvectors[(r, c)]));
        }
        if eigenvalues.iter().any(|l| (l + damping).abs() < 1e-12) {
            return Err(XaiError::Numerical(
                "a kept eigenvalue plus damping is zero; add damping".into(),
            ));
        }
        let q = stack(basis);
        let ym = matrix(&y, top_k, k, objective.device(), objective.precision());
        let inv: Vec<f64> = eigenvalues.iter().map(|l| 1.0 / (l + damping)).collect();
        Ok(Self {
            basis: ym.matmul(q),
            inv_eigs: vector(&inv, objective.device(), objective.precision()),
            eigenvalues,
            p,
        })
    }

    /// The kept Ritz values (largest magnitude first).
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// The kept Ritz vectors as rows `[k, p]`.
    pub fn eigenvectors(&self) -> Result<Vec<f64>> {
        to_f64(self.basis.clone())
    }
}

impl InverseHvp for ArnoldiSolver {
    fn name(&self) -> String {
        format!("arnoldi(k={})", self.eigenvalues.len())
    }
    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>> {
        check_width(v, self.p)?;
        let k = self.eigenvalues.len();
        let coeff = v.clone().matmul(self.basis.clone().transpose())
            * self.inv_eigs.clone().reshape([1, k]);
        Ok(coeff.matmul(self.basis.clone()))
    }
}
