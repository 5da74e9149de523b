//! EK-FAC influence as map/reduce steps over shards of the training set, for a cluster
//! scheduler (SLURM job array, Kubernetes Indexed Job) or local processes.
//!
//! Every data-set-scale part of EK-FAC influence is a sum or a concatenation over training rows,
//! so it splits into independent shards ([`xai_core::shard`]: rows assigned by `(i, N, n)` only,
//! safetensors + JSON in a shared run folder, resumable):
//!
//! | stage | map (shard `i` of `N`, its rows) | reduce (one process) |
//! |---|---|---|
//! | [`plan`] | — | θ and the test points written with the manifest |
//! | `factors` | `Σ ã ãᵀ`, `Σ g gᵀ` per layer | sum, eigendecompose: `Q_A, α, Q_S, σ` |
//! | `eigenvalues` | `Σ_i (Q_Aᵀ G_i Q_S)²` per layer | sum → EK-FAC inverse; `s_test = (F + δI)⁻¹ ∇ℓ(z_test)` |
//! | `scores` | `−s_testᵀ ∇ℓ(z)` for its rows | concatenate: `I_up,loss`, `[T, n]` |
//!
//! Sums reduce exactly up to floating-point summation order, and the sampled Fisher draws the
//! label of row `i` from the seed and `i` alone, so the merged scores equal
//! `Influence::new(objective, θ, &Solver::Ekfac { .. }).up_loss(test)` computed in one process
//! (to ~1e-13 relative in f64). Each worker rebuilds the same [`Objective`] (the caller's job,
//! e.g. from the manifest's seed); the steps check that it has the run's parameter and row
//! counts.
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::tensor::{Device, FloatDType};
//! use xai_core::shard::ShardSpec;
//! use xai_grad::{CapturedGraph, Precision};
//! use xai_influence::sharded::{self, EkfacJob, STAGES};
//! use xai_influence::solvers::Fisher;
//! use xai_influence::{Data, Influence, Loss, Objective, Solver};
//!
//! let dev = Device::flex();
//! let rows: Vec<f64> = (0..40).map(|i| (i * 7 % 11) as f64 / 11.0 - 0.5).collect();
//! let train = Data::from_rows(&rows, 4, (0..10).map(|i| i % 3).collect(), &dev, Precision::F64)?;
//! let model = LinearConfig::new(4, 3).init(&dev);
//! let x = train.x.clone().into_tensor::<2>()?.cast(FloatDType::F32);
//! let graph = CapturedGraph::capture(&model, x, |m, x| m.forward(x))?;
//! let objective = Objective::new(graph, train, Loss::CrossEntropy, 1e-2, &dev, Precision::F64)?;
//! let theta = objective.theta();
//! let test = objective.train().select(&[0, 1])?;
//! let job = EkfacJob { model: "doc linear".into(), damping: 1e-3, fisher: Fisher::Sampled { seed: 5 } };
//! let dir = std::env::temp_dir().join(format!("xai-sharded-doc-{}", std::process::id()));
//! let run = sharded::plan(&dir, &job, &objective, &theta, &test, 3, 5)?;
//! for stage in STAGES {
//!     for i in 0..3 {
//!         sharded::map(&run, stage, ShardSpec::new(i, 3)?, &objective)?;
//!     }
//!     sharded::reduce(&run, stage, &objective)?;
//! }
//! let merged = sharded::scores(&run)?;
//! let solver = Solver::Ekfac { damping: 1e-3, fisher: Fisher::Sampled { seed: 5 } };
//! let whole = Influence::new(&objective, &theta, &solver)?.up_loss(&test)?;
//! for (m, w) in merged.iter().flatten().zip(whole.iter().flatten()) {
//!     assert!((m - w).abs() <= 1e-12 * w.abs().max(1.0));
//! }
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), xai_core::XaiError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use serde_json::json;
use xai_core::shard::{Array, Manifest, Mapped, Run, ShardSpec};
use xai_core::{Result, XaiError};
use xai_grad::DynTensor;

use crate::objective::{matrix, to_f64, vector};
use crate::solvers::{Eigenbasis, FactorSums, Fisher, InverseHvp, KfacSolver};
use crate::{Data, Objective};

/// The map/reduce stages, in order.
pub const STAGES: [&str; 3] = ["factors", "eigenvalues", "scores"];

/// The run's kind in its manifest.
pub const KIND: &str = "influence-ekfac";

/// Rows per chunk of per-example gradients in the `scores` map.
const CHUNK: usize = 256;

