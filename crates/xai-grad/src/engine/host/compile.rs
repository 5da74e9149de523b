//! Lowering a captured graph to host steps: the compiler state and the lowerings the op table's
//! `host` entries call (`engine/ops/`). Each returns `None` when the op, as recorded, is not one
//! the kernels run (another layout, a non-constant weight, ceil-mode pooling, …).

use super::*;

pub(crate) struct Compiler {
    pub(super) values: HashMap<TensorId, Value>,
    pub(super) sizes: Vec<usize>,
    pub(super) steps: Vec<Step>,
}

impl Compiler {
    pub(super) fn slot(&mut self, per_row: &[usize]) -> usize {
        self.sizes.push(per_row.iter().product());
        self.sizes.len() - 1
    }

    /// The slot of a non-constant tensor, and its per-row shape.
    pub(super) fn var(&self, t: &TensorIr) -> Option<(usize, Vec<usize>)> {
        match self.values.get(&t.id)? {
            Value::Var(s, shape) => Some((*s, shape.clone())),
            Value::Const(..) => None,
        }
    }

    pub(super) fn constant(&self, t: &TensorIr) -> Option<(&[f32], &[usize])> {
        match self.values.get(&t.id)? {
            Value::Const(v, s) => Some((v, s)),
            Value::Var(..) => None,
        }
    }

    /// A new slot for `out`, whose recorded shape is `[batch, per_row…]`; `expect` (when given)
    /// must be that per-row shape.
    pub(super) fn output(&mut self, out: &TensorIr, expect: Option<&[usize]>) -> Option<usize> {
        let rec = out.shape.to_vec();
        let per_row = rec.get(1..)?.to_vec();
        if expect.is_some_and(|e| e != per_row.as_slice()) {
            return None;
        }
        let s = self.slot(&per_row);
        self.values.insert(out.id, Value::Var(s, per_row));
        Some(s)
    }

    /// A pooling window (`[kernel, stride, symmetric padding, dilation]`, no ceil mode) from
    /// value `x` to a new slot for `out`.
    pub(super) fn pool(
        &mut self,
        x: &TensorIr,
        out: &TensorIr,
        ceil_mode: bool,
        [kernel, stride, p, dil]: [[usize; 2]; 4],
    ) -> Option<(usize, usize, Window)> {
        let (x, xs) = self.var(x)?;
        if ceil_mode {
            return None;
        }
        let win = Window::new(&xs, kernel, stride, [(p[0], p[0]), (p[1], p[1])], dil)?;
        let out = self.output(out, Some(&[win.c, win.oh, win.ow]))?;
        Some((x, out, win))
    }

    pub(crate) fn act(&mut self, d: &UnaryOpIr, act: Act) -> Option<()> {
        let (x, row) = self.var(&d.input)?;
        let out = self.output(&d.out, Some(&row))?;
        self.steps.push(Step::Act { x, out, act });
        Some(())
    }

    /// A unary op on a constant becomes a constant.
    pub(crate) fn fold(&mut self, d: &UnaryOpIr, f: impl Fn(f32) -> f32) -> Option<()> {
        let (c, cs) = self.constant(&d.input)?;
        let v = c.iter().map(|&v| f(v)).collect();
        let cs = cs.to_vec();
        self.values.insert(d.out.id, Value::Const(v, cs));
        Some(())
    }

    pub(super) fn affine(
        &mut self,
        x: usize,
        row: Vec<usize>,
        out: &TensorIr,
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    ) -> Option<()> {
        let out = self.output(out, Some(&row))?;
        self.steps.push(Step::Affine {
            x,
            out,
            scale,
            shift,
        });
        Some(())
    }

