//! K-FAC and EK-FAC inverses for dense and conv layers (Martens & Grosse 2015; Grosse & Martens
//! 2016 for convolutions; George et al. 2018; Grosse et al. 2023, as in Kronfluence).
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
//! Label sampling is noisy on small training sets (one label per example). [`Fisher::Expected`]
//! takes the expectation over the model's predictive distribution exactly instead: for softmax
//! cross-entropy `E_y[(p − e_y)(p − e_y)ᵀ] = diag(p) − p pᵀ = Σ_y v_y v_yᵀ` with
//! `v_y = √p_y (p − e_y)`, so backpropagating the `C` vectors `v_y` (the batch replicated `C`
//! times) gives `S` and the EK-FAC eigenvalues of the exact Fisher of every layer (BackPACK's
//! KFLR). It costs `C` times the rows of sampling, and needs no seed.
//!
//! EK-FAC refits the eigenvalues to the per-example gradients in the Kronecker eigenbasis, which
//! is exact on the diagonal of that basis. Layers are independent blocks (cross-layer curvature
//! is dropped). The L2 strength λ is added to every eigenvalue, biases included (an
//! approximation: the regulariser spares biases).
//!
//! A conv layer is a dense layer shared by its `L` output positions: `ã_{i,l}` is the input
//! patch at position `l` (`C_in·kh·kw` values, plus the 1) and `g_{i,l}` the output gradient there,
//! so `G_i = Σ_l ã_{i,l}ᵀ g_{i,l}`. KFC (Grosse & Martens 2016) assumes the positions independent
//! and spatially homogeneous, which gives `A = Σ_{i,l} ã ãᵀ / (N L)` and `S = Σ_{i,l} g gᵀ / N`
//! (for a dense layer `L = 1` and both are plain means). Kronfluence divides `S` by `N L` too,
//! which makes its conv K-FAC `L` times smaller than KFC's; EK-FAC is not affected, since its
//! eigenvalues are refitted to the `G_i`. Every parameter must be the weight or bias of a dense or
//! conv2d layer ([`xai_grad::CapturedGraph::is_layerwise`]); the inputs and output gradients come
//! from one batched engine pass ([`xai_grad::CapturedGraph::linear_io`]).
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::tensor::{Device, FloatDType};
//! use xai_grad::{CapturedGraph, Precision};
//! use xai_influence::solvers::Fisher;
//! use xai_influence::{Data, Influence, Loss, Objective, Solver};
//!
//! let dev = Device::flex();
//! let rows: Vec<f64> = (0..40).map(|i| (i * 7 % 11) as f64 / 11.0 - 0.5).collect();
//! let labels = (0..10).map(|i| i % 3).collect();
//! let train = Data::from_rows(&rows, 4, labels, &dev, Precision::F64)?;
//! let model = LinearConfig::new(4, 3).init(&dev);
//! let x = train.x.clone().into_tensor::<2>()?.cast(FloatDType::F32);
//! let graph = CapturedGraph::capture(&model, x, |m, x| m.forward(x))?;
//! let objective = Objective::new(graph, train, Loss::CrossEntropy, 1e-2, &dev, Precision::F64)?;
//! let theta = objective.theta();
//! // The exact expectation over labels: deterministic, no seed.
//! let solver = Solver::Ekfac { damping: 1e-3, fisher: Fisher::Expected };
//! let scores = Influence::new(&objective, &theta, &solver)?.up_loss(objective.train())?;
//! assert_eq!((scores.len(), scores[0].len()), (10, 10));
//! // I_up,loss(z, z) = −∇ℓᵀ (F + δI)⁻¹ ∇ℓ ≤ 0: up-weighting an example never raises its own
//! // loss, since the damped Kronecker inverse is positive definite.
//! assert!((0..10).all(|i| scores[i][i] <= 0.0));
//! # Ok::<(), xai_core::XaiError>(())
//! ```

use std::ops::Range;

use burn::tensor::Tensor;
use nalgebra::{DMatrix, SymmetricEigen};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xai_core::{Result, XaiError};
use xai_grad::{DynTensor, LayerKind};

use super::{InverseHvp, check_width};
use crate::objective::{Loss, Objective, matrix, to_f64};

struct Layer {
    layout: LayerLayout,
    q_a: Tensor<2>,
    q_s: Tensor<2>,
    /// `1 / (eigenvalue + δ + λ)`, `[rows, cols]`.
    inv: Tensor<2>,
}

