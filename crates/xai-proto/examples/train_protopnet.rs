//! Train ProtoPNet in-process on PartShapes and read one decision as "this looks like that".
//!
//! `cargo run -p xai-proto --example train_protopnet` (about 40 s on 2 cores).

use burn::tensor::Device;
use xai_proto::data::part_shapes::{CLASS_PAIRS, GLYPH_NAMES, PartShapes, PartShapesConfig};
use xai_proto::protopnet::{ProtoPNetConfig, ProtoTrainConfig, accuracy, train};

fn main() -> Result<(), xai_core::XaiError> {
    let device = Device::flex();
    let train_set = PartShapes::generate(&PartShapesConfig::default(), 0);
    let test_set = PartShapes::generate(
        &PartShapesConfig {
            images: 800,
            ..Default::default()
        },
        1_000_003,
    );
    let config = ProtoPNetConfig {
        per_class: 2,
        ..Default::default()
    };
    let schedule = ProtoTrainConfig {
        joint_epochs: 30,
        progress: true,
        ..Default::default()
    };
    let (model, log) = train(&config, &schedule, &train_set.images, &device)?;
    println!(
        "test accuracy {:.3} (before push {:.3}), trained in {:.0} s",
        accuracy(&model, &test_set.images, &device)?,
        log.accuracy_before_push,
        log.seconds
    );
    let i = 0;
    let x = test_set.images.batch(&[i], &device)?;
    let class = test_set.images.labels[i];
    let (a, b) = CLASS_PAIRS[class];
    let sheet = model.explain(x, class)?;
    println!(
        "image {i}: class {class} = {} + {}",
        GLYPH_NAMES[a], GLYPH_NAMES[b]
    );
    for row in sheet.rows.iter().take(4) {
        let src = &log.push[row.prototype];
        println!(
            "  prototype {:2} (class {}) at cell ({}, {}): similarity {:.3} x weight {:+.3} = {:+.3} points; source: training image {} cell ({}, {})",
            row.prototype,
            row.prototype_class,
            row.row,
            row.col,
            row.similarity,
            row.weight,
            row.points,
            src.image,
            src.row,
            src.col
        );
    }
    println!(
        "  total {:.4} = logit {:.4}",
        sheet.total_points, sheet.logit
    );
    println!(
        "push exact: {}",
        model.push_is_exact(&train_set.images, &log.push, &device)?
    );
    Ok(())
}