    /// Add, subtract, multiply, divide: of two values of one shape (add only), of a value and a
    /// broadcast constant, or of constants (folded).
    pub(crate) fn arith(&mut self, d: &BinaryOpIr, op: Arith) -> Option<()> {
        let (lhs, rhs) = (self.var(&d.lhs), self.var(&d.rhs));
        match (lhs, rhs) {
            (Some((a, sa)), Some((b, sb))) => {
                if sa != sb || op != Arith::Add {
                    return None;
                }
                let out = self.output(&d.out, Some(&sa))?;
                self.steps.push(Step::Add { a, b, out });
            }
            (Some((x, row)), None) => {
                let (c, cs) = self.constant(&d.rhs)?;
                let c = broadcast_row(c, cs, &row)?;
                match op {
                    Arith::Add => self.affine(x, row, &d.out, None, Some(c))?,
                    Arith::Sub => {
                        let c = c.iter().map(|v| -v).collect();
                        self.affine(x, row, &d.out, None, Some(c))?
                    }
                    Arith::Mul => self.affine(x, row, &d.out, Some(c), None)?,
                    Arith::Div => {
                        let c = c.iter().map(|v| 1.0 / v).collect();
                        self.affine(x, row, &d.out, Some(c), None)?
                    }
                }
            }
            (None, Some((x, row))) => {
                let (c, cs) = self.constant(&d.lhs)?;
                let c = broadcast_row(c, cs, &row)?;
                match op {
                    Arith::Add => self.affine(x, row, &d.out, None, Some(c))?,
                    Arith::Mul => self.affine(x, row, &d.out, Some(c), None)?,
                    Arith::Sub => {
                        let minus = vec![-1.0; c.len()];
                        self.affine(x, row, &d.out, Some(minus), Some(c))?
                    }
                    Arith::Div => return None, // c / x
                }
            }
            (None, None) => {
                let (a, sa) = self.constant(&d.lhs)?;
                let (b, sb) = self.constant(&d.rhs)?;
                if sa != sb {
                    return None;
                }
                let v = a.iter().zip(b).map(|(&u, &v)| op.apply(u, v)).collect();
                let shape = sa.to_vec();
                self.values.insert(d.out.id, Value::Const(v, shape));
            }
        }
        Some(())
    }

    /// Add, subtract, multiply or divide by a scalar: an affine step, or folded on a constant.
    pub(crate) fn arith_scalar(&mut self, d: &ScalarOpIr, op: Arith) -> Option<()> {
        let k = scalar(&d.rhs) as f32;
        if let Some((c, cs)) = self.constant(&d.lhs) {
            let v = c.iter().map(|&v| op.apply(v, k)).collect();
            let cs = cs.to_vec();
            self.values.insert(d.out.id, Value::Const(v, cs));
            return Some(());
        }
        let (x, row) = self.var(&d.lhs)?;
        let len = self.sizes[x];
        match op {
            Arith::Add | Arith::Sub => {
                self.affine(x, row, &d.out, None, Some(vec![op.apply(0.0, k); len]))
            }
            Arith::Mul | Arith::Div => {
                self.affine(x, row, &d.out, Some(vec![op.apply(1.0, k); len]), None)
            }
        }
    }

    /// A reshape that keeps the batch: the same slot seen with another per-row shape.
    pub(crate) fn reshape(&mut self, d: &ShapeOpIr) -> Option<()> {
        if let Some((v, _)) = self.constant(&d.input) {
            let v = v.to_vec();
            self.values
                .insert(d.out.id, Value::Const(v, d.out.shape.to_vec()));
        } else {
            let (s, _) = self.var(&d.input)?;
            let (rin, rout) = (d.input.shape.to_vec(), d.out.shape.to_vec());
            // Same batch, same values per row: the same slot seen with another shape
            // (row-major, like burn).
            let per_row = rout.get(1..)?.to_vec();
            if rin.first() != rout.first() || per_row.iter().product::<usize>() != self.sizes[s] {
                return None;
            }
            self.values.insert(d.out.id, Value::Var(s, per_row));
        }
        Some(())
    }

    /// A conv2d with one group, constant weights and bias.
    pub(crate) fn conv2d(&mut self, d: &Conv2dOpIr) -> Option<()> {
        let (x, xs) = self.var(&d.x)?;
        let (w, ws) = self.constant(&d.weight)?;
        let [co, c, kh, kw] = <[usize; 4]>::try_from(ws).ok()?;
        let w = w.to_vec();
        let bias = match &d.bias {
            Some(b) => {
                let (b, _) = self.constant(b)?;
                (b.len() == co).then(|| b.to_vec())?
            }
            None => vec![0.0; co],
        };
        let o = &d.options;
        if o.groups != 1 {
            return None;
        }
        let win = Window::new(&xs, [kh, kw], o.stride, o.padding, o.dilation)?;
        if win.c != c {
            return None;
        }
        let flip_ok = o.stride == [1, 1]
            && o.padding[0].0 <= o.dilation[0] * (kh - 1)
            && o.padding[0].1 <= o.dilation[0] * (kh - 1)
            && o.padding[1].0 <= o.dilation[1] * (kw - 1)
            && o.padding[1].1 <= o.dilation[1] * (kw - 1);
        let out = self.output(&d.out, Some(&[co, win.oh, win.ow]))?;
        self.steps
            .push(conv_step(x, out, win, w, bias, [co, c, kh, kw], flip_ok));
        Some(())
    }

