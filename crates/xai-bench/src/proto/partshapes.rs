//! PartShapes benchmark: does ProtoPNet's reasoning land on the parts that define the class?
//!
//! Trains [`ProtoPNet`] (log similarity, 2 prototypes per class: as many as a class has
//! defining parts; with 3, a class kept a duplicate prototype on one glyph and survived that
//! glyph's partner being erased) on 2,000 PartShapes images and
//! measures, on 800 test images, against the exact glyph masks:
//!
//! - `accuracy` (target ≥ 0.97);
//! - `prototypes_on_glyph`: of the top-2 prototypes per class (by own-class weight; here all of
//!   them), the fraction
//!   whose pushed source patch is centred within half a latent cell (2 px) of one of its class's two defining glyphs
//!   (target ≥ 0.9);
//! - `erase_flip_rate`: for correctly classified test images, erase the glyph under the best
//!   match of the prototype contributing most points to the predicted class; the fraction whose
//!   prediction changes (target ≥ 0.8). `random_erase_flip_rate` erases a glyph-free 5×5 box
//!   instead (the control); `erase_logit_drop_median` / `random_erase_logit_drop_median` are the
//!   median relative drops of the predicted class's logit (= its points); `pointing_game` is the
//!   fraction whose best match lies on a defining glyph;
//! - `push_exact`: every prototype equals, bit for bit, its source patch recomputed alone;
//! - `points_sum_max_error`: the largest |Σ points − logit| over the explained images;
//! - `own_class_connection`: the fraction of prototypes whose largest weight is their class;
//! - `prune_candidates`: prototypes ProtoPNet's rule (k = 6, < 3 own) would prune.
//!
//! Writes `OUT/partshapes_prototypes.png` (each prototype's source image and box, one row per
//! class), `OUT/partshapes_sheet_K.png` (scoring sheets of test images: test image with the
//! matched box, similarity heat map, source image with the prototype's box, for the 3
//! prototypes with most points), `OUT/partshapes.html` (the sheets with their numbers) and
//! `OUT/partshapes.json`.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{BenchOptions, ensure_dir, median, save_png, write_json};
use xai_core::{Result, XaiError};
use xai_proto::data::part_shapes::{
    CLASS_PAIRS, GLYPH, GLYPH_NAMES, PartShapes, PartShapesConfig, Placement, Role,
};
use xai_proto::protopnet::{
    ProtoPNet, ProtoPNetConfig, accuracy, cell_centre, receptive_field, train,
};
use xai_proto::render::{draw_box, grid, overlay, to_rgb, upsample};
use xai_proto::train::predictions;

/// Margin (pixels) around a glyph's box within which a latent cell's centre counts as on the glyph:
/// half a latent cell (4 px), the resolution at which a 1×1 prototype can be located.
const MARGIN: f64 = 2.0;

/// The glyph of `placements` whose dilated box holds pixel `(r, c)`, nearest box centre first.
pub fn glyph_at(placements: &[Placement], r: f64, c: f64) -> Option<Placement> {
    placements
        .iter()
        .filter(|p| p.covers(r, c, MARGIN))
        .min_by(|a, b| {
            let d = |p: &Placement| {
                let (cr, cc) = (p.top as f64 + 2.5, p.left as f64 + 2.5);
                (cr - r).powi(2) + (cc - c).powi(2)
            };
            d(a).total_cmp(&d(b))
        })
        .copied()
}

