//! Cheaper training-data attributors, all oriented like `−I_up,loss` (higher = more helpful).
//!
//! * **grad-dot** `∇ℓ(z_test) · ∇ℓ(z_i)` and **grad-cos** (its cosine): influence with `H = I`.
//! * **TracIn** (Pruthi et al. 2020): `Σ_k η_k ∇ℓ(z_test; θ_k) · ∇ℓ(z_i; θ_k)` over saved
//!   checkpoints with their learning rates; [`tracin_last_layer`] is the closed form restricted
//!   to the last dense layer, `(a_test · a_i)(g_test · g_i)`, from one batched pass.
//! * **Representer points** (Yeh et al. 2018): with last-layer features `f` and
//!   `αᵢ = −∂ℓᵢ/∂zᵢ / (λ n)` (the representer theorem for `(λ/2)‖W‖²`), training point `i`
//!   contributes `kᵢ = αᵢ (fᵢ · f_test)` to the test logits; the score is the first-order test-loss
//!   decrease `−∂ℓ_test/∂z · kᵢ`.
//! * **TRAK-style** (Park et al. 2023): per-example gradients projected by a Gaussian
//!   `P ∈ R^{p×d}/√d`, `Φ = G P`; score `φ_test (ΦᵀΦ + εI)⁻¹ φᵢ`, averaged over `ensembles`
//!   independent projections (the original also ensembles over retrained models; here the
//!   caller can average over models).
//! * **FastIF** (Guo et al. 2021): restrict the candidates to the `k` nearest training points in
//!   the last layer's input space before scoring.

use burn::tensor::Tensor;
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use xai_core::{Result, XaiError};
use xai_grad::{DynTensor, LayerKind};

use crate::eval::rows_of;
use crate::objective::{Data, Objective, matrix, to_f64};

const CHUNK: usize = 256;

/// `∇ℓ(test) · ∇ℓ(train)`, `[T][n]`.
pub fn grad_dot(objective: &Objective, theta: &Tensor<1>, test: &Data) -> Result<Vec<Vec<f64>>> {
    let gt = objective.per_example_grads(theta, test, CHUNK)?;
    let gn = objective.per_example_grads(theta, objective.train(), CHUNK)?;
    rows_of(gt.matmul(gn.transpose()))
}

/// Cosine of the gradients, `[T][n]`.
pub fn grad_cos(objective: &Objective, theta: &Tensor<1>, test: &Data) -> Result<Vec<Vec<f64>>> {
    let unit = |g: Tensor<2>| {
        let n = g
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-30);
        g / n
    };
    let gt = unit(objective.per_example_grads(theta, test, CHUNK)?);
    let gn = unit(objective.per_example_grads(theta, objective.train(), CHUNK)?);
    rows_of(gt.matmul(gn.transpose()))
}

/// TracIn over `(θ_k, η_k)` checkpoints, `[T][n]`.
pub fn tracin(
    objective: &Objective,
    checkpoints: &[(Tensor<1>, f64)],
    test: &Data,
) -> Result<Vec<Vec<f64>>> {
    if checkpoints.is_empty() {
        return Err(XaiError::Config(
            "TracIn needs at least one checkpoint".into(),
        ));
    }
    let mut total: Option<Tensor<2>> = None;
    for (theta, lr) in checkpoints {
        let gt = objective.per_example_grads(theta, test, CHUNK)?;
        let gn = objective.per_example_grads(theta, objective.train(), CHUNK)?;
        let s = gt.matmul(gn.transpose()) * *lr;
        total = Some(match total {
            Some(t) => t + s,
            None => s,
        });
    }
    rows_of(total.ok_or_else(|| XaiError::Config("no checkpoints".into()))?)
}

/// Last dense layer's input `a` and output gradient `g` for `data` at `theta`.
fn last_layer(
    objective: &Objective,
    theta: &Tensor<1>,
    data: &Data,
) -> Result<(Tensor<2>, Tensor<2>, bool)> {
    let params = objective.unflatten(theta)?;
    let (io, _) = objective.graph().linear_io(
        std::slice::from_ref(&data.x),
        Some(&params),
        objective.device(),
        objective.precision(),
        |o: &[DynTensor]| objective.losses_from_logits(o[0].clone().into_rows()?, &data.y),
    )?;
    let last = io
        .into_iter()
        .last()
        .ok_or_else(|| XaiError::Config("the model has no dense layer".into()))?;
    if last.kind != LayerKind::Dense {
        return Err(XaiError::Config(format!(
            "the last layer `{}` is a convolution; last-layer attributors need a dense output layer",
            last.module
        )));
    }
    Ok((
        last.input.into_tensor()?,
        last.output_grad.into_tensor()?,
        last.bias.is_some(),
    ))
}

