//! The host kernels (`engine::host`) against burn's reverse mode in f64: input gradients and
//! integrated gradients of a residual CNN that exercises every kernel path (strided conv →
//! scalar scatter, dilated conv → flipped convolution, residual add, padded max-pool, average
//! pool, dense layers, channel counts that are not multiples of 16), inference BatchNorm and the
//! element-wise steps, the SIMD tiles against the portable ones, batch invariance, and the
//! fall-back for graphs outside their reach.

use burn::module::RunningState;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Gelu, LeakyReluConfig, Linear, LinearConfig, PaddingConfig2d, Relu,
    Sigmoid, Tanh,
};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai_core::Target;
use xai_grad::Precision;
use xai_grad::engine::CapturedGraph;
use xai_grad::engine::host::{HostPlan, Isa};
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::{Explainable, input_gradients};

const SIDE: usize = 12;
const FEATURES: usize = 3 * SIDE * SIDE;

fn dev() -> Device {
    Device::flex()
}

/// Deterministic values in [-scale, scale] (no global RNG: tests run in parallel).
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tensor<const D: usize>(v: Vec<f64>, shape: [usize; D], dtype: DType) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), (&dev(), dtype))
}

/// A conv layer with deterministic weights; `[k, stride, dilation, padding]`.
fn conv(
    dtype: DType,
    cin: usize,
    cout: usize,
    [k, stride, dil, pad]: [usize; 4],
    seed: u64,
) -> Conv2d {
    let mut c = Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_dilation([dil, dil])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(&dev());
    let fan = (cin * k * k) as f64;
    c.weight = Param::from_tensor(tensor(
        values(cout * cin * k * k, seed, 1.5 / fan.sqrt()),
        [cout, cin, k, k],
        dtype,
    ));
    c.bias = Some(Param::from_tensor(tensor(
        values(cout, seed + 1, 0.1),
        [cout],
        dtype,
    )));
    c
}

fn linear(dtype: DType, i: usize, o: usize, seed: u64) -> Linear {
    let mut l = LinearConfig::new(i, o).init(&dev());
    l.weight = Param::from_tensor(tensor(
        values(i * o, seed, 1.5 / (i as f64).sqrt()),
        [i, o],
        dtype,
    ));
    l.bias = Some(Param::from_tensor(tensor(
        values(o, seed + 1, 0.1),
        [o],
        dtype,
    )));
    l
}

/// conv(stride 2) → ReLU → h + conv(dilation 2)(h) → ReLU → conv(20 channels) → max-pool(3,
/// stride 1, padding 1) → max-pool(2, stride 2) → max-pool(2, stride 1) → avg-pool(2, stride 1,
/// padding 1, padding not counted) → dense → ReLU → dense: every pooling code path.
#[derive(Module, Debug)]
struct Residual {
    c1: Conv2d,
    c2: Conv2d,
    c3: Conv2d,
    mp: MaxPool2d,
    mp2: MaxPool2d,
    mp3: MaxPool2d,
    ap: AvgPool2d,
    fc1: Linear,
    fc2: Linear,
    act: Relu,
}

