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

/// Rows of a CSV file read with the `csv` crate: the delimiter is the one of `,`, `;` and tab
/// that the first row uses most; quoted numbers are numbers; `#` lines are comments; a first row
/// in which no field is a number is a header; an empty field (or `NaN`) is a missing value, NaN
/// (tree ensembles route it; other models refuse it). Any other field that is not a number is an
/// error naming its line and column (a typo in the first row is not taken for a header).
pub fn read_csv(path: &Path, features: usize) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|&d| first.bytes().filter(|&b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| parse_err(path, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cells: Vec<std::result::Result<f64, _>> = record
            .iter()
            .map(|c| {
                if c.is_empty() {
                    Ok(f64::NAN)
                } else {
                    c.parse::<f64>()
                }
            })
            .collect();
        if rows == 0 && out.is_empty() && cells.iter().all(|c| c.is_err()) {
            continue; // a header
        }
        if let Some(col) = cells.iter().position(|c| c.is_err()) {
            return Err(parse_err(
                path,
                format!(
                    "line {line}, column {}: `{}` is not a number",
                    col + 1,
                    record.get(col).unwrap_or_default()
                ),
            ));
        }
        if cells.len() != features {
            return Err(parse_err(
                path,
                format!(
                    "line {line}: {} values, the model takes {features}",
                    cells.len()
                ),
            ));
        }
        out.extend(cells.into_iter().flatten());
        rows += 1;
    }
    if out.is_empty() {
        return Err(XaiError::EmptyBatch(format!(
            "{} has no rows",
            path.display()
        )));
    }
    Ok(out)
}

/// An NPY array of little-endian f32, f64, i32, i64 or u8 in C order; returns (shape, values).
///
/// Hand-written: the format is a 10-byte preamble and a Python-dict header; a crate for it would
/// bring ndarray along.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path).map_err(XaiError::io(path))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(parse_err(path, "not an NPY file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(parse_err(path, format!("unsupported NPY version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| parse_err(path, "truncated header"))?,
    )
    .map_err(|_| parse_err(path, "header is not text"))?;
    if header.contains("'fortran_order': True") {
        return Err(parse_err(
            path,
            "Fortran-ordered arrays are not supported; save with C order",
        ));
    }
    // Floats, or integers (token ids, masks; exact in f64 below 2^53).
    let kinds: [(&str, usize); 5] = [
        ("'<f8'", 8),
        ("'<f4'", 4),
        ("'<i8'", 8),
        ("'<i4'", 4),
        ("'|u1'", 1),
    ];
    let Some(&(descr, width)) = kinds.iter().find(|(d, _)| header.contains(d)) else {
        return Err(parse_err(
            path,
            "dtype must be little-endian float32/float64 or int32/int64 (or uint8)",
        ));
    };
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| parse_err(path, "no shape in header"))?;
    let shape: Vec<usize> = shape_text
        .trim_start_matches([' ', '('])
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| parse_err(path, "bad shape"))
        })
        .collect::<Result<_>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    if data.len() != count * width {
        return Err(parse_err(
            path,
            format!("{} data bytes for shape {shape:?}", data.len()),
        ));
    }
    let values = data
        .chunks(width)
        .map(|c| match descr {
            "'<f8'" => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            "'<f4'" => f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
            "'<i8'" => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            "'<i4'" => f64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))),
            _ => f64::from(c[0]),
        })
        .collect();
    Ok((shape, values))
}

/// A PNG as `[C, H, W]` values in [0, 1] (C = 1 grey, C = 3 RGB), checked against `shape`.
pub fn read_png(path: &Path, shape: &[usize]) -> Result<Vec<f64>> {
    let &[c, h, w] = shape else {
        return Err(XaiError::shape(
            "PNG input",
            "a model with input_shape [C, H, W]",
            shape,
        ));
    };
    let img = image::open(path).map_err(|e| XaiError::writing(path, e))?;
    if (img.height() as usize, img.width() as usize) != (h, w) {
        return Err(parse_err(
            path,
            format!(
                "image is {}×{}, the model takes {h}×{w}",
                img.width(),
                img.height()
            ),
        ));
    }
    match c {
        1 => Ok(img
            .to_luma8()
            .pixels()
            .map(|p| f64::from(p.0[0]) / 255.0)
            .collect()),
        3 => {
            let rgb = img.to_rgb8();
            Ok((0..3)
                .flat_map(|ch| rgb.pixels().map(move |p| f64::from(p.0[ch]) / 255.0))
                .collect::<Vec<_>>())
        }
        _ => Err(XaiError::shape("PNG input channels", "1 or 3", shape)),
    }
}

