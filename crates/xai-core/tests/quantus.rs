//! Metrics against Quantus 0.6 on the same model, inputs and attributions
//! (`assets/fixtures/quantus_metrics.json`, written by `scripts/quantus_reference.py` from the
//! shared `image_cnn.json` fixture; the attributions are that fixture's saliency and IG values).
//!
//! Where the definitions match: pixel flipping (= our deletion curve without its step 0, logit
//! and softmax outputs), sparseness (Quantus adds 1e-7 to every |φ| after max-normalisation),
//! complexity (1e-12 inside the log) and SSIM (scikit-image via Quantus). Quantus ran the model
//! in f32, so the curves agree to f32 precision.

use burn::tensor::{DType, Device};
use serde_json::Value;
use xai_core::agnostic::{BurnModel, References, Rows, RunOptions};
use xai_core::fixture::Fixture;
use xai_core::metrics::Output;
use xai_core::metrics::complexity::{complexity, sparseness};
use xai_core::metrics::faithfulness::{CurveConfig, deletion};
use xai_core::metrics::similarity::ssim;

fn asset(name: &str) -> String {
    // The run-time value: a test binary reused from another checkout must not look there.
    format!(
        "{}/../../assets/fixtures/{name}",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string())
    )
}

fn quantus_reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(asset("quantus_metrics.json")).unwrap()).unwrap()
}

/// Quantus's "black" baseline: each input's own minimum (helpers/utils.py
/// `get_baseline_dict`), not zero.
fn black(inputs: &Rows) -> References {
    References::PerInput(
        (0..inputs.n)
            .flat_map(|i| {
                let m = inputs.row(i).iter().copied().fold(f64::INFINITY, f64::min);
                std::iter::repeat_n(m, inputs.f)
            })
            .collect(),
    )
}

/// The image CNN fixture's model on flex in f64, as a black box.
fn image_cnn_black_box(fx: &Fixture) -> impl xai_core::agnostic::BlackBox {
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    BurnModel::new(move |x| model.forward(x), fx.features(), device, DType::F64)
}

/// Class indices stored as JSON numbers.
fn classes(v: &Value) -> Vec<usize> {
    flatten(v).iter().map(|&c| c as usize).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn metrics_agree_with_quantus() {
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    let f = fx.features();
    let bb = BurnModel::new(|x| model.forward(x), f, device.clone(), DType::F64);
    let inputs = Rows::new(&fx.inputs.data, f).unwrap();
    let n = inputs.n;
    let classes = fx.targets.clone().unwrap();
    let refs = black(&inputs);
    let mut checked = 0;
    for method in ["saliency", "integrated_gradients/gausslegendre"] {
        let a = &fx.expected[method].values.data;
        let attr = Rows::new(a, f).unwrap();
        let q = &reference["metrics"][method];
        for (key, output) in [
            ("pixel_flipping_logit", Output::Raw),
            ("pixel_flipping_softmax", Output::Probability),
        ] {
            let cfg = CurveConfig {
                features_per_step: 4,
                output,
                options: RunOptions {
                    progress: false,
                    ..RunOptions::default()
                },
                ..CurveConfig::default()
            };
            let ours = deletion(&bb, &inputs, &attr, &refs, &classes, &cfg).unwrap();
            for i in 0..n {
                let theirs = floats(&q[key][i]);
                assert_eq!(theirs.len() + 1, ours.curves[i].len());
                let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                for (s, (t, o)) in theirs.iter().zip(&ours.curves[i][1..]).enumerate() {
                    assert!(
                        (t - o).abs() <= 1e-5 * scale + 1e-6,
                        "{method} {key} input {i} step {}: quantus {t}, ours {o}",
                        s + 1
                    );
                }
                checked += 1;
            }
        }
        let (qs, qc) = (floats(&q["sparseness"]), floats(&q["complexity"]));
        for i in 0..n {
            let row = attr.row(i);
            let (s, c) = (sparseness(row).unwrap(), complexity(row).unwrap());
            assert!((s - qs[i]).abs() < 1e-5, "sparseness {i}: {s} vs {}", qs[i]);
            assert!((c - qc[i]).abs() < 1e-5, "complexity {i}: {c} vs {}", qc[i]);
        }
    }
    let sal = &fx.expected["saliency"].values.data;
    let ig = &fx.expected["integrated_gradients/gausslegendre"]
        .values
        .data;
    let q = floats(&reference["ssim_saliency_vs_ig"]);
    for i in 0..n {
        let s = ssim(&sal[i * f..(i + 1) * f], &ig[i * f..(i + 1) * f], 8, 8, 7).unwrap();
        assert!((s - q[i]).abs() < 1e-9, "ssim {i}: {s} vs {}", q[i]);
    }
    assert_eq!(checked, 4 * n);
}

#[test]
fn localisation_agrees_with_quantus() {
    use xai_core::metrics::localisation::*;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let loc = &reference["localisation"];
    let masks: Vec<bool> = xai_core::fixture::NdArray::from_json(&loc["masks"], "masks")
        .unwrap()
        .data
        .iter()
        .map(|&v| v != 0.0)
        .collect();
    let f = fx.features();
    let close = |ours: &[f64], theirs: &Value, what: &str| {
        let theirs = floats(theirs);
        assert_eq!(ours.len(), theirs.len(), "{what}");
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                (a - b).abs() < 1e-9,
                "{what}: ours {ours:?}, Quantus {theirs:?}"
            );
        }
    };
    for name in ["saliency", "integrated_gradients/gausslegendre"] {
        let a = &fx.expected[name].values.data;
        let q = &loc[name];
        close(
            &pointing_game(a, &masks, f, false).unwrap(),
            &q["pointing_game"],
            "pointing game",
        );
        close(
            &top_k_intersection(a, &masks, f, 8, false).unwrap(),
            &q["top_k_intersection"],
            "top-k",
        );
        close(
            &top_k_intersection(a, &masks, f, 8, true).unwrap(),
            &q["top_k_concept_influence"],
            "top-k concept influence",
        );
        close(
            &relevance_rank_accuracy(a, &masks, f).unwrap(),
            &q["relevance_rank_accuracy"],
            "rank accuracy",
        );
        close(
            &relevance_mass_accuracy(a, &masks, f).unwrap(),
            &q["relevance_mass_accuracy"],
            "mass accuracy",
        );
        close(&localisation_auc(a, &masks, f).unwrap(), &q["auc"], "AUC");
        let abs: Vec<f64> = a.iter().map(|v| v.abs()).collect();
        close(
            &attribution_localisation(&abs, &masks, f).unwrap(),
            &q["attribution_localisation_abs"],
            "attribution localisation",
        );
    }
}

