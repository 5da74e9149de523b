//! `xai vit bench`: a tiny vision transformer ([`xai_proto::vit::TinyVit`]) trained on the
//! two-shape Clever Hans images, and how well each explanation method finds the shortcut.
//!
//! 1. Train the ViT from the seed on 1,200 images (a 3×3 watermark in the top-left corner of 90%
//!    of the "plus" images); report its accuracy on the training, clean and swapped test sets
//!    (the swapped set puts the watermark on squares: a shortcut model calls them "plus").
//! 2. Explain `images` swapped-test squares that the model calls "plus" (the decision the
//!    watermark made) with AttnLRP, CP-LRP, attention rollout (the class token's row), Grad-CAM on
//!    the token grid of the last block's input, gradient × input and integrated gradients.
//! 3. Per method: the share of |relevance| in the watermark's patch (patch 0 of 16: a uniform
//!    map gives 1/16), how often patch 0 is the top patch, and seconds per image; for AttnLRP and
//!    CP-LRP also the conservation `Σ relevance / logit`.

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use xai_core::{Result, Target, XaiError};
use xai_grad::methods::Explainable;
use xai_grad::methods::attention_rollout::{RolloutConfig, attention_rollout, softmax_nodes};
use xai_grad::methods::attnlrp::{TransformerRules, attnlrp};
use xai_grad::methods::grad_cam::{CamMode, grad_cam_tokens};
use xai_grad::methods::input_gradients;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_proto::data::clever_hans::two_shapes::{self, SIDE};
use xai_proto::vit::{TinyVit, VitConfig, VitTrainLog};

/// One method's figures.
#[derive(Clone, Debug, Serialize)]
pub struct VitMethodRow {
    /// The method.
    pub method: String,
    /// Mean share of |relevance| in the watermark's patch.
    pub watermark_patch_share: f64,
    /// Share of images whose highest-relevance patch is the watermark's.
    pub top_patch_is_watermark: f64,
    /// Mean `Σ relevance / target logit` (LRP methods only).
    pub conservation: Option<f64>,
    /// Seconds per image (the batch's time divided by its size).
    pub seconds_per_image: f64,
}

/// The benchmark's result.
#[derive(Clone, Debug, Serialize)]
pub struct VitBench {
    /// Training.
    pub training: VitTrainLog,
    /// Accuracy on the clean test set (no watermark).
    pub clean_accuracy: f64,
    /// Accuracy on the swapped test set (watermark on squares only).
    pub swapped_accuracy: f64,
    /// Images explained (swapped-test squares called "plus").
    pub explained: usize,
    /// One row per method.
    pub rows: Vec<VitMethodRow>,
}

/// `|values|` of one image (`SIDE²` pixels) summed per patch of `patch × patch` pixels.
fn per_patch(values: &[f64], patch: usize) -> Vec<f64> {
    let grid = SIDE / patch;
    let mut out = vec![0.0; grid * grid];
    for (p, v) in values.iter().enumerate() {
        out[(p / SIDE / patch) * grid + (p % SIDE) / patch] += v.abs();
    }
    out
}

