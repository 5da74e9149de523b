//! Second-order interactions: the input Hessian equals central finite differences of the exact
//! gradient (f64) and is symmetric; Integrated Hessians match the closed form on a quadratic
//! model and are complete on a tanh network.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, Tanh};
use burn::tensor::{DType, Device, Tensor, TensorData};
use xai_core::{MemoryBudget, Target};
use xai_grad::Precision;
use xai_grad::methods::interactions::{input_hessian, integrated_hessians};
use xai_grad::methods::{Explainable, input_gradients};

fn dev() -> Device {
    Device::flex()
}

fn t2(v: Vec<f64>, shape: [usize; 2]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, shape), (&dev(), DType::F64))
}

fn linear(w: Vec<f64>, inp: usize, out: usize, bias: Option<Vec<f64>>) -> Linear {
    let mut l: Linear = LinearConfig::new(inp, out)
        .with_bias(bias.is_some())
        .init(&dev());
    l.weight = Param::from_tensor(t2(w, [inp, out]));
    l.bias = bias.map(|b| {
        Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(b, [out]),
            (&dev(), DType::F64),
        ))
    });
    l
}

/// f(x) = xᵀ A x + bᵀ x as one output column (A in burn's [in, out] layout is Aᵀ; the product
/// x·(xA) is the same quadratic form).
#[derive(Module, Debug)]
struct Quadratic {
    a: Linear,
    b: Linear,
}

impl Quadratic {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        (self.a.forward(x.clone()) * x.clone()).sum_dim(1) + self.b.forward(x)
    }
}

#[derive(Module, Debug)]
struct Smooth {
    a: Linear,
    b: Linear,
    act: Tanh,
}

impl Smooth {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.b.forward(self.act.forward(self.a.forward(x)))
    }
}

fn smooth() -> Smooth {
    let w1: Vec<f64> = (0..15).map(|i| ((i * 7 % 11) as f64 - 5.0) / 5.0).collect();
    let w2: Vec<f64> = (0..10).map(|i| ((i * 3 % 7) as f64 - 3.0) / 3.0).collect();
    Smooth {
        a: linear(w1, 3, 5, Some(vec![0.1, -0.2, 0.3, 0.0, 0.05])),
        b: linear(w2, 5, 2, Some(vec![0.0, 0.1])),
        act: Tanh::new(),
    }
}

#[test]
fn input_hessian_matches_finite_differences_of_the_gradient() {
    let m = smooth();
    let ex =
        Explainable::new(m, |m: &Smooth, x| m.forward(x), dev()).with_precision(Precision::F64);
    let x = t2(vec![0.3, -0.5, 0.8, -0.1, 0.4, 0.2], [2, 3]);
    let h = input_hessian(
        &ex,
        &x,
        &Target::Classes(vec![1, 0]),
        MemoryBudget { bytes: 1 },
    )
    .unwrap();
    let base: Vec<f64> = xai_core::tensor_to_vec_f64(x.clone()).unwrap();
    let eps = 1e-5;
    for j in 0..3 {
        let shift = |s: f64| {
            let mut v = base.clone();
            v[j] += s;
            v[3 + j] += s;
            xai_core::tensor_to_vec_f64(input_gradients(&ex, &t2(v, [2, 3]), &[1, 0]).unwrap())
                .unwrap()
        };
        let (plus, minus) = (shift(eps), shift(-eps));
        for i in 0..2 {
            for k in 0..3 {
                let fd = (plus[i * 3 + k] - minus[i * 3 + k]) / (2.0 * eps);
                let exact = h.values[(i * 3 + k) * 3 + j];
                assert!(
                    (fd - exact).abs() < 1e-8,
                    "H[{i}][{k}][{j}] {exact} vs fd {fd}"
                );
                assert!(
                    (h.values[(i * 3 + k) * 3 + j] - h.values[(i * 3 + j) * 3 + k]).abs() < 1e-12
                );
            }
        }
    }
}

#[test]
fn integrated_hessians_match_the_closed_form_on_a_quadratic_and_are_complete() {
    // A (burn layout [in, out]) and b.
    let a = vec![1.0, 0.5, -0.3, 0.2, -1.0, 0.7, 0.4, 0.1, 0.6];
    let b = vec![0.3, -0.2, 0.5];
    let q = Quadratic {
        a: linear(a.clone(), 3, 3, None),
        b: linear(b.clone(), 3, 1, None),
    };
    let ex =
        Explainable::new(q, |m: &Quadratic, x| m.forward(x), dev()).with_precision(Precision::F64);
    let xv = vec![0.7, -1.2, 0.4];
    let x = t2(xv.clone(), [1, 3]);
    let zero = t2(vec![0.0; 3], [1, 3]);
    let r = integrated_hessians(
        &ex,
        &x,
        &zero,
        &Target::Class(0),
        256,
        MemoryBudget::default(),
    )
    .unwrap();
    // H = A + Aᵀ (symmetric, constant); ∫γ(−ln γ) = 1/4, ∫(−ln γ) γ = 1/4, ∫(−ln γ) = 1.
    let hm = |j: usize, k: usize| a[j * 3 + k] + a[k * 3 + j];
    for j in 0..3 {
        for k in 0..3 {
            let mut want = xv[j] * xv[k] * hm(j, k) / 4.0;
            if j == k {
                let hx: f64 = (0..3).map(|l| hm(j, l) * xv[l]).sum();
                want += xv[j] * hx / 4.0 + xv[j] * b[j];
            }
            let got = r.values[j * 3 + k];
            assert!(
                (got - want).abs() < 1e-4,
                "Γ[{j}][{k}] = {got}, closed form {want}"
            );
        }
    }
    assert!(r.delta.unwrap()[0].abs() < 1e-4);
    // Completeness on a tanh network.
    let ex = Explainable::new(smooth(), |m: &Smooth, x| m.forward(x), dev())
        .with_precision(Precision::F64);
    let x = t2(vec![0.3, -0.5, 0.8, -0.1, 0.4, 0.2], [2, 3]);
    let base = t2(vec![0.0; 6], [2, 3]);
    let r = integrated_hessians(
        &ex,
        &x,
        &base,
        &Target::Predicted,
        128,
        MemoryBudget::default(),
    )
    .unwrap();
    let d = r.delta.unwrap();
    assert!(d.iter().all(|v| v.abs() < 1e-3), "{d:?}");
}