/// What an EK-FAC influence run computes, besides the objective's own settings.
#[derive(Clone, Debug, PartialEq)]
pub struct EkfacJob {
    /// How workers rebuild the objective (recorded in the manifest; e.g. `digits-mlp`).
    pub model: String,
    /// Damping δ added to every eigenvalue (with the objective's L2 strength).
    pub damping: f64,
    /// Labels sampled (seeded) or the exact expectation.
    pub fisher: Fisher,
}

/// Plan a run in `dir`: the manifest (job, objective sizes, seed, `shards`) and θ and the test
/// points, which every later step reads. Joining an existing folder of the same run is allowed
/// (a rerun); a folder of another run is refused.
pub fn plan(
    dir: &Path,
    job: &EkfacJob,
    objective: &Objective,
    theta: &Tensor<1>,
    test: &Data,
    shards: usize,
    seed: u64,
) -> Result<Run> {
    if !(job.damping.is_finite() && job.damping >= 0.0) {
        return Err(XaiError::Config(format!(
            "damping must be ≥ 0, got {}",
            job.damping
        )));
    }
    let n = objective.num_train();
    if shards == 0 || shards > n {
        return Err(XaiError::Config(format!(
            "--shards {shards}: between 1 and the {n} training rows"
        )));
    }
    let theta_v = to_f64(theta.clone())?;
    if theta_v.len() != objective.num_params() {
        return Err(XaiError::shape(
            "θ",
            format!("[{}]", objective.num_params()),
            &[theta_v.len()],
        ));
    }
    let test_shape = test.x.shape();
    let test_x = to_f64(test.x.clone().into_rows()?)?;
    let test_y: Vec<f64> = test.y.iter().map(|&y| y as f64).collect();
    let fingerprint = |v: &[f64]| {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        xai_core::shard::fingerprint(&bytes)
    };
    let config = json!({
        "model": job.model,
        "damping": job.damping,
        "fisher": match job.fisher {
            Fisher::Sampled { seed } => json!({"sampled": seed}),
            Fisher::Expected => json!("expected"),
        },
        "l2": objective.l2(),
        "loss": format!("{:?}", objective.loss()),
        "precision": format!("{:?}", objective.precision()),
        "parameters": objective.num_params(),
        "test_points": test.len(),
        "theta": fingerprint(&theta_v),
        "test": fingerprint(&test_x),
    });
    let run = Run::create(dir, Manifest::new(KIND, config, seed, shards, n))?;
    run.write_reduced(
        "plan",
        &[
            ("theta", Array::new(vec![theta_v.len()], theta_v)?),
            ("test_x", Array::new(test_shape, test_x)?),
            ("test_y", Array::new(vec![test_y.len()], test_y)?),
        ],
    )?;
    Ok(run)
}

/// The job a run was planned with.
pub fn job(run: &Run) -> Result<EkfacJob> {
    let m = run.manifest();
    if m.kind != KIND {
        return Err(XaiError::Config(format!(
            "{} holds a `{}` run, not `{KIND}`",
            run.dir().display(),
            m.kind
        )));
    }
    let c = &m.config;
    let bad = || XaiError::Config(format!("{}: malformed manifest", run.dir().display()));
    let fisher = match &c["fisher"] {
        v if v == "expected" => Fisher::Expected,
        v => Fisher::Sampled {
            seed: v["sampled"].as_u64().ok_or_else(bad)?,
        },
    };
    Ok(EkfacJob {
        model: c["model"].as_str().ok_or_else(bad)?.to_string(),
        damping: c["damping"].as_f64().ok_or_else(bad)?,
        fisher,
    })
}

