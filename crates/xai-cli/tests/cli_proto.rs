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
    let dir = std::env::temp_dir().join("xai-cli-lm-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let weights = dir.join("recall_lm.bpk");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
        .args([
            "lm",
            "bench",
            "--prompts",
            "4",
            "--json",
            "--seed",
            "1",
            "--save",
        ])
        .arg(&weights)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["training"]["accuracy"].as_f64().unwrap() > 0.9);
    // The saved model explains the same prompts to the same figures.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
        .args([
            "lm",
            "bench",
            "--prompts",
            "4",
            "--json",
            "--seed",
            "1",
            "--load",
        ])
        .arg(&weights)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(w["training"].is_null());
    assert_eq!(w["accuracy"], v["accuracy"]);
    let methods = v["methods"].as_object().unwrap();
    for (name, b) in methods {
        let a = &w["methods"][name];
        assert_eq!(a["top1"], b["top1"]);
        assert_eq!(a["deletion_auc"], b["deletion_auc"]);
    }
    let mut names: Vec<&str> = methods.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ablation",
            "attnlrp",
            "cp_lrp",
            "gradient_x_embedding",
            "kernel_shap",
            "layer_integrated_gradients",
            "random"
        ]
    );
    for figures in methods.values() {
        for key in ["top1", "deletion_auc", "conservation", "seconds"] {
            assert!(figures.get(key).is_some(), "{key} missing");
        }
    }
    // Exact Shapley values are complete; ablation finds the source better than a random order.
    let ks = methods["kernel_shap"]["conservation"].as_f64().unwrap();
    assert!((ks - 1.0).abs() < 1e-6, "KernelSHAP conservation {ks}");
    let (ablation, random) = (&methods["ablation"], &methods["random"]);
    assert!(ablation["deletion_auc"].as_f64() < random["deletion_auc"].as_f64());
    for args in [
        vec!["lm", "bench", "--prompts", "0"],
        vec!["lm", "bench", "--load", "/nonexistent/recall_lm.bpk"],
    ] {
        let bad = std::process::Command::new(env!("CARGO_BIN_EXE_xai"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
