//! Counterfactual search: constraints hold for every returned point whatever the model, input and
//! specs (property tests), and on a model with a known decision boundary the search finds valid,
//! sparse, diverse counterfactuals.

use proptest::prelude::*;
use xai_core::agnostic::{
    CounterfactualConfig, FeatureSpec, FnModel, Monotone, RunOptions, counterfactuals,
};

fn quiet(seed: u64) -> CounterfactualConfig {
    CounterfactualConfig {
        population: 60,
        generations: 8,
        seed,
        run: RunOptions {
            progress: false,
            ..RunOptions::default()
        },
        ..CounterfactualConfig::default()
    }
}

/// A 3-class linear model on 5 features.
fn linear(weights: Vec<f64>) -> impl xai_core::agnostic::BlackBox {
    FnModel::new(5, move |r: &[f64], n| {
        let mut out = Vec::with_capacity(3 * n);
        for i in 0..n {
            for c in 0..3 {
                out.push((0..5).map(|j| weights[c * 5 + j] * r[5 * i + j]).sum());
            }
        }
        out
    })
}

fn spec_strategy() -> impl Strategy<Value = FeatureSpec> {
    (
        -5.0f64..0.0,
        0.5f64..5.0,
        any::<bool>(),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(min, max, immutable, mono, cat)| FeatureSpec {
            min,
            max,
            immutable,
            monotone: [Monotone::Any, Monotone::Increase, Monotone::Decrease][mono as usize],
            categories: cat.then(|| vec![min, 0.0, max]),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn constraints_always_hold(
        weights in prop::collection::vec(-2.0f64..2.0, 15),
        specs in prop::collection::vec(spec_strategy(), 5),
        position in prop::collection::vec(0.0f64..1.0, 5),
        desired in 0usize..3,
        seed in 0u64..1000,
    ) {
        // An input inside each feature's range (a category value for categorical features).
        let x: Vec<f64> = specs.iter().zip(&position).map(|(s, p)| match &s.categories {
            Some(c) => c[((p * 3.0) as usize).min(2)],
            None => s.min + p * (s.max - s.min),
        }).collect();
        let model = linear(weights);
        match counterfactuals(&model, &x, desired, &specs, &quiet(seed)) {
            Ok(set) => {
                for cf in &set.counterfactuals {
                    prop_assert!(cf.valid, "only valid counterfactuals are returned");
                    for (j, s) in specs.iter().enumerate() {
                        let v = cf.row[j];
                        if s.immutable {
                            prop_assert_eq!(v, x[j], "immutable feature {} changed", j);
                        }
                        prop_assert!(v >= s.min && v <= s.max, "feature {} = {} outside [{}, {}]", j, v, s.min, s.max);
                        match s.monotone {
                            Monotone::Increase => prop_assert!(v >= x[j]),
                            Monotone::Decrease => prop_assert!(v <= x[j]),
                            Monotone::Any => {}
                        }
                        if let Some(c) = &s.categories {
                            prop_assert!(c.contains(&v) || v == x[j]);
                        }
                    }
                }
                prop_assert!(set.validity == 1.0 || set.counterfactuals.is_empty());
            }
            // Only one error is legitimate here: every feature immutable.
            Err(e) => prop_assert!(specs.iter().all(|s| s.immutable), "{e}"),
        }
    }
}

#[test]
fn finds_valid_sparse_and_diverse_counterfactuals_on_a_known_boundary() {
    // Class 1 iff x0 + x1 > 1 (x2, x3 irrelevant, x4 immutable).
    let model = FnModel::new(5, |r: &[f64], n| {
        (0..n)
            .flat_map(|i| [1.0, r[5 * i] + r[5 * i + 1]])
            .collect()
    });
    let mut specs = vec![FeatureSpec::range(0.0, 2.0); 5];
    specs[4].immutable = true;
    let x = [0.2, 0.3, 1.0, 1.0, 0.5];
    let set = counterfactuals(
        &model,
        &x,
        1,
        &specs,
        &CounterfactualConfig {
            population: 200,
            generations: 30,
            ..quiet(7)
        },
    )
    .unwrap();
    assert_eq!(set.counterfactuals.len(), 4);
    assert_eq!(set.validity, 1.0);
    for cf in &set.counterfactuals {
        assert!(cf.row[0] + cf.row[1] > 1.0);
        // Post-hoc sparsity leaves only the features that matter.
        assert!(cf.changed.iter().all(|&j| j < 2), "{:?}", cf.changed);
        assert_eq!(cf.row[4], 0.5);
    }
    assert!(set.diversity > 0.0);
    assert!(set.sparsity <= 2.0);
    // Same seed, same set.
    let again = counterfactuals(
        &model,
        &x,
        1,
        &specs,
        &CounterfactualConfig {
            population: 200,
            generations: 30,
            ..quiet(7)
        },
    )
    .unwrap();
    assert_eq!(set, again);
    // Bad input.
    assert!(counterfactuals(&model, &x, 5, &specs, &quiet(1)).is_err());
    assert!(counterfactuals(&model, &[9.0, 0.0, 0.0, 0.0, 0.0], 1, &specs, &quiet(1)).is_err());
}
