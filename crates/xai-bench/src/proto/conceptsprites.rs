//! ConceptSprites benchmark: concept bottlenecks, interventions, and CEM on an incomplete concept
//! set.
//!
//! On 3,000 training and 1,000 test sprites:
//!
//! - **complete set** (14 concepts): independent, sequential and joint (λ = 1) CBMs; their
//!   concept accuracy (target ≥ 0.99), task accuracy, and the intervention curve over the 5
//!   concept groups (random group order, 5 orders); `intervened_task_accuracy` is the
//!   independent CBM's accuracy with every group set to its true value (target ≥ 0.995);
//! - **incomplete set** (12 concepts, no stripes, although the label depends on stripes):
//!   independent and joint CBMs against a CEM (m = 8, λ = 1, RandInt 0.25);
//!   `cem_minus_cbm` = CEM task accuracy − the better CBM's (target > 0).
//!
//! `quick` trains on 1,500 sprites for 10 epochs (about a minute; concept accuracy ≈ 0.98 there).
//!
//! Writes `OUT/conceptsprites_samples.png`, `OUT/conceptsprites_interventions.svg` and
//! `OUT/conceptsprites.json`.

use plotters::prelude::*;
use serde_json::{Value, json};

use super::{BenchOptions, ensure_dir, save_png, write_json};
use xai_core::{Result, XaiError};
use xai_proto::cbm::{
    CbmTraining, ConceptData, evaluate_cbm, evaluate_cem, intervention_curve, train_cbm, train_cem,
};
use xai_proto::data::concept_sprites::{
    CONCEPT_NAMES, CONCEPTS, ConceptSprites, GROUP_NAMES, GROUPS, INCOMPLETE_CONCEPTS,
};
use xai_proto::render::{grid, to_rgb};
use xai_proto::train::FitConfig;

fn data(s: &ConceptSprites, k: usize) -> ConceptData<'_> {
    ConceptData {
        images: &s.images,
        concepts: &s.concepts,
        stride: CONCEPTS,
        k,
    }
}

