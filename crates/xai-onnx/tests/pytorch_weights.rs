//! A PyTorch `state_dict` loaded into the same architecture written in burn reproduces the
//! exported ONNX model: logits, and attributions (IG) through the engine, from `.safetensors`
//! and from `.pt`. Missing parameters are an error, not a silent default.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};
use xai_core::Target;
use xai_core::fixture::tensor_from_f64;
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_onnx::OnnxModel;
use xai_onnx::fixture::OnnxFixture;
use xai_onnx::pytorch::load_state_dict;
use xai_testkit::models::FixtureResnet;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/fixtures/onnx")
        .join(name)
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn safetensors_weights_reproduce_the_onnx_model_and_its_attributions() {
    let dev = Device::flex();
    let fx = OnnxFixture::load(fixture("onnx_resnet.json")).unwrap();
    let (native, report) = load_state_dict(
        FixtureResnet::new(&dev),
        fixture("onnx_resnet.safetensors"),
        &[],
    )
    .unwrap();
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    // 4 convs + 3 BatchNorms + fc: weight and bias each, BatchNorm also its two statistics.
    assert_eq!(
        report.applied.len(),
        4 * 2 + 3 * 4 + 2,
        "{:?}",
        report.applied
    );
    let native = native.valid();
    let onnx = OnnxModel::load(fixture("onnx_resnet.onnx"), &dev, DType::F32).unwrap();
    let input = &fx.inputs[0];
    let (n, f) = input.values.as_rows();
    let x: Tensor<2> = tensor_from_f64(&input.values.data, vec![n, f], &dev, DType::F32);
    let a = xai_core::tensor_to_vec_f64(native.forward_flat(x.clone())).unwrap();
    let b = xai_core::tensor_to_vec_f64(onnx.try_forward_flat(x.clone()).unwrap()).unwrap();
    // The exporter folded BatchNorm into the convolutions: equal up to f32 rounding.
    assert!(
        max_abs_diff(&a, &b) < 1e-5,
        "logits differ by {}",
        max_abs_diff(&a, &b)
    );
    let target = Target::Classes(fx.targets.clone());
    let base = Tensor::<2>::zeros([n, f], &dev);
    let ig = |ex: &Explainable<2>| {
        let r = integrated_gradients(ex, &x, &base, &target, &IgConfig::default()).unwrap();
        xai_core::tensor_to_vec_f64(r.attributions).unwrap()
    };
    let ex_native = Explainable::new(
        native,
        |m: &FixtureResnet, x: Tensor<2>| m.forward_flat(x),
        dev.clone(),
    )
    .with_precision(Precision::F32);
    let ex_onnx = Explainable::new(
        onnx,
        |m: &OnnxModel, x: Tensor<2>| m.forward_flat(x),
        dev.clone(),
    )
    .with_precision(Precision::F32);
    let (ia, ib) = (ig(&ex_native), ig(&ex_onnx));
    let scale = ia.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        max_abs_diff(&ia, &ib) < 1e-4 * scale,
        "IG differs by {} (scale {scale})",
        max_abs_diff(&ia, &ib)
    );
}

#[test]
fn pt_weights_load_like_safetensors() {
    let dev = Device::flex();
    let (a, _) = load_state_dict(
        FixtureResnet::new(&dev),
        fixture("onnx_resnet.safetensors"),
        &[],
    )
    .unwrap();
    let pt = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx_resnet.pt");
    let (b, report) = load_state_dict(FixtureResnet::new(&dev), &pt, &[]).unwrap();
    assert!(report.unused.is_empty(), "{:?}", report.unused);
    let x = Tensor::<2>::ones([2, 3 * 16 * 16], &dev);
    let (ya, yb) = (
        xai_core::tensor_to_vec_f64(a.valid().forward_flat(x.clone())).unwrap(),
        xai_core::tensor_to_vec_f64(b.valid().forward_flat(x)).unwrap(),
    );
    assert_eq!(ya, yb);
}

#[test]
fn a_state_dict_that_misses_parameters_is_an_error() {
    let dev = Device::flex();
    // Renaming `c1.*` away leaves the module's c1 without weights.
    let e = load_state_dict(
        FixtureResnet::new(&dev),
        fixture("onnx_resnet.safetensors"),
        &[(r"^c1\.", "conv_one.")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("c1.weight") && e.contains("not in the file"),
        "{e}"
    );
    let e = load_state_dict(FixtureResnet::new(&dev), fixture("onnx_resnet.json"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown weights format"), "{e}");
    let e = load_state_dict(
        FixtureResnet::new(&dev),
        fixture("onnx_resnet.safetensors"),
        &[("(", "x")],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("key remapping"), "{e}");
}
