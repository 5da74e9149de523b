//! Host kernels: the first-order input gradient of conv / pool / dense graphs, computed on host
//! memory by our own register-tiled kernels (AVX-512, or AVX2 + FMA).
//!
//! Why it exists: on a small CNN, burn's CPU backend (flex) spends most of an input gradient in
//! code that is not arithmetic: im2col and col2im copies, max-pool-with-indices, and AVX2 gemm
//! packing of matrices too small to amortise it (perf profile of IG on `perf_lenet`: gemm 46 %,
//! of which packing 13 %, max-pool 16 %, col2im 14 %, im2col 9 %). A gradient attribution only needs
//! `∂ f_c / ∂ x`: no parameter gradients, no autodiff tape, no second backward. This module runs
//! that one reverse pass directly.
//!
//! * [`HostPlan::compile`] turns a [`CapturedGraph`] (from its input, or from the output of a
//!   skipped affine prefix) into steps over per-row value slots. Supported: `conv2d` (one
//!   group, any stride, padding and dilation, with or without bias), `max_pool2d`, `avg_pool2d`
//!   (no ceil mode), inference `batch_norm`, `relu`, `leaky_relu`, `tanh`, `sigmoid`, `matmul`
//!   by a constant `[in, out]` matrix, `add` / `sub` / `mul` / `div` by a broadcast constant
//!   or a scalar, `add` of two values of one shape (a residual), reshapes that keep the batch
//!   dimension, and any of these on constants alone (folded at compile time). Anything else
//!   gives `None` and the caller keeps burn's path, so no model is ever explained differently
//!   because of this module.
//! * [`HostPlan::class_grads`] gives `∂ (Σ_r out[r, class_r]) / ∂ start` for a batch of rows;
//!   [`HostPlan::path_integral`] gives `Σ_k w_k ∇f(a + α_k d)` (integrated gradients) without
//!   ever materialising the interpolated batch. Rows are split across the cores and processed in
//!   sub-batches of [`SUB_BATCH`] rows, so activations stay in the caches.
//!
//! One microkernel does the arithmetic: a tile of up to 8 output positions × 32 output channels
//! (16 vector accumulators) reduced over `(channel, kernel row, kernel column)`. It computes
//! direct convolutions on a zero-padded copy of the image (no im2col buffer), the input gradient
//! of a stride-1 convolution (a convolution of the padded output gradient with the flipped,
//! transposed kernel), and dense layers forward and backward (a 1×1 convolution whose positions
//! are the rows of the batch). The AVX2 + FMA tile is the same loop with 8-lane vectors and
//! 16-channel column blocks. [`Isa::Portable`] computes the same tiles in plain Rust: the
//! oracle the tests hold the SIMD tiles to; input gradients of strided convolutions use a
//! scalar scatter.
//!
//! Shapes: a slot holds `rows × per_row` f32 values, row-major, with burn's NCHW layout inside a
//! row, so the result is bit-for-bit laid out as burn's.

use std::collections::HashMap;

use burn::tensor::{Device, TensorData};
use burn_capture::TensorId;
use burn_ir::{
    AvgPool2dOpIr, BatchNormOpIr, BinaryOpIr, Conv2dOpIr, MatmulOpIr, MaxPool2dOpIr, ScalarOpIr,
    ShapeOpIr, TensorIr, UnaryOpIr,
};

use xai_core::{Result, XaiError};

use super::Precision;
use super::graph::CapturedGraph;
use super::interp::scalar_f64 as scalar;

mod compile;
mod deeplift;
mod kernels;
mod lrp;
mod plan;
mod tile;

pub use deeplift::DeepLiftPass;
pub use lrp::{HostLrpRule, HostLrpRules, LrpPlan};

pub(crate) use compile::Compiler;
use kernels::*;
use tile::*;

/// Most tile positions with two output vectors (24 accumulators of the 32 vector registers).
const MAX_RB_2: usize = 12;
/// Most tile positions with one output vector.
const MAX_RB_1: usize = 16;

