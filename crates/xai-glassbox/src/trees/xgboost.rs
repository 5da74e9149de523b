//! XGBoost's JSON model format (`Booster.save_model("model.json")`, XGBoost ≥ 1.0; checked
//! against 3.2).
//!
//! Layout read here: `learner.learner_model_param` (`base_score`, `num_class`, `num_feature`,
//! `num_target`), `learner.objective.name`, `learner.feature_names`, and
//! `learner.gradient_booster` (`gbtree`, or `dart` with its `weight_drop`), whose
//! `model.trees[t]` hold parallel arrays: `left_children`/`right_children` (−1 at leaves),
//! `split_indices`, `split_conditions` (the threshold, or the leaf value at a leaf),
//! `default_left`, `split_type` (1 = categorical, with `categories_nodes`,
//! `categories_segments`, `categories_sizes`, `categories`: the categories that go right) and
//! `sum_hessian` (the cover). `model.tree_info[t]` is the output (class) tree `t` adds to.
//!
//! `base_score` is stored in the objective's prediction space and turned into a margin by the
//! objective's link: logit for the logistic objectives, log for the log-link ones (Poisson,
//! gamma, Tweedie, Cox, AFT), identity otherwise.

use serde_json::Value;

use super::{Node, Objective, Rule, Tree, TreeEnsemble};

type Parsed<T> = std::result::Result<T, String>;

fn get<'a>(v: &'a Value, path: &[&str]) -> Parsed<&'a Value> {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        cur = cur
            .get(k)
            .ok_or_else(|| format!("missing `{}`", path[..=i].join(".")))?;
    }
    Ok(cur)
}

/// A number stored as a JSON number or a string (XGBoost writes `"8"`, `"[5E-1]"`, `"5E-1"`).
fn numbers(v: &Value, what: &str) -> Parsed<Vec<f64>> {
    let bad = || format!("`{what}` is not a number or a list of numbers: {v}");
    match v {
        Value::Number(n) => Ok(vec![n.as_f64().ok_or_else(bad)?]),
        Value::String(s) => s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse::<f64>().map_err(|_| bad()))
            .collect(),
        Value::Array(a) => a.iter().map(|x| numbers(x, what).map(|v| v[0])).collect(),
        _ => Err(bad()),
    }
}

fn count(v: &Value, what: &str) -> Parsed<usize> {
    let n = numbers(v, what)?;
    match n.as_slice() {
        [x] if *x >= 0.0 && x.fract() == 0.0 => Ok(*x as usize),
        _ => Err(format!("`{what}` is not a count: {v}")),
    }
}

fn array<'a>(tree: &'a Value, key: &str, t: usize) -> Parsed<&'a Vec<Value>> {
    tree.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("tree {t}: missing array `{key}`"))
}

fn f64s(tree: &Value, key: &str, t: usize) -> Parsed<Vec<f64>> {
    array(tree, key, t)?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| format!("tree {t}: `{key}` holds {x}"))
        })
        .collect()
}

fn i64s(tree: &Value, key: &str, t: usize) -> Parsed<Vec<i64>> {
    array(tree, key, t)?
        .iter()
        .map(|x| {
            x.as_i64()
                .or_else(|| x.as_bool().map(i64::from))
                .ok_or_else(|| format!("tree {t}: `{key}` holds {x}"))
        })
        .collect()
}

/// Maps a `base_score` (in the objective's prediction space) to a margin.
type Link = fn(f64) -> f64;

/// The objective's class and the link that maps `base_score` to a margin; `None` for an
/// objective whose margin this crate does not know how to read (ranking, quantiles, …).
fn objective(name: &str) -> Option<(Objective, Link)> {
    fn logit(p: f64) -> f64 {
        (p / (1.0 - p)).ln()
    }
    fn identity(p: f64) -> f64 {
        p
    }
    match name {
        "binary:logistic" | "binary:logitraw" | "binary:hinge" | "reg:logistic" => {
            let link = if name == "binary:hinge" {
                identity
            } else {
                logit
            };
            Some((Objective::Binary, link))
        }
        "multi:softprob" | "multi:softmax" => Some((Objective::Multiclass, identity)),
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
            Some((Objective::Regression, f64::ln))
        }
        "reg:squarederror"
        | "reg:squaredlogerror"
        | "reg:pseudohubererror"
        | "reg:absoluteerror"
        | "reg:linear" => Some((Objective::Regression, identity)),
        _ => None,
    }
}