/// Where one layer's parameters sit in θ and the sizes of its factors.
#[derive(Clone, Debug, PartialEq)]
struct LayerLayout {
    weight: (usize, usize),
    bias: Option<(usize, usize)>,
    /// The weight is stored `[out, in]` in θ (conv kernels `[out, C, kh, kw]`), not `[in, out]`.
    out_major: bool,
    /// Side of `A`: the layer's inputs (patch values for a conv), plus 1 with a bias.
    rows: usize,
    /// Side of `S`: the layer's outputs.
    cols: usize,
}

/// One layer's inputs `ã` (with the 1 for the bias) and output gradients `g` as position tokens,
/// `[R, L, rows]` and `[R, L, cols]`, `R` = examples × label copies.
struct LayerTokens {
    layout: LayerLayout,
    a: Tensor<3>,
    g: Tensor<3>,
}

/// How the output-gradient statistics take the expectation over labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fisher {
    /// One label per example drawn from the model's predictive distribution (Kronfluence's
    /// default), seeded; the draw of training row `i` depends only on the seed and `i`, so a
    /// fit split over shards of rows draws the same labels as one over all rows.
    Sampled {
        /// Seed of the label draws.
        seed: u64,
    },
    /// The exact expectation over all labels: `C` backpropagated vectors per example.
    Expected,
}

