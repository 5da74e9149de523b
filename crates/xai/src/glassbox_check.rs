//! The glass-box reference fixtures (`glassbox/` of the shared fixture set) checked the way
//! `xai fixture check` checks the others: one [`CheckLine`] per reference value set.
//!
//! * `xgb` / `lgbm` `margin`, `path_dependent`, `interactions`, `interventional`: the loaders
//!   and TreeSHAP against shap, within the fixtures' bound `1e-3 · max |expected| + 1e-5`;
//! * `rule_list/objective`: our rule list's objective must be at most the reference's (CORELS's
//!   best in its budget) — the error column is how far above it we are (0 when at or below);
//! * `scoring_system/objective`: the exact optimum, to the bound;
//! * `gam/test_auc`: EBM's test AUC is a yardstick; our GAM's must be at least it − 0.01.
//!
//! Files are read through a closure so the same check runs on a folder or on embedded copies;
//! [`Part`] selects what to check (`xai fixture check glassbox/rule_list.json` checks the rule
//! list only, `xai conformance` everything).

use serde_json::Value;
use xai_core::{Result, XaiError};
use xai_glassbox::gam::{GamConfig, fit_gam};
use xai_glassbox::risk_score::{RiskScoreConfig, fit_risk_score};
use xai_glassbox::rule_list::{RuleListConfig, fit_rule_list};
use xai_glassbox::score::auc;
use xai_glassbox::table::TabularSplit;
use xai_glassbox::trees::TreeEnsemble;
use xai_glassbox::treeshap::{tree_shap, tree_shap_interactions, tree_shap_interventional};

use crate::fixture_check::{CheckLine, Status, compare};

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap_or(f64::NAN)],
        _ => vec![f64::NAN],
    }
}

/// The first `n` rows, flattened; an error when the split has fewer.
fn first_rows(rows: &[Vec<f64>], n: usize) -> Result<Vec<f64>> {
    if rows.len() < n {
        return Err(XaiError::Config(format!(
            "tabular_data.json: {n} rows needed, {} given",
            rows.len()
        )));
    }
    Ok(rows[..n].concat())
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

/// A line for "ours must be at most `reference`".
fn at_most(key: &str, ours: f64, reference: f64) -> CheckLine {
    let excess = (ours - reference).max(0.0);
    CheckLine {
        key: key.into(),
        status: if excess <= 1e-12 {
            Status::Pass
        } else {
            Status::Fail
        },
        max_abs_err: excess,
        bound: 0.0,
    }
}

/// One glass-box reference file and what it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `tree_shap.json`: margins and TreeSHAP of the XGBoost and LightGBM models.
    TreeShap,
    /// `rule_list.json`: the rule-list objective.
    RuleList,
    /// `scoring_system.json`: the risk-score optimum.
    ScoringSystem,
    /// `gam.json`: the GAM's test AUC.
    Gam,
}

impl Part {
    /// Every part.
    pub const ALL: [Part; 4] = [
        Part::TreeShap,
        Part::RuleList,
        Part::ScoringSystem,
        Part::Gam,
    ];

    /// The part a reference file name holds, if it is one.
    pub fn for_file(name: &str) -> Option<Part> {
        match name {
            "tree_shap.json" => Some(Part::TreeShap),
            "rule_list.json" => Some(Part::RuleList),
            "scoring_system.json" => Some(Part::ScoringSystem),
            "gam.json" => Some(Part::Gam),
            _ => None,
        }
    }
}

