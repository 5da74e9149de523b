//! `xai sanity bench`: Adebayo et al.'s sanity checks, and the faithfulness, complexity,
//! robustness and disagreement metrics, on a CNN trained on the bundled digits.
//!
//! 1. Train [`ReluDigitsCnn`] (conv 1→16, conv 16→32, max-pool, fc 512→64, fc 64→10) with Adam on
//!    the first 1,000 digits.
//! 2. Explain `explained` test digits (their true class) with the gradient, integrated gradients
//!    (zero baseline, 32 Gauss–Legendre points) and guided backprop.
//! 3. Cascading and independent parameter randomisation, top layer (`fc2`) down to `conv1`;
//!    Spearman (absolute and signed), SSIM and HOG similarity to the trained model's maps after
//!    each step.
//! 4. Data randomisation: the same network trained on permuted labels, compared the same way.
//! 5. For each method and a seeded random attribution: deletion and insertion AUC (softmax
//!    probability, zero reference, one pixel per step), faithfulness correlation, ROAD (noisy
//!    linear imputation), IROF (2×2 patches), sensitivity-n, monotonicity (Arya) and
//!    monotonicity correlation (Nguyen); sparseness, complexity, effective complexity;
//!    completeness error and non-sensitivity (axiomatic). For the gradient and IG, re-explained
//!    on perturbed digits: max-sensitivity (gradient), continuity, relative input and output
//!    stability, and the random logit test. The explainers' disagreement matrix at k = 8.
//!
//! Writes `OUT/index.html` (one section per metric family, [`page`]), `OUT/sanity.json`,
//! `OUT/sanity_cascading.svg` (signed Spearman vs randomised layer) and `OUT/sanity_maps.png`
//! (maps of three digits along the cascade) as one folder, replaced only when every file is
//! written ([`xai::output::Staging`]), and returns the JSON.

pub mod page;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use image::{Rgb, RgbImage};
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::mean;
use xai_core::agnostic::{BlackBox, FeatureGroups, References, Rows, RunOptions};
use xai_core::metrics::Output;
use xai_core::metrics::axiomatic::non_sensitivity;
use xai_core::metrics::complexity;
use xai_core::metrics::continuity::{ContinuityConfig, continuity};
use xai_core::metrics::disagreement::disagreement_matrix;
use xai_core::metrics::faithfulness::{
    CorrelationConfig, CurveConfig, Order, completeness_error, deletion, faithfulness_correlation,
    insertion, monotonicity,
};
use xai_core::metrics::irof::irof;
use xai_core::metrics::monotonicity_correlation::{monotonicity_correlation, uniform_replacement};
use xai_core::metrics::random_logit::random_logit;
use xai_core::metrics::randomization::{
    Cascade, MapShape, MapSimilarity, RandomizationConfig, RandomizationReport, Reinit,
    compare_maps, model_parameter_randomization, permuted_labels,
};
use xai_core::metrics::relative_stability::{
    RowsFn, Stability, StabilityConfig, StabilityModel, relative_stability,
};
use xai_core::metrics::road::{RoadConfig, road};
use xai_core::metrics::robustness::{ExplainFn, RobustnessConfig, sensitivity};
use xai_core::metrics::sensitivity_n::sensitivity_n;
use xai_core::{Result, Target, XaiError, tensor_to_vec_f64};
use xai_grad::methods::guided_backprop::guided_backprop;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::{Explainable, input_gradients};
use xai_influence::data::{Digits, digits_split};

/// Image side of the digits.
const SIDE: usize = 8;

/// conv(1→16, 3×3) → ReLU → conv(16→32, 3×3) → ReLU → max-pool 2 → fc(512→64) → ReLU →
/// fc(64→10).
#[derive(Module, Debug)]
pub struct ReluDigitsCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    act: Relu,
}

