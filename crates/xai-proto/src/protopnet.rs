//! ProtoPNet, "This looks like that" (Chen et al., NeurIPS 2019), trained from scratch in burn.
//!
//! - Backbone ([`ConvBackbone`](crate::backbone::ConvBackbone)): conv 3×3 (c→16) → ReLU → max-pool 2 → conv 3×3 (16→32) → ReLU → max-pool 2, so a
//!   24×24 image gives a 6×6 latent grid; each cell's receptive field is 10×10 pixels centred at
//!   `(4r + 1.5, 4c + 1.5)`.
//! - Add-on layers: conv 1×1 (32→D) → ReLU → conv 1×1 (D→D) → sigmoid (latents in `[0, 1]`).
//! - Prototype layer: `P = classes · per_class` prototypes of shape `1×1×D`, each with a fixed
//!   class. Squared-L2 patch distances `d = ‖z‖² − 2 z·p + ‖p‖²` (clamped at 0), min-pooled over
//!   the grid; similarity `log((d + 1)/(d + ε))`, ε = 1e-4 ([`Similarity::Log`]), or the cosine
//!   between patch and prototype ([`Similarity::Cosine`], ProtoPNeXt).
//! - Last layer: `Linear(P → C)` without bias, initialised to +1 for the prototype's class and
//!   −0.5 elsewhere. Logit `c` is therefore exactly `Σⱼ simⱼ · w_{j,c}`: the **points
//!   contributed** ([`ProtoPNet::explain`]) sum to the logit.
//! - Loss: `CE + 0.8·Clst − 0.08·Sep + 1e-4·L1`, with `Clst` the mean distance to the nearest
//!   own-class prototype, `Sep` to the nearest other-class prototype, and L1 on the wrong-class
//!   connections of the last layer.
//! - Schedule ([`train`]): warm-up (add-on layers and prototypes only), joint training (all but
//!   the last layer), **push** ([`ProtoPNet::push`]: every prototype is replaced, bit for bit, by
//!   its nearest latent patch from a training image of its class, recording the image and box),
//!   then last-layer fitting (CE + L1 on the last layer alone, on the frozen similarities).
//! - Pruning ([`ProtoPNet::prune_candidates`]): a prototype whose `k = 6` nearest training patches
//!   hold fewer than 3 of its class is flagged; [`ProtoPNet::prune`] removes any set of
//!   prototypes (their similarities are masked), after which the last layer is refitted.
//!
//! Shapes: images `[N, c, 24, 24]`; logits `[N, C]`; similarities and min distances `[N, P]`;
//! distance maps `[N, 36, P]`.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use xai_proto::protopnet::{ProtoPNet, ProtoPNetConfig};
//! let device = Device::flex();
//! let m = ProtoPNet::new(&ProtoPNetConfig { classes: 3, per_class: 2, ..Default::default() }, 0, &device).unwrap();
//! let out = m.forward(Tensor::<4>::zeros([2, 1, 24, 24], &device));
//! assert_eq!(out.logits.dims(), [2, 3]);
//! assert_eq!(out.similarities.dims(), [2, 6]);
//! ```

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::backbone::{CHANNELS, ConvBackbone};
use crate::data::ImageSet;
use crate::train::{Batches, cross_entropy, finite_loss, progress, set_accuracy, trainable};
use xai_core::{Result, XaiError, init, tensor_to_vec_f64};

/// ε of the log similarity.
pub const LOG_EPS: f64 = 1e-4;
/// Pixels per latent cell (two max-pools of 2).
pub const CELL: usize = 4;

/// How a patch–prototype distance becomes a similarity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Similarity {
    /// `log((d + 1)/(d + ε))` of the squared L2 distance (the original).
    Log,
    /// Cosine of patch and prototype; distance `1 − cos`.
    Cosine,
}

/// Architecture settings.
#[derive(Clone, Debug)]
pub struct ProtoPNetConfig {
    /// Image channels.
    pub channels: usize,
    /// Number of classes.
    pub classes: usize,
    /// Prototypes per class.
    pub per_class: usize,
    /// Latent depth `D`.
    pub latent: usize,
    /// Similarity function.
    pub similarity: Similarity,
}

