//! Data movement and shape arithmetic: casts, reshapes, transposes, slices, gathers, padding,
//! concatenation, `Shape` and `Range` on the host.

use super::*;

impl Ctx<'_> {
    /// A node that moves or selects data, or computes shapes.
    pub(super) fn layout(&mut self, node: &Node) -> Result<Value> {
        use Node as N;
        Ok(match node {
            N::Cast(n) => {
                let x = self.input(node, 0)?;
                let to = n.config.to;
                match x {
                    Value::Host(d) => Value::Host(d.convert_dtype(to)),
                    v if to.is_float() => Value::F(self.float(node, v)?),
                    v if matches!(to, DType::Bool(_)) => {
                        let f = self.float(node, v)?;
                        Value::Bool(B::float_not_equal_elem(
                            f,
                            Scalar::from(0.0),
                            self.model_bool(),
                        ))
                    }
                    v => Value::I(self.int(node, v)?),
                }
            }
            N::Shape(n) => {
                let x = self.input(node, 0)?;
                let shape: Vec<i64> = value_shape(&x).into_iter().map(|d| d as i64).collect();
                let rank = shape.len() as i64;
                let start = n.config.start.min(rank as usize);
                let end = n.config.end.min(rank as usize);
                let part = shape[start..end.max(start)].to_vec();
                let len = part.len();
                Value::Host(TensorData::new(part, [len]))
            }
            N::Reshape(n) => {
                let x = self.input(node, 0)?;
                let target = match &n.config.shape {
                    ReshapeInput::Static(s) => s.clone(),
                    ReshapeInput::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                    }
                };
                let shape = resolve_reshape(node, &value_shape(&x), &target)?;
                self.reshape(node, x, &shape)?
            }
            N::Flatten(n) => {
                let x = self.input(node, 0)?;
                let s = value_shape(&x);
                let a = n.config.axis.min(s.len());
                let shape = vec![s[..a].iter().product(), s[a..].iter().product()];
                self.reshape(node, x, &shape)?
            }
            N::Unsqueeze(n) => {
                let x = self.input(node, 0)?;
                let axes = match &n.config {
                    UnsqueezeConfig::Static(a) => a.clone(),
                    UnsqueezeConfig::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                    }
                };
                let s = value_shape(&x);
                let out_rank = s.len() + axes.len();
                let mut axes: Vec<usize> = axes.iter().map(|&a| axis(a, out_rank)).collect();
                axes.sort_unstable();
                let mut shape = s.clone();
                for a in axes {
                    shape.insert(a.min(shape.len()), 1);
                }
                self.reshape(node, x, &shape)?
            }
            N::Squeeze(n) => {
                let x = self.input(node, 0)?;
                let s = value_shape(&x);
                let axes: Vec<usize> = match &n.config.axes {
                    Some(SqueezeInput::Static(a)) => a.iter().map(|&a| axis(a, s.len())).collect(),
                    Some(SqueezeInput::Runtime(r)) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&a| axis(a, s.len()))
                            .collect()
                    }
                    None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
                };
                let shape: Vec<usize> = s
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect();
                self.reshape(node, x, &shape)?
            }
            N::Transpose(n) => {
                let x = self.input(node, 0)?;
                let r = value_shape(&x).len();
                let perm: Vec<usize> = if n.config.perm.is_empty() {
                    (0..r).rev().collect()
                } else {
                    n.config.perm.iter().map(|&p| axis(p, r)).collect()
                };
                match x {
                    Value::I(t) => Value::I(B::int_permute(t, &perm)),
                    v => Value::F(B::float_permute(self.float(node, v)?, &perm)),
                }
            }
            N::Expand(n) => {
                let x = self.input(node, 0)?;
                let target = match &n.config {
                    onnx_ir::node::expand::ExpandConfig::Static(s) => s.clone(),
                    onnx_ir::node::expand::ExpandConfig::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                    }
                };
                let s = value_shape(&x);
                let rank = s.len().max(target.len());
                let mut xs = vec![1; rank - s.len()];
                xs.extend(&s);
                let mut ts = vec![1i64; rank - target.len()];
                ts.extend(&target);
                let out: Vec<usize> = xs
                    .iter()
                    .zip(&ts)
                    .map(|(&a, &b)| a.max(b as usize))
                    .collect();
                let x = self.reshape(node, x, &xs)?;
                match x {
                    Value::I(t) => Value::I(B::int_expand(t, Shape::from(out))),
                    v => Value::F(B::float_expand(self.float(node, v)?, Shape::from(out))),
                }
            }
            N::Concat(n) => {
                let vals = (0..node.inputs().len())
                    .map(|i| self.input(node, i))
                    .collect::<Result<Vec<_>>>()?;
                if vals.iter().all(|v| matches!(v, Value::Host(_))) {
                    // Shape arithmetic: concatenate on the host.
                    let mut all = Vec::new();
                    for v in vals {
                        all.extend(self.host_ints(node, v)?);
                    }
                    let len = all.len();
                    Value::Host(TensorData::new(all, [len]))
                } else if vals.iter().any(|v| matches!(v, Value::F(_))) {
                    let r = value_shape(&vals[0]).len();
                    let d = axis(n.config.axis as i64, r);
                    let ts = vals
                        .into_iter()
                        .map(|v| self.float(node, v))
                        .collect::<Result<Vec<_>>>()?;
                    Value::F(B::float_cat(ts, d))
                } else {
                    let r = value_shape(&vals[0]).len();
                    let d = axis(n.config.axis as i64, r);
                    let ts = vals
                        .into_iter()
                        .map(|v| self.int(node, v))
                        .collect::<Result<Vec<_>>>()?;
                    Value::I(B::int_cat(ts, d))
                }
            }
            N::Gather(n) => self.gather(node, n.config.axis)?,
            N::Slice(n) => {
                use onnx_ir::node::slice::SliceInput;
                let x = self.input(node, 0)?;
                let shape = value_shape(&x);
                let rank = shape.len();
                let resolve = |cx: &Self, v: &SliceInput| -> Result<Vec<i64>> {
                    match v {
                        SliceInput::Static(v) => Ok(v.clone()),
                        SliceInput::Runtime(r) => {
                            let v = cx.input(node, r.input_index)?;
                            cx.host_ints(node, v)
                        }
                    }
                };
                let starts = resolve(self, &n.config.starts)?;
                let ends = resolve(self, &n.config.ends)?;
                let axes = match &n.config.axes {
                    Some(a) => resolve(self, a)?,
                    None => (0..starts.len() as i64).collect(),
                };
                let steps = match &n.config.steps {
                    Some(st) => resolve(self, st)?,
                    None => vec![1; starts.len()],
                };
                let mut ranges = vec![(0usize, 0usize, 1usize); rank];
                for (d, r) in ranges.iter_mut().enumerate() {
                    *r = (0, shape[d], 1);
                }
                for (i, &a) in axes.iter().enumerate() {
                    let d = axis(a, rank);
                    let dim = shape[d] as i64;
                    let step = steps.get(i).copied().unwrap_or(1);
                    if step <= 0 {
                        return Err(err(node, "only positive slice steps are supported"));
                    }
                    let clampi = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim) as usize;
                    let (b, e) = (clampi(starts[i]), clampi(ends[i]));
                    ranges[d] = (b, e.max(b), step as usize);
                }
                self.slice(node, x, &ranges)?
            }
            N::Pad(n) => {
                use onnx_ir::node::pad::{ConstantValueInput, PadInput, PadMode as OnnxPad};
                let PadInput::Static(pads) = &n.config.pads else {
                    return Err(err(node, "pads computed at run time are not supported"));
                };
                let ConstantValueInput::Static(value) = n.config.constant_value else {
                    return Err(err(
                        node,
                        "a pad value computed at run time is not supported",
                    ));
                };
                if n.config.mode != OnnxPad::Constant {
                    return Err(err(node, "only constant padding is supported"));
                }
                let pads = pads.clone();
                self.unary(node, move |x| {
                    B::float_pad(x, &pads, burn::tensor::ops::PadMode::Constant(value))
                })?
            }
            N::Tile(n) => {
                use onnx_ir::node::tile::TileInput;
                let repeats: Vec<usize> = match &n.config.repeats {
                    TileInput::Static(r) => r.clone(),
                    TileInput::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&v| v.max(0) as usize)
                            .collect()
                    }
                };
                self.unary(node, move |mut x| {
                    for (d, &r) in repeats.iter().enumerate() {
                        if r != 1 {
                            x = B::float_repeat_dim(x, d, r);
                        }
                    }
                    x
                })?
            }
            N::PRelu(_) => {
                // max(0, x) − slope · max(0, −x), the slope broadcast from the trailing axes.
                let x = self.float_in(node, 0)?;
                let slope = self.float_in(node, 1)?;
                let r = shape_of(&x).len();
                let neg = B::relu(B::float_neg(x.clone()));
                Value::F(B::float_sub(
                    B::relu(x),
                    B::float_mul(lift_float(slope, r), neg),
                ))
            }
            N::ConstantOfShape(n) => {
                use onnx_ir::node::constant_of_shape::ConstantOfShapeShape;
                let shape: Vec<usize> = match &n.config.shape {
                    ConstantOfShapeShape::Static(s) => {
                        s.iter().map(|&d| d.max(0) as usize).collect()
                    }
                    ConstantOfShapeShape::Runtime(r) => {
                        let v = self.input(node, r.input_index)?;
                        self.host_ints(node, v)?
                            .iter()
                            .map(|&d| d.max(0) as usize)
                            .collect()
                    }
                };
                let (value, dtype) = match &n.config.value {
                    Some(v) => (
                        host_f64(node, v)?.first().copied().unwrap_or(0.0),
                        v.dtype(),
                    ),
                    None => (0.0, DType::F32),
                };
                let count: usize = shape.iter().product();
                Value::Host(TensorData::new(vec![value; count], shape).convert_dtype(dtype))
            }
            N::Range(n) => {
                use onnx_ir::node::range::RangeInput;
                let get = |cx: &Self, v: &RangeInput| -> Result<f64> {
                    match v {
                        RangeInput::Static(i) => Ok(*i as f64),
                        RangeInput::StaticFloat(f) => Ok(*f),
                        RangeInput::Runtime(r) => {
                            let v = cx.input(node, r.input_index)?;
                            match v {
                                Value::Host(d) => {
                                    Ok(host_f64(node, &d)?.first().copied().unwrap_or(0.0))
                                }
                                _ => Err(err(
                                    node,
                                    "range bounds computed from tensor values are not supported",
                                )),
                            }
                        }
                    }
                };
                let (start, limit, delta) = (
                    get(self, &n.config.start)?,
                    get(self, &n.config.limit)?,
                    get(self, &n.config.delta)?,
                );
                if delta == 0.0 {
                    return Err(err(node, "range step 0"));
                }
                let count = ((limit - start) / delta).ceil().max(0.0) as usize;
                let values: Vec<f64> = (0..count).map(|i| start + i as f64 * delta).collect();
                let integral = matches!(n.config.start, RangeInput::Static(_));
                let data = TensorData::new(values, [count]);
                Value::Host(if integral {
                    data.convert_dtype(DType::I64)
                } else {
                    data
                })
            }
            N::Where(_) => {
                let c = self.input(node, 0)?;
                let x = self.input(node, 1)?;
                let y = self.input(node, 2)?;
                let c = match c {
                    Value::Bool(t) => t,
                    other => {
                        let f = self.float(node, other)?;
                        B::float_not_equal_elem(f, Scalar::from(0.0), self.model_bool())
                    }
                };
                let (x, y) = (self.float(node, x)?, self.float(node, y)?);
                let rank = shape_of(&x)
                    .len()
                    .max(shape_of(&y).len())
                    .max(shape_of(&c).len());
                let x = lift_float(x, rank);
                let y = lift_float(y, rank);
                let c = lift_bool(c, rank);
                let out = broadcast(&[shape_of(&x), shape_of(&y), shape_of(&c)]);
                let x = B::float_expand(x, Shape::from(out.clone()));
                let c = B::bool_expand(c, Shape::from(out));
                // where(c, x, y) = y with x written where c holds.
                Value::F(B::float_mask_where(y_expand(y, &shape_of(&x)), c, x))
            }
            other => {
                return Err(err(
                    node,
                    format!("operator {} is evaluated elsewhere", other.node_type()),
                ));
            }
        })
    }

    pub(super) fn host_ints(&self, node: &Node, v: Value) -> Result<Vec<i64>> {
        match v {
            Value::Host(d) => host_i64(node, &d),
            _ => Err(err(
                node,
                "a shape or axis argument computed from tensor values is not supported",
            )),
        }
    }

    /// `x[b0..e0:s0, b1..e1:s1, …]`, on the host for shape arithmetic.
    pub(super) fn slice(
        &self,
        node: &Node,
        x: Value,
        ranges: &[(usize, usize, usize)],
    ) -> Result<Value> {
        let slices: Vec<burn::tensor::Slice> = ranges
            .iter()
            .map(|&(b, e, s)| burn::tensor::Slice::new(b as isize, Some(e as isize), s as isize))
            .collect();
        Ok(match x {
            Value::Host(d) if d.shape().len() == 1 => {
                let v = host_f64(node, &d)?;
                let (b, e, s) = ranges[0];
                let part: Vec<f64> = (b..e).step_by(s).map(|i| v[i]).collect();
                let len = part.len();
                Value::Host(TensorData::new(part, [len]).convert_dtype(d.dtype()))
            }
            Value::I(t) => Value::I(B::int_slice(t, &slices)),
            v => Value::F(B::float_slice(self.float(node, v)?, &slices)),
        })
    }

    pub(super) fn reshape(&self, node: &Node, x: Value, shape: &[usize]) -> Result<Value> {
        Ok(match x {
            Value::Host(d) => {
                let values = host_f64(node, &d)?;
                Value::Host(TensorData::new(values, shape.to_vec()).convert_dtype(d.dtype()))
            }
            Value::I(t) => Value::I(B::int_reshape(t, Shape::from(shape.to_vec()))),
            Value::Bool(t) => Value::Bool(B::bool_reshape(t, Shape::from(shape.to_vec()))),
            Value::F(t) => Value::F(B::float_reshape(t, Shape::from(shape.to_vec()))),
        })
    }

    pub(super) fn gather(&self, node: &Node, ax: usize) -> Result<Value> {
        let data = self.input(node, 0)?;
        let idx = self.input(node, 1)?;
        let is_param = self
            .model
            .program
            .param_of
            .contains_key(&value_key(&node.inputs()[0]));
        // Shape arithmetic: gather on the host.
        if let (Value::Host(d), Value::Host(i)) = (&data, &idx) {
            let values = host_f64(node, d)?;
            let picks = host_i64(node, i)?;
            let n = values.len() as i64;
            let out: Vec<f64> = picks
                .iter()
                .map(|&p| values[(if p < 0 { p + n } else { p }).clamp(0, n - 1) as usize])
                .collect();
            let shape = i.shape().to_vec();
            return Ok(Value::Host(
                TensorData::new(out, shape).convert_dtype(d.dtype()),
            ));
        }
        let ds = value_shape(&data);
        let is_shape = value_shape(&idx);
        let idx_t = self.int(node, idx)?;
        if is_param && ax == 0 && ds.len() == 2 {
            // A lookup table read by token ids: burn's embedding (what `nn::Embedding` records).
            let flat: usize = is_shape.iter().product::<usize>().max(1);
            let rows = if is_shape.len() == 2 {
                is_shape.clone()
            } else {
                vec![1, flat]
            };
            let idx2 = B::int_reshape(idx_t, Shape::from(rows));
            let w = self.float(node, data)?;
            let e = B::embedding(w, idx2);
            let mut out = is_shape.clone();
            out.push(ds[1]);
            return Ok(Value::F(B::float_reshape(e, Shape::from(out))));
        }
        let flat: usize = is_shape.iter().product::<usize>().max(1);
        let idx1 = B::int_reshape(idx_t, Shape::from(vec![flat]));
        let mut out = ds[..ax].to_vec();
        out.extend(&is_shape);
        out.extend(&ds[ax + 1..]);
        Ok(match data {
            Value::I(t) => Value::I(B::int_reshape(B::int_select(t, ax, idx1), Shape::from(out))),
            v => {
                let t = self.float(node, v)?;
                Value::F(B::float_reshape(
                    B::float_select(t, ax, idx1),
                    Shape::from(out),
                ))
            }
        })
    }
}

/// ONNX reshape targets: `0` copies the input dimension, `-1` takes what is left.
fn resolve_reshape(node: &Node, input: &[usize], target: &[i64]) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out: Vec<usize> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            0 => out.push(
                *input
                    .get(i)
                    .ok_or_else(|| err(node, "reshape copies a missing dimension"))?,
            ),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            t if t > 0 => out.push(t as usize),
            _ => return Err(err(node, format!("invalid reshape target {target:?}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(err(node, format!("cannot reshape {input:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(err(node, format!("cannot reshape {input:?} to {target:?}")));
    }
    Ok(out)
}
