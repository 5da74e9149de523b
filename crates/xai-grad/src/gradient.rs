//! Gradients of a target with respect to the input and the parameters, on any burn model.
//!
//! The input gradient runs the user's forward on an autodiff copy of the input while the model's
//! weights stay on a plain device, so no parameter gradient is computed. Samples are independent
//! (no batch-coupled layers in eval mode), so one backward of Σ_b target_b gives every sample's
//! gradient at once.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use xai_core::{Result, Target, XaiError, check_finite};

/// Validate an input batch: non-empty and finite.
pub fn validate_inputs<const D: usize>(x: &Tensor<D>) -> Result<()> {
    if x.dims()[0] == 0 {
        return Err(XaiError::EmptyBatch("input batch has no rows".into()));
    }
    check_finite(x, "input")
}

/// `∂ target / ∂ x` for every sample, and the model's outputs.
///
/// `forward` maps a batch `[N, ...]` to outputs `[N, C]`; the model inside it may live on a plain
/// device. The returned gradient has the input's shape and lives on the input's device.
pub fn input_gradient<const D: usize>(
    forward: impl Fn(Tensor<D>) -> Tensor<2>,
    x: Tensor<D>,
    target: &Target,
) -> Result<(Tensor<D>, Tensor<2>)> {
    validate_inputs(&x)?;
    let plain = x.device();
    let ad = plain.clone().autodiff();
    let xa = x.to_device(&ad.clone().inner()).autodiff().require_grad();
    let out = forward(xa.clone());
    if out.dims()[0] != xa.dims()[0] {
        return Err(XaiError::shape(
            "model output",
            format!("[{}, C]", xa.dims()[0]),
            &out.dims(),
        ));
    }
    let s = target.select(out.clone())?;
    let grads = s.sum().backward();
    let g = xa
        .grad(&grads)
        .ok_or_else(|| XaiError::Numerical("the target does not depend on the input".into()))?;
    Ok((g.to_device(&plain), out.detach().inner().to_device(&plain)))
}

/// Per-parameter gradients of a scalar `loss(model)` with their module paths.
///
/// The model is copied onto an autodiff device; the caller's model is left unchanged.
pub fn param_gradients<M>(
    model: &M,
    device: &Device,
    loss: impl FnOnce(&M) -> Tensor<1>,
) -> Vec<(String, Tensor<1>)>
where
    M: Module + Clone,
{
    let ad = device.clone().autodiff();
    let m = model.clone().to_device(&ad);
    let grads = loss(&m).sum().backward();
    struct Collect<'a> {
        stack: Vec<String>,
        grads: &'a burn::tensor::Gradients,
        out: Vec<(String, Tensor<1>)>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let v = param.val();
            let n = v.dims().iter().product::<usize>();
            let g = v
                .grad(self.grads)
                .map(|g| g.reshape([n]))
                .unwrap_or_else(|| Tensor::zeros([n], &v.device().inner()));
            self.out.push((self.stack.join("."), g));
        }
    }
    let mut c = Collect {
        stack: Vec::new(),
        grads: &grads,
        out: Vec::new(),
    };
    m.visit(&mut c);
    c.out
}