/// Check the glass-box references of `parts`; `read(name)` returns a file of the `glassbox/`
/// folder.
pub fn check_glassbox(
    read: &dyn Fn(&str) -> Result<String>,
    parts: &[Part],
) -> Result<Vec<CheckLine>> {
    let json = |name: &str| -> Result<Value> {
        serde_json::from_str(&read(name)?).map_err(|e| XaiError::Parse {
            file: format!("glassbox/{name}"),
            message: e.to_string(),
        })
    };
    let data = TabularSplit::parse(&read("tabular_data.json")?, "glassbox/tabular_data.json")?;
    let mut lines = Vec::new();
    if parts.contains(&Part::TreeShap) {
        lines.extend(check_tree_shap(read, &json("tree_shap.json")?, &data)?);
    }
    let names = data.binary_feature_names.clone();
    let b_train = data.b_train.clone();
    let y_train = data.y_train.clone();
    if parts.contains(&Part::RuleList) {
        let rl = json("rule_list.json")?;
        let cfg = RuleListConfig {
            c: rl["c"].as_f64().unwrap_or(0.01),
            max_card: rl["max_card"].as_u64().unwrap_or(2) as usize,
            max_nodes: 1_000_000,
            ..RuleListConfig::default()
        };
        let list = fit_rule_list(&b_train, &y_train, &names, &cfg)?;
        lines.push(at_most(
            "rule_list/objective",
            list.objective,
            rl["objective"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    if parts.contains(&Part::ScoringSystem) {
        lines.push(check_scoring(
            &json("scoring_system.json")?,
            &names,
            &b_train,
            &y_train,
        )?);
    }
    if parts.contains(&Part::Gam) {
        lines.push(check_gam(&json("gam.json")?, &data, &y_train)?);
    }
    Ok(lines)
}

fn check_tree_shap(
    read: &dyn Fn(&str) -> Result<String>,
    shap: &Value,
    data: &TabularSplit,
) -> Result<Vec<CheckLine>> {
    let mut lines = Vec::new();
    for (key, file) in [("xgb", "xgb_model.json"), ("lgbm", "lgbm_model.txt")] {
        let text = read(file)?;
        let model = if key == "xgb" {
            TreeEnsemble::from_xgboost_json(&text)?
        } else {
            TreeEnsemble::from_lightgbm_text(&text)?
        };
        let fx = &shap[key];
        let x = first_rows(&data.x_test, flat(&fx["margin"]).len())?;
        lines.push(compare(
            &format!("{key}/margin"),
            &model.margins(&x)?,
            &flat(&fx["margin"]),
        ));
        let pd = tree_shap(&model, &x)?;
        lines.push(compare(
            &format!("{key}/path_dependent"),
            &pd.values,
            &flat(&fx["path_dependent"]["values"]),
        ));
        let n_inter = fx["interactions"]["values"].as_array().map_or(0, Vec::len);
        let inter = tree_shap_interactions(&model, &first_rows(&data.x_test, n_inter)?)?;
        lines.push(compare(
            &format!("{key}/interactions"),
            &inter,
            &flat(&fx["interactions"]["values"]),
        ));
        let bg = first_rows(&data.x_train, 100)?;
        let iv = tree_shap_interventional(&model, &x, &bg)?;
        lines.push(compare(
            &format!("{key}/interventional"),
            &iv.values,
            &flat(&fx["interventional"]["values"]),
        ));
    }

    Ok(lines)
}

fn check_scoring(
    ss: &Value,
    names: &[String],
    b_train: &[Vec<bool>],
    y_train: &[bool],
) -> Result<CheckLine> {
    let cols: Vec<usize> = strings(&ss["features"])
        .iter()
        .map(|f| {
            names.iter().position(|n| n == f).ok_or_else(|| {
                XaiError::Config(format!("scoring_system.json: unknown feature `{f}`"))
            })
        })
        .collect::<Result<_>>()?;
    let z: Vec<Vec<bool>> = b_train
        .iter()
        .map(|r| cols.iter().map(|&c| r[c]).collect())
        .collect();
    let range = |k: &str| {
        let r = flat(&ss[k]);
        (
            r.first().copied().unwrap_or(-5.0) as i32,
            r.get(1).copied().unwrap_or(5.0) as i32,
        )
    };
    let score = fit_risk_score(
        &z,
        y_train,
        &strings(&ss["features"]),
        &RiskScoreConfig {
            c0: ss["C0"].as_f64().unwrap_or(0.01),
            points: range("points_range"),
            intercept: range("intercept_range"),
            ..RiskScoreConfig::default()
        },
    )?;
    Ok(compare(
        "scoring_system/objective",
        &[score.objective],
        &[ss["objective"].as_f64().unwrap_or(f64::NAN)],
    ))
}

fn check_gam(gam_ref: &Value, data: &TabularSplit, y_train: &[bool]) -> Result<CheckLine> {
    let (x_train, x_test, y_test) = (&data.x_train, &data.x_test, &data.y_test);
    let gam = fit_gam(x_train, y_train, &data.feature_names, &GamConfig::default())?;
    let ours = auc(
        &x_test.iter().map(|r| gam.logit(r)).collect::<Vec<_>>(),
        y_test,
    );
    let ebm = gam_ref["test_auc"].as_f64().unwrap_or(f64::NAN);
    let shortfall = (ebm - ours).max(0.0);
    Ok(CheckLine {
        key: format!("gam/test_auc (ours {ours:.4}, EBM {ebm:.4})"),
        status: if shortfall <= 0.01 {
            Status::Pass
        } else {
            Status::Fail
        },
        max_abs_err: shortfall,
        bound: 0.01,
    })
}
