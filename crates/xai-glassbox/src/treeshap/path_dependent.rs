//! Path-dependent TreeSHAP (Lundberg et al., *From local explanations to global understanding
//! with explainable AI for trees*, Nature MI 2020, Algorithm 2) and SHAP interaction values.
//!
//! The game is `v(S) = E[f(x) | x_S]` with the conditional expectation taken along the tree:
//! at a split on a feature outside `S`, both children are followed, weighted by their share of
//! the node's cover. TreeSHAP computes the exact Shapley values of that game in
//! `O(leaves · depth²)` per tree by carrying, along the root-to-leaf path, the proportion of
//! feature subsets of each size that reach the node (`EXTEND`), and removing one feature's
//! contribution again (`UNWIND`) to read off its weight at a leaf.
//!
//! Axioms checked in the tests: local accuracy (`Σ_i φ_i = f(x) − E[f]`, `E[f]` the
//! cover-weighted mean leaf), agreement with brute-force Shapley values of the same game by
//! enumerating all subsets, and a feature the trees never split on gets exactly 0.
//!
//! Interaction values (Lundberg et al. 2020, section 2.7) condition on one feature at a time:
//! `Φ_ij = (φ_j | i present − φ_j | i absent) / 2` for `i ≠ j`, and
//! `Φ_ii = φ_i − Σ_{j≠i} Φ_ij`, so each row of `Φ` sums to `φ_i` and all of `Φ` to
//! `f(x) − E[f]`. A *present* feature follows `x`'s branch; an *absent* one follows both with
//! their cover weights — the same recursion with a condition on one feature.

use crate::trees::{Node, Tree};

/// One element of the path: a feature, the fraction of zero-paths (feature absent) and
/// one-paths (feature present) that flow through, and the subset-size weight.
#[derive(Clone, Copy, Debug, Default)]
struct Elem {
    feature: isize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// `EXTEND`: append a feature with its zero and one fractions, updating the subset weights.
fn extend(path: &mut [Elem], depth: usize, zero: f64, one: f64, feature: isize) {
    path[depth] = Elem {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / d1;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / d1;
    }
}

/// `UNWIND`: remove element `index` (the inverse of [`extend`]).
fn unwind(path: &mut [Elem], depth: usize, index: usize) {
    let Elem { zero, one, .. } = path[index];
    let d1 = (depth + 1) as f64;
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let kept = path[i].weight;
            path[i].weight = next * d1 / ((i + 1) as f64 * one);
            next = kept - path[i].weight * zero * (depth - i) as f64 / d1;
        } else {
            path[i].weight = path[i].weight * d1 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// The total weight the path would have with element `index` unwound (without unwinding).
///
/// The hot loop of TreeSHAP (once per path element at every leaf). The divisions are by
/// factors that do not depend on the running value, so they are taken off its dependency chain.
fn unwound_sum(path: &[Elem], depth: usize, index: usize) -> f64 {
    let Elem { zero, one, .. } = path[index];
    let d1 = (depth + 1) as f64;
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        let shrink = (depth - i) as f64 / d1;
        if one != 0.0 {
            let w = next * (d1 / ((i + 1) as f64 * one));
            total += w;
            next = path[i].weight - w * (zero * shrink);
        } else if zero != 0.0 {
            total += path[i].weight / (zero * shrink);
        }
    }
    total
}

/// A condition on one feature: always present (`Present`), always absent (`Absent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Condition {
    None,
    Present(usize),
    Absent(usize),
}

impl Condition {
    fn feature(self) -> Option<usize> {
        match self {
            Condition::None => None,
            Condition::Present(f) | Condition::Absent(f) => Some(f),
        }
    }
}

/// The path storage of one walk, reused across trees and rows (every element is written before
/// it is read, so it needs no clearing).
pub(crate) struct Scratch(Vec<Elem>);