impl Fisher {
    /// The generator of training row `row`'s label draw.
    fn rng(seed: u64, row: usize) -> StdRng {
        StdRng::seed_from_u64(seed ^ (row as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// Values per chunk of rotated per-example conv gradients in the EK-FAC eigenvalue fit.
const LAMBDA_CHUNK_VALUES: usize = 1 << 22;

/// K-FAC / EK-FAC block-diagonal inverse.
pub struct KfacSolver {
    layers: Vec<Layer>,
    p: usize,
    eigen_corrected: bool,
}

/// Sums of one layer's Kronecker-factor statistics over a block of training rows (the map step
/// of a fit split over shards; sums of shards add up to the sums over all rows).
#[derive(Clone, Debug)]
pub struct FactorSums {
    /// `Σ ã ãᵀ` over rows, label copies and positions, `[rows, rows]`.
    pub a: Tensor<2>,
    /// `Σ g gᵀ` over rows, label copies and positions, `[cols, cols]`.
    pub s: Tensor<2>,
    /// Tokens summed in `a`: rows × label copies × positions.
    pub tokens: usize,
}

/// One layer's Kronecker eigenbases: `A = Q_A diag(α) Q_Aᵀ`, `S = Q_S diag(σ) Q_Sᵀ`.
#[derive(Clone, Debug)]
pub struct Eigenbasis {
    /// `Q_A`, `[rows, rows]`.
    pub q_a: Tensor<2>,
    /// `α`, clamped at 0.
    pub alpha: Vec<f64>,
    /// `Q_S`, `[cols, cols]`.
    pub q_s: Tensor<2>,
    /// `σ`, clamped at 0.
    pub sigma: Vec<f64>,
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

/// Every layer's tokens for training rows `rows` at `theta`, from one batched engine pass.
fn layer_tokens(
    objective: &Objective,
    theta: &Tensor<1>,
    fisher: Fisher,
    rows: Range<usize>,
) -> Result<Vec<LayerTokens>> {
    let graph = objective.graph();
    if !graph.is_layerwise() {
        return Err(XaiError::Config(
            "K-FAC/EK-FAC need every parameter to be the weight or bias of a dense or conv2d \
             layer (one group, symmetric padding)"
                .into(),
        ));
    }
    let all = objective.train();
    if rows.is_empty() || rows.end > all.len() {
        return Err(XaiError::Config(format!(
            "training rows {rows:?} of {}: a non-empty range inside the training set",
            all.len()
        )));
    }
    let train = if rows.len() == all.len() {
        all.clone()
    } else {
        all.select(&rows.clone().collect::<Vec<_>>())?
    };
    let n = train.len();
    let logits = to_f64(objective.logits(theta, &train)?)?;
    let c = logits.len() / n;
    let probs: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let z = &logits[i * c..(i + 1) * c];
            match objective.loss() {
                Loss::BinaryLogistic => vec![1.0 / (1.0 + (-z[0]).exp())],
                Loss::CrossEntropy => {
                    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let w: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                    let total: f64 = w.iter().sum();
                    w.into_iter().map(|v| v / total).collect()
                }
            }
        })
        .collect();
    // The logit cotangents backpropagated, one row per (copy, example): row r = k·n + i.
    let (copies, cotangents): (usize, Vec<f64>) = match fisher {
        Fisher::Sampled { seed } => {
            let rows = probs
                .iter()
                .zip(rows.clone())
                .flat_map(|(p, row)| {
                    let mut rng = Fisher::rng(seed, row);
                    match objective.loss() {
                        // d/dz of the logistic loss at label y: σ(z) − y.
                        Loss::BinaryLogistic => {
                            let y = f64::from(u8::from(rng.random::<f64>() < p[0]));
                            vec![p[0] - y]
                        }
                        Loss::CrossEntropy => {
                            let mut u = rng.random::<f64>();
                            let y = p
                                .iter()
                                .position(|&pi| {
                                    u -= pi;
                                    u <= 0.0
                                })
                                .unwrap_or(c - 1);
                            (0..c).map(|j| p[j] - f64::from(u8::from(j == y))).collect()
                        }
                    }
                })
                .collect();
            (1, rows)
        }
        Fisher::Expected => match objective.loss() {
            // The logistic Fisher is σ(1 − σ): one vector √(σ(1 − σ)).
            Loss::BinaryLogistic => (
                1,
                probs.iter().map(|p| (p[0] * (1.0 - p[0])).sqrt()).collect(),
            ),
            Loss::CrossEntropy => {
                let mut rows = Vec::with_capacity(n * c * c);
                for y in 0..c {
                    for p in &probs {
                        let s = p[y].sqrt();
                        rows.extend((0..c).map(|j| s * (p[j] - f64::from(u8::from(j == y)))));
                    }
                }
                (c, rows)
            }
        },
    };
    let rows_total = n * copies;
    let cot = matrix(
        &cotangents,
        rows_total,
        c,
        objective.device(),
        objective.precision(),
    );
    let x = if copies == 1 {
        train.x.clone()
    } else {
        let mut shape = train.x.shape();
        shape[0] = rows_total;
        DynTensor::from_rows(train.x.clone().into_rows()?.repeat_dim(0, copies), &shape)?
    };
    let params = objective.unflatten(theta)?;
    let (io, _) = graph.linear_io(
        std::slice::from_ref(&x),
        Some(&params),
        objective.device(),
        objective.precision(),
        // Σ_r z_r · v_r: its gradient at the logits is exactly the cotangent rows.
        |o: &[DynTensor]| {
            let z = o[0].clone().into_rows()?;
            let v = cot.clone().to_device(&z.device()).cast(z.dtype());
            Ok((z * v).sum_dim(1).reshape([rows_total]))
        },
    )?;
    let offsets = objective.offsets();
    io.into_iter()
        .map(|l| {
            let (a, g) = l.tokens()?;
            let [_, positions, din] = a.dims();
            let [_, _, dout] = g.dims();
            let a = if l.bias.is_some() {
                let ones = a
                    .clone()
                    .slice([0..rows_total, 0..positions, 0..1])
                    .ones_like();
                Tensor::cat(vec![a, ones], 2)
            } else {
                a
            };
            Ok(LayerTokens {
                layout: LayerLayout {
                    weight: offsets[l.weight],
                    bias: l.bias.map(|b| offsets[b]),
                    out_major: l.kind == LayerKind::Conv2d,
                    rows: din + usize::from(l.bias.is_some()),
                    cols: dout,
                },
                a,
                g,
            })
        })
        .collect()
}

impl LayerTokens {
    fn flat(&self) -> (Tensor<2>, Tensor<2>) {
        let [r, positions, rows] = self.a.dims();
        (
            self.a.clone().reshape([r * positions, rows]),
            self.g.clone().reshape([r * positions, self.layout.cols]),
        )
    }

    fn factor_sums(&self) -> FactorSums {
        let (a, g) = self.flat();
        let tokens = a.dims()[0];
        FactorSums {
            a: a.clone().transpose().matmul(a),
            s: g.clone().transpose().matmul(g),
            tokens,
        }
    }

    /// `Σ_i (Q_Aᵀ G_i Q_S)²` over this block's rows (and label copies), `[rows, cols]`.
    fn lambda_sum(&self, basis: &Eigenbasis) -> Result<Tensor<2>> {
        let [r, positions, rows] = self.a.dims();
        let dout = self.layout.cols;
        if positions == 1 {
            // Rank-one G_i: (Q_Aᵀ ã gᵀ Q_S)² = (ã Q_A)²ᵀ (g Q_S)², no [N, I, O] tensor.
            let (a, g) = self.flat();
            let ra = a.matmul(basis.q_a.clone()).powf_scalar(2.0);
            let rs = g.matmul(basis.q_s.clone()).powf_scalar(2.0);
            return Ok(ra.transpose().matmul(rs));
        }
        // G_i = Σ_l ã_{i,l}ᵀ g_{i,l}, in chunks of examples so the [chunk, I, O] rotated
        // gradients stay small.
        let chunk = (LAMBDA_CHUNK_VALUES / (rows * dout).max(1)).clamp(1, r);
        let mut sum: Option<Tensor<2>> = None;
        for start in (0..r).step_by(chunk) {
            let end = (start + chunk).min(r);
            let c = end - start;
            // Rows start..end of tokens [·, L, w], rotated by the eigenbasis q ([w, w]).
            let rotate = |t: &Tensor<3>, q: &Tensor<2>, w: usize| {
                t.clone()
                    .slice(start..end)
                    .reshape([c * positions, w])
                    .matmul(q.clone())
                    .reshape([c, positions, w])
            };
            let ra = rotate(&self.a, &basis.q_a, rows);
            let rs = rotate(&self.g, &basis.q_s, dout);
            let part = ra
                .swap_dims(1, 2)
                .matmul(rs)
                .powf_scalar(2.0)
                .sum_dim(0)
                .reshape([rows, dout]);
            sum = Some(match sum {
                Some(s) => s + part,
                None => part,
            });
        }
        sum.ok_or_else(|| XaiError::EmptyBatch("training set".into()))
    }
}

impl KfacSolver {
    /// Fit the factors at `theta` on the objective's training data.
    pub fn new(
        objective: &Objective,
        theta: &Tensor<1>,
        damping: f64,
        eigen_corrected: bool,
        fisher: Fisher,
    ) -> Result<Self> {
        let n = objective.num_train();
        let tokens = layer_tokens(objective, theta, fisher, 0..n)?;
        let sums = tokens.iter().map(LayerTokens::factor_sums).collect();
        let bases = Self::eigenbases(objective, sums)?;
        let lambda = if eigen_corrected {
            let sums = tokens
                .iter()
                .zip(&bases)
                .map(|(t, b)| t.lambda_sum(b))
                .collect::<Result<Vec<_>>>()?;
            Some(sums)
        } else {
            None
        };
        let layouts = tokens.into_iter().map(|t| t.layout).collect();
        Self::from_layouts(objective, layouts, &bases, lambda, damping)
    }

    /// Map step of a split fit: the factor sums of every layer over training rows `rows`.
    pub fn factor_sums(
        objective: &Objective,
        theta: &Tensor<1>,
        fisher: Fisher,
        rows: Range<usize>,
    ) -> Result<Vec<FactorSums>> {
        let tokens = layer_tokens(objective, theta, fisher, rows)?;
        Ok(tokens.iter().map(LayerTokens::factor_sums).collect())
    }

    /// Reduce step: the eigenbases of the factors whose sums over **all** training rows are
    /// `sums` (`A` averaged over rows, label copies and positions, `S` over examples, as KFC).
    pub fn eigenbases(objective: &Objective, sums: Vec<FactorSums>) -> Result<Vec<Eigenbasis>> {
        let n = objective.num_train();
        sums.into_iter()
            .map(|f| {
                let (qa, alpha) = sym_eigen(f.a / f.tokens.max(1) as f64)?;
                let (qs, sigma) = sym_eigen(f.s / n as f64)?;
                Ok(Eigenbasis {
                    q_a: upload(&qa, objective),
                    alpha,
                    q_s: upload(&qs, objective),
                    sigma,
                })
            })
            .collect()
    }

    /// Map step of the EK-FAC eigenvalue fit: `Σ_i (Q_Aᵀ G_i Q_S)²` of every layer over
    /// training rows `rows`, in the eigenbases of the whole fit.
    pub fn lambda_sums(
        objective: &Objective,
        theta: &Tensor<1>,
        fisher: Fisher,
        rows: Range<usize>,
        bases: &[Eigenbasis],
    ) -> Result<Vec<Tensor<2>>> {
        let tokens = layer_tokens(objective, theta, fisher, rows)?;
        if tokens.len() != bases.len() {
            return Err(XaiError::Config(format!(
                "{} eigenbases for a model with {} layers",
                bases.len(),
                tokens.len()
            )));
        }
        tokens
            .iter()
            .zip(bases)
            .map(|(t, b)| t.lambda_sum(b))
            .collect()
    }

    /// The solver from its eigenbases and, for EK-FAC, the eigenvalue sums over all training
    /// rows (`None` = K-FAC's products `αᵢ σⱼ`).
    pub fn from_factors(
        objective: &Objective,
        theta: &Tensor<1>,
        bases: &[Eigenbasis],
        lambda_sums: Option<Vec<Tensor<2>>>,
        damping: f64,
    ) -> Result<Self> {
        // The layout from a one-row pass (cheap): which slices of θ each layer owns.
        let layouts: Vec<LayerLayout> = layer_tokens(objective, theta, Fisher::Expected, 0..1)?
            .into_iter()
            .map(|t| t.layout)
            .collect();
        Self::from_layouts(objective, layouts, bases, lambda_sums, damping)
    }

    /// [`from_factors`](Self::from_factors) with the layer layouts already known.
    fn from_layouts(
        objective: &Objective,
        layouts: Vec<LayerLayout>,
        bases: &[Eigenbasis],
        lambda_sums: Option<Vec<Tensor<2>>>,
        damping: f64,
    ) -> Result<Self> {
        if layouts.len() != bases.len()
            || lambda_sums.as_ref().is_some_and(|l| l.len() != bases.len())
        {
            return Err(XaiError::Config(format!(
                "factors of {} layers for a model with {} layers",
                bases.len(),
                layouts.len()
            )));
        }
        let n = objective.num_train() as f64;
        let shift = damping + objective.l2();
        let eigen_corrected = lambda_sums.is_some();
        let mut lambda = lambda_sums.map(|l| l.into_iter());
        let mut layers = Vec::with_capacity(layouts.len());
        for (layout, b) in layouts.into_iter().zip(bases) {
            let (rows, cols) = (layout.rows, layout.cols);
            if b.alpha.len() != rows || b.sigma.len() != cols {
                return Err(XaiError::shape(
                    "Kronecker eigenbasis",
                    format!("[{rows}] and [{cols}] eigenvalues"),
                    &[b.alpha.len(), b.sigma.len()],
                ));
            }
            let eig = match lambda.as_mut().and_then(Iterator::next) {
                Some(sum) => sum / n,
                None => {
                    let prod: Vec<f64> = b
                        .alpha
                        .iter()
                        .flat_map(|x| b.sigma.iter().map(move |s| x * s))
                        .collect();
                    matrix(&prod, rows, cols, objective.device(), objective.precision())
                }
            };
            let inv = (eig + shift).recip();
            xai_core::check_finite(&inv, "K-FAC eigenvalues (add damping)")?;
            layers.push(Layer {
                layout,
                q_a: b.q_a.clone(),
                q_s: b.q_s.clone(),
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
            let (i, o) = (l.layout.rows, l.layout.cols);
            let (wa, wb) = l.layout.weight;
            let w_len = wb - wa;
            let w_rows = w_len / o;
            let mut m = v.clone().slice([0..k, wa..wb]).reshape([k, w_len]);
            if l.layout.out_major {
                m = m
                    .reshape([k, o, w_rows])
                    .swap_dims(1, 2)
                    .reshape([k, w_len]);
            }
            if let Some((ba, bb)) = l.layout.bias {
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
            let mut w_back = back.clone().slice([0..k, 0..w_len]);
            if l.layout.out_major {
                w_back = w_back
                    .reshape([k, w_rows, o])
                    .swap_dims(1, 2)
                    .reshape([k, w_len]);
            }
            pieces.push(((wa, wb), w_back));
            if let Some(b) = l.layout.bias {
                pieces.push((b, back.slice([0..k, w_len..i * o])));
            }
        }
        pieces.sort_by_key(|(r, _)| r.0);
        Ok(Tensor::cat(pieces.into_iter().map(|(_, t)| t).collect(), 1))
    }
}
