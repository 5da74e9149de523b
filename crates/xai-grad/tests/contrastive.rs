//! The contrastive explanation method (pertinent negatives and positives) and prototype-guided
//! counterfactuals against closed forms on a linear classifier: the elastic-net optimum under a
//! margin constraint (bisection on the KKT multiplier), the unconstrained optimum of the
//! prototype and autoencoder terms (a linear solve), brute-force prototypes, and clear errors.

use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use xai_grad::methods::Explainable;
use xai_grad::methods::cem::{CemConfig, Pertinent, cem};
use xai_grad::methods::prototype_counterfactual::{
    Guides, ProtoConfig, prototype, prototype_counterfactual,
};

/// Two logits: `f_0 = 0`, `f_1 = a·x − C`.
const A: [f64; 4] = [3.0, 0.3, -1.5, 0.2];
const C: f64 = 1.5;

fn a() -> [f64; 4] {
    A.map(|v| v as f32 as f64) // the weights the model holds
}

fn linear(weight: &[f64], bias: &[f64], dev: &Device) -> Explainable<2> {
    let l = xai_testkit::models::linear_with(weight, bias, dev);
    Explainable::new(l, |m: &Linear, x| m.forward(x), dev.clone())
}

fn classifier(dev: &Device) -> Explainable<2> {
    let w: Vec<f64> = A.iter().flat_map(|&d| [0.0, d]).collect(); // [in, out]
    linear(&w, &[0.0, -C], dev)
}

fn row(v: &[f64], dev: &Device) -> Tensor<2> {
    let n = v.len() / 4;
    let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::<2>::from_data(TensorData::new(f, [n, 4]), dev)
}

