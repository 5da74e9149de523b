//! Axioms that can fail: completeness (IG, DeepLIFT), LRP conservation and its identity with
//! gradient × input on bias-free ReLU nets, sensitivity and implementation invariance on the IG
//! paper's toy functions, batch invariance, and a ReLU module shared by two call sites.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, Relu, Tanh};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai_core::Target;
use xai_grad::Precision;
use xai_grad::methods::deeplift::{DeepLiftRules, MaxPoolMode, deeplift, deeplift_with};
use xai_grad::methods::guided_backprop::guided_backprop;
use xai_grad::methods::integrated_gradients::{IgConfig, Quadrature, integrated_gradients};
use xai_grad::methods::lrp::{Composite, LrpRule, lrp};
use xai_grad::methods::{Explainable, input_gradients};

fn dev() -> Device {
    Device::flex()
}

fn t2(v: Vec<f64>, shape: [usize; 2]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, shape), (&dev(), DType::F64))
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

/// A Linear with given weights (`[in, out]`, burn layout) and optional bias, in f64.
fn linear(w: Vec<f64>, inp: usize, out: usize, b: Option<Vec<f64>>) -> Linear {
    let mut l: Linear = LinearConfig::new(inp, out)
        .with_bias(b.is_some())
        .init(&dev());
    l.weight = Param::from_tensor(t2(w, [inp, out]));
    l.bias = b.map(|b| {
        Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(b, [out]),
            (&dev(), DType::F64),
        ))
    });
    l
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    // A small deterministic generator: tests must not depend on global RNG state.
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

#[derive(Module, Debug)]
struct Mlp {
    a: Linear,
    b: Linear,
    relu: Relu,
    tanh: Tanh,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.b
            .forward(self.tanh.forward(self.relu.forward(self.a.forward(x))))
    }
}

fn mlp(bias: bool, seed: u64) -> Mlp {
    Mlp {
        a: linear(random(12, seed), 3, 4, bias.then(|| random(4, seed + 1))),
        b: linear(random(8, seed + 2), 4, 2, bias.then(|| random(2, seed + 3))),
        relu: Relu::new(),
        tanh: Tanh::new(),
    }
}

fn explain(m: Mlp) -> Explainable<2> {
    Explainable::new(m, |m: &Mlp, x| m.forward(x), dev()).with_precision(Precision::F64)
}

#[test]
fn ig_sensitivity_on_one_minus_relu_one_minus_x() {
    // f(x) = 1 − ReLU(1 − x): flat at x = 2 (gradient 0), yet f(2) − f(0) = 1.
    #[derive(Module, Debug)]
    struct Toy {
        a: Linear,
        b: Linear,
        relu: Relu,
    }
    let toy = Toy {
        a: linear(vec![-1.0], 1, 1, Some(vec![1.0])),
        b: linear(vec![-1.0], 1, 1, Some(vec![1.0])),
        relu: Relu::new(),
    };
    let ex = Explainable::new(
        toy,
        |m: &Toy, x| m.b.forward(m.relu.forward(m.a.forward(x))),
        dev(),
    )
    .with_precision(Precision::F64);
    let x = t2(vec![2.0], [1, 1]);
    let grad = vals(input_gradients(&ex, &x, &[0]).unwrap());
    assert_eq!(grad, vec![0.0], "the gradient misses the feature");
    let cfg = IgConfig {
        n_steps: 200,
        method: Quadrature::RiemannMiddle,
        ..IgConfig::default()
    };
    let r = integrated_gradients(&ex, &x, &t2(vec![0.0], [1, 1]), &Target::Class(0), &cfg).unwrap();
    let a = vals(r.attributions);
    assert!(
        (a[0] - 1.0).abs() < 1e-2,
        "IG must credit the feature: {a:?}"
    );
}

