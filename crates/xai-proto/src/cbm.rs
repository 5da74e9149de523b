//! Concept bottleneck models (Koh et al., ICML 2020) and concept embedding models (Espinosa
//! Zarlenga et al., NeurIPS 2022).
//!
//! - **CBM**: `x → ĉ = σ(g(x)) ∈ [0, 1]^k → ŷ = f(ĉ)`; `g` is a small CNN (conv 3→16, pool,
//!   conv 16→32, pool, fc → 64, fc → k concept logits), `f` an MLP (k → 32 → classes).
//!   Training ([`CbmTraining`]):
//!   - *independent*: `g` by binary cross-entropy on the concepts; `f` on the **true** concepts;
//!   - *sequential*: `g` as above, then `f` on `σ(g(x))` with `g` frozen;
//!   - *joint*: `CE(f(σ(g(x))), y) + λ·BCE(g(x), c)` end to end.
//! - **Test-time intervention** ([`intervention_curve`]): replace the predicted probabilities of
//!   whole concept groups by their true values, groups in random order, and record the task
//!   accuracy after 0, 1, …, G groups (averaged over orders).
//! - **CEM**: per concept two embeddings `c⁺ᵢ, c⁻ᵢ ∈ ℝ^m` (LeakyReLU of linear maps of the
//!   64-d features), a shared scorer `p̂ᵢ = σ(s([c⁺ᵢ, c⁻ᵢ]))`, the mixed embedding
//!   `ĉᵢ = p̂ᵢ c⁺ᵢ + (1 − p̂ᵢ) c⁻ᵢ`, and `f` on the concatenation (k·m → 32 → classes). RandInt:
//!   during training each `p̂ᵢ` is replaced by the true concept with probability 0.25. Loss
//!   `CE + λ·BCE`. Interventions set `p̂ᵢ` to the true value. The embeddings can carry
//!   information that the concept set misses, which is why CEM beats a CBM on an incomplete set.
//!
//! Shapes: images `[N, c, H, W]`, concepts `[N, k]` in {0, 1}, logits `[N, classes]`.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use xai_proto::cbm::{Cbm, Cem};
//! let d = Device::flex();
//! let cbm = xai_core::init::seeded(Cbm::new(3, 24, 14, 6, &d), 0).unwrap();
//! assert_eq!(cbm.concept_logits(Tensor::<4>::zeros([2, 3, 24, 24], &d)).dims(), [2, 14]);
//! let cem = xai_core::init::seeded(Cem::new(3, 24, 12, 6, 8, &d), 0).unwrap();
//! assert_eq!(cem.forward(Tensor::<4>::zeros([2, 3, 24, 24], &d), None).logits.dims(), [2, 6]);
//! ```

use burn::module::Module;
use burn::nn::{LeakyRelu, LeakyReluConfig, Linear, LinearConfig, Relu};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::backbone::{CHANNELS, ConvBackbone};
use crate::data::ImageSet;
use crate::train::{FitConfig, bce_with_logits, cross_entropy, fit, predictions};
use xai_core::{Result, XaiError, init, tensor_to_vec_f64};

/// Image → 64 features: the shared [`ConvBackbone`] (conv 16, conv 32, two max-pools) → fc →
/// ReLU.
#[derive(Module, Debug)]
pub struct Encoder {
    backbone: ConvBackbone,
    fc: Linear,
    act: Relu,
}

/// Width of the encoder's output.
pub const FEATURES: usize = 64;

impl Encoder {
    /// A fresh encoder for `channels`×`side`×`side` images.
    pub fn new(channels: usize, side: usize, device: &Device) -> Encoder {
        Encoder {
            backbone: ConvBackbone::new(channels, device),
            fc: LinearConfig::new(CHANNELS * (side / 4) * (side / 4), FEATURES).init(device),
            act: Relu::new(),
        }
    }