/// Rows per forward/backward sub-batch on one core.
pub const SUB_BATCH: usize = 8;

/// Which tile implementation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F intrinsics: 16-lane vectors, 32 registers.
    Avx512,
    /// AVX2 + FMA intrinsics: 8-lane vectors, 16 registers.
    Avx2,
    /// Plain Rust loops: any CPU (the tests' reference; not fast).
    Portable,
}

impl Isa {
    /// The fastest tile this CPU runs, unless `XAI_HOST_ISA` (`avx512`, `avx2`, `portable`)
    /// asks for another one it supports (to measure the AVX2 path on an AVX-512 machine).
    pub fn detect() -> Isa {
        let wanted = std::env::var("XAI_HOST_ISA").ok();
        let order = match wanted.as_deref() {
            Some("avx2") => [Isa::Avx2, Isa::Portable, Isa::Portable],
            Some("portable") => [Isa::Portable; 3],
            _ => [Isa::Avx512, Isa::Avx2, Isa::Portable],
        };
        order
            .into_iter()
            .find(|i| i.supported())
            .unwrap_or(Isa::Portable)
    }

    /// Whether this CPU can run these tiles.
    pub fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            Isa::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Vector lanes, and the most tile positions with two / one output vectors (accumulators
    /// plus weights and a broadcast must fit the register file).
    fn shape(self) -> (usize, usize, usize) {
        match self {
            Isa::Avx512 | Isa::Portable => (16, MAX_RB_2, MAX_RB_1),
            Isa::Avx2 => (8, 6, 12),
        }
    }
}

/// Whether attributions on `device` in `precision` take the host kernels: flex in f32, on a CPU
/// with AVX-512 or AVX2 + FMA (the portable tiles are a reference, slower than burn), unless the
/// environment variable `XAI_HOST_KERNELS` is `off` (to measure burn's path).
fn host_enabled(device: &Device, precision: Precision) -> bool {
    precision == Precision::F32
        && device.clone().inner() == Device::flex()
        && Isa::detect() != Isa::Portable
        && std::env::var("XAI_HOST_KERNELS").map_or(true, |v| v != "off")
}

/// The one gate every method uses: the plan of `g` (from its input, or from node
/// `start_after`'s output) when inputs of `dtype` replayed on `device` in `precision` take the
/// host kernels and the graph is covered; `None` sends the method down burn's path.
pub(crate) fn host_plan(
    g: &CapturedGraph,
    start_after: Option<usize>,
    device: &Device,
    precision: Precision,
    dtype: burn::tensor::DType,
) -> Option<HostPlan> {
    (dtype == burn::tensor::DType::F32 && host_enabled(device, precision))
        .then(|| HostPlan::compile(g, start_after, Isa::detect()))
        .flatten()
}

/// A weight matrix packed for the tile kernel: `rows` reduction rows of `cols` output channels,
/// each row zero-padded to `stride` (a multiple of 16) so that whole vectors can be read.
#[derive(Clone, Debug)]
struct Packed {
    data: Vec<f32>,
    cols: usize,
    stride: usize,
}

impl Packed {
    fn new(rows: usize, cols: usize, at: impl Fn(usize, usize) -> f32) -> Packed {
        let stride = cols.div_ceil(16) * 16;
        let mut data = vec![0.0; rows * stride + 32];
        for r in 0..rows {
            for c in 0..cols {
                data[r * stride + c] = at(r, c);
            }
        }
        Packed { data, cols, stride }
    }
}

/// The geometry of a 2-D window op over one `[c, h, w]` image.
#[derive(Clone, Copy, Debug)]
struct Window {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    /// (top, bottom), (left, right).
    pad: [(usize, usize); 2],
    dil: [usize; 2],
    oh: usize,
    ow: usize,
}

impl Window {
    #[allow(clippy::too_many_arguments)]
    fn new(
        chw: &[usize],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [(usize, usize); 2],
        dil: [usize; 2],
    ) -> Option<Window> {
        let [c, h, w] = <[usize; 3]>::try_from(chw).ok()?;
        let span = |n: usize, p: (usize, usize), k: usize, d: usize, s: usize| {
            let full = n + p.0 + p.1;
            let reach = d * (k.checked_sub(1)?) + 1;
            (s > 0 && full >= reach).then(|| (full - reach) / s + 1)
        };
        Some(Window {
            c,
            h,
            w,
            kh: kernel[0],
            kw: kernel[1],
            stride,
            pad,
            dil,
            oh: span(h, pad[0], kernel[0], dil[0], stride[0])?,
            ow: span(w, pad[1], kernel[1], dil[1], stride[1])?,
        })
    }
}

/// One compiled step; fields are slot indices.
#[derive(Clone, Debug)]
enum Step {
    Conv {
        x: usize,
        out: usize,
        win: Window,
        co: usize,
        /// Rows `(c, i, j)`, columns output channels.
        fwd: Packed,
        /// Zero-padded to the packed width.
        bias: Vec<f32>,
        /// Flipped and transposed (rows `(co, i, j)`, columns input channels) for the input
        /// gradient of a stride-1 convolution; `None` → scalar scatter.
        bwd: Option<Packed>,
        /// `[co, c, kh, kw]` as recorded, for the scatter.
        w: Vec<f32>,
    },
    MaxPool {
        x: usize,
        out: usize,
        win: Window,
    },
    AvgPool {
        x: usize,
        out: usize,
        win: Window,
        include_pad: bool,
    },
    Relu {
        x: usize,
        out: usize,
    },
    Dense {
        x: usize,
        out: usize,
        inputs: usize,
        /// `[in, out]`.
        fwd: Packed,
        /// `[out, in]`.
        bwd: Packed,
    },
    /// `y = scale ⊙ x + shift` with per-row constants (bias adds, BatchNorm at inference,
    /// scalar arithmetic).
    Affine {
        x: usize,
        out: usize,
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    },
    Act {
        x: usize,
        out: usize,
        act: Act,
    },
    Add {
        a: usize,
        b: usize,
        out: usize,
    },
}

impl Step {
    /// The slot the step writes.
    fn out(&self) -> usize {
        match self {
            Step::Conv { out, .. }
            | Step::MaxPool { out, .. }
            | Step::AvgPool { out, .. }
            | Step::Relu { out, .. }
            | Step::Dense { out, .. }
            | Step::Affine { out, .. }
            | Step::Act { out, .. }
            | Step::Add { out, .. } => *out,
        }
    }

