//! The report's anchors section (`xai_core::agnostic::group_anchors`, Ribeiro et al. 2018): for
//! watermarked squares the model calls "plus" and clean squares it calls "square", the smallest
//! set of 4×4 patches whose presence keeps the answer at precision ≥ 0.95 while every other
//! patch is replaced, with probability ½, by the mean clean image. A model that reads the
//! watermark anchors "plus" on the watermark's patch (patch 0, top left).

use burn::tensor::{DType, Device, Tensor};
use serde::Serialize;

use xai_core::Result;
use xai_core::agnostic::anchors::AnchorsConfig;
use xai_core::agnostic::group_anchors::{GroupAnchorsConfig, group_anchors};
use xai_grad::methods::Explainable;

use super::data::SIDE;
use super::model::DemoCnn;
use super::{ExplainedImage, patches};

/// One anchor.
#[derive(Clone, Debug, Serialize)]
pub struct DemoAnchor {
    /// Index into the explained images.
    pub image: usize,
    /// The anchored patches (row-major 4×4 grid of 4×4-pixel patches).
    pub patches: Vec<usize>,
    /// Estimated precision.
    pub precision: f64,
    /// Share of perturbations in which every anchored patch is present.
    pub coverage: f64,
    /// Whether the precision's lower bound reached 0.95.
    pub is_anchor: bool,
    /// The class the anchor keeps.
    pub prediction: usize,
}

/// The section's results.
#[derive(Clone, Debug, Serialize)]
pub struct DemoAnchors {
    /// The search settings.
    pub config: GroupAnchorsConfig,
    /// One anchor per explained image chosen.
    pub anchors: Vec<DemoAnchor>,
    /// Seconds for all searches.
    pub seconds: f64,
}

/// Anchors of up to two watermarked squares called "plus" and two clean squares called
/// "square"; absent patches take the values of `reference` (the mean clean image).
pub fn anchors_of(
    net: &DemoCnn,
    images: &[ExplainedImage],
    reference: &[f64],
    seed: u64,
) -> Result<DemoAnchors> {
    let model = Explainable::new(
        net.clone(),
        |m: &DemoCnn, x: Tensor<4>| m.forward(x),
        Device::flex(),
    );
    let black_box = model.black_box(&[1, SIDE, SIDE], DType::F32)?;
    let groups = patches()?;
    let config = GroupAnchorsConfig {
        anchors: AnchorsConfig {
            seed,
            ..AnchorsConfig::default()
        },
        ..GroupAnchorsConfig::default()
    };
    let t = std::time::Instant::now();
    let marked_plus = |im: &ExplainedImage| im.marked && im.label == 0 && im.predicted == 1;
    let clean_square = |im: &ExplainedImage| !im.marked && im.label == 0 && im.predicted == 0;
    let mut chosen: Vec<usize> = (0..images.len())
        .filter(|&i| marked_plus(&images[i]))
        .take(2)
        .collect();
    chosen.extend(
        (0..images.len())
            .filter(|&i| clean_square(&images[i]))
            .take(2),
    );
    let mut anchors = Vec::new();
    for image in chosen {
        let x: Vec<f64> = images[image].pixels.iter().map(|&v| f64::from(v)).collect();
        let a = group_anchors(&black_box, &x, &groups, reference, &config)?;
        anchors.push(DemoAnchor {
            image,
            patches: a.groups,
            precision: a.precision,
            coverage: a.coverage,
            is_anchor: a.is_anchor,
            prediction: a.prediction,
        });
    }
    let seconds = t.elapsed().as_secs_f64();
    eprintln!(
        "  {:<22} {:>6.2}s  {}",
        "anchors",
        seconds,
        anchors
            .iter()
            .map(|a| format!(
                "image {}: patches {:?}, precision {:.2}",
                a.image, a.patches, a.precision
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(DemoAnchors {
        config,
        anchors,
        seconds,
    })
}
