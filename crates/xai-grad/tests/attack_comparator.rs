//! The attack comparator and explanation shift under attack, against closed forms on a linear
//! two-class classifier (f(x) = xW + b): FGSM flips a row exactly when ε‖w_y − w_o‖₁ exceeds its
//! margin; saliency of a linear model never moves; gradient × input moves by ‖w ⊙ δ‖ / ‖w ⊙ x‖;
//! zero-size perturbations change nothing; worst-case accuracy never exceeds the mean.

use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use xai_core::XaiError;
use xai_grad::Precision;
use xai_grad::methods::attack_comparator::{
    Perturbation, compare_attacks, explanation_under_attack,
};
use xai_grad::methods::attacks::{Norm, PgdConfig};
use xai_grad::methods::{Explainable, input_gradients};

const W: [f64; 6] = [0.8, -0.3, -0.5, 0.6, 0.2, 0.1]; // [3 inputs, 2 classes], row-major
const B: [f64; 2] = [0.1, -0.2];

fn linear(dev: &Device) -> Explainable<2> {
    let l = xai_testkit::models::linear_with(&W, &B, dev);
    Explainable::new(l, |m: &Linear, x| m.forward(x), dev.clone()).with_precision(Precision::F64)
}

/// A deterministic spread of rows in [−1, 1]³ and their labels (the true class of a few is the
/// other one, so clean accuracy is below 1).
fn data(n: usize, dev: &Device) -> (Tensor<2>, Vec<f64>, Vec<usize>) {
    let v: Vec<f64> = (0..n * 3)
        .map(|i| (((i * 7919) % 200) as f64 / 100.0 - 1.0) as f32 as f64)
        .collect();
    let labels = (0..n)
        .map(|r| {
            let p = predict(&v[r * 3..r * 3 + 3]);
            if r % 5 == 0 { 1 - p } else { p }
        })
        .collect();
    let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
    (
        Tensor::from_data(TensorData::new(f, [n, 3]), dev),
        v,
        labels,
    )
}

fn logits(x: &[f64]) -> [f64; 2] {
    [0, 1].map(|k| B[k] + (0..3).map(|j| x[j] * W[j * 2 + k]).sum::<f64>())
}

fn predict(x: &[f64]) -> usize {
    let z = logits(x);
    usize::from(z[1] > z[0])
}

#[test]
fn fgsm_flips_exactly_the_rows_within_reach_of_the_boundary() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let n = 40;
    let (x, v, labels) = data(n, &dev);
    let dw1: f64 = (0..3).map(|j| (W[j * 2 + 1] - W[j * 2]).abs()).sum();
    for eps in [0.05, 0.2, 0.6] {
        let rows = compare_attacks(&ex, &x, &labels, &[Perturbation::Fgsm { eps }], None).unwrap();
        // FGSM moves the logit gap of the label's class against the other by exactly ε‖Δw‖₁.
        let mut correct = 0;
        let mut flipped = 0;
        for r in 0..n {
            let z = logits(&v[r * 3..r * 3 + 3]);
            let y = labels[r];
            let gap = z[y] - z[1 - y] - eps * dw1;
            let pred = if gap > 0.0 { y } else { 1 - y };
            correct += usize::from(pred == y);
            flipped += usize::from(pred != predict(&v[r * 3..r * 3 + 3]));
        }
        assert!(
            (rows[1].accuracy - correct as f64 / n as f64).abs() < 1e-12,
            "ε = {eps}"
        );
        assert!(
            (rows[1].flip_rate - flipped as f64 / n as f64).abs() < 1e-12,
            "ε = {eps}"
        );
        assert_eq!(rows[1].accuracy, rows[1].worst_accuracy, "one draw");
    }
}

