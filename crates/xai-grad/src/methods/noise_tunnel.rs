//! Noise tunnel over any batched explainer: SmoothGrad, SmoothGrad², VarGrad (Smilkov et al.,
//! 2017; Adebayo et al., 2018), and GradientSHAP / expected gradients (Lundberg & Lee, 2017;
//! Erion et al., 2021).
//!
//! For `M` samples `x + ε_m`, `ε_m ~ N(0, σ²)`:
//!
//! * SmoothGrad: `mean_m e(x + ε_m)`;
//! * SmoothGrad²: `mean_m e(x + ε_m)²`;
//! * VarGrad: `mean_m e(x + ε_m)² − (mean_m e(x + ε_m))²`.
//!
//! GradientSHAP draws, per sample, a baseline `b` from a distribution, `α ~ U(0, 1)` and noise,
//! and averages `(x − b) ⊙ ∇f(b + α(x − b) + ε)`; its expectation is the expected-gradients
//! attribution, and `Σ attribution ≈ f(x) − E_b f(b)`.
//!
//! All `M · N` noisy rows go through the explainer as one batch (chunked by the memory budget).
//! The noise comes from a seeded `StdRng`, so results are reproducible; the seed is returned.
//!
//! Shapes: inputs `[N, ...]`; attributions the inputs' shape.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn::nn::{Linear, LinearConfig};
//! use xai_core::Target;
//! use xai_grad::methods::{Explainable, noise_tunnel::{smoothgrad, NoiseConfig, Aggregate}};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(4, 3).init(&dev);
//! let ex = Explainable::new(model, |m: &Linear, x: Tensor<2>| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([2, 4], &dev);
//! let sg = smoothgrad(&ex, &x, &Target::Class(0), &NoiseConfig::default()).unwrap();
//! assert_eq!(sg.dims(), [2, 4]);
//! ```

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use xai_core::{MemoryBudget, Result, Target, XaiError};

use super::{Explainable, input_gradients};

/// How the noisy attributions are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// Mean (SmoothGrad).
    #[default]
    Mean,
    /// Mean of squares (SmoothGrad²).
    MeanSquare,
    /// Variance (VarGrad).
    Variance,
}

/// Noise-tunnel settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseConfig {
    /// Noisy samples per input.
    pub samples: usize,
    /// Standard deviation of the Gaussian noise (absolute, as Captum's `stdevs`).
    pub stdev: f64,
    /// How to combine the samples.
    pub aggregate: Aggregate,
    /// RNG seed.
    pub seed: u64,
    /// Memory budget per chunk.
    pub budget: MemoryBudget,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            samples: 25,
            stdev: 0.15,
            aggregate: Aggregate::Mean,
            seed: 0,
            budget: MemoryBudget::default(),
        }
    }
}

fn flat<const D: usize>(t: &Tensor<D>) -> Result<Vec<f64>> {
    xai_core::tensor_to_vec_f64(t.clone())
}

fn like<const D: usize>(v: Vec<f64>, dims: [usize; D], like: &Tensor<D>) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, dims), (&like.device(), like.dtype()))
}

