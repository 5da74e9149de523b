//! `xai explain`: the report for a user's model.
//!
//! The model is a JSON file in the shared fixture format (`input_shape` plus `model`, a list of
//! linear/conv2d/pool/activation/flatten layers with their weights); it becomes ordinary burn-nn
//! layers. Inputs come from a CSV file (one flattened input per line), PNG images (one per file,
//! matching `input_shape` `[C, H, W]` with C = 1 or 3, scaled to [0, 1]), an NPY array
//! (`<f4`/`<f8`, C order, `[N, ...input_shape]`), or the model file's own `inputs`.
//! An `.onnx` file with one float input (an image or a feature vector) runs through
//! `xai_onnx::OnnxModel` with the same methods and report; Grad-CAM taps its last convolution.
//! An `.onnx` file whose inputs are all integers (token ids, attention mask) takes each input by
//! name (`--input input_ids=ids.npy`) and is attributed per token at its embedding lookup.
//! A model built in Rust uses the library directly instead (see the README).
//!
//! Every selected method runs on the whole batch; the report is `results.json` (every value with
//! settings and seed) and `index.html` (a heat map per input and method for images, a colour-coded
//! table for tabular inputs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Tensor};
use image::{Rgb, RgbImage};
use serde::Serialize;

use crate::demo::report::esc;
use crate::plots;
use crate::registry::{self, MethodConfig, MethodInfo, Model, ModelKind, Problem};
use xai_core::agnostic::{self as ag, References};
use xai_core::fixture::{Fixture, FixtureModel, LayerSpec, tensor_from_f64};
use xai_core::shard::ShardSpec;
use xai_core::{Result, Target, XaiError};
use xai_glassbox::trees::TreeEnsemble;
use xai_grad::methods::Explainable;
use xai_onnx::OnnxModel;

mod inputs;
mod onnx;
mod report;
mod trees;
mod weights;

use inputs::*;
pub use inputs::{read_csv, read_npy, read_png};
use onnx::*;
use report::*;
use trees::*;
pub use weights::{export, load_weights};

/// Methods `xai explain` runs on a model of `kind` when none are named: every registered
/// method that applies to it but LIME (its tabular sampling suits few features) and exact
/// Shapley (2^F coalitions: at most 20 features); name them to run them.
pub fn default_methods(kind: ModelKind) -> Vec<&'static str> {
    registry::METHODS
        .iter()
        .filter(|m| !matches!(m.name, "lime" | "shapley_exact"))
        .filter(|m| m.needs.tree_ensemble == (kind == ModelKind::Trees))
        .filter(|m| kind == ModelKind::Burn || !m.needs.gradients)
        .map(|m| m.name)
        .collect()
}

/// Settings of `xai explain`.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainOptions {
    /// The model file (fixture format; with `weights`, the architecture alone may be given).
    pub model: PathBuf,
    /// Weights saved with burn's `Module::save_file` (burnpack) from the model the file
    /// describes (`xai fixture export` writes one); they replace the file's weights.
    pub weights: Option<PathBuf>,
    /// Input files (CSV, NPY or PNGs); empty: the model file's `inputs`.
    pub inputs: Vec<PathBuf>,
    /// Inputs by graph input name (`input_ids` → ids.npy), for ONNX models with several inputs.
    pub named_inputs: Vec<(String, PathBuf)>,
    /// Target classes, or `None` for the predicted class.
    pub targets: Option<Vec<usize>>,
    /// Methods to run; empty: [`default_methods`] for the model's kind.
    pub methods: Vec<String>,
    /// Background rows (CSV or NPY) for the perturbation methods and interventional TreeSHAP;
    /// `None`: an all-zero reference per input.
    pub background: Option<PathBuf>,
    /// Output folder.
    pub out: PathBuf,
    /// Replace `out` even when it holds files xai did not write.
    pub force: bool,
    /// Device name.
    pub device: String,
    /// Seed of the stochastic methods.
    pub seed: u64,
    /// Refuse, before any method runs, a run whose estimated time exceeds this many seconds:
    /// the forward passes the selected methods need ([`MethodConfig::forward_passes_per_input`])
    /// times the measured time of one forward pass of the batch. `None`: no limit.
    pub max_seconds: Option<f64>,
    /// Only this shard of the input rows ([`ShardSpec::rows`]); `None`: every row. Per-input
    /// `targets` lists do not combine with a shard (give one class, or `predicted`).
    pub shard: Option<ShardSpec>,
}

