//! Layer-wise relevance propagation (Bach et al., 2015; Montavon et al., 2019) as one propagation
//! engine with short rules.
//!
//! Relevance flows from the output (the one-hot of the target, as in Zennit's `Gradient`
//! attributor) to the input, layer by layer. Every rule is one choice of Zennit's `BasicHook`
//! anatomy: per *branch* an input modifier and a parameter modifier; the layer is re-evaluated
//! for each branch, the upper relevance is divided by a stabilised output, pulled back through
//! the branch, and the branches are reduced by "input × gradient":
//!
//! | rule | branches `(input, weight/bias)` | reduction |
//! |---|---|---|
//! | ε | `(x, W/b)` | `x ⊙ Jᵀ(R / stab_ε(z))` |
//! | γ | `(x⁺, W+γW⁺ / b+γb⁺)`, `(x⁻, W+γW⁻ / 0)`, `(x⁺, W+γW⁻ / b+γb⁻)`, `(x⁻, W+γW⁺ / 0)` | positive pair where `z > 0`, negative pair where `z < 0` |
//! | αβ | `(x⁺, W⁺/b⁺)`, `(x⁻, W⁻/0)`, `(x⁺, W⁻/b⁻)`, `(x⁻, W⁺/0)` | `α·(pos) − β·(neg)`, each normalised by its own sum |
//! | z⁺ | `(x⁺, W⁺/b⁺)`, `(x⁻, W⁻/0)` | `Σ in ⊙ Jᵀ(R / stab(z⁺))` |
//! | zB | `(x, W/b)`, `(low, W⁺/b⁺)`, `(high, W⁻/b⁻)` | `x·g₀ − low·g₁ − high·g₂` |
//! | w² | `(1, W²/b²)` | `Jᵀ(R / stab(z))` |
//! | flat | `(1, 1/0)` | `Jᵀ(R / stab(z))` |
//!
//! where `stab_ε(z) = z + ε·(sign z + [z = 0])`. Activations pass relevance unchanged (`Pass`),
//! residual sums split it in proportion to their inputs (`Norm`), average pooling uses `Norm`,
//! max pooling and reshapes use their gradient, exactly as Zennit's layer-map composites do.
//!
//! Axioms: with ε → 0 on a bias-free ReLU network, relevance is conserved layer by layer
//! (`Σ R_in = Σ R_out`); tested. With biases, the biases absorb part of it.
//!
//! Shapes: input `[N, ...]` → relevance of the same shape. Checked against Zennit 1.0 on the
//! shared fixtures (`lrp/epsilon`, `lrp/zplus`, `lrp/alpha2beta1`).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn::nn::{Linear, LinearConfig};
//! use xai_core::Target;
//! use xai_grad::methods::{Explainable, lrp::{lrp, Composite, LrpRule}};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(4, 3).init(&dev);
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([2, 4], &dev);
//! let r = lrp(&ex, &x, &Target::Class(1), &Composite::uniform(LrpRule::Epsilon(1e-6))).unwrap();
//! assert_eq!(r.dims(), [2, 4]);
//! ```

use std::sync::Arc;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use xai_core::{Result, Target, XaiError};

use super::Explainable;
use crate::engine::host::{HostLrpRule, HostLrpRules, HostRules};
use crate::engine::{BackwardRule, Branch, DynTensor, RuleSet, Unit, UnitCtx, UnitKind};

/// Zennit's default stabiliser for the rules other than ε.
const STAB: f64 = 1e-6;

/// One LRP rule for layers with weights.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LrpRule {
    /// LRP-ε (ε = 0 gives LRP-0).
    Epsilon(f64),
    /// Generalised LRP-γ.
    Gamma(f64),
    /// LRP-αβ with α − β = 1.
    AlphaBeta {
        /// Weight of the positive contributions.
        alpha: f64,
        /// Weight of the negative contributions.
        beta: f64,
    },
    /// LRP-z⁺ (αβ with α = 1, β = 0, negative inputs allowed).
    ZPlus,
    /// zB for inputs bounded in `[low, high]` (the first layer of image models).
    ZBox {
        /// Lowest possible input value.
        low: f64,
        /// Highest possible input value.
        high: f64,
    },
    /// w²: relevance by squared weights, independent of the input.
    WSquare,
    /// Flat: relevance spread uniformly over the receptive field.
    Flat,
    /// The ordinary gradient (no LRP rule).
    Gradient,
}

