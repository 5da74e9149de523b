//! Throughput of integrated gradients (50 steps) on the `onnx_resnet` fixture through the ONNX
//! import and through the same architecture written in burn with the same weights, measured in
//! one process, alternating runs (this machine's speed drifts; compare the ratio).
//!
//! ```sh
//! cargo run --release -p xai-onnx --example onnx_speed [-- BATCH ROUNDS]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};
use xai_core::Target;
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_onnx::OnnxModel;
use xai_onnx::pytorch::load_state_dict;
use xai_testkit::models::FixtureResnet;

fn main() -> Result<(), xai_core::XaiError> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(32);
    let rounds = args.get(1).copied().unwrap_or(5);
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/onnx");
    let dev = Device::flex();
    let (native, _) = load_state_dict(
        FixtureResnet::new(&dev),
        assets.join("onnx_resnet.safetensors"),
        &[],
    )?;
    let exported = OnnxModel::load(assets.join("onnx_resnet.onnx"), &dev, DType::F32)?;
    let ex_native = Explainable::new(
        native.valid(),
        |m: &FixtureResnet, x| m.forward_flat(x),
        dev.clone(),
    )
    .with_precision(Precision::F32);
    let ex_onnx = Explainable::new(exported, |m: &OnnxModel, x| m.forward_flat(x), dev.clone())
        .with_precision(Precision::F32);
    let x = burn::tensor::activation::sigmoid(xai_testkit::randn([batch, 768], 3, &dev));
    let base = Tensor::<2>::zeros(x.dims(), &dev);
    let config = IgConfig {
        n_steps: 50,
        ..IgConfig::default()
    };
    let run = |ex: &Explainable<2>| -> Result<f64, xai_core::XaiError> {
        let t = Instant::now();
        let r = integrated_gradients(ex, &x, &base, &Target::Predicted, &config)?;
        xai_core::tensor_to_vec_f64(r.attributions)?;
        Ok(batch as f64 / t.elapsed().as_secs_f64())
    };
    // Warm-up: capture and compile both once.
    run(&ex_native)?;
    run(&ex_onnx)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(run(&ex_native)?);
        b.push(run(&ex_onnx)?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ma, mb) = (median(&mut a), median(&mut b));
    println!("IG-50 on onnx_resnet, batch {batch}, {rounds} rounds (median inputs/s):");
    println!(
        "  burn-native {ma:.1}   onnx import {mb:.1}   ratio onnx/native {:.2}",
        mb / ma
    );
    Ok(())
}
