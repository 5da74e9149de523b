//! `xai fixture check` on ONNX fixtures: the model file runs through [`xai_onnx::OnnxModel`] and
//! every key it supports is compared with the PyTorch/Captum references.
//!
//! A model with one float input is checked as a flat `[N, features]` model through the method
//! registry (saliency, input × gradient, IG) plus `input_hessian` (per input, the exact Hessian of
//! the target logit). A model whose inputs are all integers (token ids, attention mask) is
//! checked at the token-embedding lookup: `embedding_gradient_x_input` and
//! `layer_integrated_gradients/<quadrature>` (baseline: the fixture's `baseline_ids`, the mask
//! kept) and `attnlrp` (the AttnLRP rule set of `xai_grad::methods::attnlrp`).

use burn::tensor::{Device, Int, Tensor};

use xai_core::fixture::{Fixture, NdArray, tensor_from_f64};
use xai_core::{Result, Target, XaiError, tensor_to_vec_f64};
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::attnlrp::{TransformerRules, token_attnlrp};
use xai_grad::methods::integrated_gradients::{IgConfig, Quadrature};
use xai_grad::methods::text::{
    TokenExplainable, token_gradient_x_embedding, token_integrated_gradients,
};
use xai_onnx::fixture::OnnxFixture;
use xai_onnx::{OnnxModel, pack_ids};

use crate::fixture_check::{CheckLine, check_expected, compare, dtype, input_hessian, unsupported};

/// Check every reference of an ONNX fixture on `device` (its model read from `fx.onnx`).
pub fn check_onnx_fixture(
    fx: &OnnxFixture,
    device: &Device,
    precision: Precision,
) -> Result<Vec<CheckLine>> {
    let model = OnnxModel::load(&fx.onnx, device, dtype(precision))?;
    check_onnx_model(fx, model, device, precision)
}

/// Check every reference of an ONNX fixture on `model` (loaded in `precision`'s dtype).
pub fn check_onnx_model(
    fx: &OnnxFixture,
    model: OnnxModel,
    device: &Device,
    precision: Precision,
) -> Result<Vec<CheckLine>> {
    let dt = dtype(precision);
    if model.dtype() != dt {
        return Err(XaiError::Config(format!(
            "the model was loaded in {:?}; this check runs in {dt:?}",
            model.dtype()
        )));
    }
    if model.inputs().len() != fx.inputs.len() {
        return Err(XaiError::Config(format!(
            "{}: the fixture gives {} inputs, the model takes {}",
            fx.name,
            fx.inputs.len(),
            model.inputs().len()
        )));
    }
    if fx.inputs.iter().all(|i| !i.is_float) {
        return check_tokens(fx, model, device, precision);
    }
    let [input] = fx.inputs.as_slice() else {
        return Err(XaiError::Config(format!(
            "{}: models with several inputs are checked only when all are integers",
            fx.name
        )));
    };
    let (n, f) = input.values.as_rows();
    let flat = |a: &NdArray| NdArray {
        shape: vec![n, f],
        data: a.data.clone(),
    };
    let mut lines = Vec::new();
    let x: Tensor<2> = tensor_from_f64(&input.values.data, vec![n, f], device, dt);
    if let Some(logits) = &fx.logits {
        let ours = tensor_to_vec_f64(model.try_forward_flat(x.clone())?)?;
        lines.push(compare("logits", &ours, &logits.data));
    }
    let ex = Explainable::new(
        model,
        |m: &OnnxModel, x: Tensor<2>| m.forward_flat(x),
        device.clone(),
    )
    .with_precision(precision);
    // The registry path reads a layer-list fixture; give it the same data in that form.
    let mut expected = fx.expected.clone();
    let hessian = expected.remove("input_hessian");
    let as_fixture = Fixture {
        name: fx.name.clone(),
        input_shape: input.shape.clone(),
        layers: Vec::new(),
        inputs: flat(&input.values),
        baselines: input.baseline.as_ref().map(flat),
        targets: Some(fx.targets.clone()),
        logits: None,
        expected,
        second_order: None,
        raw: serde_json::Value::Null,
    };
    lines.extend(check_expected(&as_fixture, &ex, device, precision)?);
    if let Some(h) = hessian {
        let g = ex.graph_for([f, f], dt)?;
        let mut ours = Vec::with_capacity(n * f * f);
        for (i, &class) in fx.targets.iter().enumerate() {
            ours.extend(input_hessian(
                &g,
                x.clone().narrow(0, i, 1),
                class,
                device,
                precision,
            )?);
        }
        lines.push(compare("input_hessian", &ours, &h.values.data));
    }
    Ok(lines)
}

