//! The shared glass-box fixtures (shap 0.51 TreeExplainer on an XGBoost 3.2 and a LightGBM 4.7
//! model, repository copies in `assets/fixtures/glassbox`): raw margins, path-dependent
//! TreeSHAP, interaction values and interventional TreeSHAP, to the fixtures' bound
//! `max |ours − expected| ≤ 1e-3 · max |expected| + 1e-5` (we compute in f64; the observed
//! error is printed on failure).

use std::path::PathBuf;

use serde_json::Value;
use xai_glassbox::trees::TreeEnsemble;
use xai_glassbox::treeshap::{tree_shap, tree_shap_interactions, tree_shap_interventional};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/glassbox")
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn rows(data: &Value, key: &str, n: usize) -> Vec<f64> {
    data[key]
        .as_array()
        .unwrap()
        .iter()
        .take(n)
        .flat_map(flat)
        .collect()
}

fn assert_close(what: &str, ours: &[f64], expected: &[f64]) {
    assert_eq!(ours.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = xai_testkit::max_abs_diff(ours, expected);
    eprintln!("{what}: max error {err:.2e} (scale {scale:.2e})");
    assert!(
        err <= 1e-3 * scale + 1e-5,
        "{what}: max error {err:.3e} (scale {scale:.3e})"
    );
}

fn check(model_file: &str, key: &str) {
    let model = TreeEnsemble::load(&dir().join(model_file)).unwrap();
    let data = json("tabular_data.json");
    let fx = &json("tree_shap.json")[key];
    let x = rows(&data, "X_test", 40);
    assert_close(
        &format!("{key} margin"),
        &model.margins(&x).unwrap(),
        &flat(&fx["margin"]),
    );

    let pd = tree_shap(&model, &x).unwrap();
    assert_close(
        &format!("{key} path-dependent"),
        &pd.values,
        &flat(&fx["path_dependent"]["values"]),
    );
    let e = fx["path_dependent"]["expected_value"].as_f64().unwrap();
    assert!(
        (pd.expected_value[0] - e).abs() < 1e-6,
        "{key} E[f]: {pd:?}"
    );

    let inter = tree_shap_interactions(&model, &rows(&data, "X_test", 10)).unwrap();
    assert_close(
        &format!("{key} interactions"),
        &inter,
        &flat(&fx["interactions"]["values"]),
    );

    let background = rows(&data, "X_train", 100);
    let iv = tree_shap_interventional(&model, &x, &background).unwrap();
    assert_close(
        &format!("{key} interventional"),
        &iv.values,
        &flat(&fx["interventional"]["values"]),
    );
    let e = fx["interventional"]["expected_value"].as_f64().unwrap();
    assert!((iv.expected_value[0] - e).abs() < 1e-6, "{key} E_bg[f]");
}

#[test]
fn xgboost_margins_and_tree_shap_match_shap() {
    check("xgb_model.json", "xgb");
}

#[test]
fn lightgbm_margins_and_tree_shap_match_shap() {
    check("lgbm_model.txt", "lgbm");
}
