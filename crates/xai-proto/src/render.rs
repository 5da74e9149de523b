//! Small raster helpers for the explanation images: images scaled up with nearest-neighbour
//! pixels, boxes, bilinear upsampling of latent maps with a jet colour map, and grids.
//!
//! Written here rather than taken from a crate: `image` gives the buffers and PNG encoding; the
//! few lines of box drawing and colour mapping do not justify `imageproc`'s dependency tree.

use image::{Rgb, RgbImage};

/// `[c, side, side]` pixels in `[0, 1]` (1 or 3 channels) as an RGB image scaled by `scale`.
pub fn to_rgb(pixels: &[f32], channels: usize, side: usize, scale: u32) -> RgbImage {
    let s = side as u32 * scale;
    RgbImage::from_fn(s, s, |x, y| {
        let (r, c) = ((y / scale) as usize, (x / scale) as usize);
        let at =
            |ch: usize| (pixels[ch * side * side + r * side + c].clamp(0.0, 1.0) * 255.0) as u8;
        if channels >= 3 {
            Rgb([at(0), at(1), at(2)])
        } else {
            let v = at(0);
            Rgb([v, v, v])
        }
    })
}

/// Draw the outline of pixel box `(top, left, bottom, right)` (exclusive ends, source pixels)
/// on an image scaled by `scale`.
pub fn draw_box(img: &mut RgbImage, b: (usize, usize, usize, usize), scale: u32, colour: [u8; 3]) {
    let (t, l) = (b.0 as u32 * scale, b.1 as u32 * scale);
    let (bo, r) = (
        (b.2 as u32 * scale).min(img.height()),
        (b.3 as u32 * scale).min(img.width()),
    );
    if bo <= t || r <= l {
        return;
    }
    for x in l..r {
        img.put_pixel(x, t, Rgb(colour));
        img.put_pixel(x, bo - 1, Rgb(colour));
    }
    for y in t..bo {
        img.put_pixel(l, y, Rgb(colour));
        img.put_pixel(r - 1, y, Rgb(colour));
    }
}

/// Jet colour of `v` in `[0, 1]`.
pub fn jet(v: f64) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let f = |x: f64| (255.0 * (1.5 - (4.0 * v - x).abs()).clamp(0.0, 1.0)) as u8;
    [f(3.0), f(2.0), f(1.0)]
}

/// Bilinear upsampling of a `gh × gw` map to `side × side` (cell centres at
/// `(i + 0.5)·side/g`), normalised to `[0, 1]`.
pub fn upsample(map: &[f64], grid: (usize, usize), side: usize) -> Vec<f64> {
    let (gh, gw) = grid;
    let (lo, hi) = map
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let at = |r: usize, c: usize| (map[r * gw + c] - lo) / span;
    let mut out = Vec::with_capacity(side * side);
    for y in 0..side {
        for x in 0..side {
            let fy = ((y as f64 + 0.5) * gh as f64 / side as f64 - 0.5).clamp(0.0, (gh - 1) as f64);
            let fx = ((x as f64 + 0.5) * gw as f64 / side as f64 - 0.5).clamp(0.0, (gw - 1) as f64);
            let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
            let (y1, x1) = ((y0 + 1).min(gh - 1), (x0 + 1).min(gw - 1));
            let (dy, dx) = (fy - y0 as f64, fx - x0 as f64);
            out.push(
                at(y0, x0) * (1.0 - dy) * (1.0 - dx)
                    + at(y0, x1) * (1.0 - dy) * dx
                    + at(y1, x0) * dy * (1.0 - dx)
                    + at(y1, x1) * dy * dx,
            );
        }
    }
    out
}

/// `img` (scaled by `scale` from `side`) blended half and half with the jet colours of `heat`
/// (`side × side` in `[0, 1]`).
pub fn overlay(img: &RgbImage, heat: &[f64], side: usize, scale: u32) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let h = jet(heat[(y / scale) as usize * side + (x / scale) as usize]);
        let p = img.get_pixel(x, y).0;
        Rgb([
            (p[0] as u16 / 2 + h[0] as u16 / 2) as u8,
            (p[1] as u16 / 2 + h[1] as u16 / 2) as u8,
            (p[2] as u16 / 2 + h[2] as u16 / 2) as u8,
        ])
    })
}

/// Images laid out in rows (each row a `Vec`), `gap` white pixels apart.
pub fn grid(rows: &[Vec<RgbImage>], gap: u32) -> RgbImage {
    let width = rows
        .iter()
        .map(|r| r.iter().map(|i| i.width() + gap).sum::<u32>())
        .max()
        .unwrap_or(0)
        + gap;
    let height = rows
        .iter()
        .map(|r| r.iter().map(|i| i.height()).max().unwrap_or(0) + gap)
        .sum::<u32>()
        + gap;
    let mut out = RgbImage::from_pixel(width.max(1), height.max(1), Rgb([255, 255, 255]));
    let mut y = gap;
    for row in rows {
        let mut x = gap;
        for img in row {
            image::imageops::overlay(&mut out, img, x as i64, y as i64);
            x += img.width() + gap;
        }
        y += row.iter().map(|i| i.height()).max().unwrap_or(0) + gap;
    }
    out
}
