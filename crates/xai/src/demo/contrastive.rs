//! The report's contrastive section (CEM, `xai_grad::methods::cem`): for watermarked squares
//! the model calls "plus", the *pertinent positive* — the smallest part of the image that still
//! reads "plus" (a Clever Hans model keeps the watermark); for clean squares it calls "square",
//! the *pertinent negative* — the smallest brightening or darkening that makes it "plus" (what
//! must stay absent).

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use xai_core::Result;
use xai_grad::methods::Explainable;
use xai_grad::methods::cem::{CemConfig, Pertinent, cem};

use super::data::SIDE;
use super::model::DemoCnn;
use super::{ExplainedImage, share};

/// One pertinent positive or negative.
#[derive(Clone, Debug, Serialize)]
pub struct DemoPertinent {
    /// Index into the explained images.
    pub image: usize,
    /// Positive or negative.
    pub kind: Pertinent,
    /// PP: the kept part `p`; PN: the changed input `x₀ + δ`.
    pub pixels: Vec<f32>,
    /// PP: `p` minus the absent values; PN: the change `δ`.
    pub delta: Vec<f32>,
    /// Whether the goal was met (PP still "plus", PN no longer "square").
    pub found: bool,
    /// The model's class of `pixels`.
    pub class: usize,
    /// Non-zero pixels of `delta`.
    pub changed: usize,
    /// Share of `Σ|delta|` inside the watermark.
    pub share_in_watermark: f64,
}

/// The section's results.
#[derive(Clone, Debug, Serialize)]
pub struct DemoContrastive {
    /// The search settings.
    pub config: CemConfig,
    /// Pertinent positives, then pertinent negatives.
    pub pertinents: Vec<DemoPertinent>,
    /// Seconds for all searches.
    pub seconds: f64,
}

/// CEM for up to two watermarked squares called "plus" (PP) and two clean squares called
/// "square" (PN), pixels in `[0, 1]`. The absent value of a pixel is `background`, the mean
/// clean image ([`super::clean_mean`]).
pub fn contrastive_of(
    net: &DemoCnn,
    images: &[ExplainedImage],
    background: &[f64],
) -> Result<DemoContrastive> {
    let dev = Device::flex();
    let model = Explainable::new(
        net.clone(),
        |m: &DemoCnn, x: Tensor<4>| m.forward(x),
        dev.clone(),
    );
    let f = SIDE * SIDE;
    let config = CemConfig {
        c_steps: 6,
        max_iterations: 300,
        background: Some(background.to_vec()),
        lower: Some(vec![0.0; f]),
        upper: Some(vec![1.0; f]),
        ..CemConfig::default()
    };
    let t = std::time::Instant::now();
    let mut pertinents = Vec::new();
    for (kind, pick) in [
        (
            Pertinent::Positive,
            &(|im: &ExplainedImage| im.marked && im.label == 0 && im.predicted == 1)
                as &dyn Fn(&ExplainedImage) -> bool,
        ),
        (Pertinent::Negative, &|im: &ExplainedImage| {
            !im.marked && im.label == 0 && im.predicted == 0
        }),
    ] {
        let chosen: Vec<usize> = (0..images.len())
            .filter(|&i| pick(&images[i]))
            .take(2)
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let pixels: Vec<f32> = chosen
            .iter()
            .flat_map(|&i| images[i].pixels.iter().copied())
            .collect();
        let x =
            Tensor::<4>::from_data(TensorData::new(pixels, [chosen.len(), 1, SIDE, SIDE]), &dev);
        let r = cem(&model, &x, kind, &config, None)?;
        let explanations = xai_core::tensor_to_vec(r.explanations)?;
        let delta = xai_core::tensor_to_vec(r.delta)?;
        for (k, &image) in chosen.iter().enumerate() {
            let d = &delta[k * f..(k + 1) * f];
            pertinents.push(DemoPertinent {
                image,
                kind,
                pixels: explanations[k * f..(k + 1) * f].to_vec(),
                delta: d.to_vec(),
                found: r.found[k],
                class: r.classes[k],
                changed: r.changed[k],
                share_in_watermark: share(&d.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()),
            });
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    eprintln!(
        "  {:<22} {:>6.2}s  {}",
        "CEM",
        seconds,
        pertinents
            .iter()
            .map(|p| format!(
                "image {} {}: {} pixels, {:.0}% in the watermark",
                p.image,
                match p.kind {
                    Pertinent::Positive => "PP",
                    Pertinent::Negative => "PN",
                },
                p.changed,
                100.0 * p.share_in_watermark
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(DemoContrastive {
        config,
        pertinents,
        seconds,
    })
}
