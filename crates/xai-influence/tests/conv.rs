//! Influence on a convolutional network: the captured CNN replays on any batch size (its
//! flatten keeps the batch dimension), batched per-example gradients (from the unfolded conv
//! patches) equal one backward per example, the exact and CG influence agree, K-FAC/EK-FAC on
//! conv layers rank like the layer-block-diagonal Gauss-Newton influence they approximate, and a
//! conv whose kernel covers its input gets exactly the K-FAC/EK-FAC of the equivalent dense
//! layer.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, FloatDType, Tensor};
use xai_grad::{CapturedGraph, Precision};
use xai_influence::eval::{TrainOptions, pearson, train};
use xai_influence::objective::to_f64;
use xai_influence::solvers::Fisher;
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

fn flat(m: &[Vec<f64>]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

use xai_testkit::rel;

#[test]
fn a_cnn_gets_per_example_gradients_and_exact_influence() {
    let dev = Device::flex();
    let d = xai_influence::data::digits().unwrap();
    let tr = d.subset(&(0..120).collect::<Vec<_>>());
    let te = d.subset(&(1500..1503).collect::<Vec<_>>());
    let train_set = Data::from_rows(&tr.x, 64, tr.y.clone(), &dev, Precision::F64).unwrap();
    let test = Data::from_rows(&te.x, 64, te.y.clone(), &dev, Precision::F64).unwrap();
    let cnn = Cnn {
        conv: Conv2dConfig::new([1, 3], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev),
        pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        fc: LinearConfig::new(3 * 4 * 4, 10).init(&dev),
        relu: Relu::new(),
    };
    let cnn = xai_core::init::seeded(cnn, 5).unwrap();
    let x = train_set
        .x
        .clone()
        .into_tensor::<2>()
        .unwrap()
        .cast(FloatDType::F32);
    let g = CapturedGraph::capture(&cnn, x, |m, x| m.forward(x)).unwrap();
    assert!(g.is_batch_flexible(), "{}", g.summary());
    assert!(g.is_layerwise() && !g.is_dense_only(), "{}", g.summary());
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
    let mean = to_f64(per.clone().mean_dim(0)).unwrap();
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
    // Each batched row (conv rows from the unfolded patches) is that example's own gradient,
    // computed by one backward pass on a one-example objective.
    let rows = to_f64(per).unwrap();
    let p = obj.num_params();
    for i in [0usize, 41, 119] {
        let single = obj.with_train(obj.train().select(&[i]).unwrap()).unwrap();
        let (_, g) = single.value_grad(&theta, None).unwrap();
        let g = to_f64(g - theta.clone() * single.l2_mask() * single.l2()).unwrap();
        assert!(rel(&rows[i * p..(i + 1) * p], &g) < 1e-10, "row {i}");
    }
    // Exact and CG influence agree on the CNN. The trained CNN is not convex: its Hessian has
    // small negative eigenvalues, so the damping must exceed them for H + λI to be positive
    // definite (Cholesky checks; 1e-3 did not suffice at this seed).
    let exact = Influence::new(&obj, &theta, &Solver::exact(1e-2))
        .unwrap()
        .up_loss(&test)
        .unwrap();
    let cg = Influence::new(&obj, &theta, &Solver::cg(1e-2, 500))
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
    // K-FAC and EK-FAC on the conv and dense layers. Their target is the layer-block-diagonal
    // Gauss-Newton matrix, built here densely (p HVPs) and inverted by Cholesky: the naive
    // oracle. With the exact expectation over labels they rank like it; one sampled label per
    // example is noise-dominated on 120 examples (measured 0.24–0.64), so it is not asserted.
    let gn = Influence::new(
        &obj,
        &theta,
        &Solver::Exact {
            damping: 1e-3,
            curvature: xai_influence::solvers::Curvature::GaussNewton,
        },
    )
    .unwrap()
    .up_loss(&test)
    .unwrap();
    let block_diagonal = block_diagonal_gauss_newton_influence(&obj, &theta, &test, 1e-3);
    let r_blocks = pearson(&flat(&block_diagonal), &flat(&gn));
    assert!(
        r_blocks > 0.9,
        "block-diagonal vs full Gauss-Newton: {r_blocks}"
    );
    for (solver, floor) in [
        (
            Solver::Kfac {
                damping: 1e-3,
                fisher: Fisher::Expected,
            },
            0.85,
        ),
        (
            Solver::Ekfac {
                damping: 1e-3,
                fisher: Fisher::Expected,
            },
            0.87,
        ),
    ] {
        let s = Influence::new(&obj, &theta, &solver)
            .unwrap()
            .up_loss(&test)
            .unwrap();
        let r = pearson(&flat(&s), &flat(&block_diagonal));
        let r_full = pearson(&flat(&s), &flat(&gn));
        eprintln!("{solver:?}: Pearson {r:.4} with block-diagonal GN, {r_full:.4} with full GN");
        assert!(
            r > floor,
            "{solver:?}: Pearson {r:.3} with block-diagonal Gauss-Newton"
        );
        assert!(
            r_full > 0.7,
            "{solver:?}: Pearson {r_full:.3} with Gauss-Newton"
        );
    }
    // Grad-dot (H ≈ I) is the contrast: no curvature, no agreement.
    let dot = Influence::new(&obj, &theta, &Solver::Identity)
        .unwrap()
        .up_loss(&test)
        .unwrap();
    assert!(pearson(&flat(&dot), &flat(&block_diagonal)).abs() < 0.5);
}

/// `I_up,loss` with the Gauss-Newton matrix restricted to blocks within each layer (the
/// structure K-FAC approximates), damped and inverted densely in f64.
fn block_diagonal_gauss_newton_influence(
    obj: &Objective,
    theta: &Tensor<1>,
    test: &Data,
    damping: f64,
) -> Vec<Vec<f64>> {
    let p = obj.num_params();
    let h = to_f64(obj.dense_hessian(theta, true).unwrap()).unwrap();
    // The layer of every coordinate of θ: the module path without the parameter name.
    let layer: Vec<String> = obj
        .graph()
        .params()
        .iter()
        .zip(obj.offsets())
        .flat_map(|(info, &(a, b))| {
            let l = info
                .path
                .rsplit_once('.')
                .map_or("", |(m, _)| m)
                .to_string();
            (a..b).map(move |_| l.clone())
        })
        .collect();
    let mut m = nalgebra::DMatrix::from_row_slice(p, p, &h);
    for i in 0..p {
        for j in 0..p {
            if layer[i] != layer[j] {
                m[(i, j)] = 0.0;
            }
        }
        m[(i, i)] += damping;
    }
    let chol = m
        .cholesky()
        .expect("damped Gauss-Newton is positive definite");
    let gt = to_f64(obj.per_example_grads(theta, test, 8).unwrap()).unwrap();
    let gtr = to_f64(obj.per_example_grads(theta, obj.train(), 8).unwrap()).unwrap();
    gt.chunks(p)
        .map(|g| {
            let x = chol.solve(&nalgebra::DVector::from_column_slice(g));
            gtr.chunks(p)
                .map(|gi| -x.iter().zip(gi).map(|(a, b)| a * b).sum::<f64>())
                .collect()
        })
        .collect()
}

#[derive(Module, Debug)]
struct ConvNet {
    conv: Conv2d,
    fc: Linear,
}

impl ConvNet {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let h = self.conv.forward(x.reshape([n, 1, 8, 8])).flatten(1, 3);
        self.fc.forward(burn::tensor::activation::tanh(h))
    }
}