/// Run `explain` on `samples` noisy copies of every input, in chunks of whole sample rounds, and
/// aggregate. `explain` receives `[k·N, ...]` rows ordered sample-major and the matching target
/// classes, and returns attributions of the same shape.
pub fn noise_tunnel<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    config: &NoiseConfig,
    explain: impl Fn(&Tensor<D>, &[usize]) -> Result<Tensor<D>> + Sync,
) -> Result<Tensor<D>> {
    if config.samples == 0 {
        return Err(XaiError::Config(
            "noise tunnel needs at least one sample".into(),
        ));
    }
    if !(config.stdev >= 0.0 && config.stdev.is_finite()) {
        return Err(XaiError::Config(format!(
            "invalid noise stdev {}",
            config.stdev
        )));
    }
    let classes = ex.classes(x, target)?;
    let dims = x.dims();
    let n = dims[0];
    let per: usize = dims[1..].iter().product();
    let xv = flat(x)?;
    let normal =
        Normal::new(0.0, config.stdev).map_err(|e| XaiError::Config(format!("noise: {e}")))?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    // Whole sample rounds per chunk; on the CPU at most 256 rows per chunk (cache-sized, as in
    // integrated gradients) and the chunks shared by one worker thread per core.
    let workers = if ex.device.clone().inner() == burn::tensor::Device::flex() {
        std::thread::available_parallelism().map_or(1, |p| p.get())
    } else {
        1
    };
    let cpu_cap = if workers > 1 {
        (256 / n.max(1)).max(1)
    } else {
        usize::MAX
    };
    let rounds_per_chunk = config
        .budget
        .rows(ex.graph(x)?.bytes_per_sample() * n * workers)
        .min(cpu_cap)
        .clamp(1, config.samples);
    // The noise is drawn in one sequence first, so the result does not depend on the chunking
    // or on thread timing.
    let mut chunks: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut done = 0;
    while done < config.samples {
        let k = rounds_per_chunk.min(config.samples - done);
        let mut noisy = Vec::with_capacity(k * n * per);
        for _ in 0..k {
            noisy.extend(xv.iter().map(|v| v + normal.sample(&mut rng)));
        }
        chunks.push((k, noisy));
        done += k;
    }
    let run = |(k, noisy): &(usize, Vec<f64>)| -> Result<Vec<f64>> {
        let mut cd = dims;
        cd[0] = k * n;
        let cls: Vec<usize> = (0..*k).flat_map(|_| classes.iter().copied()).collect();
        flat(&explain(&like(noisy.clone(), cd, x), &cls)?)
    };
    let results: Vec<Result<Vec<f64>>> = if workers <= 1 || chunks.len() == 1 {
        chunks.iter().map(run).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut all: Vec<(usize, Result<Vec<f64>>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers.min(chunks.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut acc = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(c) = chunks.get(i) else { break };
                            acc.push((i, run(c)));
                        }
                        acc
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![(
                            0,
                            Err(XaiError::Numerical("a noise-tunnel worker panicked".into())),
                        )]
                    })
                })
                .collect()
        });
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    };
    let mut sum = vec![0.0; n * per];
    let mut sum_sq = vec![0.0; n * per];
    for a in results {
        for (j, v) in a?.iter().enumerate() {
            let i = j % (n * per);
            sum[i] += v;
            sum_sq[i] += v * v;
        }
    }
    let m = config.samples as f64;
    let out: Vec<f64> = match config.aggregate {
        Aggregate::Mean => sum.iter().map(|s| s / m).collect(),
        Aggregate::MeanSquare => sum_sq.iter().map(|s| s / m).collect(),
        Aggregate::Variance => sum
            .iter()
            .zip(&sum_sq)
            .map(|(s, q)| q / m - (s / m) * (s / m))
            .collect(),
    };
    Ok(like(out, dims, x))
}

/// SmoothGrad (or SmoothGrad² / VarGrad, by `config.aggregate`) of the input gradient.
pub fn smoothgrad<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    config: &NoiseConfig,
) -> Result<Tensor<D>> {
    noise_tunnel(ex, x, target, config, |xs, cls| {
        input_gradients(ex, xs, cls)
    })
}

/// GradientSHAP: `(x − b) ⊙ ∇f(b + α(x − b) + ε)` averaged over `config.samples` draws of a
/// baseline row from `baselines` (`[M, ...]`), `α ~ U(0, 1)` and noise `N(0, stdev²)`.
pub fn gradient_shap<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    baselines: &Tensor<D>,
    target: &Target,
    config: &NoiseConfig,
) -> Result<Tensor<D>> {
    let dims = x.dims();
    let bd = baselines.dims();
    if bd[1..] != dims[1..] || bd[0] == 0 {
        return Err(XaiError::shape(
            "GradientSHAP baselines",
            format!("[M ≥ 1, {:?}]", &dims[1..]),
            &bd,
        ));
    }
    if config.samples == 0 {
        return Err(XaiError::Config(
            "GradientSHAP needs at least one sample".into(),
        ));
    }
    let classes = ex.classes(x, target)?;
    let n = dims[0];
    let per: usize = dims[1..].iter().product();
    let xv = flat(x)?;
    let bv = flat(baselines)?;
    let normal =
        Normal::new(0.0, config.stdev).map_err(|e| XaiError::Config(format!("noise: {e}")))?;
    let unit = Uniform::new(0.0, 1.0).map_err(|e| XaiError::Config(format!("{e}")))?;
    let pick = Uniform::new(0, bd[0]).map_err(|e| XaiError::Config(format!("{e}")))?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let total = config.samples * n;
    let mut points = Vec::with_capacity(total * per);
    let mut deltas = Vec::with_capacity(total * per);
    for _ in 0..config.samples {
        for i in 0..n {
            let b = pick.sample(&mut rng);
            let a = unit.sample(&mut rng);
            for j in 0..per {
                let (xi, bi) = (xv[i * per + j], bv[b * per + j]);
                points.push(bi + a * (xi - bi) + normal.sample(&mut rng));
                deltas.push(xi - bi);
            }
        }
    }
    let mut pd = dims;
    pd[0] = total;
    let cls: Vec<usize> = (0..config.samples)
        .flat_map(|_| classes.iter().copied())
        .collect();
    let g = flat(&input_gradients(ex, &like(points, pd, x), &cls)?)?;
    let mut out = vec![0.0; n * per];
    for (k, (g, d)) in g.iter().zip(&deltas).enumerate() {
        out[k % (n * per)] += g * d / config.samples as f64;
    }
    Ok(like(out, dims, x))
}
