//! Weights for fixture-format architectures (burnpack) and `xai fixture export`.

use super::*;

/// Replace the model's parameters with those of a burnpack file, keeping its device and dtype.
pub fn load_weights(
    model: FixtureModel,
    path: &Path,
    device: &burn::tensor::Device,
    dtype: DType,
) -> Result<FixtureModel> {
    use burn::module::Module;
    if !path.is_file() {
        return Err(XaiError::Config(format!(
            "weights file {} not found",
            path.display()
        )));
    }
    let loaded = model.try_load_file(path).map_err(|e| {
        XaiError::Config(format!(
            "cannot load weights from {} into this architecture: {}",
            path.display(),
            one_line(&e.to_string())
        ))
    })?;
    // A file written in f32 loads as f32: bring every parameter to the run's device and dtype.
    struct Cast<'a>(&'a burn::tensor::Device, DType);
    impl burn::module::ModuleMapper for Cast<'_> {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let (id, t, mapper) = param.consume();
            burn::module::Param::from_mapped_value(id, t.to_device(self.0).cast(self.1), mapper)
        }
    }
    Ok(loaded.map(&mut Cast(device, dtype)))
}

/// Write a fixture's model as burnpack weights (f32, flex) and an architecture-only JSON file
/// (its layers with `weight_shape` instead of weights, its `input_shape` and `inputs`).
pub fn export(fixture: &Path, weights: &Path, architecture: &Path) -> Result<()> {
    use burn::module::Module;
    let fx = Fixture::load(fixture)?;
    if fx.layers.is_empty() {
        return Err(parse_err(fixture, "has no `model` layers to export"));
    }
    let text = std::fs::read_to_string(fixture).map_err(XaiError::io(fixture))?;
    let raw: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| parse_err(fixture, e.to_string()))?;
    let layers: Vec<serde_json::Value> = fx
        .layers
        .iter()
        .zip(raw["model"].as_array().into_iter().flatten())
        .map(|(spec, l)| match spec {
            LayerSpec::Linear { weight, .. } | LayerSpec::Conv2d { weight, .. } => {
                let mut l = l.clone();
                if let Some(o) = l.as_object_mut() {
                    o.remove("weight");
                    o.remove("bias");
                    o.insert("weight_shape".into(), serde_json::json!(weight.shape));
                }
                l
            }
            _ => l.clone(),
        })
        .collect();
    let mut arch = serde_json::json!({
        "name": format!("{} (architecture)", fx.name),
        "input_shape": fx.input_shape,
        "model": layers,
    });
    if let Some(inputs) = raw.get("inputs") {
        arch["inputs"] = inputs.clone();
    }
    let model = fx.model(&burn::tensor::Device::flex(), DType::F32)?;
    model.save_file(weights).map_err(|e| {
        XaiError::Config(format!(
            "cannot write {}: {}",
            weights.display(),
            one_line(&e.to_string())
        ))
    })?;
    std::fs::write(
        architecture,
        serde_json::to_string_pretty(&arch).map_err(|e| XaiError::writing(architecture, e))?,
    )
    .map_err(XaiError::io(architecture))
}
