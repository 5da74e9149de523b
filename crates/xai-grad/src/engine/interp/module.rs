//! The interpreter's kit for layer rules: affine layers, normalisation, embedding, max-pooling.

use burn::backend::ops::{FloatTensorOps, IntTensorOps, ModuleOps};
use burn_ir::{BatchNormOpIr, EmbeddingOpIr, LayerNormOpIr, TensorIr};

use super::*;

impl Interp<'_> {
    /// Inference BatchNorm; affine in `x` and in `(γ, β)`: `y = x̂γ + β`.
    pub(crate) fn batch_norm(&mut self, d: &BatchNormOpIr) -> Result<()> {
        let jvp = self.jvp;
        let any_tan = |s: &Self, ts: &[Option<&TensorIr>]| {
            ts.iter().flatten().any(|t| s.tans.contains_key(&t.id))
        };
        let eps = scalar_f64(&d.epsilon);
        let (x, g, b, mean, var) = (
            self.f(&d.x)?,
            self.f(&d.gamma)?,
            self.f(&d.beta)?,
            self.f(&d.mean)?,
            self.f(&d.variance)?,
        );
        let y = B::batch_norm(x.clone(), g.clone(), b, mean.clone(), var.clone(), eps);
        let t = if jvp && any_tan(self, &[Some(&d.x), Some(&d.gamma), Some(&d.beta)]) {
            // Eval mode is affine in x and in (γ, β): y = x̂γ + β.
            let zero_c = self.zeros_like(&mean);
            let mut acc = self.tan(&d.x).map(|dx| {
                B::batch_norm(
                    dx,
                    g.clone(),
                    zero_c.clone(),
                    zero_c.clone(),
                    var.clone(),
                    eps,
                )
            });
            if self.tans.contains_key(&d.gamma.id) || self.tans.contains_key(&d.beta.id) {
                let p = B::batch_norm(
                    x,
                    self.tan_or_zero(&d.gamma)?,
                    self.tan_or_zero(&d.beta)?,
                    mean,
                    var,
                    eps,
                );
                acc = add_tangent(acc, p);
            }
            acc
        } else {
            None
        };
        self.emit(&d.out, y, t)
    }

    /// Layer normalisation over the last dimension, with the exact tangent of `x̂`.
    pub(crate) fn layer_norm(&mut self, d: &LayerNormOpIr) -> Result<()> {
        let jvp = self.jvp;
        let opt_f = |s: &Self, t: &Option<TensorIr>| t.as_ref().map(|t| s.f(t)).transpose();
        let any_tan = |s: &Self, ts: &[Option<&TensorIr>]| {
            ts.iter().flatten().any(|t| s.tans.contains_key(&t.id))
        };
        let eps = scalar_f64(&d.epsilon);
        let x = self.f(&d.input)?;
        let g = self.f(&d.gamma)?;
        let b = opt_f(self, &d.beta)?;
        let y = B::layer_norm(x.clone(), g.clone(), b, eps);
        let t = if jvp && any_tan(self, &[Some(&d.input), Some(&d.gamma), d.beta.as_ref()]) {
            let rank = x.shape().num_dims();
            let last = rank - 1;
            // burn broadcasts only between equal ranks: lift [C] to [1, …, 1, C].
            let lift = |t: T| {
                let c = t.shape().num_elements();
                let mut dims = vec![1usize; rank];
                dims[last] = c;
                B::float_reshape(t, Shape::from(dims))
            };
            let g = lift(g.clone());
            let mu = B::float_mean_dim(x.clone(), last);
            let xc = B::float_sub(x, mu);
            let var = B::float_mean_dim(B::float_mul(xc.clone(), xc.clone()), last);
            let inv = B::float_recip(B::float_sqrt(B::float_add_scalar(var, sc(eps))));
            let xhat = B::float_mul(xc, inv.clone());
            let mut acc = self.tan(&d.input).map(|dx| {
                // dx̂ = (dx − mean(dx) − x̂·mean(dx ⊙ x̂)) / σ
                let m1 = B::float_mean_dim(dx.clone(), last);
                let m2 = B::float_mean_dim(B::float_mul(dx.clone(), xhat.clone()), last);
                let dxhat = B::float_mul(
                    B::float_sub(B::float_sub(dx, m1), B::float_mul(xhat.clone(), m2)),
                    inv.clone(),
                );
                B::float_mul(dxhat, g.clone())
            });
            if let Some(dg) = self.tan(&d.gamma) {
                let p = B::float_mul(xhat.clone(), lift(dg));
                acc = add_tangent(acc, p);
            }
            if let Some(db) = d.beta.as_ref().and_then(|b| self.tan(b)) {
                let p = B::float_expand(lift(db), shape_of(&d.out));
                acc = add_tangent(acc, p);
            }
            acc
        } else {
            None
        };
        self.emit(&d.out, y, t)
    }

    /// Embedding lookup: linear in the table.
    pub(crate) fn embedding(&mut self, d: &EmbeddingOpIr) -> Result<()> {
        let jvp = self.jvp;
        let (w, idx) = (self.f(&d.weights)?, self.i(&d.indices)?);
        let y = B::embedding(w, idx.clone());
        let t = if jvp {
            self.tan(&d.weights).map(|dw| B::embedding(dw, idx))
        } else {
            None
        };
        self.emit(&d.out, y, t)
    }

    /// `y = apply(x, w, b)`, bilinear in `(x, w)` and affine in `b` (linear, convolution):
    /// `dy = apply(dx, w, 0) + apply(x, dw, db)`.
    pub(crate) fn affine(
        &mut self,
        x: &TensorIr,
        w: &TensorIr,
        b: Option<&TensorIr>,
        out: &TensorIr,
        apply: impl Fn(T, T, Option<T>) -> T,
    ) -> Result<()> {
        let (xv, wv) = (self.f(x)?, self.f(w)?);
        let bv = b.map(|b| self.f(b)).transpose()?;
        let y = apply(xv.clone(), wv.clone(), bv);
        let has_tan = |t: &TensorIr| self.tans.contains_key(&t.id);
        let params_move = has_tan(w) || b.is_some_and(has_tan);
        let t = if self.jvp && (has_tan(x) || params_move) {
            let mut acc = self.tan(x).map(|dx| apply(dx, wv, None));
            if params_move {
                let dw = self.tan_or_zero(w)?;
                let db = b.map(|b| self.tan_or_zero(b)).transpose()?;
                acc = add_tangent(acc, apply(xv, dw, db));
            }
            acc
        } else {
            None
        };
        self.emit(out, y, t)
    }

    /// Max-pooling: the tangent is gathered at the arg-max positions of the forward pass.
    pub(crate) fn max_pool(
        &mut self,
        x: &TensorIr,
        out: &TensorIr,
        out_indices: Option<&TensorIr>,
        pool: impl FnOnce(T, burn::tensor::IntDType) -> (T, T),
    ) -> Result<()> {
        let (y, indices) = pool(self.f(x)?, self.int_dtype);
        let t = if self.jvp {
            self.tan(x)
                .map(|t| gather_pooled(t, indices.clone(), &shape_of(out)))
        } else {
            None
        };
        self.emit(out, y, t)?;
        if let Some(oi) = out_indices {
            self.vals.insert(oi.id, Val::I(indices));
        }
        Ok(())
    }
}

/// burn's 2-D max-pool as (values, arg-max indices).
pub(crate) fn max_pool2d(
    x: T,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
    int: burn::tensor::IntDType,
) -> (T, T) {
    let r = B::max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode, int);
    (r.output, r.indices)
}

/// `acc + p`, where a missing accumulator stands for zero.
fn add_tangent(acc: Option<T>, p: T) -> Option<T> {
    Some(match acc {
        Some(a) => B::float_add(a, p),
        None => p,
    })
}

/// Gather the tangent at the arg-max positions of a max-pool: `t` is `[N, C, …spatial]`, the
/// indices are flat positions within each channel's spatial block.
fn gather_pooled(t: T, indices: T, out: &Shape) -> T {
    let s = t.shape();
    let (n, c) = (s[0], s[1]);
    let spatial: usize = s.iter().skip(2).product();
    let o: usize = out.iter().skip(2).product();
    let flat = B::float_reshape(t, Shape::new([n, c, spatial]));
    let idx = B::int_reshape(indices, Shape::new([n, c, o]));
    B::float_reshape(B::float_gather(2, flat, idx), out.clone())
}