fn vals(t: Tensor<2>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

/// `argmin β‖δ‖₁ + ‖δ‖₂²` over `δ ∈ [lo, hi]` subject to `a·δ ≥ m`: by the KKT conditions
/// `δᵢ = clamp(sign(aᵢ) max(0, μ|aᵢ| − β) / 2)`, with `μ` bisected until `a·δ = m`.
fn elastic_net_oracle(a: &[f64], m: f64, beta: f64, lo: &[f64], hi: &[f64]) -> Vec<f64> {
    let delta = |mu: f64| -> Vec<f64> {
        (0..a.len())
            .map(|i| {
                let d = a[i].signum() * (mu * a[i].abs() - beta).max(0.0) / 2.0;
                d.clamp(lo[i], hi[i])
            })
            .collect()
    };
    let dot = |d: &[f64]| a.iter().zip(d).map(|(p, q)| p * q).sum::<f64>();
    let (mut l, mut h) = (0.0, 1e6);
    for _ in 0..200 {
        let mid = (l + h) / 2.0;
        if dot(&delta(mid)) < m {
            l = mid
        } else {
            h = mid
        }
    }
    delta(h)
}

fn elastic_net(d: &[f64], beta: f64) -> f64 {
    d.iter().map(|v| beta * v.abs() + v * v).sum()
}

fn fast() -> CemConfig {
    CemConfig {
        max_iterations: 300,
        c_steps: 12,
        learning_rate: 0.05,
        ..CemConfig::default()
    }
}

#[test]
fn pertinent_negative_of_a_linear_model_is_the_elastic_net_optimum() {
    let dev = Device::flex();
    let ex = classifier(&dev);
    let r = cem(
        &ex,
        &row(&[0.0; 4], &dev),
        Pertinent::Negative,
        &fast(),
        None,
    )
    .unwrap();
    assert!(r.found[0]);
    assert_eq!((r.original[0], r.classes[0]), (0, 1));
    let d = vals(r.delta);
    let inf = [f64::NEG_INFINITY; 4];
    let oracle = elastic_net_oracle(&a(), C, 0.1, &inf, &inf.map(|v| -v));
    // μ* = 0.307 < β / |a₁| and β / |a₃|: only features 0 and 2 move.
    assert_eq!(oracle.iter().filter(|v| **v != 0.0).count(), 2);
    assert_eq!(r.changed[0], 2, "{d:?}");
    let (got, best) = (elastic_net(&d, 0.1), elastic_net(&oracle, 0.1));
    assert!(
        got >= best - 1e-4 && got <= best * 1.01,
        "{got} vs optimum {best}"
    );
    for (p, q) in d.iter().zip(&oracle) {
        assert!((p - q).abs() < 0.02, "{d:?} vs {oracle:?}");
    }
    assert!((r.distance[0] - got).abs() < 1e-6); // f32 read-back
}

#[test]
fn pertinent_negative_respects_bounds_immutability_and_absent_only() {
    let dev = Device::flex();
    let ex = classifier(&dev);
    // Feature 0 may rise to 0.2 at most, feature 2 never changes.
    let cfg = CemConfig {
        upper: Some(vec![0.2, 5.0, 5.0, 5.0]),
        lower: Some(vec![-5.0; 4]),
        immutable: vec![2],
        ..fast()
    };
    let r = cem(&ex, &row(&[0.0; 4], &dev), Pertinent::Negative, &cfg, None).unwrap();
    assert!(r.found[0]);
    let d = vals(r.delta);
    assert!(d[0] <= 0.2 + 1e-7 && d[2] == 0.0, "{d:?}");
    let oracle = elastic_net_oracle(
        &a(),
        C,
        0.1,
        &[-5.0, -5.0, 0.0, -5.0],
        &[0.2, 5.0, 0.0, 5.0],
    );
    let (got, best) = (elastic_net(&d, 0.1), elastic_net(&oracle, 0.1));
    assert!(
        got >= best - 1e-4 && got <= best * 1.01,
        "{got} vs optimum {best}"
    );

    // absent_only: feature 0 is present (0.3), so only the absent features 1, 2, 3 may move.
    let x0 = [0.3, 0.0, 0.0, 0.0];
    let cfg = CemConfig {
        absent_only: true,
        ..fast()
    };
    let r = cem(&ex, &row(&x0, &dev), Pertinent::Negative, &cfg, None).unwrap();
    let d = vals(r.delta);
    assert!(r.found[0] && d[0] == 0.0, "{d:?}");
    let m = C - a()[0] * (0.3f32 as f64);
    let inf = 1e9;
    let oracle = elastic_net_oracle(
        &a(),
        m,
        0.1,
        &[0.0, -inf, -inf, -inf],
        &[0.0, inf, inf, inf],
    );
    let (got, best) = (elastic_net(&d, 0.1), elastic_net(&oracle, 0.1));
    assert!(
        got >= best - 1e-4 && got <= best * 1.01,
        "{got} vs optimum {best}"
    );
}

#[test]
fn pertinent_positive_is_the_smallest_part_that_keeps_the_class() {
    let dev = Device::flex();
    let ex = classifier(&dev);
    let x0 = [0.8, 1.0, -0.5, 2.0];
    let kappa = 0.2;
    let cfg = CemConfig { kappa, ..fast() };
    let r = cem(&ex, &row(&x0, &dev), Pertinent::Positive, &cfg, None).unwrap();
    assert!(r.found[0]);
    assert_eq!((r.original[0], r.classes[0]), (1, 1));
    let p = vals(r.explanations);
    let x0f: Vec<f64> = x0.iter().map(|&v| v as f32 as f64).collect();
    for (v, x) in p.iter().zip(&x0f) {
        assert!(
            v * x >= 0.0 && v.abs() <= x.abs() + 1e-7,
            "{p:?} not a part of {x0f:?}"
        );
    }
    let margin: f64 = a().iter().zip(&p).map(|(w, v)| w * v).sum::<f64>() - C;
    assert!(margin > kappa, "{margin}");
    let lo: Vec<f64> = x0f.iter().map(|v| v.min(0.0)).collect();
    let hi: Vec<f64> = x0f.iter().map(|v| v.max(0.0)).collect();
    let oracle = elastic_net_oracle(&a(), C + kappa, 0.1, &lo, &hi);
    let (got, best) = (elastic_net(&p, 0.1), elastic_net(&oracle, 0.1));
    assert!(
        got >= best - 1e-4 && got <= best * 1.01,
        "{got} vs optimum {best}"
    );
    assert!(r.changed[0] < 4, "a pertinent positive is sparse: {p:?}");
}

#[test]
fn background_already_in_the_class_is_an_empty_pertinent_positive() {
    let dev = Device::flex();
    // f_1 = a·x + 1: the all-zero background is already class 1.
    let w: Vec<f64> = A.iter().flat_map(|&d| [0.0, d]).collect();
    let ex = linear(&w, &[0.0, 1.0], &dev);
    let r = cem(
        &ex,
        &row(&[0.5, 0.5, 0.5, 0.5], &dev),
        Pertinent::Positive,
        &fast(),
        None,
    )
    .unwrap();
    assert!(r.found[0]);
    assert_eq!(vals(r.explanations), vec![0.0; 4]);
    assert_eq!((r.changed[0], r.distance[0]), (0, 0.0));
}

/// Solve `M y = b` (Gaussian elimination with partial pivoting).
fn solve(mut m: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap();
        m.swap(col, piv);
        b.swap(col, piv);
        let pivot = m[col].clone();
        for r in col + 1..n {
            let k = m[r][col] / pivot[col];
            for (v, p) in m[r][col..].iter_mut().zip(&pivot[col..]) {
                *v -= k * p;
            }
            b[r] -= k * b[col];
        }
    }
    let mut y = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| m[r][c] * y[c]).sum();
        y[r] = (b[r] - s) / m[r][r];
    }
    y
}

