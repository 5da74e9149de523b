//! Synthetic benchmarks whose ground truth is known exactly, generated deterministically in Rust
//! (no download): every image, label, concept, part mask and regime comes from a seeded
//! `StdRng` (ChaCha12, the same stream on every platform).
//!
//! - [`part_shapes`]: classes defined by an unordered pair of 5×5 glyphs plus a distractor glyph,
//!   with every glyph's box and mask (ProtoPNet).
//! - [`concept_sprites`]: dSprites-like RGB sprites with 14 binary concepts in 5 groups and a
//!   label that depends on shape, colour and stripes (concept bottlenecks, CEM).
//! - [`clever_hans`]: PartShapes with a corner watermark that is correlated with one class in
//!   training only (TCAV, prototypes, kNN).
//! - [`recall`]: key–value recall prompts for causal language models; the token that decides
//!   each answer is known.
//! - [`regime_mix`]: tabular data whose linear rule depends on a hidden regime (mixtures of
//!   experts).

pub mod clever_hans;
pub mod concept_sprites;
pub mod part_shapes;
pub mod recall;
pub mod regime_mix;

use burn::tensor::{Device, Int, Tensor, TensorData};

use xai_core::{Result, XaiError};

/// A set of square images `[n, channels, side, side]` (row-major `f32`) with class labels.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// Pixels, image-major, then channel, row, column; values in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// Channels per image.
    pub channels: usize,
    /// Image side in pixels.
    pub side: usize,
    /// Class of each image.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Mutable pixels of image `i`.
    pub fn image_mut(&mut self, i: usize) -> &mut [f32] {
        let n = self.image_len();
        &mut self.pixels[i * n..(i + 1) * n]
    }

    /// Images `idx` as a batch `[k, channels, side, side]` on `device`.
    pub fn batch(&self, idx: &[usize], device: &Device) -> Result<Tensor<4>> {
        let mut v = Vec::with_capacity(idx.len() * self.image_len());
        for &i in idx {
            if i >= self.len() {
                return Err(XaiError::Config(format!(
                    "image index {i} out of range for a set of {}",
                    self.len()
                )));
            }
            v.extend_from_slice(self.image(i));
        }
        Ok(Tensor::from_data(
            TensorData::new(v, [idx.len(), self.channels, self.side, self.side]),
            device,
        ))
    }

    /// Labels `idx` as an `Int` tensor `[k]`.
    pub fn label_tensor(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        let v: Vec<i64> = idx.iter().map(|&i| self.labels[i] as i64).collect();
        Tensor::from_data(TensorData::new(v, [idx.len()]), device)
    }
}

/// A 1-pixel-dilated box test: whether pixel `(r, c)` lies within `margin` of the box
/// `[top, top + size) × [left, left + size)`.
pub fn in_box(r: f64, c: f64, top: usize, left: usize, size: usize, margin: f64) -> bool {
    r >= top as f64 - margin
        && r < (top + size) as f64 + margin
        && c >= left as f64 - margin
        && c < (left + size) as f64 + margin
}
