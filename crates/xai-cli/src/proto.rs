//! `xai proto bench`: interpretable-by-design models on synthetic data with exact ground truth.

use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Run one benchmark (`partshapes`, `conceptsprites`, `cleverhans`, `regimemix`,
    /// `tcav-calibration`), write its images and OUT/NAME.json, and print its figures.
    Bench {
        /// The benchmark.
        which: String,
        /// Print one JSON object (no progress bars).
        #[arg(long)]
        json: bool,
        /// Seed of data generation, initialisation and training.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "xai-proto")]
        out: PathBuf,
        /// Device: flex, or wgpu / wgpu-cpu / cuda when this build has that feature.
        #[arg(long, default_value = "flex", value_parser = crate::device_name)]
        device: String,
        /// Quick run: smaller data and fewer epochs (smoke tests; figures are not the benchmark's).
        #[arg(long)]
        quick: bool,
        /// Seeds of `tcav-calibration` (from --seed on).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        seeds: u64,
    },
}

pub fn run(action: Action) -> anyhow::Result<bool> {
    let Action::Bench {
        which,
        json,
        seed,
        out,
        device,
        quick,
        seeds,
    } = action;
    use xai_bench::proto as pb;
    let opts = pb::BenchOptions {
        seed,
        quick,
        out,
        progress: !json,
        device: xai_core::parse_device(&device)?,
    };
    let v = match which.as_str() {
        "partshapes" => pb::partshapes::run(&opts)?,
        "conceptsprites" => pb::conceptsprites::run(&opts)?,
        "cleverhans" => pb::cleverhans::run(&opts)?,
        "regimemix" => pb::regimemix::run(&opts)?,
        "tcav-calibration" => pb::tcav_calibration::run(&opts, seeds as usize)?,
        other => anyhow::bail!(
            "unknown benchmark `{other}` (partshapes, conceptsprites, cleverhans, regimemix, \
             tcav-calibration)"
        ),
    };
    if json {
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&summary(&v))?);
        println!("(full results in {}/{which}.json)", opts.out.display());
    }
    Ok(true)
}

/// The headline figures of a benchmark (its JSON without the bulky arrays).
fn summary(v: &serde_json::Value) -> serde_json::Value {
    match v.as_object() {
        Some(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(_, x)| x.is_number() || x.is_string() || x.is_boolean())
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect(),
        ),
        None => v.clone(),
    }
}
