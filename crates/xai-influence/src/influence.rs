//! Influence functions (Koh & Liang, ICML 2017).
//!
//! With `θ̂` the minimiser of the training objective `J` and `H = ∇²J(θ̂)` (+ damping δ):
//!
//! ```text
//! I_up,params(z)         = −H⁻¹ ∇ℓ(z)                         (parameter change per unit up-weight)
//! I_up,loss(z, z_test)   = −∇ℓ(z_test)ᵀ H⁻¹ ∇ℓ(z) = −s_testᵀ ∇ℓ(z),   s_test = H⁻¹ ∇ℓ(z_test)
//! I_pert,loss(z, z_test) = −∇_x [ s_testᵀ ∇_θ ℓ(z) ]             (change per input perturbation)
//! self-influence(z)      = ∇ℓ(z)ᵀ H⁻¹ ∇ℓ(z)   (= −I_up,loss(z, z); large for mislabelled points)
//! removing z:  ℓ(z_test; θ̂₋z) − ℓ(z_test; θ̂) ≈ −I_up,loss(z, z_test) / n
//! ```
//!
//! Signs: `I_up,loss < 0` is a **helpful** training point (removing it raises the test loss);
//! see the crate docs. `s_test` is cached per test point (keyed by its input values and label),
//! so asking again, or for more training points, costs one gradient dot product per pair.
//!
//! Axioms checked in the tests: exact agreement with the fixture (Koh & Liang's formula,
//! computed in numpy), Pearson ≥ 0.99 with exactly retrained leave-one-out on convex models,
//! agreement of every solver with the exact one, independence from the batch size and from the
//! partition of the training set.
//!
//! ```
//! # fn main() -> xai_core::Result<()> {
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::Device;
//! use xai_grad::{CapturedGraph, Precision};
//! use xai_influence::{Data, Influence, Loss, Objective, Solver};
//!
//! let dev = Device::flex();
//! let model: Linear = LinearConfig::new(3, 2).init(&dev);
//! let xs: Vec<f64> = (0..24).map(|i| ((i * 7 % 11) as f64) / 5.0 - 1.0).collect();
//! let train = Data::from_rows(&xs, 3, vec![0, 1, 1, 0, 1, 0, 0, 1], &dev, Precision::F64)?;
//! // Capture in the model's own dtype (f32); the objective then replays in f64.
//! let example = train.x.clone().into_tensor::<2>()?.cast(burn::tensor::FloatDType::F32);
//! let graph = CapturedGraph::capture(&model, example, |m, x| m.forward(x))?;
//! let objective = Objective::new(graph, train.clone(), Loss::CrossEntropy, 0.1, &dev, Precision::F64)?;
//! // Softmax logits are shift-invariant, so the unpenalised biases leave H singular: damp it.
//! let influence = Influence::new(&objective, &objective.theta(), &Solver::exact(1e-2))?;
//! let scores = influence.up_loss(&train.select(&[0])?)?; // [1 test point][8 training points]
//! assert_eq!(scores[0].len(), 8);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use burn::tensor::Tensor;
use xai_core::{Result, XaiError};

use crate::objective::{Data, Objective, to_f64};
use crate::solvers::{InverseHvp, Solver, row, stack};

/// A training example and its score.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Ranked {
    /// Index in the training set.
    pub index: usize,
    /// The score (for [`Influence::top_helpful`]: the predicted test-loss increase if removed).
    pub score: f64,
}

/// Influence of every training example, through one inverse-HVP solver.
pub struct Influence {
    objective: Objective,
    theta: Tensor<1>,
    solver: Box<dyn InverseHvp>,
    train_grads: Tensor<2>,
    cache: Mutex<HashMap<u64, Tensor<1>>>,
}

/// Rows per chunk of per-example gradients.
const CHUNK: usize = 256;

fn key(values: &[f64], label: usize) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in values {
        v.to_bits().hash(&mut h);
    }
    label.hash(&mut h);
    h.finish()
}

