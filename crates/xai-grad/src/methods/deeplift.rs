//! DeepLIFT with the rescale rule (Shrikumar et al., 2017) and DeepLIFT-SHAP.
//!
//! A forward pass on the input and one on the reference give every unit its difference from
//! reference `Δx`, `Δy`. The backward pass carries *multipliers*: linear, conv, reshapes and
//! sums pass them as their gradient does; an elementwise nonlinearity multiplies by `Δy / Δx`
//! (the plain derivative where `|Δx| < 1e-10`). Max pooling passes its gradient by default,
//! which is what Captum 0.9 computed on the shared fixtures; [`MaxPoolMode::Routed`] instead
//! routes `Δy` back through the arg-maxes of input and reference and divides by `Δx`, which
//! restores completeness. The attribution is `(x − x_ref) ⊙ multiplier`.
//!
//! Axiom (summation to delta / completeness): `Σ attribution = f(x) − f(x_ref)` for networks of
//! linear layers and elementwise nonlinearities (and max pools in `Routed` mode); tested, and
//! returned as the per-sample delta.
//!
//! DeepLIFT-SHAP averages DeepLIFT over a distribution of references.
//!
//! Shapes: input `[N, ...]`, reference the same shape; result the input's shape. Matches Captum's
//! `DeepLift` (rescale) on the shared fixtures.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn::nn::{Linear, LinearConfig};
//! use xai_core::Target;
//! use xai_grad::methods::{Explainable, deeplift::deeplift};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(4, 3).init(&dev);
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([2, 4], &dev);
//! let (a, delta) = deeplift(&ex, &x, &Tensor::zeros([2, 4], &dev), &Target::Class(0)).unwrap();
//! assert_eq!(a.dims(), [2, 4]);
//! assert!(delta.iter().all(|d| d.abs() < 1e-5)); // a linear model: exact
//! ```

use std::sync::Arc;

use burn::tensor::Tensor;

use xai_core::{Result, Target, XaiError};

use super::Explainable;
use crate::engine::host::HostRules;
use crate::engine::{BackwardRule, DynTensor, RuleSet, Unit, UnitCtx, UnitKind};

/// Captum's threshold below which `Δx` counts as zero.
const EPS: f64 = 1e-10;

fn reference(ctx: &UnitCtx<'_>) -> Result<(Vec<DynTensor>, DynTensor)> {
    let xr = ctx.reference_inputs()?;
    let yr = ctx.reference_output()?;
    match (xr, yr) {
        (Some(xr), Some(yr)) => Ok((xr, yr)),
        _ => Err(XaiError::Config(
            "DeepLIFT rules need a reference pass".into(),
        )),
    }
}

/// The rescale rule for an elementwise nonlinearity: `g · Δy/Δx`.
pub struct Rescale;

impl BackwardRule for Rescale {
    fn name(&self) -> String {
        "rescale".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        let (xr, yr) = reference(ctx)?;
        let x = &ctx.inputs()?[0];
        let dx = x.sub(&xr[0]);
        let dy = ctx.output()?.sub(&yr);
        let grad = ctx.vjp(g)?.remove(0);
        // Where Δx is tiny the quotient is replaced by the derivative; a safe denominator keeps
        // the unused branch finite.
        let safe = dx.add(&dx.abs().lower_mask(EPS));
        let rescaled = g.mul(&dy).div(&safe);
        Ok(vec![rescaled.where_small(&dx, EPS, &grad)])
    }
}

/// Captum's max-pool rule: the output difference routed back through the input's arg-max.
pub struct MaxPoolRule;

impl BackwardRule for MaxPoolRule {
    fn name(&self) -> String {
        "deeplift_maxpool".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        let (xr, yr) = reference(ctx)?;
        let x = ctx.inputs()?;
        let y = ctx.output()?;
        let dx = x[0].sub(&xr[0]);
        // max(y, y_ref) = y_ref + relu(y − y_ref). The part of Δy up to the cross maximum goes
        // back through the input's arg-max, the rest through the reference's: the two parts sum
        // to Δy, so the rule is complete.
        let ymax = yr.add(&y.sub(&yr).clamp_min(0.0));
        let routed = ctx.vjp_at(&x, &g.mul(&ymax.sub(&yr)))?.remove(0);
        let routed = routed.add(&ctx.vjp_at(&xr, &g.mul(&y.sub(&ymax)))?.remove(0));
        let grad = ctx.vjp(g)?.remove(0);
        let safe = dx.add(&dx.abs().lower_mask(EPS));
        Ok(vec![routed.div(&safe).where_small(&dx, EPS, &grad)])
    }
}