#[test]
fn autoencoder_term_has_the_closed_form_minimiser() {
    // With c = 0 and β = 0: δ* = argmin ‖δ‖² + γ‖(I − A)(x₀ + δ)‖² = −(I + γMᵀM)⁻¹ γMᵀM x₀.
    let dev = Device::flex();
    let ex = classifier(&dev);
    let ae_w = [
        0.5, 0.1, 0.0, 0.2, //
        0.0, 0.8, -0.3, 0.0, //
        0.1, 0.0, 0.6, 0.0, //
        0.0, 0.2, 0.0, 0.9,
    ]; // [in, out]: AE(x)_j = Σ_i x_i w[i][j]
    let ae = linear(&ae_w, &[0.0; 4], &dev);
    let gamma = 2.0;
    let x0 = [2.0, -0.5, 0.25, 0.75]; // stays class 1 on the way: no valid point cuts the search short
    let cfg = CemConfig {
        gamma,
        beta: 0.0,
        c_init: 0.0,
        c_steps: 1,
        max_iterations: 2000,
        learning_rate: 0.05,
        ..CemConfig::default()
    };
    let r = cem(&ex, &row(&x0, &dev), Pertinent::Negative, &cfg, Some(&ae)).unwrap();
    // M = I − Aᵀ as a map on column vectors (AE(x) = Wᵀ x).
    let mm: Vec<Vec<f64>> = (0..4)
        .map(|j| {
            (0..4)
                .map(|i| f64::from(i == j) - ae_w[i * 4 + j] as f32 as f64)
                .collect()
        })
        .collect();
    let mtm: Vec<Vec<f64>> = (0..4)
        .map(|p| {
            (0..4)
                .map(|q| (0..4).map(|k| mm[k][p] * mm[k][q]).sum())
                .collect()
        })
        .collect();
    let x0f: Vec<f64> = x0.iter().map(|&v| v as f32 as f64).collect();
    let lhs: Vec<Vec<f64>> = (0..4)
        .map(|p| {
            (0..4)
                .map(|q| f64::from(p == q) + gamma * mtm[p][q])
                .collect()
        })
        .collect();
    let rhs: Vec<f64> = (0..4)
        .map(|p| -gamma * (0..4).map(|q| mtm[p][q] * x0f[q]).sum::<f64>())
        .collect();
    let oracle = solve(lhs, rhs);
    let d = vals(r.delta);
    for (p, q) in d.iter().zip(&oracle) {
        assert!((p - q).abs() < 1e-3, "{d:?} vs {oracle:?}");
    }
}

#[test]
fn prototypes_are_the_mean_of_the_k_nearest_codes_of_the_class() {
    let codes = [0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 10.0, 0.0, 0.5, 0.0];
    let classes = [1, 1, 1, 1, 0];
    assert_eq!(
        prototype(&[0.4, 0.0], &codes, &classes, 1, 2),
        Some(vec![0.5, 0.0])
    );
    assert_eq!(
        prototype(&[0.4, 0.0], &codes, &classes, 1, 9),
        Some(vec![3.25, 0.0])
    );
    assert_eq!(
        prototype(&[0.4, 0.0], &codes, &classes, 0, 3),
        Some(vec![0.5, 0.0])
    );
    assert_eq!(prototype(&[0.4, 0.0], &codes, &classes, 2, 3), None);
}

