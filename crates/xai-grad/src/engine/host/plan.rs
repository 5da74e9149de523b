//! The compiled plan at run time: forward and reverse passes over per-row slots, threads and
//! sub-batches, class gradients and IG path integrals.

use super::*;

impl HostPlan {
    /// Compile `g` from its input (`start_after = None`), or from the output of node
    /// `start_after` (the nodes up to it are skipped, as for an affine input prefix). `None`
    /// when an op, a shape or a value is outside what the host kernels run.
    pub fn compile(g: &CapturedGraph, start_after: Option<usize>, isa: Isa) -> Option<HostPlan> {
        if g.relu_softplus.is_some() || g.inputs.len() != 1 || g.outputs.len() != 1 {
            return None;
        }
        let input_ids: Vec<TensorId> = g.inputs.iter().map(|t| t.id).collect();
        let mut cx = Compiler {
            values: HashMap::new(),
            sizes: Vec::new(),
            steps: Vec::new(),
        };
        for (id, data) in &g.constants {
            if !input_ids.contains(id) {
                cx.values
                    .insert(*id, Value::Const(floats(data)?, data.shape().to_vec()));
            }
        }
        let (start, first) = match start_after {
            Some(k) => (g.nodes.get(k)?.op.outputs().next()?.clone(), k + 1),
            None => (g.inputs[0].clone(), 0),
        };
        let per_row = start.shape.to_vec().get(1..)?.to_vec();
        let input = cx.slot(&per_row);
        cx.values.insert(start.id, Value::Var(input, per_row));
        let mut node_slots = HashMap::new();
        for (k, node) in g.nodes.iter().enumerate().skip(first) {
            crate::engine::ops::lower(&mut cx, &node.op)?;
            if let Some(out) = node.op.outputs().next()
                && let Some((slot, _)) = cx.var(out)
            {
                node_slots.insert(k, slot);
            }
        }
        let (output, out_shape) = cx.var(&g.outputs[0])?;
        let classes = match out_shape.as_slice() {
            [c] => *c,
            _ => return None,
        };
        Some(HostPlan {
            isa: if isa.supported() { isa } else { Isa::Portable },
            steps: cx.steps,
            sizes: cx.sizes,
            input,
            output,
            classes,
            node_slots,
            relu_rule: ReluRule::Gradient,
            pool: Default::default(),
        })
    }

    /// Values per row of the start tensor.
    pub fn row_len(&self) -> usize {
        self.sizes[self.input]
    }

    /// The same plan with another backward rule at every ReLU (guided backprop, deconvnet).
    pub fn with_relu_rule(mut self, rule: ReluRule) -> HostPlan {
        self.relu_rule = rule;
        self
    }

    /// The same plan with another tile implementation (tests compare them).
    ///
    /// An ISA this CPU lacks is replaced by [`Isa::Portable`] (never an illegal instruction).
    pub fn with_isa(mut self, isa: Isa) -> HostPlan {
        self.isa = if isa.supported() { isa } else { Isa::Portable };
        self
    }

    pub(super) fn check_classes(&self, classes: &[usize]) -> Result<()> {
        match classes.iter().find(|&&c| c >= self.classes) {
            Some(c) => Err(XaiError::Config(format!(
                "target class {c} out of range for {} outputs",
                self.classes
            ))),
            None => Ok(()),
        }
    }

    /// One row of `x` per class, and classes within the outputs.
    pub(super) fn check_rows(&self, x: &[f32], classes: &[usize]) -> Result<()> {
        let p = self.row_len();
        if x.len() != classes.len() * p {
            return Err(XaiError::shape(
                "host kernel input",
                format!("{} rows of {p}", classes.len()),
                &[x.len()],
            ));
        }
        self.check_classes(classes)
    }

    /// The backward seed of a sub-batch: one-hot rows at `classes`, in the scratch's buffer.
    pub(super) fn one_hot_seed(&self, classes: &[usize], sc: &mut Scratch) -> Vec<f32> {
        let mut seed = std::mem::take(&mut sc.cots[self.output]);
        seed.clear();
        seed.resize(classes.len() * self.classes, 0.0);
        for (r, &c) in classes.iter().enumerate() {
            seed[r * self.classes + c] = 1.0;
        }
        seed
    }

