//! The op table: every burn IR operation declared once, with everything the engine knows about
//! it, matched from the typed [`OperationIr`] (never from its `Debug` text).
//!
//! Each family file (`base`, `numeric`, `float`, `module`, `activation`, `int`, `logic`,
//! `distributed`: one per burn IR enum) lists its operations in one `op_family!` table. An
//! entry is the operation's pattern and
//!
//! * its [`OpInfo`]: snake-case name (what summaries, errors and rule sets print), [`OpClass`]
//!   (what the rule engine does with it: LRP, DeepLIFT and guided backprop attach rules to
//!   classes, not to names) and whether it is *row-wise* (each output row depends only on the
//!   same input row, so a captured graph of row-wise ops replays on any batch size; per-example
//!   gradients rely on it);
//! * `eval`: its evaluation on float tensors together with its tangent (JVP) rule, built from the
//!   interpreter's kit (`Interp::unary`, `binary`, `affine`, …);
//! * `int`: its evaluation on int or bool tensors, for the structural ops token ids and masks
//!   need;
//! * `host`: its lowering to host-kernel steps, for the ops the host kernels run.
//!
//! Adding an operation is adding its entry: the macro generates the family's `info`, `eval`,
//! `evaluates` and `lower` from the same list, and the matches are exhaustive, so when burn adds
//! an operation this module stops compiling until the operation has an entry. A graph holding an
//! op whose entry has no `eval` fails with
//! [`XaiError::UnsupportedOp`](xai_core::XaiError::UnsupportedOp) naming the op and its node
//! before the interpreter computes anything (every run checks its nodes against `evaluates`);
//! an op without `host` sends graphs that contain it down burn's path.
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

use burn_ir::OperationIr;
use serde::Serialize;

use xai_core::{Result, XaiError};

use super::host::Compiler;
use super::interp::Interp;

/// Declares one family of operations (one burn IR enum) as a table of entries and generates the
/// family's `info`, `eval` and `lower` from it (see the module docs):
///
/// ```text
/// Pattern(d) => row("name", Class), eval |s| <float rule>, int |s, kind| <int/bool rule>, host |c| <lowering>;
/// ```
macro_rules! op_family {
    ($ir:ty {
        $( $pat:pat => $info:expr
            $(, eval |$s:ident| $eval:expr)?
            $(, int |$si:ident, $k:ident| $int:expr)?
            $(, host |$c:ident| $host:expr)?
        ;)*
    }) => {
        /// The table entry of an operation of this family.
        #[allow(unused_variables)]
        pub(super) fn info(ir: &$ir) -> $crate::engine::ops::OpInfo {
            match ir {
                $( $pat => $info, )*
            }
        }

        /// Evaluate an operation of this family on `kind` tensors (with its tangent when the
        /// interpreter runs in forward mode).
        #[allow(unused_variables, unreachable_code, clippy::needless_return)]
        pub(super) fn eval(
            s: &mut $crate::engine::interp::Interp<'_>,
            op: &burn_ir::OperationIr,
            ir: &$ir,
            kind: $crate::engine::ops::Kind,
        ) -> xai_core::Result<()> {
            match ir {
                $( $pat => match kind {
                    $crate::engine::ops::Kind::Float => {
                        $( let $s = s; return $eval; )?
                        Err($crate::engine::ops::unsupported(op))
                    }
                    int_kind => {
                        $( let $si = s; let $k = int_kind; return $int; )?
                        Err($crate::engine::ops::unsupported(op))
                    }
                }, )*
            }
        }

        /// Whether `eval` has a rule for this operation on `kind` tensors.
        #[allow(unused_variables, unreachable_code, clippy::needless_return)]
        pub(super) fn evaluates(ir: &$ir, kind: $crate::engine::ops::Kind) -> bool {
            match ir {
                $( $pat => match kind {
                    $crate::engine::ops::Kind::Float => {
                        $( let _ = stringify!($s); return true; )?
                        false
                    }
                    _ => {
                        $( let _ = stringify!($si); return true; )?
                        false
                    }
                }, )*
            }
        }

        /// Lower an operation of this family to host steps (`None`: the host kernels do not
        /// take it).
        #[allow(unused_variables, unreachable_code, clippy::needless_return)]
        pub(super) fn lower(c: &mut $crate::engine::host::Compiler, ir: &$ir) -> Option<()> {
            match ir {
                $( $pat => {
                    $( let $c = c; return $host; )?
                    None
                }, )*
            }
        }
    };
}

mod activation;
mod base;
mod distributed;
mod float;
mod int;
mod logic;
mod module;
mod numeric;

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

pub(crate) const fn row(name: &'static str, class: OpClass) -> OpInfo {
    OpInfo {
        name,
        class,
        row_wise: true,
    }
}

pub(crate) const fn op(name: &'static str, class: OpClass) -> OpInfo {
    OpInfo {
        name,
        class,
        row_wise: false,
    }
}

/// The element type an operation runs on (float, int or bool tensors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Float,
    Int,
    Bool,
}

