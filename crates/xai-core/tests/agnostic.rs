//! Model-agnostic methods against exact enumeration and their axioms: KernelSHAP converges to the
//! exact Shapley values and keeps efficiency exactly, permutation sampling's error falls like
//! 1/√n, LIME recovers a linear model and its sparse fit picks the true support, exact Shapley
//! obeys efficiency/symmetry/dummy, and the interventional variant averages over a background.

#![allow(clippy::needless_range_loop, clippy::useless_vec)] // index loops read like the formulas

use xai_core::Target;
use xai_core::agnostic::global::{
    accumulated_local_effects, accuracy, partial_dependence, permutation_importance,
};
use xai_core::agnostic::{
    BlackBox, FeatureAblation, FeatureGroups, FitMethod, FnModel, KernelShap, LimeTabular,
    References, Rows, RunOptions, SamplingShapley, TabularStats, exact_shapley, feature_ablation,
    kernel_shap, lime_groups, lime_tabular, sampling_shapley,
};

/// A deterministic nonlinear model with interactions: 10 features, 2 outputs.
fn nonlinear() -> impl BlackBox {
    FnModel::new(10, |r: &[f64], n| {
        let mut out = Vec::with_capacity(2 * n);
        for i in 0..n {
            let x = &r[10 * i..10 * i + 10];
            let a = x[0] * x[1] + (x[2] - x[3]).tanh() + 0.5 * x[4] * x[5] * x[6] + x[7].sin()
                - 0.3 * x[8];
            out.push(a);
            out.push(-a + x[9] * x[0]);
        }
        out
    })
}

fn inputs() -> Vec<f64> {
    (0..30)
        .map(|i| ((i * 37 % 17) as f64 / 17.0) * 2.0 - 1.0)
        .collect()
}

fn quiet() -> RunOptions {
    RunOptions {
        progress: false,
        ..RunOptions::default()
    }
}

#[test]
fn exact_shapley_obeys_efficiency_symmetry_and_dummy() {
    // f = x0·x1 + x2 (x3 is a dummy); x0 and x1 symmetric at equal values.
    let model = FnModel::new(4, |r: &[f64], n| {
        (0..n)
            .map(|i| r[4 * i] * r[4 * i + 1] + r[4 * i + 2])
            .collect()
    });
    let x = [2.0, 2.0, 1.0, 7.0];
    let b = [0.5, 0.5, 0.0, -3.0];
    let phi = exact_shapley(
        &model,
        &Rows::new(&x, 4).unwrap(),
        &Target::Class(0),
        &References::PerInput(b.to_vec()),
        None,
        &quiet(),
    )
    .unwrap();
    let fx = 2.0 * 2.0 + 1.0;
    let fb = 0.25;
    assert!((phi.values.iter().sum::<f64>() - (fx - fb)).abs() < 1e-12);
    assert!((phi.values[0] - phi.values[1]).abs() < 1e-12);
    assert_eq!(phi.values[3], 0.0);
    assert!((phi.values[2] - 1.0).abs() < 1e-12);
}

