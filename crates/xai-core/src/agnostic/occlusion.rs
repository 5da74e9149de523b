//! Occlusion (Zeiler & Fergus 2014): slide a window over the input, fill it with the reference,
//! and credit the output drop to the covered elements.
//!
//! Per-sample input shape `S = [s_1, …, s_r]` (for example `[C, H, W]` or `[L]`), window `w` and
//! strides `t` of the same rank. Windows start at `k·t_d` for `k = 0 … ⌈(s_d − w_d)/t_d⌉` in each
//! dimension and are cut at the edge. Element `e` receives
//! `φ_e = (1/|W(e)|) Σ_{W ∋ e} [f(x) − f(x with W := b)]`, the mean drop over the windows that
//! cover it (Captum's `Occlusion`). An element no window covers gets 0.
//!
//! Cost: `N · #windows · M` model rows in budget-sized chunks.
//!
//! ```
//! use xai_core::agnostic::{FnModel, Occlusion, References, Rows, occlusion};
//! use xai_core::Target;
//! // A 1×4 "image"; the model sums it. Windows of 2 with stride 2 against zeros: each pixel
//! // gets the sum of its window.
//! let model = FnModel::new(4, |r: &[f64], n| (0..n).map(|i| r[4*i..4*i+4].iter().sum()).collect());
//! let cfg = Occlusion { shape: vec![4], window: vec![2], strides: vec![2], run: Default::default() };
//! let phi = occlusion(&model, &Rows::new(&[1.0, 2.0, 3.0, 4.0], 4).unwrap(), &Target::Class(0),
//!     &References::PerInput(vec![0.0; 4]), &cfg).unwrap();
//! assert_eq!(phi.values, vec![3.0, 3.0, 7.0, 7.0]);
//! ```

use serde::{Deserialize, Serialize};

use super::ablation::RowAttribution;
use super::{BlackBox, Evaluator, References, Rows, RunOptions, Scorer};
use crate::error::{Result, XaiError};
use crate::target::Target;

/// Settings of [`occlusion`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Occlusion {
    /// Per-sample input shape (its product is the number of features).
    pub shape: Vec<usize>,
    /// Window shape, same rank as `shape`.
    pub window: Vec<usize>,
    /// Strides, same rank as `shape`.
    pub strides: Vec<usize>,
    /// Budget and progress.
    pub run: RunOptions,
}

/// The flat element indices covered by each window, in row-major window order.
pub fn windows(shape: &[usize], window: &[usize], strides: &[usize]) -> Result<Vec<Vec<usize>>> {
    let r = shape.len();
    if r == 0 || window.len() != r || strides.len() != r {
        return Err(XaiError::Config(format!(
            "occlusion: shape {shape:?}, window {window:?} and strides {strides:?} must have one equal, non-zero rank"
        )));
    }
    if (0..r).any(|d| window[d] == 0 || strides[d] == 0 || window[d] > shape[d]) {
        return Err(XaiError::Config(format!(
            "occlusion: window {window:?} must be non-empty and fit in {shape:?}; strides {strides:?} positive"
        )));
    }
    // Start positions per dimension.
    let starts: Vec<Vec<usize>> = (0..r)
        .map(|d| {
            let last = (shape[d] - window[d]).div_ceil(strides[d]);
            (0..=last).map(|k| k * strides[d]).collect()
        })
        .collect();
    // Every window is a product of per-dimension ranges; enumerate both products row-major.
    let mut corners: Vec<Vec<usize>> = vec![vec![]];
    for dim_starts in &starts {
        corners = corners
            .into_iter()
            .flat_map(|c| {
                dim_starts
                    .iter()
                    .map(move |&s| [c.clone(), vec![s]].concat())
            })
            .collect();
    }
    Ok(corners
        .into_iter()
        .map(|lo| {
            let mut cells = vec![0usize];
            for d in 0..r {
                let hi = (lo[d] + window[d]).min(shape[d]);
                cells = cells
                    .into_iter()
                    .flat_map(|c| (lo[d]..hi).map(move |i| c * shape[d] + i))
                    .collect();
            }
            cells
        })
        .collect())
}

/// Occlusion attribution of `inputs` for `target`, windows filled from `references`.
pub fn occlusion<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    target: &Target,
    references: &References,
    config: &Occlusion,
) -> Result<RowAttribution> {
    let (n, f) = (inputs.n, inputs.f);
    if config.shape.iter().product::<usize>() != f || model.features() != f {
        return Err(XaiError::shape(
            "inputs",
            format!("{:?} = {} features per row", config.shape, model.features()),
            &[n, f],
        ));
    }
    references.check(n, f)?;
    let wins = windows(&config.shape, &config.window, &config.strides)?;
    let nw = wins.len();
    let m = references.per_input();
    let scorer = Scorer::resolve(model, inputs, target)?;
    let eval = Evaluator::new(model, &config.run, "occlusion");
    let full = eval.scores(
        n,
        &scorer,
        |r, row| row.copy_from_slice(inputs.row(r)),
        |r| r,
    )?;
    let occluded = eval.scores(
        n * nw * m,
        &scorer,
        |idx, row| {
            let (i, w, r) = (idx / (nw * m), (idx / m) % nw, idx % m);
            row.copy_from_slice(inputs.row(i));
            let b = references.row(i, r, f);
            for &e in &wins[w] {
                row[e] = b[e];
            }
        },
        |idx| idx / (nw * m),
    )?;
    let mut coverage = vec![0usize; f];
    for w in &wins {
        for &e in w {
            coverage[e] += 1;
        }
    }
    let mut values = vec![0.0; n * f];
    for i in 0..n {
        for (w, cells) in wins.iter().enumerate() {
            let base = (i * nw + w) * m;
            let drop = full[i] - occluded[base..base + m].iter().sum::<f64>() / m as f64;
            for &e in cells {
                values[i * f + e] += drop;
            }
        }
        for e in 0..f {
            if coverage[e] > 0 {
                values[i * f + e] /= coverage[e] as f64;
            }
        }
    }
    Ok(RowAttribution {
        method: "occlusion".into(),
        values,
        n,
        features: f,
        targets: scorer.classes().map(|c| c.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_cut_at_the_edge_and_cover_everything() {
        let w = windows(&[1, 8, 8], &[1, 3, 3], &[1, 2, 2]).unwrap();
        assert_eq!(w.len(), 16); // starts 0,2,4,6 in each spatial dimension
        assert_eq!(w[0], vec![0, 1, 2, 8, 9, 10, 16, 17, 18]);
        assert_eq!(w[15], vec![54, 55, 62, 63]);
        assert!(windows(&[4], &[5], &[1]).is_err());
        assert!(windows(&[4], &[2], &[0]).is_err());
    }
}
