//! `xai fixture check|export`: one reference fixture at a time.

use std::path::PathBuf;

use xai::fixture_check::{self, Status};
use xai_core::fixture::Fixture;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Run every supported method of FILE and compare with its expected values.
    Check {
        /// A fixture JSON file, or a glass-box reference (`tree_shap.json`, `rule_list.json`,
        /// `scoring_system.json`, `gam.json`) with its models and data beside it.
        file: PathBuf,
        /// Device: flex, or wgpu / wgpu-cpu / cuda when this build has that feature.
        #[arg(long, default_value = "flex", value_parser = crate::device_name)]
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

pub fn run(action: Action) -> anyhow::Result<bool> {
    match action {
        Action::Check { file, device, json } => {
            let part = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(xai::glassbox_check::Part::for_file);
            let counts = match part {
                Some(part) => check_glassbox(&file, part, json)?,
                None if is_onnx_fixture(&file) => check_onnx(&file, &device, json)?,
                None => check(&Fixture::load(&file)?, &device, json)?,
            };
            if counts.passed + counts.failed == 0 {
                anyhow::bail!(
                    "nothing was checked: {} holds no reference value this build can compute",
                    file.display()
                );
            }
            Ok(counts.failed == 0)
        }
        Action::Export {
            file,
            weights,
            architecture,
        } => {
            xai::explain::export(&file, &weights, &architecture)?;
            eprintln!(
                "weights: {}; architecture: {}",
                weights.display(),
                architecture.display()
            );
            Ok(true)
        }
    }
}

/// How many checked keys passed, failed, or name a method the project does not support.
#[derive(Clone, Copy, Default)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
}

/// Check one glass-box reference file (its models and data are read from the same folder) and
/// print its lines (or one JSON object).
fn check_glassbox(
    file: &std::path::Path,
    part: xai::glassbox_check::Part,
    json: bool,
) -> anyhow::Result<Counts> {
    let dir = file.parent().unwrap_or(std::path::Path::new("."));
    let read = |name: &str| -> xai_core::Result<String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(xai_core::XaiError::io(&p))
    };
    let lines = xai::glassbox_check::check_glassbox(&read, &[part])?;
    report(&file.display().to_string(), "cpu", &lines, json)
}

/// Print check lines (or one JSON object) and count them.
fn report(
    name: &str,
    device: &str,
    lines: &[fixture_check::CheckLine],
    json: bool,
) -> anyhow::Result<Counts> {
    let count = |s: Status| lines.iter().filter(|l| l.status == s).count();
    let c = Counts {
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        unsupported: count(Status::Unsupported),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"fixture": name, "device": device, "lines": lines,
                "passed": c.passed, "failed": c.failed, "unsupported": c.unsupported})
        );
    } else {
        for l in lines {
            println!("{l}");
        }
        println!(
            "{} passed, {} failed, {} unsupported",
            c.passed, c.failed, c.unsupported
        );
    }
    Ok(c)
}

/// Whether FILE is an ONNX fixture (it names an `.onnx` model beside it); unreadable files are
/// left to the layer-list loader, which reports them.
fn is_onnx_fixture(file: &std::path::Path) -> bool {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| xai::onnx::fixture::is_onnx_fixture(&v))
}

/// Check one ONNX fixture on `device` and print its lines (or one JSON object).
pub fn check_onnx(file: &std::path::Path, device: &str, json: bool) -> anyhow::Result<Counts> {
    let fx = xai::onnx::fixture::OnnxFixture::load(file)?;
    let dev = xai_core::parse_device(device)?;
    let lines =
        xai::onnx_check::check_onnx_fixture(&fx, &dev, fixture_check::precision_for(device))?;
    report(&fx.name, device, &lines, json)
}

/// Check one fixture on `device` and print its lines (or one JSON object).
pub fn check(fx: &Fixture, device: &str, json: bool) -> anyhow::Result<Counts> {
    let dev = xai_core::parse_device(device)?;
    let lines = fixture_check::check_fixture(fx, &dev, fixture_check::precision_for(device))?;
    report(&fx.name, device, &lines, json)
}
