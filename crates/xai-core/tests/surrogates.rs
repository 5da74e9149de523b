//! Global surrogates: a tree recovers an axis-aligned rule with high fidelity and prints it, its
//! nearest-leaf counterfactual is valid and no farther than any sampled valid point, a sparse
//! linear surrogate finds a linear model's support, and LinearSHAP equals exact interventional
//! Shapley values on a linear model.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xai_core::Target;
use xai_core::agnostic::surrogate::{
    SurrogateConfig, linear_shap, linear_surrogate, tree_surrogate,
};
use xai_core::agnostic::{FitMethod, FnModel, References, Rows, RunOptions, exact_shapley};

fn quiet() -> RunOptions {
    RunOptions {
        progress: false,
        ..RunOptions::default()
    }
}

fn uniform(n: usize, f: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * f).map(|_| rng.random::<f64>()).collect()
}

#[test]
fn a_tree_recovers_an_axis_aligned_rule_and_its_nearest_leaf_counterfactual_is_exact() {
    // Class 1 iff x0 > 0.5 and x1 <= 0.3; x2 irrelevant.
    let model = FnModel::new(3, |r: &[f64], n| {
        (0..n)
            .flat_map(|i| {
                let one = r[3 * i] > 0.5 && r[3 * i + 1] <= 0.3;
                [f64::from(u8::from(!one)), f64::from(u8::from(one))]
            })
            .collect()
    });
    let data = uniform(400, 3, 1);
    let rows = Rows::new(&data, 3).unwrap();
    let s = tree_surrogate(
        &model,
        &rows,
        &SurrogateConfig {
            max_depth: 3,
            run: quiet(),
            ..SurrogateConfig::default()
        },
    )
    .unwrap();
    assert!(s.fidelity >= 0.97, "fidelity {}", s.fidelity);
    let rules = s.tree.rules(&["x0".into(), "x1".into(), "x2".into()]);
    assert!(
        rules.contains("x0 <=") && rules.contains("x1 <="),
        "{rules}"
    );
    let x = [0.2, 0.8, 0.5];
    assert_eq!(s.tree.predict(&x), 0);
    let (cf, d) = s.tree.nearest_leaf_counterfactual(&x, 1, 1e-9).unwrap();
    assert_eq!(s.tree.predict(&cf), 1);
    // No sampled point the tree calls class 1 is closer (L1).
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..5000 {
        let p: Vec<f64> = (0..3).map(|_| rng.random::<f64>()).collect();
        if s.tree.predict(&p) == 1 {
            let dp: f64 = p.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum();
            assert!(dp >= d - 1e-9, "{p:?} at {dp} beats {cf:?} at {d}");
        }
    }
    // The counterfactual moves only the two features of the rule.
    assert_eq!(cf[2], x[2]);
}

#[test]
fn sparse_linear_surrogate_finds_the_support() {
    let model = FnModel::new(5, |r: &[f64], n| {
        (0..n)
            .map(|i| 3.0 * r[5 * i + 1] - 2.0 * r[5 * i + 3])
            .collect()
    });
    let data = uniform(300, 5, 3);
    let rows = Rows::new(&data, 5).unwrap();
    let cfg = SurrogateConfig {
        run: quiet(),
        ..SurrogateConfig::default()
    };
    let (lin, fidelity) =
        linear_surrogate(&model, &rows, 0, &FitMethod::Forward { k: 2 }, &cfg).unwrap();
    assert!(fidelity > 0.999_999, "{fidelity}");
    assert!(
        (lin.coef[1] - 3.0).abs() < 1e-9 && (lin.coef[3] + 2.0).abs() < 1e-9,
        "{:?}",
        lin.coef
    );
    assert_eq!(lin.coef.iter().filter(|c| **c != 0.0).count(), 2);
}

#[test]
fn linear_shap_equals_exact_interventional_shapley_on_a_linear_model() {
    let w = [0.5, -1.0, 2.0, 0.0, 1.5, 0.25];
    let model = FnModel::new(3, move |r: &[f64], n| {
        (0..n)
            .flat_map(|i| {
                (0..2).map(move |c| (0..3).map(|j| w[c * 3 + j] * r[3 * i + j]).sum::<f64>() + 1.0)
            })
            .collect()
    });
    let x = uniform(4, 3, 5);
    let background = uniform(6, 3, 6);
    let mean: Vec<f64> = (0..3)
        .map(|j| (0..6).map(|i| background[3 * i + j]).sum::<f64>() / 6.0)
        .collect();
    let rows = Rows::new(&x, 3).unwrap();
    let classes = vec![0, 1, 1, 0];
    let fast = linear_shap(&w, &rows, &classes, &mean).unwrap();
    let exact = exact_shapley(
        &model,
        &rows,
        &Target::Classes(classes),
        &References::Background {
            rows: background,
            m: 6,
        },
        None,
        &quiet(),
    )
    .unwrap();
    for (a, b) in fast.iter().zip(&exact.values) {
        assert!((a - b).abs() < 1e-12, "{fast:?} vs {:?}", exact.values);
    }
    assert!(linear_shap(&w, &rows, &[0, 1, 2, 0], &mean).is_err());
}
