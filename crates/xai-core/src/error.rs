//! Typed errors shared by every xai crate.
//!
//! Every fallible public function returns [`Result<T>`]; bad input is reported here instead of
//! panicking, and non-finite values are caught before they reach a result.

use thiserror::Error;

/// Everything that can go wrong in xai.
#[derive(Debug, Error)]
pub enum XaiError {
    /// A tensor had the wrong shape.
    #[error("shape mismatch for {what}: expected {expected}, got {got:?}")]
    Shape {
        /// Which argument was wrong.
        what: String,
        /// A readable description of the expected shape.
        expected: String,
        /// The shape that was given.
        got: Vec<usize>,
    },
    /// A target class index is not a valid output index.
    #[error("target class {index} out of range for a model with {classes} outputs")]
    TargetOutOfRange {
        /// The requested class.
        index: usize,
        /// Number of model outputs.
        classes: usize,
    },
    /// An input or result contains NaN or infinity.
    #[error("non-finite value (NaN or infinity) in {0}")]
    NonFinite(String),
    /// A batch with no rows, or a data set with no examples.
    #[error("empty batch: {0}")]
    EmptyBatch(String),
    /// The engine met an operation it has no rule for under the requested transform.
    #[error("unsupported operation `{op}` under {transform} (node {node})")]
    UnsupportedOp {
        /// The operation's name, as burn's IR calls it.
        op: String,
        /// The transform that needed it (eval, jvp, vjp, rule).
        transform: String,
        /// The stable name of the node.
        node: String,
    },
    /// A node name that does not exist in a captured graph.
    #[error("no node named `{0}` in the captured graph")]
    UnknownNode(String),
    /// An invalid setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Graph capture failed.
    #[error("graph capture failed: {0}")]
    Capture(String),
    /// A fixture or data file could not be parsed.
    #[error("parse error in {file}: {message}")]
    Parse {
        /// The file or source.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A device was requested that this build does not have.
    #[error("device `{0}` is not available in this build (enable its cargo feature)")]
    DeviceUnavailable(String),
    /// An iterative solver did not converge or diverged.
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// Result alias for xai.
pub type Result<T> = std::result::Result<T, XaiError>;

impl XaiError {
    /// Shorthand for a shape error.
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, got: &[usize]) -> Self {
        XaiError::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }

    /// An I/O error on `path`, for `map_err`: `std::fs::write(&p, t).map_err(XaiError::io(&p))`.
    pub fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> XaiError + '_ {
        move |source| XaiError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Any other failure while writing `path` (image encoding, drawing, serialisation), reported
    /// as an I/O error on that path.
    pub fn writing(path: &std::path::Path, e: impl std::fmt::Display) -> XaiError {
        XaiError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        }
    }
}