#[test]
fn localisation_closed_forms_and_bad_input() {
    use xai_core::metrics::localisation::*;
    // One row, 5 features, the mask on features 3 and 4.
    let mask = [false, false, false, true, true];
    let perfect = [0.0, 0.1, 0.2, 0.9, 0.8];
    assert_eq!(pointing_game(&perfect, &mask, 5, false).unwrap(), [1.0]);
    assert!((pointing_game(&perfect, &mask, 5, true).unwrap()[0] - 0.6).abs() < 1e-12);
    assert_eq!(relevance_rank_accuracy(&perfect, &mask, 5).unwrap(), [1.0]);
    assert_eq!(localisation_auc(&perfect, &mask, 5).unwrap(), [1.0]);
    assert!((relevance_mass_accuracy(&perfect, &mask, 5).unwrap()[0] - 1.7 / 2.0).abs() < 1e-12);
    let wrong = [0.9, 0.8, 0.7, 0.1, 0.0];
    assert_eq!(pointing_game(&wrong, &mask, 5, false).unwrap(), [0.0]);
    assert_eq!(localisation_auc(&wrong, &mask, 5).unwrap(), [0.0]);
    assert_eq!(
        top_k_intersection(&wrong, &mask, 5, 2, false).unwrap(),
        [0.0]
    );
    // Undefined scores are errors, never NaN.
    assert!(pointing_game(&perfect, &[false; 5], 5, false).is_err());
    assert!(localisation_auc(&perfect, &[true; 5], 5).is_err());
    assert!(relevance_mass_accuracy(&[0.0; 5], &mask, 5).is_err());
    assert!(attribution_localisation(&[-1.0, 0.0, 0.0, 1.0, 0.0], &mask, 5).is_err());
    assert!(top_k_intersection(&perfect, &mask, 5, 6, false).is_err());
    assert!(pointing_game(&perfect, &mask[..4], 5, false).is_err());
    assert!(pointing_game(&[f64::NAN; 5], &mask, 5, false).is_err());
}

#[test]
fn effective_complexity_agrees_with_quantus() {
    use xai_core::metrics::complexity::effective_complexity;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let f = fx.features();
    for name in ["saliency", "integrated_gradients/gausslegendre"] {
        let a = &fx.expected[name].values.data;
        for (eps, key) in [
            (1e-5, "effective_complexity_eps1e-05"),
            (0.1, "effective_complexity_eps0.1"),
        ] {
            let ours: Vec<f64> = a
                .chunks(f)
                .map(|row| effective_complexity(row, eps).unwrap() as f64)
                .collect();
            assert_eq!(
                ours,
                floats(&reference["metrics"][name][key]),
                "{name} ε = {eps}"
            );
        }
    }
    assert_eq!(effective_complexity(&[0.0, 2.0, 1.0, 0.1], 0.1).unwrap(), 2);
    assert!(effective_complexity(&[0.0; 4], 0.1).is_err());
    assert!(effective_complexity(&[1.0; 4], 1.0).is_err());
}

