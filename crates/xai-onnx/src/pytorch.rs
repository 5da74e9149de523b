//! PyTorch `state_dict`s into burn modules: a model written in burn takes the weights its
//! PyTorch twin was trained with, from `.safetensors` or `.pt`/`.pth` files.
//!
//! burn-store does the work (`SafetensorsStore`, `PytorchStore`, its `PyTorchToBurnAdapter`,
//! which transposes `Linear` weights and renames BatchNorm/LayerNorm `weight`/`bias` to
//! `gamma`/`beta`); this module adds what a user needs around it: the file format chosen from
//! the extension, optional key remapping (`^features\.` → `backbone.`), and a report that turns
//! a silent mismatch into an error: every parameter of the module must be found in the file, and
//! the file's leftovers are listed (PyTorch's `num_batches_tracked` counters are expected ones).
//!
//! ```no_run
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::Device;
//! let dev = Device::flex();
//! let layer: Linear = LinearConfig::new(12, 5).init(&dev);
//! let (layer, report) = xai_onnx::pytorch::load_state_dict(layer, "fc.safetensors", &[])?;
//! assert!(report.unused.is_empty());
//! # Ok::<(), xai_core::XaiError>(())
//! ```

use std::path::Path;

use burn::module::Module;
use burn_store::{
    ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};

use xai_core::{Result, XaiError};

/// What a load applied and what the file held beyond the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// Module paths that received a tensor.
    pub applied: Vec<String>,
    /// File keys no parameter took (besides `num_batches_tracked`).
    pub unused: Vec<String>,
}

fn report(path: &Path, r: ApplyResult) -> Result<LoadReport> {
    let shown = path.display();
    if let Some(e) = r.errors.first() {
        return Err(XaiError::Parse {
            file: shown.to_string(),
            message: format!("{e} ({} tensors failed to load)", r.errors.len()),
        });
    }
    if !r.missing.is_empty() {
        let names: Vec<&str> = r.missing.iter().map(|(p, _)| p.as_str()).collect();
        return Err(XaiError::Parse {
            file: shown.to_string(),
            message: format!(
                "the model's parameters {} are not in the file (remap the keys?)",
                names.join(", ")
            ),
        });
    }
    let unused = r
        .unused
        .into_iter()
        .filter(|k| !k.ends_with("num_batches_tracked"))
        .collect();
    Ok(LoadReport {
        applied: r.applied,
        unused,
    })
}

/// Load a PyTorch `state_dict` into `model`: `.safetensors`, or `.pt` / `.pth` (read without
/// Python; a checkpoint dict with a `state_dict` entry works too). `remap` holds
/// `(regex, replacement)` pairs applied to the file's keys. Every parameter of `model` must be
/// in the file.
pub fn load_state_dict<M: Module>(
    mut model: M,
    path: impl AsRef<Path>,
    remap: &[(&str, &str)],
) -> Result<(M, LoadReport)> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(XaiError::Config(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let parse = |m: String| XaiError::Parse {
        file: path.display().to_string(),
        message: m,
    };
    let mut remapper = KeyRemapper::new();
    for (from, to) in remap {
        remapper = remapper
            .add_pattern(*from, *to)
            .map_err(|e| XaiError::Config(format!("key remapping `{from}`: {e}")))?;
    }
    let result = match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .remap(remapper)
                .allow_partial(true);
            model
                .load_from(&mut store)
                .map_err(|e| parse(e.to_string()))?
        }
        "pt" | "pth" | "bin" => {
            let fresh = model.clone();
            let mut store = PytorchStore::from_file(path)
                .remap(remapper.clone())
                .allow_partial(true);
            let r = model
                .load_from(&mut store)
                .map_err(|e| parse(e.to_string()))?;
            if r.applied.is_empty() && !r.missing.is_empty() {
                // A training checkpoint keeps the weights under `state_dict`.
                model = fresh;
                let mut store = PytorchStore::from_file(path)
                    .with_top_level_key("state_dict")
                    .remap(remapper)
                    .allow_partial(true);
                model
                    .load_from(&mut store)
                    .map_err(|e| parse(e.to_string()))?
            } else {
                r
            }
        }
        other => {
            return Err(parse(format!(
                "unknown weights format `.{other}` (safetensors, pt or pth)"
            )));
        }
    };
    let r = report(path, result)?;
    Ok((model, r))
}