impl Residual {
    fn new(dtype: DType) -> Self {
        Residual {
            c1: conv(dtype, 3, 8, [3, 2, 1, 1], 1),
            c2: conv(dtype, 8, 8, [3, 1, 2, 2], 2),
            c3: conv(dtype, 8, 20, [3, 1, 1, 1], 3),
            mp: MaxPool2dConfig::new([3, 3])
                .with_strides([1, 1])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            mp2: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            mp3: MaxPool2dConfig::new([2, 2]).with_strides([1, 1]).init(),
            ap: AvgPool2dConfig::new([2, 2])
                .with_strides([1, 1])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_count_include_pad(false)
                .init(),
            fc1: linear(dtype, 20 * 3 * 3, 37, 4),
            fc2: linear(dtype, 37, 5, 5),
            act: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let x = x.reshape([n, 3, SIDE, SIDE]);
        let h = self.act.forward(self.c1.forward(x));
        let h = self.act.forward(h.clone() + self.c2.forward(h));
        let h = self.mp2.forward(self.mp.forward(self.c3.forward(h)));
        let h = self.ap.forward(self.mp3.forward(h));
        let h = h.reshape([n, 20 * 3 * 3]);
        self.fc2.forward(self.act.forward(self.fc1.forward(h)))
    }
}

fn explainer(precision: Precision) -> Explainable<2> {
    let dtype = match precision {
        Precision::F32 => DType::F32,
        Precision::F64 => DType::F64,
    };
    Explainable::new(Residual::new(dtype), |m: &Residual, x| m.forward(x), dev())
        .with_precision(precision)
}

fn inputs(n: usize) -> Tensor<2> {
    tensor(values(n * FEATURES, 77, 1.0), [n, FEATURES], DType::F32)
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

/// max |a − b| / max |b|.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn plan(isa: Isa) -> (HostPlan, Tensor<2>) {
    let x = inputs(11);
    let m = Residual::new(DType::F32);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x: Tensor<2>| m.forward(x)).unwrap();
    let p = HostPlan::compile(&g, None, isa).expect("every op of the residual CNN is covered");
    (p, x)
}

#[test]
fn host_gradients_match_burn_in_f64_on_every_kernel_path() {
    let (p, x) = plan(Isa::Portable);
    let n = x.dims()[0];
    let classes: Vec<usize> = (0..n).map(|i| i % 5).collect();
    let rows: Vec<f32> = vals(x.clone()).iter().map(|&v| v as f32).collect();
    let portable: Vec<f64> = p
        .class_grads(&rows, &classes)
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .collect();
    let oracle = vals(
        input_gradients(
            &explainer(Precision::F64),
            &x.clone().cast(DType::F64),
            &classes,
        )
        .unwrap(),
    );
    let e = rel_err(&portable, &oracle);
    assert!(e < 2e-5, "portable host kernels vs burn f64: {e:e}");
    assert!(
        oracle.iter().any(|v| v.abs() > 1e-3),
        "the gradient must not be trivially zero"
    );
    for isa in [Isa::Avx512, Isa::Avx2]
        .into_iter()
        .filter(|i| i.supported())
    {
        let fast: Vec<f64> = p
            .clone()
            .with_isa(isa)
            .class_grads(&rows, &classes)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let e = rel_err(&fast, &portable);
        assert!(e < 1e-5, "{isa:?} tiles vs portable tiles: {e:e}");
    }
    // Forward values too (the host plan also serves `Explainable::forward`).
    let out: Vec<f64> = p
        .outputs(&rows)
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .collect();
    let want = vals(
        explainer(Precision::F64)
            .forward(&x.clone().cast(DType::F64))
            .unwrap(),
    );
    let e = rel_err(&out, &want);
    assert!(e < 2e-5, "host forward vs burn f64: {e:e}");
    // The public entry point (host kernels when this CPU has AVX-512, burn otherwise) agrees.
    let f32_path = vals(input_gradients(&explainer(Precision::F32), &x, &classes).unwrap());
    let e = rel_err(&f32_path, &oracle);
    assert!(e < 2e-5, "input_gradients in f32 vs f64: {e:e}");
}

#[test]
fn host_gradients_are_batch_invariant() {
    let (p, x) = plan(Isa::detect());
    let n = x.dims()[0];
    let classes: Vec<usize> = (0..n).map(|i| (i * 3) % 5).collect();
    let rows: Vec<f32> = vals(x).iter().map(|&v| v as f32).collect();
    let all = p.class_grads(&rows, &classes).unwrap();
    let per = p.row_len();
    for i in 0..n {
        let one = p
            .class_grads(&rows[i * per..(i + 1) * per], &classes[i..i + 1])
            .unwrap();
        let a: Vec<f64> = all[i * per..(i + 1) * per]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let b: Vec<f64> = one.iter().map(|&v| v as f64).collect();
        assert!(
            rel_err(&a, &b) < 1e-6,
            "row {i} alone differs from the batch"
        );
    }
}

