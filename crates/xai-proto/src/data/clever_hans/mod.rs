//! Clever Hans: PartShapes with a corner watermark that predicts one class in training only
//! (research/proto.md, benchmark C; the recipe of Decoy-MNIST and ProtoPDebug).
//!
//! - Base images: [`PartShapes`] with the top-left corner kept
//!   free of glyphs.
//! - Watermark: a bright 3×3 square at rows 0–2, columns 0–2 ([`WATERMARK`]).
//! - Training: images of the `confounded_class` carry the watermark with probability `rho`,
//!   the others never do.
//! - Test (`shuffled`): every image carries it with probability ½, whatever its class, so a model
//!   that learnt the shortcut calls watermarked images `confounded_class`.
//! - A `clean` variant (no watermark at all) trains the reference model that the repaired model
//!   is compared with.
//! - [`two_shapes`]: a two-class 16×16 variant (square vs plus drawn faintly on noise) with the
//!   same watermark, small enough to train a CNN in seconds (the `xai demo` data set).
//!
//! ```
//! use xai_proto::data::clever_hans::{CleverHans, Variant};
//! let s = CleverHans::generate(32, Variant::Train { rho: 1.0 }, 0, 1);
//! assert!(s.watermarked.iter().zip(&s.shapes.images.labels).all(|(&w, &y)| w == (y == 0)));
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::part_shapes::{PartShapes, PartShapesConfig, SIDE};

pub mod two_shapes;

/// Watermark box: rows and columns `0..WATERMARK`.
pub const WATERMARK: usize = 3;

/// Which watermark rule to apply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    /// The confounded class is watermarked with probability `rho`, no other class is.
    Train {
        /// Probability that an image of the confounded class is watermarked.
        rho: f64,
    },
    /// Every image is watermarked with probability ½, independently of its class.
    Shuffled,
    /// No watermark.
    Clean,
}

/// PartShapes images with watermarks.
#[derive(Clone, Debug)]
pub struct CleverHans {
    /// The images (watermark drawn in) and their glyph placements.
    pub shapes: PartShapes,
    /// Whether each image carries the watermark.
    pub watermarked: Vec<bool>,
    /// The class the watermark is correlated with in training.
    pub confounded_class: usize,
}

/// Draw the watermark into a single-channel 24×24 image.
pub fn stamp(img: &mut [f32]) {
    stamp_square(img, SIDE);
}

/// Draw the watermark into a single-channel `side × side` image: the one watermark of every
/// Clever Hans set here.
pub fn stamp_square(img: &mut [f32], side: usize) {
    for r in 0..WATERMARK {
        for c in 0..WATERMARK {
            img[r * side + c] = 1.0;
        }
    }
}

/// Whether flat pixel `p` of a `side × side` image lies in the watermark.
pub fn in_watermark(p: usize, side: usize) -> bool {
    p / side < WATERMARK && p % side < WATERMARK
}

/// Whether pixel `(r, c)` is within `margin` of the watermark.
pub fn on_watermark(r: f64, c: f64, margin: f64) -> bool {
    r < WATERMARK as f64 + margin && c < WATERMARK as f64 + margin
}

impl CleverHans {
    /// `n` images from `seed` under `variant`; the watermark follows `confounded_class`.
    pub fn generate(n: usize, variant: Variant, confounded_class: usize, seed: u64) -> CleverHans {
        let mut shapes = PartShapes::generate(
            &PartShapesConfig {
                images: n,
                reserve_corner: true,
                ..Default::default()
            },
            seed,
        );
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0057_4154_4552_4d4b);
        let mut watermarked = Vec::with_capacity(n);
        for i in 0..n {
            let y = shapes.images.labels[i];
            let w = match variant {
                Variant::Train { rho } => y == confounded_class && rng.random::<f64>() < rho,
                Variant::Shuffled => rng.random::<f64>() < 0.5,
                Variant::Clean => false,
            };
            if w {
                stamp(shapes.images.image_mut(i));
            }
            watermarked.push(w);
        }
        CleverHans {
            shapes,
            watermarked,
            confounded_class,
        }
    }

    /// Pixels `[n·24·24]` of `concept` images: `count` shuffled-variant base images with the
    /// watermark stamped in (`true`) or not (`false`), for TCAV concept sets.
    pub fn concept_images(count: usize, watermark: bool, seed: u64) -> CleverHans {
        let mut s = CleverHans::generate(count, Variant::Clean, 0, seed);
        if watermark {
            for i in 0..count {
                stamp(s.shapes.images.image_mut(i));
                s.watermarked[i] = true;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_watermark_is_independent_of_the_class() {
        let s = CleverHans::generate(800, Variant::Shuffled, 0, 5);
        let rate = |class: usize| {
            let idx: Vec<usize> = (0..800)
                .filter(|&i| s.shapes.images.labels[i] == class)
                .collect();
            idx.iter().filter(|&&i| s.watermarked[i]).count() as f64 / idx.len() as f64
        };
        assert!((rate(0) - 0.5).abs() < 0.2 && (rate(3) - 0.5).abs() < 0.2);
        // glyphs never cover the watermark
        for ps in &s.shapes.placements {
            for p in ps {
                assert!(!(p.top < WATERMARK && p.left < WATERMARK));
            }
        }
    }
}