/// Run the benchmark.
pub fn run(opts: &BenchOptions) -> Result<Value> {
    let start = std::time::Instant::now();
    let (n_train, n_test) = if opts.quick { (640, 240) } else { (2000, 800) };
    let train_set = PartShapes::generate(
        &PartShapesConfig {
            images: n_train,
            ..Default::default()
        },
        opts.seed,
    );
    let test_set = PartShapes::generate(
        &PartShapesConfig {
            images: n_test,
            ..Default::default()
        },
        opts.seed.wrapping_add(1_000_003),
    );
    let config = ProtoPNetConfig {
        per_class: 2,
        ..Default::default()
    };
    let schedule = super::protopnet_schedule(opts);
    let device = &opts.device;
    let (model, log) = train(&config, &schedule, &train_set.images, device)?;
    let figures = evaluate(&model, &log.push, &train_set, &test_set, opts)?;
    let pictures = render(&model, &log.push, &train_set, &test_set, opts)?;
    let value = json!({
        "benchmark": "partshapes",
        "seed": opts.seed,
        "quick": opts.quick,
        "train_images": n_train,
        "test_images": n_test,
        "settings": {
            "prototypes_per_class": config.per_class, "latent": config.latent,
            "similarity": config.similarity, "warm_epochs": schedule.warm_epochs,
            "joint_epochs": schedule.joint_epochs, "batch": schedule.batch, "lr": schedule.lr,
            "last_layer_epochs": schedule.last_layer.epochs, "loss": "CE + 0.8 Clst - 0.08 Sep + 1e-4 L1",
        },
        "accuracy": figures["accuracy"],
        "accuracy_before_push": log.accuracy_before_push,
        "prototypes_on_glyph": figures["prototypes_on_glyph"],
        "erase_flip_rate": figures["erase_flip_rate"],
        "random_erase_flip_rate": figures["random_erase_flip_rate"],
        "erase_flip_rate_when_on_glyph": figures["erase_flip_rate_when_on_glyph"],
        "erase_logit_drop_median": figures["erase_logit_drop_median"],
        "random_erase_logit_drop_median": figures["random_erase_logit_drop_median"],
        "pointing_game": figures["pointing_game"],
        "push_exact": figures["push_exact"],
        "points_sum_max_error": figures["points_sum_max_error"],
        "own_class_connection": figures["own_class_connection"],
        "prune_candidates": figures["prune_candidates"],
        "prototypes": figures["prototypes"],
        "epoch_loss": log.epoch_loss,
        "train_seconds": log.seconds,
        "figures": pictures,
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&opts.out.join("partshapes.json"), &value)?;
    Ok(value)
}

fn evaluate(
    model: &ProtoPNet,
    push: &[xai_proto::protopnet::PushRecord],
    train_set: &PartShapes,
    test_set: &PartShapes,
    opts: &BenchOptions,
) -> Result<Value> {
    let device = &opts.device;
    let acc = accuracy(model, &test_set.images, device)?;
    let exact = model.push_is_exact(&train_set.images, push, device)?;
    let w = model.last_weights()?;
    let c = model.classes();
    let p = model.prototypes();
    // top-2 prototypes per class by own-class weight
    let mut on_glyph = 0usize;
    let mut counted = 0usize;
    let mut protos = Vec::new();
    for class in 0..c {
        let mut mine: Vec<usize> = (0..p)
            .filter(|&j| model.prototype_class(j) == class && model.is_active(j))
            .collect();
        mine.sort_by(|&a, &b| w[b * c + class].total_cmp(&w[a * c + class]));
        for (rank, &j) in mine.iter().enumerate() {
            let r = &push[j];
            let (cr, cc) = cell_centre(r.row, r.col);
            let g = glyph_at(&train_set.placements[r.image], cr, cc);
            let defining = g.is_some_and(|g| g.role == Role::Defining);
            if rank < 2 {
                counted += 1;
                on_glyph += defining as usize;
            }
            protos.push(json!({
                "prototype": j, "class": class, "weight": w[j * c + class], "top2": rank < 2,
                "source_image": r.image, "source_cell": [r.row, r.col],
                "receptive_field": r.receptive_field,
                "glyph": g.map(|g| GLYPH_NAMES[g.glyph]), "on_defining_glyph": defining,
            }));
        }
    }
    let own_class = (0..p)
        .filter(|&j| {
            let row = &w[j * c..(j + 1) * c];
            let best = (0..c)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            best == model.prototype_class(j)
        })
        .count() as f64
        / p as f64;
    // erasure
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0xE4A5E);
    let (mut considered, mut flips, mut random_flips, mut pointing) =
        (0usize, 0usize, 0usize, 0usize);
    let mut max_err: f64 = 0.0;
    let (mut erased, mut drops, mut random_drops) = (0usize, Vec::new(), Vec::new());
    let side = test_set.images.side;
    // prediction and logit of class `c` after erasing `box_` from test image `i`
    let mut after_erasing = |i: usize, box_: &Placement, c: usize| -> Result<(usize, f64)> {
        let img = test_set.erased(i, box_, &mut rng);
        let logits = model
            .forward(single(&img, test_set).batch(&[0], device)?)
            .logits;
        let v = xai_core::tensor_to_vec_f64(logits.clone())?;
        Ok((predictions(logits)?[0], v[c]))
    };
    for i in 0..test_set.images.len() {
        let x = test_set.images.batch(&[i], device)?;
        let pred = predictions(model.forward(x.clone()).logits)?[0];
        if pred != test_set.images.labels[i] {
            continue;
        }
        considered += 1;
        let sheet = model.explain(x, pred)?;
        max_err = max_err.max((sheet.total_points - sheet.logit).abs());
        let Some(top) = sheet.rows.first() else {
            continue;
        };
        let (cr, cc) = cell_centre(top.row, top.col);
        let hit = glyph_at(&test_set.placements[i], cr, cc);
        if hit.is_some_and(|g| g.role == Role::Defining) {
            pointing += 1;
        }
        let relative = |after: f64| (sheet.logit - after) / sheet.logit.abs().max(1e-9);
        if let Some(g) = hit {
            let (after, logit) = after_erasing(i, &g, pred)?;
            flips += (after != pred) as usize;
            erased += 1;
            drops.push(relative(logit));
        }
        // control: a glyph-free 5×5 box
        let free = free_box(
            &test_set.placements[i],
            side,
            &mut StdRng::seed_from_u64(i as u64 ^ opts.seed),
        );
        if let Some(b) = free {
            let (after, logit) = after_erasing(i, &b, pred)?;
            random_flips += (after != pred) as usize;
            random_drops.push(relative(logit));
        }
    }
    let prune = model.prune_candidates(&train_set.images, 6, 3, device)?;
    let frac = |a: usize| {
        if considered > 0 {
            a as f64 / considered as f64
        } else {
            0.0
        }
    };
    Ok(json!({
        "accuracy": acc,
        "push_exact": exact,
        "prototypes_on_glyph": if counted > 0 { on_glyph as f64 / counted as f64 } else { 0.0 },
        "erase_flip_rate": frac(flips),
        "erase_flip_rate_when_on_glyph": if erased > 0 { flips as f64 / erased as f64 } else { 0.0 },
        "erase_logit_drop_median": median(&mut drops),
        "random_erase_logit_drop_median": median(&mut random_drops),
        "random_erase_flip_rate": frac(random_flips),
        "pointing_game": frac(pointing),
        "points_sum_max_error": max_err,
        "own_class_connection": own_class,
        "prune_candidates": prune,
        "prototypes": protos,
    }))
}

