//! The training objective seen through a flat parameter vector.
//!
//! Influence functions need four things of a trained model: per-example loss gradients
//! `∇_θ ℓ_i`, the Hessian (or Gauss-Newton matrix) of the training objective as a product
//! `H v`, the objective and its gradient at other parameter values (for retraining), and the
//! loss on test points. [`Objective`] provides them from a [`CapturedGraph`] of an unmodified burn
//! model, with the parameters flattened into one vector `θ` (parameters in
//! [`CapturedGraph::params`] order, each row-major in burn's layout), so that solvers are plain
//! linear algebra on burn tensors and run on any device.
//!
//! The objective is
//!
//! ```text
//! J(θ) = Σ_i w_i ℓ(f(x_i; θ), y_i) / Σ_i w_i  +  (λ/2) ‖θ_R‖²
//! ```
//!
//! with weights `w_i = 1` for training (0/1 weights drop examples: leave-one-out and subset
//! retraining), and `R` the regularised parameters (by default every parameter whose path ends
//! in `weight`). Influence uses `∇_θ ℓ_i` without the regulariser, as Koh & Liang do.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use xai_core::{Result, XaiError};
use xai_grad::{CapturedGraph, DynTensor, Precision};

/// The per-example loss on the model's first output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax cross-entropy on logits `[N, C]` with class labels.
    CrossEntropy,
    /// Binary logistic loss `log(1 + e^z) − y z` on one logit `[N, 1]`, labels 0 or 1.
    BinaryLogistic,
}

/// A labelled data set as rows: inputs `[N, ...]` and one label per row.
#[derive(Clone, Debug)]
pub struct Data {
    /// Inputs, batch first.
    pub x: DynTensor,
    /// Labels: class indices for cross-entropy, 0/1 for the binary loss.
    pub y: Vec<usize>,
}

impl Data {
    /// Wrap inputs and labels, checking they agree in length.
    pub fn new(x: DynTensor, y: Vec<usize>) -> Result<Self> {
        let n = x.shape().first().copied().unwrap_or(0);
        if n != y.len() {
            return Err(XaiError::shape(
                "labels",
                format!("one per input row ({n})"),
                &[y.len()],
            ));
        }
        if n == 0 {
            return Err(XaiError::EmptyBatch("data set".into()));
        }
        Ok(Self { x, y })
    }

    /// Inputs and labels from f64 rows (`[N, D]`) on `device` at `precision`.
    pub fn from_rows(
        rows: &[f64],
        dim: usize,
        y: Vec<usize>,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let n = y.len();
        if rows.len() != n * dim {
            return Err(XaiError::shape(
                "rows",
                format!("[{n}, {dim}]"),
                &[rows.len()],
            ));
        }
        let t = Tensor::<2>::from_data(
            TensorData::new(rows.to_vec(), [n, dim]),
            (device, dtype(precision)),
        );
        Self::new(DynTensor::from_tensor(t), y)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no rows (never, for a [`Data`] built by [`Data::new`]).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Result<Data> {
        let n = self.len();
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            return Err(XaiError::Config(format!(
                "row {bad} out of range for {n} rows"
            )));
        }
        let shape = self.x.shape();
        let rows = self.x.clone().into_rows()?;
        let ids = Tensor::<1, Int>::from_data(
            TensorData::new(
                idx.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [idx.len()],
            ),
            &rows.device(),
        );
        let mut s = shape.clone();
        s[0] = idx.len();
        Data::new(
            DynTensor::from_rows(rows.select(0, ids), &s)?,
            idx.iter().map(|&i| self.y[i]).collect(),
        )
    }
}

pub(crate) fn dtype(p: Precision) -> DType {
    match p {
        Precision::F32 => DType::F32,
        Precision::F64 => DType::F64,
    }
}

/// A flat vector `[n]` from f64 values on `device` at `precision`.
pub fn vector(v: &[f64], device: &Device, precision: Precision) -> Tensor<1> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [v.len()]),
        (device, dtype(precision)),
    )
}

