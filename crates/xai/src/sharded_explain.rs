//! `xai explain` over a batch too large for one worker: each shard of the input rows is
//! explained by its own process (a SLURM array task, a Kubernetes Indexed Job pod, a local
//! process) and the attributions are concatenated by a reduce step.
//!
//! The run folder ([`xai_core::shard`]) holds `manifest.json` — the kind `attributions`, every
//! setting that changes a value (methods, targets, seed, precision) and fingerprints of the
//! model, weights, inputs and background files — and `attributions/shard-i-of-N.safetensors`
//! with, for the shard's rows, one `[rows, F]` tensor per method (named as the method),
//! `METHOD.completeness_delta` where defined, `outputs` `[rows, K]` and `targets` `[rows]`.
//! The first worker to arrive writes the manifest; the others check that theirs is the same,
//! so a worker started with other files or options is refused instead of mixing runs. A
//! complete shard is skipped on a rerun. [`reduce`] concatenates the shards in row order into
//! `attributions/reduced.safetensors` (`safetensors.numpy.load_file` reads it).
//!
//! Every method sees only its shard's rows, so the merged values equal one run over the whole
//! batch wherever a method's values for a row do not depend on the other rows or on the row's
//! position in the batch: every gradient and rule method, feature ablation, occlusion, exact
//! Shapley and KernelSHAP (its coalitions are drawn per input). SmoothGrad and LIME draw their
//! noise for the batch as a whole, so a sharded run gives another draw of the same estimator,
//! not the same numbers.

use std::path::{Path, PathBuf};

use serde_json::json;
use xai_core::shard::{Array, Manifest, Mapped, Run, ShardSpec};
use xai_core::{Result, XaiError};

use crate::explain::{ExplainOptions, compute};

/// The run's kind in its manifest.
pub const KIND: &str = "attributions";

/// The stage the shards are written under.
pub const STAGE: &str = "attributions";

/// Explain this worker's shard of the input rows into the run folder `dir` of `shards` shards.
/// The shard comes from `shard_arg` (`i/N`) or the scheduler's variables.
pub fn map(
    options: &ExplainOptions,
    dir: &Path,
    shards: usize,
    shard_arg: Option<&str>,
) -> Result<Mapped> {
    let spec = ShardSpec::resolve(shard_arg, shards)?;
    std::fs::create_dir_all(dir).map_err(XaiError::io(dir))?;
    // The files are read and fingerprinted once, for both manifests below.
    let config = config(options)?;
    let manifest = |rows| Manifest::new(KIND, config.clone(), options.seed, shards, rows);
    // A folder of another run is refused, and a complete shard skipped, before any work (the
    // same files give the same row count, so the existing manifest's count is the one to hash).
    if dir.join("manifest.json").exists() {
        let rows = Run::open(dir)?.manifest().rows;
        let run = Run::create(dir, manifest(rows))?;
        if run.is_complete(STAGE, spec) {
            return Ok(Mapped::Skipped);
        }
    }
    let report = compute(&ExplainOptions {
        shard: Some(spec),
        ..options.clone()
    })?;
    let run = Run::create(dir, manifest(report.rows.total))?;
    let f: usize = report.input_shape.iter().product();
    let n = report.rows.end - report.rows.start;
    let k = report.outputs.first().map_or(0, Vec::len);
    let mut arrays = vec![
        (
            "outputs".to_string(),
            Array::new(vec![n, k], report.outputs.concat())?,
        ),
        (
            "targets".to_string(),
            Array::new(vec![n], report.targets.iter().map(|&t| t as f64).collect())?,
        ),
    ];
    for r in &report.results {
        arrays.push((r.method.clone(), Array::new(vec![n, f], r.values.concat())?));
        if let Some(d) = &r.completeness_delta {
            arrays.push((
                format!("{}.completeness_delta", r.method),
                Array::new(vec![d.len()], d.clone())?,
            ));
        }
    }
    run.write_shard(STAGE, spec, &arrays)?;
    Ok(Mapped::Written)
}

/// Concatenate every shard of the run in `dir` in row order (failing with the list of missing
/// shards) into `attributions/reduced.safetensors`; returns its path.
pub fn reduce(dir: &Path) -> Result<PathBuf> {
    let run = Run::open(dir)?;
    if run.manifest().kind != KIND {
        return Err(XaiError::Config(format!(
            "{} holds a `{}` run, not `{KIND}`",
            dir.display(),
            run.manifest().kind
        )));
    }
    let parts = run.gather(STAGE)?;
    let names: Vec<String> = parts[0].keys().cloned().collect();
    let mut merged = Vec::with_capacity(names.len());
    for name in &names {
        let mut data = Vec::new();
        let mut shape = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let a = p.get(name).ok_or_else(|| {
                XaiError::Config(format!("shard {i} has no `{name}` (the shards disagree)"))
            })?;
            if shape.is_empty() {
                shape = a.shape.clone();
            } else if a.shape[1..] != shape[1..] {
                return Err(XaiError::shape(
                    name.as_str(),
                    format!("{shape:?}"),
                    &a.shape,
                ));
            } else {
                shape[0] += a.shape[0];
            }
            data.extend_from_slice(&a.data);
        }
        merged.push((name.clone(), Array::new(shape, data)?));
    }
    let rows = run.manifest().rows;
    if merged.iter().any(|(_, a)| a.shape.first() != Some(&rows)) {
        return Err(XaiError::Config(format!(
            "{}: the shards do not add up to the run's {rows} rows",
            dir.display()
        )));
    }
    run.write_reduced(STAGE, &merged)
}

/// The manifest configuration of `options`: every setting that changes a value, and
/// fingerprints of the files (a worker with other files is refused).
fn config(options: &ExplainOptions) -> Result<serde_json::Value> {
    let file = |p: &Path| -> Result<String> {
        let bytes = std::fs::read(p).map_err(XaiError::io(p))?;
        Ok(xai_core::shard::fingerprint(&bytes))
    };
    let files = |ps: &[PathBuf]| -> Result<Vec<String>> { ps.iter().map(|p| file(p)).collect() };
    let named: Vec<(String, String)> = options
        .named_inputs
        .iter()
        .map(|(n, p)| Ok((n.clone(), file(p)?)))
        .collect::<Result<_>>()?;
    Ok(json!({
        "model": file(&options.model)?,
        "weights": options.weights.as_deref().map(file).transpose()?,
        "inputs": files(&options.inputs)?,
        "named_inputs": named,
        "background": options.background.as_deref().map(file).transpose()?,
        "targets": options.targets,
        "methods": options.methods,
        // f64 on flex, f32 on the accelerators: shards on different devices would disagree.
        "precision": if options.device == "flex" { "f64" } else { "f32" },
    }))
}
