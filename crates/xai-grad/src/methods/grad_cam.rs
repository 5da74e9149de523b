//! Grad-CAM (Selvaraju et al., 2017), Grad-CAM++ (Chattopadhay et al., 2018) and guided Grad-CAM,
//! at any tapped layer; [`grad_cam_tokens`] reads a transformer's token grid as the channels.
//!
//! With `A ∈ [N, K, h, w]` the activations at the tapped node and `G = ∂y_c/∂A`:
//!
//! * Grad-CAM: `w_k = mean_ij G_kij`, `cam = ReLU(Σ_k w_k A_k)`;
//! * Grad-CAM++: `α_kij = G² / (2G² + Σ_ab A_kab G³)`, `w_k = Σ_ij α_kij ReLU(G_kij)`, same map;
//! * upsampled: bilinear resize of the map to the input's `H × W` (`align_corners = false`, as
//!   PyTorch's `interpolate`);
//! * guided Grad-CAM: guided backprop ⊙ the map resized by nearest neighbour (Captum's default).
//!
//! The layer is any node of the captured graph, named by module path (`features.conv2`, its
//! output) or node name (`relu#4`); the model is not modified. One forward and one backward pass
//! per batch.
//!
//! Shapes: the map is `[N, h, w]`; upsampled `[N, H, W]`.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use burn::nn::conv::{Conv2d, Conv2dConfig};
//! use xai_core::Target;
//! use xai_grad::methods::{Explainable, grad_cam::{grad_cam, CamMode}};
//!
//! let dev = Device::flex();
//! let conv: Conv2d = Conv2dConfig::new([1, 2], [3, 3]).init(&dev);
//! let ex = Explainable::new(conv, |m: &Conv2d, x: Tensor<4>| m.forward(x).flatten(1, 3), dev.clone());
//! let x = Tensor::<4>::ones([1, 1, 5, 5], &dev);
//! let cam = grad_cam(&ex, &x, &Target::Class(0), "conv2d#0", CamMode::GradCam).unwrap();
//! assert_eq!((cam.h, cam.w), (3, 3));
//! ```

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use xai_core::{Result, Target, XaiError};

use super::{Explainable, LayerReduce};

/// Which channel weighting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CamMode {
    /// Spatial mean of the gradient.
    #[default]
    GradCam,
    /// Grad-CAM++ weights.
    GradCamPlusPlus,
}

/// A class-activation map per sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cam {
    /// Row-major `[N, h, w]`.
    pub values: Vec<f64>,
    /// Samples.
    pub n: usize,
    /// Map height.
    pub h: usize,
    /// Map width.
    pub w: usize,
    /// The tapped node.
    pub node: String,
}

/// The map of each sample's target at `layer`.
pub fn grad_cam<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    layer: &str,
    mode: CamMode,
) -> Result<Cam> {
    let classes = ex.classes(x, target)?;
    let (node, index, shape) = tapped_layer(ex, x, layer)?;
    let [_, k, h, w] = shape[..] else {
        return Err(XaiError::shape(
            format!("Grad-CAM layer `{node}`"),
            "[N, K, h, w]",
            &shape,
        ));
    };
    // Each sub-batch becomes maps where it was computed (no layer-sized buffers come back).
    let maps = ex.layer_reduce(x, index, &classes, &CamReduce { k, h, w, mode })?;
    Ok(Cam {
        values: maps,
        n: classes.len(),
        h,
        w,
        node,
    })
}

/// The node `layer` names in `x`'s captured graph: its name, index and output shape.
fn tapped_layer<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    layer: &str,
) -> Result<(String, usize, Vec<usize>)> {
    let g = ex.graph(x)?;
    let node = g.resolve_node(layer)?;
    let index = g.node_index(&node)?;
    let shape = g.nodes()[index].output_shape();
    Ok((node, index, shape.to_vec()))
}

