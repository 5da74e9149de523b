//! Mixture of linear experts with noisy top-k gating (Shazeer et al., ICLR 2017) and readable
//! routing (the interpretable-MoE setting of Ismail et al., TMLR 2023).
//!
//! - Gate: `H(x)ᵢ = (x W_g)ᵢ + ε · softplus((x W_noise)ᵢ)`, `ε ~ N(0, 1)` during training only;
//!   `G(x) = softmax(KeepTopK(H(x), k))`. `W_g` and `W_noise` start at zero, as in the paper.
//! - Experts: linear maps `Eᵢ(x) = x Aᵢ + bᵢ`, so each expert's explanation is exactly its
//!   coefficient vector. Output `y = Σᵢ G(x)ᵢ Eᵢ(x)`.
//! - Importance loss `w_imp · CV(Σₓ G(x))²`.
//! - Load loss `w_load · CV(Σₓ P(x, i))²` with the smooth load estimator
//!   `P(x, i) = Φ(((x W_g)ᵢ − kth_excluding(H(x), k, i)) / softplus((x W_noise)ᵢ))`.
//! - Readable routing: [`Moe::route`] is the argmax of the clean gate logits; [`RoutingReport`]
//!   gives the expert load, its max/mean ratio, the routing entropy and, with known factors, the
//!   NMI between routes and factors.
//!
//! Shapes: inputs `[N, d]`, outputs `[N, out]`, gates `[N, experts]`.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use xai_proto::moe::{Moe, MoeConfig};
//! let device = Device::flex();
//! let m = Moe::new(&MoeConfig { inputs: 3, outputs: 1, experts: 4, k: 2, ..Default::default() }, 0, &device).unwrap();
//! let out = m.forward(Tensor::<2>::ones([5, 3], &device), None);
//! assert_eq!(out.gates.dims(), [5, 4]);
//! ```

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{softmax, softplus};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::stats::nmi;
use crate::train::{Batches, finite_loss, progress};
use xai_core::{Result, XaiError, init, tensor_to_vec_f64};

/// Settings of a mixture.
#[derive(Clone, Debug)]
pub struct MoeConfig {
    /// Input features `d`.
    pub inputs: usize,
    /// Outputs per expert.
    pub outputs: usize,
    /// Number of experts.
    pub experts: usize,
    /// Experts kept per input (top-k).
    pub k: usize,
    /// Weight of the importance loss.
    pub w_importance: f64,
    /// Weight of the load loss.
    pub w_load: f64,
}

impl Default for MoeConfig {
    fn default() -> Self {
        MoeConfig {
            inputs: 1,
            outputs: 1,
            experts: 4,
            k: 2,
            w_importance: 0.1,
            w_load: 0.1,
        }
    }
}

/// A mixture of linear experts with a noisy top-k gate.
#[derive(Module, Debug)]
pub struct Moe {
    gate: Linear,
    noise: Linear,
    experts: Linear,
    n_experts: usize,
    k: usize,
    outputs: usize,
}

/// One forward pass.
#[derive(Debug)]
pub struct MoeOutput {
    /// Mixture output `[N, out]`.
    pub y: Tensor<2>,
    /// Gate values `[N, experts]` (zero outside the top k).
    pub gates: Tensor<2>,
    /// `CV(importance)²`.
    pub importance_cv2: Tensor<1>,
    /// `CV(load)²` with the smooth load estimator (noisy passes with `k < experts`), or with
    /// hard counts otherwise.
    pub load_cv2: Tensor<1>,
}

/// Squared coefficient of variation of a vector (population variance).
fn cv_squared(v: Tensor<1>) -> Tensor<1> {
    let mean = v.clone().mean();
    let centred = v - mean.clone();
    centred.powi_scalar(2).mean() / (mean.powi_scalar(2) + 1e-10)
}

/// Standard normal CDF.
fn normal_cdf(z: Tensor<2>) -> Tensor<2> {
    z.div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5)
}

impl Moe {
    /// A fresh mixture; the gate starts at zero (uniform routing), experts at burn's default
    /// initialiser drawn from `seed` ([`xai_core::init::seeded`]).
    pub fn new(config: &MoeConfig, seed: u64, device: &Device) -> Result<Moe> {
        if config.inputs == 0 || config.outputs == 0 || config.experts < 2 {
            return Err(XaiError::Config(
                "a mixture needs inputs ≥ 1, outputs ≥ 1 and experts ≥ 2".into(),
            ));
        }
        if config.k == 0 || config.k > config.experts {
            return Err(XaiError::Config(format!(
                "top-k with k = {} of {} experts",
                config.k, config.experts
            )));
        }
        let zero = |i: usize, o: usize| {
            let mut l = LinearConfig::new(i, o).init(device);
            l.weight = Param::from_tensor(Tensor::zeros([i, o], device));
            l.bias = Some(Param::from_tensor(Tensor::zeros([o], device)));
            l
        };
        init::seeded(
            Moe {
                gate: zero(config.inputs, config.experts),
                noise: zero(config.inputs, config.experts),
                experts: LinearConfig::new(config.inputs, config.experts * config.outputs)
                    .init(device),
                n_experts: config.experts,
                k: config.k,
                outputs: config.outputs,
            },
            seed,
        )
    }

