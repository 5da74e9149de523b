//! Layer operations (`ModuleOperationIr`): dense and convolutional layers, normalisation,
//! embedding, pooling, interpolation, each with its tangent rule. Backward kernels and fused ops
//! are declared for the table and left to burn.

use burn::backend::ops::{ConvOptions, ConvTransposeOptions, ModuleOps};
use burn_ir::ModuleOperationIr;
use burn_ir::ModuleOperationIr::*;

use super::OpClass::*;
use super::{op, row};
use crate::engine::interp::{B, max_pool2d};

op_family!(ModuleOperationIr {
    BatchNorm(d) => row("batch_norm", Normalisation),
        eval |s| s.batch_norm(d),
        host |c| c.batch_norm(d);
    Embedding(d) => op("embedding", Affine),
        eval |s| s.embedding(d);
    EmbeddingBackward(..) => op("embedding_backward", Other);
    Linear(d) => row("linear", Affine),
        eval |s| s.affine(&d.x, &d.weight, d.bias.as_ref(), &d.out, B::linear);
    LinearXBackward(..) => op("linear_x_backward", Other);
    LinearWeightBackward(..) => op("linear_weight_backward", Other);
    LinearBiasBackward(..) => op("linear_bias_backward", Other);
    Conv1d(d) => row("conv1d", Affine),
        eval |s| {
            let opts = ConvOptions::<1>::from(d.options.clone());
            s.affine(&d.x, &d.weight, d.bias.as_ref(), &d.out, |x, w, b| {
                B::conv1d(x, w, b, opts.clone())
            })
        };
    Conv1dXBackward(..) => op("conv1d_x_backward", Other);
    Conv1dWeightBackward(..) => op("conv1d_weight_backward", Other);
    Conv1dBiasBackward(..) => op("conv1d_bias_backward", Other);
    Conv2d(d) => row("conv2d", Affine),
        eval |s| {
            let opts = ConvOptions::<2>::from(d.options.clone());
            s.affine(&d.x, &d.weight, d.bias.as_ref(), &d.out, |x, w, b| {
                B::conv2d(x, w, b, opts.clone())
            })
        },
        host |c| c.conv2d(d);
    Conv2dXBackward(..) => op("conv2d_x_backward", Other);
    Conv2dWeightBackward(..) => op("conv2d_weight_backward", Other);
    Conv2dBiasBackward(..) => op("conv2d_bias_backward", Other);
    Conv3d(..) => op("conv3d", Affine);
    Conv3dXBackward(..) => op("conv3d_x_backward", Other);
    Conv3dWeightBackward(..) => op("conv3d_weight_backward", Other);
    Conv3dBiasBackward(..) => op("conv3d_bias_backward", Other);
    DeformableConv2d(..) => op("deformable_conv2d", Affine);
    DeformableConv2dBackward(..) => op("deformable_conv2d_backward", Other);
    ConvTranspose1d(d) => row("conv_transpose1d", Affine),
        eval |s| {
            let opts = ConvTransposeOptions::<1>::from(d.options.clone());
            s.affine(&d.x, &d.weight, d.bias.as_ref(), &d.out, |x, w, b| {
                B::conv_transpose1d(x, w, b, opts.clone())
            })
        };
    ConvTranspose2d(d) => row("conv_transpose2d", Affine),
        eval |s| {
            let opts = ConvTransposeOptions::<2>::from(d.options.clone());
            s.affine(&d.x, &d.weight, d.bias.as_ref(), &d.out, |x, w, b| {
                B::conv_transpose2d(x, w, b, opts.clone())
            })
        };
    ConvTranspose3d(..) => op("conv_transpose3d", Affine);
    AvgPool1d(d) => row("avg_pool1d", Pooling),
        eval |s| s.linear_map(&d.x, &d.out, |x| {
            B::avg_pool1d(x, d.kernel_size, d.stride, d.padding, d.count_include_pad, d.ceil_mode)
        });
    AvgPool2d(d) => row("avg_pool2d", Pooling),
        eval |s| s.linear_map(&d.x, &d.out, |x| {
            B::avg_pool2d(x, d.kernel_size, d.stride, d.padding, d.count_include_pad, d.ceil_mode)
        }),
        host |c| c.avg_pool2d(d);
    AvgPool1dBackward(..) => op("avg_pool1d_backward", Other);
    AvgPool2dBackward(..) => op("avg_pool2d_backward", Other);
    AdaptiveAvgPool1d(d) => row("adaptive_avg_pool1d", Pooling),
        eval |s| s.linear_map(&d.x, &d.out, |x| B::adaptive_avg_pool1d(x, d.output_size));
    AdaptiveAvgPool2d(d) => row("adaptive_avg_pool2d", Pooling),
        eval |s| s.linear_map(&d.x, &d.out, |x| B::adaptive_avg_pool2d(x, d.output_size));
    AdaptiveAvgPool1dBackward(..) => op("adaptive_avg_pool1d_backward", Other);
    AdaptiveAvgPool2dBackward(..) => op("adaptive_avg_pool2d_backward", Other);
    AdaptiveAvgPool3d(..) => op("adaptive_avg_pool3d", Pooling);
    AdaptiveAvgPool3dBackward(..) => op("adaptive_avg_pool3d_backward", Other);
    MaxPool1d(d) => row("max_pool1d", Pooling),
        eval |s| s.max_pool(&d.x, &d.out, None, |x, int| {
            let r = B::max_pool1d_with_indices(
                x, d.kernel_size, d.stride, d.padding, d.dilation, d.ceil_mode, int,
            );
            (r.output, r.indices)
        });
    MaxPool1dWithIndices(..) => op("max_pool1d_with_indices", Pooling);
    MaxPool1dWithIndicesBackward(..) => op("max_pool1d_with_indices_backward", Other);
    MaxPool2d(d) => row("max_pool2d", Pooling),
        eval |s| s.max_pool(&d.x, &d.out, None, |x, int| {
            max_pool2d(x, d.kernel_size, d.stride, d.padding, d.dilation, d.ceil_mode, int)
        }),
        host |c| c.max_pool2d(d);
    MaxPool2dWithIndices(d) => row("max_pool2d_with_indices", Pooling),
        eval |s| s.max_pool(&d.x, &d.out, Some(&d.out_indices), |x, int| {
            max_pool2d(x, d.kernel_size, d.stride, d.padding, d.dilation, d.ceil_mode, int)
        });
    MaxPool2dWithIndicesBackward(..) => op("max_pool2d_with_indices_backward", Other);
    // Every interpolation mode (nearest, bilinear, bicubic) is linear in its input.
    Interpolate(d) => op("interpolate", Pooling),
        eval |s| {
            let opts: burn::backend::ops::InterpolateOptions = d.options.clone().into();
            s.linear_map(&d.x, &d.out, |x| B::interpolate(x, d.output_size, opts.clone()))
        };
    InterpolateBackward(..) => op("interpolate_backward", Other);
    Attention(..) => op("attention", Other);
    CtcLoss(..) => op("ctc_loss", Other);
    CtcLossBackward(..) => op("ctc_loss_backward", Other);
    LayerNorm(d) => op("layer_norm", Normalisation),
        eval |s| s.layer_norm(d);
    Unfold4d(..) => op("unfold4d", Pooling);
    ConvTranspose1dWeightBackward(..) => op("conv_transpose1d_weight_backward", Other);
    ConvTranspose1dBiasBackward(..) => op("conv_transpose1d_bias_backward", Other);
    ConvTranspose2dWeightBackward(..) => op("conv_transpose2d_weight_backward", Other);
    ConvTranspose2dBiasBackward(..) => op("conv_transpose2d_bias_backward", Other);
    ConvTranspose3dWeightBackward(..) => op("conv_transpose3d_weight_backward", Other);
    ConvTranspose3dBiasBackward(..) => op("conv_transpose3d_bias_backward", Other);
});
