//! A tiny vision transformer (Dosovitskiy et al., ICLR 2021) in burn, trained in-process on the
//! two-shape Clever Hans images ([`crate::data::clever_hans::two_shapes`]: a 3×3 watermark marks
//! "plus" in training), so attention explanations can be checked against a known shortcut.
//!
//! Architecture: non-overlapping `p × p` patches embedded by a strided convolution; a class token
//! at position 0 followed by the patch tokens, plus learned position embeddings; `layers` pre-LN
//! blocks of bidirectional multi-head self-attention and a GELU MLP ([`crate::transformer`]); a
//! final LayerNorm and a linear head on the class token. The class token is a zero row derived
//! from the batch plus position 0's embedding (the learned class vector): no batch size is baked
//! into a captured graph, so the model replays on any batch. Parameters are drawn from the
//! model's seed and training shuffles with its own `StdRng`: a trained model is a function of
//! its seed.
//!
//! Shapes: images `[N, 1, S, S]` → logits `[N, 2]`; tokens `[N, 1 + (S/p)², D]`; attention
//! weights `[N, H, T, T]` per layer, token 0 the class token, token `1 + r·(S/p) + c` the patch
//! at row `r`, column `c`.
//!
//! ```no_run
//! use xai_proto::vit::{TinyVit, VitConfig};
//! use xai_proto::data::clever_hans::two_shapes;
//! let data = two_shapes::generate(0, 1200, 400);
//! let (vit, log) = TinyVit::train(&VitConfig::default(), &data.train, 0, false).unwrap();
//! assert!(log.train_accuracy > 0.9);
//! ```

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use xai_core::{Result, XaiError};

use crate::data::clever_hans::two_shapes::{SIDE, Split};
use crate::train::{FitConfig, cross_entropy, fit};
use crate::transformer::Block;

/// Sizes of a [`TinyVit`] and its training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    /// Patch side in pixels (divides the image side).
    pub patch: usize,
    /// Token width.
    pub d_model: usize,
    /// Attention heads per layer (divides `d_model`).
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Hidden width of each MLP.
    pub d_ff: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
}

impl Default for VitConfig {
    fn default() -> Self {
        VitConfig {
            patch: 4,
            d_model: 32,
            heads: 4,
            layers: 2,
            d_ff: 64,
            epochs: 25,
            batch: 32,
            learning_rate: 2e-3,
        }
    }
}

/// The model (see the module docs).
#[derive(Module, Debug)]
pub struct TinyVit {
    embed: Conv2d,
    /// Position embeddings `[1, 1 + T, D]`; row 0 is the class token.
    pos: Param<Tensor<3>>,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Linear,
    /// Patches per image side.
    #[module(skip)]
    grid: usize,
}

/// What training reached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VitTrainLog {
    /// Mean loss per epoch.
    pub epoch_loss: Vec<f64>,
    /// Accuracy on the training images.
    pub train_accuracy: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The configuration.
    pub config: VitConfig,
    /// The seed.
    pub seed: u64,
}