    /// Forward pass; with a generator, the gate noise of training is drawn from it.
    pub fn forward(&self, x: Tensor<2>, noise: Option<&mut StdRng>) -> MoeOutput {
        let noisy = noise.is_some();
        let [n, _] = x.dims();
        let e = self.n_experts;
        let clean = self.gate.forward(x.clone());
        let std = softplus(self.noise.forward(x.clone()), 1.0).add_scalar(1e-2);
        let h = if let Some(rng) = noise {
            let eps = init::normal_tensor(rng, [n, e], &x.device());
            clean.clone() + eps * std.clone()
        } else {
            clean.clone()
        };
        let take = (self.k + 1).min(e);
        let top = h.clone().topk(take, 1);
        let kth = top.clone().narrow(1, self.k - 1, 1).repeat_dim(1, e);
        let dropped = h.clone().lower(kth.clone());
        let gates = softmax(h.clone().mask_fill(dropped.clone(), -1e9), 1);
        let importance = gates.clone().sum_dim(0).reshape([e]);
        let load = if noisy && self.k < e {
            let kplus = top.narrow(1, self.k, 1).repeat_dim(1, e);
            let threshold = kth.mask_where(dropped.bool_not(), kplus);
            normal_cdf((clean - threshold) / std)
                .sum_dim(0)
                .reshape([e])
        } else {
            dropped.bool_not().float().sum_dim(0).reshape([e])
        };
        let out = self.experts.forward(x).reshape([n, e, self.outputs]);
        let y = (gates.clone().unsqueeze_dim::<3>(2) * out)
            .sum_dim(1)
            .reshape([n, self.outputs]);
        MoeOutput {
            y,
            gates,
            importance_cv2: cv_squared(importance),
            load_cv2: cv_squared(load),
        }
    }

    /// The expert each row is routed to first (argmax of the clean gate logits).
    pub fn route(&self, x: Tensor<2>) -> Result<Vec<usize>> {
        let n = x.dims()[0];
        let v = tensor_to_vec_f64(self.gate.forward(x).argmax(1).float().reshape([n]))?;
        Ok(v.into_iter().map(|r| r as usize).collect())
    }

    /// Each expert's coefficients `[experts][d]` and intercept for output `output`.
    pub fn expert_coefficients(&self, output: usize) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
        if output >= self.outputs {
            return Err(XaiError::TargetOutOfRange {
                index: output,
                classes: self.outputs,
            });
        }
        let w = self.experts.weight.val();
        let [d, cols] = w.dims();
        let w = tensor_to_vec_f64(w)?;
        let b = match &self.experts.bias {
            Some(b) => tensor_to_vec_f64(b.val())?,
            None => vec![0.0; cols],
        };
        let mut coef = Vec::new();
        let mut bias = Vec::new();
        for i in 0..self.n_experts {
            let col = i * self.outputs + output;
            coef.push((0..d).map(|r| w[r * cols + col]).collect());
            bias.push(b[col]);
        }
        Ok((coef, bias))
    }

    /// Number of experts.
    pub fn experts(&self) -> usize {
        self.n_experts
    }
}

/// Training settings.
#[derive(Clone, Debug)]
pub struct MoeTrainConfig {
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch rows.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of shuffling and gate noise.
    pub seed: u64,
    /// Show a progress bar.
    pub progress: bool,
    /// Independent initialisations; the one with the lowest final training MSE is kept
    /// (routing has local minima where two experts share one regime).
    pub restarts: usize,
}

impl Default for MoeTrainConfig {
    fn default() -> Self {
        MoeTrainConfig {
            epochs: 40,
            batch: 128,
            lr: 1e-2,
            seed: 0,
            progress: false,
            restarts: 1,
        }
    }
}

