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

/// The glass-box fixture folder, embedded too.
const GLASSBOX: &[(&str, &str)] = embedded!(
    "glassbox/tabular_data.json",
    "glassbox/tree_shap.json",
    "glassbox/xgb_model.json",
    "glassbox/lgbm_model.txt",
    "glassbox/rule_list.json",
    "glassbox/scoring_system.json",
    "glassbox/gam.json",
);

/// The ONNX fixtures, embedded: each JSON with its model file.
const ONNX: &[(&str, &str, &[u8])] = &[
    (
        "onnx/onnx_mlp.json",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/fixtures/onnx/onnx_mlp.json"
        )),
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/fixtures/onnx/onnx_mlp.onnx"
        )),
    ),
    (
        "onnx/onnx_resnet.json",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/fixtures/onnx/onnx_resnet.json"
        )),
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/fixtures/onnx/onnx_resnet.onnx"
        )),
    ),
    (
        "onnx/onnx_text.json",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/fixtures/onnx/onnx_text.json"
        )),
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/fixtures/onnx/onnx_text.onnx"
        )),
    ),
];

/// Check the ONNX fixtures (every `dir/onnx/*.json`, or the embedded ones) and print their lines.
fn onnx(dir: Option<&std::path::Path>, device: &str) -> anyhow::Result<Vec<(String, Counts)>> {
    let dev = xai_core::parse_device(device)?;
    let precision = xai::fixture_check::precision_for(device);
    let mut sets: Vec<(
        String,
        xai::onnx::fixture::OnnxFixture,
        xai::onnx::OnnxModel,
    )> = Vec::new();
    match dir {
        Some(d) => {
            let folder = d.join("onnx");
            let Ok(entries) = std::fs::read_dir(&folder) else {
                return Ok(Vec::new());
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            for f in files {
                let fx = xai::onnx::fixture::OnnxFixture::load(&f)?;
                let model = xai::onnx::OnnxModel::load(
                    &fx.onnx,
                    &dev,
                    xai::fixture_check::dtype(precision),
                )?;
                let name = f.display().to_string();
                sets.push((name, fx, model));
            }
        }
        None => {
            for (name, text, bytes) in ONNX {
                let raw: serde_json::Value = serde_json::from_str(text)?;
                let fx = xai::onnx::fixture::OnnxFixture::from_json(
                    &raw,
                    std::path::Path::new("."),
                    name,
                )?;
                let model = xai::onnx::OnnxModel::from_bytes(
                    bytes,
                    &dev,
                    xai::fixture_check::dtype(precision),
                )?;
                sets.push((format!("{name} (embedded)"), fx, model));
            }
        }
    }
    let mut out = Vec::new();
    for (name, fx, model) in sets {
        println!("== {name}");
        let lines = xai::onnx_check::check_onnx_model(&fx, model, &dev, precision)?;
        let c = tally(&lines);
        for l in &lines {
            println!("{l}");
        }
        println!(
            "{} passed, {} failed, {} unsupported",
            c.passed, c.failed, c.unsupported
        );
        out.push((name, c));
    }
    Ok(out)
}

fn tally(lines: &[xai::fixture_check::CheckLine]) -> Counts {
    let mut c = Counts::default();
    for l in lines {
        match l.status {
            xai::fixture_check::Status::Pass => c.passed += 1,
            xai::fixture_check::Status::Fail => c.failed += 1,
            xai::fixture_check::Status::Unsupported => c.unsupported += 1,
        }
    }
    c
}

/// Check the glass-box references (from `dir/glassbox`, or embedded) and print their lines.
fn glassbox(dir: Option<&std::path::Path>) -> anyhow::Result<Option<Counts>> {
    let read = |name: &str| -> xai_core::Result<String> {
        match dir {
            Some(d) => {
                let p = d.join("glassbox").join(name);
                std::fs::read_to_string(&p).map_err(xai_core::XaiError::io(&p))
            }
            None => GLASSBOX
                .iter()
                .find(|(n, _)| n.strip_prefix("glassbox/") == Some(name))
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| xai_core::XaiError::Config(format!("{name} is not embedded"))),
        }
    };
    if dir.is_some_and(|d| !d.join("glassbox").join("tree_shap.json").exists()) {
        return Ok(None);
    }
    let lines = xai::glassbox_check::check_glassbox(&read, &xai::glassbox_check::Part::ALL)?;
    for l in &lines {
        println!("{l}");
    }
    Ok(Some(tally(&lines)))
}

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
    let mut fixtures = set.len();
    for (_, c) in onnx(args.fixtures.as_deref(), &args.device)? {
        total.passed += c.passed;
        total.failed += c.failed;
        total.unsupported += c.unsupported;
        fixtures += 1;
    }
    println!(
        "== glassbox{}",
        if args.fixtures.is_some() {
            "/"
        } else {
            "/ (embedded)"
        }
    );
    if let Some(c) = glassbox(args.fixtures.as_deref())? {
        total.passed += c.passed;
        total.failed += c.failed;
        total.unsupported += c.unsupported;
        fixtures += 1;
    } else {
        println!("(no glassbox/tree_shap.json in the folder)");
    }
    println!("== total over {fixtures} fixture sets on {}", args.device);
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
