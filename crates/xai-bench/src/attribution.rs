//! `xai bench`: throughput of one attribution method on a fixture's model and inputs.
//!
//! Times the method on the fixture's whole input batch after one warm-up call (which also
//! captures the graph), repeats until at least `min_seconds` have passed, and reports the median
//! run. FLOP counts are the forward multiply-adds of the fixture's linear and conv layers times 2,
//! times 3 for a forward + backward pass.

use std::time::Instant;

use burn::tensor::{DType, Device, Tensor};
use serde::Serialize;

use xai::registry::{self, MethodConfig, Model, ModelKind, Problem};
use xai_core::agnostic::{References, TabularStats};
use xai_core::fixture::{Fixture, FixtureModel, LayerSpec};
use xai_core::{Result, Target, XaiError};
use xai_grad::Precision;
use xai_grad::methods::Explainable;

/// One measurement.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Method name.
    pub method: String,
    /// Device name.
    pub device: String,
    /// Inputs explained per run.
    pub inputs: usize,
    /// IG steps (or 1).
    pub steps: usize,
    /// Median seconds per run.
    pub seconds: f64,
    /// Inputs explained per second.
    pub inputs_per_second: f64,
    /// Runs timed.
    pub runs: usize,
    /// Achieved arithmetic rate, counting the model's forward+backward FLOPs.
    pub gflops: f64,
    /// Peak resident memory of the process during the timed runs (Linux; the peak is reset
    /// before each method through `/proc/self/clear_refs`), in MiB. Host memory only: a GPU's
    /// own memory is not counted.
    pub peak_rss_mib: Option<f64>,
}

/// Reset the kernel's peak-RSS counter for this process (Linux), so the next reading is the
/// peak since now. Returns whether it worked.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size in MiB since the last reset (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The most steps (IG points, noise samples, coalitions) one benchmark run may take.
pub const MAX_STEPS: usize = 100_000;

/// Benchmark several methods on several devices (`methods` may be `["all"]`, every method the
/// model supports). With `max_seconds`, each method is estimated first (see [`bench`]).
pub fn bench_table(
    fx: &Fixture,
    methods: &[String],
    steps: usize,
    devices: &[String],
    min_seconds: f64,
    max_seconds: Option<f64>,
) -> Result<Vec<BenchResult>> {
    // `all` leaves out what cannot run on this model (Grad-CAM without a conv layer, exact
    // Shapley beyond its coalition limit).
    let conv = fx.last_conv_layer();
    let all: Vec<String> = registry::METHODS
        .iter()
        .filter(|m| {
            m.unavailable(ModelKind::Burn, &fx.input_shape, conv.as_deref())
                .is_none()
        })
        .map(|m| m.name.to_string())
        .collect();
    let methods = if methods.iter().any(|m| m == "all") {
        &all
    } else {
        methods
    };
    let mut out = Vec::new();
    for d in devices {
        for m in methods {
            out.push(bench(fx, m, steps, d, min_seconds, max_seconds)?);
        }
    }
    Ok(out)
}

/// Forward FLOPs of one sample through the fixture's model (2 × multiply-adds).
pub fn forward_flops(fx: &Fixture) -> f64 {
    let mut shape = fx.input_shape.clone();
    let mut flops = 0.0;
    for l in &fx.layers {
        match l {
            LayerSpec::Linear { weight, .. } => {
                flops += 2.0 * weight.len() as f64;
                shape = vec![weight.shape[0]];
            }
            LayerSpec::Conv2d {
                weight,
                stride,
                padding,
                ..
            } => {
                let (o, i, kh, kw) = (
                    weight.shape[0],
                    weight.shape[1],
                    weight.shape[2],
                    weight.shape[3],
                );
                let (h, w) = (shape[1], shape[2]);
                let oh = (h + 2 * padding[0] - kh) / stride[0] + 1;
                let ow = (w + 2 * padding[1] - kw) / stride[1] + 1;
                flops += 2.0 * (o * i * kh * kw * oh * ow) as f64;
                shape = vec![o, oh, ow];
            }
            LayerSpec::MaxPool2d { kernel, stride } | LayerSpec::AvgPool2d { kernel, stride } => {
                let (h, w) = (shape[1], shape[2]);
                shape = vec![
                    shape[0],
                    (h - kernel[0]) / stride[0] + 1,
                    (w - kernel[1]) / stride[1] + 1,
                ];
            }
            LayerSpec::Flatten => shape = vec![shape.iter().product()],
            _ => {}
        }
    }
    flops
}