#[test]
fn host_integrated_gradients_match_burn_in_f64_and_are_complete() {
    let x = inputs(6);
    let baseline = Tensor::<2>::zeros([6, FEATURES], &dev());
    let target = Target::Classes(vec![0, 1, 2, 3, 4, 0]);
    for shortcut in [true, false] {
        let cfg = IgConfig {
            n_steps: 24,
            affine_shortcut: shortcut,
            ..IgConfig::default()
        };
        let fast =
            integrated_gradients(&explainer(Precision::F32), &x, &baseline, &target, &cfg).unwrap();
        let exact = integrated_gradients(
            &explainer(Precision::F64),
            &x.clone().cast(DType::F64),
            &baseline.clone().cast(DType::F64),
            &target,
            &cfg,
        )
        .unwrap();
        let e = rel_err(
            &vals(fast.attributions.clone()),
            &vals(exact.attributions.clone()),
        );
        assert!(
            e < 5e-5,
            "IG (shortcut {shortcut}) f32 host vs f64 burn: {e:e}"
        );
        for (d, de) in fast.delta.iter().zip(&exact.delta) {
            assert!(
                (d - de).abs() < 1e-3,
                "completeness deltas differ: {d} vs {de}"
            );
        }
    }
}

#[test]
fn path_integral_is_the_weighted_sum_of_gradients() {
    let (p, x) = plan(Isa::detect());
    let n = 3;
    let per = p.row_len();
    let rows: Vec<f32> = vals(x).iter().take(n * per).map(|&v| v as f32).collect();
    let start: Vec<f32> = rows.iter().map(|v| v * 0.25).collect();
    let delta: Vec<f32> = rows.iter().zip(&start).map(|(x, s)| x - s).collect();
    let (alphas, weights) = (vec![0.1, 0.5, 0.9], vec![0.2, 0.5, 0.3]);
    let classes = vec![4, 2, 0];
    let got = p
        .path_integral(&start, &delta, &alphas, &weights, &classes)
        .unwrap();
    let mut want = vec![0.0f64; n * per];
    for (a, w) in alphas.iter().zip(&weights) {
        let pts: Vec<f32> = start
            .iter()
            .zip(&delta)
            .map(|(s, d)| s + *a as f32 * d)
            .collect();
        let g = p.class_grads(&pts, &classes).unwrap();
        for (t, v) in want.iter_mut().zip(g) {
            *t += w * v as f64;
        }
    }
    let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    assert!(rel_err(&got, &want) < 1e-5);
}

/// Dense → GELU → dense: GELU has no host kernel.
#[derive(Module, Debug)]
struct WithGelu {
    fc1: Linear,
    fc2: Linear,
    act: Gelu,
}

