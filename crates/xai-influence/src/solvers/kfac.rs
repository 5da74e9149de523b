//! K-FAC and EK-FAC inverses for dense layers (Martens & Grosse 2015; George et al. 2018;
//! Grosse et al. 2023, as in Kronfluence).
//!
//! For a dense layer with input `ã = [a, 1]` (the 1 for the bias) and output gradient `g`, the
//! per-example gradient is the outer product `G = ãᵀ g` and the layer's block of the Fisher is
//! approximated as `F ≈ A ⊗ S` with `A = E[ãᵀ ã]`, `S = E[gᵀ g]`, the gradients taken at labels
//! **sampled from the model** (the true Fisher, which equals the Gauss-Newton matrix in
//! expectation). With eigendecompositions `A = Q_A diag(α) Q_Aᵀ`, `S = Q_S diag(σ) Q_Sᵀ` (f64):
//!
//! ```text
//! K-FAC:   F⁻¹ V = Q_A [ (Q_Aᵀ V Q_S) / (αᵢ σⱼ + δ + λ) ] Q_Sᵀ
//! EK-FAC:  F⁻¹ V = Q_A [ (Q_Aᵀ V Q_S) / (Λᵢⱼ + δ + λ) ] Q_Sᵀ,   Λᵢⱼ = E[((Q_Aᵀ G Q_S)ᵢⱼ)²]
//! ```
//!
//! EK-FAC refits the eigenvalues to the per-example gradients in the Kronecker eigenbasis, which
//! is exact on the diagonal of that basis. Layers are independent blocks (cross-layer curvature
//! is dropped). The L2 strength λ is added to every eigenvalue, biases included (an
//! approximation: the regulariser spares biases). Only dense-only models are supported; the
//! layer inputs and output gradients come from one batched engine pass
//! ([`xai_grad::CapturedGraph::linear_io`]).

use burn::tensor::Tensor;
use nalgebra::{DMatrix, SymmetricEigen};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xai_core::{Result, XaiError};
use xai_grad::DynTensor;

use super::{InverseHvp, check_width};
use crate::objective::{Loss, Objective, matrix, to_f64};

struct Layer {
    weight: (usize, usize),
    bias: Option<(usize, usize)>,
    rows: usize,
    cols: usize,
    q_a: Tensor<2>,
    q_s: Tensor<2>,
    /// `1 / (eigenvalue + δ + λ)`, `[rows, cols]`.
    inv: Tensor<2>,
}

/// K-FAC / EK-FAC block-diagonal inverse.
pub struct KfacSolver {
    layers: Vec<Layer>,
    p: usize,
    eigen_corrected: bool,
}

fn sym_eigen(m: Tensor<2>) -> Result<(DMatrix<f64>, Vec<f64>)> {
    let [r, c] = m.dims();
    let v = to_f64(m)?;
    let dm = DMatrix::from_row_slice(r, c, &v);
    let e = SymmetricEigen::new((&dm + dm.transpose()) * 0.5);
    Ok((
        e.eigenvectors,
        e.eigenvalues.iter().map(|x| x.max(0.0)).collect(),
    ))
}

fn upload(m: &DMatrix<f64>, objective: &Objective) -> Tensor<2> {
    let (r, c) = m.shape();
    let rows: Vec<f64> = (0..r)
        .flat_map(|i| (0..c).map(move |j| (i, j)))
        .map(|(i, j)| m[(i, j)])
        .collect();
    matrix(&rows, r, c, objective.device(), objective.precision())
}

