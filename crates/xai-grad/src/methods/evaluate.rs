//! The questions a method asks an [`Explainable`], and who answers them.
//!
//! A method asks for the model's outputs, the gradient of each row's target logit at the input,
//! a layer's values with that gradient, a reverse pass under a [`RuleSet`] (guided backprop,
//! deconvnet, LRP, DeepLIFT), a vector-Jacobian product at a node, or an integrated-gradients
//! path sum. It never chooses how. Each question goes to the *host kernels* when the plan cached
//! for this input shape covers it — flex in f32 on an AVX2/AVX-512 CPU, every op of the graph
//! lowered, and for rule passes a rule set with a host version ([`RuleSet::host_rules`]) — and
//! otherwise to burn's interpreter on the explainer's device and precision. Both answer the same
//! numbers to f32 rounding (`tests/host.rs` checks every question against the interpreter in
//! f64).
//!
//! Shapes: inputs `[N, ...]` batch first; class indices one per row; layer rows `[N, P]` where
//! `P` is the node's output size per row.
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::{Device, Tensor};
//! use xai_grad::methods::{Explainable, input_gradients};
//! let dev = Device::flex();
//! let model: Linear = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 0).unwrap();
//! let ex = Explainable::new(model.clone(), |m: &Linear, x| m.forward(x), dev.clone());
//! let x = Tensor::<2>::ones([2, 3], &dev);
//! // A linear model's input gradient is its weight column, whichever evaluator answers.
//! let g = xai_core::tensor_to_vec(input_gradients(&ex, &x, &[1, 1]).unwrap()).unwrap();
//! let w = xai_core::tensor_to_vec(model.weight.val()).unwrap(); // [3, 2]
//! assert!((0..3).all(|i| (g[i] - w[i * 2 + 1]).abs() < 1e-6));
//! ```

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use xai_core::{MemoryBudget, Result, Target, XaiError};

use crate::engine::host::{HostPlan, HostRules, LrpPlan, ReluRule, host_plan};
use crate::engine::{CapturedGraph, DynTensor, Precision, RuleSet};

use super::Explainable;
use super::integrated_gradients::{column, mul_rows};

/// Most rows per chunk of a path sum on a CPU backend: activations that fit the caches and are
/// reused by the allocator beat one huge batch (perf_lenet IG-50: 800-row chunks 31–47 inputs/s,
/// chunks of ≤ 256 rows ≈ 50).
const CPU_CHUNK_ROWS: usize = 256;

/// A reduction of a layer's values and gradients, `[rows, P]` each, into results in row order
/// (e.g. Grad-CAM's `h·w` map values per row). The host kernels call it once per sub-batch, in
/// the thread that ran it, in f32; burn's path once, in the replay's precision.
pub trait LayerReduce: Sync {
    /// The result type.
    type Out: Send;
    /// Reduce `rows` rows of `values` and `grads`, keeping the row order.
    fn reduce<F: Copy + Into<f64>>(&self, values: &[F], grads: &[F], rows: usize)
    -> Vec<Self::Out>;
}

/// What a reverse pass under a rule set gives.
pub struct RulePass<const D: usize> {
    /// The pass's result at the input (gradients, relevance or multipliers), shaped as `x`.
    pub input: Tensor<D>,
    /// The outputs `[N·C]` at the input and at the reference, when the evaluator computed them
    /// on the way (the host DeepLIFT pass does; burn's path leaves them to the caller).
    pub outputs: Option<(Vec<f64>, Vec<f64>)>,
}

