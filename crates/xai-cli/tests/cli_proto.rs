//! `xai proto bench` through the real binary: the JSON it prints, and bad input.

use std::process::Command;

fn xai() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xai"))
}

#[test]
fn proto_bench_regimemix_prints_its_figures_as_json() {
    let out_dir = std::env::temp_dir().join("xai-cli-proto-regimemix");
    let out = xai()
        .args(["proto", "bench", "regimemix", "--json", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["nmi"].as_f64().unwrap() >= 0.9);
    assert!(v["max_over_mean_load"].as_f64().unwrap() <= 1.2);
    assert!(out_dir.join("regimemix.json").exists());
    assert!(out_dir.join("regimemix_routing.png").exists());
}

#[test]
fn proto_bench_rejects_unknown_benchmarks_and_devices_with_one_line() {
    for args in [
        vec!["proto", "bench", "mnist"],
        vec!["proto", "bench", "regimemix", "--device", "tpu"],
    ] {
        let out = xai().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
