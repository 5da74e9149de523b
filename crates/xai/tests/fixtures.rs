//! Every shared fixture: every method this release supports must PASS (all gradient- and
//! rule-based keys and the second-order block), on flex (f64) and, with the `wgpu` feature, on
//! wgpu, and so must the model-agnostic ones (feature ablation, occlusion, exact Shapley):
//! nothing in the fixtures may be UNSUPPORTED any more.

use std::path::PathBuf;

use xai::fixture_check::{Status, check_fixture, precision_for};
use xai_core::fixture::Fixture;

fn fixture_dir() -> PathBuf {
    // The repository's copies of ../shared/fixtures (byte-identical; see assets/fixtures/README.md).
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../assets/fixtures")
}

fn check_all(device_name: &str) {
    let dev = xai_core::parse_device(device_name).unwrap();
    let mut checked = 0;
    for name in ["tabular_mlp", "image_cnn", "smooth_mlp"] {
        let fx = Fixture::load(fixture_dir().join(format!("{name}.json"))).unwrap();
        let lines = check_fixture(&fx, &dev, precision_for(device_name)).unwrap();
        for l in &lines {
            assert_eq!(l.status, Status::Pass, "{device_name} {name}: {l}");
            checked += 1;
        }
    }
    // logits, saliency, input×gradient, 5 IG, DeepLIFT, guided, deconv, 3 LRP on each fixture
    // (42), Grad-CAM ×3 + occlusion on the image one, ablation + 2 Shapley on the tabular one,
    // 1 HVP + 1 input Hessian on the smooth one.
    assert!(checked >= 51, "only {checked} checks ran");
}

#[test]
fn fixtures_pass_on_flex() {
    check_all("flex");
}

#[cfg(feature = "wgpu")]
#[test]
fn fixtures_pass_on_wgpu() {
    check_all("wgpu-cpu");
}

#[test]
fn a_wrong_value_fails_the_check() {
    // The checker itself can fail: perturb a reference and expect FAIL.
    let line = xai::fixture_check::compare("k", &[1.0, 2.0], &[1.0, 2.1]);
    assert_eq!(line.status, Status::Fail);
    let line = xai::fixture_check::compare("k", &[1.0, 2.0], &[1.0, 2.0 + 1e-7]);
    assert_eq!(line.status, Status::Pass);
}

#[test]
fn malformed_fixtures_are_parse_errors() {
    assert!(Fixture::parse("{\"model\":[{\"type\":\"bogus\"}]}", "t").is_err());
    assert!(Fixture::parse("{\"inputs\":[[1,2],[3]]}", "t").is_err());
    assert!(Fixture::load("/nonexistent/file.json").is_err());
}