impl<const D: usize> Explainable<D> {
    /// The host plan for inputs of this shape and dtype (from node `start_after`'s output, with
    /// `rule` at every ReLU), compiled on first use and cached; `None` sends the question to
    /// burn's interpreter.
    fn plan(
        &self,
        shape: [usize; D],
        dtype: burn::tensor::DType,
        start_after: Option<usize>,
        rule: ReluRule,
    ) -> Result<Option<Arc<HostPlan>>> {
        let key = (shape.to_vec(), format!("{dtype:?}"), start_after, rule);
        let poisoned = || XaiError::Capture("host plan cache poisoned".into());
        if let Some(p) = self.plans.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(p.clone());
        }
        let g = self.graph_for(shape, dtype)?;
        let plan = host_plan(&g, start_after, &self.device, self.precision, dtype)
            .map(|p| Arc::new(p.with_relu_rule(rule)));
        self.plans
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, plan.clone());
        Ok(plan)
    }

    /// The plan from the input with the gradient at every ReLU.
    fn gradient_plan(&self, x: &Tensor<D>) -> Result<Option<Arc<HostPlan>>> {
        self.plan(x.dims(), x.dtype(), None, ReluRule::Gradient)
    }

    /// The model's outputs `[N, C]`.
    pub fn forward(&self, x: &Tensor<D>) -> Result<Tensor<2>> {
        if let Some(plan) = self.gradient_plan(x)? {
            let rows = xai_core::tensor_to_vec(x.clone())?;
            let out = plan.outputs(&rows)?;
            let n = x.dims()[0];
            let c = out.len() / n.max(1);
            return Ok(Tensor::<2>::from_data(
                TensorData::new(out, [n, c]),
                (&self.device, x.dtype()),
            ));
        }
        let g = self.graph(x)?;
        g.eval(
            &[DynTensor::from_tensor(x.clone())],
            &self.device,
            self.precision,
        )?
        .remove(0)
        .into_tensor::<2>()
    }

    /// The outputs `[n·C]` of `n` flattened rows of `row_shape` (`shape` with a batch of one).
    pub(crate) fn forward_rows(
        &self,
        rows: &[f64],
        n: usize,
        shape: [usize; D],
        dtype: burn::tensor::DType,
    ) -> Result<Vec<f64>> {
        // The plan compiled for a batch of one runs any number of rows.
        if let Some(plan) = self.plan(shape, dtype, None, ReluRule::Gradient)? {
            let x: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
            return Ok(plan.outputs(&x)?.into_iter().map(f64::from).collect());
        }
        let mut batch_shape = shape;
        batch_shape[0] = n;
        let x = Tensor::<D>::from_data(
            TensorData::new(rows.to_vec(), batch_shape),
            (&self.device, dtype),
        );
        // A graph without batch-pinned shapes replays on any batch: capture it once.
        let g = self.graph_for(shape, dtype)?;
        let y = if g.is_batch_flexible() {
            g.eval(&[DynTensor::from_tensor(x)], &self.device, self.precision)?
                .remove(0)
                .into_tensor::<2>()?
        } else {
            self.forward(&x)?
        };
        xai_core::tensor_to_vec_f64(y)
    }

    /// The number of model outputs `C` (from the captured graph's output shape `[N, C]`).
    pub(crate) fn output_count(&self, x: &Tensor<D>) -> Result<usize> {
        match self.graph(x)?.output_shape(0).as_deref() {
            Some([_, c]) => Ok(*c),
            other => Err(XaiError::shape(
                "model output",
                "[N, C]",
                other.unwrap_or_default(),
            )),
        }
    }

    /// `classes`, each checked against the `C` model outputs.
    pub(crate) fn check_classes(&self, x: &Tensor<D>, classes: &[usize]) -> Result<usize> {
        let c = self.output_count(x)?;
        if let Some(&bad) = classes.iter().find(|&&k| k >= c) {
            return Err(XaiError::TargetOutOfRange {
                index: bad,
                classes: c,
            });
        }
        Ok(c)
    }

    /// The one-hot output cotangent `[N, C]` selecting `classes` (checked against `C`).
    pub(crate) fn one_hot(&self, x: &Tensor<D>, classes: &[usize]) -> Result<DynTensor> {
        let c = self.check_classes(x, classes)?;
        let seed = xai_core::one_hot(classes, c, &self.device).cast(x.dtype());
        Ok(DynTensor::from_tensor(seed))
    }

    /// Burn's replay on `device` of the graph for `x`'s shape, tapped at node `node`, and the
    /// node's name.
    fn tapped(
        &self,
        x: &Tensor<D>,
        node: usize,
        device: &Device,
    ) -> Result<(crate::engine::Tapped, String)> {
        let g = self.graph(x)?;
        let name = g.nodes()[node].name.clone();
        let t = g.eval_tapped(
            &[DynTensor::from_tensor(x.clone())],
            &[name.as_str()],
            device,
            self.precision,
        )?;
        Ok((t, name))
    }

    /// The reverse pass of each row's target logit under `rules`, from `x` (and `reference`, for
    /// rules that compare with one, such as DeepLIFT's rescale).
    pub fn reverse_with_rules(
        &self,
        x: &Tensor<D>,
        reference: Option<&Tensor<D>>,
        classes: &[usize],
        rules: &dyn RuleSet,
    ) -> Result<RulePass<D>> {
        crate::gradient::validate_inputs(x)?;
        let rows = |t: &Tensor<D>| xai_core::tensor_to_vec(t.clone());
        let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        let host = match rules.host_rules() {
            Some(HostRules::Relu(rule)) => self
                .plan(x.dims(), x.dtype(), None, rule)?
                .map(|plan| plan.class_grads(&rows(x)?, classes))
                .transpose()?
                .map(|g| (g, None)),
            Some(HostRules::Lrp(lrp)) => match self.gradient_plan(x)? {
                Some(plan) => LrpPlan::new(&plan, lrp)
                    .map(|p| p.relevance(&rows(x)?, classes))
                    .transpose()?
                    .map(|r| (r, None)),
                None => None,
            },
            Some(HostRules::Rescale) => match (reference, self.gradient_plan(x)?) {
                (Some(r), Some(plan)) => {
                    let pass = plan.deeplift(&rows(x)?, &rows(r)?, classes)?;
                    let outputs = (widen(pass.outputs), widen(pass.reference_outputs));
                    Some((pass.multipliers, Some(outputs)))
                }
                _ => None,
            },
            None => None,
        };
        if let Some((values, outputs)) = host {
            return Ok(RulePass {
                input: super::shaped_like(values, x),
                outputs,
            });
        }
        let seed = self.one_hot(x, classes)?;
        let captured = self.graph(x)?;
        let folded;
        let g = if rules.folds_batch_norm() {
            folded = captured.fold_batch_norms()?.0;
            &folded
        } else {
            &*captured
        };
        let reference = reference.map(|r| [DynTensor::from_tensor(r.clone())]);
        let input = g
            .backward_with_rules(
                &[DynTensor::from_tensor(x.clone())],
                reference.as_ref().map(|r| r.as_slice()),
                &seed,
                rules,
                &self.device,
                self.precision,
            )?
            .into_iter()
            .next()
            .ok_or_else(|| XaiError::Capture("graph has no input".into()))?
            .into_tensor::<D>()?
            .cast(x.dtype());
        Ok(RulePass {
            input,
            outputs: None,
        })
    }

    /// Node `node`'s values and the gradient of each row's target logit with respect to them,
    /// reduced by `reduce` (results in row order).
    pub fn layer_reduce<R: LayerReduce>(
        &self,
        x: &Tensor<D>,
        node: usize,
        classes: &[usize],
        reduce: &R,
    ) -> Result<Vec<R::Out>> {
        crate::gradient::validate_inputs(x)?;
        if let Some(plan) = self.gradient_plan(x)? {
            let rows = xai_core::tensor_to_vec(x.clone())?;
            return plan
                .map_value_and_grad_at(&rows, node, classes, |a, g, b| reduce.reduce(a, g, b));
        }
        let ad = self.device.clone().autodiff();
        let (tapped, name) = self.tapped(x, node, &ad)?;
        let out = tapped.outputs[0].clone().into_tensor::<2>()?;
        let s = Target::Classes(classes.to_vec()).select(out)?;
        let grads = s.sum().backward();
        let grad = tapped.probes[0].grad(&grads).ok_or_else(|| {
            XaiError::Numerical(format!("the target does not depend on `{name}`"))
        })?;
        let (av, gv) = (tapped.values[0].to_vec_f64()?, grad.to_vec_f64()?);
        Ok(reduce.reduce(&av, &gv, classes.len()))
    }

    /// The outputs `[N, C]` (row-major) at the host values `values`, shaped as `like`.
    pub(crate) fn outputs_at(&self, like: &Tensor<D>, values: &[f64]) -> Result<Vec<f64>> {
        let x = Tensor::<D>::from_data(
            TensorData::new(values.to_vec(), like.dims()),
            (&like.device(), like.dtype()),
        );
        xai_core::tensor_to_vec_f64(self.forward(&x)?)
    }

    /// The outputs `f` `[N, C]` at the host values `values` (shaped as `like`) and
    /// `∂(Σ s ⊙ f)/∂x` there, where the cotangent `s = seed(f)` may depend on those outputs
    /// (a hinge's active class, an autoencoder's residual): one forward and one backward pass.
    pub(crate) fn outputs_and_vjp(
        &self,
        like: &Tensor<D>,
        values: &[f64],
        seed: impl FnOnce(&[f64]) -> Vec<f64>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let x = Tensor::<D>::from_data(
            TensorData::new(values.to_vec(), like.dims()),
            (&self.device.clone().inner(), like.dtype()),
        );
        let g = self.graph(&x)?;
        let ad = self.device.clone().autodiff();
        let xa = x.autodiff().require_grad();
        let out = g
            .eval(&[DynTensor::from_tensor(xa.clone())], &ad, self.precision)?
            .remove(0)
            .into_tensor::<2>()?;
        let [n, c] = out.dims();
        let outputs = DynTensor::from_tensor(out.clone()).to_vec_f64()?;
        let seed = seed(&outputs);
        if seed.len() != n * c {
            return Err(XaiError::shape(
                "seed",
                format!("[{n}, {c}]"),
                &[seed.len()],
            ));
        }
        let s = Tensor::<2>::from_data(
            TensorData::new(seed, [n, c]),
            (&ad.clone().inner(), out.dtype()),
        );
        let grads = (out * s.autodiff()).sum().backward();
        let gx = match xa.grad(&grads) {
            Some(g) => xai_core::tensor_to_vec_f64(g)?,
            None => vec![0.0; values.len()],
        };
        Ok((outputs, gx))
    }

    /// Node `node`'s output at `x`, as rows `[N, P]` on `x`'s device.
    pub fn value_at(&self, x: &Tensor<D>, node: usize) -> Result<Tensor<2>> {
        let n = x.dims()[0];
        if let Some(plan) = self.gradient_plan(x)? {
            let z = plan.value_at(&xai_core::tensor_to_vec(x.clone())?, node)?;
            let per = z.len() / n.max(1);
            return Ok(Tensor::<2>::from_data(
                TensorData::new(z, [n, per]),
                (&x.device(), x.dtype()),
            ));
        }
        let (v, _) = self.tapped(x, node, &self.device.clone().inner())?;
        Ok(v.values[0]
            .clone()
            .into_rows()?
            .to_device(&x.device())
            .cast(x.dtype()))
    }

    /// The vector-Jacobian product `cotᵀ ∂ node / ∂ x` at `x`, with one cotangent row `[N, P]`
    /// per input row shaped like node `node`'s output; the result is shaped as `x`.
    pub fn vjp_at(&self, x: &Tensor<D>, node: usize, cot: Tensor<2>) -> Result<Tensor<D>> {
        let (dims, dev, dtype) = (x.dims(), x.device(), x.dtype());
        if let Some(plan) = self.gradient_plan(x)? {
            let g = plan.vjp_at(
                &xai_core::tensor_to_vec(x.clone())?,
                node,
                &xai_core::tensor_to_vec(cot)?,
            )?;
            return Ok(Tensor::<D>::from_data(
                TensorData::new(g, dims),
                (&dev, dtype),
            ));
        }
        let ad = self.device.clone().autodiff();
        let xa = x
            .clone()
            .to_device(&self.device.clone().inner())
            .autodiff()
            .require_grad();
        let (t, _) = self.tapped(&xa, node, &ad)?;
        let z = t.values[0].clone().into_rows()?;
        let cot = cot
            .to_device(&ad.clone().inner())
            .cast(z.dtype())
            .autodiff();
        let grads = (z * cot).sum().backward();
        Ok(xa
            .grad(&grads)
            .ok_or_else(|| XaiError::Numerical("the target does not depend on the input".into()))?
            .to_device(&dev)
            .cast(dtype))
    }

    /// `Σ_k weights[k] · ∇_z f_{class_i}(start_i + alphas[k] · delta_i)` for every row `i`: the
    /// integrated-gradients sum. `z` is the input (`prefix` `None`; `start`/`delta` rows of the
    /// input) or the output of the last node of `prefix`, an affine input prefix that the path
    /// skips (rows of that node). `x` gives the input shape; the result is `[N, P]` rows of `z`.
    /// Burn's path chunks the `steps · N` points against `budget`.
    #[allow(clippy::too_many_arguments)]
    pub fn path_sum(
        &self,
        x: &Tensor<D>,
        prefix: Option<&[usize]>,
        start: Tensor<2>,
        delta: Tensor<2>,
        alphas: &[f64],
        weights: &[f64],
        classes: &[usize],
        budget: MemoryBudget,
    ) -> Result<Tensor<2>> {
        let (dims, dtype, dev) = (x.dims(), x.dtype(), x.device());
        let n = dims[0];
        let start_node = prefix.and_then(|p| p.last().copied());
        if let Some(plan) = self.plan(dims, dtype, start_node, ReluRule::Gradient)? {
            let rows = |t: Tensor<2>| xai_core::tensor_to_vec(t);
            let sum = plan.path_integral(&rows(start)?, &rows(delta)?, alphas, weights, classes)?;
            let per = sum.len() / n.max(1);
            return Ok(Tensor::<2>::from_data(
                TensorData::new(sum, [n, per]),
                (&dev, dtype),
            ));
        }
        let steps = alphas.len();
        let g0 = self.graph(x)?;
        let row_bytes = g0.bytes_per_sample();
        // CPU backends run one pass on about one core, so independent chunks go to worker threads
        // (each with its own autodiff graph); the budget is shared between the chunks in flight.
        let workers = if self.device.clone().inner() == Device::flex() {
            std::thread::available_parallelism()
                .map_or(1, |p| p.get())
                .min(steps)
        } else {
            1
        };
        // Whole steps per chunk (each step is N rows), at least one chunk per worker, and on the
        // CPU small chunks.
        let cpu_cap = if workers > 1 {
            (CPU_CHUNK_ROWS / n.max(1)).max(1)
        } else {
            usize::MAX
        };
        let per_chunk = (budget.rows(row_bytes * n * workers))
            .min(steps.div_ceil(workers.max(1)))
            .min(cpu_cap)
            .max(1);
        let ranges: Vec<(usize, usize)> = (0..steps)
            .step_by(per_chunk)
            .map(|s| (s, (s + per_chunk).min(steps)))
            .collect();
        let z_shape = start_node.map(|k| g0.nodes()[k].output_shape());
        let chunk = |(first, end): (usize, usize)| -> Result<Tensor<2>> {
            let s = end - first;
            // Rows ordered step-major: [step 0: all samples, step 1: all samples, …].
            let alpha = column(&alphas[first..end], n, &dev, dtype);
            let weight = column(&weights[first..end], n, &dev, dtype);
            let cls: Vec<usize> = (0..s).flat_map(|_| classes.iter().copied()).collect();
            let points =
                start.clone().repeat_dim(0, s) + mul_rows(delta.clone().repeat_dim(0, s), &alpha);
            let mut chunk_dims = dims;
            chunk_dims[0] = n * s;
            let grads: Tensor<2> = match (prefix, &z_shape) {
                (Some(p), Some(shape)) => {
                    let gc = self.graph_for(chunk_dims, dtype)?;
                    let leaf = points
                        .to_device(&self.device.clone().inner())
                        .autodiff()
                        .require_grad();
                    let mut zshape = shape.clone();
                    zshape[0] = n * s;
                    let value = DynTensor::from_rows(leaf.clone(), &zshape)?;
                    // Only the batch shape of the input is read.
                    let like =
                        Tensor::<D>::zeros(chunk_dims, (&self.device.clone().inner(), dtype));
                    let out = gc
                        .eval_from(
                            &[DynTensor::from_tensor(like)],
                            p,
                            &value,
                            &self.device.clone().autodiff(),
                            self.precision,
                        )?
                        .remove(0)
                        .into_tensor::<2>()?;
                    let sel = Target::Classes(cls).select(out)?;
                    let g = sel.sum().backward();
                    leaf.grad(&g)
                        .ok_or_else(|| {
                            XaiError::Numerical("the target does not depend on the input".into())
                        })?
                        .to_device(&dev)
                        .cast(dtype)
                }
                _ => {
                    let points: Tensor<D> = points.reshape(chunk_dims);
                    DynTensor::from_tensor(input_gradients(self, &points, &cls)?).into_rows()?
                }
            };
            // Σ over the steps of this chunk: [s·N, P] → [N, P].
            let per = grads.dims()[1];
            Ok(mul_rows(grads, &weight)
                .reshape([s, n * per])
                .sum_dim(0)
                .reshape([n, per]))
        };
        // Captures for the chunk shapes happen once, before the threads start.
        for &(a, b) in ranges.iter().take(2).chain(ranges.last()) {
            let mut shape = dims;
            shape[0] = n * (b - a);
            self.graph_for(shape, dtype)?;
        }
        let partials: Vec<Result<Tensor<2>>> = if workers <= 1 || ranges.len() == 1 {
            ranges.iter().map(|&r| chunk(r)).collect()
        } else {
            let next = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        scope.spawn(|| {
                            let mut acc: Vec<(usize, Result<Tensor<2>>)> = Vec::new();
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(&r) = ranges.get(i) else { break };
                                acc.push((i, chunk(r)));
                            }
                            acc
                        })
                    })
                    .collect();
                let mut all: Vec<(usize, Result<Tensor<2>>)> = handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            let e = XaiError::Numerical("a path-sum worker thread panicked".into());
                            vec![(0, Err(e))]
                        })
                    })
                    .collect();
                // Sum in chunk order, so results do not depend on thread timing.
                all.sort_by_key(|(i, _)| *i);
                all.into_iter().map(|(_, r)| r).collect()
            })
        };
        let mut total: Option<Tensor<2>> = None;
        for p in partials {
            let p = p?;
            total = Some(match total {
                Some(t) => t + p,
                None => p,
            });
        }
        total.ok_or_else(|| XaiError::EmptyBatch("no path steps".into()))
    }
}

