//! Influence on a convolutional network: the captured CNN replays on any batch size (its
//! flatten keeps the batch dimension), per-example gradients sum to the batch gradient, and the
//! exact and CG influence agree. (K-FAC/EK-FAC factors for conv layers are not built.)

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, FloatDType, Tensor};
use xai_grad::{CapturedGraph, Precision};
use xai_influence::eval::{TrainOptions, train};
use xai_influence::objective::to_f64;
use xai_influence::{Data, Influence, Loss, Objective, Solver};

#[derive(Module, Debug)]
struct Cnn {
    conv: Conv2d,
    pool: MaxPool2d,
    fc: Linear,
    relu: Relu,
}

impl Cnn {
    /// Flat 8×8 digits `[N, 64]` → logits `[N, 10]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let h = self
            .relu
            .forward(self.conv.forward(x.reshape([n, 1, 8, 8])));
        self.fc.forward(self.pool.forward(h).flatten(1, 3))
    }
}

#[test]
fn a_cnn_gets_per_example_gradients_and_exact_influence() {
    let dev = Device::flex();
    let d = xai_influence::data::digits().unwrap();
    let tr = d.subset(&(0..120).collect::<Vec<_>>());
    let te = d.subset(&(1500..1503).collect::<Vec<_>>());
    let train_set = Data::from_rows(&tr.x, 64, tr.y.clone(), &dev, Precision::F64).unwrap();
    let test = Data::from_rows(&te.x, 64, te.y.clone(), &dev, Precision::F64).unwrap();
    dev.seed(5);
    let cnn = Cnn {
        conv: Conv2dConfig::new([1, 3], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev),
        pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        fc: LinearConfig::new(3 * 4 * 4, 10).init(&dev),
        relu: Relu::new(),
    };
    let x = train_set
        .x
        .clone()
        .into_tensor::<2>()
        .unwrap()
        .cast(FloatDType::F32);
    let g = CapturedGraph::capture(&cnn, x, |m, x| m.forward(x)).unwrap();
    assert!(g.is_batch_flexible(), "{}", g.summary());
    let obj = Objective::new(g, train_set, Loss::CrossEntropy, 1e-2, &dev, Precision::F64).unwrap();
    let (theta, _) = train(
        &obj,
        &obj.theta(),
        None,
        &TrainOptions {
            grad_tol: 1e-7,
            max_iter: 2000,
            history: 20,
        },
    )
    .unwrap();
    // Replays on other batch sizes: the 3 test digits, and one example at a time.
    assert_eq!(obj.losses(&theta, &test).unwrap().len(), 3);
    let per = obj.per_example_grads(&theta, obj.train(), 16).unwrap();
    assert_eq!(per.dims(), [120, obj.num_params()]);
    // Their mean is the data part of the batch gradient (the L2 term added by value_grad).
    let mean = to_f64(per.mean_dim(0)).unwrap();
    let (_, full) = obj.value_grad(&theta, None).unwrap();
    let l2 = to_f64(theta.clone() * obj.l2_mask()).unwrap();
    let full = to_f64(full).unwrap();
    let err = mean
        .iter()
        .zip(&full)
        .zip(&l2)
        .map(|((m, f), r)| (m + obj.l2() * r - f).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-8, "{err}");
    // Exact and CG influence agree on the CNN.
    let exact = Influence::new(&obj, &theta, &Solver::exact(1e-3))
        .unwrap()
        .up_loss(&test)
        .unwrap();
    let cg = Influence::new(&obj, &theta, &Solver::cg(1e-3, 500))
        .unwrap()
        .up_loss(&test)
        .unwrap();
    let (a, b): (Vec<f64>, Vec<f64>) = (exact.concat(), cg.concat());
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(scale > 0.0 && diff < 1e-4 * scale, "{diff} of {scale}");
}
