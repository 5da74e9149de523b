//! Load a PyTorch `state_dict` into the same architecture written in burn, and check it against
//! the model's ONNX export: equal logits, equal integrated gradients.
//!
//! ```sh
//! cargo run -p xai-onnx --example pytorch_weights            # the bundled fixture files
//! cargo run -p xai-onnx --example pytorch_weights -- W.safetensors M.onnx
//! ```
//!
//! The architecture (`xai_testkit::models::FixtureResnet`) is an ordinary burn module whose field
//! names match the PyTorch `state_dict` keys (`c1.weight`, `b1.running_mean`, `fc.bias`, …);
//! burn-store's PyTorch adapter transposes the Linear weight and maps BatchNorm's
//! `weight`/`bias` to burn's `gamma`/`beta`.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};
use xai_core::Target;
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_onnx::OnnxModel;
use xai_onnx::pytorch::load_state_dict;
use xai_testkit::models::FixtureResnet;

fn max_abs(t: Tensor<2>) -> Result<f64, xai_core::XaiError> {
    Ok(xai_testkit::max_abs(&xai_core::tensor_to_vec_f64(t)?))
}

fn main() -> Result<(), xai_core::XaiError> {
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/onnx");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (weights, onnx) = match args.as_slice() {
        [w, m] => (PathBuf::from(w), PathBuf::from(m)),
        _ => (
            assets.join("onnx_resnet.safetensors"),
            assets.join("onnx_resnet.onnx"),
        ),
    };
    let dev = Device::flex();
    let (native, report) = load_state_dict(FixtureResnet::new(&dev), &weights, &[])?;
    println!(
        "{}: {} tensors applied, {} left in the file",
        weights.display(),
        report.applied.len(),
        report.unused.len()
    );
    let native = native.valid();
    let exported = OnnxModel::load(&onnx, &dev, DType::F32)?;

    // Four deterministic inputs in (0, 1).
    let x = burn::tensor::activation::sigmoid(xai_testkit::randn([4, 3 * 16 * 16], 7, &dev));
    let a = native.forward_flat(x.clone());
    let b = exported.try_forward_flat(x.clone())?;
    let logit_diff = max_abs(a - b)?;
    println!("max |logit(burn) − logit(onnx)| = {logit_diff:.2e}");

    let target = Target::Predicted;
    let base = Tensor::<2>::zeros(x.dims(), &dev);
    let ex_native = Explainable::new(
        native,
        |m: &FixtureResnet, x| m.forward_flat(x),
        dev.clone(),
    )
    .with_precision(Precision::F32);
    let ex_onnx = Explainable::new(exported, |m: &OnnxModel, x| m.forward_flat(x), dev.clone())
        .with_precision(Precision::F32);
    let config = IgConfig::default();
    let ia = integrated_gradients(&ex_native, &x, &base, &target, &config)?.attributions;
    let ib = integrated_gradients(&ex_onnx, &x, &base, &target, &config)?.attributions;
    let scale = max_abs(ia.clone())?;
    let ig_diff = max_abs(ia - ib)?;
    println!("max |IG(burn) − IG(onnx)| = {ig_diff:.2e} (largest attribution {scale:.2e})");
    Ok(())
}
