//! `xai influence bench`: training-data attribution on the bundled digits, judged by retraining.
//!
//! * `digits-logreg`: softmax regression (64 → 10, no bias, L2 λ = 1e-3) on the first 1,000
//!   digits, tested on the other 797. Exact and CG influence against warm-started leave-one-out
//!   over **all** training points (mean per-test-point Pearson), the linear datamodeling score
//!   over random halves, LiSSA with the automatic scale against CG on `s_test`, and Koh & Liang's
//!   batch-1 LiSSA recipe, which must be caught diverging.
//! * `digits-mlp`: a 64-32-10 tanh MLP trained to a stationary point; LDS for every attributor
//!   and mislabel detection (10 % of labels flipped, ranked by self-influence).
//! * `digits-cnn`: the same protocol on a small CNN (3×3 conv with 8 channels, tanh, 2×2 average
//!   pool, dense 128 → 10), where K-FAC and EK-FAC factor the conv layer from its patches.
//!
//! Every figure is measured here, by the command that prints it; nothing is read from a file.

use std::time::Instant;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde_json::{Value, json};
use xai_core::shard::Run;
use xai_core::{Result, XaiError};
use xai_grad::{CapturedGraph, Precision};
use xai_influence::data::{Digits, digits_split};
use xai_influence::eval::{
    LdsOptions, TrainOptions, lds, loo_test_loss_change, pearson, rel_err, subset_losses, train,
    train_preconditioned,
};
use xai_influence::sharded::{self, EkfacJob, STAGES};
use xai_influence::solvers::lissa::LissaConfig;
use xai_influence::solvers::{CgSolver, Curvature, Fisher, LissaSolver, row};
use xai_influence::{Data, Influence, Loss, Objective, Solver};

