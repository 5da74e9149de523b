//! PartShapes: classes defined by an unordered pair of part glyphs, with distractors and exact
//! part masks (research/proto.md, benchmark A).
//!
//! - 24×24 grayscale on uniform noise in `[0, 0.2]`; glyph pixels are `0.8 + 0.2·u`.
//! - A vocabulary of 8 glyphs of 5×5 pixels ([`GLYPHS`]); glyphs 0–5 are parts, 6–7 only ever
//!   appear as distractors.
//! - 8 classes, each an unordered pair of part glyphs ([`CLASS_PAIRS`]); glyphs are shared
//!   between classes, so the pair, not one glyph, identifies the class.
//! - Each image holds its two defining glyphs and one distractor at random non-overlapping
//!   positions (1-pixel gap). The distractor never completes another class's pair, so every
//!   label is unambiguous.
//! - Every placement is recorded ([`Placement`]) with its kind, box and role.
//!
//! ```
//! use xai_proto::data::part_shapes::{PartShapes, PartShapesConfig};
//! let set = PartShapes::generate(&PartShapesConfig { images: 16, ..Default::default() }, 7);
//! assert_eq!(set.images.len(), 16);
//! assert_eq!(set.placements[0].len(), 3);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{ImageSet, in_box};

/// Image side.
pub const SIDE: usize = 24;
/// Glyph side.
pub const GLYPH: usize = 5;
/// Number of classes.
pub const CLASSES: usize = 8;

/// The glyph vocabulary, one 5×5 bitmap per row (`#` on).
pub const GLYPHS: [[&str; 5]; 8] = [
    ["..#..", "..#..", "#####", "..#..", "..#.."], // 0 cross
    ["#####", "#...#", "#...#", "#...#", "#####"], // 1 ring
    ["#####", "..#..", "..#..", "..#..", "..#.."], // 2 T
    ["#....", "#....", "#....", "#....", "#####"], // 3 L
    ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"], // 4 X
    ["##...", "##...", ".....", "...##", "...##"], // 5 two blocks
    ["#####", ".....", "#####", ".....", "#####"], // 6 bars (distractor only)
    ["#.#.#", ".#.#.", "#.#.#", ".#.#.", "#.#.#"], // 7 checker (distractor only)
];

/// Glyph names, for reports.
pub const GLYPH_NAMES: [&str; 8] = ["cross", "ring", "T", "L", "X", "blocks", "bars", "checker"];

/// The defining glyph pair of each class.
pub const CLASS_PAIRS: [(usize, usize); CLASSES] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (0, 5),
];

/// Whether a glyph defines the class or distracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    /// One of the class's two glyphs.
    Defining,
    /// Drawn independently of the class.
    Distractor,
}

/// One glyph drawn in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Index into [`GLYPHS`].
    pub glyph: usize,
    /// Top row of the 5×5 box.
    pub top: usize,
    /// Left column of the box.
    pub left: usize,
    /// Defining or distractor.
    pub role: Role,
}

impl Placement {
    /// Whether pixel `(r, c)` lies within `margin` pixels of the glyph's box.
    pub fn covers(&self, r: f64, c: f64, margin: f64) -> bool {
        in_box(r, c, self.top, self.left, GLYPH, margin)
    }

    /// Whether pixel `(r, c)` is an "on" pixel of the glyph.
    pub fn is_on(&self, r: usize, c: usize) -> bool {
        r >= self.top
            && r < self.top + GLYPH
            && c >= self.left
            && c < self.left + GLYPH
            && GLYPHS[self.glyph][r - self.top].as_bytes()[c - self.left] == b'#'
    }
}

/// Generator settings.
#[derive(Clone, Debug)]
pub struct PartShapesConfig {
    /// Number of images (classes are balanced round-robin).
    pub images: usize,
    /// Distractor glyphs per image.
    pub distractors: usize,
    /// Keep glyphs out of the top-left [`CORNER`]×[`CORNER`] pixels (room for a watermark).
    pub reserve_corner: bool,
}

/// Side of the reserved top-left corner.
pub const CORNER: usize = 4;

impl Default for PartShapesConfig {
    fn default() -> Self {
        PartShapesConfig {
            images: 2000,
            distractors: 1,
            reserve_corner: false,
        }
    }
}

/// A generated PartShapes set.
#[derive(Clone, Debug)]
pub struct PartShapes {
    /// Images `[n, 1, 24, 24]` and labels.
    pub images: ImageSet,
    /// The glyphs of each image, defining glyphs first.
    pub placements: Vec<Vec<Placement>>,
}

/// Whether `g` would complete a class pair other than `class` together with one of `class`'s
/// glyphs (which would make the image ambiguous).
fn completes_other_pair(class: usize, g: usize) -> bool {
    let (a, b) = CLASS_PAIRS[class];
    CLASS_PAIRS.iter().enumerate().any(|(k, &(p, q))| {
        k != class && ((p, q) == (a.min(g), a.max(g)) || (p, q) == (b.min(g), b.max(g)))
    })
}