#[test]
fn implementation_invariance_of_ig_and_deeplift() {
    // Scaling hidden unit j by s_j > 0 on the way in and 1/s_j on the way out leaves a ReLU net's
    // function unchanged; IG and DeepLIFT must not notice.
    let w1 = random(12, 7);
    let w2 = random(8, 8);
    let s = [0.5, 2.0, 3.0, 0.25];
    let w1s: Vec<f64> = w1.iter().enumerate().map(|(i, w)| w * s[i % 4]).collect();
    let w2s: Vec<f64> = w2.iter().enumerate().map(|(i, w)| w / s[i / 2]).collect();
    #[derive(Module, Debug)]
    struct Net {
        a: Linear,
        b: Linear,
        relu: Relu,
    }
    let f = |m: &Net, x| m.b.forward(m.relu.forward(m.a.forward(x)));
    let make = |w1: Vec<f64>, w2: Vec<f64>| {
        Explainable::new(
            Net {
                a: linear(w1, 3, 4, None),
                b: linear(w2, 4, 2, None),
                relu: Relu::new(),
            },
            f,
            dev(),
        )
        .with_precision(Precision::F64)
    };
    let (p, q) = (make(w1, w2), make(w1s, w2s));
    let x = t2(random(6, 11), [2, 3]);
    let b = t2(vec![0.0; 6], [2, 3]);
    assert!(max_diff(&vals(p.forward(&x).unwrap()), &vals(q.forward(&x).unwrap())) < 1e-12);
    let cfg = IgConfig::default();
    let ig = |e: &Explainable<2>| {
        vals(
            integrated_gradients(e, &x, &b, &Target::Class(1), &cfg)
                .unwrap()
                .attributions,
        )
    };
    assert!(
        max_diff(&ig(&p), &ig(&q)) < 1e-10,
        "IG differs between equal functions"
    );
    let dl = |e: &Explainable<2>| vals(deeplift(e, &x, &b, &Target::Class(1)).unwrap().0);
    assert!(
        max_diff(&dl(&p), &dl(&q)) < 1e-10,
        "DeepLIFT differs between equal functions"
    );
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn completeness_of_ig_and_deeplift() {
    let ex = explain(mlp(true, 1));
    let x = t2(random(12, 5), [4, 3]);
    let b = t2(random(12, 6), [4, 3]);
    // A ReLU kink on a path limits the quadrature to about first order; 512 points reach ~2e-5.
    let cfg = IgConfig {
        n_steps: 512,
        ..IgConfig::default()
    };
    let r = integrated_gradients(&ex, &x, &b, &Target::Class(0), &cfg).unwrap();
    assert!(
        r.delta.iter().all(|d| d.abs() < 5e-5),
        "IG delta {:?}",
        r.delta
    );
    let (_, delta) = deeplift(&ex, &x, &b, &Target::Class(0)).unwrap();
    assert!(
        delta.iter().all(|d| d.abs() < 1e-12),
        "DeepLIFT delta {delta:?}"
    );
    // Few steps: the delta is reported honestly (and is not tiny), and adaptive mode fixes it.
    let coarse = IgConfig {
        n_steps: 2,
        method: Quadrature::RiemannLeft,
        ..IgConfig::default()
    };
    let r = integrated_gradients(&ex, &x, &b, &Target::Class(0), &coarse).unwrap();
    assert!(
        r.delta.iter().any(|d| d.abs() > 1e-4),
        "a 2-step sum should be visibly off"
    );
    let adaptive = IgConfig {
        tolerance: Some(1e-3),
        ..coarse
    };
    let r = integrated_gradients(&ex, &x, &b, &Target::Class(0), &adaptive).unwrap();
    assert!(
        r.steps > 2 && r.delta.iter().all(|d| d.abs() <= 1e-3),
        "adaptive: {} steps, {:?}",
        r.steps,
        r.delta
    );
}

#[test]
fn deeplift_routed_max_pool_is_complete() {
    #[derive(Module, Debug)]
    struct Cnn {
        conv: Conv2d,
        pool: MaxPool2d,
        relu: Relu,
        fc: Linear,
    }
    let cnn = Cnn {
        conv: Conv2dConfig::new([1, 3], [3, 3]).init(&dev()),
        pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        relu: Relu::new(),
        fc: LinearConfig::new(12, 2).init(&dev()),
    };
    let cnn = xai_core::init::seeded(cnn, 2).unwrap();
    let f = |m: &Cnn, x: Tensor<4>| {
        m.fc.forward(
            m.pool
                .forward(m.relu.forward(m.conv.forward(x)))
                .flatten(1, 3),
        )
    };
    let ex = Explainable::new(cnn, f, dev());
    let image =
        |seed| Tensor::<4>::from_data(TensorData::new(random(108, seed), [3, 1, 6, 6]), &dev());
    let x = image(71);
    let r = image(72);
    let routed = DeepLiftRules {
        max_pool: MaxPoolMode::Routed,
    };
    let (_, delta) = deeplift_with(&ex, &x, &r, &Target::Class(0), routed).unwrap();
    assert!(
        delta.iter().all(|d| d.abs() < 1e-4),
        "routed max-pool delta {delta:?}"
    );
}

#[test]
fn lrp_conserves_relevance_and_equals_gradient_times_input_on_bias_free_relu_nets() {
    #[derive(Module, Debug)]
    struct Net {
        a: Linear,
        b: Linear,
        c: Linear,
        relu: Relu,
    }
    let net = Net {
        a: linear(random(15, 21), 3, 5, None),
        b: linear(random(20, 22), 5, 4, None),
        c: linear(random(8, 23), 4, 2, None),
        relu: Relu::new(),
    };
    let f = |m: &Net, x| {
        m.c.forward(m.relu.forward(m.b.forward(m.relu.forward(m.a.forward(x)))))
    };
    let ex = Explainable::new(net, f, dev()).with_precision(Precision::F64);
    let x = t2(random(12, 31), [4, 3]);
    let r = vals(
        lrp(
            &ex,
            &x,
            &Target::Class(0),
            &Composite::uniform(LrpRule::Epsilon(1e-12)),
        )
        .unwrap(),
    );
    let logits = vals(ex.forward(&x).unwrap());
    let gx: Vec<f64> = vals(input_gradients(&ex, &x, &[0; 4]).unwrap())
        .iter()
        .zip(vals(x.clone()))
        .map(|(g, x)| g * x)
        .collect();
    for i in 0..4 {
        let z = logits[i * 2];
        if z.abs() < 1e-3 {
            continue; // LRP divides by the logit: skip a near-zero one rather than loosen the bound
        }
        let sum: f64 = r[i * 3..i * 3 + 3].iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-9,
            "sample {i}: relevance sums to {sum}, not 1"
        );
        for j in 0..3 {
            let k = i * 3 + j;
            assert!((r[k] * z - gx[k]).abs() < 1e-9, "LRP-0 · z ≠ x ⊙ ∇z at {k}");
        }
    }
}

