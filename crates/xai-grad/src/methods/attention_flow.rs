//! Attention flow (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020):
//! how much of an output token can be traced to each input token when attention is a flow
//! network.
//!
//! The fused attention of every layer (heads fused, residual `r·I` added, rows renormalised:
//! exactly rollout's `Â_l`, [`super::attention_rollout::fused_attention`]) defines a layered
//! directed graph: node `(l, t)` for layer `l ∈ 0..=L` and token `t`, and an edge
//! `(l − 1, j) → (l, i)` of capacity `Â_l[i][j]`. The flow of input token `j` to output token `i`
//! is the **maximum flow** from `(0, j)` to `(L, i)`:
//!
//! ```text
//! F[i][j] = maxflow((0, j) → (L, i))
//! ```
//!
//! where rollout multiplies (`R = Â_L ⋯ Â_1`, the share of *paths*), flow takes the bottleneck
//! capacities into account. Axioms and checks: with one layer the flow is the edge itself,
//! `F = Â_1`; a flow never exceeds the capacity of any cut between its two tokens (max flow
//! equals the minimum cut; the tests compare with an enumeration of all cuts); flows are
//! non-negative and at most 1 (the capacity into `(L, i)` is a row of `Â_L`, which sums to 1).
//!
//! Max flow by Edmonds–Karp (shortest augmenting paths, breadth-first search) on the layered
//! graph, `T²` flows of `O(V E²)` each with `V = (L + 1) T`, `E = L T²`: fine for the token
//! counts attention maps are read at (tens of tokens), slow for hundreds. Written here: the
//! graph crates' max-flow routines take integer capacities, and rounding attention to integers
//! loses the small flows this method is about.
//!
//! ```
//! use xai_grad::methods::attention_flow::flow_matrix;
//! // One layer: the flow is the (fused) attention itself.
//! let a = vec![vec![0.75, 0.25, 0.4, 0.6]];
//! let f = flow_matrix(&a, 2).unwrap();
//! assert!((f[1] - 0.25).abs() < 1e-12 && (f[2] - 0.4).abs() < 1e-12);
//! // Two layers: from input 0 to output 0, paths 0→0→0 and 0→1→0 are bottlenecked by their
//! // smaller edge.
//! let f = flow_matrix(&[vec![0.75, 0.25, 0.4, 0.6], vec![0.5, 0.5, 0.1, 0.9]], 2).unwrap();
//! assert!((f[0] - (0.5f64.min(0.75) + 0.5f64.min(0.4))).abs() < 1e-12);
//! ```

use burn::tensor::Tensor;
use xai_core::{Result, Target, XaiError};

use super::Explainable;
use super::attention_rollout::{Rollout, RolloutConfig, fused_attention};

/// Attention flow of the attention at `nodes` (forward order) for `x`: `[N, T, T]`, row `i` the
/// flow from every input token into output token `i`.
pub fn attention_flow<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    nodes: &[&str],
    config: &RolloutConfig,
) -> Result<Rollout> {
    let (layers, tokens) = fused_attention(ex, x, target, nodes, config)?;
    let n = layers.first().map_or(0, Vec::len);
    let mut values = Vec::with_capacity(n * tokens * tokens);
    for i in 0..n {
        let per_layer: Vec<Vec<f64>> = layers.iter().map(|l| l[i].clone()).collect();
        values.extend(flow_matrix(&per_layer, tokens)?);
    }
    Ok(Rollout { values, n, tokens })
}

/// The flow matrix `F` (`T × T`, row-major) of the layered graph whose layer `l` has capacities
/// `layers[l]` (`T × T` row-major, `[i][j]` = edge from token `j` below to token `i` above).
pub fn flow_matrix(layers: &[Vec<f64>], tokens: usize) -> Result<Vec<f64>> {
    if layers.is_empty() || tokens == 0 {
        return Err(XaiError::Config(
            "attention flow needs at least one layer of at least one token".into(),
        ));
    }
    if let Some(l) = layers.iter().position(|m| m.len() != tokens * tokens) {
        return Err(XaiError::shape(
            "attention layer",
            format!("[{tokens}, {tokens}]"),
            &[layers[l].len()],
        ));
    }
    if layers.iter().flatten().any(|c| !c.is_finite() || *c < 0.0) {
        return Err(XaiError::NonFinite(
            "attention capacities (they must be finite and ≥ 0)".into(),
        ));
    }
    let depth = layers.len();
    let node = |l: usize, t: usize| l * tokens + t;
    let mut net = Network::new((depth + 1) * tokens);
    for (l, m) in layers.iter().enumerate() {
        for i in 0..tokens {
            for j in 0..tokens {
                if m[i * tokens + j] > 0.0 {
                    net.add_edge(node(l, j), node(l + 1, i), m[i * tokens + j]);
                }
            }
        }
    }
    let mut out = vec![0.0; tokens * tokens];
    for i in 0..tokens {
        for j in 0..tokens {
            out[i * tokens + j] = net.max_flow(node(0, j), node(depth, i));
        }
    }
    Ok(out)
}

