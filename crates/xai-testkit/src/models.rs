//! Small models that exercise the engine's op coverage, each initialised from a fixed seed.
#![allow(missing_docs)]

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{
    BatchNorm, BatchNormConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig, Relu, Tanh,
};
use burn::tensor::{Device, Tensor};

use crate::seeded;

/// A dense layer with the given weights (`[inputs, outputs]` row-major, burn's layout) and bias:
/// the linear classifier of the closed-form oracles.
pub fn linear_with(weight: &[f64], bias: &[f64], dev: &Device) -> Linear {
    use burn::module::Param;
    use burn::tensor::TensorData;
    let outputs = bias.len();
    let inputs = weight.len() / outputs.max(1);
    let mut l = LinearConfig::new(inputs, outputs).init(dev);
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let w = TensorData::new(f32s(weight), [inputs, outputs]);
    l.weight = Param::from_tensor(Tensor::from_data(w, dev));
    let b = TensorData::new(f32s(bias), [outputs]);
    l.bias = Some(Param::from_tensor(Tensor::from_data(b, dev)));
    l
}

/// Dense 5 → 7 (tanh) → 6 (sigmoid) → 3; `relu` is there for tests that insert one.
#[derive(Module, Debug)]
pub struct Mlp {
    pub a: Linear,
    pub b: Linear,
    pub c: Linear,
    pub act: Tanh,
    pub relu: Relu,
}
impl Mlp {
    /// burn's default initialisation, drawn from seed 0.
    pub fn new(dev: &Device) -> Self {
        seeded(Mlp {
            a: LinearConfig::new(5, 7).init(dev),
            b: LinearConfig::new(7, 6).init(dev),
            c: LinearConfig::new(6, 3).init(dev),
            act: Tanh::new(),
            relu: Relu::new(),
        })
    }
    /// Logits.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = self.act.forward(self.a.forward(x));
        let h = burn::tensor::activation::sigmoid(self.b.forward(h));
        self.c.forward(h)
    }
}

/// Inputs `[N, 2, 6, 6]`: conv 3×3 (padding 1) → BatchNorm → ReLU → max-pool 2 → conv 3×3 →
/// softplus → average pool (stride 1) → adaptive average pool 2×2 → dense 12 → 3.
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
    /// burn's default initialisation, drawn from seed 0.
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
    /// Logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.act.forward(self.bn.forward(self.c1.forward(x)));
        let h = self.pool.forward(h);
        let h = burn::tensor::activation::softplus(self.c2.forward(h), 1.0);
        let h = self.ada.forward(self.avg.forward(h));
        self.fc.forward(h.flatten(1, 3))
    }
}

/// Dense 4 → 6, a GELU residual branch 6 → 6 → 6 added back, dense 6 → 2.
#[derive(Module, Debug)]
pub struct Residual {
    pub inp: Linear,
    pub f1: Linear,
    pub f2: Linear,
    pub out: Linear,
    pub act: Gelu,
}
impl Residual {
    /// burn's default initialisation, drawn from seed 0.
    pub fn new(dev: &Device) -> Self {
        seeded(Residual {
            inp: LinearConfig::new(4, 6).init(dev),
            f1: LinearConfig::new(6, 6).init(dev),
            f2: LinearConfig::new(6, 6).init(dev),
            out: LinearConfig::new(6, 2).init(dev),
            act: Gelu::new(),
        })
    }
    /// Logits.
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
    /// burn's default initialisation, drawn from seed 0.
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
    /// Logits.
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

/// The residual CNN of the `onnx_resnet` fixture written in burn, field names as in its PyTorch
/// `state_dict` (`c1`…`c4`, `b1`…`b3`, `fc`): `a = relu(b1(c1 x))`,
/// `r = relu(a + b3(c3(relu(b2(c2 a)))))`, 2×2 max-pool, `relu(c4)` (stride 2), the spatial mean,
/// `fc`. Input `[N, 3, 16, 16]`, 5 logits. Weights come from the fixture's `.safetensors`.
#[derive(Module, Debug)]
pub struct FixtureResnet {
    pub c1: Conv2d,
    pub b1: BatchNorm,
    pub c2: Conv2d,
    pub b2: BatchNorm,
    pub c3: Conv2d,
    pub b3: BatchNorm,
    pub c4: Conv2d,
    pub fc: Linear,
    pub pool: MaxPool2d,
    pub gap: AdaptiveAvgPool2d,
}
impl FixtureResnet {
    /// The architecture with burn's default initialisation (replace the weights before use).
    pub fn new(dev: &Device) -> Self {
        let conv = |i, o, stride| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_stride([stride, stride])
                .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(dev)
        };
        seeded(FixtureResnet {
            c1: conv(3, 8, 1),
            b1: BatchNormConfig::new(8).init(dev),
            c2: conv(8, 8, 1),
            b2: BatchNormConfig::new(8).init(dev),
            c3: conv(8, 8, 1),
            b3: BatchNormConfig::new(8).init(dev),
            c4: conv(8, 12, 2),
            fc: LinearConfig::new(12, 5).init(dev),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        })
    }
    /// Logits of flat inputs `[N, 3·16·16]`.
    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        self.forward(x.reshape([n, 3, 16, 16]))
    }
    /// Logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let relu = burn::tensor::activation::relu;
        let a = relu(self.b1.forward(self.c1.forward(x)));
        let h = relu(self.b2.forward(self.c2.forward(a.clone())));
        let r = relu(a + self.b3.forward(self.c3.forward(h)));
        let p = self.pool.forward(r);
        let c = relu(self.c4.forward(p));
        let n = c.dims()[0];
        self.fc.forward(self.gap.forward(c).reshape([n, 12]))
    }
}