/// Settings of the benchmarks (smaller values for tests).
#[derive(Clone, Debug)]
pub struct InfluenceBenchOptions {
    /// Test points used for LOO/LDS correlations (from the 797).
    pub test_points: usize,
    /// Training points removed one at a time (`None` = all 1,000).
    pub loo_points: Option<usize>,
    /// LDS subsets.
    pub lds_subsets: usize,
    /// Test points whose `s_test` LiSSA estimates.
    pub lissa_points: usize,
    /// LiSSA depth.
    pub lissa_depth: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for InfluenceBenchOptions {
    fn default() -> Self {
        Self {
            test_points: 797,
            loo_points: None,
            lds_subsets: 100,
            lissa_points: 3,
            lissa_depth: 5000,
            seed: 0,
        }
    }
}

fn data(d: &Digits, device: &Device) -> Result<Data> {
    Data::from_rows(&d.x, 64, d.y.clone(), device, Precision::F64)
}

fn first(d: &Data, k: usize) -> Result<Data> {
    d.select(&(0..k.min(d.len())).collect::<Vec<_>>())
}

/// The logistic-regression benchmark; returns its JSON summary.
pub fn digits_logreg(opts: &InfluenceBenchOptions) -> Result<Value> {
    let dev = Device::flex();
    let model: Linear = LinearConfig::new(64, 10).with_bias(false).init(&dev);
    let (objective, test_all) =
        digits_objective(&model, |m: &Linear, x| m.forward(x), Precision::F64, &dev)?;
    let test = first(&test_all, opts.test_points)?;
    let t0 = Instant::now();
    let zero = objective.theta() * 0.0;
    let (rough, _) = train(
        &objective,
        &zero,
        None,
        &TrainOptions {
            grad_tol: 1e-6,
            ..Default::default()
        },
    )?;
    let pre = Solver::exact(0.0).build(&objective, &rough)?;
    let (theta, report) = train_preconditioned(
        &objective,
        &rough,
        None,
        pre.as_ref(),
        &TrainOptions {
            grad_tol: 1e-11,
            ..Default::default()
        },
    )?;
    let train_s = t0.elapsed().as_secs_f64();
    let test_acc = accuracy(&objective, &theta, &test)?;

    let t0 = Instant::now();
    let exact = Influence::new(&objective, &theta, &Solver::exact(0.0))?;
    let predicted = exact.predicted_loo_change(&test)?;
    let exact_s = t0.elapsed().as_secs_f64();

    let n = objective.num_train();
    let remove: Vec<usize> = match opts.loo_points {
        Some(k) => (0..n).step_by((n / k.max(1)).max(1)).take(k).collect(),
        None => (0..n).collect(),
    };
    let t0 = Instant::now();
    // The exact inverse doubles as the chord-Newton preconditioner of every retrain.
    let inv = exact.solver();
    let loo = loo_test_loss_change(
        &objective,
        &theta,
        &test,
        &remove,
        Some(inv),
        &TrainOptions {
            grad_tol: 1e-10,
            ..Default::default()
        },
    )?;
    let loo_s = t0.elapsed().as_secs_f64();
    let pred_sub: Vec<Vec<f64>> = predicted
        .iter()
        .map(|r| remove.iter().map(|&i| r[i]).collect())
        .collect();
    let per_test: Vec<f64> = pred_sub
        .iter()
        .zip(&loo)
        .map(|(p, a)| pearson(p, a))
        .collect();
    let loo_pearson_mean = per_test.iter().sum::<f64>() / per_test.len() as f64;
    let loo_pearson_min = per_test.iter().cloned().fold(f64::INFINITY, f64::min);

    // CG on the same test points (correlation with exact) and LDS.
    let cg = CgSolver::new(&objective, &theta, 0.0, 200, 1e-10, Curvature::Hessian)?;
    let t0 = Instant::now();
    let lds_opts = LdsOptions {
        subsets: opts.lds_subsets,
        fraction: 0.5,
        seed: opts.seed,
    };
    let runs = subset_losses(
        &objective,
        &theta,
        &test,
        &lds_opts,
        Some(inv),
        &TrainOptions {
            grad_tol: 1e-9,
            ..Default::default()
        },
    )?;
    let lds_s = t0.elapsed().as_secs_f64();
    let lds_exact = lds(&predicted, &runs.0, &runs.1)?;
    let graddot: Vec<Vec<f64>> = xai_influence::attributors::grad_dot(&objective, &theta, &test)?;
    let lds_graddot = lds(&graddot, &runs.0, &runs.1)?;

    // LiSSA (automatic scale) vs CG on s_test.
    let lissa_test = first(&test, opts.lissa_points)?;
    let g = objective.per_example_grads(&theta, &lissa_test, 64)?;
    let t0 = Instant::now();
    let lissa = LissaSolver::new(
        &objective,
        &theta,
        LissaConfig {
            depth: opts.lissa_depth,
            seed: opts.seed,
            ..Default::default()
        },
    )?;
    let lissa_scale = lissa.scale();
    let mut errs = Vec::new();
    let mut lissa_error = None;
    match xai_influence::InverseHvp::solve(&lissa, &g) {
        Ok(est) => {
            for k in 0..lissa_test.len() {
                let (reference, _, _) = cg.solve_one(&row(&g, k))?;
                errs.push(rel_err(&row(&est, k), &reference)?);
            }
        }
        Err(e) => lissa_error = Some(e.to_string()),
    }
    let lissa_s = t0.elapsed().as_secs_f64();
    let lissa_rel_err = errs.iter().cloned().fold(f64::NAN, f64::max);

    // Koh & Liang's recipe: batch 1, depth 5000, r = 10, scale = 1.5 λ_max of the full Hessian.
    let full = LissaConfig {
        batch_size: n,
        power_batches: 1,
        power_iters: 50,
        ..Default::default()
    };
    let lambda_full =
        xai_influence::solvers::lissa::estimate_batch_lambda_max(&objective, &theta, &full)?;
    let koh = LissaSolver::new(
        &objective,
        &theta,
        LissaConfig {
            batch_size: 1,
            depth: 5000,
            repeats: 10,
            scale: Some(1.5 * lambda_full),
            seed: opts.seed,
            ..Default::default()
        },
    )?;
    let koh_outcome = xai_influence::InverseHvp::solve(
        &koh,
        &first(&test, 1).and_then(|t| objective.per_example_grads(&theta, &t, 1))?,
    );
    let divergence = match &koh_outcome {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };

    Ok(json!({
        "benchmark": "digits-logreg",
        "model": "softmax regression 64→10, no bias, L2 λ=1e-3 (mean loss + λ/2‖W‖²)",
        "train": n, "test_points": test.len(), "test_accuracy": test_acc,
        "train_grad_norm": report.grad_norm,
        "loo_points": remove.len(),
        "loo_pearson_mean": loo_pearson_mean,
        "loo_pearson_min": loo_pearson_min,
        "lds": lds_exact,
        "lds_subsets": opts.lds_subsets,
        "lds_graddot": lds_graddot,
        "lissa_rel_err": lissa_rel_err,
        "lissa_scale": lissa_scale,
        "lissa_residuals": lissa.stats().residuals,
        "lissa_error": lissa_error,
        "lissa_divergence_detected": divergence.is_some(),
        "lissa_divergence_message": divergence,
        "seconds": {"train": train_s, "exact_influence": exact_s, "loo_retrains": loo_s, "lds_retrains": lds_s, "lissa": lissa_s},
    }))
}

fn accuracy(objective: &Objective, theta: &Tensor<1>, test: &Data) -> Result<f64> {
    let z = xai_influence::objective::to_f64(objective.logits(theta, test)?)?;
    let c = z.len() / test.len();
    let right = (0..test.len())
        .filter(|&i| {
            let r = &z[i * c..(i + 1) * c];
            let arg = (0..c).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0);
            arg == test.y[i]
        })
        .count();
    Ok(right as f64 / test.len() as f64)
}

