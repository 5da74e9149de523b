//! `xai demo`: the main job. Generate the Clever Hans data set, train a small CNN on it, explain
//! the CNN with every available method, and write a report a person can open.
//!
//! The report makes the shortcut visible twice: in numbers (clean-test accuracy drops, the
//! watermark flips class-0 images, and each method's share of attribution mass inside the 3×3
//! watermark is many times its 3.5% share of the pixels) and in pictures (heat maps over the
//! explained images).

pub mod anchors;
pub mod contrastive;
pub mod examples;
pub mod language;
pub mod model;
pub mod prototypes;
pub mod report;

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{DType, Tensor, TensorData};
use serde::Serialize;

use xai_core::agnostic::{
    self as ag, FeatureGroups, KernelShap, LimeTabular, References, Rows, RunOptions,
};
use xai_core::{Result, Target, XaiError};
use xai_grad::methods::Explainable;
use xai_grad::methods::integrated_gradients::{IgConfig, Quadrature};
use xai_grad::methods::lrp::Composite;
use xai_grad::methods::noise_tunnel::NoiseConfig;

use crate::registry::{self, MethodConfig, Model, Problem};

use data::{SIDE, in_mark};
use model::DemoCnn;
/// The demo's data: the two-shape Clever Hans set.
pub use xai_proto::data::clever_hans::two_shapes as data;

/// Settings of the demo.
#[derive(Clone, Debug, Serialize)]
pub struct DemoOptions {
    /// Output folder.
    pub out: PathBuf,
    /// Replace `out` even when it holds files xai did not write.
    pub force: bool,
    /// Seed of data, initialisation, shuffling and every stochastic method.
    pub seed: u64,
    /// Training epochs.
    pub epochs: usize,
    /// Training images.
    pub train_images: usize,
    /// Device the explanations run on (training runs on flex).
    pub device: String,
    /// Show progress bars.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out: PathBuf::from("xai-report"),
            force: false,
            seed: 42,
            epochs: 8,
            train_images: 1200,
            device: "flex".into(),
            progress: true,
        }
    }
}

/// One method's explanation of the explained images.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// Method name.
    pub method: String,
    /// Settings, as used.
    pub settings: serde_json::Value,
    /// Values `[images, 16·16]`, row-major.
    pub values: Vec<Vec<f64>>,
    /// Share of Σ|φ| inside the watermark, mean over the watermarked explained images.
    pub watermark_share_marked: f64,
    /// The same share on the unmarked explained images (a control).
    pub watermark_share_clean: f64,
    /// Quantus's localisation metrics on `|φ|` against the watermark mask, mean over the
    /// watermarked explained images.
    pub localisation: Localisation,
    /// Completeness error per image, where the method defines one.
    pub completeness_delta: Option<Vec<f64>>,
    /// Seconds taken.
    pub seconds: f64,
}

/// Localisation of a method's maps against the watermark (`xai_core::metrics::localisation`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Localisation {
    /// Share of images whose highest-|φ| pixel lies in the watermark.
    pub pointing_game: f64,
    /// Share of the watermark's 9 pixels among the 9 highest-|φ| pixels (relevance rank
    /// accuracy; with `k` the mask's size it is also the top-k intersection).
    pub relevance_rank_accuracy: f64,
}

/// The localisation metrics of `rows` (`|φ|` per pixel) restricted to the `marked` ones.
fn localisation(rows: &[Vec<f64>], marked: &[bool]) -> Result<Localisation> {
    use xai_core::metrics::localisation::{pointing_game, relevance_rank_accuracy};
    let f = SIDE * SIDE;
    let picked: Vec<&Vec<f64>> = rows
        .iter()
        .zip(marked)
        .filter(|(_, m)| **m)
        .map(|(r, _)| r)
        .collect();
    if picked.is_empty() {
        return Ok(Localisation::default());
    }
    let a: Vec<f64> = picked
        .iter()
        .flat_map(|r| r.iter().map(|v| v.abs()))
        .collect();
    let masks: Vec<bool> = (0..picked.len() * f).map(|k| in_mark(k % f)).collect();
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(Localisation {
        pointing_game: mean(pointing_game(&a, &masks, f, false)?),
        relevance_rank_accuracy: mean(relevance_rank_accuracy(&a, &masks, f)?),
    })
}

