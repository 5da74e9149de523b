//! DeepLIFT's rescale rule on a compiled plan: the multipliers the rule engine computes with
//! `methods::deeplift::Rescale`, run by the host kernels.
//!
//! One forward pass on the input rows and one on the reference rows give every step its values
//! and reference values. The reverse pass is the gradient's, except at activations (ReLU, leaky
//! ReLU, tanh, sigmoid), where the cotangent is multiplied by `Δy / Δx` instead of the derivative
//! (the derivative where `|Δx| < 1e-10`, Captum's threshold). Max-pooling passes its gradient at
//! the input's arg-max, as the rule engine's default `MaxPoolMode::Gradient` does.

use super::*;

/// Captum's threshold below which `Δx` counts as zero.
const EPS: f32 = 1e-10;

/// What one DeepLIFT pass gives: the multipliers and the outputs at the input and the reference.
#[derive(Clone, Debug)]
pub struct DeepLiftPass {
    /// Multipliers, shaped as the start rows: the attribution is `(x − reference) ⊙` these.
    pub multipliers: Vec<f32>,
    /// The model's outputs `[rows, classes]` at the input.
    pub outputs: Vec<f32>,
    /// The model's outputs at the reference.
    pub reference_outputs: Vec<f32>,
}

impl HostPlan {
    /// DeepLIFT (rescale) multipliers of `Σ_r out[r, classes[r]]` with respect to the start rows
    /// `x` against `reference` (same layout), with the outputs of both passes.
    pub fn deeplift(
        &self,
        x: &[f32],
        reference: &[f32],
        classes: &[usize],
    ) -> Result<DeepLiftPass> {
        self.check_rows(x, classes)?;
        if reference.len() != x.len() {
            return Err(XaiError::shape(
                "host kernel reference",
                format!("{} values, as the input", x.len()),
                &[reference.len()],
            ));
        }
        let p = self.row_len();
        let parts = self.batched(x, |r, xb, sc| {
            let b = r.len();
            let mut aux = sc.aux.take().unwrap_or_default();
            self.run_forward(reference[r.start * p..r.end * p].to_vec(), b, &mut aux);
            self.run_forward(xb, b, sc);
            sc.cots[self.output] = self.one_hot_seed(&classes[r.clone()], sc);
            sc.live[self.output] = true;
            for (si, step) in self.steps.iter().enumerate().rev() {
                match step {
                    Step::Relu { x, out } => self.rescale(*x, *out, None, sc, &aux),
                    Step::Act { x, out, act } => self.rescale(*x, *out, Some(*act), sc, &aux),
                    _ => self.backward(step, si, b, sc),
                }
            }
            let multipliers = if sc.live[self.input] {
                std::mem::take(&mut sc.cots[self.input])
            } else {
                vec![0.0; b * p]
            };
            let outputs = (sc.vals[self.output].clone(), aux.vals[self.output].clone());
            sc.aux = Some(aux);
            (multipliers, outputs)
        })?;
        let mut pass = DeepLiftPass {
            multipliers: Vec::with_capacity(x.len()),
            outputs: Vec::new(),
            reference_outputs: Vec::new(),
        };
        for (m, (o, r)) in parts {
            pass.multipliers.extend(m);
            pass.outputs.extend(o);
            pass.reference_outputs.extend(r);
        }
        Ok(pass)
    }

    /// The rescale rule at an activation `out = f(x)` (`act: None` is ReLU): `g · Δy/Δx`, or
    /// `g · f'(x)` where `|Δx| < 1e-10`. `reference` holds the reference pass's values.
    fn rescale(
        &self,
        x: usize,
        out: usize,
        act: Option<Act>,
        sc: &mut Scratch,
        reference: &Scratch,
    ) {
        if !sc.live[out] {
            return;
        }
        sc.live[out] = false;
        let g = std::mem::take(&mut sc.cots[out]);
        let (xv, yv) = (&sc.vals[x], &sc.vals[out]);
        let (xr, yr) = (&reference.vals[x], &reference.vals[out]);
        let m: Vec<f32> = (0..g.len())
            .map(|i| {
                let dx = xv[i] - xr[i];
                let slope = if dx.abs() < EPS {
                    match act {
                        None => f32::from(u8::from(xv[i] > 0.0)),
                        Some(a) => a.slope(xv[i], yv[i]),
                    }
                } else {
                    (yv[i] - yr[i]) / dx
                };
                g[i] * slope
            })
            .collect();
        Self::add_into(sc, x, m.into_iter());
        sc.cots[out] = g;
    }
}