/// Run the benchmark.
pub fn run(opts: &BenchOptions) -> Result<Value> {
    let start = std::time::Instant::now();
    let (n_train, n_test, epochs) = if opts.quick {
        (1500, 500, 10)
    } else {
        (3000, 1000, 15)
    };
    let train = ConceptSprites::generate(n_train, opts.seed);
    let test = ConceptSprites::generate(n_test, opts.seed.wrapping_add(1_000_003));
    let device = &opts.device;
    let fc = FitConfig {
        epochs,
        batch: 64,
        lr: 3e-3,
        seed: opts.seed,
        progress: opts.progress,
    };
    let orders = 5;
    let mut complete = serde_json::Map::new();
    let mut curves = Vec::new();
    let mut concept_accuracy = 0.0;
    let mut intervened = 0.0;
    for (name, mode) in [
        ("independent", CbmTraining::Independent),
        ("sequential", CbmTraining::Sequential),
        ("joint", CbmTraining::Joint { lambda: 1.0 }),
    ] {
        let model = train_cbm(data(&train, CONCEPTS), mode, &fc, device)?;
        let report = evaluate_cbm(&model, data(&test, CONCEPTS), device)?;
        let curve = intervention_curve(
            &model,
            data(&test, CONCEPTS),
            &GROUPS,
            orders,
            opts.seed,
            device,
        )?;
        if mode == CbmTraining::Independent {
            concept_accuracy = report.concept_accuracy;
            intervened = *curve.last().unwrap_or(&0.0);
        }
        complete.insert(
            name.into(),
            json!({
                "concept_accuracy": report.concept_accuracy,
                "per_concept": CONCEPT_NAMES.iter().zip(&report.per_concept).map(|(n, a)| json!({"concept": n, "accuracy": a})).collect::<Vec<_>>(),
                "task_accuracy": report.task_accuracy,
                "intervention_curve": curve,
            }),
        );
        curves.push((format!("CBM {name}"), curve));
    }
    let incomplete_groups = &GROUPS[..4];
    let mut incomplete = serde_json::Map::new();
    let mut best_cbm: f64 = 0.0;
    for (name, mode) in [
        ("cbm_independent", CbmTraining::Independent),
        ("cbm_joint", CbmTraining::Joint { lambda: 1.0 }),
    ] {
        let model = train_cbm(data(&train, INCOMPLETE_CONCEPTS), mode, &fc, device)?;
        let report = evaluate_cbm(&model, data(&test, INCOMPLETE_CONCEPTS), device)?;
        let curve = intervention_curve(
            &model,
            data(&test, INCOMPLETE_CONCEPTS),
            incomplete_groups,
            orders,
            opts.seed,
            device,
        )?;
        best_cbm = best_cbm.max(report.task_accuracy);
        incomplete.insert(
            name.into(),
            json!({
                "concept_accuracy": report.concept_accuracy, "task_accuracy": report.task_accuracy,
                "intervention_curve": curve,
            }),
        );
    }
    let cem = train_cem(data(&train, INCOMPLETE_CONCEPTS), 8, 1.0, 0.25, &fc, device)?;
    let cem_report = evaluate_cem(&cem, data(&test, INCOMPLETE_CONCEPTS), device)?;
    let cem_curve = intervention_curve(
        &cem,
        data(&test, INCOMPLETE_CONCEPTS),
        incomplete_groups,
        orders,
        opts.seed,
        device,
    )?;
    incomplete.insert("cem".into(), json!({
        "concept_accuracy": cem_report.concept_accuracy, "task_accuracy": cem_report.task_accuracy,
        "intervention_curve": cem_curve,
    }));
    curves.push(("CEM (incomplete)".into(), cem_curve));
    ensure_dir(&opts.out)?;
    let samples: Vec<Vec<_>> = (0..4)
        .map(|r| {
            (0..8)
                .map(|c| to_rgb(test.images.image(r * 8 + c), 3, test.images.side, 3))
                .collect()
        })
        .collect();
    let png = opts.out.join("conceptsprites_samples.png");
    save_png(&png, &grid(&samples, 3))?;
    let svg = opts.out.join("conceptsprites_interventions.svg");
    chart(&curves, &svg)?;
    let value = json!({
        "benchmark": "conceptsprites",
        "seed": opts.seed,
        "quick": opts.quick,
        "train_images": n_train,
        "test_images": n_test,
        "settings": {"epochs": epochs, "batch": fc.batch, "lr": fc.lr, "joint_lambda": 1.0,
                      "cem_embedding": 8, "cem_lambda": 1.0, "randint": 0.25, "intervention_orders": orders,
                      "groups": GROUP_NAMES},
        "concept_accuracy": concept_accuracy,
        "intervened_task_accuracy": intervened,
        "cem_minus_cbm": cem_report.task_accuracy - best_cbm,
        "complete": complete,
        "incomplete": incomplete,
        "figures": {"samples": png.display().to_string(), "interventions": svg.display().to_string()},
        "seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&opts.out.join("conceptsprites.json"), &value)?;
    Ok(value)
}

fn chart(curves: &[(String, Vec<f64>)], path: &std::path::Path) -> Result<()> {
    let err = |e: String| XaiError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    };
    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let groups = curves
        .iter()
        .map(|c| c.1.len())
        .max()
        .unwrap_or(1)
        .saturating_sub(1)
        .max(1);
    let mut ch = ChartBuilder::on(&root)
        .caption(
            "Task accuracy vs concept groups intervened on",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..groups as f64, 0f64..1.0)
        .map_err(|e| err(e.to_string()))?;
    ch.configure_mesh()
        .x_desc("groups set to their true values")
        .y_desc("test accuracy")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, c)) in curves.iter().enumerate() {
        let [r, g, b] = super::palette(i);
        let colour = RGBColor(r, g, b);
        ch.draw_series(LineSeries::new(
            c.iter().enumerate().map(|(x, &y)| (x as f64, y)),
            colour.stroke_width(2),
        ))
        .map_err(|e| err(e.to_string()))?
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    ch.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}
