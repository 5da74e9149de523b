//! Attention rollout (Abnar & Zuidema 2020) and its gradient-weighted variant (Chefer et al.
//! 2021), read from the attention probabilities of any captured model.
//!
//! For attention probabilities `A_l` (`[N, T, T]` or `[N, H, T, T]`, rows summing to 1) at the
//! tapped nodes, in forward order: fuse heads (mean, max or min), add the residual stream,
//! `Â_l = (1 − r)·A_l + r·I`, renormalise rows, and multiply, `R = Â_L ⋯ Â_1`. Row `t` of `R`
//! says how much output token `t` draws on each input token through all layers. With
//! `gradient_weighted`, each head is first weighted by the gradient of the target with respect to
//! the attention probabilities and clipped at zero (`E_h[(∇A ⊙ A)⁺]`), which makes the map
//! class-specific.
//!
//! Axioms: every row of `R` is a probability distribution (non-negative, sums to 1) when the
//! plain rollout is used. Attention is not explanation (Jain & Wallace 2019): this shows where
//! information can flow, not what the output depends on; compare with IG over embeddings.
//!
//! Nodes are addressed by name; [`softmax_nodes`] lists the candidates of a captured graph.

use serde::{Deserialize, Serialize};

use super::Explainable;
use crate::engine::{CapturedGraph, DynTensor};
use burn::tensor::Tensor;
use xai_core::{Result, Target, XaiError};

/// How to combine heads.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum HeadFusion {
    /// Mean over heads.
    #[default]
    Mean,
    /// Maximum over heads.
    Max,
    /// Minimum over heads.
    Min,
}

/// Settings of [`attention_rollout`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RolloutConfig {
    /// Head fusion.
    pub fusion: HeadFusion,
    /// Weight of the identity (residual connection), `r` above; 0.5 in the paper.
    pub residual: f64,
    /// Weight heads by the positive part of gradient × attention (class-specific rollout).
    pub gradient_weighted: bool,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            fusion: HeadFusion::Mean,
            residual: 0.5,
            gradient_weighted: false,
        }
    }
}

/// The rollout `[N, T, T]`, row-major.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rollout {
    /// Values `[N, T, T]`.
    pub values: Vec<f64>,
    /// Inputs.
    pub n: usize,
    /// Tokens.
    pub tokens: usize,
}

/// Names of the nodes whose op is a softmax (attention probabilities in most transformers).
pub fn softmax_nodes(graph: &CapturedGraph) -> Vec<String> {
    graph
        .nodes()
        .iter()
        .filter(|n| n.class == crate::engine::ops::OpClass::Softmax)
        .map(|n| n.name.clone())
        .collect()
}

/// Fuse heads and add the residual: `[N, H, T, T]` (or `[N, T, T]`) → `N` matrices `T × T`.
pub fn fuse(values: &[f64], shape: &[usize], config: &RolloutConfig) -> Result<Vec<Vec<f64>>> {
    let (n, h, t) = match *shape {
        [n, t1, t2] if t1 == t2 => (n, 1, t1),
        [n, h, t1, t2] if t1 == t2 => (n, h, t1),
        _ => {
            return Err(XaiError::shape(
                "attention probabilities",
                "[N, T, T] or [N, H, T, T]",
                shape,
            ));
        }
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut m = vec![0.0; t * t];
        for (e, slot) in m.iter_mut().enumerate() {
            let heads = (0..h).map(|k| values[((i * h + k) * t * t) + e]);
            *slot = match config.fusion {
                HeadFusion::Mean => heads.sum::<f64>() / h as f64,
                HeadFusion::Max => heads.fold(f64::NEG_INFINITY, f64::max),
                HeadFusion::Min => heads.fold(f64::INFINITY, f64::min),
            };
        }
        for r in 0..t {
            for c in 0..t {
                m[r * t + c] = (1.0 - config.residual) * m[r * t + c]
                    + if r == c { config.residual } else { 0.0 };
            }
            let s: f64 = m[r * t..(r + 1) * t].iter().sum();
            if s > 0.0 {
                m[r * t..(r + 1) * t].iter_mut().for_each(|v| *v /= s);
            }
        }
        out.push(m);
    }
    Ok(out)
}

