//! `xai explain` on ONNX models: one float input (images, feature vectors) or integer inputs
//! (token ids and masks, attributed per token at the embedding).

use super::*;

/// Whether `path` names an ONNX model (by its extension: ONNX files are protobuf, with no
/// magic number to sniff).
pub(super) fn is_onnx_model(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The module path of the last convolution of an imported graph (its weight's initializer name
/// without the last segment), where Grad-CAM taps.
pub(super) fn last_onnx_conv(model: &OnnxModel) -> Option<String> {
    model
        .conv_weights()
        .last()
        .and_then(|w| w.rsplit_once('.').map(|(m, _)| m.to_string()))
}

/// `xai explain` on an ONNX model with one float input (an image or feature vector): the same
/// methods and report as a fixture-format model.
pub(super) fn run_onnx(options: &ExplainOptions) -> Result<ExplainReport> {
    let methods = methods_for(options, ModelKind::Burn)?;
    let device = xai_core::parse_device(&options.device)?;
    let dt = run_dtype(options);
    let model = OnnxModel::load(&options.model, &device, dt)?;
    if options.weights.is_some() {
        return Err(parse_err(
            &options.model,
            "is an ONNX model: it carries its own weights (drop --weights)",
        ));
    }
    if model.inputs().iter().all(|i| !i.is_float()) {
        return run_onnx_tokens(options, model, &device, dt);
    }
    if !options.named_inputs.is_empty() {
        return Err(XaiError::Config(
            "--input NAME=FILE is for models whose inputs are all integers (token ids, masks); \
             give a float input with --inputs"
                .into(),
        ));
    }
    let spec = model.float_input()?.clone();
    let input_shape = spec.concrete_shape()?;
    let f: usize = input_shape.iter().product();
    if options.inputs.is_empty() {
        return Err(XaiError::Config(format!(
            "an ONNX model needs --inputs for `{}` (CSV, NPY or PNG)",
            spec.name
        )));
    }
    let host = load_inputs(options, None, &input_shape, f)?;
    if host.is_empty() {
        return Err(XaiError::EmptyBatch("no inputs".into()));
    }
    let (host, rows) = take_shard(options, host, f)?;
    let flat = FlatInputs::new(host, input_shape, rows, &device, dt, |x| {
        model.try_forward_flat(x)
    })?;
    let conv = last_onnx_conv(&model);
    let report = explain_flat(
        options,
        &methods,
        model,
        |m: &OnnxModel, x: Tensor<2>| m.forward_flat(x),
        flat,
        conv,
        &device,
    )?;
    Ok(report)
}

/// Methods of token models: attributions at the token-embedding lookup, one value per token.
pub(super) const TOKEN_METHODS: [&str; 4] = [
    "embedding_gradient_x_input",
    "layer_integrated_gradients",
    "attnlrp",
    "cp_lrp",
];

/// `xai explain` on an ONNX model whose inputs are all integers (token ids, attention mask):
/// every input given by name, attributions at the embedding of the token input (the baseline
/// replaces every id by 0, the padding id, and keeps the other inputs).
pub(super) fn run_onnx_tokens(
    options: &ExplainOptions,
    model: OnnxModel,
    device: &burn::tensor::Device,
    dt: DType,
) -> Result<ExplainReport> {
    use burn::tensor::Int;
    use xai_grad::methods::attnlrp::{TransformerRules, token_attnlrp};
    use xai_grad::methods::integrated_gradients::IgConfig;
    use xai_grad::methods::text::{
        TokenExplainable, token_gradient_x_embedding, token_integrated_gradients,
    };
    if options.shard.is_some() {
        return Err(XaiError::Config(
            "shards split float inputs and tree-ensemble rows; token models run whole".into(),
        ));
    }
    let specs = model.inputs().to_vec();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let Some((token, vocab)) = model.token_input() else {
        return Err(parse_err(
            &options.model,
            "has integer inputs but no embedding lookup on an initializer to attribute at",
        ));
    };
    if !options.inputs.is_empty() && specs.len() > 1 {
        return Err(XaiError::Config(format!(
            "the model has {} inputs ({}): give each with --input NAME=FILE",
            specs.len(),
            names.join(", ")
        )));
    }
    for (name, _) in &options.named_inputs {
        if !names.contains(&name.as_str()) {
            return Err(XaiError::Config(format!(
                "the model has no input `{name}` (inputs: {})",
                names.join(", ")
            )));
        }
    }
    // Every input named before any file is read.
    let mut files = Vec::new();
    for spec in &specs {
        files.push(
            match options
                .named_inputs
                .iter()
                .find(|(name, _)| *name == spec.name)
            {
                Some((_, f)) => f.clone(),
                None if specs.len() == 1 && options.inputs.len() == 1 => options.inputs[0].clone(),
                None => {
                    return Err(XaiError::Config(format!(
                        "missing --input {}=FILE (the model's inputs: {})",
                        spec.name,
                        names.join(", ")
                    )));
                }
            },
        );
    }
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut n = None;
    let mut t = 0;
    for (k, (spec, file)) in specs.iter().zip(files).enumerate() {
        let shape = spec.concrete_shape()?;
        t = shape.iter().product();
        let values = read_rows(&file, t)?;
        if let Some(bad) = values.iter().find(|v| v.fract() != 0.0 || **v < 0.0) {
            return Err(parse_err(
                &file,
                format!("holds {bad}; `{}` takes non-negative integers", spec.name),
            ));
        }
        if k == token
            && let Some(id) = values.iter().find(|v| **v as usize >= vocab)
        {
            return Err(parse_err(
                &file,
                format!("token id {id} is outside the vocabulary (0..{vocab})"),
            ));
        }
        let count = values.len() / t.max(1);
        if n.is_some_and(|n| n != count) {
            return Err(parse_err(
                &file,
                format!("{count} rows, but the other inputs have {}", n.unwrap_or(0)),
            ));
        }
        n = Some(count);
        rows.push(values);
    }
    let n = n.unwrap_or(0);
    if n == 0 {
        return Err(XaiError::EmptyBatch("no input rows".into()));
    }
    let mut slices: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
    let ids = xai_onnx::pack_ids(&slices, n, t, device)?;
    // The baseline: every token id replaced by the padding id 0, the other inputs kept.
    let padding = vec![0.0; n * t];
    slices[token] = &padding;
    let baseline = xai_onnx::pack_ids(&slices, n, t, device)?;
    let outputs = xai_core::tensor_to_vec_f64(model.try_forward_packed_ids(ids.clone())?)?;
    let classes = outputs.len() / n;
    let targets = resolve_targets(options.targets.as_deref(), &outputs, n)?;
    let target = Target::Classes(targets.clone());
    let precision = precision_of(dt);
    let ex = TokenExplainable::new(
        model,
        |m: &OnnxModel, ids: Tensor<3, Int>| m.forward_packed_ids(ids),
        device.clone(),
    )
    .with_precision(precision);
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    let requested: Vec<String> = if options.methods.is_empty() {
        TOKEN_METHODS.iter().map(|m| m.to_string()).collect()
    } else {
        options.methods.clone()
    };
    for m in &requested {
        let name = match m.as_str() {
            "embedding_gradient_x_input" | "input_x_gradient" => TOKEN_METHODS[0],
            "layer_integrated_gradients" | "integrated_gradients" | "ig" => TOKEN_METHODS[1],
            "attnlrp" | "lrp" => TOKEN_METHODS[2],
            "cp_lrp" => TOKEN_METHODS[3],
            other => {
                skipped.push(Skipped {
                    method: other.to_string(),
                    reason: "token models are attributed at the embedding lookup \
                             (embedding_gradient_x_input, layer_integrated_gradients, attnlrp, \
                             cp_lrp)"
                        .into(),
                });
                continue;
            }
        };
        let (r, settings) = if name == TOKEN_METHODS[0] {
            (
                token_gradient_x_embedding(&ex, &ids, &target)?,
                serde_json::json!({}),
            )
        } else if name == TOKEN_METHODS[2] || name == TOKEN_METHODS[3] {
            let rules = if name == TOKEN_METHODS[2] {
                TransformerRules::AttnLrp
            } else {
                TransformerRules::CpLrp
            };
            (
                token_attnlrp(&ex, &ids, &target, rules)?,
                serde_json::json!({"form": "gradient × input with the transformer rules"}),
            )
        } else {
            let config = IgConfig::default();
            (
                token_integrated_gradients(&ex, &ids, &baseline, &target, &config)?,
                serde_json::json!({"n_steps": config.n_steps, "baseline": "token id 0 (padding), other inputs kept"}),
            )
        };
        results.push(ExplainResult {
            method: name.to_string(),
            settings: serde_json::json!({"layer": r.node, "config": settings}),
            values: r.per_token.chunks(t).map(|c| c.to_vec()).collect(),
            completeness_delta: r.delta,
        });
    }
    if results.is_empty() {
        return Err(XaiError::Config(
            "no method could run on this token model: use embedding_gradient_x_input, \
             layer_integrated_gradients, attnlrp or cp_lrp"
                .into(),
        ));
    }
    Ok(ExplainReport {
        options: options.clone(),
        input_shape: vec![t],
        feature_names: (0..t).map(|j| format!("{j}")).collect(),
        inputs: rows[token].chunks(t).map(|c| c.to_vec()).collect(),
        outputs: outputs.chunks(classes).map(|c| c.to_vec()).collect(),
        targets,
        results,
        skipped,
        token_input: Some(specs[token].name.clone()),
        rows: RowRange::all(rows[token].len() / t.max(1)),
    })
}