impl WithGelu {
    fn new(dtype: DType) -> Self {
        WithGelu {
            fc1: linear(dtype, 4, 6, 9),
            fc2: linear(dtype, 6, 3, 10),
            act: Gelu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(self.act.forward(self.fc1.forward(x)))
    }
}

/// conv → BatchNorm (inference, non-trivial statistics) → leaky ReLU → dense → tanh →
/// (x − 0.5) · 2 → dense → sigmoid → dense: the element-wise and affine host steps.
#[derive(Module, Debug)]
struct Elementwise {
    conv: Conv2d,
    bn: BatchNorm,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    tanh: Tanh,
    sig: Sigmoid,
}

impl Elementwise {
    fn new(dtype: DType) -> Self {
        let mut bn = BatchNormConfig::new(6).init(&dev());
        bn.gamma = Param::from_tensor(tensor(values(6, 21, 1.0), [6], dtype).add_scalar(1.5));
        bn.beta = Param::from_tensor(tensor(values(6, 22, 0.5), [6], dtype));
        bn.running_mean = RunningState::new(tensor(values(6, 23, 0.3), [6], dtype));
        bn.running_var = RunningState::new(tensor(values(6, 24, 0.4), [6], dtype).add_scalar(0.8));
        Elementwise {
            conv: conv(dtype, 3, 6, [3, 1, 1, 1], 20),
            bn,
            fc1: linear(dtype, 6 * SIDE * SIDE, 24, 25),
            fc2: linear(dtype, 24, 16, 26),
            fc3: linear(dtype, 16, 5, 27),
            tanh: Tanh::new(),
            sig: Sigmoid::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let h = self
            .bn
            .forward(self.conv.forward(x.reshape([n, 3, SIDE, SIDE])));
        let h = LeakyReluConfig::new()
            .with_negative_slope(0.1)
            .init()
            .forward(h);
        let h = self
            .tanh
            .forward(self.fc1.forward(h.reshape([n, 6 * SIDE * SIDE])));
        let h = (h - 0.5) * 2.0;
        self.fc3.forward(self.sig.forward(self.fc2.forward(h)))
    }
}

#[test]
fn batchnorm_and_elementwise_layers_match_burn_in_f64() {
    let x = inputs(5);
    let m = Elementwise::new(DType::F32);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x: Tensor<2>| m.forward(x)).unwrap();
    let p = HostPlan::compile(&g, None, Isa::Portable).unwrap_or_else(|| {
        panic!(
            "BatchNorm, leaky ReLU, tanh, sigmoid, scalar ops are covered:\n{}",
            g.summary()
        )
    });
    let classes = [0, 1, 2, 3, 4];
    let rows: Vec<f32> = vals(x.clone()).iter().map(|&v| v as f32).collect();
    let ex64 = Explainable::new(
        Elementwise::new(DType::F64),
        |m: &Elementwise, x| m.forward(x),
        dev(),
    )
    .with_precision(Precision::F64);
    let x64 = x.clone().cast(DType::F64);
    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|i| i.supported())
    {
        let p = p.clone().with_isa(isa);
        let got: Vec<f64> = p
            .class_grads(&rows, &classes)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let want = vals(input_gradients(&ex64, &x64, &classes).unwrap());
        assert!(want.iter().any(|v| v.abs() > 1e-4));
        let e = rel_err(&got, &want);
        assert!(e < 5e-5, "{isa:?} gradients vs burn f64: {e:e}");
        let out: Vec<f64> = p
            .outputs(&rows)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let e = rel_err(&out, &vals(ex64.forward(&x64).unwrap()));
        assert!(e < 5e-5, "{isa:?} outputs vs burn f64: {e:e}");
    }
}

#[test]
fn graphs_outside_the_host_kernels_fall_back_to_burn() {
    let x = tensor(values(8, 5, 1.0), [2, 4], DType::F32);
    let m = WithGelu::new(DType::F32);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x: Tensor<2>| m.forward(x)).unwrap();
    assert!(
        HostPlan::compile(&g, None, Isa::Portable).is_none(),
        "GELU has no host kernel"
    );
    // Still explained (by burn), and equal to the f64 gradient.
    let ex = |d: DType, p| {
        Explainable::new(WithGelu::new(d), |m: &WithGelu, x| m.forward(x), dev()).with_precision(p)
    };
    let a = vals(input_gradients(&ex(DType::F32, Precision::F32), &x, &[1, 2]).unwrap());
    let b = vals(
        input_gradients(
            &ex(DType::F64, Precision::F64),
            &x.cast(DType::F64),
            &[1, 2],
        )
        .unwrap(),
    );
    assert!(rel_err(&a, &b) < 2e-5);
    let (_, xr) = plan(Isa::Portable);
    let m = Residual::new(DType::F32);
    let g = CapturedGraph::capture(&m, xr, |m, x: Tensor<2>| m.forward(x)).unwrap();
    let soft = g.with_relu_softplus(10.0).unwrap();
    assert!(
        HostPlan::compile(&soft, None, Isa::Portable).is_none(),
        "softplus-ReLU replay stays on burn"
    );
    // Bad input is a typed error, not a panic.
    let (p, x) = plan(Isa::Portable);
    let rows: Vec<f32> = vals(x)
        .iter()
        .take(p.row_len())
        .map(|&v| v as f32)
        .collect();
    assert!(p.class_grads(&rows, &[5]).is_err());
    assert!(p.class_grads(&rows[1..], &[0]).is_err());
}