impl Default for ProtoPNetConfig {
    fn default() -> Self {
        ProtoPNetConfig {
            channels: 1,
            classes: 8,
            per_class: 3,
            latent: 32,
            similarity: Similarity::Log,
        }
    }
}

/// A prototypical part network.
#[derive(Module, Debug)]
pub struct ProtoPNet {
    backbone: ConvBackbone,
    act: Relu,
    add1: Conv2d,
    add2: Conv2d,
    prototypes: Param<Tensor<2>>,
    last: Linear,
    classes: usize,
    per_class: usize,
    cosine: bool,
    #[module(skip)]
    active: Vec<bool>,
}

/// One forward pass.
#[derive(Debug)]
pub struct ProtoOutput {
    /// Class logits `[N, C]`.
    pub logits: Tensor<2>,
    /// Prototype similarities `[N, P]` (zero for pruned prototypes).
    pub similarities: Tensor<2>,
    /// Min-pooled distances `[N, P]`.
    pub min_distances: Tensor<2>,
    /// Distance of every latent patch to every prototype `[N, H·W, P]`.
    pub distance_maps: Tensor<3>,
    /// Latent grid `(H, W)`.
    pub grid: (usize, usize),
}

struct IdCollector(Vec<ParamId>);

impl ModuleVisitor for IdCollector {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id);
    }
}

fn ids<M: Module>(m: &M) -> Vec<ParamId> {
    let mut c = IdCollector(Vec::new());
    m.visit(&mut c);
    c.0
}

impl ProtoPNet {
    /// A fresh network on `device`, every value drawn from `seed` ([`xai_core::init`]):
    /// burn's default layer initialisers, prototypes uniform in `[0, 1]`, last layer at the
    /// class-identity pattern.
    pub fn new(config: &ProtoPNetConfig, seed: u64, device: &Device) -> Result<ProtoPNet> {
        if config.classes < 2 || config.per_class == 0 || config.latent == 0 || config.channels == 0
        {
            return Err(XaiError::Config(
                "ProtoPNet needs ≥ 2 classes, ≥ 1 prototype per class, latent ≥ 1, channels ≥ 1"
                    .into(),
            ));
        }
        let p = config.classes * config.per_class;
        let mut model = ProtoPNet {
            backbone: ConvBackbone::new(config.channels, device),
            act: Relu::new(),
            add1: Conv2dConfig::new([CHANNELS, config.latent], [1, 1]).init(device),
            add2: Conv2dConfig::new([config.latent, config.latent], [1, 1]).init(device),
            prototypes: Param::from_tensor(init::uniform_tensor(
                &mut StdRng::seed_from_u64(init::path_seed(seed, "prototypes")),
                [p, config.latent],
                0.0,
                1.0,
                device,
            )?),
            last: LinearConfig::new(p, config.classes)
                .with_bias(false)
                .init(device),
            classes: config.classes,
            per_class: config.per_class,
            cosine: config.similarity == Similarity::Cosine,
            active: vec![true; p],
        };
        model.last.weight = Param::from_tensor(model.identity_weights(-0.5, device));
        init::seeded(model, seed)
    }

    /// Number of prototypes.
    pub fn prototypes(&self) -> usize {
        self.classes * self.per_class
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The class of prototype `j`.
    pub fn prototype_class(&self, j: usize) -> usize {
        j / self.per_class
    }

    /// Whether prototype `j` is still active (not pruned).
    pub fn is_active(&self, j: usize) -> bool {
        self.active.get(j).copied().unwrap_or(false)
    }

    /// `[P, C]` with 1 for the prototype's class and `other` elsewhere.
    fn identity_weights(&self, other: f32, device: &Device) -> Tensor<2> {
        let (p, c) = (self.prototypes(), self.classes);
        let v: Vec<f32> = (0..p * c)
            .map(|i| {
                if i % c == i / c / self.per_class {
                    1.0
                } else {
                    other
                }
            })
            .collect();
        Tensor::from_data(TensorData::new(v, [p, c]), device)
    }

    /// Latent patches `[N, D, H, W]` (after the add-on layers' sigmoid).
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.backbone.forward(x);
        sigmoid(self.add2.forward(self.act.forward(self.add1.forward(h))))
    }

