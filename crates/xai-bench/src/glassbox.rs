//! `xai glassbox bench`: every glass-box learner fitted on the shared glass-box data set
//! (`tabular_data.json`: raw features for the tree, the sparse linear model and the GAM; the
//! binarised copy for the rule list and the risk score), with train / test accuracy and AUC,
//! model size and seconds, plus the objectives the references state (`rule_list.json`,
//! `scoring_system.json`, `gam.json`, read from the same folder when present).

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use xai_core::{Result, XaiError};
use xai_glassbox::cart::{Cart, CartConfig};
use xai_glassbox::gam::{GamConfig, fit_gam};
use xai_glassbox::risk_score::{RiskScoreConfig, fit_risk_score};
use xai_glassbox::rule_list::{RuleListConfig, fit_rule_list};
use xai_glassbox::score::auc;
use xai_glassbox::sparse_linear::{SparseLinearConfig, fit_sparse_logistic};
use xai_glassbox::table::TabularSplit;

fn read(dir: &Path, name: &str) -> Result<Option<Value>> {
    let p = dir.join(name);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(XaiError::io(&p))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| XaiError::Parse {
            file: p.display().to_string(),
            message: e.to_string(),
        })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn accuracy(scores: &[f64], y: &[bool], threshold: f64) -> f64 {
    scores
        .iter()
        .zip(y)
        .filter(|&(s, &l)| (*s > threshold) == l)
        .count() as f64
        / y.len() as f64
}

/// One learner's line: accuracy and AUC on both splits from its scores (log-odds or
/// probabilities; `threshold` separates the classes), size, seconds.
fn line(
    name: &str,
    train: (&[f64], &[bool]),
    test: (&[f64], &[bool]),
    threshold: f64,
    size: usize,
    seconds: f64,
) -> Value {
    json!({
        "learner": name,
        "train_accuracy": accuracy(train.0, train.1, threshold),
        "test_accuracy": accuracy(test.0, test.1, threshold),
        "train_auc": auc(train.0, train.1),
        "test_auc": auc(test.0, test.1),
        "size": size,
        "seconds": seconds,
    })
}

