//! AttnLRP and CP-LRP against oracles written with burn's own autodiff: the same attention
//! block whose forward pass carries each rule as a `detach` trick (LayerNorm's σ detached, a
//! bilinear product as ½·(a·b̄) + ½·(ā·b), GELU's gradient replaced by gelu(u)/u, CP-LRP's
//! attention weights detached), so that gradient × input of the oracle is the rule's relevance.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Tensor};
use xai_core::Target;
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::attnlrp::{TransformerRules, attnlrp};

/// LayerNorm → single-head attention → GELU projection → mean over tokens → head.
#[derive(Module, Debug)]
struct Block {
    ln: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    f: Linear,
    head: Linear,
}

const E: usize = 6;

impl Block {
    fn new(dev: &Device) -> Self {
        let lin = |i, o| LinearConfig::new(i, o).with_bias(false).init(dev);
        xai_core::init::seeded(
            Block {
                ln: LayerNormConfig::new(E).init(dev),
                q: lin(E, E),
                k: lin(E, E),
                v: lin(E, E),
                f: lin(E, E),
                head: lin(E, 3),
            },
            5,
        )
        .unwrap()
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let h = self.ln.forward(x);
        let (q, k, v) = (
            self.q.forward(h.clone()),
            self.k.forward(h.clone()),
            self.v.forward(h),
        );
        let a = softmax(q.matmul(k.swap_dims(1, 2)).div_scalar((E as f64).sqrt()), 2);
        let z = gelu(self.f.forward(a.matmul(v)));
        self.head.forward(z.mean_dim(1).squeeze_dim(1))
    }

    /// The forward pass whose gradient is the rule set's modified gradient.
    fn oracle(&self, x: Tensor<3>, rules: TransformerRules) -> Tensor<2> {
        let half = |a: Tensor<3>, b: Tensor<3>| {
            a.clone().matmul(b.clone().detach()).mul_scalar(0.5)
                + a.detach().matmul(b).mul_scalar(0.5)
        };
        let mean = x.clone().mean_dim(2);
        let centred = x - mean;
        let sigma = centred
            .clone()
            .powf_scalar(2.0)
            .mean_dim(2)
            .add_scalar(1e-5)
            .sqrt();
        let gamma = self.ln.gamma.val().unsqueeze::<3>();
        let beta = self.ln.beta.as_ref().unwrap().val().unsqueeze::<3>();
        let h = centred / sigma.detach() * gamma + beta;
        let (q, k, v) = (
            self.q.forward(h.clone()),
            self.k.forward(h.clone()),
            self.v.forward(h),
        );
        let s = half(q, k.swap_dims(1, 2)).div_scalar((E as f64).sqrt());
        let a = softmax(s, 2);
        let o = match rules {
            TransformerRules::AttnLrp => half(a, v),
            TransformerRules::CpLrp => a.detach().matmul(v),
        };
        let u = self.f.forward(o);
        let z = (gelu(u.clone()) / u.clone().add_scalar(1e-10)).detach() * u;
        self.head.forward(z.mean_dim(1).squeeze_dim(1))
    }
}

fn oracle_relevance(
    model: &Block,
    x: &Tensor<3>,
    class: usize,
    rules: TransformerRules,
) -> Vec<f64> {
    let ad = Device::flex().autodiff();
    let m = model.clone().to_device(&ad);
    let xa = x.clone().autodiff().require_grad();
    let y = m.oracle(xa.clone(), rules);
    let grads = y.narrow(1, class, 1).sum().backward();
    let g = xa.grad(&grads).unwrap();
    xai_core::tensor_to_vec_f64(g * x.clone()).unwrap()
}

#[test]
fn attnlrp_and_cp_lrp_equal_their_autodiff_oracles() {
    let dev = Device::flex();
    let model = Block::new(&dev);
    let x = xai_testkit::randn([2, 4, E], 11, &dev).cast(burn::tensor::DType::F32);
    let ex = Explainable::new(
        model.clone(),
        |m: &Block, x: Tensor<3>| m.forward(x),
        dev.clone(),
    )
    .with_precision(Precision::F32);
    let model = model.clone();
    for rules in [TransformerRules::AttnLrp, TransformerRules::CpLrp] {
        let ours = attnlrp(&ex, &x, &Target::Class(1), rules).unwrap();
        let ours = xai_core::tensor_to_vec_f64(ours).unwrap();
        let want = oracle_relevance(&model, &x, 1, rules);
        let err = xai_testkit::max_abs_diff(&ours, &want);
        let scale = xai_testkit::max_abs(&want);
        assert!(scale > 1e-4, "{rules:?}: relevance should not vanish");
        assert!(
            err <= 1e-5 * scale.max(1.0),
            "{rules:?}: |ours − oracle| = {err} (scale {scale})"
        );
    }
    // The two rule sets differ on attention (CP-LRP passes nothing through the softmax).
    let a = xai_core::tensor_to_vec_f64(
        attnlrp(&ex, &x, &Target::Class(1), TransformerRules::AttnLrp).unwrap(),
    )
    .unwrap();
    let c = xai_core::tensor_to_vec_f64(
        attnlrp(&ex, &x, &Target::Class(1), TransformerRules::CpLrp).unwrap(),
    )
    .unwrap();
    assert!(xai_testkit::max_abs_diff(&a, &c) > 1e-6);
}

