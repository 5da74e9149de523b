//! "This looks like that": a ProtoPNet (Chen et al. 2019) trained on the demo's data, so the
//! report can show which training patches the decisions are made of.
//!
//! The network (xai_proto's ProtoPNet: conv backbone, 3 prototypes per class, log similarity)
//! is trained with the short schedule of `xai proto bench --quick` (1 warm-up and 6 joint
//! epochs), pushed onto training patches (bit-exact) and its last layer refitted. A prototype
//! *sits on the watermark* when it was pushed onto the top-left latent cell of a watermarked
//! training image (the cell whose centre lies inside the 3×3 mark). The report shows every
//! prototype's source patch and the scoring sheet of a watermarked square (points =
//! similarity × class weight, summing to the logit).

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::ExplainedImage;
use super::data::{MARK, SIDE, Split};
use xai_core::Result;
use xai_proto::data::ImageSet;
use xai_proto::protopnet::{
    LastLayerConfig, ProtoPNetConfig, ProtoTrainConfig, ScoringSheet, accuracy, cell_centre, train,
};

/// One prototype and where it came from.
#[derive(Clone, Debug, Serialize)]
pub struct DemoPrototype {
    /// Prototype index.
    pub prototype: usize,
    /// Its class.
    pub class: usize,
    /// Source training image.
    pub image: usize,
    /// Receptive-field box `(top, left, bottom, right)` in pixels.
    pub receptive_field: (usize, usize, usize, usize),
    /// Whether it sits on the watermark of a watermarked training image.
    pub on_watermark: bool,
    /// The source image's pixels (for the report; not in `results.json`).
    #[serde(skip)]
    pub pixels: Vec<f32>,
}

/// The ProtoPNet part of the report.
#[derive(Clone, Debug, Serialize)]
pub struct DemoPrototypes {
    /// Accuracy on the clean test set and on the swapped test set.
    pub clean_accuracy: f64,
    /// Accuracy on the swapped test set (watermark moved onto squares).
    pub swapped_accuracy: f64,
    /// Every prototype.
    pub prototypes: Vec<DemoPrototype>,
    /// The explained image (index into the report's images) and its scoring sheet for the
    /// class ProtoPNet predicts.
    pub sheet: Option<(usize, ScoringSheet)>,
    /// Seconds spent training.
    pub seconds: f64,
    /// Settings and seed.
    pub settings: serde_json::Value,
}

fn image_set(split: &Split) -> ImageSet {
    ImageSet {
        pixels: split.pixels.clone(),
        channels: 1,
        side: SIDE,
        labels: split.labels.clone(),
        classes: 2,
    }
}

/// Train, push and read the ProtoPNet; explain the first watermarked square of `images`.
pub fn prototypes_of(
    train_split: &Split,
    clean: &Split,
    swapped: &Split,
    images: &[ExplainedImage],
    seed: u64,
) -> Result<DemoPrototypes> {
    let device = Device::flex();
    let config = ProtoPNetConfig {
        channels: 1,
        classes: 2,
        ..ProtoPNetConfig::default()
    };
    let schedule = ProtoTrainConfig {
        warm_epochs: 1,
        joint_epochs: 6,
        seed,
        progress: false,
        last_layer: LastLayerConfig {
            seed,
            ..Default::default()
        },
        ..Default::default()
    };
    let set = image_set(train_split);
    let (net, log) = train(&config, &schedule, &set, &device)?;
    let mark_centre = (MARK as f64 - 1.0) / 2.0;
    let prototypes = log
        .push
        .iter()
        .map(|r| {
            let (cr, cc) = cell_centre(r.row, r.col);
            let inside = (cr - mark_centre).abs() <= MARK as f64 / 2.0 + 0.5
                && (cc - mark_centre).abs() <= MARK as f64 / 2.0 + 0.5;
            DemoPrototype {
                prototype: r.prototype,
                class: r.class,
                image: r.image,
                receptive_field: r.receptive_field,
                on_watermark: inside && train_split.marked[r.image],
                pixels: train_split.image(r.image).to_vec(),
            }
        })
        .collect();
    let sheet = match images.iter().position(|im| im.marked && im.label == 0) {
        Some(k) => {
            let x = Tensor::<4>::from_data(
                TensorData::new(images[k].pixels.clone(), [1, 1, SIDE, SIDE]),
                &device,
            );
            let logits = xai_core::tensor_to_vec_f64(net.forward(x.clone()).logits)?;
            let class = usize::from(logits[1] > logits[0]);
            Some((k, net.explain(x, class)?))
        }
        None => None,
    };
    Ok(DemoPrototypes {
        clean_accuracy: accuracy(&net, &image_set(clean), &device)?,
        swapped_accuracy: accuracy(&net, &image_set(swapped), &device)?,
        prototypes,
        sheet,
        seconds: log.seconds,
        settings: serde_json::json!({
            "prototypes_per_class": config.per_class, "similarity": "log", "warm_epochs": schedule.warm_epochs,
            "joint_epochs": schedule.joint_epochs, "seed": seed,
            "on_watermark": "pushed onto the latent cell whose centre lies in the 3x3 mark of a watermarked training image",
        }),
    })
}