fn load_inputs(
    options: &ExplainOptions,
    own: Option<&[f64]>,
    input_shape: &[usize],
    features: usize,
) -> Result<Vec<f64>> {
    if options.inputs.is_empty() {
        return match own {
            Some(rows) if !rows.is_empty() => Ok(rows.to_vec()),
            _ => Err(XaiError::Config(
                "no --inputs given and the model file has no `inputs`".into(),
            )),
        };
    }
    let mut all = Vec::new();
    for p in &options.inputs {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "npy" => all.extend(read_rows(p, features)?),
            "png" => all.extend(read_png(p, input_shape)?),
            other => {
                return Err(parse_err(
                    p,
                    format!("unknown input format `.{other}` (csv, npy or png)"),
                ));
            }
        }
    }
    if all.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite(
            "inputs: a missing or infinite value (only tree ensembles take missing values)".into(),
        ));
    }
    Ok(all)
}

/// The explained output of each of `n` inputs: one class for all, one per input, or (`None`)
/// each input's largest output; every class checked against the `outputs.len() / n` outputs.
fn resolve_targets(requested: Option<&[usize]>, outputs: &[f64], n: usize) -> Result<Vec<usize>> {
    let k = outputs.len() / n.max(1);
    let targets: Vec<usize> = match requested {
        Some(t) if t.len() == 1 => vec![t[0]; n],
        Some(t) if t.len() == n => t.to_vec(),
        Some(t) => {
            return Err(XaiError::shape(
                "--targets",
                format!("1 or {n} classes"),
                &[t.len()],
            ));
        }
        None => outputs.chunks(k.max(1)).map(ag::argmax).collect(),
    };
    if let Some(&bad) = targets.iter().find(|&&t| t >= k) {
        return Err(XaiError::TargetOutOfRange {
            index: bad,
            classes: k,
        });
    }
    Ok(targets)
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

/// Whether `path` holds a tree ensemble (XGBoost JSON or LightGBM text) rather than a model in
/// the fixture format.
fn is_tree_model(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4096];
    let n = std::io::Read::read(
        &mut std::fs::File::open(path).map_err(XaiError::io(path))?,
        &mut head,
    )
    .map_err(XaiError::io(path))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let start = text.trim_start();
    Ok(start.starts_with("tree\n")
        || start.starts_with("tree\r\n")
        || (start.starts_with('{') && start[1..].trim_start().starts_with("\"learner\"")))
}

/// The header of a CSV file of `features` columns, if its first row is one (no field a number).
fn csv_header(path: &Path, features: usize) -> Option<Vec<String>> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let delimiter = [',', ';', '\t']
        .into_iter()
        .max_by_key(|&d| first.matches(d).count())?;
    let cells: Vec<String> = first
        .split(delimiter)
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect();
    let header = cells.len() == features && cells.iter().all(|c| c.parse::<f64>().is_err());
    header.then_some(cells)
}

/// Background rows for `features`-wide inputs, from a CSV or NPY file.
fn load_background(path: &Path, features: usize) -> Result<References> {
    let rows = read_rows(path, features)?;
    if rows.is_empty() {
        return Err(parse_err(path, "holds no background rows"));
    }
    Ok(References::Background {
        m: rows.len() / features,
        rows,
    })
}

/// Rows of `features` values from a CSV or NPY file.
fn read_rows(path: &Path, features: usize) -> Result<Vec<f64>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => read_csv(path, features),
        "npy" => {
            let (shape, v) = read_npy(path)?;
            if shape.iter().skip(1).product::<usize>() != features {
                return Err(XaiError::shape(
                    format!("{}", path.display()),
                    format!("[N, {features}]"),
                    &shape,
                ));
            }
            Ok(v)
        }
        other => Err(parse_err(
            path,
            format!("unknown row format `.{other}` (csv or npy)"),
        )),
    }
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
    let n = host.len() / f;
    let x: Tensor<2> = tensor_from_f64(&host, vec![n, f], &device, dt);
    let clock = std::time::Instant::now();
    let outputs = xai_core::tensor_to_vec_f64(model.forward(x.clone()))?;
    let forward_seconds = clock.elapsed().as_secs_f64();
    let conv = fx.last_conv_layer();
    let flat = FlatInputs {
        host,
        x,
        outputs,
        input_shape: fx.input_shape.clone(),
        rows,
        forward_seconds,
    };
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
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let limit = options.max_seconds.map(|limit| TimeLimit {
        forward_seconds,
        limit,
    });
    let (results, skipped) = run_methods(
        methods,
        &problem,
        ModelKind::Burn,
        options.seed,
        progress,
        limit,
    )?;
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

