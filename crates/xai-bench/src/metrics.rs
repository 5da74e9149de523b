//! `xai sanity metrics-bench`: the evaluation metrics side by side with Quantus on the same model and
//! inputs (`scripts/quantus_reference.py --bench` times Quantus on the same workload).
//!
//! The attribution is the input itself (identical on both sides, no explainer in the timing);
//! the metrics that re-explain perturbed inputs use the input gradient (Quantus: Captum's
//! `Saliency`, the same map). Timed: pixel flipping (deletion curve, softmax output, zero
//! reference) with 1 and 16 pixels per step, faithfulness correlation with 100 random subsets
//! of 64 pixels, IROF over 4×4 patches, continuity (28 sideways shifts), ROAD (noise 0.01,
//! 1–99 % in steps of 2), sensitivity-n (16 pixels per step, logits), selectivity (4×4
//! patches), monotonicity correlation (16 pixels per group, 5 samples), max-sensitivity (10
//! draws of radius 0.05), relative input and output stability (10 draws), local Lipschitz (10
//! draws of σ 0.1), monotonicity (Arya, 16 pixels per step), non-sensitivity (ε = 1e-5),
//! completeness, consistency, sufficiency, sparseness and complexity, the localisation metrics
//! against the central half of the image, the random logit test and effective complexity
//! (ε = 1e-5). Each figure is `NAME_seconds` and `NAME_mean`.

use std::time::Instant;

use burn::tensor::{DType, Device, Tensor};
use serde_json::{Value, json};

use xai_core::agnostic::argmax;
use xai_core::agnostic::{BlackBox, FeatureGroups, References, Rows, RunOptions};
use xai_core::fixture::Fixture;
use xai_core::fixture::FixtureModel;
use xai_core::metrics::Output;
use xai_core::metrics::axiomatic::non_sensitivity;
use xai_core::metrics::complexity;
use xai_core::metrics::consistency::{Discretiser, consistency, sufficiency};
use xai_core::metrics::continuity::{ContinuityConfig, continuity};
use xai_core::metrics::faithfulness::{
    CorrelationConfig, CurveConfig, completeness_error, deletion, faithfulness_correlation,
    monotonicity, region_curves,
};
use xai_core::metrics::irof::irof;
use xai_core::metrics::localisation::{
    attribution_localisation, localisation_auc, pointing_game, relevance_mass_accuracy,
    relevance_rank_accuracy, top_k_intersection,
};
use xai_core::metrics::monotonicity_correlation::{monotonicity_correlation, uniform_replacement};
use xai_core::metrics::random_logit::random_logit;
use xai_core::metrics::relative_stability::{
    Stability, StabilityConfig, StabilityModel, relative_stability,
};
use xai_core::metrics::road::{RoadConfig, road};
use xai_core::metrics::robustness::{RobustnessConfig, local_lipschitz, sensitivity};
use xai_core::metrics::sensitivity_n::sensitivity_n;
use xai_core::{Result, Target, XaiError};
use xai_grad::methods::{Explainable, input_gradients};

