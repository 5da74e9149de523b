//! The elastic-net search behind the contrastive explanation method ([`super::cem`]) and
//! prototype-guided counterfactuals ([`super::prototype_counterfactual`]).
//!
//! Both minimise, per row, over a point `v` in a box `[lower, upper]`,
//!
//! `c · hinge(v) + β‖v − o‖₁ + ‖v − o‖₂² + γ‖v − AE(v)‖₂² + θ‖ENC(v) − p‖₂²`
//!
//! with `o` the origin the change is measured from, `hinge` the class loss of the goal (a class
//! must win, or must lose, by the margin `κ`), an optional autoencoder term and an optional
//! prototype term. The search is FISTA (Beck & Teboulle 2009) as Dhurandhar et al. run it: a
//! gradient step on the smooth part at the momentum point, soft-thresholding by `lr · β` around
//! `o`, projection onto the box, momentum `k / (k + 3)`, and the step size decaying as
//! `lr₀ (1 − k/K)^½`. An outer bisection on `c` per row (×10 while no valid point was met)
//! looks for the smallest class weight that still reaches the goal; each row returns its valid
//! iterate with the smallest elastic-net distance `β‖v − o‖₁ + ‖v − o‖₂²`. All rows run as one
//! batch: every iteration is one batched forward-and-backward pass at the momentum points and
//! one forward pass at the iterates.

use burn::tensor::Tensor;

use super::Explainable;
use xai_core::{Result, XaiError};

/// `c` above this has never been met with a valid point: the bisection multiplies it by 10.
const C_UNBOUNDED: f64 = 1e10;

/// What the class loss asks of each row's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// The row's class must beat every other logit by more than `κ`.
    Win,
    /// Some other logit must beat the row's class by more than `κ`.
    Lose,
}

