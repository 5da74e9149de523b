//! Tree ensembles as the boosting libraries save them, predicted exactly as they predict.
//!
//! A [`TreeEnsemble`] is a list of binary [`Tree`]s, each adding its leaf value to one output
//! (one per class for multiclass models, else one), plus a base margin per output. Each split
//! keeps the library's own decision rule ([`Rule`]): XGBoost sends `x < t` left, LightGBM
//! `x ≤ t`; missing values follow the stored default direction (XGBoost) or the stored missing
//! type (LightGBM: NaN, zero, or none, in which case NaN counts as 0); categorical splits test
//! membership in a stored category set. Every node keeps its *cover* (XGBoost's hessian sum,
//! LightGBM's data count), which path-dependent TreeSHAP uses as the conditional distribution.
//!
//! Loaders: [`TreeEnsemble::from_xgboost_json`] (XGBoost's `save_model("model.json")`) and
//! [`TreeEnsemble::from_lightgbm_text`] (LightGBM's `save_model("model.txt")`);
//! [`TreeEnsemble::load`] tells the two apart by content.
//!
//! ```
//! use xai_glassbox::trees::{Node, Rule, Tree, TreeEnsemble, Objective};
//! // One stump: x0 < 0.5 → 1.0, else → 3.0 (covers 1 and 3), base margin 0.25.
//! let stump = Tree::new(vec![
//!     Node::split(0, Rule::LessThan(0.5), false, 1, 2, 4.0),
//!     Node::leaf(1.0, 1.0),
//!     Node::leaf(3.0, 3.0),
//! ]).unwrap();
//! let model = TreeEnsemble::new(vec![stump], vec![0], vec![0.25], 1, Objective::Regression).unwrap();
//! assert_eq!(model.margin(&[0.0]).unwrap(), vec![1.25]);
//! assert_eq!(model.margin(&[f64::NAN]).unwrap(), vec![3.25]); // missing goes right here
//! ```

pub mod lightgbm;
pub mod xgboost;

use std::path::Path;

use xai_core::{Result, XaiError};

/// How a split decides between its children.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// XGBoost: left when `x < t` in f32 (XGBoost stores features and thresholds in f32); NaN
    /// takes the default direction.
    LessThan(f64),
    /// LightGBM: left when `x ≤ t`, after its missing-value handling.
    LessOrEqual {
        /// Threshold.
        threshold: f64,
        /// Which values count as missing.
        missing: Missing,
    },
    /// Categorical: the category (`x` as an integer) is looked up in a set.
    Category {
        /// The categories in the set.
        set: Vec<u32>,
        /// Whether members go left (LightGBM) or right (XGBoost).
        members_go_left: bool,
    },
}

/// LightGBM's missing-value types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No missing values in training: NaN is treated as 0.
    None,
    /// Zero (|x| ≤ 1e-35) and NaN take the default direction.
    Zero,
    /// NaN takes the default direction.
    NaN,
}

/// LightGBM's zero threshold (`kZeroThreshold`).
const ZERO: f64 = 1e-35;

/// One node: a split or a leaf.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Feature index of a split (unused by leaves).
    pub feature: usize,
    /// The split's rule; `None` for a leaf.
    pub rule: Option<Rule>,
    /// Where missing values go (XGBoost, LightGBM's Zero/NaN types, categorical NaN).
    pub default_left: bool,
    /// Left and right child (indices into the tree's nodes; unused by leaves).
    pub children: [usize; 2],
    /// Leaf value (margin contribution); unused by splits.
    pub value: f64,
    /// Cover: the training weight that reached this node.
    pub cover: f64,
}

impl Node {
    /// A split node.
    pub fn split(
        feature: usize,
        rule: Rule,
        default_left: bool,
        left: usize,
        right: usize,
        cover: f64,
    ) -> Node {
        Node {
            feature,
            rule: Some(rule),
            default_left,
            children: [left, right],
            value: 0.0,
            cover,
        }
    }

    /// A leaf.
    pub fn leaf(value: f64, cover: f64) -> Node {
        Node {
            feature: 0,
            rule: None,
            default_left: false,
            children: [0, 0],
            value,
            cover,
        }
    }

    /// Whether this node is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.rule.is_none()
    }

    /// The child `x` (the value of this node's feature) goes to.
    #[inline]
    pub fn next(&self, x: f64) -> usize {
        let left = match &self.rule {
            None => return usize::MAX,
            Some(Rule::LessThan(t)) => {
                if x.is_nan() {
                    self.default_left
                } else {
                    // XGBoost compares in f32: a feature equal to the threshold in f32 goes
                    // right even when its f64 value is below the threshold's decimal form.
                    (x as f32) < (*t as f32)
                }
            }
            Some(Rule::LessOrEqual { threshold, missing }) => {
                let x = if x.is_nan() && *missing != Missing::NaN {
                    0.0
                } else {
                    x
                };
                let is_missing = match missing {
                    Missing::None => false,
                    Missing::Zero => x.abs() <= ZERO,
                    Missing::NaN => x.is_nan(),
                };
                if is_missing {
                    self.default_left
                } else {
                    x <= *threshold
                }
            }
            Some(Rule::Category {
                set,
                members_go_left,
            }) => {
                if x.is_nan() || x < 0.0 {
                    // Missing or invalid (negative) categories: LightGBM sends them right,
                    // XGBoost the default way.
                    !*members_go_left && self.default_left
                } else {
                    let c = x as u32;
                    set.binary_search(&c).is_ok() == *members_go_left
                }
            }
        };
        self.children[if left { 0 } else { 1 }]
    }
}