/// Everything the demo computed (written to `results.json`).
#[derive(Clone, Debug, Serialize)]
pub struct DemoResults {
    /// The options.
    pub options: DemoOptions,
    /// Training log.
    pub training: model::TrainLog,
    /// Accuracy on the training set, the clean test set and the swapped test set.
    pub accuracy: Accuracies,
    /// The explained images: pixels, label, prediction, watermark.
    pub images: Vec<ExplainedImage>,
    /// One entry per method.
    pub methods: Vec<MethodResult>,
    /// Counterfactuals of watermarked squares the model calls "plus": what to change so it
    /// says "square".
    pub counterfactuals: Vec<DemoCounterfactual>,
    /// CEM: pertinent positives of watermarked squares called "plus", pertinent negatives of
    /// clean squares.
    pub contrastive: contrastive::DemoContrastive,
    /// Anchors over 4×4 patches of the same kinds of images.
    pub anchors: anchors::DemoAnchors,
    /// TCAV of the watermark concept and of a random concept for "plus", at each conv layer.
    pub tcav: Vec<DemoTcav>,
    /// Nearest training images and the most influential training images of each explained one.
    pub examples: examples::DemoExamples,
    /// Cascading parameter randomisation of the gradient, IG and guided-backprop maps.
    pub sanity: examples::DemoSanity,
    /// A ProtoPNet trained on the same data: its prototypes and a scoring sheet.
    pub prototypes: prototypes::DemoPrototypes,
    /// The recall language model and its explained answers.
    pub language_model: language::DemoLanguageModel,
    /// Share of the image the watermark covers (9/256).
    pub watermark_area_share: f64,
    /// Methods of the seeds that this build cannot run yet, and why.
    pub not_included: Vec<(String, String)>,
}

/// One TCAV test in the demo.
#[derive(Clone, Debug, Serialize)]
pub struct DemoTcav {
    /// "watermark" or "random images".
    pub concept: String,
    /// The test (layer, scores, null scores, p-value).
    pub result: xai_proto::tcav::TcavResult,
}

/// TCAV for class 1 ("plus") at `conv1` and `conv2`: the concept "watermark" (clean test images
/// with the watermark stamped in) and a control concept of random clean images, each against 10
/// random sets of clean images.
fn tcav_of(net: &DemoCnn, options: &DemoOptions) -> Result<Vec<DemoTcav>> {
    let device = xai_core::parse_device(&options.device)?;
    let ex = Explainable::new(
        net.clone().to_device(&device),
        |m: &DemoCnn, x: Tensor<4>| m.forward(x),
        device.clone(),
    );
    let batch = |split: &data::Split, idx: &[usize], stamp: bool| -> Tensor<4> {
        let mut v = Vec::with_capacity(idx.len() * SIDE * SIDE);
        for &i in idx {
            let mut img = split.image(i).to_vec();
            if stamp {
                for (p, px) in img.iter_mut().enumerate() {
                    if in_mark(p) {
                        *px = 1.0;
                    }
                }
            }
            v.extend(img);
        }
        Tensor::from_data(TensorData::new(v, [idx.len(), 1, SIDE, SIDE]), &device)
    };
    let sets = |seed: u64| data::generate(seed, 0, 100).clean;
    let all: Vec<usize> = (0..100).collect();
    let concept = batch(&sets(options.seed ^ 0xC0C0), &all, true);
    let random_concept = batch(&sets(options.seed ^ 0xBEEF), &all, false);
    let randoms: Vec<Tensor<4>> = (0..10)
        .map(|r| batch(&sets(options.seed ^ (0xA000 + r)), &all[..50], false))
        .collect();
    // The null: random concepts drawn like the concept, without the watermark.
    let random_concepts: Vec<Tensor<4>> = (0..20)
        .map(|m| batch(&sets(options.seed ^ (0xB000 + m)), &all, false))
        .collect();
    let clean = sets(options.seed ^ 0x9000);
    let plus: Vec<usize> = (0..clean.len()).filter(|&i| clean.labels[i] == 1).collect();
    let inputs = batch(&clean, &plus, false);
    let mut names = Vec::new();
    let mut results = Vec::new();
    for layer in ["conv1", "conv2"] {
        for (name, c) in [("watermark", &concept), ("random images", &random_concept)] {
            let sets = xai_proto::tcav::TcavSets {
                class_inputs: &inputs,
                concept: c,
                counter_sets: &randoms,
                random_concepts: &random_concepts,
            };
            results.push(xai_proto::tcav::tcav(&ex, layer, 1, &sets, options.seed)?);
            names.push(name);
        }
    }
    // Four tests (two concepts at two layers): significance after Holm's adjustment.
    xai_proto::tcav::holm_adjust(&mut results);
    Ok(names
        .into_iter()
        .zip(results)
        .map(|(name, result)| DemoTcav {
            concept: name.into(),
            result,
        })
        .collect())
}

