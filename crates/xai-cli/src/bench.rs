//! `xai bench`: throughput of attribution methods on a fixture's model and inputs.

use std::path::PathBuf;

use xai_core::fixture::Fixture;

#[derive(clap::Args)]
pub struct Args {
    /// A fixture JSON file (e.g. ../shared/fixtures/perf_lenet.json).
    #[arg(long)]
    fixture: PathBuf,
    /// Comma-separated methods (names or aliases from `xai methods`), or `all`;
    /// `ig_no_shortcut` times IG without its affine first-layer shortcut.
    #[arg(long)]
    method: String,
    /// Integrated-gradients steps (noise samples for smoothgrad, coalitions for kernelshap;
    /// `--samples` is the same flag).
    #[arg(long, visible_alias = "samples", default_value_t = 50)]
    steps: usize,
    /// Comma-separated devices: flex, wgpu, wgpu-cpu, cuda.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Keep timing until this many seconds have passed (at least 3 runs).
    #[arg(long, default_value_t = 3.0)]
    min_seconds: f64,
    /// Refuse a method whose estimated time (its forward passes × one measured forward of the
    /// batch, for the warm-up and three timed runs) is over this many minutes.
    #[arg(long, default_value_t = 60.0, value_parser = crate::explain::positive_minutes)]
    max_minutes: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<bool> {
    let fx = Fixture::load(&args.fixture)?;
    let methods: Vec<String> = args
        .method
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    let devices: Vec<String> = args
        .device
        .split(',')
        .map(|d| d.trim().to_string())
        .collect();
    let table = xai_bench::attribution::bench_table(
        &fx,
        &methods,
        args.steps,
        &devices,
        args.min_seconds,
        Some(args.max_minutes * 60.0),
    )?;
    if args.json {
        if table.len() == 1 {
            println!("{}", serde_json::to_string(&table[0])?);
        } else {
            println!("{}", serde_json::to_string(&table)?);
        }
        return Ok(true);
    }
    println!(
        "{:<22} {:<9} {:>6} {:>6} {:>10} {:>12} {:>9} {:>10} {:>5}",
        "method", "device", "inputs", "steps", "seconds", "inputs/s", "GFLOP/s", "peak MiB", "runs"
    );
    for r in &table {
        let peak = r
            .peak_rss_mib
            .map_or("—".to_string(), |p| format!("{p:.0}"));
        println!(
            "{:<22} {:<9} {:>6} {:>6} {:>10.4} {:>12.1} {:>9.2} {:>10} {:>5}",
            r.method,
            r.device,
            r.inputs,
            r.steps,
            r.seconds,
            r.inputs_per_second,
            r.gflops,
            peak,
            r.runs
        );
    }
    Ok(true)
}