#[test]
fn explaining_a_batch_equals_explaining_each_input_alone() {
    let ex = explain(mlp(true, 3));
    let x = t2(random(9, 41), [3, 3]);
    let b = t2(vec![0.0; 9], [3, 3]);
    let t = Target::Classes(vec![0, 1, 0]);
    type Method = fn(&Explainable<2>, &Tensor<2>, &Tensor<2>, &Target) -> Vec<f64>;
    let methods: [(&str, Method); 4] = [
        ("guided", |e, x, _, t| {
            vals(guided_backprop(e, x, t).unwrap())
        }),
        ("lrp", |e, x, _, t| {
            vals(lrp(e, x, t, &Composite::uniform(LrpRule::ZPlus)).unwrap())
        }),
        ("deeplift", |e, x, b, t| {
            vals(deeplift(e, x, b, t).unwrap().0)
        }),
        ("ig", |e, x, b, t| {
            vals(
                integrated_gradients(e, x, b, t, &IgConfig::default())
                    .unwrap()
                    .attributions,
            )
        }),
    ];
    for (name, m) in methods {
        let whole = m(&ex, &x, &b, &t);
        for i in 0..3 {
            let xi = x.clone().narrow(0, i, 1);
            let bi = b.clone().narrow(0, i, 1);
            let ti = Target::Class([0, 1, 0][i]);
            let alone = m(&ex, &xi, &bi, &ti);
            assert!(
                max_diff(&whole[i * 3..i * 3 + 3], &alone) < 1e-12,
                "{name}: sample {i} differs"
            );
        }
    }
}

#[test]
fn a_relu_module_used_twice_gets_correct_guided_and_deeplift_results() {
    #[derive(Module, Debug)]
    struct Shared {
        a: Linear,
        b: Linear,
        c: Linear,
        relu: Relu,
    }
    #[derive(Module, Debug)]
    struct Separate {
        a: Linear,
        b: Linear,
        c: Linear,
        relu1: Relu,
        relu2: Relu,
    }
    let (wa, wb, wc) = (random(12, 51), random(16, 52), random(8, 53));
    let shared = Explainable::new(
        Shared {
            a: linear(wa.clone(), 3, 4, None),
            b: linear(wb.clone(), 4, 4, None),
            c: linear(wc.clone(), 4, 2, None),
            relu: Relu::new(),
        },
        |m: &Shared, x| {
            m.c.forward(m.relu.forward(m.b.forward(m.relu.forward(m.a.forward(x)))))
        },
        dev(),
    )
    .with_precision(Precision::F64);
    let separate = Explainable::new(
        Separate {
            a: linear(wa, 3, 4, None),
            b: linear(wb, 4, 4, None),
            c: linear(wc, 4, 2, None),
            relu1: Relu::new(),
            relu2: Relu::new(),
        },
        |m: &Separate, x| {
            m.c.forward(
                m.relu2
                    .forward(m.b.forward(m.relu1.forward(m.a.forward(x)))),
            )
        },
        dev(),
    )
    .with_precision(Precision::F64);
    let x = t2(random(6, 61), [2, 3]);
    let r = t2(random(6, 62), [2, 3]);
    let t = Target::Class(1);
    let g1 = vals(guided_backprop(&shared, &x, &t).unwrap());
    let g2 = vals(guided_backprop(&separate, &x, &t).unwrap());
    assert!(max_diff(&g1, &g2) < 1e-12);
    let (d1, delta) = deeplift(&shared, &x, &r, &t).unwrap();
    let (d2, _) = deeplift(&separate, &x, &r, &t).unwrap();
    assert!(max_diff(&vals(d1), &vals(d2)) < 1e-12);
    assert!(
        delta.iter().all(|d| d.abs() < 1e-12),
        "shared-ReLU DeepLIFT must stay complete: {delta:?}"
    );
}

