//! Models and oracles shared by the engine tests.
#![allow(dead_code)]

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{
    BatchNorm, BatchNormConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig, Relu, Tanh,
};
use burn::tensor::{Device, Tensor, TensorData};
use xai_grad::{CapturedGraph, DynTensor, Precision};

/// Devices every engine test runs on: flex always, wgpu when the feature is on.
pub fn devices() -> Vec<(&'static str, Device)> {
    #[allow(unused_mut)]
    let mut v = vec![("flex", Device::flex())];
    #[cfg(feature = "wgpu")]
    v.push(("wgpu", Device::wgpu(burn::tensor::DeviceKind::Cpu)));
    v
}

/// Run a test body on every enabled device.
#[macro_export]
macro_rules! on_each_device {
    (|$name:ident, $dev:ident| $body:block) => {
        for ($name, $dev) in common::devices() {
            let _ = $name;
            $body
        }
    };
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub a: Linear,
    pub b: Linear,
    pub c: Linear,
    pub act: Tanh,
    pub relu: Relu,
}
impl Mlp {
    pub fn new(dev: &Device) -> Self {
        seeded(Mlp {
            a: LinearConfig::new(5, 7).init(dev),
            b: LinearConfig::new(7, 6).init(dev),
            c: LinearConfig::new(6, 3).init(dev),
            act: Tanh::new(),
            relu: Relu::new(),
        })
    }
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self.act.forward(self.a.forward(x));
        let h = burn::tensor::activation::sigmoid(self.b.forward(h));
        self.c.forward(h)
    }
}

#[derive(Module, Debug)]
pub struct Cnn {
    pub c1: Conv2d,
    pub bn: BatchNorm,
    pub c2: Conv2d,
    pub pool: MaxPool2d,
    pub avg: AvgPool2d,
    pub ada: AdaptiveAvgPool2d,
    pub fc: Linear,
    pub act: Relu,
}
impl Cnn {
    pub fn new(dev: &Device) -> Self {
        seeded(Cnn {
            c1: Conv2dConfig::new([2, 4], [3, 3])
                .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(dev),
            bn: BatchNormConfig::new(4).init(dev),
            c2: Conv2dConfig::new([4, 3], [3, 3]).init(dev),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            avg: AvgPool2dConfig::new([2, 2]).with_strides([1, 1]).init(),
            ada: AdaptiveAvgPool2dConfig::new([2, 2]).init(),
            fc: LinearConfig::new(12, 3).init(dev),
            act: Relu::new(),
        })
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.act.forward(self.bn.forward(self.c1.forward(x)));
        let h = self.pool.forward(h);
        let h = burn::tensor::activation::softplus(self.c2.forward(h), 1.0);
        let h = self.ada.forward(self.avg.forward(h));
        self.fc.forward(h.flatten(1, 3))
    }
}

#[derive(Module, Debug)]
pub struct Residual {
    pub inp: Linear,
    pub f1: Linear,
    pub f2: Linear,
    pub out: Linear,
    pub act: Gelu,
}
impl Residual {
    pub fn new(dev: &Device) -> Self {
        seeded(Residual {
            inp: LinearConfig::new(4, 6).init(dev),
            f1: LinearConfig::new(6, 6).init(dev),
            f2: LinearConfig::new(6, 6).init(dev),
            out: LinearConfig::new(6, 2).init(dev),
            act: Gelu::new(),
        })
    }
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self.inp.forward(x);
        let r = self
            .f2
            .forward(self.act.forward(self.f1.forward(h.clone())));
        self.out.forward(h + r)
    }
}

/// Single-head self-attention block with LayerNorm, written by hand with burn ops.
#[derive(Module, Debug)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub ln: LayerNorm,
    pub head: Linear,
}
impl Attention {
    pub fn new(dev: &Device) -> Self {
        seeded(Attention {
            q: LinearConfig::new(4, 4).init(dev),
            k: LinearConfig::new(4, 4).init(dev),
            v: LinearConfig::new(4, 4).init(dev),
            ln: LayerNormConfig::new(4).init(dev),
            head: LinearConfig::new(4, 3).init(dev),
        })
    }
    /// `x`: `[N, T, 4]` → `[N, 3]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let (q, k, v) = (
            self.q.forward(x.clone()),
            self.k.forward(x.clone()),
            self.v.forward(x.clone()),
        );
        let scores = q.matmul(k.swap_dims(1, 2)).div_scalar(2.0);
        let att = burn::tensor::activation::softmax(scores, 2);
        let h = self.ln.forward(att.matmul(v) + x);
        self.head.forward(h.mean_dim(1).squeeze_dim(1))
    }
}

/// burn's default initialisation of `model`'s layers, drawn from one fixed seed.
pub fn seeded<M: Module>(model: M) -> M {
    xai_core::init::seeded(model, 0).expect("test models use burn's standard layers")
}

/// Standard normal entries drawn from `seed`.
pub fn randn<const D: usize>(shape: [usize; D], seed: u64, dev: &Device) -> Tensor<D> {
    let mut rng = rand::SeedableRng::seed_from_u64(seed);
    xai_core::init::normal_tensor(&mut rng, shape, dev)
}

pub fn to_f64(t: &DynTensor) -> Vec<f64> {
    t.to_vec_f64().unwrap()
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

pub fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
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