/// Grad-CAM on a transformer's token grid (vision transformers; what pytorch-grad-cam's
/// `reshape_transform` does): the layer's output `[N, T, K]` holds `skip` leading tokens (a class
/// token) and then an `h × w` grid of patch tokens in row-major order, and each of the `K`
/// features is a channel. The map is `[N, h, w]`, as [`grad_cam`]'s on the same values laid out
/// `[N, K, h, w]`. Take the layer whose tokens feed the class token through attention (the last
/// block's input LayerNorm): tokens after the last attention no longer reach it.
pub fn grad_cam_tokens<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    layer: &str,
    skip: usize,
    [h, w]: [usize; 2],
    mode: CamMode,
) -> Result<Cam> {
    let classes = ex.classes(x, target)?;
    let (node, index, shape) = tapped_layer(ex, x, layer)?;
    let [_, t, k] = shape[..] else {
        return Err(XaiError::shape(
            format!("token Grad-CAM layer `{node}`"),
            "[N, T, K]",
            &shape,
        ));
    };
    if skip + h * w != t {
        return Err(XaiError::shape(
            format!("token Grad-CAM layer `{node}`"),
            format!("{skip} leading tokens and a {h}×{w} grid"),
            &shape,
        ));
    }
    let reduce = TokenCamReduce {
        t,
        k,
        skip,
        h,
        w,
        mode,
    };
    Ok(Cam {
        values: ex.layer_reduce(x, index, &classes, &reduce)?,
        n: classes.len(),
        h,
        w,
        node,
    })
}

/// Token Grad-CAM's reduction: the grid tokens of each row laid out channel-major, then
/// [`cam_values`].
struct TokenCamReduce {
    t: usize,
    k: usize,
    skip: usize,
    h: usize,
    w: usize,
    mode: CamMode,
}

impl LayerReduce for TokenCamReduce {
    type Out = f64;
    fn reduce<F: Copy + Into<f64>>(&self, values: &[F], grads: &[F], rows: usize) -> Vec<f64> {
        let hw = self.h * self.w;
        let channel_major = |v: &[F]| -> Vec<f64> {
            let mut out = vec![0.0; rows * self.k * hw];
            for r in 0..rows {
                for p in 0..hw {
                    let token = &v[(r * self.t + self.skip + p) * self.k..][..self.k];
                    for (c, &a) in token.iter().enumerate() {
                        out[(r * self.k + c) * hw + p] = a.into();
                    }
                }
            }
            out
        };
        cam_values(
            &channel_major(values),
            &channel_major(grads),
            [rows, self.k, self.h, self.w],
            self.mode,
        )
    }
}

/// Grad-CAM's reduction of a layer's values and gradients: one `[h, w]` map per row.
struct CamReduce {
    k: usize,
    h: usize,
    w: usize,
    mode: CamMode,
}

impl LayerReduce for CamReduce {
    type Out = f64;
    fn reduce<F: Copy + Into<f64>>(&self, values: &[F], grads: &[F], rows: usize) -> Vec<f64> {
        cam_values(values, grads, [rows, self.k, self.h, self.w], self.mode)
    }
}

/// The class activation maps (`[n, h, w]`) from a layer's values `av` and gradients `gv`
/// (`[n, k, h, w]`).
fn cam_values<F: Copy + Into<f64>>(
    av: &[F],
    gv: &[F],
    [n, k, h, w]: [usize; 4],
    mode: CamMode,
) -> Vec<f64> {
    let hw = h * w;
    let mut values = vec![0.0; n * hw];
    for (i, out) in values.chunks_mut(hw.max(1)).enumerate().take(n) {
        for c in 0..k {
            let base = (i * k + c) * hw;
            let (ac, gc) = (&av[base..base + hw], &gv[base..base + hw]);
            let weight = match mode {
                CamMode::GradCam => gc.iter().map(|&g| g.into()).sum::<f64>() / hw as f64,
                CamMode::GradCamPlusPlus => {
                    let sum_a: f64 = ac.iter().map(|&a| a.into()).sum();
                    gc.iter()
                        .map(|&g| {
                            let g: f64 = g.into();
                            let g2 = g * g;
                            let denom = 2.0 * g2 + sum_a * g2 * g;
                            let alpha = if denom.abs() > 0.0 { g2 / denom } else { 0.0 };
                            alpha * g.max(0.0)
                        })
                        .sum()
                }
            };
            for (o, &a) in out.iter_mut().zip(ac) {
                *o += weight * a.into();
            }
        }
    }
    for v in &mut values {
        *v = v.max(0.0);
    }
    values
}

