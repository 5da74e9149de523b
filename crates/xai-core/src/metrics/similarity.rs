//! Similarity of two attribution maps: Pearson, Spearman (average ranks for ties), SSIM and HOG
//! similarity, as used by the sanity checks of Adebayo et al. (2018) to compare the map of a
//! trained model with the map of a randomised one.
//!
//! - Pearson `r = cov(a, b) / (σ_a σ_b)`; Spearman is Pearson on average ranks.
//!   A constant vector has no linear association with anything: its correlation is defined as 0
//!   (scipy returns NaN; a NaN would poison every mean downstream).
//! - SSIM (Wang et al., 2004) as scikit-image computes it by default and Quantus calls it:
//!   7×7 uniform windows, `K1 = 0.01`, `K2 = 0.03`, sample covariances (`NP/(NP−1)`), the mean
//!   over windows that lie fully inside the image, and — as Quantus does — a data range
//!   `max(a ∪ b) − min(a ∪ b)`.
//! - HOG similarity: Pearson correlation of two histogram-of-oriented-gradients descriptors
//!   (central-difference gradients, 9 unsigned orientation bins, `cell × cell` pixel cells,
//!   L2-Hys normalisation over 2×2-cell blocks). Our own HOG, written here because it is
//!   40 lines and no maintained crate computes it on `f64` maps.
//!
//! ```
//! use xai_core::metrics::similarity::{pearson, spearman, ssim};
//! let a = [1.0, 2.0, 3.0, 4.0];
//! assert!((pearson(&a, &[2.0, 4.0, 6.0, 8.0]) - 1.0).abs() < 1e-12);
//! assert!((spearman(&a, &[1.0, 4.0, 9.0, 16.0]) - 1.0).abs() < 1e-12);
//! let img: Vec<f64> = (0..64).map(|i| (i as f64 * 0.37).sin()).collect();
//! assert!((ssim(&img, &img, 8, 8, 7).unwrap() - 1.0).abs() < 1e-12);
//! ```

use crate::error::{Result, XaiError};

/// Pearson correlation; 0 when either vector is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (da, db) = (a[i] - ma, b[i] - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        (sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0)
    }
}

/// Average ranks (1-based; tied values share the mean of their ranks), as scipy's `rankdata`.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut s = 0;
    while s < idx.len() {
        let mut e = s + 1;
        while e < idx.len() && v[idx[e]] == v[idx[s]] {
            e += 1;
        }
        let mean = (s + e + 1) as f64 / 2.0;
        for &i in &idx[s..e] {
            r[i] = mean;
        }
        s = e;
    }
    r
}

/// Spearman rank correlation (Pearson on average ranks); 0 when either vector is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

fn check_image(a: &[f64], b: &[f64], height: usize, width: usize) -> Result<()> {
    if a.len() != height * width || b.len() != height * width {
        return Err(XaiError::shape(
            "maps",
            format!("{height}·{width} values each"),
            &[a.len(), b.len()],
        ));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(XaiError::NonFinite("maps compared by SSIM/HOG".into()));
    }
    Ok(())
}

/// Mean structural similarity of two `height × width` maps (row-major) with `win × win`
/// uniform windows (scikit-image's default is 7; `win` must be odd and fit the image).
pub fn ssim(a: &[f64], b: &[f64], height: usize, width: usize, win: usize) -> Result<f64> {
    check_image(a, b, height, width)?;
    if win < 3 || win.is_multiple_of(2) || win > height || win > width {
        return Err(XaiError::Config(format!(
            "SSIM window {win} must be odd, at least 3 and fit a {height}×{width} map"
        )));
    }
    windowed_ssim(a, b, height, width, [win, win])
}

/// Mean structural similarity of two vectors with a uniform window of `win` values: the 1-D
/// case of scikit-image's `structural_similarity` (what Quantus computes on flattened maps).
///
/// ```
/// use xai_core::metrics::similarity::ssim_1d;
/// let a: Vec<f64> = (0..20).map(|i| (i as f64).sin()).collect();
/// assert!((ssim_1d(&a, &a, 7).unwrap() - 1.0).abs() < 1e-12);
/// ```
pub fn ssim_1d(a: &[f64], b: &[f64], win: usize) -> Result<f64> {
    check_image(a, b, 1, a.len())?;
    if win < 3 || win.is_multiple_of(2) || win > a.len() {
        return Err(XaiError::Config(format!(
            "SSIM window {win} must be odd, at least 3 and fit {} values",
            a.len()
        )));
    }
    windowed_ssim(a, b, 1, a.len(), [1, win])
}

/// SSIM over every `[wh, ww]` window that fits, with the data range of both maps.
fn windowed_ssim(
    a: &[f64],
    b: &[f64],
    height: usize,
    width: usize,
    [wh, ww]: [usize; 2],
) -> Result<f64> {
    let lo = a.iter().chain(b).copied().fold(f64::INFINITY, f64::min);
    let hi = a.iter().chain(b).copied().fold(f64::NEG_INFINITY, f64::max);
    let range = hi - lo;
    if range <= 0.0 {
        // Both maps are the same constant: identical.
        return Ok(1.0);
    }
    let (c1, c2) = ((0.01 * range).powi(2), (0.03 * range).powi(2));
    let np = (wh * ww) as f64;
    let cov_norm = np / (np - 1.0);
    let mut total = 0.0;
    let mut count = 0usize;
    for y0 in 0..=height - wh {
        for x0 in 0..=width - ww {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in y0..y0 + wh {
                for x in x0..x0 + ww {
                    let (va, vb) = (a[y * width + x], b[y * width + x]);
                    sa += va;
                    sb += vb;
                    saa += va * va;
                    sbb += vb * vb;
                    sab += va * vb;
                }
            }
            let (ua, ub) = (sa / np, sb / np);
            let va = cov_norm * (saa / np - ua * ua);
            let vb = cov_norm * (sbb / np - ub * ub);
            let vab = cov_norm * (sab / np - ua * ub);
            let s = ((2.0 * ua * ub + c1) * (2.0 * vab + c2))
                / ((ua * ua + ub * ub + c1) * (va + vb + c2));
            total += s;
            count += 1;
        }
    }
    Ok(total / count as f64)
}