/// One shard of `stage` (skipped when already complete).
pub fn map(run: &Run, stage: &str, shard: ShardSpec, objective: &Objective) -> Result<Mapped> {
    let job = job(run)?;
    check_objective(run, objective)?;
    if run.is_complete(stage, shard) {
        return Ok(Mapped::Skipped);
    }
    let theta = theta(run, objective)?;
    let rows = shard.rows(objective.num_train());
    if rows.is_empty() {
        return Err(XaiError::Config(format!(
            "shard {}/{} has no training rows",
            shard.index, shard.count
        )));
    }
    let arrays: Vec<(String, Array)> = match stage {
        "factors" => {
            let sums = KfacSolver::factor_sums(objective, &theta, job.fisher, rows)?;
            let mut out = Vec::new();
            for (l, f) in sums.into_iter().enumerate() {
                out.push((format!("a.{l}"), array2(f.a)?));
                out.push((format!("s.{l}"), array2(f.s)?));
                out.push((format!("tokens.{l}"), scalar(f.tokens as f64)));
            }
            out
        }
        "eigenvalues" => {
            let bases = read_bases(run, objective)?;
            KfacSolver::lambda_sums(objective, &theta, job.fisher, rows, &bases)?
                .into_iter()
                .enumerate()
                .map(|(l, t)| Ok((format!("lambda.{l}"), array2(t)?)))
                .collect::<Result<_>>()?
        }
        "scores" => {
            let reduced = run.read_reduced("eigenvalues")?;
            let s_test = to_matrix(get(&reduced, "s_test")?, objective)?;
            let train = objective
                .train()
                .select(&rows.clone().collect::<Vec<_>>())?;
            let grads = objective.per_example_grads(&theta, &train, CHUNK)?;
            // I_up,loss = −s_testᵀ ∇ℓ(z): [T, rows of this shard].
            vec![(
                "scores".into(),
                array2(s_test.matmul(grads.transpose()).neg())?,
            )]
        }
        other => return Err(unknown_stage(other)),
    };
    run.write_shard(stage, shard, &arrays)?;
    Ok(Mapped::Written)
}

/// The reduce step of `stage`: check that every shard is there and combine them; returns the
/// file written (`STAGE/reduced.safetensors`).
pub fn reduce(run: &Run, stage: &str, objective: &Objective) -> Result<PathBuf> {
    let job = job(run)?;
    check_objective(run, objective)?;
    if !STAGES.contains(&stage) {
        return Err(unknown_stage(stage));
    }
    let parts = run.gather(stage)?;
    match stage {
        "factors" => {
            let layers = count_layers(&parts[0], "a.")?;
            let mut sums = Vec::with_capacity(layers);
            for l in 0..layers {
                let (a, s) = (format!("a.{l}"), format!("s.{l}"));
                sums.push(FactorSums {
                    a: to_matrix(&sum(&parts, &a)?, objective)?,
                    s: to_matrix(&sum(&parts, &s)?, objective)?,
                    tokens: sum(&parts, &format!("tokens.{l}"))?.data[0] as usize,
                });
            }
            let bases = KfacSolver::eigenbases(objective, sums)?;
            let mut out = Vec::new();
            for (l, b) in bases.into_iter().enumerate() {
                out.push((format!("q_a.{l}"), array2(b.q_a)?));
                out.push((format!("alpha.{l}"), vector_array(b.alpha)));
                out.push((format!("q_s.{l}"), array2(b.q_s)?));
                out.push((format!("sigma.{l}"), vector_array(b.sigma)));
            }
            run.write_reduced(stage, &out)
        }
        "eigenvalues" => {
            let bases = read_bases(run, objective)?;
            let lambda = (0..bases.len())
                .map(|l| to_matrix(&sum(&parts, &format!("lambda.{l}"))?, objective))
                .collect::<Result<Vec<_>>>()?;
            let theta = theta(run, objective)?;
            let solver = KfacSolver::from_factors(
                objective,
                &theta,
                &bases,
                Some(lambda.clone()),
                job.damping,
            )?;
            let test = test_data(run, objective)?;
            let grads = objective.per_example_grads(&theta, &test, CHUNK)?;
            let s_test = solver.solve(&grads)?;
            xai_core::check_finite(&s_test, "s_test")?;
            let mut out: Vec<(String, Array)> = lambda
                .into_iter()
                .enumerate()
                .map(|(l, t)| Ok((format!("lambda.{l}"), array2(t)?)))
                .collect::<Result<_>>()?;
            out.push(("s_test".into(), array2(s_test)?));
            run.write_reduced(stage, &out)
        }
        _ => {
            let t = run.read_reduced("plan")?["test_y"].data.len();
            let mut rows = vec![Vec::with_capacity(objective.num_train()); t];
            for p in &parts {
                let block = get(p, "scores")?;
                let k = block.shape.get(1).copied().unwrap_or(0);
                if block.shape.first() != Some(&t) {
                    return Err(XaiError::shape(
                        "shard scores",
                        format!("[{t}, ·]"),
                        &block.shape,
                    ));
                }
                for (i, r) in rows.iter_mut().enumerate() {
                    r.extend_from_slice(&block.data[i * k..(i + 1) * k]);
                }
            }
            let n = objective.num_train();
            let flat: Vec<f64> = rows.into_iter().flatten().collect();
            run.write_reduced(stage, &[("scores", Array::new(vec![t, n], flat)?)])
        }
    }
}

