//! `xai reduce`: the reduce step of a sharded run (attributions, or one stage of influence).

use std::path::PathBuf;

use xai_core::shard::Run;

#[derive(clap::Args)]
pub struct Args {
    /// The run folder the shards wrote.
    #[arg(long)]
    dir: PathBuf,
    /// For an influence run: the stage to reduce (`factors`, `eigenvalues`, `scores`).
    #[arg(long, value_parser = xai_influence::sharded::STAGES)]
    stage: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<bool> {
    let run = Run::open(&args.dir)?;
    let kind = run.manifest().kind.clone();
    let file = match (kind.as_str(), args.stage.as_deref()) {
        (xai::sharded_explain::KIND, None) => xai::sharded_explain::reduce(&args.dir)?,
        (xai_influence::sharded::KIND, Some(stage)) => {
            let objective = xai_bench::influence::run_objective(&run)?;
            xai_influence::sharded::reduce(&run, stage, &objective)?
        }
        (xai_influence::sharded::KIND, None) => {
            anyhow::bail!("an influence run is reduced one stage at a time: add --stage STAGE")
        }
        (_, Some(_)) => anyhow::bail!("--stage applies to influence runs; this is `{kind}`"),
        (other, None) => anyhow::bail!("{}: unknown run kind `{other}`", args.dir.display()),
    };
    println!(
        "{}",
        serde_json::json!({"kind": kind, "stage": args.stage, "file": file.display().to_string()})
    );
    Ok(true)
}
