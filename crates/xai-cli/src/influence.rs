//! `xai influence …`: training-data attribution on the bundled digits, judged by retraining.

use std::path::PathBuf;

use xai_core::shard::{Run, ShardSpec, over_devices};
use xai_influence::sharded;
use xai_influence::solvers::Fisher;

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
    /// EK-FAC influence on the digits MLP by K local processes over the same map/reduce steps
    /// as a cluster run; prints the largest difference from the one-process scores.
    Partitioned {
        /// Number of processes (shards).
        #[arg(long, default_value_t = 2)]
        shards: usize,
        /// Test points.
        #[arg(long, default_value_t = 50)]
        test_points: usize,
        /// Run folder (manifest, θ, every stage's shards and reductions).
        #[arg(long, default_value = "xai-influence-shards")]
        dir: PathBuf,
        /// Seed of the model's initialisation and of the sampled Fisher labels.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Plan a sharded EK-FAC influence run on the digits MLP: train it and write the run
    /// folder's manifest (first step of a SLURM or Kubernetes job; see deploy/).
    Plan {
        /// Run folder, on storage every worker sees.
        #[arg(long)]
        dir: PathBuf,
        /// Number of shards the training set is split into.
        #[arg(long)]
        shards: usize,
        /// Test points.
        #[arg(long, default_value_t = 50)]
        test_points: usize,
        /// Seed of the model's initialisation and of the sampled Fisher labels.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// `sampled` (one label per example drawn from the model, seeded) or `expected`
        /// (the exact expectation over labels).
        #[arg(long, default_value = "sampled", value_parser = ["sampled", "expected"])]
        fisher: String,
    },
    /// One shard of a stage (`factors`, `eigenvalues`, `scores`); a complete shard is skipped.
    Map {
        /// The stage.
        #[arg(value_parser = xai_influence::sharded::STAGES)]
        stage: String,
        /// Run folder written by `plan`.
        #[arg(long)]
        dir: PathBuf,
        /// This worker's shard, `INDEX/COUNT`; default: SLURM_ARRAY_TASK_ID or
        /// JOB_COMPLETION_INDEX (count from the run).
        #[arg(long, conflicts_with = "devices")]
        shard: Option<String>,
        /// Run every shard of the stage in this process, spread over these devices (one
        /// thread each, e.g. `cuda:0,cuda:1`; influence runs in f64: flex or cuda).
        #[arg(long)]
        devices: Option<String>,
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
        Action::Plan {
            dir,
            shards,
            test_points,
            seed,
            fisher,
        } => {
            let fisher = match fisher.as_str() {
                "expected" => Fisher::Expected,
                _ => Fisher::Sampled { seed },
            };
            let run = ib::plan_digits_mlp(&dir, shards, seed, test_points, fisher)?;
            let m = run.manifest();
            eprintln!(
                "planned {} over {} training rows in {} shards (hash {}): {}",
                m.kind,
                m.rows,
                m.shards,
                m.config_hash,
                dir.display()
            );
        }
        Action::Map {
            stage,
            dir,
            shard,
            devices: None,
        } => {
            let run = Run::open(&dir)?;
            let spec = run.shard(shard.as_deref())?;
            let objective = ib::run_objective(&run)?;
            let what = sharded::map(&run, &stage, spec, &objective)?;
            eprintln!("{stage} shard {}/{}: {what}", spec.index, spec.count);
        }
        Action::Map {
            stage,
            dir,
            devices: Some(list),
            ..
        } => {
            if list.split(',').any(|d| d.trim().starts_with("wgpu")) {
                anyhow::bail!("influence runs in f64, which wgpu lacks: use flex or cuda devices");
            }
            let devices = xai_core::device::parse_devices(&list)?;
            let run = Run::open(&dir)?;
            let n = run.manifest().shards;
            let specs: Vec<ShardSpec> = (0..n)
                .map(|i| ShardSpec::new(i, n))
                .collect::<Result<_, _>>()?;
            let done = over_devices(&specs, &devices, |spec, device| {
                let objective = ib::run_objective_on(&run, device)?;
                sharded::map(&run, &stage, spec, &objective)
            })?;
            for (spec, d) in specs.iter().zip(done) {
                eprintln!("{stage} shard {}/{}: {}", spec.index, spec.count, d);
            }
        }
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
