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
