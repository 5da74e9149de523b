//! The ONNX fixtures (PyTorch exports, Captum references in f64): every key the import supports
//! must PASS on flex (f64) and, with the `wgpu` feature, the MLP on wgpu-cpu (f32), `attnlrp`
//! (the `lxt` 2.1 rules) included. The same
//! architectures exported at other seeds, by torch.export (weights in external-data files) and by
//! the TorchScript exporter (dynamic-shape subgraphs: Shape → Gather → Concat → Reshape), written
//! by `scripts/onnx_reference.py`, pass too.

use std::path::PathBuf;

use xai::fixture_check::{Status, precision_for};
use xai::onnx::fixture::OnnxFixture;
use xai::onnx_check::check_onnx_fixture;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/fixtures/onnx")
        .join(name)
}

fn check(name: &str, device_name: &str) -> Vec<String> {
    check_file(&fixture(name), device_name)
}

fn check_file(path: &std::path::Path, device_name: &str) -> Vec<String> {
    let name = path.display().to_string();
    let dev = xai_core::parse_device(device_name).unwrap();
    let fx = OnnxFixture::load(path).unwrap();
    let lines = check_onnx_fixture(&fx, &dev, precision_for(device_name)).unwrap();
    let mut passed = Vec::new();
    for l in &lines {
        assert_eq!(l.status, Status::Pass, "{device_name} {name}: {l}");
        passed.push(l.key.clone());
    }
    passed
}

#[test]
fn onnx_mlp_passes_every_key_with_the_input_hessian() {
    let keys = check("onnx_mlp.json", "flex");
    for k in [
        "logits",
        "saliency",
        "input_x_gradient",
        "integrated_gradients/gausslegendre",
        "integrated_gradients/riemann_trapezoid",
        "input_hessian",
    ] {
        assert!(keys.iter().any(|p| p == k), "{k} not checked: {keys:?}");
    }
}

#[test]
fn onnx_resnet_passes_on_flex() {
    let keys = check("onnx_resnet.json", "flex");
    assert_eq!(keys.len(), 5, "{keys:?}");
}

#[test]
fn onnx_text_passes_at_the_token_embedding() {
    let keys = check("onnx_text.json", "flex");
    for k in [
        "logits",
        "embedding_gradient_x_input",
        "layer_integrated_gradients/gausslegendre",
        "attnlrp",
    ] {
        assert!(keys.iter().any(|p| p == k), "{k} not checked: {keys:?}");
    }
}

#[test]
fn other_seeds_and_exporters_pass_every_key() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for dir in ["onnx_seed7", "onnx_torchscript_seed11"] {
        for (file, keys) in [
            ("onnx_mlp.json", 6),
            ("onnx_resnet.json", 5),
            ("onnx_text.json", 3),
        ] {
            let passed = check_file(&data.join(dir).join(file), "flex");
            assert_eq!(passed.len(), keys, "{dir}/{file}: {passed:?}");
        }
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn onnx_mlp_passes_on_wgpu() {
    let keys = check("onnx_mlp.json", "wgpu-cpu");
    assert!(keys.len() >= 5, "{keys:?}");
}
