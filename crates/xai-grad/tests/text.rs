//! Token attributions for models that start with burn's `Embedding`, against oracles:
//! a bag-of-embeddings with a linear head (closed form), and a nonlinear text model whose
//! token IG must equal plain IG of its tail network on the embeddings; completeness, padding
//! tokens, chunking and batch invariance, flex = wgpu.

mod common;

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, Relu, Tanh};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use xai_core::{MemoryBudget, Target};
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::integrated_gradients::{IgConfig, integrated_gradients};
use xai_grad::methods::text::{
    TokenExplainable, padding_baseline, token_gradient_x_embedding, token_integrated_gradients,
};

const VOCAB: usize = 12;
const DIM: usize = 5;
const PAD: i64 = 0;

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(7);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

fn embedding(dev: &Device, dtype: DType) -> Embedding {
    let mut e: Embedding = EmbeddingConfig::new(VOCAB, DIM).init(dev);
    e.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(random(VOCAB * DIM, 3), [VOCAB, DIM]),
        (dev, dtype),
    ));
    e
}

fn linear(i: usize, o: usize, seed: u64, dev: &Device, dtype: DType) -> Linear {
    let mut l: Linear = LinearConfig::new(i, o).init(dev);
    l.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(random(i * o, seed), [i, o]),
        (dev, dtype),
    ));
    l.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(random(o, seed + 1), [o]),
        (dev, dtype),
    )));
    l
}

/// Mean of the token embeddings, then a linear head: `F = W·mean_t E[id_t] + b`.
#[derive(Module, Debug)]
struct Bag {
    embed: Embedding,
    head: Linear,
}

fn bag_forward(m: &Bag, ids: Tensor<2, Int>) -> Tensor<2> {
    m.head
        .forward(m.embed.forward(ids).mean_dim(1).squeeze_dim(1))
}

/// What follows the embedding in [`TextNet`], as a model of the embeddings `[N, T, E]`.
#[derive(Module, Debug)]
struct Tail {
    tanh: Tanh,
    hidden: Linear,
    relu: Relu,
    head: Linear,
}

impl Tail {
    fn forward(&self, e: Tensor<3>) -> Tensor<2> {
        let h = self.hidden.forward(self.tanh.forward(e)); // [N, T, H]
        let pooled = self.relu.forward(h).sum_dim(1).squeeze_dim(1); // [N, H]
        self.head.forward(pooled)
    }
}

#[derive(Module, Debug)]
struct TextNet {
    embed: Embedding,
    tail: Tail,
}

fn text_forward(m: &TextNet, ids: Tensor<2, Int>) -> Tensor<2> {
    m.tail.forward(m.embed.forward(ids))
}

fn text_net(dev: &Device, dtype: DType) -> TextNet {
    TextNet {
        embed: embedding(dev, dtype),
        tail: Tail {
            tanh: Tanh::new(),
            hidden: linear(DIM, 7, 11, dev, dtype),
            relu: Relu::new(),
            head: linear(7, 3, 13, dev, dtype),
        },
    }
}

