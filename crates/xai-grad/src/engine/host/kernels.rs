//! The kernels built on the tile: padded images, direct convolution, conv input gradients,
//! dense layers, max and average pooling.

use super::*;

/// Copy one `[c, h, w]` image into `buf` with `pad` zeros around it; returns the padded
/// `(rows, cols)`.
pub(super) fn pad_image(
    x: &[f32],
    c: usize,
    h: usize,
    w: usize,
    pad: [(usize, usize); 2],
    buf: &mut Vec<f32>,
) -> (usize, usize) {
    let (hp, wp) = (h + pad[0].0 + pad[0].1, w + pad[1].0 + pad[1].1);
    // Spare zeros: the last tile of a row may read past the image (its results are dropped).
    let len = c * hp * wp + 64;
    if buf.len() != len {
        buf.clear();
        buf.resize(len, 0.0);
    }
    // Only the interior is written below: a buffer of this length has zero borders already.
    for ch in 0..c {
        for y in 0..h {
            let src = &x[(ch * h + y) * w..(ch * h + y + 1) * w];
            let at = (ch * hp + y + pad[0].0) * wp + pad[1].0;
            buf[at..at + w].copy_from_slice(src);
        }
    }
    (hp, wp)
}

/// Direct convolution of one image: `out[co, oy, ox] (+)= bias[co] + Σ w · x`.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_image(
    isa: Isa,
    x: &[f32],
    win: &Window,
    w: &Packed,
    bias: Option<&[f32]>,
    buf: &mut Vec<f32>,
    out: &mut [f32],
    add: bool,
) {
    let (hp, wp) = pad_image(x, win.c, win.h, win.w, win.pad, buf);
    let plane = win.oh * win.ow;
    for oy in 0..win.oh {
        let args = TileArgs {
            x: buf[oy * win.stride[0] * wp..].as_ptr(),
            row_step: win.stride[1],
            chan: hp * wp,
            kernel_row: win.dil[0] * wp,
            kernel_col: win.dil[1],
            c: win.c,
            kh: win.kh,
            kw: win.kw,
            w: w.data.as_ptr(),
            w_stride: w.stride,
            bias: bias.map(|b| b.as_ptr()),
        };
        // SAFETY: the last position reads x at (ow-1)·sw + (kw-1)·dw + (kh-1)·dh·wp + (c-1)·hp·wp
        // from row oy·sh, inside the padded image by the definition of oh and ow; tiles never
        // span more positions than `ow`.
        if narrow(isa, w.cols, win.stride[1]) {
            // SAFETY: as below; a narrow tile reads at most NARROW_POSITIONS − 1 values past
            // the row's last position, inside the padded buffer's 64 spare zeros.
            unsafe {
                run_narrow(isa, args, win.ow, w.cols, |col, first, vals| {
                    let at = col * plane + oy * win.ow + first;
                    let dst = &mut out[at..at + vals.len()];
                    if add {
                        dst.iter_mut().zip(vals).for_each(|(o, v)| *o += v);
                    } else {
                        dst.copy_from_slice(vals);
                    }
                });
            }
            continue;
        }
        unsafe {
            // Channel by channel: each writes a run of consecutive positions.
            run_tiles(isa, args, win.ow, w.cols, |t| {
                for k in 0..t.width {
                    let at = (t.col0 + k) * plane + oy * win.ow + t.first;
                    let dst = &mut out[at..at + t.positions];
                    let src = t.rows.iter().map(|row| row[k]);
                    if add {
                        dst.iter_mut().zip(src).for_each(|(o, v)| *o += v);
                    } else {
                        dst.iter_mut().zip(src).for_each(|(o, v)| *o = v);
                    }
                }
            });
        }
    }
}

/// Input gradient of a stride-1 convolution: the output gradient, padded by `d·(k−1) − p`,
/// convolved with the flipped, transposed kernel; added into `gx` (or written, `add = false`).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_input_grad_flipped(
    isa: Isa,
    g: &[f32],
    win: &Window,
    co: usize,
    flipped: &Packed,
    buf: &mut Vec<f32>,
    gx: &mut [f32],
    add: bool,
) {
    let reach = |d: usize, k: usize| d * (k - 1);
    let (rh, rw) = (reach(win.dil[0], win.kh), reach(win.dil[1], win.kw));
    let pad = [
        (rh - win.pad[0].0, rh - win.pad[0].1),
        (rw - win.pad[1].0, rw - win.pad[1].1),
    ];
    let back = Window {
        c: co,
        h: win.oh,
        w: win.ow,
        kh: win.kh,
        kw: win.kw,
        stride: [1, 1],
        pad,
        dil: win.dil,
        oh: win.h,
        ow: win.w,
    };
    conv_image(isa, g, &back, flipped, None, buf, gx, add);
}