/// Insert `NAME_seconds` (the time `f` took) and `NAME_mean` (the mean of what it returned).
fn timed(
    out: &mut serde_json::Map<String, Value>,
    name: &str,
    f: impl FnOnce() -> Result<Vec<f64>>,
) -> Result<()> {
    let t = Instant::now();
    let v = f()?;
    out.insert(format!("{name}_seconds"), json!(t.elapsed().as_secs_f64()));
    out.insert(format!("{name}_mean"), json!(crate::mean(&v)));
    Ok(())
}

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
    let classes = classes.as_slice();
    let refs = References::PerInput(vec![0.0; n * f]);
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    // The re-explaining metrics' explainer (Quantus: Captum's `Saliency`) and the logits.
    let explain = |rows: &[f64], cls: &[usize]| -> Result<Vec<f64>> {
        let x = xai_core::fixture::tensor_from_f64(rows, vec![cls.len(), f], &device, DType::F32);
        xai_core::tensor_to_vec_f64(input_gradients(&ex, &x, cls)?)
    };
    let logits = |rows: &[f64], k: usize| bb.predict(rows, k);
    let shape = match fx.input_shape.as_slice() {
        &[c, h, w] => Some([c, h, w]),
        _ => None,
    };
    let mut out = serde_json::Map::new();
    out.insert("inputs".into(), json!(n));
    out.insert("features".into(), json!(f));
    out.insert("device".into(), json!("flex f32"));
    let (inputs, refs, bb) = (&inputs, &refs, &bb);

    for step in [1usize, 16] {
        let cfg = CurveConfig {
            features_per_step: step,
            output: Output::Probability,
            options: quiet.clone(),
            ..CurveConfig::default()
        };
        let t = Instant::now();
        let curves = deletion(bb, inputs, inputs, refs, classes, &cfg)?;
        out.insert(
            format!("pixel_flipping_step{step}_seconds"),
            json!(t.elapsed().as_secs_f64()),
        );
        out.insert(
            format!("pixel_flipping_step{step}_mean_auc"),
            json!(curves.mean_auc),
        );
    }
    timed(&mut out, "faithfulness_correlation", || {
        let cfg = CorrelationConfig {
            subset_size: 64.min(f),
            runs: 100,
            seed: 0,
            output: Output::Probability,
            options: quiet.clone(),
        };
        faithfulness_correlation(bb, inputs, inputs, refs, classes, &cfg)
    })?;
    let patches = match shape {
        Some(shape) => vec![FeatureGroups::image_patches(shape, 4)?],
        None => vec![FeatureGroups::singletons(f)],
    };
    timed(&mut out, "irof", || {
        let r = irof(
            bb,
            inputs,
            inputs,
            refs,
            classes,
            &patches,
            Output::Probability,
            &quiet,
        )?;
        Ok(r.scores)
    })?;
    // The rest compares with Quantus on images only.
    let Some(shape) = shape else {
        return Ok(Value::Object(out));
    };
    timed(&mut out, "continuity", || {
        let c = continuity(
            &explain,
            &logits,
            inputs.data,
            shape,
            classes,
            &ContinuityConfig::default(),
        )?;
        Ok(c.scores.into_iter().flatten().collect())
    })?;
    timed(&mut out, "road", || {
        let r = road(
            bb,
            inputs,
            shape,
            inputs.data,
            classes,
            &RoadConfig::default(),
        )?;
        Ok(r.accuracy)
    })?;
    timed(&mut out, "sensitivity_n", || {
        sensitivity_n(bb, inputs, inputs, refs, classes, 16, &quiet)
    })?;
    timed(&mut out, "selectivity", || {
        let curve = CurveConfig {
            output: Output::Probability,
            options: quiet.clone(),
            ..CurveConfig::default()
        };
        let c = region_curves(
            bb,
            inputs,
            inputs,
            refs,
            classes,
            &patches[0],
            &curve,
            false,
        )?;
        Ok(c.curves.into_iter().flatten().collect())
    })?;
    timed(&mut out, "monotonicity_correlation", || {
        monotonicity_correlation(
            bb,
            inputs,
            inputs,
            classes,
            16,
            5,
            &uniform_replacement(0),
            1e-5,
            &quiet,
        )
    })?;
    let robustness = |radius: f64| RobustnessConfig {
        radius,
        samples: 10,
        seed: 0,
        options: quiet.clone(),
        bytes_per_row: None,
    };
    timed(&mut out, "max_sensitivity", || {
        let s = sensitivity(&explain, inputs.data, f, classes, &robustness(0.05))?;
        Ok(s.iter().map(|s| s.max).collect())
    })?;
    timed(&mut out, "local_lipschitz", || {
        local_lipschitz(&explain, inputs.data, f, classes, &robustness(0.1))
    })?;
    let saliency = explain(inputs.data, classes)?;
    let k = bb.predict(&inputs.data[..f], 1)?.len();
    timed(&mut out, "random_logit", || {
        random_logit(&explain, inputs.data, f, &saliency, classes, k, 0)
    })?;
    let stability_model = StabilityModel {
        logits: &logits,
        representation: None,
    };
    let stability_cfg = StabilityConfig {
        samples: 10,
        ..StabilityConfig::default()
    };
    for (name, kind) in [
        ("relative_input_stability", Stability::Input),
        ("relative_output_stability", Stability::Output),
    ] {
        timed(&mut out, name, || {
            let v = relative_stability(
                kind,
                &explain,
                &stability_model,
                inputs.data,
                f,
                &saliency,
                classes,
                &stability_cfg,
            )?;
            Ok(v.into_iter().flatten().collect())
        })?;
    }
    timed(&mut out, "monotonicity_arya", || {
        let cfg = CurveConfig {
            features_per_step: 16,
            options: quiet.clone(),
            ..CurveConfig::default()
        };
        let m = monotonicity(bb, inputs, inputs, refs, classes, &cfg)?;
        Ok(m.into_iter().map(|v| f64::from(u8::from(v))).collect())
    })?;
    timed(&mut out, "non_sensitivity", || {
        let target = Target::Classes(classes.to_vec());
        let v = non_sensitivity(bb, inputs, inputs.data, refs, &target, 1e-5, &quiet)?;
        Ok(v.into_iter().map(|c| c as f64).collect())
    })?;
    timed(&mut out, "completeness", || {
        completeness_error(bb, inputs, inputs, refs, classes, &quiet)
    })?;
    let predicted: Vec<usize> = bb.predict(inputs.data, n)?.chunks(k).map(argmax).collect();
    timed(&mut out, "consistency", || {
        consistency(inputs.data, f, &predicted, Discretiser::FirstSigns(5))
    })?;
    timed(&mut out, "sufficiency", || {
        sufficiency(inputs.data, f, &predicted, 0.6)
    })?;
    timed(&mut out, "sparseness_complexity", || {
        let both = complexity::per_row(inputs.data, f)?;
        Ok(both.into_iter().map(|(sparseness, _)| sparseness).collect())
    })?;
    // The same mask for every input: the central half of the image.
    let [_, h, w] = shape;
    let mask: Vec<bool> = (0..n * f)
        .map(|p| {
            let (r, c) = ((p % (h * w)) / w, p % w);
            (h / 4..h - h / 4).contains(&r) && (w / 4..w - w / 4).contains(&c)
        })
        .collect();
    let a = inputs.data;
    timed(&mut out, "localisation", || {
        let mut all = pointing_game(a, &mask, f, false)?;
        all.extend(attribution_localisation(a, &mask, f)?);
        all.extend(top_k_intersection(a, &mask, f, 64, false)?);
        all.extend(relevance_rank_accuracy(a, &mask, f)?);
        all.extend(relevance_mass_accuracy(a, &mask, f)?);
        all.extend(localisation_auc(a, &mask, f)?);
        Ok(all)
    })?;
    timed(&mut out, "effective_complexity", || {
        inputs
            .data
            .chunks(f)
            .map(|row| complexity::effective_complexity(row, 1e-5).map(|c| c as f64))
            .collect()
    })?;
    Ok(Value::Object(out))
}