    fn mask(&self, device: &Device) -> Tensor<2> {
        let v: Vec<f32> = self
            .active
            .iter()
            .map(|&a| if a { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(v, [1, self.prototypes()]), device)
    }

    /// Forward pass.
    pub fn forward(&self, x: Tensor<4>) -> ProtoOutput {
        let device = x.device();
        let z = self.features(x);
        let [n, d, hh, ww] = z.dims();
        let hw = hh * ww;
        let p = self.prototypes();
        let patches = z.reshape([n, d, hw]).swap_dims(1, 2).reshape([n * hw, d]);
        let protos = self.prototypes.val();
        let (distance_maps, similarity_of) = if self.cosine {
            let pn = protos.clone() / protos.powi_scalar(2).sum_dim(1).sqrt().add_scalar(1e-6);
            let zn = patches.clone() / patches.powi_scalar(2).sum_dim(1).sqrt().add_scalar(1e-6);
            let cos = zn.matmul(pn.transpose());
            (cos.neg().add_scalar(1.0).reshape([n, hw, p]), false)
        } else {
            let z2 = patches.clone().powi_scalar(2).sum_dim(1);
            let p2 = protos.clone().powi_scalar(2).sum_dim(1).reshape([1, p]);
            let zp = patches.matmul(protos.transpose());
            let dist = (z2 - zp.mul_scalar(2.0) + p2).clamp_min(0.0);
            (dist.reshape([n, hw, p]), true)
        };
        let min_distances = distance_maps.clone().min_dim(1).reshape([n, p]);
        let raw = if similarity_of {
            ((min_distances.clone().add_scalar(1.0)) / (min_distances.clone().add_scalar(LOG_EPS)))
                .log()
        } else {
            min_distances.clone().neg().add_scalar(1.0)
        };
        let similarities = raw * self.mask(&device);
        let logits = self.last.forward(similarities.clone());
        ProtoOutput {
            logits,
            similarities,
            min_distances,
            distance_maps,
            grid: (hh, ww),
        }
    }

    /// Largest possible distance (for the cluster and separation terms).
    fn max_distance(&self) -> f64 {
        if self.cosine {
            2.0
        } else {
            self.prototypes.val().dims()[1] as f64
        }
    }

    /// `CE + 0.8·Clst − 0.08·Sep + 1e-4·L1` of a forward pass against `labels`.
    pub fn loss(&self, out: &ProtoOutput, labels: &[usize], device: &Device) -> Result<Tensor<1>> {
        let n = labels.len();
        let (p, c) = (self.prototypes(), self.classes);
        if out.logits.dims() != [n, c] {
            return Err(XaiError::shape(
                "labels",
                format!("{}", out.logits.dims()[0]),
                &[n],
            ));
        }
        // Pruned prototypes take no part in the cluster and separation terms.
        let mask = |own: bool| -> Tensor<2> {
            let v: Vec<f32> = labels
                .iter()
                .flat_map(|&y| {
                    (0..p).map(move |j| {
                        f32::from(u8::from(
                            self.is_active(j) && (j / self.per_class == y) == own,
                        ))
                    })
                })
                .collect();
            Tensor::from_data(TensorData::new(v, [n, p]), device)
        };
        let max_d = self.max_distance();
        let inv = out.min_distances.clone().neg().add_scalar(max_d);
        let cluster = (inv.clone() * mask(true))
            .max_dim(1)
            .neg()
            .add_scalar(max_d)
            .mean();
        let separation = (inv * mask(false))
            .max_dim(1)
            .neg()
            .add_scalar(max_d)
            .mean();
        let l1 = (self.last.weight.val()
            * self.identity_weights(0.0, device).neg().add_scalar(1.0))
        .abs()
        .sum();
        let y = Tensor::from_data(
            TensorData::new(labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), [n]),
            device,
        );
        Ok(
            cross_entropy(out.logits.clone(), y) + cluster.mul_scalar(0.8)
                - separation.mul_scalar(0.08)
                + l1.mul_scalar(1e-4),
        )
    }

