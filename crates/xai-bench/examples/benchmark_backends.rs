//! Throughput of the attribution methods on every backend this build has.
//!
//! `cargo run -p xai-bench --example benchmark_backends` (flex), or with
//! `--features wgpu` to add wgpu (a GPU through Vulkan/Metal/DX12, or Mesa's lavapipe on a
//! machine without one); pass a fixture file to bench another model, e.g.
//! `cargo run -p xai-bench --example benchmark_backends -- ../shared/fixtures/perf_lenet.json`.
//!
//! Prints one Markdown table: inputs per second, seconds per batch (median of repeated runs after
//! a warm-up) and the process's peak memory. Numbers depend on the machine; the README next to
//! the examples records a run.

use std::path::PathBuf;

use xai_bench::attribution::bench_table;
use xai_core::fixture::Fixture;

fn main() -> xai_core::Result<()> {
    let file = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/image_cnn.json"),
        PathBuf::from,
    );
    let fx = Fixture::load(&file)?;
    #[allow(unused_mut)]
    let mut devices = vec!["flex".to_string()];
    #[cfg(feature = "wgpu")]
    devices.push("wgpu".to_string());
    #[cfg(feature = "cuda")]
    devices.push("cuda".to_string());
    let methods: Vec<String> = [
        "saliency",
        "ig",
        "smoothgrad",
        "guided_backprop",
        "deeplift",
        "lrp",
        "grad_cam",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    // IG and SmoothGrad with 20 points each; every method runs for at least 0.5 s.
    let rows = bench_table(&fx, &methods, 20, &devices, 0.5, None)?;
    println!(
        "model: {} ({} inputs)",
        fx.name,
        rows.first().map_or(0, |r| r.inputs)
    );
    println!("| method | device | inputs/s | s per batch | peak MiB |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} | {:.4} | {} |",
            r.method,
            r.device,
            r.inputs_per_second,
            r.seconds,
            r.peak_rss_mib.map_or("—".into(), |m| format!("{m:.0}"))
        );
    }
    Ok(())
}