#[test]
fn monotonicity_catches_what_quantus_misses() {
    use xai_core::agnostic::FnModel;
    use xai_core::metrics::faithfulness::{Order, monotonicity};
    // A linear model f(x) = w·x, reference 0: restoring features in ascending order of their
    // exact contributions w_i x_i is monotone iff no contribution is negative.
    let w = [1.0, 2.0, -0.5, 3.0];
    let model = FnModel::new(4, move |r: &[f64], n| {
        (0..n)
            .map(|i| r[4 * i..4 * i + 4].iter().zip(&w).map(|(x, w)| x * w).sum())
            .collect()
    });
    let x = [1.0, 1.0, 0.0, 1.0, /* row 2 */ 1.0, 1.0, 1.0, 1.0];
    let contributions: Vec<f64> = x.iter().zip(w.iter().cycle()).map(|(x, w)| x * w).collect();
    let rows = Rows::new(&x, 4).unwrap();
    let attr = Rows::new(&contributions, 4).unwrap();
    let zeros = References::PerInput(vec![0.0; 8]);
    let config = CurveConfig {
        features_per_step: 1,
        order: Order::Signed,
        output: Output::Raw,
        options: RunOptions {
            progress: false,
            ..RunOptions::default()
        },
    };
    let verdict = monotonicity(&model, &rows, &attr, &zeros, &[0, 0], &config).unwrap();
    assert_eq!(verdict, [true, false]);

    // On the image CNN, Quantus 0.6 passes a random explanation (its curve never moves);
    // restoring the input's own values shows the random ranking is not monotone.
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let dev = Device::flex();
    let m = fx.model(&dev, DType::F64).unwrap();
    let bb = BurnModel::new(
        move |t| m.forward(t),
        fx.features(),
        dev.clone(),
        DType::F64,
    );
    let f = fx.features();
    let n = fx.inputs.data.len() / f;
    let mut state = 7u64;
    let random: Vec<f64> = (0..n * f)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let inputs = Rows::new(&fx.inputs.data, f).unwrap();
    let verdict = monotonicity(
        &bb,
        &inputs,
        &Rows::new(&random, f).unwrap(),
        &black(&inputs),
        fx.targets.as_ref().unwrap(),
        &CurveConfig {
            features_per_step: 4,
            ..config.clone()
        },
    )
    .unwrap();
    assert!(verdict.iter().any(|v| !v), "{verdict:?}");
    // Evaluated in blocks that stop at an input's first fall, the verdicts are those of the
    // whole insertion curve on the reversed ranking, for every step size and ordering.
    let targets = fx.targets.as_ref().unwrap();
    let monotone_ig = fx.expected["integrated_gradients/gausslegendre"]
        .values
        .data
        .clone();
    for attr in [&random, &fx.inputs.data, &monotone_ig] {
        for (step, order) in [
            (1, Order::Signed),
            (4, Order::Absolute),
            (16, Order::Signed),
        ] {
            let cfg = CurveConfig {
                features_per_step: step,
                order,
                ..config.clone()
            };
            let key: Vec<f64> = attr
                .iter()
                .map(|&a| match order {
                    Order::Signed => -a,
                    Order::Absolute => -a.abs(),
                })
                .collect();
            let whole = xai_core::metrics::faithfulness::insertion(
                &bb,
                &inputs,
                &Rows::new(&key, f).unwrap(),
                &black(&inputs),
                targets,
                &CurveConfig {
                    order: Order::Signed,
                    ..cfg.clone()
                },
            )
            .unwrap();
            let naive: Vec<bool> = whole
                .curves
                .iter()
                .map(|c| c.windows(2).all(|w| w[1] >= w[0]))
                .collect();
            let blocked = monotonicity(
                &bb,
                &inputs,
                &Rows::new(attr, f).unwrap(),
                &black(&inputs),
                targets,
                &cfg,
            )
            .unwrap();
            assert_eq!(blocked, naive, "step {step}, {order:?}");
        }
    }
}