/// A directed graph with f64 capacities, edges stored in pairs (edge `e` and its reverse `e ^ 1`).
struct Network {
    head: Vec<Vec<usize>>,
    to: Vec<usize>,
    capacity: Vec<f64>,
}

impl Network {
    fn new(nodes: usize) -> Network {
        Network {
            head: vec![Vec::new(); nodes],
            to: Vec::new(),
            capacity: Vec::new(),
        }
    }

    fn add_edge(&mut self, from: usize, to: usize, capacity: f64) {
        self.head[from].push(self.to.len());
        self.to.push(to);
        self.capacity.push(capacity);
        self.head[to].push(self.to.len());
        self.to.push(from);
        self.capacity.push(0.0);
    }

    /// Edmonds–Karp from `source` to `sink` on a fresh copy of the capacities.
    fn max_flow(&self, source: usize, sink: usize) -> f64 {
        // Residual capacities below this count as saturated (sums of f64 capacities).
        const EPS: f64 = 1e-15;
        let mut residual = self.capacity.clone();
        let mut total = 0.0;
        loop {
            // Breadth-first search for the shortest augmenting path.
            let mut via: Vec<Option<usize>> = vec![None; self.head.len()];
            let mut queue = std::collections::VecDeque::from([source]);
            let mut reached = false;
            while let Some(u) = queue.pop_front() {
                for &e in &self.head[u] {
                    let v = self.to[e];
                    if v != source && via[v].is_none() && residual[e] > EPS {
                        via[v] = Some(e);
                        if v == sink {
                            reached = true;
                            break;
                        }
                        queue.push_back(v);
                    }
                }
                if reached {
                    break;
                }
            }
            if !reached {
                return total;
            }
            // The bottleneck along the path, then push it.
            let mut push = f64::INFINITY;
            let mut v = sink;
            while let Some(e) = via[v] {
                push = push.min(residual[e]);
                v = self.to[e ^ 1];
            }
            let mut v = sink;
            while let Some(e) = via[v] {
                residual[e] -= push;
                residual[e ^ 1] += push;
                v = self.to[e ^ 1];
            }
            total += push;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The minimum cut by enumeration: every set of nodes holding the source and not the sink.
    fn min_cut(layers: &[Vec<f64>], tokens: usize, source: usize, sink: usize) -> f64 {
        let v = (layers.len() + 1) * tokens;
        let free: Vec<usize> = (0..v).filter(|&k| k != source && k != sink).collect();
        let mut best = f64::INFINITY;
        for mask in 0u64..(1 << free.len()) {
            let side = |k: usize| {
                k == source
                    || free
                        .iter()
                        .position(|&f| f == k)
                        .is_some_and(|p| mask >> p & 1 == 1)
            };
            let mut cut = 0.0;
            for (l, m) in layers.iter().enumerate() {
                for i in 0..tokens {
                    for j in 0..tokens {
                        if side(l * tokens + j) && !side((l + 1) * tokens + i) {
                            cut += m[i * tokens + j];
                        }
                    }
                }
            }
            best = best.min(cut);
        }
        best
    }

    #[test]
    fn max_flow_equals_the_minimum_cut() {
        let mut rng = StdRng::seed_from_u64(11);
        for trial in 0..20 {
            let (tokens, depth) = (3, 1 + trial % 3);
            let layers: Vec<Vec<f64>> = (0..depth)
                .map(|_| {
                    (0..tokens * tokens)
                        .map(|_| {
                            if rng.random::<f64>() < 0.3 {
                                0.0
                            } else {
                                rng.random()
                            }
                        })
                        .collect()
                })
                .collect();
            let f = flow_matrix(&layers, tokens).unwrap();
            for i in 0..tokens {
                for j in 0..tokens {
                    let cut = min_cut(&layers, tokens, j, depth * tokens + i);
                    assert!((f[i * tokens + j] - cut).abs() < 1e-12, "{trial} {i} {j}");
                }
            }
        }
    }

    #[test]
    fn bad_capacities_are_refused() {
        assert!(flow_matrix(&[vec![0.5, -0.1, 0.2, 0.3]], 2).is_err());
        assert!(flow_matrix(&[vec![0.5, 0.1, 0.2]], 2).is_err());
        assert!(flow_matrix(&[], 2).is_err());
    }
}
