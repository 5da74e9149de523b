//! Influence scores computed in shards — separate processes, each scoring a slice of the training
//! set — and merged.
//!
//! Scores `I_up,loss(z, z_test) = −s_testᵀ ∇ℓ(z)` are independent across training points once
//! `s_test = (H + δI)⁻¹ ∇ℓ(z_test)` is known, so the work splits by training rows:
//!
//! 1. one process solves `s_test` and writes it with θ to a shared folder ([`State::write`]);
//! 2. shard `i` of `K` rebuilds the same objective, reads the state ([`State::read`]), computes
//!    the per-example gradients of its rows [`shard_rows`]`(i, K, n)` and writes its block of
//!    scores ([`score_shard`]);
//! 3. [`merge`] reads every block back and checks that together they cover the training set
//!    exactly once.
//!
//! The assignment of rows to shards is contiguous and depends only on `(i, K, n)`, so a rerun of
//! one shard recomputes the same rows, and the merged scores equal the one-process scores up to
//! floating-point summation order.
//!
//! ```
//! use xai_influence::partition::shard_rows;
//! let slices: Vec<_> = (0..3).map(|i| shard_rows(i, 3, 10)).collect();
//! assert_eq!(slices, vec![0..3, 3..6, 6..10]);
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use xai_core::{Result, XaiError};
use xai_grad::Precision;

use crate::Objective;
use crate::objective::{matrix, to_f64, vector};

/// The training rows of shard `index` of `of` over `n` rows: `[index·n/of, (index+1)·n/of)`.
pub fn shard_rows(index: usize, of: usize, n: usize) -> Range<usize> {
    index * n / of..(index + 1) * n / of
}

/// What every shard needs besides the objective: the trained parameters and `s_test`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// Seed the objective was built from (a shard rebuilds the same model).
    pub seed: u64,
    /// Trained parameters, flat.
    pub theta: Vec<f64>,
    /// `s_test`, `[test_points, params]` row-major.
    pub s_test: Vec<f64>,
    /// Number of test points.
    pub test_points: usize,
    /// Number of parameters.
    pub params: usize,
}

impl State {
    /// The state of `theta` and `s_test` (`[T, P]`).
    pub fn new(seed: u64, theta: Tensor<1>, s_test: Tensor<2>) -> Result<State> {
        let [test_points, params] = s_test.dims();
        Ok(State {
            seed,
            theta: to_f64(theta)?,
            s_test: to_f64(s_test)?,
            test_points,
            params,
        })
    }

    /// Write `dir/state.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(XaiError::io(dir))?;
        write_json(&dir.join("state.json"), self)
    }

    /// Read `dir/state.json`.
    pub fn read(dir: &Path) -> Result<State> {
        read_json(&dir.join("state.json"))
    }
}

/// One shard's block of scores: `scores[t][k]` is the score of training row `rows.start + k`
/// for test point `t`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Block {
    /// This shard's index.
    pub index: usize,
    /// Number of shards.
    pub of: usize,
    /// Training rows scored, `[start, end)`.
    pub rows: [usize; 2],
    /// `I_up,loss`, one row per test point.
    pub scores: Vec<Vec<f64>>,
}

fn block_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("shard_{index}.json"))
}

/// Shard `index` of `of`: score the training rows [`shard_rows`] of `objective` (built from
/// `state.seed` by the caller) and write `dir/shard_{index}.json`. Per-example gradients go
/// `chunk` rows at a time.
pub fn score_shard(
    objective: &Objective,
    state: &State,
    index: usize,
    of: usize,
    dir: &Path,
    chunk: usize,
) -> Result<Block> {
    if of == 0 || index >= of {
        return Err(XaiError::Config(format!(
            "shard {index} of {of}: the index must be below the count"
        )));
    }
    let (p, t) = (objective.num_params(), state.test_points);
    if state.params != p || state.theta.len() != p || state.s_test.len() != t * p {
        return Err(XaiError::Config(format!(
            "{}: the state is for {} parameters, the model has {p}",
            dir.join("state.json").display(),
            state.params
        )));
    }
    let dev = objective.device().clone();
    let theta = vector(&state.theta, &dev, Precision::F64);
    let s_test = matrix(&state.s_test, t, p, &dev, Precision::F64);
    let rows = shard_rows(index, of, objective.num_train());
    let train = objective
        .train()
        .select(&rows.clone().collect::<Vec<_>>())?;
    let grads = objective.per_example_grads(&theta, &train, chunk)?;
    // I_up,loss = −s_testᵀ ∇ℓ(z), one row per test point.
    let flat = to_f64(s_test.matmul(grads.transpose()).neg())?;
    let k = rows.len();
    let block = Block {
        index,
        of,
        rows: [rows.start, rows.end],
        scores: (0..t).map(|i| flat[i * k..(i + 1) * k].to_vec()).collect(),
    };
    write_json(&block_path(dir, index), &block)?;
    Ok(block)
}

/// Read the `of` blocks in `dir` and concatenate them into `[test_points][n]`, checking that
/// every shard is there, belongs to a run of `of` shards, and covers exactly its rows.
pub fn merge(dir: &Path, of: usize, n: usize, test_points: usize) -> Result<Vec<Vec<f64>>> {
    let mut merged = vec![Vec::with_capacity(n); test_points];
    for i in 0..of {
        let path = block_path(dir, i);
        let b: Block = read_json(&path)?;
        let want = shard_rows(i, of, n);
        let wrong_rows = b.scores.iter().any(|r| r.len() != want.len());
        if b.index != i || b.of != of || b.rows != [want.start, want.end] || wrong_rows {
            return Err(XaiError::Config(format!(
                "{}: shard {}/{} covering rows {:?} does not match shard {i}/{of} over {n} rows",
                path.display(),
                b.index,
                b.of,
                b.rows
            )));
        }
        if b.scores.len() != test_points {
            return Err(XaiError::Config(format!(
                "{}: {} test points, expected {test_points}",
                path.display(),
                b.scores.len()
            )));
        }
        for (m, row) in merged.iter_mut().zip(b.scores) {
            m.extend(row);
        }
    }
    Ok(merged)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string(value).map_err(|e| XaiError::writing(path, e))?;
    std::fs::write(path, text).map_err(XaiError::io(path))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(XaiError::io(path))?;
    serde_json::from_str(&text).map_err(|e| XaiError::Config(format!("{}: {e}", path.display())))
}
