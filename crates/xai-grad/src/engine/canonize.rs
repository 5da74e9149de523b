//! Canonization: fold every BatchNorm into the linear or convolution layer before it, for the
//! attribution only (Zennit's `MergeBatchNorm`; Montavon et al. 2019, §10.3 of "Layer-wise
//! relevance propagation: an overview", and Guillemot et al. 2020 on why it matters).
//!
//! In inference mode `BN(z) = a ⊙ (z − μ) + β` with `a = γ / √(σ² + ε)` per channel, so
//! `BN(Wx + b) = (a ⊙ W) x + (a ⊙ (b − μ) + β)`: one affine layer. LRP rules are defined for
//! affine layers with their input, so they must see the merged layer, not two layers (otherwise
//! the BatchNorm's shift and scale enter the stabilisers and the split of relevance in the wrong
//! place). The folded graph is a copy: the layer gets `W' = a ⊙ W` and the bias
//! `b' = a ⊙ (b − μ) + β` (a bias is added when the layer had none, as Zennit does), and the
//! BatchNorm becomes the identity (`γ' = √(σ² + ε)`, `β' = μ`), so every node keeps its name
//! and the network computes the same function (to rounding).
//!
//! Folded only when it is exact: the BatchNorm reads the output of an affine layer (a `linear`,
//! `conv1d` or `conv2d` op, or burn-nn's `Linear` as recorded: `matmul`, `reshape(bias)`, `add`)
//! that nothing else reads, the layer's weight and bias are read by that node
//! only, the channel counts agree, and the statistics are recorded constants.

use std::collections::HashMap;

use burn::tensor::{DType, TensorData};
use burn_capture::TensorId;
use burn_ir::{
    BaseOperationIr, FloatOperationIr, ModuleOperationIr, NumericOperationIr, OperationIr,
    TensorIr, TensorStatus,
};

use xai_core::{Result, XaiError};

use super::graph::{CapturedGraph, ParamInfo};

impl CapturedGraph {
    /// A copy with every foldable BatchNorm merged into the layer before it; also returns the
    /// names of the folded BatchNorm nodes.
    pub fn fold_batch_norms(&self) -> Result<(CapturedGraph, Vec<String>)> {
        let mut g = self.clone();
        let mut producer: HashMap<TensorId, usize> = HashMap::new();
        let mut readers: HashMap<TensorId, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for t in n.op.outputs() {
                producer.insert(t.id, i);
            }
            for t in n.op.inputs() {
                *readers.entry(t.id).or_default() += 1;
            }
        }
        for t in &self.outputs {
            *readers.entry(t.id).or_default() += 1;
        }
        let mut next_id = self
            .nodes
            .iter()
            .flat_map(|n| {
                n.op.inputs()
                    .chain(n.op.outputs())
                    .map(|t| t.id.value())
                    .collect::<Vec<_>>()
            })
            .chain(self.constants.keys().map(|k| k.value()))
            .max()
            .unwrap_or(0)
            + 1;
        let mut folded = Vec::new();
        for bi in 0..self.nodes.len() {
            let OperationIr::Module(ModuleOperationIr::BatchNorm(bn)) = &self.nodes[bi].op else {
                continue;
            };
            let Some(&li) = producer.get(&bn.x.id) else {
                continue;
            };
            if readers.get(&bn.x.id) != Some(&1) {
                continue;
            }
            let Some((weight, bias, axis)) = affine_layer(self, li, &producer, &readers) else {
                continue;
            };
            let (weight, bias) = (&weight, &bias);
            let only_here = |t: &TensorIr| readers.get(&t.id) == Some(&1);
            if !only_here(weight) || bias.as_ref().is_some_and(|b| !only_here(b)) {
                continue;
            }
            let (Some(w), Some(gamma), Some(beta), Some(mean), Some(var)) = (
                values(self, &weight.id),
                values(self, &bn.gamma.id),
                values(self, &bn.beta.id),
                values(self, &bn.mean.id),
                values(self, &bn.variance.id),
            ) else {
                continue;
            };
            let channels = weight.shape[axis];
            if gamma.len() != channels || bn.x.shape.get(1) != Some(&channels) {
                continue;
            }
            let eps = super::interp::scalar_f64(&bn.epsilon);
            let scale: Vec<f64> = gamma
                .iter()
                .zip(&var)
                .map(|(g, v)| g / (v + eps).sqrt())
                .collect();
            // W' = a ⊙ W along the output-channel axis.
            let dims = weight.shape.to_vec();
            let inner: usize = dims[axis + 1..].iter().product();
            let w2: Vec<f64> = w
                .iter()
                .enumerate()
                .map(|(k, v)| v * scale[(k / inner) % channels])
                .collect();
            let b = match bias {
                Some(b) => values(self, &b.id).ok_or_else(|| {
                    XaiError::Capture("a layer bias is not a recorded constant".into())
                })?,
                None => vec![0.0; channels],
            };
            let b2: Vec<f64> = (0..channels)
                .map(|c| scale[c] * (b[c] - mean[c]) + beta[c])
                .collect();
            let dtype = weight.dtype;
            g.constants.insert(weight.id, data(w2, dims, dtype));
            let bias_ir = match bias {
                Some(b) => b.clone(),
                None => {
                    let ir = TensorIr {
                        id: TensorId::new(next_id),
                        shape: burn::tensor::Shape::new([channels]),
                        status: TensorStatus::ReadOnly,
                        dtype,
                    };
                    next_id += 1;
                    let module = self.nodes[li].module.clone().unwrap_or_default();
                    g.params.push(ParamInfo {
                        path: format!("{module}.bias"),
                        shape: vec![channels],
                        id: ir.id,
                    });
                    set_bias(&mut g.nodes[li].op, ir.clone());
                    ir
                }
            };
            g.constants
                .insert(bias_ir.id, data(b2, vec![channels], dtype));
            // The BatchNorm becomes the identity: γ' = √(σ² + ε), β' = μ.
            let root: Vec<f64> = var.iter().map(|v| (v + eps).sqrt()).collect();
            g.constants
                .insert(bn.gamma.id, data(root, vec![channels], bn.gamma.dtype));
            g.constants.insert(
                bn.beta.id,
                data(mean.clone(), vec![channels], bn.beta.dtype),
            );
            folded.push(self.nodes[bi].name.clone());
        }
        Ok((g, folded))
    }
}

