//! Influence computed by separate processes (one per slice of the training set) and merged
//! equals the one-process scores; bad shard arguments are one-line errors.

use std::process::Command;

fn xai() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xai"))
}

#[test]
fn scores_from_three_processes_equal_the_one_process_scores() {
    let dir = std::env::temp_dir().join(format!("xai-shards-{}", std::process::id()));
    let out = xai()
        .args([
            "influence",
            "partitioned",
            "--shards",
            "3",
            "--test-points",
            "5",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diff = v["max_abs_diff_merged_vs_whole"].as_f64().unwrap();
    let scale = v["max_abs_score"].as_f64().unwrap();
    assert!(scale > 0.0 && diff <= 1e-10 * scale, "{v}");
    assert_eq!(v["train_points"], 1000);
    for i in 0..3 {
        assert!(dir.join(format!("shard_{i}.json")).is_file());
    }
    // A shard that does not exist, and a folder without state: one line, non-zero exit.
    for args in [
        vec!["influence", "shard", "--index", "3", "--of", "3", "--dir"],
        vec!["influence", "shard", "--index", "0", "--of", "2", "--dir"],
    ] {
        let bad = if args[3] == "0" {
            dir.join("nowhere")
        } else {
            dir.clone()
        };
        let out = xai().args(&args).arg(&bad).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