/// Whether `path` names an ONNX model (by its extension: ONNX files are protobuf, with no
/// magic number to sniff).
fn is_onnx_model(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The module path of the last convolution of an imported graph (its weight's initializer name
/// without the last segment), where Grad-CAM taps.
fn last_onnx_conv(model: &OnnxModel) -> Option<String> {
    model
        .conv_weights()
        .last()
        .and_then(|w| w.rsplit_once('.').map(|(m, _)| m.to_string()))
}

/// `xai explain` on an ONNX model with one float input (an image or feature vector): the same
/// methods and report as a fixture-format model.
fn run_onnx(options: &ExplainOptions) -> Result<ExplainReport> {
    let methods = methods_for(options, ModelKind::Burn)?;
    let device = xai_core::parse_device(&options.device)?;
    let dt = run_dtype(options);
    let model = OnnxModel::load(&options.model, &device, dt)?;
    if options.weights.is_some() {
        return Err(parse_err(
            &options.model,
            "is an ONNX model: it carries its own weights (drop --weights)",
        ));
    }
    if model.inputs().iter().all(|i| !i.is_float()) {
        return run_onnx_tokens(options, model, &device, dt);
    }
    if !options.named_inputs.is_empty() {
        return Err(XaiError::Config(
            "--input NAME=FILE is for models whose inputs are all integers (token ids, masks); \
             give a float input with --inputs"
                .into(),
        ));
    }
    let spec = model.float_input()?.clone();
    let input_shape = spec.concrete_shape()?;
    let f: usize = input_shape.iter().product();
    if options.inputs.is_empty() {
        return Err(XaiError::Config(format!(
            "an ONNX model needs --inputs for `{}` (CSV, NPY or PNG)",
            spec.name
        )));
    }
    let host = load_inputs(options, None, &input_shape, f)?;
    if host.is_empty() {
        return Err(XaiError::EmptyBatch("no inputs".into()));
    }
    let (host, rows) = take_shard(options, host, f)?;
    let n = host.len() / f;
    let x: Tensor<2> = tensor_from_f64(&host, vec![n, f], &device, dt);
    let clock = std::time::Instant::now();
    let outputs = xai_core::tensor_to_vec_f64(model.try_forward_flat(x.clone())?)?;
    let forward_seconds = clock.elapsed().as_secs_f64();
    let conv = last_onnx_conv(&model);
    let flat = FlatInputs {
        host,
        x,
        outputs,
        input_shape,
        rows,
        forward_seconds,
    };
    let report = explain_flat(
        options,
        &methods,
        model,
        |m: &OnnxModel, x: Tensor<2>| m.forward_flat(x),
        flat,
        conv,
        &device,
    )?;
    Ok(report)
}

/// Methods of token models: attributions at the token-embedding lookup, one value per token.
const TOKEN_METHODS: [&str; 4] = [
    "embedding_gradient_x_input",
    "layer_integrated_gradients",
    "attnlrp",
    "cp_lrp",
];

/// `xai explain` on an ONNX model whose inputs are all integers (token ids, attention mask):
/// every input given by name, attributions at the embedding of the token input (the baseline
/// replaces every id by 0, the padding id, and keeps the other inputs).
fn run_onnx_tokens(
    options: &ExplainOptions,
    model: OnnxModel,
    device: &burn::tensor::Device,
    dt: DType,
) -> Result<ExplainReport> {
    use burn::tensor::Int;
    use xai_grad::methods::attnlrp::{TransformerRules, token_attnlrp};
    use xai_grad::methods::integrated_gradients::IgConfig;
    use xai_grad::methods::text::{
        TokenExplainable, token_gradient_x_embedding, token_integrated_gradients,
    };
    if options.shard.is_some() {
        return Err(XaiError::Config(
            "shards split float inputs and tree-ensemble rows; token models run whole".into(),
        ));
    }
    let specs = model.inputs().to_vec();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let Some((token, vocab)) = model.token_input() else {
        return Err(parse_err(
            &options.model,
            "has integer inputs but no embedding lookup on an initializer to attribute at",
        ));
    };
    if !options.inputs.is_empty() && specs.len() > 1 {
        return Err(XaiError::Config(format!(
            "the model has {} inputs ({}): give each with --input NAME=FILE",
            specs.len(),
            names.join(", ")
        )));
    }
    for (name, _) in &options.named_inputs {
        if !names.contains(&name.as_str()) {
            return Err(XaiError::Config(format!(
                "the model has no input `{name}` (inputs: {})",
                names.join(", ")
            )));
        }
    }
    // Every input named before any file is read.
    let mut files = Vec::new();
    for spec in &specs {
        files.push(
            match options
                .named_inputs
                .iter()
                .find(|(name, _)| *name == spec.name)
            {
                Some((_, f)) => f.clone(),
                None if specs.len() == 1 && options.inputs.len() == 1 => options.inputs[0].clone(),
                None => {
                    return Err(XaiError::Config(format!(
                        "missing --input {}=FILE (the model's inputs: {})",
                        spec.name,
                        names.join(", ")
                    )));
                }
            },
        );
    }
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut n = None;
    let mut t = 0;
    for (k, (spec, file)) in specs.iter().zip(files).enumerate() {
        let shape = spec.concrete_shape()?;
        t = shape.iter().product();
        let values = read_rows(&file, t)?;
        if let Some(bad) = values.iter().find(|v| v.fract() != 0.0 || **v < 0.0) {
            return Err(parse_err(
                &file,
                format!("holds {bad}; `{}` takes non-negative integers", spec.name),
            ));
        }
        if k == token
            && let Some(id) = values.iter().find(|v| **v as usize >= vocab)
        {
            return Err(parse_err(
                &file,
                format!("token id {id} is outside the vocabulary (0..{vocab})"),
            ));
        }
        let count = values.len() / t.max(1);
        if n.is_some_and(|n| n != count) {
            return Err(parse_err(
                &file,
                format!("{count} rows, but the other inputs have {}", n.unwrap_or(0)),
            ));
        }
        n = Some(count);
        rows.push(values);
    }
    let n = n.unwrap_or(0);
    if n == 0 {
        return Err(XaiError::EmptyBatch("no input rows".into()));
    }
    let mut slices: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    let ids = xai_onnx::pack_ids(&slices, n, t, device)?;
    // The baseline: every token id replaced by the padding id 0, the other inputs kept.
    let padding = vec![0.0; n * t];
    slices[token] = &padding;
    let baseline = xai_onnx::pack_ids(&slices, n, t, device)?;
    let outputs = xai_core::tensor_to_vec_f64(model.try_forward_packed_ids(ids.clone())?)?;
    let classes = outputs.len() / n;
    let targets = resolve_targets(options.targets.as_deref(), &outputs, n)?;
    let target = Target::Classes(targets.clone());
    let precision = precision_of(dt);
    let ex = TokenExplainable::new(
        model,
        |m: &OnnxModel, ids: Tensor<3, Int>| m.forward_packed_ids(ids),
        device.clone(),
    )
    .with_precision(precision);
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    let requested: Vec<String> = if options.methods.is_empty() {
        TOKEN_METHODS.iter().map(|m| m.to_string()).collect()
    } else {
        options.methods.clone()
    };
    for m in &requested {
        let name = match m.as_str() {
            "embedding_gradient_x_input" | "input_x_gradient" => TOKEN_METHODS[0],
            "layer_integrated_gradients" | "integrated_gradients" | "ig" => TOKEN_METHODS[1],
            "attnlrp" | "lrp" => TOKEN_METHODS[2],
            "cp_lrp" => TOKEN_METHODS[3],
            other => {
                skipped.push(Skipped {
                    method: other.to_string(),
                    reason: "token models are attributed at the embedding lookup \
                             (embedding_gradient_x_input, layer_integrated_gradients, attnlrp, \
                             cp_lrp)"
                        .into(),
                });
                continue;
            }
        };
        let (r, settings) = if name == TOKEN_METHODS[0] {
            (
                token_gradient_x_embedding(&ex, &ids, &target)?,
                serde_json::json!({}),
            )
        } else if name == TOKEN_METHODS[2] || name == TOKEN_METHODS[3] {
            let rules = if name == TOKEN_METHODS[2] {
                TransformerRules::AttnLrp
            } else {
                TransformerRules::CpLrp
            };
            (
                token_attnlrp(&ex, &ids, &target, rules)?,
                serde_json::json!({"form": "gradient × input with the transformer rules"}),
            )
        } else {
            let config = IgConfig::default();
            (
                token_integrated_gradients(&ex, &ids, &baseline, &target, &config)?,
                serde_json::json!({"n_steps": config.n_steps, "baseline": "token id 0 (padding), other inputs kept"}),
            )
        };
        results.push(ExplainResult {
            method: name.to_string(),
            settings: serde_json::json!({"layer": r.node, "config": settings}),
            values: r.per_token.chunks(t).map(|c| c.to_vec()).collect(),
            completeness_delta: r.delta,
        });
    }
    if results.is_empty() {
        return Err(XaiError::Config(
            "no method could run on this token model: use embedding_gradient_x_input, \
             layer_integrated_gradients, attnlrp or cp_lrp"
                .into(),
        ));
    }
    Ok(ExplainReport {
        options: options.clone(),
        input_shape: vec![t],
        feature_names: (0..t).map(|j| format!("{j}")).collect(),
        inputs: rows[token].chunks(t).map(|c| c.to_vec()).collect(),
        outputs: outputs.chunks(classes).map(|c| c.to_vec()).collect(),
        targets,
        results,
        skipped,
        token_input: Some(specs[token].name.clone()),
        rows: RowRange::all(rows[token].len() / t.max(1)),
    })
}

/// `xai explain` on a tree ensemble: rows from CSV or NPY (NaN or an empty CSV field marks a
/// missing value), TreeSHAP and the perturbation methods through the registry.
fn run_trees(options: &ExplainOptions) -> Result<ExplainReport> {
    let methods = methods_for(options, ModelKind::Trees)?;
    let trees = TreeEnsemble::load(&options.model)?;
    if options.weights.is_some() {
        return Err(parse_err(
            &options.model,
            "is a tree ensemble: it carries its own weights (drop --weights)",
        ));
    }
    if options.inputs.is_empty() {
        return Err(XaiError::Config(
            "a tree ensemble needs --inputs (rows in CSV or NPY)".into(),
        ));
    }
    let f = trees.features();
    let mut host = Vec::new();
    for p in &options.inputs {
        host.extend(read_rows(p, f)?);
    }
    if host.iter().any(|v| v.is_infinite()) {
        return Err(XaiError::NonFinite(
            "inputs: an infinite value (NaN marks a missing value)".into(),
        ));
    }
    if host.is_empty() {
        return Err(XaiError::EmptyBatch("no input rows".into()));
    }
    let (host, rows) = take_shard(options, host, f)?;
    let n = host.len() / f;
    let margins = trees.margins(&host)?;
    let k = trees.outputs();
    // The model's own feature names, else the inputs' CSV header, else f0, f1, … (XGBoost's and
    // LightGBM's placeholders, `f{j}` and `Column_{j}`, are not names)
    let default_names = (0..f).all(|j| {
        let n = &trees.feature_names()[j];
        *n == format!("f{j}") || *n == format!("Column_{j}")
    });
    let feature_names = match options.inputs.first().and_then(|p| csv_header(p, f)) {
        Some(header) if default_names => header,
        _ => trees.feature_names().to_vec(),
    };
    // one output (binary log-odds, regression): output 0; multiclass: the largest margin
    let targets = resolve_targets(options.targets.as_deref(), &margins, n)?;
    let references = match &options.background {
        Some(b) => load_background(b, f)?,
        None => References::PerInput(vec![0.0; n * f]),
    };
    // The gradient methods never run here; the tensors only complete the problem.
    let device = burn::tensor::Device::flex();
    let x: Tensor<2> = tensor_from_f64(&host, vec![n, f], &device, DType::F64);
    let zeros = Tensor::<2>::zeros([n, f], (&device, DType::F64));
    let target = Target::Classes(targets.clone());
    let input_shape = [f];
    let problem = Problem::<2> {
        model: Model::Trees(&trees),
        black_box: &trees,
        x: &x,
        rows: &host,
        baseline: &zeros,
        references: &references,
        lime_stats: None,
        target: &target,
        input_shape: &input_shape,
        conv_layer: None,
    };
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (results, skipped) = run_methods(
        &methods,
        &problem,
        ModelKind::Trees,
        options.seed,
        progress,
        None,
    )?;
    let report = ExplainReport {
        options: options.clone(),
        input_shape: input_shape.to_vec(),
        feature_names,
        inputs: host.chunks(f).map(|c| c.to_vec()).collect(),
        outputs: margins.chunks(k).map(|c| c.to_vec()).collect(),
        targets,
        results,
        skipped,
        token_input: None,
        rows,
    };
    Ok(report)
}

/// Run every method on `problem`, skipping (with the reason) those that cannot run on it; an
/// error when none could.
/// `seconds` as a person reads it: `0.42 ms`, `40 s`, `12 min`, `3.5 h`.
fn duration(seconds: f64) -> String {
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

fn run_methods<const D: usize>(
    methods: &[&'static MethodInfo],
    problem: &Problem<'_, D>,
    kind: ModelKind,
    seed: u64,
    progress: bool,
    limit: Option<TimeLimit>,
) -> Result<(Vec<ExplainResult>, Vec<Skipped>)> {
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

/// Inputs that get their own waterfall and force plots.
const PLOTTED_INPUTS: usize = 10;

/// The plots of tabular attributions: per method a beeswarm summary and the dependence plot of
/// its most important feature; per input (the first [`PLOTTED_INPUTS`]) a waterfall of each
/// method and a force plot of the first. Writes the SVGs to `img_dir` and their section into `h`.
fn plot_rows(report: &ExplainReport, img_dir: &Path, h: &mut String) -> Result<()> {
    let names = &report.feature_names;
    let save = |name: String, svg: String| -> Result<()> {
        let p = img_dir.join(name);
        std::fs::write(&p, svg).map_err(XaiError::io(&p))
    };
    h.push_str("<h2>Summary</h2>\n");
    for r in &report.results {
        let m = &r.method;
        save(
            format!("{m}_summary.svg"),
            plots::summary_svg(&r.values, &report.inputs, names, 20)?,
        )?;
        let _ = write!(
            h,
            "<h3>{}</h3><img class=\"plot\" src=\"img/{}_summary.svg\" alt=\"{} summary\">",
            esc(m),
            esc(m),
            esc(m)
        );
        if let Some(j) = plots::top_feature(&r.values) {
            save(
                format!("{m}_dependence.svg"),
                plots::dependence_svg(&r.values, &report.inputs, &names[j], j)?,
            )?;
            let _ = writeln!(
                h,
                "<img class=\"plot\" src=\"img/{}_dependence.svg\" alt=\"{} dependence on {}\">",
                esc(m),
                esc(m),
                esc(&names[j])
            );
        }
        for (i, values) in r.values.iter().enumerate().take(PLOTTED_INPUTS) {
            let output = report.outputs[i][report.targets[i]];
            let base = output - values.iter().sum::<f64>();
            let input = &report.inputs[i];
            save(
                format!("{m}_waterfall_{i}.svg"),
                plots::waterfall_svg(base, values, input, names, 10)?,
            )?;
            if std::ptr::eq(r, &report.results[0]) {
                save(
                    format!("{m}_force_{i}.svg"),
                    plots::force_svg(base, values, names)?,
                )?;
            }
        }
    }
    Ok(())
}

/// Heat map of one image's attribution (summed over channels) over its grey/colour picture.
/// Replace the model's parameters with those of a burnpack file, keeping its device and dtype.
pub fn load_weights(
    model: FixtureModel,
    path: &Path,
    device: &burn::tensor::Device,
    dtype: DType,
) -> Result<FixtureModel> {
    use burn::module::Module;
    if !path.is_file() {
        return Err(XaiError::Config(format!(
            "weights file {} not found",
            path.display()
        )));
    }
    let loaded = model.try_load_file(path).map_err(|e| {
        XaiError::Config(format!(
            "cannot load weights from {} into this architecture: {}",
            path.display(),
            one_line(&e.to_string())
        ))
    })?;
    // A file written in f32 loads as f32: bring every parameter to the run's device and dtype.
    struct Cast<'a>(&'a burn::tensor::Device, DType);
    impl burn::module::ModuleMapper for Cast<'_> {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let (id, t, mapper) = param.consume();
            burn::module::Param::from_mapped_value(id, t.to_device(self.0).cast(self.1), mapper)
        }
    }
    Ok(loaded.map(&mut Cast(device, dtype)))
}

/// Write a fixture's model as burnpack weights (f32, flex) and an architecture-only JSON file
/// (its layers with `weight_shape` instead of weights, its `input_shape` and `inputs`).
pub fn export(fixture: &Path, weights: &Path, architecture: &Path) -> Result<()> {
    use burn::module::Module;
    let fx = Fixture::load(fixture)?;
    if fx.layers.is_empty() {
        return Err(parse_err(fixture, "has no `model` layers to export"));
    }
    let text = std::fs::read_to_string(fixture).map_err(XaiError::io(fixture))?;
    let raw: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| parse_err(fixture, e.to_string()))?;
    let layers: Vec<serde_json::Value> = fx
        .layers
        .iter()
        .zip(raw["model"].as_array().into_iter().flatten())
        .map(|(spec, l)| match spec {
            LayerSpec::Linear { weight, .. } | LayerSpec::Conv2d { weight, .. } => {
                let mut l = l.clone();
                if let Some(o) = l.as_object_mut() {
                    o.remove("weight");
                    o.remove("bias");
                    o.insert("weight_shape".into(), serde_json::json!(weight.shape));
                }
                l
            }
            _ => l.clone(),
        })
        .collect();
    let mut arch = serde_json::json!({
        "name": format!("{} (architecture)", fx.name),
        "input_shape": fx.input_shape,
        "model": layers,
    });
    if let Some(inputs) = raw.get("inputs") {
        arch["inputs"] = inputs.clone();
    }
    let model = fx.model(&burn::tensor::Device::flex(), DType::F32)?;
    model.save_file(weights).map_err(|e| {
        XaiError::Config(format!(
            "cannot write {}: {}",
            weights.display(),
            one_line(&e.to_string())
        ))
    })?;
    std::fs::write(
        architecture,
        serde_json::to_string_pretty(&arch).map_err(|e| XaiError::writing(architecture, e))?,
    )
    .map_err(XaiError::io(architecture))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn heat(input: &[f64], values: &[f64], shape: &[usize]) -> RgbImage {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let zoom = (256 / h.max(w)).max(1) as u32;
    let hw = h * w;
    let v: Vec<f64> = (0..hw)
        .map(|p| (0..c).map(|ch| values[ch * hw + p]).sum())
        .collect();
    let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    RgbImage::from_fn(w as u32 * zoom, h as u32 * zoom, |x, y| {
        let p = (y / zoom) as usize * w + (x / zoom) as usize;
        let base: Vec<f64> = (0..3)
            .map(|ch| input[(if c == 3 { ch } else { 0 }) * hw + p].clamp(0.0, 1.0) * 255.0)
            .collect();
        let a = if max > 0.0 {
            (v[p].abs() / max).powf(0.8) * 0.85
        } else {
            0.0
        };
        let heat = if v[p] >= 0.0 {
            [230.0, 30.0, 30.0]
        } else {
            [30.0, 80.0, 230.0]
        };
        Rgb([0, 1, 2].map(|ch| (base[ch] * (1.0 - a) + heat[ch] * a) as u8))
    })
}

/// Inputs shown on the report's first page; the rest go to linked pages of [`ROWS_PER_PAGE`].
const FIRST_PAGE: usize = 100;
/// Inputs per additional page.
const ROWS_PER_PAGE: usize = 500;

const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}table{border-collapse:collapse;margin:1em 0}img{image-rendering:pixelated;width:128px}img.plot{image-rendering:auto;width:auto;max-width:100%;display:block;margin:.5em 0}</style>";

fn write(report: &ExplainReport, out: &Path) -> Result<()> {
    let img_dir = out.join("img");
    std::fs::create_dir_all(&img_dir).map_err(XaiError::io(&img_dir))?;
    let json_path = out.join("results.json");
    let json =
        serde_json::to_string_pretty(report).map_err(|e| XaiError::writing(&json_path, e))?;
    std::fs::write(&json_path, json).map_err(XaiError::io(&json_path))?;
    let image = report.input_shape.len() == 3 && matches!(report.input_shape[0], 1 | 3);
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>xai explain</title>{STYLE}</head><body>\n"
    );
    let n = report.inputs.len();
    let _ = writeln!(
        h,
        "<h1>xai explain: {}</h1><p>{n} inputs of shape {:?}; every value is in <a href=\"results.json\">results.json</a>.</p>",
        esc(&report.options.model.display().to_string()),
        report.input_shape
    );
    for s in &report.skipped {
        let _ = writeln!(
            h,
            "<p>{} was skipped: {}.</p>",
            esc(&s.method),
            esc(&s.reason)
        );
    }
    if !image && report.token_input.is_none() {
        plot_rows(report, &img_dir, &mut h)?;
    }
    // Large batches: the first inputs here, the rest on linked pages, so no page grows with N.
    let pages: Vec<(usize, usize)> = (FIRST_PAGE..n)
        .step_by(ROWS_PER_PAGE)
        .map(|lo| (lo, (lo + ROWS_PER_PAGE).min(n)))
        .collect();
    if !pages.is_empty() {
        let rows_dir = out.join("rows");
        std::fs::create_dir_all(&rows_dir).map_err(XaiError::io(&rows_dir))?;
        h.push_str("<p>Inputs beyond the first ");
        let _ = write!(h, "{FIRST_PAGE}: ");
        let links: Vec<String> = pages
            .iter()
            .map(|&(lo, hi)| format!("<a href=\"rows/inputs_{lo}.html\">{lo}–{}</a>", hi - 1))
            .collect();
        h.push_str(&links.join(", "));
        h.push_str("</p>\n");
        for &(lo, hi) in &pages {
            let mut page = format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>xai explain: inputs {lo}–{}</title>{STYLE}</head><body>\n<p><a href=\"../index.html\">report</a></p>\n",
                hi - 1
            );
            for i in lo..hi {
                page.push_str(&input_section(report, &img_dir, "../img", image, i)?);
            }
            page.push_str("</body></html>\n");
            let p = rows_dir.join(format!("inputs_{lo}.html"));
            std::fs::write(&p, page).map_err(XaiError::io(&p))?;
        }
    }
    for i in 0..n.min(FIRST_PAGE) {
        h.push_str(&input_section(report, &img_dir, "img", image, i)?);
    }
    h.push_str("</body></html>\n");
    let index = out.join("index.html");
    std::fs::write(&index, h).map_err(XaiError::io(&index))
}

