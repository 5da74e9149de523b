//! `xai influence …`: training-data attribution on the bundled digits, judged by retraining.

use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Run one benchmark: `digits-logreg`, `digits-mlp` or `digits-cnn`.
    Bench {
        /// The benchmark.
        which: String,
        /// Print the JSON summary (always written to stdout; this also silences progress).
        #[arg(long)]
        json: bool,
        /// Seed of the subsets, projections and sampled labels.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Quick run: fewer test points, retrains and LiSSA steps (for smoke tests).
        #[arg(long)]
        quick: bool,
    },
    /// Influence on the digits MLP computed by K separate processes (one per slice of the
    /// training set) and merged; prints the largest difference from the one-process scores.
    Partitioned {
        /// Number of processes.
        #[arg(long, default_value_t = 2)]
        shards: usize,
        /// Test points.
        #[arg(long, default_value_t = 50)]
        test_points: usize,
        /// Working folder (θ, s_test and the shards' scores).
        #[arg(long, default_value = "xai-influence-shards")]
        dir: PathBuf,
        /// Seed of the model's initialisation.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// One shard of `partitioned` (started by it).
    Shard {
        /// This shard's index.
        #[arg(long)]
        index: usize,
        /// Number of shards.
        #[arg(long)]
        of: usize,
        /// The working folder written by `partitioned`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Train the digits MLP, time xai's EK-FAC phases and write OUT/digits_mlp_kronfluence.json
    /// for `scripts/kronfluence_bench.py` (Kronfluence on the same model and data).
    KronfluenceExport {
        /// Output folder.
        #[arg(long, default_value = "xai-influence")]
        out: PathBuf,
        /// Seed of initialisation and sampled labels.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(action: Action) -> anyhow::Result<bool> {
    use xai_bench::influence as ib;
    match action {
        Action::Partitioned {
            shards,
            test_points,
            dir,
            seed,
        } => {
            let v = ib::partitioned(seed, shards, test_points, &dir)?;
            println!("{}", serde_json::to_string(&v)?);
        }
        Action::Shard { index, of, dir } => ib::shard(index, of, &dir)?,
        Action::KronfluenceExport { out, seed } => {
            let opts = ib::InfluenceBenchOptions {
                seed,
                ..Default::default()
            };
            let v = ib::kronfluence_export(&opts, &out)?;
            println!("{}", serde_json::to_string(&v)?);
        }
        Action::Bench {
            which,
            json,
            seed,
            quick,
        } => {
            if json {
                // Single-threaded at this point; silences progress bars.
                unsafe { std::env::set_var("XAI_QUIET", "1") };
            }
            let mut opts = ib::InfluenceBenchOptions {
                seed,
                ..Default::default()
            };
            if quick {
                opts.test_points = 50;
                opts.loo_points = Some(100);
                opts.lds_subsets = 20;
                opts.lissa_points = 1;
                opts.lissa_depth = 1000;
            }
            let v = match which.as_str() {
                "digits-logreg" => ib::digits_logreg(&opts)?,
                "digits-mlp" => ib::digits_mlp(&opts)?,
                "digits-cnn" => ib::digits_cnn(&opts)?,
                other => anyhow::bail!(
                    "unknown benchmark `{other}` (digits-logreg, digits-mlp, digits-cnn)"
                ),
            };
            let text = if json {
                serde_json::to_string(&v)?
            } else {
                serde_json::to_string_pretty(&v)?
            };
            println!("{text}");
        }
    }
    Ok(true)
}
