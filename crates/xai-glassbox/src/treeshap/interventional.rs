//! Interventional TreeSHAP (Lundberg et al. 2020, "interventional" feature perturbation; the
//! game of KernelSHAP with a background set, computed exactly).
//!
//! For one background row `r` the game is `v(S) = f(x_S, r_{S̄})`: features in `S` take `x`'s
//! values, the others `r`'s. In one tree, a leaf is reached for exactly those `S` that contain
//! every feature at whose splits the leaf lies on `x`'s side but not `r`'s (the set `A`) and
//! none of the features where it lies on `r`'s side but not `x`'s (`B`); splits where `x` and
//! `r` agree impose nothing, and a leaf that needs a feature in both sets is never reached. The
//! Shapley values of `v(S) = value · [A ⊆ S] · [B ∩ S = ∅]` are, with `a = |A|`, `b = |B|`,
//!
//! * `φ_i = value · (a−1)! b! / (a+b)!` for `i ∈ A`,
//! * `φ_j = −value · a! (b−1)! / (a+b)!` for `j ∈ B`,
//!
//! so one walk of the tree that follows both children wherever `x` and `r` disagree gives the
//! exact values. Averaging over the background rows gives the values against the background
//! distribution; they sum to `f(x) − mean_r f(r)`.

use crate::trees::Tree;

/// `W[a][b] = a! b! / (a+b+1)!` for `a, b ≤ n`.
pub(crate) fn weights(n: usize) -> Vec<Vec<f64>> {
    let mut w = vec![vec![0.0; n + 1]; n + 1];
    for (a, row) in w.iter_mut().enumerate() {
        for (b, v) in row.iter_mut().enumerate() {
            // a! b! / (a+b+1)! = 1 / ((a+b+1) · C(a+b, a))
            let mut binom = 1.0;
            for k in 1..=a {
                binom = binom * (b + k) as f64 / k as f64;
            }
            *v = 1.0 / ((a + b + 1) as f64 * binom);
        }
    }
    w
}

struct Walk<'a> {
    tree: &'a Tree,
    x: &'a [f64],
    r: &'a [f64],
    w: &'a [Vec<f64>],
    phi: &'a mut [f64],
    from_x: Vec<usize>,
    from_r: Vec<usize>,
}

impl Walk<'_> {
    fn recurse(&mut self, node: usize) {
        let n = &self.tree.nodes()[node];
        if n.is_leaf() {
            let (a, b) = (self.from_x.len(), self.from_r.len());
            if a > 0 {
                let share = n.value * self.w[a - 1][b];
                for &i in &self.from_x {
                    self.phi[i] += share;
                }
            }
            if b > 0 {
                let share = n.value * self.w[a][b - 1];
                for &j in &self.from_r {
                    self.phi[j] -= share;
                }
            }
            return;
        }
        let f = n.feature;
        let (cx, cr) = (n.next(self.x[f]), n.next(self.r[f]));
        if cx == cr || self.from_x.contains(&f) {
            self.recurse(cx);
        } else if self.from_r.contains(&f) {
            self.recurse(cr);
        } else {
            self.from_x.push(f);
            self.recurse(cx);
            self.from_x.pop();
            self.from_r.push(f);
            self.recurse(cr);
            self.from_r.pop();
        }
    }
}

/// Add tree `tree`'s interventional SHAP values of `x` against one background row `r`, times
/// `scale`, to `phi`. `w` is [`weights`] of at least the tree's depth.
pub(crate) fn add_tree(tree: &Tree, x: &[f64], r: &[f64], w: &[Vec<f64>], phi: &mut [f64]) {
    let mut walk = Walk {
        tree,
        x,
        r,
        w,
        phi,
        from_x: Vec::with_capacity(tree.depth()),
        from_r: Vec::with_capacity(tree.depth()),
    };
    walk.recurse(0);
}