    /// The layers in the fixture format (`xai_core::fixture`), to run the same network in
    /// PyTorch side by side.
    pub fn layer_specs(&self) -> Result<Vec<xai_core::fixture::LayerSpec>> {
        use xai_core::fixture::LayerSpec;
        let mut layers = self.backbone.layer_specs()?;
        layers.extend([
            LayerSpec::Flatten,
            LayerSpec::from_linear(&self.fc)?,
            LayerSpec::Relu,
        ]);
        Ok(layers)
    }

    /// Features `[N, 64]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.backbone.forward(x);
        let n = h.dims()[0];
        self.act.forward(self.fc.forward(h.reshape([n as i32, -1])))
    }
}

/// Two-layer MLP `inputs → 32 → outputs`.
#[derive(Module, Debug)]
pub struct Mlp {
    a: Linear,
    b: Linear,
    act: Relu,
}

impl Mlp {
    /// A fresh MLP.
    pub fn new(inputs: usize, outputs: usize, device: &Device) -> Mlp {
        Mlp {
            a: LinearConfig::new(inputs, 32).init(device),
            b: LinearConfig::new(32, outputs).init(device),
            act: Relu::new(),
        }
    }

    /// Forward.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.b.forward(self.act.forward(self.a.forward(x)))
    }
}

/// A concept bottleneck model.
#[derive(Module, Debug)]
pub struct Cbm {
    encoder: Encoder,
    concepts: Linear,
    task: Mlp,
}

impl Cbm {
    /// A fresh CBM with `k` concepts and `classes` outputs. Its parameters stay lazy until
    /// [`xai_core::init::seeded`] (or [`fit`]) draws them from a seed.
    pub fn new(channels: usize, side: usize, k: usize, classes: usize, device: &Device) -> Cbm {
        Cbm {
            encoder: Encoder::new(channels, side, device),
            concepts: LinearConfig::new(FEATURES, k).init(device),
            task: Mlp::new(k, classes, device),
        }
    }

    /// Concept logits `g(x)` `[N, k]`.
    pub fn concept_logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.concepts.forward(self.encoder.forward(x))
    }

    /// Task logits from concept probabilities `[N, k]`.
    pub fn task_logits(&self, probs: Tensor<2>) -> Tensor<2> {
        self.task.forward(probs)
    }

    /// Task logits `f(σ(g(x)))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.task_logits(sigmoid(self.concept_logits(x)))
    }
}

/// CEM forward pass.
#[derive(Debug)]
pub struct CemOutput {
    /// Task logits `[N, classes]`.
    pub logits: Tensor<2>,
    /// Concept logits `[N, k]` (of the scorer, before any intervention).
    pub concept_logits: Tensor<2>,
}

/// A concept embedding model.
#[derive(Module, Debug)]
pub struct Cem {
    encoder: Encoder,
    positive: Linear,
    negative: Linear,
    scorer: Linear,
    task: Mlp,
    leaky: LeakyRelu,
    k: usize,
    m: usize,
}

impl Cem {
    /// A fresh CEM with `k` concepts of embedding width `m`. Its parameters stay lazy until
    /// [`xai_core::init::seeded`] (or [`fit`]) draws them from a seed.
    pub fn new(
        channels: usize,
        side: usize,
        k: usize,
        classes: usize,
        m: usize,
        device: &Device,
    ) -> Cem {
        Cem {
            encoder: Encoder::new(channels, side, device),
            positive: LinearConfig::new(FEATURES, k * m).init(device),
            negative: LinearConfig::new(FEATURES, k * m).init(device),
            scorer: LinearConfig::new(2 * m, 1).init(device),
            task: Mlp::new(k * m, classes, device),
            leaky: LeakyReluConfig::new().init(),
            k,
            m,
        }
    }

