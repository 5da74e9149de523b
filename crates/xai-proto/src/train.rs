//! Training helpers shared by the models: seeded mini-batch order, progress bars, losses,
//! accuracy.

use burn::module::Param;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use xai_core::{Result, XaiError, tensor_to_vec_f64};

/// A seeded shuffler that yields the mini-batches of each epoch.
pub struct Batches {
    rng: StdRng,
    order: Vec<usize>,
    /// Rows per mini-batch.
    pub size: usize,
}

impl Batches {
    /// Batches over `0..n` of `size` rows, shuffled from `seed`.
    pub fn new(n: usize, size: usize, seed: u64) -> Batches {
        Batches {
            rng: StdRng::seed_from_u64(seed),
            order: (0..n).collect(),
            size: size.max(1),
        }
    }

    /// The mini-batches of one epoch (reshuffled at every call).
    pub fn epoch(&mut self) -> Vec<Vec<usize>> {
        self.order.shuffle(&mut self.rng);
        self.order.chunks(self.size).map(|c| c.to_vec()).collect()
    }

    /// Mini-batches per epoch.
    pub fn per_epoch(&self) -> usize {
        self.order.len().div_ceil(self.size)
    }
}

/// A progress bar of `steps` steps labelled `what`, hidden unless `show`.
pub fn progress(what: &str, steps: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(steps as u64);
    if let Ok(s) =
        ProgressStyle::with_template(&format!("{what:<24} {{bar:30}} {{pos}}/{{len}} {{msg}}"))
    {
        pb.set_style(s);
    }
    pb
}

/// Mean cross-entropy of `logits` `[N, C]` against `labels` `[N]`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, c] = logits.dims();
    let y = labels.one_hot::<2>(c).float();
    (log_softmax(logits, 1) * y)
        .sum()
        .neg()
        .div_scalar(n.max(1) as f64)
}

/// Mean binary cross-entropy of `logits` against 0/1 `targets`, numerically stable
/// (`max(z, 0) − z·t + log(1 + e^{−|z|})`).
pub fn bce_with_logits<const D: usize>(logits: Tensor<D>, targets: Tensor<D>) -> Tensor<1> {
    let n = logits.shape().num_elements().max(1) as f64;
    let relu = logits.clone().clamp_min(0.0);
    let soft = logits.clone().abs().neg().exp().log1p();
    (relu - logits * targets + soft).sum().div_scalar(n)
}

/// Argmax of each row of `logits`.
pub fn predictions(logits: Tensor<2>) -> Result<Vec<usize>> {
    let n = logits.dims()[0];
    let v = tensor_to_vec_f64(logits.argmax(1).float().reshape([n]))?;
    Ok(v.into_iter().map(|p| p as usize).collect())
}

/// Fraction of `pred` equal to `labels`.
pub fn accuracy(pred: &[usize], labels: &[usize]) -> f64 {
    if pred.is_empty() {
        return 0.0;
    }
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / pred.len() as f64
}

/// Accuracy on `set` of a model given by `forward` (images `[k, c, H, W]` → logits), run in
/// chunks of 256 images.
pub fn set_accuracy(
    set: &crate::data::ImageSet,
    device: &burn::tensor::Device,
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
) -> Result<f64> {
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut pred = Vec::with_capacity(set.len());
    for chunk in idx.chunks(256) {
        pred.extend(predictions(forward(set.batch(chunk, device)?))?);
    }
    Ok(accuracy(&pred, &set.labels))
}

/// A loss value as `f64`, with an error instead of a silent NaN.
pub fn finite_loss(loss: &Tensor<1>, what: &str) -> Result<f64> {
    let v = tensor_to_vec_f64(loss.clone())?[0];
    if !v.is_finite() {
        return Err(XaiError::NonFinite(format!("{what} loss")));
    }
    Ok(v)
}

/// Settings of [`fit`].
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch rows.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Shuffling seed.
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
}

/// `model` with every parameter copied onto `device` (an autodiff device) as a tracked leaf,
/// so that a trained network can be trained further: moving a module between a plain and an
/// autodiff device keeps its tensors untracked.
pub fn trainable<M: burn::module::Module>(model: M, device: &Device) -> M {
    struct Leaves<'a>(&'a Device);
    impl burn::module::ModuleMapper for Leaves<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, t, _) = param.consume();
            Param::initialized(id, Tensor::from_data(t.into_data(), self.0).require_grad())
        }
    }
    model.map(&mut Leaves(device))
}

/// Train every parameter of `model` (on an autodiff device) with Adam on mini-batches of
/// `0..n`; `loss(model, batch)` gives the batch loss. Parameters not yet initialised are drawn
/// from `config.seed` first ([`xai_core::init::seeded`]). Returns the model and the mean loss per
/// epoch; a non-finite loss stops training with an error.
pub fn fit<M: burn::module::Module>(
    mut model: M,
    n: usize,
    config: &FitConfig,
    what: &str,
    mut loss: impl FnMut(&M, &[usize]) -> Result<Tensor<1>>,
) -> Result<(M, Vec<f64>)> {
    if n == 0 {
        return Err(XaiError::EmptyBatch(format!("{what}: no training rows")));
    }
    // parameters still waiting for burn's lazy initialisation are drawn from the config's seed
    model = xai_core::init::seeded(model, config.seed)?;
    let mut optim = burn::optim::AdamConfig::new().init();
    let mut batches = Batches::new(n, config.batch, config.seed);
    let bar = progress(what, config.epochs * batches.per_epoch(), config.progress);
    let mut curve = Vec::with_capacity(config.epochs);
    for _ in 0..config.epochs {
        let (mut total, mut count) = (0.0, 0usize);
        for idx in batches.epoch() {
            let l = loss(&model, &idx)?;
            let v = finite_loss(&l, what)?;
            total += v * idx.len() as f64;
            count += idx.len();
            let grads = burn::optim::GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(config.lr, model, grads);
            bar.inc(1);
            bar.set_message(format!("loss {v:.3}"));
        }
        curve.push(total / count.max(1) as f64);
    }
    bar.finish_and_clear();
    Ok((model, curve))
}