impl ReluDigitsCnn {
    /// A fresh network: burn's default initialisers, drawn from `seed`
    /// ([`xai_core::init::seeded`]).
    pub fn new(device: &Device, seed: u64) -> Result<Self> {
        let pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
        let fresh = ReluDigitsCnn {
            conv1: Conv2dConfig::new([1, 16], [3, 3])
                .with_padding(pad.clone())
                .init(device),
            conv2: Conv2dConfig::new([16, 32], [3, 3])
                .with_padding(pad)
                .init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(32 * 4 * 4, 64).init(device),
            fc2: LinearConfig::new(64, 10).init(device),
            act: Relu::new(),
        };
        xai_core::init::seeded(fresh, seed)
    }

    /// Logits `[N, 10]` of images `[N, 1, 8, 8]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.act.forward(self.conv1.forward(x));
        let h = self.pool.forward(self.act.forward(self.conv2.forward(h)));
        let n = h.dims()[0];
        let h = self
            .act
            .forward(self.fc1.forward(h.reshape([n as i32, -1])));
        self.fc2.forward(h)
    }
}

/// Settings of the benchmark.
#[derive(Clone, Debug)]
pub struct SanityBenchOptions {
    /// Seed of initialisation, shuffling, randomisation and every stochastic metric.
    pub seed: u64,
    /// Training epochs (the permuted-label model trains twice as long).
    pub epochs: usize,
    /// Test digits explained.
    pub explained: usize,
    /// Output folder.
    pub out: PathBuf,
    /// Show progress.
    pub progress: bool,
    /// Replace `out` even if it holds files xai did not write.
    pub force: bool,
}

impl Default for SanityBenchOptions {
    fn default() -> Self {
        SanityBenchOptions {
            seed: 0,
            epochs: 15,
            explained: 50,
            out: PathBuf::from("xai-sanity"),
            progress: true,
            force: false,
        }
    }
}

fn images(d: &Digits, idx: &[usize], device: &Device) -> Tensor<4> {
    let v: Vec<f32> = idx
        .iter()
        .flat_map(|&i| d.x[i * 64..(i + 1) * 64].iter().map(|&p| p as f32))
        .collect();
    Tensor::from_data(TensorData::new(v, [idx.len(), 1, SIDE, SIDE]), device)
}

/// Train a fresh network on `labels` (one per training digit) with Adam; the model on flex.
pub fn train(d: &Digits, labels: &[usize], epochs: usize, seed: u64) -> Result<ReluDigitsCnn> {
    if labels.len() != d.len() {
        return Err(XaiError::shape(
            "labels",
            format!("{}", d.len()),
            &[labels.len()],
        ));
    }
    let device = Device::flex().autodiff();
    let mut model = ReluDigitsCnn::new(&device, seed)?;
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..d.len()).collect();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for idx in order.chunks(32) {
            let x = images(d, idx, &device);
            let y: Vec<i64> = idx.iter().map(|&i| labels[i] as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), &device)
                .one_hot::<2>(10)
                .float();
            let logp = burn::tensor::activation::log_softmax(model.forward(x), 1);
            let loss = (logp * y).sum().neg().div_scalar(idx.len() as f64);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(2e-3, model, grads);
        }
    }
    Ok(model.valid().to_device(&Device::flex()))
}

/// Accuracy of `model` on `d` against `labels`.
pub fn accuracy(model: &ReluDigitsCnn, d: &Digits, labels: &[usize]) -> Result<f64> {
    let idx: Vec<usize> = (0..d.len()).collect();
    let logits = model.forward(images(d, &idx, &Device::flex()));
    let pred = tensor_to_vec_f64(logits.argmax(1).float().reshape([d.len()]))?;
    Ok(pred
        .iter()
        .zip(labels)
        .filter(|(p, y)| **p as usize == **y)
        .count() as f64
        / d.len().max(1) as f64)
}

fn forward_fn(m: &ReluDigitsCnn, x: Tensor<4>) -> Tensor<2> {
    m.forward(x)
}