    /// The slot a one-input step reads (`None` for a residual add).
    fn input(&self) -> Option<usize> {
        match self {
            Step::Conv { x, .. }
            | Step::MaxPool { x, .. }
            | Step::AvgPool { x, .. }
            | Step::Relu { x, .. }
            | Step::Dense { x, .. }
            | Step::Affine { x, .. }
            | Step::Act { x, .. } => Some(*x),
            Step::Add { .. } => None,
        }
    }

    /// Whether the step reads `slot`.
    fn reads(&self, slot: usize) -> bool {
        match self {
            Step::Add { a, b, .. } => *a == slot || *b == slot,
            _ => self.input() == Some(slot),
        }
    }
}

/// What the reverse pass does at a ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReluRule {
    /// The gradient: `g · 1[x > 0]`.
    #[default]
    Gradient,
    /// Guided backprop: `g · 1[x > 0] · 1[g > 0]`.
    Guided,
    /// Deconvnet: `max(g, 0)`.
    Deconv,
}

/// The host version of a [`RuleSet`](crate::engine::RuleSet)'s reverse pass: what the host
/// kernels can run in its place (anything else takes burn's interpreter).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostRules {
    /// The gradient everywhere, with `ReluRule` at every ReLU (plain, guided, deconvnet).
    Relu(ReluRule),
    /// LRP with ε or z⁺ at dense and convolutional layers.
    Lrp(HostLrpRules),
    /// DeepLIFT's rescale rule at every activation, the gradient at max pools.
    Rescale,
}