/// The 64-32-10 tanh MLP the MLP benchmark studies.
#[derive(burn::module::Module, Debug)]
pub struct DigitsMlp {
    fc1: Linear,
    fc2: Linear,
}

impl DigitsMlp {
    /// burn's default initialisation, drawn from `seed` ([`xai_core::init::seeded`]).
    pub fn new(device: &Device, seed: u64) -> Result<Self> {
        let fresh = Self {
            fc1: LinearConfig::new(64, 32).init(device),
            fc2: LinearConfig::new(32, 10).init(device),
        };
        xai_core::init::seeded(fresh, seed)
    }
    /// Logits.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2
            .forward(burn::tensor::activation::tanh(self.fc1.forward(x)))
    }
}

/// The CNN the CNN benchmark studies: 8×8 digits → 3×3 conv (8 channels, padding 1) → tanh →
/// 2×2 average pool → dense 128 → 10 (1,370 parameters).
#[derive(burn::module::Module, Debug)]
pub struct TanhDigitsCnn {
    conv: Conv2d,
    pool: AvgPool2d,
    fc: Linear,
}

impl TanhDigitsCnn {
    /// burn's default initialisation, drawn from `seed` ([`xai_core::init::seeded`]).
    pub fn new(device: &Device, seed: u64) -> Result<Self> {
        let fresh = Self {
            conv: Conv2dConfig::new([1, 8], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc: LinearConfig::new(8 * 4 * 4, 10).init(device),
        };
        xai_core::init::seeded(fresh, seed)
    }
    /// Logits of flat digits `[N, 64]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let h = burn::tensor::activation::tanh(self.conv.forward(x.reshape([n, 1, 8, 8])));
        self.fc.forward(self.pool.forward(h).flatten(1, 3))
    }
}

/// The MLP benchmark: LDS per attributor, mislabel detection.
pub fn digits_mlp(opts: &InfluenceBenchOptions) -> Result<Value> {
    let (objective, test_all) = mlp_objective(opts.seed, Precision::F64)?;
    network_bench(
        "digits-mlp",
        "MLP 64-32-10 tanh, L2 λ=1e-3 on weights, full-batch L-BFGS to ‖∇J‖ ≤ 1e-6",
        &objective,
        &test_all,
        opts,
    )
}

