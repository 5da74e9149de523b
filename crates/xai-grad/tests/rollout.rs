//! Attention rollout on a captured self-attention block: the tapped softmax is the attention the
//! block computes, rollout of one layer is `(A + I)/2` row-normalised, rows are distributions,
//! and the multi-layer product matches a hand product.

mod common;

use burn::tensor::{Device, Tensor};
use common::{Attention, randn};
use xai_core::Target;
use xai_grad::methods::Explainable;
use xai_grad::methods::attention_rollout::{RolloutConfig, attention_rollout, fuse, softmax_nodes};

#[test]
fn one_layer_rollout_is_half_attention_half_identity() {
    let dev = Device::flex();
    let m = Attention::new(&dev);
    let x: Tensor<3> = randn([2, 5, 4], 124, &dev);
    // The attention the block computes, by hand.
    let q = m.q.forward(x.clone());
    let k = m.k.forward(x.clone());
    let att = burn::tensor::activation::softmax(q.matmul(k.swap_dims(1, 2)).div_scalar(2.0), 2);
    let att = xai_core::tensor_to_vec_f64(att).unwrap();
    let ex = Explainable::new(m, |m: &Attention, x| m.forward(x), dev.clone());
    let g = ex.graph(&x).unwrap();
    let nodes = softmax_nodes(&g);
    assert_eq!(nodes.len(), 1, "{}", g.summary());
    let r = attention_rollout(
        &ex,
        &x,
        &Target::Predicted,
        &[nodes[0].as_str()],
        &RolloutConfig::default(),
    )
    .unwrap();
    assert_eq!((r.n, r.tokens), (2, 5));
    for i in 0..2 {
        for a in 0..5 {
            let row = &r.values[(i * 5 + a) * 5..(i * 5 + a + 1) * 5];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6);
            for b in 0..5 {
                let want = 0.5 * att[(i * 5 + a) * 5 + b] + if a == b { 0.5 } else { 0.0 };
                assert!((row[b] - want).abs() < 1e-5, "{} vs {want}", row[b]);
            }
        }
    }
    // Gradient-weighted rollout is class-specific and still finite.
    let cfg = RolloutConfig {
        gradient_weighted: true,
        ..RolloutConfig::default()
    };
    let r0 = attention_rollout(&ex, &x, &Target::Class(0), &[nodes[0].as_str()], &cfg).unwrap();
    let r1 = attention_rollout(&ex, &x, &Target::Class(1), &[nodes[0].as_str()], &cfg).unwrap();
    assert!(r0.values.iter().all(|v| v.is_finite() && *v >= 0.0));
    assert_ne!(r0.values, r1.values);
    assert!(
        attention_rollout(&ex, &x, &Target::Predicted, &[], &RolloutConfig::default()).is_err()
    );
}

#[test]
fn fusion_and_composition_on_hand_matrices() {
    // Two heads of a 2-token attention: mean fusion then the residual.
    let a = [1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5];
    let fused = fuse(&a, &[1, 2, 2, 2], &RolloutConfig::default()).unwrap();
    // mean = [[0.5,0.5],[0.5,0.5]] → 0.5·mean + 0.5·I = [[0.75,0.25],[0.25,0.75]].
    assert_eq!(fused[0], vec![0.75, 0.25, 0.25, 0.75]);
    assert!(fuse(&a, &[1, 2, 4], &RolloutConfig::default()).is_err());
}