impl Cam {
    /// Bilinear resize to `out_h × out_w` with PyTorch's `align_corners = false` convention.
    ///
    /// Written here (not `image::imageops`) because the sampling convention must match
    /// PyTorch's exactly for the reference checks; the maps are tiny.
    pub fn upsample_bilinear(&self, out_h: usize, out_w: usize) -> Cam {
        let src = |o: usize, n_in: usize, n_out: usize| -> (usize, usize, f64) {
            let scale = n_in as f64 / n_out as f64;
            let s = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, s - i0 as f64)
        };
        // The source taps depend only on the output index: one table per axis.
        let ys: Vec<_> = (0..out_h).map(|y| src(y, self.h, out_h)).collect();
        let xs: Vec<_> = (0..out_w).map(|x| src(x, self.w, out_w)).collect();
        let mut values = vec![0.0; self.n * out_h * out_w];
        if self.h * self.w == 0 || out_h * out_w == 0 {
            return Cam {
                values,
                n: self.n,
                h: out_h,
                w: out_w,
                node: self.node.clone(),
            };
        }
        for (m, out) in self
            .values
            .chunks(self.h * self.w)
            .zip(values.chunks_mut(out_h * out_w))
        {
            for (&(y0, y1, fy), row) in ys.iter().zip(out.chunks_mut(out_w)) {
                let (r0, r1) = (&m[y0 * self.w..][..self.w], &m[y1 * self.w..][..self.w]);
                for (&(x0, x1, fx), o) in xs.iter().zip(row) {
                    let top = r0[x0] * (1.0 - fx) + r0[x1] * fx;
                    let bot = r1[x0] * (1.0 - fx) + r1[x1] * fx;
                    *o = top * (1.0 - fy) + bot * fy;
                }
            }
        }
        Cam {
            values,
            n: self.n,
            h: out_h,
            w: out_w,
            node: self.node.clone(),
        }
    }

    /// Nearest-neighbour resize (PyTorch's `nearest`: source index `⌊o · in / out⌋`).
    pub fn upsample_nearest(&self, out_h: usize, out_w: usize) -> Cam {
        let mut values = vec![0.0; self.n * out_h * out_w];
        for i in 0..self.n {
            for y in 0..out_h {
                let sy = (y * self.h / out_h).min(self.h - 1);
                for x in 0..out_w {
                    let sx = (x * self.w / out_w).min(self.w - 1);
                    values[(i * out_h + y) * out_w + x] =
                        self.values[(i * self.h + sy) * self.w + sx];
                }
            }
        }
        Cam {
            values,
            n: self.n,
            h: out_h,
            w: out_w,
            node: self.node.clone(),
        }
    }
}

/// Guided Grad-CAM: guided backprop `[N, C, H, W]` (flattened per sample) times the map resized
/// to `H × W` by nearest neighbour, broadcast over channels.
pub fn guided_grad_cam<const D: usize>(
    ex: &Explainable<D>,
    x: &Tensor<D>,
    target: &Target,
    layer: &str,
    image_chw: [usize; 3],
) -> Result<Vec<f64>> {
    let [c, h, w] = image_chw;
    let per: usize = x.dims()[1..].iter().product();
    if per != c * h * w {
        return Err(XaiError::shape(
            "guided Grad-CAM image shape",
            format!("{} elements per sample", c * h * w),
            &x.dims(),
        ));
    }
    let cam = grad_cam(ex, x, target, layer, CamMode::GradCam)?.upsample_nearest(h, w);
    let gb = xai_core::tensor_to_vec_f64(super::guided_backprop::guided_backprop(ex, x, target)?)?;
    Ok(gb
        .iter()
        .enumerate()
        .map(|(j, v)| {
            let i = j / per;
            let pix = (j % per) % (h * w);
            v * cam.values[i * h * w + pix]
        })
        .collect())
}