    /// Latent patches of images `idx` as `[k][H·W][D]` `f32` values.
    fn latent_patches(
        &self,
        set: &ImageSet,
        idx: &[usize],
        device: &Device,
    ) -> Result<Vec<Vec<Vec<f32>>>> {
        self.latent_patches_from(self.features(set.batch(idx, device)?))
    }

    /// Push: replace each prototype by the nearest latent patch of a training image of its class
    /// (the patch's values, bit for bit). Returns where each prototype came from.
    pub fn push(&mut self, set: &ImageSet, device: &Device) -> Result<Vec<PushRecord>> {
        let p = self.prototypes();
        let protos = tensor_to_vec_f64(self.prototypes.val())?;
        let d = protos.len() / p;
        let mut best: Vec<(f64, usize, usize, Vec<f32>)> =
            vec![(f64::INFINITY, 0, 0, Vec::new()); p];
        let idx: Vec<usize> = (0..set.len()).collect();
        let mut grid = (0, 0);
        for chunk in idx.chunks(128) {
            let z = self.features(set.batch(chunk, device)?);
            let dims = z.dims();
            grid = (dims[2], dims[3]);
            let patches = self.latent_patches_from(z)?;
            for (bi, &i) in chunk.iter().enumerate() {
                for (j, b) in best.iter_mut().enumerate() {
                    if set.labels[i] != self.prototype_class(j) {
                        continue;
                    }
                    let pj = &protos[j * d..(j + 1) * d];
                    for (l, patch) in patches[bi].iter().enumerate() {
                        let dist: f64 = patch
                            .iter()
                            .zip(pj)
                            .map(|(&a, &b)| (a as f64 - b).powi(2))
                            .sum();
                        if dist < b.0 {
                            *b = (dist, i, l, patch.clone());
                        }
                    }
                }
            }
        }
        let mut records = Vec::with_capacity(p);
        let mut values = Vec::with_capacity(p * d);
        for (j, (dist, image, l, patch)) in best.into_iter().enumerate() {
            if patch.is_empty() {
                return Err(XaiError::EmptyBatch(format!(
                    "no training image of class {} to push prototype {j} onto",
                    self.prototype_class(j)
                )));
            }
            let (row, col) = (l / grid.1, l % grid.1);
            values.extend_from_slice(&patch);
            records.push(PushRecord {
                prototype: j,
                class: self.prototype_class(j),
                image,
                row,
                col,
                receptive_field: receptive_field(row, col, set.side),
                distance_before: dist,
                values: patch,
            });
        }
        let pd = self.prototypes.val().device();
        self.prototypes =
            Param::from_tensor(Tensor::from_data(TensorData::new(values, [p, d]), &pd));
        Ok(records)
    }

    fn latent_patches_from(&self, z: Tensor<4>) -> Result<Vec<Vec<Vec<f32>>>> {
        let [n, d, hh, ww] = z.dims();
        let v = tensor_to_vec_f64(z)?;
        let hw = hh * ww;
        Ok((0..n)
            .map(|i| {
                (0..hw)
                    .map(|l| (0..d).map(|k| v[(i * d + k) * hw + l] as f32).collect())
                    .collect()
            })
            .collect())
    }