#[test]
fn selectivity_is_region_deletion_and_agrees_with_quantus() {
    use xai_core::agnostic::FeatureGroups;
    use xai_core::metrics::faithfulness::region_curves;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    let f = fx.features();
    let bb = BurnModel::new(|x| model.forward(x), f, device.clone(), DType::F64);
    let inputs = Rows::new(&fx.inputs.data, f).unwrap();
    let n = inputs.n;
    let refs = black(&inputs);
    // Selectivity (Montavon et al. 2018): 2×2 patches deleted by decreasing attribution sum.
    let patches = FeatureGroups::image_patches([1, 8, 8], 2).unwrap();
    let cfg = CurveConfig {
        features_per_step: 1,
        options: RunOptions {
            progress: false,
            ..RunOptions::default()
        },
        ..CurveConfig::default()
    };
    for method in ["saliency", "integrated_gradients/gausslegendre"] {
        let attr = Rows::new(&fx.expected[method].values.data, f).unwrap();
        let ours = region_curves(
            &bb,
            &inputs,
            &attr,
            &refs,
            fx.targets.as_ref().unwrap(),
            &patches,
            &cfg,
            false,
        )
        .unwrap();
        for i in 0..n {
            let theirs = floats(&reference["selectivity"][method][i]);
            assert_eq!(theirs.len() + 1, ours.curves[i].len(), "{method} {i}");
            let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (s, (t, o)) in theirs.iter().zip(&ours.curves[i][1..]).enumerate() {
                assert!(
                    (t - o).abs() <= 1e-5 * scale + 1e-6,
                    "{method} input {i} step {}: quantus {t}, ours {o}",
                    s + 1
                );
            }
        }
    }
}

#[test]
fn non_sensitivity_agrees_with_quantus() {
    use xai_core::Target;
    use xai_core::metrics::axiomatic::non_sensitivity;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    let f = fx.features();
    let bb = BurnModel::new(|x| model.forward(x), f, device.clone(), DType::F64);
    let inputs = Rows::new(&fx.inputs.data, f).unwrap();
    let refs = black(&inputs);
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let target = Target::Classes(fx.targets.clone().unwrap());
    for name in ["saliency", "integrated_gradients/gausslegendre"] {
        let a = &fx.expected[name].values.data;
        let ours: Vec<f64> = non_sensitivity(&bb, &inputs, a, &refs, &target, 1e-5, &quiet)
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect();
        assert_eq!(
            ours,
            floats(&reference["metrics"][name]["non_sensitivity_logit"]),
            "{name}"
        );
    }
}

/// Every number of a nested JSON array, flattened in order.
fn flatten(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        other => vec![other.as_f64().expect("number")],
    }
}

#[test]
fn consistency_and_sufficiency_agree_with_quantus() {
    use xai_core::metrics::consistency::{Discretiser, consistency, sufficiency};
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let q = &quantus_reference()["dasgupta"];
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    let f = fx.features();
    let x = flatten(&q["x"]);
    let n = x.len() / f;
    // The model's own predictions (f64 here, f32 in Quantus) are the same classes.
    let bb = BurnModel::new(|x| model.forward(x), f, device.clone(), DType::F64);
    let outputs = xai_core::agnostic::BlackBox::predict(&bb, &x, n).unwrap();
    let k = outputs.len() / n;
    let predicted: Vec<usize> = outputs.chunks(k).map(xai_core::agnostic::argmax).collect();
    let theirs: Vec<usize> = flatten(&q["predicted"])
        .iter()
        .map(|&c| c as usize)
        .collect();
    assert_eq!(predicted, theirs);
    let c = consistency(
        &flatten(&q["a_sparse"]),
        f,
        &predicted,
        Discretiser::FirstSigns(5),
    )
    .unwrap();
    let s = sufficiency(&flatten(&q["a_dense"]), f, &predicted, 0.6).unwrap();
    for (name, ours, want) in [
        ("consistency", &c, floats(&q["consistency"])),
        ("sufficiency", &s, floats(&q["sufficiency"])),
    ] {
        assert_eq!(ours.len(), n);
        for i in 0..n {
            assert!(
                (ours[i] - want[i]).abs() < 1e-9,
                "{name} {i}: {} vs {}",
                ours[i],
                want[i]
            );
        }
    }
    // Not a constant: the set has inputs that score 0, ½ and 1 on consistency.
    assert!(c.iter().any(|&v| v > 0.9) && c.contains(&0.0));
    assert!(s.iter().any(|&v| v > 0.4));
}

