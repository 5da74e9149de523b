//! Fuzzing the loaders with proptest: every file format xai reads (fixture-format model JSON,
//! burnpack weights, CSV, NPY, PNG, XGBoost JSON, LightGBM text, labelled CSV for the learners)
//! is fed valid files with random byte flips, truncations and insertions, and random bytes. Each call must return
//! `Ok` or a typed error — never panic. The case count is bounded so the suite stays fast
//! (`PROPTEST_CASES` raises it for a longer run).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use xai::explain::{read_csv, read_npy, read_png};
use xai::glassbox::table::Table;
use xai::glassbox::trees::TreeEnsemble;
use xai_core::fixture::Fixture;

fn asset(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../assets/fixtures")
            .join(name),
    )
    .unwrap()
}

/// A valid file with random edits: byte flips, a truncation, an inserted run of bytes.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len().max(1);
    (
        proptest::collection::vec((0..n, any::<u8>()), 0..8),
        proptest::option::of(0..n),
        proptest::option::of((0..n, proptest::collection::vec(any::<u8>(), 1..16))),
    )
        .prop_map(move |(flips, cut, insert)| {
            let mut b = valid.clone();
            for (i, v) in flips {
                if i < b.len() {
                    b[i] = v;
                }
            }
            if let Some((at, bytes)) = insert {
                let at = at.min(b.len());
                b.splice(at..at, bytes);
            }
            if let Some(c) = cut {
                b.truncate(c);
            }
            b
        })
}

/// Valid-looking or random input for one loader.
fn input(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated(valid),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ]
}

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Run `load` on every generated input; a panic fails the test with the input that caused it.
fn never_panics(name: &str, valid: Vec<u8>, load: impl Fn(&[u8], &Path)) {
    let dir = std::env::temp_dir().join(format!("xai-fuzz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    runner()
        .run(&input(valid), |bytes| {
            std::fs::write(&file, &bytes).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(&bytes, &file)));
            prop_assert!(r.is_ok(), "{name} panicked on {} bytes", bytes.len());
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn fixture_model_json() {
    never_panics("model.json", asset("tabular_mlp.json"), |b, _| {
        if let Ok(fx) = Fixture::parse(&text(b), "fuzz") {
            let _ = fx.model(&burn::tensor::Device::flex(), burn::tensor::DType::F32);
        }
    });
}

#[test]
fn csv_rows() {
    let valid =
        b"# rows\nx0,x1,x2,x3,x4,x5\n1,2,3,4,5,6\n0.5;-1;2e3;4;5;6\n\"7\",8,9,10,11,12\n".to_vec();
    never_panics("rows.csv", valid, |_, p| {
        let _ = read_csv(p, 6);
    });
}

#[test]
fn npy_arrays() {
    let mut valid = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    valid.extend((header.len() as u16).to_le_bytes());
    valid.extend(header.as_bytes());
    for v in 0..6 {
        valid.extend((v as f64).to_le_bytes());
    }
    never_panics("a.npy", valid, |_, p| {
        let _ = read_npy(p);
    });
}

#[test]
fn png_images() {
    let mut valid = Vec::new();
    image::GrayImage::from_fn(8, 8, |x, y| image::Luma([(x * 30 + y) as u8]))
        .write_to(
            &mut std::io::Cursor::new(&mut valid),
            image::ImageFormat::Png,
        )
        .unwrap();
    never_panics("a.png", valid, |_, p| {
        let _ = read_png(p, &[1, 8, 8]);
    });
}

#[test]
fn xgboost_models() {
    never_panics("xgb.json", asset("glassbox/xgb_model.json"), |b, _| {
        if let Ok(m) = TreeEnsemble::from_xgboost_json(&text(b)) {
            let _ = m.margins(&vec![0.5; m.features()]);
        }
    });
}

#[test]
fn lightgbm_models() {
    never_panics("lgbm.txt", asset("glassbox/lgbm_model.txt"), |b, _| {
        if let Ok(m) = TreeEnsemble::from_lightgbm_text(&text(b)) {
            let _ = m.margins(&vec![0.5; m.features()]);
        }
    });
}

#[test]
fn labelled_tables() {
    let valid = b"a,b,c,default\n1,0,1,1\n0,1,0,0\n1,1,0,1\n".to_vec();
    never_panics("t.csv", valid, |b, _| {
        if let Ok(t) = Table::parse(&text(b), "default") {
            let _ = t.binary();
        }
    });
}

#[test]
fn burnpack_weights() {
    // A valid burnpack of the tabular MLP, written as `xai fixture export` writes it.
    let dir = std::env::temp_dir().join(format!("xai-fuzz-burnpack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("model.json");
    std::fs::write(&fixture, asset("tabular_mlp.json")).unwrap();
    let (weights, arch) = (dir.join("w.bpk"), dir.join("arch.json"));
    xai::explain::export(&fixture, &weights, &arch).unwrap();
    let valid = std::fs::read(&weights).unwrap();
    let fx = Fixture::load(&fixture).unwrap();
    let device = burn::tensor::Device::flex();
    let model = fx.model(&device, burn::tensor::DType::F64).unwrap();
    assert!(xai::explain::load_weights(model, &weights, &device, burn::tensor::DType::F64).is_ok());
    never_panics("weights.bpk", valid, |_, path| {
        let model = fx.model(&device, burn::tensor::DType::F64).unwrap();
        let _ = xai::explain::load_weights(model, path, &device, burn::tensor::DType::F64);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