/// One method's values on every input.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainResult {
    /// Method.
    pub method: String,
    /// Settings.
    pub settings: serde_json::Value,
    /// `[N, F]` values (flattened per input).
    pub values: Vec<Vec<f64>>,
    /// Completeness delta per input, where defined.
    pub completeness_delta: Option<Vec<f64>>,
}

/// What `results.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainReport {
    /// The options.
    pub options: ExplainOptions,
    /// Per-sample input shape.
    pub input_shape: Vec<usize>,
    /// Feature names of tabular inputs (from the model when it has them, else `x0`, `x1`, …).
    pub feature_names: Vec<String>,
    /// Inputs, flattened.
    pub inputs: Vec<Vec<f64>>,
    /// The model's outputs per input.
    pub outputs: Vec<Vec<f64>>,
    /// The explained class per input.
    pub targets: Vec<usize>,
    /// One entry per method that ran.
    pub results: Vec<ExplainResult>,
    /// The requested methods that could not run on this model, with the reason.
    pub skipped: Vec<Skipped>,
    /// For a token model, the input whose ids `inputs` holds (values are then per token).
    pub token_input: Option<String>,
    /// The rows explained, `[start, end)` of `total` (a shard of the batch, or all of it).
    pub rows: RowRange,
}

/// Which input rows a report covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RowRange {
    /// First row.
    pub start: usize,
    /// One past the last row.
    pub end: usize,
    /// Rows in the whole batch.
    pub total: usize,
}

impl RowRange {
    fn all(n: usize) -> RowRange {
        RowRange {
            start: 0,
            end: n,
            total: n,
        }
    }
}

/// Keep this run's shard of the `f`-wide rows in `host` (all rows without a shard).
fn take_shard(options: &ExplainOptions, host: Vec<f64>, f: usize) -> Result<(Vec<f64>, RowRange)> {
    let total = host.len() / f.max(1);
    let Some(spec) = options.shard else {
        return Ok((host, RowRange::all(total)));
    };
    if options.targets.as_ref().is_some_and(|t| t.len() > 1) {
        return Err(XaiError::Config(
            "a per-input --targets list does not combine with shards: give one class or \
             `predicted`"
                .into(),
        ));
    }
    let rows = spec.rows(total);
    if rows.is_empty() {
        return Err(XaiError::Config(format!(
            "shard {}/{} of {total} input rows is empty: use at most {total} shards",
            spec.index, spec.count
        )));
    }
    let range = RowRange {
        start: rows.start,
        end: rows.end,
        total,
    };
    Ok((host[rows.start * f..rows.end * f].to_vec(), range))
}

/// A requested method that does not apply to the model.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// Canonical name.
    pub method: String,
    /// Why it did not run.
    pub reason: String,
}

fn parse_err(path: &Path, message: impl Into<String>) -> XaiError {
    XaiError::Parse {
        file: path.display().to_string(),
        message: message.into(),
    }
}

/// The requested methods, or the defaults for `kind`.
fn methods_for(options: &ExplainOptions, kind: ModelKind) -> Result<Vec<&'static MethodInfo>> {
    if options.methods.is_empty() {
        return default_methods(kind)
            .into_iter()
            .map(registry::lookup)
            .collect();
    }
    options
        .methods
        .iter()
        .map(|m| registry::lookup(m))
        .collect()
}

/// Run `xai explain`.
pub fn run(options: &ExplainOptions) -> Result<ExplainReport> {
    // An unusable --out fails before any computation; the report appears whole at the end.
    let staging = crate::output::Staging::open_for(&options.out, options.force)?;
    let report = compute(options)?;
    write(&report, staging.path())?;
    staging.finish()?;
    Ok(report)
}

/// What [`run`] computes, without writing the report (`options.out` is not touched).
pub fn compute(options: &ExplainOptions) -> Result<ExplainReport> {
    if let Some(limit) = options.max_seconds
        && !(limit.is_finite() && limit > 0.0)
    {
        return Err(XaiError::Config(format!(
            "the time limit must be a positive number of minutes (got {} min)",
            limit / 60.0
        )));
    }
    if is_tree_model(&options.model)? {
        return run_trees(options);
    }
    if is_onnx_model(&options.model) {
        return run_onnx(options);
    }
    run_burn(options)
}

