//! The demo's small CNN, an ordinary burn module, and its training loop (Adam on flex).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::data::{SIDE, Split};

/// conv(1→8, 3×3) → ReLU → max-pool 2 → conv(8→16, 3×3) → ReLU → max-pool 2 → linear(256→2).
#[derive(Module, Debug)]
pub struct DemoCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc: Linear,
    act: Relu,
}

impl DemoCnn {
    /// A freshly initialised network on `device`: burn's default initialisers, drawn from `seed`
    /// ([`xai_core::init::seeded`]).
    pub fn new(device: &Device, seed: u64) -> xai_core::Result<Self> {
        let pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
        let fresh = DemoCnn {
            conv1: Conv2dConfig::new([1, 8], [3, 3])
                .with_padding(pad.clone())
                .init(device),
            conv2: Conv2dConfig::new([8, 16], [3, 3])
                .with_padding(pad)
                .init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc: LinearConfig::new(16 * (SIDE / 4) * (SIDE / 4), 2).init(device),
            act: Relu::new(),
        };
        xai_core::init::seeded(fresh, seed)
    }

    /// Logits `[N, 2]` of images `[N, 1, 16, 16]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.features(x))
    }

    /// The penultimate representation `[N, 256]` (what the last layer reads).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.pool.forward(self.act.forward(self.conv1.forward(x)));
        let h = self.pool.forward(self.act.forward(self.conv2.forward(h)));
        let n = h.dims()[0];
        h.reshape([n as i32, -1])
    }

    /// The last layer (256 → 2).
    pub fn head(&self) -> Linear {
        self.fc.clone()
    }
}

/// Images `idx` of a split as a batch `[k, 1, 16, 16]`.
pub fn batch(split: &Split, idx: &[usize], device: &Device) -> Tensor<4> {
    split.batch(idx, device)
}

/// What training reports.
#[derive(Clone, Debug, Serialize)]
pub struct TrainLog {
    /// Mean training loss per epoch.
    pub epoch_loss: Vec<f64>,
    /// Accuracy on the training set after training.
    pub train_accuracy: f64,
    /// Seconds spent training.
    pub seconds: f64,
    /// Epochs, batch size, learning rate, seed.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

/// Train a fresh [`DemoCnn`] on `train` with Adam; returns the model on plain flex.
pub fn train(
    train: &Split,
    epochs: usize,
    seed: u64,
    progress: bool,
) -> xai_core::Result<(DemoCnn, TrainLog)> {
    let start = std::time::Instant::now();
    let device = Device::flex().autodiff();
    let mut model = DemoCnn::new(&device, seed)?;
    let mut optim = AdamConfig::new().init();
    let (batch_size, lr) = (32usize, 3e-3);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let steps = epochs * train.len().div_ceil(batch_size);
    let bar = if progress {
        let pb = ProgressBar::new(steps as u64);
        if let Ok(s) =
            ProgressStyle::with_template("training {bar:30} {pos}/{len} steps, loss {msg}")
        {
            pb.set_style(s);
        }
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut epoch_loss = Vec::new();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        let mut count = 0.0;
        for idx in order.chunks(batch_size) {
            let x = batch(train, idx, &device);
            let labels: Vec<i64> = idx.iter().map(|&i| train.labels[i] as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [idx.len()]), &device);
            let logits = model.forward(x);
            let loss = cross_entropy(logits, y);
            let value: f64 = loss.clone().into_scalar::<f32>() as f64;
            total += value * idx.len() as f64;
            count += idx.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            bar.set_message(format!("{value:.3}"));
            bar.inc(1);
        }
        epoch_loss.push(total / count);
    }
    bar.finish_and_clear();
    let model = model.valid().to_device(&Device::flex());
    let train_accuracy = accuracy(&model, train);
    Ok((
        model,
        TrainLog {
            epoch_loss,
            train_accuracy,
            seconds: start.elapsed().as_secs_f64(),
            epochs,
            batch_size,
            learning_rate: lr,
            seed,
        },
    ))
}

/// Mean softmax cross-entropy of logits `[N, C]` against integer labels.
fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, c] = logits.dims();
    let onehot = labels.one_hot::<2>(c).float();
    let ll = burn::tensor::activation::log_softmax(logits, 1) * onehot;
    ll.sum().neg().div_scalar(n as f64).reshape([1])
}

/// Penultimate features of every image of a split, `[N·256]` row-major, in f64.
pub fn features(model: &DemoCnn, split: &Split) -> xai_core::Result<Vec<f64>> {
    let device = Device::flex();
    let idx: Vec<usize> = (0..split.len()).collect();
    let mut out = Vec::new();
    for chunk in idx.chunks(256) {
        let f = model.features(batch(split, chunk, &device));
        out.extend(xai_core::tensor_to_vec_f64(f)?);
    }
    Ok(out)
}

/// Predicted classes of a split.
pub fn predict(model: &DemoCnn, split: &Split) -> Vec<usize> {
    let device = Device::flex();
    let idx: Vec<usize> = (0..split.len()).collect();
    let mut out = Vec::with_capacity(split.len());
    for chunk in idx.chunks(256) {
        let logits = model.forward(batch(split, chunk, &device));
        let pred: Vec<i64> = logits
            .argmax(1)
            .reshape([chunk.len()])
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap_or_default();
        out.extend(pred.into_iter().map(|p| p as usize));
    }
    out
}

/// Accuracy of `model` on a split.
pub fn accuracy(model: &DemoCnn, split: &Split) -> f64 {
    let pred = predict(model, split);
    pred.iter()
        .zip(&split.labels)
        .filter(|(p, y)| p == y)
        .count() as f64
        / split.len().max(1) as f64
}
