//! The rule hook: with no rules the unit-by-unit reverse pass is the ordinary gradient; rules
//! replace exactly the units they are given.
mod common;

use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use common::*;
use xai_core::Target;
use xai_grad::engine::{BackwardRule, NoRules, RuleSet, Unit, UnitCtx, UnitKind};
use xai_grad::{CapturedGraph, DynTensor, Precision};

fn one_hot(n: usize, c: usize, k: usize, dev: &Device) -> DynTensor {
    let mut v = vec![0.0f32; n * c];
    for i in 0..n {
        v[i * c + k] = 1.0;
    }
    DynTensor::from_tensor(Tensor::<2>::from_data(
        burn::tensor::TensorData::new(v, [n, c]),
        dev,
    ))
}

fn check<const D: usize>(
    g: &CapturedGraph,
    x: Tensor<D>,
    f: impl Fn(Tensor<D>) -> Tensor<2>,
    c: usize,
    name: &str,
) {
    let dev = x.device();
    let n = x.dims()[0];
    let ours = g
        .backward_with_rules(
            &[DynTensor::from_tensor(x.clone())],
            None,
            &one_hot(n, c, 1, &dev),
            &NoRules,
            &dev,
            Precision::F32,
        )
        .unwrap();
    // The oracle is burn's reverse mode through the replayed graph (the model's own forward
    // would put BatchNorm in training mode on an autodiff device).
    let _ = f;
    let ad = dev.clone().autodiff();
    let xa = x.to_device(&ad.clone().inner()).autodiff().require_grad();
    let out = g
        .eval(&[DynTensor::from_tensor(xa.clone())], &ad, Precision::F32)
        .unwrap();
    let y = out[0].clone().into_tensor::<2>().unwrap();
    let s = Target::Class(1).select(y).unwrap();
    let theirs = xai_core::tensor_to_vec_f64(xa.grad(&s.sum().backward()).unwrap()).unwrap();
    let ours = to_f64(&ours[0]);
    let e = max_abs_diff(&ours, &theirs);
    assert!(
        e <= 1e-5 * (1.0 + max_abs(&theirs)),
        "{name}: rule-free reverse pass differs from the gradient by {e:.2e}"
    );
}

xai_testkit::test_device!(fn without_rules_the_reverse_pass_is_the_gradient(dev) {
    let m = Mlp::new(&dev);
    let x = randn([3, 5], 125, &dev);
    let g = CapturedGraph::capture(&m, x.clone(), |m, x| m.forward(x)).unwrap();
    check(&g, x, |x| m.forward(x), 3, "mlp");

    let c = Cnn::new(&dev);
    let x = randn([2, 2, 8, 8], 126, &dev);
    let g = CapturedGraph::capture(&c, x.clone(), |m, x| m.forward(x)).unwrap();
    check(&g, x, |x| c.forward(x), 3, "cnn");

    let r = Residual::new(&dev);
    let x = randn([3, 4], 127, &dev);
    let g = CapturedGraph::capture(&r, x.clone(), |m, x| m.forward(x)).unwrap();
    check(&g, x, |x| r.forward(x), 2, "residual");

    let a = Attention::new(&dev);
    let x = randn([2, 3, 4], 128, &dev);
    let g = CapturedGraph::capture(&a, x.clone(), |m, x| m.forward(x)).unwrap();
    check(&g, x, |x| a.forward(x), 3, "attention");
});

#[test]
fn units_follow_modules_and_classify_layers() {
    let dev = Device::flex();
    let c = Cnn::new(&dev);
    let g =
        CapturedGraph::capture(&c, randn([2, 2, 8, 8], 129, &dev), |m, x| m.forward(x)).unwrap();
    let units = g.units();
    let kinds: Vec<(String, UnitKind)> = units.iter().map(|u| (u.name.clone(), u.kind)).collect();
    assert_eq!(kinds[0], ("c1".to_string(), UnitKind::Conv));
    assert_eq!(kinds[1], ("bn".to_string(), UnitKind::Norm));
    assert_eq!(kinds[2].1, UnitKind::Activation);
    assert_eq!(kinds[3].1, UnitKind::MaxPool);
    let fc = units.iter().find(|u| u.name == "fc").unwrap();
    assert_eq!(fc.kind, UnitKind::Dense);
    assert_eq!(fc.ops, vec!["matmul", "reshape", "add"]);
    assert_eq!(fc.weighted_index, Some(2));

    let r = Residual::new(&dev);
    let g = CapturedGraph::capture(&r, randn([3, 4], 130, &dev), |m, x| m.forward(x)).unwrap();
    assert!(
        g.units().iter().any(|u| u.kind == UnitKind::Add),
        "residual add is a unit"
    );
}

/// A rule that zeroes the cotangent of one unit: everything upstream of it must get zero.
struct Block;
impl BackwardRule for Block {
    fn name(&self) -> String {
        "block".into()
    }
    fn backward(&self, ctx: &UnitCtx<'_>, _g: &DynTensor) -> xai_core::Result<Vec<DynTensor>> {
        Ok(ctx.inputs()?.iter().map(DynTensor::zeros_like).collect())
    }
}
struct BlockKind(UnitKind);
impl RuleSet for BlockKind {
    fn rule_for(&self, unit: &Unit) -> Option<Arc<dyn BackwardRule>> {
        (unit.kind == self.0).then(|| Arc::new(Block) as Arc<dyn BackwardRule>)
    }
}

#[test]
fn a_rule_replaces_exactly_its_units() {
    let dev = Device::flex();
    let r = Residual::new(&dev);
    let x = randn([3, 4], 131, &dev);
    let g = CapturedGraph::capture(&r, x.clone(), |m, x| m.forward(x)).unwrap();
    let run = |rules: &dyn RuleSet| {
        to_f64(
            &g.backward_with_rules(
                &[DynTensor::from_tensor(x.clone())],
                None,
                &one_hot(3, 2, 0, &dev),
                rules,
                &dev,
                Precision::F32,
            )
            .unwrap()[0],
        )
    };
    // Blocking the GELU leaves the skip path: the gradient through `inp` and `out` only.
    let skip_only = run(&BlockKind(UnitKind::Activation));
    let full = run(&NoRules);
    assert!(
        max_abs_diff(&skip_only, &full) > 1e-4,
        "blocking the branch must change the result"
    );
    assert!(
        max_abs(&skip_only) > 1e-4,
        "the skip path still carries gradient"
    );
    // Blocking every dense layer blocks everything.
    assert!(max_abs(&run(&BlockKind(UnitKind::Dense))) == 0.0);
}
