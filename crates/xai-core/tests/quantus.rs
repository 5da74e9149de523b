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
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(asset("quantus_metrics.json")).unwrap())
            .unwrap();
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    let f = fx.features();
    let bb = BurnModel::new(|x| model.forward(x), f, device.clone(), DType::F64);
    let inputs = Rows::new(&fx.inputs.data, f).unwrap();
    let n = inputs.n;
    let classes = fx.targets.clone().unwrap();
    // Quantus's "black" baseline is each input's own minimum (helpers/utils.py
    // `get_baseline_dict`), not zero.
    let refs = References::PerInput(
        (0..n)
            .flat_map(|i| {
                let m = inputs.row(i).iter().copied().fold(f64::INFINITY, f64::min);
                std::iter::repeat_n(m, f)
            })
            .collect(),
    );
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