#[test]
fn kernel_shap_converges_to_exact_shapley_and_is_always_efficient() {
    let model = nonlinear();
    let x = inputs();
    let rows = Rows::new(&x, 10).unwrap();
    let refs = References::PerInput(vec![0.1; 30]);
    let target = Target::Classes(vec![0, 1, 0]);
    let exact = exact_shapley(&model, &rows, &target, &refs, None, &quiet()).unwrap();
    let mut errors = Vec::new();
    for samples in [64, 256, 1022] {
        let r = kernel_shap(
            &model,
            &rows,
            &target,
            &refs,
            &KernelShap {
                samples,
                seed: 3,
                run: quiet(),
                ..Default::default()
            },
        )
        .unwrap();
        // Efficiency holds exactly at every budget.
        for i in 0..3 {
            let s: f64 = r.attribution.row(i).iter().sum();
            assert!(
                (s - r.delta[i]).abs() < 1e-10,
                "budget {samples}: {s} vs {}",
                r.delta[i]
            );
        }
        let err = r
            .attribution
            .values
            .iter()
            .zip(&exact.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        errors.push(err);
        if samples == 1022 {
            assert!(r.exact);
            assert!(
                err < 1e-9,
                "all 2^10 − 2 coalitions must give the exact values, err {err}"
            );
        }
    }
    // 256 coalitions of 1022 (sizes 1, 9, 2, 8 enumerated, the rest sampled) are already close.
    assert!(errors[1] < 0.05, "{errors:?}");
    assert!(errors[2] < errors[0], "{errors:?}");
}

#[test]
fn permutation_sampling_error_falls_like_one_over_sqrt_n() {
    let model = nonlinear();
    let x = inputs();
    let rows = Rows::new(&x, 10).unwrap();
    let refs = References::PerInput(vec![0.1; 30]);
    let target = Target::Class(0);
    let exact = exact_shapley(&model, &rows, &target, &refs, None, &quiet()).unwrap();
    // Root-mean-square error over several seeds at n and 16n pairs: the ratio should be ~4.
    let rmse = |pairs: usize| {
        let mut sq = 0.0;
        let mut count = 0.0;
        for seed in 0..8 {
            let r = sampling_shapley(
                &model,
                &rows,
                &target,
                &refs,
                &SamplingShapley {
                    pairs,
                    seed,
                    run: quiet(),
                    ..Default::default()
                },
            )
            .unwrap();
            for i in 0..3 {
                let s: f64 = r.attribution.row(i).iter().sum();
                let e: f64 = exact.row(i).iter().sum();
                assert!(
                    (s - e).abs() < 1e-10,
                    "efficiency holds for every sample count"
                );
            }
            for (a, b) in r.attribution.values.iter().zip(&exact.values) {
                sq += (a - b).powi(2);
                count += 1.0;
            }
        }
        (sq / count).sqrt()
    };
    let (small, large) = (rmse(4), rmse(64));
    let ratio = small / large;
    assert!(
        (2.5..6.5).contains(&ratio),
        "rmse {small} at 4 pairs, {large} at 64: ratio {ratio} (expected ~4)"
    );
    // The reported standard error is of the same size as the actual error.
    let r = sampling_shapley(
        &model,
        &rows,
        &target,
        &refs,
        &SamplingShapley {
            pairs: 64,
            seed: 99,
            run: quiet(),
            ..Default::default()
        },
    )
    .unwrap();
    let se = r.standard_error.unwrap();
    let mean_se = se.iter().sum::<f64>() / se.len() as f64;
    assert!(
        mean_se > 0.2 * large && mean_se < 5.0 * large,
        "se {mean_se} vs rmse {large}"
    );
}

#[test]
fn interventional_values_average_over_the_background() {
    let model = nonlinear();
    let x = inputs();
    let rows = Rows::new(&x[..10], 10).unwrap();
    let background: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin()).collect();
    let bg = References::Background {
        rows: background.clone(),
        m: 4,
    };
    let phi = exact_shapley(&model, &rows, &Target::Class(0), &bg, None, &quiet()).unwrap();
    // Linearity in the game: the interventional value is the mean of the per-reference values.
    let mut mean = vec![0.0; 10];
    for r in 0..4 {
        let one = References::PerInput(background[10 * r..10 * r + 10].to_vec());
        let p = exact_shapley(&model, &rows, &Target::Class(0), &one, None, &quiet()).unwrap();
        for j in 0..10 {
            mean[j] += p.values[j] / 4.0;
        }
    }
    for j in 0..10 {
        assert!((phi.values[j] - mean[j]).abs() < 1e-12);
    }
}

#[test]
fn groups_and_ablation_with_a_budget_of_one_row_per_chunk_agree() {
    let model = nonlinear();
    let x = inputs();
    let rows = Rows::new(&x, 10).unwrap();
    let refs = References::PerInput(vec![0.0; 30]);
    let groups = FeatureGroups::from_mask(vec![0, 0, 1, 1, 2, 2, 2, 3, 4, 4]).unwrap();
    let big = feature_ablation(
        &model,
        &rows,
        &Target::Predicted,
        &refs,
        &FeatureAblation {
            groups: Some(groups.clone()),
            run: quiet(),
        },
    )
    .unwrap();
    let tiny = RunOptions {
        budget: xai_core::MemoryBudget { bytes: 1 },
        progress: false,
    };
    let small = feature_ablation(
        &model,
        &rows,
        &Target::Predicted,
        &refs,
        &FeatureAblation {
            groups: Some(groups),
            run: tiny,
        },
    )
    .unwrap();
    assert_eq!(big, small);
    // Features of one group share its value.
    assert_eq!(big.values[0], big.values[1]);
    assert_eq!(big.values[4], big.values[6]);
    assert!(FeatureGroups::from_mask(vec![0, 2]).is_err());
}