    /// Forward; `replace = Some((mask, values))` sets the probabilities where `mask` is true to
    /// `values` (RandInt during training, interventions at test time).
    pub fn forward(
        &self,
        x: Tensor<4>,
        replace: Option<(Tensor<2, Bool>, Tensor<2>)>,
    ) -> CemOutput {
        let h = self.encoder.forward(x);
        let n = h.dims()[0];
        let (k, m) = (self.k, self.m);
        let pos = self
            .leaky
            .forward(self.positive.forward(h.clone()))
            .reshape([n, k, m]);
        let neg = self
            .leaky
            .forward(self.negative.forward(h))
            .reshape([n, k, m]);
        let both = Tensor::cat(vec![pos.clone(), neg.clone()], 2).reshape([n * k, 2 * m]);
        let concept_logits = self.scorer.forward(both).reshape([n, k]);
        let mut p = sigmoid(concept_logits.clone());
        if let Some((mask, values)) = replace {
            p = p.mask_where(mask, values);
        }
        let p3 = p.unsqueeze_dim::<3>(2);
        let mixed = pos * p3.clone() + neg * p3.neg().add_scalar(1.0);
        CemOutput {
            logits: self.task.forward(mixed.reshape([n, k * m])),
            concept_logits,
        }
    }
}

/// How a CBM is trained.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum CbmTraining {
    /// Concepts, then the task model on true concepts.
    Independent,
    /// Concepts, then the task model on predicted concepts.
    Sequential,
    /// End to end with concept loss weight λ.
    Joint {
        /// Weight of the concept loss.
        lambda: f64,
    },
}

/// Concepts `[n, k]` of rows `idx` from a row-major table with `stride` columns.
fn concept_rows(
    concepts: &[f32],
    stride: usize,
    k: usize,
    idx: &[usize],
    device: &Device,
) -> Tensor<2> {
    let v: Vec<f32> = idx
        .iter()
        .flat_map(|&i| concepts[i * stride..i * stride + k].iter().copied())
        .collect();
    Tensor::from_data(TensorData::new(v, [idx.len(), k]), device)
}

/// Training data for concept models: images, concepts `[n, stride]` of which the first `k` are
/// used.
#[derive(Clone, Copy, Debug)]
pub struct ConceptData<'a> {
    /// Images and task labels.
    pub images: &'a ImageSet,
    /// Row-major concept table.
    pub concepts: &'a [f32],
    /// Columns of the table.
    pub stride: usize,
    /// Concepts used (the first `k` columns).
    pub k: usize,
}

impl ConceptData<'_> {
    fn check(&self) -> Result<()> {
        if self.k == 0
            || self.k > self.stride
            || self.concepts.len() != self.images.len() * self.stride
        {
            return Err(XaiError::shape(
                "concepts",
                format!(
                    "[{}, {}] with 1 ≤ k ≤ {}",
                    self.images.len(),
                    self.stride,
                    self.stride
                ),
                &[self.concepts.len(), self.k],
            ));
        }
        Ok(())
    }
}

/// Train a CBM. `device` is the plain device; the returned model lives there.
pub fn train_cbm(
    data: ConceptData,
    mode: CbmTraining,
    config: &FitConfig,
    device: &Device,
) -> Result<Cbm> {
    data.check()?;
    let ad = device.clone().autodiff();
    let set = data.images;
    let model = Cbm::new(set.channels, set.side, data.k, set.classes, &ad);
    let concept_loss = |m: &Cbm, idx: &[usize]| -> Result<Tensor<1>> {
        let logits = m.concept_logits(set.batch(idx, &ad)?);
        Ok(bce_with_logits(
            logits,
            concept_rows(data.concepts, data.stride, data.k, idx, &ad),
        ))
    };
    let model = match mode {
        CbmTraining::Joint { lambda } => {
            fit(model, set.len(), config, "CBM joint", |m, idx| {
                let logits = m.concept_logits(set.batch(idx, &ad)?);
                let c = concept_rows(data.concepts, data.stride, data.k, idx, &ad);
                let task = m.task_logits(sigmoid(logits.clone()));
                Ok(cross_entropy(task, set.label_tensor(idx, &ad))
                    + bce_with_logits(logits, c).mul_scalar(lambda))
            })?
            .0
        }
        CbmTraining::Independent | CbmTraining::Sequential => {
            // g: only the concept loss reaches the encoder and concept layer
            let (m, _) = fit(model, set.len(), config, "CBM concepts", concept_loss)?;
            let frozen = m.valid().to_device(device);
            let inputs: Vec<f32> = if mode == CbmTraining::Independent {
                data.concepts
                    .chunks(data.stride)
                    .flat_map(|r| r[..data.k].iter().copied())
                    .collect()
            } else {
                let idx: Vec<usize> = (0..set.len()).collect();
                let mut v = Vec::with_capacity(set.len() * data.k);
                for chunk in idx.chunks(256) {
                    let p = sigmoid(frozen.concept_logits(set.batch(chunk, device)?));
                    v.extend(tensor_to_vec_f64(p)?.into_iter().map(|x| x as f32));
                }
                v
            };
            let task = Mlp::new(data.k, set.classes, &ad);
            let task_config = FitConfig {
                epochs: config.epochs * 3,
                ..config.clone()
            };
            let (task, _) = fit(task, set.len(), &task_config, "CBM task", |t, idx| {
                let x = concept_rows(&inputs, data.k, data.k, idx, &ad);
                Ok(cross_entropy(t.forward(x), set.label_tensor(idx, &ad)))
            })?;
            return Ok(Cbm {
                task: task.valid().to_device(device),
                ..frozen
            });
        }
    };
    Ok(model.valid().to_device(device))
}

