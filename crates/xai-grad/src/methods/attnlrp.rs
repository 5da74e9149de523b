//! AttnLRP (Achtibat et al., ICML 2024) and CP-LRP (Ali et al., ICML 2022): layer-wise relevance
//! propagation for transformers, as rule sets over op classes, so they reach any captured
//! transformer — burn's attention modules, hand-written attention, ONNX imports.
//!
//! Both are computed in Gradient × Input form (as the `lxt` package does): the reverse pass is
//! the gradient with these replacements, and relevance = input ⊙ modified gradient.
//!
//! * **Layer normalisation** divides by its standard deviation as a constant (the identity rule
//!   on the normalisation): `g_x = γ g / σ − mean(γ g / σ)` over the normalised axis.
//! * **Elementwise nonlinearities** (GELU, tanh, sigmoid, exp, …; not ReLU, whose gradient
//!   already is the rule) take the identity rule: `g_x = g · f(x) / (x + 10⁻¹⁰)`, the
//!   relevance that enters leaves unchanged.
//! * A **product of two input-dependent tensors** (the attention's `Q Kᵀ` and `A V`, a gated
//!   `x ⊙ σ(x)`) splits the relevance uniformly: each operand gets half of its gradient, so in a
//!   standard attention block the query and key get a quarter and the value a half.
//! * **Softmax** keeps its gradient (AttnLRP) or passes nothing (CP-LRP: the attention weights
//!   are treated as constants, relevance flows through the values only).
//! * Linear layers, convolutions, sums and data moves keep their gradient (ε-LRP with ε → 0 in
//!   Gradient × Input form).
//!
//! Conservation: with these rules relevance is conserved through every layer of a bias-free
//! transformer, so the input relevances sum to the target logit (up to the biases' share).
//!
//! Shapes: [`attnlrp`] takes float inputs `[N, ...]` and returns their shape;
//! [`token_attnlrp`] takes token ids (several integer inputs packed `[N, K, T]`, see
//! `xai_onnx`) and returns one relevance per token at the embedding lookup. Checked against
//! `lxt` 2.1 on the shared `onnx_text` fixture (`xai fixture check … onnx_text.json`).
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::{Device, Tensor};
//! use xai_core::Target;
//! use xai_grad::methods::Explainable;
//! use xai_grad::methods::attnlrp::{TransformerRules, attnlrp};
//! let dev = Device::flex();
//! let layer: Linear = LinearConfig::new(4, 2).with_bias(false).init(&dev);
//! let ex = Explainable::new(layer, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([1, 4], &dev);
//! let r = attnlrp(&ex, &x, &Target::Class(0), TransformerRules::AttnLrp).unwrap();
//! // A bias-free linear map: the relevances sum to the logit.
//! let logit = xai_core::tensor_to_vec_f64(ex.forward(&x).unwrap()).unwrap()[0];
//! let total: f64 = xai_core::tensor_to_vec_f64(r).unwrap().iter().sum();
//! assert!((total - logit).abs() < 1e-5);
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use burn_capture::TensorId;

use burn::backend::ops::FloatTensorOps;
use burn::tensor::{Int, Tensor, TensorData};

use xai_core::{Result, Target, XaiError};

use super::Explainable;
use super::text::{TokenAttribution, TokenExplainable, check_layer, classes_for, finish};
use crate::engine::{BackwardRule, CapturedGraph, DynTensor, RuleSet, Unit, UnitCtx, UnitKind};

/// Which transformer rule set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransformerRules {
    /// AttnLRP: softmax keeps its gradient.
    AttnLrp,
    /// CP-LRP: no relevance through the attention weights.
    CpLrp,
}

impl TransformerRules {
    /// The method's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            TransformerRules::AttnLrp => "attnlrp",
            TransformerRules::CpLrp => "cp_lrp",
        }
    }
}

/// LayerNorm with its standard deviation held constant.
struct ConstantStd;

impl BackwardRule for ConstantStd {
    fn name(&self) -> String {
        "layer_norm(σ constant)".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        let x = ctx.inputs()?.remove(0);
        let eps = ctx.layer_norm_epsilon().ok_or_else(|| {
            XaiError::Config(format!("unit `{}` is not a layer norm", ctx.unit().name))
        })?;
        let centred = x.sub(&x.mean_last());
        let sigma = centred.square().mean_last().add_scalar(eps).sqrt();
        let gamma = ctx
            .params()?
            .into_iter()
            .find(|p| matches!(p.name.as_str(), "gamma" | "weight"))
            .map(|p| p.value);
        let scaled = match gamma {
            Some(gm) => g.mul(&lift(gm, g.rank())),
            None => g.clone(),
        }
        .div(&sigma);
        Ok(vec![scaled.sub(&scaled.mean_last())])
    }
}

/// `t` with leading unit axes up to `rank` (backends such as wgpu broadcast equal ranks only).
fn lift(t: DynTensor, rank: usize) -> DynTensor {
    let mut shape = vec![1; rank.saturating_sub(t.rank())];
    shape.extend(t.shape());
    DynTensor(burn::backend::Dispatch::float_reshape(
        t.0,
        burn::tensor::Shape::from(shape),
    ))
}

/// The identity rule on an elementwise nonlinearity: `g · f(x) / (x + 10⁻¹⁰)`.
struct Identity;

impl BackwardRule for Identity {
    fn name(&self) -> String {
        "identity".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        let x = ctx.inputs()?.remove(0);
        let y = ctx.output()?;
        Ok(vec![g.mul(&y).div(&x.add_scalar(1e-10))])
    }
}