/// Which rule goes on which kind of layer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Composite {
    /// Dense (linear) layers.
    pub dense: LrpRule,
    /// Convolutions.
    pub conv: LrpRule,
    /// The first weighted layer (overrides `dense`/`conv` there), e.g. zB for images.
    pub first: Option<LrpRule>,
    /// Stabiliser of the proportional split at residual sums and average pools (Zennit's `Norm`).
    pub norm_epsilon: f64,
    /// Fold every BatchNorm into the layer before it first (Zennit's `MergeBatchNorm`
    /// canonizer; see [`CapturedGraph::fold_batch_norms`](crate::CapturedGraph::fold_batch_norms)).
    /// Off in the constructors, as in Zennit where canonizers are passed explicitly; turn it on
    /// with [`Composite::with_batch_norm_folding`] for any model with BatchNorm.
    pub fold_batch_norm: bool,
}

impl Composite {
    /// The rules as the host kernels run them; `None` when a rule has no host version (only ε
    /// and z⁺ do) or BatchNorm folding is on (it changes the graph the plan was compiled from).
    fn host_lrp_rules(&self) -> Option<HostLrpRules> {
        let host = |r: LrpRule| match r {
            LrpRule::Epsilon(e) => Some(HostLrpRule::Epsilon(e as f32)),
            LrpRule::ZPlus => Some(HostLrpRule::ZPlus),
            _ => None,
        };
        if self.fold_batch_norm || self.norm_epsilon != STAB {
            return None;
        }
        Some(HostLrpRules {
            dense: host(self.dense)?,
            conv: host(self.conv)?,
            first: match self.first {
                Some(r) => Some(host(r)?),
                None => None,
            },
        })
    }

    /// The same composite with BatchNorm folding (canonization) on.
    pub fn with_batch_norm_folding(mut self) -> Self {
        self.fold_batch_norm = true;
        self
    }

    /// The same rule on every dense and conv layer (how the shared fixtures were made).
    pub fn uniform(rule: LrpRule) -> Self {
        Composite {
            dense: rule,
            conv: rule,
            first: None,
            norm_epsilon: STAB,
            fold_batch_norm: false,
        }
    }

    /// Zennit's `EpsilonPlus`: ε on dense layers, z⁺ on convolutions.
    pub fn epsilon_plus() -> Self {
        Composite {
            dense: LrpRule::Epsilon(1e-6),
            conv: LrpRule::ZPlus,
            first: None,
            norm_epsilon: STAB,
            fold_batch_norm: false,
        }
    }

    /// Zennit's `EpsilonGammaBox`: zB on the first layer, γ on convolutions, ε on dense layers.
    pub fn epsilon_gamma_box(low: f64, high: f64) -> Self {
        Composite {
            dense: LrpRule::Epsilon(1e-6),
            conv: LrpRule::Gamma(0.25),
            first: Some(LrpRule::ZBox { low, high }),
            norm_epsilon: STAB,
            fold_batch_norm: false,
        }
    }

    /// Zennit's `EpsilonAlpha2Beta1`: αβ(2, 1) on convolutions, ε on dense layers.
    pub fn epsilon_alpha2_beta1() -> Self {
        Composite {
            dense: LrpRule::Epsilon(1e-6),
            conv: LrpRule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
            },
            first: None,
            norm_epsilon: STAB,
            fold_batch_norm: false,
        }
    }
}

/// Pass relevance through unchanged (activations).
pub struct Pass;

impl BackwardRule for Pass {
    fn name(&self) -> String {
        "pass".into()
    }
    fn backward(&self, _ctx: &UnitCtx<'_>, r: &DynTensor) -> Result<Vec<DynTensor>> {
        Ok(vec![r.clone()])
    }
}

/// Zennit's `Norm`: `R_i = x_i ⊙ Jᵢᵀ (R / stab(z))` for a parameter-free unit (sums, pools).
pub struct Norm(pub f64);

