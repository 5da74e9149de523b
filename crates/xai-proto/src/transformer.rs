//! The transformer parts the recall language model ([`crate::lm`]) and the vision transformer
//! ([`crate::vit`]) share: multi-head self-attention written out (so its weights can be read and
//! heads gated one by one), causal or not, and the pre-LN block around it.
//!
//! Shapes: `x [N, T, D]` → `[N, T, D]`; attention weights `[N, H, T, T]`.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Tensor, TensorData};

/// Multi-head self-attention with an optional per-head gate.
#[derive(Module, Debug)]
pub struct SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    #[module(skip)]
    heads: usize,
    /// Each position attends only to itself and earlier ones.
    #[module(skip)]
    causal: bool,
}

impl SelfAttention {
    /// `d`-wide attention with `heads` heads (`heads` divides `d`).
    pub fn new(d: usize, heads: usize, causal: bool, device: &Device) -> Self {
        let lin = || LinearConfig::new(d, d).init(device);
        SelfAttention {
            q: lin(),
            k: lin(),
            v: lin(),
            o: lin(),
            heads,
            causal,
        }
    }

    /// `[N, T, D]` → `[N, H, T, D/H]`.
    fn split(&self, y: Tensor<3>) -> Tensor<4> {
        let [n, t, d] = y.dims();
        y.reshape([n, t, self.heads, d / self.heads])
            .swap_dims(1, 2)
    }

    /// The attention weights `[N, H, T, T]` of `x [N, T, D]`: row `i` of head `h` is the
    /// softmax over the keys (only `j ≤ i` when causal; the others weigh exactly 0).
    pub fn weights(&self, x: Tensor<3>) -> Tensor<4> {
        let [_, t, d] = x.dims();
        let dh = d / self.heads;
        let q = self.split(self.q.forward(x.clone()));
        let k = self.split(self.k.forward(x));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt());
        if !self.causal {
            return softmax(scores, 3);
        }
        // Future positions get −10⁹ before the softmax (weight 0 after it).
        let mask: Vec<f64> = (0..t * t)
            .map(|i| if i % t > i / t { -1e9 } else { 0.0 })
            .collect();
        let mask = Tensor::<4>::from_data(
            TensorData::new(mask, [1, 1, t, t]),
            (&scores.device(), scores.dtype()),
        );
        softmax(scores + mask, 3)
    }

    /// `x [N, T, D]` → `[N, T, D]`; `gate` (one factor per head, e.g. 0 to ablate a head)
    /// scales each head's output before the output projection.
    pub fn forward(&self, x: Tensor<3>, gate: Option<&[f64]>) -> Tensor<3> {
        let [n, t, d] = x.dims();
        let h = self.heads;
        let v = self.split(self.v.forward(x.clone()));
        let mut z = self.weights(x).matmul(v);
        if let Some(g) = gate {
            let g = Tensor::<4>::from_data(
                TensorData::new(g.to_vec(), [1, h, 1, 1]),
                (&z.device(), z.dtype()),
            );
            z = z * g;
        }
        self.o.forward(z.swap_dims(1, 2).reshape([n, t, d]))
    }
}

/// One pre-LN transformer block: `x + attn(ln1(x))`, then `+ fc2(gelu(fc1(ln2(·))))`.
#[derive(Module, Debug)]
pub struct Block {
    pub(crate) ln1: LayerNorm,
    pub(crate) attn: SelfAttention,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl Block {
    /// A block of width `d`, `heads` heads and an MLP of hidden width `d_ff`.
    pub fn new(d: usize, heads: usize, d_ff: usize, causal: bool, device: &Device) -> Self {
        Block {
            ln1: LayerNormConfig::new(d).init(device),
            attn: SelfAttention::new(d, heads, causal, device),
            ln2: LayerNormConfig::new(d).init(device),
            fc1: LinearConfig::new(d, d_ff).init(device),
            fc2: LinearConfig::new(d_ff, d).init(device),
        }
    }

    /// `[N, T, D]` → `[N, T, D]`, heads gated by `gate` (see [`SelfAttention::forward`]).
    pub fn forward(&self, x: Tensor<3>, gate: Option<&[f64]>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln1.forward(x), gate);
        x.clone()
            + self
                .fc2
                .forward(gelu(self.fc1.forward(self.ln2.forward(x))))
    }

    /// The block's attention weights at its input `x` (`[N, H, T, T]`).
    pub fn attention(&self, x: Tensor<3>) -> Tensor<4> {
        self.attn.weights(self.ln1.forward(x))
    }
}