/// The four arithmetic ops the host kernels lower to affine steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Arith {
    fn apply(self, u: f32, v: f32) -> f32 {
        match self {
            Arith::Add => u + v,
            Arith::Sub => u - v,
            Arith::Mul => u * v,
            Arith::Div => u / v,
        }
    }
}

/// An element-wise activation other than ReLU.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Act {
    Tanh,
    Sigmoid,
    LeakyRelu(f32),
}

impl Act {
    fn apply(self, v: f32) -> f32 {
        match self {
            Act::Tanh => v.tanh(),
            Act::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Act::LeakyRelu(a) => {
                if v > 0.0 {
                    v
                } else {
                    a * v
                }
            }
        }
    }

    /// `f'(x)` from the input `x` and the output `y`.
    fn slope(self, x: f32, y: f32) -> f32 {
        match self {
            Act::Tanh => 1.0 - y * y,
            Act::Sigmoid => y * (1.0 - y),
            Act::LeakyRelu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
        }
    }
}

/// Broadcast a constant to a row of `row` shape (numpy rules, right-aligned; leading dimensions
/// beyond the row's, i.e. the batch, must be 1). `None` if it does not broadcast.
fn broadcast_row(c: &[f32], cs: &[usize], row: &[usize]) -> Option<Vec<f32>> {
    if cs.len() > row.len() + 1 || (cs.len() == row.len() + 1 && cs[0] != 1) {
        return None;
    }
    let cs = if cs.len() == row.len() + 1 {
        &cs[1..]
    } else {
        cs
    };
    // Right-align the constant's dims against the row's.
    let mut full = vec![1usize; row.len() - cs.len()];
    full.extend_from_slice(cs);
    if full.iter().zip(row).any(|(&a, &b)| a != 1 && a != b)
        || c.len() != full.iter().product::<usize>()
    {
        return None;
    }
    let n: usize = row.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; row.len()];
    for _ in 0..n {
        let mut k = 0;
        for (d, &i) in idx.iter().enumerate() {
            k = k * full[d] + if full[d] == 1 { 0 } else { i };
        }
        out.push(c[k]);
        for d in (0..row.len()).rev() {
            idx[d] += 1;
            if idx[d] < row[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

/// A graph compiled for the host kernels (see the module docs).
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::{Device, Tensor};
/// use xai_grad::engine::CapturedGraph;
/// use xai_grad::engine::host::{HostPlan, Isa};
///
/// let dev = Device::flex();
/// let layer: Linear = LinearConfig::new(3, 2).init(&dev);
/// let x = Tensor::<2>::ones([4, 3], &dev);
/// let g = CapturedGraph::capture(&layer, x, |m, x: Tensor<2>| m.forward(x)).unwrap();
/// let plan = HostPlan::compile(&g, None, Isa::Portable).expect("a dense layer is covered");
/// // ∂ out[r, 1] / ∂ x[r] of a linear layer is column 1 of its [in, out] weight.
/// let grads = plan.class_grads(&[0.5; 6], &[1, 1]).unwrap();
/// let w = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
/// for i in 0..3 {
///     assert!((grads[i] - w[i * 2 + 1]).abs() < 1e-6);
///     assert_eq!(grads[i], grads[3 + i]);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct HostPlan {
    isa: Isa,
    steps: Vec<Step>,
    /// Values per row of each slot.
    sizes: Vec<usize>,
    input: usize,
    output: usize,
    classes: usize,
    /// Node index → the slot of its output, for the nodes the plan runs.
    node_slots: HashMap<usize, usize>,
    relu_rule: ReluRule,
    pool: tile::ScratchPool,
}

enum Value {
    /// A slot, and the per-row shape this tensor sees it with.
    Var(usize, Vec<usize>),
    Const(Vec<f32>, Vec<usize>),
}

fn floats(data: &TensorData) -> Option<Vec<f32>> {
    data.clone().convert::<f32>().try_to_vec::<f32>().ok()
}