#[test]
fn road_without_noise_agrees_with_quantus() {
    use xai_core::metrics::road::{RoadConfig, linear_imputation, road};
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let q = &quantus_reference()["road"];
    let f = fx.features();
    // The imputation itself: 20 pixels of input 0 removed.
    let x0 = &fx.inputs.data[..f];
    let removed: Vec<usize> = flatten(&q["imputation"]["removed"])
        .iter()
        .map(|&v| v as usize)
        .collect();
    let ours = linear_imputation(x0, [1, 8, 8], &removed).unwrap();
    let theirs = flatten(&q["imputation"]["values"]);
    for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!((a - b).abs() < 1e-10, "pixel {k}: {a} vs {b}");
    }
    assert!(
        removed.iter().any(|&p| (ours[p] - x0[p]).abs() > 1e-3),
        "nothing was imputed"
    );
    // The accuracy curves, without noise.
    let bb = image_cnn_black_box(&fx);
    let cfg = RoadConfig {
        noise: 0.0,
        ..RoadConfig::default()
    };
    let ig = &fx.expected["integrated_gradients/gausslegendre"]
        .values
        .data;
    let targets: Vec<usize> = flatten(&q["targets"]).iter().map(|&c| c as usize).collect();
    let inputs = Rows::new(&fx.inputs.data, f).unwrap();
    let r = road(&bb, &inputs, [1, 8, 8], ig, &targets, &cfg).unwrap();
    assert_eq!(r.accuracy, floats(&q["accuracy"]));
    let d = &quantus_reference()["dasgupta"];
    let (x, a) = (flatten(&d["x"]), flatten(&d["a_dense"]));
    let predicted = classes(&d["predicted"]);
    let r = road(
        &bb,
        &Rows::new(&x, f).unwrap(),
        [1, 8, 8],
        &a,
        &predicted,
        &cfg,
    )
    .unwrap();
    let want = floats(&q["accuracy_seeded_inputs"]);
    for (k, (o, t)) in r.accuracy.iter().zip(&want).enumerate() {
        assert!(
            (o - t).abs() < 1e-12,
            "percentage {}: {o} vs {t}",
            r.percentages[k]
        );
    }
    // With noise the curve is seeded: the same seed gives the same curve.
    let noisy = RoadConfig::default();
    let r1 = road(&bb, &inputs, [1, 8, 8], ig, &targets, &noisy).unwrap();
    let r2 = road(&bb, &inputs, [1, 8, 8], ig, &targets, &noisy).unwrap();
    assert_eq!(r1, r2);
}

/// The explainer of the randomisation and stability references: the input gradient of the class
/// logit of the image CNN, by burn's autodiff in f64.
fn gradient_explainer(fx: &Fixture) -> impl Fn(&[f64], &[usize]) -> xai_core::Result<Vec<f64>> {
    use burn::tensor::{Tensor, TensorData};
    let device = Device::flex().autodiff();
    let model = fx.model(&device, DType::F64).unwrap();
    let f = fx.features();
    move |rows: &[f64], classes: &[usize]| {
        let n = classes.len();
        let x = Tensor::<2>::from_data(
            TensorData::new(rows.to_vec(), [n, f]),
            (&device, DType::F64),
        )
        .require_grad();
        let out = model.forward(x.clone());
        let k = out.dims()[1];
        let mask: Vec<f64> = classes
            .iter()
            .flat_map(|&c| (0..k).map(move |j| f64::from(u8::from(j == c))))
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, k]), (&device, DType::F64));
        let grads = (out * mask).sum().backward();
        xai_core::tensor_to_vec_f64(x.grad(&grads).unwrap())
    }
}

#[test]
fn random_logit_agrees_with_quantus() {
    use xai_core::metrics::random_logit::{random_logit, random_logit_against};
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let (q, d) = (&reference["random_logit"], &reference["dasgupta"]);
    let f = fx.features();
    let gradient = gradient_explainer(&fx);
    let x = flatten(&d["x"]);
    let predicted = classes(&d["predicted"]);
    let a = gradient(&x, &predicted).unwrap();
    let off: Vec<usize> = flatten(&q["off_classes"])
        .iter()
        .map(|&c| c as usize)
        .collect();
    assert!(off.iter().zip(&predicted).all(|(o, p)| o != p));
    let ours = random_logit_against(&gradient, &x, f, &a, &off).unwrap();
    let theirs = floats(&q["scores"]);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert!((o - t).abs() < 1e-9, "input {i}: {o} vs {t}");
    }
    // Our own draw: other classes, seeded, reproducible.
    let k = q["classes"].as_u64().unwrap() as usize;
    let s1 = random_logit(&gradient, &x, f, &a, &predicted, k, 3).unwrap();
    assert_eq!(
        s1,
        random_logit(&gradient, &x, f, &a, &predicted, k, 3).unwrap()
    );
    assert!(s1.iter().all(|v| v.is_finite() && *v < 0.5), "{s1:?}");
}