/// Regression: in f32 the z⁺ denominator of a neuron whose inputs are all zero must be
/// stabilised to ε, not left at 0 (which gave 0/0 = NaN before).
#[test]
fn lrp_zplus_stays_finite_on_zero_inputs_in_f32() {
    use xai_grad::methods::lrp::{Composite, LrpRule, lrp};
    let m = mlp(false, 5);
    let ex = Explainable::new(m, |m: &Mlp, x| m.forward(x), dev());
    let x: Tensor<2> = Tensor::from_data(
        TensorData::new(vec![0.0f32, 0.0, 0.0, 0.5, 0.0, 0.0], [2, 3]),
        &dev(),
    );
    for rule in [
        LrpRule::ZPlus,
        LrpRule::AlphaBeta {
            alpha: 2.0,
            beta: 1.0,
        },
    ] {
        let r = lrp(&ex, &x, &Target::Class(0), &Composite::uniform(rule)).unwrap();
        assert!(vals(r).iter().all(|v| v.is_finite()), "{rule:?}");
    }
}

#[test]
fn ig_affine_shortcut_is_exact_and_found_through_reshapes() {
    use xai_grad::CapturedGraph;
    // An MLP (the input layer is a Linear) and a CNN fed flat rows (reshape, then a conv).
    #[derive(Module, Debug)]
    struct FlatCnn {
        conv: Conv2d,
        pool: MaxPool2d,
        fc: Linear,
        relu: Relu,
    }
    fn flat_cnn(m: &FlatCnn, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let h = m.relu.forward(m.conv.forward(x.reshape([n, 1, 6, 6])));
        m.fc.forward(m.pool.forward(h).flatten(1, 3))
    }
    let mut conv: Conv2d = Conv2dConfig::new([1, 3], [3, 3]).init(&dev());
    conv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(random(27, 5), [3, 1, 3, 3]),
        (&dev(), DType::F64),
    ));
    conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(random(3, 6), [3]),
        (&dev(), DType::F64),
    )));
    let cnn = FlatCnn {
        conv,
        pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        fc: linear(random(12 * 4, 7), 12, 4, Some(random(4, 8))),
        relu: Relu::new(),
    };
    let x = t2(random(3 * 36, 9), [3, 36]);
    let g = CapturedGraph::capture(&cnn, x.clone(), flat_cnn).unwrap();
    let prefix = g
        .affine_prefix()
        .expect("reshape → conv is an affine prefix");
    assert_eq!(g.nodes()[*prefix.last().unwrap()].kind, "conv2d");
    let ex = Explainable::new(cnn, flat_cnn, dev()).with_precision(Precision::F64);
    let base = t2(
        random(3 * 36, 10).iter().map(|v| 0.2 * v).collect(),
        [3, 36],
    );
    let xm = t2(random(6, 11), [2, 3]);
    let bm = t2(vec![0.0; 6], [2, 3]);
    let mlp_ex = explain(mlp(true, 12));
    let mlp_graph = mlp_ex.graph(&xm).unwrap();
    let p = mlp_graph
        .affine_prefix()
        .expect("a Linear input layer is an affine prefix");
    // matmul, then the bias add (the reshape of the bias is not on the data path)
    assert_eq!(p.len(), 2, "{:?}", mlp_graph.summary());
    for method in [Quadrature::GaussLegendre, Quadrature::RiemannTrapezoid] {
        for (ex, x, b) in [(&ex, &x, &base), (&mlp_ex, &xm, &bm)] {
            let on = IgConfig {
                n_steps: 16,
                method,
                ..IgConfig::default()
            };
            let off = IgConfig {
                affine_shortcut: false,
                ..on.clone()
            };
            // A tiny budget too: one step per chunk, several chunks.
            let tiny = IgConfig {
                budget: xai_core::MemoryBudget { bytes: 1 },
                ..on.clone()
            };
            let target = Target::Predicted;
            let a = integrated_gradients(ex, x, b, &target, &on).unwrap();
            let c = integrated_gradients(ex, x, b, &target, &off).unwrap();
            let d = integrated_gradients(ex, x, b, &target, &tiny).unwrap();
            let (a, c, d) = (
                vals(a.attributions),
                vals(c.attributions),
                vals(d.attributions),
            );
            assert!(max_diff(&a, &c) < 1e-12, "{method:?}");
            assert!(max_diff(&a, &d) < 1e-12, "{method:?}");
        }
    }
}