impl KfacSolver {
    /// Fit the factors at `theta` on the objective's training data.
    pub fn new(
        objective: &Objective,
        theta: &Tensor<1>,
        damping: f64,
        eigen_corrected: bool,
        seed: u64,
    ) -> Result<Self> {
        let graph = objective.graph();
        if !graph.is_dense_only() {
            return Err(XaiError::Config(
                "K-FAC/EK-FAC here support models whose parameters are all dense layers".into(),
            ));
        }
        let train = objective.train();
        let n = train.len();
        // Labels sampled from the model's predictive distribution: the true Fisher.
        let logits = to_f64(objective.logits(theta, train)?)?;
        let c = logits.len() / n;
        let mut rng = StdRng::seed_from_u64(seed);
        let sampled: Vec<usize> = (0..n)
            .map(|i| {
                let z = &logits[i * c..(i + 1) * c];
                match objective.loss() {
                    Loss::BinaryLogistic => {
                        usize::from(rng.random::<f64>() < 1.0 / (1.0 + (-z[0]).exp()))
                    }
                    Loss::CrossEntropy => {
                        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let w: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                        let mut u = rng.random::<f64>() * w.iter().sum::<f64>();
                        w.iter()
                            .position(|&wi| {
                                u -= wi;
                                u <= 0.0
                            })
                            .unwrap_or(c - 1)
                    }
                }
            })
            .collect();
        let params = objective.unflatten(theta)?;
        let (io, _) = graph.linear_io(
            std::slice::from_ref(&train.x),
            Some(&params),
            objective.device(),
            objective.precision(),
            |o: &[DynTensor]| objective.losses_from_logits(o[0].clone().into_rows()?, &sampled),
        )?;
        let offsets = objective.offsets();
        let shift = damping + objective.l2();
        let mut layers = Vec::with_capacity(io.len());
        for l in io {
            let a: Tensor<2> = l.input.into_tensor()?;
            let g: Tensor<2> = l.output_grad.into_tensor()?;
            let [_, din] = a.dims();
            let [_, dout] = g.dims();
            let a = if l.bias.is_some() {
                let ones = a.clone().slice([0..n, 0..1]) * 0.0 + 1.0;
                Tensor::cat(vec![a, ones], 1)
            } else {
                a
            };
            let rows = din + usize::from(l.bias.is_some());
            let cov_a = a.clone().transpose().matmul(a.clone()) / n as f64;
            let cov_s = g.clone().transpose().matmul(g.clone()) / n as f64;
            let (qa, alpha) = sym_eigen(cov_a)?;
            let (qs, sigma) = sym_eigen(cov_s)?;
            let q_a = upload(&qa, objective);
            let q_s = upload(&qs, objective);
            let eig = if eigen_corrected {
                let ra = a.matmul(q_a.clone()).powf_scalar(2.0);
                let rs = g.matmul(q_s.clone()).powf_scalar(2.0);
                ra.transpose().matmul(rs) / n as f64
            } else {
                let prod: Vec<f64> = alpha
                    .iter()
                    .flat_map(|x| sigma.iter().map(move |s| x * s))
                    .collect();
                matrix(&prod, rows, dout, objective.device(), objective.precision())
            };
            let inv = (eig + shift).recip();
            xai_core::check_finite(&inv, "K-FAC eigenvalues (add damping)")?;
            layers.push(Layer {
                weight: offsets[l.weight],
                bias: l.bias.map(|b| offsets[b]),
                rows,
                cols: dout,
                q_a,
                q_s,
                inv,
            });
        }
        Ok(Self {
            layers,
            p: objective.num_params(),
            eigen_corrected,
        })
    }
}

impl InverseHvp for KfacSolver {
    fn name(&self) -> String {
        if self.eigen_corrected {
            "ekfac"
        } else {
            "kfac"
        }
        .into()
    }

    fn solve(&self, v: &Tensor<2>) -> Result<Tensor<2>> {
        check_width(v, self.p)?;
        let [k, _] = v.dims();
        // Collect (offset range, values [k, len]) for every parameter, then reassemble in θ order.
        let mut pieces: Vec<((usize, usize), Tensor<2>)> = Vec::new();
        for l in &self.layers {
            let (i, o) = (l.rows, l.cols);
            let (wa, wb) = l.weight;
            let mut m = v.clone().slice([0..k, wa..wb]).reshape([k, wb - wa]);
            if let Some((ba, bb)) = l.bias {
                m = Tensor::cat(vec![m, v.clone().slice([0..k, ba..bb])], 1);
            }
            // [k, I, O]: rotate into the eigenbasis, divide, rotate back (2-D matmuls only).
            let y = m
                .reshape([k * i, o])
                .matmul(l.q_s.clone())
                .reshape([k, i, o]);
            let z = y
                .swap_dims(1, 2)
                .reshape([k * o, i])
                .matmul(l.q_a.clone())
                .reshape([k, o, i])
                .swap_dims(1, 2);
            let z = z * l.inv.clone().unsqueeze_dim::<3>(0);
            let y = z
                .reshape([k * i, o])
                .matmul(l.q_s.clone().transpose())
                .reshape([k, i, o]);
            let back = y
                .swap_dims(1, 2)
                .reshape([k * o, i])
                .matmul(l.q_a.clone().transpose())
                .reshape([k, o, i])
                .swap_dims(1, 2)
                .reshape([k, i * o]);
            let w_len = wb - wa;
            pieces.push(((wa, wb), back.clone().slice([0..k, 0..w_len])));
            if let Some(b) = l.bias {
                pieces.push((b, back.slice([0..k, w_len..i * o])));
            }
        }
        pieces.sort_by_key(|(r, _)| r.0);
        Ok(Tensor::cat(pieces.into_iter().map(|(_, t)| t).collect(), 1))
    }
}