/// Train a CEM with concept loss weight `lambda` and RandInt probability `p_int`.
pub fn train_cem(
    data: ConceptData,
    m: usize,
    lambda: f64,
    p_int: f64,
    config: &FitConfig,
    device: &Device,
) -> Result<Cem> {
    data.check()?;
    let ad = device.clone().autodiff();
    let set = data.images;
    let model = Cem::new(set.channels, set.side, data.k, set.classes, m, &ad);
    let mut randint = StdRng::seed_from_u64(init::path_seed(config.seed, "RandInt"));
    let (model, _) = fit(model, set.len(), config, "CEM", |cem, idx| {
        let c = concept_rows(data.concepts, data.stride, data.k, idx, &ad);
        let mask = init::uniform_tensor(&mut randint, [idx.len(), data.k], 0.0, 1.0, &ad)?
            .lower_elem(p_int);
        let out = cem.forward(set.batch(idx, &ad)?, Some((mask, c.clone())));
        Ok(cross_entropy(out.logits, set.label_tensor(idx, &ad))
            + bce_with_logits(out.concept_logits, c).mul_scalar(lambda))
    })?;
    Ok(model.valid().to_device(device))
}

/// Concept accuracy (threshold ½) per concept, and task accuracy, of predicted probabilities.
#[derive(Clone, Debug, Serialize)]
pub struct ConceptReport {
    /// Accuracy of each concept.
    pub per_concept: Vec<f64>,
    /// Mean over concepts.
    pub concept_accuracy: f64,
    /// Task accuracy without intervention.
    pub task_accuracy: f64,
}

fn summarise(
    probs: &[f64],
    concepts: &[f32],
    stride: usize,
    k: usize,
    pred: &[usize],
    labels: &[usize],
) -> ConceptReport {
    let n = labels.len();
    let per_concept: Vec<f64> = (0..k)
        .map(|j| {
            (0..n)
                .filter(|&i| (probs[i * k + j] > 0.5) == (concepts[i * stride + j] > 0.5))
                .count() as f64
                / n.max(1) as f64
        })
        .collect();
    ConceptReport {
        concept_accuracy: per_concept.iter().sum::<f64>() / k.max(1) as f64,
        per_concept,
        task_accuracy: crate::train::accuracy(pred, labels),
    }
}

/// Concept and task accuracy of a CBM on `data`.
pub fn evaluate_cbm(model: &Cbm, data: ConceptData, device: &Device) -> Result<ConceptReport> {
    data.check()?;
    let idx: Vec<usize> = (0..data.images.len()).collect();
    let (mut probs, mut pred) = (Vec::new(), Vec::new());
    for chunk in idx.chunks(256) {
        let logits = model.concept_logits(data.images.batch(chunk, device)?);
        let p = sigmoid(logits);
        pred.extend(predictions(model.task_logits(p.clone()))?);
        probs.extend(tensor_to_vec_f64(p)?);
    }
    Ok(summarise(
        &probs,
        data.concepts,
        data.stride,
        data.k,
        &pred,
        &data.images.labels,
    ))
}

