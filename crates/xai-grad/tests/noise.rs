//! Noise tunnel and GradientSHAP: exact limits and reproducibility.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use xai_core::Target;
use xai_grad::methods::noise_tunnel::{Aggregate, NoiseConfig, gradient_shap, smoothgrad};
use xai_grad::methods::{Explainable, input_gradients};

#[derive(Module, Debug)]
struct Net {
    a: Linear,
    b: Linear,
    relu: Relu,
}

fn net() -> Explainable<2> {
    let dev = Device::flex();
    let net = Net {
        a: LinearConfig::new(4, 8).init(&dev),
        b: LinearConfig::new(8, 3).init(&dev),
        relu: Relu::new(),
    };
    Explainable::new(
        xai_core::init::seeded(net, 1).unwrap(),
        |m: &Net, x| m.b.forward(m.relu.forward(m.a.forward(x))),
        dev,
    )
}

use xai_testkit::randn;

fn v(t: Tensor<2>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn without_noise_smoothgrad_is_the_gradient_and_vargrad_is_zero() {
    let ex = net();
    let x = randn([3, 4], 1, &Device::flex());
    let zero = NoiseConfig {
        stdev: 0.0,
        samples: 4,
        ..NoiseConfig::default()
    };
    let g = v(input_gradients(&ex, &x, &[1, 1, 1]).unwrap());
    let sg = v(smoothgrad(&ex, &x, &Target::Class(1), &zero).unwrap());
    assert!(max_diff(&g, &sg) < 1e-6);
    let var = NoiseConfig {
        aggregate: Aggregate::Variance,
        ..zero
    };
    assert!(
        v(smoothgrad(&ex, &x, &Target::Class(1), &var).unwrap())
            .iter()
            .all(|x| x.abs() < 1e-6)
    );
}

#[test]
fn noise_is_reproducible_by_seed_and_changes_with_it() {
    let ex = net();
    let x = randn([2, 4], 2, &Device::flex());
    let cfg = NoiseConfig {
        stdev: 1.0,
        samples: 8,
        ..NoiseConfig::default()
    };
    let a = v(smoothgrad(&ex, &x, &Target::Class(0), &cfg).unwrap());
    let b = v(smoothgrad(&ex, &x, &Target::Class(0), &cfg).unwrap());
    assert_eq!(a, b);
    let c = v(smoothgrad(&ex, &x, &Target::Class(0), &NoiseConfig { seed: 9, ..cfg }).unwrap());
    assert!(max_diff(&a, &c) > 1e-6);
}

#[test]
fn gradient_shap_on_a_linear_model_is_exact_and_complete() {
    let dev = Device::flex();
    let lin: Linear = xai_core::init::seeded(LinearConfig::new(4, 2).init(&dev), 3).unwrap();
    let ex = Explainable::new(lin, |m: &Linear, x| m.forward(x), dev.clone());
    let x = randn([3, 4], 4, &dev);
    let b = randn([1, 4], 5, &dev);
    let cfg = NoiseConfig {
        stdev: 0.3,
        samples: 5,
        ..NoiseConfig::default()
    };
    let a = v(gradient_shap(&ex, &x, &b, &Target::Class(1), &cfg).unwrap());
    let fx = v(ex.forward(&x).unwrap());
    let fb = v(ex.forward(&b).unwrap());
    for i in 0..3 {
        let s: f64 = a[i * 4..i * 4 + 4].iter().sum();
        assert!(
            (s - (fx[i * 2 + 1] - fb[1])).abs() < 1e-5,
            "sample {i}: {s}"
        );
    }
}
