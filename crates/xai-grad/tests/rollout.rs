//! Attention rollout on a captured self-attention block: the tapped softmax is the attention the
//! block computes, rollout of one layer is `(A + I)/2` row-normalised, rows are distributions,
//! and the multi-layer product matches a hand product.

mod common;

use burn::tensor::{Device, Tensor};
use common::{Attention, randn};
use xai_core::Target;
use xai_grad::methods::Explainable;
use xai_grad::methods::attention_flow::attention_flow;
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
    // Attention flow through one layer is the fused attention itself; through the same layer
    // twice it is bounded by one (a row of the top layer sums to one) and by the rollout's
    // bottlenecks, and differs from the rollout product.
    let one = [nodes[0].as_str()];
    let cfg = RolloutConfig::default();
    let flow = attention_flow(&ex, &x, &Target::Predicted, &one, &cfg).unwrap();
    let roll = attention_rollout(&ex, &x, &Target::Predicted, &one, &cfg).unwrap();
    for (f, r) in flow.values.iter().zip(&roll.values) {
        assert!((f - r).abs() < 1e-12, "{f} vs {r}");
    }
}

/// burn's `TransformerEncoder` (two pre-norm layers, two heads) with a mean-pooled head.
#[derive(burn::module::Module, Debug)]
struct TwoLayers {
    enc: burn::nn::transformer::TransformerEncoder,
    head: burn::nn::Linear,
}

fn two_layers_forward(m: &TwoLayers, x: Tensor<3>) -> Tensor<2> {
    let y = m
        .enc
        .forward(burn::nn::transformer::TransformerEncoderInput::new(x));
    m.head.forward(y.mean_dim(1).squeeze_dim(1))
}

#[test]
fn attention_flow_through_two_encoder_layers() {
    use xai_grad::methods::attention_flow::flow_matrix;
    use xai_grad::methods::attention_rollout::fused_attention;
    let dev = Device::flex();
    let enc = burn::nn::transformer::TransformerEncoderConfig::new(8, 16, 2, 2)
        .with_norm_first(true)
        .with_dropout(0.0)
        .init(&dev);
    let head = burn::nn::LinearConfig::new(8, 3).init(&dev);
    let m = xai_core::init::seeded(TwoLayers { enc, head }, 4).unwrap();
    let x: Tensor<3> = randn([2, 4, 8], 31, &dev);
    let ex = Explainable::new(m, two_layers_forward, dev.clone());
    let nodes = softmax_nodes(&ex.graph(&x).unwrap());
    assert_eq!(nodes.len(), 2);
    let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let cfg = RolloutConfig::default();
    let flow = attention_flow(&ex, &x, &Target::Predicted, &names, &cfg).unwrap();
    let roll = attention_rollout(&ex, &x, &Target::Predicted, &names, &cfg).unwrap();
    assert_eq!((flow.n, flow.tokens), (2, 4));
    // Flows lie in [0, 1], and the flow into an output token never exceeds one (its capacity).
    assert!(
        flow.values
            .iter()
            .all(|&v| (0.0..=1.0 + 1e-12).contains(&v))
    );
    // It is the max flow of the same fused layers rollout multiplies.
    let (layers, t) = fused_attention(&ex, &x, &Target::Predicted, &names, &cfg).unwrap();
    for i in 0..2 {
        let per: Vec<Vec<f64>> = layers.iter().map(|l| l[i].clone()).collect();
        assert_eq!(
            flow_matrix(&per, t).unwrap(),
            flow.values[i * 16..(i + 1) * 16].to_vec()
        );
    }
    // Through two layers the paths j → k → i are edge-disjoint, so the max flow is exactly
    // Σ_k min(Â₁[k][j], Â₂[i][k]) — where rollout has Σ_k Â₂[i][k]·Â₁[k][j].
    for (n, (a1, a2)) in layers[0].iter().zip(&layers[1]).enumerate() {
        for i in 0..t {
            for j in 0..t {
                let paths: f64 = (0..t).map(|k| a1[k * t + j].min(a2[i * t + k])).sum();
                let f = flow.values[n * t * t + i * t + j];
                assert!((f - paths).abs() < 1e-12, "{f} vs {paths}");
            }
        }
    }
    assert_ne!(flow.values, roll.values);
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

/// burn's `MultiHeadAttention` with its last two positions masked as padding, mean-pooled.
#[derive(burn::module::Module, Debug)]
struct PaddedMha {
    mha: burn::nn::attention::MultiHeadAttention,
    head: burn::nn::Linear,
}

/// Positions `T − 2` and `T − 1` are padding.
fn padded_mha_forward(m: &PaddedMha, x: Tensor<3>) -> Tensor<2> {
    let [n, t, _] = x.dims();
    let mask: Vec<bool> = (0..n * t).map(|k| k % t >= t - 2).collect();
    let mask = Tensor::<2, burn::tensor::Bool>::from_data(
        burn::tensor::TensorData::new(mask, [n, t]),
        &x.device(),
    );
    let y = m
        .mha
        .forward(burn::nn::attention::MhaInput::self_attn(x).mask_pad(mask))
        .context;
    m.head.forward(y.mean_dim(1).squeeze_dim(1))
}

#[test]
fn rollout_rows_are_distributions_on_burns_attention_with_a_padding_mask() {
    let dev = Device::flex();
    let mha = burn::nn::attention::MultiHeadAttentionConfig::new(8, 2)
        .with_dropout(0.0)
        .init(&dev);
    let head = burn::nn::LinearConfig::new(8, 3).init(&dev);
    let m = xai_core::init::seeded(PaddedMha { mha, head }, 6).unwrap();
    let x: Tensor<3> = randn([2, 6, 8], 41, &dev);
    let ex = Explainable::new(m, padded_mha_forward, dev.clone());
    let nodes = softmax_nodes(&ex.graph(&x).unwrap());
    assert_eq!(nodes.len(), 1);
    for gradient_weighted in [false, true] {
        let cfg = RolloutConfig {
            gradient_weighted,
            ..RolloutConfig::default()
        };
        let r = attention_rollout(&ex, &x, &Target::Predicted, &[nodes[0].as_str()], &cfg).unwrap();
        assert_eq!((r.n, r.tokens), (2, 6));
        for (k, row) in r.values.chunks(6).enumerate() {
            assert!(
                (row.iter().sum::<f64>() - 1.0).abs() < 1e-6,
                "row {k}: {row:?}"
            );
            assert!(row.iter().all(|&v| v >= 0.0));
            // A real token takes nothing from the padding.
            if k % 6 < 4 {
                assert!(
                    row[4].abs() < 1e-9 && row[5].abs() < 1e-9,
                    "row {k}: {row:?}"
                );
            }
        }
    }
}
