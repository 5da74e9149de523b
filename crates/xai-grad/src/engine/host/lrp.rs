//! Layer-wise relevance propagation on a compiled plan: the same rules as the rule engine
//! (`methods::lrp`), run by the host kernels.
//!
//! Relevance starts as the one-hot of each row's target at the output and flows back step by
//! step: activations pass it unchanged, max-pooling routes it to the arg-max (its gradient), and a
//! layer with weights (conv2d, or a dense layer with the bias add that follows it) applies its
//! rule with `z` its output:
//!
//! * ε: `R_x = x ⊙ Wᵀ (R / stab_ε(z))`;
//! * z⁺: `R_x = x⁺ ⊙ W⁺ᵀ s + x⁻ ⊙ W⁻ᵀ s` with `s = R / stab(W⁺x⁺ + b⁺ + W⁻x⁻)`,
//!
//! where `stab_ε(z) = z + ε·(sign z + [z = 0])` (Zennit's stabiliser). The z⁺ branches are the
//! layer re-packed with clamped weights and run by the same conv / dense kernels. A plan with a
//! step outside these (residual sums, average pools, BatchNorm, scalar arithmetic) or a rule other
//! than ε and z⁺ is not compiled, and the method keeps the rule engine on burn.

use super::*;

/// A relevance rule the host runs at a layer with weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostLrpRule {
    /// LRP-ε.
    Epsilon(f32),
    /// LRP-z⁺ (stabiliser 1e-6).
    ZPlus,
}

/// The rules of a composite: dense layers, convolutions, and the first layer with weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostLrpRules {
    /// Dense (matmul) layers.
    pub dense: HostLrpRule,
    /// Convolutions.
    pub conv: HostLrpRule,
    /// The first layer with weights, when it differs.
    pub first: Option<HostLrpRule>,
}

/// Zennit's stabiliser of the rules other than ε.
const STAB: f32 = 1e-6;

/// What one step does with the relevance of its output.
#[derive(Clone, Debug)]
enum Relevance {
    /// Passes it to its input unchanged (activations).
    Pass,
    /// Routes it as the gradient does (max-pooling).
    Route,
    /// The bias add closing a dense layer: passes it on; the layer reads `z` here.
    Bias,
    /// A layer with weights under `rule`; `z_slot` holds its output `z` (after the bias add for
    /// a dense layer), `bias` the dense layer's bias; `plus` / `minus` the z⁺ branches.
    Layer {
        rule: HostLrpRule,
        z_slot: usize,
        bias: Option<Vec<f32>>,
        branches: Option<Box<(Step, Step)>>,
    },
}

/// A [`HostPlan`] with a relevance rule for every step.
pub struct LrpPlan<'p> {
    plan: &'p HostPlan,
    per_step: Vec<Relevance>,
}

