//! `xai metrics bench`: the perturbation metrics side by side with Quantus on the same model and
//! inputs (`scripts/quantus_reference.py --bench` times Quantus on the same workload).
//!
//! The attribution is the input itself (identical on both sides, no explainer in the timing).
//! Timed: pixel flipping (deletion curve, softmax output, zero reference) with 1 and 16 pixels
//! per step, faithfulness correlation with 100 random subsets of 64 pixels, IROF over 4×4
//! patches (softmax output, zero reference), and continuity (28 sideways shifts, each batch
//! re-explained by the input gradient; Quantus: Captum's `Saliency`, the same map under `abs`).

use std::time::Instant;

use burn::tensor::{DType, Device, Tensor};
use serde_json::{Value, json};

use xai_core::agnostic::{FeatureGroups, References, Rows, RunOptions};
use xai_core::fixture::Fixture;
use xai_core::fixture::FixtureModel;
use xai_core::metrics::Output;
use xai_core::metrics::continuity::{ContinuityConfig, continuity};
use xai_core::metrics::faithfulness::{
    CorrelationConfig, CurveConfig, deletion, faithfulness_correlation,
};
use xai_core::metrics::irof::irof;
use xai_core::{Result, XaiError};
use xai_grad::methods::{Explainable, input_gradients};

/// Time the metrics on `fx`'s model and inputs (flex, f32); one JSON object.
pub fn run(fx: &Fixture) -> Result<Value> {
    let device = Device::flex();
    let model = fx.model(&device, DType::F32)?;
    let f = fx.features();
    let ex = Explainable::new(
        model,
        |m: &FixtureModel, x: Tensor<2>| m.forward(x),
        device.clone(),
    );
    let bb = ex.black_box(&[f], DType::F32)?;
    let inputs = Rows::new(&fx.inputs.data, f)?;
    let n = inputs.n;
    let classes = fx
        .targets
        .clone()
        .ok_or_else(|| XaiError::Config("the fixture has no targets".into()))?;
    let refs = References::PerInput(vec![0.0; n * f]);
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let mut out = serde_json::Map::new();
    for step in [1usize, 16] {
        let cfg = CurveConfig {
            features_per_step: step,
            output: Output::Probability,
            options: quiet.clone(),
            ..CurveConfig::default()
        };
        let t = Instant::now();
        let curves = deletion(&bb, &inputs, &inputs, &refs, &classes, &cfg)?;
        out.insert(
            format!("pixel_flipping_step{step}_seconds"),
            json!(t.elapsed().as_secs_f64()),
        );
        out.insert(
            format!("pixel_flipping_step{step}_mean_auc"),
            json!(curves.mean_auc),
        );
    }
    let cfg = CorrelationConfig {
        subset_size: 64.min(f),
        runs: 100,
        seed: 0,
        output: Output::Probability,
        options: quiet.clone(),
    };
    let t = Instant::now();
    let corr = faithfulness_correlation(&bb, &inputs, &inputs, &refs, &classes, &cfg)?;
    out.insert(
        "faithfulness_correlation_seconds".into(),
        json!(t.elapsed().as_secs_f64()),
    );
    out.insert(
        "faithfulness_correlation_mean".into(),
        json!(corr.iter().sum::<f64>() / n as f64),
    );
    let patches = match fx.input_shape.as_slice() {
        &[c, h, w] => vec![FeatureGroups::image_patches([c, h, w], 4)?],
        _ => vec![FeatureGroups::singletons(f)],
    };
    let t = Instant::now();
    let scores = irof(
        &bb,
        &inputs,
        &inputs,
        &refs,
        &classes,
        &patches,
        Output::Probability,
        &quiet,
    )?;
    out.insert("irof_seconds".into(), json!(t.elapsed().as_secs_f64()));
    out.insert("irof_mean".into(), json!(scores.mean));
    if let &[c, h, w] = fx.input_shape.as_slice() {
        let explain = |rows: &[f64], cls: &[usize]| -> Result<Vec<f64>> {
            let x =
                xai_core::fixture::tensor_from_f64(rows, vec![cls.len(), f], &device, DType::F32);
            xai_core::tensor_to_vec_f64(input_gradients(&ex, &x, cls)?)
        };
        let logits = |rows: &[f64], k: usize| xai_core::agnostic::BlackBox::predict(&bb, rows, k);
        let t = Instant::now();
        let c = continuity(
            &explain,
            &logits,
            &fx.inputs.data,
            [c, h, w],
            &classes,
            &ContinuityConfig::default(),
        )?;
        out.insert(
            "continuity_seconds".into(),
            json!(t.elapsed().as_secs_f64()),
        );
        let scores: Vec<f64> = c.scores.iter().flatten().copied().collect();
        out.insert(
            "continuity_mean".into(),
            json!(scores.iter().sum::<f64>() / scores.len().max(1) as f64),
        );
    }
    out.insert("inputs".into(), json!(n));
    out.insert("features".into(), json!(f));
    out.insert("device".into(), json!("flex f32"));
    Ok(Value::Object(out))
}
