//! The interpreter's kit for structural rules: joint-linear maps, comparisons, int and bool
//! structural ops.

use burn::backend::ops::{BoolTensorOps, IntTensorOps};
use burn_ir::{BinaryOpIr, ScalarOpIr, TensorIr};

use super::*;
use crate::engine::ops::Kind;

impl Interp<'_> {
    /// Store a comparison's bool result.
    pub(crate) fn cmp(&mut self, out: &TensorIr, v: T) -> Result<()> {
        self.vals.insert(out.id, Val::Bo(v));
        Ok(())
    }

    /// A comparison of two float tensors (`f` is e.g. `B::float_greater`).
    pub(crate) fn compare(
        &mut self,
        d: &BinaryOpIr,
        f: impl FnOnce(T, T, burn::tensor::BoolDType) -> T,
    ) -> Result<()> {
        let v = f(self.f(&d.lhs)?, self.f(&d.rhs)?, self.bool_dtype);
        self.cmp(&d.out, v)
    }

    /// A comparison of a float (or, with `int`, an int) tensor with a scalar.
    pub(crate) fn compare_scalar(
        &mut self,
        d: &ScalarOpIr,
        int: bool,
        f: impl FnOnce(T, burn::backend::Scalar, burn::tensor::BoolDType) -> T,
    ) -> Result<()> {
        let x = if int {
            self.i(&d.lhs)?
        } else {
            self.f(&d.lhs)?
        };
        let v = f(x, to_scalar(&d.rhs), self.bool_dtype);
        self.cmp(&d.out, v)
    }

    /// Store an int result.
    pub(crate) fn put_int(&mut self, out: &TensorIr, v: T) -> Result<()> {
        self.vals.insert(out.id, Val::I(v));
        Ok(())
    }

    /// A structural op on an int (`int`) or bool (`boolean`) tensor.
    pub(crate) fn structural(
        &mut self,
        kind: Kind,
        input: &TensorIr,
        out: &TensorIr,
        int: impl FnOnce(T) -> T,
        boolean: impl FnOnce(T) -> T,
    ) -> Result<()> {
        let v = match kind {
            Kind::Bool => Val::Bo(boolean(self.b(input)?)),
            _ => Val::I(int(self.i(input)?)),
        };
        self.vals.insert(out.id, v);
        Ok(())
    }

    /// Concatenation of int or bool tensors.
    pub(crate) fn cat_int(
        &mut self,
        kind: Kind,
        inputs: &[TensorIr],
        dim: usize,
        out: &TensorIr,
    ) -> Result<()> {
        let v = match kind {
            Kind::Bool => {
                let xs = inputs.iter().map(|t| self.b(t)).collect::<Result<_>>()?;
                Val::Bo(B::bool_cat(xs, dim))
            }
            _ => {
                let xs = inputs.iter().map(|t| self.i(t)).collect::<Result<_>>()?;
                Val::I(B::int_cat(xs, dim))
            }
        };
        self.vals.insert(out.id, v);
        Ok(())
    }

    /// `y = f(a, b)` for an `f` linear in `(a, b)` jointly (slice-assign, select by a mask):
    /// the tangent is `f(da, db)`, a missing tangent standing for zero.
    pub(crate) fn linear2(
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
