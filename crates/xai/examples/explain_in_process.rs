//! Explain a burn model in-process: an ordinary burn module, unmodified, explained with
//! integrated gradients (with its completeness delta), LRP, KernelSHAP through the black-box
//! adapter, and a counterfactual that respects constraints.
//!
//! Run: `cargo run -p xai --example explain_in_process`

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai::core::Target;
use xai::core::agnostic::{
    BurnModel, CounterfactualConfig, FeatureSpec, KernelShap, References, Rows, RunOptions,
    counterfactuals, kernel_shap,
};
use xai::grad::methods::Explainable;
use xai::grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai::grad::methods::lrp::{Composite, lrp};

#[derive(Module, Debug)]
struct Mlp {
    a: Linear,
    b: Linear,
    act: Relu,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.b.forward(self.act.forward(self.a.forward(x)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex();
    // burn's default initialisation, drawn from an explicit seed
    let model = Mlp {
        a: LinearConfig::new(4, 16).init(&device),
        b: LinearConfig::new(16, 3).init(&device),
        act: Relu::new(),
    };
    let model = xai::core::init::seeded(model, 7)?;
    let rows = vec![0.5, -1.0, 2.0, 0.1, 1.5, 0.3, -0.7, 0.9];
    let x = Tensor::<2>::from_data(TensorData::new(rows.clone(), [2, 4]), &device);

    // Gradient methods replay the model's captured graph.
    let ex = Explainable::new(model.clone(), |m: &Mlp, x| m.forward(x), device.clone());
    let ig = integrated_gradients(
        &ex,
        &x,
        &Tensor::zeros([2, 4], &device),
        &Target::Predicted,
        &IgConfig::default(),
    )?;
    println!(
        "IG classes {:?}, completeness delta {:?}",
        ig.classes, ig.delta
    );
    println!("IG {:?}", xai::core::tensor_to_vec(ig.attributions)?);
    let r = lrp(&ex, &x, &Target::Predicted, &Composite::epsilon_plus())?;
    println!("LRP eps+ {:?}", xai::core::tensor_to_vec(r)?);

    // Model-agnostic methods see it as a black box on host rows.
    let black_box = BurnModel::new(|t| model.forward(t), 4, device.clone(), DType::F32);
    let inputs = Rows::new(&rows, 4)?;
    let quiet = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let shap = kernel_shap(
        &black_box,
        &inputs,
        &Target::Predicted,
        &References::PerInput(vec![0.0; 8]),
        &KernelShap {
            run: quiet.clone(),
            ..KernelShap::default()
        },
    )?;
    println!(
        "KernelSHAP (exact: {}) {:?}, f(x) - f(0) = {:?}",
        shap.exact, shap.attribution.values, shap.delta
    );

    // The smallest change that makes the model predict class 2 for the first input, with
    // feature 0 immutable and every feature in [-3, 3].
    let mut specs = vec![FeatureSpec::range(-3.0, 3.0); 4];
    specs[0].immutable = true;
    let set = counterfactuals(
        &black_box,
        &rows[..4],
        2,
        &specs,
        &CounterfactualConfig {
            run: quiet,
            ..CounterfactualConfig::default()
        },
    )?;
    for cf in &set.counterfactuals {
        println!(
            "counterfactual {:?} changes features {:?}",
            cf.row, cf.changed
        );
    }
    println!(
        "validity {:.2}, sparsity {:.1}, diversity {:.3}",
        set.validity, set.sparsity, set.diversity
    );
    Ok(())
}