/// Fit every learner on `dir/tabular_data.json` and report.
pub fn run(dir: &Path) -> Result<Value> {
    let path = dir.join("tabular_data.json");
    if !path.is_file() {
        return Err(XaiError::Config(format!(
            "{} has no tabular_data.json",
            dir.display()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(XaiError::io(&path))?;
    let TabularSplit {
        feature_names: names,
        x_train: x,
        y_train: y,
        x_test: xt,
        y_test: yt,
        binary_feature_names: bnames,
        b_train: b,
        b_test: bt,
    } = TabularSplit::parse(&text, &path.display().to_string())?;
    let mut learners = Vec::new();
    let mut summary = serde_json::Map::new();

    // Rule list: CORELS's c and cardinality from the reference when present.
    let rl = read(dir, "rule_list.json")?;
    let cfg = RuleListConfig {
        c: rl.as_ref().and_then(|r| r["c"].as_f64()).unwrap_or(0.01),
        max_card: rl
            .as_ref()
            .and_then(|r| r["max_card"].as_u64())
            .unwrap_or(2) as usize,
        ..RuleListConfig::default()
    };
    let t0 = Instant::now();
    let list = fit_rule_list(&b, &y, &bnames, &cfg)?;
    let secs = t0.elapsed().as_secs_f64();
    let score = |rows: &[Vec<bool>]| -> Vec<f64> {
        rows.iter()
            .map(|r| f64::from(u8::from(list.predict(r))))
            .collect()
    };
    learners.push(line(
        "rule_list",
        (&score(&b), &y),
        (&score(&bt), &yt),
        0.5,
        list.rules.len(),
        secs,
    ));
    summary.insert("rule_list_objective".into(), json!(list.objective));
    summary.insert("rule_list_certified".into(), json!(list.certified));
    if let Some(r) = &rl {
        summary.insert(
            "rule_list_reference_objective".into(),
            r["objective"].clone(),
        );
    }

    // Risk score on the reference's features (exact search is exponential in their number).
    if let Some(ss) = read(dir, "scoring_system.json")? {
        let feats = strings(&ss["features"]);
        let cols: Vec<usize> = feats
            .iter()
            .map(|f| {
                bnames.iter().position(|n| n == f).ok_or_else(|| {
                    XaiError::Config(format!("scoring_system.json: unknown feature `{f}`"))
                })
            })
            .collect::<Result<_>>()?;
        let pick = |rows: &[Vec<bool>]| -> Vec<Vec<bool>> {
            rows.iter()
                .map(|r| cols.iter().map(|&c| r[c]).collect())
                .collect()
        };
        let range = |k: &str| {
            let r: Vec<i32> = ss[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_i64())
                        .map(|v| v as i32)
                        .collect()
                })
                .unwrap_or_default();
            (
                r.first().copied().unwrap_or(-5),
                r.get(1).copied().unwrap_or(5),
            )
        };
        let cfg = RiskScoreConfig {
            c0: ss["C0"].as_f64().unwrap_or(0.01),
            points: range("points_range"),
            intercept: range("intercept_range"),
            ..RiskScoreConfig::default()
        };
        let t0 = Instant::now();
        let s = fit_risk_score(&pick(&b), &y, &feats, &cfg)?;
        let secs = t0.elapsed().as_secs_f64();
        let logit = |rows: &[Vec<bool>]| -> Vec<f64> {
            rows.iter()
                .map(|r| f64::from(s.intercept + s.score(r)))
                .collect()
        };
        learners.push(line(
            "risk_score",
            (&logit(&pick(&b)), &y),
            (&logit(&pick(&bt)), &yt),
            0.0,
            s.points.iter().filter(|&&p| p != 0).count(),
            secs,
        ));
        summary.insert("scoring_objective".into(), json!(s.objective));
        summary.insert("scoring_certified".into(), json!(s.certified));
        summary.insert(
            "scoring_reference_objective".into(),
            ss["objective"].clone(),
        );
    }

    // GAM.
    let t0 = Instant::now();
    let gam = fit_gam(&x, &y, &names, &GamConfig::default())?;
    let secs = t0.elapsed().as_secs_f64();
    let logit = |rows: &[Vec<f64>]| -> Vec<f64> { rows.iter().map(|r| gam.logit(r)).collect() };
    let g = line(
        "gam",
        (&logit(&x), &y),
        (&logit(&xt), &yt),
        0.0,
        gam.terms.len(),
        secs,
    );
    summary.insert("gam_test_auc".into(), g["test_auc"].clone());
    if let Some(r) = read(dir, "gam.json")? {
        summary.insert("gam_reference_test_auc".into(), r["test_auc"].clone());
    }
    learners.push(g);

    // CART (depth 4, leaves of ≥ 5 rows) and sparse logistic regression.
    let yc: Vec<usize> = y.iter().map(|&l| usize::from(l)).collect();
    let t0 = Instant::now();
    let tree = Cart::fit(
        &x,
        &yc,
        &names,
        &CartConfig {
            max_depth: 4,
            min_leaf: 5,
            ccp_alpha: 0.0,
        },
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let proba =
        |rows: &[Vec<f64>]| -> Vec<f64> { rows.iter().map(|r| tree.predict_proba(r)[1]).collect() };
    learners.push(line(
        "cart_depth4",
        (&proba(&x), &y),
        (&proba(&xt), &yt),
        0.5,
        tree.leaves(),
        secs,
    ));
    let t0 = Instant::now();
    let lin = fit_sparse_logistic(&x, &y, &names, &SparseLinearConfig::default())?;
    let secs = t0.elapsed().as_secs_f64();
    let logit = |rows: &[Vec<f64>]| -> Vec<f64> { rows.iter().map(|r| lin.logit(r)).collect() };
    learners.push(line(
        "sparse_logistic",
        (&logit(&x), &y),
        (&logit(&xt), &yt),
        0.0,
        lin.coef.iter().filter(|&&w| w != 0.0).count(),
        secs,
    ));

    let mut out = serde_json::Map::new();
    out.insert(
        "data".into(),
        json!(dir.join("tabular_data.json").display().to_string()),
    );
    out.insert("learners".into(), Value::Array(learners));
    out.extend(summary);
    Ok(Value::Object(out))
}
