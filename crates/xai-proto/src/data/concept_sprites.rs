//! ConceptSprites: dSprites-like RGB sprites with exact binary concepts (research/proto.md,
//! benchmark B).
//!
//! - 24×24 RGB on uniform noise in `[0, 0.1]`.
//! - Factors: shape ∈ {square, circle, triangle}, colour ∈ {red, green, blue}, size ∈ {small (8
//!   px), large (11 px)}, quadrant ∈ {top-left, top-right, bottom-left, bottom-right} (the sprite
//!   is placed at a random offset inside its quadrant), stripes ∈ {no, yes} (every second row of
//!   the sprite darkened to 35 %).
//! - Concepts: 14 binary indicators in 5 mutually exclusive groups ([`GROUPS`]).
//! - Task (6 classes): `y = (3·shape + colour) mod 6`, shifted by 3 (mod 6) when striped; the
//!   label depends on shape, colour and stripes, not on size or quadrant.
//! - The **incomplete** concept set leaves the stripes group out ([`INCOMPLETE_CONCEPTS`]):
//!   a bottleneck that only sees those concepts cannot exceed about 50 % task accuracy.
//!
//! ```
//! use xai_proto::data::concept_sprites::{ConceptSprites, CONCEPTS};
//! let s = ConceptSprites::generate(12, 0);
//! assert_eq!(s.concepts.len(), 12 * CONCEPTS);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::ImageSet;

/// Image side.
pub const SIDE: usize = 24;
/// Number of binary concepts in the complete set.
pub const CONCEPTS: usize = 14;
/// Number of classes.
pub const CLASSES: usize = 6;
/// Concept groups as index ranges: shape, colour, size, quadrant, stripes.
pub const GROUPS: [(usize, usize); 5] = [(0, 3), (3, 6), (6, 8), (8, 12), (12, 14)];
/// Names of the groups.
pub const GROUP_NAMES: [&str; 5] = ["shape", "colour", "size", "quadrant", "stripes"];
/// Concepts kept in the incomplete set (every group but stripes).
pub const INCOMPLETE_CONCEPTS: usize = 12;
/// Concept names.
pub const CONCEPT_NAMES: [&str; CONCEPTS] = [
    "square",
    "circle",
    "triangle",
    "red",
    "green",
    "blue",
    "small",
    "large",
    "top-left",
    "top-right",
    "bottom-left",
    "bottom-right",
    "plain",
    "striped",
];

/// The generating factors of one sprite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Factors {
    /// 0 square, 1 circle, 2 triangle.
    pub shape: usize,
    /// 0 red, 1 green, 2 blue.
    pub colour: usize,
    /// 0 small, 1 large.
    pub size: usize,
    /// 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
    pub quadrant: usize,
    /// 0 plain, 1 striped.
    pub stripes: usize,
}

impl Factors {
    /// The task label.
    pub fn label(&self) -> usize {
        ((3 * self.shape + self.colour) % CLASSES + 3 * self.stripes) % CLASSES
    }

    /// The 14 binary concepts.
    pub fn concepts(&self) -> [f32; CONCEPTS] {
        let mut c = [0f32; CONCEPTS];
        c[self.shape] = 1.0;
        c[3 + self.colour] = 1.0;
        c[6 + self.size] = 1.0;
        c[8 + self.quadrant] = 1.0;
        c[12 + self.stripes] = 1.0;
        c
    }
}

/// A generated set: images, labels and concepts.
#[derive(Clone, Debug)]
pub struct ConceptSprites {
    /// Images `[n, 3, 24, 24]` and task labels.
    pub images: ImageSet,
    /// Concepts `[n, 14]`, row-major.
    pub concepts: Vec<f32>,
    /// The factors of each image.
    pub factors: Vec<Factors>,
}

fn inside(shape: usize, r: usize, c: usize, size: usize) -> bool {
    let (rf, cf, s) = (r as f64 + 0.5, c as f64 + 0.5, size as f64);
    match shape {
        0 => true,
        1 => {
            let h = s / 2.0;
            (rf - h).powi(2) + (cf - h).powi(2) <= h * h
        }
        _ => {
            // apex at the top centre, base along the bottom row
            let half_width = 0.5 * s * rf / s;
            (cf - s / 2.0).abs() <= half_width + 0.25
        }
    }
}