/// Concept and task accuracy of a CEM on `data`.
pub fn evaluate_cem(model: &Cem, data: ConceptData, device: &Device) -> Result<ConceptReport> {
    data.check()?;
    let idx: Vec<usize> = (0..data.images.len()).collect();
    let (mut probs, mut pred) = (Vec::new(), Vec::new());
    for chunk in idx.chunks(256) {
        let out = model.forward(data.images.batch(chunk, device)?, None);
        pred.extend(predictions(out.logits)?);
        probs.extend(tensor_to_vec_f64(sigmoid(out.concept_logits))?);
    }
    Ok(summarise(
        &probs,
        data.concepts,
        data.stride,
        data.k,
        &pred,
        &data.images.labels,
    ))
}

/// A model whose concepts can be intervened on.
pub trait Intervenable {
    /// Task logits of images `x` with the concepts where `mask` is true set to `truth`.
    fn intervened_logits(&self, x: Tensor<4>, mask: Tensor<2, Bool>, truth: Tensor<2>)
    -> Tensor<2>;
}

impl Intervenable for Cbm {
    fn intervened_logits(
        &self,
        x: Tensor<4>,
        mask: Tensor<2, Bool>,
        truth: Tensor<2>,
    ) -> Tensor<2> {
        let p = sigmoid(self.concept_logits(x)).mask_where(mask, truth);
        self.task_logits(p)
    }
}

impl Intervenable for Cem {
    fn intervened_logits(
        &self,
        x: Tensor<4>,
        mask: Tensor<2, Bool>,
        truth: Tensor<2>,
    ) -> Tensor<2> {
        self.forward(x, Some((mask, truth))).logits
    }
}

/// Task accuracy after intervening on 0, 1, …, G concept groups (`groups` as column ranges
/// within the first `k` concepts), groups taken in `orders` random orders (seeded) and averaged.
pub fn intervention_curve<M: Intervenable>(
    model: &M,
    data: ConceptData,
    groups: &[(usize, usize)],
    orders: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<f64>> {
    data.check()?;
    if groups.iter().any(|&(a, b)| a >= b || b > data.k) {
        return Err(XaiError::Config(format!(
            "concept groups {groups:?} outside 0..{}",
            data.k
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let g = groups.len();
    let mut curve = vec![0.0; g + 1];
    let idx: Vec<usize> = (0..data.images.len()).collect();
    for _ in 0..orders.max(1) {
        let mut order: Vec<usize> = (0..g).collect();
        order.shuffle(&mut rng);
        for (step, value) in curve.iter_mut().enumerate() {
            let mut on = vec![false; data.k];
            for &gi in &order[..step] {
                for flag in &mut on[groups[gi].0..groups[gi].1] {
                    *flag = true;
                }
            }
            let mut correct = 0usize;
            for chunk in idx.chunks(256) {
                let mask_v: Vec<bool> = chunk.iter().flat_map(|_| on.iter().copied()).collect();
                let mask = Tensor::<2, Bool>::from_data(
                    TensorData::new(mask_v, [chunk.len(), data.k]),
                    device,
                );
                let truth = concept_rows(data.concepts, data.stride, data.k, chunk, device);
                let pred = predictions(model.intervened_logits(
                    data.images.batch(chunk, device)?,
                    mask,
                    truth,
                ))?;
                correct += chunk
                    .iter()
                    .zip(&pred)
                    .filter(|(i, p)| data.images.labels[**i] == **p)
                    .count();
            }
            *value += correct as f64 / idx.len().max(1) as f64;
        }
    }
    Ok(curve
        .into_iter()
        .map(|v| v / orders.max(1) as f64)
        .collect())
}