/// The error for an operation the interpreter does not evaluate (the node is filled in by the
/// caller, which knows where the op sits in the model).
pub(crate) fn unsupported(op: &OperationIr) -> XaiError {
    XaiError::UnsupportedOp {
        op: op_info(op).name.to_string(),
        transform: "eval".into(),
        node: String::new(),
    }
}

/// The error for an int-tensor rule asked to run on bool tensors.
pub(crate) fn no_bool(name: &str) -> XaiError {
    XaiError::UnsupportedOp {
        op: format!("{name} on bool tensors"),
        transform: "eval".into(),
        node: String::new(),
    }
}

/// The table entry of `op`.
pub fn op_info(ir: &OperationIr) -> OpInfo {
    match ir {
        OperationIr::BaseFloat(o) | OperationIr::BaseInt(o) | OperationIr::BaseBool(o) => {
            base::info(o)
        }
        OperationIr::NumericFloat(_, o) | OperationIr::NumericInt(_, o) => numeric::info(o),
        OperationIr::Float(_, o) => float::info(o),
        OperationIr::Int(o) => int::info(o),
        OperationIr::Bool(o) => logic::info(o),
        OperationIr::Module(o) => module::info(o),
        OperationIr::Activation(o) => activation::info(o),
        OperationIr::Distributed(o) => distributed::info(o),
        OperationIr::Init(_) => op("init", OpClass::Creation),
        OperationIr::Custom(_) => op("custom", OpClass::Other),
        OperationIr::Drop(_) => op("drop", OpClass::Other),
    }
}

/// Evaluate `op` on the interpreter's values (with its tangent in forward mode).
pub(crate) fn eval(s: &mut Interp<'_>, op: &OperationIr) -> Result<()> {
    use Kind::*;
    match op {
        OperationIr::BaseFloat(o) => base::eval(s, op, o, Float),
        OperationIr::BaseInt(o) => base::eval(s, op, o, Int),
        OperationIr::BaseBool(o) => base::eval(s, op, o, Bool),
        OperationIr::NumericFloat(_, o) => numeric::eval(s, op, o, Float),
        OperationIr::NumericInt(_, o) => numeric::eval(s, op, o, Int),
        OperationIr::Float(_, o) => float::eval(s, op, o, Float),
        OperationIr::Int(o) => int::eval(s, op, o, Int),
        OperationIr::Bool(o) => logic::eval(s, op, o, Bool),
        OperationIr::Module(o) => module::eval(s, op, o, Float),
        OperationIr::Activation(o) => activation::eval(s, op, o, Float),
        OperationIr::Distributed(o) => distributed::eval(s, op, o, Float),
        // Recorded allocations and frees carry no values.
        OperationIr::Init(_) | OperationIr::Drop(_) => Ok(()),
        OperationIr::Custom(_) => Err(unsupported(op)),
    }
}

/// Whether the interpreter has a rule for `op` (checked for every node before a run starts).
pub(crate) fn evaluates(op: &OperationIr) -> bool {
    use Kind::*;
    match op {
        OperationIr::BaseFloat(o) => base::evaluates(o, Float),
        OperationIr::BaseInt(o) => base::evaluates(o, Int),
        OperationIr::BaseBool(o) => base::evaluates(o, Bool),
        OperationIr::NumericFloat(_, o) => numeric::evaluates(o, Float),
        OperationIr::NumericInt(_, o) => numeric::evaluates(o, Int),
        OperationIr::Float(_, o) => float::evaluates(o, Float),
        OperationIr::Int(o) => int::evaluates(o, Int),
        OperationIr::Bool(o) => logic::evaluates(o, Bool),
        OperationIr::Module(o) => module::evaluates(o, Float),
        OperationIr::Activation(o) => activation::evaluates(o, Float),
        OperationIr::Distributed(o) => distributed::evaluates(o, Float),
        OperationIr::Init(_) | OperationIr::Drop(_) => true,
        OperationIr::Custom(_) => false,
    }
}

/// Lower `op` to host steps; `None` when the host kernels do not take it.
pub(crate) fn lower(c: &mut Compiler, op: &OperationIr) -> Option<()> {
    match op {
        OperationIr::BaseFloat(o) => base::lower(c, o),
        OperationIr::NumericFloat(_, o) => numeric::lower(c, o),
        OperationIr::Float(_, o) => float::lower(c, o),
        OperationIr::Module(o) => module::lower(c, o),
        OperationIr::Activation(o) => activation::lower(c, o),
        OperationIr::Int(o) => int::lower(c, o),
        OperationIr::Bool(o) => logic::lower(c, o),
        OperationIr::Distributed(o) => distributed::lower(c, o),
        OperationIr::Init(_) | OperationIr::Drop(_) => Some(()),
        // Host steps hold float rows: structural ops on ints and bools stay with burn.
        OperationIr::BaseInt(_)
        | OperationIr::BaseBool(_)
        | OperationIr::NumericInt(..)
        | OperationIr::Custom(_) => None,
    }
}