/// A counterfactual of one explained image.
#[derive(Clone, Debug, Serialize)]
pub struct DemoCounterfactual {
    /// Index into the explained images.
    pub image: usize,
    /// The counterfactual pixels (the best of the set).
    pub pixels: Vec<f32>,
    /// Pixels changed.
    pub changed: usize,
    /// Share of the total |change| that lies inside the watermark.
    pub change_share_in_watermark: f64,
    /// The set's validity, proximity, sparsity and diversity, and its seed.
    pub set: xai_core::agnostic::CounterfactualSet,
}

/// Accuracies that expose the shortcut.
#[derive(Clone, Debug, Serialize)]
pub struct Accuracies {
    /// Training set (watermark present on 90% of class 1).
    pub train: f64,
    /// Clean test set (no watermark).
    pub clean_test: f64,
    /// Swapped test set (watermark on class 0 only).
    pub swapped_test: f64,
    /// Fraction of watermarked class-0 test images predicted as class 1.
    pub class0_flipped_by_watermark: f64,
}

/// One explained image.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainedImage {
    /// Pixels, 16·16.
    pub pixels: Vec<f32>,
    /// True class.
    pub label: usize,
    /// Predicted class (the explained target).
    pub predicted: usize,
    /// Whether it carries the watermark.
    pub marked: bool,
    /// Which split it came from.
    pub split: String,
}

fn share(values: &[f64]) -> f64 {
    let total: f64 = values.iter().map(|v| v.abs()).sum();
    if total <= 0.0 {
        return 0.0;
    }
    values
        .iter()
        .enumerate()
        .filter(|(p, _)| in_mark(*p))
        .map(|(_, v)| v.abs())
        .sum::<f64>()
        / total
}

/// The per-pixel mean of `split`'s images: the "absent" value for CEM and anchors. The images
/// are noisy, so black is not absent (the Clever Hans CNN calls an all-black image "plus"), nor is
/// the training mean (it carries a faint watermark); the clean test images carry none.
pub(crate) fn clean_mean(split: &data::Split) -> Vec<f64> {
    let mut mean = vec![0.0f64; SIDE * SIDE];
    for i in 0..split.len() {
        for (m, &v) in mean.iter_mut().zip(split.image(i)) {
            *m += f64::from(v) / split.len() as f64;
        }
    }
    mean
}

/// 4×4 patches of the 16×16 image: 16 groups (superpixels for LIME and KernelSHAP).
fn patches() -> Result<FeatureGroups> {
    FeatureGroups::from_mask(
        (0..SIDE * SIDE)
            .map(|p| (p / SIDE / 4) * (SIDE / 4) + (p % SIDE) / 4)
            .collect(),
    )
}

