//! The op table: the identity and engine-facing properties of every burn IR operation, matched
//! from the typed [`OperationIr`] (never from its `Debug` text).
//!
//! Each operation is declared once below with its snake-case name (what summaries, errors and
//! rule sets print), its [`OpClass`] (what the rule engine does with it: LRP, DeepLIFT and guided
//! backprop attach rules to classes, not to names) and whether it is *row-wise* (each output row
//! depends only on the same input row, so a captured graph of row-wise ops replays on any batch
//! size; per-example gradients rely on it). The match is exhaustive: when burn adds an
//! operation, this file stops compiling until the operation is classified.
//!
//! Forward evaluation and tangent (JVP) rules live with the interpreter (`interp.rs`), host
//! lowerings with the host compiler (`host/compile.rs`); both match the same typed IR.
//!
//! ```
//! use xai_grad::engine::ops::OpClass;
//! use xai_grad::CapturedGraph;
//! use burn::nn::LinearConfig;
//! use burn::tensor::{Device, Tensor};
//! let dev = Device::flex();
//! let layer = xai_core::init::seeded(LinearConfig::new(3, 2).init(&dev), 0).unwrap();
//! let x = Tensor::<2>::ones([2, 3], &dev);
//! let g = CapturedGraph::capture(&layer, x, |m, x| burn::tensor::activation::relu(m.forward(x))).unwrap();
//! let relu = g.nodes().iter().find(|n| n.kind == "relu").unwrap();
//! assert_eq!(relu.class, OpClass::Activation);
//! assert!(relu.row_wise);
//! ```

use burn_ir::{
    ActivationOperationIr, BaseOperationIr, BoolOperationIr, DistributedOperationIr,
    FloatOperationIr, IntOperationIr, ModuleOperationIr, NumericOperationIr, OperationIr,
};
use serde::Serialize;

/// What the rule engine does with an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum OpClass {
    /// Element-wise nonlinear map of one tensor (ReLU, tanh, exp, …): guided backprop, LRP's
    /// pass-through and DeepLIFT's rescale rule apply here.
    Activation,
    /// Other element-wise maps of one tensor (negation, clamping, rounding, …).
    Elementwise,
    /// Element-wise arithmetic of two tensors or a tensor and a scalar (bilinear when both
    /// operands depend on the input).
    Arithmetic,
    /// Linear in the data input given the parameters: dense layers, convolutions, matmul,
    /// embeddings (LRP's ε/γ/z⁺ rules).
    Affine,
    /// Batch and layer normalisation.
    Normalisation,
    /// Softmax, log-softmax, softmin.
    Softmax,
    /// Pooling and resampling.
    Pooling,
    /// Data moves, values do not change: reshapes, permutations, slices, concatenation.
    Shape,
    /// Indexing, gathering, scattering, padding, casts.
    Indexing,
    /// Reductions, sorting, cumulative ops, top-k.
    Reduction,
    /// Comparisons, masks and boolean logic.
    Comparison,
    /// New tensors: constants, random draws, graph inputs.
    Creation,
    /// Backward kernels, fused attention, losses, quantisation, bitwise ops, collectives.
    Other,
}

/// One operation's entry in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct OpInfo {
    /// Snake-case name, e.g. `linear`, `max_pool2d`, `add_scalar`.
    pub name: &'static str,
    /// Rule class.
    pub class: OpClass,
    /// Each output row depends on the same input row only (see the module docs).
    pub row_wise: bool,
}

const fn row(name: &'static str, class: OpClass) -> OpInfo {
    OpInfo {
        name,
        class,
        row_wise: true,
    }
}

const fn op(name: &'static str, class: OpClass) -> OpInfo {
    OpInfo {
        name,
        class,
        row_wise: false,
    }
}

use OpClass::*;

/// The table entry of `op`.
pub fn op_info(ir: &OperationIr) -> OpInfo {
    match ir {
        OperationIr::BaseFloat(o) | OperationIr::BaseInt(o) | OperationIr::BaseBool(o) => base(o),
        OperationIr::NumericFloat(_, o) | OperationIr::NumericInt(_, o) => numeric(o),
        OperationIr::Float(_, o) => float(o),
        OperationIr::Int(o) => int(o),
        OperationIr::Bool(o) => bool(o),
        OperationIr::Module(o) => module(o),
        OperationIr::Activation(o) => activation(o),
        OperationIr::Distributed(o) => distributed(o),
        OperationIr::Init(_) => op("init", Creation),
        OperationIr::Custom(_) => op("custom", Other),
        OperationIr::Drop(_) => op("drop", Other),
    }
}