/// How DeepLIFT passes multipliers through max pooling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MaxPoolMode {
    /// The ordinary gradient (what Captum 0.9 produced on the shared fixtures).
    #[default]
    Gradient,
    /// Route `Δy` back through the arg-maxes of input and reference (Captum's `maxpool` hook
    /// rule with both halves of its batch): complete, `Σ attribution = Δf` exactly.
    Routed,
}

/// Rescale on every elementwise nonlinearity, the chosen rule on max pools, gradients elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeepLiftRules {
    /// Max-pool handling.
    pub max_pool: MaxPoolMode,
}

impl RuleSet for DeepLiftRules {
    fn rule_for(&self, unit: &Unit) -> Option<Arc<dyn BackwardRule>> {
        match unit.kind {
            UnitKind::Activation => Some(Arc::new(Rescale)),
            UnitKind::MaxPool if self.max_pool == MaxPoolMode::Routed && unit.ops.len() == 1 => {
                Some(Arc::new(MaxPoolRule))
            }
            _ => None,
        }
    }
    fn host_rules(&self) -> Option<HostRules> {
        (self.max_pool == MaxPoolMode::Gradient).then_some(HostRules::Rescale)
    }
}

/// DeepLIFT (rescale) attributions and the per-sample completeness delta
/// `Σ attribution − (f(x) − f(x_ref))` of the target logit.
pub fn deeplift<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    reference: &Tensor<D>,
    target: &Target,
) -> Result<(Tensor<D>, Vec<f64>)> {
    deeplift_with(ex, x, reference, target, DeepLiftRules::default())
}

/// [`deeplift`] with explicit rules (e.g. the complete max-pool rule).
pub fn deeplift_with<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    reference: &Tensor<D>,
    target: &Target,
    rules: DeepLiftRules,
) -> Result<(Tensor<D>, Vec<f64>)> {
    super::check_reference(x, reference, "DeepLIFT reference")?;
    let classes = ex.classes(x, target)?;
    let diff = x.clone() - reference.clone().cast(x.dtype());
    let pass = ex.reverse_with_rules(x, Some(reference), &classes, &rules)?;
    let attr = diff * pass.input;
    // Completeness from the outputs of the same two passes when the evaluator kept them.
    let delta = match pass.outputs {
        Some((fx, fr)) => completeness_of(
            &xai_core::tensor_to_vec_f64(attr.clone())?,
            &fx,
            &fr,
            &classes,
        ),
        None => completeness(ex, x, reference, &classes, &attr)?,
    };
    Ok((attr, delta))
}

/// DeepLIFT-SHAP: DeepLIFT averaged over references `[M, ...]` (each sample against every one).
pub fn deeplift_shap<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    references: &Tensor<D>,
    target: &Target,
) -> Result<Tensor<D>> {
    let m = references.dims()[0];
    if m == 0 {
        return Err(XaiError::EmptyBatch(
            "DeepLIFT-SHAP needs references".into(),
        ));
    }
    let dims = x.dims();
    let mut acc: Option<Tensor<D>> = None;
    for j in 0..m {
        let mut rd = dims;
        rd[0] = 1;
        let r = references.clone().narrow(0, j, 1).reshape(rd).expand(dims);
        let (a, _) = deeplift(ex, x, &r, target)?;
        acc = Some(match acc {
            Some(s) => s + a,
            None => a,
        });
    }
    acc.map(|s| s / m as f64)
        .ok_or_else(|| XaiError::EmptyBatch("DeepLIFT-SHAP needs references".into()))
}

/// `Σ attribution − (f_c(x) − f_c(ref))` per sample.
pub(crate) fn completeness<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    reference: &Tensor<D>,
    classes: &[usize],
    attr: &Tensor<D>,
) -> Result<Vec<f64>> {
    let fx = xai_core::tensor_to_vec_f64(ex.forward(x)?)?;
    let fr = xai_core::tensor_to_vec_f64(ex.forward(reference)?)?;
    let a = xai_core::tensor_to_vec_f64(attr.clone())?;
    Ok(completeness_of(&a, &fx, &fr, classes))
}

/// `Σ attribution − (f_c(x) − f_c(ref))` per sample, from the attribution rows and the outputs
/// `[N, C]` at the inputs and the references.
fn completeness_of(attr: &[f64], fx: &[f64], fr: &[f64], classes: &[usize]) -> Vec<f64> {
    let n = classes.len();
    let c = fx.len() / n.max(1);
    let per = attr.len() / n.max(1);
    (0..n)
        .map(|i| {
            let s: f64 = attr[i * per..(i + 1) * per].iter().sum();
            s - (fx[i * c + classes[i]] - fr[i * c + classes[i]])
        })
        .collect()
}