/// Train from `seed` and explain `images` swapped squares called "plus".
pub fn run(seed: u64, images: usize, progress: bool) -> Result<VitBench> {
    if images == 0 {
        return Err(XaiError::Config("--images must be at least 1".into()));
    }
    let data = two_shapes::generate(seed, 1200, 400);
    let config = VitConfig::default();
    let (vit, training) = TinyVit::train(&config, &data.train, seed, progress)?;
    let clean_accuracy = vit.accuracy(&data.clean)?;
    let swapped_pred = vit.predict(&data.swapped)?;
    let swapped_accuracy = xai_proto::train::accuracy(&swapped_pred, &data.swapped.labels);
    let chosen: Vec<usize> = (0..data.swapped.len())
        .filter(|&i| data.swapped.labels[i] == 0 && swapped_pred[i] == 1)
        .take(images)
        .collect();
    if chosen.is_empty() {
        return Err(XaiError::Numerical(
            "the ViT calls no watermarked square \"plus\": no shortcut decision to explain".into(),
        ));
    }
    let n = chosen.len();
    let device = Device::flex();
    let x = data.swapped.batch(&chosen, &device);
    let (grid, patch) = (vit.grid(), config.patch);
    let ex = Explainable::new(
        vit,
        |m: &TinyVit, x: Tensor<4>| m.forward(x),
        device.clone(),
    );
    let target = Target::Class(1);
    let logits: Vec<f64> = xai_core::tensor_to_vec_f64(ex.forward(&x)?)?
        .chunks(2)
        .map(|r| r[1])
        .collect();
    let graph = ex.graph(&x)?;
    let softmaxes = softmax_nodes(&graph);
    let last_ln = format!("blocks.{}.ln1", config.layers - 1);
    let mut rows = Vec::new();
    let methods = [
        "attnlrp",
        "cp_lrp",
        "rollout",
        "grad_cam_tokens",
        "gradient_x_input",
        "integrated_gradients",
    ];
    for method in methods {
        let clock = Instant::now();
        // Per image: |relevance| per patch (grid × grid), and Σ relevance for the LRP methods.
        let (patches, sums): (Vec<Vec<f64>>, Option<Vec<f64>>) = match method {
            "attnlrp" | "cp_lrp" => {
                let rules = if method == "attnlrp" {
                    TransformerRules::AttnLrp
                } else {
                    TransformerRules::CpLrp
                };
                let r = xai_core::tensor_to_vec_f64(attnlrp(&ex, &x, &target, rules)?)?;
                let maps: Vec<&[f64]> = r.chunks(SIDE * SIDE).collect();
                (
                    maps.iter().map(|m| per_patch(m, patch)).collect(),
                    Some(maps.iter().map(|m| m.iter().sum()).collect()),
                )
            }
            "rollout" => {
                let names: Vec<&str> = softmaxes.iter().map(String::as_str).collect();
                let r = attention_rollout(&ex, &x, &target, &names, &RolloutConfig::default())?;
                let t = r.tokens;
                // The class token's row over the patch tokens.
                let rows = (0..n)
                    .map(|i| r.values[i * t * t + 1..i * t * t + t].to_vec())
                    .collect();
                (rows, None)
            }
            "grad_cam_tokens" => {
                let cam = grad_cam_tokens(
                    &ex,
                    &x,
                    &target,
                    &last_ln,
                    1,
                    [grid, grid],
                    CamMode::GradCam,
                )?;
                (
                    cam.values
                        .chunks(grid * grid)
                        .map(<[f64]>::to_vec)
                        .collect(),
                    None,
                )
            }
            "gradient_x_input" => {
                let g = input_gradients(&ex, &x, &vec![1; n])? * x.clone();
                let g = xai_core::tensor_to_vec_f64(g)?;
                (
                    g.chunks(SIDE * SIDE).map(|m| per_patch(m, patch)).collect(),
                    None,
                )
            }
            _ => {
                let ig =
                    integrated_gradients(&ex, &x, &x.zeros_like(), &target, &IgConfig::default())?;
                let a = xai_core::tensor_to_vec_f64(ig.attributions)?;
                (
                    a.chunks(SIDE * SIDE).map(|m| per_patch(m, patch)).collect(),
                    None,
                )
            }
        };
        let seconds = clock.elapsed().as_secs_f64();
        let share = |p: &[f64]| {
            let total: f64 = p.iter().map(|v| v.abs()).sum();
            if total > 0.0 { p[0].abs() / total } else { 0.0 }
        };
        let top = |p: &[f64]| {
            (0..p.len())
                .max_by(|&a, &b| p[a].abs().total_cmp(&p[b].abs()))
                .unwrap_or(0)
        };
        rows.push(VitMethodRow {
            method: method.into(),
            watermark_patch_share: patches.iter().map(|p| share(p)).sum::<f64>() / n as f64,
            top_patch_is_watermark: patches.iter().filter(|p| top(p) == 0).count() as f64
                / n as f64,
            conservation: sums
                .map(|s| s.iter().zip(&logits).map(|(r, l)| r / l).sum::<f64>() / n as f64),
            seconds_per_image: seconds / n as f64,
        });
    }
    Ok(VitBench {
        training,
        clean_accuracy,
        swapped_accuracy,
        explained: n,
        rows,
    })
}
