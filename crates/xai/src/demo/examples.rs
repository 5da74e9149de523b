//! The demo's example-based explanations and its sanity check.
//!
//! - Nearest training images (deep kNN): Euclidean neighbours in the CNN's penultimate space
//!   (the 256 values its last layer reads).
//! - Training-data attribution: influence functions (Koh & Liang 2017) on the last layer. The
//!   last layer is a logistic regression on frozen features; it is refitted to the optimum of its
//!   L2-regularised loss (warm-started from the trained weights, convex), so the influence is
//!   exact for it (`Solver::exact`). Ranked by relative influence (RelatIF, Barshan et al. 2020:
//!   `−I_up,loss / √self-influence`): plain influence put the same few high-loss clean pluses at
//!   the top of every list (measured: 0 % watermarked among the top 5 for the shortcut's
//!   victims), RelatIF finds the watermarked pluses the prediction rests on. For each explained
//!   image, the most helpful and most harmful training images for its *predicted* class.
//!   What it does not see: the conv layers' dependence on the training data.
//! - Sanity check (Adebayo et al. 2018): cascading randomisation of fc → conv2 → conv1, with the
//!   Spearman rank correlation of gradient, IG and guided backprop maps to the trained model's.

use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::ExplainedImage;
use super::data::{SIDE, Split};
use super::model::{self, DemoCnn};
use xai_core::metrics::randomization::{
    Cascade, MapShape, RandomizationConfig, Reinit, model_parameter_randomization,
};
use xai_core::{Result, Target, XaiError, tensor_to_vec_f64};
use xai_grad::methods::guided_backprop::guided_backprop;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::{Explainable, input_gradients};
use xai_grad::{CapturedGraph, Precision};
use xai_influence::eval::{TrainOptions, train};
use xai_influence::influence::rank;
use xai_influence::{Data, Influence, Loss, Objective, Solver};

/// L2 weight of the refitted last layer.
const HEAD_L2: f64 = 1e-2;
/// Neighbours and influential examples shown per image.
const SHOWN: usize = 5;

/// A training image in a gallery.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingExample {
    /// Index in the training set.
    pub index: usize,
    /// Its label.
    pub label: usize,
    /// Whether it carries the watermark.
    pub marked: bool,
    /// Distance (kNN) or relative influence (positive: helpful).
    pub score: f64,
    /// Its pixels (for the report's images; not written to `results.json`).
    #[serde(skip)]
    pub pixels: Vec<f32>,
}

/// The galleries of one explained image.
#[derive(Clone, Debug, Serialize)]
pub struct ImageExamples {
    /// Nearest training images in the penultimate space.
    pub neighbours: Vec<TrainingExample>,
    /// Most helpful training images for the predicted class.
    pub helpful: Vec<TrainingExample>,
    /// Most harmful training images for the predicted class.
    pub harmful: Vec<TrainingExample>,
}

/// Example-based explanations of every explained image, with a summary.
#[derive(Clone, Debug, Serialize)]
pub struct DemoExamples {
    /// One entry per explained image, in the report's order.
    pub images: Vec<ImageExamples>,
    /// Over the watermarked squares called "plus": share of their helpful examples that carry
    /// the watermark, and the same share over the whole training set.
    pub helpful_marked_share: f64,
    /// Share of watermarked images in the training set.
    pub train_marked_share: f64,
    /// Share of the watermarked squares' nearest neighbours that are watermarked.
    pub neighbours_marked_share: f64,
    /// Settings.
    pub settings: serde_json::Value,
}

fn gallery_entry(train: &Split, index: usize, score: f64) -> TrainingExample {
    TrainingExample {
        index,
        label: train.labels[index],
        marked: train.marked[index],
        score,
        pixels: train.image(index).to_vec(),
    }
}

