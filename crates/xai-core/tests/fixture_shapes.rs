//! A fixture-format model that does not fit its input is one error naming the layer, found
//! before any tensor is built (burn would panic on most of these).

use burn::tensor::{DType, Device};
use serde_json::json;
use xai_core::fixture::Fixture;

fn conv(co: usize, ci: usize, k: usize, stride: usize, pad: usize) -> serde_json::Value {
    json!({"type": "conv2d", "weight_shape": [co, ci, k, k], "stride": [stride, stride], "padding": [pad, pad]})
}

fn linear(out: usize, inp: usize, bias: usize) -> serde_json::Value {
    json!({"type": "linear", "weight": vec![vec![0.1; inp]; out], "bias": vec![0.0; bias]})
}

fn check(input_shape: serde_json::Value, layers: Vec<serde_json::Value>) -> Result<(), String> {
    let text = json!({"input_shape": input_shape, "model": layers}).to_string();
    let fx = Fixture::parse(&text, "model.json").map_err(|e| e.to_string())?;
    fx.check_shapes().map_err(|e| e.to_string())?;
    // What passes the check builds and runs.
    let m = fx
        .model(&Device::flex(), DType::F32)
        .map_err(|e| e.to_string())?;
    let f = fx.features();
    let y = m.forward(burn::tensor::Tensor::zeros([2, f], &Device::flex()));
    assert_eq!(y.dims()[0], 2);
    Ok(())
}

#[test]
fn models_that_do_not_fit_their_input_are_refused_naming_the_layer() {
    let ok = check(
        json!([2, 8, 8]),
        vec![
            conv(4, 2, 3, 1, 1),
            json!({"type": "relu"}),
            json!({"type": "maxpool2d", "kernel": [2, 2], "stride": [2, 2]}),
            json!({"type": "flatten"}),
            linear(3, 64, 3),
        ],
    );
    assert_eq!(ok, Ok(()));
    let bad: Vec<(serde_json::Value, Vec<serde_json::Value>, &str)> = vec![
        (
            json!([3, 8, 8]),
            vec![conv(4, 2, 3, 1, 0)],
            "takes 2 channels, gets 3",
        ),
        (json!([2, 8, 8]), vec![conv(4, 2, 9, 1, 0)], "do not fit"),
        (json!([2, 8, 8]), vec![conv(4, 2, 3, 0, 0)], "do not fit"),
        (
            json!([2, 8, 8]),
            vec![conv(4, 2, 3, 1, 1 << 40)],
            "too large",
        ),
        (
            json!([2, 8, 8]),
            vec![conv(4, 2, 3, 1, 10_000)],
            "too large",
        ),
        (
            json!([2, 8, 8]),
            vec![json!({"type": "maxpool2d", "kernel": [0, 2], "stride": [2, 2]})],
            "do not fit",
        ),
        (json!([2, 8, 8]), vec![linear(3, 128, 3)], "cannot take"),
        (
            json!([6]),
            vec![linear(3, 5, 3)],
            "takes 5 features, gets 6",
        ),
        (
            json!([6]),
            vec![linear(3, 6, 2)],
            "bias has 2 values, needs 3",
        ),
        (json!([6]), vec![json!({"type": "flatten"})], "cannot take"),
        (json!([0, 4]), vec![linear(3, 0, 3)], "positive sizes"),
    ];
    for (shape, layers, want) in bad {
        let e = check(shape.clone(), layers).unwrap_err();
        assert!(e.contains(want), "{shape}: `{e}` should say `{want}`");
        assert!(!e.contains('\n'));
    }
}

#[test]
fn burn_layers_written_as_a_fixture_read_back_and_compute_the_same_outputs() {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::{LinearConfig, PaddingConfig2d};
    use burn::tensor::Tensor;
    use xai_core::fixture::{LayerSpec, NdArray, fixture_json};
    let dev = Device::flex();
    let conv = xai_core::init::seeded(
        Conv2dConfig::new([1, 2], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev),
        3,
    )
    .unwrap();
    let fc = xai_core::init::seeded(LinearConfig::new(2 * 4 * 4, 3).init(&dev), 4).unwrap();
    let layers = vec![
        LayerSpec::from_conv2d(&conv, [1, 1], [1, 1]).unwrap(),
        LayerSpec::Relu,
        LayerSpec::MaxPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        },
        LayerSpec::Flatten,
        LayerSpec::from_linear(&fc).unwrap(),
    ];
    let x: Vec<f64> = (0..2 * 64)
        .map(|i| ((i * 37) % 17) as f64 / 17.0 - 0.4)
        .collect();
    let inputs = NdArray {
        shape: vec![2, 1, 8, 8],
        data: x.clone(),
    };
    let text = fixture_json("roundtrip", &layers, &inputs, &[0, 2]).to_string();
    let fx = Fixture::parse(&text, "roundtrip.json").unwrap();
    assert_eq!(fx.layers, layers);
    assert_eq!(fx.inputs, inputs);
    assert_eq!(fx.targets, Some(vec![0, 2]));
    // The fixture model and the burn layers agree on the outputs.
    let model = fx.model(&dev, DType::F32).unwrap();
    let ours = model.forward(fx.inputs_flat(&dev, DType::F32));
    let xt = Tensor::<4>::from_data(
        burn::tensor::TensorData::new(
            x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            [2, 1, 8, 8],
        ),
        &dev,
    );
    let pool = burn::nn::pool::MaxPool2dConfig::new([2, 2])
        .with_strides([2, 2])
        .init();
    let h = pool.forward(burn::tensor::activation::relu(conv.forward(xt)));
    let theirs = fc.forward(h.reshape([2, 32]));
    let (a, b) = (
        xai_core::tensor_to_vec_f64(ours).unwrap(),
        xai_core::tensor_to_vec_f64(theirs).unwrap(),
    );
    assert!(
        a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5),
        "{a:?} vs {b:?}"
    );
}