/// The merged scores `I_up,loss`, `[T][n]`, once the `scores` stage is reduced.
pub fn scores(run: &Run) -> Result<Vec<Vec<f64>>> {
    let reduced = run.read_reduced("scores")?;
    let s = get(&reduced, "scores")?;
    let n = s.shape.get(1).copied().unwrap_or(0);
    Ok(s.data.chunks(n.max(1)).map(<[f64]>::to_vec).collect())
}

/// The test points recorded at [`plan`], as data on the objective's device.
pub fn test_data(run: &Run, objective: &Objective) -> Result<Data> {
    let plan = run.read_reduced("plan")?;
    let x = get(&plan, "test_x")?;
    let y = get(&plan, "test_y")?
        .data
        .iter()
        .map(|&v| v as usize)
        .collect::<Vec<_>>();
    let width = x.data.len() / y.len().max(1);
    let rows = matrix(
        &x.data,
        y.len(),
        width,
        objective.device(),
        objective.precision(),
    );
    Data::new(DynTensor::from_rows(rows, &x.shape)?, y)
}

/// The trained parameters recorded at [`plan`].
pub fn theta(run: &Run, objective: &Objective) -> Result<Tensor<1>> {
    let plan = run.read_reduced("plan")?;
    Ok(vector(
        &get(&plan, "theta")?.data,
        objective.device(),
        objective.precision(),
    ))
}

fn check_objective(run: &Run, objective: &Objective) -> Result<()> {
    let m = run.manifest();
    let params = m.config["parameters"].as_u64().unwrap_or(0) as usize;
    if params != objective.num_params() || m.rows != objective.num_train() {
        return Err(XaiError::Config(format!(
            "{}: the run is for {params} parameters and {} training rows, this model has {} and {}",
            run.dir().display(),
            m.rows,
            objective.num_params(),
            objective.num_train()
        )));
    }
    Ok(())
}

fn read_bases(run: &Run, objective: &Objective) -> Result<Vec<Eigenbasis>> {
    let r = run.read_reduced("factors")?;
    (0..count_layers(&r, "q_a.")?)
        .map(|l| {
            Ok(Eigenbasis {
                q_a: to_matrix(get(&r, &format!("q_a.{l}"))?, objective)?,
                alpha: get(&r, &format!("alpha.{l}"))?.data.clone(),
                q_s: to_matrix(get(&r, &format!("q_s.{l}"))?, objective)?,
                sigma: get(&r, &format!("sigma.{l}"))?.data.clone(),
            })
        })
        .collect()
}

fn count_layers(arrays: &BTreeMap<String, Array>, prefix: &str) -> Result<usize> {
    let n = arrays.keys().filter(|k| k.starts_with(prefix)).count();
    if n == 0 {
        return Err(XaiError::Config(format!(
            "no `{prefix}*` tensors in the stage's files"
        )));
    }
    Ok(n)
}

/// The element-wise sum of tensor `name` over the shards, in shard order.
fn sum(parts: &[BTreeMap<String, Array>], name: &str) -> Result<Array> {
    let first = get(&parts[0], name)?.clone();
    parts[1..].iter().try_fold(first, |mut acc, p| {
        let a = get(p, name)?;
        if a.shape != acc.shape {
            return Err(XaiError::shape(name, format!("{:?}", acc.shape), &a.shape));
        }
        acc.data.iter_mut().zip(&a.data).for_each(|(x, y)| *x += y);
        Ok(acc)
    })
}

fn get<'a>(arrays: &'a BTreeMap<String, Array>, name: &str) -> Result<&'a Array> {
    arrays.get(name).ok_or_else(|| {
        XaiError::Config(format!("tensor `{name}` is missing from the stage's files"))
    })
}

fn array2(t: Tensor<2>) -> Result<Array> {
    let dims = t.dims();
    Array::new(dims.to_vec(), to_f64(t)?)
}

fn vector_array(v: Vec<f64>) -> Array {
    Array {
        shape: vec![v.len()],
        data: v,
    }
}

fn scalar(v: f64) -> Array {
    Array {
        shape: vec![1],
        data: vec![v],
    }
}

fn to_matrix(a: &Array, objective: &Objective) -> Result<Tensor<2>> {
    match a.shape[..] {
        [r, c] => Ok(matrix(
            &a.data,
            r,
            c,
            objective.device(),
            objective.precision(),
        )),
        _ => Err(XaiError::shape("stage tensor", "[rows, cols]", &a.shape)),
    }
}

fn unknown_stage(stage: &str) -> XaiError {
    XaiError::Config(format!(
        "unknown stage `{stage}` (one of {})",
        STAGES.join(", ")
    ))
}
