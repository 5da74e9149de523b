//! Guided backpropagation and deconvnet: the gradient with a modified ReLU backward.
//!
//! * Guided backprop (Springenberg et al., 2015, "Striving for simplicity"): at every ReLU the
//!   backward passes `g_in = 1[x > 0] · max(g_out, 0)`: only positive signals, only where the unit
//!   was active.
//! * Deconvnet (Zeiler & Fergus, 2014): `g_in = max(g_out, 0)`, ignoring the forward activation.
//!
//! Everything else (linear, conv, pooling, reshapes) passes its ordinary gradient. The rule is
//! applied per ReLU *application*, so a ReLU module used twice, or a functional `relu`, is
//! handled correctly (Captum hooks modules and misses functional calls).
//!
//! Shapes: input `[N, ...]`, output `[N, C]`; the result has the input's shape. Matches Captum's
//! `GuidedBackprop` and `Deconvolution` (checked against the shared fixtures).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn::nn::{Linear, LinearConfig};
//! use xai_core::Target;
//! use xai_grad::methods::{Explainable, guided_backprop::guided_backprop};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(4, 3).init(&dev);
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([2, 4], &dev);
//! let a = guided_backprop(&ex, &x, &Target::Class(0)).unwrap();
//! assert_eq!(a.dims(), [2, 4]);
//! ```

use std::sync::Arc;

use burn::tensor::Tensor;

use xai_core::{Result, Target};

use super::Explainable;
use crate::engine::host::{HostRules, ReluRule};
use crate::engine::{BackwardRule, DynTensor, RuleSet, Unit, UnitCtx, UnitKind};

/// Guided-backprop ReLU: `vjp(g_out) · 1[g_out > 0]`.
pub struct GuidedRelu;

impl BackwardRule for GuidedRelu {
    fn name(&self) -> String {
        "guided_relu".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        let grad = ctx.vjp(g)?;
        let keep = g.greater_mask(0.0);
        Ok(grad.iter().map(|d| d.mul(&keep)).collect())
    }
    fn host_relu(&self) -> Option<ReluRule> {
        Some(ReluRule::Guided)
    }
}

/// Deconvnet ReLU: `max(g_out, 0)`.
pub struct DeconvRelu;

impl BackwardRule for DeconvRelu {
    fn name(&self) -> String {
        "deconv_relu".into()
    }
    fn backward(&self, _ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        Ok(vec![g.clamp_min(0.0)])
    }
    fn host_relu(&self) -> Option<ReluRule> {
        Some(ReluRule::Deconv)
    }
}

/// Puts one rule on every ReLU unit.
pub struct OnRelu(pub Arc<dyn BackwardRule>);

impl RuleSet for OnRelu {
    fn rule_for(&self, unit: &Unit) -> Option<Arc<dyn BackwardRule>> {
        (unit.kind == UnitKind::Activation && unit.ops == ["relu"]).then(|| self.0.clone())
    }
    fn host_rules(&self) -> Option<HostRules> {
        self.0.host_relu().map(HostRules::Relu)
    }
}

fn modified<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    rules: &dyn RuleSet,
) -> Result<Tensor<D>> {
    let classes = ex.classes(x, target)?;
    Ok(ex.reverse_with_rules(x, None, &classes, rules)?.input)
}

/// Guided backprop of each sample's target logit.
pub fn guided_backprop<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
) -> Result<Tensor<D>> {
    modified(ex, x, target, &OnRelu(Arc::new(GuidedRelu)))
}

/// Deconvnet attribution of each sample's target logit.
pub fn deconvolution<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
) -> Result<Tensor<D>> {
    modified(ex, x, target, &OnRelu(Arc::new(DeconvRelu)))
}