/// Input gradient of any convolution by scattering every output gradient (scalar).
pub(super) fn conv_input_grad_scatter(
    g: &[f32],
    win: &Window,
    co: usize,
    w: &[f32],
    gx: &mut [f32],
) {
    let (c, kh, kw) = (win.c, win.kh, win.kw);
    for oc in 0..co {
        for oy in 0..win.oh {
            for ox in 0..win.ow {
                let gv = g[(oc * win.oh + oy) * win.ow + ox];
                if gv == 0.0 {
                    continue;
                }
                for ci in 0..c {
                    for i in 0..kh {
                        let y = (oy * win.stride[0] + i * win.dil[0]).wrapping_sub(win.pad[0].0);
                        if y >= win.h {
                            continue;
                        }
                        for j in 0..kw {
                            let xx =
                                (ox * win.stride[1] + j * win.dil[1]).wrapping_sub(win.pad[1].0);
                            if xx >= win.w {
                                continue;
                            }
                            gx[(ci * win.h + y) * win.w + xx] +=
                                gv * w[((oc * c + ci) * kh + i) * kw + j];
                        }
                    }
                }
            }
        }
    }
}

/// `y = x · W` for `rows` rows of `inputs` values (`w` packed `[inputs, outputs]`).
pub(super) fn dense(isa: Isa, x: &[f32], rows: usize, inputs: usize, w: &Packed, y: &mut [f32]) {
    let outputs = w.cols;
    // The last tile reads whole rows only; pad `x` is not needed.
    let args = TileArgs {
        x: x.as_ptr(),
        row_step: inputs,
        chan: 1,
        kernel_row: 0,
        kernel_col: 0,
        c: inputs,
        kh: 1,
        kw: 1,
        w: w.data.as_ptr(),
        w_stride: w.stride,
        bias: None,
    };
    // SAFETY: tile rows are < rows and read `inputs` values each: inside `x`.
    unsafe {
        run_tiles(isa, args, rows, outputs, |t| {
            for (r, row) in t.rows.iter().enumerate().take(t.positions) {
                let at = (t.first + r) * outputs + t.col0;
                y[at..at + t.width].copy_from_slice(&row[..t.width]);
            }
        });
    }
}

/// Max pooling of `b` images with the argmax (index in the input plane) of every output;
/// padding never wins (it is −∞), the first maximum wins ties, and a NaN wins and stays.
pub(super) fn max_pool(
    isa: Isa,
    x: &[f32],
    win: &Window,
    b: usize,
    y: &mut [f32],
    idx: &mut [u32],
) {
    let (plane_in, plane_out) = (win.h * win.w, win.oh * win.ow);
    let unpadded = win.pad == [(0, 0), (0, 0)];
    for p in 0..b * win.c {
        let xs = &x[p * plane_in..(p + 1) * plane_in];
        let ys = &mut y[p * plane_out..(p + 1) * plane_out];
        let is = &mut idx[p * plane_out..(p + 1) * plane_out];
        for oy in 0..win.oh {
            let (yr, ir) = (
                &mut ys[oy * win.ow..(oy + 1) * win.ow],
                &mut is[oy * win.ow..(oy + 1) * win.ow],
            );
            if unpadded && win.kh == 2 && win.kw == 2 && win.stride == [2, 2] && win.dil == [1, 1] {
                // The common 2×2 / stride-2 layer: four loads and three selects per output.
                let top = 2 * oy * win.w;
                #[cfg(target_arch = "x86_64")]
                if isa == Isa::Avx512 && 2 * win.ow <= win.w && top + win.w + 2 * win.ow <= xs.len()
                {
                    // SAFETY: AVX-512F was detected; the two input rows and the output row are
                    // in bounds (checked above and by the slice lengths).
                    unsafe { pool2x2_row_avx512(xs, top, win.w, yr, ir) };
                    continue;
                }
                for (ox, (best, at)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
                    let k = top + 2 * ox;
                    let mut m = xs[k];
                    let mut a = k;
                    for c in [k + 1, k + win.w, k + win.w + 1] {
                        let v = xs[c];
                        let take = (v > m) | (v.is_nan() & !m.is_nan());
                        m = if take { v } else { m };
                        a = if take { c } else { a };
                    }
                    *best = m;
                    *at = a as u32;
                }
                continue;
            }
            if unpadded {
                // Every window cell is inside: one pass per cell over the output row, no
                // bounds checks (the common 2×2 / stride-2 layer).
                for i in 0..win.kh {
                    for j in 0..win.kw {
                        let base = (oy * win.stride[0] + i * win.dil[0]) * win.w + j * win.dil[1];
                        let first = i == 0 && j == 0;
                        for (ox, (best, at)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
                            let k = base + ox * win.stride[1];
                            let v = xs[k];
                            // Selects, not branches: which cell wins is data-dependent.
                            let take = first | (v > *best) | (v.is_nan() & !best.is_nan());
                            *best = if take { v } else { *best };
                            *at = if take { k as u32 } else { *at };
                        }
                    }
                }
                continue;
            }
            for (ox, (best, at)) in yr.iter_mut().zip(ir.iter_mut()).enumerate() {
                *best = f32::NEG_INFINITY;
                *at = u32::MAX;
                for i in 0..win.kh {
                    let yy = (oy * win.stride[0] + i * win.dil[0]).wrapping_sub(win.pad[0].0);
                    if yy >= win.h {
                        continue;
                    }
                    for j in 0..win.kw {
                        let xx = (ox * win.stride[1] + j * win.dil[1]).wrapping_sub(win.pad[1].0);
                        if xx >= win.w {
                            continue;
                        }
                        let v = xs[yy * win.w + xx];
                        if *at == u32::MAX || v > *best || (v.is_nan() && !best.is_nan()) {
                            *best = v;
                            *at = (yy * win.w + xx) as u32;
                        }
                    }
                }
            }
        }
    }
}