#[test]
fn relative_stability_agrees_with_quantus() {
    use xai_core::metrics::relative_stability::{
        Stability, StabilityConfig, StabilityModel, relative_stability, relative_stability_over,
    };
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let (q, d) = (&reference["relative_stability"], &reference["dasgupta"]);
    let f = fx.features();
    let gradient = gradient_explainer(&fx);
    let bb = image_cnn_black_box(&fx);
    let logits = |rows: &[f64], n: usize| xai_core::agnostic::BlackBox::predict(&bb, rows, n);
    let sm = StabilityModel {
        logits: &logits,
        representation: None,
    };
    let x = flatten(&d["x"]);
    let predicted = classes(&d["predicted"]);
    let a = gradient(&x, &predicted).unwrap();
    let perturbed: Vec<Vec<f64>> = q["perturbed"]
        .as_array()
        .unwrap()
        .iter()
        .map(flatten)
        .collect();
    for (kind, key, tol) in [
        (Stability::Input, "input", 1e-9),
        (Stability::Output, "output", 1e-3),
    ] {
        let ours = relative_stability_over(
            kind, &gradient, &sm, &x, f, &a, &predicted, &perturbed, 1e-6,
        )
        .unwrap();
        let theirs = q[key]["scores"].as_array().unwrap();
        let mut compared = 0;
        for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
            // Quantus marks an input NaN (null) when a perturbation changed its prediction.
            let Some(t) = t.as_f64() else { continue };
            let o = o.expect("no perturbation changed the prediction");
            assert!(
                (o - t).abs() <= tol * t.abs().max(1e-9),
                "{key} {i}: {o} vs {t}"
            );
            compared += 1;
        }
        assert!(compared >= 20, "{key}: {compared} inputs compared");
    }
    // Representation stability with the input as the representation is input stability; the
    // seeded draw is reproducible.
    let identity = |rows: &[f64], _n: usize| Ok(rows.to_vec());
    let with_rep = StabilityModel {
        logits: &logits,
        representation: Some(&identity),
    };
    let cfg = StabilityConfig {
        samples: 4,
        ..StabilityConfig::default()
    };
    let ris = relative_stability(
        Stability::Input,
        &gradient,
        &with_rep,
        &x,
        f,
        &a,
        &predicted,
        &cfg,
    )
    .unwrap();
    let rrs = relative_stability(
        Stability::Representation,
        &gradient,
        &with_rep,
        &x,
        f,
        &a,
        &predicted,
        &cfg,
    )
    .unwrap();
    assert_eq!(ris, rrs);
    assert!(
        relative_stability(
            Stability::Representation,
            &gradient,
            &sm,
            &x,
            f,
            &a,
            &predicted,
            &cfg
        )
        .is_err()
    );
}

#[test]
fn sensitivity_n_agrees_with_quantus() {
    use xai_core::metrics::sensitivity_n::sensitivity_n;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let (q, d) = (&reference["sensitivity_n"], &reference["dasgupta"]);
    let f = fx.features();
    let bb = image_cnn_black_box(&fx);
    let (x, a) = (flatten(&d["x"]), flatten(&d["a_dense"]));
    let predicted = classes(&d["predicted"]);
    let inputs = Rows::new(&x, f).unwrap();
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let ours = sensitivity_n(
        &bb,
        &inputs,
        &Rows::new(&a, f).unwrap(),
        &black(&inputs),
        &predicted,
        4,
        &quiet,
    )
    .unwrap();
    let theirs = floats(&q["scores"]);
    assert_eq!(ours.len(), theirs.len());
    // Quantus ran the model in f32: the drops agree to about 1e-6 relative.
    for (s, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert!((o - t).abs() < 1e-4, "step {s}: {o} vs {t}");
    }
    assert!(
        sensitivity_n(
            &bb,
            &Rows::new(&x[..f], f).unwrap(),
            &Rows::new(&a[..f], f).unwrap(),
            &black(&Rows::new(&x[..f], f).unwrap()),
            &predicted[..1],
            4,
            &quiet
        )
        .is_err()
    );
}