impl TinyVit {
    /// A fresh model for `SIDE × SIDE` single-channel images and two classes, parameters drawn
    /// from `seed`.
    pub fn new(config: &VitConfig, device: &Device, seed: u64) -> Result<TinyVit> {
        let (d, p) = (config.d_model, config.patch);
        if p == 0
            || !SIDE.is_multiple_of(p)
            || config.heads == 0
            || !d.is_multiple_of(config.heads)
            || config.layers == 0
        {
            return Err(XaiError::Config(format!(
                "vision transformer: patch {p} must divide the image side {SIDE}, d_model {d} \
                 must split into {} heads, and there must be a layer",
                config.heads
            )));
        }
        let grid = SIDE / p;
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0717_0517);
        let pos = xai_core::init::normal_tensor(&mut rng, [1, 1 + grid * grid, d], device)
            .mul_scalar(0.02);
        let model = TinyVit {
            embed: Conv2dConfig::new([1, d], [p, p])
                .with_stride([p, p])
                .init(device),
            pos: Param::from_tensor(pos),
            blocks: (0..config.layers)
                .map(|_| Block::new(d, config.heads, config.d_ff, false, device))
                .collect(),
            ln_f: LayerNormConfig::new(d).init(device),
            head: LinearConfig::new(d, 2).init(device),
            grid,
        };
        xai_core::init::seeded(model, seed)
    }

    /// Patches per image side (the token grid is `grid × grid`).
    pub fn grid(&self) -> usize {
        self.grid
    }

    /// The input tokens `[N, 1 + T, D]`: the class token, then the embedded patches, with
    /// their position embeddings.
    pub fn tokens(&self, x: Tensor<4>) -> Tensor<3> {
        let patches = self.embed.forward(x).flatten::<3>(2, 3).swap_dims(1, 2);
        let zero = patches.clone().narrow(1, 0, 1).mul_scalar(0.0);
        Tensor::cat(vec![zero, patches], 1) + self.pos.val()
    }

    /// The residual stream before the first block and after each block, `layers + 1` tensors
    /// `[N, 1 + T, D]`.
    pub fn residuals(&self, x: Tensor<4>) -> Vec<Tensor<3>> {
        let mut h = self.tokens(x);
        let mut out = vec![h.clone()];
        for block in &self.blocks {
            h = block.forward(h, None);
            out.push(h.clone());
        }
        out
    }

    /// Logits `[N, 2]` of images `[N, 1, S, S]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self.tokens(x);
        for block in &self.blocks {
            h = block.forward(h, None);
        }
        self.head
            .forward(self.ln_f.forward(h).narrow(1, 0, 1).flatten::<2>(1, 2))
    }

    /// Every layer's attention weights, `layers` tensors `[N, H, T, T]`.
    pub fn attention_maps(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.residuals(x)
            .into_iter()
            .zip(&self.blocks)
            .map(|(h, block)| block.attention(h))
            .collect()
    }

    /// Train a fresh model from `seed` on `train` (cross-entropy, Adam); returns it on flex.
    pub fn train(
        config: &VitConfig,
        train: &Split,
        seed: u64,
        progress: bool,
    ) -> Result<(TinyVit, VitTrainLog)> {
        let start = std::time::Instant::now();
        let device = Device::flex().autodiff();
        let model = TinyVit::new(config, &device, seed)?;
        let fit_config = FitConfig {
            epochs: config.epochs,
            batch: config.batch,
            lr: config.learning_rate,
            seed,
            progress,
        };
        let (model, epoch_loss) = fit(
            model,
            train.len(),
            &fit_config,
            "training the ViT",
            |m, idx| {
                let labels: Vec<i64> = idx.iter().map(|&i| train.labels[i] as i64).collect();
                let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [idx.len()]), &device);
                Ok(cross_entropy(m.forward(train.batch(idx, &device)), y))
            },
        )?;
        let model = model.valid().to_device(&Device::flex());
        let train_accuracy = model.accuracy(train)?;
        Ok((
            model,
            VitTrainLog {
                epoch_loss,
                train_accuracy,
                seconds: start.elapsed().as_secs_f64(),
                config: config.clone(),
                seed,
            },
        ))
    }

    /// Predicted class of every image of `split`.
    pub fn predict(&self, split: &Split) -> Result<Vec<usize>> {
        let device = Device::flex();
        let idx: Vec<usize> = (0..split.len()).collect();
        let mut out = Vec::with_capacity(split.len());
        for chunk in idx.chunks(256) {
            out.extend(crate::train::predictions(
                self.forward(split.batch(chunk, &device)),
            )?);
        }
        Ok(out)
    }

    /// Accuracy on `split`.
    pub fn accuracy(&self, split: &Split) -> Result<f64> {
        Ok(crate::train::accuracy(&self.predict(split)?, &split.labels))
    }
}