#[test]
fn zero_perturbations_leave_the_clean_accuracy_and_noise_only_lowers_the_worst_case() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let (x, v, labels) = data(30, &dev);
    let clean = (0..30)
        .filter(|&r| predict(&v[r * 3..r * 3 + 3]) == labels[r])
        .count() as f64
        / 30.0;
    let attacks = [
        Perturbation::Gaussian {
            std: 0.0,
            draws: 3,
            seed: 1,
        },
        Perturbation::Uniform {
            eps: 0.0,
            draws: 2,
            seed: 2,
        },
        Perturbation::Fgsm { eps: 0.0 },
        Perturbation::Gaussian {
            std: 0.3,
            draws: 8,
            seed: 3,
        },
        Perturbation::Pgd(PgdConfig {
            norm: Norm::L2,
            eps: 0.3,
            step: 0.1,
            steps: 5,
            ..PgdConfig::default()
        }),
    ];
    let rows = compare_attacks(&ex, &x, &labels, &attacks, None).unwrap();
    assert_eq!(rows.len(), 6);
    assert!((rows[0].accuracy - clean).abs() < 1e-12);
    for r in &rows[..4] {
        assert!((r.accuracy - clean).abs() < 1e-12, "{}", r.name);
        assert_eq!(r.flip_rate, 0.0, "{}", r.name);
    }
    let noisy = &rows[4];
    assert_eq!(noisy.draws, 8);
    assert!(noisy.worst_accuracy <= noisy.accuracy);
    assert!(noisy.flip_rate > 0.0, "σ = 0.3 reaches some boundary rows");
    // The same seed gives the same draws.
    let again = compare_attacks(&ex, &x, &labels, &attacks[3..4], None).unwrap();
    assert_eq!(again[1].accuracy, noisy.accuracy);
    // With two classes, moving away from the label never makes a wrong row right.
    assert!(rows[5].accuracy <= clean);
}

#[test]
fn saliency_of_a_linear_model_does_not_move_and_gradient_times_input_moves_by_the_closed_form() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let n = 20;
    let (x, v, labels) = data(n, &dev);
    let noise = Perturbation::Uniform {
        eps: 0.05,
        draws: 1,
        seed: 9,
    };
    let saliency = |t: &Tensor<2>, c: &[usize]| input_gradients(&ex, t, c);
    let s = explanation_under_attack(&ex, &x, &labels, &noise, None, 2, saliency).unwrap();
    for (r, (c, o)) in s.relative_change.iter().zip(&s.top_k_overlap).enumerate() {
        if let Some(c) = c {
            assert!(c.abs() < 1e-6, "row {r}: saliency moved by {c}");
            assert_eq!(*o, Some(1.0), "row {r}");
        }
    }
    assert!(s.flipped < n);
    // Gradient × input: A = w_c ⊙ x, so the change is ‖w_c ⊙ δ‖ / ‖w_c ⊙ x‖ with δ the draw.
    let gxi = |t: &Tensor<2>, c: &[usize]| Ok(input_gradients(&ex, t, c)? * t.clone());
    let g = explanation_under_attack(&ex, &x, &labels, &noise, None, 3, gxi).unwrap();
    let moved = noise.apply(&ex, &x, &labels, None).unwrap().remove(0);
    let mv = xai_core::tensor_to_vec_f64(moved).unwrap();
    for r in 0..n {
        let c = predict(&v[r * 3..r * 3 + 3]);
        let w = |j: usize| W[j * 2 + c];
        let num: f64 = (0..3)
            .map(|j| (w(j) * (mv[r * 3 + j] - v[r * 3 + j])).powi(2))
            .sum();
        let den: f64 = (0..3).map(|j| (w(j) * v[r * 3 + j]).powi(2)).sum();
        let kept = predict(&mv[r * 3..r * 3 + 3]) == c;
        match g.relative_change[r] {
            Some(got) => {
                assert!(kept, "row {r} has a value but flipped");
                assert!((got - (num / den).sqrt()).abs() < 1e-6, "row {r}");
                assert_eq!(g.top_k_overlap[r], Some(1.0), "k = all features");
            }
            None => assert!(
                !kept || den == 0.0,
                "row {r} kept its class but has no value"
            ),
        }
    }
}

#[test]
fn bad_settings_are_config_errors() {
    let dev = Device::flex();
    let ex = linear(&dev);
    let (x, _, labels) = data(4, &dev);
    let bad = [
        Perturbation::Gaussian {
            std: -1.0,
            draws: 1,
            seed: 0,
        },
        Perturbation::Gaussian {
            std: 0.1,
            draws: 0,
            seed: 0,
        },
        Perturbation::Uniform {
            eps: f64::NAN,
            draws: 1,
            seed: 0,
        },
    ];
    for p in bad {
        let got = compare_attacks(&ex, &x, &labels, std::slice::from_ref(&p), None);
        assert!(matches!(got, Err(XaiError::Config(_))), "{p:?}");
    }
    let grad = |t: &Tensor<2>, c: &[usize]| input_gradients(&ex, t, c);
    let fgsm = Perturbation::Fgsm { eps: 0.1 };
    for k in [0, 4] {
        let got = explanation_under_attack(&ex, &x, &labels, &fgsm, None, k, grad);
        assert!(matches!(got, Err(XaiError::Config(_))), "k = {k}");
    }
    assert!(compare_attacks(&ex, &x, &labels[..3], &[fgsm], None).is_err());
}