/// Run the demo end to end and write the report into `options.out` (whole or not at all, see
/// [`crate::output`]).
pub fn run(options: &DemoOptions) -> Result<DemoResults> {
    // Refuse an unusable --out before training, not after.
    let staging = crate::output::Staging::open_for(&options.out, options.force)?;
    let data = data::generate(options.seed, options.train_images, 200);
    eprintln!(
        "xai demo: {} training images (watermark on 90% of class 1), training a CNN on flex…",
        data.train.len()
    );
    let (net, training) =
        model::train(&data.train, options.epochs, options.seed, options.progress)?;
    let pred_swapped = model::predict(&net, &data.swapped);
    let class0: Vec<usize> = (0..data.swapped.len())
        .filter(|&i| data.swapped.labels[i] == 0)
        .collect();
    let accuracy = Accuracies {
        train: training.train_accuracy,
        clean_test: model::accuracy(&net, &data.clean),
        swapped_test: model::accuracy(&net, &data.swapped),
        class0_flipped_by_watermark: class0.iter().filter(|&&i| pred_swapped[i] == 1).count()
            as f64
            / class0.len().max(1) as f64,
    };
    eprintln!(
        "accuracy: train {:.1}%, clean test {:.1}%, swapped test {:.1}% ({:.0}% of watermarked squares called 'plus')",
        100.0 * accuracy.train,
        100.0 * accuracy.clean_test,
        100.0 * accuracy.swapped_test,
        100.0 * accuracy.class0_flipped_by_watermark
    );

    // Explained images: four watermarked squares (the shortcut's victims), two watermarked
    // plus signs from training, two clean images of each class.
    let mut images = Vec::new();
    let mut take = |split: &data::Split,
                    name: &str,
                    pred: &[usize],
                    pick: &dyn Fn(usize) -> bool,
                    k: usize| {
        for i in (0..split.len()).filter(|&i| pick(i)).take(k) {
            images.push(ExplainedImage {
                pixels: split.image(i).to_vec(),
                label: split.labels[i],
                predicted: pred[i],
                marked: split.marked[i],
                split: name.into(),
            });
        }
    };
    let pred_train = model::predict(&net, &data.train);
    let pred_clean = model::predict(&net, &data.clean);
    take(
        &data.swapped,
        "swapped test",
        &pred_swapped,
        &|i| data.swapped.labels[i] == 0,
        4,
    );
    take(
        &data.train,
        "train",
        &pred_train,
        &|i| data.train.marked[i],
        2,
    );
    take(
        &data.clean,
        "clean test",
        &pred_clean,
        &|i| data.clean.labels[i] == 0,
        2,
    );
    take(
        &data.clean,
        "clean test",
        &pred_clean,
        &|i| data.clean.labels[i] == 1,
        2,
    );

    let methods = explain(&net, &images, options)?;
    let counterfactuals = counterfactuals_of(&net, &images, options)?;
    let clean = clean_mean(&data.clean);
    let contrastive = contrastive::contrastive_of(&net, &images, &clean)?;
    let anchors = anchors::anchors_of(&net, &images, &clean, options.seed)?;
    let tcav = tcav_of(&net, options)?;
    eprintln!("training-data attribution (kNN, last-layer influence) and the sanity check…");
    let examples = examples::examples_of(&net, &data.train, &images)?;
    let sanity = examples::sanity_of(&net, &images, options.seed)?;
    eprintln!("ProtoPNet (this looks like that) on the same data…");
    let prototypes = prototypes::prototypes_of(
        &data.train,
        &data.clean,
        &data.swapped,
        &images,
        options.seed,
    )?;
    eprintln!("a small language model (key–value recall) and its generation attribution…");
    let language_model = language::language_model_of(options.seed, 3, options.progress)?;
    let results = DemoResults {
        options: options.clone(),
        training,
        accuracy,
        images,
        methods,
        counterfactuals,
        contrastive,
        anchors,
        tcav,
        examples,
        sanity,
        prototypes,
        language_model,
        watermark_area_share: (data::MARK * data::MARK) as f64 / (SIDE * SIDE) as f64,
        not_included: vec![
            (
                "pruning the watermark prototypes and refitting; concept bottlenecks".into(),
                "built (xai_proto); `xai proto bench cleverhans` prunes and repairs a ProtoPNet on this kind of watermark, `xai proto bench conceptsprites` runs CBM/CEM".into(),
            ),
            (
                "influence through the conv layers".into(),
                "the influence here is exact for the last layer only; xai-influence runs full-network influence on CNNs too (exact/CG, per-example gradients one backward per example), not run here to keep the report at about a minute".into(),
            ),
            (
                "faithfulness metrics (deletion/insertion, infidelity, sensitivity)".into(),
                "built (xai_core::metrics, `xai sanity bench` on a digits CNN) but not run in this report".into(),
            ),
        ],
    };
    report::write(&results, staging.path())?;
    staging.finish()?;
    Ok(results)
}