/// A one-image set holding `img`.
fn single(img: &[f32], like: &PartShapes) -> xai_proto::data::ImageSet {
    xai_proto::data::ImageSet {
        pixels: img.to_vec(),
        channels: like.images.channels,
        side: like.images.side,
        labels: vec![0],
        classes: like.images.classes,
    }
}

/// A random 5×5 box that does not touch any glyph (1-pixel gap), if one is found.
fn free_box(placements: &[Placement], side: usize, rng: &mut StdRng) -> Option<Placement> {
    for _ in 0..200 {
        let (top, left) = (
            rng.random_range(0..=side - GLYPH),
            rng.random_range(0..=side - GLYPH),
        );
        let clear = placements.iter().all(|p| {
            top + GLYPH < p.top
                || p.top + GLYPH < top
                || left + GLYPH < p.left
                || p.left + GLYPH < left
        });
        if clear {
            return Some(Placement {
                glyph: 0,
                top,
                left,
                role: Role::Distractor,
            });
        }
    }
    None
}

fn render(
    model: &ProtoPNet,
    push: &[xai_proto::protopnet::PushRecord],
    train_set: &PartShapes,
    test_set: &PartShapes,
    opts: &BenchOptions,
) -> Result<Value> {
    ensure_dir(&opts.out)?;
    let scale = 4u32;
    let side = train_set.images.side;
    let (c, per) = (model.classes(), model.prototypes() / model.classes());
    // gallery: one row per class
    let rows: Vec<_> = (0..c)
        .map(|class| {
            (0..per)
                .map(|k| {
                    let r = &push[class * per + k];
                    let ts = &train_set.images;
                    let mut img = to_rgb(ts.image(r.image), ts.channels, side, scale);
                    draw_box(&mut img, r.receptive_field, scale, [230, 40, 40]);
                    img
                })
                .collect()
        })
        .collect();
    let gallery = opts.out.join("partshapes_prototypes.png");
    save_png(&gallery, &grid(&rows, 4))?;
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>ProtoPNet on PartShapes</title>\
         <style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}</style>\
         <h1>ProtoPNet on PartShapes: this looks like that</h1>\
         <p>Prototypes (one row per class; red box: receptive field of the source patch):</p>\
         <img src=partshapes_prototypes.png>",
    );
    let mut sheets = Vec::new();
    for k in 0..4.min(test_set.images.len()) {
        let i = k * 3 + 1;
        if i >= test_set.images.len() {
            break;
        }
        let ts = &test_set.images;
        let x = ts.batch(&[i], &opts.device)?;
        let pred = predictions(model.forward(x.clone()).logits)?[0];
        let sheet = model.explain(x, pred)?;
        let mut rows = Vec::new();
        let _ = write!(
            html,
            "<h2>Test image {i}: true class {} ({} + {}), predicted {}</h2><img src=partshapes_sheet_{k}.png>\
             <table><tr><th>prototype<th>class<th>similarity<th>weight<th>points",
            ts.labels[i],
            GLYPH_NAMES[CLASS_PAIRS[ts.labels[i]].0],
            GLYPH_NAMES[CLASS_PAIRS[ts.labels[i]].1],
            pred
        );
        for row in sheet.rows.iter().take(3) {
            let mut test_img = to_rgb(ts.image(i), ts.channels, side, scale);
            draw_box(
                &mut test_img,
                receptive_field(row.row, row.col, side),
                scale,
                [230, 40, 40],
            );
            let heat = upsample(&row.similarity_map, sheet.grid, side);
            let over = overlay(
                &to_rgb(ts.image(i), ts.channels, side, scale),
                &heat,
                side,
                scale,
            );
            let r = &push[row.prototype];
            let mut src = to_rgb(train_set.images.image(r.image), 1, side, scale);
            draw_box(&mut src, r.receptive_field, scale, [40, 200, 40]);
            rows.push(vec![test_img, over, src]);
        }
        for row in &sheet.rows {
            let _ = write!(
                html,
                "<tr><td>{}<td>{}<td>{:.3}<td>{:.3}<td>{:.3}",
                row.prototype, row.prototype_class, row.similarity, row.weight, row.points
            );
        }
        let _ = write!(
            html,
            "<tr><th colspan=4>total points<th>{:.4}<tr><th colspan=4>logit<th>{:.4}</table>",
            sheet.total_points, sheet.logit
        );
        let path = opts.out.join(format!("partshapes_sheet_{k}.png"));
        save_png(&path, &grid(&rows, 4))?;
        sheets.push(path.display().to_string());
    }
    let page = opts.out.join("partshapes.html");
    std::fs::write(&page, html).map_err(XaiError::io(&page))?;
    Ok(json!({
        "gallery": gallery.display().to_string(),
        "sheets": sheets,
        "html": page.display().to_string(),
    }))
}
