//! Bool-only operations (`BoolOperationIr`): mask logic and casts of masks.

use burn::backend::ops::BoolTensorOps;
use burn_ir::BoolOperationIr;
use burn_ir::BoolOperationIr::*;

use super::OpClass::*;
use super::op;
use crate::engine::interp::B;

op_family!(BoolOperationIr {
    IntoFloat(d) => op("into_float", Indexing),
        int |s, _k| {
            let v = B::bool_into_float(s.b(&d.input)?, s.dtype);
            s.emit(&d.out, v, None)
        };
    IntoInt(d) => op("into_int", Indexing),
        int |s, _k| {
            let v = B::bool_into_int(s.b(&d.input)?, s.int_dtype);
            s.put_int(&d.out, v)
        };
    Not(d) => op("not", Comparison),
        int |s, _k| {
            let v = B::bool_not(s.b(&d.input)?);
            s.cmp(&d.out, v)
        };
    And(d) => op("and", Comparison),
        int |s, _k| {
            let v = B::bool_and(s.b(&d.lhs)?, s.b(&d.rhs)?);
            s.cmp(&d.out, v)
        };
    Or(d) => op("or", Comparison),
        int |s, _k| {
            let v = B::bool_or(s.b(&d.lhs)?, s.b(&d.rhs)?);
            s.cmp(&d.out, v)
        };
    Xor(..) => op("xor", Comparison);
});
