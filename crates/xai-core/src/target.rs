//! What an attribution explains: which scalar of the model's output.
//!
//! A model maps a batch `[N, ...]` to outputs `[N, C]`. A [`Target`] turns those outputs into one
//! scalar per sample, `[N]`, in a differentiable way (a one-hot mask, never an index gather that
//! would cut the graph), so that gradient methods can seed their backward pass with it.

use std::fmt;
use std::sync::Arc;

use burn::tensor::{Int, Tensor, TensorData};

use crate::error::{Result, XaiError};

/// A user-defined scalar per sample, computed from the outputs `[N, C]`, returning `[N]`.
pub type CustomTarget = Arc<dyn Fn(Tensor<2>) -> Tensor<1> + Send + Sync>;

/// Which scalar of the output to explain.
#[derive(Clone)]
pub enum Target {
    /// One class index per sample (length N).
    Classes(Vec<usize>),
    /// The same class for every sample.
    Class(usize),
    /// The class the model predicts for each sample (arg-max of the outputs, read once).
    Predicted,
    /// A custom differentiable scalar function of the outputs.
    Custom(CustomTarget),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Classes(c) => f.debug_tuple("Classes").field(c).finish(),
            Target::Class(c) => f.debug_tuple("Class").field(c).finish(),
            Target::Predicted => write!(f, "Predicted"),
            Target::Custom(_) => write!(f, "Custom(..)"),
        }
    }
}

impl Target {
    /// Resolve to explicit class indices for `outputs` `[N, C]`, validating ranges.
    /// Returns `None` for a custom target.
    pub fn classes(&self, outputs: &Tensor<2>) -> Result<Option<Vec<usize>>> {
        let [n, c] = outputs.dims();
        let classes = match self {
            Target::Classes(v) => {
                if v.len() != n {
                    return Err(XaiError::shape(
                        "target classes",
                        format!("{n} entries"),
                        &[v.len()],
                    ));
                }
                v.clone()
            }
            Target::Class(k) => vec![*k; n],
            Target::Predicted => {
                let idx: Tensor<1, Int> = outputs.clone().detach().argmax(1).reshape([n]);
                let data = idx.into_data().convert::<i64>();
                data.try_to_vec::<i64>()
                    .map_err(|e| XaiError::Numerical(format!("{e:?}")))?
                    .into_iter()
                    .map(|v| v as usize)
                    .collect()
            }
            Target::Custom(_) => return Ok(None),
        };
        if let Some(&bad) = classes.iter().find(|&&k| k >= c) {
            return Err(XaiError::TargetOutOfRange {
                index: bad,
                classes: c,
            });
        }
        Ok(Some(classes))
    }

    /// The explained scalar per sample, `[N]`, differentiable through `outputs`.
    pub fn select(&self, outputs: Tensor<2>) -> Result<Tensor<1>> {
        match self {
            Target::Custom(f) => {
                let n = outputs.dims()[0];
                let s = f(outputs);
                if s.dims()[0] != n {
                    return Err(XaiError::shape(
                        "custom target output",
                        format!("[{n}]"),
                        &s.dims(),
                    ));
                }
                Ok(s)
            }
            _ => {
                let classes = self.classes(&outputs)?.unwrap_or_default();
                let mask =
                    one_hot(&classes, outputs.dims()[1], &outputs.device()).cast(outputs.dtype());
                Ok((outputs * mask).sum_dim(1).squeeze_dim(1))
            }
        }
    }

    /// The seed for a backward pass: a one-hot matrix `[N, C]` (for class targets).
    pub fn seed(&self, outputs: &Tensor<2>) -> Result<Option<Tensor<2>>> {
        Ok(self
            .classes(outputs)?
            .map(|c| one_hot(&c, outputs.dims()[1], &outputs.device()).cast(outputs.dtype())))
    }
}

/// A one-hot matrix `[N, C]` on `device`.
pub fn one_hot(classes: &[usize], num_classes: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut data = vec![0f32; classes.len() * num_classes];
    for (i, &k) in classes.iter().enumerate() {
        data[i * num_classes + k] = 1.0;
    }
    Tensor::from_data(TensorData::new(data, [classes.len(), num_classes]), device)
}