#[test]
fn guided_backprop_and_deconvnet_match_the_rule_engine_in_f64() {
    use xai_grad::engine::host::ReluRule;
    use xai_grad::methods::guided_backprop::{deconvolution, guided_backprop};
    let x = inputs(4);
    let target = Target::Classes(vec![0, 2, 4, 1]);
    let x64 = x.clone().cast(DType::F64);
    let (p, _) = plan(Isa::Portable);
    let rows: Vec<f32> = vals(x.clone()).iter().map(|&v| v as f32).collect();
    let cases: [(ReluRule, &str); 2] = [(ReluRule::Guided, "guided"), (ReluRule::Deconv, "deconv")];
    for (rule, name) in cases {
        let want = match rule {
            ReluRule::Guided => {
                vals(guided_backprop(&explainer(Precision::F64), &x64, &target).unwrap())
            }
            _ => vals(deconvolution(&explainer(Precision::F64), &x64, &target).unwrap()),
        };
        let host: Vec<f64> = p
            .clone()
            .with_relu_rule(rule)
            .class_grads(&rows, &[0, 2, 4, 1])
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let e = rel_err(&host, &want);
        assert!(e < 2e-5, "{name}: host vs rule engine: {e:e}");
        // The rule really changes the result (else this test could not tell them apart).
        let plain: Vec<f64> = p
            .class_grads(&rows, &[0, 2, 4, 1])
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert!(
            rel_err(&plain, &want) > 1e-2,
            "{name} equals the plain gradient"
        );
        // The public functions in f32 (host kernels on an AVX CPU) agree too.
        let f32_path = match rule {
            ReluRule::Guided => {
                vals(guided_backprop(&explainer(Precision::F32), &x, &target).unwrap())
            }
            _ => vals(deconvolution(&explainer(Precision::F32), &x, &target).unwrap()),
        };
        let e = rel_err(&f32_path, &want);
        assert!(e < 2e-5, "{name}: f32 public path vs f64: {e:e}");
    }
}

#[test]
fn grad_cam_from_the_host_kernels_matches_burn_in_f64() {
    use xai_grad::methods::grad_cam::{CamMode, grad_cam};
    let x = inputs(3);
    let target = Target::Classes(vec![1, 3, 0]);
    let x64 = x.clone().cast(DType::F64);
    for layer in ["c3", "c2"] {
        for mode in [CamMode::GradCam, CamMode::GradCamPlusPlus] {
            let fast = grad_cam(&explainer(Precision::F32), &x, &target, layer, mode).unwrap();
            let exact = grad_cam(&explainer(Precision::F64), &x64, &target, layer, mode).unwrap();
            assert_eq!((fast.n, fast.h, fast.w), (exact.n, exact.h, exact.w));
            assert_eq!(fast.node, exact.node);
            assert!(
                exact.values.iter().any(|&v| v > 0.0),
                "{layer}: an all-zero map"
            );
            let e = rel_err(&fast.values, &exact.values);
            assert!(e < 1e-4, "{layer} {mode:?}: f32 host vs f64 burn: {e:e}");
        }
    }
}

