//! Exact SHAP values of tree ensembles in the margin (log-odds for classifiers): path-dependent
//! TreeSHAP, SHAP interaction values and interventional TreeSHAP against a background set.
//!
//! Every function takes rows `[n, features]` row-major (NaN = missing) and splits them over
//! the cores; values come back `[n, outputs, features]` (interactions
//! `[n, outputs, features, features]`) with the expected value per output, and each row's
//! values sum to its margin minus the expected value.
//!
//! ```
//! use xai_glassbox::trees::{Node, Objective, Rule, Tree, TreeEnsemble};
//! use xai_glassbox::treeshap::tree_shap;
//! // x0 < 0.5 → (x1 < 0.5 → 0 | 4), else 10; covers 2, 1, 1, 2.
//! let t = Tree::new(vec![
//!     Node::split(0, Rule::LessThan(0.5), false, 1, 2, 4.0),
//!     Node::split(1, Rule::LessThan(0.5), false, 3, 4, 2.0),
//!     Node::leaf(10.0, 2.0),
//!     Node::leaf(0.0, 1.0),
//!     Node::leaf(4.0, 1.0),
//! ]).unwrap();
//! let m = TreeEnsemble::new(vec![t], vec![0], vec![0.0], 2, Objective::Regression).unwrap();
//! let s = tree_shap(&m, &[0.0, 1.0]).unwrap();
//! // E[f] = (10·2 + 0·1 + 4·1) / 4 = 6, f(x) = 4: the values sum to −2.
//! assert!((s.expected_value[0] - 6.0).abs() < 1e-12);
//! assert!((s.values.iter().sum::<f64>() + 2.0).abs() < 1e-12);
//! ```

mod interventional;
mod path_dependent;

use path_dependent::{Condition, Scratch};
use xai_core::{Result, XaiError};

use crate::trees::TreeEnsemble;

/// SHAP values of `rows` rows: `values[(row · outputs + output) · features + feature]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapValues {
    /// `[rows, outputs, features]`, row-major.
    pub values: Vec<f64>,
    /// The value the attributions start from, per output.
    pub expected_value: Vec<f64>,
    /// Rows explained.
    pub rows: usize,
    /// Outputs (classes of a multiclass model, else 1).
    pub outputs: usize,
    /// Features.
    pub features: usize,
}

impl ShapValues {
    /// The values of one row and output.
    pub fn row(&self, row: usize, output: usize) -> &[f64] {
        let f = self.features;
        let at = (row * self.outputs + output) * f;
        &self.values[at..at + f]
    }
}

fn check_rows(model: &TreeEnsemble, rows: &[f64], what: &str) -> Result<usize> {
    let f = model.features();
    if f == 0 || !rows.len().is_multiple_of(f) {
        return Err(XaiError::shape(
            what,
            format!("rows of {f} features"),
            &[rows.len()],
        ));
    }
    if rows.iter().any(|v| v.is_infinite()) {
        return Err(XaiError::NonFinite(format!(
            "{what}: an infinite value (NaN marks a missing value; ±inf is refused)"
        )));
    }
    Ok(rows.len() / f)
}

fn max_depth(model: &TreeEnsemble) -> usize {
    model.trees().iter().map(|t| t.depth()).max().unwrap_or(0)
}

/// Path-dependent TreeSHAP of `rows` (`[n, features]`).
pub fn tree_shap(model: &TreeEnsemble, rows: &[f64]) -> Result<ShapValues> {
    let n = check_rows(model, rows, "TreeSHAP rows")?;
    let (f, k) = (model.features(), model.outputs());
    let depth = max_depth(model);
    let mut values = vec![0.0; n * k * f];
    crate::par::rows(rows, f, &mut values, k * f, |x, phi| {
        let mut scratch = Scratch::for_depth(depth);
        for (tree, &o) in model.trees().iter().zip(model.output_of()) {
            let phi = &mut phi[o * f..(o + 1) * f];
            path_dependent::add_tree(tree, x, Condition::None, phi, &mut scratch);
        }
    });
    Ok(ShapValues {
        values,
        expected_value: model.expected_value(),
        rows: n,
        outputs: k,
        features: f,
    })
}

/// SHAP interaction values of `rows`: `[n, outputs, features, features]`, row-major; row `i` of
/// each matrix sums to feature `i`'s SHAP value, and the diagonal holds the main effects.
pub fn tree_shap_interactions(model: &TreeEnsemble, rows: &[f64]) -> Result<Vec<f64>> {
    let n = check_rows(model, rows, "TreeSHAP interaction rows")?;
    let (f, k) = (model.features(), model.outputs());
    let used: Vec<Vec<usize>> = model
        .trees()
        .iter()
        .map(path_dependent::split_features)
        .collect();
    let depth = max_depth(model);
    let mut out = vec![0.0; n * k * f * f];
    crate::par::rows(rows, f, &mut out, k * f * f, |x, inter| {
        let mut scratch = Scratch::for_depth(depth);
        let mut phi = vec![0.0; k * f];
        let (mut on, mut off) = (vec![0.0; f], vec![0.0; f]);
        for ((tree, &o), features) in model.trees().iter().zip(model.output_of()).zip(&used) {
            let s = &mut scratch;
            path_dependent::add_tree(tree, x, Condition::None, &mut phi[o * f..(o + 1) * f], s);
            let m = &mut inter[o * f * f..(o + 1) * f * f];
            for &i in features {
                on.fill(0.0);
                off.fill(0.0);
                path_dependent::add_tree(tree, x, Condition::Present(i), &mut on, s);
                path_dependent::add_tree(tree, x, Condition::Absent(i), &mut off, s);
                for j in (0..f).filter(|&j| j != i) {
                    m[i * f + j] += (on[j] - off[j]) / 2.0;
                }
            }
        }
        for o in 0..k {
            let m = &mut inter[o * f * f..(o + 1) * f * f];
            for i in 0..f {
                let off_diagonal: f64 = (0..f).filter(|&j| j != i).map(|j| m[i * f + j]).sum();
                m[i * f + i] = phi[o * f + i] - off_diagonal;
            }
        }
    });
    Ok(out)
}

/// Interventional TreeSHAP of `rows` against the background rows `background` (both
/// `[·, features]`): the exact Shapley values of `S ↦ mean_r f(x_S, r_S̄)`.
pub fn tree_shap_interventional(
    model: &TreeEnsemble,
    rows: &[f64],
    background: &[f64],
) -> Result<ShapValues> {
    let n = check_rows(model, rows, "TreeSHAP rows")?;
    let nb = check_rows(model, background, "TreeSHAP background rows")?;
    if nb == 0 {
        return Err(XaiError::EmptyBatch(
            "interventional TreeSHAP needs at least one background row".into(),
        ));
    }
    let (f, k) = (model.features(), model.outputs());
    let w = interventional::weights(max_depth(model) + 1);
    let mut values = vec![0.0; n * k * f];
    crate::par::rows(rows, f, &mut values, k * f, |x, phi| {
        for r in background.chunks(f) {
            for (tree, &o) in model.trees().iter().zip(model.output_of()) {
                interventional::add_tree(tree, x, r, &w, &mut phi[o * f..(o + 1) * f]);
            }
        }
        phi.iter_mut().for_each(|v| *v /= nb as f64);
    });
    let margins = model.margins(background)?;
    let expected_value = (0..k)
        .map(|o| margins.iter().skip(o).step_by(k).sum::<f64>() / nb as f64)
        .collect();
    Ok(ShapValues {
        values,
        expected_value,
        rows: n,
        outputs: k,
        features: f,
    })
}