/// A model in the fixture format (with `--weights`, the architecture alone).
fn run_burn(options: &ExplainOptions) -> Result<ExplainReport> {
    let methods = methods_for(options, ModelKind::Burn)?;
    let fx = Fixture::load(&options.model)?;
    if fx.architecture_only() && options.weights.is_none() {
        return Err(parse_err(
            &options.model,
            "is an architecture (`weight_shape`, no weights): give its weights with --weights",
        ));
    }
    if fx.layers.is_empty() || fx.input_shape.is_empty() {
        return Err(parse_err(
            &options.model,
            "needs `input_shape` and a non-empty `model` layer list",
        ));
    }
    let device = xai_core::parse_device(&options.device)?;
    let dt = run_dtype(options);
    let mut model = fx.model(&device, dt)?;
    if let Some(w) = &options.weights {
        model = load_weights(model, w, &device, dt)?;
    }
    model.validate()?;
    let f = fx.features();
    let host = load_inputs(options, Some(&fx.inputs.data), &fx.input_shape, f)?;
    let (host, rows) = take_shard(options, host, f)?;
    let flat = FlatInputs::new(host, fx.input_shape.clone(), rows, &device, dt, |x| {
        Ok(model.forward(x))
    })?;
    let conv = fx.last_conv_layer();
    let report = explain_flat(
        options,
        &methods,
        model,
        |m: &FixtureModel, x: Tensor<2>| m.forward(x),
        flat,
        conv,
        &device,
    )?;
    Ok(report)
}

/// A batch of flat `[N, F]` inputs, on the host and as a tensor, with the model's outputs.
struct FlatInputs {
    host: Vec<f64>,
    x: Tensor<2>,
    outputs: Vec<f64>,
    input_shape: Vec<usize>,
    rows: RowRange,
    /// Seconds one forward pass of the batch took (for the time estimate).
    forward_seconds: f64,
}

impl FlatInputs {
    /// The batch `host` (`[N, F]` row-major) on `device` with one timed forward pass.
    fn new(
        host: Vec<f64>,
        input_shape: Vec<usize>,
        rows: RowRange,
        device: &burn::tensor::Device,
        dt: DType,
        forward: impl FnOnce(Tensor<2>) -> Result<Tensor<2>>,
    ) -> Result<FlatInputs> {
        let f: usize = input_shape.iter().product();
        let n = host.len() / f.max(1);
        let x: Tensor<2> = tensor_from_f64(&host, vec![n, f], device, dt);
        let clock = std::time::Instant::now();
        let outputs = xai_core::tensor_to_vec_f64(forward(x.clone())?)?;
        Ok(FlatInputs {
            host,
            x,
            outputs,
            input_shape,
            rows,
            forward_seconds: clock.elapsed().as_secs_f64(),
        })
    }
}

/// The precision of the replays for the run's dtype.
fn precision_of(dt: DType) -> xai_grad::Precision {
    if dt == DType::F64 {
        xai_grad::Precision::F64
    } else {
        xai_grad::Precision::F32
    }
}

/// The dtype of a run: f64 on flex (reference precision), f32 on the accelerators.
fn run_dtype(options: &ExplainOptions) -> DType {
    if options.device == "flex" {
        DType::F64
    } else {
        DType::F32
    }
}