/// The maps of every method under test, `n × 64` each.
fn explain_all(
    model: &ReluDigitsCnn,
    x: &Tensor<4>,
    classes: &[usize],
) -> Result<Vec<(String, Vec<f64>)>> {
    let ex = Explainable::new(model.clone(), forward_fn, Device::flex());
    let target = Target::Classes(classes.to_vec());
    let grad = input_gradients(&ex, x, classes)?;
    let ig = integrated_gradients(
        &ex,
        x,
        &x.zeros_like(),
        &target,
        &IgConfig {
            n_steps: 32,
            ..IgConfig::default()
        },
    )?;
    let gbp = guided_backprop(&ex, x, &target)?;
    Ok(vec![
        ("gradient".into(), tensor_to_vec_f64(grad)?),
        (
            "integrated_gradients".into(),
            tensor_to_vec_f64(ig.attributions)?,
        ),
        ("guided_backprop".into(), tensor_to_vec_f64(gbp)?),
    ])
}

fn similarity_json(s: &MapSimilarity) -> Value {
    json!({"spearman_abs": s.spearman_abs, "spearman": s.spearman, "ssim": s.ssim, "hog": s.hog})
}

fn trace_json(r: &RandomizationReport) -> Value {
    let mut m = serde_json::Map::new();
    for t in &r.methods {
        m.insert(
            t.method.clone(),
            Value::Array(t.similarity.iter().map(similarity_json).collect()),
        );
    }
    json!({"layers": r.steps, "mode": format!("{:?}", r.config.mode), "similarity": m})
}