#[test]
fn lime_recovers_a_linear_model_and_its_sparse_support() {
    let w = [1.5, 0.0, -2.0, 0.0, 0.7, 0.0];
    let model = FnModel::new(6, move |r: &[f64], n| {
        (0..n)
            .map(|i| 0.3 + (0..6).map(|j| w[j] * r[6 * i + j]).sum::<f64>())
            .collect()
    });
    let training: Vec<f64> = (0..600)
        .map(|i| ((i * 7919 % 1000) as f64 / 1000.0 - 0.5) * (1.0 + (i % 6) as f64))
        .collect();
    let stats = TabularStats::from_training(&training, 6, &[]).unwrap();
    let x = [0.2, -0.1, 0.4, 1.0, -0.3, 0.05];
    let rows = Rows::new(&x, 6).unwrap();
    let res = lime_tabular(
        &model,
        &rows,
        &Target::Class(0),
        &stats,
        &LimeTabular {
            samples: 500,
            run: quiet(),
            ..Default::default()
        },
    )
    .unwrap();
    for j in 0..6 {
        assert!(
            (res.attribution.values[j] - w[j]).abs() < 1e-4,
            "{:?}",
            res.attribution.values
        );
    }
    assert!(res.fidelity[0] > 0.999_999);
    let sparse = lime_tabular(
        &model,
        &rows,
        &Target::Class(0),
        &stats,
        &LimeTabular {
            samples: 500,
            fit: FitMethod::Forward { k: 3 },
            run: quiet(),
            ..Default::default()
        },
    )
    .unwrap();
    let support: Vec<usize> = (0..6)
        .filter(|&j| sparse.attribution.values[j] != 0.0)
        .collect();
    assert_eq!(support, vec![0, 2, 4]);
    let lasso = lime_tabular(
        &model,
        &rows,
        &Target::Class(0),
        &stats,
        &LimeTabular {
            samples: 500,
            fit: FitMethod::Lasso { alpha: 0.01 },
            run: quiet(),
            ..Default::default()
        },
    )
    .unwrap();
    let support: Vec<usize> = (0..6)
        .filter(|&j| lasso.attribution.values[j].abs() > 1e-9)
        .collect();
    assert_eq!(support, vec![0, 2, 4]);
    // Same seed, same explanation.
    let again = lime_tabular(
        &model,
        &rows,
        &Target::Class(0),
        &stats,
        &LimeTabular {
            samples: 500,
            run: quiet(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(res, again);
}

#[test]
fn lime_over_groups_finds_the_only_group_that_matters() {
    // 3 "superpixels" of 2 features; only the middle one moves the output.
    let model = FnModel::new(6, |r: &[f64], n| {
        (0..n)
            .map(|i| 4.0 * (r[6 * i + 2] + r[6 * i + 3]))
            .collect()
    });
    let x = [1.0; 6];
    let groups = FeatureGroups::from_mask(vec![0, 0, 1, 1, 2, 2]).unwrap();
    let res = lime_groups(
        &model,
        &Rows::new(&x, 6).unwrap(),
        &Target::Class(0),
        &groups,
        &References::PerInput(vec![0.0; 6]),
        &LimeTabular {
            samples: 200,
            run: quiet(),
            ..Default::default()
        },
    )
    .unwrap();
    let v = &res.attribution.values;
    assert!(
        (v[2] - 8.0).abs() < 1e-4 && v[0].abs() < 1e-4 && v[5].abs() < 1e-4,
        "{v:?}"
    );
}

#[test]
fn global_importance_pd_and_ale_see_what_the_model_uses() {
    // Class = sign of x0 (x1 irrelevant): shuffling x0 hurts, shuffling x1 does not.
    let model = FnModel::new(2, |r: &[f64], n| {
        (0..n).flat_map(|i| [r[2 * i], -r[2 * i]]).collect()
    });
    let data: Vec<f64> = (0..200)
        .flat_map(|i| [((i * 37 % 101) as f64 / 50.0) - 1.0, (i % 7) as f64])
        .collect();
    let labels: Vec<usize> = data.chunks(2).map(|r| usize::from(r[0] < 0.0)).collect();
    let rows = Rows::new(&data, 2).unwrap();
    let metric = accuracy(&labels);
    let pi = permutation_importance(&model, &rows, &metric, 5, 1, &quiet()).unwrap();
    assert_eq!(pi.baseline, 1.0);
    assert!(pi.features[0].mean > 0.3 && pi.features[0].ci95.0 > 0.0);
    assert_eq!(pi.features[1].mean, 0.0);
    // PD of the first logit along x0 is the identity; ALE is its centred version.
    let grid = [-1.0, 0.0, 1.0];
    let pd = partial_dependence(&model, &rows, &Target::Class(0), 0, &grid, &quiet()).unwrap();
    assert_eq!(pd.average, vec![-1.0, 0.0, 1.0]);
    assert_eq!(pd.ice.len(), 200);
    let ale = accumulated_local_effects(&model, &rows, &Target::Class(0), 0, 10, &quiet()).unwrap();
    for w in ale.effect.windows(2).zip(ale.edges.windows(2)) {
        assert!(((w.0[1] - w.0[0]) - (w.1[1] - w.1[0])).abs() < 1e-12);
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let model = nonlinear();
    let x = inputs();
    assert!(Rows::new(&x[..7], 10).is_err());
    assert!(Rows::new(&[f64::NAN; 10], 10).is_err());
    let rows = Rows::new(&x, 10).unwrap();
    let refs = References::PerInput(vec![0.0; 30]);
    assert!(exact_shapley(&model, &rows, &Target::Class(5), &refs, None, &quiet()).is_err());
    assert!(
        exact_shapley(
            &model,
            &rows,
            &Target::Class(0),
            &References::PerInput(vec![0.0; 3]),
            None,
            &quiet()
        )
        .is_err()
    );
    assert!(
        kernel_shap(
            &model,
            &rows,
            &Target::Class(0),
            &refs,
            &KernelShap {
                samples: 0,
                ..Default::default()
            }
        )
        .is_err()
    );
    let nan_model = FnModel::new(10, |_: &[f64], n| vec![f64::NAN; n]);
    assert!(
        feature_ablation(
            &nan_model,
            &rows,
            &Target::Class(0),
            &refs,
            &FeatureAblation::default()
        )
        .is_err()
    );
}

#[test]
fn text_lime_blames_the_word_that_matters_in_every_position() {
    use xai_core::agnostic::lime::lime_text;
    // A "sentiment" model over 6 token ids: the score counts token 7 ("great") and subtracts
    // token 3 ("not"); 0 is the pad token.
    let model = FnModel::new(6, |r: &[f64], n| {
        (0..n)
            .map(|i| {
                r[6 * i..6 * i + 6]
                    .iter()
                    .map(|&t| {
                        if t == 7.0 {
                            1.0
                        } else if t == 3.0 {
                            -0.5
                        } else {
                            0.0
                        }
                    })
                    .sum()
            })
            .collect()
    });
    let tokens = [5.0, 7.0, 3.0, 9.0, 7.0, 5.0];
    let cfg = LimeTabular {
        samples: 400,
        run: quiet(),
        ..Default::default()
    };
    let (res, groups) = lime_text(&model, &tokens, &Target::Class(0), 0.0, true, &cfg).unwrap();
    assert_eq!(groups.count(), 4); // 5, 7, 3, 9
    let v = &res.attribution.values;
    // Both occurrences of "great" share the word's weight (+2: two occurrences), "not" is -0.5.
    // (The default ridge of 1e-6 shrinks by ~1e-5.)
    assert!((v[1] - 2.0).abs() < 1e-4 && v[1] == v[4], "{v:?}");
    assert!(
        (v[2] + 0.5).abs() < 1e-4 && v[0].abs() < 1e-4 && v[3].abs() < 1e-4,
        "{v:?}"
    );
    let (per_position, g) =
        lime_text(&model, &tokens, &Target::Class(0), 0.0, false, &cfg).unwrap();
    assert_eq!(g.count(), 6);
    assert!((per_position.attribution.values[4] - 1.0).abs() < 1e-4);
    assert!(lime_text(&model, &[], &Target::Class(0), 0.0, true, &cfg).is_err());
}