impl BackwardRule for Norm {
    fn name(&self) -> String {
        format!("norm({})", self.0)
    }
    fn backward(&self, ctx: &UnitCtx<'_>, r: &DynTensor) -> Result<Vec<DynTensor>> {
        let xs = ctx.inputs()?;
        let eps = self.0;
        let r = r.clone();
        let g = ctx
            .pullback(
                &[Branch {
                    inputs: xs.clone(),
                    params: None,
                }],
                |z| Ok(vec![r.div(&z[0].stabilize(eps))]),
            )?
            .remove(0);
        Ok(xs.iter().zip(&g).map(|(x, g)| x.mul(g)).collect())
    }
}

/// Parameters with a modifier applied to weights and biases (`bias: None` zeroes the bias).
fn modify(
    ctx: &UnitCtx<'_>,
    weight: impl Fn(&DynTensor) -> DynTensor,
    bias: Option<&dyn Fn(&DynTensor) -> DynTensor>,
) -> Result<Vec<DynTensor>> {
    Ok(ctx
        .params()?
        .into_iter()
        .map(|p| match p.name.as_str() {
            "bias" | "beta" => match bias {
                Some(f) => f(&p.value),
                None => p.value.zeros_like(),
            },
            _ => weight(&p.value),
        })
        .collect())
}

impl BackwardRule for LrpRule {
    fn name(&self) -> String {
        format!("{self:?}")
    }