/// Training inputs: two of class 1 (`a·x > C`), two of class 0.
fn train(dev: &Device) -> Tensor<2> {
    row(
        &[
            1.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, -1.2, 0.0, //
            0.0, 0.0, 0.0, 0.0, //
            0.1, 0.0, 0.0, 0.0,
        ],
        dev,
    )
}

#[test]
fn prototype_term_alone_has_the_closed_form_minimiser() {
    // c = 0: δ* = soft(2θ(p − x₀), β) / (2 + 2θ) with p the nearest class-1 input (K = 1).
    let dev = Device::flex();
    let ex = classifier(&dev);
    let t = train(&dev);
    let guides = Guides {
        train: &t,
        encoder: None,
        autoencoder: None,
    };
    let (theta, beta) = (0.2, 0.1);
    let cfg = ProtoConfig {
        theta,
        beta,
        k: 1,
        c_init: 0.0,
        c_steps: 1,
        max_iterations: 1500,
        learning_rate: 0.05,
        ..ProtoConfig::default()
    };
    let r = prototype_counterfactual(&ex, &row(&[0.0; 4], &dev), &guides, None, &cfg).unwrap();
    assert_eq!((r.original[0], r.target[0]), (0, 1));
    assert_eq!(r.prototypes[0], vec![1.0, 0.0, 0.0, 0.0]);
    assert!(
        !r.found[0],
        "the prototype term alone does not cross the boundary here"
    );
    let d = vals(r.counterfactuals);
    let want = [(2.0 * theta - beta) / (2.0 + 2.0 * theta), 0.0, 0.0, 0.0];
    for (p, q) in d.iter().zip(&want) {
        assert!((p - q).abs() < 1e-4, "{d:?} vs {want:?}");
    }
}

#[test]
fn prototype_counterfactual_reaches_the_prototype_class_nearer_to_the_prototype() {
    let dev = Device::flex();
    let ex = classifier(&dev);
    let t = train(&dev);
    let guides = Guides {
        train: &t,
        encoder: None,
        autoencoder: None,
    };
    let cfg = ProtoConfig {
        k: 1,
        theta: 1.0,
        max_iterations: 300,
        c_steps: 8,
        learning_rate: 0.05,
        lower: Some(vec![-2.0; 4]),
        upper: Some(vec![2.0; 4]),
        immutable: vec![3],
        ..ProtoConfig::default()
    };
    let x = row(&[0.0; 4], &dev);
    let r = prototype_counterfactual(&ex, &x, &guides, None, &cfg).unwrap();
    assert!(r.found[0]);
    assert_eq!((r.classes[0], r.target[0]), (1, 1));
    let cf = vals(r.counterfactuals.clone());
    assert_eq!(cf[3], 0.0, "immutable feature moved: {cf:?}");
    assert!(cf.iter().all(|v| (-2.0..=2.0).contains(v)));
    // The same search without the prototype term (CEM's pertinent negative) ends farther from
    // the prototype.
    let pn = cem(
        &ex,
        &x,
        Pertinent::Negative,
        &CemConfig {
            immutable: vec![3],
            ..fast()
        },
        None,
    )
    .unwrap();
    let p = &r.prototypes[0];
    let dist = |v: &[f64]| v.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    assert!(dist(&cf) < dist(&vals(pn.explanations)), "{cf:?}");
    // A given target class that the input already has: the input itself.
    let same = prototype_counterfactual(&ex, &x, &guides, Some(&[0]), &cfg).unwrap();
    assert!(same.found[0] && same.changed[0] == 0);
}