fn tree(v: &Value, t: usize, scale: f64) -> Parsed<Tree> {
    let left = i64s(v, "left_children", t)?;
    let right = i64s(v, "right_children", t)?;
    let feature = i64s(v, "split_indices", t)?;
    let cond = f64s(v, "split_conditions", t)?;
    let default_left = i64s(v, "default_left", t)?;
    let cover = f64s(v, "sum_hessian", t)?;
    let n = left.len();
    let split_type = match v.get("split_type") {
        Some(_) => i64s(v, "split_type", t)?,
        None => vec![0; n],
    };
    for (key, len) in [
        ("right_children", right.len()),
        ("split_indices", feature.len()),
        ("split_conditions", cond.len()),
        ("default_left", default_left.len()),
        ("sum_hessian", cover.len()),
        ("split_type", split_type.len()),
    ] {
        if len != n {
            return Err(format!(
                "tree {t}: `{key}` has {len} entries, `left_children` {n}"
            ));
        }
    }
    if let Some(size) = v.get("tree_param").and_then(|p| p.get("size_leaf_vector")) {
        let size = count(size, "size_leaf_vector")?;
        if size > 1 {
            return Err(format!(
                "tree {t} is a multi-output tree (leaf vectors of {size}); only one output per \
                 tree is supported"
            ));
        }
    }
    // Categorical splits: node → its slice of `categories`.
    let mut categories = std::collections::HashMap::new();
    if split_type.contains(&1) {
        let nodes = i64s(v, "categories_nodes", t)?;
        let segments = i64s(v, "categories_segments", t)?;
        let sizes = i64s(v, "categories_sizes", t)?;
        let cats = i64s(v, "categories", t)?;
        for ((&node, &seg), &size) in nodes.iter().zip(&segments).zip(&sizes) {
            let (a, b) = (seg as usize, seg as usize + size as usize);
            let mut set: Vec<u32> = cats
                .get(a..b)
                .ok_or_else(|| format!("tree {t}: category segment {a}..{b} out of range"))?
                .iter()
                .map(|&c| c as u32)
                .collect();
            set.sort_unstable();
            categories.insert(node as usize, set);
        }
    }
    let index = |c: i64| -> Parsed<usize> {
        usize::try_from(c)
            .ok()
            .filter(|&c| c < n)
            .ok_or_else(|| format!("tree {t}: child {c} out of range"))
    };
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        if left[i] == -1 {
            nodes.push(Node::leaf(cond[i] * scale, cover[i]));
            continue;
        }
        let f = usize::try_from(feature[i])
            .map_err(|_| format!("tree {t}: node {i} splits on feature {}", feature[i]))?;
        let rule = if split_type[i] == 1 {
            let set = categories
                .remove(&i)
                .ok_or_else(|| format!("tree {t}: categorical node {i} has no categories"))?;
            Rule::Category {
                set,
                members_go_left: false,
            }
        } else {
            Rule::LessThan(cond[i])
        };
        nodes.push(Node::split(
            f,
            rule,
            default_left[i] != 0,
            index(left[i])?,
            index(right[i])?,
            cover[i],
        ));
    }
    Tree::new(nodes).map_err(|e| format!("tree {t}: {e}"))
}

/// Parse the JSON text of an XGBoost model.
pub(crate) fn parse(text: &str) -> Parsed<TreeEnsemble> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    // The JSON layout read here is XGBoost 1.0's and later's.
    let version = numbers(get(&root, &["version"])?, "version")?;
    if version.first().is_none_or(|&major| major < 1.0) {
        return Err(format!(
            "XGBoost model format version {version:?}: versions 1.0 and later are supported \
             (load it in a current XGBoost and save it again)"
        ));
    }
    let learner = get(&root, &["learner"])?;
    let param = get(learner, &["learner_model_param"])?;
    let features = count(get(param, &["num_feature"])?, "num_feature")?;
    let classes = count(get(param, &["num_class"])?, "num_class")?;
    let targets = match param.get("num_target") {
        Some(v) => count(v, "num_target")?,
        None => 1,
    };
    let outputs = classes.max(targets).max(1);
    let name = get(learner, &["objective", "name"])?
        .as_str()
        .ok_or("`learner.objective.name` is not a string")?;
    let (objective, link) = objective(name).ok_or_else(|| {
        format!(
            "objective `{name}`: supported are binary:logistic/logitraw/hinge, reg:logistic, \
             multi:softprob/softmax, reg:squarederror (and the other reg: losses), \
             count:poisson, reg:gamma, reg:tweedie, survival:cox/aft"
        )
    })?;
    let base = numbers(get(param, &["base_score"])?, "base_score")?;
    let base_margin: Vec<f64> = match base.len() {
        1 => vec![link(base[0]); outputs],
        k if k == outputs => base.iter().map(|&b| link(b)).collect(),
        k => return Err(format!("{k} base scores for {outputs} outputs")),
    };
    let booster = get(learner, &["gradient_booster"])?;
    let kind = get(booster, &["name"])?.as_str().unwrap_or("");
    let (model, weights) = match kind {
        "gbtree" => (get(booster, &["model"])?, None),
        "dart" => {
            let w = get(booster, &["weight_drop"])?
                .as_array()
                .ok_or("`weight_drop` is not a list")?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .ok_or_else(|| "`weight_drop` holds a non-number".to_string())
                })
                .collect::<Parsed<Vec<f64>>>()?;
            (get(booster, &["gbtree", "model"])?, Some(w))
        }
        other => {
            return Err(format!(
                "booster `{other}`: only tree boosters (gbtree, dart) are tree ensembles"
            ));
        }
    };
    let trees_json = get(model, &["trees"])?
        .as_array()
        .ok_or("`trees` is not a list")?;
    let info = get(model, &["tree_info"])?
        .as_array()
        .ok_or("`tree_info` is not a list")?;
    if info.len() != trees_json.len() {
        return Err(format!(
            "{} trees but {} tree_info entries",
            trees_json.len(),
            info.len()
        ));
    }
    if let Some(w) = &weights
        && w.len() != trees_json.len()
    {
        return Err(format!(
            "{} trees but {} dart weights",
            trees_json.len(),
            w.len()
        ));
    }
    let mut trees = Vec::with_capacity(trees_json.len());
    let mut output_of = Vec::with_capacity(trees_json.len());
    for (t, (tj, o)) in trees_json.iter().zip(info).enumerate() {
        let scale = weights.as_ref().map_or(1.0, |w| w[t]);
        trees.push(tree(tj, t, scale)?);
        output_of.push(count(o, "tree_info")?);
    }
    let ensemble = TreeEnsemble::new(trees, output_of, base_margin, features, objective)
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = learner
        .get("feature_names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if names.len() == features {
        ensemble
            .with_feature_names(names)
            .map_err(|e| e.to_string())
    } else {
        Ok(ensemble)
    }
}
