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
    ActivationOperationIr, BaseOperationIr, FloatOperationIr, ModuleOperationIr,
    NumericOperationIr, OperationIr, TensorIr, UnaryOpIr,
};

use xai_core::{Result, XaiError};

use super::Precision;
use super::graph::CapturedGraph;
use super::interp::scalar_f64 as scalar;

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

/// What the reverse pass does at a ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReluRule {
    /// The gradient: `g · 1[x > 0]`.
    #[default]
    Gradient,
    /// Guided backprop: `g · 1[x > 0] · 1[g > 0]`.
    Guided,
    /// Deconvnet: `max(g, 0)`.
    Deconv,
}

/// An element-wise activation other than ReLU.
#[derive(Clone, Copy, Debug)]
enum Act {
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
}

enum Value {
    /// A slot, and the per-row shape this tensor sees it with.
    Var(usize, Vec<usize>),
    Const(Vec<f32>, Vec<usize>),
}

fn floats(data: &TensorData) -> Option<Vec<f32>> {
    data.clone().convert::<f32>().try_to_vec::<f32>().ok()
}

struct Compiler {
    values: HashMap<TensorId, Value>,
    sizes: Vec<usize>,
    steps: Vec<Step>,
}

impl Compiler {
    fn slot(&mut self, per_row: &[usize]) -> usize {
        self.sizes.push(per_row.iter().product());
        self.sizes.len() - 1
    }

    /// The slot of a non-constant tensor, and its per-row shape.
    fn var(&self, t: &TensorIr) -> Option<(usize, Vec<usize>)> {
        match self.values.get(&t.id)? {
            Value::Var(s, shape) => Some((*s, shape.clone())),
            Value::Const(..) => None,
        }
    }

    fn constant(&self, t: &TensorIr) -> Option<(&[f32], &[usize])> {
        match self.values.get(&t.id)? {
            Value::Const(v, s) => Some((v, s)),
            Value::Var(..) => None,
        }
    }

    /// A new slot for `out`, whose recorded shape is `[batch, per_row…]`; `expect` (when given)
    /// must be that per-row shape.
    fn output(&mut self, out: &TensorIr, expect: Option<&[usize]>) -> Option<usize> {
        let rec = out.shape.to_vec();
        let per_row = rec.get(1..)?.to_vec();
        if expect.is_some_and(|e| e != per_row.as_slice()) {
            return None;
        }
        let s = self.slot(&per_row);
        self.values.insert(out.id, Value::Var(s, per_row));
        Some(s)
    }

    /// A pooling window (`[kernel, stride, symmetric padding, dilation]`, no ceil mode) from
    /// value `x` to a new slot for `out`.
    fn pool(
        &mut self,
        x: &TensorIr,
        out: &TensorIr,
        ceil_mode: bool,
        [kernel, stride, p, dil]: [[usize; 2]; 4],
    ) -> Option<(usize, usize, Window)> {
        let (x, xs) = self.var(x)?;
        if ceil_mode {
            return None;
        }
        let win = Window::new(&xs, kernel, stride, [(p[0], p[0]), (p[1], p[1])], dil)?;
        let out = self.output(out, Some(&[win.c, win.oh, win.ow]))?;
        Some((x, out, win))
    }

    fn act(&mut self, d: &UnaryOpIr, act: Act) -> Option<()> {
        let (x, row) = self.var(&d.input)?;
        let out = self.output(&d.out, Some(&row))?;
        self.steps.push(Step::Act { x, out, act });
        Some(())
    }

    /// A unary op on a constant becomes a constant.
    fn fold(&mut self, d: &UnaryOpIr, f: impl Fn(f32) -> f32) -> Option<()> {
        let (c, cs) = self.constant(&d.input)?;
        let v = c.iter().map(|&v| f(v)).collect();
        let cs = cs.to_vec();
        self.values.insert(d.out.id, Value::Const(v, cs));
        Some(())
    }

    fn affine(
        &mut self,
        x: usize,
        row: Vec<usize>,
        out: &TensorIr,
        scale: Option<Vec<f32>>,
        shift: Option<Vec<f32>>,
    ) -> Option<()> {
        let out = self.output(out, Some(&row))?;
        self.steps.push(Step::Affine {
            x,
            out,
            scale,
            shift,
        });
        Some(())
    }