/// The report section of input `i`: its heat maps (images, written to `img_dir` and linked
/// through `img`) or its attribution table with its plots (rows).
fn input_section(
    report: &ExplainReport,
    img_dir: &Path,
    img: &str,
    image: bool,
    i: usize,
) -> Result<String> {
    let mut h = String::new();
    let input = &report.inputs[i];
    let _ = writeln!(
        h,
        "<h2>input {i}: explained class {}</h2>",
        report.targets[i]
    );
    if image {
        h.push_str("<table><tr>");
        for r in &report.results {
            let p = img_dir.join(format!("{}_{i}.png", r.method));
            heat(input, &r.values[i], &report.input_shape)
                .save(&p)
                .map_err(|e| XaiError::writing(&p, e))?;
            let _ = write!(
                h,
                "<td>{}<br><img src=\"{img}/{}_{i}.png\" alt=\"{} of input {i}\"></td>",
                esc(&r.method),
                esc(&r.method),
                esc(&r.method)
            );
        }
        h.push_str("</tr></table>\n");
    } else {
        if i < PLOTTED_INPUTS && report.token_input.is_none() {
            // the first method's force plot, then every method's waterfall
            let plots = report
                .results
                .iter()
                .take(1)
                .map(|r| (r, "force"))
                .chain(report.results.iter().map(|r| (r, "waterfall")));
            for (r, file) in plots {
                let _ = write!(
                    h,
                    "<p>{} ({file})</p><img class=\"plot\" src=\"{img}/{}_{file}_{i}.svg\" alt=\"{file} plot of {} on input {i}\">",
                    esc(&r.method),
                    esc(&r.method),
                    esc(&r.method)
                );
            }
        }
        if let Some(name) = &report.token_input {
            let _ = writeln!(
                h,
                "<p>One column per position: <em>position: id</em> of <code>{}</code>.</p>",
                esc(name)
            );
        }
        h.push_str("<table><tr><th>method</th>");
        for (j, v) in input.iter().enumerate() {
            match &report.token_input {
                // position and token id
                Some(_) => {
                    let _ = write!(h, "<th>{j}: {v}</th>");
                }
                None => {
                    let _ = write!(h, "<th>{} = {v:.3}</th>", esc(&report.feature_names[j]));
                }
            }
        }
        h.push_str("</tr>\n");
        for r in &report.results {
            let max = r.values[i]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(1e-300);
            let _ = write!(h, "<tr><td>{}</td>", esc(&r.method));
            for v in &r.values[i] {
                let a = (v.abs() / max * 0.7 * 100.0).round() / 100.0;
                let colour = if *v >= 0.0 {
                    format!("rgba(230,30,30,{a})")
                } else {
                    format!("rgba(30,80,230,{a})")
                };
                let _ = write!(h, "<td style=\"background:{colour}\">{v:.4}</td>");
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    Ok(h)
}
