//! Iterative removal of features (IROF; Rieger & Hansen, "IROF: a low resource evaluation
//! metric for explanation methods", ICLR workshop 2020), as Quantus 0.6 computes it (`IROF`).
//!
//! Each input is cut into segments (superpixels: [`slic_segments`], or any [`FeatureGroups`]),
//! ranked by their **mean** attribution (over every feature of the segment, all channels), and
//! removed one segment at a time, most important first, cumulatively: after step `k` the top
//! `k` segments hold the reference. With `v_k` the explained output after step `k` and `v_0`
//! the output on the untouched input, the curve is `p_k = v_k / v_0` for `k = 1 … G` and the
//! score is the area over it, `IROF = G − Σ_{k=1}^{G−1} (p_k + p_{k+1}) / 2` (the trapezoid
//! rule with unit spacing, as Quantus): a faithful explanation removes the output early, so its
//! curve drops fast and the area over it is **large**.
//!
//! Ranking by the mean, not the sum, keeps large segments from winning by size. Each input has
//! its own segmentation; where the number of segments differs between inputs, Quantus pads the
//! shorter curves with zeros (its trapezoid then adds half a step down to zero); here each
//! input's score uses its own segments only, which is the same where the counts agree.
//!
//! A zero output on the untouched input makes the ratio undefined: that input is an error, not
//! a NaN. Every step of every input is one row of one batched evaluation, chunked against the
//! memory budget.
//!
//! ```
//! use xai_core::agnostic::{FeatureGroups, FnModel, References, Rows, RunOptions};
//! use xai_core::metrics::Output;
//! use xai_core::metrics::irof::irof;
//! // f(x) = 4 + 3 x₀ + x₁ + 0·x₂, each feature its own segment, reference 0.
//! let model = FnModel::new(3, |r: &[f64], n| (0..n).map(|i| 4.0 + 3.0 * r[3 * i] + r[3 * i + 1]).collect());
//! let x = Rows::new(&[1.0, 1.0, 1.0], 3).unwrap();
//! let refs = References::PerInput(vec![0.0; 3]);
//! let segs = vec![FeatureGroups::singletons(3)];
//! let quiet = RunOptions { progress: false, ..RunOptions::default() };
//! let good = irof(&model, &x, &Rows::new(&[3.0, 1.0, 0.0], 3).unwrap(), &refs, &[0], &segs, Output::Raw, &quiet).unwrap();
//! let bad = irof(&model, &x, &Rows::new(&[0.0, 1.0, 3.0], 3).unwrap(), &refs, &[0], &segs, Output::Raw, &quiet).unwrap();
//! // good removes x₀ first: v = 5, 4, 4 of v₀ = 8.
//! assert_eq!(good.curves[0], vec![0.625, 0.5, 0.5]);
//! assert!((good.scores[0] - (3.0 - (0.625 + 0.5) / 2.0 - 0.5)).abs() < 1e-12);
//! assert!(good.mean > bad.mean);
//! ```

use serde::{Deserialize, Serialize};

use crate::agnostic::segmentation::slic;
use crate::agnostic::{BlackBox, Evaluator, FeatureGroups, References, Rows, RunOptions};
use crate::error::{Result, XaiError};
use crate::metrics::faithfulness::{check_pair, reference_rows};
use crate::metrics::{Output, class_values};

/// IROF of a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Irof {
    /// Per input, `p_1 … p_G`: the output after removing the top `k` segments over the output on
    /// the untouched input.
    pub curves: Vec<Vec<f64>>,
    /// Per input, the area over its curve.
    pub scores: Vec<f64>,
    /// Mean score.
    pub mean: f64,
}

/// SLIC superpixels of every input (`[C, H, W]` each), for [`irof`] (about `segments`
/// segments per image, compactness `compactness`; see [`slic`]).
pub fn slic_segments(
    inputs: &Rows,
    shape: [usize; 3],
    segments: usize,
    compactness: f64,
) -> Result<Vec<FeatureGroups>> {
    (0..inputs.n)
        .map(|i| slic(inputs.row(i), shape, segments, compactness))
        .collect()
}