/// Train a fresh mixture by mean squared error plus the balance losses on rows `x` `[n, d]`
/// (row-major) with targets `y` `[n, out]`, `train.restarts` times from seeds `seed, seed + 1,
/// …`; keeps the run with the lowest final training MSE. Returns the model on `device` (plain)
/// and its mean MSE per epoch.
pub fn train_regression(
    config: &MoeConfig,
    train: &MoeTrainConfig,
    x: &[f32],
    y: &[f32],
    device: &Device,
) -> Result<(Moe, Vec<f64>)> {
    let mut best: Option<(Moe, Vec<f64>)> = None;
    for r in 0..train.restarts.max(1) {
        let run = MoeTrainConfig {
            seed: train.seed.wrapping_add(r as u64),
            ..train.clone()
        };
        let (m, l) = train_once(config, &run, x, y, device)?;
        let last = l.last().copied().unwrap_or(f64::INFINITY);
        if best
            .as_ref()
            .is_none_or(|(_, b)| last < b.last().copied().unwrap_or(f64::INFINITY))
        {
            best = Some((m, l));
        }
    }
    best.ok_or_else(|| XaiError::Config("no training run".into()))
}

fn train_once(
    config: &MoeConfig,
    train: &MoeTrainConfig,
    x: &[f32],
    y: &[f32],
    device: &Device,
) -> Result<(Moe, Vec<f64>)> {
    let d = config.inputs;
    let n = x.len() / d.max(1);
    if n == 0 || x.len() != n * d || y.len() != n * config.outputs {
        return Err(XaiError::shape(
            "mixture training data",
            format!("x [n, {d}] and y [n, {}]", config.outputs),
            &[x.len(), y.len()],
        ));
    }
    let ad = device.clone().autodiff();
    let mut model = Moe::new(config, train.seed, &ad)?;
    let mut noise = StdRng::seed_from_u64(init::path_seed(train.seed, "gate noise"));
    let mut optim = AdamConfig::new().init();
    let mut batches = Batches::new(n, train.batch, train.seed);
    let bar = progress("mixture of experts", train.epochs, train.progress);
    let mut losses = Vec::new();
    for _ in 0..train.epochs {
        let mut total = 0.0;
        let mut count = 0usize;
        for idx in batches.epoch() {
            let xb: Vec<f32> = idx
                .iter()
                .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
                .collect();
            let yb: Vec<f32> = idx
                .iter()
                .flat_map(|&i| {
                    y[i * config.outputs..(i + 1) * config.outputs]
                        .iter()
                        .copied()
                })
                .collect();
            let xt = Tensor::<2>::from_data(TensorData::new(xb, [idx.len(), d]), &ad);
            let yt = Tensor::<2>::from_data(TensorData::new(yb, [idx.len(), config.outputs]), &ad);
            let out = model.forward(xt, Some(&mut noise));
            let mse = (out.y - yt).powi_scalar(2).mean();
            let loss = mse.clone()
                + out.importance_cv2.mul_scalar(config.w_importance)
                + out.load_cv2.mul_scalar(config.w_load);
            total += finite_loss(&mse, "mixture")? * idx.len() as f64;
            count += idx.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(train.lr, model, grads);
        }
        losses.push(total / count as f64);
        bar.inc(1);
        bar.set_message(format!("mse {:.4}", total / count as f64));
    }
    bar.finish_and_clear();
    Ok((model.valid().to_device(device), losses))
}

/// How inputs are routed.
#[derive(Clone, Debug, Serialize)]
pub struct RoutingReport {
    /// Rows routed to each expert.
    pub load: Vec<usize>,
    /// Largest load over the mean load (1 is perfectly balanced).
    pub max_over_mean_load: f64,
    /// Entropy of the load distribution in nats (log(experts) is uniform).
    pub routing_entropy: f64,
    /// Mean entropy of the per-row gate distribution in nats (0 is one expert per row).
    pub mean_gate_entropy: f64,
    /// NMI between the routes and the known factor, when one was given.
    pub nmi: Option<f64>,
}

/// Route `x` and summarise; `factor` (one known label per row) adds the NMI.
pub fn routing_report(
    model: &Moe,
    x: Tensor<2>,
    factor: Option<&[usize]>,
) -> Result<RoutingReport> {
    let routes = model.route(x.clone())?;
    let e = model.experts();
    let mut load = vec![0usize; e];
    for &r in &routes {
        load[r] += 1;
    }
    let n = routes.len().max(1) as f64;
    let mean = n / e as f64;
    let max = *load.iter().max().unwrap_or(&0) as f64;
    let routing_entropy = load
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| -(c as f64 / n) * (c as f64 / n).ln())
        .sum();
    let gates = tensor_to_vec_f64(model.forward(x, None).gates)?;
    let mean_gate_entropy = gates
        .chunks(e)
        .map(|g| {
            g.iter()
                .filter(|&&p| p > 0.0)
                .map(|&p| -p * p.ln())
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    Ok(RoutingReport {
        load,
        max_over_mean_load: max / mean,
        routing_entropy,
        mean_gate_entropy,
        nmi: factor.map(|f| nmi(&routes, f)),
    })
}
