//! Activations (`ActivationOperationIr`), each with its tangent rule.

use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn_ir::ActivationOperationIr;
use burn_ir::ActivationOperationIr::*;

use super::OpClass::{self, Activation, Elementwise, Other};
use super::{op, row};
use crate::engine::host::Act;
use crate::engine::interp::{B, sc, scalar_f64};

op_family!(ActivationOperationIr {
    // A graph replayed with `with_relu_softplus` evaluates ReLU as a softplus.
    Relu(d) => row("relu", Activation),
        eval |s| s.relu(d),
        host |c| c.relu(d);
    ReluBackward(..) => op("relu_backward", Other);
    LeakyRelu(d) => row("leaky_relu", Activation),
        eval |s| {
            let (k, bd) = (scalar_f64(&d.rhs), s.bool_dtype);
            s.unary(&d.lhs, &d.out, |x| B::leaky_relu(x, sc(k)), |t, x, _| {
                let neg = B::float_lower_equal_elem(x, sc(0.0), bd);
                let scaled = B::float_mul_scalar(t.clone(), sc(k));
                B::float_mask_where(t, neg, scaled)
            })
        },
        host |c| c.leaky_relu(d);
    PRelu(..) => op("p_relu", Elementwise);
    // gelu'(x) = Φ(x) + x φ(x)
    Gelu(d) => row("gelu", Activation),
        eval |s| s.unary(&d.input, &d.out, B::gelu, |t, x, _| {
            let cdf = B::float_mul_scalar(
                B::float_add_scalar(
                    B::float_erf(B::float_mul_scalar(x.clone(), sc(std::f64::consts::FRAC_1_SQRT_2))),
                    sc(1.0),
                ),
                sc(0.5),
            );
            let pdf = B::float_mul_scalar(
                B::float_exp(B::float_mul_scalar(B::float_mul(x.clone(), x.clone()), sc(-0.5))),
                sc(0.3989422804014327),
            );
            B::float_mul(t, B::float_add(cdf, B::float_mul(x, pdf)))
        });
    GeluBackward(..) => op("gelu_backward", Other);
    Sigmoid(d) => row("sigmoid", Activation),
        eval |s| s.unary(&d.input, &d.out, B::sigmoid, |t, _, y| {
            let slope = B::float_mul(y.clone(), B::float_add_scalar(B::float_neg(y), sc(1.0)));
            B::float_mul(t, slope)
        }),
        host |c| c.act(d, Act::Sigmoid);
    SigmoidBackward(..) => op("sigmoid_backward", Other);
    HardSigmoid(..) => row("hard_sigmoid", Activation);
    // 1 − σ(x) = σ(−x)
    LogSigmoid(d) => row("log_sigmoid", Activation),
        eval |s| s.unary(&d.input, &d.out, B::log_sigmoid, |t, x, _| {
            B::float_mul(t, B::sigmoid(B::float_neg(x)))
        });
    LogSigmoidBackward(..) => op("log_sigmoid_backward", Other);
    // dy = y ⊙ (t − Σ y ⊙ t)
    Softmax(d) => row("softmax", OpClass::Softmax),
        eval |s| s.unary(&d.input, &d.out, |x| B::softmax(x, d.axis), |t, _, y| {
            let dot = B::float_sum_dim(B::float_mul(y.clone(), t.clone()), d.axis);
            B::float_mul(y, B::float_sub(t, dot))
        });
    // dy = t − Σ softmax ⊙ t
    LogSoftmax(d) => row("log_softmax", OpClass::Softmax),
        eval |s| s.unary(&d.input, &d.out, |x| B::log_softmax(x, d.axis), |t, _, y| {
            let p = B::float_exp(y);
            B::float_sub(t.clone(), B::float_sum_dim(B::float_mul(p, t), d.axis))
        });
    Softmin(..) => op("softmin", OpClass::Softmax);
});
