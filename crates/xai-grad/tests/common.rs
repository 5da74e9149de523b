//! Oracles shared by the engine tests; models and helpers come from xai-testkit.
#![allow(dead_code, unused_imports)]

use burn::tensor::{Device, Tensor, TensorData};
use xai_grad::{CapturedGraph, DynTensor, Precision};
pub use xai_testkit::models::{Attention, Cnn, Mlp, Residual};
pub use xai_testkit::{max_abs, max_abs_diff, randn, seeded};

pub fn to_f64(t: &DynTensor) -> Vec<f64> {
    t.to_vec_f64().unwrap()
}

/// A tensor from f64 values on flex in f64.
pub fn f64_tensor(data: Vec<f64>, shape: Vec<usize>) -> DynTensor {
    let rank = shape.len();
    let td = TensorData::new(data, shape);
    match rank {
        1 => DynTensor::from_tensor(Tensor::<1>::from_data(
            td,
            (&Device::flex(), burn::tensor::DType::F64),
        )),
        2 => DynTensor::from_tensor(Tensor::<2>::from_data(
            td,
            (&Device::flex(), burn::tensor::DType::F64),
        )),
        3 => DynTensor::from_tensor(Tensor::<3>::from_data(
            td,
            (&Device::flex(), burn::tensor::DType::F64),
        )),
        4 => DynTensor::from_tensor(Tensor::<4>::from_data(
            td,
            (&Device::flex(), burn::tensor::DType::F64),
        )),
        _ => panic!("rank"),
    }
}

/// Central finite-difference JVP of graph output 0 in f64: (f(x + h v) − f(x − h v)) / 2h.
pub fn fd_jvp(g: &CapturedGraph, x: &[f64], v: &[f64], shape: &[usize], h: f64) -> Vec<f64> {
    let eval = |s: f64| {
        let xs: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + s * h * b).collect();
        to_f64(
            &g.eval(
                &[f64_tensor(xs, shape.to_vec())],
                &Device::flex(),
                Precision::F64,
            )
            .unwrap()[0],
        )
    };
    let (p, m) = (eval(1.0), eval(-1.0));
    p.iter().zip(&m).map(|(a, b)| (a - b) / (2.0 * h)).collect()
}
