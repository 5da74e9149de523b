//! Float-only elementwise functions and matmul (`FloatOperationIr`), each with its tangent rule.

use burn::backend::ops::FloatTensorOps;
use burn_ir::FloatOperationIr;
use burn_ir::FloatOperationIr::*;

use super::OpClass::*;
use super::{op, row};
use crate::engine::host::Act;
use crate::engine::interp::{B, Val, sc, scalar_f64};

op_family!(FloatOperationIr {
    Exp(d) => row("exp", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_exp, |t, _, y| B::float_mul(t, y));
    Log(d) => row("log", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_log, |t, x, _| B::float_div(t, x));
    Log1p(d) => row("log1p", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_log1p, |t, x, _| {
            B::float_div(t, B::float_add_scalar(x, sc(1.0)))
        });
    // 2/√π · exp(−x²)
    Erf(d) => row("erf", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_erf, |t, x, _| {
            let g = B::float_mul_scalar(
                B::float_exp(B::float_neg(B::float_mul(x.clone(), x))),
                sc(std::f64::consts::FRAC_2_SQRT_PI),
            );
            B::float_mul(t, g)
        });
    PowfScalar(d) => row("powf_scalar", Elementwise),
        eval |s| s.pow_scalar(&d.lhs, &d.out, scalar_f64(&d.rhs));
    Sqrt(d) => row("sqrt", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_sqrt, |t, _, y| {
            B::float_div(B::float_mul_scalar(t, sc(0.5)), y)
        }),
        host |c| c.fold(d, f32::sqrt);
    Cos(d) => row("cos", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_cos, |t, x, _| {
            B::float_neg(B::float_mul(t, B::float_sin(x)))
        });
    Cosh(..) => row("cosh", Elementwise);
    Sin(d) => row("sin", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_sin, |t, x, _| B::float_mul(t, B::float_cos(x)));
    Sinh(..) => row("sinh", Elementwise);
    Tan(..) => row("tan", Elementwise);
    // 1 − y²
    Tanh(d) => row("tanh", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_tanh, |t, _, y| {
            let slope = B::float_add_scalar(B::float_neg(B::float_mul(y.clone(), y)), sc(1.0));
            B::float_mul(t, slope)
        }),
        host |c| c.act(d, Act::Tanh);
    ArcCos(..) => row("arc_cos", Elementwise);
    ArcCosh(..) => row("arc_cosh", Elementwise);
    ArcSin(..) => row("arc_sin", Elementwise);
    ArcSinh(..) => row("arc_sinh", Elementwise);
    ArcTan(..) => row("arc_tan", Elementwise);
    ArcTanh(..) => row("arc_tanh", Elementwise);
    ArcTan2(..) => op("arc_tan2", Arithmetic);
    Round(..) => row("round", Elementwise);
    Floor(..) => row("floor", Elementwise);
    Ceil(..) => row("ceil", Elementwise);
    Trunc(..) => row("trunc", Elementwise);
    IntoInt(d) => op("into_int", Indexing),
        eval |s| {
            let v = B::float_into_int(s.f(&d.input)?, s.int_dtype);
            s.vals.insert(d.out.id, Val::I(v));
            Ok(())
        };
    Matmul(d) => row("matmul", Affine),
        eval |s| s.binary(
            (&d.lhs, &d.rhs, &d.out),
            B::float_matmul,
            |t, _, b, _| B::float_matmul(t, b.clone()),
            |t, a, _, _| B::float_matmul(a.clone(), t),
        ),
        host |c| c.matmul(d);
    Cross(..) => op("cross", Indexing);
    Random(..) => op("random", Creation);
    Recip(d) => row("recip", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_recip, |t, _, y| {
            B::float_neg(B::float_mul(t, B::float_mul(y.clone(), y)))
        }),
        host |c| c.fold(d, |v| 1.0 / v);
    IsNan(d) => op("is_nan", Comparison),
        eval |s| {
            let v = B::float_is_nan(s.f(&d.input)?, s.bool_dtype);
            s.cmp(&d.out, v)
        };
    IsInf(..) => op("is_inf", Comparison);
    Quantize(..) => op("quantize", Other);
    Dequantize(..) => op("dequantize", Other);
    GridSample2d(..) => op("grid_sample2d", Indexing);
    Powf(..) => op("powf", Arithmetic);
    Hypot(..) => op("hypot", Arithmetic);
});
