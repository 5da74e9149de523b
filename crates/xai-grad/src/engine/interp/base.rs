//! Structural ops on float, int and bool tensors: reshape, slice, cat, gather, compare…

use burn::backend::ops::{BoolTensorOps, FloatTensorOps, IntTensorOps};
use burn_ir::{BaseOperationIr, OperationIr, TensorIr};

use super::*;

impl Interp<'_> {
    pub(super) fn base_float(&mut self, op: &OperationIr, b: &BaseOperationIr) -> Result<()> {
        use BaseOperationIr as O;
        // Structural ops apply the same linear map to the tangent.
        macro_rules! linear_unary {
            ($d:expr, $input:expr, |$x:ident| $e:expr) => {{
                let $x = self.f($input)?;
                let y = $e;
                let t = if self.jvp {
                    self.tan($input).map(|$x| $e)
                } else {
                    None
                };
                self.emit(&$d.out, y, t)
            }};
        }
        match b {
            O::Reshape(d) => {
                let target = batch_reshape(&self.f(&d.input)?.shape(), &d.input, &d.out)?;
                linear_unary!(d, &d.input, |x| B::float_reshape(x, target.clone()))
            }
            O::SwapDims(d) => linear_unary!(d, &d.input, |x| B::float_swap_dims(x, d.dim1, d.dim2)),
            O::Permute(d) => linear_unary!(d, &d.input, |x| B::float_permute(x, &d.axes)),
            O::Flip(d) => linear_unary!(d, &d.input, |x| B::float_flip(x, &d.axes)),
            O::Expand(d) => linear_unary!(d, &d.input, |x| B::float_expand(x, shape_of(&d.out))),
            O::Unfold(d) => {
                linear_unary!(d, &d.input, |x| B::float_unfold(x, d.dim, d.size, d.step))
            }
            O::Slice(d) => linear_unary!(d, &d.tensor, |x| B::float_slice(x, &d.ranges)),
            O::RepeatDim(d) => {
                linear_unary!(d, &d.tensor, |x| B::float_repeat_dim(x, d.dim, d.times))
            }
            O::Select(d) => {
                let idx = self.i(&d.indices)?;
                linear_unary!(d, &d.tensor, |x| B::float_select(x, d.dim, idx.clone()))
            }
            O::Gather(d) => {
                let idx = self.i(&d.indices)?;
                linear_unary!(d, &d.tensor, |x| B::float_gather(d.dim, x, idx.clone()))
            }
            O::Cast(d) => {
                // Casts between float types keep the run's precision (an f64 replay stays f64).
                linear_unary!(d, &d.input, |x| B::float_cast(x, self.dtype))
            }
            O::Cat(d) => {
                let xs = d
                    .tensors
                    .iter()
                    .map(|t| self.f(t))
                    .collect::<Result<Vec<_>>>()?;
                let y = B::float_cat(xs, d.dim);
                let t = if self.jvp && d.tensors.iter().any(|t| self.tans.contains_key(&t.id)) {
                    let ts = d
                        .tensors
                        .iter()
                        .map(|t| self.tan_or_zero(t))
                        .collect::<Result<Vec<_>>>()?;
                    Some(B::float_cat(ts, d.dim))
                } else {
                    None
                };
                self.emit(&d.out, y, t)
            }
            O::SliceAssign(d) => self.linear2((&d.tensor, &d.value, &d.out), |x, v| {
                B::float_slice_assign(x, &d.ranges, v)
            }),
            O::MaskWhere(d) => {
                let m = self.b(&d.mask)?;
                self.linear2((&d.tensor, &d.value, &d.out), |x, v| {
                    B::float_mask_where(x, m.clone(), v)
                })
            }
            O::MaskFill(d) => {
                let m = self.b(&d.mask)?;
                let y = B::float_mask_fill(self.f(&d.tensor)?, m.clone(), to_scalar(&d.value));
                let t = if self.jvp {
                    self.tan(&d.tensor)
                        .map(|t| B::float_mask_fill(t, m, sc(0.0)))
                } else {
                    None
                };
                self.emit(&d.out, y, t)
            }
            O::Zeros(d) => {
                self.put(
                    &d.out,
                    B::float_zeros(shape_of(&d.out), &self.dev, self.dtype),
                );
                Ok(())
            }
            O::Ones(d) => {
                self.put(
                    &d.out,
                    B::float_ones(shape_of(&d.out), &self.dev, self.dtype),
                );
                Ok(())
            }
            O::Empty(d) => {
                self.put(
                    &d.out,
                    B::float_zeros(shape_of(&d.out), &self.dev, self.dtype),
                );
                Ok(())
            }
            O::Equal(d) => self.cmp(
                &d.out,
                B::float_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            ),
            O::NotEqual(d) => self.cmp(
                &d.out,
                B::float_not_equal(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype),
            ),
            O::EqualElem(d) => self.cmp(
                &d.out,
                B::float_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            ),
            O::NotEqualElem(d) => self.cmp(
                &d.out,
                B::float_not_equal_elem(self.f(&d.lhs)?, to_scalar(&d.rhs), self.bool_dtype),
            ),
            _ => Err(Self::unsupported(op, "eval")),
        }
    }

    pub(super) fn cmp(&mut self, out: &TensorIr, v: T) -> Result<()> {
        self.vals.insert(out.id, Val::Bo(v));
        Ok(())
    }

    /// Int and bool tensors: structural ops only (token ids, masks).
    pub(super) fn base_other(
        &mut self,
        op: &OperationIr,
        b: &BaseOperationIr,
        is_bool: bool,
    ) -> Result<()> {
        use BaseOperationIr as O;
        let get = |s: &Self, t: &TensorIr| if is_bool { s.b(t) } else { s.i(t) };
        let wrap = |v: T| if is_bool { Val::Bo(v) } else { Val::I(v) };
        let (out, v) = match b {
            O::Reshape(d) => (
                &d.out,
                if is_bool {
                    B::bool_reshape(get(self, &d.input)?, shape_of(&d.out))
                } else {
                    B::int_reshape(get(self, &d.input)?, shape_of(&d.out))
                },
            ),
            O::SwapDims(d) => (
                &d.out,
                if is_bool {
                    B::bool_swap_dims(get(self, &d.input)?, d.dim1, d.dim2)
                } else {
                    B::int_swap_dims(get(self, &d.input)?, d.dim1, d.dim2)
                },
            ),
            O::Permute(d) => (
                &d.out,
                if is_bool {
                    B::bool_permute(get(self, &d.input)?, &d.axes)
                } else {
                    B::int_permute(get(self, &d.input)?, &d.axes)
                },
            ),
            O::Expand(d) => (
                &d.out,
                if is_bool {
                    B::bool_expand(get(self, &d.input)?, shape_of(&d.out))
                } else {
                    B::int_expand(get(self, &d.input)?, shape_of(&d.out))
                },
            ),
            O::Slice(d) => (
                &d.out,
                if is_bool {
                    B::bool_slice(get(self, &d.tensor)?, &d.ranges)
                } else {
                    B::int_slice(get(self, &d.tensor)?, &d.ranges)
                },
            ),
            O::Cat(d) => {
                let xs = d
                    .tensors
                    .iter()
                    .map(|t| get(self, t))
                    .collect::<Result<Vec<_>>>()?;
                (
                    &d.out,
                    if is_bool {
                        B::bool_cat(xs, d.dim)
                    } else {
                        B::int_cat(xs, d.dim)
                    },
                )
            }
            O::Zeros(d) if !is_bool => (
                &d.out,
                B::int_zeros(shape_of(&d.out), &self.dev, self.int_dtype),
            ),
            O::Ones(d) if !is_bool => (
                &d.out,
                B::int_ones(shape_of(&d.out), &self.dev, self.int_dtype),
            ),
            O::Cast(d) if !is_bool => (&d.out, B::int_cast(get(self, &d.input)?, self.int_dtype)),
            O::EqualElem(d) if !is_bool => {
                let v = B::int_equal_elem(get(self, &d.lhs)?, to_scalar(&d.rhs), self.bool_dtype);
                self.vals.insert(d.out.id, Val::Bo(v));
                return Ok(());
            }
            _ => return Err(Self::unsupported(op, "eval")),
        };
        self.vals.insert(out.id, wrap(v));
        Ok(())
    }

    /// `y = f(a, b)` for an `f` linear in `(a, b)` jointly (slice-assign, select by a mask):
    /// the tangent is `f(da, db)`, a missing tangent standing for zero.
    fn linear2(
        &mut self,
        (a, b, out): (&TensorIr, &TensorIr, &TensorIr),
        f: impl Fn(T, T) -> T,
    ) -> Result<()> {
        let y = f(self.f(a)?, self.f(b)?);
        let t = if self.jvp && (self.tans.contains_key(&a.id) || self.tans.contains_key(&b.id)) {
            Some(f(self.tan_or_zero(a)?, self.tan_or_zero(b)?))
        } else {
            None
        };
        self.emit(out, y, t)
    }
}