/// The CNN benchmark: the MLP protocol on [`TanhDigitsCnn`], whose conv layer K-FAC and EK-FAC
/// factor from its unfolded patches.
pub fn digits_cnn(opts: &InfluenceBenchOptions) -> Result<Value> {
    let dev = Device::flex();
    let model = TanhDigitsCnn::new(&dev, opts.seed)?;
    let (objective, test_all) = digits_objective(
        &model,
        |m: &TanhDigitsCnn, x| m.forward(x),
        Precision::F64,
        &dev,
    )?;
    network_bench(
        "digits-cnn",
        "CNN conv3x3(1→8, pad 1)-tanh-avgpool2-dense(128→10), L2 λ=1e-3 on weights, \
         full-batch L-BFGS to ‖∇J‖ ≤ 1e-6",
        &objective,
        &test_all,
        opts,
    )
}

/// LDS of every attributor and mislabel detection for a non-convex model trained from the
/// objective's own initialisation.
fn network_bench(
    name: &str,
    model: &str,
    objective: &Objective,
    test_all: &Data,
    opts: &InfluenceBenchOptions,
) -> Result<Value> {
    use xai_influence::attributors;
    let objective = objective.clone();
    let test = first(test_all, opts.test_points.min(200))?;
    let train_set = objective.train().clone();
    let init = objective.theta();
    let train_opts = TrainOptions {
        grad_tol: 1e-6,
        max_iter: 4000,
        history: 20,
    };
    let t0 = Instant::now();
    // TracIn checkpoints: the iterates after 25/50/100/200 L-BFGS steps and the optimum.
    let mut checkpoints = Vec::new();
    let mut theta = init.clone();
    let mut done = 0;
    for stop in [25usize, 50, 100, 200] {
        let (t, _) = train(
            &objective,
            &theta,
            None,
            &TrainOptions {
                max_iter: stop - done,
                ..train_opts
            },
        )?;
        theta = t;
        done = stop;
        checkpoints.push((theta.clone(), 1.0));
    }
    let (theta, report) = train(&objective, &theta, None, &train_opts)?;
    checkpoints.push((theta.clone(), 1.0));
    let train_s = t0.elapsed().as_secs_f64();
    let test_acc = accuracy(&objective, &theta, &test)?;

    // Per-example gradients: the batched pass against one backward per example (the path
    // models outside dense/conv layers take), on the same 200 training examples.
    let sample = first(&train_set, 200)?;
    let t0 = Instant::now();
    let batched = objective.per_example_grads(&theta, &sample, 256)?;
    let batched_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut one_by_one = Vec::with_capacity(sample.len());
    for i in 0..sample.len() {
        let single = objective.with_train(sample.select(&[i])?)?;
        let (_, g) = single.value_grad(&theta, None)?;
        one_by_one.push((g - theta.clone() * single.l2_mask() * single.l2()).unsqueeze_dim(0));
    }
    let one_by_one_s = t0.elapsed().as_secs_f64();
    let grad_diff =
        xai_influence::objective::to_f64((batched - Tensor::cat(one_by_one, 0)).abs().max())?[0];

    // Scores of every attributor, oriented "higher = more helpful".
    let mut scores: Vec<(String, Vec<Vec<f64>>, f64)> = Vec::new();
    let mut timed = |name: &str, f: &mut dyn FnMut() -> Result<Vec<Vec<f64>>>| -> Result<()> {
        let t0 = Instant::now();
        match f() {
            Ok(s) => scores.push((name.to_string(), s, t0.elapsed().as_secs_f64())),
            Err(e) => eprintln!("{name}: {e}"),
        }
        Ok(())
    };
    let influence = |solver: Solver| -> Result<Vec<Vec<f64>>> {
        Influence::new(&objective, &theta, &solver)?.predicted_loo_change(&test)
    };
    timed("exact", &mut || {
        influence(Solver::Exact {
            damping: 1e-4,
            curvature: Curvature::Hessian,
        })
    })?;
    timed("exact_gauss_newton", &mut || {
        influence(Solver::Exact {
            damping: 1e-4,
            curvature: Curvature::GaussNewton,
        })
    })?;
    timed("cg", &mut || {
        influence(Solver::Cg {
            damping: 1e-4,
            max_iter: 300,
            tol: 1e-6,
            curvature: Curvature::GaussNewton,
        })
    })?;
    timed("lissa", &mut || {
        influence(Solver::Lissa(LissaConfig {
            depth: opts.lissa_depth.min(2000),
            damping: 1e-3,
            curvature: Curvature::GaussNewton,
            max_residual: Some(0.5),
            seed: opts.seed,
            ..Default::default()
        }))
    })?;
    timed("arnoldi", &mut || {
        influence(Solver::Arnoldi {
            dim: 200,
            top_k: 100,
            damping: 1e-3,
            seed: opts.seed,
        })
    })?;
    timed("kfac", &mut || {
        influence(Solver::Kfac {
            damping: 1e-4,
            fisher: Fisher::Sampled { seed: opts.seed },
        })
    })?;
    timed("ekfac", &mut || {
        influence(Solver::Ekfac {
            damping: 1e-4,
            fisher: Fisher::Sampled { seed: opts.seed },
        })
    })?;
    timed("kfac_expected", &mut || {
        influence(Solver::Kfac {
            damping: 1e-4,
            fisher: Fisher::Expected,
        })
    })?;
    timed("ekfac_expected", &mut || {
        influence(Solver::Ekfac {
            damping: 1e-4,
            fisher: Fisher::Expected,
        })
    })?;
    timed("grad_dot", &mut || {
        attributors::grad_dot(&objective, &theta, &test)
    })?;
    timed("tracin", &mut || {
        attributors::tracin(&objective, &checkpoints, &test)
    })?;
    timed("representer", &mut || {
        attributors::representer(&objective, &theta, &test)
    })?;
    timed("trak", &mut || {
        attributors::trak(&objective, &theta, &test, 512, 4, 1e-3, opts.seed)
    })?;

    // LDS: cold retraining from the same initialisation on random halves.
    let t0 = Instant::now();
    let lds_opts = LdsOptions {
        subsets: opts.lds_subsets.min(40),
        fraction: 0.5,
        seed: opts.seed,
    };
    let runs = subset_losses(&objective, &init, &test, &lds_opts, None, &train_opts)?;
    let lds_s = t0.elapsed().as_secs_f64();
    let mut lds_map = serde_json::Map::new();
    let mut secs = serde_json::Map::new();
    for (name, s, t) in &scores {
        lds_map.insert(name.clone(), json!(lds(s, &runs.0, &runs.1)?));
        secs.insert(name.clone(), json!(t));
    }

    // Mislabel detection: flip 10 % of the labels, retrain, rank by self-influence.
    let n = objective.num_train();
    let mut flipped_y = train_set.y.clone();
    let flipped: Vec<usize> = {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed ^ 0xf11b);
        rand::seq::index::sample(&mut rng, n, n / 10).into_vec()
    };
    for (k, &i) in flipped.iter().enumerate() {
        flipped_y[i] = (flipped_y[i] + 1 + k % 9) % 10;
    }
    let noisy = objective.with_train(Data::new(train_set.x.clone(), flipped_y)?)?;
    let (theta_noisy, _) = train(&noisy, &init, None, &train_opts)?;
    let mut mislabel = serde_json::Map::new();
    for (name, solver) in [
        (
            "exact",
            Solver::Exact {
                damping: 1e-4,
                curvature: Curvature::GaussNewton,
            },
        ),
        (
            "ekfac",
            Solver::Ekfac {
                damping: 1e-4,
                fisher: Fisher::Sampled { seed: opts.seed },
            },
        ),
        ("grad_dot", Solver::Identity),
    ] {
        let inf = Influence::new(&noisy, &theta_noisy, &solver)?;
        let s = inf.self_influence()?;
        mislabel.insert(
            name.into(),
            json!(xai_influence::eval::mislabel_found(&s, &flipped, 0.10)),
        );
    }
    let best = mislabel
        .values()
        .filter_map(Value::as_f64)
        .fold(0.0f64, f64::max);

    Ok(json!({
        "benchmark": name,
        "model": model,
        "parameters": objective.num_params(),
        "train": n, "test_points": test.len(), "test_accuracy": test_acc,
        "train_grad_norm": report.grad_norm,
        "lds": lds_map,
        "lds_subsets": lds_opts.subsets,
        "mislabel_found_top10": best,
        "mislabel_found_top10_by_method": mislabel,
        "per_example_grads_200": {
            "batched_s": batched_s,
            "one_backward_each_s": one_by_one_s,
            "max_abs_difference": grad_diff,
        },
        "seconds": {"train": train_s, "lds_retrains": lds_s, "attributors": secs},
    }))
}