/// Render one sprite.
pub fn render(f: &Factors, rng: &mut StdRng) -> Vec<f32> {
    let plane = SIDE * SIDE;
    let mut img: Vec<f32> = (0..3 * plane).map(|_| 0.1 * rng.random::<f32>()).collect();
    let size = if f.size == 0 { 8 } else { 11 };
    let half = SIDE / 2;
    let slack = half - size;
    let top = (f.quadrant / 2) * half + rng.random_range(0..=slack);
    let left = (f.quadrant % 2) * half + rng.random_range(0..=slack);
    for r in 0..size {
        for c in 0..size {
            if !inside(f.shape, r, c, size) {
                continue;
            }
            let level = if f.stripes == 1 && r % 2 == 1 {
                0.35
            } else {
                1.0
            };
            for ch in 0..3 {
                let v = if ch == f.colour {
                    level * (0.85 + 0.15 * rng.random::<f32>())
                } else {
                    0.1 * rng.random::<f32>()
                };
                img[ch * plane + (top + r) * SIDE + left + c] = v;
            }
        }
    }
    img
}

impl ConceptSprites {
    /// `n` sprites with uniformly random factors, from `seed`.
    pub fn generate(n: usize, seed: u64) -> ConceptSprites {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pixels = Vec::with_capacity(n * 3 * SIDE * SIDE);
        let mut labels = Vec::with_capacity(n);
        let mut concepts = Vec::with_capacity(n * CONCEPTS);
        let mut factors = Vec::with_capacity(n);
        for _ in 0..n {
            let f = Factors {
                shape: rng.random_range(0..3),
                colour: rng.random_range(0..3),
                size: rng.random_range(0..2),
                quadrant: rng.random_range(0..4),
                stripes: rng.random_range(0..2),
            };
            pixels.extend(render(&f, &mut rng));
            labels.push(f.label());
            concepts.extend_from_slice(&f.concepts());
            factors.push(f);
        }
        ConceptSprites {
            images: ImageSet {
                pixels,
                channels: 3,
                side: SIDE,
                labels,
                classes: CLASSES,
            },
            concepts,
            factors,
        }
    }

    /// Concepts of image `i`, the first `k` of them (14 for complete, 12 for incomplete).
    pub fn concepts_of(&self, i: usize, k: usize) -> &[f32] {
        &self.concepts[i * CONCEPTS..i * CONCEPTS + k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concepts_are_one_hot_per_group_and_label_follows_the_rule() {
        let s = ConceptSprites::generate(200, 4);
        for i in 0..200 {
            let c = s.concepts_of(i, CONCEPTS);
            for (a, b) in GROUPS {
                assert_eq!(c[a..b].iter().sum::<f32>(), 1.0);
            }
            assert_eq!(s.images.labels[i], s.factors[i].label());
        }
        // stripes changes the label
        let f = Factors {
            shape: 1,
            colour: 2,
            size: 0,
            quadrant: 3,
            stripes: 0,
        };
        let g = Factors { stripes: 1, ..f };
        assert_ne!(f.label(), g.label());
    }

    #[test]
    fn the_sprite_lies_in_its_quadrant_in_its_colour() {
        let mut rng = StdRng::seed_from_u64(0);
        let f = Factors {
            shape: 0,
            colour: 1,
            size: 1,
            quadrant: 3,
            stripes: 0,
        };
        let img = render(&f, &mut rng);
        let plane = SIDE * SIDE;
        let green: f32 = (0..plane)
            .filter(|p| p / SIDE >= 12 && p % SIDE >= 12)
            .map(|p| img[plane + p])
            .sum();
        let green_elsewhere: f32 = (0..plane)
            .filter(|p| p / SIDE < 12 || p % SIDE < 12)
            .map(|p| img[plane + p])
            .sum();
        assert!(
            green > 100.0 && green_elsewhere < 0.1 * 432.0,
            "{green} {green_elsewhere}"
        );
    }
}