#[test]
fn the_black_box_view_matches_burn_on_any_batch_and_falls_back() {
    use xai_core::agnostic::BlackBox;
    // Host kernels (f32, when this CPU has them) against burn in f64, on batch sizes that split
    // over the cores unevenly, plus the empty batch and a wrong row count.
    let fast = explainer(Precision::F32);
    let exact = explainer(Precision::F64);
    let bb = fast.black_box(&[FEATURES], DType::F32).unwrap();
    let reference = exact.black_box(&[FEATURES], DType::F64).unwrap();
    assert_eq!(bb.features(), FEATURES);
    for n in [1usize, 9, 37] {
        let rows = values(n * FEATURES, 100 + n as u64, 1.0);
        let got = bb.predict(&rows, n).unwrap();
        let want = reference.predict(&rows, n).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got.len() > n, "one row of outputs per input");
        assert!(rel_err(&got, &want) < 1e-5, "n = {n}");
        // Equal to the model's own forward on burn.
        let direct = vals(
            exact
                .forward(&tensor(rows, [n, FEATURES], DType::F64))
                .unwrap(),
        );
        assert!(rel_err(&want, &direct) < 1e-12);
    }
    assert!(bb.predict(&[], 0).unwrap().is_empty());
    assert!(bb.predict(&[0.0; 3], 1).is_err());
    assert!(fast.black_box(&[FEATURES, 1], DType::F32).is_err());
    // A graph the host kernels do not cover runs on burn through the same view.
    let gelu = Explainable::new(
        WithGelu::new(DType::F64),
        |m: &WithGelu, x| m.forward(x),
        dev(),
    )
    .with_precision(Precision::F64);
    let rows = values(3 * 4, 9, 1.0);
    let got = gelu
        .black_box(&[4], DType::F64)
        .unwrap()
        .predict(&rows, 3)
        .unwrap();
    let direct = vals(gelu.forward(&tensor(rows, [3, 4], DType::F64)).unwrap());
    assert!(rel_err(&got, &direct) < 1e-12);
}

/// conv(padding 1) → tanh → max-pool → conv(stride 2, scatter input gradient) → ReLU →
/// max-pool → dense → ReLU → dense without bias: the layers the host LRP pass covers.
#[derive(Module, Debug)]
struct PlainCnn {
    c1: Conv2d,
    c2: Conv2d,
    mp: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    tanh: Tanh,
    relu: Relu,
}

const PLAIN_SIDE: usize = 14;

impl PlainCnn {
    fn new(dtype: DType) -> Self {
        let mut fc2 = LinearConfig::new(12, 4).with_bias(false).init(&dev());
        fc2.weight = Param::from_tensor(tensor(values(12 * 4, 31, 0.5), [12, 4], dtype));
        PlainCnn {
            c1: conv(dtype, 2, 6, [3, 1, 1, 1], 21),
            c2: conv(dtype, 6, 8, [3, 2, 1, 0], 23),
            mp: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: linear(dtype, 8, 12, 25),
            fc2,
            tanh: Tanh::new(),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let x = x.reshape([n, 2, PLAIN_SIDE, PLAIN_SIDE]);
        let h = self.mp.forward(self.tanh.forward(self.c1.forward(x)));
        let h = self.mp.forward(self.relu.forward(self.c2.forward(h)));
        let h = h.reshape([n, 8]);
        self.fc2.forward(self.relu.forward(self.fc1.forward(h)))
    }
}

#[test]
fn host_lrp_matches_the_rule_engine_in_f64() {
    use xai_grad::engine::host::{HostLrpRule, HostLrpRules, LrpPlan};
    use xai_grad::methods::lrp::{Composite, LrpRule, lrp};
    let features = 2 * PLAIN_SIDE * PLAIN_SIDE;
    // Inputs of both signs, so both z⁺ branches of the first layer carry relevance.
    let x = tensor(values(5 * features, 41, 1.0), [5, features], DType::F32);
    let target = Target::Classes(vec![0, 1, 2, 3, 1]);
    let model = |d: DType, p| {
        Explainable::new(PlainCnn::new(d), |m: &PlainCnn, x| m.forward(x), dev()).with_precision(p)
    };
    let (fast, exact) = (
        model(DType::F32, Precision::F32),
        model(DType::F64, Precision::F64),
    );
    let composites = [
        Composite::epsilon_plus(),
        Composite::uniform(LrpRule::Epsilon(1e-6)),
        Composite::uniform(LrpRule::Epsilon(0.1)),
        Composite::uniform(LrpRule::ZPlus),
        Composite {
            first: Some(LrpRule::Epsilon(0.25)),
            ..Composite::epsilon_plus()
        },
    ];
    for composite in &composites {
        let a = vals(lrp(&fast, &x, &target, composite).unwrap());
        let b = vals(lrp(&exact, &x.clone().cast(DType::F64), &target, composite).unwrap());
        assert!(rel_err(&a, &b) < 1e-4, "{composite:?}: {}", rel_err(&a, &b));
        assert!(
            b.iter().any(|v| v.abs() > 1e-3),
            "relevance reaches the input"
        );
    }
    // The comparison above ran the host pass: this plan is covered (the portable tiles here,
    // the CPU's own above) and gives the same relevance.
    let m = PlainCnn::new(DType::F32);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x: Tensor<2>| m.forward(x)).unwrap();
    let plain = HostPlan::compile(&g, None, Isa::Portable).expect("the plain CNN is covered");
    let rules = HostLrpRules {
        dense: HostLrpRule::Epsilon(1e-6),
        conv: HostLrpRule::ZPlus,
        first: None,
    };
    let lp = LrpPlan::new(&plain, rules).expect("every step has a host rule");
    let rows: Vec<f32> = vals(x.clone()).iter().map(|&v| v as f32).collect();
    let portable: Vec<f64> = lp
        .relevance(&rows, &[0, 1, 2, 3, 1])
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let eps_plus = vals(lrp(&exact, &x.clone().cast(DType::F64), &target, &composites[0]).unwrap());
    assert!(rel_err(&portable, &eps_plus) < 1e-4);
    assert!(
        lp.relevance(&rows, &[9, 0, 0, 0, 0]).is_err(),
        "class out of range"
    );
    // Residual sums and average pools have no host rule: the rule engine runs them.
    let (residual, xr) = plan(Isa::Portable);
    assert!(LrpPlan::new(&residual, rules).is_none());
    let a = vals(
        lrp(
            &explainer(Precision::F32),
            &xr,
            &Target::Class(1),
            &composites[0],
        )
        .unwrap(),
    );
    let b = vals(
        lrp(
            &explainer(Precision::F64),
            &xr.clone().cast(DType::F64),
            &Target::Class(1),
            &composites[0],
        )
        .unwrap(),
    );
    assert!(rel_err(&a, &b) < 1e-4);
}

