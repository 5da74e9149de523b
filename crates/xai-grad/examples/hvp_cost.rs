//! Cost of an exact HVP relative to one gradient, and its accuracy against finite differences.
//!
//! `cargo run --release -p xai-grad --example hvp_cost` (prints one JSON line).

use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{DType, Device, Tensor};
use rand::SeedableRng;
use xai_grad::{CapturedGraph, DynTensor, Precision};

#[derive(Module, Debug)]
struct Mlp {
    a: Linear,
    b: Linear,
}

fn ce(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let [n, c] = logits.dims();
    let oh = xai_core::one_hot(labels, c, &logits.device()).cast(logits.dtype());
    (burn::tensor::activation::log_softmax(logits, 1) * oh)
        .sum()
        .neg()
        .div_scalar(n as f64)
        .reshape([1])
}

fn main() -> xai_core::Result<()> {
    let dev = Device::flex();
    let m = Mlp {
        a: LinearConfig::new(784, 256).init(&dev),
        b: LinearConfig::new(256, 10).init(&dev),
    };
    let m = xai_core::init::seeded(m, 0)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let n = 64;
    let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let x = xai_core::init::normal_tensor(&mut rng, [n, 784], &dev);
    let l2 = labels.clone();
    let g = CapturedGraph::capture(&m, x.clone(), move |m, x| {
        ce(
            m.b.forward(burn::tensor::activation::tanh(m.a.forward(x))),
            &l2,
        )
    })?;
    let xs = [DynTensor::from_tensor(x.clone())];
    let v: Vec<DynTensor> = g
        .params()
        .iter()
        .map(|p| {
            let t =
                xai_core::init::normal_tensor(&mut rng, [p.shape.iter().product::<usize>()], &dev);
            match p.shape.len() {
                1 => DynTensor::from_tensor(t),
                _ => DynTensor::from_tensor(t.reshape([p.shape[0], p.shape[1]])),
            }
        })
        .collect();
    let reps = 20;
    let obj = |o: &[DynTensor]| o[0].clone().into_tensor::<1>();
    let _ = g.param_grads(&xs, &dev, Precision::F32, obj)?;
    let t0 = Instant::now();
    for _ in 0..reps {
        let _ = g.param_grads(&xs, &dev, Precision::F32, obj)?;
    }
    let grad_s = t0.elapsed().as_secs_f64() / reps as f64;
    let _ = g.hvp_params(&xs, &v, &dev, Precision::F32, |_, t| {
        t[0].clone().into_tensor::<1>()
    })?;
    let t0 = Instant::now();
    for _ in 0..reps {
        let _ = g.hvp_params(&xs, &v, &dev, Precision::F32, |_, t| {
            t[0].clone().into_tensor::<1>()
        })?;
    }
    let hvp_s = t0.elapsed().as_secs_f64() / reps as f64;
    // Accuracy: f32 exact HVP and f64 exact HVP vs f64 central differences.
    let x64 = [DynTensor::from_tensor(x.cast(DType::F64))];
    let flat =
        |h: &[DynTensor]| -> Vec<f64> { h.iter().flat_map(|t| t.to_vec_f64().unwrap()).collect() };
    let exact32 = flat(&g.hvp_params(&xs, &v, &dev, Precision::F32, |_, t| {
        t[0].clone().into_tensor::<1>()
    })?);
    let exact64 = flat(&g.hvp_params(&x64, &v, &dev, Precision::F64, |_, t| {
        t[0].clone().into_tensor::<1>()
    })?);
    let fd64 = flat(&g.fd_hvp_params(&x64, &v, 1e-5, &dev, Precision::F64, obj)?);
    let scale = fd64.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let err = |a: &[f64]| {
        a.iter()
            .zip(&fd64)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    };
    println!(
        "{{\"model\":\"mlp 784-256-10 tanh, batch {n}\",\"params\":{},\"grad_ms\":{:.3},\"hvp_ms\":{:.3},\"hvp_over_grad\":{:.2},\"rel_err_f32_vs_fd64\":{:.2e},\"rel_err_f64_vs_fd64\":{:.2e}}}",
        g.params()
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum::<usize>(),
        grad_s * 1e3,
        hvp_s * 1e3,
        hvp_s / grad_s,
        err(&exact32),
        err(&exact64)
    );
    Ok(())
}