/// Side-by-side with Kronfluence: train the digits MLP as `digits-mlp` does, time xai's EK-FAC
/// phases (factor fitting, training gradients, s_test of the test points, all-pairs scores) and
/// write `OUT/digits_mlp_kronfluence.json`: the trained weights (PyTorch layout), the data, the
/// damping, xai's scores (`∇ℓ_testᵀ (F + δI)⁻¹ ∇ℓ_train`, positive = helpful) and timings, for
/// `scripts/kronfluence_bench.py` to run Kronfluence's EK-FAC on the same model and data.
pub fn kronfluence_export(opts: &InfluenceBenchOptions, out: &std::path::Path) -> Result<Value> {
    // The same objective as `digits-mlp`, in f32 (Kronfluence's default precision).
    let (objective, test_all) = mlp_objective(opts.seed, Precision::F32)?;
    let test = first(&test_all, opts.test_points.min(200))?;
    let (train_d, _) = digits_split()?;
    let theta = train_mlp(&objective)?;
    let damping = 1e-4;
    let solver = Solver::Ekfac {
        damping,
        fisher: Fisher::Sampled { seed: opts.seed },
    };
    let t0 = Instant::now();
    let built = solver.build(&objective, &theta)?;
    let factors_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let inf = Influence::with_solver(&objective, &theta, built)?;
    let train_grads_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    inf.s_test(&test)?;
    let s_test_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let up = inf.up_loss(&test)?;
    let pairs_s = t0.elapsed().as_secs_f64();
    let scores: Vec<Vec<f64>> = up.iter().map(|r| r.iter().map(|v| -v).collect()).collect();
    // The exact (Hessian + damping) scores, a reference for both approximations.
    let exact: Vec<Vec<f64>> = Influence::new(&objective, &theta, &Solver::exact(damping))?
        .up_loss(&test)?
        .iter()
        .map(|r| r.iter().map(|v| -v).collect())
        .collect();
    // Parameters in module order: fc1.weight [64, 32], fc1.bias, fc2.weight [32, 10], fc2.bias.
    let parts = objective.unflatten(&theta)?;
    let mut params = Vec::new();
    for p in parts {
        params.push(json!({"shape": p.shape(), "values": p.to_vec_f64()?}));
    }
    let rows = |d: &Data| -> Result<Vec<f64>> {
        xai_influence::objective::to_f64(d.x.clone().into_rows()?)
    };
    let test_rows = rows(&test)?;
    let value = json!({
        "benchmark": "digits-mlp vs kronfluence",
        "model": "64-32-10 tanh MLP (burn layout: weights [in, out])",
        "params": params,
        "param_names": objective.graph().params().iter().map(|p| p.path.clone()).collect::<Vec<_>>(),
        "train_x": train_d.x, "train_y": train_d.y,
        "test_x": test_rows, "test_y": test.y,
        "l2": 1e-3, "damping": damping,
        "xai_scores": scores,
        "exact_scores": exact,
        "xai_seconds": {"factors": factors_s, "train_gradients": train_grads_s, "s_test": s_test_s,
                         "pairwise_scores": pairs_s,
                         "total": factors_s + train_grads_s + s_test_s + pairs_s},
        "test_points": test.len(), "train_points": objective.num_train(), "seed": opts.seed,
    });
    std::fs::create_dir_all(out).map_err(XaiError::io(out))?;
    let path = out.join("digits_mlp_kronfluence.json");
    std::fs::write(&path, value.to_string()).map_err(XaiError::io(&path))?;
    Ok(json!({"file": path.display().to_string(), "xai_seconds": value["xai_seconds"]}))
}