/// Distractor glyphs allowed for `class`.
pub fn allowed_distractors(class: usize) -> Vec<usize> {
    let (a, b) = CLASS_PAIRS[class];
    (0..GLYPHS.len())
        .filter(|&g| g != a && g != b && !completes_other_pair(class, g))
        .collect()
}

fn overlaps(p: &Placement, top: usize, left: usize) -> bool {
    // boxes with a 1-pixel gap
    let gap = GLYPH + 1;
    top + gap > p.top && p.top + gap > top && left + gap > p.left && p.left + gap > left
}

/// Draw `glyph` into a single-channel image.
pub fn draw_glyph(img: &mut [f32], side: usize, p: &Placement, rng: &mut StdRng) {
    for r in 0..GLYPH {
        for c in 0..GLYPH {
            if GLYPHS[p.glyph][r].as_bytes()[c] == b'#' {
                img[(p.top + r) * side + p.left + c] = 0.8 + 0.2 * rng.random::<f32>();
            }
        }
    }
}

/// Fill an image with background noise.
pub fn background(img: &mut [f32], rng: &mut StdRng) {
    for v in img.iter_mut() {
        *v = 0.2 * rng.random::<f32>();
    }
}

impl PartShapes {
    /// Generate `config.images` images from `seed`.
    pub fn generate(config: &PartShapesConfig, seed: u64) -> PartShapes {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = config.images;
        let mut pixels = vec![0f32; n * SIDE * SIDE];
        let mut labels = Vec::with_capacity(n);
        let mut placements = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % CLASSES;
            let (a, b) = CLASS_PAIRS[class];
            let allowed = allowed_distractors(class);
            let mut glyphs = vec![(a, Role::Defining), (b, Role::Defining)];
            for _ in 0..config.distractors {
                glyphs.push((
                    allowed[rng.random_range(0..allowed.len())],
                    Role::Distractor,
                ));
            }
            let img = &mut pixels[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
            'retry: loop {
                let mut placed: Vec<Placement> = Vec::new();
                for &(glyph, role) in &glyphs {
                    let mut tries = 0;
                    loop {
                        let top = rng.random_range(0..=SIDE - GLYPH);
                        let left = rng.random_range(0..=SIDE - GLYPH);
                        let in_corner = config.reserve_corner && top < CORNER && left < CORNER;
                        if !in_corner && placed.iter().all(|p| !overlaps(p, top, left)) {
                            placed.push(Placement {
                                glyph,
                                top,
                                left,
                                role,
                            });
                            break;
                        }
                        tries += 1;
                        if tries > 200 {
                            continue 'retry;
                        }
                    }
                }
                background(img, &mut rng);
                for p in &placed {
                    draw_glyph(img, SIDE, p, &mut rng);
                }
                placements.push(placed);
                break;
            }
            labels.push(class);
        }
        PartShapes {
            images: ImageSet {
                pixels,
                channels: 1,
                side: SIDE,
                labels,
                classes: CLASSES,
            },
            placements,
        }
    }

    /// A copy of image `i` with the glyph `placement` erased (its box refilled with noise from
    /// `rng`).
    pub fn erased(&self, i: usize, placement: &Placement, rng: &mut StdRng) -> Vec<f32> {
        let mut img = self.images.image(i).to_vec();
        for r in placement.top..placement.top + GLYPH {
            for c in placement.left..placement.left + GLYPH {
                img[r * SIDE + c] = 0.2 * rng.random::<f32>();
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unambiguous_and_glyphs_do_not_overlap() {
        let s = PartShapes::generate(
            &PartShapesConfig {
                images: 400,
                ..Default::default()
            },
            3,
        );
        for (i, ps) in s.placements.iter().enumerate() {
            let class = s.images.labels[i];
            let present: Vec<usize> = ps.iter().map(|p| p.glyph).collect();
            // exactly one class pair is present
            let matching: Vec<usize> = CLASS_PAIRS
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| present.contains(a) && present.contains(b))
                .map(|(k, _)| k)
                .collect();
            assert_eq!(matching, vec![class]);
            for (x, p) in ps.iter().enumerate() {
                for q in &ps[x + 1..] {
                    assert!(!overlaps(p, q.top, q.left));
                }
            }
        }
    }

    #[test]
    fn same_seed_same_images_other_seed_differs() {
        let c = PartShapesConfig {
            images: 20,
            ..Default::default()
        };
        let a = PartShapes::generate(&c, 1);
        let b = PartShapes::generate(&c, 1);
        let d = PartShapes::generate(&c, 2);
        assert_eq!(a.images.pixels, b.images.pixels);
        assert_ne!(a.images.pixels, d.images.pixels);
    }

    #[test]
    fn every_class_has_a_distractor() {
        for c in 0..CLASSES {
            assert!(!allowed_distractors(c).is_empty(), "class {c}");
        }
    }
}