    /// Whether every prototype equals, bit for bit, the latent patch recorded by [`Self::push`]
    /// when its source image is passed through the network alone.
    pub fn push_is_exact(
        &self,
        set: &ImageSet,
        records: &[PushRecord],
        device: &Device,
    ) -> Result<bool> {
        let protos = tensor_to_vec_f64(self.prototypes.val())?;
        let d = protos.len() / self.prototypes().max(1);
        for r in records {
            let patches = self.latent_patches(set, &[r.image], device)?;
            let (_, w) = self.grid(set.side);
            let patch = &patches[0][r.row * w + r.col];
            let proto = &protos[r.prototype * d..(r.prototype + 1) * d];
            if patch
                .iter()
                .zip(proto)
                .any(|(&a, &b)| a.to_bits() != (b as f32).to_bits())
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Continue training this network on `set` with `schedule` (usually joint epochs only), then
    /// push and refit the last layer: the repair step of explanatory interactive learning,
    /// where `set` holds the user's counterexamples. Pruned prototypes stay pruned.
    pub fn fine_tune(
        &self,
        set: &ImageSet,
        schedule: &ProtoTrainConfig,
        device: &Device,
    ) -> Result<(ProtoPNet, ProtoTrainLog)> {
        let ad = device.clone().autodiff();
        run_schedule(trainable(self.clone(), &ad), schedule, set, device)
    }

    /// Latent grid of a `side`×`side` image.
    pub fn grid(&self, side: usize) -> (usize, usize) {
        (side / CELL, side / CELL)
    }

    /// Prototypes whose `k` nearest training patches (over all training images and positions)
    /// hold fewer than `min_own` patches from images of the prototype's class (ProtoPNet's
    /// pruning rule, `k = 6`, `min_own = 3`).
    pub fn prune_candidates(
        &self,
        set: &ImageSet,
        k: usize,
        min_own: usize,
        device: &Device,
    ) -> Result<Vec<usize>> {
        let p = self.prototypes();
        let mut nearest: Vec<Vec<(f64, usize)>> = vec![Vec::new(); p];
        let idx: Vec<usize> = (0..set.len()).collect();
        for chunk in idx.chunks(128) {
            let out = self.forward(set.batch(chunk, device)?);
            let [n, hw, _] = out.distance_maps.dims();
            let dm = tensor_to_vec_f64(out.distance_maps)?;
            for (bi, &i) in chunk.iter().enumerate().take(n) {
                for (j, near) in nearest.iter_mut().enumerate() {
                    for l in 0..hw {
                        near.push((dm[(bi * hw + l) * p + j], set.labels[i]));
                    }
                    near.sort_by(|a, b| a.0.total_cmp(&b.0));
                    near.truncate(k);
                }
            }
        }
        Ok((0..p)
            .filter(|&j| {
                self.is_active(j)
                    && nearest[j]
                        .iter()
                        .filter(|(_, y)| *y == self.prototype_class(j))
                        .count()
                        < min_own
            })
            .collect())
    }

    /// Remove prototypes `which` (their similarities are masked to zero from now on).
    pub fn prune(&mut self, which: &[usize]) {
        for &j in which {
            if let Some(a) = self.active.get_mut(j) {
                *a = false;
            }
        }
    }

    /// Replace prototypes `which` by fresh ones drawn from `seed` (uniform in `[0, 1]`, as
    /// [`Self::new`] draws them), active again, with their last-layer rows back at the
    /// class-identity pattern: the slots of removed prototypes, to be re-learnt by
    /// [`Self::fine_tune`].
    pub fn reinitialise(&mut self, which: &[usize], seed: u64) -> Result<()> {
        let (p, c) = (self.prototypes(), self.classes);
        if let Some(&j) = which.iter().find(|&&j| j >= p) {
            return Err(XaiError::Config(format!(
                "prototype {j} does not exist (the network has {p})"
            )));
        }
        let mut protos = tensor_to_vec_f64(self.prototypes.val())?;
        let d = protos.len() / p.max(1);
        let mut weights = self.last_weights()?;
        let device = self.prototypes.val().device();
        let identity = tensor_to_vec_f64(self.identity_weights(-0.5, &device))?;
        let mut rng = StdRng::seed_from_u64(init::path_seed(seed, "reinitialised prototypes"));
        let fresh = init::uniform(&mut rng, which.len() * d, 0.0, 1.0)?;
        for (k, &j) in which.iter().enumerate() {
            for (i, v) in fresh[k * d..(k + 1) * d].iter().enumerate() {
                protos[j * d + i] = f64::from(*v);
            }
            weights[j * c..(j + 1) * c].copy_from_slice(&identity[j * c..(j + 1) * c]);
            self.active[j] = true;
        }
        let as_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        self.prototypes = Param::from_tensor(Tensor::from_data(
            TensorData::new(as_f32(protos), [p, d]),
            &device,
        ));
        self.last.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(as_f32(weights), [p, c]),
            &device,
        ));
        Ok(())
    }