#[test]
fn host_deeplift_matches_the_rule_engine_in_f64() {
    use xai_grad::methods::deeplift::{DeepLiftRules, MaxPoolMode, deeplift, deeplift_with};
    let features = 2 * PLAIN_SIDE * PLAIN_SIDE;
    let x = tensor(values(5 * features, 51, 1.0), [5, features], DType::F32);
    // A reference equal to the input in some places exercises the derivative fall-back.
    let mut rv = values(5 * features, 53, 0.5);
    for (i, v) in rv.iter_mut().enumerate().step_by(7) {
        *v = vals(x.clone())[i];
    }
    let reference = tensor(rv, [5, features], DType::F32);
    let target = Target::Classes(vec![3, 2, 1, 0, 2]);
    let model = |d: DType, p| {
        Explainable::new(PlainCnn::new(d), |m: &PlainCnn, x| m.forward(x), dev()).with_precision(p)
    };
    let (fast, exact) = (
        model(DType::F32, Precision::F32),
        model(DType::F64, Precision::F64),
    );
    let (a, da) = deeplift(&fast, &x, &reference, &target).unwrap();
    let (b, db) = deeplift(
        &exact,
        &x.clone().cast(DType::F64),
        &reference.clone().cast(DType::F64),
        &target,
    )
    .unwrap();
    let (a, b) = (vals(a), vals(b));
    assert!(rel_err(&a, &b) < 1e-4, "{}", rel_err(&a, &b));
    assert!(rel_err(&da, &db) < 1e-3);
    // The same multipliers from the portable tiles.
    let m = PlainCnn::new(DType::F32);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x: Tensor<2>| m.forward(x)).unwrap();
    let plain = HostPlan::compile(&g, None, Isa::Portable).unwrap();
    let to32 = |t: &Tensor<2>| -> Vec<f32> { vals(t.clone()).iter().map(|&v| v as f32).collect() };
    let mult = plain
        .deeplift(&to32(&x), &to32(&reference), &[3, 2, 1, 0, 2])
        .unwrap()
        .multipliers;
    let diff = vals(x.clone() - reference.clone());
    let portable: Vec<f64> = mult
        .iter()
        .zip(&diff)
        .map(|(&m, d)| f64::from(m) * d)
        .collect();
    assert!(rel_err(&portable, &b) < 1e-4);
    assert!(plain.deeplift(&to32(&x), &[0.0; 3], &[0; 5]).is_err());
    // Residual sums, average pools and padded max pools pass gradients on the host too.
    let xr = inputs(4);
    let rr = tensor(values(4 * FEATURES, 57, 0.3), [4, FEATURES], DType::F32);
    let (a, _) = deeplift(&explainer(Precision::F32), &xr, &rr, &Target::Class(2)).unwrap();
    let (b, _) = deeplift(
        &explainer(Precision::F64),
        &xr.clone().cast(DType::F64),
        &rr.clone().cast(DType::F64),
        &Target::Class(2),
    )
    .unwrap();
    assert!(rel_err(&vals(a), &vals(b)) < 1e-4);
    // The complete max-pool rule stays on the rule engine.
    let routed = DeepLiftRules {
        max_pool: MaxPoolMode::Routed,
    };
    let (_, d) = deeplift_with(&fast, &x, &reference, &target, routed).unwrap();
    assert!(
        d.iter().all(|d| d.abs() < 1e-3),
        "routed max pools are complete: {d:?}"
    );
}

