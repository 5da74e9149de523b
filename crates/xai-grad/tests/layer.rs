//! Layer attributions against oracles: layer IG and layer gradient × activation at the hidden
//! layer of `f(x) = tail(a(x))` equal IG and gradient × input of the tail network on the
//! activations; conductance at a linear layer equals left-Riemann layer IG (the layer is linear
//! along the input path); completeness of layer IG and conductance on a network the layer cuts.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, Relu, Tanh};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai_core::Target;
use xai_grad::Precision;
use xai_grad::methods::integrated_gradients::{IgConfig, Quadrature, integrated_gradients};
use xai_grad::methods::layer::{
    layer_conductance, layer_gradient_x_activation, layer_integrated_gradients,
};
use xai_grad::methods::{Explainable, input_gradients};

fn dev() -> Device {
    Device::flex()
}

fn t2(v: Vec<f64>, shape: [usize; 2]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, shape), (&dev(), DType::F64))
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn linear(inp: usize, out: usize, seed: u64) -> Linear {
    let mut l: Linear = LinearConfig::new(inp, out).init(&dev());
    l.weight = Param::from_tensor(t2(random(inp * out, seed), [inp, out]));
    l.bias = Some(Param::from_tensor(Tensor::<1>::from_data(
        TensorData::new(random(out, seed + 1), [out]),
        (&dev(), DType::F64),
    )));
    l
}

/// The tail after the hidden layer: tanh → linear → relu → linear.
#[derive(Module, Debug)]
struct Tail {
    b: Linear,
    c: Linear,
    tanh: Tanh,
    relu: Relu,
}

impl Tail {
    fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        self.c
            .forward(self.relu.forward(self.b.forward(self.tanh.forward(h))))
    }
}

#[derive(Module, Debug)]
struct Net {
    a: Linear,
    tail: Tail,
}

impl Net {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.tail.forward(self.a.forward(x))
    }
}

