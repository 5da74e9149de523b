//! BatchNorm canonization for LRP: LRP on a network with BatchNorm and folding on equals plain
//! LRP on the same network with the BatchNorms folded into its layers by hand (the oracle);
//! the folded graph computes the same function; without folding the relevance differs; a bias-free
//! convolution gets a bias; a BatchNorm whose input is read elsewhere is left alone.

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai_core::Target;
use xai_grad::methods::Explainable;
use xai_grad::methods::lrp::{Composite, LrpRule, lrp};
use xai_grad::{CapturedGraph, DynTensor, Precision};

fn dev() -> Device {
    Device::flex()
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x2545_F491_4F6C_DD1D).wrapping_add(3);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

fn t1(v: Vec<f64>) -> Tensor<1> {
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), (&dev(), DType::F64))
}

fn tensor<const D: usize>(v: Vec<f64>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), (&dev(), DType::F64))
}

/// A BatchNorm with non-trivial statistics and affine parameters.
fn batch_norm(c: usize, seed: u64) -> BatchNorm {
    let mut bn: BatchNorm = BatchNormConfig::new(c).init(&dev());
    bn.gamma = Param::from_tensor(t1(random(c, seed).iter().map(|v| 1.0 + 0.5 * v).collect()));
    bn.beta = Param::from_tensor(t1(random(c, seed + 1).iter().map(|v| 0.3 * v).collect()));
    bn.running_mean = RunningState::new(t1(random(c, seed + 2).iter().map(|v| 0.2 * v).collect()));
    bn.running_var = RunningState::new(t1(random(c, seed + 3)
        .iter()
        .map(|v| 0.5 + 0.4 * v.abs())
        .collect()));
    bn
}

#[derive(Module, Debug)]
struct WithBn {
    c1: Conv2d,
    bn1: BatchNorm,
    c2: Conv2d,
    bn2: BatchNorm,
    fc: Linear,
    bn3: BatchNorm,
    out: Linear,
    relu: Relu,
}

impl WithBn {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.relu.forward(self.bn1.forward(self.c1.forward(x)));
        let h = self.relu.forward(self.bn2.forward(self.c2.forward(h)));
        let h = self
            .relu
            .forward(self.bn3.forward(self.fc.forward(h.flatten(1, 3))));
        self.out.forward(h)
    }
}

#[derive(Module, Debug)]
struct Folded {
    c1: Conv2d,
    c2: Conv2d,
    fc: Linear,
    out: Linear,
    relu: Relu,
}

impl Folded {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.relu.forward(self.c1.forward(x));
        let h = self.relu.forward(self.c2.forward(h));
        let h = self.relu.forward(self.fc.forward(h.flatten(1, 3)));
        self.out.forward(h)
    }
}

fn conv(cin: usize, cout: usize, bias: bool, seed: u64) -> Conv2d {
    let mut c: Conv2d = Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
        .init(&dev());
    c.weight = Param::from_tensor(tensor(random(cout * cin * 9, seed), [cout, cin, 3, 3]));
    if bias {
        c.bias = Some(Param::from_tensor(t1(random(cout, seed + 1))));
    }
    c
}