#[derive(Module, Debug)]
struct DenseNet {
    hidden: Linear,
    fc: Linear,
}

impl DenseNet {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc
            .forward(burn::tensor::activation::tanh(self.hidden.forward(x)))
    }
}

#[test]
fn a_conv_covering_its_input_gets_the_kfac_of_the_equal_dense_layer() {
    // An 8×8 kernel on an 8×8 image has one output position: the conv is a dense layer whose
    // weight is stored [out, C, kh, kw] instead of [in, out]. Same model, same sampled labels:
    // every K-FAC/EK-FAC score must match, which checks the patch layout, the bias row and the
    // transposition of conv blocks inside θ.
    let dev = Device::flex();
    let d = xai_influence::data::digits().unwrap();
    let tr = d.subset(&(0..80).collect::<Vec<_>>());
    let te = d.subset(&(1500..1504).collect::<Vec<_>>());
    let train_set = Data::from_rows(&tr.x, 64, tr.y.clone(), &dev, Precision::F64).unwrap();
    let test = Data::from_rows(&te.x, 64, te.y.clone(), &dev, Precision::F64).unwrap();
    let dense = DenseNet {
        hidden: LinearConfig::new(64, 5).init(&dev),
        fc: LinearConfig::new(5, 10).init(&dev),
    };
    let dense = xai_core::init::seeded(dense, 11).unwrap();
    // its lazy initialisation is never used: weight and bias are replaced below
    let mut conv = Conv2dConfig::new([1, 5], [8, 8]).init(&dev);
    conv.weight = Param::from_tensor(dense.hidden.weight.val().transpose().reshape([5, 1, 8, 8]));
    conv.bias = dense.hidden.bias.clone();
    let convnet = ConvNet {
        conv,
        fc: dense.fc.clone(),
    };
    let x = train_set
        .x
        .clone()
        .into_tensor::<2>()
        .unwrap()
        .cast(FloatDType::F32);
    let gd = CapturedGraph::capture(&dense, x.clone(), |m, x| m.forward(x)).unwrap();
    let gc = CapturedGraph::capture(&convnet, x, |m, x| m.forward(x)).unwrap();
    assert!(gc.is_layerwise() && !gc.is_dense_only());
    let od = Objective::new(
        gd,
        train_set.clone(),
        Loss::CrossEntropy,
        1e-2,
        &dev,
        Precision::F64,
    )
    .unwrap();
    let oc = Objective::new(
        gc,
        train_set,
        Loss::CrossEntropy,
        1e-2,
        &dev,
        Precision::F64,
    )
    .unwrap();
    for solver in [
        Solver::Kfac {
            damping: 1e-3,
            fisher: Fisher::Sampled { seed: 4 },
        },
        Solver::Ekfac {
            damping: 1e-3,
            fisher: Fisher::Sampled { seed: 4 },
        },
        Solver::Kfac {
            damping: 1e-3,
            fisher: Fisher::Expected,
        },
        Solver::Ekfac {
            damping: 1e-3,
            fisher: Fisher::Expected,
        },
    ] {
        let a = Influence::new(&od, &od.theta(), &solver)
            .unwrap()
            .up_loss(&test)
            .unwrap();
        let b = Influence::new(&oc, &oc.theta(), &solver)
            .unwrap()
            .up_loss(&test)
            .unwrap();
        let e = rel(&flat(&b), &flat(&a));
        assert!(e < 1e-9, "{solver:?}: conv vs dense relative error {e:e}");
    }
}
