//! Decision trees as glass-box classifiers: CART (Breiman et al. 1984) with the Gini criterion,
//! depth and leaf-size limits, and minimal cost-complexity pruning — the same tree scikit-learn's
//! `DecisionTreeClassifier(criterion="gini", max_depth, min_samples_leaf, ccp_alpha)` grows.
//!
//! * **Growing**: at each node every feature's sorted values are scanned and every threshold
//!   between two distinct consecutive values (their midpoint) is tried; the split with the lowest
//!   weighted Gini impurity of its children wins (`x ≤ threshold` goes left). A node stays a leaf
//!   when it is pure, at `max_depth`, or when no split leaves `min_leaf` rows on both sides.
//! * **Pruning**: with `R(t) = (n_t / n) · gini(t)`, the weakest link is the internal node with
//!   the smallest `α(t) = (R(t) − R(leaves under t)) / (#leaves under t − 1)`; it is collapsed
//!   into a leaf, repeatedly, while that smallest `α` is at most `ccp_alpha`.
//!   [`Cart::pruning_path`] lists the `α` at which each collapse happens.
//!
//! ```
//! use xai_glassbox::cart::{Cart, CartConfig};
//! let x: Vec<Vec<f64>> = (0..40).map(|i| vec![i as f64, (i % 3) as f64]).collect();
//! let y: Vec<usize> = (0..40).map(|i| usize::from(i >= 20)).collect();
//! let tree = Cart::fit(&x, &y, &["age".into(), "k".into()], &CartConfig::default()).unwrap();
//! assert_eq!(tree.leaves(), 2);
//! assert_eq!(tree.predict(&[30.0, 0.0]), 1);
//! assert!(tree.to_string().contains("age <= 19.5"));
//! ```

use std::fmt;

use xai_core::{Result, XaiError};

/// Settings of the tree.
#[derive(Clone, Debug)]
pub struct CartConfig {
    /// Deepest split level (`usize::MAX`: unlimited).
    pub max_depth: usize,
    /// Fewest training rows in a leaf.
    pub min_leaf: usize,
    /// Cost-complexity pruning strength (0: no pruning).
    pub ccp_alpha: f64,
}

impl Default for CartConfig {
    fn default() -> Self {
        CartConfig {
            max_depth: usize::MAX,
            min_leaf: 1,
            ccp_alpha: 0.0,
        }
    }
}

/// One node; children have larger indices than their parent.
#[derive(Clone, Debug, PartialEq)]
pub struct CartNode {
    /// `Some((feature, threshold, left, right))` for a split (`x ≤ threshold` goes left).
    pub split: Option<(usize, f64, usize, usize)>,
    /// Training rows per class that reached the node.
    pub counts: Vec<usize>,
}

impl CartNode {
    fn rows(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The majority class (the lowest index among ties).
    pub fn class(&self) -> usize {
        let mut best = 0;
        for (k, &c) in self.counts.iter().enumerate() {
            if c > self.counts[best] {
                best = k;
            }
        }
        best
    }
}

fn gini(counts: &[usize], n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    1.0 - counts.iter().map(|&c| (c as f64 / n).powi(2)).sum::<f64>()
}

/// A fitted classification tree.
#[derive(Clone, Debug)]
pub struct Cart {
    /// Nodes; 0 is the root. Pruned subtrees stay in the list, unreachable.
    pub nodes: Vec<CartNode>,
    /// Feature names.
    pub names: Vec<String>,
    /// Effective `α` of each collapse while pruning, in order.
    pub pruning_path: Vec<f64>,
}

impl Cart {
    /// Grow (and prune) a tree on rows `x` with class labels `y` in `0..`.
    pub fn fit(x: &[Vec<f64>], y: &[usize], names: &[String], cfg: &CartConfig) -> Result<Cart> {
        let d = names.len();
        if x.is_empty() || x.len() != y.len() {
            return Err(XaiError::Config(format!(
                "tree: {} rows and {} labels (need the same, at least one)",
                x.len(),
                y.len()
            )));
        }
        if d == 0
            || x.iter()
                .any(|r| r.len() != d || r.iter().any(|v| !v.is_finite()))
        {
            return Err(XaiError::Config(format!(
                "tree: every row needs {d} finite values (one per name)"
            )));
        }
        if cfg.min_leaf == 0 || !(cfg.ccp_alpha >= 0.0) {
            return Err(XaiError::Config(
                "tree: min_leaf ≥ 1 and ccp_alpha ≥ 0".into(),
            ));
        }
        let classes = y.iter().max().map_or(1, |m| m + 1);
        let mut tree = Cart {
            nodes: Vec::new(),
            names: names.to_vec(),
            pruning_path: Vec::new(),
        };
        tree.grow(x, y, classes, (0..x.len()).collect(), 0, cfg);
        tree.prune(x.len(), cfg.ccp_alpha);
        Ok(tree)
    }