/// kNN galleries and last-layer influence for `images`.
pub fn examples_of(
    net: &DemoCnn,
    train_split: &Split,
    images: &[ExplainedImage],
) -> Result<DemoExamples> {
    const F: usize = 16 * (SIDE / 4) * (SIDE / 4);
    let dev = Device::flex();
    let train_features = model::features(net, train_split)?;
    let n = train_split.len();
    if train_features.len() != n * F {
        return Err(XaiError::Numerical("unexpected feature size".into()));
    }
    let pixels: Vec<f32> = images
        .iter()
        .flat_map(|im| im.pixels.iter().copied())
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [images.len(), 1, SIDE, SIDE]), &dev);
    let test_features = tensor_to_vec_f64(net.features(x))?;

    // The last layer as a convex model of the features, refitted to its optimum.
    let train_data = Data::from_rows(
        &train_features,
        F,
        train_split.labels.clone(),
        &dev,
        Precision::F64,
    )?;
    let head: Linear = net.head();
    let capture_example = train_data
        .x
        .clone()
        .into_tensor::<2>()?
        .cast(burn::tensor::FloatDType::F32);
    let graph = CapturedGraph::capture(&head, capture_example, |m, x| m.forward(x))?;
    // Every parameter regularised (the bias too): two softmax classes are otherwise free to
    // shift together, and the Hessian would be singular.
    let objective = Objective::new(
        graph,
        train_data,
        Loss::CrossEntropy,
        HEAD_L2,
        &dev,
        Precision::F64,
    )?
    .with_regularized(|_| true);
    let (theta, _) = train(
        &objective,
        &objective.theta(),
        None,
        &TrainOptions {
            grad_tol: 1e-9,
            ..Default::default()
        },
    )?;
    let influence = Influence::new(&objective, &theta, &Solver::exact(0.0))?;

    // Relative influence (RelatIF) of every explained image, with its predicted class as label.
    let predicted: Vec<usize> = images.iter().map(|im| im.predicted).collect();
    let test_all = Data::from_rows(&test_features, F, predicted, &dev, Precision::F64)?;
    let relative = influence.relative_up_loss(&test_all)?;
    let mut out = Vec::with_capacity(images.len());
    for k in 0..images.len() {
        let q = &test_features[k * F..(k + 1) * F];
        let mut dist: Vec<(usize, f64)> = (0..n)
            .map(|i| {
                let d = train_features[i * F..(i + 1) * F]
                    .iter()
                    .zip(q)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                (i, d)
            })
            .collect();
        dist.sort_by(|a, b| a.1.total_cmp(&b.1));
        let neighbours = dist[..SHOWN.min(n)]
            .iter()
            .map(|&(i, d)| gallery_entry(train_split, i, d))
            .collect();
        let scores = &relative[k];
        let helpful = rank(scores, SHOWN, true)
            .iter()
            .map(|r| gallery_entry(train_split, r.index, r.score))
            .collect();
        let harmful = rank(scores, 3, false)
            .iter()
            .map(|r| gallery_entry(train_split, r.index, r.score))
            .collect();
        out.push(ImageExamples {
            neighbours,
            helpful,
            harmful,
        });
    }
    let victims: Vec<usize> = (0..images.len())
        .filter(|&k| images[k].marked && images[k].label == 0 && images[k].predicted == 1)
        .collect();
    let share = |pick: &dyn Fn(&ImageExamples) -> &Vec<TrainingExample>| -> f64 {
        let all: Vec<bool> = victims
            .iter()
            .flat_map(|&k| pick(&out[k]).iter().map(|e| e.marked))
            .collect();
        all.iter().filter(|&&m| m).count() as f64 / all.len().max(1) as f64
    };
    Ok(DemoExamples {
        helpful_marked_share: share(&|e| &e.helpful),
        neighbours_marked_share: share(&|e| &e.neighbours),
        train_marked_share: train_split.marked.iter().filter(|&&m| m).count() as f64
            / n.max(1) as f64,
        images: out,
        settings: serde_json::json!({
            "features": "penultimate layer (256 values), Euclidean distance for kNN",
            "influence": "RelatIF: −I_up,loss / sqrt(self-influence), exact for the last layer refitted to its L2-regularised optimum (λ = 1e-2, bias included), test label = predicted class; positive = helpful",
        }),
    })
}

/// Mean signed Spearman correlation with the trained model's maps after each randomisation step.
#[derive(Clone, Debug, Serialize)]
pub struct DemoSanity {
    /// Layers randomised, top down (cumulative).
    pub steps: Vec<String>,
    /// `(method, Spearman after each step)`.
    pub spearman: Vec<(String, Vec<f64>)>,
    /// Settings and seed.
    pub settings: serde_json::Value,
}

/// Cascading randomisation (fc, conv2, conv1) on the explained images.
pub fn sanity_of(net: &DemoCnn, images: &[ExplainedImage], seed: u64) -> Result<DemoSanity> {
    let dev = Device::flex();
    let pixels: Vec<f32> = images
        .iter()
        .flat_map(|im| im.pixels.iter().copied())
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [images.len(), 1, SIDE, SIDE]), &dev);
    let classes: Vec<usize> = images.iter().map(|im| im.predicted).collect();
    let layers: Vec<String> = ["fc", "conv2", "conv1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = RandomizationConfig {
        mode: Cascade::Cascading,
        reinit: Reinit::Gaussian,
        seed,
        shape: MapShape {
            channels: 1,
            height: SIDE,
            width: SIDE,
        },
    };
    let report = model_parameter_randomization(net, &layers, &cfg, |m: &DemoCnn| {
        let ex = Explainable::new(m.clone(), |m: &DemoCnn, x| m.forward(x), dev.clone());
        let target = Target::Classes(classes.clone());
        let g = input_gradients(&ex, &x, &classes)?;
        let ig = integrated_gradients(
            &ex,
            &x,
            &x.zeros_like(),
            &target,
            &IgConfig {
                n_steps: 16,
                ..IgConfig::default()
            },
        )?;
        let gbp = guided_backprop(&ex, &x, &target)?;
        Ok(vec![
            ("gradient".to_string(), tensor_to_vec_f64(g)?),
            (
                "integrated gradients".to_string(),
                tensor_to_vec_f64(ig.attributions)?,
            ),
            ("guided backprop".to_string(), tensor_to_vec_f64(gbp)?),
        ])
    })?;
    Ok(DemoSanity {
        steps: report.steps.clone(),
        spearman: report
            .methods
            .iter()
            .map(|t| {
                (
                    t.method.clone(),
                    t.similarity.iter().map(|s| s.spearman).collect(),
                )
            })
            .collect(),
        settings: serde_json::json!({
            "mode": "cascading", "reinit": "Gaussian with each tensor's own standard deviation",
            "seed": seed, "ig_steps": 16, "targets": "predicted classes", "similarity": "signed Spearman, mean over the explained images",
        }),
    })
}
