//! Layers: matrix products, dense layers, convolutions, pooling, resizing and normalisation.

use super::*;

impl Ctx<'_> {
    /// A layer node.
    pub(super) fn layer(&mut self, node: &Node) -> Result<Value> {
        use Node as N;
        Ok(match node {
            N::MatMul(_) => {
                let a = self.input(node, 0)?;
                let b = self.input(node, 1)?;
                let (a, b) = (self.float(node, a)?, self.float(node, b)?);
                let r = shape_of(&a).len().max(shape_of(&b).len());
                Value::F(B::float_matmul(lift_float(a, r), lift_float(b, r)))
            }
            N::Gemm(n) => {
                // Y = α·op(A)·op(B) + β·C, op a transpose when the flag is set (Gemm that
                // onnx-ir does not fuse into `Linear`: α or β not 1, transA, or no transB).
                let c = &n.config;
                let a = self.input(node, 0)?;
                let mut a = self.float(node, a)?;
                let b = self.input(node, 1)?;
                let mut b = self.float(node, b)?;
                if c.trans_a != 0 {
                    a = B::float_swap_dims(a, 0, 1);
                }
                if c.trans_b != 0 {
                    b = B::float_swap_dims(b, 0, 1);
                }
                let mut y = B::float_matmul(a, b);
                if c.alpha != 1.0 {
                    y = B::float_mul_scalar(y, Scalar::from(c.alpha as f64));
                }
                if let Some(bias) = self.opt_input(node, 2)? {
                    let mut bias = self.float(node, bias)?;
                    if c.beta != 1.0 {
                        bias = B::float_mul_scalar(bias, Scalar::from(c.beta as f64));
                    }
                    y = B::float_add(y, lift_float(bias, 2));
                }
                Value::F(y)
            }
            N::Linear(n) => {
                let x = self.float_in(node, 0)?;
                let w_arg = &node.inputs()[1];
                let w = self.input(node, 1)?;
                let mut w = self.float(node, w)?;
                let stored_transposed = self
                    .model
                    .program
                    .param_of
                    .get(&value_key(w_arg))
                    .is_some_and(|i| self.model.program.pre_transposed.contains(i));
                if n.config.transpose_weight && !stored_transposed {
                    w = B::float_swap_dims(w, 0, 1);
                }
                let b = self.opt_float_in(node, 2)?;
                Value::F(B::linear(x, w, b))
            }
            N::Conv2d(n) => {
                let x = self.input(node, 0)?;
                let mut x = self.float(node, x)?;
                let w = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                let c = &n.config;
                let (t, l, bo, r) = match c.padding {
                    PaddingConfig2d::Valid => (0, 0, 0, 0),
                    PaddingConfig2d::Explicit(t, l, b, r) => (t, l, b, r),
                };
                let pad = if t == bo && l == r {
                    [t, l]
                } else {
                    x = B::float_pad(
                        x,
                        &[(0, 0), (0, 0), (t, bo), (l, r)],
                        burn::tensor::ops::PadMode::Constant(0.0),
                    );
                    [0, 0]
                };
                let opts = ConvOptions::new(c.stride, pad, c.dilation, c.groups);
                Value::F(B::conv2d(x, w, b, opts))
            }
            N::ConvTranspose2d(n) => {
                let x = self.float_in(node, 0)?;
                let w = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                let c = &n.config;
                let opts = ConvTransposeOptions::new(
                    c.stride,
                    c.padding,
                    c.padding_out,
                    c.dilation,
                    c.groups,
                );
                Value::F(B::conv_transpose2d(x, w, b, opts))
            }
            N::Resize(n) => {
                let options = resize_mode(&n.config).map_err(|why| err(node, why))?;
                let x = self.float_in(node, 0)?;
                let s = shape_of(&x);
                if s.len() != 4 {
                    return Err(err(node, "only 2-D resizing of [N, C, H, W] is supported"));
                }
                use onnx_ir::node::resize::{ResizeScales, ResizeSizes};
                let size: [usize; 2] = match (&n.config.sizes, &n.config.scales) {
                    (Some(ResizeSizes::Static(v)), _) if v.len() >= 2 => {
                        [v[v.len() - 2], v[v.len() - 1]]
                    }
                    (Some(ResizeSizes::Runtime(r)), _) => {
                        let v = self.input(node, r.input_index)?;
                        let v = self.host_ints(node, v)?;
                        if v.len() < 2 {
                            return Err(err(node, "sizes need the height and the width"));
                        }
                        [v[v.len() - 2] as usize, v[v.len() - 1] as usize]
                    }
                    (_, Some(scales)) => {
                        let f = match scales {
                            ResizeScales::Static(f) => f.iter().map(|&v| v as f64).collect(),
                            ResizeScales::Runtime(r) => match self.input(node, r.input_index)? {
                                Value::Host(d) => host_f64(node, &d)?,
                                _ => return Err(err(node, "scales computed from tensor values")),
                            },
                        };
                        if f.len() < 2 {
                            return Err(err(node, "scales need the height and the width"));
                        }
                        let k = f.len();
                        [
                            (s[2] as f64 * f[k - 2]).floor() as usize,
                            (s[3] as f64 * f[k - 1]).floor() as usize,
                        ]
                    }
                    _ => return Err(err(node, "neither sizes nor scales given")),
                };
                Value::F(B::interpolate(x, size, options))
            }
            N::Conv1d(n) => {
                let x = self.float_in(node, 0)?;
                let w = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                let c = &n.config;
                let pad = match c.padding {
                    PaddingConfig1d::Valid => 0,
                    PaddingConfig1d::Explicit(l, r) if l == r => l,
                    PaddingConfig1d::Explicit(..) => {
                        return Err(err(node, "asymmetric padding is not supported"));
                    }
                };
                let opts = ConvOptions::new([c.stride], [pad], [c.dilation], c.groups);
                Value::F(B::conv1d(x, w, b, opts))
            }
            N::MaxPool2d(n) => {
                let c = n.config.clone();
                let (t, l, _, _) = c.padding.as_tuple();
                self.unary(node, move |x| {
                    B::max_pool2d(x, c.kernel_size, c.strides, [t, l], c.dilation, c.ceil_mode)
                })?
            }
            N::AveragePool2d(n) => {
                let c = n.config.clone();
                let (t, l, _, _) = c.padding.as_tuple();
                self.unary(node, move |x| {
                    B::avg_pool2d(
                        x,
                        c.kernel_size,
                        c.strides,
                        [t, l],
                        c.count_include_pad,
                        c.ceil_mode,
                    )
                })?
            }
            N::GlobalAveragePool(_) => {
                let x = self.float_in(node, 0)?;
                let s = shape_of(&x);
                Value::F(match s.len() {
                    4 => B::adaptive_avg_pool2d(x, [1, 1]),
                    3 => B::adaptive_avg_pool1d(x, 1),
                    _ => {
                        let mut y = x;
                        for d in 2..s.len() {
                            y = B::float_mean_dim(y, d);
                        }
                        y
                    }
                })
            }
            N::BatchNormalization(n) => {
                let eps = match &n.config {
                    onnx_ir::node::batch_norm::BatchNormConfig::Static(c) => c.epsilon,
                    onnx_ir::node::batch_norm::BatchNormConfig::Runtime(c) => c.epsilon,
                };
                let mut t = Vec::new();
                for i in 0..5 {
                    let v = self.input(node, i)?;
                    t.push(self.float(node, v)?);
                }
                let [x, g, b, m, v]: [DispatchTensor; 5] = t
                    .try_into()
                    .map_err(|_| err(node, "five inputs expected"))?;
                let flat = |t: DispatchTensor| {
                    let n = shape_of(&t).iter().product::<usize>();
                    B::float_reshape(t, Shape::from(vec![n]))
                };
                Value::F(B::batch_norm(x, flat(g), flat(b), flat(m), flat(v), eps))
            }
            N::LayerNormalization(n) => {
                let x = self.float_in(node, 0)?;
                let g = self.float_in(node, 1)?;
                let b = self.opt_float_in(node, 2)?;
                Value::F(B::layer_norm(x, g, b, n.config.epsilon))
            }
            other => {
                return Err(err(
                    node,
                    format!("operator {} is evaluated elsewhere", other.node_type()),
                ));
            }
        })
    }
}

