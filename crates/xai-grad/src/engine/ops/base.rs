//! Structural operations on float, int and bool tensors (`BaseOperationIr`): reshape, slice,
//! cat, gather, masks, comparisons, creation. Structural maps are linear, so each float rule's
//! tangent is the same map applied to the tangent.

use burn::backend::TensorMetadata;
use burn::backend::ops::{BoolTensorOps, FloatTensorOps, IntTensorOps};
use burn_ir::BaseOperationIr;
use burn_ir::BaseOperationIr::*;

use super::OpClass::*;
use super::{Kind, no_bool, op};
use crate::engine::interp::{B, batch_reshape, sc, shape_of, to_scalar};

op_family!(BaseOperationIr {
    Reshape(d) => op("reshape", Shape),
        eval |s| {
            let target = batch_reshape(&s.f(&d.input)?.shape(), &d.input, &d.out)?;
            s.linear_map(&d.input, &d.out, |x| B::float_reshape(x, target.clone()))
        },
        int |s, k| s.structural(k, &d.input, &d.out,
            |x| B::int_reshape(x, shape_of(&d.out)),
            |x| B::bool_reshape(x, shape_of(&d.out))),
        host |c| c.reshape(d);
    SwapDims(d) => op("swap_dims", Shape),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_swap_dims(x, d.dim1, d.dim2)),
        int |s, k| s.structural(k, &d.input, &d.out,
            |x| B::int_swap_dims(x, d.dim1, d.dim2),
            |x| B::bool_swap_dims(x, d.dim1, d.dim2));
    Permute(d) => op("permute", Shape),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_permute(x, &d.axes)),
        int |s, k| s.structural(k, &d.input, &d.out,
            |x| B::int_permute(x, &d.axes),
            |x| B::bool_permute(x, &d.axes));
    Flip(d) => op("flip", Shape),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_flip(x, &d.axes));
    Expand(d) => op("expand", Shape),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_expand(x, shape_of(&d.out))),
        int |s, k| s.structural(k, &d.input, &d.out,
            |x| B::int_expand(x, shape_of(&d.out)),
            |x| B::bool_expand(x, shape_of(&d.out)));
    Unfold(d) => op("unfold", Indexing),
        eval |s| s.linear_map(&d.input, &d.out, |x| B::float_unfold(x, d.dim, d.size, d.step));
    Slice(d) => op("slice", Shape),
        eval |s| s.linear_map(&d.tensor, &d.out, |x| B::float_slice(x, &d.ranges)),
        int |s, k| s.structural(k, &d.tensor, &d.out,
            |x| B::int_slice(x, &d.ranges),
            |x| B::bool_slice(x, &d.ranges));
    SliceAssign(d) => op("slice_assign", Indexing),
        eval |s| s.linear2((&d.tensor, &d.value, &d.out), |x, v| {
            B::float_slice_assign(x, &d.ranges, v)
        });
    Select(d) => op("select", Shape),
        eval |s| {
            let idx = s.i(&d.indices)?;
            s.linear_map(&d.tensor, &d.out, |x| B::float_select(x, d.dim, idx.clone()))
        };
    SelectAssign(..) => op("select_assign", Indexing);
    MaskWhere(d) => op("mask_where", Comparison),
        eval |s| {
            let m = s.b(&d.mask)?;
            s.linear2((&d.tensor, &d.value, &d.out), |x, v| B::float_mask_where(x, m.clone(), v))
        };
    MaskFill(d) => op("mask_fill", Comparison),
        eval |s| {
            let m = s.b(&d.mask)?;
            let y = B::float_mask_fill(s.f(&d.tensor)?, m.clone(), to_scalar(&d.value));
            let t = s.tangent(&d.tensor).map(|t| B::float_mask_fill(t, m, sc(0.0)));
            s.emit(&d.out, y, t)
        };
    Gather(d) => op("gather", Indexing),
        eval |s| {
            let idx = s.i(&d.indices)?;
            s.linear_map(&d.tensor, &d.out, |x| B::float_gather(d.dim, x, idx.clone()))
        };
    Scatter(..) => op("scatter", Indexing);
    ScatterNd(..) => op("scatter_nd", Indexing);
    GatherNd(..) => op("gather_nd", Indexing);
    Equal(d) => op("equal", Comparison),
        eval |s| s.compare(d, B::float_equal);
    EqualElem(d) => op("equal_elem", Comparison),
        eval |s| s.compare_scalar(d, false, B::float_equal_elem),
        int |s, k| match k {
            Kind::Bool => Err(no_bool("equal_elem")),
            _ => s.compare_scalar(d, true, B::int_equal_elem),
        };
    NotEqual(d) => op("not_equal", Comparison),
        eval |s| s.compare(d, B::float_not_equal);
    NotEqualElem(d) => op("not_equal_elem", Comparison),
        eval |s| s.compare_scalar(d, false, B::float_not_equal_elem);
    RepeatDim(d) => op("repeat_dim", Indexing),
        eval |s| s.linear_map(&d.tensor, &d.out, |x| B::float_repeat_dim(x, d.dim, d.times));
    Cat(d) => op("cat", Shape),
        eval |s| {
            let xs = d.tensors.iter().map(|t| s.f(t)).collect::<xai_core::Result<Vec<_>>>()?;
            let y = B::float_cat(xs, d.dim);
            let t = if s.jvp && d.tensors.iter().any(|t| s.tans.contains_key(&t.id)) {
                let ts = d
                    .tensors
                    .iter()
                    .map(|t| s.tan_or_zero(t))
                    .collect::<xai_core::Result<Vec<_>>>()?;
                Some(B::float_cat(ts, d.dim))
            } else {
                None
            };
            s.emit(&d.out, y, t)
        },
        int |s, k| s.cat_int(k, &d.tensors, d.dim, &d.out);
    // Casts between float types keep the run's precision (an f64 replay stays f64).
    Cast(d) => op("cast", Indexing),
        eval |s| {
            let dtype = s.dtype;
            s.linear_map(&d.input, &d.out, |x| B::float_cast(x, dtype))
        },
        int |s, k| match k {
            Kind::Bool => Err(no_bool("cast")),
            _ => {
                let v = B::int_cast(s.i(&d.input)?, s.int_dtype);
                s.put_int(&d.out, v)
            }
        };
    Empty(d) => op("empty", Creation),
        eval |s| {
            let v = B::float_zeros(shape_of(&d.out), &s.dev, s.dtype);
            s.emit(&d.out, v, None)
        };
    Ones(d) => op("ones", Creation),
        eval |s| {
            let v = B::float_ones(shape_of(&d.out), &s.dev, s.dtype);
            s.emit(&d.out, v, None)
        },
        int |s, k| match k {
            Kind::Bool => Err(no_bool("ones")),
            _ => {
                let v = B::int_ones(shape_of(&d.out), &s.dev, s.int_dtype);
                s.put_int(&d.out, v)
            }
        };
    Zeros(d) => op("zeros", Creation),
        eval |s| {
            let v = B::float_zeros(shape_of(&d.out), &s.dev, s.dtype);
            s.emit(&d.out, v, None)
        },
        int |s, k| match k {
            Kind::Bool => Err(no_bool("zeros")),
            _ => {
                let v = B::int_zeros(shape_of(&d.out), &s.dev, s.int_dtype);
                s.put_int(&d.out, v)
            }
        };
    All(..) => op("all", Reduction);
    Any(..) => op("any", Reduction);
    AllDim(..) => op("all_dim", Reduction);
    AnyDim(..) => op("any_dim", Reduction);
});
