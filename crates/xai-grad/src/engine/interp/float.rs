//! The interpreter's kit for elementwise rules: unary and binary maps with their tangent rules.

use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn_ir::{TensorIr, UnaryOpIr};

use super::*;

impl Interp<'_> {
    /// An elementwise or reducing op `y = f(x)` with tangent rule `dy = rule(dx, x, y)`.
    pub(crate) fn unary(
        &mut self,
        input: &TensorIr,
        out: &TensorIr,
        f: impl FnOnce(T) -> T,
        rule: impl FnOnce(T, T, T) -> T,
    ) -> Result<()> {
        let x = self.f(input)?;
        let y = f(x.clone());
        let t = if self.jvp {
            self.tan(input).map(|t| rule(t, x, y.clone()))
        } else {
            None
        };
        self.emit(out, y, t)
    }

    /// An op linear in its input (structural maps, sums, pooling, interpolation): the tangent
    /// takes the same map.
    pub(crate) fn linear_map(
        &mut self,
        input: &TensorIr,
        out: &TensorIr,
        f: impl Fn(T) -> T,
    ) -> Result<()> {
        self.unary(input, out, &f, |t, _, _| f(t))
    }

    /// A binary op `y = f(a, b)` with partial tangent rules `da(ta, a, b, y)` and
    /// `db(tb, a, b, y)`; each part is broadcast to `y`'s shape and the parts are summed.
    pub(crate) fn binary(
        &mut self,
        (lhs, rhs, out): (&TensorIr, &TensorIr, &TensorIr),
        f: impl FnOnce(T, T) -> T,
        da: impl FnOnce(T, &T, &T, &T) -> T,
        db: impl FnOnce(T, &T, &T, &T) -> T,
    ) -> Result<()> {
        let (a, b) = (self.f(lhs)?, self.f(rhs)?);
        let y = f(a.clone(), b.clone());
        let t = if self.jvp {
            let shape = y.shape();
            let ta = self
                .tan(lhs)
                .map(|t| B::float_expand(da(t, &a, &b, &y), shape.clone()));
            let tb = self
                .tan(rhs)
                .map(|t| B::float_expand(db(t, &a, &b, &y), shape));
            match (ta, tb) {
                (Some(a), Some(b)) => Some(B::float_add(a, b)),
                (a, b) => a.or(b),
            }
        } else {
            None
        };
        self.emit(out, y, t)
    }

    /// `y = x^p`, `dy = p·x^(p−1)·dx` (float and integer exponents alike).
    pub(crate) fn pow_scalar(&mut self, input: &TensorIr, out: &TensorIr, p: f64) -> Result<()> {
        self.unary(
            input,
            out,
            |x| B::float_powf_scalar(x, sc(p)),
            |t, x, _| {
                let slope = B::float_mul_scalar(B::float_powf_scalar(x, sc(p - 1.0)), sc(p));
                B::float_mul(t, slope)
            },
        )
    }

    /// ReLU, or a softplus of sharpness β when the graph is replayed with
    /// `CapturedGraph::with_relu_softplus` (for second derivatives through ReLU networks).
    pub(crate) fn relu(&mut self, d: &UnaryOpIr) -> Result<()> {
        let bd = self.bool_dtype;
        match self.g.relu_softplus {
            // Stable softplus: (relu(z) + ln(1 + e^{−|z|})) / β with z = βx.
            Some(beta) => self.unary(
                &d.input,
                &d.out,
                |x| {
                    let z = B::float_mul_scalar(x, sc(beta));
                    let tail = B::float_log1p(B::float_exp(B::float_neg(B::float_abs(z.clone()))));
                    B::float_div_scalar(B::float_add(B::relu(z), tail), sc(beta))
                },
                |t, x, _| B::float_mul(t, B::sigmoid(B::float_mul_scalar(x, sc(beta)))),
            ),
            None => self.unary(&d.input, &d.out, B::relu, |t, x, _| {
                B::float_mask_fill(t, B::float_lower_equal_elem(x, sc(0.0), bd), sc(0.0))
            }),
        }
    }
}