impl Influence {
    /// Prepare `solver` at `theta` (the trained parameters) and the training gradients.
    pub fn new(objective: &Objective, theta: &Tensor<1>, solver: &Solver) -> Result<Self> {
        let built = solver.build(objective, theta)?;
        Self::with_solver(objective, theta, built)
    }

    /// Use an already-built solver.
    pub fn with_solver(
        objective: &Objective,
        theta: &Tensor<1>,
        solver: Box<dyn InverseHvp>,
    ) -> Result<Self> {
        let train_grads = objective.per_example_grads(theta, objective.train(), CHUNK)?;
        Ok(Self {
            objective: objective.clone(),
            theta: theta.clone(),
            solver,
            train_grads,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The solver's label.
    pub fn solver_name(&self) -> String {
        self.solver.name()
    }

    /// The inverse-HVP solver in use (to reuse its factorisation, e.g. as a retraining
    /// preconditioner).
    pub fn solver(&self) -> &dyn InverseHvp {
        self.solver.as_ref()
    }

    /// Per-example training gradients `[n, p]`.
    pub fn train_grads(&self) -> &Tensor<2> {
        &self.train_grads
    }

    /// `s_test = (H + δI)⁻¹ ∇ℓ(z_test)` for each test row, `[T, p]`, cached per test point.
    pub fn s_test(&self, test: &Data) -> Result<Tensor<2>> {
        let rows = test.x.clone().into_rows()?;
        let values = to_f64(rows.clone())?;
        let d = values.len() / test.len();
        let keys: Vec<u64> = (0..test.len())
            .map(|i| key(&values[i * d..(i + 1) * d], test.y[i]))
            .collect();
        let missing: Vec<usize> = {
            let cache = self
                .cache
                .lock()
                .map_err(|_| XaiError::Numerical("s_test cache poisoned".into()))?;
            (0..test.len())
                .filter(|&i| !cache.contains_key(&keys[i]))
                .collect()
        };
        if !missing.is_empty() {
            let sub = test.select(&missing)?;
            let g = self.objective.per_example_grads(&self.theta, &sub, CHUNK)?;
            let s = self.solver.solve(&g)?;
            xai_core::check_finite(&s, "s_test")?;
            let mut cache = self
                .cache
                .lock()
                .map_err(|_| XaiError::Numerical("s_test cache poisoned".into()))?;
            for (k, &i) in missing.iter().enumerate() {
                cache.insert(keys[i], row(&s, k));
            }
        }
        let cache = self
            .cache
            .lock()
            .map_err(|_| XaiError::Numerical("s_test cache poisoned".into()))?;
        Ok(stack(keys.iter().map(|k| cache[k].clone()).collect()))
    }

    /// `I_up,loss(z_i, z_test)` for every test row and training example, `[T][n]`.
    pub fn up_loss(&self, test: &Data) -> Result<Vec<Vec<f64>>> {
        let s = self.s_test(test)?;
        self.up_loss_against(&s, &self.train_grads)
    }

    /// `I_up,loss` against the given training gradients (a shard of the training set).
    pub fn up_loss_against(
        &self,
        s_test: &Tensor<2>,
        train_grads: &Tensor<2>,
    ) -> Result<Vec<Vec<f64>>> {
        let m = s_test.clone().matmul(train_grads.clone().transpose()).neg();
        let [t, n] = m.dims();
        let v = to_f64(m)?;
        Ok((0..t).map(|i| v[i * n..(i + 1) * n].to_vec()).collect())
    }

    /// Predicted change of each test loss when each training example is removed:
    /// `−I_up,loss / n` (positive = the example was helpful), `[T][n]`.
    pub fn predicted_loo_change(&self, test: &Data) -> Result<Vec<Vec<f64>>> {
        let n = self.objective.num_train() as f64;
        Ok(self
            .up_loss(test)?
            .into_iter()
            .map(|r| r.into_iter().map(|v| -v / n).collect())
            .collect())
    }

    /// Relative influence (RelatIF, Barshan et al. 2020): `−I_up,loss(z_i, z_test) / √(∇ℓ(z_i)ᵀ
    /// H⁻¹ ∇ℓ(z_i))`, `[T][n]`, positive = helpful. Plain influence ranks the same few
    /// high-loss training examples first for almost every test point (their gradients are large);
    /// dividing by the square root of each example's self-influence asks which examples move the
    /// test loss *for the size of their effect on the model*. Examples with zero self-influence
    /// (zero gradient) score 0.
    pub fn relative_up_loss(&self, test: &Data) -> Result<Vec<Vec<f64>>> {
        let own = self.self_influence()?;
        Ok(self
            .up_loss(test)?
            .into_iter()
            .map(|row| {
                row.iter()
                    .zip(&own)
                    .map(|(v, s)| if *s > 0.0 { -v / s.sqrt() } else { 0.0 })
                    .collect()
            })
            .collect())
    }

    /// `I_up,params(z_i) = −H⁻¹ ∇ℓ(z_i)` for the training rows `idx`, `[k, p]`.
    pub fn up_params(&self, idx: &[usize]) -> Result<Tensor<2>> {
        let sub = self.objective.train().select(idx)?;
        let g = self.objective.per_example_grads(&self.theta, &sub, CHUNK)?;
        Ok(self.solver.solve(&g)?.neg())
    }

    /// Self-influence `∇ℓ(z_i)ᵀ H⁻¹ ∇ℓ(z_i)` of every training example (one solve each).
    pub fn self_influence(&self) -> Result<Vec<f64>> {
        let n = self.objective.num_train();
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(CHUNK) {
            let end = (start + CHUNK).min(n);
            let [_, p] = self.train_grads.dims();
            let g = self.train_grads.clone().slice([start..end, 0..p]);
            let s = self.solver.solve(&g)?;
            out.extend(to_f64((s * g).sum_dim(1))?);
        }
        Ok(out)
    }

    /// `I_pert,loss(z_i, z_test)` for one test row against the training rows `idx`: the gradient
    /// of the test-loss influence with respect to each training input, shaped like those inputs
    /// (`[k, ...]` flattened to rows).
    pub fn pert_loss(&self, test: &Data, idx: &[usize]) -> Result<Tensor<2>> {
        if test.len() != 1 {
            return Err(XaiError::Config(
                "pert_loss explains one test point at a time".into(),
            ));
        }
        let s = row(&self.s_test(test)?, 0);
        let sub = self.objective.train().select(idx)?;
        let params = self.objective.unflatten(&self.theta)?;
        let dir = self.objective.unflatten(&s)?;
        let obj = &self.objective;
        let g = obj.graph().param_direction_input_grad(
            &sub.x,
            Some(&params),
            &dir,
            obj.device(),
            obj.precision(),
            |o, t| {
                let z = o[0].clone().into_rows()?;
                let tz = t[0].clone().into_rows()?;
                Ok((obj.loss_logit_grad(z, &sub.y, 1)? * tz).sum().reshape([1]))
            },
        )?;
        Ok(g.into_rows()?.neg())
    }

    /// The `k` most helpful training examples for one test row (largest predicted loss increase
    /// when removed), best first.
    pub fn top_helpful(&self, test: &Data, k: usize) -> Result<Vec<Ranked>> {
        Ok(rank(&self.predicted_loo_change(test)?[0], k, true))
    }

    /// The `k` most harmful training examples for one test row (removing them lowers the test
    /// loss the most), worst first.
    pub fn top_harmful(&self, test: &Data, k: usize) -> Result<Vec<Ranked>> {
        Ok(rank(&self.predicted_loo_change(test)?[0], k, false))
    }
}

/// The top `k` entries of `scores`, largest first (`descending`) or smallest first.
pub fn rank(scores: &[f64], k: usize, descending: bool) -> Vec<Ranked> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        let o = scores[a].total_cmp(&scores[b]);
        if descending { o.reverse() } else { o }
    });
    idx.into_iter()
        .take(k)
        .map(|index| Ranked {
            index,
            score: scores[index],
        })
        .collect()
}
