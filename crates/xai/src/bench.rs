//! `xai bench`: throughput of one attribution method on a fixture's model and inputs.
//!
//! Times the method on the fixture's whole input batch after one warm-up call (which also
//! captures the graph), repeats until at least `min_seconds` have passed, and reports the median
//! run. FLOP counts are the forward multiply-adds of the fixture's linear and conv layers times 2,
//! times 3 for a forward + backward pass.

use std::time::Instant;

use burn::tensor::{DType, Device, Tensor};
use serde::Serialize;

use xai_core::fixture::{Fixture, FixtureModel, LayerSpec};
use xai_core::{Result, Target, XaiError};
use xai_grad::Precision;
use xai_grad::methods::deeplift::deeplift;
use xai_grad::methods::grad_cam::{CamMode, grad_cam};
use xai_grad::methods::guided_backprop::guided_backprop;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::lrp::{Composite, lrp};
use xai_grad::methods::noise_tunnel::{NoiseConfig, smoothgrad};
use xai_grad::methods::{Explainable, input_gradients};

/// Methods `xai bench` knows.
pub const METHODS: &[&str] = &[
    "saliency",
    "ig",
    "smoothgrad",
    "guided_backprop",
    "deeplift",
    "lrp",
    "grad_cam",
    "kernelshap",
    "lime",
];

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

/// Benchmark several methods on several devices (`methods` may be `["all"]`).
pub fn bench_table(
    fx: &Fixture,
    methods: &[String],
    steps: usize,
    devices: &[String],
    min_seconds: f64,
) -> Result<Vec<BenchResult>> {
    // `all` leaves out Grad-CAM on models without a conv layer (it has nothing to map).
    let has_conv = fx
        .layers
        .iter()
        .any(|l| matches!(l, LayerSpec::Conv2d { .. }));
    let all: Vec<String> = METHODS
        .iter()
        .filter(|m| has_conv || **m != "grad_cam")
        .map(|m| m.to_string())
        .collect();
    let methods = if methods.iter().any(|m| m == "all") {
        &all
    } else {
        methods
    };
    let mut out = Vec::new();
    for d in devices {
        for m in methods {
            out.push(bench(fx, m, steps, d, min_seconds)?);
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
pub fn bench(
    fx: &Fixture,
    method: &str,
    steps: usize,
    device_name: &str,
    min_seconds: f64,
) -> Result<BenchResult> {
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
    // The model-agnostic methods run quietly, as the peers' timings do.
    let quiet = xai_core::agnostic::RunOptions {
        progress: false,
        ..Default::default()
    };
    let conv_layer = fx
        .layers
        .iter()
        .rposition(|l| matches!(l, LayerSpec::Conv2d { .. }))
        .map(|i| format!("layers.{i}"));
    let (run, passes): (Box<dyn Fn() -> Result<()>>, f64) = match method {
        "saliency" => {
            let classes = target.classes(&ex.forward(&x)?)?.unwrap_or_default();
            (
                Box::new(move || input_gradients(&ex, &x, &classes).map(drop)),
                1.0,
            )
        }
        "ig" | "ig_no_shortcut" => {
            // `ig_no_shortcut` runs the input layer at every step, to measure what the affine
            // shortcut saves.
            let cfg = IgConfig {
                n_steps: steps,
                affine_shortcut: method == "ig",
                ..IgConfig::default()
            };
            (
                Box::new(move || integrated_gradients(&ex, &x, &baseline, &target, &cfg).map(drop)),
                steps as f64,
            )
        }
        "smoothgrad" => {
            let cfg = NoiseConfig {
                samples: steps,
                ..NoiseConfig::default()
            };
            (
                Box::new(move || smoothgrad(&ex, &x, &target, &cfg).map(drop)),
                steps as f64,
            )
        }
        "guided_backprop" => (
            Box::new(move || guided_backprop(&ex, &x, &target).map(drop)),
            2.0,
        ),
        "deeplift" => (
            Box::new(move || deeplift(&ex, &x, &baseline, &target).map(drop)),
            3.0,
        ),
        "lrp" => (
            Box::new(move || lrp(&ex, &x, &target, &Composite::epsilon_plus()).map(drop)),
            3.0,
        ),
        "grad_cam" => {
            let layer = conv_layer.ok_or_else(|| {
                XaiError::Config("grad_cam needs a model with a conv layer".into())
            })?;
            (
                Box::new(move || grad_cam(&ex, &x, &target, &layer, CamMode::GradCam).map(drop)),
                1.0,
            )
        }
        "kernelshap" => {
            use xai_core::agnostic::{BurnModel, KernelShap, References, Rows, kernel_shap};
            // As `shap.KernelExplainer(f, baselines[:1])`: one background row, `steps` coalitions.
            let inputs = fx.inputs.data.clone();
            let f = fx.features();
            let background = fx
                .baselines
                .as_ref()
                .map_or_else(|| vec![0.0; f], |b| b.data[..f].to_vec());
            let cfg = KernelShap {
                samples: steps,
                run: quiet,
                ..KernelShap::default()
            };
            let dev = device.clone();
            (
                Box::new(move || {
                    let black_box =
                        BurnModel::new(|x| model.forward(x), f, dev.clone(), DType::F32);
                    let rows = Rows::new(&inputs, f)?;
                    let refs = References::Background {
                        rows: background.clone(),
                        m: 1,
                    };
                    kernel_shap(&black_box, &rows, &target, &refs, &cfg).map(drop)
                }),
                // Forward rows only: (coalitions + empty + full) per input, a third of a pass;
                // the coalitions are capped at 2^F − 2, where KernelSHAP is exact.
                (steps.min((1usize << f.min(60)) - 2) + 2) as f64 / 3.0,
            )
        }
        "lime" => {
            use xai_core::agnostic::{BurnModel, LimeTabular, Rows, TabularStats, lime_tabular};
            // As the `lime` package with training statistics from inputs and baselines.
            let inputs = fx.inputs.data.clone();
            let f = fx.features();
            let mut training = inputs.clone();
            if let Some(b) = &fx.baselines {
                training.extend_from_slice(&b.data);
            }
            let stats = TabularStats::from_training(&training, f, &[])?;
            let cfg = LimeTabular {
                samples: steps,
                run: quiet,
                ..LimeTabular::default()
            };
            let dev = device.clone();
            (
                Box::new(move || {
                    let black_box =
                        BurnModel::new(|x| model.forward(x), f, dev.clone(), DType::F32);
                    let rows = Rows::new(&inputs, f)?;
                    lime_tabular(&black_box, &rows, &target, &stats, &cfg).map(drop)
                }),
                steps as f64 / 3.0,
            )
        }
        other => {
            return Err(XaiError::Config(format!(
                "unknown method `{other}` (one of: {}, ig_no_shortcut)",
                METHODS.join(", ")
            )));
        }
    };
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
        method: method.to_string(),
        device: device_name.to_string(),
        inputs: n,
        steps: if matches!(
            method,
            "ig" | "ig_no_shortcut" | "smoothgrad" | "kernelshap" | "lime"
        ) {
            steps
        } else {
            1
        },
        seconds,
        inputs_per_second: n as f64 / seconds,
        runs: times.len(),
        gflops: flops / seconds / 1e9,
        peak_rss_mib: if peak_known { peak_rss_mib() } else { None },
    })
}