/// Every selected method on a burn model over flat inputs (a fixture-format model or an ONNX
/// import), gathered into the report.
fn explain_flat<M>(
    options: &ExplainOptions,
    methods: &[&'static MethodInfo],
    model: M,
    forward: fn(&M, Tensor<2>) -> Tensor<2>,
    inputs: FlatInputs,
    conv: Option<String>,
    device: &burn::tensor::Device,
) -> Result<ExplainReport>
where
    M: burn::module::Module + Clone + Send + Sync + 'static,
{
    let FlatInputs {
        host,
        x,
        outputs,
        input_shape,
        rows,
        forward_seconds,
    } = inputs;
    let f: usize = input_shape.iter().product();
    let n = host.len() / f;
    let dt = x.dtype();
    let k = outputs.len() / n;
    let targets = resolve_targets(options.targets.as_deref(), &outputs, n)?;
    let target = Target::Classes(targets.clone());
    let ex = Explainable::new(model, forward, device.clone()).with_precision(precision_of(dt));
    let zeros = Tensor::<2>::zeros([n, f], (device, dt));
    let black_box = ex.black_box(&[f], dt)?;
    let references = match &options.background {
        Some(b) => load_background(b, f)?,
        None => References::PerInput(vec![0.0; n * f]),
    };
    let problem = Problem {
        model: Model::Burn(&ex),
        black_box: &black_box,
        x: &x,
        rows: &host,
        baseline: &zeros,
        references: &references,
        lime_stats: None,
        target: &target,
        input_shape: &input_shape,
        conv_layer: conv,
    };
    let limit = options.max_seconds.map(|limit| TimeLimit {
        forward_seconds,
        limit,
    });
    let (results, skipped) = run_methods(methods, &problem, ModelKind::Burn, options.seed, limit)?;
    Ok(ExplainReport {
        options: options.clone(),
        input_shape: input_shape.clone(),
        feature_names: (0..f).map(|j| format!("x{j}")).collect(),
        inputs: host.chunks(f).map(|c| c.to_vec()).collect(),
        outputs: outputs.chunks(k).map(|c| c.to_vec()).collect(),
        targets,
        results,
        skipped,
        token_input: None,
        rows,
    })
}

/// `seconds` as a person reads it: `0.42 ms`, `40 s`, `12 min`, `3.5 h`.
pub fn duration(seconds: f64) -> String {
    if seconds < 0.1 {
        format!("{:.2} ms", seconds * 1e3)
    } else if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// A time limit on a run: the limit and the measured time of one forward pass of the batch.
#[derive(Clone, Copy, Debug)]
struct TimeLimit {
    forward_seconds: f64,
    limit: f64,
}

/// Run every method on `problem`, skipping (with the reason) those that cannot run on it; an
/// error when none could. Progress bars show on a terminal only.
fn run_methods<const D: usize>(
    methods: &[&'static MethodInfo],
    problem: &Problem<'_, D>,
    kind: ModelKind,
    seed: u64,
    limit: Option<TimeLimit>,
) -> Result<(Vec<ExplainResult>, Vec<Skipped>)> {
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let f: usize = problem.input_shape.iter().product();
    let conv = problem.conv_layer.clone();
    let mut configs = Vec::new();
    let mut skipped = Vec::new();
    for m in methods {
        if let Some(why) = m.unavailable(kind, problem.input_shape, conv.as_deref()) {
            skipped.push(Skipped {
                method: m.name.to_string(),
                reason: why,
            });
            continue;
        }
        let mut config = MethodConfig::for_problem(m, seed, problem)?.with_progress(progress);
        // Perturbation methods on images move patches of pixels (at most 8 × 8 of them), not
        // single pixels: thousands of pixels would take thousands of coalitions or forwards.
        if let &[c, h, w] = problem.input_shape {
            let patches = || ag::FeatureGroups::image_patches([c, h, w], h.max(w).div_ceil(8));
            match &mut config {
                MethodConfig::KernelShap(k) if k.groups.is_none() => k.groups = Some(patches()?),
                MethodConfig::FeatureAblation(a) if a.groups.is_none() => {
                    a.groups = Some(patches()?)
                }
                _ => {}
            }
        }
        configs.push(config);
    }
    if let Some(t) = limit {
        let passes: f64 = configs.iter().map(|c| c.forward_passes_per_input(f)).sum();
        let estimate = passes * t.forward_seconds;
        if estimate > t.limit {
            let each: Vec<String> = configs
                .iter()
                .map(|c| format!("{} {:.0}", c.name(), c.forward_passes_per_input(f)))
                .collect();
            return Err(XaiError::Config(format!(
                "the selected methods need about {passes:.0} forward passes of the batch \
                 ({}), about {} at {} each, over the limit of {}: choose fewer --methods, \
                 explain fewer inputs (or split them with --shards), or raise --max-minutes",
                each.join(", "),
                duration(estimate),
                duration(t.forward_seconds),
                duration(t.limit)
            )));
        }
    }
    for s in &skipped {
        eprintln!("xai explain: {} skipped: {}", s.method, s.reason);
    }
    let mut results = Vec::new();
    for config in &configs {
        let e = registry::run(config, problem)?;
        results.push(ExplainResult {
            method: e.method.to_string(),
            settings: e.settings,
            values: e.values.chunks(f).map(|c| c.to_vec()).collect(),
            completeness_delta: e.completeness_delta,
        });
    }
    if results.is_empty() {
        let what: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} ({})", s.method, s.reason))
            .collect();
        return Err(XaiError::Config(format!(
            "no method could run on this model: {}",
            what.join("; ")
        )));
    }
    Ok((results, skipped))
}
