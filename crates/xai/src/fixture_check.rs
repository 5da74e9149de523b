//! `xai fixture check`: run every supported method of a fixture and compare with its references.
//!
//! A method passes when `max |ours − expected| ≤ 1e-3 · max |expected| + 1e-5` (the fixtures'
//! stated tolerance for f32; on flex the check runs in f64, where errors are far smaller).

use burn::tensor::{DType, Device, Tensor};
use serde::Serialize;

use xai_core::fixture::{Fixture, FixtureModel, NdArray, tensor_from_f64};
use xai_core::{Result, Target, XaiError, tensor_to_vec_f64};
use xai_grad::engine::DynTensor;
use xai_grad::methods::Explainable;
use xai_grad::methods::grad_cam::{self, CamMode};
use xai_grad::methods::integrated_gradients::{IgConfig, Quadrature};
use xai_grad::methods::lrp::{Composite, LrpRule};
use xai_grad::{CapturedGraph, Precision};

use crate::registry::{self, MethodConfig, Model, Problem};
use xai_core::agnostic::{self as ag, References, RunOptions};
use xai_core::fixture::Expected;

/// The outcome of one method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Within the bound.
    Pass,
    /// Outside the bound.
    Fail,
    /// Not implemented yet.
    Unsupported,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct CheckLine {
    /// The method key, e.g. `saliency` or `second_order/hvp[0]`.
    pub key: String,
    /// PASS, FAIL or UNSUPPORTED.
    pub status: Status,
    /// Largest absolute difference (NaN when unsupported).
    pub max_abs_err: f64,
    /// The tolerance used.
    pub bound: f64,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unsupported => "UNSUPPORTED",
        };
        write!(
            f,
            "{} {} max_abs_err={:.3e} bound={:.3e}",
            self.key, s, self.max_abs_err, self.bound
        )
    }
}

/// The fixtures' tolerance for a set of reference values.
pub fn bound_for(expected: &[f64]) -> f64 {
    1e-3 * expected.iter().fold(0.0f64, |m, v| m.max(v.abs())) + 1e-5
}

/// Compare and produce a line.
pub fn compare(key: &str, ours: &[f64], expected: &[f64]) -> CheckLine {
    let bound = bound_for(expected);
    let max_abs_err = if ours.len() != expected.len() {
        f64::INFINITY
    } else {
        ours.iter()
            .zip(expected)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
    };
    let status = if max_abs_err <= bound {
        Status::Pass
    } else {
        Status::Fail
    };
    CheckLine {
        key: key.to_string(),
        status,
        max_abs_err,
        bound,
    }
}

/// The precision a device supports for the check: f64 on flex, f32 elsewhere.
pub fn precision_for(device_name: &str) -> Precision {
    if device_name == "flex" {
        Precision::F64
    } else {
        Precision::F32
    }
}

/// The burn dtype a check in precision `p` runs in.
pub fn dtype(p: Precision) -> DType {
    match p {
        Precision::F64 => DType::F64,
        Precision::F32 => DType::F32,
    }
}

/// Run every method in the fixture's `expected` (and its second-order block).
pub fn check_fixture(
    fx: &Fixture,
    device: &Device,
    precision: Precision,
) -> Result<Vec<CheckLine>> {
    if xai_influence::fixture::is_logreg_fixture(&fx.raw) {
        return check_influence(fx, device, precision);
    }
    let dt = dtype(precision);
    let model = fx.model(device, dt)?;
    model.validate()?;
    let mut lines = Vec::new();
    if let Some(logits) = &fx.logits {
        let ours = tensor_to_vec_f64(model.forward(fx.inputs_flat(device, dt)))?;
        lines.push(compare("logits", &ours, &logits.data));
    }
    let ex = Explainable::new(
        model.clone(),
        |m: &FixtureModel, x: Tensor<2>| m.forward(x),
        device.clone(),
    )
    .with_precision(precision);
    lines.extend(check_expected(fx, &ex, device, precision)?);
    if let Some(so) = &fx.second_order {
        lines.extend(second_order(&model, fx, so, device, precision)?);
    }
    Ok(lines)
}

