//! One graph through most supported operators, in configurations the fixtures do not reach
//! (grouped, dilated, asymmetrically padded convolutions, BatchNorm, pooling, Elu/Selu/HardSwish/
//! Softplus/Clip, Where, Pow, ReduceMax, Concat, Transpose, Squeeze/Unsqueeze; and a second
//! through Slice, Pad, Split, Tile, PRelu, ConstantOfShape, Range; a third through ConvTranspose
//! and Resize (nearest, bilinear half-pixel and align-corners); see
//! `scripts/onnx_test_models.py`): the forward equals onnxruntime's, and the gradient the engine
//! computes through the captured graph equals central finite differences of the forward in f64.

use burn::tensor::{DType, Device, Tensor};
use xai_core::fixture::{NdArray, tensor_from_f64};
use xai_grad::Precision;
use xai_grad::methods::{Explainable, input_gradients};
use xai_onnx::OnnxModel;

const ZOOS: [&str; 3] = ["op_zoo", "op_zoo_shapes", "op_zoo_upsampling"];

fn load(name: &str) -> (OnnxModel, NdArray, NdArray) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let model = OnnxModel::load(
        dir.join(format!("{name}.onnx")),
        &Device::flex(),
        DType::F64,
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let x = NdArray::from_json(&raw["inputs"], "inputs").unwrap();
    let y = NdArray::from_json(&raw["logits"], "logits").unwrap();
    (model, x, y)
}

fn flat(x: &NdArray) -> Tensor<2> {
    let (n, f) = x.as_rows();
    tensor_from_f64(&x.data, vec![n, f], &Device::flex(), DType::F64)
}

#[test]
fn forward_matches_onnxruntime() {
    for name in ZOOS {
        forward_matches(name);
    }
}

fn forward_matches(name: &str) {
    let (model, x, want) = load(name);
    let got = xai_core::tensor_to_vec_f64(model.try_forward_flat(flat(&x)).unwrap()).unwrap();
    assert_eq!(got.len(), want.data.len());
    let scale = want.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(&want.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    // onnxruntime computes in f32; we compute in f64.
    assert!(
        err <= 1e-5 * scale + 1e-6,
        "max error {err} (scale {scale})"
    );
}

#[test]
fn engine_gradients_match_finite_differences() {
    for name in ZOOS {
        gradients_match(name);
    }
}

fn gradients_match(name: &str) {
    let (model, x, _) = load(name);
    let (n, f) = x.as_rows();
    let ex = Explainable::new(
        model.clone(),
        |m: &OnnxModel, x: Tensor<2>| m.forward_flat(x),
        Device::flex(),
    )
    .with_precision(Precision::F64);
    let classes = vec![0, 1, 2];
    let g = input_gradients(&ex, &flat(&x), &classes).unwrap();
    let g = xai_core::tensor_to_vec_f64(g).unwrap();
    let out = |data: &[f64], row: usize| -> f64 {
        let t = tensor_from_f64(
            &data[row * f..(row + 1) * f],
            vec![1, f],
            &Device::flex(),
            DType::F64,
        );
        xai_core::tensor_to_vec_f64(model.try_forward_flat(t).unwrap()).unwrap()[classes[row]]
    };
    let h = 1e-6;
    let mut worst = 0.0f64;
    // Every 7th coordinate of every row (a spread over channels and positions).
    for row in 0..n {
        for j in (0..f).step_by(if f > 100 { 7 } else { 1 }) {
            let mut plus = x.data.clone();
            let mut minus = x.data.clone();
            plus[row * f + j] += h;
            minus[row * f + j] -= h;
            let fd = (out(&plus, row) - out(&minus, row)) / (2.0 * h);
            worst = worst.max((fd - g[row * f + j]).abs());
        }
    }
    let scale = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "the gradient should not vanish");
    assert!(
        worst <= 1e-6 * scale.max(1.0),
        "worst |fd − grad| = {worst} (scale {scale})"
    );
}
