//! The `xai` program.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Attribution batches allocate and free large activation buffers at a high rate; the system
// allocator returns them to the kernel each time (measured: ~45% of IG time in page faults).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use xai::fixture_check::{self, Status};
use xai_core::fixture::Fixture;

#[derive(Parser)]
#[command(
    name = "xai",
    version,
    about = "Explain burn models: attributions, checks and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The main job (what `xai` runs with no arguments): train a CNN on the bundled Clever Hans
    /// images, explain it with every available method and write OUT/index.html + results.json.
    Demo {
        /// Output folder.
        #[arg(long, default_value = "xai-report")]
        out: PathBuf,
        /// Seed of data, training and every stochastic method.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Training epochs.
        #[arg(long, default_value_t = 8)]
        epochs: usize,
        /// Device for the explanations: flex, wgpu, wgpu-cpu or cuda (training runs on flex).
        #[arg(long, default_value = "flex")]
        device: String,
        /// Also print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check the project's methods against a reference fixture.
    Fixture {
        #[command(subcommand)]
        action: FixtureAction,
    },
    /// Explain a user's model: a JSON model in the fixture format and inputs from CSV, NPY or
    /// PNG; writes OUT/index.html and OUT/results.json.
    Explain {
        /// The model file (`input_shape` + `model` layers, the shared fixture format).
        #[arg(long)]
        model: PathBuf,
        /// Weights saved with burn's `save_file` (burnpack, e.g. from `xai fixture export`);
        /// the model file then only needs the architecture (`weight_shape` per layer).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Input files: one CSV or NPY, or PNG images (default: the model file's `inputs`).
        #[arg(long, num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// `predicted`, one class for all inputs, or one per input (`0,2,1`).
        #[arg(long, default_value = "predicted")]
        targets: String,
        /// Comma-separated methods (default: all of them).
        #[arg(long)]
        methods: Option<String>,
        /// Output folder.
        #[arg(long, default_value = "xai-explain")]
        out: PathBuf,
        /// Device: flex, wgpu, wgpu-cpu or cuda.
        #[arg(long, default_value = "flex")]
        device: String,
        /// Seed of the stochastic methods.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// List the attribution methods: canonical name, accepted aliases, requirements.
    Methods {
        /// Print the registry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every reference fixture (embedded in the binary) and print a summary.
    Conformance {
        /// Folder holding fixture files (default: the copies embedded in the binary).
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Device: flex or wgpu.
        #[arg(long, default_value = "flex")]
        device: String,
    },
    /// Training-data attribution benchmarks on the bundled digits, judged by retraining.
    Influence {
        #[command(subcommand)]
        action: InfluenceAction,
    },
    /// Sanity checks of explanations (Adebayo et al.) and evaluation metrics on a CNN trained on
    /// the bundled digits.
    Sanity {
        #[command(subcommand)]
        action: SanityAction,
    },
    /// Interpretable-by-design models (ProtoPNet, concept bottlenecks, CEM, mixtures of
    /// experts, TCAV, deep kNN) on synthetic benchmarks with exact ground truth.
    Proto {
        #[command(subcommand)]
        action: ProtoAction,
    },
    /// Throughput of one attribution method on a fixture's model and inputs.
    Bench {
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
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum InfluenceAction {
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

#[derive(Subcommand)]
enum ProtoAction {
    /// Run one benchmark (`partshapes`, `conceptsprites`, `cleverhans`, `regimemix`), write its
    /// images and OUT/NAME.json, and print its figures.
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
        /// Device: flex, wgpu, wgpu-cpu or cuda.
        #[arg(long, default_value = "flex")]
        device: String,
        /// Quick run: smaller data and fewer epochs (smoke tests; figures are not the benchmark's).
        #[arg(long)]
        quick: bool,
    },
}

#[derive(Subcommand)]
enum SanityAction {
    /// Train the digits CNN, run the randomisation tests and the metrics, write OUT/sanity.json,
    /// OUT/sanity_cascading.svg and OUT/sanity_maps.png, and print the summary.
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
    },
    /// Time the perturbation metrics on a fixture's model and inputs (compare with
    /// `python scripts/quantus_reference.py --bench`).
    MetricsBench {
        /// A fixture JSON file (e.g. ../shared/fixtures/perf_lenet.json).
        #[arg(long)]
        fixture: PathBuf,
    },
}

#[derive(Subcommand)]
enum FixtureAction {
    /// Run every supported method of FILE and compare with its expected values.
    Check {
        /// A fixture JSON file.
        file: PathBuf,
        /// Device: flex or wgpu.
        #[arg(long, default_value = "flex")]
        device: String,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Split FILE's model into burnpack weights and an architecture-only JSON file (for
    /// `xai explain --model ARCH --weights WEIGHTS`).
    Export {
        /// A fixture JSON file.
        file: PathBuf,
        /// Where to write the weights (burnpack).
        #[arg(long)]
        weights: PathBuf,
        /// Where to write the architecture (fixture format with `weight_shape`, plus the inputs).
        #[arg(long)]
        architecture: PathBuf,
    },
}

/// Fixtures embedded in the binary: the default of `xai conformance`.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "tabular_mlp.json",
        include_str!("../../../assets/fixtures/tabular_mlp.json"),
    ),
    (
        "image_cnn.json",
        include_str!("../../../assets/fixtures/image_cnn.json"),
    ),
    (
        "smooth_mlp.json",
        include_str!("../../../assets/fixtures/smooth_mlp.json"),
    ),
    (
        "logreg_influence.json",
        include_str!("../../../assets/fixtures/logreg_influence.json"),
    ),
];

fn check_fixture(fx: &Fixture, device: &str, json: bool) -> anyhow::Result<(usize, usize, usize)> {
    let dev = xai_core::parse_device(device)?;
    let lines = fixture_check::check_fixture(fx, &dev, fixture_check::precision_for(device))?;
    let count = |s: Status| lines.iter().filter(|l| l.status == s).count();
    let (p, f, u) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Unsupported),
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"fixture": fx.name, "device": device, "lines": lines, "passed": p, "failed": f, "unsupported": u})
        );
    } else {
        for l in &lines {
            println!("{l}");
        }
        println!("{p} passed, {f} failed, {u} unsupported");
    }
    Ok((p, f, u))
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let default = Command::Demo {
        out: PathBuf::from("xai-report"),
        seed: 42,
        epochs: 8,
        device: "flex".into(),
        json: false,
    };
    match cli.command.unwrap_or(default) {
        Command::Demo {
            out,
            seed,
            epochs,
            device,
            json,
        } => {
            if epochs == 0 {
                anyhow::bail!("--epochs must be at least 1");
            }
            let options = xai::demo::DemoOptions {
                out: out.clone(),
                seed,
                epochs,
                device,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                ..Default::default()
            };
            let r = xai::demo::run(&options)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"out": out, "accuracy": r.accuracy, "watermark_share": r.methods.iter().map(|m| (m.method.clone(), m.watermark_share_marked)).collect::<Vec<_>>()})
                );
            }
            eprintln!("report: {}", out.join("index.html").display());
            Ok(true)
        }
        Command::Explain {
            model,
            weights,
            inputs,
            targets,
            methods,
            out,
            device,
            seed,
        } => {
            let targets = if targets == "predicted" {
                None
            } else {
                Some(
                    targets
                        .split(',')
                        .map(|t| t.trim().parse::<usize>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| {
                            anyhow::anyhow!(
                                "--targets must be `predicted` or class indices like 0,2,1"
                            )
                        })?,
                )
            };
            let methods = methods.map_or_else(
                || {
                    xai::explain::default_methods()
                        .iter()
                        .map(|m| m.to_string())
                        .collect()
                },
                |m| m.split(',').map(|s| s.trim().to_string()).collect(),
            );
            let options = xai::explain::ExplainOptions {
                model,
                weights,
                inputs,
                targets,
                methods,
                out: out.clone(),
                device,
                seed,
            };
            let r = xai::explain::run(&options)?;
            eprintln!(
                "{} inputs, {} methods; report: {}",
                r.inputs.len(),
                r.results.len(),
                out.join("index.html").display()
            );
            Ok(true)
        }
        Command::Influence {
            action:
                InfluenceAction::Partitioned {
                    shards,
                    test_points,
                    dir,
                    seed,
                },
        } => {
            let v = xai::influence_bench::partitioned(seed, shards, test_points, &dir)?;
            println!("{}", serde_json::to_string(&v)?);
            Ok(true)
        }
        Command::Influence {
            action: InfluenceAction::Shard { index, of, dir },
        } => {
            xai::influence_bench::shard(index, of, &dir)?;
            Ok(true)
        }
        Command::Influence {
            action: InfluenceAction::KronfluenceExport { out, seed },
        } => {
            let opts = xai::influence_bench::InfluenceBenchOptions {
                seed,
                ..Default::default()
            };
            let v = xai::influence_bench::kronfluence_export(&opts, &out)?;
            println!("{}", serde_json::to_string(&v)?);
            Ok(true)
        }
        Command::Influence {
            action:
                InfluenceAction::Bench {
                    which,
                    json,
                    seed,
                    quick,
                },
        } => {
            if json {
                // SAFETY-free: single-threaded at this point; silences progress bars.
                unsafe { std::env::set_var("XAI_QUIET", "1") };
            }
            let mut opts = xai::influence_bench::InfluenceBenchOptions {
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
                "digits-logreg" => xai::influence_bench::digits_logreg(&opts)?,
                "digits-mlp" => xai::influence_bench::digits_mlp(&opts)?,
                "digits-cnn" => xai::influence_bench::digits_cnn(&opts)?,
                other => anyhow::bail!(
                    "unknown benchmark `{other}` (digits-logreg, digits-mlp, digits-cnn)"
                ),
            };
            println!(
                "{}",
                if json {
                    serde_json::to_string(&v)?
                } else {
                    serde_json::to_string_pretty(&v)?
                }
            );
            Ok(true)
        }
        Command::Sanity {
            action:
                SanityAction::Bench {
                    json,
                    seed,
                    out,
                    quick,
                },
        } => {
            let mut opts = xai::sanity_bench::SanityBenchOptions {
                seed,
                out,
                progress: !json,
                ..Default::default()
            };
            if quick {
                opts.epochs = 6;
                opts.explained = 16;
            }
            let v = xai::sanity_bench::run(&opts)?;
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                for key in [
                    "spearman_gradient_last",
                    "spearman_ig_last",
                    "spearman_guided_last",
                    "deletion_auc_ig",
                    "deletion_auc_random",
                    "test_accuracy",
                ] {
                    println!("{key:<24} {:.4}", v[key].as_f64().unwrap_or(f64::NAN));
                }
                println!("(full results in {}/sanity.json)", opts.out.display());
            }
            Ok(true)
        }
        Command::Proto {
            action:
                ProtoAction::Bench {
                    which,
                    json,
                    seed,
                    out,
                    device,
                    quick,
                },
        } => {
            let opts = xai_proto::bench::BenchOptions {
                seed,
                quick,
                out,
                progress: !json,
                device: xai_core::parse_device(&device)?,
            };
            let v = match which.as_str() {
                "partshapes" => xai_proto::bench::partshapes::run(&opts)?,
                "conceptsprites" => xai_proto::bench::conceptsprites::run(&opts)?,
                "cleverhans" => xai_proto::bench::cleverhans::run(&opts)?,
                "regimemix" => xai_proto::bench::regimemix::run(&opts)?,
                other => anyhow::bail!(
                    "unknown benchmark `{other}` (partshapes, conceptsprites, cleverhans, regimemix)"
                ),
            };
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&proto_summary(&v))?);
                println!("(full results in {}/{which}.json)", opts.out.display());
            }
            Ok(true)
        }
        Command::Sanity {
            action: SanityAction::MetricsBench { fixture },
        } => {
            let v = xai::metrics_bench::run(&Fixture::load(&fixture)?)?;
            println!("{}", serde_json::to_string(&v)?);
            Ok(true)
        }
        Command::Fixture {
            action: FixtureAction::Check { file, device, json },
        } => {
            let (_, failed, _) = check_fixture(&Fixture::load(&file)?, &device, json)?;
            Ok(failed == 0)
        }
        Command::Fixture {
            action:
                FixtureAction::Export {
                    file,
                    weights,
                    architecture,
                },
        } => {
            xai::explain::export(&file, &weights, &architecture)?;
            eprintln!(
                "weights: {}; architecture: {}",
                weights.display(),
                architecture.display()
            );
            Ok(true)
        }
        Command::Bench {
            fixture,
            method,
            steps,
            device,
            min_seconds,
            json,
        } => {
            let fx = Fixture::load(&fixture)?;
            let methods: Vec<String> = method.split(',').map(|m| m.trim().to_string()).collect();
            let devices: Vec<String> = device.split(',').map(|d| d.trim().to_string()).collect();
            let table = xai::bench::bench_table(&fx, &methods, steps, &devices, min_seconds)?;
            if json {
                if table.len() == 1 {
                    println!("{}", serde_json::to_string(&table[0])?);
                } else {
                    println!("{}", serde_json::to_string(&table)?);
                }
            } else {
                println!(
                    "{:<22} {:<9} {:>6} {:>6} {:>10} {:>12} {:>9} {:>10} {:>5}",
                    "method",
                    "device",
                    "inputs",
                    "steps",
                    "seconds",
                    "inputs/s",
                    "GFLOP/s",
                    "peak MiB",
                    "runs"
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
            }
            Ok(true)
        }
        Command::Methods { json } => {
            let methods = xai::registry::METHODS;
            if json {
                println!("{}", serde_json::to_string_pretty(methods)?);
            } else {
                for m in methods {
                    let mut needs = vec![if m.needs.gradients {
                        "gradients"
                    } else {
                        "forward passes"
                    }];
                    if m.needs.baseline {
                        needs.push("baseline");
                    }
                    if m.needs.conv_layer {
                        needs.push("conv layer");
                    }
                    if m.needs.seeded {
                        needs.push("seed");
                    }
                    let aliases = if m.aliases.is_empty() {
                        String::new()
                    } else {
                        format!(" (also {})", m.aliases.join(", "))
                    };
                    println!("{:<22} {}{aliases}", m.name, m.summary);
                    println!("{:<22} needs: {}", "", needs.join(", "));
                }
            }
            Ok(true)
        }
        Command::Conformance { fixtures, device } => {
            let mut set: Vec<(String, Fixture)> = Vec::new();
            match fixtures {
                Some(dir) => {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                        .map_err(|e| {
                            anyhow::anyhow!("cannot read fixture folder {}: {e}", dir.display())
                        })?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "json"))
                        .collect();
                    files.sort();
                    for f in files {
                        set.push((f.display().to_string(), Fixture::load(&f)?));
                    }
                }
                None => {
                    for (name, text) in EMBEDDED {
                        set.push((format!("{name} (embedded)"), Fixture::parse(text, name)?));
                    }
                }
            }
            let mut ok = true;
            let (mut tp, mut tf, mut tu) = (0, 0, 0);
            for (name, fx) in &set {
                println!("== {name}");
                let (p, f, u) = check_fixture(fx, &device, false)?;
                ok &= f == 0;
                (tp, tf, tu) = (tp + p, tf + f, tu + u);
            }
            println!("== total over {} fixtures on {device}", set.len());
            println!("{tp} passed, {tf} failed, {tu} unsupported");
            Ok(ok)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The headline figures of a proto benchmark (its JSON without the bulky arrays).
fn proto_summary(v: &serde_json::Value) -> serde_json::Value {
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