/// The digits-MLP objective (bundled digits, 64-32-10 tanh MLP seeded by `seed`, L2 1e-3,
/// cross-entropy) in `precision`, and the whole test set.
fn mlp_objective(seed: u64, precision: Precision) -> Result<(Objective, Data)> {
    mlp_objective_on(seed, precision, &Device::flex())
}

/// [`mlp_objective`] on `device`.
fn mlp_objective_on(seed: u64, precision: Precision, device: &Device) -> Result<(Objective, Data)> {
    let model = DigitsMlp::new(device, seed)?;
    digits_objective(&model, |m: &DigitsMlp, x| m.forward(x), precision, device)
}

/// The cross-entropy objective (L2 1e-3) of `model` on the bundled digits' training split,
/// captured in f32 and replayed in `precision`, and the whole test split.
fn digits_objective<M: burn::module::Module + Clone>(
    model: &M,
    forward: fn(&M, Tensor<2>) -> Tensor<2>,
    precision: Precision,
    dev: &Device,
) -> Result<(Objective, Data)> {
    let (train_d, test_d) = digits_split()?;
    let train_set = data(&train_d, dev)?;
    let test = data(&test_d, dev)?;
    let example = train_set
        .x
        .clone()
        .into_tensor::<2>()?
        .cast(burn::tensor::FloatDType::F32);
    let graph = CapturedGraph::capture(model, example, forward)?;
    let objective = Objective::new(graph, train_set, Loss::CrossEntropy, 1e-3, dev, precision)?;
    Ok((objective, test))
}

