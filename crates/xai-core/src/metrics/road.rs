//! ROAD — RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
//! Attribution Methods", ICML 2022): delete the most important pixels without retraining, but
//! fill them so that the filling itself does not give the deleted set away.
//!
//! For each percentage `p`, the `⌊H·W·p/100⌋` pixels with the largest attribution (most
//! relevant first, "MoRF") are removed and **imputed by noisy linear imputation**: each removed
//! pixel takes the weighted mean of its eight neighbours — weight 1/6 for the four sharing an
//! edge, 1/12 for the four diagonal ones, the weights of neighbours outside the image dropped —
//! solved jointly for all removed pixels of a channel,
//!
//! ```text
//! s_i x_i − Σ_{j removed} w_ij x_j = Σ_{k kept} w_ik v_k,      s_i = Σ_{valid neighbours} w_i·
//! ```
//!
//! then Gaussian noise of standard deviation `noise` is added to every imputed value. The score
//! at `p` is whether the model still predicts the target class; over a set of inputs, the
//! accuracy. A faithful attribution makes the accuracy fall fast as `p` grows.
//!
//! The system is symmetric and positive definite (a graph Laplacian of the removed pixels plus
//! the weights towards kept ones on the diagonal), so it is solved by conjugate gradients on the
//! sparse neighbour structure, for images of any size. With `noise = 0` the imputation equals
//! Quantus 0.6's `noisy_linear_imputation` (which solves the same system with a sparse direct
//! solver) to rounding, and the curve equals Quantus's `ROAD(noise=0)` (tested); with noise, the
//! draws are seeded per input, so they differ from Quantus's global numpy generator.
//!
//! Attributions are one value per pixel (`H·W`; sum channels first); as in Quantus, ties in the
//! ordering are broken by pixel index here (NumPy's unstable sort breaks them its own way).
//!
//! ```
//! use xai_core::metrics::road::linear_imputation;
//! // A 3×3 ramp with its centre removed: the centre becomes the mean of its neighbours.
//! let img: Vec<f64> = (0..9).map(|v| v as f64).collect();
//! let filled = linear_imputation(&img, [1, 3, 3], &[4]).unwrap();
//! assert!((filled[4] - 4.0).abs() < 1e-12);
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::agnostic::{BlackBox, Rows, argmax};
use crate::error::{Result, XaiError};
use crate::metrics::input_seed;

/// Settings of [`road`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoadConfig {
    /// Percentages of pixels removed (Quantus: 1, 3, …, 99).
    pub percentages: Vec<f64>,
    /// Standard deviation of the noise added to imputed values (0.01 in the paper and Quantus).
    pub noise: f64,
    /// Seed of the noise (per input).
    pub seed: u64,
}

impl Default for RoadConfig {
    fn default() -> Self {
        RoadConfig {
            percentages: (0..50).map(|k| (2 * k + 1) as f64).collect(),
            noise: 0.01,
            seed: 0,
        }
    }
}

/// The ROAD curves of a set of inputs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoadResult {
    /// The percentages.
    pub percentages: Vec<f64>,
    /// `still_correct[i][k]`: input `i` is still predicted as its target at percentage `k`.
    pub still_correct: Vec<Vec<bool>>,
    /// Share of inputs still predicted as their target, per percentage.
    pub accuracy: Vec<f64>,
}

/// Neighbour offsets and weights of the imputation.
const NEIGHBOURS: [((isize, isize), f64); 8] = [
    ((1, 1), 1.0 / 12.0),
    ((0, 1), 1.0 / 6.0),
    ((-1, 1), 1.0 / 12.0),
    ((1, -1), 1.0 / 12.0),
    ((0, -1), 1.0 / 6.0),
    ((-1, -1), 1.0 / 12.0),
    ((1, 0), 1.0 / 6.0),
    ((-1, 0), 1.0 / 6.0),
];

/// `image` (`[C, H, W]` row-major) with the pixels `removed` (indices into `H·W`, every channel)
/// replaced by the linear imputation from their neighbours (no noise).
pub fn linear_imputation(
    image: &[f64],
    [c, h, w]: [usize; 3],
    removed: &[usize],
) -> Result<Vec<f64>> {
    let hw = h * w;
    if c == 0 || hw == 0 || image.len() != c * hw {
        return Err(XaiError::shape(
            "image",
            format!("[{c}, {h}, {w}]"),
            &[image.len()],
        ));
    }
    let mut var = vec![usize::MAX; hw];
    for (k, &p) in removed.iter().enumerate() {
        if p >= hw || var[p] != usize::MAX {
            return Err(XaiError::Config(format!(
                "removed pixel {p}: outside the {h}×{w} image or listed twice"
            )));
        }
        var[p] = k;
    }
    let m = removed.len();
    let mut out = image.to_vec();
    if m == 0 {
        return Ok(out);
    }
    // Per unknown: its diagonal s_i, its unknown neighbours (index, weight), its known ones.
    let mut diag = vec![0.0; m];
    let mut unknown: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
    let mut known: Vec<Vec<(usize, f64)>> = vec![Vec::new(); m];
    for (k, &p) in removed.iter().enumerate() {
        let (r, col) = ((p / w) as isize, (p % w) as isize);
        for ((dr, dc), wt) in NEIGHBOURS {
            let (rr, cc) = (r + dr, col + dc);
            if rr < 0 || cc < 0 || rr >= h as isize || cc >= w as isize {
                continue;
            }
            diag[k] += wt;
            let q = rr as usize * w + cc as usize;
            if var[q] == usize::MAX {
                known[k].push((q, wt));
            } else {
                unknown[k].push((var[q], wt));
            }
        }
    }
    let apply = |x: &[f64]| -> Vec<f64> {
        (0..m)
            .map(|k| diag[k] * x[k] - unknown[k].iter().map(|&(j, wt)| wt * x[j]).sum::<f64>())
            .collect()
    };
    for ch in 0..c {
        let plane = &image[ch * hw..(ch + 1) * hw];
        let rhs: Vec<f64> = (0..m)
            .map(|k| known[k].iter().map(|&(q, wt)| wt * plane[q]).sum())
            .collect();
        let x = conjugate_gradients(&apply, &rhs, 10 * m + 100)?;
        for (k, &p) in removed.iter().enumerate() {
            out[ch * hw + p] = x[k];
        }
    }
    Ok(out)
}