/// Run every key of `fx.expected` on `ex` (a model over flat `[N, features]` inputs) and compare.
pub(crate) fn check_expected(
    fx: &Fixture,
    ex: &Explainable<2>,
    device: &Device,
    precision: Precision,
) -> Result<Vec<CheckLine>> {
    let dt = dtype(precision);
    let mut lines = Vec::new();
    let targets = fx.targets.clone().map(Target::Classes);
    let x = fx.inputs_flat(device, dt);
    let f = fx.features();
    let black_box = ex.black_box(&[f], dt)?;
    let rows = fx.inputs.data.clone();
    let reference_rows = fx
        .baselines
        .as_ref()
        .map_or_else(|| vec![0.0; rows.len()], |b| b.data.clone());
    let baseline = fx.baselines_flat(device, dt);
    let references = References::PerInput(reference_rows);
    for (key, exp) in &fx.expected {
        let Some(t) = &targets else {
            lines.push(unsupported(key, exp));
            continue;
        };
        let ours = if let Some(config) = registry_config(key, exp, fx)? {
            // Occlusion fills its windows with the constant the peer used.
            let occluded;
            let references = match exp.settings.get("baseline").and_then(|v| v.as_f64()) {
                Some(b) if key == "occlusion" => {
                    occluded = References::PerInput(vec![b; rows.len()]);
                    &occluded
                }
                _ => &references,
            };
            let problem = Problem {
                model: Model::Burn(ex),
                black_box: &black_box,
                x: &x,
                rows: &rows,
                baseline: &baseline,
                references,
                lime_stats: None,
                target: t,
                input_shape: &fx.input_shape,
                conv_layer: None,
            };
            Some(registry::run(&config, &problem)?.values)
        } else {
            layer_map(key, exp, fx, ex, &x, t)?
        };
        lines.push(match ours {
            Some(v) => compare(key, &v, &exp.values.data),
            None => unsupported(key, exp),
        });
    }
    Ok(lines)
}

/// The registry method and settings that reproduce fixture key `key` (the peers' settings are
/// in `exp.settings`); `None` for keys that are not input attributions (layer maps) or that the
/// project does not know.
fn registry_config(key: &str, exp: &Expected, fx: &Fixture) -> Result<Option<MethodConfig>> {
    let run = RunOptions {
        progress: false,
        ..RunOptions::default()
    };
    let sizes = |name: &str| -> Result<Vec<usize>> {
        exp.settings
            .get(name)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as usize)
                    .collect()
            })
            .ok_or_else(|| XaiError::Config(format!("{key}: missing `{name}`")))
    };
    let lrp = |rule| MethodConfig::Lrp(Composite::uniform(rule));
    Ok(Some(match key {
        "saliency" => MethodConfig::Saliency,
        "input_x_gradient" => MethodConfig::InputXGradient,
        "guided_backprop" => MethodConfig::GuidedBackprop,
        "deconvolution" => MethodConfig::Deconvolution,
        "lrp/epsilon" => lrp(LrpRule::Epsilon(1e-6)),
        "lrp/zplus" => lrp(LrpRule::ZPlus),
        "lrp/alpha2beta1" => lrp(LrpRule::AlphaBeta {
            alpha: 2.0,
            beta: 1.0,
        }),
        "deeplift_rescale" => MethodConfig::Deeplift,
        k if k.starts_with("integrated_gradients/") => {
            let method = Quadrature::parse(&k["integrated_gradients/".len()..])?;
            let n_steps = exp
                .settings
                .get("n_steps")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| XaiError::Config(format!("{key}: missing `n_steps`")))?;
            MethodConfig::IntegratedGradients(IgConfig {
                n_steps: n_steps as usize,
                method,
                ..IgConfig::default()
            })
        }
        "feature_ablation" => {
            MethodConfig::FeatureAblation(ag::FeatureAblation { groups: None, run })
        }
        "shapley_exact" | "shapley_captum_exact" => MethodConfig::ShapleyExact(run),
        "occlusion" => MethodConfig::Occlusion(ag::Occlusion {
            shape: fx.input_shape.clone(),
            window: sizes("window")?,
            strides: sizes("strides")?,
            run,
        }),
        _ => return Ok(None),
    }))
}

/// Grad-CAM maps at a layer's resolution (or upsampled, or guided): not input attributions, so
/// not registry methods; `None` for a key the project does not know.
fn layer_map(
    key: &str,
    exp: &Expected,
    fx: &Fixture,
    ex: &Explainable<2>,
    x: &Tensor<2>,
    t: &Target,
) -> Result<Option<Vec<f64>>> {
    if !matches!(key, "grad_cam" | "grad_cam_upsampled" | "guided_grad_cam") {
        return Ok(None);
    }
    let li = exp
        .settings
        .get("layer_index")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| XaiError::Config(format!("{key}: missing layer_index")))?;
    let layer = format!("layers.{li}");
    let chw = image_shape(fx)?;
    if key == "guided_grad_cam" {
        return Ok(Some(grad_cam::guided_grad_cam(ex, x, t, &layer, chw)?));
    }
    let cam = grad_cam::grad_cam(ex, x, t, &layer, CamMode::GradCam)?;
    let cam = if key == "grad_cam" {
        cam
    } else {
        cam.upsample_bilinear(chw[1], chw[2])
    };
    Ok(Some(cam.values))
}

