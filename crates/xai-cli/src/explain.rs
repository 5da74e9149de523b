//! `xai explain`: attributions for a user's model and inputs, as a report.

use std::path::PathBuf;

use xai_core::shard::{ShardSpec, over_devices};

#[derive(clap::Args)]
pub struct Args {
    /// The model file: `input_shape` + `model` layers (the shared fixture format), an XGBoost
    /// JSON model (`save_model("m.json")`) or a LightGBM text model (`save_model("m.txt")`).
    #[arg(long)]
    model: PathBuf,
    /// Weights saved with burn's `save_file` (burnpack, e.g. from `xai fixture export`);
    /// the model file then only needs the architecture (`weight_shape` per layer).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Input files: one CSV or NPY, or PNG images (default: the model file's `inputs`).
    #[arg(long, num_args = 1..)]
    inputs: Vec<PathBuf>,
    /// An input of an ONNX model by its graph name, `NAME=FILE` (NPY or CSV, one row per
    /// example), repeated for each input: `--input input_ids=ids.npy --input
    /// attention_mask=mask.npy`.
    #[arg(long = "input", value_name = "NAME=FILE", value_parser = named_input)]
    named_inputs: Vec<(String, PathBuf)>,
    /// `predicted`, one class for all inputs, or one per input (`0,2,1`).
    #[arg(long, default_value = "predicted")]
    targets: String,
    /// Comma-separated methods (default: every method that applies to the model, but LIME and
    /// exact Shapley).
    #[arg(long)]
    methods: Option<String>,
    /// Background rows (CSV or NPY) for the perturbation methods and interventional TreeSHAP
    /// (default: an all-zero reference per input).
    #[arg(long)]
    background: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "xai-explain")]
    out: PathBuf,
    /// Replace --out even when it holds files xai did not write.
    #[arg(long)]
    force: bool,
    /// Device: flex, or wgpu / wgpu-cpu / cuda when this build has that feature.
    #[arg(long, default_value = "flex", value_parser = crate::device_name)]
    device: String,
    /// Seed of the stochastic methods.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Refuse, before computing, a run estimated to take longer than this (forward passes the
    /// methods need × the measured time of one forward pass of the inputs).
    #[arg(long, default_value_t = 60.0, value_parser = positive_minutes)]
    max_minutes: f64,
    /// Explain one shard of the input rows into this run folder instead of writing a report
    /// (with --shards); `xai reduce --dir` merges the shards.
    #[arg(long, requires = "shards")]
    shard_dir: Option<PathBuf>,
    /// Number of shards the input rows are split into.
    #[arg(long, requires = "shard_dir")]
    shards: Option<usize>,
    /// This worker's shard, `INDEX/COUNT`; default: SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX.
    #[arg(long, requires = "shard_dir", conflicts_with = "devices")]
    shard: Option<String>,
    /// Explain every shard in this process, spread over these devices (one thread each, e.g.
    /// `cuda:0,cuda:1`); replaces --device.
    #[arg(long, requires = "shard_dir")]
    devices: Option<String>,
}

/// A positive, finite number of minutes.
pub(crate) fn positive_minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 => Ok(m),
        _ => Err(format!("`{s}` is not a positive number of minutes")),
    }
}

/// `NAME=FILE` → (NAME, FILE).
fn named_input(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("`{s}` is not NAME=FILE")),
    }
}

pub fn run(args: Args) -> anyhow::Result<bool> {
    let targets = if args.targets == "predicted" {
        None
    } else {
        let parsed = args
            .targets
            .split(',')
            .map(|t| t.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                anyhow::anyhow!("--targets must be `predicted` or class indices like 0,2,1")
            })?;
        Some(parsed)
    };
    let methods = match args.methods {
        Some(m) => m.split(',').map(|s| s.trim().to_string()).collect(),
        None => Vec::new(),
    };
    let options = xai::explain::ExplainOptions {
        model: args.model,
        weights: args.weights,
        inputs: args.inputs,
        named_inputs: args.named_inputs,
        targets,
        methods,
        background: args.background,
        out: args.out.clone(),
        force: args.force,
        device: args.device,
        seed: args.seed,
        max_seconds: Some(args.max_minutes * 60.0),
        shard: None,
    };
    if let (Some(dir), Some(shards)) = (&args.shard_dir, args.shards) {
        use xai::sharded_explain::map;
        let Some(list) = &args.devices else {
            let done = map(&options, dir, shards, args.shard.as_deref())?;
            eprintln!("attributions shard into {}: {}", dir.display(), done);
            return Ok(true);
        };
        let names: Vec<String> = list.split(',').map(|d| d.trim().to_string()).collect();
        for name in &names {
            crate::device_name(name).map_err(|e| anyhow::anyhow!("--devices {name}: {e}"))?;
        }
        let specs: Vec<ShardSpec> = (0..shards)
            .map(|i| ShardSpec::new(i, shards))
            .collect::<Result<_, _>>()?;
        let done = over_devices(&specs, &names, |spec, device| {
            let on_device = xai::explain::ExplainOptions {
                device: device.clone(),
                ..options.clone()
            };
            map(
                &on_device,
                dir,
                shards,
                Some(&format!("{}/{shards}", spec.index)),
            )
        })?;
        for (spec, d) in specs.iter().zip(done) {
            eprintln!("attributions shard {}/{shards}: {}", spec.index, d);
        }
        return Ok(true);
    }
    let r = xai::explain::run(&options)?;
    eprintln!(
        "{} inputs, {} methods; report: {}",
        r.inputs.len(),
        r.results.len(),
        args.out.join("index.html").display()
    );
    Ok(true)
}