    /// Add, subtract, multiply, divide: of two values of one shape (add only), of a value and a
    /// broadcast constant, of a value and a scalar, or of constants (folded).
    fn numeric(&mut self, n: &NumericOperationIr) -> Option<()> {
        use NumericOperationIr as N;
        match n {
            N::Add(d) | N::Sub(d) | N::Mul(d) | N::Div(d) => {
                let (lhs, rhs) = (self.var(&d.lhs), self.var(&d.rhs));
                match (lhs, rhs) {
                    (Some((a, sa)), Some((b, sb))) => {
                        if sa != sb || !matches!(n, N::Add(_)) {
                            return None;
                        }
                        let out = self.output(&d.out, Some(&sa))?;
                        self.steps.push(Step::Add { a, b, out });
                    }
                    (Some((x, row)), None) => {
                        let (c, cs) = self.constant(&d.rhs)?;
                        let c = broadcast_row(c, cs, &row)?;
                        match n {
                            N::Add(_) => self.affine(x, row, &d.out, None, Some(c))?,
                            N::Sub(_) => {
                                let c = c.iter().map(|v| -v).collect();
                                self.affine(x, row, &d.out, None, Some(c))?
                            }
                            N::Mul(_) => self.affine(x, row, &d.out, Some(c), None)?,
                            _ => {
                                let c = c.iter().map(|v| 1.0 / v).collect();
                                self.affine(x, row, &d.out, Some(c), None)?
                            }
                        }
                    }
                    (None, Some((x, row))) => {
                        let (c, cs) = self.constant(&d.lhs)?;
                        let c = broadcast_row(c, cs, &row)?;
                        match n {
                            N::Add(_) => self.affine(x, row, &d.out, None, Some(c))?,
                            N::Mul(_) => self.affine(x, row, &d.out, Some(c), None)?,
                            N::Sub(_) => {
                                let minus = vec![-1.0; c.len()];
                                self.affine(x, row, &d.out, Some(minus), Some(c))?
                            }
                            _ => return None, // c / x
                        }
                    }
                    (None, None) => {
                        let (a, sa) = self.constant(&d.lhs)?;
                        let (b, sb) = self.constant(&d.rhs)?;
                        if sa != sb {
                            return None;
                        }
                        let f = |u: f32, v: f32| match n {
                            N::Add(_) => u + v,
                            N::Sub(_) => u - v,
                            N::Mul(_) => u * v,
                            _ => u / v,
                        };
                        let v = a.iter().zip(b).map(|(&u, &v)| f(u, v)).collect();
                        let shape = sa.to_vec();
                        self.values.insert(d.out.id, Value::Const(v, shape));
                    }
                }
            }
            N::AddScalar(d) | N::SubScalar(d) | N::MulScalar(d) | N::DivScalar(d) => {
                let k = scalar(&d.rhs) as f32;
                let f = |v: f32| match n {
                    N::AddScalar(_) => v + k,
                    N::SubScalar(_) => v - k,
                    N::MulScalar(_) => v * k,
                    _ => v / k,
                };
                if let Some((c, cs)) = self.constant(&d.lhs) {
                    let v = c.iter().map(|&v| f(v)).collect();
                    let cs = cs.to_vec();
                    self.values.insert(d.out.id, Value::Const(v, cs));
                    return Some(());
                }
                let (x, row) = self.var(&d.lhs)?;
                let len = self.sizes[x];
                match n {
                    N::AddScalar(_) | N::SubScalar(_) => {
                        self.affine(x, row, &d.out, None, Some(vec![f(0.0); len]))?
                    }
                    _ => self.affine(x, row, &d.out, Some(vec![f(1.0); len]), None)?,
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn step(&mut self, op: &OperationIr) -> Option<()> {
        match op {
            OperationIr::Init(_) | OperationIr::Drop(_) => {}
            OperationIr::BaseFloat(BaseOperationIr::Reshape(d)) => {
                if let Some((v, _)) = self.constant(&d.input) {
                    let v = v.to_vec();
                    self.values
                        .insert(d.out.id, Value::Const(v, d.out.shape.to_vec()));
                } else {
                    let (s, _) = self.var(&d.input)?;
                    let (rin, rout) = (d.input.shape.to_vec(), d.out.shape.to_vec());
                    // Same batch, same values per row: the same slot seen with another shape
                    // (row-major, like burn).
                    let per_row = rout.get(1..)?.to_vec();
                    if rin.first() != rout.first()
                        || per_row.iter().product::<usize>() != self.sizes[s]
                    {
                        return None;
                    }
                    self.values.insert(d.out.id, Value::Var(s, per_row));
                }
            }
            OperationIr::Module(ModuleOperationIr::Conv2d(d)) => {
                let (x, xs) = self.var(&d.x)?;
                let (w, ws) = self.constant(&d.weight)?;
                let [co, c, kh, kw] = <[usize; 4]>::try_from(ws).ok()?;
                let bias = match &d.bias {
                    Some(b) => {
                        let (b, _) = self.constant(b)?;
                        (b.len() == co).then(|| b.to_vec())?
                    }
                    None => vec![0.0; co],
                };
                let o = &d.options;
                if o.groups != 1 {
                    return None;
                }
                let win = Window::new(&xs, [kh, kw], o.stride, o.padding, o.dilation)?;
                if win.c != c {
                    return None;
                }
                let w = w.to_vec();
                let k = kh * kw;
                let fwd = Packed::new(c * k, co, |r, col| w[col * c * k + r]);
                let mut bias_p = bias.clone();
                bias_p.resize(fwd.stride + 32, 0.0);
                let flip_ok = o.stride == [1, 1]
                    && o.padding[0].0 <= o.dilation[0] * (kh - 1)
                    && o.padding[0].1 <= o.dilation[0] * (kh - 1)
                    && o.padding[1].0 <= o.dilation[1] * (kw - 1)
                    && o.padding[1].1 <= o.dilation[1] * (kw - 1);
                let bwd = flip_ok.then(|| {
                    Packed::new(co * k, c, |r, col| {
                        let (oc, ij) = (r / k, r % k);
                        let (i, j) = (ij / kw, ij % kw);
                        w[((oc * c + col) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]
                    })
                });
                let out = self.output(&d.out, Some(&[co, win.oh, win.ow]))?;
                self.steps.push(Step::Conv {
                    x,
                    out,
                    win,
                    co,
                    fwd,
                    bias: bias_p,
                    bwd,
                    w,
                });
            }
            OperationIr::Module(ModuleOperationIr::MaxPool2d(d)) => {
                let (x, out, win) = self.pool(
                    &d.x,
                    &d.out,
                    d.ceil_mode,
                    [d.kernel_size, d.stride, d.padding, d.dilation],
                )?;
                self.steps.push(Step::MaxPool { x, out, win });
            }
            OperationIr::Module(ModuleOperationIr::AvgPool2d(d)) => {
                let (x, out, win) = self.pool(
                    &d.x,
                    &d.out,
                    d.ceil_mode,
                    [d.kernel_size, d.stride, d.padding, [1, 1]],
                )?;
                self.steps.push(Step::AvgPool {
                    x,
                    out,
                    win,
                    include_pad: d.count_include_pad,
                });
            }
            OperationIr::Activation(ActivationOperationIr::Relu(d)) => {
                let (x, shape) = self.var(&d.input)?;
                let out = self.output(&d.out, Some(&shape))?;
                self.steps.push(Step::Relu { x, out });
            }
            OperationIr::Float(_, FloatOperationIr::Matmul(d)) => {
                let (x, xs) = self.var(&d.lhs)?;
                let (w, ws) = self.constant(&d.rhs)?;
                let [inputs, outputs] = <[usize; 2]>::try_from(ws).ok()?;
                if xs != [inputs] {
                    return None;
                }
                let w = w.to_vec();
                let fwd = Packed::new(inputs, outputs, |r, c| w[r * outputs + c]);
                let bwd = Packed::new(outputs, inputs, |r, c| w[c * outputs + r]);
                let out = self.output(&d.out, Some(&[outputs]))?;
                self.steps.push(Step::Dense {
                    x,
                    out,
                    inputs,
                    fwd,
                    bwd,
                });
            }
            OperationIr::Module(ModuleOperationIr::BatchNorm(d)) => {
                // Inference BatchNorm is per channel affine: x·γ/√(σ²+ε) + β − μ·γ/√(σ²+ε).
                let (x, row) = self.var(&d.x)?;
                let eps = scalar(&d.epsilon) as f32;
                let ch = *row.first()?;
                let get = |t: &TensorIr| {
                    self.constant(t)
                        .and_then(|(v, _)| (v.len() == ch).then(|| v.to_vec()))
                };
                let (g, b, m, v) = (
                    get(&d.gamma)?,
                    get(&d.beta)?,
                    get(&d.mean)?,
                    get(&d.variance)?,
                );
                let k: Vec<f32> = (0..ch).map(|c| g[c] / (v[c] + eps).sqrt()).collect();
                let spatial = self.sizes[x] / ch.max(1);
                let scale = (0..self.sizes[x]).map(|i| k[i / spatial]).collect();
                let shift = (0..self.sizes[x])
                    .map(|i| b[i / spatial] - m[i / spatial] * k[i / spatial])
                    .collect();
                self.affine(x, row, &d.out, Some(scale), Some(shift))?;
            }
            OperationIr::NumericFloat(_, n) => self.numeric(n)?,
            OperationIr::Float(_, FloatOperationIr::Tanh(d)) => self.act(d, Act::Tanh)?,
            OperationIr::Activation(ActivationOperationIr::Sigmoid(d)) => {
                self.act(d, Act::Sigmoid)?
            }
            OperationIr::Activation(ActivationOperationIr::LeakyRelu(d)) => {
                let (x, row) = self.var(&d.lhs)?;
                let out = self.output(&d.out, Some(&row))?;
                let act = Act::LeakyRelu(scalar(&d.rhs) as f32);
                self.steps.push(Step::Act { x, out, act });
            }
            OperationIr::Float(_, FloatOperationIr::Sqrt(d)) => self.fold(d, f32::sqrt)?,
            OperationIr::Float(_, FloatOperationIr::Recip(d)) => self.fold(d, |v| 1.0 / v)?,
            _ => return None,
        }
        Some(())
    }
}

impl HostPlan {
    /// Compile `g` from its input (`start_after = None`), or from the output of node
    /// `start_after` (the nodes up to it are skipped, as for an affine input prefix). `None`
    /// when an op, a shape or a value is outside what the host kernels run.
    pub fn compile(g: &CapturedGraph, start_after: Option<usize>, isa: Isa) -> Option<HostPlan> {
        if g.relu_softplus.is_some() || g.inputs.len() != 1 || g.outputs.len() != 1 {
            return None;
        }
        let input_ids: Vec<TensorId> = g.inputs.iter().map(|t| t.id).collect();
        let mut cx = Compiler {
            values: HashMap::new(),
            sizes: Vec::new(),
            steps: Vec::new(),
        };
        for (id, data) in &g.constants {
            if !input_ids.contains(id) {
                cx.values
                    .insert(*id, Value::Const(floats(data)?, data.shape().to_vec()));
            }
        }
        let (start, first) = match start_after {
            Some(k) => (g.nodes.get(k)?.op.outputs().next()?.clone(), k + 1),
            None => (g.inputs[0].clone(), 0),
        };
        let per_row = start.shape.to_vec().get(1..)?.to_vec();
        let input = cx.slot(&per_row);
        cx.values.insert(start.id, Value::Var(input, per_row));
        let mut node_slots = HashMap::new();
        for (k, node) in g.nodes.iter().enumerate().skip(first) {
            cx.step(&node.op)?;
            if let Some(out) = node.op.outputs().next()
                && let Some((slot, _)) = cx.var(out)
            {
                node_slots.insert(k, slot);
            }
        }
        let (output, out_shape) = cx.var(&g.outputs[0])?;
        let classes = match out_shape.as_slice() {
            [c] => *c,
            _ => return None,
        };
        Some(HostPlan {
            isa: if isa.supported() { isa } else { Isa::Portable },
            steps: cx.steps,
            sizes: cx.sizes,
            input,
            output,
            classes,
            node_slots,
            relu_rule: ReluRule::Gradient,
        })
    }

    /// Values per row of the start tensor.
    pub fn row_len(&self) -> usize {
        self.sizes[self.input]
    }

    /// The same plan with another backward rule at every ReLU (guided backprop, deconvnet).
    pub fn with_relu_rule(mut self, rule: ReluRule) -> HostPlan {
        self.relu_rule = rule;
        self
    }

    /// The same plan with another tile implementation (tests compare them).
    ///
    /// An ISA this CPU lacks is replaced by [`Isa::Portable`] (never an illegal instruction).
    pub fn with_isa(mut self, isa: Isa) -> HostPlan {
        self.isa = if isa.supported() { isa } else { Isa::Portable };
        self
    }

    fn check_classes(&self, classes: &[usize]) -> Result<()> {
        match classes.iter().find(|&&c| c >= self.classes) {
            Some(c) => Err(XaiError::Config(format!(
                "target class {c} out of range for {} outputs",
                self.classes
            ))),
            None => Ok(()),
        }
    }

    /// `∂ (Σ_r out[r, classes[r]]) / ∂ start` for the rows of `x` (row-major, [`row_len`](Self::row_len) values each).
    pub fn class_grads(&self, x: &[f32], classes: &[usize]) -> Result<Vec<f32>> {
        let p = self.row_len();
        if x.len() != classes.len() * p {
            return Err(XaiError::shape(
                "host kernel input",
                format!("{} rows of {p}", classes.len()),
                &[x.len()],
            ));
        }
        self.check_classes(classes)?;
        let parts = self.split_rows(
            classes.len(),
            |range| vec![0.0f32; range.len() * p],
            |r, row| row.copy_from_slice(&x[r * p..(r + 1) * p]),
            |r| classes[r],
            |acc, range, r, g| {
                let at = (r - range.start) * p;
                acc[at..at + p].copy_from_slice(g);
            },
        );
        Ok(parts.concat())
    }

    /// `Σ_k weights[k] · ∇_z f_{class_i}(start_i + alphas[k] · delta_i)` for every row `i` of
    /// `start` / `delta` (row-major, [`row_len`](Self::row_len) values each): the
    /// integrated-gradients sum, with the interpolated points built a sub-batch at a time.
    pub fn path_integral(
        &self,
        start: &[f32],
        delta: &[f32],
        alphas: &[f64],
        weights: &[f64],
        classes: &[usize],
    ) -> Result<Vec<f32>> {
        let p = self.row_len();
        let n = classes.len();
        if start.len() != n * p || delta.len() != n * p || alphas.len() != weights.len() {
            return Err(XaiError::shape(
                "host kernel path",
                format!("{n} rows of {p}"),
                &[start.len(), delta.len()],
            ));
        }
        self.check_classes(classes)?;
        // Row r is step r / n of sample r % n.
        let parts = self.split_rows(
            n * alphas.len(),
            |_| vec![0.0f32; n * p],
            |r, row| {
                let (k, i) = (r / n, r % n);
                let a = alphas[k] as f32;
                let (s, d) = (&start[i * p..(i + 1) * p], &delta[i * p..(i + 1) * p]);
                for ((o, &s), &d) in row.iter_mut().zip(s).zip(d) {
                    *o = s + a * d;
                }
            },
            |r| classes[r % n],
            |acc, _, r, g| {
                let (k, i) = (r / n, r % n);
                let w = weights[k] as f32;
                for (a, &g) in acc[i * p..(i + 1) * p].iter_mut().zip(g) {
                    *a += w * g;
                }
            },
        );
        let mut total = vec![0.0f32; n * p];
        for part in parts {
            for (t, v) in total.iter_mut().zip(part) {
                *t += v;
            }
        }
        Ok(total)
    }

    /// Split `rows` into one contiguous range per core; each core fills sub-batches of its
    /// rows, runs them, and folds every row's gradient into its accumulator. The accumulators
    /// come back in range order (deterministic: the split depends only on `rows` and the core
    /// count).
    fn split_rows<A: Send>(
        &self,
        rows: usize,
        make: impl Fn(std::ops::Range<usize>) -> A + Sync,
        fill: impl Fn(usize, &mut [f32]) + Sync,
        class: impl Fn(usize) -> usize + Sync,
        fold: impl Fn(&mut A, &std::ops::Range<usize>, usize, &[f32]) + Sync,
    ) -> Vec<A> {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let parts = cores.min(rows.div_ceil(SUB_BATCH)).max(1);
        let per = rows.div_ceil(parts);
        let p = self.row_len();
        let work = |range: std::ops::Range<usize>| {
            let mut acc = make(range.clone());
            let mut scratch = Scratch::default();
            let mut start = range.start;
            while start < range.end {
                let end = (start + SUB_BATCH).min(range.end);
                let b = end - start;
                let mut x = std::mem::take(&mut scratch.input);
                x.clear();
                x.resize(b * p, 0.0);
                for r in start..end {
                    fill(r, &mut x[(r - start) * p..(r - start + 1) * p]);
                }
                let cls: Vec<usize> = (start..end).map(&class).collect();
                let g = self.grads_batch(x, &cls, &mut scratch);
                for r in start..end {
                    fold(
                        &mut acc,
                        &range,
                        r,
                        &g[(r - start) * p..(r - start + 1) * p],
                    );
                }
                scratch.input = g;
                start = end;
            }
            acc
        };
        let ranges: Vec<_> = (0..parts)
            .map(|i| (i * per).min(rows)..((i + 1) * per).min(rows))
            .collect();
        if parts == 1 {
            return ranges.into_iter().map(work).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = ranges
                .into_iter()
                .map(|r| {
                    let work = &work;
                    s.spawn(move || work(r))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// Forward and backward of one sub-batch; returns the gradient rows.
    fn grads_batch(&self, x: Vec<f32>, classes: &[usize], sc: &mut Scratch) -> Vec<f32> {
        let b = classes.len();
        self.run_forward(x, b, sc);
        // Seed: one-hot rows at the target classes.
        let mut seed = std::mem::take(&mut sc.cots[self.output]);
        seed.clear();
        seed.resize(b * self.classes, 0.0);
        for (r, &c) in classes.iter().enumerate() {
            seed[r * self.classes + c] = 1.0;
        }
        self.run_backward(self.output, seed, b, sc)
    }

    fn run_forward(&self, x: Vec<f32>, b: usize, sc: &mut Scratch) {
        let n = self.sizes.len();
        sc.vals.resize_with(n, Vec::new);
        sc.cots.resize_with(n, Vec::new);
        sc.live.clear();
        sc.live.resize(n, false);
        sc.indices.resize_with(self.steps.len(), Vec::new);
        sc.vals[self.input] = x;
        for (si, step) in self.steps.iter().enumerate() {
            self.forward(step, si, b, sc);
        }
    }

    /// Backward from `seed` at `slot` (after [`run_forward`](Self::run_forward)); returns the
    /// cotangent of the start rows.
    fn run_backward(&self, slot: usize, seed: Vec<f32>, b: usize, sc: &mut Scratch) -> Vec<f32> {
        sc.cots[slot] = seed;
        sc.live[slot] = true;
        for (si, step) in self.steps.iter().enumerate().rev() {
            self.backward(step, si, b, sc);
        }
        if !sc.live[self.input] {
            return vec![0.0; b * self.row_len()];
        }
        std::mem::take(&mut sc.cots[self.input])
    }

    /// Run `f` on sub-batches of the rows of `x` on this thread and concatenate its results.
    fn batched(
        &self,
        x: &[f32],
        mut f: impl FnMut(std::ops::Range<usize>, Vec<f32>, &mut Scratch) -> Vec<f32>,
    ) -> Result<Vec<f32>> {
        let p = self.row_len();
        if p == 0 || !x.len().is_multiple_of(p) {
            return Err(XaiError::shape(
                "host kernel input",
                format!("rows of {p}"),
                &[x.len()],
            ));
        }
        let rows = x.len() / p;
        let mut sc = Scratch::default();
        let mut out = Vec::new();
        for start in (0..rows).step_by(SUB_BATCH) {
            let end = (start + SUB_BATCH).min(rows);
            out.extend(f(start..end, x[start * p..end * p].to_vec(), &mut sc));
        }
        Ok(out)
    }

    fn node_slot(&self, node: usize) -> Result<usize> {
        self.node_slots
            .get(&node)
            .copied()
            .ok_or_else(|| XaiError::UnknownNode(format!("#{node} (not run by the host plan)")))
    }

    /// The model's outputs `[rows, classes]` for the rows of `x`.
    pub fn outputs(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.batched(x, |r, xb, sc| {
            self.run_forward(xb, r.len(), sc);
            std::mem::take(&mut sc.vals[self.output])
        })
    }

    /// The value of node `node`'s output for the rows of `x` (row-major).
    pub fn value_at(&self, x: &[f32], node: usize) -> Result<Vec<f32>> {
        let slot = self.node_slot(node)?;
        self.batched(x, |r, xb, sc| {
            self.run_forward(xb, r.len(), sc);
            std::mem::take(&mut sc.vals[slot])
        })
    }

    /// Node `node`'s output and the gradient of `Σ_r out[r, classes[r]]` with respect to it,
    /// for the rows of `x` (both row-major, shaped like the node's output): what Grad-CAM reads.
    pub fn value_and_grad_at(
        &self,
        x: &[f32],
        node: usize,
        classes: &[usize],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let slot = self.node_slot(node)?;
        let per = self.sizes[slot];
        if x.len() != classes.len() * self.row_len() {
            return Err(XaiError::shape(
                "host kernel input",
                format!("{} rows of {}", classes.len(), self.row_len()),
                &[x.len()],
            ));
        }
        self.check_classes(classes)?;
        let mut values = Vec::with_capacity(classes.len() * per);
        let grads = self.batched(x, |r, xb, sc| {
            let b = r.len();
            self.run_forward(xb, b, sc);
            values.extend_from_slice(&sc.vals[slot]);
            sc.cots[slot].clear();
            let mut seed = std::mem::take(&mut sc.cots[self.output]);
            seed.clear();
            seed.resize(b * self.classes, 0.0);
            for (i, &c) in classes[r.clone()].iter().enumerate() {
                seed[i * self.classes + c] = 1.0;
            }
            let at_input = self.run_backward(self.output, seed, b, sc);
            if slot == self.input {
                return at_input;
            }
            // A step's output cotangent is put back after its step ran; a slot the target does
            // not reach keeps the cleared (empty) buffer.
            let g = std::mem::take(&mut sc.cots[slot]);
            if g.len() == b * per {
                g
            } else {
                vec![0.0; b * per]
            }
        })?;
        Ok((values, grads))
    }

    /// The vector-Jacobian product `cotᵀ ∂ node / ∂ start` for the rows of `x`, where `cot`
    /// holds one cotangent row per input row, shaped like node `node`'s output.
    pub fn vjp_at(&self, x: &[f32], node: usize, cot: &[f32]) -> Result<Vec<f32>> {
        let slot = self.node_slot(node)?;
        let per = self.sizes[slot];
        let rows = x.len() / self.row_len().max(1);
        if cot.len() != rows * per {
            return Err(XaiError::shape(
                "host kernel cotangent",
                format!("{rows} rows of {per}"),
                &[cot.len()],
            ));
        }
        self.batched(x, |r, xb, sc| {
            let b = r.len();
            self.run_forward(xb, b, sc);
            let seed = cot[r.start * per..r.end * per].to_vec();
            self.run_backward(slot, seed, b, sc)
        })
    }

    fn forward(&self, step: &Step, si: usize, b: usize, sc: &mut Scratch) {
        let isa = self.isa;
        // Every forward step writes all of its output, so a reused buffer is not zeroed first
        // (only a grown one is, by `resize`).
        let dst = |sc: &mut Scratch, out: usize| {
            let mut v = std::mem::take(&mut sc.vals[out]);
            v.resize(b * self.sizes[out], 0.0);
            v
        };
        match step {
            Step::Conv {
                x,
                out,
                win,
                fwd,
                bias,
                ..
            } => {
                let mut y = dst(sc, *out);
                let (xs, per_in, per_out) = (&sc.vals[*x], self.sizes[*x], self.sizes[*out]);
                sc.pads.resize_with(2 * self.steps.len(), Vec::new);
                let pad = &mut sc.pads[2 * si];
                for r in 0..b {
                    conv_image(
                        isa,
                        &xs[r * per_in..(r + 1) * per_in],
                        win,
                        fwd,
                        Some(bias),
                        pad,
                        &mut y[r * per_out..(r + 1) * per_out],
                        false,
                    );
                }
                sc.vals[*out] = y;
            }
            Step::MaxPool { x, out, win } => {
                let mut y = dst(sc, *out);
                let mut idx = std::mem::take(&mut sc.indices[si]);
                idx.clear();
                idx.resize(y.len(), 0);
                max_pool(self.isa, &sc.vals[*x], win, b, &mut y, &mut idx);
                sc.indices[si] = idx;
                sc.vals[*out] = y;
            }
            Step::AvgPool {
                x,
                out,
                win,
                include_pad,
            } => {
                let mut y = dst(sc, *out);
                avg_pool(&sc.vals[*x], win, *include_pad, b, Some(&mut y), None);
                sc.vals[*out] = y;
            }
            Step::Relu { x, out } => {
                let mut y = dst(sc, *out);
                for (o, &v) in y.iter_mut().zip(&sc.vals[*x]) {
                    *o = v.max(0.0);
                }
                sc.vals[*out] = y;
            }
            Step::Dense {
                x,
                out,
                inputs,
                fwd,
                ..
            } => {
                let mut y = dst(sc, *out);
                dense(isa, &sc.vals[*x], b, *inputs, fwd, &mut y);
                sc.vals[*out] = y;
            }
            Step::Affine {
                x,
                out,
                scale,
                shift,
            } => {
                let mut y = dst(sc, *out);
                let per = self.sizes[*x];
                for (ys, xs) in y.chunks_exact_mut(per).zip(sc.vals[*x].chunks_exact(per)) {
                    ys.copy_from_slice(xs);
                    if let Some(a) = scale {
                        for (o, &a) in ys.iter_mut().zip(a) {
                            *o *= a;
                        }
                    }
                    if let Some(c) = shift {
                        for (o, &c) in ys.iter_mut().zip(c) {
                            *o += c;
                        }
                    }
                }
                sc.vals[*out] = y;
            }
            Step::Act { x, out, act } => {
                let mut y = dst(sc, *out);
                for (o, &v) in y.iter_mut().zip(&sc.vals[*x]) {
                    *o = act.apply(v);
                }
                sc.vals[*out] = y;
            }
            Step::Add { a, b: bb, out } => {
                let mut y = dst(sc, *out);
                for ((o, &u), &v) in y.iter_mut().zip(&sc.vals[*a]).zip(&sc.vals[*bb]) {
                    *o = u + v;
                }
                sc.vals[*out] = y;
            }
        }
    }

    /// Add `g` (the cotangent of some step's output) into slot `x`'s cotangent.
    fn accumulate(sc: &mut Scratch, x: usize, len: usize, add: impl FnOnce(&mut [f32])) {
        if !sc.live[x] {
            let mut c = std::mem::take(&mut sc.cots[x]);
            c.clear();
            c.resize(len, 0.0);
            sc.cots[x] = c;
            sc.live[x] = true;
        }
        add(&mut sc.cots[x]);
    }

    /// Add `values` into slot `x`'s cotangent; the first contribution is written, not added
    /// to zeros.
    fn add_into(sc: &mut Scratch, x: usize, values: impl Iterator<Item = f32>) {
        let c = &mut sc.cots[x];
        if sc.live[x] {
            for (o, v) in c.iter_mut().zip(values) {
                *o += v;
            }
        } else {
            c.clear();
            c.extend(values);
            sc.live[x] = true;
        }
    }

    fn backward(&self, step: &Step, si: usize, b: usize, sc: &mut Scratch) {
        let isa = self.isa;
        let out = match step {
            Step::Conv { out, .. }
            | Step::MaxPool { out, .. }
            | Step::AvgPool { out, .. }
            | Step::Relu { out, .. }
            | Step::Dense { out, .. }
            | Step::Affine { out, .. }
            | Step::Act { out, .. }
            | Step::Add { out, .. } => *out,
        };
        if !sc.live[out] {
            return;
        }
        sc.live[out] = false;
        let g = std::mem::take(&mut sc.cots[out]);
        match step {
            Step::Conv {
                x, win, co, bwd, w, ..
            } => {
                let (per_in, per_out) = (self.sizes[*x], self.sizes[out]);
                sc.pads.resize_with(2 * self.steps.len(), Vec::new);
                let mut pad = std::mem::take(&mut sc.pads[2 * si + 1]);
                if let (Some(p), false) = (bwd, sc.live[*x]) {
                    // First contribution through the flipped convolution: it writes every
                    // input position, so the buffer needs no zero fill.
                    let mut gx = std::mem::take(&mut sc.cots[*x]);
                    gx.resize(b * per_in, 0.0);
                    for r in 0..b {
                        let gr = &g[r * per_out..(r + 1) * per_out];
                        let xr = &mut gx[r * per_in..(r + 1) * per_in];
                        conv_input_grad_flipped(isa, gr, win, *co, p, &mut pad, xr, false);
                    }
                    sc.cots[*x] = gx;
                    sc.live[*x] = true;
                    sc.pads[2 * si + 1] = pad;
                    sc.cots[out] = g;
                    return;
                }
                Self::accumulate(sc, *x, b * per_in, |gx| {
                    for r in 0..b {
                        let gr = &g[r * per_out..(r + 1) * per_out];
                        let xr = &mut gx[r * per_in..(r + 1) * per_in];
                        match bwd {
                            Some(p) => {
                                conv_input_grad_flipped(isa, gr, win, *co, p, &mut pad, xr, true)
                            }
                            None => conv_input_grad_scatter(gr, win, *co, w, xr),
                        }
                    }
                });
                sc.pads[2 * si + 1] = pad;
            }
            Step::MaxPool { x, win, .. } => {
                let idx = &sc.indices[si];
                let per_in = self.sizes[*x];
                let per_out = self.sizes[out];
                let mut cot = std::mem::take(&mut sc.cots[*x]);
                let fresh = !sc.live[*x];
                if fresh {
                    cot.clear();
                    cot.resize(b * per_in, 0.0);
                }
                let plane_in = win.h * win.w;
                let plane_out = win.oh * win.ow;
                for r in 0..b {
                    for ch in 0..win.c {
                        let base_in = r * per_in + ch * plane_in;
                        let base_out = r * per_out + ch * plane_out;
                        for o in 0..plane_out {
                            cot[base_in + idx[base_out + o] as usize] += g[base_out + o];
                        }
                    }
                }
                sc.cots[*x] = cot;
                sc.live[*x] = true;
            }
            Step::AvgPool {
                x,
                win,
                include_pad,
                ..
            } => {
                let len = b * self.sizes[*x];
                Self::accumulate(sc, *x, len, |gx| {
                    avg_pool(&g, win, *include_pad, b, None, Some(gx))
                });
            }
            Step::Relu { x, .. } => {
                let y = std::mem::take(&mut sc.vals[out]);
                // One loop per rule (a rule test inside the loop stops it vectorising).
                let pairs = g.iter().zip(&y);
                match self.relu_rule {
                    ReluRule::Gradient => Self::add_into(
                        sc,
                        *x,
                        pairs.map(|(&gv, &yv)| if yv > 0.0 { gv } else { 0.0 }),
                    ),
                    ReluRule::Guided => Self::add_into(
                        sc,
                        *x,
                        pairs.map(|(&gv, &yv)| if yv > 0.0 && gv > 0.0 { gv } else { 0.0 }),
                    ),
                    ReluRule::Deconv => {
                        Self::add_into(sc, *x, g.iter().map(|&gv| if gv > 0.0 { gv } else { 0.0 }))
                    }
                }
                sc.vals[out] = y;
            }
            Step::Dense { x, inputs, bwd, .. } => {
                let outputs = self.sizes[out];
                let mut tmp = std::mem::take(&mut sc.pad);
                tmp.clear();
                tmp.resize(b * inputs, 0.0);
                dense(isa, &g, b, outputs, bwd, &mut tmp);
                Self::add_into(sc, *x, tmp.iter().copied());
                sc.pad = tmp;
            }
            Step::Affine { x, scale, .. } => match scale {
                None => Self::add_into(sc, *x, g.iter().copied()),
                Some(a) => {
                    let per = a.len();
                    let scaled = g.iter().enumerate().map(|(k, &v)| v * a[k % per]);
                    Self::add_into(sc, *x, scaled);
                }
            },
            Step::Act { x, act, .. } => {
                let (xs, ys) = (
                    std::mem::take(&mut sc.vals[*x]),
                    std::mem::take(&mut sc.vals[out]),
                );
                let through = g
                    .iter()
                    .zip(xs.iter().zip(&ys))
                    .map(|(&gv, (&xv, &yv))| gv * act.slope(xv, yv));
                Self::add_into(sc, *x, through);
                sc.vals[*x] = xs;
                sc.vals[out] = ys;
            }
            Step::Add { a, b: bb, .. } => {
                for s in [*a, *bb] {
                    Self::add_into(sc, s, g.iter().copied());
                }
            }
        }
        sc.cots[out] = g;
    }
}

/// Buffers reused between sub-batches (no allocation in the steady state).
#[derive(Default)]
struct Scratch {
    input: Vec<f32>,
    vals: Vec<Vec<f32>>,
    cots: Vec<Vec<f32>>,
    live: Vec<bool>,
    indices: Vec<Vec<u32>>,
    pad: Vec<f32>,
    /// Zero-padded images, one buffer per conv step and direction: their borders are zeroed
    /// once and only the interiors are rewritten.
    pads: Vec<Vec<f32>>,
}

/// Where a tile reads: tile row `r` and reduction index `(ci, i, j)` read
/// `x[r·row_step + ci·chan + i·kernel_row + j·kernel_col]`, against packed weight row
/// `(ci·kh + i)·kw + j`.
#[derive(Clone, Copy)]
struct TileArgs {
    x: *const f32,
    row_step: usize,
    chan: usize,
    kernel_row: usize,
    kernel_col: usize,
    c: usize,
    kh: usize,
    kw: usize,
    w: *const f32,
    w_stride: usize,
    bias: Option<*const f32>,
}

/// One tile's results, as [`run_tiles`] hands them out.
struct TileOut<'a> {
    first: usize,
    positions: usize,
    col0: usize,
    width: usize,
    rows: &'a [[f32; 32]; MAX_RB_1],
}

/// Run the tile kernel over `positions` tile rows and every column block of `w`;
/// `emit(tile)` receives each tile's results (`tile.rows[r][k]` is position `first + r`,
/// column `col0 + k`).
///
/// # Safety
/// Every address `args` can form for `positions` rows must lie inside live buffers, and `w` /
/// `bias` must hold `w.stride` (+ 32 spare) columns.
unsafe fn run_tiles(
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
        let mut a = args;
        // SAFETY: col0 < cols ≤ stride; the packed rows are padded by 32 columns.
        unsafe {
            a.w = args.w.add(col0);
            a.bias = args.bias.map(|b| b.add(col0));
        }
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

unsafe fn tile(isa: Isa, rb: usize, nv: usize, a: &TileArgs, out: &mut [[f32; 32]; MAX_RB_1]) {
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

simd_tile!(
    /// The AVX-512 tile: 16-lane vectors (a column block is 32 channels).
    ///
    /// # Safety
    /// See [`run_tiles`]; the CPU must support AVX-512F.
    tile_avx512, "avx512f", 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps,
    _mm512_fmadd_ps, _mm512_storeu_ps
);

simd_tile!(
    /// The AVX2 + FMA tile: 8-lane vectors (a column block is 16 channels).
    ///
    /// # Safety
    /// See [`run_tiles`]; the CPU must support AVX2 and FMA.
    tile_avx2, "avx2,fma", 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps,
    _mm256_fmadd_ps, _mm256_storeu_ps
);

/// The same tile in plain Rust.
///
/// # Safety
/// See [`run_tiles`].
unsafe fn tile_portable<const RB: usize, const NV: usize>(
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

/// Copy one `[c, h, w]` image into `buf` with `pad` zeros around it; returns the padded
/// `(rows, cols)`.
fn pad_image(
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
fn conv_image(
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
fn conv_input_grad_flipped(
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
fn conv_input_grad_scatter(g: &[f32], win: &Window, co: usize, w: &[f32], gx: &mut [f32]) {
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
fn dense(isa: Isa, x: &[f32], rows: usize, inputs: usize, w: &Packed, y: &mut [f32]) {
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
fn max_pool(isa: Isa, x: &[f32], win: &Window, b: usize, y: &mut [f32], idx: &mut [u32]) {
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
unsafe fn pool2x2_row_avx512(xs: &[f32], top: usize, w: usize, out: &mut [f32], idx: &mut [u32]) {
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
fn avg_pool(
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
