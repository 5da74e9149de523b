//! Float-only elementwise functions and activations, each with its tangent rule.

use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn_ir::{ActivationOperationIr, FloatOperationIr, OperationIr, TensorIr};

use super::*;

impl Interp<'_> {
    /// An elementwise or reducing op `y = f(x)` with tangent rule `dy = rule(dx, x, y)`.
    pub(super) fn unary(
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

    /// A binary op `y = f(a, b)` with partial tangent rules `da(ta, a, b, y)` and
    /// `db(tb, a, b, y)`; each part is broadcast to `y`'s shape and the parts are summed.
    pub(super) fn binary(
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
    pub(super) fn pow_scalar(&mut self, input: &TensorIr, out: &TensorIr, p: f64) -> Result<()> {
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

    pub(super) fn float_op(&mut self, op: &OperationIr, f: &FloatOperationIr) -> Result<()> {
        use FloatOperationIr as F;
        let mul = B::float_mul;
        match f {
            F::Exp(d) => self.unary(&d.input, &d.out, B::float_exp, |t, _, y| mul(t, y)),
            F::Log(d) => self.unary(&d.input, &d.out, B::float_log, |t, x, _| B::float_div(t, x)),
            F::Log1p(d) => self.unary(&d.input, &d.out, B::float_log1p, |t, x, _| {
                B::float_div(t, B::float_add_scalar(x, sc(1.0)))
            }),
            F::Sqrt(d) => self.unary(&d.input, &d.out, B::float_sqrt, |t, _, y| {
                B::float_div(B::float_mul_scalar(t, sc(0.5)), y)
            }),
            F::Tanh(d) => self.unary(&d.input, &d.out, B::float_tanh, |t, _, y| {
                // 1 − y²
                let d = B::float_add_scalar(B::float_neg(mul(y.clone(), y)), sc(1.0));
                mul(t, d)
            }),
            F::Sin(d) => self.unary(&d.input, &d.out, B::float_sin, |t, x, _| {
                mul(t, B::float_cos(x))
            }),
            F::Cos(d) => self.unary(&d.input, &d.out, B::float_cos, |t, x, _| {
                B::float_neg(mul(t, B::float_sin(x)))
            }),
            F::Recip(d) => self.unary(&d.input, &d.out, B::float_recip, |t, _, y| {
                B::float_neg(mul(t, mul(y.clone(), y)))
            }),
            F::Erf(d) => self.unary(&d.input, &d.out, B::float_erf, |t, x, _| {
                // 2/√π · exp(−x²)
                let g = B::float_mul_scalar(
                    B::float_exp(B::float_neg(mul(x.clone(), x))),
                    sc(std::f64::consts::FRAC_2_SQRT_PI),
                );
                mul(t, g)
            }),
            F::PowfScalar(d) => self.pow_scalar(&d.lhs, &d.out, scalar_f64(&d.rhs)),
            F::Matmul(d) => self.binary(
                (&d.lhs, &d.rhs, &d.out),
                B::float_matmul,
                |t, _, b, _| B::float_matmul(t, b.clone()),
                |t, a, _, _| B::float_matmul(a.clone(), t),
            ),
            F::IntoInt(d) => {
                let v = B::float_into_int(self.f(&d.input)?, self.int_dtype);
                self.vals.insert(d.out.id, Val::I(v));
                Ok(())
            }
            F::IsNan(d) => {
                let v = B::float_is_nan(self.f(&d.input)?, self.bool_dtype);
                self.cmp(&d.out, v)
            }
            _ => Err(Self::unsupported(op, "eval")),
        }
    }

    pub(super) fn activation(&mut self, op: &OperationIr, a: &ActivationOperationIr) -> Result<()> {
        use ActivationOperationIr as A;
        let mul = B::float_mul;
        let bd = self.bool_dtype;
        match a {
            A::Relu(d) => match self.g.relu_softplus {
                // Stable softplus: (relu(z) + ln(1 + e^{−|z|})) / β with z = βx.
                Some(beta) => self.unary(
                    &d.input,
                    &d.out,
                    |x| {
                        let z = B::float_mul_scalar(x, sc(beta));
                        let tail =
                            B::float_log1p(B::float_exp(B::float_neg(B::float_abs(z.clone()))));
                        B::float_div_scalar(B::float_add(B::relu(z), tail), sc(beta))
                    },
                    |t, x, _| mul(t, B::sigmoid(B::float_mul_scalar(x, sc(beta)))),
                ),
                None => self.unary(&d.input, &d.out, B::relu, |t, x, _| {
                    B::float_mask_fill(t, B::float_lower_equal_elem(x, sc(0.0), bd), sc(0.0))
                }),
            },
            A::LeakyRelu(d) => {
                let s = scalar_f64(&d.rhs);
                self.unary(
                    &d.lhs,
                    &d.out,
                    |x| B::leaky_relu(x, sc(s)),
                    |t, x, _| {
                        let neg = B::float_lower_equal_elem(x, sc(0.0), bd);
                        let scaled = B::float_mul_scalar(t.clone(), sc(s));
                        B::float_mask_where(t, neg, scaled)
                    },
                )
            }
            A::Gelu(d) => self.unary(&d.input, &d.out, B::gelu, |t, x, _| {
                // gelu'(x) = Φ(x) + x φ(x)
                let cdf = B::float_mul_scalar(
                    B::float_add_scalar(
                        B::float_erf(B::float_mul_scalar(
                            x.clone(),
                            sc(std::f64::consts::FRAC_1_SQRT_2),
                        )),
                        sc(1.0),
                    ),
                    sc(0.5),
                );
                let pdf = B::float_mul_scalar(
                    B::float_exp(B::float_mul_scalar(mul(x.clone(), x.clone()), sc(-0.5))),
                    sc(0.3989422804014327),
                );
                mul(t, B::float_add(cdf, mul(x, pdf)))
            }),
            A::Sigmoid(d) => self.unary(&d.input, &d.out, B::sigmoid, |t, _, y| {
                let d = mul(y.clone(), B::float_add_scalar(B::float_neg(y), sc(1.0)));
                mul(t, d)
            }),
            A::LogSigmoid(d) => self.unary(&d.input, &d.out, B::log_sigmoid, |t, x, _| {
                // 1 − σ(x) = σ(−x)
                mul(t, B::sigmoid(B::float_neg(x)))
            }),
            A::Softmax(d) => {
                let ax = d.axis;
                self.unary(
                    &d.input,
                    &d.out,
                    |x| B::softmax(x, ax),
                    |t, _, y| {
                        let dot = B::float_sum_dim(mul(y.clone(), t.clone()), ax);
                        mul(y, B::float_sub(t, dot))
                    },
                )
            }
            A::LogSoftmax(d) => {
                let ax = d.axis;
                self.unary(
                    &d.input,
                    &d.out,
                    |x| B::log_softmax(x, ax),
                    |t, _, y| {
                        let p = B::float_exp(y);
                        B::float_sub(t.clone(), B::float_sum_dim(mul(p, t), ax))
                    },
                )
            }
            _ => Err(Self::unsupported(op, "eval")),
        }
    }
}