/// `∂ f_{class_i}(x_i) / ∂x_i` for every row, through the captured graph (inference mode), in
/// one forward and one backward pass. The result lives on `x`'s device with `x`'s dtype.
pub fn input_gradients<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    classes: &[usize],
) -> Result<Tensor<D>> {
    crate::gradient::validate_inputs(x)?;
    let n = x.dims()[0];
    if classes.len() != n {
        return Err(XaiError::shape(
            "target classes",
            format!("{n} entries"),
            &[classes.len()],
        ));
    }
    let plan = ex.gradient_plan(x)?;
    let g = ex.graph(x)?;
    gradients_with(plan.as_deref(), &g, x, classes, &ex.device, ex.precision)
}

/// [`input_gradients`] through a given graph (e.g. a surrogate of the captured one), replayed
/// on `device` in `precision`; the result lives on `x`'s device with `x`'s dtype.
pub(crate) fn gradients_on<const D: usize>(
    g: &CapturedGraph,
    x: &Tensor<D>,
    classes: &[usize],
    device: &Device,
    precision: Precision,
) -> Result<Tensor<D>> {
    let plan = host_plan(g, None, device, precision, x.dtype());
    gradients_with(plan.as_ref(), g, x, classes, device, precision)
}

/// [`gradients_on`] with the host plan of `g` already at hand (`None`: burn's path).
fn gradients_with<const D: usize>(
    plan: Option<&HostPlan>,
    g: &CapturedGraph,
    x: &Tensor<D>,
    classes: &[usize],
    device: &Device,
    precision: Precision,
) -> Result<Tensor<D>> {
    if let Some(plan) = plan {
        let rows = xai_core::tensor_to_vec(x.clone())?;
        return Ok(super::shaped_like(plan.class_grads(&rows, classes)?, x));
    }
    let ad = device.clone().autodiff();
    let xa = x
        .clone()
        .to_device(&device.clone().inner())
        .autodiff()
        .require_grad();
    let out = g
        .eval(&[DynTensor::from_tensor(xa.clone())], &ad, precision)?
        .remove(0)
        .into_tensor::<2>()?;
    let s = Target::Classes(classes.to_vec()).select(out)?;
    let grads = s.sum().backward();
    let gx = xa
        .grad(&grads)
        .ok_or_else(|| XaiError::Numerical("the target does not depend on the input".into()))?;
    Ok(gx.to_device(&x.device()).cast(x.dtype()))
}
