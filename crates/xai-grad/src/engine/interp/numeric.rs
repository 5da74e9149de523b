//! The interpreter's kit for reductions with arg-max tangents and padding.

use burn::backend::ops::FloatTensorOps;
use burn_ir::{PadOpIr, TensorIr};

use super::*;

impl Interp<'_> {
    /// The maximum (`max`) or minimum along `axis`; the tangent is gathered at the arg-max.
    pub(crate) fn extreme_dim(
        &mut self,
        input: &TensorIr,
        out: &TensorIr,
        axis: usize,
        max: bool,
    ) -> Result<()> {
        let x = self.f(input)?;
        let idt = self.int_dtype;
        let (y, idx) = if max {
            B::float_max_dim_with_indices(x, axis, idt)
        } else {
            B::float_min_dim_with_indices(x, axis, idt)
        };
        let t = self.tangent(input).map(|t| B::float_gather(axis, t, idx));
        self.emit(out, y, t)
    }

    /// The maximum (`max`) or minimum of all elements; the tangent is read at the arg-max.
    pub(crate) fn extreme(&mut self, input: &TensorIr, out: &TensorIr, max: bool) -> Result<()> {
        let x = self.f(input)?;
        let count = x.shape().num_elements();
        let flat = B::float_reshape(x, Shape::new([count]));
        let idt = self.int_dtype;
        let (y, idx) = if max {
            B::float_max_dim_with_indices(flat, 0, idt)
        } else {
            B::float_min_dim_with_indices(flat, 0, idt)
        };
        let t = self.tangent(input).map(|t| {
            let picked = B::float_gather(0, B::float_reshape(t, Shape::new([count])), idx);
            B::float_reshape(picked, shape_of(out))
        });
        self.emit(out, B::float_reshape(y, shape_of(out)), t)
    }

    /// Constant padding (other modes are unsupported); the tangent is padded with zeros.
    pub(crate) fn constant_pad(&mut self, d: &PadOpIr) -> Result<()> {
        let burn_ir::PadModeIr::Constant(v) = d.mode else {
            return Err(XaiError::UnsupportedOp {
                op: "pad (non-constant mode)".into(),
                transform: "eval".into(),
                node: String::new(),
            });
        };
        let mode = burn::tensor::ops::PadMode::Constant(scalar_f64(&v) as f32);
        let zero = burn::tensor::ops::PadMode::Constant(0.0);
        self.unary(
            &d.input,
            &d.out,
            |x| B::float_pad(x, &d.padding, mode),
            |t, _, _| B::float_pad(t, &d.padding, zero),
        )
    }
}
