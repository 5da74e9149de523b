//! Arithmetic, comparisons and reductions on float and int tensors (`NumericOperationIr`).
//! Float rules carry their tangents; int rules cover the index arithmetic token positions need.

use burn::backend::ops::{BoolTensorOps, FloatTensorOps, IntTensorOps};
use burn_ir::NumericOperationIr;
use burn_ir::NumericOperationIr::*;

use super::OpClass::*;
use super::{op, row};
use crate::engine::host::Arith;
use crate::engine::interp::{B, Val, sc, scalar_f64, shape_of, to_scalar};

op_family!(NumericOperationIr {
    Add(d) => row("add", Arithmetic),
        eval |s| s.binary((&d.lhs, &d.rhs, &d.out), B::float_add, |t, _, _, _| t, |t, _, _, _| t),
        int |s, _k| {
            let v = B::int_add(s.i(&d.lhs)?, s.i(&d.rhs)?);
            s.put_int(&d.out, v)
        },
        host |c| c.arith(d, Arith::Add);
    AddScalar(d) => row("add_scalar", Arithmetic),
        eval |s| s.unary(&d.lhs, &d.out, |x| B::float_add_scalar(x, to_scalar(&d.rhs)), |t, _, _| t),
        int |s, _k| {
            let v = B::int_add_scalar(s.i(&d.lhs)?, to_scalar(&d.rhs));
            s.put_int(&d.out, v)
        },
        host |c| c.arith_scalar(d, Arith::Add);
    Sub(d) => row("sub", Arithmetic),
        eval |s| s.binary(
            (&d.lhs, &d.rhs, &d.out),
            B::float_sub,
            |t, _, _, _| t,
            |t, _, _, _| B::float_neg(t),
        ),
        int |s, _k| {
            let v = B::int_sub(s.i(&d.lhs)?, s.i(&d.rhs)?);
            s.put_int(&d.out, v)
        },
        host |c| c.arith(d, Arith::Sub);
    SubScalar(d) => row("sub_scalar", Arithmetic),
        eval |s| s.unary(&d.lhs, &d.out, |x| B::float_sub_scalar(x, to_scalar(&d.rhs)), |t, _, _| t),
        host |c| c.arith_scalar(d, Arith::Sub);
    // d(a/b) = da / b − (a/b)·db / b
    Div(d) => row("div", Arithmetic),
        eval |s| s.binary(
            (&d.lhs, &d.rhs, &d.out),
            B::float_div,
            |t, _, b, _| B::float_div(t, b.clone()),
            |t, _, b, y| B::float_neg(B::float_mul(B::float_div(y.clone(), b.clone()), t)),
        ),
        host |c| c.arith(d, Arith::Div);
    DivScalar(d) => row("div_scalar", Arithmetic),
        eval |s| {
            let k = to_scalar(&d.rhs);
            s.unary(&d.lhs, &d.out, |x| B::float_div_scalar(x, k), |t, _, _| B::float_div_scalar(t, k))
        },
        host |c| c.arith_scalar(d, Arith::Div);
    Rem(..) => op("rem", Arithmetic);
    RemScalar(..) => op("rem_scalar", Arithmetic);
    Mul(d) => row("mul", Arithmetic),
        eval |s| s.binary(
            (&d.lhs, &d.rhs, &d.out),
            B::float_mul,
            |t, _, b, _| B::float_mul(t, b.clone()),
            |t, a, _, _| B::float_mul(a.clone(), t),
        ),
        host |c| c.arith(d, Arith::Mul);
    MulScalar(d) => row("mul_scalar", Arithmetic),
        eval |s| {
            let k = to_scalar(&d.rhs);
            s.unary(&d.lhs, &d.out, |x| B::float_mul_scalar(x, k), |t, _, _| B::float_mul_scalar(t, k))
        },
        int |s, _k| {
            let v = B::int_mul_scalar(s.i(&d.lhs)?, to_scalar(&d.rhs));
            s.put_int(&d.out, v)
        },
        host |c| c.arith_scalar(d, Arith::Mul);
    Abs(d) => row("abs", Activation),
        eval |s| s.unary(&d.input, &d.out, B::float_abs, |t, x, _| B::float_mul(t, B::float_sign(x)));
    Full(d) => op("full", Creation),
        eval |s| {
            let v = B::float_full(shape_of(&d.out), to_scalar(&d.value), &s.dev, s.dtype);
            s.emit(&d.out, v, None)
        },
        int |s, _k| {
            let v = B::int_full(shape_of(&d.out), to_scalar(&d.value), &s.dev, s.int_dtype);
            s.put_int(&d.out, v)
        };
    MeanDim(d) => op("mean_dim", Reduction),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_mean_dim(x, d.axis));
    Mean(d) => op("mean", Reduction),
        eval |s| s.linear_map(&d.input, &d.out, B::float_mean);
    Sum(d) => op("sum", Reduction),
        eval |s| s.linear_map(&d.input, &d.out, B::float_sum);
    SumDim(d) => op("sum_dim", Reduction),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_sum_dim(x, d.axis));
    SumDims(d) => op("sum_dims", Reduction),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_sum_dims(x, &d.axes));
    Prod(..) => op("prod", Reduction);
    ProdDim(..) => op("prod_dim", Reduction);
    Greater(d) => op("greater", Comparison),
        eval |s| s.compare(d, B::float_greater);
    GreaterElem(d) => op("greater_elem", Comparison),
        eval |s| s.compare_scalar(d, false, B::float_greater_elem),
        int |s, _k| s.compare_scalar(d, true, B::int_greater_elem);
    GreaterEqual(d) => op("greater_equal", Comparison),
        eval |s| s.compare(d, B::float_greater_equal);
    GreaterEqualElem(d) => op("greater_equal_elem", Comparison),
        eval |s| s.compare_scalar(d, false, B::float_greater_equal_elem);
    Lower(d) => op("lower", Comparison),
        eval |s| s.compare(d, B::float_lower);
    LowerElem(d) => op("lower_elem", Comparison),
        eval |s| s.compare_scalar(d, false, B::float_lower_elem),
        int |s, _k| s.compare_scalar(d, true, B::int_lower_elem);
    LowerEqual(d) => op("lower_equal", Comparison),
        eval |s| s.compare(d, B::float_lower_equal);
    LowerEqualElem(d) => op("lower_equal_elem", Comparison),
        eval |s| s.compare_scalar(d, false, B::float_lower_equal_elem);
    ArgMax(d) => op("arg_max", Reduction),
        eval |s| {
            let v = B::float_argmax(s.f(&d.input)?, d.axis, s.int_dtype);
            s.vals.insert(d.out.id, Val::I(v));
            Ok(())
        };
    ArgTopK(..) => op("arg_top_k", Reduction);
    TopK(..) => op("top_k", Reduction);
    TopKWithIndices(..) => op("top_k_with_indices", Reduction);
    ArgMin(d) => op("arg_min", Reduction),
        eval |s| {
            let v = B::float_argmin(s.f(&d.input)?, d.axis, s.int_dtype);
            s.vals.insert(d.out.id, Val::I(v));
            Ok(())
        };
    Max(d) => op("max", Reduction),
        eval |s| s.extreme(&d.input, &d.out, true);
    MaxDimWithIndices(..) => op("max_dim_with_indices", Reduction);
    MinDimWithIndices(..) => op("min_dim_with_indices", Reduction);
    Min(d) => op("min", Reduction),
        eval |s| s.extreme(&d.input, &d.out, false);
    MaxDim(d) => op("max_dim", Reduction),
        eval |s| s.extreme_dim(&d.input, &d.out, d.axis, true);
    MinDim(d) => op("min_dim", Reduction),
        eval |s| s.extreme_dim(&d.input, &d.out, d.axis, false);
    MaxAbs(..) => op("max_abs", Reduction);
    MaxAbsDim(..) => op("max_abs_dim", Reduction);
    Clamp(d) => row("clamp", Elementwise),
        eval |s| {
            let (lo, hi, bd) = (scalar_f64(&d.min), scalar_f64(&d.max), s.bool_dtype);
            s.unary(
                &d.tensor,
                &d.out,
                |x| B::float_clamp(x, sc(lo), sc(hi)),
                |t, x, _| {
                    let outside = B::bool_or(
                        B::float_lower_elem(x.clone(), sc(lo), bd),
                        B::float_greater_elem(x, sc(hi), bd),
                    );
                    B::float_mask_fill(t, outside, sc(0.0))
                },
            )
        };
    IntRandom(..) => op("int_random", Creation);
    Powi(..) => op("powi", Arithmetic);
    PowiScalar(d) => op("powi_scalar", Elementwise),
        eval |s| s.pow_scalar(&d.lhs, &d.out, scalar_f64(&d.rhs));
    CumSum(..) => op("cum_sum", Reduction);
    CumProd(..) => op("cum_prod", Reduction);
    CumMin(..) => op("cum_min", Reduction);
    CumMax(..) => op("cum_max", Reduction);
    Neg(d) => row("neg", Elementwise),
        eval |s| s.linear_map(&d.input, &d.out, B::float_neg);
    Sign(d) => row("sign", Elementwise),
        eval |s| s.unary(&d.input, &d.out, B::float_sign, |t, _, _| B::float_mul_scalar(t, sc(0.0)));
    ClampMin(d) => row("clamp_min", Elementwise),
        eval |s| {
            let (lo, bd) = (scalar_f64(&d.rhs), s.bool_dtype);
            s.unary(
                &d.lhs,
                &d.out,
                |x| B::float_clamp_min(x, sc(lo)),
                |t, x, _| B::float_mask_fill(t, B::float_lower_elem(x, sc(lo), bd), sc(0.0)),
            )
        };
    ClampMax(d) => row("clamp_max", Elementwise),
        eval |s| {
            let (hi, bd) = (scalar_f64(&d.rhs), s.bool_dtype);
            s.unary(
                &d.lhs,
                &d.out,
                |x| B::float_clamp_max(x, sc(hi)),
                |t, x, _| B::float_mask_fill(t, B::float_greater_elem(x, sc(hi), bd), sc(0.0)),
            )
        };
    Sort(..) => op("sort", Reduction);
    SortWithIndices(..) => op("sort_with_indices", Reduction);
    ArgSort(..) => op("arg_sort", Reduction);
    Pad(d) => op("pad", Indexing),
        eval |s| s.constant_pad(d);
});