/// burn's interpolation matching an ONNX Resize configuration (what PyTorch exports for
/// `nn.Upsample` / `F.interpolate`), or why there is none.
pub(crate) fn resize_mode(
    c: &onnx_ir::node::resize::ResizeConfig,
) -> std::result::Result<burn::backend::ops::InterpolateOptions, String> {
    use burn::backend::ops::{InterpolateMode, InterpolateOptions};
    use onnx_ir::node::resize::{CoordinateTransformMode as T, NearestMode, ResizeMode};
    let (mode, align_corners) = match (&c.mode, &c.coordinate_transformation_mode) {
        // PyTorch's `nearest`: source index floor(dst · in / out).
        (ResizeMode::Nearest, T::Asymmetric) if c.nearest_mode == NearestMode::Floor => {
            (InterpolateMode::Nearest, false)
        }
        (ResizeMode::Linear, T::HalfPixel | T::PytorchHalfPixel) => {
            (InterpolateMode::Bilinear, false)
        }
        (ResizeMode::Linear, T::AlignCorners) => (InterpolateMode::Bilinear, true),
        (mode, coords) => {
            return Err(format!(
                "Resize {mode:?} with {coords:?} coordinates (nearest/asymmetric/floor and \
                 linear with half_pixel or align_corners are)"
            ));
        }
    };
    if c.antialias != 0 {
        return Err("antialiased Resize".into());
    }
    let mut o = InterpolateOptions::new(mode);
    o.align_corners = align_corners;
    Ok(o)
}