/// Benchmark `method` on the fixture.
///
/// With `max_seconds`, the run is estimated before it starts — the method's forward passes per
/// input ([`MethodConfig::forward_passes_per_input`]) times the measured time of one forward
/// pass of the batch, times the four calls at least (warm-up and three timed runs) — and
/// refused with the estimate when it is over the limit.
pub fn bench(
    fx: &Fixture,
    method: &str,
    steps: usize,
    device_name: &str,
    min_seconds: f64,
    max_seconds: Option<f64>,
) -> Result<BenchResult> {
    if steps == 0 || steps > MAX_STEPS {
        return Err(XaiError::Config(format!(
            "--steps must be between 1 and {MAX_STEPS} (got {steps})"
        )));
    }
    if !(min_seconds.is_finite() && min_seconds > 0.0 && min_seconds <= 3600.0) {
        return Err(XaiError::Config(format!(
            "--min-seconds must be a number of seconds in (0, 3600] (got {min_seconds})"
        )));
    }
    let device: Device = xai_core::parse_device(device_name)?;
    let model = fx.model(&device, DType::F32)?;
    let ex = Explainable::new(
        model.clone(),
        |m: &FixtureModel, x: Tensor<2>| m.forward(x),
        device.clone(),
    )
    .with_precision(Precision::F32);
    let x = fx.inputs_flat(&device, DType::F32);
    let n = x.dims()[0];
    let baseline = Tensor::<2>::zeros(x.dims(), &device);
    let target = match &fx.targets {
        Some(t) => Target::Classes(t.clone()),
        None => Target::Predicted,
    };
    // `ig_no_shortcut` runs the input layer at every step, to measure what IG's affine
    // shortcut saves.
    let info = registry::lookup(if method == "ig_no_shortcut" {
        "integrated_gradients"
    } else {
        method
    })?;
    let f = fx.features();
    let rows = fx.inputs.data.clone();
    // As the peers are timed: KernelSHAP against one background row (`shap.KernelExplainer(f,
    // baselines[:1])`), LIME with statistics from the inputs and baselines.
    let background = fx
        .baselines
        .as_ref()
        .map_or_else(|| vec![0.0; f], |b| b.data[..f].to_vec());
    let references = References::Background {
        rows: background,
        m: 1,
    };
    let mut training = rows.clone();
    if let Some(b) = &fx.baselines {
        training.extend_from_slice(&b.data);
    }
    // computed once, outside the timed runs, as the peer script does
    let lime_stats = TabularStats::from_training(&training, f, &[])?;
    let black_box = ex.black_box(&[f], DType::F32)?;
    let problem = Problem {
        model: Model::Burn(&ex),
        black_box: &black_box,
        x: &x,
        rows: &rows,
        baseline: &baseline,
        references: &references,
        lime_stats: Some(&lime_stats),
        target: &target,
        input_shape: &fx.input_shape,
        conv_layer: fx.last_conv_layer(),
    };
    // The model-agnostic methods run quietly, as the peers' timings do.
    let mut config = MethodConfig::for_problem(info, 0, &problem)?.with_progress(false);
    // Forward+backward passes per input, for the FLOP count.
    let passes = match &mut config {
        MethodConfig::IntegratedGradients(c) => {
            c.n_steps = steps;
            c.affine_shortcut = method != "ig_no_shortcut";
            steps as f64
        }
        MethodConfig::Smoothgrad(c) => {
            c.samples = steps;
            steps as f64
        }
        // forward rows only: (coalitions + empty + full) per input, a third of a pass; the
        // coalitions are capped at 2^F − 2, where KernelSHAP is exact
        MethodConfig::KernelShap(c) => {
            c.samples = steps;
            (steps.min((1usize << f.min(60)) - 2) + 2) as f64 / 3.0
        }
        MethodConfig::Lime(c) => {
            c.samples = steps;
            steps as f64 / 3.0
        }
        MethodConfig::GuidedBackprop => 2.0,
        MethodConfig::Deeplift | MethodConfig::Lrp(_) => 3.0,
        MethodConfig::Deconvolution => 2.0,
        _ => 1.0,
    };
    let stepped = matches!(
        config,
        MethodConfig::IntegratedGradients(_)
            | MethodConfig::Smoothgrad(_)
            | MethodConfig::KernelShap(_)
            | MethodConfig::Lime(_)
    );
    if let Some(limit) = max_seconds {
        // The second forward: the first also captures the graph.
        let mut forward_seconds = f64::INFINITY;
        for _ in 0..2 {
            let t = Instant::now();
            ex.forward(&x)?;
            forward_seconds = forward_seconds.min(t.elapsed().as_secs_f64());
        }
        let calls = 4.0;
        let estimate = calls * config.forward_passes_per_input(f) * forward_seconds;
        if estimate > limit {
            return Err(XaiError::Config(format!(
                "{} with {steps} steps needs about {:.0} forward passes of the batch per run, \
                 about {} for the warm-up and three timed runs at {} each, over the limit of \
                 {}: lower --steps or raise --max-minutes",
                info.name,
                config.forward_passes_per_input(f),
                xai::explain::duration(estimate),
                xai::explain::duration(forward_seconds),
                xai::explain::duration(limit)
            )));
        }
    }
    let run = || registry::run(&config, &problem).map(drop);
    run()?; // warm-up: capture, kernel compilation
    let peak_known = reset_peak_rss();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || start.elapsed().as_secs_f64() < min_seconds {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64());
        if times.len() >= 1000 {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let flops = forward_flops(fx) * 3.0 * passes * n as f64;
    Ok(BenchResult {
        method: if method == "ig_no_shortcut" {
            method.to_string()
        } else {
            info.name.to_string()
        },
        device: device_name.to_string(),
        inputs: n,
        steps: if stepped { steps } else { 1 },
        seconds,
        inputs_per_second: n as f64 / seconds,
        runs: times.len(),
        gflops: flops / seconds / 1e9,
        peak_rss_mib: if peak_known { peak_rss_mib() } else { None },
    })
}
