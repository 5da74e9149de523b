//! Token attributions for models that start with burn's `Embedding` (text classifiers).
//!
//! Token ids are integers, so no gradient reaches them; the attribution is taken at the
//! embedding's output `e = E[ids]` (`[N, T, E]`) and summed over the embedding dimension to give
//! one score per token (Captum's recipe with `LayerIntegratedGradients` on the embedding layer):
//!
//! - [`token_gradient_x_embedding`]: `φ_t = Σ_d e_{t,d} · ∂F/∂e_{t,d}`; one pass.
//! - [`token_integrated_gradients`]: layer IG between the embeddings of a baseline sequence
//!   (usually the padding token everywhere, see [`padding_baseline`]) and of the input,
//!   `φ_t = Σ_d (e − e')_{t,d} ∫₀¹ ∂F/∂e_{t,d}(e' + α(e − e')) dα`. Complete:
//!   `Σ_t φ_t = F(ids) − F(baseline ids)` up to the quadrature error, reported per input as
//!   `delta`, because every path from the ids to the output passes through the embedding.
//!
//! The model is captured once per id shape with [`CapturedGraph::capture_tokens`] and never
//! modified; the embedding is the first `embedding` node of the graph unless a layer is named.
//! All path points of all inputs are one batch (chunked against the memory budget).
//!
//! Shapes: ids `[N, T]` (any rank with the batch first), outputs `[N, C]`; `per_token` is
//! `[N, T]` row-major, `per_dimension` `[N, T, E]`.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
//! use burn::tensor::{Device, Int, Tensor, TensorData};
//! use xai_core::Target;
//! use xai_grad::methods::integrated_gradients::IgConfig;
//! use xai_grad::methods::text::{TokenExplainable, padding_baseline, token_integrated_gradients};
//!
//! #[derive(Module, Debug)]
//! struct Bag { embed: Embedding, head: Linear }
//! fn forward(m: &Bag, ids: Tensor<2, Int>) -> Tensor<2> {
//!     m.head.forward(m.embed.forward(ids).mean_dim(1).squeeze_dim(1))
//! }
//! let dev = Device::flex();
//! let bag = Bag { embed: EmbeddingConfig::new(10, 4).init(&dev), head: LinearConfig::new(4, 2).init(&dev) };
//! let ex = TokenExplainable::new(bag, forward, dev.clone());
//! let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 5, 7, 0], [1, 4]), &dev);
//! let r = token_integrated_gradients(&ex, &ids, &padding_baseline(&ids, 0, &[]), &Target::Class(1), &IgConfig::default()).unwrap();
//! assert_eq!(r.per_token.len(), 4);
//! assert!(r.per_token[3].abs() < 1e-6); // the padding token is its own baseline
//! assert!(r.delta.unwrap()[0].abs() < 1e-4); // a linear head: IG is exact
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::integrated_gradients::IgConfig;
use super::layer::{TappedPass, completeness_delta, layer_ig_sum};
use crate::engine::{CapturedGraph, DynTensor, Precision};
use xai_core::{Result, Target, XaiError};

type TokenCaptureFn<const D: usize> = dyn Fn(Tensor<D, Int>) -> Result<CapturedGraph> + Send + Sync;

/// A text model prepared for explanation: its forward takes integer token ids.
pub struct TokenExplainable<const D: usize> {
    capture: Box<TokenCaptureFn<D>>,
    cache: Mutex<HashMap<Vec<usize>, Arc<CapturedGraph>>>,
    /// Where the replays run.
    pub device: Device,
    /// The precision of the replays.
    pub precision: Precision,
    /// The layer to attribute at (a node name or module path); `None`: the first embedding.
    pub layer: Option<String>,
}

impl<const D: usize> TokenExplainable<D> {
    /// Wrap `model` and its forward (`[N, T]` ids → `[N, C]` logits), replayed on `device` in f32.
    pub fn new<M>(model: M, forward: fn(&M, Tensor<D, Int>) -> Tensor<2>, device: Device) -> Self
    where
        M: Module + Clone + Send + Sync + 'static,
    {
        TokenExplainable {
            capture: Box::new(move |example| {
                CapturedGraph::capture_tokens(&model, example, forward)
            }),
            cache: Mutex::new(HashMap::new()),
            device,
            precision: Precision::F32,
            layer: None,
        }
    }

    /// Use another precision (f64 for reference checks on flex).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Attribute at this layer (node name or module path) instead of the first embedding.
    pub fn at_layer(mut self, layer: &str) -> Self {
        self.layer = Some(layer.to_string());
        self
    }