#[test]
fn encoder_prototypes_live_in_code_space_and_pull_through_the_encoder() {
    // β = 0, c = 0, linear encoder E(x) = Wᵀx: δ* = (I + θ W Wᵀ)⁻¹ θ W (p − Wᵀ x₀).
    let dev = Device::flex();
    let ex = classifier(&dev);
    let enc_w = [1.0, 0.0, 0.5, 1.0, -1.0, 0.5, 0.0, 2.0]; // [4 in, 2 out]
    let enc = linear(&enc_w, &[0.0, 0.0], &dev);
    let t = train(&dev);
    let guides = Guides {
        train: &t,
        encoder: Some(&enc),
        autoencoder: None,
    };
    let theta = 0.5;
    let cfg = ProtoConfig {
        theta,
        beta: 0.0,
        k: 2,
        c_init: 0.0,
        c_steps: 1,
        max_iterations: 3000,
        learning_rate: 0.02,
        ..ProtoConfig::default()
    };
    let x0 = [-0.2, 0.1, 0.0, -0.1]; // stays class 0 on the way
    let r = prototype_counterfactual(&ex, &row(&x0, &dev), &guides, Some(&[1]), &cfg).unwrap();
    let w: Vec<f64> = enc_w.iter().map(|&v| v as f32 as f64).collect();
    // Class-1 training inputs are rows 0 and 1: K = 2 averages both codes.
    let code = |x: &[f64]| -> Vec<f64> {
        (0..2)
            .map(|j| (0..4).map(|i| x[i] * w[i * 2 + j]).sum())
            .collect()
    };
    let (c0, c1) = (
        code(&[1.0, 0.0, 0.0, 0.0]),
        code(&[0.0, 0.0, -1.2f32 as f64, 0.0]),
    );
    let proto: Vec<f64> = (0..2).map(|j| (c0[j] + c1[j]) / 2.0).collect();
    assert_eq!(r.prototypes[0].len(), 2);
    for (p, q) in r.prototypes[0].iter().zip(&proto) {
        assert!((p - q).abs() < 1e-6);
    }
    let x0f: Vec<f64> = x0.iter().map(|&v| v as f32 as f64).collect();
    let resid: Vec<f64> = code(&x0f).iter().zip(&proto).map(|(e, p)| p - e).collect();
    let lhs: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..4)
                .map(|k| {
                    f64::from(i == k)
                        + theta * (0..2).map(|j| w[i * 2 + j] * w[k * 2 + j]).sum::<f64>()
                })
                .collect()
        })
        .collect();
    let rhs: Vec<f64> = (0..4)
        .map(|i| theta * (0..2).map(|j| w[i * 2 + j] * resid[j]).sum::<f64>())
        .collect();
    let oracle = solve(lhs, rhs);
    let cf = vals(r.counterfactuals);
    for i in 0..4 {
        assert!(
            (cf[i] - x0f[i] - oracle[i]).abs() < 1e-4,
            "{cf:?} vs {oracle:?}"
        );
    }
}

#[test]
fn bad_settings_are_clear_errors() {
    let dev = Device::flex();
    let ex = classifier(&dev);
    let x = row(&[0.0; 4], &dev);
    for cfg in [
        CemConfig {
            beta: -1.0,
            ..fast()
        },
        CemConfig {
            c_steps: 0,
            ..fast()
        },
        CemConfig {
            learning_rate: 0.0,
            ..fast()
        },
        CemConfig {
            gamma: f64::NAN,
            ..fast()
        },
        CemConfig {
            background: Some(vec![0.0; 3]),
            ..fast()
        },
        CemConfig {
            immutable: vec![4],
            ..fast()
        },
        CemConfig {
            lower: Some(vec![1.0; 4]),
            ..fast()
        }, // x₀ below its bounds
    ] {
        assert!(
            cem(&ex, &x, Pertinent::Negative, &cfg, None).is_err(),
            "{cfg:?}"
        );
    }
    let t = train(&dev);
    let guides = Guides {
        train: &t,
        encoder: None,
        autoencoder: None,
    };
    let cfg = ProtoConfig::default();
    assert!(prototype_counterfactual(&ex, &x, &guides, Some(&[2]), &cfg).is_err());
    assert!(prototype_counterfactual(&ex, &x, &guides, Some(&[1, 1]), &cfg).is_err());
    let k0 = ProtoConfig {
        k: 0,
        ..ProtoConfig::default()
    };
    assert!(prototype_counterfactual(&ex, &x, &guides, None, &k0).is_err());
    let wide = Tensor::<2>::zeros([3, 5], &dev);
    let bad = Guides {
        train: &wide,
        encoder: None,
        autoencoder: None,
    };
    assert!(prototype_counterfactual(&ex, &x, &bad, None, &cfg).is_err());
    // No training input of any other class: nothing to guide.
    let zeros = Tensor::<2>::zeros([3, 4], &dev);
    let lonely = Guides {
        train: &zeros,
        encoder: None,
        autoencoder: None,
    };
    assert!(prototype_counterfactual(&ex, &x, &lonely, None, &cfg).is_err());
}
