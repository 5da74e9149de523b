//! Glass-box learners against the shared fixtures (`assets/fixtures/glassbox`): the rule list
//! must reach an objective at most CORELS's, and the search is checked against exhaustive
//! enumeration on small problems.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use xai_glassbox::rule_list::{Antecedent, RuleListConfig, fit_rule_list};

fn json(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/fixtures/glassbox");
    serde_json::from_str(&std::fs::read_to_string(p.join(name)).unwrap()).unwrap()
}

fn binary(data: &Value, key: &str) -> Vec<Vec<bool>> {
    data[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() > 0.5)
                .collect()
        })
        .collect()
}

fn labels(data: &Value, key: &str) -> Vec<bool> {
    data[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() > 0.5)
        .collect()
}

#[test]
fn rule_list_reaches_the_corels_objective() {
    let data = json("tabular_data.json");
    let fx = json("rule_list.json");
    let names: Vec<String> = data["binary_feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let (x, y) = (binary(&data, "B_train"), labels(&data, "y_train"));
    let cfg = RuleListConfig {
        c: fx["c"].as_f64().unwrap(),
        max_card: fx["max_card"].as_u64().unwrap() as usize,
        // The optimum is found early; certifying it takes far longer (CORELS did not either).
        max_nodes: 300_000,
        ..RuleListConfig::default()
    };
    let list = fit_rule_list(&x, &y, &names, &cfg).unwrap();
    let corels = fx["objective"].as_f64().unwrap();
    eprintln!(
        "{list}\nobjective {} (CORELS {corels}), certified {}, {} nodes",
        list.objective, list.certified, list.nodes
    );
    assert!(
        list.objective <= corels + 1e-12,
        "{} > {corels}",
        list.objective
    );
    // The reported objective is the list's own: error + c · rules, recomputed by prediction.
    let wrong = x
        .iter()
        .zip(&y)
        .filter(|(r, l)| list.predict(r) != **l)
        .count();
    let error = wrong as f64 / x.len() as f64;
    assert!((error - list.train_error).abs() < 1e-12);
    assert!((list.objective - (error + cfg.c * list.rules.len() as f64)).abs() < 1e-12);
    assert!(list.lower_bound <= list.objective + 1e-12);
}

/// Every rule list of up to `depth` rules over the antecedents, by enumeration.
fn brute_force(x: &[Vec<bool>], y: &[bool], c: f64, depth: usize) -> f64 {
    let d = x[0].len();
    let mut ants = Vec::new();
    for f in 0..d {
        for v in [true, false] {
            ants.push(Antecedent {
                terms: vec![(f, v)],
            });
            for g in f + 1..d {
                for w in [true, false] {
                    ants.push(Antecedent {
                        terms: vec![(f, v), (g, w)],
                    });
                }
            }
        }
    }
    fn objective(x: &[Vec<bool>], y: &[bool], c: f64, list: &[&Antecedent]) -> f64 {
        let mut free: Vec<usize> = (0..x.len()).collect();
        let mut errors = 0;
        for a in list {
            let (cap, rest): (Vec<usize>, Vec<usize>) =
                free.iter().partition(|&&i| a.matches(&x[i]));
            let pos = cap.iter().filter(|&&i| y[i]).count();
            errors += pos.min(cap.len() - pos);
            free = rest;
        }
        let pos = free.iter().filter(|&&i| y[i]).count();
        errors += pos.min(free.len() - pos);
        errors as f64 / x.len() as f64 + c * list.len() as f64
    }
    let mut best = objective(x, y, c, &[]);
    let mut stack: Vec<Vec<&Antecedent>> = vec![vec![]];
    while let Some(list) = stack.pop() {
        best = best.min(objective(x, y, c, &list));
        if list.len() < depth {
            for a in &ants {
                let mut l = list.clone();
                l.push(a);
                stack.push(l);
            }
        }
    }
    best
}

#[test]
fn rule_lists_are_optimal_on_small_problems() {
    for seed in 0..6 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = 40;
        let x: Vec<Vec<bool>> = (0..n)
            .map(|_| (0..4).map(|_| rng.random::<bool>()).collect())
            .collect();
        // A noisy two-rule concept.
        let y: Vec<bool> = x
            .iter()
            .map(|r| (r[0] && !r[1] || r[2]) ^ (rng.random::<f64>() < 0.1))
            .collect();
        let names: Vec<String> = (0..4).map(|i| format!("x{i}")).collect();
        let c = 0.02;
        let list = fit_rule_list(
            &x,
            &y,
            &names,
            &RuleListConfig {
                c,
                max_length: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(list.certified, "seed {seed}");
        let want = brute_force(&x, &y, c, 3);
        assert!(
            (list.objective - want).abs() < 1e-12,
            "seed {seed}: {} vs brute force {want}\n{list}",
            list.objective
        );
    }
}

#[test]
fn bad_rule_list_input_is_an_error() {
    let names = vec!["a".to_string()];
    let cfg = RuleListConfig::default();
    assert!(fit_rule_list(&[], &[], &names, &cfg).is_err());
    assert!(fit_rule_list(&[vec![true]], &[true, false], &names, &cfg).is_err());
    assert!(fit_rule_list(&[vec![true, false]], &[true], &names, &cfg).is_err());
    let bad = RuleListConfig {
        c: f64::NAN,
        ..RuleListConfig::default()
    };
    assert!(fit_rule_list(&[vec![true]], &[true], &names, &bad).is_err());
}

#[test]
fn risk_score_is_the_exact_optimum() {
    use xai_glassbox::risk_score::{RiskScoreConfig, fit_risk_score};
    let data = json("tabular_data.json");
    let fx = json("scoring_system.json");
    let all: Vec<String> = data["binary_feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let names: Vec<String> = fx["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let cols: Vec<usize> = names
        .iter()
        .map(|n| all.iter().position(|a| a == n).unwrap())
        .collect();
    let x: Vec<Vec<bool>> = binary(&data, "B_train")
        .iter()
        .map(|r| cols.iter().map(|&c| r[c]).collect())
        .collect();
    let y = labels(&data, "y_train");
    let range = |k: &str| {
        let r = fx[k].as_array().unwrap();
        (r[0].as_i64().unwrap() as i32, r[1].as_i64().unwrap() as i32)
    };
    let cfg = RiskScoreConfig {
        c0: fx["C0"].as_f64().unwrap(),
        points: range("points_range"),
        intercept: range("intercept_range"),
        ..RiskScoreConfig::default()
    };
    let s = fit_risk_score(&x, &y, &names, &cfg).unwrap();
    eprintln!(
        "{s}\nobjective {} certified {} nodes {}",
        s.objective, s.certified, s.nodes
    );
    assert!(s.certified);
    let want = fx["objective"].as_f64().unwrap();
    assert!(
        (s.objective - want).abs() < 1e-9,
        "{} vs {want}",
        s.objective
    );
    let points: Vec<i32> = fx["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    assert_eq!(s.points, points);
    assert_eq!(s.intercept, fx["intercept"].as_i64().unwrap() as i32);
}

#[test]
fn risk_scores_equal_enumeration_on_small_problems() {
    use xai_glassbox::risk_score::{RiskScoreConfig, fit_risk_score};
    for seed in 0..5 {
        let mut rng = StdRng::seed_from_u64(10 + seed);
        let x: Vec<Vec<bool>> = (0..60)
            .map(|_| (0..3).map(|_| rng.random::<bool>()).collect())
            .collect();
        let y: Vec<bool> = x
            .iter()
            .map(|r| {
                rng.random::<f64>() < if r[0] { 0.8 } else { 0.3 } - if r[2] { 0.2 } else { 0.0 }
            })
            .collect();
        let cfg = RiskScoreConfig {
            c0: 0.005,
            points: (-2, 2),
            intercept: (-3, 3),
            ..RiskScoreConfig::default()
        };
        let names: Vec<String> = (0..3).map(|i| format!("z{i}")).collect();
        let s = fit_risk_score(&x, &y, &names, &cfg).unwrap();
        let mut best = f64::INFINITY;
        for a in -2..=2 {
            for b in -2..=2 {
                for c in -2..=2 {
                    for b0 in -3..=3 {
                        let loss: f64 = x
                            .iter()
                            .zip(&y)
                            .map(|(r, &l)| {
                                let t =
                                    (b0 + [a, b, c]
                                        .iter()
                                        .zip(r)
                                        .filter(|&(_, &z)| z)
                                        .map(|(p, _)| p)
                                        .sum::<i32>()) as f64;
                                let m = if l { -t } else { t };
                                (m.exp()).ln_1p()
                            })
                            .sum::<f64>()
                            / x.len() as f64;
                        let nz = [a, b, c].iter().filter(|&&p| p != 0).count() as f64;
                        best = best.min(loss + 0.005 * nz);
                    }
                }
            }
        }
        assert!(
            (s.objective - best).abs() < 1e-12,
            "seed {seed}: {} vs {best}",
            s.objective
        );
    }
}

fn rows(data: &Value, key: &str) -> Vec<Vec<f64>> {
    data[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// Area under the ROC curve by the rank-sum (ties count half).
fn auc(scores: &[f64], y: &[bool]) -> f64 {
    let (mut num, mut pairs) = (0.0, 0.0);
    for (s, &a) in scores.iter().zip(y) {
        for (t, &b) in scores.iter().zip(y) {
            if a && !b {
                pairs += 1.0;
                num += if s > t {
                    1.0
                } else if s == t {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    num / pairs
}

#[test]
fn gam_matches_ebm_accuracy_and_explains_itself_exactly() {
    use xai_glassbox::gam::{GamConfig, fit_gam};
    let data = json("tabular_data.json");
    let names: Vec<String> = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let (x, y) = (rows(&data, "X_train"), labels(&data, "y_train"));
    let (xt, yt) = (rows(&data, "X_test"), labels(&data, "y_test"));
    let gam = fit_gam(&x, &y, &names, &GamConfig::default()).unwrap();
    let test_auc = auc(&xt.iter().map(|r| gam.logit(r)).collect::<Vec<_>>(), &yt);
    let yardstick = json("gam.json");
    let ebm = yardstick["test_auc"].as_f64().unwrap();
    let xgb = yardstick["xgb_test_auc"].as_f64().unwrap();
    let mut imp = gam.importances();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!("test AUC {test_auc:.4} (EBM {ebm:.4}, XGBoost {xgb:.4}); terms {imp:?}");
    assert!(test_auc >= ebm - 0.02, "{test_auc} vs EBM {ebm}");
    // The explanation is the model: contributions sum to the log-odds.
    for r in &xt[..20] {
        let sum: f64 = gam.contributions(r).iter().sum();
        assert!((gam.intercept + sum - gam.logit(r)).abs() < 1e-12);
    }
    // Every term is centred on the training rows.
    for t in &gam.terms {
        let mean = x.iter().map(|r| t.score(r)).sum::<f64>() / x.len() as f64;
        assert!(mean.abs() < 1e-9);
    }
}

#[test]
fn gam_recovers_known_shape_functions() {
    use xai_glassbox::gam::{GamConfig, fit_gam};
    // logit = 2·[x0 > 0] + 1.5·x1 + 0·x2 (noise), x0, x1, x2 uniform on [-1, 1].
    let mut rng = StdRng::seed_from_u64(5);
    let x: Vec<Vec<f64>> = (0..3000)
        .map(|_| (0..3).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let truth = |r: &[f64]| 2.0 * f64::from(u8::from(r[0] > 0.0)) + 1.5 * r[1] - 1.0;
    let y: Vec<bool> = x
        .iter()
        .map(|r| rng.random::<f64>() < 1.0 / (1.0 + (-truth(r)).exp()))
        .collect();
    let names: Vec<String> = ["step", "linear", "noise"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = GamConfig {
        interactions: 0,
        ..GamConfig::default()
    };
    let gam = fit_gam(&x, &y, &names, &cfg).unwrap();
    let imp = gam.importances();
    assert!(imp[2].1 < 0.25 * imp[0].1.min(imp[1].1), "{imp:?}");
    // The step: the shape function jumps by about 2 at 0.
    let f0 = |v: f64| gam.terms[0].score(&[v, 0.0, 0.0]);
    let jump = f0(0.5) - f0(-0.5);
    assert!((jump - 2.0).abs() < 0.5, "step {jump}");
    // The line: increasing with slope about 1.5.
    let f1 = |v: f64| gam.terms[1].score(&[0.0, v, 0.0]);
    let slope = (f1(0.75) - f1(-0.75)) / 1.5;
    assert!((slope - 1.5).abs() < 0.5, "slope {slope}");
}

/// Weighted Gini impurity of the children of splitting `rows` on `(j, t)`.
fn split_impurity(x: &[Vec<f64>], y: &[usize], rows: &[usize], j: usize, t: f64) -> f64 {
    let gini = |r: &[&usize]| {
        let n = r.len() as f64;
        let ones = r.iter().filter(|&&&i| y[i] == 1).count() as f64;
        if n == 0.0 {
            0.0
        } else {
            1.0 - (ones / n).powi(2) - (1.0 - ones / n).powi(2)
        }
    };
    let (l, r): (Vec<&usize>, Vec<&usize>) = rows.iter().partition(|&&i| x[i][j] <= t);
    let n = rows.len() as f64;
    (l.len() as f64 * gini(&l) + r.len() as f64 * gini(&r)) / n
}

#[test]
fn cart_grows_and_prunes_the_trees_scikit_learn_grows() {
    use xai_glassbox::cart::{Cart, CartConfig};
    let data = json("tabular_data.json");
    let names: Vec<String> = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let x = rows(&data, "X_train");
    let y: Vec<usize> = labels(&data, "y_train")
        .iter()
        .map(|&l| usize::from(l))
        .collect();
    let xt = rows(&data, "X_test");
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cart_reference.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    for (k, case) in reference["cases"].as_array().unwrap().iter().enumerate() {
        let cfg = CartConfig {
            max_depth: case["max_depth"]
                .as_u64()
                .map_or(usize::MAX, |d| d as usize),
            min_leaf: case["min_leaf"].as_u64().unwrap() as usize,
            ccp_alpha: case["ccp_alpha"].as_f64().unwrap(),
        };
        let what = format!("{cfg:?}");
        let tree = Cart::fit(&x, &y, &names, &cfg).unwrap();
        let predict: Vec<u64> = xt.iter().map(|r| tree.predict(r) as u64).collect();
        let want: Vec<u64> = case["predict"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let agree =
            predict.iter().zip(&want).filter(|(a, b)| a == b).count() as f64 / want.len() as f64;
        // Every split of the unpruned tree is a best split (brute force over all thresholds).
        let grown = Cart::fit(
            &x,
            &y,
            &names,
            &CartConfig {
                ccp_alpha: 0.0,
                ..cfg.clone()
            },
        )
        .unwrap();
        let mut stack = vec![(0usize, (0..x.len()).collect::<Vec<usize>>())];
        while let Some((t, here)) = stack.pop() {
            let Some((j, th, l, r)) = grown.nodes[t].split else {
                continue;
            };
            let ours = split_impurity(&x, &y, &here, j, th);
            for f in 0..names.len() {
                let mut v: Vec<f64> = here.iter().map(|&i| x[i][f]).collect();
                v.sort_by(f64::total_cmp);
                v.dedup();
                for w in v.windows(2) {
                    let t2 = (w[0] + w[1]) / 2.0;
                    let left = here.iter().filter(|&&i| x[i][f] <= t2).count();
                    if left < cfg.min_leaf || here.len() - left < cfg.min_leaf {
                        continue;
                    }
                    assert!(
                        ours <= split_impurity(&x, &y, &here, f, t2) + 1e-12,
                        "{what}: node {t}"
                    );
                }
            }
            let (a, b): (Vec<usize>, Vec<usize>) = here.iter().partition(|&&i| x[i][j] <= th);
            stack.push((l, a));
            stack.push((r, b));
        }
        if k == 0 {
            // Shallow enough that no two splits tie: the very same tree and pruning path.
            assert_eq!(
                tree.leaves() as u64,
                case["leaves"].as_u64().unwrap(),
                "{what}"
            );
            assert_eq!(
                tree.depth() as u64,
                case["depth"].as_u64().unwrap(),
                "{what}"
            );
            assert_eq!(predict, want, "{what}");
            let proba: Vec<f64> = xt.iter().map(|r| tree.predict_proba(r)[1]).collect();
            let want: Vec<f64> = case["proba"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(xai_testkit::max_abs_diff(&proba, &want) < 1e-12, "{what}");
            let all = Cart::fit(
                &x,
                &y,
                &names,
                &CartConfig {
                    ccp_alpha: f64::INFINITY,
                    ..cfg.clone()
                },
            )
            .unwrap();
            let path: Vec<f64> = case["ccp_alphas"].as_array().unwrap()[1..]
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(all.leaves(), 1);
            assert!(
                xai_testkit::max_abs_diff(&all.pruning_path, &path) < 1e-12,
                "{what}"
            );
        } else {
            // Deeper nodes hold ties between equally good splits, which scikit-learn breaks by
            // its random feature order: the trees agree up to those (a fully grown tree, whose
            // leaves hold single rows, only in size).
            let fully_grown = cfg.ccp_alpha == 0.0 && cfg.max_depth == usize::MAX;
            assert!(fully_grown || agree >= 0.97, "{what}: {agree}");
            let leaves = case["leaves"].as_u64().unwrap() as f64;
            assert!(
                (tree.leaves() as f64 - leaves).abs() <= 0.05 * leaves + 1.0,
                "{what}"
            );
        }
    }
}

#[test]
fn sparse_logistic_satisfies_the_optimality_conditions() {
    use xai_glassbox::sparse_linear::{SparseLinearConfig, fit_sparse_logistic};
    let data = json("tabular_data.json");
    let names: Vec<String> = data["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let (x, y) = (rows(&data, "X_train"), labels(&data, "y_train"));
    let n = x.len() as f64;
    let mut nonzero = Vec::new();
    for lambda in [0.05, 0.01, 0.002] {
        let cfg = SparseLinearConfig {
            lambda,
            ..SparseLinearConfig::default()
        };
        let m = fit_sparse_logistic(&x, &y, &names, &cfg).unwrap();
        assert!(m.converged, "λ = {lambda}");
        // KKT: ∇_b = 0; ∇_j + λ·sign(w_j) = 0 where w_j ≠ 0; |∇_j| ≤ λ where w_j = 0.
        let resid: Vec<f64> = x
            .iter()
            .zip(&y)
            .map(|(r, &l)| 1.0 / (1.0 + (-m.logit(r)).exp()) - f64::from(u8::from(l)))
            .collect();
        assert!((resid.iter().sum::<f64>() / n).abs() < 1e-8);
        for j in 0..names.len() {
            let g: f64 = resid.iter().zip(&x).map(|(e, r)| e * r[j]).sum::<f64>() / n;
            if m.coef[j] != 0.0 {
                assert!(
                    (g + lambda * m.coef[j].signum()).abs() < 1e-6,
                    "λ {lambda} {j}: {g}"
                );
            } else {
                assert!(g.abs() <= lambda + 1e-9, "λ {lambda} {j}: {g}");
            }
        }
        nonzero.push(m.coef.iter().filter(|&&w| w != 0.0).count());
    }
    // A larger penalty keeps fewer features, and the largest keeps some but not all.
    assert!(nonzero.windows(2).all(|w| w[0] <= w[1]), "{nonzero:?}");
    assert!(nonzero[0] > 0 && nonzero[0] < names.len(), "{nonzero:?}");
}