fn net() -> Net {
    Net {
        a: linear(4, 6, 1),
        tail: Tail {
            b: linear(6, 5, 3),
            c: linear(5, 3, 5),
            tanh: Tanh::new(),
            relu: Relu::new(),
        },
    }
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn layer_methods_equal_their_tail_network_oracles() {
    let n = net();
    let x = t2(random(12, 11), [3, 4]);
    let x0 = t2(random(12, 12).iter().map(|v| 0.3 * v).collect(), [3, 4]);
    let h = n.a.forward(x.clone());
    let h0 = n.a.forward(x0.clone());
    let target = Target::Classes(vec![0, 2, 1]);
    let ex = Explainable::new(n.clone(), |m: &Net, x| m.forward(x), dev())
        .with_precision(Precision::F64);
    let tail = Explainable::new(n.tail.clone(), |m: &Tail, h| m.forward(h), dev())
        .with_precision(Precision::F64);

    // Layer gradient × activation = gradient × input of the tail at h.
    let lga = layer_gradient_x_activation(&ex, &x, &target, "a").unwrap();
    assert_eq!(lga.shape, vec![3, 6]);
    let oracle = vals(input_gradients(&tail, &h, &[0, 2, 1]).unwrap() * h.clone());
    assert!(max_diff(&lga.values, &oracle) < 1e-12);

    // Layer IG = IG of the tail between h0 and h, for every quadrature.
    for method in [
        Quadrature::GaussLegendre,
        Quadrature::RiemannTrapezoid,
        Quadrature::RiemannLeft,
    ] {
        let cfg = IgConfig {
            n_steps: 16,
            method,
            ..IgConfig::default()
        };
        let lig = layer_integrated_gradients(&ex, &x, &x0, &target, "a", &cfg).unwrap();
        let ig = integrated_gradients(&tail, &h, &h0, &target, &cfg).unwrap();
        assert!(
            max_diff(&lig.values, &vals(ig.attributions)) < 1e-12,
            "{method:?}"
        );
        for (d, e) in lig.delta.unwrap().iter().zip(&ig.delta) {
            assert!((d - e).abs() < 1e-12);
        }
    }

    // Conductance at a linear layer = left-Riemann layer IG with the same steps.
    let cfg = IgConfig {
        n_steps: 20,
        method: Quadrature::RiemannLeft,
        ..IgConfig::default()
    };
    let cond = layer_conductance(&ex, &x, &x0, &target, "a", &cfg).unwrap();
    let lig = layer_integrated_gradients(&ex, &x, &x0, &target, "a", &cfg).unwrap();
    assert!(max_diff(&cond.values, &lig.values) < 1e-12);
}

#[test]
fn layer_ig_and_conductance_are_complete_on_a_cut_layer() {
    let n = net();
    let x = t2(random(8, 21), [2, 4]);
    let x0 = Tensor::<2>::zeros([2, 4], (&dev(), DType::F64));
    let ex = Explainable::new(n, |m: &Net, x| m.forward(x), dev()).with_precision(Precision::F64);
    let target = Target::Predicted;
    let lig = layer_integrated_gradients(
        &ex,
        &x,
        &x0,
        &target,
        "tail.b",
        &IgConfig {
            n_steps: 256,
            ..IgConfig::default()
        },
    )
    .unwrap();
    assert!(lig.delta.unwrap().iter().all(|d| d.abs() < 1e-3));
    let cond = layer_conductance(
        &ex,
        &x,
        &x0,
        &target,
        "tail.b",
        &IgConfig {
            n_steps: 2000,
            ..IgConfig::default()
        },
    )
    .unwrap();
    let d = cond.delta.unwrap();
    assert!(d.iter().all(|d| d.abs() < 5e-3), "{d:?}");
    // A tiny budget (one step per chunk) gives the same numbers.
    let small = IgConfig {
        n_steps: 2000,
        budget: xai_core::MemoryBudget { bytes: 1 },
        ..IgConfig::default()
    };
    let again = layer_conductance(&ex, &x, &x0, &target, "tail.b", &small).unwrap();
    assert!(max_diff(&cond.values, &again.values) < 1e-12);
    assert!(
        layer_conductance(&ex, &x, &x0, &target, "no.such.layer", &IgConfig::default()).is_err()
    );
}

#[test]
fn neuron_gradient_and_ig_match_the_weights_of_a_linear_unit_and_are_complete() {
    use xai_grad::methods::neuron::{neuron_gradient, neuron_integrated_gradients};
    let n = net();
    let w = vals(n.a.weight.val()); // [in = 4, out = 6], burn layout
    let x = t2(random(12, 31), [3, 4]);
    let x0 = t2(random(12, 32), [3, 4]);
    let ex = Explainable::new(n, |m: &Net, x| m.forward(x), dev()).with_precision(Precision::F64);
    let unit = 4;
    let column: Vec<f64> = (0..4).map(|i| w[i * 6 + unit]).collect();
    let g = vals(neuron_gradient(&ex, &x, "a", unit).unwrap());
    let xs = vals(x.clone());
    let bs = vals(x0.clone());
    for r in 0..3 {
        assert!(max_diff(&g[r * 4..r * 4 + 4], &column) < 1e-12);
    }
    let (ig, delta) = neuron_integrated_gradients(
        &ex,
        &x,
        &x0,
        "a",
        unit,
        &IgConfig {
            n_steps: 8,
            ..IgConfig::default()
        },
    )
    .unwrap();
    let want: Vec<f64> = (0..12).map(|k| (xs[k] - bs[k]) * column[k % 4]).collect();
    assert!(max_diff(&vals(ig), &want) < 1e-12);
    assert!(delta.iter().all(|d| d.abs() < 1e-12));
    // A nonlinear unit deeper in: complete up to quadrature error.
    let (_, delta) = neuron_integrated_gradients(
        &ex,
        &x,
        &x0,
        "tail.b",
        2,
        &IgConfig {
            n_steps: 128,
            ..IgConfig::default()
        },
    )
    .unwrap();
    assert!(delta.iter().all(|d| d.abs() < 1e-6), "{delta:?}");
    assert!(neuron_gradient(&ex, &x, "a", 6).is_err());
}

#[test]
fn neuron_conductance_at_a_linear_layer_equals_layer_ig_split_by_the_weights_and_is_complete() {
    use xai_grad::methods::neuron::neuron_conductance;
    let n = net();
    let w = vals(n.a.weight.val()); // [in = 4, out = 6]
    let x = t2(random(8, 41), [2, 4]);
    let x0 = t2(random(8, 42).iter().map(|v| 0.5 * v).collect(), [2, 4]);
    let (xs, bs) = (vals(x.clone()), vals(x0.clone()));
    let ex = Explainable::new(n, |m: &Net, x| m.forward(x), dev()).with_precision(Precision::F64);
    let target = Target::Classes(vec![1, 2]);
    let cfg = IgConfig {
        n_steps: 24,
        ..IgConfig::default()
    };
    // Along the input path a linear unit moves linearly, so its conductance is layer IG at the
    // unit, shared among the inputs in proportion to (x_i − x'_i)·w_iu.
    let lig = layer_integrated_gradients(&ex, &x, &x0, &target, "a", &cfg).unwrap();
    for unit in [0, 3, 5] {
        let (cond, totals) = neuron_conductance(&ex, &x, &x0, &target, "a", unit, &cfg).unwrap();
        let cond = vals(cond);
        for r in 0..2 {
            let share: Vec<f64> = (0..4)
                .map(|i| (xs[r * 4 + i] - bs[r * 4 + i]) * w[i * 6 + unit])
                .collect();
            let moved: f64 = share.iter().sum();
            let want: Vec<f64> = share
                .iter()
                .map(|s| s / moved * lig.values[r * 6 + unit])
                .collect();
            assert!(
                max_diff(&cond[r * 4..r * 4 + 4], &want) < 1e-10,
                "unit {unit} row {r}"
            );
            assert!((totals[r] - lig.values[r * 6 + unit]).abs() < 1e-10);
        }
    }
    // Summed over every unit of a layer that cuts the network: F(x) − F(x').
    let fine = IgConfig {
        n_steps: 256,
        ..IgConfig::default()
    };
    let mut sum = [0.0f64; 2];
    for unit in 0..5 {
        let (_, totals) = neuron_conductance(&ex, &x, &x0, &target, "tail.b", unit, &fine).unwrap();
        sum[0] += totals[0];
        sum[1] += totals[1];
    }
    let (fx, fb) = (
        vals(ex.forward(&x).unwrap()),
        vals(ex.forward(&x0).unwrap()),
    );
    for (r, c) in [(0, 1), (1, 2)] {
        let gap = fx[r * 3 + c] - fb[r * 3 + c];
        assert!((sum[r] - gap).abs() < 1e-3, "row {r}: {} vs {gap}", sum[r]);
    }
    assert!(neuron_conductance(&ex, &x, &x0, &target, "a", 6, &cfg).is_err());
    assert!(neuron_conductance(&ex, &x, &x0, &target, "nope", 0, &cfg).is_err());
}

/// Conv features read as tokens: `[N, K, h, w]` → `[N, h·w, K]`, then a nonlinear pooling.
#[derive(burn::module::Module, Debug)]
struct TokenNet {
    conv: burn::nn::conv::Conv2d,
    fc: burn::nn::Linear,
}

impl TokenNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let tokens = self.conv.forward(x).flatten::<3>(2, 3).swap_dims(1, 2);
        let pooled = (tokens.clone() * tokens).mean_dim(1).flatten::<2>(1, 2);
        self.fc.forward(pooled)
    }
}