/// One binary tree; node 0 is the root.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
    depth: usize,
}

impl Tree {
    /// A tree from its nodes, checked: children in range, every node reached once from the root
    /// (no cycles, no sharing), finite leaf values and non-negative covers.
    pub fn new(nodes: Vec<Node>) -> Result<Tree> {
        if nodes.is_empty() {
            return Err(XaiError::Config("a tree has no nodes".into()));
        }
        let mut seen = vec![false; nodes.len()];
        let mut depth = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, d)) = stack.pop() {
            if i >= nodes.len() {
                return Err(XaiError::Config(format!(
                    "a child index {i} is out of range ({} nodes)",
                    nodes.len()
                )));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(XaiError::Config(format!(
                    "node {i} is reached twice: not a tree"
                )));
            }
            let n = &nodes[i];
            if !(n.cover >= 0.0) || !n.cover.is_finite() {
                return Err(XaiError::Config(format!(
                    "node {i} has cover {} (must be finite and ≥ 0)",
                    n.cover
                )));
            }
            depth = depth.max(d);
            if n.is_leaf() {
                if !n.value.is_finite() {
                    return Err(XaiError::Config(format!("leaf {i} has value {}", n.value)));
                }
            } else {
                stack.push((n.children[0], d + 1));
                stack.push((n.children[1], d + 1));
            }
        }
        Ok(Tree { nodes, depth })
    }

    /// The nodes; node 0 is the root.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Longest root-to-leaf path, in splits.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The leaf `x` reaches.
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut i = 0;
        while !self.nodes[i].is_leaf() {
            let n = &self.nodes[i];
            i = n.next(x[n.feature]);
        }
        i
    }

    /// The tree's output for `x`.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.nodes[self.leaf(x)].value
    }

    /// Mean leaf value weighted by cover: `E[f]` under the training distribution the covers
    /// record (what path-dependent TreeSHAP's attributions start from).
    pub fn expected_value(&self) -> f64 {
        let root = self.nodes[0].cover;
        if root <= 0.0 {
            return self
                .nodes
                .iter()
                .find(|n| n.is_leaf())
                .map_or(0.0, |n| n.value);
        }
        self.nodes
            .iter()
            .filter(|n| n.is_leaf())
            .map(|n| n.value * n.cover / root)
            .sum()
    }

    fn max_feature(&self) -> Option<usize> {
        self.nodes
            .iter()
            .filter(|n| !n.is_leaf())
            .map(|n| n.feature)
            .max()
    }
}

/// What the margin means (and how the library turns it into a prediction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Binary classification; the margin is the log-odds of the positive class.
    Binary,
    /// Multiclass; one margin per class, softmax gives the probabilities.
    Multiclass,
    /// Regression; the margin is the prediction (or its log for log-link objectives).
    Regression,
}

/// A boosted (or bagged) tree ensemble.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    trees: Vec<Tree>,
    output_of: Vec<usize>,
    base_margin: Vec<f64>,
    features: usize,
    objective: Objective,
    feature_names: Vec<String>,
}

impl TreeEnsemble {
    /// An ensemble: `output_of[t]` is the output tree `t` adds to, `base_margin` has one entry per
    /// output, `features` is the input width. Checked: lengths agree, outputs in range, split
    /// features below `features`.
    pub fn new(
        trees: Vec<Tree>,
        output_of: Vec<usize>,
        base_margin: Vec<f64>,
        features: usize,
        objective: Objective,
    ) -> Result<TreeEnsemble> {
        if trees.len() != output_of.len() {
            return Err(XaiError::Config(format!(
                "{} trees but {} output assignments",
                trees.len(),
                output_of.len()
            )));
        }
        if base_margin.is_empty() || base_margin.iter().any(|b| !b.is_finite()) {
            return Err(XaiError::Config(format!(
                "base margin {base_margin:?} (one finite value per output)"
            )));
        }
        if let Some(&o) = output_of.iter().find(|&&o| o >= base_margin.len()) {
            return Err(XaiError::Config(format!(
                "a tree adds to output {o} of {}",
                base_margin.len()
            )));
        }
        if let Some((t, f)) = trees
            .iter()
            .enumerate()
            .filter_map(|(t, tree)| tree.max_feature().map(|f| (t, f)))
            .find(|&(_, f)| f >= features)
        {
            return Err(XaiError::Config(format!(
                "tree {t} splits on feature {f}, but the model has {features} features"
            )));
        }
        Ok(TreeEnsemble {
            trees,
            output_of,
            base_margin,
            features,
            objective,
            feature_names: (0..features).map(|i| format!("f{i}")).collect(),
        })
    }

