//! LightGBM's text model format (`Booster.save_model("model.txt")`, format `v4`; checked
//! against LightGBM 4.7).
//!
//! A header of `key=value` lines (`num_tree_per_iteration`, `max_feature_idx`, `objective`,
//! `feature_names`, and the flag line `average_output` for random-forest mode), then one block
//! per tree starting `Tree=N`: `split_feature`, `threshold`, `decision_type`, `left_child` and
//! `right_child` (a negative child `c` is leaf `!c`), `leaf_value`, `leaf_count`,
//! `internal_count`, and for categorical splits `cat_boundaries` / `cat_threshold` (bitsets of
//! the categories that go left). `decision_type` packs bit 0 = categorical, bit 1 = default
//! left, bits 2–3 = missing type (none, zero, NaN). Covers are the data counts, as shap's
//! TreeExplainer reads them. Tree `t` adds to output `t mod num_tree_per_iteration`; leaf values
//! already include the learning rate, and there is no base margin.

use std::collections::HashMap;

use super::{Missing, Node, Objective, Rule, Tree, TreeEnsemble};

type Parsed<T> = std::result::Result<T, String>;

fn field<'a>(block: &HashMap<&str, &'a str>, key: &str, t: usize) -> Parsed<&'a str> {
    block
        .get(key)
        .copied()
        .ok_or_else(|| format!("tree {t}: missing `{key}`"))
}

fn list<T: std::str::FromStr>(block: &HashMap<&str, &str>, key: &str, t: usize) -> Parsed<Vec<T>> {
    field(block, key, t)?
        .split_whitespace()
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| format!("tree {t}: `{key}` holds `{v}`"))
        })
        .collect()
}

fn one<T: std::str::FromStr>(block: &HashMap<&str, &str>, key: &str, t: usize) -> Parsed<T> {
    let v = field(block, key, t)?;
    v.trim()
        .parse()
        .map_err(|_| format!("tree {t}: `{key}` is `{v}`"))
}

/// Members of LightGBM's category bitset `words`.
fn bitset_members(words: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for (w, &bits) in words.iter().enumerate() {
        for b in 0..32 {
            if bits >> b & 1 == 1 {
                out.push(w as u32 * 32 + b);
            }
        }
    }
    out
}

