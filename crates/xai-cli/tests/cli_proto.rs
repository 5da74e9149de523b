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

#[test]
fn lm_bench_reports_every_generation_method() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
        .args(["lm", "bench", "--prompts", "4", "--json", "--seed", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["training"]["accuracy"].as_f64().unwrap() > 0.9);
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "ablation",
            "kernel_shap",
            "gradient_x_embedding",
            "layer_integrated_gradients",
            "attnlrp",
            "cp_lrp",
            "random"
        ]
    );
    // Exact Shapley values are complete; ablation finds the source better than a random order.
    let ks = rows[1]["conservation"].as_f64().unwrap();
    assert!((ks - 1.0).abs() < 1e-6, "KernelSHAP conservation {ks}");
    let (ablation, random) = (&rows[0], &rows[6]);
    assert!(ablation["deletion_auc"].as_f64() < random["deletion_auc"].as_f64());
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
        .args(["lm", "bench", "--prompts", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