fn base(ir: &BaseOperationIr) -> OpInfo {
    use BaseOperationIr::*;
    match ir {
        Reshape(..) => op("reshape", Shape),
        SwapDims(..) => op("swap_dims", Shape),
        Permute(..) => op("permute", Shape),
        Flip(..) => op("flip", Shape),
        Expand(..) => op("expand", Shape),
        Unfold(..) => op("unfold", Indexing),
        Slice(..) => op("slice", Shape),
        SliceAssign(..) => op("slice_assign", Indexing),
        Select(..) => op("select", Shape),
        SelectAssign(..) => op("select_assign", Indexing),
        MaskWhere(..) => op("mask_where", Comparison),
        MaskFill(..) => op("mask_fill", Comparison),
        Gather(..) => op("gather", Indexing),
        Scatter(..) => op("scatter", Indexing),
        ScatterNd(..) => op("scatter_nd", Indexing),
        GatherNd(..) => op("gather_nd", Indexing),
        Equal(..) => op("equal", Comparison),
        EqualElem(..) => op("equal_elem", Comparison),
        RepeatDim(..) => op("repeat_dim", Indexing),
        Cat(..) => op("cat", Shape),
        Cast(..) => op("cast", Indexing),
        Empty(..) => op("empty", Creation),
        Ones(..) => op("ones", Creation),
        Zeros(..) => op("zeros", Creation),
        NotEqual(..) => op("not_equal", Comparison),
        NotEqualElem(..) => op("not_equal_elem", Comparison),
        All(..) => op("all", Reduction),
        Any(..) => op("any", Reduction),
        AllDim(..) => op("all_dim", Reduction),
        AnyDim(..) => op("any_dim", Reduction),
    }
}

fn numeric(ir: &NumericOperationIr) -> OpInfo {
    use NumericOperationIr::*;
    match ir {
        Add(..) => row("add", Arithmetic),
        AddScalar(..) => row("add_scalar", Arithmetic),
        Sub(..) => row("sub", Arithmetic),
        SubScalar(..) => row("sub_scalar", Arithmetic),
        Div(..) => row("div", Arithmetic),
        DivScalar(..) => row("div_scalar", Arithmetic),
        Rem(..) => op("rem", Arithmetic),
        RemScalar(..) => op("rem_scalar", Arithmetic),
        Mul(..) => row("mul", Arithmetic),
        MulScalar(..) => row("mul_scalar", Arithmetic),
        Abs(..) => row("abs", Activation),
        Full(..) => op("full", Creation),
        MeanDim(..) => op("mean_dim", Reduction),
        Mean(..) => op("mean", Reduction),
        Sum(..) => op("sum", Reduction),
        SumDim(..) => op("sum_dim", Reduction),
        SumDims(..) => op("sum_dims", Reduction),
        Prod(..) => op("prod", Reduction),
        ProdDim(..) => op("prod_dim", Reduction),
        Greater(..) => op("greater", Comparison),
        GreaterElem(..) => op("greater_elem", Comparison),
        GreaterEqual(..) => op("greater_equal", Comparison),
        GreaterEqualElem(..) => op("greater_equal_elem", Comparison),
        Lower(..) => op("lower", Comparison),
        LowerElem(..) => op("lower_elem", Comparison),
        LowerEqual(..) => op("lower_equal", Comparison),
        LowerEqualElem(..) => op("lower_equal_elem", Comparison),
        ArgMax(..) => op("arg_max", Reduction),
        ArgTopK(..) => op("arg_top_k", Reduction),
        TopK(..) => op("top_k", Reduction),
        TopKWithIndices(..) => op("top_k_with_indices", Reduction),
        ArgMin(..) => op("arg_min", Reduction),
        Max(..) => op("max", Reduction),
        MaxDimWithIndices(..) => op("max_dim_with_indices", Reduction),
        MinDimWithIndices(..) => op("min_dim_with_indices", Reduction),
        Min(..) => op("min", Reduction),
        MaxDim(..) => op("max_dim", Reduction),
        MinDim(..) => op("min_dim", Reduction),
        MaxAbs(..) => op("max_abs", Reduction),
        MaxAbsDim(..) => op("max_abs_dim", Reduction),
        Clamp(..) => row("clamp", Elementwise),
        IntRandom(..) => op("int_random", Creation),
        Powi(..) => op("powi", Arithmetic),
        PowiScalar(..) => op("powi_scalar", Elementwise),
        CumSum(..) => op("cum_sum", Reduction),
        CumProd(..) => op("cum_prod", Reduction),
        CumMin(..) => op("cum_min", Reduction),
        CumMax(..) => op("cum_max", Reduction),
        Neg(..) => row("neg", Elementwise),
        Sign(..) => row("sign", Elementwise),
        ClampMin(..) => row("clamp_min", Elementwise),
        ClampMax(..) => row("clamp_max", Elementwise),
        Sort(..) => op("sort", Reduction),
        SortWithIndices(..) => op("sort_with_indices", Reduction),
        ArgSort(..) => op("arg_sort", Reduction),
        Pad(..) => op("pad", Indexing),
    }
}

