//! `xai sanity …`: randomisation tests and evaluation metrics on the bundled digits CNN.

use std::path::PathBuf;

use xai_core::fixture::Fixture;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Train the digits CNN, run the randomisation tests and the metrics, write the report
    /// OUT/index.html (with OUT/sanity.json, OUT/sanity_cascading.svg, OUT/sanity_maps.png), and
    /// print the summary.
    Bench {
        /// Print the JSON summary only (no progress lines).
        #[arg(long)]
        json: bool,
        /// Seed of training, randomisation and the stochastic metrics.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "xai-sanity")]
        out: PathBuf,
        /// Quick run: fewer epochs and explained digits (for smoke tests).
        #[arg(long)]
        quick: bool,
        /// Replace OUT even if it holds files xai did not write.
        #[arg(long)]
        force: bool,
    },
    /// Time the perturbation metrics on a fixture's model and inputs (compare with
    /// `python scripts/quantus_reference.py --bench`).
    MetricsBench {
        /// A fixture JSON file (e.g. ../shared/fixtures/perf_lenet.json).
        #[arg(long)]
        fixture: PathBuf,
    },
}

/// The headline figures printed by `xai sanity bench` without `--json`.
const SUMMARY_KEYS: [&str; 6] = [
    "spearman_gradient_last",
    "spearman_ig_last",
    "spearman_guided_last",
    "deletion_auc_ig",
    "deletion_auc_random",
    "test_accuracy",
];

pub fn run(action: Action) -> anyhow::Result<bool> {
    match action {
        Action::Bench {
            json,
            seed,
            out,
            quick,
            force,
        } => {
            let mut opts = xai_bench::sanity::SanityBenchOptions {
                seed,
                out,
                progress: !json,
                force,
                ..Default::default()
            };
            if quick {
                opts.epochs = 6;
                opts.explained = 16;
            }
            let v = xai_bench::sanity::run(&opts)?;
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                for key in SUMMARY_KEYS {
                    println!("{key:<24} {:.4}", v[key].as_f64().unwrap_or(f64::NAN));
                }
                println!("(report: {}/index.html)", opts.out.display());
            }
        }
        Action::MetricsBench { fixture } => {
            let v = xai_bench::metrics::run(&Fixture::load(&fixture)?)?;
            println!("{}", serde_json::to_string(&v)?);
        }
    }
    Ok(true)
}
