//! ONNX models, as PyTorch and other frameworks export them, run through burn so that every xai
//! method explains them.
//!
//! [`OnnxModel::load`] parses the file with burn's own ONNX parser (`onnx-ir`: typed nodes,
//! opsets 1–24, shape inference, constants as `TensorData`), checks every node against the
//! operators this crate can run — all unsupported ones are reported at once, with node names,
//! before any computation — and keeps the float initializers as burn parameters named as the
//! exporter named them ([`Weights`]). The forward pass then calls burn's tensor operations node
//! by node; under xai's graph capture these land in the captured graph like the forward of a
//! burn-native module, so gradients, IG, SmoothGrad, LRP, DeepLIFT, Grad-CAM, exact HVPs,
//! influence and the model-agnostic methods all apply unchanged. No code is generated: the
//! graph is interpreted at run time (burn's `burn-onnx` generates Rust at build time instead).
//!
//! Shapes: inputs are batch first (the batch dimension may be dynamic in the file);
//! [`OnnxModel::forward_flat`] takes the one float input flattened to `[N, features]` and
//! returns the first output as `[N, C]`, the form the explainers take.
//!
//! ```no_run
//! use burn::tensor::{DType, Device, Tensor};
//! use xai_onnx::OnnxModel;
//! let dev = Device::flex();
//! let model = OnnxModel::load("model.onnx", &dev, DType::F32)?;
//! let x = Tensor::<2>::zeros([1, model.float_input()?.features()], &dev);
//! let logits = model.try_forward_flat(x)?;
//! # Ok::<(), xai_core::XaiError>(())
//! ```

mod eval;
pub mod fixture;
mod graph;
pub mod pytorch;
mod weights;

pub use graph::{InputSpec, OnnxModel, SUPPORTED_OPS, pack_ids};
pub use weights::Weights;