/// Gradient-free counterfactuals (genetic search with hard [0, 1] pixel bounds) for up to two
/// watermarked squares that the model calls "plus".
fn counterfactuals_of(
    net: &DemoCnn,
    images: &[ExplainedImage],
    options: &DemoOptions,
) -> Result<Vec<DemoCounterfactual>> {
    use xai_core::agnostic::{CounterfactualConfig, FeatureSpec, counterfactuals};
    let f = SIDE * SIDE;
    let model = Explainable::new(
        net.clone(),
        |m: &DemoCnn, x: Tensor<4>| m.forward(x),
        burn::tensor::Device::flex(),
    );
    let black_box = model.black_box(&[1, SIDE, SIDE], DType::F32)?;
    let specs = vec![FeatureSpec::range(0.0, 1.0); f];
    let config = CounterfactualConfig {
        total: 3,
        population: 300,
        generations: 40,
        seed: options.seed,
        run: RunOptions {
            progress: false,
            ..RunOptions::default()
        },
        ..CounterfactualConfig::default()
    };
    let t = std::time::Instant::now();
    let mut out = Vec::new();
    for (i, im) in images
        .iter()
        .enumerate()
        .filter(|(_, im)| im.marked && im.label == 0 && im.predicted == 1)
        .take(2)
    {
        let x: Vec<f64> = im.pixels.iter().map(|&v| f64::from(v)).collect();
        let set = counterfactuals(&black_box, &x, 0, &specs, &config)?;
        let Some(best) = set.counterfactuals.first() else {
            continue;
        };
        let delta: Vec<f64> = best.row.iter().zip(&x).map(|(c, v)| c - v).collect();
        out.push(DemoCounterfactual {
            image: i,
            pixels: best.row.iter().map(|&v| v as f32).collect(),
            changed: best.changed.len(),
            change_share_in_watermark: share(&delta),
            set: set.clone(),
        });
    }
    eprintln!(
        "  {:<22} {:>6.2}s  {}",
        "counterfactuals",
        t.elapsed().as_secs_f64(),
        out.iter()
            .map(|c| format!(
                "image {}: {} pixels changed, {:.0}% of the change in the watermark",
                c.image,
                c.changed,
                100.0 * c.change_share_in_watermark
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(out)
}

fn explain(
    net: &DemoCnn,
    images: &[ExplainedImage],
    options: &DemoOptions,
) -> Result<Vec<MethodResult>> {
    let device = xai_core::parse_device(&options.device)?;
    let n = images.len();
    let pixels: Vec<f32> = images
        .iter()
        .flat_map(|im| im.pixels.iter().copied())
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [n, 1, SIDE, SIDE]), &device);
    let zeros = Tensor::<4>::zeros([n, 1, SIDE, SIDE], &device);
    let classes: Vec<usize> = images.iter().map(|im| im.predicted).collect();
    let target = Target::Classes(classes);
    let ex = Explainable::new(
        net.clone().to_device(&device),
        |m: &DemoCnn, x: Tensor<4>| m.forward(x),
        device.clone(),
    );
    let marked: Vec<bool> = images.iter().map(|im| im.marked).collect();
    let seed = options.seed;
    let mut out = Vec::new();
    let mut record = |method: &str,
                      settings: serde_json::Value,
                      values: Vec<f64>,
                      delta: Option<Vec<f64>>,
                      start: std::time::Instant|
     -> Result<()> {
        let rows: Vec<Vec<f64>> = values.chunks(SIDE * SIDE).map(|c| c.to_vec()).collect();
        let mean_share = |want: bool| {
            let s: Vec<f64> = rows
                .iter()
                .zip(&marked)
                .filter(|(_, m)| **m == want)
                .map(|(r, _)| share(r))
                .collect();
            s.iter().sum::<f64>() / s.len().max(1) as f64
        };
        eprintln!(
            "  {method:<22} {:>6.2}s  watermark share {:.0}%",
            start.elapsed().as_secs_f64(),
            100.0 * mean_share(true)
        );
        let localisation = localisation(&rows, &marked)?;
        out.push(MethodResult {
            method: method.into(),
            settings,
            watermark_share_marked: mean_share(true),
            watermark_share_clean: mean_share(false),
            localisation,
            values: rows,
            completeness_delta: delta,
            seconds: start.elapsed().as_secs_f64(),
        });
        Ok(())
    };
    eprintln!("explaining {n} images on {}:", options.device);

    // Model-agnostic methods see the network as a black box on flattened rows.
    let f = SIDE * SIDE;
    let black_box = ex.black_box(&[1, SIDE, SIDE], DType::F32)?;
    let host: Vec<f64> = pixels.iter().map(|&v| f64::from(v)).collect();
    let rows = Rows::new(&host, f)?;
    let refs = References::PerInput(vec![0.0; n * f]);
    let run = RunOptions {
        progress: options.progress,
        ..RunOptions::default()
    };
    let problem = Problem {
        model: Model::Burn(&ex),
        black_box: &black_box,
        x: &x,
        rows: &host,
        baseline: &zeros,
        references: &refs,
        lime_stats: None,
        target: &target,
        input_shape: &[1, SIDE, SIDE],
        conv_layer: Some("conv2".into()),
    };
    // The registry's methods, with the demo's settings where they differ from the defaults:
    // Gauss-Legendre IG (exact on the network's piecewise-smooth paths with fewer points),
    // SmoothGrad noise scaled to [0, 1] pixels, 4×4 occlusion windows.
    let configs = [
        MethodConfig::Saliency,
        MethodConfig::InputXGradient,
        MethodConfig::IntegratedGradients(IgConfig {
            n_steps: 32,
            method: Quadrature::GaussLegendre,
            ..IgConfig::default()
        }),
        MethodConfig::Smoothgrad(NoiseConfig {
            samples: 32,
            stdev: 0.15,
            seed,
            ..NoiseConfig::default()
        }),
        MethodConfig::GuidedBackprop,
        MethodConfig::GradCam {
            layer: "conv2".into(),
        },
        MethodConfig::Lrp(Composite::epsilon_plus()),
        MethodConfig::Deeplift,
        MethodConfig::Occlusion(ag::Occlusion {
            shape: vec![1, SIDE, SIDE],
            window: vec![1, 4, 4],
            strides: vec![1, 2, 2],
            run: run.clone(),
        }),
    ];
    for config in &configs {
        let t = std::time::Instant::now();
        let e = registry::run(config, &problem)?;
        record(e.method, e.settings, e.values, e.completeness_delta, t)?;
    }

    let t = std::time::Instant::now();
    let cfg = LimeTabular {
        samples: 1000,
        seed,
        run: run.clone(),
        ..LimeTabular::default()
    };
    let lime = ag::lime_groups(&black_box, &rows, &target, &patches()?, &refs, &cfg)?;
    record(
        "lime_patches",
        serde_json::json!({"config": cfg, "groups": "4x4 patches", "fidelity_r2": lime.fidelity}),
        lime.attribution.values,
        None,
        t,
    )?;

    let t = std::time::Instant::now();
    let cfg = KernelShap {
        samples: 2048,
        seed,
        groups: Some(patches()?),
        run,
        ..KernelShap::default()
    };
    let ks = ag::kernel_shap(&black_box, &rows, &target, &refs, &cfg)?;
    // Every pixel carries its patch's value; efficiency holds over the 16 patch values.
    let groups = patches()?;
    let first: Vec<usize> = (0..groups.count())
        .map(|k| (0..f).find(|&j| groups.of(j) == k).unwrap_or(0))
        .collect();
    let delta = ks
        .attribution
        .values
        .chunks(f)
        .zip(&ks.delta)
        .map(|(r, d)| first.iter().map(|&j| r[j]).sum::<f64>() - d)
        .collect();
    record(
        "kernel_shap_patches",
        serde_json::json!({"config": cfg, "groups": "4x4 patches", "coalitions": ks.coalitions}),
        ks.attribution.values,
        Some(delta),
        t,
    )?;

    if out
        .iter()
        .any(|m| m.values.iter().flatten().any(|v| !v.is_finite()))
    {
        return Err(XaiError::NonFinite("demo attributions".into()));
    }
    Ok(out)
}
