//! Anchors on the shared tabular MLP: every rule found reaches the precision threshold on
//! held-out draws from its own perturbation distribution, the search is reproducible, and the
//! coverage stands next to the reference implementation's (anchor-exp, on the same background:
//! `assets/fixtures/anchors_reference.json`, written by `scripts/anchors_reference.py`).

use burn::tensor::{DType, Device};
use xai_core::agnostic::BurnModel;
use xai_core::agnostic::anchors::{AnchorsConfig, anchors, held_out_precision};
use xai_core::fixture::Fixture;

fn asset(name: &str) -> String {
    format!(
        "{}/../../assets/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn anchors_of_the_tabular_mlp_hold_on_held_out_samples() {
    let fx = Fixture::load(asset("tabular_mlp.json")).unwrap();
    let f = fx.features();
    let device = Device::flex();
    let model = fx.model(&device, DType::F64).unwrap();
    let bb = BurnModel::new(|x| model.forward(x), f, device.clone(), DType::F64);
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(asset("anchors_reference.json")).unwrap())
            .unwrap();
    // 2000 standard-normal rows (the fixture's inputs are standard normal).
    let background: Vec<f64> = reference["background"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let config = AnchorsConfig::default();
    for (i, x) in fx.inputs.data.chunks(f).enumerate() {
        let a = anchors(&bb, x, &background, &config).unwrap();
        assert!(a.is_anchor, "input {i}: {a:?}");
        assert!(a.coverage > 0.0 && a.coverage <= 1.0);
        for p in &a.predicates {
            assert!(
                p.holds(x[p.feature]),
                "input {i}: the instance satisfies its anchor"
            );
        }
        let held_out = held_out_precision(&bb, &a, &background, 5000, 1000 + i as u64).unwrap();
        assert!(
            held_out >= 0.95,
            "input {i}: held-out precision {held_out} ({a:?})"
        );
        let theirs = &reference["instances"][i];
        assert_eq!(theirs["prediction"].as_u64(), Some(a.prediction as u64));
        eprintln!(
            "input {i}: {} features, precision {:.3} (held out {held_out:.3}), coverage {:.3}; \
             anchor-exp {} features, precision {:.3}, coverage {:.3}",
            a.predicates.len(),
            a.precision,
            a.coverage,
            theirs["features"].as_array().unwrap().len(),
            theirs["precision"].as_f64().unwrap(),
            theirs["coverage"].as_f64().unwrap()
        );
        // Same seed, same rule.
        assert_eq!(anchors(&bb, x, &background, &config).unwrap(), a);
    }
    // Bad settings and inputs are refused before any sample.
    let x = &fx.inputs.data[..f];
    let bad = AnchorsConfig {
        threshold: 1.5,
        ..AnchorsConfig::default()
    };
    assert!(anchors(&bb, x, &background, &bad).is_err());
    assert!(anchors(&bb, &x[..f - 1], &background, &config).is_err());
    assert!(anchors(&bb, x, &background[..f + 1], &config).is_err());
}
