//! Adversarial attacks against closed forms on a linear classifier (f(x) = xW + b, two classes)
//! and finite differences on an MLP: the loss gradient, FGSM's exact step, PGD's optimum in
//! L∞ and L2, ball and bounds respected, and the minimal flipping ε by bisection against the
//! exact distance to the decision boundary.

use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use xai_grad::Precision;
use xai_grad::methods::Explainable;
use xai_grad::methods::attacks::{Norm, PgdConfig, fgsm, loss_gradient, min_perturbation, pgd};

const W: [f64; 6] = [0.8, -0.3, -0.5, 0.6, 0.2, 0.1]; // [3 inputs, 2 classes], row-major
const B: [f64; 2] = [0.1, -0.2];

fn linear(dev: &Device) -> Explainable<2> {
    let l = xai_testkit::models::linear_with(&W, &B, dev);
    Explainable::new(l, |m: &Linear, x| m.forward(x), dev.clone()).with_precision(Precision::F64)
}

/// f32 rows (the model's dtype); the graph is replayed in f64.
fn rows(v: &[f64], n: usize, dev: &Device) -> Tensor<2> {
    let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
    Tensor::from_data(TensorData::new(f, [n, v.len() / n]), dev)
}

/// The f32 value of `v`, as the inputs hold it.
fn f32v(v: f64) -> f64 {
    v as f32 as f64
}

fn vals(t: Tensor<2>) -> Vec<f64> {
    xai_core::tensor_to_vec_f64(t).unwrap()
}

/// w₁ − w₀: the direction that raises class 1 over class 0.
fn dw() -> [f64; 3] {
    [W[1] - W[0], W[3] - W[2], W[5] - W[4]]
}

/// Logit of class 0 minus class 1 at `x`.
fn margin(x: &[f64]) -> f64 {
    let d = dw();
    -(x.iter().zip(d).map(|(a, b)| a * b).sum::<f64>() + B[1] - B[0])
}

#[test]
fn the_loss_gradient_is_the_closed_form() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let x = [0.2, -0.1, 0.4, -0.3, 0.5, 0.0];
    let (g, loss) = loss_gradient(&ex, &rows(&x, 2, &dev), &[0, 1]).unwrap();
    let g = vals(g);
    for (r, label) in [(0usize, 0usize), (1, 1)] {
        let xr: Vec<f64> = x[r * 3..r * 3 + 3].iter().map(|&v| f32v(v)).collect();
        let z: Vec<f64> = (0..2)
            .map(|k| B[k] + (0..3).map(|j| xr[j] * W[j * 2 + k]).sum::<f64>())
            .collect();
        let m = z[0].max(z[1]);
        let p: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = p.iter().sum();
        let p: Vec<f64> = p.iter().map(|v| v / s).collect();
        // ∇ₓ(−log p_y) = Σ_k (p_k − [k = y]) w_k
        for j in 0..3 {
            let want: f64 = (0..2)
                .map(|k| (p[k] - f64::from(u8::from(k == label))) * W[j * 2 + k])
                .sum();
            assert!((g[r * 3 + j] - want).abs() < 1e-6, "row {r} feature {j}");
        }
        assert!((loss[r] + p[label].ln()).abs() < 1e-6);
    }
}

#[test]
fn fgsm_steps_by_epsilon_along_the_sign_and_respects_bounds() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let x = [0.2, -0.1, 0.4];
    let adv = vals(fgsm(&ex, &rows(&x, 1, &dev), &[0], 0.1, false, None).unwrap());
    // Away from class 0: along sign(w₁ − w₀).
    for (j, d) in dw().iter().enumerate() {
        assert!((adv[j] - (x[j] + 0.1 * d.signum())).abs() < 1e-6);
    }
    let targeted = vals(fgsm(&ex, &rows(&x, 1, &dev), &[1], 0.1, true, None).unwrap());
    assert_eq!(adv, targeted, "towards 1 = away from 0 with two classes");
    let bounded = vals(fgsm(&ex, &rows(&x, 1, &dev), &[0], 0.5, false, Some((0.0, 0.3))).unwrap());
    // (0.3 in f32 is 0.30000001)
    assert!(bounded.iter().all(|v| (0.0..=0.3 + 1e-6).contains(v)));
}

