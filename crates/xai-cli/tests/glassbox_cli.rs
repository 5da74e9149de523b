//! `xai glassbox`: rule lists and risk scores learned from a labelled CSV, printed for a person;
//! bad data is one line and exit 2.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/fixtures/glassbox")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fixture's binarised training rows as CSV, restricted to `columns` (all when empty).
fn csv(path: &std::path::Path, columns: &[&str]) {
    let data = fixture("tabular_data.json");
    let names: Vec<&str> = data["binary_feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let keep: Vec<usize> = (0..names.len())
        .filter(|&i| columns.is_empty() || columns.contains(&names[i]))
        .collect();
    let mut text = keep.iter().map(|&i| names[i]).collect::<Vec<_>>().join(",") + ",default\n";
    for (row, y) in data["B_train"]
        .as_array()
        .unwrap()
        .iter()
        .zip(data["y_train"].as_array().unwrap())
    {
        let r = row.as_array().unwrap();
        let cells: Vec<String> = keep.iter().map(|&i| format!("{}", r[i])).collect();
        text += &format!("{},{}\n", cells.join(","), y.as_f64().unwrap() as u8);
    }
    std::fs::write(path, text).unwrap();
}

fn xai(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xai"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn rule_lists_and_risk_scores_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("xai-glassbox-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scores = dir.join("scores.csv");
    let spec = fixture("scoring_system.json");
    let cols: Vec<&str> = spec["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    csv(&scores, &cols);
    let sheet = dir.join("sheet");
    let out = xai(&[
        "glassbox",
        "risk-score",
        "--data",
        scores.to_str().unwrap(),
        "--label",
        "default",
        "--out",
        sheet.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("debt_ratio>0.6     +2 points"), "{text}");
    assert!(text.contains("certified optimal"), "{text}");
    assert!(text.contains("objective 0.589422"), "{text}");
    let html = std::fs::read_to_string(sheet.join("index.html")).unwrap();
    assert!(
        html.contains("Scoring sheet") && html.contains("debt_ratio&gt;0.6"),
        "{html}"
    );
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sheet.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["intercept"], -1);

    let all = dir.join("all.csv");
    let rules = dir.join("rules");
    csv(&all, &[]);
    let out = xai(&[
        "glassbox",
        "rule-list",
        "--data",
        all.to_str().unwrap(),
        "--label",
        "default",
        "--c",
        "0.005",
        "--max-nodes",
        "300000",
        "--out",
        rules.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("if ["), "{text}");
    let objective: f64 = text
        .split("objective ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let corels = fixture("rule_list.json")["objective"].as_f64().unwrap();
    assert!(objective <= corels + 1e-6, "{objective} > {corels}");
    let html = std::fs::read_to_string(dir.join("rules").join("index.html")).unwrap();
    assert!(
        html.contains("<td>else</td>") && html.contains("captures"),
        "{html}"
    );

    // A GAM on the raw features: importances printed, model and plots written.
    let data = fixture("tabular_data.json");
    let names: Vec<&str> = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let mut text = names.join(",") + ",default\n";
    for (row, y) in data["X_train"]
        .as_array()
        .unwrap()
        .iter()
        .zip(data["y_train"].as_array().unwrap())
    {
        let cells: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap().to_string())
            .collect();
        text += &format!("{},{}\n", cells.join(","), y.as_f64().unwrap() as u8);
    }
    let raw_train = dir.join("train.csv");
    std::fs::write(&raw_train, text).unwrap();
    let gam_out = dir.join("gam");
    let out = xai(&[
        "glassbox",
        "gam",
        "--data",
        raw_train.to_str().unwrap(),
        "--label",
        "default",
        "--interactions",
        "2",
        "--bags",
        "2",
        "--out",
        gam_out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("debt_ratio"), "{text}");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(gam_out.join("gam.json")).unwrap()).unwrap();
    let terms = model["terms"].as_array().unwrap();
    assert_eq!(terms.len(), names.len() + 2);
    assert!(
        std::fs::read_to_string(gam_out.join("index.html"))
            .unwrap()
            .contains("shape of")
    );
    for t in terms {
        let svg = std::fs::read_to_string(gam_out.join(t["plot"].as_str().unwrap())).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
    }

    // A pruned tree and a sparse linear model on the same raw features.
    let out = xai(&[
        "glassbox",
        "tree",
        "--data",
        raw_train.to_str().unwrap(),
        "--label",
        "default",
        "--max-depth",
        "4",
        "--min-leaf",
        "5",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("if ") && text.contains("15 leaves, depth 4"),
        "{text}"
    );
    let out = xai(&[
        "glassbox",
        "linear",
        "--data",
        raw_train.to_str().unwrap(),
        "--label",
        "default",
        "--lambda",
        "0.01",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("log-odds = ") && text.contains("× debt_ratio"),
        "{text}"
    );

    // Every learner on the fixture folder, with the reference objectives.
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/glassbox");
    let out = xai(&[
        "glassbox",
        "bench",
        "--data",
        folder.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let num = |k: &str| v[k].as_f64().unwrap();
    assert!(num("rule_list_objective") <= num("rule_list_reference_objective") + 1e-12);
    assert!((num("scoring_objective") - num("scoring_reference_objective")).abs() < 1e-9);
    assert!(num("gam_test_auc") >= num("gam_reference_test_auc") - 0.01);
    assert_eq!(v["learners"].as_array().unwrap().len(), 5);
    // The references one file at a time, as `fixture check` does.
    let out = xai(&[
        "fixture",
        "check",
        folder.join("tree_shap.json").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("8 passed, 0 failed"), "{text}");

    // A non-binary column, a missing label column, a missing file: one line, exit 2.
    let raw = dir.join("raw.csv");
    std::fs::write(&raw, "age,default\n31.5,1\n40,0\n").unwrap();
    for (args, needle) in [
        (
            vec!["--data", raw.to_str().unwrap(), "--label", "default"],
            "not binary",
        ),
        (
            vec!["--data", raw.to_str().unwrap(), "--label", "y"],
            "no label column",
        ),
        (
            vec!["--data", "/nonexistent.csv", "--label", "y"],
            "nonexistent",
        ),
    ] {
        let mut a = vec!["glassbox", "risk-score"];
        a.extend(args);
        let out = xai(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