    /// The graph for ids of this shape (captured on first use, then cached).
    pub fn graph(&self, ids: &Tensor<D, Int>) -> Result<Arc<CapturedGraph>> {
        let key = ids.dims().to_vec();
        let poisoned = || XaiError::Capture("capture cache poisoned".into());
        if let Some(g) = self.cache.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(g.clone());
        }
        let example = Tensor::<D, Int>::zeros(ids.dims(), &Device::flex());
        let g = Arc::new((self.capture)(example)?);
        self.cache
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, g.clone());
        Ok(g)
    }

    /// The node attributions are taken at.
    pub fn attribution_node(&self, ids: &Tensor<D, Int>) -> Result<String> {
        let g = self.graph(ids)?;
        match &self.layer {
            Some(l) => g.resolve_node(l),
            None => g
                .nodes()
                .iter()
                .find(|n| n.kind == "embedding")
                .map(|n| n.name.clone())
                .ok_or_else(|| {
                    XaiError::Config(
                        "the model has no Embedding; name the layer with `at_layer`".into(),
                    )
                }),
        }
    }

    /// The ids as a graph input on `device` (integer inputs are placed by the caller).
    fn input(&self, ids: &Tensor<D, Int>, device: &Device) -> DynTensor {
        DynTensor::from_int_tensor(ids.clone().to_device(device))
    }

    /// The model's outputs `[N, C]` (a replay of the captured graph).
    pub fn forward(&self, ids: &Tensor<D, Int>) -> Result<Tensor<2>> {
        validate_ids(ids)?;
        self.check_vocabulary(ids)?;
        let g = self.graph(ids)?;
        g.eval(
            &[self.input(ids, &self.device)],
            &self.device,
            self.precision,
        )?
        .remove(0)
        .into_tensor::<2>()
    }

    /// Values at `node` `[N, ...]` and the outputs, on the plain device.
    /// Ids outside the embedding's vocabulary are refused (burn would panic inside the lookup).
    /// Several integer inputs packed into one tensor (`[N, K, T]`) are checked by whoever packs
    /// them, who knows which of them are token ids.
    fn check_vocabulary(&self, ids: &Tensor<D, Int>) -> Result<()> {
        if D != 2 {
            return Ok(());
        }
        let g = self.graph(ids)?;
        let vocab = g.nodes().iter().find_map(|n| match &n.op {
            burn_ir::OperationIr::Module(burn_ir::ModuleOperationIr::Embedding(e)) => {
                e.weights.shape.first().copied()
            }
            _ => None,
        });
        let Some(vocab) = vocab else { return Ok(()) };
        let values = ids
            .to_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| XaiError::Config(format!("token ids: {e:?}")))?;
        match values.iter().find(|&&t| t < 0 || t as usize >= vocab) {
            Some(bad) => Err(XaiError::Config(format!(
                "token id {bad} is outside the vocabulary (0..{vocab})"
            ))),
            None => Ok(()),
        }
    }

    pub(crate) fn node_value(
        &self,
        ids: &Tensor<D, Int>,
        node: &str,
    ) -> Result<(Vec<f64>, Vec<usize>, Vec<f64>)> {
        let g = self.graph(ids)?;
        let t = g.eval_tapped(
            &[self.input(ids, &self.device)],
            &[node],
            &self.device,
            self.precision,
        )?;
        Ok((
            t.values[0].to_vec_f64()?,
            t.values[0].shape(),
            t.outputs[0].to_vec_f64()?,
        ))
    }

    /// Gradients of the targets at `node` for `ids` (optionally shifted by `offsets`).
    fn node_gradient(
        &self,
        ids: &Tensor<D, Int>,
        node: &str,
        layer_shape: &[usize],
        offsets: Option<Vec<f64>>,
        classes: &[usize],
    ) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let g = self.graph(ids)?;
        let pass = TappedPass {
            node,
            layer_shape,
            device: &self.device,
            precision: self.precision,
            dtype: self.precision.dtype().into(),
        };
        let ad = self.device.clone().autodiff();
        pass.run(&g, self.input(ids, &ad), offsets, classes)
    }
}

/// Token scores and the per-dimension values they sum.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenAttribution {
    /// One score per token, `[N, T]` row-major.
    pub per_token: Vec<f64>,
    /// `[N, T]`: the attributed layer's shape without its embedding dimension (the ids' shape,
    /// unless several integer inputs are packed into one id tensor).
    pub tokens_shape: Vec<usize>,
    /// Before summing over the embedding dimension, `[N, T, E]` row-major.
    pub per_dimension: Vec<f64>,
    /// The attributed layer's shape.
    pub layer_shape: Vec<usize>,
    /// The attributed node.
    pub node: String,
    /// The explained class of each input.
    pub classes: Vec<usize>,
    /// Completeness error per input (`Σ φ − (F(ids) − F(baseline))`), for IG.
    pub delta: Option<Vec<f64>>,
}

/// `ids` with every token replaced by `pad`, except the tokens listed in `keep` (e.g. `[CLS]`
/// and `[SEP]`, which Captum's tutorials keep in the reference).
pub fn padding_baseline<const D: usize>(
    ids: &Tensor<D, Int>,
    pad: i64,
    keep: &[i64],
) -> Tensor<D, Int> {
    let data = ids.to_data().convert::<i64>();
    let v: Vec<i64> = data
        .as_slice::<i64>()
        .map(|s| {
            s.iter()
                .map(|&t| if keep.contains(&t) { t } else { pad })
                .collect()
        })
        .unwrap_or_default();
    Tensor::from_data(TensorData::new(v, ids.dims()), &ids.device())
}