impl<'p> LrpPlan<'p> {
    /// Compile the relevance pass of `plan` under `rules`; `None` when a step has no host rule.
    pub fn new(plan: &'p HostPlan, rules: HostLrpRules) -> Option<LrpPlan<'p>> {
        let steps = &plan.steps;
        let readers = |slot: usize| steps.iter().filter(|s| s.reads(slot)).count();
        let mut per_step = Vec::with_capacity(steps.len());
        let mut weighted = 0usize;
        let mut closes_dense = vec![false; steps.len()];
        for (k, step) in steps.iter().enumerate() {
            let mut rule_for = |kind: HostLrpRule| {
                let r = match (weighted, rules.first) {
                    (0, Some(first)) => first,
                    _ => kind,
                };
                weighted += 1;
                r
            };
            let r = match step {
                Step::Relu { .. } | Step::Act { .. } => Relevance::Pass,
                Step::MaxPool { .. } => Relevance::Route,
                Step::Affine { .. } if closes_dense[k] => Relevance::Bias,
                Step::Conv {
                    x,
                    out,
                    win,
                    co,
                    bias,
                    bwd,
                    w,
                    ..
                } => {
                    let rule = rule_for(rules.conv);
                    let branches = (rule == HostLrpRule::ZPlus).then(|| {
                        let shape = [*co, win.c, win.kh, win.kw];
                        let part = |keep: fn(f32) -> f32, with_bias: bool| {
                            let b = if with_bias {
                                bias[..*co].iter().map(|&v| v.max(0.0)).collect()
                            } else {
                                vec![0.0; *co]
                            };
                            let wm = w.iter().map(|&v| keep(v)).collect();
                            compile::conv_step(*x, *out, *win, wm, b, shape, bwd.is_some())
                        };
                        Box::new((part(|v| v.max(0.0), true), part(|v| v.min(0.0), false)))
                    });
                    Relevance::Layer {
                        rule,
                        z_slot: *out,
                        bias: None,
                        branches,
                    }
                }
                Step::Dense {
                    x,
                    out,
                    inputs,
                    fwd,
                    ..
                } => {
                    let rule = rule_for(rules.dense);
                    // The bias add right after, if it reads only this layer's output.
                    let bias_step =
                        steps
                            .iter()
                            .enumerate()
                            .skip(k + 1)
                            .find_map(|(j, s)| match s {
                                Step::Affine {
                                    x: a,
                                    scale: None,
                                    shift: Some(shift),
                                    ..
                                } if *a == *out && readers(*out) == 1 => Some((j, shift.clone())),
                                _ => None,
                            });
                    let (z_slot, bias) = match &bias_step {
                        Some((j, shift)) => {
                            closes_dense[*j] = true;
                            (steps[*j].out(), Some(shift.clone()))
                        }
                        None => (*out, None),
                    };
                    let branches = (rule == HostLrpRule::ZPlus).then(|| {
                        let outputs = fwd.cols;
                        let part = |keep: fn(f32) -> f32| {
                            let at = |r: usize, c: usize| keep(fwd.data[r * fwd.stride + c]);
                            Step::Dense {
                                x: *x,
                                out: *out,
                                inputs: *inputs,
                                fwd: Packed::new(*inputs, outputs, at),
                                bwd: Packed::new(outputs, *inputs, |r, c| at(c, r)),
                            }
                        };
                        Box::new((part(|v| v.max(0.0)), part(|v| v.min(0.0))))
                    });
                    Relevance::Layer {
                        rule,
                        z_slot,
                        bias,
                        branches,
                    }
                }
                Step::Affine { .. } | Step::AvgPool { .. } | Step::Add { .. } => return None,
            };
            per_step.push(r);
        }
        Some(LrpPlan { plan, per_step })
    }

    /// The relevance of every input value for each row's class in `classes`, for the rows of
    /// `x` (row-major, [`HostPlan::row_len`] values each).
    pub fn relevance(&self, x: &[f32], classes: &[usize]) -> Result<Vec<f32>> {
        let plan = self.plan;
        plan.check_rows(x, classes)?;
        let parts = plan.batched(x, |r, xb, sc| {
            let b = r.len();
            plan.run_forward(xb, b, sc);
            sc.cots[plan.output] = plan.one_hot_seed(&classes[r.clone()], sc);
            sc.live[plan.output] = true;
            let mut aux = sc.aux.take().unwrap_or_default();
            for (si, step) in plan.steps.iter().enumerate().rev() {
                self.step_back(si, step, b, sc, &mut aux);
            }
            sc.aux = Some(aux);
            if sc.live[plan.input] {
                std::mem::take(&mut sc.cots[plan.input])
            } else {
                vec![0.0; b * plan.row_len()]
            }
        })?;
        Ok(parts.concat())
    }

    /// Propagate the relevance at step `si`'s output to its input.
    fn step_back(&self, si: usize, step: &Step, b: usize, sc: &mut Scratch, aux: &mut Scratch) {
        let plan = self.plan;
        let out = step.out();
        if !sc.live[out] {
            return;
        }
        match &self.per_step[si] {
            Relevance::Route => plan.backward(step, si, b, sc),
            Relevance::Pass | Relevance::Bias => {
                let Some(x) = step.input() else { return };
                sc.live[out] = false;
                let r = std::mem::take(&mut sc.cots[out]);
                HostPlan::add_into(sc, x, r.iter().copied());
                sc.cots[out] = r;
            }
            Relevance::Layer {
                rule,
                z_slot,
                bias,
                branches,
            } => {
                let Some(x) = step.input() else { return };
                sc.live[out] = false;
                let r = std::mem::take(&mut sc.cots[out]);
                let n = plan.sizes.len();
                aux.vals.resize_with(n, Vec::new);
                aux.cots.resize_with(n, Vec::new);
                aux.live.clear();
                aux.live.resize(n, false);
                let xs = &sc.vals[x];
                let rel: Vec<f32> = match (rule, branches.as_deref()) {
                    (HostLrpRule::ZPlus, Some((plus, minus))) => {
                        let pos: Vec<f32> = xs.iter().map(|&v| v.max(0.0)).collect();
                        let neg: Vec<f32> = xs.iter().map(|&v| v.min(0.0)).collect();
                        // z⁺ = W⁺x⁺ + b⁺ + W⁻x⁻ (the conv branches carry their biases).
                        let mut z = self.branch_forward(plus, si, b, aux, x, pos.clone());
                        if let Some(shift) = bias {
                            for zr in z.chunks_exact_mut(shift.len()) {
                                for (o, &c) in zr.iter_mut().zip(shift) {
                                    *o += c.max(0.0);
                                }
                            }
                        }
                        let skip_neg = neg.iter().all(|&v| v == 0.0);
                        if !skip_neg {
                            let z2 = self.branch_forward(minus, si, b, aux, x, neg.clone());
                            for (o, v) in z.iter_mut().zip(z2) {
                                *o += v;
                            }
                        }
                        let s: Vec<f32> =
                            r.iter().zip(&z).map(|(&r, &z)| r / stab(z, STAB)).collect();
                        let gp = self.branch_backward(plus, si, b, aux, x, s.clone());
                        let mut rel: Vec<f32> = pos.iter().zip(&gp).map(|(a, g)| a * g).collect();
                        if !skip_neg {
                            let gn = self.branch_backward(minus, si, b, aux, x, s);
                            for ((o, a), g) in rel.iter_mut().zip(&neg).zip(gn) {
                                *o += a * g;
                            }
                        }
                        rel
                    }
                    _ => {
                        let eps = match rule {
                            HostLrpRule::Epsilon(e) => *e,
                            HostLrpRule::ZPlus => STAB,
                        };
                        let z = &sc.vals[*z_slot];
                        let s: Vec<f32> =
                            r.iter().zip(z).map(|(&r, &z)| r / stab(z, eps)).collect();
                        let g = self.branch_backward(step, si, b, aux, x, s);
                        xs.iter().zip(&g).map(|(a, g)| a * g).collect()
                    }
                };
                HostPlan::add_into(sc, x, rel.into_iter());
                sc.cots[out] = r;
            }
        }
    }

    /// `step`'s forward on input values `input` (in the scratch `aux`), returning its output.
    fn branch_forward(
        &self,
        step: &Step,
        si: usize,
        b: usize,
        aux: &mut Scratch,
        x: usize,
        input: Vec<f32>,
    ) -> Vec<f32> {
        aux.vals[x] = input;
        self.plan.forward(step, si, b, aux);
        std::mem::take(&mut aux.vals[step.out()])
    }

    /// `step`'s input gradient (a VJP with cotangent `cot`), computed in the scratch `aux`.
    fn branch_backward(
        &self,
        step: &Step,
        si: usize,
        b: usize,
        aux: &mut Scratch,
        x: usize,
        cot: Vec<f32>,
    ) -> Vec<f32> {
        let out = step.out();
        aux.cots[out] = cot;
        aux.live[out] = true;
        aux.live[x] = false;
        self.plan.backward(step, si, b, aux);
        aux.live[x] = false;
        std::mem::take(&mut aux.cots[x])
    }
}

/// Zennit's stabiliser `z + ε·(sign z + [z = 0])`.
fn stab(z: f32, eps: f32) -> f32 {
    if z < 0.0 { z - eps } else { z + eps }
}
