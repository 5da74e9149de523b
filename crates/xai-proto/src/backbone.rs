//! The small convolutional backbone shared by ProtoPNet and the concept models' encoder:
//! conv 3×3 (c→16, padding 1) → ReLU → max-pool 2 → conv 3×3 (16→32, padding 1) → ReLU →
//! max-pool 2. A `c×H×W` image becomes `32×(H/4)×(W/4)`; each output cell's receptive field is
//! 10×10 pixels.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use xai_proto::backbone::ConvBackbone;
//! let d = Device::flex();
//! let b = ConvBackbone::new(3, &d);
//! assert_eq!(b.forward(Tensor::<4>::zeros([2, 3, 24, 24], &d)).dims(), [2, 32, 6, 6]);
//! ```

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};
use xai_core::fixture::LayerSpec;

/// Output channels of the backbone.
pub const CHANNELS: usize = 32;

/// Two conv–ReLU–max-pool stages.
#[derive(Module, Debug)]
pub struct ConvBackbone {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    act: Relu,
}

impl ConvBackbone {
    /// A fresh backbone for `channels`-channel images with burn's default initialisers, still
    /// lazy: the model that owns it draws them from its seed ([`xai_core::init::seeded`]).
    pub fn new(channels: usize, device: &Device) -> ConvBackbone {
        let pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
        ConvBackbone {
            conv1: Conv2dConfig::new([channels, 16], [3, 3])
                .with_padding(pad.clone())
                .init(device),
            conv2: Conv2dConfig::new([16, CHANNELS], [3, 3])
                .with_padding(pad)
                .init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            act: Relu::new(),
        }
    }

    /// The layers in the fixture format (`xai_core::fixture`), to run the same network in
    /// PyTorch side by side.
    pub fn layer_specs(&self) -> xai_core::Result<Vec<LayerSpec>> {
        let conv = |c: &Conv2d| LayerSpec::from_conv2d(c, [1, 1], [1, 1]);
        let pool = LayerSpec::MaxPool2d {
            kernel: [2, 2],
            stride: [2, 2],
        };
        Ok(vec![
            conv(&self.conv1)?,
            LayerSpec::Relu,
            pool.clone(),
            conv(&self.conv2)?,
            LayerSpec::Relu,
            pool,
        ])
    }

    /// Image channels the first convolution takes.
    pub fn channels(&self) -> usize {
        self.conv1.weight.val().dims()[1]
    }

    /// Feature maps `[N, 32, H/4, W/4]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.pool.forward(self.act.forward(self.conv1.forward(x)));
        self.pool.forward(self.act.forward(self.conv2.forward(h)))
    }
}