    /// Last-layer weights `[P, C]` row-major.
    pub fn last_weights(&self) -> Result<Vec<f64>> {
        tensor_to_vec_f64(self.last.weight.val())
    }

    /// Fit the last layer alone (CE + `l1`·L1 on wrong-class connections, Adam) on the frozen
    /// similarities of `set`; pruned prototypes keep zero similarity.
    pub fn fit_last_layer(
        &mut self,
        set: &ImageSet,
        fit: &LastLayerConfig,
        device: &Device,
    ) -> Result<()> {
        let idx: Vec<usize> = (0..set.len()).collect();
        let mut sims = Vec::with_capacity(set.len() * self.prototypes());
        for chunk in idx.chunks(256) {
            sims.extend(tensor_to_vec_f64(
                self.forward(set.batch(chunk, device)?).similarities,
            )?);
        }
        let p = self.prototypes();
        let ad = device.clone().autodiff();
        // a fresh trainable copy: `valid()` left the current weights untracked
        let mut last = LinearConfig::new(p, self.classes)
            .with_bias(false)
            .init(&ad);
        // (through host data: `to_device` between flex and autodiff flex keeps a plain tensor)
        let w: Vec<f32> = self.last_weights()?.into_iter().map(|v| v as f32).collect();
        last.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w, [p, self.classes]),
            &ad,
        ));
        let mut optim = AdamConfig::new().init();
        let off = self.identity_weights(0.0, &ad).neg().add_scalar(1.0);
        let mut batches = Batches::new(set.len(), fit.batch, fit.seed);
        for _ in 0..fit.epochs {
            for b in batches.epoch() {
                let v: Vec<f32> = b
                    .iter()
                    .flat_map(|&i| sims[i * p..(i + 1) * p].iter().map(|&s| s as f32))
                    .collect();
                let x = Tensor::<2>::from_data(TensorData::new(v, [b.len(), p]), &ad);
                let loss = cross_entropy(last.forward(x), set.label_tensor(&b, &ad))
                    + (last.weight.val() * off.clone())
                        .abs()
                        .sum()
                        .mul_scalar(fit.l1);
                finite_loss(&loss, "last layer")?;
                let grads = GradientsParams::from_grads(loss.backward(), &last);
                last = optim.step(fit.lr, last, grads);
            }
        }
        self.last = last.valid().to_device(device);
        Ok(())
    }

    /// The scoring sheet of image `x` `[1, c, H, W]` for class `class`: every active
    /// prototype's similarity, weight and points, best first, and where it matched.
    pub fn explain(&self, x: Tensor<4>, class: usize) -> Result<ScoringSheet> {
        if x.dims()[0] != 1 {
            return Err(XaiError::shape("image", "[1, c, H, W]", &x.dims()));
        }
        if class >= self.classes {
            return Err(XaiError::TargetOutOfRange {
                index: class,
                classes: self.classes,
            });
        }
        let out = self.forward(x);
        let (_, w) = out.grid;
        let p = self.prototypes();
        let logits = tensor_to_vec_f64(out.logits)?;
        let sims = tensor_to_vec_f64(out.similarities)?;
        let dm = tensor_to_vec_f64(out.distance_maps)?;
        let hw = dm.len() / p;
        let weights = self.last_weights()?;
        let c = self.classes;
        let mut rows: Vec<ScoreRow> = (0..p)
            .filter(|&j| self.is_active(j))
            .map(|j| {
                let (l, _) = (0..hw)
                    .map(|l| (l, dm[l * p + j]))
                    .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
                let map: Vec<f64> = (0..hw)
                    .map(|l| {
                        let d = dm[l * p + j];
                        if self.cosine {
                            1.0 - d
                        } else {
                            ((d + 1.0) / (d + LOG_EPS)).ln()
                        }
                    })
                    .collect();
                ScoreRow {
                    prototype: j,
                    prototype_class: self.prototype_class(j),
                    similarity: sims[j],
                    weight: weights[j * c + class],
                    points: sims[j] * weights[j * c + class],
                    row: l / w,
                    col: l % w,
                    similarity_map: map,
                }
            })
            .collect();
        rows.sort_by(|a, b| b.points.total_cmp(&a.points));
        Ok(ScoringSheet {
            class,
            logit: logits[class],
            total_points: rows.iter().map(|r| r.points).sum(),
            rows,
            grid: out.grid,
        })
    }
}