    /// Load an XGBoost JSON model or a LightGBM text model, told apart by content.
    pub fn load(path: &Path) -> Result<TreeEnsemble> {
        let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
        let parse = |message: String| XaiError::Parse {
            file: path.display().to_string(),
            message,
        };
        let start = text.trim_start();
        if start.starts_with('{') {
            xgboost::parse(&text).map_err(parse)
        } else if start.starts_with("tree") {
            lightgbm::parse(&text).map_err(parse)
        } else {
            Err(parse(
                "neither an XGBoost JSON model (`save_model(\"m.json\")`) nor a LightGBM text \
                 model (`save_model(\"m.txt\")`)"
                    .into(),
            ))
        }
    }

    /// Parse XGBoost's JSON model format.
    pub fn from_xgboost_json(text: &str) -> Result<TreeEnsemble> {
        xgboost::parse(text).map_err(|message| XaiError::Parse {
            file: "XGBoost JSON".into(),
            message,
        })
    }

    /// Parse LightGBM's text model format.
    pub fn from_lightgbm_text(text: &str) -> Result<TreeEnsemble> {
        lightgbm::parse(text).map_err(|message| XaiError::Parse {
            file: "LightGBM text".into(),
            message,
        })
    }

    /// The same ensemble with feature names (one per feature).
    pub fn with_feature_names(mut self, names: Vec<String>) -> Result<TreeEnsemble> {
        if names.len() != self.features {
            return Err(XaiError::Config(format!(
                "{} feature names for {} features",
                names.len(),
                self.features
            )));
        }
        self.feature_names = names;
        Ok(self)
    }

    /// The trees.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// The output each tree adds to.
    pub fn output_of(&self) -> &[usize] {
        &self.output_of
    }

    /// Base margin per output.
    pub fn base_margin(&self) -> &[f64] {
        &self.base_margin
    }

    /// Number of outputs (classes of a multiclass model, else 1).
    pub fn outputs(&self) -> usize {
        self.base_margin.len()
    }

    /// Input width.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Feature names (from the model file, else `f0`, `f1`, …).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// What the margin means.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Check that `x` is one row of this model's width.
    pub fn check_row(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.features {
            return Err(XaiError::shape(
                "tree-ensemble input row",
                format!("{} features", self.features),
                &[x.len()],
            ));
        }
        Ok(())
    }

    /// Raw margins (one per output) for one row; NaN marks a missing value.
    pub fn margin(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.check_row(x)?;
        let mut out = self.base_margin.clone();
        for (tree, &o) in self.trees.iter().zip(&self.output_of) {
            out[o] += tree.predict(x);
        }
        Ok(out)
    }

    /// Raw margins of rows `[n, features]` row-major, `[n, outputs]`, split over the cores.
    pub fn margins(&self, rows: &[f64]) -> Result<Vec<f64>> {
        let f = self.features.max(1);
        if !rows.len().is_multiple_of(f) {
            return Err(XaiError::shape(
                "tree-ensemble input rows",
                format!("a multiple of {f} values"),
                &[rows.len()],
            ));
        }
        let k = self.outputs();
        let per_row = |x: &[f64], out: &mut [f64]| {
            out.copy_from_slice(&self.base_margin);
            for (tree, &o) in self.trees.iter().zip(&self.output_of) {
                out[o] += tree.predict(x);
            }
        };
        let mut out = vec![0.0; rows.len() / f * k];
        crate::par::rows(rows, f, &mut out, k, per_row);
        Ok(out)
    }

    /// Mean margin per output under the covers (see [`Tree::expected_value`]).
    pub fn expected_value(&self) -> Vec<f64> {
        let mut e = self.base_margin.clone();
        for (tree, &o) in self.trees.iter().zip(&self.output_of) {
            e[o] += tree.expected_value();
        }
        e
    }
}

/// A tree ensemble as a black box on rows: the model-agnostic methods (KernelSHAP, LIME,
/// ablation, exact Shapley) see its margins.
impl xai_core::agnostic::BlackBox for TreeEnsemble {
    fn features(&self) -> usize {
        self.features
    }

    fn predict(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        if rows.len() != n * self.features {
            return Err(XaiError::shape(
                "tree-ensemble rows",
                format!("{n} rows of {} features", self.features),
                &[rows.len()],
            ));
        }
        self.margins(rows)
    }

    fn bytes_per_row(&self) -> usize {
        (self.features + self.outputs()) * 8
    }
}