/// Solve `A x = b` for a symmetric positive (semi-)definite `A` given as a product, from 0.
fn conjugate_gradients(
    apply: &dyn Fn(&[f64]) -> Vec<f64>,
    b: &[f64],
    max_iter: usize,
) -> Result<Vec<f64>> {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut x = vec![0.0; b.len()];
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let stop = 1e-26 * dot(b, b).max(f64::MIN_POSITIVE);
    for _ in 0..max_iter {
        if rr <= stop {
            break;
        }
        let ap = apply(&p);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            // A direction of zero curvature: the rest of the system is singular and b has no
            // component there (pixels cut off from every kept pixel keep 0).
            break;
        }
        let alpha = rr / pap;
        x.iter_mut().zip(&p).for_each(|(xi, pi)| *xi += alpha * pi);
        r.iter_mut()
            .zip(&ap)
            .for_each(|(ri, api)| *ri -= alpha * api);
        let next = dot(&r, &r);
        let beta = next / rr;
        rr = next;
        p.iter_mut()
            .zip(&r)
            .for_each(|(pi, ri)| *pi = ri + beta * *pi);
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("ROAD imputation".into()));
    }
    Ok(x)
}

/// ROAD curves of `inputs` (`n` rows of `C·H·W`) with per-pixel `attributions` (`n` rows of
/// `H·W`) for `targets` (see the module docs).
pub fn road<M: BlackBox + ?Sized>(
    model: &M,
    inputs: &Rows,
    shape: [usize; 3],
    attributions: &[f64],
    targets: &[usize],
    config: &RoadConfig,
) -> Result<RoadResult> {
    let [c, h, w] = shape;
    let hw = h * w;
    if inputs.f != c * hw {
        return Err(XaiError::shape(
            "ROAD inputs",
            format!("rows of {c}·{h}·{w}"),
            &[inputs.f],
        ));
    }
    if attributions.len() != inputs.n * hw {
        return Err(XaiError::shape(
            "ROAD attributions",
            format!("{} rows of {h}·{w} (one value per pixel)", inputs.n),
            &[attributions.len()],
        ));
    }
    if targets.len() != inputs.n {
        return Err(XaiError::shape(
            "targets",
            format!("[{}]", inputs.n),
            &[targets.len()],
        ));
    }
    if attributions.iter().any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("attributions".into()));
    }
    if let Some(p) = config
        .percentages
        .iter()
        .find(|p| !(p.is_finite() && (0.0..=100.0).contains(*p)))
    {
        return Err(XaiError::Config(format!(
            "ROAD percentage {p} outside [0, 100]"
        )));
    }
    let noise = Normal::new(0.0, config.noise).map_err(|_| {
        XaiError::Config(format!(
            "ROAD noise must be ≥ 0 and finite, got {}",
            config.noise
        ))
    })?;
    let mut still_correct = Vec::with_capacity(inputs.n);
    for i in 0..inputs.n {
        let a = &attributions[i * hw..(i + 1) * hw];
        let mut order: Vec<usize> = (0..hw).collect();
        order.sort_by(|&x, &y| a[y].total_cmp(&a[x]).then(x.cmp(&y)));
        let mut rng = StdRng::seed_from_u64(input_seed(config.seed, i));
        let mut batch = Vec::with_capacity(config.percentages.len() * inputs.f);
        for &p in &config.percentages {
            let k = (hw as f64 * p / 100.0).floor() as usize;
            let removed = &order[..k.min(hw)];
            let mut img = linear_imputation(inputs.row(i), shape, removed)?;
            if config.noise > 0.0 {
                for ch in 0..c {
                    for &q in removed {
                        img[ch * hw + q] += noise.sample(&mut rng);
                    }
                }
            }
            batch.extend(img);
        }
        let outputs = model.predict(&batch, config.percentages.len())?;
        let classes = outputs.len() / config.percentages.len().max(1);
        if targets[i] >= classes {
            return Err(XaiError::TargetOutOfRange {
                index: targets[i],
                classes,
            });
        }
        still_correct.push(
            outputs
                .chunks(classes.max(1))
                .map(|o| argmax(o) == targets[i])
                .collect::<Vec<bool>>(),
        );
    }
    let accuracy = (0..config.percentages.len())
        .map(|k| still_correct.iter().filter(|r| r[k]).count() as f64 / inputs.n.max(1) as f64)
        .collect();
    Ok(RoadResult {
        percentages: config.percentages.clone(),
        still_correct,
        accuracy,
    })
}