/// The pixel box `(top, left, bottom, right)` (exclusive ends) of latent cell `(row, col)`'s
/// receptive field, clipped to the image.
pub fn receptive_field(row: usize, col: usize, side: usize) -> (usize, usize, usize, usize) {
    let clip = |a: isize| a.clamp(0, side as isize) as usize;
    let (r, c) = ((row * CELL) as isize, (col * CELL) as isize);
    (clip(r - 3), clip(c - 3), clip(r + 7), clip(c + 7))
}

/// Pixel centre of latent cell `(row, col)`.
pub fn cell_centre(row: usize, col: usize) -> (f64, f64) {
    ((row * CELL) as f64 + 1.5, (col * CELL) as f64 + 1.5)
}

/// Where a pushed prototype came from.
#[derive(Clone, Debug, Serialize)]
pub struct PushRecord {
    /// Prototype index.
    pub prototype: usize,
    /// Its class.
    pub class: usize,
    /// Source training image.
    pub image: usize,
    /// Latent row of the source patch.
    pub row: usize,
    /// Latent column.
    pub col: usize,
    /// Receptive-field box `(top, left, bottom, right)` in pixels.
    pub receptive_field: (usize, usize, usize, usize),
    /// Distance from the prototype before the push to the patch.
    pub distance_before: f64,
    /// The patch's latent values (the prototype after the push).
    pub values: Vec<f32>,
}

/// One prototype's line of a scoring sheet.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreRow {
    /// Prototype index.
    pub prototype: usize,
    /// The prototype's class.
    pub prototype_class: usize,
    /// Its similarity to the image (max over the grid).
    pub similarity: f64,
    /// Its last-layer weight for the explained class.
    pub weight: f64,
    /// `similarity × weight`.
    pub points: f64,
    /// Latent row of the best-matching patch.
    pub row: usize,
    /// Latent column of the best-matching patch.
    pub col: usize,
    /// Similarity at every grid cell (row-major `H·W`).
    pub similarity_map: Vec<f64>,
}

/// "This looks like that": the points each prototype contributes to a class.
#[derive(Clone, Debug, Serialize)]
pub struct ScoringSheet {
    /// Explained class.
    pub class: usize,
    /// The model's logit for it.
    pub logit: f64,
    /// Sum of the points (equals the logit up to rounding).
    pub total_points: f64,
    /// Active prototypes, most points first.
    pub rows: Vec<ScoreRow>,
    /// Latent grid.
    pub grid: (usize, usize),
}

/// Settings of last-layer fitting.
#[derive(Clone, Debug)]
pub struct LastLayerConfig {
    /// Epochs over the frozen similarities.
    pub epochs: usize,
    /// Mini-batch rows.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Weight of L1 on wrong-class connections.
    pub l1: f64,
    /// Shuffling seed.
    pub seed: u64,
}

impl Default for LastLayerConfig {
    fn default() -> Self {
        LastLayerConfig {
            epochs: 30,
            batch: 128,
            lr: 1e-2,
            l1: 1e-4,
            seed: 0,
        }
    }
}

/// The training schedule.
#[derive(Clone, Debug)]
pub struct ProtoTrainConfig {
    /// Warm-up epochs (add-on layers and prototypes only).
    pub warm_epochs: usize,
    /// Joint epochs (everything but the last layer).
    pub joint_epochs: usize,
    /// Mini-batch rows.
    pub batch: usize,
    /// Adam learning rate of the warm-up and joint stages.
    pub lr: f64,
    /// Last-layer fitting after the push.
    pub last_layer: LastLayerConfig,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Show progress bars.
    pub progress: bool,
}

impl Default for ProtoTrainConfig {
    fn default() -> Self {
        ProtoTrainConfig {
            warm_epochs: 2,
            joint_epochs: 12,
            batch: 64,
            lr: 6e-3,
            last_layer: LastLayerConfig::default(),
            seed: 0,
            progress: false,
        }
    }
}