/// The search problem, all per-row values flat `[N · F]`.
pub(crate) struct Problem<'a, const D: usize> {
    pub model: &'a Explainable<D>,
    /// Shape, device and dtype of the search points.
    pub like: &'a Tensor<D>,
    /// The point each row's change is measured from (and where the search starts).
    pub origin: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub goal: Goal,
    /// The class of each row the goal is about.
    pub classes: Vec<usize>,
    pub kappa: f64,
    pub beta: f64,
    /// `(autoencoder, γ)`: the autoencoder's outputs are rows of `F` values.
    pub autoencoder: Option<(&'a Explainable<D>, f64)>,
    /// `(encoder, targets [N · E], θ)`; no encoder means the identity (`E = F`).
    pub prototype: Option<(Option<&'a Explainable<D>>, Vec<f64>, f64)>,
    pub c_init: f64,
    pub c_steps: usize,
    pub max_iterations: usize,
    pub learning_rate: f64,
}

/// Each row's best point.
pub(crate) struct Solution {
    /// The valid point with the smallest elastic-net distance, else the last iterate.
    pub points: Vec<f64>,
    pub found: Vec<bool>,
    /// The model's arg-max class at each point.
    pub predicted: Vec<usize>,
    /// `c` of the bisection step that found the point (the largest `c` tried where none was).
    pub c: Vec<f64>,
    /// `β‖v − o‖₁ + ‖v − o‖₂²` at the point.
    pub distance: Vec<f64>,
    /// Features of the point that differ from the origin.
    pub changed: Vec<usize>,
}

/// A per-feature setting: `default` for every feature when absent; its length and NaNs
/// checked.
pub(crate) fn per_feature(
    v: &Option<Vec<f64>>,
    what: &str,
    f: usize,
    default: f64,
) -> Result<Vec<f64>> {
    match v {
        None => Ok(vec![default; f]),
        Some(v) if v.len() != f => Err(XaiError::shape(what, format!("{f} features"), &[v.len()])),
        Some(v) if v.iter().any(|x| x.is_nan()) => {
            Err(XaiError::Config(format!("{what} contains NaN")))
        }
        Some(v) => Ok(v.clone()),
    }
}

/// Per-feature bounds and immutable features of a counterfactual search, validated.
pub(crate) struct Bounds {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub fixed: Vec<bool>,
}

impl Bounds {
    /// `lower`/`upper` (`None`: unbounded) and the flat indices of `immutable` features, for
    /// `f` features.
    pub fn new(
        lower: &Option<Vec<f64>>,
        upper: &Option<Vec<f64>>,
        immutable: &[usize],
        f: usize,
    ) -> Result<Bounds> {
        let lower = per_feature(lower, "lower bounds", f, f64::NEG_INFINITY)?;
        let upper = per_feature(upper, "upper bounds", f, f64::INFINITY)?;
        if let Some(i) = (0..f).find(|&i| lower[i] > upper[i]) {
            return Err(XaiError::Config(format!(
                "feature {i}: lower bound {} above upper bound {}",
                lower[i], upper[i]
            )));
        }
        let mut fixed = vec![false; f];
        for &i in immutable {
            *fixed.get_mut(i).ok_or_else(|| {
                XaiError::Config(format!("immutable feature {i} out of range ({f} features)"))
            })? = true;
        }
        Ok(Bounds {
            lower,
            upper,
            fixed,
        })
    }

    /// The box a search from the rows `x0` (flat, `f` per row) may move in: each value between
    /// its feature's bounds, or held at `x0` where the feature is immutable or `frozen(k)` holds
    /// for its flat index `k`.
    pub fn search_box(&self, x0: &[f64], frozen: impl Fn(usize) -> bool) -> (Vec<f64>, Vec<f64>) {
        let f = self.lower.len().max(1);
        x0.iter()
            .enumerate()
            .map(|(k, &v)| {
                let i = k % f;
                if self.fixed[i] || frozen(k) {
                    (v, v)
                } else {
                    (self.lower[i], self.upper[i])
                }
            })
            .unzip()
    }

    /// Every value of the rows `x` (flat, `f` per row) inside its feature's bounds.
    pub fn check_inside(&self, x: &[f64]) -> Result<()> {
        let f = self.lower.len().max(1);
        for (k, &v) in x.iter().enumerate() {
            let i = k % f;
            if v < self.lower[i] || v > self.upper[i] {
                return Err(XaiError::Config(format!(
                    "feature {i} of row {} is {v}, outside its bounds [{}, {}]",
                    k / f,
                    self.lower[i],
                    self.upper[i]
                )));
            }
        }
        Ok(())
    }
}

/// Validate the hyper-parameters shared by both methods.
pub(crate) fn check_settings(
    kappa: f64,
    beta: f64,
    c_init: f64,
    c_steps: usize,
    max_iterations: usize,
    learning_rate: f64,
) -> Result<()> {
    let fine = |v: f64| v.is_finite() && v >= 0.0;
    if !(fine(kappa) && fine(beta) && fine(c_init)) {
        return Err(XaiError::Config(format!(
            "κ {kappa}, β {beta} and c {c_init} must be finite and ≥ 0"
        )));
    }
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        return Err(XaiError::Config(format!(
            "learning rate {learning_rate} must be positive and finite"
        )));
    }
    if c_steps == 0 || max_iterations == 0 {
        return Err(XaiError::Config(
            "the search needs c_steps ≥ 1 and max_iterations ≥ 1".into(),
        ));
    }
    Ok(())
}

/// The largest logit other than `class`, as `(index, value)`.
pub(crate) fn runner_up(row: &[f64], class: usize) -> (usize, f64) {
    row.iter().enumerate().filter(|(i, _)| *i != class).fold(
        (usize::MAX, f64::NEG_INFINITY),
        |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        },
    )
}