    fn backward(&self, ctx: &UnitCtx<'_>, r: &DynTensor) -> Result<Vec<DynTensor>> {
        let xs = ctx.inputs()?;
        if xs.len() != 1 {
            return Err(XaiError::UnsupportedOp {
                op: ctx.unit().ops.join("+"),
                transform: format!("LRP rule {self:?} (needs exactly one data input)"),
                node: ctx.unit().name.clone(),
            });
        }
        let x = &xs[0];
        let pos = |t: &DynTensor| t.clamp_min(0.0);
        let neg = |t: &DynTensor| t.clamp_max(0.0);
        let branch = |input: DynTensor, params: Vec<DynTensor>| Branch {
            inputs: vec![input],
            params: Some(params),
        };
        let r = r.clone();
        let out = match *self {
            LrpRule::Gradient => return ctx.vjp(&r),
            LrpRule::Epsilon(eps) => {
                let p = modify(ctx, |w| w.clone(), Some(&|b: &DynTensor| b.clone()))?;
                let g = ctx.pullback(&[branch(x.clone(), p)], |z| {
                    Ok(vec![r.div(&z[0].stabilize(eps))])
                })?;
                x.mul(&g[0][0])
            }
            LrpRule::ZPlus => {
                let b = [
                    branch(pos(x), modify(ctx, pos, Some(&pos))?),
                    branch(neg(x), modify(ctx, neg, None)?),
                ];
                let g = ctx.pullback(&b, |z| {
                    let d = r.div(&z[0].add(&z[1]).stabilize(STAB));
                    Ok(vec![d.clone(), d])
                })?;
                pos(x).mul(&g[0][0]).add(&neg(x).mul(&g[1][0]))
            }
            LrpRule::AlphaBeta { alpha, beta } => {
                if alpha < 0.0 || beta < 0.0 || ((alpha - beta) - 1.0).abs() > 1e-12 {
                    return Err(XaiError::Config(format!(
                        "LRP alpha-beta needs alpha, beta ≥ 0 and alpha − beta = 1 (got {alpha}, {beta})"
                    )));
                }
                let b = [
                    branch(pos(x), modify(ctx, pos, Some(&pos))?),
                    branch(neg(x), modify(ctx, neg, None)?),
                    branch(pos(x), modify(ctx, neg, Some(&neg))?),
                    branch(neg(x), modify(ctx, pos, None)?),
                ];
                let g = ctx.pullback(&b, |z| {
                    let dp = r.div(&z[0].add(&z[1]).stabilize(STAB));
                    let dn = r.div(&z[2].add(&z[3]).stabilize(STAB));
                    Ok(vec![dp.clone(), dp, dn.clone(), dn])
                })?;
                let p = pos(x).mul(&g[0][0]).add(&neg(x).mul(&g[1][0]));
                let n = pos(x).mul(&g[2][0]).add(&neg(x).mul(&g[3][0]));
                p.mul_scalar(alpha).sub(&n.mul_scalar(beta))
            }
            LrpRule::Gamma(gamma) => {
                let gp = move |t: &DynTensor| t.add(&pos(t).mul_scalar(gamma));
                let gn = move |t: &DynTensor| t.add(&neg(t).mul_scalar(gamma));
                let z = ctx.output()?;
                let b = [
                    branch(pos(x), modify(ctx, gp, Some(&gp))?),
                    branch(neg(x), modify(ctx, gn, None)?),
                    branch(pos(x), modify(ctx, gn, Some(&gn))?),
                    branch(neg(x), modify(ctx, gp, None)?),
                ];
                let g = ctx.pullback(&b, |o| {
                    let up = z.greater_mask(0.0);
                    let down = z.lower_mask(0.0);
                    let dp = up.mul(&r).div(&o[0].add(&o[1]).stabilize(STAB));
                    let dn = down.mul(&r).div(&o[2].add(&o[3]).stabilize(STAB));
                    Ok(vec![dp.clone(), dp, dn.clone(), dn])
                })?;
                pos(x)
                    .mul(&g[0][0])
                    .add(&neg(x).mul(&g[1][0]))
                    .add(&pos(x).mul(&g[2][0]))
                    .add(&neg(x).mul(&g[3][0]))
            }
            LrpRule::ZBox { low, high } => {
                if low > high {
                    return Err(XaiError::Config(format!(
                        "LRP zB needs low ≤ high (got {low}, {high})"
                    )));
                }
                let (lo, hi) = (x.full_like(low), x.full_like(high));
                let b = [
                    branch(x.clone(), modify(ctx, |w| w.clone(), Some(&|b| b.clone()))?),
                    branch(lo.clone(), modify(ctx, pos, Some(&pos))?),
                    branch(hi.clone(), modify(ctx, neg, Some(&neg))?),
                ];
                let g = ctx.pullback(&b, |z| {
                    let d = r.div(&z[0].sub(&z[1]).sub(&z[2]).stabilize(STAB));
                    Ok(vec![d.clone(), d.clone(), d])
                })?;
                x.mul(&g[0][0])
                    .sub(&lo.mul(&g[1][0]))
                    .sub(&hi.mul(&g[2][0]))
            }
            LrpRule::WSquare => {
                let p = modify(ctx, |w| w.square(), Some(&|b: &DynTensor| b.square()))?;
                let g = ctx.pullback(&[branch(x.ones_like(), p)], |z| {
                    Ok(vec![r.div(&z[0].stabilize(STAB))])
                })?;
                g[0][0].clone()
            }
            LrpRule::Flat => {
                let p = modify(ctx, |w| w.ones_like(), None)?;
                let g = ctx.pullback(&[branch(x.ones_like(), p)], |z| {
                    Ok(vec![r.div(&z[0].stabilize(STAB))])
                })?;
                g[0][0].clone()
            }
        };
        Ok(vec![out])
    }
}

impl RuleSet for Composite {
    fn rule_for(&self, unit: &Unit) -> Option<Arc<dyn BackwardRule>> {
        let weighted = |rule: LrpRule| -> Arc<dyn BackwardRule> {
            match (unit.weighted_index, self.first) {
                (Some(0), Some(first)) => Arc::new(first),
                _ => Arc::new(rule),
            }
        };
        match unit.kind {
            UnitKind::Dense => Some(weighted(self.dense)),
            UnitKind::Conv => Some(weighted(self.conv)),
            UnitKind::Activation => Some(Arc::new(Pass)),
            UnitKind::Add | UnitKind::AvgPool => Some(Arc::new(Norm(self.norm_epsilon))),
            _ => None,
        }
    }
    fn host_rules(&self) -> Option<HostRules> {
        self.host_lrp_rules().map(HostRules::Lrp)
    }
    fn folds_batch_norm(&self) -> bool {
        self.fold_batch_norm
    }
}

/// LRP relevance of each sample's target logit, with `composite` choosing the rules.
pub fn lrp<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    composite: &Composite,
) -> Result<Tensor<D>> {
    let classes = ex.classes(x, target)?;
    Ok(ex.reverse_with_rules(x, None, &classes, composite)?.input)
}
