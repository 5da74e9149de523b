//! `xai demo` (and `xai` with no arguments): the Clever Hans report.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Output folder.
    #[arg(long, default_value = "xai-report")]
    out: PathBuf,
    /// Replace --out even when it holds files xai did not write.
    #[arg(long)]
    force: bool,
    /// Seed of data, training and every stochastic method.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Training epochs.
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// Device: flex, or wgpu / wgpu-cpu / cuda when this build has that feature (training runs on flex).
    #[arg(long, default_value = "flex", value_parser = crate::device_name)]
    device: String,
    /// Also print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// The arguments of a bare `xai demo`: the defaults declared above, in one place.
    pub fn defaults() -> anyhow::Result<Self> {
        let command = <Self as clap::Args>::augment_args(clap::Command::new("demo"));
        let matches = command.try_get_matches_from(["demo"])?;
        Ok(<Self as clap::FromArgMatches>::from_arg_matches(&matches)?)
    }
}

pub fn run(args: Args) -> anyhow::Result<bool> {
    if args.epochs == 0 {
        anyhow::bail!("--epochs must be at least 1");
    }
    let options = xai::demo::DemoOptions {
        out: args.out.clone(),
        force: args.force,
        seed: args.seed,
        epochs: args.epochs,
        device: args.device,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..Default::default()
    };
    let r = xai::demo::run(&options)?;
    if args.json {
        let shares: Vec<_> = r
            .methods
            .iter()
            .map(|m| (m.method.clone(), m.watermark_share_marked))
            .collect();
        println!(
            "{}",
            serde_json::json!({"out": args.out, "accuracy": r.accuracy, "watermark_share": shares})
        );
    }
    eprintln!("report: {}", args.out.join("index.html").display());
    Ok(true)
}