/// Token models: every integer input packed as `[N, K, T]` (graph order), attributed at the
/// token-embedding lookup.
fn check_tokens(
    fx: &OnnxFixture,
    model: OnnxModel,
    device: &Device,
    precision: Precision,
) -> Result<Vec<CheckLine>> {
    let n = fx.inputs[0].values.shape[0];
    let t = fx.inputs[0].shape.iter().product::<usize>();
    if fx.inputs.iter().any(|i| i.values.shape != [n, t]) {
        return Err(XaiError::Config(format!(
            "{}: packed integer inputs must all be [N, T]",
            fx.name
        )));
    }
    let (token, _) = model.token_input().ok_or_else(|| {
        XaiError::Config(format!(
            "{}: integer inputs but no embedding lookup to attribute at",
            fx.name
        ))
    })?;
    let values: Vec<&[f64]> = fx.inputs.iter().map(|i| i.values.data.as_slice()).collect();
    // `ids` with the token input replaced.
    let pack = |tokens: &[f64]| -> Result<Tensor<3, Int>> {
        let mut v = values.clone();
        v[token] = tokens;
        pack_ids(&v, n, t, device)
    };
    let ids = pack_ids(&values, n, t, device)?;
    let mut lines = Vec::new();
    if let Some(logits) = &fx.logits {
        let ours = tensor_to_vec_f64(model.try_forward_packed_ids(ids.clone())?)?;
        lines.push(compare("logits", &ours, &logits.data));
    }
    let ex = TokenExplainable::new(
        model,
        |m: &OnnxModel, ids: Tensor<3, Int>| m.forward_packed_ids(ids),
        device.clone(),
    )
    .with_precision(precision);
    let target = Target::Classes(fx.targets.clone());
    for (key, exp) in &fx.expected {
        let ours = if key == "embedding_gradient_x_input" {
            Some(token_gradient_x_embedding(&ex, &ids, &target)?.per_token)
        } else if key == "attnlrp" {
            Some(token_attnlrp(&ex, &ids, &target, TransformerRules::AttnLrp)?.per_token)
        } else if let Some(q) = key.strip_prefix("layer_integrated_gradients/") {
            let n_steps = exp
                .settings
                .get("n_steps")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| XaiError::Config(format!("{key}: missing `n_steps`")))?;
            let base = exp
                .settings
                .get("baseline_ids")
                .map(|b| NdArray::from_json(b, &format!("{key}.baseline_ids")))
                .transpose()?;
            let base_ids = match &base {
                Some(b) if b.data.len() == n * t => pack(&b.data)?,
                Some(b) => {
                    return Err(XaiError::shape(
                        format!("{key}.baseline_ids"),
                        format!("[{n}, {t}]"),
                        &b.shape,
                    ));
                }
                None => pack(&vec![0.0; n * t])?,
            };
            let config = IgConfig {
                n_steps: n_steps as usize,
                method: Quadrature::parse(q)?,
                ..IgConfig::default()
            };
            Some(token_integrated_gradients(&ex, &ids, &base_ids, &target, &config)?.per_token)
        } else {
            None
        };
        lines.push(match ours {
            Some(v) => compare(key, &v, &exp.values.data),
            None => unsupported(key, exp),
        });
    }
    Ok(lines)
}