/// The weight, the bias and the output-channel axis of the weight, when node `li` is the end
/// of an affine layer: a `linear` or `conv1d`/`conv2d` module op, or burn-nn's `Linear` as it is
/// recorded (`matmul(x, W)`, `reshape(b)`, `add`), whose intermediate values nothing else reads.
fn affine_layer(
    g: &CapturedGraph,
    li: usize,
    producer: &HashMap<TensorId, usize>,
    readers: &HashMap<TensorId, usize>,
) -> Option<(TensorIr, Option<TensorIr>, usize)> {
    let is_param = |t: &TensorIr| g.params.iter().any(|p| p.id == t.id);
    match &g.nodes[li].op {
        OperationIr::Module(ModuleOperationIr::Linear(l)) => {
            Some((l.weight.clone(), l.bias.clone(), 1))
        }
        OperationIr::Module(ModuleOperationIr::Conv2d(c)) => {
            Some((c.weight.clone(), c.bias.clone(), 0))
        }
        OperationIr::Module(ModuleOperationIr::Conv1d(c)) => {
            Some((c.weight.clone(), c.bias.clone(), 0))
        }
        OperationIr::NumericFloat(_, NumericOperationIr::Add(add)) => {
            for (a, b) in [(&add.lhs, &add.rhs), (&add.rhs, &add.lhs)] {
                let (Some(&pa), Some(&pb)) = (producer.get(&a.id), producer.get(&b.id)) else {
                    continue;
                };
                let (
                    OperationIr::Float(_, FloatOperationIr::Matmul(m)),
                    OperationIr::BaseFloat(BaseOperationIr::Reshape(r)),
                ) = (&g.nodes[pa].op, &g.nodes[pb].op)
                else {
                    continue;
                };
                let private = readers.get(&a.id) == Some(&1) && readers.get(&b.id) == Some(&1);
                if private && is_param(&m.rhs) && is_param(&r.input) && m.rhs.shape.num_dims() == 2
                {
                    return Some((m.rhs.clone(), Some(r.input.clone()), 1));
                }
            }
            None
        }
        _ => None,
    }
}

fn values(g: &CapturedGraph, id: &TensorId) -> Option<Vec<f64>> {
    let d = g.constants.get(id)?;
    d.clone().convert::<f64>().try_into_vec::<f64>().ok()
}

fn data(v: Vec<f64>, shape: Vec<usize>, dtype: DType) -> TensorData {
    TensorData::new(v, shape).convert_dtype(dtype)
}

fn set_bias(op: &mut OperationIr, bias: TensorIr) {
    match op {
        OperationIr::Module(ModuleOperationIr::Linear(l)) => l.bias = Some(bias),
        OperationIr::Module(ModuleOperationIr::Conv2d(c)) => c.bias = Some(bias),
        OperationIr::Module(ModuleOperationIr::Conv1d(c)) => c.bias = Some(bias),
        _ => {}
    }
}
