//! The `xai` program: this file parses the command line; each subcommand lives in its own file.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod conformance;
mod demo;
mod explain;
mod fixture;
mod glassbox;
mod influence;
mod lm;
mod methods;
mod proto;
mod reduce;
mod sanity;
mod vit;

// Attribution batches allocate and free large activation buffers at a high rate; the system
// allocator returns them to the kernel each time (measured: ~45% of IG time in page faults).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Demo(demo::Args),
    /// Check the project's methods against a reference fixture.
    Fixture {
        #[command(subcommand)]
        action: fixture::Action,
    },
    /// Explain a user's model (the fixture JSON format, or an XGBoost / LightGBM model) on
    /// inputs from CSV, NPY or PNG; writes OUT/index.html and OUT/results.json.
    Explain(Box<explain::Args>),
    /// List the attribution methods: canonical name, accepted aliases, requirements.
    Methods(methods::Args),
    /// Check every reference fixture (embedded in the binary) and print a summary.
    Conformance(conformance::Args),
    /// Training-data attribution benchmarks on the bundled digits, judged by retraining.
    Influence {
        #[command(subcommand)]
        action: influence::Action,
    },
    /// Sanity checks of explanations (Adebayo et al.) and evaluation metrics on a CNN trained on
    /// the bundled digits.
    Sanity {
        #[command(subcommand)]
        action: sanity::Action,
    },
    /// Interpretable-by-design models (ProtoPNet, concept bottlenecks, CEM, mixtures of
    /// experts, TCAV, deep kNN) on synthetic benchmarks with exact ground truth.
    Proto {
        #[command(subcommand)]
        action: proto::Action,
    },
    /// Throughput of one attribution method on a fixture's model and inputs.
    Bench(bench::Args),
    /// Causal language models: generation attribution on a recall model with a known answer
    /// source.
    Lm {
        #[command(subcommand)]
        action: lm::Action,
    },
    /// Vision transformers: a tiny ViT that learned a watermark shortcut, explained by every
    /// transformer method.
    Vit {
        #[command(subcommand)]
        action: vit::Action,
    },
    /// The reduce step of a sharded run (`xai explain --shard-dir`, `xai influence map`):
    /// check every shard is there and belongs to the run, and merge them.
    Reduce(reduce::Args),
    /// Glass-box models learned from a labelled CSV file: rule lists, risk scores, GAMs,
    /// decision trees, sparse linear models.
    Glassbox {
        #[command(subcommand)]
        action: glassbox::Action,
    },
}

/// A `--device` value this build can run (clap reports any other as a usage error, exit 2).
fn device_name(name: &str) -> Result<String, String> {
    let mut known = xai_core::available_devices();
    if known.contains(&"wgpu") {
        known.push("wgpu-cpu");
    }
    if known.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "this build has the devices {} (wgpu and cuda are cargo features)",
            known.join(", ")
        ))
    }
}

/// Runs the command; `Ok(false)` means it ran but found failures (exit code 1).
fn run(cli: Cli) -> anyhow::Result<bool> {
    let command = match cli.command {
        Some(command) => command,
        None => Command::Demo(demo::Args::defaults()?),
    };
    match command {
        Command::Demo(args) => demo::run(args),
        Command::Fixture { action } => fixture::run(action),
        Command::Explain(args) => explain::run(*args),
        Command::Methods(args) => methods::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Influence { action } => influence::run(action),
        Command::Sanity { action } => sanity::run(action),
        Command::Proto { action } => proto::run(action),
        Command::Bench(args) => bench::run(args),
        Command::Lm { action } => lm::run(action),
        Command::Vit { action } => vit::run(action),
        Command::Glassbox { action } => glassbox::run(action),
        Command::Reduce(args) => reduce::run(args),
    }
}

/// clap's usage error in one line: its first line, with the items it lists below a trailing
/// colon (the missing arguments) joined onto it; the usage and help hints are dropped.
fn usage_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: bad arguments").to_string();
    if !first.ends_with(':') {
        return first;
    }
    let items: Vec<&str> = lines
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    format!("{first} {}", items.join(", "))
}

/// Where the last panic happened, kept by the panic hook for the one-line report in `main`.
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn main() -> ExitCode {
    // Usage errors are one line too (help and version print as usual).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", usage_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    // Panics the library turns into errors (a user's forward failing during capture) must not
    // print; any other panic is reported below in one line, with its location.
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    }));
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        Ok(Err(e)) => {
            eprintln!(
                "error: {}",
                e.to_string().lines().next().unwrap_or_default()
            );
            ExitCode::from(2)
        }
        Err(_) => {
            let last = LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default();
            eprintln!("error: internal error (a bug in xai, please report it): {last}");
            ExitCode::from(101)
        }
    }
}