/// One-channel image → conv(3 channels) → ReLU → conv(2 channels, dilation 2) → dense: the
/// narrow tiles (positions in the lanes) run every convolution here, forward and backward, on
/// rows wider than one tile (40 positions = 32 + 8).
#[derive(Module, Debug)]
struct Narrow {
    c1: Conv2d,
    c2: Conv2d,
    fc: Linear,
    act: Relu,
}

const NARROW_SIDE: usize = 40;

impl Narrow {
    fn new(dtype: DType) -> Self {
        Narrow {
            c1: conv(dtype, 1, 3, [5, 1, 1, 2], 31),
            c2: conv(dtype, 3, 2, [3, 1, 2, 2], 33),
            fc: linear(dtype, 2 * NARROW_SIDE * NARROW_SIDE, 4, 35),
            act: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let x = x.reshape([n, 1, NARROW_SIDE, NARROW_SIDE]);
        let h = self.act.forward(self.c1.forward(x));
        let h = self.act.forward(self.c2.forward(h));
        self.fc
            .forward(h.reshape([n, 2 * NARROW_SIDE * NARROW_SIDE]))
    }
}

#[test]
fn narrow_convolutions_match_burn_in_f64_on_every_isa() {
    let n = 5;
    let side2 = NARROW_SIDE * NARROW_SIDE;
    let x = tensor(values(n * side2, 91, 1.0), [n, side2], DType::F32);
    let rows: Vec<f32> = vals(x.clone()).iter().map(|&v| v as f32).collect();
    let classes: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let m = Narrow::new(DType::F32);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x: Tensor<2>| m.forward(x)).unwrap();
    let oracle_ex = Explainable::new(Narrow::new(DType::F64), |m: &Narrow, x| m.forward(x), dev())
        .with_precision(Precision::F64);
    let x64 = x.clone().cast(DType::F64);
    let grads = vals(input_gradients(&oracle_ex, &x64, &classes).unwrap());
    let outputs = vals(oracle_ex.forward(&x64).unwrap());
    assert!(grads.iter().any(|v| v.abs() > 1e-3));
    for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable]
        .into_iter()
        .filter(|i| i.supported())
    {
        let p = HostPlan::compile(&g, None, isa).expect("convolutions and dense layers compile");
        let to64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        let e = rel_err(&to64(p.class_grads(&rows, &classes).unwrap()), &grads);
        assert!(e < 2e-5, "{isa:?} narrow gradients vs burn f64: {e:e}");
        let e = rel_err(&to64(p.outputs(&rows).unwrap()), &outputs);
        assert!(e < 2e-5, "{isa:?} narrow forward vs burn f64: {e:e}");
    }
}
