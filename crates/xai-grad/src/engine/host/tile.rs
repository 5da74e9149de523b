//! The register-tiled microkernel (AVX-512, AVX2 + FMA, portable) and the scratch buffers it
//! writes into.

use super::*;

/// Buffers reused between sub-batches (no allocation in the steady state).
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) input: Vec<f32>,
    pub(super) vals: Vec<Vec<f32>>,
    pub(super) cots: Vec<Vec<f32>>,
    pub(super) live: Vec<bool>,
    pub(super) indices: Vec<Vec<u32>>,
    pub(super) pad: Vec<f32>,
    /// Zero-padded images, one buffer per conv step and direction: their borders are zeroed
    /// once and only the interiors are rewritten.
    pub(super) pads: Vec<Vec<f32>>,
    /// A second set of buffers for steps re-run on other values (LRP's branches).
    pub(super) aux: Option<Box<Scratch>>,
}

/// Scratch buffers kept by a plan between calls, one per worker thread that returned them: a
/// repeated call on a cached plan allocates nothing (fresh buffers cost page faults and zeroing,
/// about a tenth of a small batch's time).
#[derive(Default)]
pub(super) struct ScratchPool(std::sync::Mutex<Vec<Scratch>>);

impl ScratchPool {
    pub(super) fn take(&self) -> Scratch {
        self.0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default()
    }

    pub(super) fn give(&self, sc: Scratch) {
        if let Ok(mut pool) = self.0.lock() {
            pool.push(sc);
        }
    }
}

/// A clone starts with an empty pool (buffers are not shared between plans).
impl Clone for ScratchPool {
    fn clone(&self) -> Self {
        ScratchPool::default()
    }
}

impl std::fmt::Debug for ScratchPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScratchPool")
    }
}

/// Where a tile reads: tile row `r` and reduction index `(ci, i, j)` read
/// `x[r·row_step + ci·chan + i·kernel_row + j·kernel_col]`, against packed weight row
/// `(ci·kh + i)·kw + j`.
#[derive(Clone, Copy)]
pub(super) struct TileArgs {
    pub(super) x: *const f32,
    pub(super) row_step: usize,
    pub(super) chan: usize,
    pub(super) kernel_row: usize,
    pub(super) kernel_col: usize,
    pub(super) c: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) w: *const f32,
    pub(super) w_stride: usize,
    pub(super) bias: Option<*const f32>,
}

impl TileArgs {
    /// The same reads for the output columns from `col` on.
    ///
    /// # Safety
    /// `col` must lie inside the packed weight rows and the bias.
    unsafe fn at_col(self, col: usize) -> TileArgs {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            TileArgs {
                w: self.w.add(col),
                bias: self.bias.map(|b| b.add(col)),
                ..self
            }
        }
    }
}

/// One tile's results, as [`run_tiles`] hands them out.
pub(super) struct TileOut<'a> {
    pub(super) first: usize,
    pub(super) positions: usize,
    pub(super) col0: usize,
    pub(super) width: usize,
    pub(super) rows: &'a [[f32; 32]; MAX_RB_1],
}