fn linear(i: usize, o: usize, seed: u64) -> Linear {
    let mut l: Linear = LinearConfig::new(i, o).init(&dev());
    l.weight = Param::from_tensor(tensor(random(i * o, seed), [i, o]));
    l.bias = Some(Param::from_tensor(t1(random(o, seed + 1))));
    l
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

/// (a, shift) of a BatchNorm: BN(z) = a·z + shift.
fn affine(bn: &BatchNorm) -> (Vec<f64>, Vec<f64>) {
    let (g, b) = (vals(bn.gamma.val()), vals(bn.beta.val()));
    let (m, v) = (vals(bn.running_mean.value()), vals(bn.running_var.value()));
    let a: Vec<f64> = g
        .iter()
        .zip(&v)
        .map(|(g, v)| g / (v + bn.epsilon).sqrt())
        .collect();
    let shift = (0..a.len()).map(|c| b[c] - a[c] * m[c]).collect();
    (a, shift)
}

fn fold_conv(c: &Conv2d, bn: &BatchNorm) -> Conv2d {
    let (a, shift) = affine(bn);
    let dims = c.weight.val().dims();
    let inner: usize = dims[1..].iter().product();
    let w: Vec<f64> = vals(c.weight.val())
        .iter()
        .enumerate()
        .map(|(k, w)| w * a[k / inner])
        .collect();
    let b = c
        .bias
        .as_ref()
        .map_or(vec![0.0; a.len()], |b| vals(b.val()));
    let mut out = c.clone();
    out.weight = Param::from_tensor(tensor(w, dims));
    out.bias = Some(Param::from_tensor(t1((0..a.len())
        .map(|k| a[k] * b[k] + shift[k])
        .collect())));
    out
}

fn fold_linear(l: &Linear, bn: &BatchNorm) -> Linear {
    let (a, shift) = affine(bn);
    let dims = l.weight.val().dims(); // [in, out]
    let w: Vec<f64> = vals(l.weight.val())
        .iter()
        .enumerate()
        .map(|(k, w)| w * a[k % dims[1]])
        .collect();
    let b = vals(l.bias.as_ref().unwrap().val());
    let mut out = l.clone();
    out.weight = Param::from_tensor(tensor(w, dims));
    out.bias = Some(Param::from_tensor(t1((0..a.len())
        .map(|k| a[k] * b[k] + shift[k])
        .collect())));
    out
}

fn models() -> (WithBn, Folded) {
    let m = WithBn {
        c1: conv(2, 4, false, 1), // bias-free, as before a BatchNorm in ResNets
        bn1: batch_norm(4, 10),
        c2: conv(4, 3, true, 3),
        bn2: batch_norm(3, 20),
        fc: linear(3 * 5 * 5, 6, 5),
        bn3: batch_norm(6, 30),
        out: linear(6, 3, 7),
        relu: Relu::new(),
    };
    let f = Folded {
        c1: fold_conv(&m.c1, &m.bn1),
        c2: fold_conv(&m.c2, &m.bn2),
        fc: fold_linear(&m.fc, &m.bn3),
        out: m.out.clone(),
        relu: Relu::new(),
    };
    (m, f)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn folded_lrp_equals_lrp_on_the_hand_folded_network() {
    let (m, f) = models();
    let x = tensor(random(2 * 2 * 5 * 5, 99), [2, 2, 5, 5]);
    let with_bn = Explainable::new(m.clone(), |m: &WithBn, x| m.forward(x), dev())
        .with_precision(Precision::F64);
    let folded =
        Explainable::new(f, |m: &Folded, x| m.forward(x), dev()).with_precision(Precision::F64);
    // Same function.
    let (y1, y2) = (
        vals(with_bn.forward(&x).unwrap()),
        vals(folded.forward(&x).unwrap()),
    );
    assert!(max_diff(&y1, &y2) < 1e-12);
    let target = Target::Classes(vec![0, 2]);
    for composite in [
        Composite::uniform(LrpRule::Epsilon(1e-3)),
        Composite::epsilon_plus(),
        Composite::epsilon_gamma_box(-1.0, 1.0),
        Composite::epsilon_alpha2_beta1(),
    ] {
        let oracle = vals(lrp(&folded, &x, &target, &composite).unwrap());
        let ours = vals(lrp(&with_bn, &x, &target, &composite.with_batch_norm_folding()).unwrap());
        let scale = oracle.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            max_diff(&ours, &oracle) < 1e-9 * scale.max(1.0),
            "{composite:?}"
        );
        // Without folding the BatchNorms change the relevance: the test can fail.
        let unfolded = vals(lrp(&with_bn, &x, &target, &composite).unwrap());
        assert!(max_diff(&unfolded, &oracle) > 1e-6 * scale, "{composite:?}");
    }
}

#[test]
fn the_folded_graph_keeps_the_function_and_only_folds_what_is_exact() {
    let (m, _) = models();
    let x = tensor(random(2 * 2 * 5 * 5, 7), [2, 2, 5, 5]);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x| m.forward(x)).unwrap();
    let (fg, folded) = g.fold_batch_norms().unwrap();
    assert_eq!(folded.len(), 3, "{folded:?}");
    let run = |g: &CapturedGraph| {
        vals(
            g.eval(&[DynTensor::from_tensor(x.clone())], &dev(), Precision::F64)
                .unwrap()
                .remove(0)
                .into_tensor::<2>()
                .unwrap(),
        )
    };
    assert!(max_diff(&run(&g), &run(&fg)) < 1e-12);
    // The bias-free convolution gained a bias parameter.
    assert_eq!(fg.params().len(), g.params().len() + 1);
    assert!(fg.params().iter().any(|p| p.path == "c1.bias"));

    // A BatchNorm whose input is also read elsewhere (a skip) cannot be folded.
    #[derive(Module, Debug)]
    struct Skip {
        fc: Linear,
        bn: BatchNorm,
    }
    let s = Skip {
        fc: linear(4, 4, 11),
        bn: batch_norm(4, 12),
    };
    let x = tensor(random(8, 5), [2, 4]);
    let g = CapturedGraph::capture(&s, x, |m, x| {
        let h = m.fc.forward(x);
        m.bn.forward(h.clone()) + h
    })
    .unwrap();
    assert!(g.fold_batch_norms().unwrap().1.is_empty());
}
