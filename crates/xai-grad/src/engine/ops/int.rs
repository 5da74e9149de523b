//! Int-only operations (`IntOperationIr`): casts back to float for index arithmetic; bitwise ops
//! and integer matmul are declared for the table but not evaluated.

use burn::backend::ops::IntTensorOps;
use burn_ir::IntOperationIr;
use burn_ir::IntOperationIr::*;

use super::OpClass::*;
use super::{op, row};
use crate::engine::interp::B;

op_family!(IntOperationIr {
    IntoFloat(d) => op("into_float", Indexing),
        int |s, _k| {
            let v = B::int_into_float(s.i(&d.input)?, s.dtype);
            s.emit(&d.out, v, None)
        };
    BitwiseAnd(..) => op("bitwise_and", Other);
    BitwiseAndScalar(..) => op("bitwise_and_scalar", Other);
    BitwiseOr(..) => op("bitwise_or", Other);
    BitwiseOrScalar(..) => op("bitwise_or_scalar", Other);
    BitwiseXor(..) => op("bitwise_xor", Other);
    BitwiseXorScalar(..) => op("bitwise_xor_scalar", Other);
    BitwiseNot(..) => op("bitwise_not", Other);
    BitwiseLeftShift(..) => op("bitwise_left_shift", Other);
    BitwiseLeftShiftScalar(..) => op("bitwise_left_shift_scalar", Other);
    BitwiseRightShift(..) => op("bitwise_right_shift", Other);
    BitwiseRightShiftScalar(..) => op("bitwise_right_shift_scalar", Other);
    Matmul(..) => row("matmul", Affine);
});
