//! Superpixels for image LIME/SHAP: SLIC (Achanta et al. 2012).
//!
//! k-means in the joint (colour, position) space, restricted to a `2S × 2S` window around each
//! centre (`S = √(HW/K)` the grid step), with distance
//! `D² = d_colour² + (m/S)² · d_xy²` (`m` the compactness), 10 iterations, then connectivity is
//! enforced: every connected piece of a label becomes its own segment and pieces smaller than a
//! quarter of the expected size join a neighbour. The result is a [`FeatureGroups`] over the
//! `C·H·W` features (all channels of a pixel in the same group), ready for [`super::lime_groups`],
//! [`super::kernel_shap`] or [`super::exact_shapley`].
//!
//! Written here: the image crates with SLIC (e.g. imageproc) do not provide it, and the
//! algorithm is sixty lines over plain arrays.

use std::collections::VecDeque;

use super::FeatureGroups;
use crate::error::{Result, XaiError};

/// SLIC superpixels of one image `[C, H, W]` (row-major, any value range) into about
/// `segments` groups with compactness `compactness` (in the image's value units; ~0.1 for [0, 1]
/// images gives square-ish segments, smaller follows colour more closely).
pub fn slic(
    image: &[f64],
    shape: [usize; 3],
    segments: usize,
    compactness: f64,
) -> Result<FeatureGroups> {
    let [c, h, w] = shape;
    if c == 0 || h == 0 || w == 0 || image.len() != c * h * w {
        return Err(XaiError::shape(
            "SLIC image",
            "[C, H, W] values",
            &[image.len()],
        ));
    }
    if segments == 0 || !(compactness.is_finite() && compactness > 0.0) {
        return Err(XaiError::Config(format!(
            "SLIC: segments {segments} and compactness {compactness} must be positive"
        )));
    }
    let hw = h * w;
    let px = |p: usize, ch: usize| image[ch * hw + p];
    let step = ((hw as f64 / segments as f64).sqrt()).max(1.0);
    // Centres on a regular grid: (y, x, colour).
    let mut centres: Vec<(f64, f64, Vec<f64>)> = Vec::new();
    let mut y = step / 2.0;
    while y < h as f64 {
        let mut x = step / 2.0;
        while x < w as f64 {
            let p = (y as usize).min(h - 1) * w + (x as usize).min(w - 1);
            centres.push((y, x, (0..c).map(|ch| px(p, ch)).collect()));
            x += step;
        }
        y += step;
    }
    let weight = (compactness / step).powi(2);
    let mut label = vec![0usize; hw];
    let mut best = vec![f64::INFINITY; hw];
    for _ in 0..10 {
        best.iter_mut().for_each(|b| *b = f64::INFINITY);
        for (k, (cy, cx, col)) in centres.iter().enumerate() {
            let (y0, y1) = (
                (cy - 2.0 * step).max(0.0) as usize,
                ((cy + 2.0 * step) as usize + 1).min(h),
            );
            let (x0, x1) = (
                (cx - 2.0 * step).max(0.0) as usize,
                ((cx + 2.0 * step) as usize + 1).min(w),
            );
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let p = yy * w + xx;
                    let dc: f64 = (0..c).map(|ch| (px(p, ch) - col[ch]).powi(2)).sum();
                    let ds = (yy as f64 - cy).powi(2) + (xx as f64 - cx).powi(2);
                    let d = dc + weight * ds;
                    if d < best[p] {
                        best[p] = d;
                        label[p] = k;
                    }
                }
            }
        }
        // Move every centre to the mean of its pixels.
        let mut acc = vec![(0.0, 0.0, vec![0.0; c], 0usize); centres.len()];
        for p in 0..hw {
            let a = &mut acc[label[p]];
            a.0 += (p / w) as f64;
            a.1 += (p % w) as f64;
            for ch in 0..c {
                a.2[ch] += px(p, ch);
            }
            a.3 += 1;
        }
        for (centre, a) in centres.iter_mut().zip(acc) {
            if a.3 > 0 {
                let n = a.3 as f64;
                *centre = (a.0 / n, a.1 / n, a.2.iter().map(|v| v / n).collect());
            }
        }
    }
    // Connectivity: relabel connected pieces, then merge tiny pieces into a neighbour.
    let mut piece = vec![usize::MAX; hw];
    let mut sizes = Vec::new();
    for start in 0..hw {
        if piece[start] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        let mut queue = VecDeque::from([start]);
        piece[start] = id;
        let mut size = 0;
        while let Some(p) = queue.pop_front() {
            size += 1;
            let (yy, xx) = (p / w, p % w);
            let mut visit = |q: usize| {
                if piece[q] == usize::MAX && label[q] == label[start] {
                    piece[q] = id;
                    queue.push_back(q);
                }
            };
            if yy > 0 {
                visit(p - w);
            }
            if yy + 1 < h {
                visit(p + w);
            }
            if xx > 0 {
                visit(p - 1);
            }
            if xx + 1 < w {
                visit(p + 1);
            }
        }
        sizes.push(size);
    }
    let min_size = ((hw as f64 / segments as f64) / 4.0).floor() as usize;
    // A tiny piece takes the piece of the pixel before its first pixel in row-major order (or
    // after, for the very first pixel), which is always adjacent or earlier in its row.
    let mut merged: Vec<usize> = (0..sizes.len()).collect();
    for p in 0..hw {
        let id = piece[p];
        if sizes[id] < min_size && merged[id] == id && sizes.len() > 1 {
            let neighbour = if p % w > 0 {
                piece[p - 1]
            } else if p >= w {
                piece[p - w]
            } else {
                usize::MAX
            };
            if neighbour != usize::MAX && neighbour != id {
                merged[id] = merged[neighbour];
            }
        }
    }
    let root = |mut id: usize| {
        while merged[id] != id {
            id = merged[id];
        }
        id
    };
    let mut dense = std::collections::HashMap::new();
    let per_pixel: Vec<usize> = (0..hw)
        .map(|p| {
            let r = root(piece[p]);
            let next = dense.len();
            *dense.entry(r).or_insert(next)
        })
        .collect();
    FeatureGroups::from_mask((0..c).flat_map(|_| per_pixel.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_flat_halves_are_never_mixed_and_segments_are_near_the_request() {
        // Left half dark, right half bright, 2 channels, 24×24.
        let (h, w) = (24, 24);
        let img: Vec<f64> = (0..2)
            .flat_map(|_| (0..h * w).map(move |p| if p % w < 12 { 0.1 } else { 0.9 }))
            .collect();
        let g = slic(&img, [2, h, w], 16, 0.05).unwrap();
        assert!((8..=32).contains(&g.count()), "{} segments", g.count());
        for p in 0..h * w {
            // Both channels of a pixel share a group.
            assert_eq!(g.of(p), g.of(h * w + p));
        }
        // No segment spans the edge between the halves.
        for k in 0..g.count() {
            let sides: std::collections::HashSet<bool> = (0..h * w)
                .filter(|&p| g.of(p) == k)
                .map(|p| p % w < 12)
                .collect();
            assert_eq!(sides.len(), 1, "segment {k} crosses the edge");
        }
        assert!(slic(&img, [2, h, w], 0, 0.1).is_err());
        assert!(slic(&img[..10], [2, h, w], 4, 0.1).is_err());
    }
}