/// A matrix `[r, c]` from row-major f64 values.
pub fn matrix(v: &[f64], r: usize, c: usize, device: &Device, precision: Precision) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [r, c]),
        (device, dtype(precision)),
    )
}

/// Values of any tensor as f64.
pub fn to_f64<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    xai_core::tensor_to_vec_f64(t)
}

/// A trained model's training objective, as a function of the flat parameters `θ`.
#[derive(Clone, Debug)]
pub struct Objective {
    graph: CapturedGraph,
    train: Data,
    loss: Loss,
    l2: f64,
    regularized: Vec<bool>,
    offsets: Vec<(usize, usize)>,
    device: Device,
    precision: Precision,
}

impl Objective {
    /// The objective of `graph` (first output: logits) on `train` with `loss` and L2 strength
    /// `l2` on every parameter whose path ends in `weight`.
    pub fn new(
        graph: CapturedGraph,
        train: Data,
        loss: Loss,
        l2: f64,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(XaiError::Config(format!(
                "L2 strength must be ≥ 0, got {l2}"
            )));
        }
        let regularized = graph
            .params()
            .iter()
            .map(|p| p.path.ends_with("weight"))
            .collect();
        let mut offsets = Vec::new();
        let mut at = 0;
        for p in graph.params() {
            let n: usize = p.shape.iter().product();
            offsets.push((at, at + n));
            at += n;
        }
        if at == 0 {
            return Err(XaiError::Config("the model has no parameters".into()));
        }
        let obj = Self {
            graph,
            train,
            loss,
            l2,
            regularized,
            offsets,
            device: device.clone(),
            precision,
        };
        obj.check_labels(&obj.train)?;
        Ok(obj)
    }

    /// Regularise exactly the parameters for which `keep(path)` is true.
    pub fn with_regularized(mut self, keep: impl Fn(&str) -> bool) -> Self {
        self.regularized = self.graph.params().iter().map(|p| keep(&p.path)).collect();
        self
    }

    fn check_labels(&self, d: &Data) -> Result<()> {
        let classes = self
            .graph
            .output_shape(0)
            .and_then(|s| s.last().copied())
            .unwrap_or(0);
        let limit = match self.loss {
            Loss::CrossEntropy => classes,
            Loss::BinaryLogistic => 2,
        };
        if self.loss == Loss::BinaryLogistic && classes != 1 {
            return Err(XaiError::Config(format!(
                "the binary logistic loss needs one logit, the model has {classes}"
            )));
        }
        if let Some(&bad) = d.y.iter().find(|&&y| y >= limit) {
            return Err(XaiError::TargetOutOfRange {
                index: bad,
                classes: limit,
            });
        }
        Ok(())
    }

    /// The captured model.
    pub fn graph(&self) -> &CapturedGraph {
        &self.graph
    }
    /// The training data.
    pub fn train(&self) -> &Data {
        &self.train
    }
    /// The loss.
    pub fn loss(&self) -> Loss {
        self.loss
    }
    /// The L2 strength λ.
    pub fn l2(&self) -> f64 {
        self.l2
    }
    /// The device solvers run on.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The precision of every run.
    pub fn precision(&self) -> Precision {
        self.precision
    }
    /// Number of parameters `p`.
    pub fn num_params(&self) -> usize {
        self.offsets.last().map_or(0, |o| o.1)
    }
    /// Number of training examples `n`.
    pub fn num_train(&self) -> usize {
        self.train.len()
    }
    /// `(start, end)` of each parameter tensor inside `θ`.
    pub fn offsets(&self) -> &[(usize, usize)] {
        &self.offsets
    }

    /// The same objective on other training data (subsets, relabelled copies).
    pub fn with_train(&self, train: Data) -> Result<Self> {
        self.check_labels(&train)?;
        Ok(Self {
            train,
            ..self.clone()
        })
    }

    /// The recorded (trained) parameters `θ̂`, flat.
    pub fn theta(&self) -> Tensor<1> {
        self.flatten(self.graph.param_values(&self.device, self.precision))
            .unwrap_or_else(|_| vector(&[], &self.device, self.precision))
    }

    /// Flatten one tensor per parameter into `[p]`.
    pub fn flatten(&self, parts: Vec<DynTensor>) -> Result<Tensor<1>> {
        let flat = parts
            .into_iter()
            .map(|t| {
                let n: usize = t.shape().iter().product();
                Ok(t.into_rows()?.reshape([n]))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(flat, 0))
    }

    /// Flatten per-example gradients (`[N, ...shape]` per parameter) into `[N, p]`.
    pub fn flatten_rows(&self, parts: Vec<DynTensor>) -> Result<Tensor<2>> {
        let flat = parts
            .into_iter()
            .map(|t| t.into_rows())
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(flat, 1))
    }

    /// Split `θ` into one tensor per parameter, shaped like the model's.
    pub fn unflatten(&self, theta: &Tensor<1>) -> Result<Vec<DynTensor>> {
        let [p] = theta.dims();
        if p != self.num_params() {
            return Err(XaiError::shape(
                "parameter vector",
                format!("[{}]", self.num_params()),
                &[p],
            ));
        }
        self.graph
            .params()
            .iter()
            .zip(&self.offsets)
            .map(|(info, &(a, b))| {
                let first = info.shape.first().copied().unwrap_or(1).max(1);
                let rows = theta.clone().slice(a..b).reshape([first, (b - a) / first]);
                if info.shape.is_empty() {
                    Ok(DynTensor::from_tensor(rows.reshape([1])))
                } else {
                    DynTensor::from_rows(rows, &info.shape)
                }
            })
            .collect()
    }

    /// The 0/1 mask of regularised entries of `θ`.
    pub fn l2_mask(&self) -> Tensor<1> {
        let mut m = vec![0.0; self.num_params()];
        for (&(a, b), &r) in self.offsets.iter().zip(&self.regularized) {
            if r {
                m[a..b].iter_mut().for_each(|v| *v = 1.0);
            }
        }
        vector(&m, &self.device, self.precision)
    }

    /// The labels in the logits' layout and dtype: one-hot `[N, C]` for cross-entropy, a
    /// column `[N, 1]` of 0/1 for the binary loss.
    fn label_targets(&self, logits: &Tensor<2>, y: &[usize]) -> Tensor<2> {
        let [n, c] = logits.dims();
        match self.loss {
            Loss::CrossEntropy => xai_core::one_hot(y, c, &logits.device()).cast(logits.dtype()),
            Loss::BinaryLogistic => {
                let yv: Vec<f64> = y.iter().map(|&v| v as f64).collect();
                Tensor::from_data(
                    TensorData::new(yv, [n, 1]),
                    (&logits.device(), logits.dtype()),
                )
            }
        }
    }

    /// Per-example losses `[N]` from the logits, for labels `y`.
    pub fn losses_from_logits(&self, logits: Tensor<2>, y: &[usize]) -> Result<Tensor<1>> {
        let [n, _] = logits.dims();
        if n != y.len() {
            return Err(XaiError::shape("labels", format!("{n}"), &[y.len()]));
        }
        let targets = self.label_targets(&logits, y);
        Ok(match self.loss {
            Loss::CrossEntropy => {
                let lsm = burn::tensor::activation::log_softmax(logits, 1);
                (lsm * targets).sum_dim(1).reshape([n]).neg()
            }
            Loss::BinaryLogistic => {
                let z = logits.reshape([n]);
                // softplus(z) = max(z, 0) + log(1 + e^{−|z|}), stable for large |z|.
                let sp = z.clone().clamp_min(0.0) + z.clone().abs().neg().exp().log1p();
                sp - z * targets.reshape([n])
            }
        })
    }

    fn per_example_loss_fn<'a>(
        &'a self,
        y: &'a [usize],
    ) -> impl Fn(&[DynTensor], std::ops::Range<usize>) -> Result<Tensor<1>> + 'a {
        move |outs: &[DynTensor], rows: std::ops::Range<usize>| {
            let logits = outs
                .first()
                .ok_or_else(|| XaiError::Config("the model has no output".into()))?
                .clone()
                .into_rows()?;
            self.losses_from_logits(logits, &y[rows])
        }
    }

    /// Logits `[N, C]` of `data` at `θ`.
    pub fn logits(&self, theta: &Tensor<1>, data: &Data) -> Result<Tensor<2>> {
        let p = self.unflatten(theta)?;
        let out = self.graph.eval_with_params(
            std::slice::from_ref(&data.x),
            &p,
            &self.device,
            self.precision,
        )?;
        out.into_iter()
            .next()
            .ok_or_else(|| XaiError::Config("the model has no output".into()))?
            .into_rows()
    }

    /// Per-example losses `[N]` of `data` at `θ` (no regulariser).
    pub fn losses(&self, theta: &Tensor<1>, data: &Data) -> Result<Vec<f64>> {
        self.check_labels(data)?;
        let z = self.logits(theta, data)?;
        to_f64(self.losses_from_logits(z, &data.y)?)
    }

    /// Per-example loss gradients `∇_θ ℓ(x_i, y_i)` at `θ`, `[N, p]`, computed in chunks of
    /// `chunk` rows (batched for models made of dense and conv layers, one pass per example otherwise).
    pub fn per_example_grads(
        &self,
        theta: &Tensor<1>,
        data: &Data,
        chunk: usize,
    ) -> Result<Tensor<2>> {
        self.check_labels(data)?;
        let p = self.unflatten(theta)?;
        let n = data.len();
        let chunk = chunk.max(1);
        let mut parts = Vec::new();
        for start in (0..n).step_by(chunk) {
            let idx: Vec<usize> = (start..(start + chunk).min(n)).collect();
            let d = if idx.len() == n {
                data.clone()
            } else {
                data.select(&idx)?
            };
            let g = self.graph.per_example_param_grads(
                &d.x,
                Some(&p),
                &self.device,
                self.precision,
                self.per_example_loss_fn(&d.y),
            )?;
            parts.push(self.flatten_rows(g)?);
        }
        let g = Tensor::cat(parts, 0);
        xai_core::check_finite(&g, "per-example gradients")?;
        Ok(g)
    }

    /// Objective value and gradient at `θ` with per-example weights (`None` = all ones).
    pub fn value_grad(
        &self,
        theta: &Tensor<1>,
        weights: Option<&[f64]>,
    ) -> Result<(f64, Tensor<1>)> {
        let n = self.num_train();
        let w: Vec<f64> = match weights {
            Some(w) if w.len() != n => {
                return Err(XaiError::shape("weights", format!("[{n}]"), &[w.len()]));
            }
            Some(w) => w.to_vec(),
            None => vec![1.0; n],
        };
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return Err(XaiError::EmptyBatch("every training weight is zero".into()));
        }
        let p = self.unflatten(theta)?;
        let wt = vector(&w, &self.device, self.precision);
        let mut value = 0.0;
        let f = self.per_example_loss_fn(&self.train.y);
        let grads = self.graph.param_grads_at(
            std::slice::from_ref(&self.train.x),
            Some(&p),
            &self.device,
            self.precision,
            |o| {
                let l = f(o, 0..n)?;
                let wl =
                    (l * wt.clone().to_device(&o[0].clone().into_rows()?.device())).sum() / total;
                value = to_f64(wl.clone().detach())?
                    .first()
                    .copied()
                    .unwrap_or(f64::NAN);
                Ok(wl)
            },
        )?;
        let mut g = self.flatten(grads.grads)?;
        if self.l2 > 0.0 {
            let m = self.l2_mask();
            let tm = theta.clone() * m;
            value += 0.5 * self.l2 * to_f64(tm.clone().powf_scalar(2.0).sum())?[0];
            g = g + tm * self.l2;
        }
        if !value.is_finite() {
            return Err(XaiError::NonFinite("training objective".into()));
        }
        Ok((value, g))
    }

    /// Exact `H v` of the objective at `θ` over the training rows `rows` (`None` = all), with the
    /// regulariser: `(1/|rows|) Σ_{i∈rows} ∇²ℓ_i v + λ v_R`.
    pub fn hvp(
        &self,
        theta: &Tensor<1>,
        rows: Option<&[usize]>,
        v: &Tensor<1>,
    ) -> Result<Tensor<1>> {
        self.curvature_product(theta, rows, v, false)
    }

    /// Exact Gauss-Newton product `(1/|rows|) Σ Jᵢᵀ H_ℓ Jᵢ v + λ v_R` (positive semi-definite;
    /// equals the Fisher for these losses).
    pub fn gnvp(
        &self,
        theta: &Tensor<1>,
        rows: Option<&[usize]>,
        v: &Tensor<1>,
    ) -> Result<Tensor<1>> {
        self.curvature_product(theta, rows, v, true)
    }

    fn curvature_product(
        &self,
        theta: &Tensor<1>,
        rows: Option<&[usize]>,
        v: &Tensor<1>,
        gauss_newton: bool,
    ) -> Result<Tensor<1>> {
        let data = match rows {
            Some(r) => self.train.select(r)?,
            None => self.train.clone(),
        };
        let n = data.len();
        let p = self.unflatten(theta)?;
        let vp = self.unflatten(v)?;
        let hv = if gauss_newton {
            let loss = self.loss;
            self.graph.gnvp_params_at(
                std::slice::from_ref(&data.x),
                Some(&p),
                &vp,
                &self.device,
                self.precision,
                move |z, u| match loss {
                    Loss::CrossEntropy => xai_grad::cross_entropy_logit_hvp(z, u),
                    Loss::BinaryLogistic => {
                        let s = burn::tensor::activation::sigmoid(z);
                        let rows = s.dims()[0] as f64;
                        (s.clone() * (s.neg() + 1.0)) * u / rows
                    }
                },
            )?
        } else {
            self.graph.hvp_params_at(
                std::slice::from_ref(&data.x),
                Some(&p),
                &vp,
                &self.device,
                self.precision,
                // ⟨∂(mean ℓ)/∂z, ż⟩ is the directional derivative of the loss along v; its
                // gradient in θ (through z and through the tangent ż) is H v.
                |o, t| {
                    let z = o[0].clone().into_rows()?;
                    let tz = t[0].clone().into_rows()?;
                    Ok((self.loss_logit_grad(z, &data.y, n)? * tz)
                        .sum()
                        .reshape([1]))
                },
            )?
        };
        let mut out = self.flatten(hv)?;
        if self.l2 > 0.0 {
            out = out + v.clone() * self.l2_mask() * self.l2;
        }
        xai_core::check_finite(&out, "Hessian-vector product")?;
        Ok(out)
    }

    /// `∂(mean ℓ)/∂z` as a differentiable function of the logits `z`.
    pub(crate) fn loss_logit_grad(&self, z: Tensor<2>, y: &[usize], n: usize) -> Result<Tensor<2>> {
        let targets = self.label_targets(&z, y);
        let p = match self.loss {
            Loss::CrossEntropy => burn::tensor::activation::softmax(z, 1),
            Loss::BinaryLogistic => burn::tensor::activation::sigmoid(z),
        };
        Ok((p - targets) / n as f64)
    }

    /// The dense Hessian (or Gauss-Newton matrix) of the full objective at `θ`, `[p, p]`, built
    /// from `p` exact products and symmetrised. Memory `p²`: for small models.
    pub fn dense_hessian(&self, theta: &Tensor<1>, gauss_newton: bool) -> Result<Tensor<2>> {
        let p = self.num_params();
        let mut cols = Vec::with_capacity(p);
        for j in 0..p {
            let mut e = vec![0.0; p];
            e[j] = 1.0;
            let ej = vector(&e, &self.device, self.precision);
            cols.push(
                self.curvature_product(theta, None, &ej, gauss_newton)?
                    .reshape([1, p]),
            );
        }
        let h = Tensor::cat(cols, 0);
        Ok((h.clone() + h.transpose()) / 2.0)
    }
}