/// The fused attention of every layer at `nodes` (forward order) for `x`: per layer, per input,
/// a row-stochastic `T × T` matrix `Â_l` (heads fused, residual added, gradient-weighted when
/// asked); and `T`. Rollout multiplies them; attention flow
/// ([`super::attention_flow`]) routes flow through them.
pub fn fused_attention<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    nodes: &[&str],
    config: &RolloutConfig,
) -> Result<(Vec<Vec<Vec<f64>>>, usize)> {
    if nodes.is_empty() {
        return Err(XaiError::Config(
            "attention rollout needs at least one attention node".into(),
        ));
    }
    if !(0.0..=1.0).contains(&config.residual) {
        return Err(XaiError::Config(format!(
            "residual weight {} outside [0, 1]",
            config.residual
        )));
    }
    let g = ex.graph(x)?;
    let (values, grads): (Vec<DynTensor>, Option<Vec<DynTensor>>) = if config.gradient_weighted {
        let classes = ex.classes(x, target)?;
        let ad = ex.device.clone().autodiff();
        let t = g.eval_tapped(
            &[DynTensor::from_tensor(x.clone())],
            nodes,
            &ad,
            ex.precision,
        )?;
        let out = t.outputs[0].clone().into_tensor::<2>()?;
        let gr = Target::Classes(classes).select(out)?.sum().backward();
        let grads = t
            .probes
            .iter()
            .map(|p| {
                p.grad(&gr).ok_or_else(|| {
                    XaiError::Numerical("the target does not depend on the attention".into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
        (t.values, Some(grads))
    } else {
        let t = g.eval_tapped(
            &[DynTensor::from_tensor(x.clone())],
            nodes,
            &ex.device.clone().inner(),
            ex.precision,
        )?;
        (t.values, None)
    };
    let mut layers = Vec::with_capacity(values.len());
    let mut tokens = 0;
    for (l, v) in values.iter().enumerate() {
        let shape = v.shape();
        let mut a = v.to_vec_f64()?;
        if let Some(gs) = &grads {
            let gv = gs[l].to_vec_f64()?;
            a.iter_mut()
                .zip(gv)
                .for_each(|(a, g)| *a = (*a * g).max(0.0));
        }
        let fused = fuse(&a, &shape, config)?;
        let t = shape[shape.len() - 1];
        if l > 0 && (t != tokens || fused.len() != layers.first().map_or(0, Vec::len)) {
            return Err(XaiError::shape(
                "attention layers",
                "the same [N, T, T] at every node",
                &shape,
            ));
        }
        tokens = t;
        layers.push(fused);
    }
    Ok((layers, tokens))
}

/// Rollout of the attention at `nodes` (forward order) for `x`.
pub fn attention_rollout<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    nodes: &[&str],
    config: &RolloutConfig,
) -> Result<Rollout> {
    let (layers, tokens) = fused_attention(ex, x, target, nodes, config)?;
    let mut rollout: Option<Vec<Vec<f64>>> = None;
    for fused in layers {
        rollout = Some(match rollout {
            None => fused,
            // R ← Â_l · R.
            Some(prev) => fused
                .iter()
                .zip(&prev)
                .map(|(a, r)| {
                    let mut m = vec![0.0; tokens * tokens];
                    for i in 0..tokens {
                        for k in 0..tokens {
                            let aik = a[i * tokens + k];
                            for j in 0..tokens {
                                m[i * tokens + j] += aik * r[k * tokens + j];
                            }
                        }
                    }
                    m
                })
                .collect(),
        });
    }
    let r = rollout.unwrap_or_default();
    Ok(Rollout {
        n: r.len(),
        tokens,
        values: r.into_iter().flatten().collect(),
    })
}