fn ids(v: Vec<i64>, shape: [usize; 2], dev: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn bag_of_embeddings_has_closed_form_token_scores() {
    let dev = Device::flex();
    let bag = Bag {
        embed: embedding(&dev, DType::F64),
        head: linear(DIM, 2, 5, &dev, DType::F64),
    };
    let e = xai_core::tensor_to_vec_f64(bag.embed.weight.val()).unwrap(); // [V, E]
    let w = xai_core::tensor_to_vec_f64(bag.head.weight.val()).unwrap(); // [E, 2]
    let ex = TokenExplainable::new(bag, bag_forward, dev.clone()).with_precision(Precision::F64);
    let tokens = vec![3i64, 7, 7, 0, 5, 1, 0, 0];
    let x = ids(tokens.clone(), [2, 4], &dev);
    let target = Target::Classes(vec![1, 0]);
    let score = |tok: i64, class: usize| -> f64 {
        (0..DIM)
            .map(|d| e[tok as usize * DIM + d] * w[d * 2 + class])
            .sum::<f64>()
            / 4.0
    };
    let gxe = token_gradient_x_embedding(&ex, &x, &target).unwrap();
    assert_eq!(gxe.tokens_shape, vec![2, 4]);
    assert_eq!(gxe.layer_shape, vec![2, 4, DIM]);
    let want: Vec<f64> = (0..8).map(|k| score(tokens[k], [1, 0][k / 4])).collect();
    assert!(max_diff(&gxe.per_token, &want) < 1e-12);

    let base = padding_baseline(&x, PAD, &[]);
    let ig = token_integrated_gradients(&ex, &x, &base, &target, &IgConfig::default()).unwrap();
    let want: Vec<f64> = (0..8)
        .map(|k| {
            let c = [1, 0][k / 4];
            score(tokens[k], c) - score(PAD, c)
        })
        .collect();
    assert!(max_diff(&ig.per_token, &want) < 1e-12);
    // Padding tokens are their own baseline: exactly zero.
    for k in [3, 6, 7] {
        assert_eq!(ig.per_token[k], 0.0);
    }
    assert!(ig.delta.unwrap().iter().all(|d| d.abs() < 1e-12));
    // Tokens kept in the baseline get nothing either.
    let keep = padding_baseline(&x, PAD, &[7]);
    let ig = token_integrated_gradients(&ex, &x, &keep, &target, &IgConfig::default()).unwrap();
    assert_eq!(ig.per_token[1], 0.0);
    assert_eq!(ig.per_token[2], 0.0);
}

#[test]
fn token_ig_equals_ig_of_the_tail_on_the_embeddings_and_is_complete() {
    let dev = Device::flex();
    let net = text_net(&dev, DType::F64);
    let tokens = vec![4i64, 9, 2, 0, 0, 11, 6, 6, 3, 1];
    let x = ids(tokens.clone(), [2, 5], &dev);
    let base = padding_baseline(&x, PAD, &[]);
    let e_x = net.embed.forward(x.clone());
    let e_b = net.embed.forward(base.clone());
    let tail = Explainable::new(net.tail.clone(), |m: &Tail, e| m.forward(e), dev.clone())
        .with_precision(Precision::F64);
    let ex = TokenExplainable::new(net, text_forward, dev.clone()).with_precision(Precision::F64);
    let target = Target::Predicted;
    let cfg = IgConfig {
        n_steps: 64,
        ..IgConfig::default()
    };
    let r = token_integrated_gradients(&ex, &x, &base, &target, &cfg).unwrap();
    assert_eq!(r.node, "embed.embedding");
    let oracle = integrated_gradients(&tail, &e_x, &e_b, &target, &cfg).unwrap();
    let oracle_vals = xai_core::tensor_to_vec_f64(oracle.attributions).unwrap();
    assert!(max_diff(&r.per_dimension, &oracle_vals) < 1e-12);
    assert_eq!(r.classes, oracle.classes);
    let delta = r.delta.clone().unwrap();
    assert!(max_diff(&delta, &oracle.delta) < 1e-12);
    // ReLU kinks slow the quadrature down; many midpoint steps make it complete.
    let fine = IgConfig {
        n_steps: 2048,
        method: xai_grad::methods::integrated_gradients::Quadrature::RiemannMiddle,
        ..IgConfig::default()
    };
    let d = token_integrated_gradients(&ex, &x, &base, &target, &fine)
        .unwrap()
        .delta
        .unwrap();
    assert!(
        d.iter().all(|d| d.abs() < 1e-3),
        "{d:?} (64 steps: {delta:?})"
    );

    // Chunking (one path point per pass) and batch invariance give the same numbers.
    let tiny = IgConfig {
        budget: MemoryBudget { bytes: 1 },
        ..cfg.clone()
    };
    let again = token_integrated_gradients(&ex, &x, &base, &target, &tiny).unwrap();
    assert!(max_diff(&again.per_token, &r.per_token) < 1e-12);
    let first = ids(tokens[..5].to_vec(), [1, 5], &dev);
    let alone = token_integrated_gradients(
        &ex,
        &first,
        &padding_baseline(&first, PAD, &[]),
        &Target::Classes(vec![r.classes[0]]),
        &cfg,
    )
    .unwrap();
    assert!(max_diff(&alone.per_token, &r.per_token[..5]) < 1e-12);

    // Gradient × embedding = gradient × input of the tail at the embeddings.
    let g = token_gradient_x_embedding(&ex, &x, &target).unwrap();
    let grads = xai_grad::methods::input_gradients(&tail, &e_x, &r.classes).unwrap();
    let want = xai_core::tensor_to_vec_f64(grads * e_x).unwrap();
    assert!(max_diff(&g.per_dimension, &want) < 1e-12);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dev = Device::flex();
    let ex = TokenExplainable::new(text_net(&dev, DType::F32), text_forward, dev.clone());
    let x = ids(vec![1, 2, 3, 4], [1, 4], &dev);
    let short = ids(vec![0, 0], [1, 2], &dev);
    let cfg = IgConfig::default();
    assert!(token_integrated_gradients(&ex, &x, &short, &Target::Predicted, &cfg).is_err());
    let named = TokenExplainable::new(text_net(&dev, DType::F32), text_forward, dev.clone())
        .at_layer("no.such.layer");
    assert!(token_gradient_x_embedding(&named, &x, &Target::Predicted).is_err());
    // A layer that is not one vector per token.
    let pooled = TokenExplainable::new(text_net(&dev, DType::F32), text_forward, dev.clone())
        .at_layer("tail.head");
    assert!(token_gradient_x_embedding(&pooled, &x, &Target::Predicted).is_err());
    assert!(token_gradient_x_embedding(&ex, &x, &Target::Class(9)).is_err());
    // Ids outside the vocabulary are refused before the lookup, for every method.
    let oov = ids(vec![1, 2, VOCAB as i64, 4], [1, 4], &dev);
    let e = token_gradient_x_embedding(&ex, &oov, &Target::Predicted)
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
    let negative = ids(vec![1, -1, 3, 4], [1, 4], &dev);
    let base = ids(vec![0; 4], [1, 4], &dev);
    let e = token_integrated_gradients(&ex, &negative, &base, &Target::Predicted, &cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
}

#[test]
fn token_ig_agrees_across_devices() {
    let tokens = vec![4i64, 9, 2, 0, 11, 6, 6, 3];
    let mut results: Vec<(&str, Vec<f64>)> = Vec::new();
    for (name, dev) in xai_testkit::devices!() {
        let net = text_net(&dev, DType::F32);
        let ex = TokenExplainable::new(net, text_forward, dev.clone());
        let x = ids(tokens.clone(), [2, 4], &dev);
        let r = token_integrated_gradients(
            &ex,
            &x,
            &padding_baseline(&x, PAD, &[]),
            &Target::Classes(vec![0, 2]),
            &IgConfig::default(),
        )
        .unwrap();
        assert!(r.delta.unwrap().iter().all(|d| d.abs() < 0.05));
        results.push((name, r.per_token));
    }
    for (name, v) in &results[1..] {
        assert!(max_diff(v, &results[0].1) < 1e-4, "{name} vs flex");
    }
}
