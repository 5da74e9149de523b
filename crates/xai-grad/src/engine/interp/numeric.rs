//! Arithmetic and reductions (`NumericOperationIr`) on int and float tensors, with tangents.

use burn::backend::ops::{FloatTensorOps, IntTensorOps};
use burn_ir::{NumericOperationIr, OperationIr};

use super::*;

impl Interp<'_> {
    pub(super) fn numeric_int(&mut self, op: &OperationIr, n: &NumericOperationIr) -> Result<()> {
        use NumericOperationIr as N;
        let (out, v) = match n {
            N::Add(d) => (&d.out, Val::I(B::int_add(self.i(&d.lhs)?, self.i(&d.rhs)?))),
            N::AddScalar(d) => (
                &d.out,
                Val::I(B::int_add_scalar(self.i(&d.lhs)?, to_scalar(&d.rhs))),
            ),
            N::Sub(d) => (&d.out, Val::I(B::int_sub(self.i(&d.lhs)?, self.i(&d.rhs)?))),
            N::MulScalar(d) => (
                &d.out,
                Val::I(B::int_mul_scalar(self.i(&d.lhs)?, to_scalar(&d.rhs))),
            ),
            N::Full(d) => (
                &d.out,
                Val::I(B::int_full(
                    shape_of(&d.out),
                    to_scalar(&d.value),
                    &self.dev,
                    self.int_dtype,
                )),
            ),
            N::GreaterElem(d) => (
                &d.out,
                Val::Bo(B::int_greater_elem(
                    self.i(&d.lhs)?,
                    to_scalar(&d.rhs),
                    self.bool_dtype,
                )),
            ),
            N::LowerElem(d) => (
                &d.out,
                Val::Bo(B::int_lower_elem(
                    self.i(&d.lhs)?,
                    to_scalar(&d.rhs),
                    self.bool_dtype,
                )),
            ),
            _ => return Err(Self::unsupported(op, "eval")),
        };
        self.vals.insert(out.id, v);
        Ok(())
    }

    pub(super) fn numeric_float(&mut self, op: &OperationIr, n: &NumericOperationIr) -> Result<()> {
        use NumericOperationIr as N;
        let jvp = self.jvp;
        let bd = self.bool_dtype;
        match n {
            N::Add(d) => self.binary(
                (&d.lhs, &d.rhs, &d.out),
                B::float_add,
                |t, _, _, _| t,
                |t, _, _, _| t,
            )?,
            N::Sub(d) => self.binary(
                (&d.lhs, &d.rhs, &d.out),
                B::float_sub,
                |t, _, _, _| t,
                |t, _, _, _| B::float_neg(t),
            )?,
            N::Mul(d) => self.binary(
                (&d.lhs, &d.rhs, &d.out),
                B::float_mul,
                |t, _, b, _| B::float_mul(t, b.clone()),
                |t, a, _, _| B::float_mul(a.clone(), t),
            )?,
            // d(a/b) = da / b − (a/b)·db / b
            N::Div(d) => self.binary(
                (&d.lhs, &d.rhs, &d.out),
                B::float_div,
                |t, _, b, _| B::float_div(t, b.clone()),
                |t, _, b, y| B::float_neg(B::float_mul(B::float_div(y.clone(), b.clone()), t)),
            )?,
            N::AddScalar(d) => self.unary(
                &d.lhs,
                &d.out,
                |x| B::float_add_scalar(x, to_scalar(&d.rhs)),
                |t, _, _| t,
            )?,
            N::SubScalar(d) => self.unary(
                &d.lhs,
                &d.out,
                |x| B::float_sub_scalar(x, to_scalar(&d.rhs)),
                |t, _, _| t,
            )?,
            N::MulScalar(d) => {
                let s = to_scalar(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_mul_scalar(x, s),
                    |t, _, _| B::float_mul_scalar(t, s),
                )?
            }
            N::DivScalar(d) => {
                let s = to_scalar(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_div_scalar(x, s),
                    |t, _, _| B::float_div_scalar(t, s),
                )?
            }
            N::Neg(d) => self.unary(&d.input, &d.out, B::float_neg, |t, _, _| B::float_neg(t))?,
            N::Abs(d) => self.unary(&d.input, &d.out, B::float_abs, |t, x, _| {
                B::float_mul(t, B::float_sign(x))
            })?,
            N::Sign(d) => self.unary(&d.input, &d.out, B::float_sign, |t, _, _| {
                B::float_mul_scalar(t, sc(0.0))
            })?,
            N::Sum(d) => self.unary(&d.input, &d.out, B::float_sum, |t, _, _| B::float_sum(t))?,
            N::Mean(d) => {
                self.unary(&d.input, &d.out, B::float_mean, |t, _, _| B::float_mean(t))?
            }
            N::SumDim(d) => self.unary(
                &d.input,
                &d.out,
                |x| B::float_sum_dim(x, d.axis),
                |t, _, _| B::float_sum_dim(t, d.axis),
            )?,
            N::MeanDim(d) => self.unary(
                &d.input,
                &d.out,
                |x| B::float_mean_dim(x, d.axis),
                |t, _, _| B::float_mean_dim(t, d.axis),
            )?,
            N::SumDims(d) => self.unary(
                &d.input,
                &d.out,
                |x| B::float_sum_dims(x, &d.axes),
                |t, _, _| B::float_sum_dims(t, &d.axes),
            )?,
            N::MaxDim(d) | N::MinDim(d) => {
                let max = matches!(n, N::MaxDim(_));
                let x = self.f(&d.input)?;
                let idt = self.int_dtype;
                let (y, idx) = if max {
                    B::float_max_dim_with_indices(x, d.axis, idt)
                } else {
                    B::float_min_dim_with_indices(x, d.axis, idt)
                };
                let t = if jvp {
                    self.tan(&d.input).map(|t| B::float_gather(d.axis, t, idx))
                } else {
                    None
                };
                self.emit(&d.out, y, t)?;
            }
            N::Max(d) | N::Min(d) => {
                let max = matches!(n, N::Max(_));
                let x = self.f(&d.input)?;
                let count = x.shape().num_elements();
                let flat = B::float_reshape(x, Shape::new([count]));
                let idt = self.int_dtype;
                let (y, idx) = if max {
                    B::float_max_dim_with_indices(flat, 0, idt)
                } else {
                    B::float_min_dim_with_indices(flat, 0, idt)
                };
                let t = if jvp {
                    self.tan(&d.input).map(|t| {
                        B::float_reshape(
                            B::float_gather(0, B::float_reshape(t, Shape::new([count])), idx),
                            shape_of(&d.out),
                        )
                    })
                } else {
                    None
                };
                self.emit(&d.out, B::float_reshape(y, shape_of(&d.out)), t)?;
            }
            N::Clamp(d) => {
                let (lo, hi) = (scalar_f64(&d.min), scalar_f64(&d.max));
                self.unary(
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
                )?
            }
            N::ClampMin(d) => {
                let lo = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_clamp_min(x, sc(lo)),
                    |t, x, _| B::float_mask_fill(t, B::float_lower_elem(x, sc(lo), bd), sc(0.0)),
                )?
            }
            N::ClampMax(d) => {
                let hi = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::float_clamp_max(x, sc(hi)),
                    |t, x, _| B::float_mask_fill(t, B::float_greater_elem(x, sc(hi), bd), sc(0.0)),
                )?
            }
            N::PowiScalar(d) => self.pow_scalar(&d.lhs, &d.out, scalar_f64(&d.rhs))?,
            N::Full(d) => self.put(
                &d.out,
                B::float_full(shape_of(&d.out), to_scalar(&d.value), &self.dev, self.dtype),
            ),
            N::Pad(d) => {
                let burn_ir::PadModeIr::Constant(v) = d.mode else {
                    return Err(Self::unsupported(op, "eval"));
                };
                let mode = burn::tensor::ops::PadMode::Constant(scalar_f64(&v) as f32);
                let zero = burn::tensor::ops::PadMode::Constant(0.0);
                self.unary(
                    &d.input,
                    &d.out,
                    |x| B::float_pad(x, &d.padding, mode),
                    |t, _, _| B::float_pad(t, &d.padding, zero),
                )?
            }
            N::Greater(d) => self.cmp(
                &d.out,
                B::float_greater(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::GreaterEqual(d) => self.cmp(
                &d.out,
                B::float_greater_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::Lower(d) => self.cmp(
                &d.out,
                B::float_lower(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::LowerEqual(d) => self.cmp(
                &d.out,
                B::float_lower_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            )?,
            N::GreaterElem(d) => self.cmp(
                &d.out,
                B::float_greater_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::GreaterEqualElem(d) => self.cmp(
                &d.out,
                B::float_greater_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::LowerElem(d) => self.cmp(
                &d.out,
                B::float_lower_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::LowerEqualElem(d) => self.cmp(
                &d.out,
                B::float_lower_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            )?,
            N::ArgMax(d) | N::ArgMin(d) => {
                let x = self.f(&d.input)?;
                let v = if matches!(n, N::ArgMax(_)) {
                    B::float_argmax(x, d.axis, self.int_dtype)
                } else {
                    B::float_argmin(x, d.axis, self.int_dtype)
                };
                self.vals.insert(d.out.id, Val::I(v));
            }
            _ => return Err(Self::unsupported(op, "eval")),
        }
        Ok(())
    }
}