/// Full-batch L-BFGS from the objective's own initialisation to `‖∇J‖ ≤ 1e-6`, as
/// [`digits_mlp`] trains.
fn train_mlp(objective: &Objective) -> Result<Tensor<1>> {
    let opts = TrainOptions {
        grad_tol: 1e-6,
        max_iter: 4000,
        history: 20,
    };
    Ok(train(objective, &objective.theta(), None, &opts)?.0)
}

/// The model a sharded influence run on the bundled digits records in its manifest.
pub const DIGITS_MLP: &str = "digits-mlp";

/// Plan a sharded EK-FAC influence run on the digits MLP in `dir`
/// ([`xai_influence::sharded`]): train the MLP from `seed` (full-batch L-BFGS, f64) and record
/// θ and the first `test_points` test digits. Damping 1e-4, as Kronfluence's comparison.
pub fn plan_digits_mlp(
    dir: &std::path::Path,
    shards: usize,
    seed: u64,
    test_points: usize,
    fisher: Fisher,
) -> Result<Run> {
    if test_points == 0 {
        return Err(XaiError::Config("--test-points must be ≥ 1".into()));
    }
    let (objective, test_all) = mlp_objective(seed, Precision::F64)?;
    if shards == 0 || shards > objective.num_train() {
        return Err(XaiError::Config(format!(
            "--shards {shards}: between 1 and the {} training rows",
            objective.num_train()
        )));
    }
    let test = first(&test_all, test_points)?;
    let theta = train_mlp(&objective)?;
    let job = EkfacJob {
        model: DIGITS_MLP.into(),
        damping: 1e-4,
        fisher,
    };
    sharded::plan(dir, &job, &objective, &theta, &test, shards, seed)
}