/// burn's `TransformerEncoder` (pre-norm, one layer, two heads) with a mean-pooled head.
#[derive(Module, Debug)]
struct Encoder {
    enc: burn::nn::transformer::TransformerEncoder,
    head: Linear,
}

const D: usize = 8;
const HEADS: usize = 2;

fn encoder(dev: &Device) -> Encoder {
    let enc = burn::nn::transformer::TransformerEncoderConfig::new(D, 2 * D, HEADS, 1)
        .with_norm_first(true)
        .with_dropout(0.0)
        .init(dev);
    let head = LinearConfig::new(D, 3).init(dev);
    xai_core::init::seeded(Encoder { enc, head }, 9).unwrap()
}

fn encoder_forward(m: &Encoder, x: Tensor<3>) -> Tensor<2> {
    let y = m
        .enc
        .forward(burn::nn::transformer::TransformerEncoderInput::new(x));
    m.head.forward(y.mean_dim(1).squeeze_dim(1))
}

/// The same layer written with tensor operations on the module's weights: attention by hand,
/// normalisation through burn's `layer_norm` op.
fn by_hand(m: &Encoder, x: Tensor<3>) -> Tensor<2> {
    use burn::tensor::module::layer_norm;
    let l = &m.enc.layers[0];
    let [n, t, _] = x.dims();
    let dk = D / HEADS;
    let lin = |x: Tensor<3>, w: &Linear| {
        let b = w.bias.as_ref().unwrap().val().unsqueeze::<3>();
        x.matmul(w.weight.val().unsqueeze::<3>()) + b
    };
    let heads = |z: Tensor<3>| z.reshape([n, t, HEADS, dk]).swap_dims(1, 2);
    let norm = |x: Tensor<3>, ln: &burn::nn::LayerNorm| {
        layer_norm(x, ln.gamma.val(), ln.beta.as_ref().map(|b| b.val()), 1e-5)
    };
    let h = norm(x.clone(), &l.norm_2);
    let (q, k, v) = (
        heads(lin(h.clone(), &l.mha.query)),
        heads(lin(h.clone(), &l.mha.key)),
        heads(lin(h, &l.mha.value)),
    );
    let a = softmax(q.matmul(k.transpose()).div_scalar((dk as f64).sqrt()), 3);
    let ctx = a.matmul(v).swap_dims(1, 2).reshape([n, t, D]);
    let x = x + lin(ctx, &l.mha.output);
    let f = lin(
        gelu(lin(norm(x.clone(), &l.norm_1), &l.pwff.linear_inner)),
        &l.pwff.linear_outer,
    );
    let y = x + f;
    m.head.forward(y.mean_dim(1).squeeze_dim(1))
}

#[test]
fn rules_follow_op_classes_not_modules() {
    // AttnLRP on burn's TransformerEncoder equals AttnLRP on the same weights written by hand.
    let dev = Device::flex();
    let model = encoder(&dev);
    let x = xai_testkit::randn([2, 5, D], 21, &dev).cast(burn::tensor::DType::F32);
    let a = Explainable::new(model.clone(), encoder_forward, dev.clone());
    let b = Explainable::new(model, by_hand, dev.clone());
    let ya = xai_core::tensor_to_vec_f64(a.forward(&x).unwrap()).unwrap();
    let yb = xai_core::tensor_to_vec_f64(b.forward(&x).unwrap()).unwrap();
    assert!(
        xai_testkit::max_abs_diff(&ya, &yb) < 1e-5,
        "the two forwards differ"
    );
    for rules in [TransformerRules::AttnLrp, TransformerRules::CpLrp] {
        let ra = xai_core::tensor_to_vec_f64(attnlrp(&a, &x, &Target::Class(2), rules).unwrap())
            .unwrap();
        let rb = xai_core::tensor_to_vec_f64(attnlrp(&b, &x, &Target::Class(2), rules).unwrap())
            .unwrap();
        let scale = xai_testkit::max_abs(&ra);
        assert!(scale > 1e-5, "{rules:?}: relevance should not vanish");
        let err = xai_testkit::max_abs_diff(&ra, &rb);
        assert!(
            err <= 1e-4 * scale,
            "{rules:?}: module vs hand-written differ by {err} (scale {scale})"
        );
    }
}
