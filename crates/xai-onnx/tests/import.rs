//! Loading ONNX files: the fixture models reproduce PyTorch's logits, their initializers become
//! named parameters, and bad files are refused in one line before any computation.

use std::path::PathBuf;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use xai_core::fixture::tensor_from_f64;
use xai_onnx::OnnxModel;
use xai_onnx::fixture::OnnxFixture;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/fixtures/onnx")
        .join(name)
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn max_rel_err(ours: &[f64], expected: &[f64]) -> f64 {
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale.max(1e-12)
}

#[test]
fn single_input_models_reproduce_pytorch_logits() {
    let dev = Device::flex();
    for name in ["onnx_mlp.json", "onnx_resnet.json"] {
        let fx = OnnxFixture::load(fixture(name)).unwrap();
        let model = OnnxModel::load(&fx.onnx, &dev, DType::F64).unwrap();
        let input = &fx.inputs[0];
        let (n, f) = input.values.as_rows();
        let x: Tensor<2> = tensor_from_f64(&input.values.data, vec![n, f], &dev, DType::F64);
        let y = model.try_forward_flat(x).unwrap();
        let ours = xai_core::tensor_to_vec_f64(y).unwrap();
        let err = max_rel_err(&ours, &fx.logits.as_ref().unwrap().data);
        // The exported graph stores constants such as GELU's √2 in f32; the reference used f64.
        assert!(err < 1e-7, "{name}: relative error {err}");
    }
}

#[test]
fn token_model_reproduces_pytorch_logits_with_its_mask() {
    let dev = Device::flex();
    let fx = OnnxFixture::load(fixture("onnx_text.json")).unwrap();
    let model = OnnxModel::load(&fx.onnx, &dev, DType::F64).unwrap();
    let names: Vec<&str> = model.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["input_ids", "attention_mask"]);
    let (n, t) = fx.inputs[0].values.as_rows();
    let mut packed = Vec::new();
    for r in 0..n {
        for input in &fx.inputs {
            packed.extend(
                input.values.data[r * t..(r + 1) * t]
                    .iter()
                    .map(|&v| v as i64),
            );
        }
    }
    let ids = Tensor::<3, Int>::from_data(TensorData::new(packed, [n, 2, t]), &dev);
    let ours = xai_core::tensor_to_vec_f64(model.try_forward_packed_ids(ids).unwrap()).unwrap();
    let err = max_rel_err(&ours, &fx.logits.as_ref().unwrap().data);
    assert!(err < 1e-9, "relative error {err}");
    // The mask is an input, not a constant: unmasking the padded positions changes those rows.
    assert!(
        fx.inputs[1].values.data.contains(&0.0),
        "the fixture pads some sequences"
    );
    let mut unmasked = Vec::new();
    for r in 0..n {
        unmasked.extend(
            fx.inputs[0].values.data[r * t..(r + 1) * t]
                .iter()
                .map(|&v| v as i64),
        );
        unmasked.extend(std::iter::repeat_n(1i64, t));
    }
    let ids = Tensor::<3, Int>::from_data(TensorData::new(unmasked, [n, 2, t]), &dev);
    let other = xai_core::tensor_to_vec_f64(model.try_forward_packed_ids(ids).unwrap()).unwrap();
    let changed = ours.iter().zip(&other).any(|(a, b)| (a - b).abs() > 1e-6);
    assert!(changed, "the attention mask had no effect");
}

#[test]
fn initializers_become_parameters_named_by_the_exporter() {
    let dev = Device::flex();
    let model = OnnxModel::load(fixture("onnx_mlp.onnx"), &dev, DType::F32).unwrap();
    let names = model.weights.names();
    for want in ["l1.weight", "l1.bias", "ln.weight", "ln.bias"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // 10→24→16→3 linears and a 24-wide LayerNorm.
    assert_eq!(
        model.weights.num_values(),
        10 * 24 + 24 + 2 * 24 + 24 * 16 + 16 + 16 * 3 + 3
    );
}

#[test]
fn unsupported_ops_are_all_named_before_any_computation() {
    let e = OnnxModel::load(data("unsupported.onnx"), &Device::flex(), DType::F32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unsupported ONNX ops"), "{e}");
    assert!(e.contains("NonMaxSuppression (node nms_1)"), "{e}");
    assert!(e.contains("TopK (node topk_1)"), "{e}");
    assert!(!e.contains("Relu"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn corrupt_truncated_and_missing_files_are_refused_in_one_line() {
    let dir = std::env::temp_dir().join(format!("xai-onnx-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(fixture("onnx_mlp.onnx")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage.onnx", b"this is not a protobuf \xff\xfe".to_vec()),
        ("truncated.onnx", good[..good.len() / 2].to_vec()),
        ("empty.onnx", Vec::new()),
    ];
    for (name, bytes) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = OnnxModel::load(&p, &Device::flex(), DType::F32)
            .unwrap_err()
            .to_string();
        assert_eq!(e.lines().count(), 1, "{name}: {e}");
        assert!(e.contains(name), "{name}: {e}");
    }
    // A torch.export model whose weights live in `model.onnx.data`, copied without that file.
    let exported = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../xai/tests/data/onnx_seed7/onnx_mlp.onnx");
    std::fs::copy(&exported, dir.join("lonely.onnx")).unwrap();
    let e = OnnxModel::load(dir.join("lonely.onnx"), &Device::flex(), DType::F32)
        .unwrap_err()
        .to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("external data") && e.contains("lonely.onnx"),
        "{e}"
    );
    let e = OnnxModel::load(dir.join("absent.onnx"), &Device::flex(), DType::F32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such file"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn wrong_input_shape_is_an_error_not_a_panic() {
    let dev = Device::flex();
    let model = OnnxModel::load(fixture("onnx_resnet.onnx"), &dev, DType::F32).unwrap();
    assert_eq!(
        model.float_input().unwrap().shape,
        [Some(3), Some(16), Some(16)]
    );
    let x = Tensor::<2>::zeros([2, 3 * 16 * 15], &dev);
    let e = model.try_forward_flat(x).unwrap_err().to_string();
    assert!(e.contains("image"), "{e}");
}