fn image_shape(fx: &Fixture) -> Result<[usize; 3]> {
    match fx.input_shape.as_slice() {
        &[c, h, w] => Ok([c, h, w]),
        other => Err(XaiError::shape("image input", "[C, H, W]", other)),
    }
}

pub(crate) fn unsupported(key: &str, exp: &xai_core::fixture::Expected) -> CheckLine {
    CheckLine {
        key: key.to_string(),
        status: Status::Unsupported,
        max_abs_err: f64::NAN,
        bound: bound_for(&exp.values.data),
    }
}

/// Mean softmax cross-entropy of `logits` `[N, C]` against one-hot labels, as a 1-element tensor.
pub fn mean_cross_entropy(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let [n, c] = logits.dims();
    let onehot = xai_core::one_hot(labels, c, &logits.device()).cast(logits.dtype());
    let ll = burn::tensor::activation::log_softmax(logits, 1) * onehot;
    ll.sum().neg().div_scalar(n as f64).reshape([1])
}

fn second_order(
    model: &FixtureModel,
    fx: &Fixture,
    so: &xai_core::fixture::SecondOrder,
    device: &Device,
    precision: Precision,
) -> Result<Vec<CheckLine>> {
    let dt = dtype(precision);
    let mut lines = Vec::new();
    let (m, f) = so.inputs.as_rows();
    if so.labels.len() != m {
        return Err(XaiError::shape(
            "second_order labels",
            format!("{m} entries"),
            &[so.labels.len()],
        ));
    }
    let x: Tensor<2> = tensor_from_f64(&so.inputs.data, vec![m, f], device, dt);
    let labels = so.labels.clone();
    let loss_graph = CapturedGraph::capture(model, x.clone(), move |m, x| {
        mean_cross_entropy(m.forward(x), &labels)
    })?;
    let params = loss_graph.params();
    for (k, (dir, hv)) in so.directions.iter().zip(&so.hvp).enumerate() {
        // Fixture directions are in PyTorch layout; burn's Linear weights are transposed.
        let v = dir
            .iter()
            .zip(params)
            .map(|(a, p)| torch_to_burn(a, &p.shape, device, dt))
            .collect::<Result<Vec<_>>>()?;
        let hvp = loss_graph.hvp_params(
            &[DynTensor::from_tensor(x.clone())],
            &v,
            device,
            precision,
            |_, tangents| tangents[0].clone().into_tensor::<1>(),
        )?;
        let mut ours = Vec::new();
        for (h, (p, e)) in hvp.iter().zip(params.iter().zip(hv)) {
            ours.extend(burn_to_torch(h, &p.shape, &e.shape)?);
        }
        let expected: Vec<f64> = hv.iter().flat_map(|a| a.data.iter().copied()).collect();
        lines.push(compare(&format!("second_order/hvp[{k}]"), &ours, &expected));
    }
    if let (Some(h), Some(targets)) = (&so.input_hessian, &fx.targets) {
        let logit_graph = CapturedGraph::capture(
            model,
            fx.inputs_flat(device, dt).narrow(0, 0, 1).repeat_dim(0, f),
            |m, x| m.forward(x),
        )?;
        let ours = input_hessian(
            &logit_graph,
            fx.inputs_flat(device, dt),
            targets[0],
            device,
            precision,
        )?;
        lines.push(compare(
            "second_order/input_hessian_of_first_target_logit",
            &ours,
            &h.data,
        ));
    }
    Ok(lines)
}

/// Full input Hessian of logit `class` at the first row of `x` (`[1.., F]`): one batched pass with
/// the identity as the batch of directions.
pub(crate) fn input_hessian(
    g: &CapturedGraph,
    x: Tensor<2>,
    class: usize,
    device: &Device,
    precision: Precision,
) -> Result<Vec<f64>> {
    let f = x.dims()[1];
    let x0 = x.narrow(0, 0, 1).repeat_dim(0, f);
    let eye: Tensor<2> = Tensor::<2>::eye(f, device).cast(x0.dtype());
    let h = g.hvp_input(
        &DynTensor::from_tensor(x0),
        &DynTensor::from_tensor(eye),
        device,
        precision,
        |_, t| {
            let t = t.into_rows()?;
            let c = t.dims()[1];
            let mask = xai_core::one_hot(&vec![class; f], c, &t.device()).cast(t.dtype());
            Ok((t * mask).sum_dim(1).squeeze_dim(1))
        },
    )?;
    h.to_vec_f64()
}