/// The objective a worker of `run` rebuilds (the digits MLP at the manifest's seed), on flex.
pub fn run_objective(run: &Run) -> Result<Objective> {
    run_objective_on(run, &Device::flex())
}

/// [`run_objective`] on `device` (influence runs in f64: flex or cuda).
pub fn run_objective_on(run: &Run, device: &Device) -> Result<Objective> {
    let job = sharded::job(run)?;
    if job.model != DIGITS_MLP {
        return Err(XaiError::Config(format!(
            "{}: a run of model `{}`; this program rebuilds `{DIGITS_MLP}` only",
            run.dir().display(),
            job.model
        )));
    }
    Ok(mlp_objective_on(run.manifest().seed, Precision::F64, device)?.0)
}

/// EK-FAC influence on the digits MLP computed by `shards` separate processes and merged: the
/// local driver of [`xai_influence::sharded`]'s map/reduce steps.
///
/// This process plans the run in `dir` (trains the MLP); for each stage it starts `shards`
/// copies of this program (`xai influence map STAGE --dir DIR --shard i/K`) and then reduces.
/// Finally it compares the merged scores with the same EK-FAC scores computed here in one
/// piece. Returns the timings and the largest difference (the split must not change the
/// scores).
pub fn partitioned(
    seed: u64,
    shards: usize,
    test_points: usize,
    dir: &std::path::Path,
) -> Result<Value> {
    let fisher = Fisher::Sampled { seed };
    let t0 = Instant::now();
    let run = plan_digits_mlp(dir, shards, seed, test_points, fisher)?;
    let plan_s = t0.elapsed().as_secs_f64();
    let objective = run_objective(&run)?;
    let exe = std::env::current_exe().map_err(XaiError::io(dir))?;
    let mut stage_s = serde_json::Map::new();
    for stage in STAGES {
        let t0 = Instant::now();
        let children: Vec<_> = (0..shards)
            .map(|i| {
                std::process::Command::new(&exe)
                    .args([
                        "influence",
                        "map",
                        stage,
                        "--shard",
                        &format!("{i}/{shards}"),
                    ])
                    .arg("--dir")
                    .arg(dir)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .map_err(XaiError::io(&exe))
            })
            .collect::<Result<_>>()?;
        for (i, mut c) in children.into_iter().enumerate() {
            let status = c.wait().map_err(XaiError::io(&exe))?;
            if !status.success() {
                return Err(XaiError::Numerical(format!(
                    "stage {stage}: shard {i} failed ({status})"
                )));
            }
        }
        sharded::reduce(&run, stage, &objective)?;
        stage_s.insert(stage.into(), json!(t0.elapsed().as_secs_f64()));
    }
    let merged = sharded::scores(&run)?;
    let t0 = Instant::now();
    let test = sharded::test_data(&run, &objective)?;
    let trained = sharded::theta(&run, &objective)?;
    let solver = Solver::Ekfac {
        damping: sharded::job(&run)?.damping,
        fisher,
    };
    let whole = Influence::new(&objective, &trained, &solver)?.up_loss(&test)?;
    let whole_s = t0.elapsed().as_secs_f64();
    let max_diff = merged
        .iter()
        .flatten()
        .zip(whole.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let scale = whole.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    Ok(json!({
        "benchmark": "digits-mlp EK-FAC influence, map/reduce over processes",
        "shards": shards, "train_points": objective.num_train(), "test_points": test.len(),
        "seed": seed, "dir": dir.display().to_string(),
        "max_abs_diff_merged_vs_whole": max_diff, "max_abs_score": scale,
        "seconds": {"plan_and_train": plan_s, "stages": stage_s, "whole_in_process": whole_s},
    }))
}