/// TracIn restricted to the last dense layer at one checkpoint, closed form, `[T][n]`.
pub fn tracin_last_layer(
    objective: &Objective,
    theta: &Tensor<1>,
    test: &Data,
) -> Result<Vec<Vec<f64>>> {
    let (at, gt, bias) = last_layer(objective, theta, test)?;
    let (an, gn, _) = last_layer(objective, theta, objective.train())?;
    let aa = at.matmul(an.transpose());
    // The bias gradient g adds g_test·g_i: (a_t·a_i + 1)(g_t·g_i).
    let aa = if bias { aa + 1.0 } else { aa };
    rows_of(aa * gt.matmul(gn.transpose()))
}

/// Representer point scores, `[T][n]`; needs λ > 0.
pub fn representer(objective: &Objective, theta: &Tensor<1>, test: &Data) -> Result<Vec<Vec<f64>>> {
    let lambda = objective.l2();
    if lambda <= 0.0 {
        return Err(XaiError::Config(
            "representer points need an L2 strength λ > 0".into(),
        ));
    }
    let n = objective.num_train() as f64;
    let (ft, gt, _) = last_layer(objective, theta, test)?;
    let (fn_, gn, _) = last_layer(objective, theta, objective.train())?;
    // α_i = −g_i/(λn) ([n, C]); k_i = α_i (f_i·f_t); score = −g_t · k_i = (f_t·f_i)(g_t·g_i)/(λn).
    let kernel = ft.matmul(fn_.transpose());
    rows_of(kernel * gt.matmul(gn.transpose()) / (lambda * n))
}

/// TRAK-style projected-gradient scores, `[T][n]`.
pub fn trak(
    objective: &Objective,
    theta: &Tensor<1>,
    test: &Data,
    dim: usize,
    ensembles: usize,
    ridge: f64,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    if dim == 0 || ensembles == 0 {
        return Err(XaiError::Config(
            "TRAK needs dim ≥ 1 and ensembles ≥ 1".into(),
        ));
    }
    let p = objective.num_params();
    let gt = objective.per_example_grads(theta, test, CHUNK)?;
    let gn = objective.per_example_grads(theta, objective.train(), CHUNK)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut total: Option<Tensor<2>> = None;
    for _ in 0..ensembles {
        let proj: Vec<f64> = (0..p * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .map(|v: f64| v / (dim as f64).sqrt())
            .collect();
        let pm = matrix(&proj, p, dim, objective.device(), objective.precision());
        let phi = gn.clone().matmul(pm.clone());
        let phi_t = gt.clone().matmul(pm);
        let gram = to_f64(phi.clone().transpose().matmul(phi.clone()))?;
        let mut m = DMatrix::from_row_slice(dim, dim, &gram);
        let scale = (0..dim).map(|i| m[(i, i)]).sum::<f64>() / dim as f64;
        for i in 0..dim {
            m[(i, i)] += ridge * scale.max(f64::MIN_POSITIVE);
        }
        let inv = m.try_inverse().ok_or_else(|| {
            XaiError::Numerical("TRAK kernel is singular; raise the ridge".into())
        })?;
        let iv: Vec<f64> = (0..dim)
            .flat_map(|i| (0..dim).map(move |j| (i, j)))
            .map(|(i, j)| inv[(i, j)])
            .collect();
        let k = matrix(&iv, dim, dim, objective.device(), objective.precision());
        let s = phi_t.matmul(k).matmul(phi.transpose());
        total = Some(match total {
            Some(t) => t + s,
            None => s,
        });
    }
    let total = total.ok_or_else(|| XaiError::Config("no ensembles".into()))? / ensembles as f64;
    rows_of(total)
}

/// FastIF's candidate filter: the `k` training examples nearest to each test row in the last
/// dense layer's input space, nearest first, `[T][k]`.
pub fn knn_candidates(
    objective: &Objective,
    theta: &Tensor<1>,
    test: &Data,
    k: usize,
) -> Result<Vec<Vec<usize>>> {
    let (ft, _, _) = last_layer(objective, theta, test)?;
    let (fn_, _, _) = last_layer(objective, theta, objective.train())?;
    let n = objective.num_train();
    let k = k.min(n);
    // ‖f_t − f_i‖² = ‖f_t‖² − 2 f_t·f_i + ‖f_i‖²; the ‖f_t‖² term does not change the order.
    let cross = ft.matmul(fn_.clone().transpose()) * -2.0;
    let sq = fn_.powf_scalar(2.0).sum_dim(1).transpose();
    let d = rows_of(cross + sq)?;
    Ok(d.into_iter()
        .map(|row| {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            idx.truncate(k);
            idx
        })
        .collect())
}
