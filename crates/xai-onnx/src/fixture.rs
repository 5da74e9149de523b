//! The ONNX reference-fixture format (`../shared/fixtures/onnx/*.json`): the model is an `.onnx`
//! file beside the JSON, inputs are named and typed.
//!
//! ```text
//! onnx, exporter      the model file (relative to the JSON) and how it was exported
//! inputs              one entry per graph input, in graph order:
//!   {"name", "dtype": "float32"|"int64", "shape": [...without batch...], "values": [batch...],
//!    "baseline": [batch...] (float inputs), "attribute": true|false}
//! targets, logits     one class per example; the model's outputs on the inputs
//! expected.<key>      {"values": [...], settings...}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xai_core::fixture::{Expected, NdArray};
use xai_core::{Result, XaiError};

/// One named input of a fixture.
#[derive(Clone, Debug)]
pub struct FixtureInput {
    /// Graph input name.
    pub name: String,
    /// Whether it holds floats (`float32`) rather than integers (`int64`).
    pub is_float: bool,
    /// Per-example shape.
    pub shape: Vec<usize>,
    /// `[N, ...shape]`.
    pub values: NdArray,
    /// Baseline of a float input.
    pub baseline: Option<NdArray>,
    /// Attributions are taken with respect to this input.
    pub attribute: bool,
}

/// A parsed ONNX fixture.
#[derive(Clone, Debug)]
pub struct OnnxFixture {
    /// Its name.
    pub name: String,
    /// The model file, resolved against the JSON's folder.
    pub onnx: PathBuf,
    /// Inputs in graph order.
    pub inputs: Vec<FixtureInput>,
    /// One class per example.
    pub targets: Vec<usize>,
    /// The model's outputs on the inputs.
    pub logits: Option<NdArray>,
    /// Reference values by method key.
    pub expected: BTreeMap<String, Expected>,
}

fn bad(origin: &str, msg: &str) -> XaiError {
    XaiError::Config(format!("{origin}: {msg}"))
}

/// Whether a parsed JSON document is an ONNX fixture (it names its model file).
pub fn is_onnx_fixture(raw: &Value) -> bool {
    raw.get("onnx").and_then(Value::as_str).is_some()
}

impl OnnxFixture {
    /// Read an ONNX fixture; its model path is resolved against the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| bad(&path.display().to_string(), &e.to_string()))?;
        Self::from_json(
            &raw,
            path.parent().unwrap_or(Path::new(".")),
            &path.display().to_string(),
        )
    }

    /// Parse a fixture document; `dir` is where its model file lives, `origin` names it in errors.
    pub fn from_json(raw: &Value, dir: &Path, origin: &str) -> Result<Self> {
        let onnx = raw
            .get("onnx")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(origin, "no `onnx` model file named"))?;
        let list = raw
            .get("inputs")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(origin, "`inputs` must be a list of named inputs"))?;
        let mut inputs = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let what = format!("{origin}: inputs[{i}]");
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&what, "no name"))?
                .to_string();
            let dtype = v.get("dtype").and_then(Value::as_str).unwrap_or("float32");
            let is_float = match dtype {
                "float32" | "float64" => true,
                "int64" | "int32" => false,
                other => return Err(bad(&what, &format!("unknown dtype `{other}`"))),
            };
            let shape = v
                .get("shape")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(&what, "no shape"))?
                .iter()
                .map(|d| {
                    d.as_u64()
                        .map(|d| d as usize)
                        .ok_or_else(|| bad(&what, "bad shape"))
                })
                .collect::<Result<Vec<_>>>()?;
            let values = NdArray::from_json(
                v.get("values").ok_or_else(|| bad(&what, "no values"))?,
                &format!("{what}.values"),
            )?;
            if values.shape.get(1..) != Some(shape.as_slice()) {
                return Err(XaiError::shape(
                    format!("{what}.values"),
                    format!("[N, {shape:?}]"),
                    &values.shape,
                ));
            }
            let baseline = match v.get("baseline") {
                Some(b) => {
                    let b = NdArray::from_json(b, &format!("{what}.baseline"))?;
                    if b.shape != values.shape {
                        return Err(XaiError::shape(
                            format!("{what}.baseline"),
                            format!("{:?}", values.shape),
                            &b.shape,
                        ));
                    }
                    Some(b)
                }
                None => None,
            };
            let attribute = v.get("attribute").and_then(Value::as_bool).unwrap_or(false);
            inputs.push(FixtureInput {
                name,
                is_float,
                shape,
                values,
                baseline,
                attribute,
            });
        }
        if inputs.is_empty() {
            return Err(bad(origin, "no inputs"));
        }
        let n = inputs[0].values.shape[0];
        let targets = raw
            .get("targets")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(origin, "no targets"))?
            .iter()
            .map(|t| {
                t.as_u64()
                    .map(|t| t as usize)
                    .ok_or_else(|| bad(origin, "bad target"))
            })
            .collect::<Result<Vec<_>>>()?;
        if targets.len() != n {
            return Err(bad(
                origin,
                &format!("{} targets for {n} examples", targets.len()),
            ));
        }
        let logits = match raw.get("logits") {
            Some(l) => Some(NdArray::from_json(l, &format!("{origin}: logits"))?),
            None => None,
        };
        let expected = Expected::all_from_json(raw, origin)?;
        Ok(OnnxFixture {
            name: raw
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(origin)
                .to_string(),
            onnx: dir.join(onnx),
            inputs,
            targets,
            logits,
            expected,
        })
    }
}