fn tree(block: &HashMap<&str, &str>, t: usize, scale: f64) -> Parsed<Tree> {
    let leaves: usize = one(block, "num_leaves", t)?;
    let leaf_value: Vec<f64> = list(block, "leaf_value", t)?;
    if leaves == 0 || leaf_value.len() != leaves {
        return Err(format!(
            "tree {t}: {leaves} leaves but {} leaf values",
            leaf_value.len()
        ));
    }
    if block.get("is_linear").is_some_and(|v| v.trim() == "1") {
        return Err(format!(
            "tree {t} is a linear tree (linear models in the leaves): not supported"
        ));
    }
    if leaves == 1 {
        return Tree::new(vec![Node::leaf(leaf_value[0] * scale, 1.0)]).map_err(|e| e.to_string());
    }
    let internal = leaves - 1;
    let feature: Vec<usize> = list(block, "split_feature", t)?;
    let threshold: Vec<f64> = list(block, "threshold", t)?;
    let decision: Vec<u32> = list(block, "decision_type", t)?;
    let left: Vec<i64> = list(block, "left_child", t)?;
    let right: Vec<i64> = list(block, "right_child", t)?;
    let internal_count: Vec<f64> = list(block, "internal_count", t)?;
    let leaf_count: Vec<f64> = list(block, "leaf_count", t)?;
    for (key, len) in [
        ("split_feature", feature.len()),
        ("threshold", threshold.len()),
        ("decision_type", decision.len()),
        ("left_child", left.len()),
        ("right_child", right.len()),
        ("internal_count", internal_count.len()),
    ] {
        if len != internal {
            return Err(format!(
                "tree {t}: `{key}` has {len} entries for {internal} splits"
            ));
        }
    }
    if leaf_count.len() != leaves {
        return Err(format!(
            "tree {t}: {} leaf counts for {leaves} leaves",
            leaf_count.len()
        ));
    }
    let (bounds, words): (Vec<usize>, Vec<u32>) = if decision.iter().any(|d| d & 1 == 1) {
        (
            list(block, "cat_boundaries", t)?,
            list(block, "cat_threshold", t)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    // Internal node i is node i; leaf l is node `internal + l`.
    let child = |c: i64| -> Parsed<usize> {
        let i = if c < 0 {
            internal + (!c) as usize
        } else {
            c as usize
        };
        if i < internal + leaves {
            Ok(i)
        } else {
            Err(format!("tree {t}: child {c} out of range"))
        }
    };
    let mut nodes = Vec::with_capacity(internal + leaves);
    for i in 0..internal {
        let d = decision[i];
        let rule = if d & 1 == 1 {
            let k = threshold[i] as usize;
            let (a, b) = match (bounds.get(k), bounds.get(k + 1)) {
                (Some(&a), Some(&b)) if a <= b && b <= words.len() => (a, b),
                _ => return Err(format!("tree {t}: category set {k} out of range")),
            };
            Rule::Category {
                set: bitset_members(&words[a..b]),
                members_go_left: true,
            }
        } else {
            let missing = match (d >> 2) & 3 {
                0 => Missing::None,
                1 => Missing::Zero,
                2 => Missing::NaN,
                m => return Err(format!("tree {t}: missing type {m}")),
            };
            Rule::LessOrEqual {
                threshold: threshold[i],
                missing,
            }
        };
        nodes.push(Node::split(
            feature[i],
            rule,
            d & 2 == 2,
            child(left[i])?,
            child(right[i])?,
            internal_count[i],
        ));
    }
    for l in 0..leaves {
        nodes.push(Node::leaf(leaf_value[l] * scale, leaf_count[l]));
    }
    Tree::new(nodes).map_err(|e| format!("tree {t}: {e}"))
}

/// Parse the text of a LightGBM model.
pub(crate) fn parse(text: &str) -> Parsed<TreeEnsemble> {
    let mut lines = text.lines().map(str::trim);
    let mut header = HashMap::new();
    let mut flags = Vec::new();
    let mut blocks: Vec<HashMap<&str, &str>> = Vec::new();
    let mut in_trees = false;
    for line in lines.by_ref() {
        if line == "end of trees" {
            break;
        }
        if line.is_empty() {
            continue;
        }
        if line.starts_with("Tree=") {
            in_trees = true;
            blocks.push(HashMap::new());
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if in_trees => {
                blocks.last_mut().map(|b| b.insert(k, v));
            }
            Some((k, v)) => {
                header.insert(k, v);
            }
            None if !in_trees => flags.push(line),
            None => return Err(format!("unexpected line in a tree block: `{line}`")),
        }
    }
    if blocks.is_empty() {
        return Err("no `Tree=` blocks: not a LightGBM model, or a model with no trees".into());
    }
    let number = |k: &str| -> Parsed<usize> {
        header
            .get(k)
            .ok_or_else(|| format!("missing `{k}` in the header"))?
            .trim()
            .parse()
            .map_err(|_| format!("`{k}` is not a count"))
    };
    match header.get("version").map(|v| v.trim()) {
        Some("v2" | "v3" | "v4") => {}
        other => {
            return Err(format!(
                "LightGBM model format {}: v2 to v4 are supported",
                other.unwrap_or("without a version line")
            ));
        }
    }
    let per_iteration = number("num_tree_per_iteration")?.max(1);
    let features = number("max_feature_idx")? + 1;
    let objective = match header
        .get("objective")
        .and_then(|o| o.split_whitespace().next())
    {
        Some("binary" | "cross_entropy" | "xentropy") => Objective::Binary,
        Some("multiclass" | "multiclassova" | "softmax" | "ova") => Objective::Multiclass,
        Some(
            "regression"
            | "regression_l1"
            | "huber"
            | "fair"
            | "poisson"
            | "quantile"
            | "mape"
            | "gamma"
            | "tweedie"
            | "cross_entropy_lambda",
        ) => Objective::Regression,
        Some(other) => {
            return Err(format!(
                "objective `{other}`: supported are binary, multiclass(ova) and the regression \
                 objectives (ranking models are not)"
            ));
        }
        None => return Err("missing `objective` in the header".into()),
    };
    // Random-forest mode averages the trees of each output instead of summing them.
    let scale = if flags.contains(&"average_output") {
        per_iteration as f64 / blocks.len() as f64
    } else {
        1.0
    };
    let trees = blocks
        .iter()
        .enumerate()
        .map(|(t, b)| tree(b, t, scale))
        .collect::<Parsed<Vec<Tree>>>()?;
    let output_of = (0..trees.len()).map(|t| t % per_iteration).collect();
    let ensemble = TreeEnsemble::new(
        trees,
        output_of,
        vec![0.0; per_iteration],
        features,
        objective,
    )
    .map_err(|e| e.to_string())?;
    let names: Vec<String> = header
        .get("feature_names")
        .map(|n| n.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    if names.len() == features {
        ensemble
            .with_feature_names(names)
            .map_err(|e| e.to_string())
    } else {
        Ok(ensemble)
    }
}