#[test]
fn ancona_sensitivity_n_is_one_for_exact_linear_attributions_and_checks_its_settings() {
    use xai_core::agnostic::FnModel;
    use xai_core::metrics::sensitivity_n::sensitivity_n_subsets;
    // f_c(x) = Σ_j w_cj x_j + c; φ = w_c ⊙ (x − reference) is exact for every subset.
    let (n, f) = (5, 8);
    let w = |c: usize, j: usize| ((c * 7 + j * 3) % 5) as f64 - 1.7;
    let model = FnModel::new(f, move |r: &[f64], rows| {
        (0..rows)
            .flat_map(|i| {
                (0..2).map(move |c| (0..f).map(|j| w(c, j) * r[i * f + j]).sum::<f64>() + c as f64)
            })
            .collect()
    });
    let x: Vec<f64> = (0..n * f)
        .map(|i| ((i * 11) % 13) as f64 / 6.0 - 1.0)
        .collect();
    let reference: Vec<f64> = (0..n * f).map(|i| ((i * 5) % 7) as f64 / 10.0).collect();
    let classes = [0, 1, 0, 1, 1];
    let phi: Vec<f64> = (0..n * f)
        .map(|k| w(classes[k / f], k % f) * (x[k] - reference[k]))
        .collect();
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let inputs = Rows::new(&x, f).unwrap();
    let refs = References::PerInput(reference.clone());
    for size in [1, 3, 7] {
        let s = sensitivity_n_subsets(
            &model,
            &inputs,
            &Rows::new(&phi, f).unwrap(),
            &refs,
            &classes,
            size,
            16,
            3,
            &quiet,
        )
        .unwrap();
        assert_eq!(s.len(), n);
        assert!(
            s.iter().all(|c| (c - 1.0).abs() < 1e-9),
            "n = {size}: {s:?}"
        );
        // The negated attributions anti-correlate exactly; the same seed gives the same subsets.
        let neg: Vec<f64> = phi.iter().map(|v| -v).collect();
        let t = sensitivity_n_subsets(
            &model,
            &inputs,
            &Rows::new(&neg, f).unwrap(),
            &refs,
            &classes,
            size,
            16,
            3,
            &quiet,
        )
        .unwrap();
        assert!(
            t.iter().all(|c| (c + 1.0).abs() < 1e-9),
            "n = {size}: {t:?}"
        );
    }
    // Attributions of the wrong class's weights do not satisfy it everywhere.
    let wrong: Vec<f64> = (0..n * f)
        .map(|k| w(1 - classes[k / f], k % f) * (x[k] - reference[k]))
        .collect();
    let u = sensitivity_n_subsets(
        &model,
        &inputs,
        &Rows::new(&wrong, f).unwrap(),
        &refs,
        &classes,
        3,
        16,
        3,
        &quiet,
    )
    .unwrap();
    assert!(u.iter().any(|c| *c < 0.99), "{u:?}");
    // Settings outside the definition are errors, not numbers.
    let phi_rows = Rows::new(&phi, f).unwrap();
    for (size, subsets) in [(0, 16), (f, 16), (3, 1)] {
        let got = sensitivity_n_subsets(
            &model, &inputs, &phi_rows, &refs, &classes, size, subsets, 3, &quiet,
        );
        assert!(got.is_err(), "n = {size}, subsets = {subsets}");
    }
    let short = References::PerInput(reference[..f].to_vec());
    assert!(
        sensitivity_n_subsets(
            &model, &inputs, &phi_rows, &short, &classes, 3, 16, 3, &quiet
        )
        .is_err()
    );
}

#[test]
fn monotonicity_correlation_agrees_with_quantus() {
    use xai_core::metrics::monotonicity_correlation::monotonicity_correlation;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let (q, d) = (
        &reference["monotonicity_correlation"],
        &reference["dasgupta"],
    );
    let f = fx.features();
    let bb = image_cnn_black_box(&fx);
    let (x, a) = (flatten(&d["x"]), flatten(&d["a_dense"]));
    let predicted = classes(&d["predicted"]);
    // The reference's perturbation: call c = group · 3 + sample sets feature j of input b to
    // 0.5 + 0.4 sin(1.3 c + 0.7 j + 0.1 b).
    let wave = |b: usize, g: usize, s: usize, j: usize, _v: f64| {
        0.5 + 0.4 * (1.3 * (g * 3 + s) as f64 + 0.7 * j as f64 + 0.1 * b as f64).sin()
    };
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let ours = monotonicity_correlation(
        &bb,
        &Rows::new(&x, f).unwrap(),
        &Rows::new(&a, f).unwrap(),
        &predicted,
        4,
        3,
        &wave,
        1e-5,
        &quiet,
    )
    .unwrap();
    let theirs = floats(&q["scores"]);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert!((o - t).abs() < 1e-9, "input {i}: {o} vs {t}");
    }
    // One perturbed copy per chunk: the same scores.
    let tiny = RunOptions {
        progress: false,
        budget: xai_core::MemoryBudget { bytes: 1 },
    };
    let chunked = monotonicity_correlation(
        &bb,
        &Rows::new(&x, f).unwrap(),
        &Rows::new(&a, f).unwrap(),
        &predicted,
        4,
        3,
        &wave,
        1e-5,
        &tiny,
    )
    .unwrap();
    assert_eq!(chunked, ours);
}

#[test]
fn input_invariance_holds_for_gradients_and_fails_for_gradient_times_input() {
    use xai_core::metrics::axiomatic::input_invariance;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let d = &quantus_reference()["dasgupta"];
    let f = fx.features();
    let gradient = gradient_explainer(&fx);
    let x = flatten(&d["x"]);
    let predicted = classes(&d["predicted"]);
    let shift = -1.0;
    // The shifted model f'(z) = f(z − c), explained at x + c.
    let shifted_gradient = |rows: &[f64], c: &[usize]| {
        gradient(&rows.iter().map(|v| v - shift).collect::<Vec<_>>(), c)
    };
    let g = gradient(&x, &predicted).unwrap();
    let ok = input_invariance(&shifted_gradient, &x, f, &g, &predicted, shift, 1e-4, 1e-5).unwrap();
    assert!(ok.iter().all(|&v| v), "{ok:?}");
    let times_input = |rows: &[f64], c: &[usize]| {
        let g = shifted_gradient(rows, c)?;
        Ok(rows.iter().zip(g).map(|(x, g)| x * g).collect())
    };
    let gx: Vec<f64> = x.iter().zip(&g).map(|(x, g)| x * g).collect();
    let bad = input_invariance(&times_input, &x, f, &gx, &predicted, shift, 1e-4, 1e-5).unwrap();
    assert!(bad.iter().all(|&v| !v), "{bad:?}");
}

