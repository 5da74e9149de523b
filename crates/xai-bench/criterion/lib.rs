//! Shared set-up of the criterion benchmarks in `benches/` (`cargo bench --manifest-path crates/xai-bench/criterion/Cargo.toml`).
//!
//! The attribution benchmarks run on the shared `perf_lenet` fixture (32 LeNet inputs, the same
//! model and inputs as `xai bench` and the peers' scripts). Its path comes from the
//! `XAI_BENCH_FIXTURE` environment variable, else `../shared/fixtures/perf_lenet.json`; when
//! neither exists the bundled `assets/fixtures/image_cnn.json` stands in (and the benchmark
//! names say so).

#![warn(missing_docs)]

use std::path::PathBuf;

use burn::tensor::{DType, Device, Tensor};
use xai_core::Result;
use xai_core::fixture::{Fixture, FixtureModel};
use xai_grad::Precision;
use xai_grad::methods::Explainable;

/// The fixture to benchmark on, and a short name for it.
pub fn fixture_path() -> (PathBuf, &'static str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    if let Ok(p) = std::env::var("XAI_BENCH_FIXTURE") {
        return (PathBuf::from(p), "custom");
    }
    let shared = root.join("../shared/fixtures/perf_lenet.json");
    if shared.exists() {
        (shared, "perf_lenet")
    } else {
        (root.join("assets/fixtures/image_cnn.json"), "image_cnn")
    }
}

/// A fixture's model prepared for explanation on `device` (f32), and its inputs `[N, features]`.
pub fn prepared(fx: &Fixture, device: &Device) -> Result<(Explainable<2>, Tensor<2>)> {
    let model = fx.model(device, DType::F32)?;
    let ex = Explainable::new(
        model,
        |m: &FixtureModel, x: Tensor<2>| m.forward(x),
        device.clone(),
    )
    .with_precision(Precision::F32);
    Ok((ex, fx.inputs_flat(device, DType::F32)))
}