    /// `∂ (Σ_r out[r, classes[r]]) / ∂ start` for the rows of `x` (row-major, [`row_len`](Self::row_len) values each).
    pub fn class_grads(&self, x: &[f32], classes: &[usize]) -> Result<Vec<f32>> {
        self.check_rows(x, classes)?;
        let p = self.row_len();
        let parts = self.split_rows(
            classes.len(),
            |range| vec![0.0f32; range.len() * p],
            |r, row| row.copy_from_slice(&x[r * p..(r + 1) * p]),
            |r| classes[r],
            |acc, range, r, g| {
                let at = (r - range.start) * p;
                acc[at..at + p].copy_from_slice(g);
            },
        );
        Ok(parts.concat())
    }

    /// `Σ_k weights[k] · ∇_z f_{class_i}(start_i + alphas[k] · delta_i)` for every row `i` of
    /// `start` / `delta` (row-major, [`row_len`](Self::row_len) values each): the
    /// integrated-gradients sum, with the interpolated points built a sub-batch at a time.
    pub fn path_integral(
        &self,
        start: &[f32],
        delta: &[f32],
        alphas: &[f64],
        weights: &[f64],
        classes: &[usize],
    ) -> Result<Vec<f32>> {
        let p = self.row_len();
        let n = classes.len();
        if start.len() != n * p || delta.len() != n * p || alphas.len() != weights.len() {
            return Err(XaiError::shape(
                "host kernel path",
                format!("{n} rows of {p}"),
                &[start.len(), delta.len()],
            ));
        }
        self.check_classes(classes)?;
        // Row r is step r / n of sample r % n.
        let parts = self.split_rows(
            n * alphas.len(),
            |_| vec![0.0f32; n * p],
            |r, row| {
                let (k, i) = (r / n, r % n);
                let a = alphas[k] as f32;
                let (s, d) = (&start[i * p..(i + 1) * p], &delta[i * p..(i + 1) * p]);
                for ((o, &s), &d) in row.iter_mut().zip(s).zip(d) {
                    *o = s + a * d;
                }
            },
            |r| classes[r % n],
            |acc, _, r, g| {
                let (k, i) = (r / n, r % n);
                let w = weights[k] as f32;
                for (a, &g) in acc[i * p..(i + 1) * p].iter_mut().zip(g) {
                    *a += w * g;
                }
            },
        );
        let mut total = vec![0.0f32; n * p];
        for part in parts {
            for (t, v) in total.iter_mut().zip(part) {
                *t += v;
            }
        }
        Ok(total)
    }