fn float(ir: &FloatOperationIr) -> OpInfo {
    use FloatOperationIr::*;
    match ir {
        Exp(..) => row("exp", Activation),
        Log(..) => row("log", Activation),
        Log1p(..) => row("log1p", Activation),
        Erf(..) => row("erf", Activation),
        PowfScalar(..) => row("powf_scalar", Elementwise),
        Sqrt(..) => row("sqrt", Activation),
        Cos(..) => row("cos", Activation),
        Cosh(..) => row("cosh", Elementwise),
        Sin(..) => row("sin", Activation),
        Sinh(..) => row("sinh", Elementwise),
        Tan(..) => row("tan", Elementwise),
        Tanh(..) => row("tanh", Activation),
        ArcCos(..) => row("arc_cos", Elementwise),
        ArcCosh(..) => row("arc_cosh", Elementwise),
        ArcSin(..) => row("arc_sin", Elementwise),
        ArcSinh(..) => row("arc_sinh", Elementwise),
        ArcTan(..) => row("arc_tan", Elementwise),
        ArcTanh(..) => row("arc_tanh", Elementwise),
        ArcTan2(..) => op("arc_tan2", Arithmetic),
        Round(..) => row("round", Elementwise),
        Floor(..) => row("floor", Elementwise),
        Ceil(..) => row("ceil", Elementwise),
        Trunc(..) => row("trunc", Elementwise),
        IntoInt(..) => op("into_int", Indexing),
        Matmul(..) => row("matmul", Affine),
        Cross(..) => op("cross", Indexing),
        Random(..) => op("random", Creation),
        Recip(..) => row("recip", Activation),
        IsNan(..) => op("is_nan", Comparison),
        IsInf(..) => op("is_inf", Comparison),
        Quantize(..) => op("quantize", Other),
        Dequantize(..) => op("dequantize", Other),
        GridSample2d(..) => op("grid_sample2d", Indexing),
        Powf(..) => op("powf", Arithmetic),
        Hypot(..) => op("hypot", Arithmetic),
    }
}

fn int(ir: &IntOperationIr) -> OpInfo {
    use IntOperationIr::*;
    match ir {
        IntoFloat(..) => op("into_float", Indexing),
        BitwiseAnd(..) => op("bitwise_and", Other),
        BitwiseAndScalar(..) => op("bitwise_and_scalar", Other),
        BitwiseOr(..) => op("bitwise_or", Other),
        BitwiseOrScalar(..) => op("bitwise_or_scalar", Other),
        BitwiseXor(..) => op("bitwise_xor", Other),
        BitwiseXorScalar(..) => op("bitwise_xor_scalar", Other),
        BitwiseNot(..) => op("bitwise_not", Other),
        BitwiseLeftShift(..) => op("bitwise_left_shift", Other),
        BitwiseLeftShiftScalar(..) => op("bitwise_left_shift_scalar", Other),
        BitwiseRightShift(..) => op("bitwise_right_shift", Other),
        BitwiseRightShiftScalar(..) => op("bitwise_right_shift_scalar", Other),
        Matmul(..) => row("matmul", Affine),
    }
}

fn bool(ir: &BoolOperationIr) -> OpInfo {
    use BoolOperationIr::*;
    match ir {
        IntoFloat(..) => op("into_float", Indexing),
        IntoInt(..) => op("into_int", Indexing),
        Not(..) => op("not", Comparison),
        And(..) => op("and", Comparison),
        Or(..) => op("or", Comparison),
        Xor(..) => op("xor", Comparison),
    }
}

