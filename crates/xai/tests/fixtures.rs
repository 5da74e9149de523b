//! Every shared fixture: the methods this release supports must PASS (saliency,
//! input × gradient, the second-order block), on flex (f64) and, with the `wgpu` feature, on wgpu.

use std::path::PathBuf;

use xai::fixture_check::{Status, check_fixture, precision_for};
use xai_core::fixture::Fixture;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

const REQUIRED: &[&str] = &["logits", "saliency", "input_x_gradient"];

fn check_all(device_name: &str) {
    let dev = xai_core::parse_device(device_name).unwrap();
    let mut checked = 0;
    for name in ["tabular_mlp", "image_cnn", "smooth_mlp"] {
        let fx = Fixture::load(fixture_dir().join(format!("{name}.json"))).unwrap();
        let lines = check_fixture(&fx, &dev, precision_for(device_name)).unwrap();
        for l in &lines {
            let required = REQUIRED.contains(&l.key.as_str()) || l.key.starts_with("second_order/");
            if required {
                assert_eq!(l.status, Status::Pass, "{device_name} {name}: {l}");
                checked += 1;
            }
            assert_ne!(l.status, Status::Fail, "{device_name} {name}: {l}");
        }
    }
    // 3 fixtures × 3 first-order keys + 1 hvp + 1 input Hessian.
    assert!(checked >= 11, "only {checked} checks ran");
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