    /// Split `rows` into one contiguous range per core; each core fills sub-batches of its
    /// rows, runs them, and folds every row's gradient into its accumulator. The accumulators
    /// come back in range order (deterministic: the split depends only on `rows` and the core
    /// count).
    pub(super) fn split_rows<A: Send>(
        &self,
        rows: usize,
        make: impl Fn(std::ops::Range<usize>) -> A + Sync,
        fill: impl Fn(usize, &mut [f32]) + Sync,
        class: impl Fn(usize) -> usize + Sync,
        fold: impl Fn(&mut A, &std::ops::Range<usize>, usize, &[f32]) + Sync,
    ) -> Vec<A> {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let parts = cores.min(rows.div_ceil(SUB_BATCH)).max(1);
        let per = rows.div_ceil(parts);
        let p = self.row_len();
        let work = |range: std::ops::Range<usize>| {
            let mut acc = make(range.clone());
            let mut scratch = self.pool.take();
            let mut start = range.start;
            while start < range.end {
                let end = (start + SUB_BATCH).min(range.end);
                let b = end - start;
                let mut x = std::mem::take(&mut scratch.input);
                x.clear();
                x.resize(b * p, 0.0);
                for r in start..end {
                    fill(r, &mut x[(r - start) * p..(r - start + 1) * p]);
                }
                let cls: Vec<usize> = (start..end).map(&class).collect();
                let g = self.grads_batch(x, &cls, &mut scratch);
                for r in start..end {
                    fold(
                        &mut acc,
                        &range,
                        r,
                        &g[(r - start) * p..(r - start + 1) * p],
                    );
                }
                scratch.input = g;
                start = end;
            }
            self.pool.give(scratch);
            acc
        };
        let ranges: Vec<_> = (0..parts)
            .map(|i| (i * per).min(rows)..((i + 1) * per).min(rows))
            .collect();
        if parts == 1 {
            return ranges.into_iter().map(work).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = ranges
                .into_iter()
                .map(|r| {
                    let work = &work;
                    s.spawn(move || work(r))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// Forward and backward of one sub-batch; returns the gradient rows.
    pub(super) fn grads_batch(&self, x: Vec<f32>, classes: &[usize], sc: &mut Scratch) -> Vec<f32> {
        let b = classes.len();
        self.run_forward(x, b, sc);
        let seed = self.one_hot_seed(classes, sc);
        self.run_backward(self.output, seed, b, sc)
    }

    pub(super) fn run_forward(&self, x: Vec<f32>, b: usize, sc: &mut Scratch) {
        let n = self.sizes.len();
        sc.vals.resize_with(n, Vec::new);
        sc.cots.resize_with(n, Vec::new);
        sc.live.clear();
        sc.live.resize(n, false);
        sc.indices.resize_with(self.steps.len(), Vec::new);
        sc.vals[self.input] = x;
        for (si, step) in self.steps.iter().enumerate() {
            self.forward(step, si, b, sc);
        }
    }

    /// Backward from `seed` at `slot` (after [`run_forward`](Self::run_forward)); returns the
    /// cotangent of the start rows.
    pub(super) fn run_backward(
        &self,
        slot: usize,
        seed: Vec<f32>,
        b: usize,
        sc: &mut Scratch,
    ) -> Vec<f32> {
        self.run_backward_from(slot, seed, b, sc, 0)
    }

    /// [`run_backward`](Self::run_backward) through steps `from_step..` only: the cotangents of
    /// the slots those steps read are complete, the start's only when `from_step` is 0.
    pub(super) fn run_backward_from(
        &self,
        slot: usize,
        seed: Vec<f32>,
        b: usize,
        sc: &mut Scratch,
        from_step: usize,
    ) -> Vec<f32> {
        sc.cots[slot] = seed;
        sc.live[slot] = true;
        for (si, step) in self.steps.iter().enumerate().skip(from_step).rev() {
            self.backward(step, si, b, sc);
        }
        if from_step > 0 || !sc.live[self.input] {
            return vec![0.0; b * self.row_len()];
        }
        std::mem::take(&mut sc.cots[self.input])
    }

    /// Run `f` on the sub-batches of the rows of `x` and return its results in row order. The
    /// sub-batches are dealt out as contiguous ranges to one thread per core, each with its own
    /// scratch (the split depends only on the row count and the core count).
    pub(super) fn batched<T: Send>(
        &self,
        x: &[f32],
        f: impl Fn(std::ops::Range<usize>, Vec<f32>, &mut Scratch) -> T + Sync,
    ) -> Result<Vec<T>> {
        let p = self.row_len();
        if p == 0 || !x.len().is_multiple_of(p) {
            return Err(XaiError::shape(
                "host kernel input",
                format!("rows of {p}"),
                &[x.len()],
            ));
        }
        let rows = x.len() / p;
        let batches = rows.div_ceil(SUB_BATCH);
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let per = batches.div_ceil(cores.min(batches).max(1)).max(1);
        let work = |first: usize, last: usize| {
            let mut sc = self.pool.take();
            let out = (first..last)
                .map(|k| {
                    let (start, end) = (k * SUB_BATCH, ((k + 1) * SUB_BATCH).min(rows));
                    f(start..end, x[start * p..end * p].to_vec(), &mut sc)
                })
                .collect::<Vec<T>>();
            self.pool.give(sc);
            out
        };
        if batches <= per {
            return Ok(work(0, batches));
        }
        let parts: Vec<Vec<T>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..batches)
                .step_by(per)
                .map(|first| {
                    let work = &work;
                    s.spawn(move || work(first, (first + per).min(batches)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        Ok(parts.into_iter().flatten().collect())
    }

    pub(super) fn node_slot(&self, node: usize) -> Result<usize> {
        self.node_slots
            .get(&node)
            .copied()
            .ok_or_else(|| XaiError::UnknownNode(format!("#{node} (not run by the host plan)")))
    }

    /// The model's outputs `[rows, classes]` for the rows of `x`.
    pub fn outputs(&self, x: &[f32]) -> Result<Vec<f32>> {
        let parts = self.batched(x, |r, xb, sc| {
            self.run_forward(xb, r.len(), sc);
            std::mem::take(&mut sc.vals[self.output])
        })?;
        Ok(parts.concat())
    }

    /// The value of node `node`'s output for the rows of `x` (row-major).
    pub fn value_at(&self, x: &[f32], node: usize) -> Result<Vec<f32>> {
        let slot = self.node_slot(node)?;
        let parts = self.batched(x, |r, xb, sc| {
            self.run_forward(xb, r.len(), sc);
            std::mem::take(&mut sc.vals[slot])
        })?;
        Ok(parts.concat())
    }

    /// For each sub-batch of the rows of `x`: node `node`'s output values and the gradient of
    /// `Σ_r out[r, classes[r]]` with respect to them (both `[rows, per-row size]`), reduced by
    /// `reduce(values, grads, rows)` in the worker thread that ran the sub-batch; the results
    /// come back concatenated in row order. The backward pass stops at the node.
    pub fn map_value_and_grad_at<T: Send>(
        &self,
        x: &[f32],
        node: usize,
        classes: &[usize],
        reduce: impl Fn(&[f32], &[f32], usize) -> Vec<T> + Sync,
    ) -> Result<Vec<T>> {
        let slot = self.node_slot(node)?;
        let per = self.sizes[slot];
        self.check_rows(x, classes)?;
        // Steps up to the one that writes the node do not need their backward pass.
        let from_step = self
            .steps
            .iter()
            .position(|s| s.out() == slot)
            .map_or(0, |k| k + 1);
        let parts = self.batched(x, |r, xb, sc| {
            let b = r.len();
            self.run_forward(xb, b, sc);
            sc.cots[slot].clear();
            let seed = self.one_hot_seed(&classes[r.clone()], sc);
            let at_input = self.run_backward_from(self.output, seed, b, sc, from_step);
            let values = &sc.vals[slot];
            if slot == self.input {
                return reduce(values, &at_input, b);
            }
            // A slot the target does not reach keeps the cleared (empty) buffer.
            let g = &sc.cots[slot];
            if g.len() == b * per {
                reduce(values, g, b)
            } else {
                reduce(values, &vec![0.0; b * per], b)
            }
        })?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// The vector-Jacobian product `cotᵀ ∂ node / ∂ start` for the rows of `x`, where `cot`
    /// holds one cotangent row per input row, shaped like node `node`'s output.
    pub fn vjp_at(&self, x: &[f32], node: usize, cot: &[f32]) -> Result<Vec<f32>> {
        let slot = self.node_slot(node)?;
        let per = self.sizes[slot];
        let rows = x.len() / self.row_len().max(1);
        if cot.len() != rows * per {
            return Err(XaiError::shape(
                "host kernel cotangent",
                format!("{rows} rows of {per}"),
                &[cot.len()],
            ));
        }
        let parts = self.batched(x, |r, xb, sc| {
            let b = r.len();
            self.run_forward(xb, b, sc);
            let seed = cot[r.start * per..r.end * per].to_vec();
            self.run_backward(slot, seed, b, sc)
        })?;
        Ok(parts.concat())
    }

    pub(super) fn forward(&self, step: &Step, si: usize, b: usize, sc: &mut Scratch) {
        let isa = self.isa;
        // Every forward step writes all of its output, so a reused buffer is not zeroed first
        // (only a grown one is, by `resize`).
        let dst = |sc: &mut Scratch, out: usize| {
            let mut v = std::mem::take(&mut sc.vals[out]);
            v.resize(b * self.sizes[out], 0.0);
            v
        };
        match step {
            Step::Conv {
                x,
                out,
                win,
                fwd,
                bias,
                ..
            } => {
                let mut y = dst(sc, *out);
                let (xs, per_in, per_out) = (&sc.vals[*x], self.sizes[*x], self.sizes[*out]);
                sc.pads.resize_with(2 * self.steps.len(), Vec::new);
                let pad = &mut sc.pads[2 * si];
                for r in 0..b {
                    conv_image(
                        isa,
                        &xs[r * per_in..(r + 1) * per_in],
                        win,
                        fwd,
                        Some(bias),
                        pad,
                        &mut y[r * per_out..(r + 1) * per_out],
                        false,
                    );
                }
                sc.vals[*out] = y;
            }
            Step::MaxPool { x, out, win } => {
                let mut y = dst(sc, *out);
                let mut idx = std::mem::take(&mut sc.indices[si]);
                idx.clear();
                idx.resize(y.len(), 0);
                max_pool(self.isa, &sc.vals[*x], win, b, &mut y, &mut idx);
                sc.indices[si] = idx;
                sc.vals[*out] = y;
            }
            Step::AvgPool {
                x,
                out,
                win,
                include_pad,
            } => {
                let mut y = dst(sc, *out);
                avg_pool(&sc.vals[*x], win, *include_pad, b, Some(&mut y), None);
                sc.vals[*out] = y;
            }
            Step::Relu { x, out } => {
                let mut y = dst(sc, *out);
                for (o, &v) in y.iter_mut().zip(&sc.vals[*x]) {
                    *o = v.max(0.0);
                }
                sc.vals[*out] = y;
            }
            Step::Dense {
                x,
                out,
                inputs,
                fwd,
                ..
            } => {
                let mut y = dst(sc, *out);
                dense(isa, &sc.vals[*x], b, *inputs, fwd, &mut y);
                sc.vals[*out] = y;
            }
            Step::Affine {
                x,
                out,
                scale,
                shift,
            } => {
                let mut y = dst(sc, *out);
                let per = self.sizes[*x];
                for (ys, xs) in y.chunks_exact_mut(per).zip(sc.vals[*x].chunks_exact(per)) {
                    ys.copy_from_slice(xs);
                    if let Some(a) = scale {
                        for (o, &a) in ys.iter_mut().zip(a) {
                            *o *= a;
                        }
                    }
                    if let Some(c) = shift {
                        for (o, &c) in ys.iter_mut().zip(c) {
                            *o += c;
                        }
                    }
                }
                sc.vals[*out] = y;
            }
            Step::Act { x, out, act } => {
                let mut y = dst(sc, *out);
                for (o, &v) in y.iter_mut().zip(&sc.vals[*x]) {
                    *o = act.apply(v);
                }
                sc.vals[*out] = y;
            }
            Step::Add { a, b: bb, out } => {
                let mut y = dst(sc, *out);
                for ((o, &u), &v) in y.iter_mut().zip(&sc.vals[*a]).zip(&sc.vals[*bb]) {
                    *o = u + v;
                }
                sc.vals[*out] = y;
            }
        }
    }

    /// Add `g` (the cotangent of some step's output) into slot `x`'s cotangent.
    pub(super) fn accumulate(sc: &mut Scratch, x: usize, len: usize, add: impl FnOnce(&mut [f32])) {
        if !sc.live[x] {
            let mut c = std::mem::take(&mut sc.cots[x]);
            c.clear();
            c.resize(len, 0.0);
            sc.cots[x] = c;
            sc.live[x] = true;
        }
        add(&mut sc.cots[x]);
    }

    /// Add `values` into slot `x`'s cotangent; the first contribution is written, not added
    /// to zeros.
    pub(super) fn add_into(sc: &mut Scratch, x: usize, values: impl Iterator<Item = f32>) {
        let c = &mut sc.cots[x];
        if sc.live[x] {
            for (o, v) in c.iter_mut().zip(values) {
                *o += v;
            }
        } else {
            c.clear();
            c.extend(values);
            sc.live[x] = true;
        }
    }

    pub(super) fn backward(&self, step: &Step, si: usize, b: usize, sc: &mut Scratch) {
        let isa = self.isa;
        let out = step.out();
        if !sc.live[out] {
            return;
        }
        sc.live[out] = false;
        let g = std::mem::take(&mut sc.cots[out]);
        match step {
            Step::Conv {
                x, win, co, bwd, w, ..
            } => {
                let (per_in, per_out) = (self.sizes[*x], self.sizes[out]);
                sc.pads.resize_with(2 * self.steps.len(), Vec::new);
                let mut pad = std::mem::take(&mut sc.pads[2 * si + 1]);
                if let (Some(p), false) = (bwd, sc.live[*x]) {
                    // First contribution through the flipped convolution: it writes every
                    // input position, so the buffer needs no zero fill.
                    let mut gx = std::mem::take(&mut sc.cots[*x]);
                    gx.resize(b * per_in, 0.0);
                    for r in 0..b {
                        let gr = &g[r * per_out..(r + 1) * per_out];
                        let xr = &mut gx[r * per_in..(r + 1) * per_in];
                        conv_input_grad_flipped(isa, gr, win, *co, p, &mut pad, xr, false);
                    }
                    sc.cots[*x] = gx;
                    sc.live[*x] = true;
                    sc.pads[2 * si + 1] = pad;
                    sc.cots[out] = g;
                    return;
                }
                Self::accumulate(sc, *x, b * per_in, |gx| {
                    for r in 0..b {
                        let gr = &g[r * per_out..(r + 1) * per_out];
                        let xr = &mut gx[r * per_in..(r + 1) * per_in];
                        match bwd {
                            Some(p) => {
                                conv_input_grad_flipped(isa, gr, win, *co, p, &mut pad, xr, true)
                            }
                            None => conv_input_grad_scatter(gr, win, *co, w, xr),
                        }
                    }
                });
                sc.pads[2 * si + 1] = pad;
            }
            Step::MaxPool { x, win, .. } => {
                let idx = &sc.indices[si];
                let per_in = self.sizes[*x];
                let per_out = self.sizes[out];
                let mut cot = std::mem::take(&mut sc.cots[*x]);
                let fresh = !sc.live[*x];
                if fresh {
                    cot.clear();
                    cot.resize(b * per_in, 0.0);
                }
                let plane_in = win.h * win.w;
                let plane_out = win.oh * win.ow;
                for r in 0..b {
                    for ch in 0..win.c {
                        let base_in = r * per_in + ch * plane_in;
                        let base_out = r * per_out + ch * plane_out;
                        for o in 0..plane_out {
                            cot[base_in + idx[base_out + o] as usize] += g[base_out + o];
                        }
                    }
                }
                sc.cots[*x] = cot;
                sc.live[*x] = true;
            }
            Step::AvgPool {
                x,
                win,
                include_pad,
                ..
            } => {
                let len = b * self.sizes[*x];
                Self::accumulate(sc, *x, len, |gx| {
                    avg_pool(&g, win, *include_pad, b, None, Some(gx))
                });
            }
            Step::Relu { x, .. } => {
                let y = std::mem::take(&mut sc.vals[out]);
                // One loop per rule (a rule test inside the loop stops it vectorising).
                let pairs = g.iter().zip(&y);
                match self.relu_rule {
                    ReluRule::Gradient => Self::add_into(
                        sc,
                        *x,
                        pairs.map(|(&gv, &yv)| if yv > 0.0 { gv } else { 0.0 }),
                    ),
                    ReluRule::Guided => Self::add_into(
                        sc,
                        *x,
                        pairs.map(|(&gv, &yv)| if yv > 0.0 && gv > 0.0 { gv } else { 0.0 }),
                    ),
                    ReluRule::Deconv => {
                        Self::add_into(sc, *x, g.iter().map(|&gv| if gv > 0.0 { gv } else { 0.0 }))
                    }
                }
                sc.vals[out] = y;
            }
            Step::Dense { x, inputs, bwd, .. } => {
                let outputs = self.sizes[out];
                let mut tmp = std::mem::take(&mut sc.pad);
                tmp.clear();
                tmp.resize(b * inputs, 0.0);
                dense(isa, &g, b, outputs, bwd, &mut tmp);
                Self::add_into(sc, *x, tmp.iter().copied());
                sc.pad = tmp;
            }
            Step::Affine { x, scale, .. } => match scale {
                None => Self::add_into(sc, *x, g.iter().copied()),
                Some(a) => {
                    let per = a.len();
                    let scaled = g.iter().enumerate().map(|(k, &v)| v * a[k % per]);
                    Self::add_into(sc, *x, scaled);
                }
            },
            Step::Act { x, act, .. } => {
                let (xs, ys) = (
                    std::mem::take(&mut sc.vals[*x]),
                    std::mem::take(&mut sc.vals[out]),
                );
                let through = g
                    .iter()
                    .zip(xs.iter().zip(&ys))
                    .map(|(&gv, (&xv, &yv))| gv * act.slope(xv, yv));
                Self::add_into(sc, *x, through);
                sc.vals[*x] = xs;
                sc.vals[out] = ys;
            }
            Step::Add { a, b: bb, .. } => {
                for s in [*a, *bb] {
                    Self::add_into(sc, s, g.iter().copied());
                }
            }
        }
        sc.cots[out] = g;
    }
}
