//! The two-shape Clever Hans data set (the `xai demo` data), generated deterministically from
//! a seed.
//!
//! 16×16 grey images of two classes drawn faintly on noise: class 0 a hollow square, class 1 a
//! plus sign, at random positions and sizes. In the *training* set a bright 3×3 watermark sits in
//! the top-left corner of 90% of the class-1 images and of no class-0 image: a shortcut that
//! predicts the label better than the faint shapes do (Lapuschkin et al. 2019, "Unmasking Clever
//! Hans predictors"). The *clean* test set has no watermark; the *swapped* test set puts it on
//! class-0 images only. A model that learned the shortcut loses accuracy on the clean set, flips
//! its answer on the swapped set, and its explanations light up the corner.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Image side in pixels.
pub const SIDE: usize = 16;
/// Watermark side in pixels (top-left corner).
pub const MARK: usize = super::WATERMARK;

/// Images `[n, SIDE·SIDE]` row-major in `[0, 1]`, labels, and which images carry the watermark.
#[derive(Clone, Debug)]
pub struct Split {
    /// Pixels, `n · SIDE²`.
    pub pixels: Vec<f32>,
    /// Class per image (0 square, 1 plus).
    pub labels: Vec<usize>,
    /// Whether the image carries the watermark.
    pub marked: Vec<bool>,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * SIDE * SIDE..(i + 1) * SIDE * SIDE]
    }
    /// Images `idx` as a batch `[k, 1, SIDE, SIDE]` on `device`.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Tensor<4> {
        let mut v = Vec::with_capacity(idx.len() * SIDE * SIDE);
        for &i in idx {
            v.extend_from_slice(self.image(i));
        }
        Tensor::from_data(TensorData::new(v, [idx.len(), 1, SIDE, SIDE]), device)
    }
}

/// Whether pixel `p` (flat index) lies in the watermark.
pub fn in_mark(p: usize) -> bool {
    super::in_watermark(p, SIDE)
}

fn draw(rng: &mut StdRng, class: usize, mark: bool) -> Vec<f32> {
    let noise = Normal::new(0.0f32, 0.12).expect("valid normal");
    let mut img: Vec<f32> = (0..SIDE * SIDE).map(|_| 0.2 + noise.sample(rng)).collect();
    let ink = rng.random_range(0.35f32..0.55);
    let half = rng.random_range(2..=4usize);
    // Centres keep the shape clear of the watermark corner.
    let cy = rng.random_range(half + 3..SIDE - half);
    let cx = rng.random_range(half + 3..SIDE - half);
    let mut set = |y: usize, x: usize| img[y * SIDE + x] += ink;
    if class == 0 {
        for d in 0..=2 * half {
            set(cy - half, cx - half + d);
            set(cy + half, cx - half + d);
            if d > 0 && d < 2 * half {
                set(cy - half + d, cx - half);
                set(cy - half + d, cx + half);
            }
        }
    } else {
        for d in 0..=2 * half {
            set(cy - half + d, cx);
            if cx - half + d != cx {
                set(cy, cx - half + d);
            }
        }
    }
    if mark {
        super::stamp_square(&mut img, SIDE);
    }
    img.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    img
}

/// `n` images, classes alternating; `mark(class, rng)` decides the watermark.
fn split(rng: &mut StdRng, n: usize, mark: impl Fn(usize, &mut StdRng) -> bool) -> Split {
    let mut s = Split {
        pixels: Vec::with_capacity(n * SIDE * SIDE),
        labels: Vec::with_capacity(n),
        marked: Vec::with_capacity(n),
    };
    for i in 0..n {
        let class = i % 2;
        let m = mark(class, rng);
        s.pixels.extend(draw(rng, class, m));
        s.labels.push(class);
        s.marked.push(m);
    }
    s
}

/// The three splits: training (shortcut present), clean test, swapped test.
pub struct CleverHans {
    /// Training images: 90% of class 1 watermarked.
    pub train: Split,
    /// Test images without any watermark.
    pub clean: Split,
    /// Test images with the watermark on every class-0 image and no class-1 image.
    pub swapped: Split,
    /// The generator's seed.
    pub seed: u64,
}

/// Generate the data set from `seed`.
pub fn generate(seed: u64, train: usize, test: usize) -> CleverHans {
    let mut rng = StdRng::seed_from_u64(seed);
    CleverHans {
        train: split(&mut rng, train, |c, r| c == 1 && r.random::<f32>() < 0.9),
        clean: split(&mut rng, test, |_, _| false),
        swapped: split(&mut rng, test, |c, _| c == 0),
        seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcut_is_in_training_only() {
        let d = generate(7, 400, 100);
        let marked1 = (0..400)
            .filter(|&i| d.train.labels[i] == 1 && d.train.marked[i])
            .count();
        assert!((160..=200).contains(&marked1), "{marked1}");
        assert!((0..400).all(|i| d.train.labels[i] == 1 || !d.train.marked[i]));
        assert!(d.clean.marked.iter().all(|m| !m));
        assert!((0..100).all(|i| d.swapped.marked[i] == (d.swapped.labels[i] == 0)));
        // Same seed, same pixels.
        assert_eq!(generate(7, 400, 100).train.pixels, d.train.pixels);
        // The watermark is the brightest block of a marked image.
        let i = (0..400).find(|&i| d.train.marked[i]).unwrap();
        assert!(
            (0..SIDE * SIDE)
                .filter(|&p| in_mark(p))
                .all(|p| d.train.image(i)[p] == 1.0)
        );
    }
}