/// The HOG descriptor of a `height × width` map: 9 unsigned orientation bins per
/// `cell × cell` cell, L2-Hys normalised over 2×2-cell blocks (stride one cell).
pub fn hog(map: &[f64], height: usize, width: usize, cell: usize) -> Result<Vec<f64>> {
    check_image(map, map, height, width)?;
    let (cy, cx) = (height / cell.max(1), width / cell.max(1));
    if cell == 0 || cy < 2 || cx < 2 {
        return Err(XaiError::Config(format!(
            "HOG needs at least 2×2 cells of {cell} px in a {height}×{width} map"
        )));
    }
    const BINS: usize = 9;
    let at = |y: usize, x: usize| map[y * width + x];
    let mut hist = vec![0.0; cy * cx * BINS];
    for y in 0..cy * cell {
        for x in 0..cx * cell {
            // Central differences; zero on the border rows/columns, as scikit-image.
            let gx = if x == 0 || x + 1 == width {
                0.0
            } else {
                at(y, x + 1) - at(y, x - 1)
            };
            let gy = if y == 0 || y + 1 == height {
                0.0
            } else {
                at(y + 1, x) - at(y - 1, x)
            };
            let mag = (gx * gx + gy * gy).sqrt();
            let angle = gy.atan2(gx).to_degrees().rem_euclid(180.0);
            let bin = ((angle / (180.0 / BINS as f64)) as usize).min(BINS - 1);
            hist[((y / cell) * cx + x / cell) * BINS + bin] += mag;
        }
    }
    let mut out = Vec::with_capacity((cy - 1) * (cx - 1) * 4 * BINS);
    for by in 0..cy - 1 {
        for bx in 0..cx - 1 {
            let mut block = Vec::with_capacity(4 * BINS);
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let c = ((by + dy) * cx + bx + dx) * BINS;
                block.extend_from_slice(&hist[c..c + BINS]);
            }
            // L2-Hys: normalise, clip at 0.2, normalise again.
            let eps = 1e-5;
            let norm = (block.iter().map(|v| v * v).sum::<f64>() + eps * eps).sqrt();
            block.iter_mut().for_each(|v| *v = (*v / norm).min(0.2));
            let norm = (block.iter().map(|v| v * v).sum::<f64>() + eps * eps).sqrt();
            out.extend(block.into_iter().map(|v| v / norm));
        }
    }
    Ok(out)
}

/// Pearson correlation of the HOG descriptors of two maps.
pub fn hog_similarity(
    a: &[f64],
    b: &[f64],
    height: usize,
    width: usize,
    cell: usize,
) -> Result<f64> {
    check_image(a, b, height, width)?;
    Ok(pearson(
        &hog(a, height, width, cell)?,
        &hog(b, height, width, cell)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn spearman_is_invariant_to_monotone_maps_and_flips_sign() {
        let a: Vec<f64> = (0..20).map(|i| ((i * 7) % 13) as f64).collect();
        let b: Vec<f64> = a.iter().map(|v| v.powi(3) + 1.0).collect();
        let c: Vec<f64> = a.iter().map(|v| -v).collect();
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &c) + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&a, &[1.0; 20]), 0.0);
    }

    #[test]
    fn ssim_is_one_for_equal_maps_and_drops_for_unrelated_ones() {
        let a: Vec<f64> = (0..144).map(|i| ((i % 12) as f64 / 3.0).sin()).collect();
        let b: Vec<f64> = (0..144).map(|i| ((i * 37 % 101) as f64).cos()).collect();
        assert!((ssim(&a, &a, 12, 12, 7).unwrap() - 1.0).abs() < 1e-12);
        assert!(ssim(&a, &b, 12, 12, 7).unwrap() < 0.5);
        assert!(ssim(&a, &b, 12, 12, 6).is_err());
        assert!(ssim(&a, &b[..10], 12, 12, 7).is_err());
    }

    #[test]
    fn hog_similarity_sees_edges_not_intensity() {
        // A vertical edge, the same edge brighter, and a horizontal edge.
        let v: Vec<f64> = (0..64).map(|i| if i % 8 < 4 { 0.0 } else { 1.0 }).collect();
        let v2: Vec<f64> = v.iter().map(|x| 3.0 * x + 1.0).collect();
        let h: Vec<f64> = (0..64).map(|i| if i / 8 < 4 { 0.0 } else { 1.0 }).collect();
        assert!((hog_similarity(&v, &v2, 8, 8, 2).unwrap() - 1.0).abs() < 1e-9);
        assert!(hog_similarity(&v, &h, 8, 8, 2).unwrap() < 0.5);
    }
}