    /// Max pooling (no ceil mode).
    pub(crate) fn max_pool2d(&mut self, d: &MaxPool2dOpIr) -> Option<()> {
        let (x, out, win) = self.pool(
            &d.x,
            &d.out,
            d.ceil_mode,
            [d.kernel_size, d.stride, d.padding, d.dilation],
        )?;
        self.steps.push(Step::MaxPool { x, out, win });
        Some(())
    }

    /// Average pooling (no ceil mode).
    pub(crate) fn avg_pool2d(&mut self, d: &AvgPool2dOpIr) -> Option<()> {
        let (x, out, win) = self.pool(
            &d.x,
            &d.out,
            d.ceil_mode,
            [d.kernel_size, d.stride, d.padding, [1, 1]],
        )?;
        self.steps.push(Step::AvgPool {
            x,
            out,
            win,
            include_pad: d.count_include_pad,
        });
        Some(())
    }

    /// ReLU (its backward takes the plan's `ReluRule`).
    pub(crate) fn relu(&mut self, d: &UnaryOpIr) -> Option<()> {
        let (x, shape) = self.var(&d.input)?;
        let out = self.output(&d.out, Some(&shape))?;
        self.steps.push(Step::Relu { x, out });
        Some(())
    }

    /// Leaky ReLU.
    pub(crate) fn leaky_relu(&mut self, d: &ScalarOpIr) -> Option<()> {
        let (x, row) = self.var(&d.lhs)?;
        let out = self.output(&d.out, Some(&row))?;
        let act = Act::LeakyRelu(scalar(&d.rhs) as f32);
        self.steps.push(Step::Act { x, out, act });
        Some(())
    }

    /// A matmul of a `[N, inputs]` value by a constant `[inputs, outputs]` matrix.
    pub(crate) fn matmul(&mut self, d: &MatmulOpIr) -> Option<()> {
        let (x, xs) = self.var(&d.lhs)?;
        let (w, ws) = self.constant(&d.rhs)?;
        let [inputs, outputs] = <[usize; 2]>::try_from(ws).ok()?;
        if xs != [inputs] {
            return None;
        }
        let w = w.to_vec();
        let fwd = Packed::new(inputs, outputs, |r, c| w[r * outputs + c]);
        let bwd = Packed::new(outputs, inputs, |r, c| w[c * outputs + r]);
        let out = self.output(&d.out, Some(&[outputs]))?;
        self.steps.push(Step::Dense {
            x,
            out,
            inputs,
            fwd,
            bwd,
        });
        Some(())
    }

    /// Inference BatchNorm, a per-channel affine step.
    pub(crate) fn batch_norm(&mut self, d: &BatchNormOpIr) -> Option<()> {
        // Inference BatchNorm is per channel affine: x·γ/√(σ²+ε) + β − μ·γ/√(σ²+ε).
        let (x, row) = self.var(&d.x)?;
        let eps = scalar(&d.epsilon) as f32;
        let ch = *row.first()?;
        let get = |t: &TensorIr| {
            self.constant(t)
                .and_then(|(v, _)| (v.len() == ch).then(|| v.to_vec()))
        };
        let (g, b, m, v) = (
            get(&d.gamma)?,
            get(&d.beta)?,
            get(&d.mean)?,
            get(&d.variance)?,
        );
        let k: Vec<f32> = (0..ch).map(|c| g[c] / (v[c] + eps).sqrt()).collect();
        let spatial = self.sizes[x] / ch.max(1);
        let scale = (0..self.sizes[x]).map(|i| k[i / spatial]).collect();
        let shift = (0..self.sizes[x])
            .map(|i| b[i / spatial] - m[i / spatial] * k[i / spatial])
            .collect();
        self.affine(x, row, &d.out, Some(scale), Some(shift))?;
        Some(())
    }
}

/// A conv step from its weights `[co, c, kh, kw]` and bias `[co]`: the weights packed for the
/// forward tile and, when `flip` (stride 1, padding within the kernel's reach), flipped and
/// transposed for the input gradient.
pub(super) fn conv_step(
    x: usize,
    out: usize,
    win: Window,
    w: Vec<f32>,
    mut bias: Vec<f32>,
    [co, c, kh, kw]: [usize; 4],
    flip: bool,
) -> Step {
    let k = kh * kw;
    let fwd = Packed::new(c * k, co, |r, col| w[col * c * k + r]);
    bias.resize(fwd.stride + 32, 0.0);
    let bwd = flip.then(|| {
        Packed::new(co * k, c, |r, col| {
            let (oc, ij) = (r / k, r % k);
            let (i, j) = (ij / kw, ij % kw);
            w[((oc * c + col) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]
        })
    });
    Step::Conv {
        x,
        out,
        win,
        co,
        fwd,
        bias,
        bwd,
        w,
    }
}