/// What training did.
#[derive(Clone, Debug, Serialize)]
pub struct ProtoTrainLog {
    /// Mean loss per epoch (warm-up then joint).
    pub epoch_loss: Vec<f64>,
    /// Training accuracy before the push.
    pub accuracy_before_push: f64,
    /// Where each prototype was pushed.
    pub push: Vec<PushRecord>,
    /// Seconds.
    pub seconds: f64,
}

/// Accuracy of `model` on `set`.
pub fn accuracy(model: &ProtoPNet, set: &ImageSet, device: &Device) -> Result<f64> {
    set_accuracy(set, device, |x| model.forward(x).logits)
}

/// Train a fresh ProtoPNet on `set`: warm-up, joint, push, last layer. The model is returned on
/// `device` (plain).
pub fn train(
    config: &ProtoPNetConfig,
    schedule: &ProtoTrainConfig,
    set: &ImageSet,
    device: &Device,
) -> Result<(ProtoPNet, ProtoTrainLog)> {
    let ad = device.clone().autodiff();
    run_schedule(
        ProtoPNet::new(config, schedule.seed, &ad)?,
        schedule,
        set,
        device,
    )
}

/// Warm-up and joint epochs of `model` (on an autodiff device) on `set`, then push and
/// last-layer fitting, as [`train`] does; a set the network cannot read is an error.
fn run_schedule(
    mut model: ProtoPNet,
    schedule: &ProtoTrainConfig,
    set: &ImageSet,
    device: &Device,
) -> Result<(ProtoPNet, ProtoTrainLog)> {
    let channels = model.backbone.channels();
    if set.is_empty() || set.channels != channels || set.classes != model.classes {
        return Err(XaiError::Config(format!(
            "training set ({} images, {} channels, {} classes) does not match the network ({} channels, {} classes)",
            set.len(),
            set.channels,
            set.classes,
            channels,
            model.classes
        )));
    }
    let start = std::time::Instant::now();
    let ad = device.clone().autodiff();
    let mut optim = AdamConfig::new().init();
    let mut batches = Batches::new(set.len(), schedule.batch, schedule.seed);
    let epochs = schedule.warm_epochs + schedule.joint_epochs;
    let bar = progress(
        "ProtoPNet warm-up+joint",
        epochs * batches.per_epoch(),
        schedule.progress,
    );
    let mut epoch_loss = Vec::new();
    for epoch in 0..epochs {
        let trainable: Vec<ParamId> = if epoch < schedule.warm_epochs {
            [
                ids(&model.add1),
                ids(&model.add2),
                vec![model.prototypes.id],
            ]
            .concat()
        } else {
            [
                ids(&model.backbone),
                ids(&model.add1),
                ids(&model.add2),
                vec![model.prototypes.id],
            ]
            .concat()
        };
        let (mut total, mut count) = (0.0, 0usize);
        for idx in batches.epoch() {
            let out = model.forward(set.batch(&idx, &ad)?);
            let labels: Vec<usize> = idx.iter().map(|&i| set.labels[i]).collect();
            let loss = model.loss(&out, &labels, &ad)?;
            let v = finite_loss(&loss, "ProtoPNet")?;
            total += v * idx.len() as f64;
            count += idx.len();
            let mut grads = loss.backward();
            let grads = GradientsParams::from_params(&mut grads, &model, &trainable);
            model = optim.step(schedule.lr, model, grads);
            bar.inc(1);
            bar.set_message(format!("loss {v:.3}"));
        }
        epoch_loss.push(total / count.max(1) as f64);
    }
    bar.finish_and_clear();
    let mut model = model.valid().to_device(device);
    let accuracy_before_push = accuracy(&model, set, device)?;
    let push = model.push(set, device)?;
    model.fit_last_layer(set, &schedule.last_layer, device)?;
    Ok((
        model,
        ProtoTrainLog {
            epoch_loss,
            accuracy_before_push,
            push,
            seconds: start.elapsed().as_secs_f64(),
        },
    ))
}