/// Run the tile kernel over `positions` tile rows and every column block of `w`;
/// `emit(tile)` receives each tile's results (`tile.rows[r][k]` is position `first + r`,
/// column `col0 + k`).
///
/// # Safety
/// Every address `args` can form for `positions` rows must lie inside live buffers, and `w` /
/// `bias` must hold `w.stride` (+ 32 spare) columns.
pub(super) unsafe fn run_tiles(
    isa: Isa,
    args: TileArgs,
    positions: usize,
    cols: usize,
    mut emit: impl FnMut(&TileOut<'_>),
) {
    let mut stage = [[0.0f32; 32]; MAX_RB_1];
    let mut col0 = 0;
    while col0 < cols {
        let (lanes, widest2, widest1) = isa.shape();
        let nv = if cols - col0 > lanes { 2 } else { 1 };
        let width = (lanes * nv).min(cols - col0);
        // SAFETY: col0 < cols ≤ stride; the packed rows are padded by 32 columns.
        let mut a = unsafe { args.at_col(col0) };
        let mut p = 0;
        while p < positions {
            // Equal tiles as wide as the registers allow (14 positions → 7 + 7, not 8 + 4 + 2).
            let left = positions - p;
            let widest = if nv == 2 { widest2 } else { widest1 };
            let rb = left.div_ceil(left.div_ceil(widest));
            // SAFETY: p + rb ≤ positions.
            a.x = unsafe { args.x.add(p * args.row_step) };
            // SAFETY: forwarded from the caller's contract.
            unsafe { tile(isa, rb, nv, &a, &mut stage) };
            emit(&TileOut {
                first: p,
                positions: rb,
                col0,
                width,
                rows: &stage,
            });
            p += rb;
        }
        col0 += lanes * nv;
    }
}

pub(super) unsafe fn tile(
    isa: Isa,
    rb: usize,
    nv: usize,
    a: &TileArgs,
    out: &mut [[f32; 32]; MAX_RB_1],
) {
    macro_rules! pick {
        ($f:ident) => {
            match (rb, nv) {
                (12, 2) => $f::<12, 2>(a, out),
                (11, 2) => $f::<11, 2>(a, out),
                (10, 2) => $f::<10, 2>(a, out),
                (9, 2) => $f::<9, 2>(a, out),
                (8, 2) => $f::<8, 2>(a, out),
                (7, 2) => $f::<7, 2>(a, out),
                (6, 2) => $f::<6, 2>(a, out),
                (5, 2) => $f::<5, 2>(a, out),
                (4, 2) => $f::<4, 2>(a, out),
                (3, 2) => $f::<3, 2>(a, out),
                (2, 2) => $f::<2, 2>(a, out),
                (1, 2) => $f::<1, 2>(a, out),
                (16, 1) => $f::<16, 1>(a, out),
                (15, 1) => $f::<15, 1>(a, out),
                (14, 1) => $f::<14, 1>(a, out),
                (13, 1) => $f::<13, 1>(a, out),
                (12, 1) => $f::<12, 1>(a, out),
                (11, 1) => $f::<11, 1>(a, out),
                (10, 1) => $f::<10, 1>(a, out),
                (9, 1) => $f::<9, 1>(a, out),
                (8, 1) => $f::<8, 1>(a, out),
                (7, 1) => $f::<7, 1>(a, out),
                (6, 1) => $f::<6, 1>(a, out),
                (5, 1) => $f::<5, 1>(a, out),
                (4, 1) => $f::<4, 1>(a, out),
                (3, 1) => $f::<3, 1>(a, out),
                (2, 1) => $f::<2, 1>(a, out),
                (1, 1) => $f::<1, 1>(a, out),
                _ => unreachable!("tile {rb}×{nv} is not instantiated"),
            }
        };
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Isa::Avx512 is only chosen after detecting AVX-512F.
        Isa::Avx512 => unsafe { pick!(tile_avx512) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Isa::Avx2 is only chosen after detecting AVX2 and FMA.
        Isa::Avx2 => unsafe {
            match (rb, nv) {
                (6, 2) => tile_avx2::<6, 2>(a, out),
                (5, 2) => tile_avx2::<5, 2>(a, out),
                (4, 2) => tile_avx2::<4, 2>(a, out),
                (3, 2) => tile_avx2::<3, 2>(a, out),
                (2, 2) => tile_avx2::<2, 2>(a, out),
                (1, 2) => tile_avx2::<1, 2>(a, out),
                (12, 1) => tile_avx2::<12, 1>(a, out),
                (11, 1) => tile_avx2::<11, 1>(a, out),
                (10, 1) => tile_avx2::<10, 1>(a, out),
                (9, 1) => tile_avx2::<9, 1>(a, out),
                (8, 1) => tile_avx2::<8, 1>(a, out),
                (7, 1) => tile_avx2::<7, 1>(a, out),
                (6, 1) => tile_avx2::<6, 1>(a, out),
                (5, 1) => tile_avx2::<5, 1>(a, out),
                (4, 1) => tile_avx2::<4, 1>(a, out),
                (3, 1) => tile_avx2::<3, 1>(a, out),
                (2, 1) => tile_avx2::<2, 1>(a, out),
                (1, 1) => tile_avx2::<1, 1>(a, out),
                _ => unreachable!("AVX2 tile {rb}×{nv} is not instantiated"),
            }
        },
        _ => unsafe { pick!(tile_portable) },
    }
}

/// A SIMD tile: `RB` positions × `NV` vectors of output channels, accumulated in registers over
/// every `(channel, kernel row, kernel column)`, then stored to `out`. One body for both ISAs,
/// instantiated with each ISA's vector type and intrinsics.
macro_rules! simd_tile {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $lanes:literal, $zero:ident, $load:ident,
     $splat:ident, $fma:ident, $store:ident) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const RB: usize, const NV: usize>(
            a: &TileArgs,
            out: &mut [[f32; 32]; MAX_RB_1],
        ) {
            use std::arch::x86_64::*;
            let mut acc = [[$zero(); NV]; RB];
            if let Some(b) = a.bias {
                for v in 0..NV {
                    let bv = unsafe { $load(b.add($lanes * v)) };
                    for row in acc.iter_mut() {
                        row[v] = bv;
                    }
                }
            }
            for ci in 0..a.c {
                for i in 0..a.kh {
                    let xi = unsafe { a.x.add(ci * a.chan + i * a.kernel_row) };
                    let wi = unsafe { a.w.add((ci * a.kh + i) * a.kw * a.w_stride) };
                    for j in 0..a.kw {
                        let xj = unsafe { xi.add(j * a.kernel_col) };
                        let wj = unsafe { wi.add(j * a.w_stride) };
                        // Named weight registers (an indexed array of them was spilled to the
                        // stack on every step); NV is 1 or 2.
                        let w0 = unsafe { $load(wj) };
                        let w1 = if NV == 2 { unsafe { $load(wj.add($lanes)) } } else { w0 };
                        for (r, row) in acc.iter_mut().enumerate() {
                            let xv = $splat(unsafe { *xj.add(r * a.row_step) });
                            row[0] = $fma(xv, w0, row[0]);
                            if NV == 2 {
                                row[NV - 1] = $fma(xv, w1, row[NV - 1]);
                            }
                        }
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (v, val) in row.iter().enumerate() {
                    unsafe { $store(out[r].as_mut_ptr().add($lanes * v), *val) };
                }
            }
        }
    };
}

/// The same tile in plain Rust.
///
/// # Safety
/// See [`run_tiles`].
pub(super) unsafe fn tile_portable<const RB: usize, const NV: usize>(
    a: &TileArgs,
    out: &mut [[f32; 32]; MAX_RB_1],
) {
    let lanes = 16 * NV;
    let mut acc = [[0.0f32; 32]; RB];
    if let Some(b) = a.bias {
        for row in acc.iter_mut() {
            for (l, v) in row.iter_mut().enumerate().take(lanes) {
                *v = unsafe { *b.add(l) };
            }
        }
    }
    for ci in 0..a.c {
        for i in 0..a.kh {
            for j in 0..a.kw {
                let xj = unsafe { a.x.add(ci * a.chan + i * a.kernel_row + j * a.kernel_col) };
                let wj = unsafe { a.w.add(((ci * a.kh + i) * a.kw + j) * a.w_stride) };
                for (r, row) in acc.iter_mut().enumerate() {
                    let xv = unsafe { *xj.add(r * a.row_step) };
                    for (l, v) in row.iter_mut().enumerate().take(lanes) {
                        *v += xv * unsafe { *wj.add(l) };
                    }
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        out[r][..lanes].copy_from_slice(&row[..lanes]);
    }
}

/// Positions per narrow tile (two AVX-512 vectors, four AVX2 vectors).
pub(super) const NARROW_POSITIONS: usize = 32;

/// Whether a convolution with `cols` output channels and column stride `col_stride` runs on the
/// narrow tiles: with fewer output channels than half a vector, lanes over channels would idle
/// (a one-channel input gradient used 1 of 16 lanes and took half of a LeNet's backward pass),
/// so the narrow tiles put consecutive positions in the lanes instead.
pub(super) fn narrow(isa: Isa, cols: usize, col_stride: usize) -> bool {
    let lanes = match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 => 8,
        Isa::Portable => return false,
    };
    col_stride == 1 && cols > 0 && 2 * cols <= lanes
}

/// Run the narrow tile over `positions` consecutive positions (row step 1) for each of the
/// `cols` output channels; `emit(col, first, values)` receives each tile's valid results.
///
/// # Safety
/// As [`run_tiles`], and the input must stay readable [`NARROW_POSITIONS`] − 1 values past the
/// last position's reads (the padded images keep 64 spare zeros).
pub(super) unsafe fn run_narrow(
    isa: Isa,
    args: TileArgs,
    positions: usize,
    cols: usize,
    mut emit: impl FnMut(usize, usize, &[f32]),
) {
    let mut stage = [0.0f32; NARROW_POSITIONS];
    for col in 0..cols {
        // SAFETY: col < cols ≤ stride.
        let mut a = unsafe { args.at_col(col) };
        let mut p = 0;
        while p < positions {
            let n = (positions - p).min(NARROW_POSITIONS);
            // SAFETY: p < positions; reads past the row are covered by the caller's contract.
            a.x = unsafe { args.x.add(p) };
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Isa::Avx512 is only chosen after detecting AVX-512F.
                Isa::Avx512 => unsafe { narrow_avx512::<2>(&a, &mut stage) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Isa::Avx2 is only chosen after detecting AVX2 and FMA.
                Isa::Avx2 => unsafe { narrow_avx2::<4>(&a, &mut stage) },
                _ => unreachable!("narrow tiles need a SIMD ISA"),
            }
            emit(col, p, &stage[..n]);
            p += n;
        }
    }
}

/// A narrow tile: `NV` vectors of consecutive positions of one output channel, accumulated over
/// every `(channel, kernel row, kernel column)` with the weight broadcast.
macro_rules! narrow_tile {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $lanes:literal, $zero:ident, $load:ident,
     $splat:ident, $fma:ident, $store:ident) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const NV: usize>(a: &TileArgs, out: &mut [f32; NARROW_POSITIONS]) {
            use std::arch::x86_64::*;
            let start = match a.bias {
                Some(b) => $splat(unsafe { *b }),
                None => $zero(),
            };
            let mut acc = [start; NV];
            for ci in 0..a.c {
                for i in 0..a.kh {
                    let xi = unsafe { a.x.add(ci * a.chan + i * a.kernel_row) };
                    let wi = unsafe { a.w.add((ci * a.kh + i) * a.kw * a.w_stride) };
                    for j in 0..a.kw {
                        let xj = unsafe { xi.add(j * a.kernel_col) };
                        let wv = $splat(unsafe { *wi.add(j * a.w_stride) });
                        for (v, acc) in acc.iter_mut().enumerate() {
                            *acc = $fma(unsafe { $load(xj.add($lanes * v)) }, wv, *acc);
                        }
                    }
                }
            }
            for (v, val) in acc.iter().enumerate() {
                unsafe { $store(out.as_mut_ptr().add($lanes * v), *val) };
            }
        }
    };
}

/// Both tiles of one ISA from its vector width and intrinsics.
macro_rules! simd_isa {
    ($(#[$tdoc:meta])* $tile:ident, $(#[$ndoc:meta])* $narrow:ident, $feature:literal,
     $lanes:literal, $($intrinsic:ident),+) => {
        simd_tile!($(#[$tdoc])* $tile, $feature, $lanes, $($intrinsic),+);
        narrow_tile!($(#[$ndoc])* $narrow, $feature, $lanes, $($intrinsic),+);
    };
}

simd_isa!(
    /// The AVX-512 tile: 16-lane vectors (a column block is 32 channels).
    ///
    /// # Safety
    /// See [`run_tiles`]; the CPU must support AVX-512F.
    tile_avx512,
    /// The AVX-512 narrow tile (32 positions).
    ///
    /// # Safety
    /// See [`run_narrow`]; the CPU must support AVX-512F.
    narrow_avx512,
    "avx512f", 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps,
    _mm512_storeu_ps
);

simd_isa!(
    /// The AVX2 + FMA tile: 8-lane vectors (a column block is 16 channels).
    ///
    /// # Safety
    /// See [`run_tiles`]; the CPU must support AVX2 and FMA.
    tile_avx2,
    /// The AVX2 + FMA narrow tile (32 positions).
    ///
    /// # Safety
    /// See [`run_narrow`]; the CPU must support AVX2 and FMA.
    narrow_avx2,
    "avx2,fma", 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps,
    _mm256_storeu_ps
);