/// A PyTorch-layout parameter as a burn-layout tensor (Linear weights `[out, in]` become `[in, out]`).
fn torch_to_burn(
    a: &NdArray,
    burn_shape: &[usize],
    device: &Device,
    dt: DType,
) -> Result<DynTensor> {
    let t = match a.shape.len() {
        1 => DynTensor::from_tensor::<1>(tensor_from_f64(&a.data, a.shape.clone(), device, dt)),
        2 => DynTensor::from_tensor(
            tensor_from_f64::<2>(&a.data, a.shape.clone(), device, dt).transpose(),
        ),
        4 => DynTensor::from_tensor::<4>(tensor_from_f64(&a.data, a.shape.clone(), device, dt)),
        _ => {
            return Err(XaiError::shape(
                "fixture parameter",
                "rank 1, 2 or 4",
                &a.shape,
            ));
        }
    };
    if t.shape() != burn_shape {
        return Err(XaiError::shape(
            "fixture direction",
            format!("{burn_shape:?} after layout change"),
            &t.shape(),
        ));
    }
    Ok(t)
}

fn burn_to_torch(h: &DynTensor, burn_shape: &[usize], torch_shape: &[usize]) -> Result<Vec<f64>> {
    if burn_shape.len() == 2 {
        let t = h.clone().into_tensor::<2>()?.transpose();
        if t.dims().to_vec() != torch_shape {
            return Err(XaiError::shape(
                "hvp block",
                format!("{torch_shape:?}"),
                &t.dims(),
            ));
        }
        tensor_to_vec_f64(t)
    } else {
        h.to_vec_f64()
    }
}

/// The influence fixture: `influence_up_loss` with the exact and the CG solver, and
/// `loo_test_loss_change` by warm-started retraining (every training point), plus the
/// per-test-point Pearson correlation of predicted and actual LOO (must be ≥ 0.99).
fn check_influence(fx: &Fixture, device: &Device, precision: Precision) -> Result<Vec<CheckLine>> {
    use xai_influence::eval::{TrainOptions, loo_test_loss_change, pearson};
    use xai_influence::{Influence, Solver};
    let lf = xai_influence::fixture::load_logreg_fixture(&fx.raw, device, precision)?;
    let theta = lf.objective.theta();
    let flat = |m: &[Vec<f64>]| m.iter().flatten().copied().collect::<Vec<f64>>();
    let mut lines = Vec::new();
    let mut exact: Option<Influence> = None;
    for (label, solver) in [("exact", Solver::exact(0.0)), ("cg", Solver::cg(0.0, 100))] {
        let inf = Influence::new(&lf.objective, &theta, &solver)?;
        let ours = inf.up_loss(&lf.test)?;
        lines.push(compare(
            &format!("influence_up_loss[{label}]"),
            &flat(&ours),
            &flat(&lf.up_loss),
        ));
        if label == "exact" {
            exact = Some(inf);
        }
    }
    let n = lf.objective.num_train();
    let all: Vec<usize> = (0..n).collect();
    let opts = TrainOptions {
        grad_tol: if precision == Precision::F64 {
            1e-10
        } else {
            1e-5
        },
        ..Default::default()
    };
    let loo = loo_test_loss_change(
        &lf.objective,
        &theta,
        &lf.test,
        &all,
        exact.as_ref().map(Influence::solver),
        &opts,
    )?;
    lines.push(compare("loo_test_loss_change", &flat(&loo), &flat(&lf.loo)));
    if let Some(inf) = &exact {
        let pred = inf.predicted_loo_change(&lf.test)?;
        let worst = pred
            .iter()
            .zip(&lf.loo)
            .map(|(p, a)| pearson(p, a))
            .fold(f64::INFINITY, f64::min);
        // Reported as 1 − r against the 0.01 bound, so PASS means r ≥ 0.99 on every test point.
        lines.push(CheckLine {
            key: "predicted_vs_loo_pearson_min".into(),
            status: if worst >= 0.99 {
                Status::Pass
            } else {
                Status::Fail
            },
            max_abs_err: 1.0 - worst,
            bound: 0.01,
        });
    }
    Ok(lines)
}
