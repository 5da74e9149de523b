//! `xai conformance`: every reference fixture, embedded or from a folder, with one summary.

use std::path::PathBuf;

use xai_core::fixture::Fixture;

use super::fixture::{Counts, check};

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding fixture files (default: the copies embedded in the binary).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Device: flex, or wgpu / wgpu-cpu / cuda when this build has that feature.
    #[arg(long, default_value = "flex", value_parser = crate::device_name)]
    device: String,
}

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/fixtures/", $name)),
        )),*]
    };
}

/// Fixtures embedded in the binary: the default set.
const EMBEDDED: &[(&str, &str)] = embedded!(
    "tabular_mlp.json",
    "image_cnn.json",
    "smooth_mlp.json",
    "logreg_influence.json",
);

pub fn run(args: Args) -> anyhow::Result<bool> {
    let mut set: Vec<(String, Fixture)> = Vec::new();
    match &args.fixtures {
        Some(dir) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| anyhow::anyhow!("cannot read fixture folder {}: {e}", dir.display()))?
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
    let mut total = Counts::default();
    for (name, fx) in &set {
        println!("== {name}");
        let c = check(fx, &args.device, false)?;
        total.passed += c.passed;
        total.failed += c.failed;
        total.unsupported += c.unsupported;
    }
    println!("== total over {} fixtures on {}", set.len(), args.device);
    println!(
        "{} passed, {} failed, {} unsupported",
        total.passed, total.failed, total.unsupported
    );
    if total.passed + total.failed == 0 {
        anyhow::bail!(
            "nothing was checked: no fixture holds a reference value this build can compute"
        );
    }
    Ok(total.failed == 0)
}
