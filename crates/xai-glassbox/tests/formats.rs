//! Models saved by XGBoost 3.2 and LightGBM 4.7 in the cases the shared fixtures do not cover
//! (`tests/data`, made by `scripts/glassbox_reference.py`): multiclass, regression, missing
//! values, categorical splits, dart, random forest. Margins must equal the library's own
//! prediction and path-dependent TreeSHAP the library's own `pred_contribs` / `pred_contrib`
//! (both libraries implement the same algorithm), on rows with missing values. For LightGBM's
//! binary models the margin's sigmoid must also equal the library's probability (in
//! random-forest mode LightGBM's raw scores are sums while its probabilities average the trees;
//! the reference stores the average).

use std::path::PathBuf;

use serde_json::Value;
use xai_glassbox::trees::{Objective, TreeEnsemble};
use xai_glassbox::treeshap::tree_shap;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Null => vec![f64::NAN],
        other => panic!("not a number: {other}"),
    }
}

/// XGBoost computes in f32 (errors ~1e-6 of the scale), LightGBM in f64.
fn check(case: &str, outputs: usize, objective: Objective, tol: f64) {
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(data(&format!("{case}.json"))).unwrap())
            .unwrap();
    let model = TreeEnsemble::load(&data(r["model"].as_str().unwrap())).unwrap();
    assert_eq!(model.outputs(), outputs, "{case}");
    assert_eq!(model.objective(), objective, "{case}");
    let rows = flat(&r["rows"]);
    assert!(
        rows.iter().any(|v| v.is_nan()),
        "{case}: rows without missing values"
    );
    let f = model.features();
    let n = rows.len() / f;
    let margins = model.margins(&rows).unwrap();
    let want = flat(&r["margin"]);
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let err = xai_testkit::max_abs_diff(&margins, &want);
    assert!(err <= tol * scale, "{case} margin: {err:.2e}");

    if let Some(p) = r.get("probability") {
        // The margin is the log-odds of the library's probability.
        let sigmoid: Vec<f64> = margins.iter().map(|m| 1.0 / (1.0 + (-m).exp())).collect();
        let err = xai_testkit::max_abs_diff(&sigmoid, &flat(p));
        assert!(err <= tol, "{case} probability: {err:.2e}");
    }

    let shap = tree_shap(&model, &rows).unwrap();
    let contribs = flat(&r["contribs"]);
    for row in 0..n {
        for o in 0..outputs {
            let at = (row * outputs + o) * (f + 1);
            let want = &contribs[at..at + f];
            let err = xai_testkit::max_abs_diff(shap.row(row, o), want);
            assert!(err <= tol * scale, "{case} row {row} output {o}: {err:.2e}");
            let e = contribs[at + f];
            assert!(
                (shap.expected_value[o] - e).abs() <= tol * scale,
                "{case} expected value {} vs {e}",
                shap.expected_value[o]
            );
        }
    }
}

#[test]
fn xgboost_multiclass() {
    check("xgb_multiclass", 3, Objective::Multiclass, 1e-5);
}

#[test]
fn xgboost_categorical_splits_and_missing_values() {
    check("xgb_categorical", 1, Objective::Binary, 1e-5);
}

#[test]
fn xgboost_regression() {
    check("xgb_regression", 1, Objective::Regression, 1e-5);
}

#[test]
fn xgboost_dart() {
    check("xgb_dart", 1, Objective::Binary, 1e-5);
}

#[test]
fn lightgbm_multiclass() {
    check("lgb_multiclass", 3, Objective::Multiclass, 1e-9);
}

#[test]
fn lightgbm_categorical_splits_and_missing_values() {
    check("lgb_categorical", 1, Objective::Binary, 1e-9);
}

#[test]
fn lightgbm_regression() {
    check("lgb_regression", 1, Objective::Regression, 1e-9);
}

#[test]
fn lightgbm_random_forest() {
    check("lgb_forest", 1, Objective::Binary, 1e-9);
}