impl Scratch {
    /// Storage for trees up to `depth` deep: one segment per level of the recursion.
    pub(crate) fn for_depth(depth: usize) -> Scratch {
        let d = depth + 2;
        Scratch(vec![Elem::default(); (d + 1) * (d + 2) / 2 + d])
    }
}

struct Walk<'a> {
    nodes: &'a [Node],
    x: &'a [f64],
    phi: &'a mut [f64],
    condition: Condition,
    path: &'a mut [Elem],
}

impl Walk<'_> {
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &mut self,
        node: usize,
        parent_off: usize,
        depth: usize,
        zero: f64,
        one: f64,
        parent_feature: isize,
        condition_fraction: f64,
    ) {
        if condition_fraction == 0.0 {
            return;
        }
        let off = parent_off + depth + 1;
        // a short copy: an element loop beats a memmove call here
        for i in 0..=depth {
            self.path[off + i] = self.path[parent_off + i];
        }
        let conditioned = self.condition.feature().map(|f| f as isize);
        if conditioned != Some(parent_feature) {
            extend(&mut self.path[off..], depth, zero, one, parent_feature);
        }
        let n = &self.nodes[node];
        if n.is_leaf() {
            let path = &self.path[off..];
            for i in 1..=depth {
                let w = unwound_sum(path, depth, i);
                let e = path[i];
                self.phi[e.feature as usize] += w * (e.one - e.zero) * n.value * condition_fraction;
            }
            return;
        }
        let hot = n.next(self.x[n.feature]);
        let cold = if hot == n.children[0] {
            n.children[1]
        } else {
            n.children[0]
        };
        // A split with no cover (possible in hand-made trees) shares its paths evenly.
        let (hot_zero, cold_zero) = if n.cover > 0.0 {
            (
                self.nodes[hot].cover / n.cover,
                self.nodes[cold].cover / n.cover,
            )
        } else {
            (0.5, 0.5)
        };
        let mut depth = depth;
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        // A feature met again: undo its earlier split so that it appears once on the path.
        let path = &mut self.path[off..];
        if let Some(k) = (1..=depth).find(|&k| path[k].feature == n.feature as isize) {
            in_zero = path[k].zero;
            in_one = path[k].one;
            unwind(path, depth, k);
            depth -= 1;
        }
        let (mut hot_fraction, mut cold_fraction) = (condition_fraction, condition_fraction);
        let mut child_depth = depth + 1;
        match self.condition {
            Condition::Present(f) if f == n.feature => {
                cold_fraction = 0.0;
                child_depth -= 1;
            }
            Condition::Absent(f) if f == n.feature => {
                hot_fraction *= hot_zero;
                cold_fraction *= cold_zero;
                child_depth -= 1;
            }
            _ => {}
        }
        let feature = n.feature as isize;
        self.recurse(
            hot,
            off,
            child_depth,
            hot_zero * in_zero,
            in_one,
            feature,
            hot_fraction,
        );
        self.recurse(
            cold,
            off,
            child_depth,
            cold_zero * in_zero,
            0.0,
            feature,
            cold_fraction,
        );
    }
}

/// Add tree `tree`'s path-dependent SHAP values for row `x` (under `condition`) to `phi`
/// (one entry per feature). `scratch` must be [`Scratch::for_depth`] of at least the tree's
/// depth.
pub(crate) fn add_tree(
    tree: &Tree,
    x: &[f64],
    condition: Condition,
    phi: &mut [f64],
    scratch: &mut Scratch,
) {
    let mut walk = Walk {
        nodes: tree.nodes(),
        x,
        phi,
        condition,
        path: &mut scratch.0,
    };
    walk.recurse(0, 0, 0, 1.0, 1.0, -1, 1.0);
}

/// The distinct features tree `tree` splits on.
pub(crate) fn split_features(tree: &Tree) -> Vec<usize> {
    let mut f: Vec<usize> = tree
        .nodes()
        .iter()
        .filter(|n| !n.is_leaf())
        .map(|n| n.feature)
        .collect();
    f.sort_unstable();
    f.dedup();
    f
}