fn module(ir: &ModuleOperationIr) -> OpInfo {
    use ModuleOperationIr::*;
    match ir {
        BatchNorm(..) => row("batch_norm", Normalisation),
        Embedding(..) => op("embedding", Affine),
        EmbeddingBackward(..) => op("embedding_backward", Other),
        Linear(..) => row("linear", Affine),
        LinearXBackward(..) => op("linear_x_backward", Other),
        LinearWeightBackward(..) => op("linear_weight_backward", Other),
        LinearBiasBackward(..) => op("linear_bias_backward", Other),
        Conv1d(..) => row("conv1d", Affine),
        Conv1dXBackward(..) => op("conv1d_x_backward", Other),
        Conv1dWeightBackward(..) => op("conv1d_weight_backward", Other),
        Conv1dBiasBackward(..) => op("conv1d_bias_backward", Other),
        Conv2d(..) => row("conv2d", Affine),
        Conv2dXBackward(..) => op("conv2d_x_backward", Other),
        Conv2dWeightBackward(..) => op("conv2d_weight_backward", Other),
        Conv2dBiasBackward(..) => op("conv2d_bias_backward", Other),
        Conv3d(..) => op("conv3d", Affine),
        Conv3dXBackward(..) => op("conv3d_x_backward", Other),
        Conv3dWeightBackward(..) => op("conv3d_weight_backward", Other),
        Conv3dBiasBackward(..) => op("conv3d_bias_backward", Other),
        DeformableConv2d(..) => op("deformable_conv2d", Affine),
        DeformableConv2dBackward(..) => op("deformable_conv2d_backward", Other),
        ConvTranspose1d(..) => row("conv_transpose1d", Affine),
        ConvTranspose2d(..) => row("conv_transpose2d", Affine),
        ConvTranspose3d(..) => op("conv_transpose3d", Affine),
        AvgPool1d(..) => row("avg_pool1d", Pooling),
        AvgPool2d(..) => row("avg_pool2d", Pooling),
        AvgPool1dBackward(..) => op("avg_pool1d_backward", Other),
        AvgPool2dBackward(..) => op("avg_pool2d_backward", Other),
        AdaptiveAvgPool1d(..) => row("adaptive_avg_pool1d", Pooling),
        AdaptiveAvgPool2d(..) => row("adaptive_avg_pool2d", Pooling),
        AdaptiveAvgPool1dBackward(..) => op("adaptive_avg_pool1d_backward", Other),
        AdaptiveAvgPool2dBackward(..) => op("adaptive_avg_pool2d_backward", Other),
        AdaptiveAvgPool3d(..) => op("adaptive_avg_pool3d", Pooling),
        AdaptiveAvgPool3dBackward(..) => op("adaptive_avg_pool3d_backward", Other),
        MaxPool1d(..) => row("max_pool1d", Pooling),
        MaxPool1dWithIndices(..) => op("max_pool1d_with_indices", Pooling),
        MaxPool1dWithIndicesBackward(..) => op("max_pool1d_with_indices_backward", Other),
        MaxPool2d(..) => row("max_pool2d", Pooling),
        MaxPool2dWithIndices(..) => row("max_pool2d_with_indices", Pooling),
        MaxPool2dWithIndicesBackward(..) => op("max_pool2d_with_indices_backward", Other),
        Interpolate(..) => op("interpolate", Pooling),
        InterpolateBackward(..) => op("interpolate_backward", Other),
        Attention(..) => op("attention", Other),
        CtcLoss(..) => op("ctc_loss", Other),
        CtcLossBackward(..) => op("ctc_loss_backward", Other),
        LayerNorm(..) => op("layer_norm", Normalisation),
        Unfold4d(..) => op("unfold4d", Pooling),
        ConvTranspose1dWeightBackward(..) => op("conv_transpose1d_weight_backward", Other),
        ConvTranspose1dBiasBackward(..) => op("conv_transpose1d_bias_backward", Other),
        ConvTranspose2dWeightBackward(..) => op("conv_transpose2d_weight_backward", Other),
        ConvTranspose2dBiasBackward(..) => op("conv_transpose2d_bias_backward", Other),
        ConvTranspose3dWeightBackward(..) => op("conv_transpose3d_weight_backward", Other),
        ConvTranspose3dBiasBackward(..) => op("conv_transpose3d_bias_backward", Other),
    }
}

fn activation(ir: &ActivationOperationIr) -> OpInfo {
    use ActivationOperationIr::*;
    match ir {
        Relu(..) => row("relu", Activation),
        ReluBackward(..) => op("relu_backward", Other),
        LeakyRelu(..) => row("leaky_relu", Activation),
        PRelu(..) => op("p_relu", Elementwise),
        Gelu(..) => row("gelu", Activation),
        GeluBackward(..) => op("gelu_backward", Other),
        Sigmoid(..) => row("sigmoid", Activation),
        SigmoidBackward(..) => op("sigmoid_backward", Other),
        HardSigmoid(..) => row("hard_sigmoid", Activation),
        LogSigmoid(..) => row("log_sigmoid", Activation),
        LogSigmoidBackward(..) => op("log_sigmoid_backward", Other),
        Softmax(..) => row("softmax", OpClass::Softmax),
        LogSoftmax(..) => row("log_softmax", OpClass::Softmax),
        Softmin(..) => op("softmin", OpClass::Softmax),
    }
}

fn distributed(ir: &DistributedOperationIr) -> OpInfo {
    use DistributedOperationIr::*;
    match ir {
        AllReduce(..) => op("all_reduce", Other),
        SyncCollective => op("sync_collective", Other),
    }
}