/// One output row of a 2×2 / stride-2 max-pool, 16 outputs per step: the even and odd columns
/// of the two input rows are separated by permutes, and three masked blends keep the first
/// maximum (or a NaN) and its index, as the scalar loop does.
///
/// # Safety
/// The CPU must support AVX-512F; `xs[top..top + w + 2·out.len()]` must exist and
/// `2·out.len() ≤ w`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pool2x2_row_avx512(
    xs: &[f32],
    top: usize,
    w: usize,
    out: &mut [f32],
    idx: &mut [u32],
) {
    use std::arch::x86_64::*;
    let ow = out.len();
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let mut o = 0;
    while o < ow {
        let n = (ow - o).min(16);
        let lo: __mmask16 = if 2 * n >= 16 {
            0xFFFF
        } else {
            (1u16 << (2 * n)) - 1
        };
        let hi: __mmask16 = if 2 * n <= 16 {
            0
        } else if 2 * n - 16 >= 16 {
            0xFFFF
        } else {
            (1u16 << (2 * n - 16)) - 1
        };
        let keep: __mmask16 = if n == 16 { 0xFFFF } else { (1u16 << n) - 1 };
        let load = |at: usize| unsafe {
            let p = xs.as_ptr().add(at);
            let a = _mm512_maskz_loadu_ps(lo, p);
            let b = _mm512_maskz_loadu_ps(hi, p.add(16));
            (
                _mm512_permutex2var_ps(a, even, b),
                _mm512_permutex2var_ps(a, odd, b),
            )
        };
        let k0 = top + 2 * o;
        let (x00, x01) = load(k0);
        let (x10, x11) = load(k0 + w);
        let base = _mm512_add_epi32(_mm512_set1_epi32(k0 as i32), even);
        let mut m = x00;
        let mut at = base;
        for (v, off) in [(x01, 1), (x10, w), (x11, w + 1)] {
            let gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
            let nan_v = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            let nan_m = _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);
            let take = gt | (nan_v & !nan_m);
            m = _mm512_mask_blend_ps(take, m, v);
            let cand = _mm512_add_epi32(base, _mm512_set1_epi32(off as i32));
            at = _mm512_mask_blend_epi32(take, at, cand);
        }
        unsafe {
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(o), keep, m);
            _mm512_mask_storeu_epi32(idx.as_mut_ptr().add(o) as *mut i32, keep, at);
        }
        o += n;
    }
}

/// Average pooling forward (`y`) or backward (`gx += …` from the output gradient in `x`).
pub(super) fn avg_pool(
    x: &[f32],
    win: &Window,
    include_pad: bool,
    b: usize,
    mut y: Option<&mut [f32]>,
    mut gx: Option<&mut [f32]>,
) {
    let (plane_in, plane_out) = (win.h * win.w, win.oh * win.ow);
    for p in 0..b * win.c {
        for oy in 0..win.oh {
            for ox in 0..win.ow {
                let cells = || {
                    (0..win.kh).flat_map(move |i| {
                        (0..win.kw).filter_map(move |j| {
                            let yy = (oy * win.stride[0] + i).wrapping_sub(win.pad[0].0);
                            let xx = (ox * win.stride[1] + j).wrapping_sub(win.pad[1].0);
                            (yy < win.h && xx < win.w).then_some(yy * win.w + xx)
                        })
                    })
                };
                let count = if include_pad {
                    win.kh * win.kw
                } else {
                    cells().count().max(1)
                } as f32;
                let o = p * plane_out + oy * win.ow + ox;
                if let Some(y) = y.as_deref_mut() {
                    let xs = &x[p * plane_in..(p + 1) * plane_in];
                    y[o] = cells().map(|k| xs[k]).sum::<f32>() / count;
                }
                if let Some(gx) = gx.as_deref_mut() {
                    let gv = x[o] / count;
                    for k in cells() {
                        gx[p * plane_in + k] += gv;
                    }
                }
            }
        }
    }
}