fn validate_ids<const D: usize>(ids: &Tensor<D, Int>) -> Result<()> {
    if ids.dims()[0] == 0 || ids.dims().contains(&0) {
        return Err(XaiError::EmptyBatch("no tokens to explain".into()));
    }
    Ok(())
}

pub(crate) fn classes_for<const D: usize>(
    ex: &TokenExplainable<D>,
    ids: &Tensor<D, Int>,
    target: &Target,
) -> Result<Vec<usize>> {
    let out = ex.forward(ids)?;
    target.classes(&out)?.ok_or_else(|| {
        XaiError::Config("token attributions need class targets, not a custom target".into())
    })
}

/// Sum `[N, T, E…]` values over everything after the ids' dimensions.
fn per_token(values: &[f64], tokens: usize) -> Vec<f64> {
    let per = values.len() / tokens.max(1);
    values.chunks(per.max(1)).map(|c| c.iter().sum()).collect()
}

pub(crate) fn check_layer(ids_shape: &[usize], layer_shape: &[usize], node: &str) -> Result<()> {
    // One vector per token: `[N, T, E]` for ids `[N, T]`, or for several integer inputs packed
    // as `[N, K, T]` (an imported model's ids and attention mask): batch and sequence agree.
    let ok = layer_shape.len() >= 3
        && layer_shape.len() <= ids_shape.len() + 1
        && layer_shape[0] == ids_shape[0]
        && layer_shape[layer_shape.len() - 2] == ids_shape[ids_shape.len() - 1];
    if !ok {
        return Err(XaiError::shape(
            format!("layer `{node}` (one vector per token)"),
            format!("{ids_shape:?} + [E]"),
            layer_shape,
        ));
    }
    Ok(())
}

/// Gradient × embedding, summed per token.
pub fn token_gradient_x_embedding<const D: usize>(
    ex: &TokenExplainable<D>,
    ids: &Tensor<D, Int>,
    target: &Target,
) -> Result<TokenAttribution> {
    let classes = classes_for(ex, ids, target)?;
    let node = ex.attribution_node(ids)?;
    let (_, layer_shape, _) = ex.node_value(ids, &node)?;
    check_layer(&ids.dims(), &layer_shape, &node)?;
    let (e, g, _) = ex.node_gradient(ids, &node, &layer_shape, None, &classes)?;
    let per_dimension: Vec<f64> = e.iter().zip(&g).map(|(a, b)| a * b).collect();
    finish(ids, per_dimension, layer_shape, node, classes, None)
}

/// Layer integrated gradients at the embedding between `baseline` ids and `ids`.
pub fn token_integrated_gradients<const D: usize>(
    ex: &TokenExplainable<D>,
    ids: &Tensor<D, Int>,
    baseline: &Tensor<D, Int>,
    target: &Target,
    config: &IgConfig,
) -> Result<TokenAttribution> {
    if ids.dims() != baseline.dims() {
        return Err(XaiError::shape(
            "baseline ids",
            format!("{:?}", ids.dims()),
            &baseline.dims(),
        ));
    }
    ex.check_vocabulary(baseline)?;
    let classes = classes_for(ex, ids, target)?;
    let node = ex.attribution_node(ids)?;
    let (e, layer_shape, out_x) = ex.node_value(ids, &node)?;
    check_layer(&ids.dims(), &layer_shape, &node)?;
    let (e0, _, out_0) = ex.node_value(baseline, &node)?;
    let n = ids.dims()[0];
    let row_bytes = ex.graph(ids)?.bytes_per_sample();
    let chunk = config
        .budget
        .rows(row_bytes * n)
        .clamp(1, config.n_steps.max(1));
    let values = layer_ig_sum(&e, &e0, &classes, config, chunk, |s, offsets, cls| {
        let rows = ids.clone().repeat_dim(0, s);
        Ok(ex
            .node_gradient(&rows, &node, &layer_shape, Some(offsets), cls)?
            .1)
    })?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("token integrated gradients".into()));
    }
    let delta = completeness_delta(&values, values.len() / n, &out_x, &out_0, &classes);
    finish(ids, values, layer_shape, node, classes, Some(delta))
}

pub(crate) fn finish<const D: usize>(
    _ids: &Tensor<D, Int>,
    per_dimension: Vec<f64>,
    layer_shape: Vec<usize>,
    node: String,
    classes: Vec<usize>,
    delta: Option<Vec<f64>>,
) -> Result<TokenAttribution> {
    let tokens_shape = layer_shape[..layer_shape.len() - 1].to_vec();
    let tokens: usize = tokens_shape.iter().product();
    Ok(TokenAttribution {
        per_token: per_token(&per_dimension, tokens),
        tokens_shape,
        per_dimension,
        layer_shape,
        node,
        classes,
        delta,
    })
}
