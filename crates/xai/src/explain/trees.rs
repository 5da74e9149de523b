//! `xai explain` on tree ensembles (XGBoost / LightGBM JSON): exact TreeSHAP and the
//! model-agnostic methods.

use super::*;

/// `xai explain` on a tree ensemble: rows from CSV or NPY (NaN or an empty CSV field marks a
/// missing value), TreeSHAP and the perturbation methods through the registry.
pub(super) fn run_trees(options: &ExplainOptions) -> Result<ExplainReport> {
    let methods = methods_for(options, ModelKind::Trees)?;
    let trees = TreeEnsemble::load(&options.model)?;
    if options.weights.is_some() {
        return Err(parse_err(
            &options.model,
            "is a tree ensemble: it carries its own weights (drop --weights)",
        ));
    }
    if options.inputs.is_empty() {
        return Err(XaiError::Config(
            "a tree ensemble needs --inputs (rows in CSV or NPY)".into(),
        ));
    }
    let f = trees.features();
    let mut host = Vec::new();
    for p in &options.inputs {
        host.extend(read_rows(p, f)?);
    }
    if host.iter().any(|v| v.is_infinite()) {
        return Err(XaiError::NonFinite(
            "inputs: an infinite value (NaN marks a missing value)".into(),
        ));
    }
    if host.is_empty() {
        return Err(XaiError::EmptyBatch("no input rows".into()));
    }
    let (host, rows) = take_shard(options, host, f)?;
    let n = host.len() / f;
    let margins = trees.margins(&host)?;
    let k = trees.outputs();
    // The model's own feature names, else the inputs' CSV header, else f0, f1, … (XGBoost's and
    // LightGBM's placeholders, `f{j}` and `Column_{j}`, are not names)
    let default_names = (0..f).all(|j| {
        let n = &trees.feature_names()[j];
        *n == format!("f{j}") || *n == format!("Column_{j}")
    });
    let feature_names = match options.inputs.first().and_then(|p| csv_header(p, f)) {
        Some(header) if default_names => header,
        _ => trees.feature_names().to_vec(),
    };
    // one output (binary log-odds, regression): output 0; multiclass: the largest margin
    let targets = resolve_targets(options.targets.as_deref(), &margins, n)?;
    let references = match &options.background {
        Some(b) => load_background(b, f)?,
        None => References::PerInput(vec![0.0; n * f]),
    };
    // The gradient methods never run here; the tensors only complete the problem.
    let device = burn::tensor::Device::flex();
    let x: Tensor<2> = tensor_from_f64(&host, vec![n, f], &device, DType::F64);
    let zeros = Tensor::<2>::zeros([n, f], (&device, DType::F64));
    let target = Target::Classes(targets.clone());
    let input_shape = [f];
    let problem = Problem::<2> {
        model: Model::Trees(&trees),
        black_box: &trees,
        x: &x,
        rows: &host,
        baseline: &zeros,
        references: &references,
        lime_stats: None,
        target: &target,
        input_shape: &input_shape,
        conv_layer: None,
    };
    let (results, skipped) = run_methods(&methods, &problem, ModelKind::Trees, options.seed, None)?;
    let report = ExplainReport {
        options: options.clone(),
        input_shape: input_shape.to_vec(),
        feature_names,
        inputs: host.chunks(f).map(|c| c.to_vec()).collect(),
        outputs: margins.chunks(k).map(|c| c.to_vec()).collect(),
        targets,
        results,
        skipped,
        token_input: None,
        rows,
    };
    Ok(report)
}