    fn grow(
        &mut self,
        x: &[Vec<f64>],
        y: &[usize],
        classes: usize,
        rows: Vec<usize>,
        depth: usize,
        cfg: &CartConfig,
    ) -> usize {
        let mut counts = vec![0usize; classes];
        for &i in &rows {
            counts[y[i]] += 1;
        }
        let me = self.nodes.len();
        let n = rows.len();
        let pure = counts.contains(&n);
        self.nodes.push(CartNode {
            split: None,
            counts: counts.clone(),
        });
        if pure || depth >= cfg.max_depth || n < 2 * cfg.min_leaf {
            return me;
        }
        // (weighted child impurity, feature, threshold)
        let mut best: Option<(f64, usize, f64)> = None;
        let mut order = rows.clone();
        for (j, _) in self.names.iter().enumerate() {
            order.sort_by(|&a, &b| x[a][j].total_cmp(&x[b][j]));
            let mut left = vec![0usize; classes];
            for k in 0..n - 1 {
                left[y[order[k]]] += 1;
                let (lo, hi) = (x[order[k]][j], x[order[k + 1]][j]);
                let n_left = k + 1;
                if lo == hi || n_left < cfg.min_leaf || n - n_left < cfg.min_leaf {
                    continue;
                }
                let right: Vec<usize> = counts.iter().zip(&left).map(|(c, l)| c - l).collect();
                let impurity = (n_left as f64 * gini(&left, n_left)
                    + (n - n_left) as f64 * gini(&right, n - n_left))
                    / n as f64;
                if best.is_none_or(|(b, _, _)| impurity < b - 1e-15) {
                    let mut t = lo / 2.0 + hi / 2.0;
                    if t == hi || !t.is_finite() {
                        t = lo;
                    }
                    best = Some((impurity, j, t));
                }
            }
        }
        let Some((_, feature, threshold)) = best else {
            return me;
        };
        let (l, r): (Vec<usize>, Vec<usize>) =
            rows.into_iter().partition(|&i| x[i][feature] <= threshold);
        let left = self.grow(x, y, classes, l, depth + 1, cfg);
        let right = self.grow(x, y, classes, r, depth + 1, cfg);
        self.nodes[me].split = Some((feature, threshold, left, right));
        me
    }

    /// `(R of the subtree's leaves, number of leaves)` under node `t`.
    fn branch(&self, t: usize, n: f64) -> (f64, usize) {
        match self.nodes[t].split {
            None => {
                let node = &self.nodes[t];
                (node.rows() as f64 / n * gini(&node.counts, node.rows()), 1)
            }
            Some((_, _, l, r)) => {
                let (a, la) = self.branch(l, n);
                let (b, lb) = self.branch(r, n);
                (a + b, la + lb)
            }
        }
    }

    fn reachable(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![0];
        while let Some(t) = stack.pop() {
            out.push(t);
            if let Some((_, _, l, r)) = self.nodes[t].split {
                stack.push(r);
                stack.push(l);
            }
        }
        out.sort_unstable();
        out
    }

    fn prune(&mut self, n: usize, ccp_alpha: f64) {
        let n = n as f64;
        loop {
            // the weakest link: smallest effective alpha, lowest index among ties
            let mut weakest: Option<(f64, usize)> = None;
            for t in self.reachable() {
                if self.nodes[t].split.is_none() {
                    continue;
                }
                let node = &self.nodes[t];
                let r_node = node.rows() as f64 / n * gini(&node.counts, node.rows());
                let (r_branch, leaves) = self.branch(t, n);
                let alpha = (r_node - r_branch) / (leaves - 1) as f64;
                if weakest.is_none_or(|(a, _)| alpha < a) {
                    weakest = Some((alpha, t));
                }
            }
            match weakest {
                Some((alpha, t)) if alpha <= ccp_alpha => {
                    self.nodes[t].split = None;
                    self.pruning_path.push(alpha);
                }
                _ => break,
            }
        }
    }

    /// The leaf `x` reaches.
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut t = 0;
        while let Some((f, th, l, r)) = self.nodes[t].split {
            t = if x[f] <= th { l } else { r };
        }
        t
    }

    /// The predicted class of `x`.
    pub fn predict(&self, x: &[f64]) -> usize {
        self.nodes[self.leaf(x)].class()
    }

    /// Class probabilities of `x` (the leaf's training proportions).
    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let node = &self.nodes[self.leaf(x)];
        let n = node.rows().max(1) as f64;
        node.counts.iter().map(|&c| c as f64 / n).collect()
    }

    /// Number of leaves.
    pub fn leaves(&self) -> usize {
        self.reachable()
            .iter()
            .filter(|&&t| self.nodes[t].split.is_none())
            .count()
    }

    /// Depth (splits on the longest path).
    pub fn depth(&self) -> usize {
        fn go(tree: &Cart, t: usize) -> usize {
            match tree.nodes[t].split {
                None => 0,
                Some((_, _, l, r)) => 1 + go(tree, l).max(go(tree, r)),
            }
        }
        go(self, 0)
    }
}

impl fmt::Display for Cart {
    /// The tree as indented rules, each leaf with its class, purity and size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn go(tree: &Cart, t: usize, indent: usize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let pad = "  ".repeat(indent);
            let node = &tree.nodes[t];
            match node.split {
                None => {
                    let n = node.rows();
                    let c = node.class();
                    writeln!(
                        f,
                        "{pad}class {c} ({:.0}% of {n})",
                        100.0 * node.counts[c] as f64 / n.max(1) as f64
                    )
                }
                Some((j, th, l, r)) => {
                    writeln!(f, "{pad}if {} <= {th}:", tree.names[j])?;
                    go(tree, l, indent + 1, f)?;
                    writeln!(f, "{pad}else:")?;
                    go(tree, r, indent + 1, f)
                }
            }
        }
        go(self, 0, 0, f)
    }
}