/// The uniform rule on a product of two input-dependent tensors: half the gradient each.
struct Uniform;

impl BackwardRule for Uniform {
    fn name(&self) -> String {
        "uniform".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, g: &DynTensor) -> Result<Vec<DynTensor>> {
        Ok(ctx.vjp(g)?.iter().map(|d| d.mul_scalar(0.5)).collect())
    }
}

/// No relevance through this unit (CP-LRP's softmax).
struct Blocked;

impl BackwardRule for Blocked {
    fn name(&self) -> String {
        "blocked".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, _g: &DynTensor) -> Result<Vec<DynTensor>> {
        Ok(ctx.inputs()?.iter().map(DynTensor::zeros_like).collect())
    }
}

/// The rule set on one graph: a product is bilinear only when both operands depend on the
/// attributed tensor (an attention mask cast to floats is an input of the graph but a constant
/// for the explanation, as it is for PyTorch's autograd in `lxt`).
struct OnGraph {
    rules: TransformerRules,
    dependent: HashSet<TensorId>,
}

impl OnGraph {
    /// For CP-LRP the attention weights are constants: what depends on the input only through a
    /// softmax does not count as input-dependent, so `A V` is linear in `V` (all of its
    /// gradient goes to the values).
    fn new(g: &CapturedGraph, sources: &[TensorId], rules: TransformerRules) -> Self {
        let dependent = match rules {
            TransformerRules::AttnLrp => g.descendants(sources, |_| false),
            TransformerRules::CpLrp => {
                g.descendants(sources, |n| matches!(n.kind, "softmax" | "log_softmax"))
            }
        };
        OnGraph { rules, dependent }
    }
}

impl RuleSet for OnGraph {
    fn rule_for(&self, unit: &Unit) -> Option<Arc<dyn BackwardRule>> {
        let ops: Vec<&str> = unit.ops.to_vec();
        let two_data = unit.data_inputs.len() == 2
            && unit.params.is_empty()
            && unit
                .data_inputs
                .iter()
                .all(|t| self.dependent.contains(&t.id));
        match ops.as_slice() {
            ["layer_norm"] => Some(Arc::new(ConstantStd)),
            ["softmax"] | ["log_softmax"] if self.rules == TransformerRules::CpLrp => {
                Some(Arc::new(Blocked))
            }
            ["matmul"] | ["mul"] if two_data => Some(Arc::new(Uniform)),
            [op] if unit.kind == UnitKind::Activation
                && unit.data_inputs.len() == 1
                && !matches!(*op, "relu" | "softmax" | "log_softmax") =>
            {
                Some(Arc::new(Identity))
            }
            _ => None,
        }
    }
}

/// AttnLRP / CP-LRP relevance of float inputs `[N, ...]` for the target logits.
pub fn attnlrp<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    rules: TransformerRules,
) -> Result<Tensor<D>> {
    let (seed, _) = ex.seed(x, target)?;
    let g = ex.graph(x)?;
    let input = DynTensor::from_tensor(x.clone());
    let sources: Vec<TensorId> = g.inputs.iter().map(|t| t.id).collect();
    let on = OnGraph::new(&g, &sources, rules);
    let grad = g
        .backward_with_rules(&[input], None, &seed, &on, &ex.device, ex.precision)?
        .remove(0)
        .into_tensor::<D>()?;
    let r = grad.cast(x.dtype()) * x.clone();
    if xai_core::tensor_to_vec_f64(r.clone().sum())?
        .iter()
        .any(|v| !v.is_finite())
    {
        return Err(XaiError::NonFinite(rules.name().into()));
    }
    Ok(r)
}

/// AttnLRP / CP-LRP relevance per token, at the token-embedding lookup (or the explainer's named
/// layer): relevance of the embedding output, summed over the embedding dimension.
pub fn token_attnlrp<const D: usize>(
    ex: &TokenExplainable<D>,
    ids: &Tensor<D, Int>,
    target: &Target,
    rules: TransformerRules,
) -> Result<TokenAttribution> {
    let classes = classes_for(ex, ids, target)?;
    let node = ex.attribution_node(ids)?;
    let (e, layer_shape, out) = ex.node_value(ids, &node)?;
    check_layer(&ids.dims(), &layer_shape, &node)?;
    let n = ids.dims()[0];
    let c = out.len() / n.max(1);
    let mut v = vec![0.0f64; n * c];
    for (i, &k) in classes.iter().enumerate() {
        v[i * c + k] = 1.0;
    }
    let seed = Tensor::<2>::from_data(
        TensorData::new(v, [n, c]),
        (&ex.device, burn::tensor::DType::from(ex.precision.dtype())),
    );
    let g = ex.graph(ids)?;
    let source = g.nodes[g.node_index(&node)?].output()?.id;
    let on = OnGraph::new(&g, &[source], rules);
    let cot = g
        .backward_with_rules_at(
            &[DynTensor::from_int_tensor(
                ids.clone().to_device(&ex.device),
            )],
            &DynTensor::from_tensor(seed),
            &on,
            &ex.device,
            ex.precision,
            &[&node],
        )?
        .remove(0)
        .to_vec_f64()?;
    let per_dimension: Vec<f64> = e.iter().zip(&cot).map(|(a, b)| a * b).collect();
    if per_dimension.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite(rules.name().into()));
    }
    finish(ids, per_dimension, layer_shape, node, classes, None)
}