#[test]
fn irof_agrees_with_quantus() {
    use xai_core::agnostic::FeatureGroups;
    use xai_core::metrics::irof::irof;
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let (q, d) = (&reference["irof"], &reference["dasgupta"]);
    let f = fx.features();
    let bb = image_cnn_black_box(&fx);
    let (x, a) = (flatten(&d["x"]), flatten(&d["a_dense"]));
    let predicted = classes(&d["predicted"]);
    let inputs = Rows::new(&x, f).unwrap();
    let attributions = Rows::new(&a, f).unwrap();
    let segments: Vec<FeatureGroups> = q["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            FeatureGroups::from_mask(flatten(s).iter().map(|&g| g as usize).collect()).unwrap()
        })
        .collect();
    let zero = References::PerInput(vec![0.0; x.len()]);
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    for (key, output) in [("logit", Output::Raw), ("softmax", Output::Probability)] {
        let ours = irof(
            &bb,
            &inputs,
            &attributions,
            &zero,
            &predicted,
            &segments,
            output,
            &quiet,
        )
        .unwrap();
        let theirs = floats(&q[key]);
        assert_eq!(ours.scores.len(), theirs.len());
        // Quantus ran the model in f32: ratios agree to about 1e-6 relative.
        for (i, (o, t)) in ours.scores.iter().zip(&theirs).enumerate() {
            assert!(
                (o - t).abs() < 1e-4 * t.abs().max(1.0),
                "{key} input {i}: {o} vs {t}"
            );
        }
        // The ranking matters: the reversed attribution scores lower on average.
        let reversed: Vec<f64> = a.iter().map(|v| -v).collect();
        let worse = irof(
            &bb,
            &inputs,
            &Rows::new(&reversed, f).unwrap(),
            &zero,
            &predicted,
            &segments,
            output,
            &quiet,
        )
        .unwrap();
        assert!(
            worse.mean < ours.mean,
            "{key}: {} vs {}",
            worse.mean,
            ours.mean
        );
    }
    // One shared segmentation is accepted, a wrong count is refused.
    let shared = irof(
        &bb,
        &inputs,
        &attributions,
        &zero,
        &predicted,
        &segments[..1],
        Output::Raw,
        &quiet,
    );
    assert!(shared.is_ok());
    let wrong = irof(
        &bb,
        &inputs,
        &attributions,
        &zero,
        &predicted,
        &segments[..2],
        Output::Raw,
        &quiet,
    );
    assert!(wrong.is_err());
}

#[test]
fn continuity_agrees_with_quantus() {
    use xai_core::metrics::continuity::{ContinuityConfig, continuity};
    let fx = Fixture::load(asset("image_cnn.json")).unwrap();
    let reference = quantus_reference();
    let (q, d) = (&reference["continuity"], &reference["dasgupta"]);
    let gradient = gradient_explainer(&fx);
    let bb = image_cnn_black_box(&fx);
    let logits = |rows: &[f64], n: usize| xai_core::agnostic::BlackBox::predict(&bb, rows, n);
    let x = flatten(&d["x"]);
    let predicted = classes(&d["predicted"]);
    let cfg = ContinuityConfig {
        steps: 8,
        ..ContinuityConfig::default()
    };
    let ours = continuity(&gradient, &logits, &x, [1, 8, 8], &predicted, &cfg).unwrap();
    assert_eq!(ours.shifts, vec![-6, -4, -2, 0, 2, 4, 6, 8]);
    let theirs = floats(&q["scores"]);
    assert_eq!(ours.scores.len(), theirs.len());
    for (i, (o, t)) in ours.scores.iter().zip(&theirs).enumerate() {
        let o = o.expect("every shift is kept without skip_changed");
        assert!(
            (o - t).abs() <= 1e-9 * t.abs().max(1.0),
            "input {i}: {o} vs {t}"
        );
    }
    // Leaving out the shifts that change the prediction can only lower the maximum.
    let kept = continuity(
        &gradient,
        &logits,
        &x,
        [1, 8, 8],
        &predicted,
        &ContinuityConfig {
            skip_changed: true,
            ..cfg
        },
    )
    .unwrap();
    assert!(
        ours.changed.iter().flatten().any(|&c| c),
        "some shift flips a class"
    );
    for (k, o) in kept.scores.iter().zip(&ours.scores) {
        assert!(k.is_none_or(|k| k <= o.unwrap()));
    }
}