/// Run the benchmark (see the module docs) and return its JSON summary.
pub fn run(opts: &SanityBenchOptions) -> Result<Value> {
    let start = std::time::Instant::now();
    // Fails at once when OUT cannot be written; OUT is replaced only by a complete report.
    let staging = xai::output::Staging::open_for(&opts.out, opts.force)?;
    let (train_set, test_set) = digits_split()?;
    let say = |s: &str| {
        if opts.progress {
            eprintln!("[{:6.1}s] {s}", start.elapsed().as_secs_f64());
        }
    };
    say("training the CNN on 1,000 digits");
    let model = train(&train_set, &train_set.y, opts.epochs, opts.seed)?;
    let train_acc = accuracy(&model, &train_set, &train_set.y)?;
    let test_acc = accuracy(&model, &test_set, &test_set.y)?;
    say(&format!(
        "train accuracy {train_acc:.3}, test accuracy {test_acc:.3}"
    ));

    let n = opts.explained.min(test_set.len()).max(1);
    let idx: Vec<usize> = (0..n).collect();
    let device = Device::flex();
    let x = images(&test_set, &idx, &device);
    let classes: Vec<usize> = test_set.y[..n].to_vec();
    let shape = MapShape {
        channels: 1,
        height: SIDE,
        width: SIDE,
    };
    let layers_top_down: Vec<String> = ["fc2", "fc1", "conv2", "conv1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut reports = Vec::new();
    for mode in [Cascade::Cascading, Cascade::Independent] {
        say(&format!("{mode:?} parameter randomisation"));
        let cfg = RandomizationConfig {
            mode,
            reinit: Reinit::Gaussian,
            seed: opts.seed,
            shape,
        };
        reports.push(model_parameter_randomization(
            &model,
            &layers_top_down,
            &cfg,
            |m| explain_all(m, &x, &classes),
        )?);
    }
    let cascading = &reports[0];

    say("data randomisation: training on permuted labels");
    let shuffled = permuted_labels(&train_set.y, opts.seed ^ 0xDA7A);
    let random_model = train(&train_set, &shuffled, 2 * opts.epochs, opts.seed)?;
    let memorised = accuracy(&random_model, &train_set, &shuffled)?;
    let random_maps = explain_all(&random_model, &x, &classes)?;
    let mut data_randomization = serde_json::Map::new();
    for (t, (name, map)) in cascading.methods.iter().zip(&random_maps) {
        let s = MapSimilarity::mean(&compare_maps(&t.original, map, shape)?);
        data_randomization.insert(name.clone(), similarity_json(&s));
    }

    say("faithfulness, complexity, robustness and disagreement metrics");
    let xv = tensor_to_vec_f64(x.clone())?;
    let inputs = Rows::new(&xv, 64)?;
    let bb_model = Explainable::new(model.clone(), forward_fn, Device::flex());
    let bb = bb_model.black_box(&[1, SIDE, SIDE], DType::F32)?;
    let refs = References::PerInput(vec![0.0; n * 64]);
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let curve_cfg = CurveConfig {
        output: Output::Probability,
        options: quiet.clone(),
        ..CurveConfig::default()
    };
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x5EED);
    let random_attr: Vec<f64> = (0..n * 64).map(|_| rng.random::<f64>()).collect();
    let mut explanations: Vec<(String, Vec<f64>)> = cascading
        .methods
        .iter()
        .map(|t| (t.method.clone(), t.original.clone()))
        .collect();
    explanations.push(("random".into(), random_attr));
    let mut per_method = serde_json::Map::new();
    for (name, a) in &explanations {
        let attr = Rows::new(a, 64)?;
        let del = deletion(&bb, &inputs, &attr, &refs, &classes, &curve_cfg)?;
        let ins = insertion(&bb, &inputs, &attr, &refs, &classes, &curve_cfg)?;
        let corr = faithfulness_correlation(
            &bb,
            &inputs,
            &attr,
            &refs,
            &classes,
            &CorrelationConfig {
                subset_size: 8,
                runs: 50,
                seed: opts.seed,
                output: Output::Probability,
                options: quiet.clone(),
            },
        )?;
        let cx = complexity::per_row(a, 64)?;
        // Axiomatic: completeness on the logit against the black reference, and the pixels
        // whose attribution and effect disagree on being zero.
        let completeness = completeness_error(&bb, &inputs, &attr, &refs, &classes, &quiet)?;
        let violations = non_sensitivity(
            &bb,
            &inputs,
            a,
            &refs,
            &Target::Classes(classes.clone()),
            1e-5,
            &quiet,
        )?;
        let violations: Vec<f64> = violations.iter().map(|&v| v as f64).collect();
        let mut entry = more_faithfulness(&bb, &inputs, &attr, &refs, &classes, opts.seed, &quiet)?;
        entry.extend(json_map(json!({
                "deletion_auc": del.mean_auc,
                "insertion_auc": ins.mean_auc,
                "faithfulness_correlation": mean(&corr),
                "sparseness": mean(&cx.iter().map(|c| c.0).collect::<Vec<_>>()),
                "complexity": mean(&cx.iter().map(|c| c.1).collect::<Vec<_>>()),
                "completeness_error": mean(&completeness),
                "non_sensitivity": mean(&violations),
        })));
        per_method.insert(name.clone(), Value::Object(entry));
    }
    // Max-sensitivity of the two gradient methods (every perturbed digit re-explained in batches).
    let ex = Explainable::new(model.clone(), forward_fn, Device::flex());
    // Rows of 64 pixel values as a batch of digits.
    let digits = |rows: &[f64], n: usize| {
        Tensor::<4>::from_data(
            TensorData::new(rows.iter().map(|&v| v as f32).collect(), [n, 1, SIDE, SIDE]),
            &Device::flex(),
        )
    };
    let grad_rows = |rows: &[f64], cls: &[usize]| -> Result<Vec<f64>> {
        tensor_to_vec_f64(input_gradients(&ex, &digits(rows, cls.len()), cls)?)
    };
    let rob_cfg = RobustnessConfig {
        radius: 0.05,
        samples: 10,
        seed: opts.seed,
        options: quiet.clone(),
        bytes_per_row: None,
    };
    let sens = sensitivity(&grad_rows, &xv, 64, &classes, &rob_cfg)?;
    let max_sens_gradient = sens.iter().map(|s| s.max).sum::<f64>() / n as f64;
    let ig_rows = |rows: &[f64], cls: &[usize]| -> Result<Vec<f64>> {
        let t = digits(rows, cls.len());
        let ig = integrated_gradients(
            &ex,
            &t,
            &t.zeros_like(),
            &Target::Classes(cls.to_vec()),
            &IgConfig {
                n_steps: 32,
                ..IgConfig::default()
            },
        )?;
        tensor_to_vec_f64(ig.attributions)
    };
    let logits = |rows: &[f64], k: usize| xai_core::agnostic::BlackBox::predict(&bb, rows, k);
    let mut robustness = serde_json::Map::new();
    for (name, explain) in [
        ("gradient", &grad_rows as &ExplainFn),
        ("integrated_gradients", &ig_rows as &ExplainFn),
    ] {
        let original = &explanations
            .iter()
            .find(|(m, _)| m == name)
            .ok_or_else(|| XaiError::Config(format!("no {name} maps")))?
            .1;
        robustness.insert(
            name.into(),
            more_robustness(explain, &logits, &xv, original, &classes, opts.seed)?,
        );
    }
    let named: Vec<(&str, &[f64])> = explanations
        .iter()
        .map(|(s, v)| (s.as_str(), v.as_slice()))
        .collect();
    let matrix = disagreement_matrix(&named, 64, 8)?;

    // The similarity after the last cascade step (every layer random).
    let final_similarity = |method: &str| -> MapSimilarity {
        cascading
            .methods
            .iter()
            .find(|t| t.method == method)
            .and_then(|t| t.similarity.last().copied())
            .unwrap_or(MapSimilarity {
                spearman_abs: f64::NAN,
                spearman: f64::NAN,
                ssim: f64::NAN,
                hog: f64::NAN,
            })
    };
    let last = |method: &str| final_similarity(method).spearman;
    let last_abs = |method: &str| final_similarity(method).spearman_abs;
    let auc = |method: &str| {
        per_method[method]["deletion_auc"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    let summary = json!({
        "benchmark": "sanity",
        "spearman_gradient_last": last("gradient"),
        "spearman_ig_last": last("integrated_gradients"),
        "spearman_guided_last": last("guided_backprop"),
        "spearman_abs_gradient_last": last_abs("gradient"),
        "spearman_abs_ig_last": last_abs("integrated_gradients"),
        "spearman_abs_guided_last": last_abs("guided_backprop"),
        "deletion_auc_ig": auc("integrated_gradients"),
        "deletion_auc_random": auc("random"),
        "deletion_auc_gradient": auc("gradient"),
        "deletion_auc_guided": auc("guided_backprop"),
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "explained": n,
        "cascading": trace_json(&reports[0]),
        "independent": trace_json(&reports[1]),
        "data_randomization": {
            "permuted_label_train_accuracy": memorised,
            "similarity": data_randomization,
        },
        "metrics": per_method,
        "max_sensitivity_gradient": max_sens_gradient,
        "robustness": robustness,
        "disagreement_k8": matrix,
        "settings": {
            "spearman_*_last": "signed maps (Adebayo's 'no abs' rank correlation) after randomising every layer; spearman_abs_*: absolute maps",
            "seed": opts.seed, "epochs": opts.epochs, "reinit": "gaussian (tensor's own std)",
            "ig": "32 Gauss-Legendre points, zero baseline", "targets": "true labels",
            "deletion": "softmax probability, zero reference, 1 pixel per step, signed order",
            "faithfulness_correlation": "|S| = 8, 50 runs", "max_sensitivity": "r = 0.05, 10 samples",
            "road": "noisy linear imputation (σ 0.01), most relevant first, 1–99 % in steps of 2; mean accuracy over the curve (lower is better)",
            "irof": "2×2 patches, softmax probability, zero reference (higher is better)",
            "sensitivity_n": "Pearson across digits of Σφ and the output drop, 4 pixels per step, mean over steps",
            "monotonicity_arya": "share of digits whose probability never falls as pixels are restored by increasing |φ|, 4 per step",
            "monotonicity_correlation": "Nguyen & Martínez: Spearman of |φ| and the output's variance under U(0, 1) replacement, 2 pixels per group, 5 samples",
            "effective_complexity": "pixels with |φ| / max |φ| > 0.05",
            "robustness": "continuity: 6 sideways shifts; relative input / output stability: 20 draws of U(0.02, 0.2) noise (lower is more stable); random logit: SSIM of the true class's map and a random other class's (lower is more class-specific)",
            "axiomatic": "completeness |Σφ − (f(x) − f(0))| on the logit; non-sensitivity pixels with |φ| > 1e-5 xor |effect of setting them to 0| > 1e-5",
        },
        "seconds": start.elapsed().as_secs_f64(),
    });
    let dir = staging.path();
    cascade_chart(cascading, &dir.join("sanity_cascading.svg"))?;
    maps_figure(cascading, &xv, &dir.join("sanity_maps.png"))?;
    let path = dir.join("sanity.json");
    let text = serde_json::to_string_pretty(&summary).map_err(|e| XaiError::writing(&path, e))?;
    std::fs::write(&path, text).map_err(XaiError::io(&path))?;
    page::write(&summary, dir)?;
    staging.finish()?;
    say(&format!("wrote {}", opts.out.join("index.html").display()));
    Ok(summary)
}

/// The object inside a JSON object value.
fn json_map(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// ROAD, IROF, sensitivity-n, both monotonicities and effective complexity of one method's maps
/// `attr`, by their JSON keys.
fn more_faithfulness(
    bb: &dyn BlackBox,
    inputs: &Rows,
    attr: &Rows,
    refs: &References,
    classes: &[usize],
    seed: u64,
    quiet: &RunOptions,
) -> Result<serde_json::Map<String, Value>> {
    let road = road(
        bb,
        inputs,
        [1, SIDE, SIDE],
        attr.data,
        classes,
        &RoadConfig {
            seed,
            ..RoadConfig::default()
        },
    )?;
    let patches = [FeatureGroups::image_patches([1, SIDE, SIDE], 2)?];
    let irof = irof(
        bb,
        inputs,
        attr,
        refs,
        classes,
        &patches,
        Output::Probability,
        quiet,
    )?;
    let sens_n = sensitivity_n(bb, inputs, attr, refs, classes, 4, quiet)?;
    let curve = CurveConfig {
        features_per_step: 4,
        order: Order::Absolute,
        output: Output::Probability,
        options: quiet.clone(),
    };
    let mono = monotonicity(bb, inputs, attr, refs, classes, &curve)?;
    let mono_corr = monotonicity_correlation(
        bb,
        inputs,
        attr,
        classes,
        2,
        5,
        &uniform_replacement(seed),
        1e-5,
        quiet,
    )?;
    let effective = attr
        .data
        .chunks(attr.f)
        .map(|row| complexity::effective_complexity(row, 0.05).map(|c| c as f64))
        .collect::<Result<Vec<f64>>>()?;
    let monotone: Vec<f64> = mono.into_iter().map(|m| f64::from(u8::from(m))).collect();
    Ok(json_map(json!({
        "road_morf_accuracy": mean(&road.accuracy),
        "irof": irof.mean,
        "sensitivity_n": mean(&sens_n),
        "monotonicity_arya": mean(&monotone),
        "monotonicity_correlation": mean(&mono_corr),
        "effective_complexity": mean(&effective),
    })))
}

/// Continuity, relative input and output stability and the random logit test of one
/// explainer (`explain(rows, classes)`), whose maps of the digits are `original`.
fn more_robustness(
    explain: &ExplainFn,
    logits: &RowsFn,
    inputs: &[f64],
    original: &[f64],
    classes: &[usize],
    seed: u64,
) -> Result<Value> {
    let kept = |v: &[Option<f64>]| mean(&v.iter().flatten().copied().collect::<Vec<f64>>());
    let cont = continuity(
        explain,
        logits,
        inputs,
        [1, SIDE, SIDE],
        classes,
        &ContinuityConfig {
            steps: 6,
            ..ContinuityConfig::default()
        },
    )?;
    let model = StabilityModel {
        logits,
        representation: None,
    };
    let cfg = StabilityConfig {
        samples: 20,
        seed,
        ..StabilityConfig::default()
    };
    let stability = |kind| {
        relative_stability(kind, explain, &model, inputs, 64, original, classes, &cfg)
            .map(|v| kept(&v))
    };
    let logit = random_logit(explain, inputs, 64, original, classes, 10, seed)?;
    Ok(json!({
        "continuity": kept(&cont.scores),
        "relative_input_stability": stability(Stability::Input)?,
        "relative_output_stability": stability(Stability::Output)?,
        "random_logit_ssim": mean(&logit),
    }))
}

const COLOURS: [RGBColor; 3] = [
    RGBColor(220, 50, 40),
    RGBColor(40, 110, 220),
    RGBColor(30, 160, 80),
];

fn cascade_chart(r: &RandomizationReport, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (640, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| XaiError::writing(path, e))?;
    let steps = r.steps.len();
    let labels: Vec<String> = std::iter::once("trained".to_string())
        .chain(r.steps.iter().cloned())
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "cascading randomisation: rank correlation with the trained model's map",
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0f64..steps as f64, -0.2f64..1.05)
        .map_err(|e| XaiError::writing(path, e))?;
    chart
        .configure_mesh()
        .x_labels(steps + 1)
        .x_label_formatter(&|v| labels.get(v.round() as usize).cloned().unwrap_or_default())
        .x_desc("randomised down to layer")
        .y_desc("Spearman (signed maps)")
        .draw()
        .map_err(|e| XaiError::writing(path, e))?;
    for (t, colour) in r.methods.iter().zip(COLOURS) {
        let pts: Vec<(f64, f64)> = std::iter::once((0.0, 1.0))
            .chain(
                t.similarity
                    .iter()
                    .enumerate()
                    .map(|(k, s)| ((k + 1) as f64, s.spearman)),
            )
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(|e| XaiError::writing(path, e))?
            .label(t.method.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| XaiError::writing(path, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| XaiError::writing(path, e))?;
    root.present().map_err(|e| XaiError::writing(path, e))
}

/// Rows: (digit, method); columns: the input, the trained map, then each cascade step.
/// Maps are |φ| scaled to their own maximum, black to white.
fn maps_figure(r: &RandomizationReport, inputs: &[f64], path: &Path) -> Result<()> {
    const ZOOM: u32 = 10;
    const GAP: u32 = 4;
    let digits = 3.min(inputs.len() / 64);
    let cols = 2 + r.steps.len() as u32;
    let rows = (digits * r.methods.len()) as u32;
    let tile = SIDE as u32 * ZOOM;
    let mut img = RgbImage::from_pixel(
        cols * (tile + GAP) + GAP,
        rows * (tile + GAP) + GAP,
        Rgb([255, 255, 255]),
    );
    let mut draw = |row: u32, col: u32, values: &[f64], colour: Rgb<u8>| {
        let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (p, v) in values.iter().enumerate() {
            let a = if max > 0.0 { v.abs() / max } else { 0.0 };
            let c = Rgb([
                (f64::from(colour.0[0]) * a) as u8,
                (f64::from(colour.0[1]) * a) as u8,
                (f64::from(colour.0[2]) * a) as u8,
            ]);
            let (py, px) = ((p / SIDE) as u32, (p % SIDE) as u32);
            for dy in 0..ZOOM {
                for dx in 0..ZOOM {
                    img.put_pixel(
                        GAP + col * (tile + GAP) + px * ZOOM + dx,
                        GAP + row * (tile + GAP) + py * ZOOM + dy,
                        c,
                    );
                }
            }
        }
    };
    for d in 0..digits {
        for (m, t) in r.methods.iter().enumerate() {
            let row = (d * r.methods.len() + m) as u32;
            let c = COLOURS[m % COLOURS.len()];
            let colour = Rgb([c.0.max(120), c.1.max(120), c.2.max(120)]);
            draw(row, 0, &inputs[d * 64..(d + 1) * 64], Rgb([255, 255, 255]));
            draw(row, 1, &t.original[d * 64..(d + 1) * 64], colour);
            for (k, map) in t.maps.iter().enumerate() {
                draw(row, 2 + k as u32, &map[d * 64..(d + 1) * 64], colour);
            }
        }
    }
    img.save(path).map_err(|e| XaiError::writing(path, e))
}