/// How far the goal is from being met: `max_{j≠k} f_j − f_k` (win) or `f_k − max_{j≠k} f_j`
/// (lose), with the runner-up; met when below `−κ` (strictly: a tie is not met).
fn gap(row: &[f64], class: usize, goal: Goal) -> (f64, usize) {
    let (j, fj) = runner_up(row, class);
    if j == usize::MAX {
        // One output: nothing can beat it.
        return match goal {
            Goal::Win => (f64::NEG_INFINITY, class),
            Goal::Lose => (f64::INFINITY, class),
        };
    }
    match goal {
        Goal::Win => (fj - row[class], j),
        Goal::Lose => (row[class] - fj, j),
    }
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap_or(0)
}

impl<const D: usize> Problem<'_, D> {
    fn met(&self, row: &[f64], r: usize) -> bool {
        gap(row, self.classes[r], self.goal).0 < -self.kappa
    }

    fn elastic_net(&self, v: &[f64], r: usize, f: usize) -> f64 {
        let o = &self.origin[r * f..(r + 1) * f];
        v.iter()
            .zip(o)
            .map(|(a, b)| self.beta * (a - b).abs() + (a - b).powi(2))
            .sum()
    }

    /// The gradient of the smooth part at `y` (`c` per row), and the model's outputs there.
    fn smooth_gradient(&self, y: &[f64], c: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let n = c.len();
        let (out, mut grad) = self.model.outputs_and_vjp(self.like, y, |out| {
            let k = out.len() / n;
            let mut seed = vec![0.0; out.len()];
            for r in 0..n {
                let row = &out[r * k..(r + 1) * k];
                let (g, j) = gap(row, self.classes[r], self.goal);
                if g.is_finite() && g > -self.kappa {
                    // d gap = (e_j − e_class) for win, (e_class − e_j) for lose.
                    let sign = if self.goal == Goal::Win { 1.0 } else { -1.0 };
                    seed[r * k + j] += sign * c[r];
                    seed[r * k + self.classes[r]] -= sign * c[r];
                }
            }
            seed
        })?;
        for ((g, v), o) in grad.iter_mut().zip(y).zip(&self.origin) {
            *g += 2.0 * (v - o);
        }
        if let Some((ae, gamma)) = self.autoencoder {
            // ∇ γ‖v − AE(v)‖² = 2γ (r − J_AEᵀ r), r = v − AE(v).
            let (rec, jt) = ae.outputs_and_vjp(self.like, y, |rec| {
                rec.iter()
                    .zip(y)
                    .map(|(a, v)| 2.0 * gamma * (a - v))
                    .collect()
            })?;
            check_len(rec.len(), y.len(), "autoencoder outputs")?;
            for i in 0..grad.len() {
                grad[i] += 2.0 * gamma * (y[i] - rec[i]) + jt[i];
            }
        }
        if let Some((encoder, targets, theta)) = &self.prototype {
            // ∇ θ‖ENC(v) − p‖² = 2θ J_ENCᵀ (ENC(v) − p).
            match encoder {
                None => {
                    for i in 0..grad.len() {
                        grad[i] += 2.0 * theta * (y[i] - targets[i]);
                    }
                }
                Some(enc) => {
                    let (codes, jt) = enc.outputs_and_vjp(self.like, y, |codes| {
                        codes
                            .iter()
                            .zip(targets)
                            .map(|(e, p)| 2.0 * theta * (e - p))
                            .collect()
                    })?;
                    check_len(codes.len(), targets.len(), "encoder outputs")?;
                    for (g, j) in grad.iter_mut().zip(&jt) {
                        *g += j;
                    }
                }
            }
        }
        Ok((out, grad))
    }

    /// Run the search.
    pub fn solve(&self) -> Result<Solution> {
        let n = self.classes.len();
        let f = self.origin.len() / n.max(1);
        let mut best: Vec<Option<(f64, Vec<f64>)>> = vec![None; n];
        let mut c = vec![self.c_init; n];
        let mut c_found = vec![f64::NAN; n];
        let (mut lo, mut hi) = (vec![0.0f64; n], vec![C_UNBOUNDED; n]);
        // A row whose origin already meets the goal is answered by it (distance 0).
        let start = self.model.outputs_at(self.like, &self.origin)?;
        let k0 = start.len() / n.max(1);
        for r in 0..n {
            if self.met(&start[r * k0..(r + 1) * k0], r) {
                best[r] = Some((0.0, self.origin[r * f..(r + 1) * f].to_vec()));
                c_found[r] = 0.0;
            }
        }
        let mut v = self.origin.clone();
        for _ in 0..self.c_steps {
            let mut found_now = vec![false; n];
            v.clone_from(&self.origin);
            let mut y = v.clone();
            for k in 0..self.max_iterations {
                let lr = self.learning_rate * (1.0 - k as f64 / self.max_iterations as f64).sqrt();
                let (_, grad) = self.smooth_gradient(&y, &c)?;
                let mut next = vec![0.0; v.len()];
                for i in 0..v.len() {
                    let step = y[i] - lr * grad[i] - self.origin[i];
                    let shrunk = step.signum() * (step.abs() - lr * self.beta).max(0.0);
                    next[i] = (self.origin[i] + shrunk).clamp(self.lower[i], self.upper[i]);
                }
                let momentum = k as f64 / (k as f64 + 3.0);
                for i in 0..v.len() {
                    y[i] = next[i] + momentum * (next[i] - v[i]);
                }
                v = next;
                let out = self.model.outputs_at(self.like, &v)?;
                let classes = out.len() / n;
                for r in 0..n {
                    if !self.met(&out[r * classes..(r + 1) * classes], r) {
                        continue;
                    }
                    found_now[r] = true;
                    let row = &v[r * f..(r + 1) * f];
                    let d = self.elastic_net(row, r, f);
                    if best[r].as_ref().is_none_or(|(bd, _)| d < *bd) {
                        best[r] = Some((d, row.to_vec()));
                        c_found[r] = c[r];
                    }
                }
            }
            for r in 0..n {
                if found_now[r] {
                    hi[r] = hi[r].min(c[r]);
                    c[r] = (lo[r] + hi[r]) / 2.0;
                } else {
                    lo[r] = lo[r].max(c[r]);
                    c[r] = if hi[r] < C_UNBOUNDED {
                        (lo[r] + hi[r]) / 2.0
                    } else {
                        (c[r] * 10.0).max(1e-3)
                    };
                }
            }
        }
        let mut points = v;
        for (r, b) in best.iter().enumerate() {
            if let Some((_, row)) = b {
                points[r * f..(r + 1) * f].copy_from_slice(row);
            }
        }
        if points.iter().any(|p| !p.is_finite()) {
            return Err(XaiError::NonFinite("elastic-net search".into()));
        }
        let out = self.model.outputs_at(self.like, &points)?;
        if out.iter().any(|o| !o.is_finite()) {
            return Err(XaiError::NonFinite(
                "model output at the explanation".into(),
            ));
        }
        let k = out.len() / n.max(1);
        Ok(Solution {
            found: (0..n)
                .map(|r| self.met(&out[r * k..(r + 1) * k], r))
                .collect(),
            predicted: (0..n).map(|r| argmax(&out[r * k..(r + 1) * k])).collect(),
            c: (0..n)
                .map(|r| {
                    if c_found[r].is_nan() {
                        lo[r]
                    } else {
                        c_found[r]
                    }
                })
                .collect(),
            distance: (0..n)
                .map(|r| self.elastic_net(&points[r * f..(r + 1) * f], r, f))
                .collect(),
            changed: points
                .chunks(f.max(1))
                .zip(self.origin.chunks(f.max(1)))
                .map(|(p, o)| p.iter().zip(o).filter(|(a, b)| a != b).count())
                .collect(),
            points,
        })
    }
}

fn check_len(got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(XaiError::shape(what, format!("{want} values"), &[got]));
    }
    Ok(())
}