/// IROF of each input (see the module docs). `segments` holds one segmentation per input, or
/// one shared by every input.
#[allow(clippy::too_many_arguments)]
pub fn irof<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    attributions: &Rows,
    references: &References,
    classes: &[usize],
    segments: &[FeatureGroups],
    output: Output,
    options: &RunOptions,
) -> Result<Irof> {
    let (n, f) = (inputs.n, inputs.f);
    if n == 0 {
        return Err(XaiError::EmptyBatch("IROF needs at least one input".into()));
    }
    check_pair(model, inputs, attributions, classes)?;
    if segments.len() != 1 && segments.len() != n {
        return Err(XaiError::Config(format!(
            "IROF needs one segmentation per input ({n}) or one for all, got {}",
            segments.len()
        )));
    }
    if let Some(s) = segments.iter().find(|s| s.features() != f) {
        return Err(XaiError::shape(
            "IROF segmentation",
            format!("{f} features"),
            &[s.features()],
        ));
    }
    let refs = reference_rows(references, n, f)?;
    let seg = |i: usize| &segments[if segments.len() == 1 { 0 } else { i }];
    // rank[i][g]: position of segment g in input i's removal order (mean attribution, descending;
    // ties by segment id).
    let ranks: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let s = seg(i);
            let (mut sum, mut size) = (vec![0.0; s.count()], vec![0usize; s.count()]);
            for (j, &a) in attributions.row(i).iter().enumerate() {
                sum[s.of(j)] += a;
                size[s.of(j)] += 1;
            }
            let mean: Vec<f64> = sum.iter().zip(&size).map(|(t, &c)| t / c as f64).collect();
            let mut order: Vec<usize> = (0..mean.len()).collect();
            order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]).then(a.cmp(&b)));
            let mut rank = vec![0; mean.len()];
            for (r, &g) in order.iter().enumerate() {
                rank[g] = r;
            }
            rank
        })
        .collect();
    // Row layout: input i has rows start[i] .. start[i] + G_i + 1 (step 0 = untouched).
    let mut start = Vec::with_capacity(n + 1);
    start.push(0usize);
    for i in 0..n {
        start.push(start[i] + seg(i).count() + 1);
    }
    let owner = |r: usize| start.partition_point(|&s| s <= r) - 1;
    let mut values = Vec::with_capacity(start[n]);
    Evaluator::new(model, options, "IROF").run(
        start[n],
        |r, row| {
            let i = owner(r);
            let step = r - start[i];
            let (x, x0, s) = (inputs.row(i), &refs[i * f..(i + 1) * f], seg(i));
            for j in 0..f {
                row[j] = if ranks[i][s.of(j)] < step {
                    x0[j]
                } else {
                    x[j]
                };
            }
        },
        |first, out, k| {
            values.extend(class_values(out, k, output, |r| classes[owner(first + r)])?);
            Ok(())
        },
    )?;
    let mut curves = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    for i in 0..n {
        let v = &values[start[i]..start[i + 1]];
        if v[0] == 0.0 || !v[0].is_finite() {
            return Err(XaiError::Numerical(format!(
                "IROF: the output of input {i} is {}, so the ratios to it are undefined",
                v[0]
            )));
        }
        let p: Vec<f64> = v[1..].iter().map(|x| x / v[0]).collect();
        let area: f64 = p.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum();
        scores.push(p.len() as f64 - area);
        curves.push(p);
    }
    let mean = scores.iter().sum::<f64>() / n as f64;
    Ok(Irof {
        curves,
        scores,
        mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agnostic::FnModel;

    #[test]
    fn segments_are_ranked_by_mean_not_sum() {
        // f(x) = 1 + 4 x₀ + x₁ + x₂ + x₃; segment 0 = {x₀}, segment 1 = {x₁, x₂, x₃}.
        let model = FnModel::new(4, |r: &[f64], n| {
            (0..n)
                .map(|i| 1.0 + 4.0 * r[4 * i] + r[4 * i + 1] + r[4 * i + 2] + r[4 * i + 3])
                .collect()
        });
        let x = Rows::new(&[1.0; 4], 4).unwrap();
        let segs = vec![FeatureGroups::from_mask(vec![0, 1, 1, 1]).unwrap()];
        let quiet = RunOptions {
            progress: false,
            ..RunOptions::default()
        };
        // Means 2 and 1 (sums 2 and 3): segment 0 goes first, v = 8 → 4 → 1.
        let a = Rows::new(&[2.0, 1.0, 1.0, 1.0], 4).unwrap();
        let refs = References::PerInput(vec![0.0; 4]);
        let r = irof(&model, &x, &a, &refs, &[0], &segs, Output::Raw, &quiet).unwrap();
        assert_eq!(r.curves[0], vec![0.5, 0.125]);
        assert!((r.scores[0] - (2.0 - 0.3125)).abs() < 1e-12);
        // A zero output is refused, not divided by.
        let zero = FnModel::new(4, |_: &[f64], n| vec![0.0; n]);
        assert!(irof(&zero, &x, &a, &refs, &[0], &segs, Output::Raw, &quiet).is_err());
    }
}