#[test]
fn token_grad_cam_equals_grad_cam_on_the_same_features_laid_out_as_channels() {
    use xai_grad::methods::grad_cam::{CamMode, grad_cam, grad_cam_tokens};
    let dev = Device::flex();
    let net = xai_testkit::seeded(TokenNet {
        conv: burn::nn::conv::Conv2dConfig::new([1, 4], [3, 3])
            .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev),
        fc: burn::nn::LinearConfig::new(4, 3).init(&dev),
    });
    let ex = Explainable::new(net, |m: &TokenNet, x| m.forward(x), dev.clone())
        .with_precision(xai_grad::Precision::F64);
    let x = xai_testkit::randn([2, 1, 5, 6], 11, &dev);
    let g = ex.graph(&x).unwrap();
    let swap = g
        .nodes()
        .iter()
        .find(|n| n.kind == "swap_dims")
        .map(|n| n.name.clone())
        .unwrap_or_else(|| panic!("no swap_dims node in\n{}", g.summary()));
    for mode in [CamMode::GradCam, CamMode::GradCamPlusPlus] {
        for class in 0..3 {
            let t = Target::Class(class);
            let conv = grad_cam(&ex, &x, &t, "conv", mode).unwrap();
            let tokens = grad_cam_tokens(&ex, &x, &t, &swap, 0, [5, 6], mode).unwrap();
            assert_eq!((tokens.h, tokens.w), (5, 6));
            for (a, b) in conv.values.iter().zip(&tokens.values) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
    }
    // The grid must account for every token after the skipped ones.
    assert!(
        grad_cam_tokens(
            &ex,
            &x,
            &Target::Class(0),
            &swap,
            1,
            [5, 6],
            CamMode::GradCam
        )
        .is_err()
    );
    assert!(
        grad_cam_tokens(
            &ex,
            &x,
            &Target::Class(0),
            "conv",
            0,
            [5, 6],
            CamMode::GradCam
        )
        .is_err()
    );
}