#[test]
fn pgd_reaches_the_optimum_of_each_ball() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let x = [0.2, -0.1, 0.4];
    let eps = 0.3;
    // L∞: the best move is ε · sign(w₁ − w₀), FGSM's.
    let cfg = PgdConfig {
        norm: Norm::Linf,
        eps,
        step: 0.05,
        steps: 20,
        random_start: Some(7),
        ..PgdConfig::default()
    };
    let adv = vals(pgd(&ex, &rows(&x, 1, &dev), &[0], &cfg).unwrap());
    for (j, d) in dw().iter().enumerate() {
        assert!((adv[j] - (x[j] + eps * d.signum())).abs() < 1e-6, "L∞ {j}");
    }
    // L2: ε · (w₁ − w₀)/‖w₁ − w₀‖.
    let cfg = PgdConfig {
        norm: Norm::L2,
        eps,
        step: 0.05,
        // on the sphere each step shrinks the angle to the optimum by about ε / (ε + step)
        steps: 150,
        random_start: Some(3),
        ..PgdConfig::default()
    };
    let adv = vals(pgd(&ex, &rows(&x, 1, &dev), &[0], &cfg).unwrap());
    let d = dw();
    let len = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    for j in 0..3 {
        assert!(
            (adv[j] - (x[j] + eps * d[j] / len)).abs() < 1e-6,
            "L2 {j}: {adv:?}"
        );
    }
    let moved: f64 = (0..3).map(|j| (adv[j] - x[j]).powi(2)).sum::<f64>().sqrt();
    assert!(moved <= eps + 1e-6);
    // A random start is inside the ball and reproducible from its seed.
    let again = vals(pgd(&ex, &rows(&x, 1, &dev), &[0], &cfg).unwrap());
    assert_eq!(adv, again);
}

#[test]
fn the_minimal_flip_is_the_distance_to_the_boundary() {
    let dev = Device::flex();
    let ex = linear(&dev);
    // two rows predicted 0, one far from the boundary
    let x = [0.4, -0.2, 0.1, 1.5, -1.0, 0.2];
    let t = rows(&x, 2, &dev);
    let labels = [0, 0];
    for r in 0..2 {
        assert!(margin(&x[r * 3..r * 3 + 3]) > 0.0);
    }
    let d = dw();
    let l1: f64 = d.iter().map(|v| v.abs()).sum();
    let l2: f64 = d.iter().map(|v| v * v).sum::<f64>().sqrt();
    // FGSM moves the margin by ε‖d‖₁, so it flips at ε = margin / ‖d‖₁.
    let eps = min_perturbation(&ex, &t, 5.0, 1e-6, |e| {
        fgsm(&ex, &t, &labels, e, false, None)
    })
    .unwrap();
    for r in 0..2 {
        let want = margin(&x[r * 3..r * 3 + 3]) / l1;
        let got = eps[r].expect("flips within 5");
        assert!(
            got >= want - 1e-9 && got - want < 2e-6,
            "row {r}: {got} vs {want}"
        );
    }
    // L2 PGD flips at margin / ‖d‖₂.
    let eps = min_perturbation(&ex, &t, 5.0, 1e-4, |e| {
        let cfg = PgdConfig {
            norm: Norm::L2,
            eps: e,
            step: e.max(1e-9) / 4.0,
            steps: 12,
            ..PgdConfig::default()
        };
        pgd(&ex, &t, &labels, &cfg)
    })
    .unwrap();
    for r in 0..2 {
        let want = margin(&x[r * 3..r * 3 + 3]) / l2;
        let got = eps[r].unwrap();
        assert!((got - want).abs() < 2e-4, "row {r}: {got} vs {want}");
    }
    // Not within reach: None.
    let none = min_perturbation(&ex, &t, 1e-3, 1e-6, |e| {
        fgsm(&ex, &t, &labels, e, false, None)
    })
    .unwrap();
    assert_eq!(none, vec![None, None]);
}

#[test]
fn bad_settings_are_errors() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let t = rows(&[0.1, 0.2, 0.3], 1, &dev);
    assert!(fgsm(&ex, &t, &[0, 1], 0.1, false, None).is_err());
    assert!(fgsm(&ex, &t, &[5], 0.1, false, None).is_err());
    assert!(fgsm(&ex, &t, &[0], f64::NAN, false, None).is_err());
    let bad = PgdConfig {
        steps: 0,
        ..PgdConfig::default()
    };
    assert!(pgd(&ex, &t, &[0], &bad).is_err());
    assert!(min_perturbation(&ex, &t, 0.0, 1e-3, |e| fgsm(&ex, &t, &[0], e, false, None)).is_err());
}
